"""Faults: real servers on loopback, broken on purpose, and what a client saw and what
was kept. Marker `reliability`, left out of the quick default run (`.ci/run` runs it).
Each test starts its own processes, so these run the same whatever the target."""

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from harness.accounts import new_tenant_admin
from harness.live_server import LiveServer
from harness.postgres_server import PostgresServer
from py_tests.assertions import PROBLEM_JSON, wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

USERS = "/api/v1/users"
TIMEOUT_S = 2.0  # DATABASE_TIMEOUT_SECONDS of the servers here
RECOVERY_DEADLINE_S = 30.0
BASE_ENV = {"REDIS_URL": "", "RATE_LIMIT_PER_MINUTE": "100000", "LOG_LEVEL": "WARNING"}


def new_user() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {"username": f"f{tag}", "email": f"f{tag}@faults.example.org", "password": f"Pw-{tag}-x"}


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with server:
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
        assert http.get("/health").status_code == 200
        ready = http.get("/ready")
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
        wait_for(lambda: http.get("/ready").status_code == 200, RECOVERY_DEADLINE_S)
        page = http.get(USERS, params={"page_size": 100})
        assert page.status_code == 200, page.text
        assert set(acknowledged) <= {u["id"] for u in page.json()["data"]}
        assert http.post(USERS, json=new_user()).status_code == 201
