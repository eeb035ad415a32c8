"""Failed logins: guessing on one account stays bounded across all addresses, and a
third party cannot lock the account's owner out. The scheme is OWASP's device cookies
("Slow Down Online Guessing Attacks with Device Cookies", referenced from the
Authentication Cheat Sheet).

A successful login sets a device cookie: a token signed with the service's key
(app/identity/tokens.py, type "device") that names the account and a random device id. A login
attempt is *trusted* when it carries a valid device cookie for the account it names,
or when it comes from an address that account logged in from within a device
cookie's lifetime (for clients without a cookie jar). Each trusted device, and each
known address, has a count of its own; every other attempt on the account is
*untrusted*, and all of those share one count, whatever their address. A count lasts
`LOGIN_FAILURE_WINDOW_SECONDS` from the first failure it takes; once it holds
`LOGIN_FAILURE_LIMIT`, it refuses the next attempts (429 with `Retry-After`, before any
password is verified) until it ends. Refused attempts are not counted.

An attempt is counted when it is admitted, before its password is verified, so that
concurrent guesses cannot all pass a count that reads one below the limit; an attempt
that ends otherwise than with a wrong password (a login, a deactivated account, a
database that did not answer) is taken back out. Unknown login names are counted like
known ones, so the guard tells nothing about which accounts exist. The counts live in
the rate limiter's storage (shared by every worker on Redis); while that storage is
unreachable they live in this process's memory, never nowhere.
"""

import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from fastapi import Response
from limits.aio.storage import MemoryStorage

from app.identity.tokens import Tokens
from app.platform.config import Environment, Settings
from app.platform.errors import RateLimited
from app.platform.ratelimit import LimitsStorage, RateLimiter, StorageDown, close_storage
from app.platform.text import unique_key

DEVICE_COOKIE = "device"
DEVICE_COOKIE_PATH = "/auth"
T = TypeVar("T")


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
    """An admitted attempt, counted where `succeeded` or `withdraw` takes it out again."""

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

    def device_of(self, username: str, device_cookie: str | None) -> str | None:
        """The device id of a valid device cookie for this login name; None otherwise."""
        device = self._tokens.decode_device(device_cookie) if device_cookie else None
        return device.device_id if device and device.login == unique_key(username) else None

    async def admit(self, username: str, address: str, device_id: str | None) -> LoginAttempt:
        """Counts this attempt, or refuses it (`RateLimited`) without counting it.
        `device_id` is `device_of` the attempt's cookie. Accounts are counted by their
        unique key, the form login looks names up by: no other spelling opens a count."""
        account = unique_key(username)

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

    def from_address(self, address: str) -> "AddressGuesses":
        """This guard for password checks outside login, from one client address."""
        return AddressGuesses(self, address)

    async def succeeded(self, attempt: LoginAttempt) -> DeviceCookie:
        """Takes the attempt out of its count, remembers its address for this account,
        and gives the device its cookie (the same device id when it had one)."""

        async def record(storage: LimitsStorage) -> None:
            await self._take_back(storage, attempt)
            known = self._key(attempt.account, "known", attempt.address)
            await storage.clear(known)  # set anew, so that it is kept for the full time
            await storage.incr(known, self._device_lifetime)

        await self._run(record)
        device_id = attempt.device_id or secrets.token_urlsafe(16)
        token = self._tokens.issue_device(login=attempt.account, device_id=device_id)
        return DeviceCookie(token, self._device_lifetime, self._secure_cookie)

    async def withdraw(self, attempt: LoginAttempt) -> None:
        """Takes out of its count an attempt that ended otherwise than with a wrong
        password."""

        async def record(storage: LimitsStorage) -> None:
            await self._take_back(storage, attempt)

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
        count ends. A counter that starts its window when it goes from nothing to one."""
        if await storage.incr(count, self._window) <= self._limit:
            return None
        await self._uncount(storage, count)  # a refused attempt is not counted
        return await storage.get_expiry(count) - time.time()

    async def _take_back(self, storage: LimitsStorage, attempt: LoginAttempt) -> None:
        if storage is attempt.storage:  # where it was counted (else it stays counted)
            await self._uncount(storage, attempt.count)

    async def _uncount(self, storage: LimitsStorage, count: str) -> None:
        if await storage.incr(count, self._window, amount=-1) < 0:
            # The count ended while the attempt ran: what was taken back was no one's.
            await storage.incr(count, self._window)


@dataclass(frozen=True, slots=True)
class AddressGuesses:
    """Password checks of an authenticated caller (its own `current_password`), counted
    like login attempts from its address without a device cookie."""

    guard: LoginGuard
    address: str

    async def admit(self, username: str) -> LoginAttempt:
        return await self.guard.admit(username, self.address, None)

    async def withdraw(self, attempt: LoginAttempt) -> None:
        await self.guard.withdraw(attempt)
