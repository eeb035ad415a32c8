"""Settings of the service: one validated object, read from the environment once.

Variable names follow the HTTP contract (`API_ENV`, `JWT_SECRET`, `DATABASE_URL`, ...),
without prefix. Outside `dev` a weak signing secret stops start-up.
"""

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.platform.db import sqlite

DEV_SECRET = "dev-only-secret-change-me-before-deploying-anywhere"  # noqa: S105
# Secrets that appear in tutorials and templates; none of them may sign a real token.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        DEV_SECRET,
        "secret",
        "changeme",
        "change-me",
        "your-secret-key",
        "your-secret-key-here",
        "supersecret",
        "jwt-secret",
        "CHANGE_THIS_SECRET",
    }
)
MIN_SECRET_BYTES = 32
DEFAULT_ALLOWED_FILE_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "application/pdf",
    "text/plain",
    "text/csv",
)


class Environment(StrEnum):
    DEV = "dev"
    STAGE = "stage"
    PROD = "prod"


class InsecureSettings(ValueError):
    """The configuration would run the service with a forgeable token secret."""


class InvalidConfiguration(Exception):
    """Settings that cannot start the service, described without the values given."""


# (backend, driver) pairs the service runs on.
SUPPORTED_DATABASES = frozenset({("sqlite", "aiosqlite"), ("postgresql", "asyncpg")})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    api_env: Environment = Environment.DEV
    version: str = "1.0.0"
    data_dir: Path = Path("data")

    jwt_secret: str = DEV_SECRET
    jwt_algorithm: Literal[
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"
    ] = "HS256"
    # For the asymmetric algorithms: PEM files; the public key is derived when absent.
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "saas-api"
    jwt_audience: str = "saas-api"
    jwt_leeway_seconds: int = Field(default=10, ge=0, le=300)
    access_token_expire_minutes: int = Field(default=30, ge=1)
    refresh_token_expire_days: int = Field(default=7, ge=1)

    # argon2id; the defaults are OWASP's minimum (19 MiB, 2 passes, 1 lane).
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_memory_kib: int = Field(default=19_456, ge=8)
    password_hash_parallelism: int = Field(default=1, ge=1)

    rate_limit_per_minute: int = Field(default=10, ge=1)
    # Off only to measure the limiter's own cost; every deployment keeps it on.
    rate_limit_enabled: bool = True
    rate_limit_fail_open: bool = True
    # Keeps the buckets of several deployments (or test runs) apart on one Redis.
    rate_limit_namespace: str = "saas-api"
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # Failed logins (app/identity/login_guard.py): this many within the window, on one account
    # from untrusted clients or from one trusted device or address, refuse the next.
    login_failure_limit: int = Field(default=10, ge=1, le=1000)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # A device cookie's lifetime, and how long an address a login succeeded from stays
    # known; browsers keep no cookie longer than 400 days.
    device_cookie_days: int = Field(default=90, ge=1, le=400)

    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)

    max_file_size_mb: int = Field(default=10, ge=1)
    # An upload that sends nothing for this long is answered 408 and its connection closed.
    upload_idle_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # The whole body must arrive within this, however steadily it trickles in; else 408.
    upload_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    # A connection whose request line and headers are not complete this long after it
    # opened (or after its previous answer) is closed; `app serve` only (app/platform/server.py).
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # A request body other than an upload must have arrived whole within this time.
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # A client that reads nothing of an answer (a download) for this long is cut off.
    send_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    allowed_file_types: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ALLOWED_FILE_TYPES

    database_url: str = ""
    database_echo: bool = False
    # On SIGTERM, how long in-flight requests may take to finish before the server exits.
    shutdown_grace_seconds: int = Field(default=30, ge=0, le=600)
    # Longest wait for a database connection or statement before answering 503 (PostgreSQL).
    database_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # How long one process may answer a session's state (revoked? active? role?) from
    # memory instead of the database; 0 reads it on every call. See app/identity/state_cache.py.
    session_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # None: migrate on start-up in dev only; deployments run `python -m app migrate`.
    db_auto_migrate: bool | None = None
    redis_url: str | None = None
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # A blob without a row older than this is an orphan (a crashed upload).
    orphan_grace_seconds: int = Field(default=600, ge=0)
    # Each process sweeps orphans and purges expired sessions in the background at
    # start-up; off, `python -m app sweep-orphans` / `purge-sessions` do it on a schedule.
    startup_housekeeping: bool = True

    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("allowed_file_types", "trusted_proxies"):
                value = data.get(key)
                if isinstance(value, str):
                    data[key] = tuple(p.strip() for p in value.split(",") if p.strip())
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.default_page_size > self.max_page_size:
            raise ValueError("DEFAULT_PAGE_SIZE must not exceed MAX_PAGE_SIZE")
        try:
            url = make_url(self.effective_database_url)
        except ArgumentError:  # the URL is not repeated: it may hold a password
            raise ValueError("DATABASE_URL is not a database URL (dialect+driver://...)") from None
        if url.get_backend_name() == "sqlite" and sqlite.in_memory(url):
            raise ValueError(
                "DATABASE_URL names an in-memory SQLite database, which each connection "
                "sees empty and alone (the migrations, the writer, every reader); "
                "name a file, or leave it unset for <DATA_DIR>/app.db"
            )
        if not self.uses_hmac:
            if self.jwt_private_key_file is None:
                raise InsecureSettings(
                    f"JWT_ALGORITHM={self.jwt_algorithm} needs JWT_PRIVATE_KEY_FILE (PEM)"
                )
        elif self.api_env is not Environment.DEV:
            secret = self.jwt_secret
            if secret in KNOWN_DEFAULT_SECRETS:
                raise InsecureSettings(
                    f"JWT_SECRET is unset or a published default; API_ENV={self.api_env} "
                    "needs a random secret of at least 32 bytes "
                    '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise InsecureSettings(
                    f"JWT_SECRET is {len(secret.encode())} bytes; API_ENV={self.api_env} "
                    f"needs at least {MIN_SECRET_BYTES}"
                )
        return self

    @model_validator(mode="after")
    def _check_services(self) -> Self:
        """The database driver, storage scheme and key files this service can use; no
        message repeats a value (a URL may hold a password)."""
        try:
            url = make_url(self.effective_database_url)
        except ArgumentError:
            return self  # `_check` says what is wrong with it
        if (url.get_backend_name(), url.get_driver_name()) not in SUPPORTED_DATABASES:
            raise ValueError(
                "DATABASE_URL must be sqlite+aiosqlite:///path or "
                "postgresql+asyncpg://user:password@host/database"
            )
        if self.storage_url and not re.match(r"^(file:///|s3://[^/:@]+)", self.storage_url):
            raise ValueError("STORAGE_URL must be file:///path or s3://bucket[/prefix]")
        for name in ("jwt_private_key_file", "jwt_public_key_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name.upper()} names no readable file")
        return self

    @property
    def uses_hmac(self) -> bool:
        return self.jwt_algorithm.startswith("HS")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'app.db').as_posix()}"

    @property
    def auto_migrate(self) -> bool:
        if self.db_auto_migrate is None:
            return self.api_env is Environment.DEV
        return self.db_auto_migrate

    @property
    def upload_spool_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def max_file_size_bytes(self) -> int:
        return self.max_file_size_mb * 1024 * 1024


def load_settings() -> Settings:
    """Settings from the environment (and `.env`). An invalid configuration stops start-up
    with what is wrong and never with the values given: pydantic's own message repeats
    the input, which holds the token secret and the database password."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']).upper() or 'settings'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidConfiguration("; ".join(problems)) from None
