"""Hostile or broken request bodies: each is answered with a 4xx problem document,
never a 500, and the service keeps serving."""

from collections.abc import Iterator

import pytest

from app.platform.body_limit import MAX_JSON_BODY_BYTES
from py_tests.fixtures.clients import ApiClient
from py_tests.support.assertions import assert_problem
from py_tests.support.routes import BULK, FILES, HEALTH, LOGIN, REFRESH, REGISTER, UPLOAD, USERS

pytestmark = pytest.mark.security

JSON_ROUTES = [
    ("POST", REGISTER),
    ("POST", LOGIN),
    ("POST", REFRESH),
    ("POST", USERS),
    ("POST", BULK),
]
DEPTH = 100_000
NESTED = {
    "arrays": "[" * DEPTH + "]" * DEPTH,
    "objects": '{"a":' * DEPTH + "1" + "}" * DEPTH,
    "in a field": '{"username":' + "[" * DEPTH + "]" * DEPTH + ', "password": "x"}',
}
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("shape", list(NESTED))
def test_deeply_nested_json_is_invalid_input(
    tenant_a_admin: ApiClient, method: str, path: str, shape: str
) -> None:
    response = tenant_a_admin.request(method, path, content=NESTED[shape], headers=JSON)
    assert_problem(response, 422)
    assert tenant_a_admin.get(HEALTH).status_code == 200


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_a_body_over_the_ceiling_is_refused_before_parsing(
    tenant_a_admin: ApiClient, method: str, path: str
) -> None:
    body = b"[" + b"0," * (MAX_JSON_BODY_BYTES // 2) + b"0]"
    response = tenant_a_admin.request(method, path, content=body, headers=JSON)
    assert_problem(response, 413)
    assert response.headers["connection"] == "close"


def test_a_streamed_body_without_length_is_cut_at_the_ceiling(
    tenant_a_admin: ApiClient,
) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        while sent < 4 * MAX_JSON_BODY_BYTES:
            sent += 64 * 1024
            yield b" " * (64 * 1024)

    response = tenant_a_admin.post(BULK, content=chunks(), headers=JSON)
    assert_problem(response, 413)


def test_a_body_under_the_ceiling_reaches_validation(tenant_a_admin: ApiClient) -> None:
    body = b"[" + b"0," * (MAX_JSON_BODY_BYTES // 4) + b"0]"
    response = tenant_a_admin.post(BULK, content=body, headers=JSON)
    assert_problem(response, 422)


@pytest.mark.settings(max_file_size_mb=3)
def test_uploads_are_held_to_the_file_limit_not_the_json_ceiling(
    tenant_a_admin: ApiClient,
) -> None:
    content = b"line of plain text\n" * (2 * MAX_JSON_BODY_BYTES // 19)
    response = tenant_a_admin.post(UPLOAD, files={"file": ("big.txt", content, "text/plain")})
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == len(content)


@pytest.mark.parametrize(
    "body",
    [
        b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc',
        b"not multipart at all",
        b"--xx--\r\n",
    ],
    ids=["unterminated", "garbage", "no-parts"],
)
def test_a_malformed_multipart_body_is_a_4xx(tenant_a_admin: ApiClient, body: bytes) -> None:
    headers = {"content-type": "multipart/form-data; boundary=xx"}
    response = tenant_a_admin.post(UPLOAD, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)
    listing = tenant_a_admin.get(FILES)
    assert listing.json()["total_count"] == 0
