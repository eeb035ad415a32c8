"""A rate-limit storage that does not answer: failed logins are still counted, in the
process's memory, and a storage that hangs costs one timeout per cool-down, not one
per call. In-process, on a Redis URL whose port refuses connections (Redis down) or
accepts them and never answers (Redis frozen: its kernel still completes the
handshake); test_rate_limit_live.py does the same to a real redis-server."""

import asyncio
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from limits.aio.storage import MemoryStorage

from app.platform.config import Settings
from app.platform.ratelimit import (
    REDIS_TIMEOUT_S,
    STORAGE_COOL_DOWN_S,
    LimitsStorage,
    SharedStorage,
    StorageDown,
)
from harness.live_server import free_port
from py_tests.fixtures.app import restarted
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_problem
from py_tests.support.logs import logged
from py_tests.support.routes import READY

pytestmark = [pytest.mark.rate_limit, pytest.mark.security, pytest.mark.inprocess]
LIMIT = 3
CALLS = 20
GHOST = "nobody_here", "Wr0ng-guess!"


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(CALLS)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.fixture
def ratelimit_log() -> Iterator[list[logging.LogRecord]]:
    """What app.ratelimit logs."""
    with logged("app.ratelimit") as records:
        yield records


def test_failed_logins_are_counted_in_memory_while_redis_is_down(settings: Settings) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    with restarted(settings, redis_url=down, login_failure_limit=LIMIT) as client:
        responses = [login(client, *GHOST) for _ in range(LIMIT + 2)]
        assert client.get(READY).status_code == 503
    assert [r.status_code for r in responses] == [401] * LIMIT + [429] * 2
    assert_problem(responses[-1], 429)
    assert int(responses[-1].headers["Retry-After"]) >= 1


def test_a_frozen_redis_costs_one_timeout_not_one_per_call(
    settings: Settings, silent_redis: str, ratelimit_log: list[logging.LogRecord]
) -> None:
    with restarted(settings, redis_url=silent_redis, login_failure_limit=LIMIT) as client:
        started = time.monotonic()
        statuses = [login(client, *GHOST).status_code for _ in range(CALLS)]
        elapsed = time.monotonic() - started
    assert statuses == [401] * LIMIT + [429] * (CALLS - LIMIT)
    # One call waited for the timeout; the others went straight to the fallbacks.
    assert REDIS_TIMEOUT_S <= elapsed < 4 * REDIS_TIMEOUT_S, elapsed
    messages = [r.getMessage() for r in ratelimit_log]
    assert len(messages) == 1, messages
    assert messages[0].startswith("rate limit storage unreachable")


@pytest.mark.asyncio
async def test_a_failed_storage_is_tried_by_one_call_per_cool_down(
    ratelimit_log: list[logging.LogRecord],
) -> None:
    now = 0.0
    shared = SharedStorage(MemoryStorage(), "storage down", clock=lambda: now)
    tried: list[float] = []
    probe_sent, answer = asyncio.Event(), asyncio.Event()

    async def failing(storage: LimitsStorage) -> None:
        tried.append(now)
        raise ConnectionError("no answer")

    async def slow(storage: LimitsStorage) -> str:
        tried.append(now)
        probe_sent.set()
        await answer.wait()
        return "answered"

    for _ in range(5):
        with pytest.raises(StorageDown):
            await shared.run(failing)
    assert tried == [0.0]  # the first call found it down; the others did not wait on it

    now = STORAGE_COOL_DOWN_S
    probe = asyncio.create_task(shared.run(slow))
    await probe_sent.wait()
    with pytest.raises(StorageDown):  # while one call tries it, the rest fall back
        await shared.run(failing)
    answer.set()
    assert await probe == "answered"
    assert shared.up
    assert tried == [0.0, STORAGE_COOL_DOWN_S]
    assert [r.getMessage() for r in ratelimit_log] == [
        "storage down",
        "rate limit storage is back",
    ]
