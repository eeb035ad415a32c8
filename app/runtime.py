"""What one app instance owns at run time, built from settings in its lifespan."""

from dataclasses import dataclass

from app.auth import Passwords, Tokens
from app.config import Settings
from app.db.listing_cache import ListingCache
from app.db.session import Database
from app.login_guard import LoginGuard
from app.ratelimit import RateLimiter
from app.storage import BlobStorage, build_storage


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    tokens: Tokens
    passwords: Passwords
    limiter: RateLimiter
    login_guard: LoginGuard
    storage: BlobStorage
    listings: ListingCache

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        limiter = RateLimiter(settings)
        tokens = Tokens(settings)
        db = Database(
            settings.effective_database_url,
            echo=settings.database_echo,
            state_cache_seconds=settings.session_cache_seconds,
            timeout_seconds=settings.database_timeout_seconds,
        )
        return cls(
            settings=settings,
            db=db,
            tokens=tokens,
            passwords=Passwords(settings),
            limiter=limiter,
            login_guard=LoginGuard(settings, tokens, limiter),
            storage=build_storage(settings),
            # Pages are answered only to callers whose session state is kept (app/api/listings.py).
            listings=ListingCache(
                settings.listing_cache_seconds if settings.session_cache_seconds > 0 else 0,
                db.data_version,
            ),
        )

    async def close(self) -> None:
        self.passwords.close()
        await self.db.dispose()
        await self.limiter.close()
        await self.login_guard.close()
        await self.storage.close()
