"""Per-principal, per-endpoint rate limiting on the `limits` library.

A bucket is (method + route template, principal): `GET /api/v1/users/{id}` is one
bucket whatever the id. The moving-window strategy keeps the timestamp of every
admitted hit, so "N per minute" holds over any 60 s, window edges included.
Storage is in memory by default and Redis when `REDIS_URL` is set; `SharedStorage`
keeps an unreachable Redis from costing every call a timeout.
"""

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from limits import RateLimitItemPerMinute, WindowStats
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.platform.config import Settings

logger = logging.getLogger("app.ratelimit")
POLICY = "per-endpoint"
REDIS_TIMEOUT_S = 0.5
# After a failed call the storage is left alone this long; then one call tries it again.
STORAGE_COOL_DOWN_S = 5.0
T = TypeVar("T")
# The storages the service counts in; both keep moving windows.
LimitsStorage = MemoryStorage | RedisStorage


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the oldest hit in the window expires
    window_seconds: int
    storage_down: bool = False

    def headers(self) -> dict[str, str]:
        reset_in = max(0, math.ceil(self.reset_at - time.time()))
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
            # draft-ietf-httpapi-ratelimit-headers-11 (structured fields).
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={reset_in}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, reset_in))
        return headers


class StorageDown(Exception):
    """The shared storage failed just now, or did lately and is being left alone."""


class SharedStorage:
    """The limiter's storage, as every caller reaches it.

    A call that fails (a timeout, a refused connection) marks the storage down for
    `STORAGE_COOL_DOWN_S`: meanwhile calls raise `StorageDown` at once, without waiting
    on it, and each caller falls back as it must. The first call after the cool-down
    tries it again (the others keep falling back while it does), so a frozen Redis
    costs one timeout per cool-down instead of one per call. One warning is logged when
    an outage starts and one line when it ends.
    """

    def __init__(
        self,
        storage: LimitsStorage,
        outage_message: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self._outage_message = outage_message
        self._clock = clock
        self._retry_at: float | None = None  # on the clock; None while the storage is up

    @property
    def up(self) -> bool:
        return self._retry_at is None

    async def run(self, call: Callable[[LimitsStorage], Awaitable[T]]) -> T:
        if self._retry_at is not None:
            now = self._clock()
            if now < self._retry_at:
                raise StorageDown
            self._retry_at = now + STORAGE_COOL_DOWN_S  # this call probes; the rest wait
        try:
            result = await call(self.storage)
        except Exception as exc:
            self.observed(up=False)
            raise StorageDown from exc
        self.observed(up=True)
        return result

    def observed(self, *, up: bool) -> None:
        """What a call (or a readiness probe) just found."""
        if up:
            if self._retry_at is not None:
                logger.warning("rate limit storage is back")
            self._retry_at = None
            return
        if self._retry_at is None:
            logger.warning(self._outage_message)
        self._retry_at = self._clock() + STORAGE_COOL_DOWN_S


def close_storage(storage: LimitsStorage) -> None:
    """Stops the expiry task a memory storage runs on this event loop."""
    if isinstance(storage, MemoryStorage) and storage.timer and not storage.timer.done():
        storage.timer.cancel()


class RateLimiter:
    window_seconds = 60

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.item = RateLimitItemPerMinute(settings.rate_limit_per_minute)
        self.fail_open = settings.rate_limit_fail_open
        self.namespace = settings.rate_limit_namespace
        self.remote = bool(settings.redis_url)
        if settings.redis_url:
            # Imported here: a deployment on the in-memory limiter has no use for redis-py
            # (0.14 s of every process's start-up).
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            uri = "async+" + settings.redis_url
            # Short timeouts: an unreachable Redis must cost a request milliseconds, not
            # hang it; the failure is then handled as configured (open or closed). No
            # retries: a hit whose reply timed out may have been recorded, and sending it
            # again would count one request twice.
            client_options: dict[str, Any] = {  # passed on to redis-py's client
                "socket_timeout": REDIS_TIMEOUT_S,
                "socket_connect_timeout": REDIS_TIMEOUT_S,
                "retry": Retry(NoBackoff(), 0),
            }
            storage = storage_from_string(uri, implementation="redispy", **client_options)
        else:
            storage = storage_from_string("async+memory://")
        assert isinstance(storage, LimitsStorage)
        self.storage = SharedStorage(
            storage,
            "rate limit storage unreachable; failing "
            f"{'open' if self.fail_open else 'closed'}, and counting failed logins in "
            "each process's memory, until it answers",
        )
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, endpoint: str, principal: str) -> Decision:
        key = (self.namespace, endpoint, principal)

        async def count(_: LimitsStorage) -> tuple[bool, WindowStats]:
            allowed = await self._strategy.hit(self.item, *key)
            return allowed, await self._strategy.get_window_stats(self.item, *key)

        try:
            allowed, stats = await self.storage.run(count)
        except StorageDown:
            return self._unavailable()
        return Decision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset_at=stats.reset_time,
            window_seconds=self.window_seconds,
        )

    def _unavailable(self) -> Decision:
        return Decision(
            allowed=self.fail_open,
            limit=self.item.amount,
            remaining=self.item.amount if self.fail_open else 0,
            reset_at=time.time() + self.window_seconds,
            window_seconds=self.window_seconds,
            storage_down=True,
        )

    async def ping(self) -> bool:
        """Asks the storage itself, whatever the cool-down says: readiness reports what
        is true now, and a storage that answers is back for every caller."""
        try:
            up = bool(await self.storage.storage.check())
        except Exception:
            up = False
        self.storage.observed(up=up)
        return up

    async def close(self) -> None:
        close_storage(self.storage.storage)
