"""Failed logins (app/login_guard.py): guessing on one account is bounded across all
addresses, and its owner, on a device or an address it logged in from, keeps logging
in whatever others send. Behind a trusted proxy (127.0.0.0/8, the test client's peer)
each attempt names its own address in X-Forwarded-For and carries only the device
cookie it is given, as separate programs would."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import time_machine
from fastapi import FastAPI

from app.identity.login_guard import DEVICE_COOKIE
from app.platform.config import Settings
from app.platform.runtime import Runtime
from py_tests.fixtures.app import MakeAsyncClient, runtime_of
from py_tests.fixtures.clients import Tenant
from py_tests.fixtures.inprocess import InProcessClient
from py_tests.support.accounts import login
from py_tests.support.assertions import assert_problem, assert_unauthorized
from py_tests.support.factories import RegistrationFactory
from py_tests.support.routes import REFRESH, REGISTER, USERS
from py_tests.support.spellings import fullwidth
from py_tests.support.tokens import bearer, claims_of

pytestmark = [
    pytest.mark.auth,
    pytest.mark.security,
    pytest.mark.settings(trusted_proxies="127.0.0.0/8"),
]
LIMIT = 10  # LOGIN_FAILURE_LIMIT's default
WINDOW = 900  # LOGIN_FAILURE_WINDOW_SECONDS's default
HOME = "192.0.2.10"  # where the owner logs in from
WRONG = "Wr0ng-guess!"
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


@dataclass(frozen=True)
class Account:
    username: str
    password: str


def new_account(client: InProcessClient) -> Account:
    """A tenant admin that has never logged in: no device and no address known yet."""
    payload = RegistrationFactory.build()
    assert client.post(REGISTER, json=payload).status_code == 201
    return Account(payload["admin_username"], payload["admin_password"])


def attempt(
    client: InProcessClient, username: str, password: str, address: str, device: str | None = None
) -> httpx.Response:
    client.cookies.clear()  # only the cookie given here is sent
    cookie = {} if device is None else {"Cookie": f"{DEVICE_COOKIE}={device}"}
    return login(client, username, password, address=address, headers=cookie)


def first_login(client: InProcessClient, account: Account, address: str = HOME) -> httpx.Response:
    response = attempt(client, account.username, account.password, address)
    assert response.status_code == 200, response.text
    return response


def attack(client: InProcessClient, username: str, count: int, first: int = 0) -> list[int]:
    """Wrong passwords, each from an address of its own, without a cookie."""
    return [
        attempt(client, username, WRONG, f"203.0.113.{n}").status_code
        for n in range(first, first + count)
    ]


def assert_locked(response: httpx.Response) -> int:
    """A 429 problem with Retry-After; returns the seconds it says."""
    assert_problem(response, 429)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    return retry_after


def count_verifications(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords the app verifies from now on."""
    passwords = runtime.passwords
    verify = passwords.verify
    seen: list[str] = []

    async def counted(password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        seen.append(password)
        return await verify(password, stored_hash)

    monkeypatch.setattr(passwords, "verify", counted)
    return seen


@pytest.fixture
def verifications(client: InProcessClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return count_verifications(runtime_of(client), monkeypatch)


# --- the owner keeps access ---------------------------------------------------------


def test_owner_logs_in_with_its_device_cookie_during_an_attack(client: InProcessClient) -> None:
    owner = new_account(client)
    device = first_login(client, owner).cookies[DEVICE_COOKIE]
    assert attack(client, owner.username, LIMIT + 5) == [401] * LIMIT + [429] * 5
    assert_locked(attempt(client, owner.username, owner.password, "198.51.100.1"))

    # On the road: an address never seen, but the device it logged in with.
    logged_in = attempt(client, owner.username, owner.password, "198.51.100.2", device)
    assert logged_in.status_code == 200, logged_in.text


def test_owner_logs_in_from_its_known_address_without_a_cookie(client: InProcessClient) -> None:
    """A script without a cookie jar: the address its login succeeded from is known."""
    owner = new_account(client)
    first_login(client, owner)
    assert attack(client, owner.username, LIMIT + 5) == [401] * LIMIT + [429] * 5

    logged_in = attempt(client, owner.username, owner.password, HOME)
    assert logged_in.status_code == 200, logged_in.text


def test_a_neighbour_on_the_owners_address_cannot_spend_its_login_or_refresh(
    client: InProcessClient,
) -> None:
    """Behind one NAT or proxy address, a neighbour spends that address's per-minute
    calls on junk logins and refreshes; the owner's device and session have buckets of
    their own."""
    owner = new_account(client)
    signed_in = first_login(client, owner)
    device, refresh_token = signed_in.cookies[DEVICE_COOKIE], signed_in.json()["refresh_token"]
    junk_logins = [
        attempt(client, f"nobody{n}_{owner.username}", WRONG, HOME).status_code
        for n in range(LIMIT)
    ]
    assert junk_logins[-1] == 429  # the address's bucket is spent (its first login counted)
    junk = {"refresh_token": "not-a-token"}
    headers = {"X-Forwarded-For": HOME}
    refreshes = [
        client.post(REFRESH, json=junk, headers=headers).status_code for _ in range(LIMIT + 1)
    ]
    assert refreshes == [401] * LIMIT + [429]

    logged_in = attempt(client, owner.username, owner.password, HOME, device)
    assert logged_in.status_code == 200, logged_in.text
    refreshed = client.post(REFRESH, json={"refresh_token": refresh_token}, headers=headers)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.headers["Cache-Control"] == "no-store"


# --- guessing is bounded ------------------------------------------------------------


def test_guessing_is_bounded_across_addresses_and_the_refused_are_not_verified(
    client: InProcessClient, verifications: list[str]
) -> None:
    owner = new_account(client)
    assert attack(client, owner.username, LIMIT) == [401] * LIMIT
    assert len(verifications) == LIMIT

    refused = attempt(client, owner.username, owner.password, "203.0.113.200")
    assert assert_locked(refused) >= WINDOW - 60  # until the first failure leaves the window
    assert len(verifications) == LIMIT  # no hash cost, and no answer that tells a right guess


def test_other_spellings_of_a_login_name_share_its_count(client: InProcessClient) -> None:
    """Login finds a name by its fullwidth or upper-case spelling too; guesses under
    such spellings count against the one account and open no counts of their own."""
    owner = new_account(client)
    spellings = [owner.username.upper(), fullwidth(owner.username)]
    statuses = [
        attempt(client, spellings[n % 2], WRONG, f"203.0.113.{n}").status_code for n in range(LIMIT)
    ]
    assert statuses == [401] * LIMIT
    assert_locked(attempt(client, owner.username, owner.password, "203.0.113.201"))


def test_unknown_login_names_are_counted_alike(client: InProcessClient) -> None:
    ghost = f"nobody_{RegistrationFactory.build()['admin_username']}"
    assert attack(client, ghost, LIMIT + 1) == [401] * LIMIT + [429]


def test_logins_are_limited_per_address_and_failures_per_account(client: InProcessClient) -> None:
    """Right passwords from untrusted addresses are not failures: they never lock the
    account, even past the limit; a bystander is untouched by another's lockout."""
    owner, bystander = new_account(client), new_account(client)
    for n in range(LIMIT + 2):
        assert attempt(client, owner.username, owner.password, f"198.51.100.{n}").status_code == 200
    assert attack(client, owner.username, LIMIT + 1) == [401] * LIMIT + [429]
    first_login(client, bystander, "203.0.113.250")


def test_only_wrong_passwords_count(client: InProcessClient, tenant_a: Tenant) -> None:
    """A deactivated member's right password (403) is no failed guess: however often it
    is sent, the wrong passwords still find the whole count free."""
    member = tenant_a.make_user()
    assert tenant_a.admin.api.delete(f"{USERS}/{member.id}").status_code == 204
    for n in range(LIMIT + 2):
        assert_problem(attempt(client, member.username, member.password, f"198.51.100.{n}"), 403)
    assert attack(client, member.username, LIMIT + 1) == [401] * LIMIT + [429]


@pytest.mark.concurrency
@pytest.mark.asyncio
# Raised so that nothing but the failure count can bound the burst.
@pytest.mark.settings(rate_limit_per_minute=1000)
async def test_concurrent_guesses_cannot_pass_the_limit_together(
    make_async_client: MakeAsyncClient, local_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt is counted before its password is verified, so a burst from many
    addresses gets exactly the limit through, not every attempt that read the count
    before the first failure was recorded."""
    http = make_async_client()
    verifications = count_verifications(local_app.state.runtime, monkeypatch)
    ghost = f"ghost_{RegistrationFactory.build()['admin_username']}"

    async def guess(n: int) -> int:
        return (await login(http, ghost, WRONG, address=f"203.0.113.{n}")).status_code

    statuses = await asyncio.gather(*(guess(n) for n in range(3 * LIMIT)))
    assert sorted(statuses) == [401] * LIMIT + [429] * (2 * LIMIT)
    assert len(verifications) == LIMIT


def test_refused_attempts_do_not_extend_the_lockout(
    client: InProcessClient, controlled_clock: time_machine.Traveller
) -> None:
    owner = new_account(client)
    assert attack(client, owner.username, LIMIT) == [401] * LIMIT
    controlled_clock.shift(WINDOW - 1)
    for n in range(5):
        refused = attempt(client, owner.username, owner.password, f"198.51.100.{n}")
        assert assert_locked(refused) == 1
    controlled_clock.shift(2)  # the window after the failures has passed
    assert first_login(client, owner, "198.51.100.99").status_code == 200


def test_a_lockout_ends_with_the_window_its_first_failure_began(
    client: InProcessClient, controlled_clock: time_machine.Traveller
) -> None:
    owner = new_account(client)
    assert attack(client, owner.username, 1) == [401]
    controlled_clock.shift(100)
    assert attack(client, owner.username, LIMIT - 1, first=1) == [401] * (LIMIT - 1)
    refused = attempt(client, owner.username, owner.password, "198.51.100.1")
    assert assert_locked(refused) == WINDOW - 100
    controlled_clock.shift(WINDOW - 101)
    assert attack(client, owner.username, 1, first=20) == [429]
    controlled_clock.shift(2)  # the window has ended, and its count with it
    assert attack(client, owner.username, LIMIT + 1, first=30) == [401] * LIMIT + [429]


# --- devices ------------------------------------------------------------------------


def test_a_device_is_locked_by_its_own_failures_only(client: InProcessClient) -> None:
    owner = new_account(client)
    device = first_login(client, owner).cookies[DEVICE_COOKIE]
    away = "198.51.100.7"
    statuses = [attempt(client, owner.username, WRONG, away, device) for _ in range(LIMIT)]
    assert [r.status_code for r in statuses] == [401] * LIMIT
    assert_locked(attempt(client, owner.username, owner.password, away, device))

    # Neither the owner's address nor untrusted clients paid for that device's failures.
    assert attempt(client, owner.username, owner.password, HOME).status_code == 200
    assert attempt(client, owner.username, owner.password, "198.51.100.8").status_code == 200


@pytest.mark.settings(device_cookie_days=30)
@pytest.mark.parametrize(
    "api_env",
    [
        pytest.param("dev", id="dev"),
        pytest.param(
            "stage",
            id="stage",
            marks=pytest.mark.settings(api_env="stage", jwt_secret=OTHER_SECRET),
        ),
    ],
)
def test_a_login_sets_a_device_cookie_naming_the_account(
    client: InProcessClient, api_env: str
) -> None:
    owner = new_account(client)
    response = first_login(client, owner)

    cookie = response.headers["set-cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "max-age=2592000" in cookie.lower()
    assert "path=/auth" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert ("secure" in attributes) is (api_env != "dev")
    claims = claims_of(response.cookies[DEVICE_COOKIE])
    assert (claims["type"], claims["sub"]) == ("device", owner.username.casefold())
    assert claims["did"]
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600


@pytest.fixture
def owner_under_attack(client: InProcessClient) -> tuple[Account, httpx.Response]:
    """An owner that logged in once at home, then an attack that locks out untrusted
    clients: the owner and its first login."""
    owner = new_account(client)
    first = first_login(client, owner)
    assert attack(client, owner.username, LIMIT) == [401] * LIMIT
    return owner, first


def _resigned(key: str, **changes: object) -> Callable[[httpx.Response, Settings, str], str]:
    def cookie(first: httpx.Response, settings: Settings, other: str) -> str:
        claims = {**claims_of(first.cookies[DEVICE_COOKIE]), **changes}
        return jwt.encode(claims, settings.jwt_secret if key == "same" else key)

    return cookie


LONG_AGO = datetime.now(UTC) - timedelta(days=400)
COOKIES: list[object] = [
    pytest.param(lambda first, settings, other: first.cookies[DEVICE_COOKIE], 200, id="genuine"),
    pytest.param(_resigned("same"), 200, id="genuine-claims-resigned"),
    pytest.param(_resigned(OTHER_SECRET), 429, id="forged"),
    pytest.param(
        _resigned("same", iat=LONG_AGO, exp=LONG_AGO + timedelta(days=90)), 429, id="expired"
    ),
    pytest.param(_resigned("same", type="access"), 429, id="other-token-type"),
    pytest.param(lambda first, settings, other: other, 429, id="another-accounts-device"),
    pytest.param(lambda f, s, o: f.json()["access_token"], 429, id="access-token"),
    pytest.param(lambda f, s, o: f.json()["refresh_token"], 429, id="refresh-token"),
    pytest.param(lambda f, s, o: "not-a-token", 429, id="garbage"),
]


@pytest.mark.parametrize(("cookie_of", "expected"), COOKIES)
def test_only_a_valid_device_cookie_of_this_account_is_trusted(
    client: InProcessClient,
    settings: Settings,
    owner_under_attack: tuple[Account, httpx.Response],
    cookie_of: Callable[[httpx.Response, Settings, str], str],
    expected: int,
) -> None:
    owner, first = owner_under_attack
    other = first_login(client, new_account(client), "192.0.2.20").cookies[DEVICE_COOKIE]
    device = cookie_of(first, settings, other)
    response = attempt(client, owner.username, owner.password, "198.51.100.3", device)
    assert response.status_code == expected, response.text


def test_a_device_cookie_is_neither_a_bearer_nor_a_refresh_token(client: InProcessClient) -> None:
    device = first_login(client, new_account(client)).cookies[DEVICE_COOKIE]
    client.cookies.clear()
    assert_unauthorized(client.get(USERS, headers=bearer(device)))
    assert_unauthorized(client.post(REFRESH, json={"refresh_token": device}))
