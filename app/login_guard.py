"""Failed logins: guessing on one account stays bounded across all addresses, and a
third party cannot lock the account's owner out. The scheme is OWASP's device cookies
("Slow Down Online Guessing Attacks with Device Cookies", referenced from the
Authentication Cheat Sheet).

A successful login sets a device cookie: a token signed with the service's key
(app/auth.py, type "device") that names the account and a random device id. A login
attempt is *trusted* when it carries a valid device cookie for the account it names,
or when it comes from an address that account logged in from within a device
cookie's lifetime (for clients without a cookie jar). Each trusted device, and each
known address, has a count of its own; every other attempt on the account is
*untrusted*, and all of those share one count, whatever their address. A count that
holds `LOGIN_FAILURE_LIMIT` failures within `LOGIN_FAILURE_WINDOW_SECONDS` refuses the
next attempts it would take (429 with `Retry-After`, before any password is verified)
until its oldest failure leaves the window; refused attempts are not counted.

An attempt is counted when it is admitted, before its password is verified, so that
concurrent guesses cannot all pass a count that reads one below the limit; an attempt
that ends otherwise than with a wrong password (a login, a deactivated account, a
database that did not answer) is credited back. Unknown login names are counted like known
ones, so the guard tells nothing about which accounts exist. The counts live in the
rate limiter's storage (shared by every worker on Redis); while that storage is
unreachable they live in this process's memory, never nowhere.
"""

import math
import secrets
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from fastapi import Response
from limits.aio.storage import MemoryStorage

from app.auth import Tokens
from app.config import Environment, Settings
from app.errors import RateLimited
from app.ratelimit import LimitsStorage, RateLimiter, StorageDown, close_storage

DEVICE_COOKIE = "device"
DEVICE_COOKIE_PATH = "/auth"
# Successes credited back per count and window, at most: the bound on the list each
# count keeps. Past it, further successes in the window count as failures.
CREDITS_KEPT = 100
T = TypeVar("T")


def account_name(username: str) -> str:
    """The account a login name stands for, as the guard counts it: NFKC-normalised and
    case-folded, so that no other spelling of a name opens another count."""
    return unicodedata.normalize("NFKC", username).casefold()


@dataclass(frozen=True, slots=True)
class DeviceCookie:
    value: str
    max_age: int
    secure: bool

    def set_on(self, response: Response) -> None:
        response.set_cookie(
            DEVICE_COOKIE,
            self.value,
            max_age=self.max_age,
            path=DEVICE_COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """An admitted attempt, counted where `succeeded` credits it back."""

    account: str
    address: str
    device_id: str | None  # from a valid device cookie for this account
    count: str  # the key of the count it was counted in
    storage: LimitsStorage  # where: the shared storage, or this process's memory during an outage


class LoginGuard:
    def __init__(self, settings: Settings, tokens: Tokens, limiter: RateLimiter) -> None:
        self._tokens = tokens
        self._shared = limiter.storage
        # Where the counts go while the shared storage is down (memory is its own).
        self._memory = MemoryStorage() if limiter.remote else self._shared.storage
        self._prefix = f"{limiter.namespace}/login"
        self._limit = settings.login_failure_limit
        self._window = settings.login_failure_window_seconds
        self._device_lifetime = settings.device_cookie_days * 86_400
        self._secure_cookie = settings.api_env is not Environment.DEV

    async def admit(self, username: str, address: str, device_cookie: str | None) -> LoginAttempt:
        """Counts this attempt, or refuses it (`RateLimited`) without counting it."""
        account = account_name(username)
        device = self._tokens.decode_device(device_cookie) if device_cookie else None
        device_id = device.device_id if device and device.login == account else None

        async def count(storage: LimitsStorage) -> tuple[str, float | None]:
            if device_id is not None:
                key = self._key(account, "device", device_id)
            elif await storage.get(self._key(account, "known", address)) > 0:
                key = self._key(account, "address", address)
            else:
                key = self._key(account, "untrusted")
            return key, await self._reserve(storage, key)

        storage, (key, wait) = await self._run(count)
        if wait is not None:
            retry = max(1, math.ceil(wait))
            raise RateLimited(
                f"Too many failed logins; retry in {retry} s", headers={"Retry-After": str(retry)}
            )
        return LoginAttempt(account, address, device_id, key, storage)

    async def succeeded(self, attempt: LoginAttempt) -> DeviceCookie:
        """Credits the attempt back, remembers its address for this account, and gives
        the device its cookie (the same device id when it had one)."""

        async def record(storage: LimitsStorage) -> None:
            await self._credit(storage, attempt)
            known = self._key(attempt.account, "known", attempt.address)
            await storage.clear(known)  # set anew, so that it is kept for the full time
            await storage.incr(known, self._device_lifetime)

        await self._run(record)
        device_id = attempt.device_id or secrets.token_urlsafe(16)
        token = self._tokens.issue_device(login=attempt.account, device_id=device_id)
        return DeviceCookie(token, self._device_lifetime, self._secure_cookie)

    async def withdraw(self, attempt: LoginAttempt) -> None:
        """Credits back an attempt that ended otherwise than with a wrong password."""

        async def record(storage: LimitsStorage) -> None:
            await self._credit(storage, attempt)

        await self._run(record)

    async def close(self) -> None:
        if self._memory is not self._shared.storage:
            close_storage(self._memory)

    def _key(self, account: str, *parts: str) -> str:
        # Quoted, so that no login name or forwarded address can reach another's key.
        return "/".join([self._prefix, *(quote(p, safe="") for p in (account, *parts))])

    async def _run(self, call: Callable[[LimitsStorage], Awaitable[T]]) -> tuple[LimitsStorage, T]:
        try:
            return self._shared.storage, await self._shared.run(call)
        except StorageDown:
            return self._memory, await call(self._memory)

    async def _reserve(self, storage: LimitsStorage, count: str) -> float | None:
        """None when the attempt is admitted (and counted), else the seconds until the
        count admits again. Admitted attempts and credited successes are two moving
        windows: the count holds the attempts that were not credited back."""
        limit = self._limit + await self._credits(storage, count)
        tries = f"{count}/tries"
        if await storage.acquire_entry(tries, limit, self._window):
            return None
        oldest, _ = await storage.get_moving_window(tries, limit, self._window)
        return float(oldest) + self._window - time.time()

    async def _credits(self, storage: LimitsStorage, count: str) -> int:
        _, credits = await storage.get_moving_window(f"{count}/ok", CREDITS_KEPT, self._window)
        return int(credits)

    async def _credit(self, storage: LimitsStorage, attempt: LoginAttempt) -> None:
        if storage is attempt.storage:  # where it was counted (else it stays counted)
            await storage.acquire_entry(f"{attempt.count}/ok", CREDITS_KEPT, self._window)
