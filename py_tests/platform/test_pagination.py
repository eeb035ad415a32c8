"""Page parameters and page metadata of the users list (the same `PageDep` as every list)."""

from datetime import datetime
from typing import Any

import pytest

from py_tests.fixtures.clients import ApiClient
from py_tests.support.factories import user_payloads
from py_tests.support.routes import BULK, USERS

pytestmark = pytest.mark.pagination

CREATED = 25
TOTAL = CREATED + 1  # the tenant's admin comes first


@pytest.fixture
def populated(tenant_a_admin: ApiClient) -> list[str]:
    """25 users made in one bulk call; returns their ids."""
    response = tenant_a_admin.post(BULK, json=user_payloads(CREATED))
    assert response.status_code == 201, response.text
    return [u["id"] for u in response.json()]


def get_page(api: ApiClient, **params: Any) -> dict[str, Any]:
    response = api.get(USERS, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"data", "page", "page_size", "total_count", "has_next", "has_prev"}
    return body


@pytest.mark.parametrize(
    ("page", "size", "has_next", "has_prev"),
    [
        pytest.param(1, 10, True, False, id="first-page"),
        pytest.param(2, 10, True, True, id="middle-page"),
        pytest.param(3, 6, False, True, id="last-page-partial"),
    ],
)
def test_page_metadata(
    tenant_a_admin: ApiClient,
    populated: list[str],
    page: int,
    size: int,
    has_next: bool,
    has_prev: bool,
) -> None:
    body = get_page(tenant_a_admin, page=page, page_size=10)
    assert (body["page"], body["page_size"], body["total_count"]) == (page, 10, TOTAL)
    assert (body["has_next"], body["has_prev"]) == (has_next, has_prev)
    assert len(body["data"]) == size


def test_pages_concatenate_to_every_user_once_in_stable_order(
    tenant_a_admin: ApiClient, populated: list[str]
) -> None:
    pages = [get_page(tenant_a_admin, page=n, page_size=10)["data"] for n in (1, 2, 3)]
    users = [u for page in pages for u in page]
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)) == TOTAL
    assert set(ids) == {*populated, ids[0]}
    keys = [(datetime.fromisoformat(u["created_at"]), u["id"]) for u in users]
    assert keys == sorted(keys)
    assert ids == [u["id"] for u in get_page(tenant_a_admin, page_size=100)["data"]]


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(4, id="next-after-last"),
        # page * page_size overflows a 64-bit SQL OFFSET: still just a page past the end.
        pytest.param(2**62, id="offset-beyond-int64"),
    ],
)
def test_page_past_the_end_is_empty(
    tenant_a_admin: ApiClient, populated: list[str], page: int
) -> None:
    body = get_page(tenant_a_admin, page=page, page_size=10)
    assert body["data"] == []
    assert (body["page"], body["total_count"]) == (page, TOTAL)
    assert (body["has_next"], body["has_prev"]) == (False, True)


def test_default_page_size_is_twenty(tenant_a_admin: ApiClient, populated: list[str]) -> None:
    body = get_page(tenant_a_admin)
    assert (body["page"], body["page_size"], len(body["data"])) == (1, 20, 20)
    assert (body["has_next"], body["has_prev"]) == (True, False)


def test_max_page_size_returns_everything(tenant_a_admin: ApiClient, populated: list[str]) -> None:
    body = get_page(tenant_a_admin, page_size=100)
    assert (body["page_size"], len(body["data"]), body["has_next"]) == (100, TOTAL, False)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"page": 0}, "page", id="page-zero"),
        pytest.param({"page": -1}, "page", id="page-negative"),
        pytest.param({"page": "abc"}, "page", id="page-not-a-number"),
        pytest.param({"page_size": 0}, "page_size", id="page-size-zero"),
        pytest.param({"page_size": 101}, "page_size", id="page-size-over-max"),
        pytest.param({"page_size": "ten"}, "page_size", id="page-size-not-a-number"),
    ],
)
def test_invalid_page_parameters_are_rejected(
    tenant_a_admin: ApiClient, params: dict[str, Any], field: str
) -> None:
    response = tenant_a_admin.get(USERS, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["status"], body["title"]) == (422, "Invalid input")
    assert [e["loc"] for e in body["errors"]] == [["query", field]]
    assert all(isinstance(e["msg"], str) and e["type"] for e in body["errors"])
