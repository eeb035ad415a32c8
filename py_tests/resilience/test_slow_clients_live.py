"""Every wait on a client has a bound, seen by real clients of a real server: a request
head sent line by line, a connection that sends nothing, and a download its client
stops reading are all let go, and the server keeps answering others."""

import contextlib
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.accounts import new_tenant_admin
from harness.live_server import LiveServer
from py_tests.support.routes import HEALTH

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.security]
HEADER_TIMEOUT_S = 1.0
SEND_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    env = {
        "HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_S),
        "SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT_S),
        "BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_S),
        "RATE_LIMIT_PER_MINUTE": "1000",
        "REDIS_URL": "",
    }
    with LiveServer(env) as live:
        yield live


def _closed_by_server(conn: socket.socket, within_s: float) -> bool:
    """Whether the server closes this connection within the time given (reading and
    dropping whatever it sent first)."""
    deadline = time.monotonic() + within_s
    while (left := deadline - time.monotonic()) > 0:
        conn.settimeout(left)
        try:
            if not conn.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def test_a_request_head_sent_line_by_line_is_cut_off(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        started = time.monotonic()
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed = False
        for n in range(40):  # a header line every 0.1 s, for up to 4 s
            try:
                conn.sendall(f"X-Slow-{n}: {n}\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if _closed_by_server(conn, within_s=0.1):
                closed = True
                break
        assert closed, "the server kept waiting for the rest of the head"
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 2
    assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_a_json_body_sent_byte_by_byte_is_answered_408(server: LiveServer) -> None:
    body = b'{"tenant_name": "Slow Body Ltd", "admin_email": "slow@example.org"}'
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(
            b"POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        conn.settimeout(0.2)
        for byte in body:  # a byte every 0.2 s: 14 s for the whole body
            try:
                conn.sendall(bytes([byte]))
                answer += conn.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"application/problem+json" in answer
        assert time.monotonic() - started < BODY_TIMEOUT_S + 2


def test_small_answers_piling_up_unread_end_the_connection(server: LiveServer) -> None:
    """A client that pipelines requests and never reads its answers: the server stops
    queueing them (MAX_PIPELINED ahead of their answers) and drops the connection,
    instead of parsing all it is sent into memory."""
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.socket() as conn:
        # A small receive window from the handshake on: the server's buffers fill after
        # a few hundred answers, not after megabytes of them.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.connect(("127.0.0.1", server.port))
        conn.settimeout(1)
        started = time.monotonic()
        aborted = False
        while time.monotonic() - started < 60:
            try:
                conn.sendall(request * 100)
            except TimeoutError:
                continue  # the server stopped reading requests meanwhile
            except (BrokenPipeError, ConnectionResetError):
                aborted = True
                break
        assert aborted, "the server kept the unread connection for a minute"
        print(f"aborted after {time.monotonic() - started:.1f} s")
    assert httpx.get(f"{server.base_url}/health").status_code == 200


def test_a_logout_whose_body_stalls_still_ends_the_session(server: LiveServer) -> None:
    auth = new_tenant_admin(server.base_url)
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(
            b"POST /auth/logout HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: {auth['Authorization']}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"re'
        )
        conn.settimeout(BODY_TIMEOUT_S + 5)
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    users = httpx.get(f"{server.base_url}/api/v1/users", headers=auth)
    assert users.status_code == 401


def test_a_connection_that_sends_nothing_is_closed(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        assert _closed_by_server(conn, within_s=HEADER_TIMEOUT_S + 5)


def test_a_connection_kept_alive_between_requests_still_works(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url) as http:
        for _ in range(3):
            assert http.get(HEALTH).status_code == 200


def test_a_download_its_client_stops_reading_is_cut_off(server: LiveServer) -> None:
    auth = new_tenant_admin(server.base_url)
    # More than the kernel's socket buffers on loopback hold (a few MiB), so that the
    # server's sending stalls while the client reads nothing.
    content = b"0123456789abcdef\n" * (9 * MiB // 17)
    stored = httpx.post(
        f"{server.base_url}/api/v1/files/upload",
        headers=auth,
        files={"file": ("big.txt", content, "text/plain")},
        timeout=30,
    )
    assert stored.status_code == 201, stored.text
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(
            f"GET /api/v1/files/{stored.json()['id']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {auth['Authorization']}\r\n\r\n".encode()
        )
        time.sleep(SEND_TIMEOUT_S * 3)  # the client reads nothing meanwhile: the scenario
        received = b""
        conn.settimeout(10)  # what the server sent before it gave up, then its close
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert 0 < len(body) < len(content), "the stalled answer was not cut off"
    assert "Traceback" not in server.log_tail(200)
    assert httpx.get(f"{server.base_url}/health").status_code == 200


@pytest.mark.parametrize("kept_alive", [False, True], ids=["first-request", "after-a-request"])
def test_a_request_head_over_the_size_limit_is_answered_431_and_let_go(
    server: LiveServer, kept_alive: bool
) -> None:
    """A header the parser would keep growing in memory (megabytes of it) is refused
    once the head passes 64 KiB, on a new connection and on one kept alive."""
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.settimeout(10)
        if kept_alive:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = b""
            while not first.endswith(b"}"):  # the whole JSON answer of /health
                first += conn.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # Header bytes until the server answers (or 8 MiB were sent).
            while sent < 8 * MiB and not select.select([conn], [], [], 0)[0]:
                conn.sendall(b"a" * 65536)
                sent += 65536
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert sent < 8 * MiB, "the server read megabytes of one request head"
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"application/problem+json" in answer
    assert httpx.get(f"{server.base_url}/health").status_code == 200
