"""Upload limits seen by a real client of a real uvicorn: an oversized body is refused
while it streams (after about the limit, not after the whole body), and a declared
`Content-Length` over the limit is refused before any of the body is read."""

import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest

from harness.accounts import new_tenant_admin
from harness.live_server import LiveServer

pytestmark = [pytest.mark.files, pytest.mark.integration, pytest.mark.slow]
LIMIT_MB = 2
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    env = {"MAX_FILE_SIZE_MB": str(LIMIT_MB), "RATE_LIMIT_PER_MINUTE": "100"}
    with LiveServer(env) as live:
        yield live


@pytest.fixture(scope="module")
def auth(server: LiveServer) -> dict[str, str]:
    return new_tenant_admin(server.base_url)


def test_oversized_stream_is_refused_after_about_the_limit(
    server: LiveServer, auth: dict[str, str]
) -> None:
    """1 GiB offered, chunked (no Content-Length): the server answers 413 and stops
    reading long before the client could send it all."""
    boundary = uuid.uuid4().hex
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        chunk = b"a" * (256 * 1024)
        while sent < 1024 * MiB:
            sent += len(chunk)
            yield chunk

    headers = {
        **auth,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    try:
        response = httpx.post(
            f"{server.base_url}/api/v1/files/upload", content=body(), headers=headers, timeout=60
        )
        status = response.status_code
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        status = None  # the server closed the connection while the client still wrote
    if status is not None:
        assert status == 413
    print(f"client had sent {sent / MiB:.1f} MiB when the server refused (limit {LIMIT_MB} MiB)")
    # Socket buffers hold a few MiB in flight; the 1 GiB was never read.
    assert sent < LIMIT_MB * MiB + 64 * MiB
    files = httpx.get(f"{server.base_url}/api/v1/files", headers=auth)
    assert files.json()["total_count"] == 0


def test_declared_length_over_the_limit_is_refused_before_reading(
    server: LiveServer, auth: dict[str, str]
) -> None:
    request = (
        "POST /api/v1/files/upload HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {auth['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {10 * 1024 * MiB}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)  # headers only: not one byte of the promised 10 GiB
        answer = sock.recv(65536).decode("latin-1")
    status_line = answer.split("\r\n", 1)[0]
    assert status_line.split()[1] == "413", answer
    assert "application/problem+json" in answer
