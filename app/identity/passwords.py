"""Passwords: argon2id hashing off the event loop, and the password rules.

`Passwords` is built from settings per app, so a test suite can use cheap hash
parameters while the defaults follow OWASP guidance.
"""

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.platform.config import Settings
from app.platform.errors import InvalidInput

T = TypeVar("T")


def ensure_password_allowed(password: str, username: str, email: str) -> None:
    """A password may not be the account's username or email (or the email's local part)."""
    lowered = password.casefold()
    if lowered in {username.casefold(), email.casefold(), email.split("@")[0].casefold()}:
        raise InvalidInput(
            [
                {
                    "loc": ["body", "password"],
                    "msg": "Password must not be the username or the email",
                    "type": "password_policy",
                }
            ]
        )


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.password_hash_time_cost,
                    memory_cost=settings.password_hash_memory_kib,
                    parallelism=settings.password_hash_parallelism,
                ),
            )
        )
        # Hashing runs on threads of its own (argon2 releases the GIL), never in the
        # default executor, where file storage reads and writes blobs; and in two
        # lanes: verifying (logins, current passwords) on a thread per core, making new
        # hashes (user creates, bulk creates, registrations) on half the cores. A
        # tenant creating users by the thousand then queues behind itself, and every
        # login still finds a core.
        cores = os.cpu_count() or 2
        self._verifying = ThreadPoolExecutor(cores, thread_name_prefix="password-verify")
        self._hashing = ThreadPoolExecutor(max(1, cores // 2), thread_name_prefix="password-hash")
        # Verified against when the user is unknown, so both paths cost one hash.
        self._dummy_hash = self._hash.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await self._run(self._hashing, self._hash.hash, password)

    async def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """(valid, new hash when the parameters changed). A missing hash never verifies."""
        if stored_hash is None:
            await self._run(self._verifying, self._hash.verify, password, self._dummy_hash)
            return False, None
        return await self._run(self._verifying, self._hash.verify_and_update, password, stored_hash)

    @staticmethod
    async def _run(lane: ThreadPoolExecutor, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(lane, work, *args)

    def close(self) -> None:
        for lane in (self._verifying, self._hashing):
            lane.shutdown(wait=False, cancel_futures=True)
