"""Settings fail fast: no forgeable token secret outside dev, and password hashing at
OWASP's minimum by default. Read from the environment, as a deployment sets them."""

import asyncio
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.identity.passwords import Passwords
from app.platform.config import (
    DEV_SECRET,
    InsecureSettings,
    InvalidConfiguration,
    Settings,
    load_settings,
)

pytestmark = pytest.mark.security


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the machine running the tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def load(environ: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        environ.setenv(name, value)
    return Settings(_env_file=None)


@pytest.mark.parametrize(
    ("api_env", "secret"),
    [
        pytest.param("prod", None, id="prod-without-secret"),
        pytest.param("stage", None, id="stage-without-secret"),
        pytest.param("prod", "", id="prod-empty-secret"),
        pytest.param("prod", "s" * 31, id="prod-31-bytes"),
        pytest.param("prod", "é" * 15, id="prod-15-chars-of-30-bytes"),
        pytest.param("prod", DEV_SECRET, id="prod-the-dev-default"),
        pytest.param("prod", "changeme", id="prod-published-default"),
        pytest.param("stage", "your-secret-key-here", id="stage-published-default"),
    ],
)
def test_settings_refuse_weak_secret_outside_dev(
    environ: pytest.MonkeyPatch, api_env: str, secret: str | None
) -> None:
    env = {"API_ENV": api_env} | ({} if secret is None else {"JWT_SECRET": secret})
    with pytest.raises((InsecureSettings, ValidationError), match="JWT_SECRET"):
        load(environ, **env)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(secrets.token_urlsafe(48), id="48-random-bytes"),
        pytest.param(secrets.token_hex(16), id="exactly-32-bytes"),
    ],
)
def test_settings_accept_random_secret_in_prod(environ: pytest.MonkeyPatch, secret: str) -> None:
    settings = load(environ, API_ENV="prod", JWT_SECRET=secret)
    assert settings.api_env == "prod"
    assert settings.jwt_secret == secret
    assert settings.auto_migrate is False  # deployments migrate with the CLI


def test_settings_in_dev_start_with_the_dev_secret(environ: pytest.MonkeyPatch) -> None:
    settings = load(environ)
    assert settings.api_env == "dev"
    assert settings.jwt_secret == DEV_SECRET


def test_settings_reject_unknown_environment(environ: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="api_env"):
        load(environ, API_ENV="production")


def test_settings_default_to_the_contract_values(environ: pytest.MonkeyPatch) -> None:
    settings = load(environ)
    assert settings.jwt_algorithm == "HS256"
    assert settings.access_token_expire_minutes == 30
    assert settings.refresh_token_expire_days == 7
    assert settings.rate_limit_per_minute == 10
    assert (settings.default_page_size, settings.max_page_size) == (20, 100)
    assert settings.max_file_size_mb == 10


def test_login_guard_settings_are_read_without_prefix(environ: pytest.MonkeyPatch) -> None:
    defaults = load(environ)
    assert (
        defaults.login_failure_limit,
        defaults.login_failure_window_seconds,
        defaults.device_cookie_days,
    ) == (10, 900, 90)
    given = load(
        environ, LOGIN_FAILURE_LIMIT="5", LOGIN_FAILURE_WINDOW_SECONDS="60", DEVICE_COOKIE_DAYS="30"
    )
    assert (
        given.login_failure_limit,
        given.login_failure_window_seconds,
        given.device_cookie_days,
    ) == (5, 60, 30)


def test_password_hashing_defaults_meet_owasp_minimum(environ: pytest.MonkeyPatch) -> None:
    settings = load(environ)
    assert settings.password_hash_memory_kib >= 19_456
    assert settings.password_hash_time_cost >= 2
    assert settings.password_hash_parallelism == 1
    # The hash itself records the parameters it was made with.
    encoded = asyncio.run(Passwords(settings).hash("correct horse battery staple"))
    variant, _version, parameters = encoded.split("$")[1:4]
    used = {key: int(value) for key, value in (p.split("=") for p in parameters.split(","))}
    assert variant == "argon2id"
    assert used["m"] >= 19_456
    assert used["t"] >= 2
    assert used["p"] == 1


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_asymmetric_algorithms_need_a_key_file(environ: pytest.MonkeyPatch, algorithm: str) -> None:
    environ.setenv("JWT_ALGORITHM", algorithm)
    with pytest.raises((InsecureSettings, ValidationError), match="JWT_PRIVATE_KEY_FILE"):
        Settings(_env_file=None)


def test_unknown_jwt_algorithm_is_refused(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("JWT_ALGORITHM", "none")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///file:shared?mode=memory&cache=shared&uri=true",
    ],
)
def test_an_in_memory_sqlite_database_is_refused_at_start(
    environ: pytest.MonkeyPatch, url: str
) -> None:
    """Each connection would see its own empty database: the migrations' tables would
    not be where the requests look."""
    with pytest.raises(ValidationError, match="in-memory SQLite"):
        load(environ, DATABASE_URL=url)


@pytest.mark.parametrize(
    ("env", "secret", "problem"),
    [
        (
            {"DATABASE_URL": "postgres ql://saas:s3cret-pw@db/saas"},
            "s3cret-pw",
            "DATABASE_URL is not a database URL",
        ),
        (
            {"API_ENV": "prod", "JWT_SECRET": "short-but-secret-xyz"},
            "short-but-secret-xyz",
            "JWT_SECRET is 20 bytes",
        ),
        (
            {"DATABASE_URL": "mysql://saas:s3cret-pw@db/saas"},
            "s3cret-pw",
            "DATABASE_URL must be sqlite+aiosqlite",
        ),
        (
            {"STORAGE_URL": "ftp://saas:s3cret-pw@files/x"},
            "s3cret-pw",
            "STORAGE_URL must be file:///path or s3://bucket",
        ),
        (
            {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY_FILE": "/no/such/s3cret-dir/key.pem"},
            "s3cret-dir",
            "JWT_PRIVATE_KEY_FILE names no readable file",
        ),
    ],
    ids=[
        "database-password",
        "weak-jwt-secret",
        "unsupported-database-driver",
        "unsupported-storage-url",
        "missing-key-file",
    ],
)
def test_an_invalid_configuration_is_described_without_its_values(
    environ: pytest.MonkeyPatch, env: dict[str, str], secret: str, problem: str
) -> None:
    """What start-up prints lands in logs: it names the problem, not the secrets."""
    for name, value in env.items():
        environ.setenv(name, value)
    with pytest.raises(InvalidConfiguration) as refused:
        load_settings()
    assert problem in str(refused.value)
    assert secret not in str(refused.value)


def test_a_database_file_is_accepted(environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    assert load(environ, DATABASE_URL=url).effective_database_url == url


def test_the_upload_deadline_defaults_to_two_minutes(environ: pytest.MonkeyPatch) -> None:
    assert load(environ).upload_timeout_seconds == 120
    assert load(environ, UPLOAD_TIMEOUT_SECONDS="7.5").upload_timeout_seconds == 7.5


@pytest.mark.parametrize("seconds", ["0", "-1", "3601"])
def test_an_upload_deadline_out_of_range_is_refused(
    environ: pytest.MonkeyPatch, seconds: str
) -> None:
    with pytest.raises(ValidationError, match="upload_timeout_seconds"):
        load(environ, UPLOAD_TIMEOUT_SECONDS=seconds)
