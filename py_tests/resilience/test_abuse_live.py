"""Abuse on a real two-worker server: more slow uploads and stalled downloads in flight
than the database pools hold, spread over several accounts, while another tenant logs
in, creates users and lists them. That tenant must not notice: every answer a success,
p99 under a second. On the embedded SQLite default and on PostgreSQL."""

import random
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from harness.accounts import new_tenant_admin
from harness.live_server import LiveServer
from harness.postgres_server import PostgresServer
from py_tests.support.accounts import login
from py_tests.support.routes import UPLOAD, USERS
from py_tests.support.servers import or_skip

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.concurrency]

# SQLAlchemy's default pool is 5 + 10 connections per worker: 30 for two workers.
SLOW_UPLOADS = 40
STALLED_DOWNLOADS = 20
ATTACKER_ACCOUNTS = 4
MEASURE_S = 8.0
BOUNDARY = "abuseboundary"
ENV = {"REDIS_URL": "", "RATE_LIMIT_PER_MINUTE": "100000", "LOG_LEVEL": "WARNING"}


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        env = dict(ENV)
        if request.param == "postgres":
            env["DATABASE_URL"] = stack.enter_context(or_skip(PostgresServer)).url
        yield stack.enter_context(LiveServer(env, workers=2))


def _connect(server: LiveServer) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    # A small receive buffer: a download stalls after little data, as a slow reader's.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return conn


def _slow_upload(server: LiveServer, auth: str) -> socket.socket:
    """An upload whose body has begun and then arrives one byte at a time."""
    conn = _connect(server)
    conn.sendall(
        (
            f"POST /api/v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: 1000000\r\n\r\n--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="slow.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
    )
    return conn


def _stalled_download(server: LiveServer, auth: str, file_id: str) -> socket.socket:
    """A download whose client never reads the answer."""
    conn = _connect(server)
    conn.sendall(
        f"GET /api/v1/files/{file_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {auth}\r\n\r\n".encode()
    )
    return conn


@contextmanager
def trickling(connections: list[socket.socket]) -> Iterator[None]:
    """Sends each connection one more byte of its upload every half second."""
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            for conn in connections:
                conn.sendall(b"a")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _still_waiting(conn: socket.socket) -> bool:
    """The server has not answered this upload: nothing to read yet."""
    conn.setblocking(False)
    try:
        return not conn.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        conn.setblocking(True)


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100, method="inclusive")[98]


def test_slow_clients_do_not_stall_another_tenant(server: LiveServer) -> None:
    attacker = new_tenant_admin(server.base_url)
    with httpx.Client(base_url=server.base_url, headers=attacker, timeout=30) as http:
        accounts = [attacker["Authorization"]]
        for _ in range(ATTACKER_ACCOUNTS - 1):
            tag = uuid.uuid4().hex[:10]
            member = {"username": f"a{tag}", "email": f"a{tag}@abuse.example.org"}
            password = f"Pw-{tag}-abuse"
            assert http.post(USERS, json={**member, "password": password}).status_code == 201
            logged_in = login(http, member["username"], password)
            accounts.append(f"Bearer {logged_in.json()['access_token']}")
        big = random.randbytes(8 * 1024 * 1024 // 2).hex()[: 8 * 1024 * 1024].encode()
        stored = http.post(UPLOAD, files={"file": ("big.txt", big, "text/plain")})
        assert stored.status_code == 201, stored.text
        file_id = stored.json()["id"]

    victim = new_tenant_admin(server.base_url)
    tag = uuid.uuid4().hex[:10]
    victim_login = {"username": f"v{tag}", "password": f"Pw-{tag}-victim"}
    with ExitStack() as stack:
        uploads = [_slow_upload(server, accounts[n % len(accounts)]) for n in range(SLOW_UPLOADS)]
        downloads = [
            _stalled_download(server, accounts[n % len(accounts)], file_id)
            for n in range(STALLED_DOWNLOADS)
        ]
        for conn in uploads + downloads:
            stack.callback(conn.close)
        stack.enter_context(trickling(uploads))
        http = stack.enter_context(
            httpx.Client(base_url=server.base_url, headers=victim, timeout=30)
        )
        created = http.post(
            USERS,
            json={"username": victim_login["username"], "email": f"v{tag}@victim.example.org",
                  "password": victim_login["password"]},
        )  # fmt: skip
        assert created.status_code == 201, created.text

        latencies: dict[str, list[float]] = {"login": [], "create": [], "list": []}
        failures: list[str] = []
        deadline = time.monotonic() + MEASURE_S
        calls: dict[str, Callable[[], httpx.Response]] = {
            "login": lambda: login(http, victim_login["username"], victim_login["password"]),
            "create": lambda: http.post(USERS, json=_new_member()),
            "list": lambda: http.get(USERS),
        }
        while time.monotonic() < deadline:
            for kind, call in calls.items():
                started = time.monotonic()
                response = call()
                latencies[kind].append(time.monotonic() - started)
                if response.status_code >= 300:
                    failures.append(f"{kind}: {response.status_code} {response.text[:200]}")
        assert all(_still_waiting(conn) for conn in uploads), "an upload ended early"

    assert failures == []
    report = {kind: f"n={len(v)} p99={p99(v) * 1000:.0f} ms" for kind, v in latencies.items()}
    print(
        f"victim under {SLOW_UPLOADS} slow uploads, {STALLED_DOWNLOADS} stalled downloads: {report}"
    )
    for values in latencies.values():
        assert len(values) >= 5, report
        assert p99(values) < 1.0, report


def _new_member() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {"username": f"m{tag}", "email": f"m{tag}@victim.example.org"}
