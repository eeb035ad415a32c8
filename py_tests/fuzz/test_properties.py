"""Properties that hold for any input (Hypothesis): pages partition any list exactly,
any string in a username, email, filename or token is answered 2xx or a 4xx problem
(never 5xx), and login never tells an unknown user from a wrong password."""

import math
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from py_tests.fixtures.clients import ApiClient, MakeTenant, Tenant
from py_tests.support.accounts import login
from py_tests.support.factories import user_payloads
from py_tests.support.routes import BULK, FILES, UPLOAD, USERS

pytestmark = [pytest.mark.security, pytest.mark.settings(rate_limit_per_minute=1_000_000)]
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROBLEM = "application/problem+json"


def assert_handled(response: httpx.Response) -> None:
    """2xx, or a 4xx problem document: never a server error."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["status"] == response.status_code


@pytest.mark.pagination
@pytest.mark.slow
@FUZZ
@given(users=st.integers(min_value=0, max_value=24), page_size=st.integers(1, 12))
def test_pages_partition_the_list_exactly(
    make_tenant: MakeTenant, users: int, page_size: int
) -> None:
    tenant = make_tenant()
    if users:
        assert tenant.admin.api.post(BULK, json=user_payloads(users)).status_code == 201
    total = users + 1  # and the admin
    pages = math.ceil(total / page_size)
    seen: list[str] = []
    for number in range(1, pages + 2):  # one page past the end too
        body = tenant.admin.api.get(f"{USERS}?page={number}&page_size={page_size}").json()
        assert body["total_count"] == total
        assert body["has_prev"] == (number > 1)
        assert body["has_next"] == (number < pages)
        assert len(body["data"]) == (page_size if number < pages else total - len(seen))
        seen.extend(user["id"] for user in body["data"])
    assert len(seen) == len(set(seen)) == total


ANY_TEXT = st.text(max_size=80)


@FUZZ
@given(username=ANY_TEXT, email=ANY_TEXT)
@example(username="\x8a7\x00", email="nul@example.org")  # was a 500 on PostgreSQL
def test_any_username_or_email_is_handled(
    tenant_a_admin: ApiClient, username: str, email: str
) -> None:
    assert_handled(tenant_a_admin.post(USERS, json={"username": username, "email": email}))
    assert_handled(login(tenant_a_admin, username, email or "x"))


@pytest.mark.files
@FUZZ
@given(filename=st.text(min_size=1, max_size=300))
def test_any_filename_is_handled(tenant_a_admin: ApiClient, filename: str) -> None:
    response = tenant_a_admin.post(
        UPLOAD, files={"file": (filename, b"plain text\n", "text/plain")}
    )
    assert_handled(response)
    if response.status_code == 201:
        disposition = tenant_a_admin.get(f"{FILES}/{response.json()['id']}").headers[
            "content-disposition"
        ]
        assert disposition.isascii()


@pytest.mark.auth
@FUZZ
@given(token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=300))
def test_any_bearer_token_is_handled(anonymous: ApiClient, token: str) -> None:
    response = anonymous.get(USERS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert_handled(response)


@pytest.mark.auth
@pytest.mark.slow
@FUZZ
@given(password=st.text(min_size=1, max_size=64))
def test_login_never_tells_unknown_user_from_wrong_password(
    tenant_a: Tenant, password: str
) -> None:
    member = tenant_a.make_user()  # a fresh account: no earlier failures to be locked by
    wrong = login(member.api, member.username, password + "!")
    unknown = login(member.api, f"ghost_{uuid.uuid4().hex[:10]}", password + "!")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
