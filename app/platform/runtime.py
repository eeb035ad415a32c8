"""What one app instance owns at run time, built from settings in its lifespan."""

from dataclasses import dataclass

from app.files.storage import BlobStorage, build_storage
from app.identity.login_guard import LoginGuard
from app.identity.passwords import Passwords
from app.identity.repository import SessionState
from app.identity.service import TokenService
from app.identity.state_cache import StateCache
from app.identity.tokens import Tokens
from app.platform.config import Settings
from app.platform.db.database import Database
from app.platform.ratelimit import RateLimiter


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    tokens: Tokens
    passwords: Passwords
    limiter: RateLimiter
    login_guard: LoginGuard
    storage: BlobStorage
    # Session states read recently (app/identity/state_cache.py).
    session_states: StateCache[SessionState]
    # Stateless beyond the parts above: one serves every request.
    token_service: TokenService

    @classmethod
    def build(cls, settings: Settings) -> "Runtime":
        limiter = RateLimiter(settings)
        tokens = Tokens(settings)
        db = Database(
            settings.effective_database_url,
            echo=settings.database_echo,
            timeout_seconds=settings.database_timeout_seconds,
        )
        passwords = Passwords(settings)
        states = StateCache[SessionState](settings.session_cache_seconds, db.data_version)
        return cls(
            settings=settings,
            db=db,
            tokens=tokens,
            passwords=passwords,
            limiter=limiter,
            login_guard=LoginGuard(settings, tokens, limiter),
            storage=build_storage(settings),
            session_states=states,
            token_service=TokenService(db, tokens, passwords, states),
        )

    async def close(self) -> None:
        self.passwords.close()
        await self.db.dispose()
        await self.limiter.close()
        await self.login_guard.close()
        await self.storage.close()
