"""Listing pages answered from memory (app/api/listings.py): only while the database is
unchanged, only to a caller who may list that tenant, and counted by the rate limiter
like any other call."""

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db.listing_cache import MAX_BYTES, MAX_ENTRIES, ListingCache
from app.db.sqlite import DataVersion
from py_tests.fixtures.app import runtime_of
from py_tests.fixtures.clients import ApiClient, Member, Tenant
from py_tests.fixtures.inprocess import InProcessClient
from py_tests.support.assertions import assert_problem, assert_unauthorized, wait_for
from py_tests.support.logs import logged
from py_tests.support.routes import FILES, LOGOUT, UPLOAD, USERS

# Session states kept for a minute: a test never depends on one still being kept, and
# each guard of the lane is then the only thing between a caller and a kept page.
pytestmark = [
    pytest.mark.pagination,
    pytest.mark.inprocess,
    pytest.mark.settings(session_cache_seconds=60),
]
PAGE = f"{USERS}?page=1&page_size=5"
FILES_PAGE = f"{FILES}?page=1&page_size=5"


@contextmanager
def statements(client: InProcessClient) -> Iterator[list[str]]:
    """The SQL statements the app sends while the block runs."""
    db = runtime_of(client).db
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engines = {db.engine.sync_engine, db.read_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def kept_page(client: InProcessClient, api: ApiClient, url: str = PAGE) -> httpx.Response:
    """Asks for a page twice; the second answer must come from memory, and is returned."""
    first = api.get(url)
    assert first.status_code == 200, first.text
    with statements(client) as sent:
        again = api.get(url)
    assert again.status_code == 200, again.text
    assert sent == [], "the second call for an unchanged page read the database"
    assert again.content == first.content
    return again


def known_session(api: Any, member: Member) -> None:
    """A call that keeps the caller's session state and commits nothing."""
    assert api.get(f"{USERS}/{member.id}").status_code == 200


def test_an_unchanged_page_is_answered_from_memory_as_the_route_answers_it(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    answer = kept_page(client, tenant_a.admin.api)

    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.headers["x-request-id"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    limit = runtime_of(client).settings.rate_limit_per_minute
    assert answer.headers["x-ratelimit-limit"] == str(limit)
    body = answer.json()
    assert body["total_count"] == 1
    assert [u["id"] for u in body["data"]] == [tenant_a.admin.id]


def test_a_write_through_the_api_is_seen_by_the_next_call(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    kept_page(client, tenant_a.admin.api)
    member = tenant_a.make_user()
    known_session(tenant_a.admin.api, tenant_a.admin)  # only the page is left to check

    body = tenant_a.admin.api.get(PAGE).json()

    assert body["total_count"] == 2
    assert member.id in {u["id"] for u in body["data"]}


def test_a_commit_by_another_process_is_seen_by_the_next_call(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    """No waiting for the page to expire: the change counter moved, so it is read again."""
    kept_page(client, tenant_a.admin.api)
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        other.execute(
            "UPDATE users SET full_name = 'Renamed Elsewhere' WHERE id = ?",
            (tenant_a.admin.id.replace("-", ""),),
        )
        assert other.total_changes == 1
    finally:
        other.close()
    known_session(tenant_a.admin.api, tenant_a.admin)

    body = tenant_a.admin.api.get(PAGE).json()

    assert body["data"][0]["full_name"] == "Renamed Elsewhere"


def test_a_file_upload_is_seen_by_the_next_call(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    empty = kept_page(client, tenant_a.admin.api, FILES_PAGE).json()
    assert empty["total_count"] == 0
    uploaded = tenant_a.admin.api.post(
        UPLOAD, files={"file": ("notes.txt", b"kept pages", "text/plain")}
    )
    assert uploaded.status_code == 201, uploaded.text
    known_session(tenant_a.admin.api, tenant_a.admin)

    body = tenant_a.admin.api.get(FILES_PAGE).json()

    assert [f["id"] for f in body["data"]] == [uploaded.json()["id"]]


def test_a_session_ended_by_logout_is_refused_while_its_page_is_kept(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    kept_page(client, tenant_a_member.api)
    assert tenant_a_member.api.post(LOGOUT).status_code == 204
    kept_page(client, tenant_a.admin.api)  # the same page, kept again after the logout

    assert_unauthorized(tenant_a_member.api.get(PAGE))


def test_a_deactivated_member_is_refused_while_its_page_is_kept(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant, tenant_a_member: Member
) -> None:
    kept_page(client, tenant_a_member.api)
    assert tenant_a.admin.api.delete(f"{USERS}/{tenant_a_member.id}").status_code == 204
    kept_page(client, tenant_a.admin.api)  # the same page, kept again after the change

    assert_unauthorized(tenant_a_member.api.get(PAGE))


def test_a_refresh_token_never_gets_a_kept_page(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    kept_page(client, tenant_a.admin.api)
    refresh = {"Authorization": f"Bearer {tenant_a.admin.tokens['refresh_token']}"}

    assert_unauthorized(client.get(PAGE, headers=refresh))


def test_another_tenant_never_gets_a_kept_page(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """Same path, same query string: the tenant is part of what a page is kept under."""
    kept_page(client, tenant_a.admin.api)
    known_session(tenant_b.admin.api, tenant_b.admin)  # so the lane could answer it

    body = tenant_b.admin.api.get(PAGE).json()

    assert {u["tenant_id"] for u in body["data"]} == {tenant_b.id}
    assert [u["id"] for u in body["data"]] == [tenant_b.admin.id]


def test_an_answer_from_memory_is_logged_as_a_routed_one(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    with logged("app.access") as records:
        answer = kept_page(client, tenant_a.admin.api)

    fields = records[-1].fields  # type: ignore[attr-defined]
    assert fields["request_id"] == answer.headers["x-request-id"]
    assert (fields["route"], fields["status"]) == (USERS, 200)
    assert (fields["tenant"], fields["user"]) == (tenant_a.id, tenant_a.admin.id)


@pytest.mark.rate_limit
@pytest.mark.settings(rate_limit_per_minute=3)
def test_answers_from_memory_count_against_the_rate_limit(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    first = tenant_a.admin.api.get(PAGE)
    with statements(client) as sent:
        kept = [tenant_a.admin.api.get(PAGE) for _ in range(2)]
    assert sent == []
    refused = tenant_a.admin.api.get(PAGE)

    remaining = [r.headers["x-ratelimit-remaining"] for r in (first, *kept)]
    assert remaining == ["2", "1", "0"]
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1


@pytest.mark.rate_limit
@pytest.mark.settings(rate_limit_fail_open=False)
def test_a_refusal_by_a_limiter_that_is_down_is_asked_for_once(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane's refusal is the route's answer: no second wait on a storage that is down."""
    kept_page(client, tenant_a.admin.api)
    attempts: list[tuple[Any, ...]] = []

    async def storage_down(*args: Any) -> bool:
        attempts.append(args)
        raise ConnectionError("rate limit storage unreachable")

    monkeypatch.setattr(runtime_of(client).limiter._strategy, "hit", storage_down)

    assert_problem(tenant_a.admin.api.get(PAGE), 503)
    assert len(attempts) == 1


@pytest.mark.settings(listing_cache_seconds=0.3, rate_limit_enabled=False)
def test_a_page_is_kept_for_a_bounded_time(
    sqlite_path: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    kept_page(client, tenant_a.admin.api)

    def read_again() -> bool:
        with statements(client) as sent:
            assert tenant_a.admin.api.get(PAGE).status_code == 200
        return bool(sent)

    wait_for(read_again, deadline_s=3, interval_s=0.05)


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param("LISTING_CACHE_SECONDS", marks=pytest.mark.settings(listing_cache_seconds=0)),
        # Pages go only to callers whose session state is kept; with none kept, none.
        pytest.param("SESSION_CACHE_SECONDS", marks=pytest.mark.settings(session_cache_seconds=0)),
    ],
)
def test_zero_seconds_reads_every_page(
    setting: str, client: InProcessClient, tenant_a: Tenant
) -> None:
    assert not runtime_of(client).listings.enabled, f"{setting}=0 leaves pages kept"
    assert tenant_a.admin.api.get(PAGE).status_code == 200
    with statements(client) as sent:
        assert tenant_a.admin.api.get(PAGE).status_code == 200
    assert sent


def test_no_page_is_kept_without_a_change_counter(
    settings: Settings, client: InProcessClient, tenant_a: Tenant
) -> None:
    """PostgreSQL has no equivalent of SQLite's data_version: every page is read."""
    if make_url(settings.effective_database_url).get_backend_name() == "sqlite":
        pytest.skip("a database without a change counter")
    assert not runtime_of(client).listings.enabled
    assert tenant_a.admin.api.get(PAGE).status_code == 200
    with statements(client) as sent:
        assert tenant_a.admin.api.get(PAGE).status_code == 200
    assert sent


def test_the_change_counter_moves_with_other_connections_commits(sqlite_path: str) -> None:
    probe = DataVersion(sqlite_path)
    try:
        before = probe.read()
        assert before is not None
        assert probe.read() == before  # nothing committed since
        other = sqlite3.connect(sqlite_path, isolation_level=None)
        other.execute("CREATE TABLE IF NOT EXISTS probe_check (x INTEGER)")
        other.close()
        moved = probe.read()
        assert moved is not None
        assert moved != before
        probe._disconnect()  # as after an error: the next read opens a new connection
        assert probe.read() not in (before, moved, None)  # and counts afresh
    finally:
        probe.close()
    assert probe.read() is None  # closed for good, never reopened


def test_a_probe_never_creates_the_database_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.db"
    assert DataVersion(str(missing)).read() is None
    assert not missing.exists()


def test_kept_pages_stay_within_their_bounds_whatever_the_query_strings(
    sqlite_path: str,
) -> None:
    """Unknown query parameters are ignored, so callers choose the keys: long keys and
    many keys both count."""
    probe = DataVersion(sqlite_path)
    cache = ListingCache(ttl=60, version=probe)
    tenant = uuid.uuid4()
    try:
        for n in range(MAX_ENTRIES + 10):
            query = f"page=1&pad={n}{'x' * 4000}".encode()
            cache.put((USERS, tenant, query), b"{}", cache.stamp())
            entries, kept = cache.size
            assert entries <= MAX_ENTRIES
            assert kept <= MAX_BYTES
    finally:
        probe.close()
