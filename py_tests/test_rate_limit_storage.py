"""A rate-limit storage that does not answer costs one timeout per cool-down, not one
per call (`SharedStorage`)."""

import asyncio
import logging
from collections.abc import Iterator

import pytest
from limits.aio.storage import MemoryStorage

from app.ratelimit import STORAGE_COOL_DOWN_S, LimitsStorage, SharedStorage, StorageDown

pytestmark = [pytest.mark.rate_limit, pytest.mark.inprocess]


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def ratelimit_log() -> Iterator[list[logging.LogRecord]]:
    """What app.ratelimit logs (the app's logger does not propagate to pytest's)."""
    logger, collected = logging.getLogger("app.ratelimit"), Collected()
    logger.addHandler(collected)
    try:
        yield collected.records
    finally:
        logger.removeHandler(collected)


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
