"""Rate limits across processes, on a real uvicorn with two workers: exact on Redis,
over-admitting on per-process memory (why Redis is required), and a Redis outage that
fails open or closed as configured and heals by itself, during which failed logins are
still counted (in memory), and which costs one timeout when Redis hangs, not one per
call."""

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from harness.accounts import new_tenant_admin, new_tenant_credentials
from harness.live_server import LiveServer
from harness.redis_server import RedisServer
from py_tests.support.accounts import login
from py_tests.support.assertions import wait_for
from py_tests.support.routes import HEALTH, LOGOUT, READY, USERS
from py_tests.support.servers import or_skip

pytestmark = [pytest.mark.rate_limit, pytest.mark.integration, pytest.mark.slow]
LIMIT = 10
RECOVERY_DEADLINE_S = 20.0
LOGIN_LIMIT = 3
FAST_HASHING = {"PASSWORD_HASH_TIME_COST": "1", "PASSWORD_HASH_MEMORY_KIB": "1024"}


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with or_skip(RedisServer) as server:
        yield server


async def burst(base_url: str, headers: dict[str, str], count: int) -> list[int]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as http:
        responses = await asyncio.gather(*(http.get(USERS) for _ in range(count)))
    return [r.status_code for r in responses]


@pytest.mark.concurrency
def test_two_workers_on_redis_admit_exactly_the_limit(redis_server: RedisServer) -> None:
    env = {"REDIS_URL": redis_server.url, "RATE_LIMIT_PER_MINUTE": str(LIMIT)}
    with LiveServer(env, workers=2) as server:
        for count in (40, 50):
            statuses = asyncio.run(burst(server.base_url, new_tenant_admin(server.base_url), count))
            assert statuses.count(200) == LIMIT, statuses
            assert statuses.count(429) == count - LIMIT


@pytest.mark.concurrency
def test_two_workers_on_memory_storage_over_admit() -> None:
    """The documented reason a multi-worker deployment needs REDIS_URL: each worker
    counts alone, so up to workers x limit calls get through. Which worker takes a
    connection is the kernel's choice, so a few bursts are tried before concluding."""
    seen = []
    env = {"RATE_LIMIT_PER_MINUTE": str(LIMIT), "REDIS_URL": ""}  # memory, whatever CI set
    with LiveServer(env, workers=2) as server:
        for _ in range(5):
            statuses = asyncio.run(burst(server.base_url, new_tenant_admin(server.base_url), 40))
            admitted = statuses.count(200)
            assert LIMIT <= admitted <= 2 * LIMIT, statuses
            seen.append(admitted)
            if admitted > LIMIT:
                break
    print(f"admitted per burst of 40 on two workers with memory storage: {seen}")
    assert max(seen) > LIMIT, f"every burst landed on one worker: {seen}"


@pytest.mark.parametrize("fail_open", [True, False], ids=["fail-open", "fail-closed"])
def test_redis_outage_is_survived_and_healed(redis_server: RedisServer, fail_open: bool) -> None:
    env = {
        "REDIS_URL": redis_server.url,
        "RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "RATE_LIMIT_FAIL_OPEN": str(fail_open).lower(),
    }
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(env))
        http = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=10))
        http.headers.update(new_tenant_admin(server.base_url))
        assert http.get(USERS).headers["X-RateLimit-Remaining"] == str(LIMIT - 1)

        redis_server.stop()
        during = [http.get(USERS) for _ in range(LIMIT + 2)]
        expected = 200 if fail_open else 503
        assert [r.status_code for r in during] == [expected] * (LIMIT + 2)
        if not fail_open:
            assert during[0].headers["content-type"].startswith("application/problem+json")
        assert http.get(READY).status_code == 503
        assert http.get(HEALTH).status_code == 200
        if fail_open:  # revocation lives in the database, so it holds without Redis
            assert http.post(LOGOUT).status_code == 204
            assert http.get(USERS).status_code == 401

        redis_server.start()
        wait_for(lambda: http.get(READY).status_code == 200, RECOVERY_DEADLINE_S)
        http.headers.update(new_tenant_admin(server.base_url))
        # Limiting is back: the fresh Redis counts from zero and stops the eleventh call.
        statuses = [http.get(USERS).status_code for _ in range(LIMIT + 1)]
        assert statuses == [200] * LIMIT + [429]


@pytest.mark.reliability
def test_failed_logins_are_still_counted_with_redis_stopped(redis_server: RedisServer) -> None:
    env = {"REDIS_URL": redis_server.url, "LOGIN_FAILURE_LIMIT": str(LOGIN_LIMIT), **FAST_HASHING}
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(env))
        owner = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=10))
        attacker = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=10))
        username, password = new_tenant_credentials(server.base_url)
        assert login(owner, username, password).status_code == 200  # sets its cookie

        redis_server.stop()
        statuses = [login(attacker, username, "Wr0ng-guess!").status_code for _ in range(5)]
        assert statuses == [401] * LOGIN_LIMIT + [429] * (5 - LOGIN_LIMIT)
        assert login(attacker, username, password).status_code == 429
        # The owner's device cookie needs no storage to be believed.
        assert login(owner, username, password).status_code == 200
        assert owner.get(READY).status_code == 503


@pytest.mark.reliability
def test_a_frozen_redis_costs_one_timeout_not_one_per_call(redis_server: RedisServer) -> None:
    env = {"REDIS_URL": redis_server.url, "LOGIN_FAILURE_LIMIT": str(LOGIN_LIMIT), **FAST_HASHING}
    ghost = "nobody_here", "Wr0ng-guess!"
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(env))
        http = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=10))
        http.headers.update(new_tenant_admin(server.base_url))
        assert http.get(USERS).status_code == 200

        redis_server.freeze()
        try:
            started = time.monotonic()
            listed = [http.get(USERS).status_code for _ in range(10)]
            logins = [login(http, *ghost).status_code for _ in range(10)]
            elapsed = time.monotonic() - started
        finally:
            redis_server.thaw()
        assert listed == [200] * 10  # failing open
        assert logins == [401] * LOGIN_LIMIT + [429] * (10 - LOGIN_LIMIT)
        assert elapsed < 2.0, f"20 calls took {elapsed:.2f} s; a timeout is 0.5 s"

        wait_for(lambda: http.get(READY).status_code == 200, RECOVERY_DEADLINE_S)
        log = server.log_path.read_text()
        assert log.count("rate limit storage unreachable") == 1
        assert log.count("rate limit storage is back") == 1
