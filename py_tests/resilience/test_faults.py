"""Faults: real servers on loopback, broken on purpose, and what a client saw and what
was kept. Marker `reliability`, left out of the quick default run (`.ci/run` runs it).
Each test starts its own processes, so these run the same whatever the target."""

import hashlib
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from harness.accounts import new_tenant_admin
from harness.live_server import LiveServer, free_port
from harness.postgres_server import PostgresServer
from py_tests.support.assertions import PROBLEM_JSON, wait_for
from py_tests.support.routes import FILES, HEALTH, LOGIN, READY, UPLOAD, USERS
from py_tests.support.servers import or_skip

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

TIMEOUT_S = 2.0  # DATABASE_TIMEOUT_SECONDS of the servers here
RECOVERY_DEADLINE_S = 30.0
BASE_ENV = {"REDIS_URL": "", "RATE_LIMIT_PER_MINUTE": "100000", "LOG_LEVEL": "WARNING"}


def new_user() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {"username": f"f{tag}", "email": f"f{tag}@faults.example.org", "password": f"Pw-{tag}-x"}


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with or_skip(PostgresServer) as server:
        yield server


def test_postgres_outage_answers_503_and_heals_without_a_restart(
    postgres: PostgresServer,
) -> None:
    env = {**BASE_ENV, "DATABASE_URL": postgres.url, "DATABASE_TIMEOUT_SECONDS": str(TIMEOUT_S)}
    with LiveServer(env) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        http.headers.update(new_tenant_admin(server.base_url))
        acknowledged = []
        for _ in range(5):
            created = http.post(USERS, json=new_user())
            assert created.status_code == 201, created.text
            acknowledged.append(created.json()["id"])

        postgres.stop()
        assert http.get(HEALTH).status_code == 200
        ready = http.get(READY)
        assert ready.status_code == 503
        for method, path, body in [
            ("GET", USERS, None),
            ("GET", f"{USERS}/{acknowledged[0]}", None),
            ("POST", USERS, new_user()),
        ]:
            started = time.monotonic()
            response = http.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (method, path, response.text)
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
            assert elapsed < TIMEOUT_S * 3, f"{method} {path} took {elapsed:.1f} s"

        postgres.start()
        wait_for(lambda: http.get(READY).status_code == 200, RECOVERY_DEADLINE_S)
        page = http.get(USERS, params={"page_size": 100})
        assert page.status_code == 200, page.text
        assert set(acknowledged) <= {u["id"] for u in page.json()["data"]}
        assert http.post(USERS, json=new_user()).status_code == 201


def upload(http: httpx.Client, content: bytes) -> httpx.Response:
    return http.post(UPLOAD, files={"file": ("notes.txt", content, "text/plain")})


def test_sigkill_during_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Creates and uploads stream in from four clients; the API process is killed with
    SIGKILL mid-stream and started again on the same data. Every write that was
    answered 2xx is there and intact, and every file listed downloads whole."""
    env = {
        **BASE_ENV,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
    }
    users: dict[str, str] = {}
    files: dict[str, str] = {}
    stop = threading.Event()

    def writer(base_url: str, headers: dict[str, str], kind: str) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
            while not stop.is_set():
                try:
                    if kind == "user":
                        payload = new_user()
                        response = http.post(USERS, json=payload)
                        if response.status_code == 201:
                            users[response.json()["id"]] = payload["username"]
                    else:
                        content = f"{uuid.uuid4()}\n".encode() * 2000
                        response = upload(http, content)
                        if response.status_code == 201:
                            files[response.json()["id"]] = hashlib.sha256(content).hexdigest()
                except httpx.HTTPError:
                    return  # the server is gone

    with LiveServer(env) as server:
        headers = new_tenant_admin(server.base_url)
        threads = [
            threading.Thread(target=writer, args=(server.base_url, headers, kind))
            for kind in ("user", "user", "file", "file")
        ]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(users) >= 10 and len(files) >= 10, deadline_s=60)
        server.stop(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)

    with (
        LiveServer(env) as server,
        httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as http,
    ):
        for user_id, username in users.items():
            found = http.get(f"{USERS}/{user_id}")
            assert found.status_code == 200, found.text
            assert found.json()["username"] == username
        for file_id, digest in files.items():
            download = http.get(f"{FILES}/{file_id}")
            assert download.status_code == 200, download.text
            assert hashlib.sha256(download.content).hexdigest() == digest
        listed = http.get(FILES, params={"page_size": 100}).json()["data"]
        assert set(files) <= {f["id"] for f in listed}
        for row in listed:
            download = http.get(f"{FILES}/{row['id']}")
            assert download.status_code == 200, download.text
            assert hashlib.sha256(download.content).hexdigest() == row["sha256"]


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    """An upload is in flight (the server has begun spooling it) when the server gets
    SIGTERM: the rest of the body still arrives, the upload is answered 201 and kept,
    new connections are refused, and the process exits within the grace period."""
    env = {**BASE_ENV, "DATA_DIR": str(tmp_path), "SHUTDOWN_GRACE_SECONDS": "20"}
    content = b"in flight during shutdown\n" * 4000
    head, tail = _upload_body(content)
    server = LiveServer(env).start()
    try:
        headers = new_tenant_admin(server.base_url)
        token = headers["Authorization"].removeprefix("Bearer ")
        conn = _upload_connection(server.base_url, token, len(head) + len(tail))
        conn.sendall(head)
        spool = tmp_path / "uploads"
        wait_for(lambda: spool.exists() and any(spool.glob("*.upload")), deadline_s=10)
        assert server.process is not None
        process = server.process
        process.send_signal(signal.SIGTERM)
        conn.sendall(tail)
        answer = _read_all(conn)
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        # uvicorn re-raises the signal once it has shut down gracefully.
        assert process.wait(timeout=25) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.base_url}/health")
    finally:
        server.close()

    with LiveServer(env) as again, httpx.Client(base_url=again.base_url, headers=headers) as http:
        stored = http.get(FILES).json()["data"]
        assert len(stored) == 1
        assert http.get(f"{FILES}/{stored[0]['id']}").content == content


def test_object_storage_outage_answers_503_and_keeps_rows_and_blobs_paired(
    tmp_path: Path,
) -> None:
    """The S3 endpoint stops: uploads and downloads answer 503 problems, no row is
    written for a file that was not stored, the rest of the API serves on. Once the
    endpoint is back, stored files download intact, and after the orphan sweep every
    blob in the bucket has its row and every row its blob."""
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    bucket = f"faults-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    env = {
        **BASE_ENV,
        "DATA_DIR": str(tmp_path),
        "STORAGE_URL": f"s3://{bucket}",
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "ORPHAN_GRACE_SECONDS": "0",
    }
    kept = b"stored before the outage\n" * 100
    try:
        with (
            LiveServer(env) as server,
            httpx.Client(
                base_url=server.base_url, headers=new_tenant_admin(server.base_url), timeout=60
            ) as http,
        ):
            first = upload(http, kept)
            assert first.status_code == 201, first.text

            moto.stop()
            refused = upload(http, b"written during the outage\n")
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith(PROBLEM_JSON)
            download = http.get(f"{FILES}/{first.json()['id']}")
            assert download.status_code == 503, download.text
            assert http.get(USERS).status_code == 200
            listed = http.get(FILES).json()
            assert [f["id"] for f in listed["data"]] == [first.json()["id"]]

            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            moto.start()
            again = http.get(f"{FILES}/{first.json()['id']}")
            assert (again.status_code, again.content) == (200, kept)
            assert upload(http, b"stored after the outage\n").status_code == 201

            sweep = subprocess.run(
                [sys.executable, "-m", "app", "sweep-orphans"],
                env=server.env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert sweep.returncode == 0, sweep.stderr
            rows = http.get(FILES).json()
            blobs = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            assert rows["total_count"] == 2
            assert len(blobs) == rows["total_count"]
    finally:
        moto.stop()


BOUNDARY = b"faultsboundary"


def _upload_body(content: bytes) -> tuple[bytes, bytes]:
    """A one-file multipart body, split in two halves."""
    body = (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n--" + BOUNDARY + b"--\r\n"
    )
    return body[: len(body) // 2], body[len(body) // 2 :]


def _upload_connection(base_url: str, token: str, length: int) -> socket.socket:
    """A raw connection that has sent an upload's request line and headers."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=30)
    conn.sendall(
        (
            f"POST /api/v1/files/upload HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n\r\n"
        ).encode()
    )
    return conn


def _read_all(conn: socket.socket) -> bytes:
    """One whole answer: its headers and as many body bytes as Content-Length says."""
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
        head, separator, body = answer.partition(b"\r\n\r\n")
        lengths = [
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        if separator and lengths and len(body) >= lengths[0]:
            break
    conn.close()
    return answer


def test_a_stalled_or_vanished_upload_is_let_go_and_leaves_nothing(tmp_path: Path) -> None:
    """One client stops sending mid-upload: after UPLOAD_IDLE_TIMEOUT_SECONDS it gets a
    408 problem and its connection is closed. Another disconnects mid-upload. Neither
    leaves a row or a spool file, and the server keeps answering."""
    env = {**BASE_ENV, "DATA_DIR": str(tmp_path), "UPLOAD_IDLE_TIMEOUT_SECONDS": "1"}
    with LiveServer(env) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        http.headers.update(new_tenant_admin(server.base_url))
        token = http.headers["Authorization"].removeprefix("Bearer ")

        head, tail = _upload_body(b"slow bytes\n" * 1000)
        vanished = _upload_connection(server.base_url, token, len(head) + len(tail))
        vanished.sendall(head)
        vanished.close()

        stalled = _upload_connection(server.base_url, token, len(head) + len(tail))
        stalled.sendall(head)
        started = time.monotonic()
        answer = _read_all(stalled)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"application/problem+json" in answer
        assert time.monotonic() - started < 10

        assert http.get(HEALTH).status_code == 200
        assert http.get(FILES).json()["total_count"] == 0
        spool = tmp_path / "uploads"
        wait_for(lambda: not any(spool.glob("*")) if spool.exists() else True, deadline_s=10)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restart_under_traffic_answers_no_500(postgres: PostgresServer, mode: str) -> None:
    """Four clients keep reading, creating and logging in while PostgreSQL restarts:
    every answer is a success or a 503 problem with Retry-After, never a 500."""
    env = {**BASE_ENV, "DATABASE_URL": postgres.url, "DATABASE_TIMEOUT_SECONDS": str(TIMEOUT_S)}
    with LiveServer(env, workers=2) as server:
        auth = new_tenant_admin(server.base_url)
        tag = uuid.uuid4().hex[:10]
        login = {"username": f"r{tag}", "password": f"Pw-{tag}-restart"}
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as http:
            member = {**new_user(), **login}
            assert http.post(USERS, json=member).status_code == 201
        answers: list[httpx.Response] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as http:
                while not stop.is_set():
                    for method, path, body in (
                        ("GET", USERS, None),
                        ("POST", USERS, new_user()),
                        ("POST", LOGIN, login),
                    ):
                        answers.append(http.request(method, path, json=body))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: len(answers) >= 40, RECOVERY_DEADLINE_S)
            postgres.stop(mode)
            wait_for(lambda: any(a.status_code == 503 for a in answers[-20:]), RECOVERY_DEADLINE_S)
            postgres.start()
            recovered_at = len(answers)
            wait_for(
                lambda: sum(a.status_code < 300 for a in answers[recovered_at:]) >= 40,
                RECOVERY_DEADLINE_S,
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    statuses = sorted({a.status_code for a in answers})
    errors = [a for a in answers if a.status_code >= 500]
    assert {a.status_code for a in errors} == {503}, statuses
    for answer in errors:
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)
        assert int(answer.headers["Retry-After"]) >= 1
    print(f"{len(answers)} answers during a {mode} restart: statuses {statuses}")
