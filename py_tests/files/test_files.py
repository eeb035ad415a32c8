"""Files: streamed upload, verified types, safe names, tenant scoping; on both backends.

Every test here runs twice, on the local directory and on a real S3 endpoint.
"""

import asyncio
import functools
import hashlib
import time
import uuid
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.files.housekeeping import StorageHousekeeping
from app.files.service import FileService
from app.files.storage.local import LocalStorage
from app.platform.errors import NotFound
from app.platform.permissions import Principal
from py_tests.fixtures.app import plant_orphan, runtime_of, stored_keys
from py_tests.fixtures.async_clients import AsyncTenant
from py_tests.fixtures.clients import ApiClient, Member, Tenant
from py_tests.fixtures.inprocess import InProcessClient
from py_tests.support import samples
from py_tests.support.assertions import assert_problem
from py_tests.support.routes import FILES, STATS, UPLOAD

# Every test runs once per storage backend (the parametrized `storage_overrides`).
pytestmark = [pytest.mark.files, pytest.mark.usefixtures("storage_overrides")]
MiB = 1024 * 1024


@pytest.fixture
def storage_overrides(any_storage: dict[str, Any]) -> dict[str, Any]:
    return any_storage


def upload(api: ApiClient, data: bytes, content_type: str, name: str = "f") -> httpx.Response:
    return api.post(UPLOAD, files={"file": (name, data, content_type)})


def raw_upload(api: ApiClient, filename: bytes, content_type: bytes, data: bytes) -> httpx.Response:
    """A multipart body written by hand, so the filename reaches the server unescaped."""
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\n'
        + b"Content-Type: "
        + content_type
        + b"\r\n\r\n"
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return api.post(UPLOAD, content=body, headers=headers)


# --- anonymous, other tenant, wrong role ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", UPLOAD, id="upload"),
        pytest.param("GET", FILES, id="list"),
        pytest.param("GET", f"{FILES}/{uuid.uuid4()}", id="download"),
        pytest.param("DELETE", f"{FILES}/{uuid.uuid4()}", id="delete"),
    ],
)
def test_files_require_a_token(anonymous: ApiClient, method: str, path: str) -> None:
    response = anonymous.request(method, path)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.inprocess
@pytest.mark.tenant_isolation
def test_other_tenant_cannot_download_delete_or_list_a_file(
    client: InProcessClient, tenant_a_admin: ApiClient, tenant_b_admin: ApiClient
) -> None:
    data = samples.png()
    file_id = upload(tenant_a_admin, data, "image/png", "secret.png").json()["id"]
    unknown = tenant_b_admin.get(f"{FILES}/{uuid.uuid4()}")

    for response in (
        tenant_b_admin.get(f"{FILES}/{file_id}"),
        tenant_b_admin.delete(f"{FILES}/{file_id}"),
    ):
        assert_problem(response, 404)
        assert response.json() == unknown.json()
    assert tenant_b_admin.get(FILES).json()["total_count"] == 0
    assert tenant_a_admin.get(f"{FILES}/{file_id}").content == data
    assert len(stored_keys(client)) == 1


@pytest.mark.rbac
def test_member_cannot_delete_another_members_file(tenant_a: Tenant) -> None:
    owner, other = tenant_a.make_user(), tenant_a.make_user()
    file_id = upload(owner.api, samples.text(), "text/plain").json()["id"]

    assert_problem(other.api.delete(f"{FILES}/{file_id}"), 403)
    assert owner.api.get(f"{FILES}/{file_id}").status_code == 200


@pytest.mark.inprocess
@pytest.mark.rbac
@pytest.mark.parametrize("deleter", ["uploader", "tenant_admin"])
def test_uploader_or_tenant_admin_deletes_file_and_its_blob(
    client: InProcessClient, tenant_a: Tenant, tenant_a_member: Member, deleter: str
) -> None:
    file_id = upload(tenant_a_member.api, samples.gif(), "image/gif").json()["id"]
    assert len(stored_keys(client)) == 1
    api = tenant_a_member.api if deleter == "uploader" else tenant_a.admin.api

    assert api.delete(f"{FILES}/{file_id}").status_code == 204
    assert_problem(api.get(f"{FILES}/{file_id}"), 404)
    assert stored_keys(client) == []


# --- invalid input ----------------------------------------------------------------------


@pytest.mark.inprocess
@pytest.mark.parametrize(
    ("declared", "data"),
    [
        pytest.param("application/x-msdownload", b"MZ\x90\x00" + bytes(60), id="exe-type"),
        pytest.param("text/html", b"<html><body>hi</body></html>", id="html-type"),
        pytest.param("application/octet-stream", samples.png(), id="octet-stream"),
        pytest.param(
            "image/png", b"<!DOCTYPE html><html><script>x</script></html>", id="html-as-png"
        ),
        pytest.param("image/png", b"MZ\x90\x00" + bytes(60), id="exe-as-png"),
        pytest.param("image/png", b"\x7fELF\x02\x01\x01" + bytes(60), id="elf-as-png"),
        pytest.param("application/pdf", samples.png(), id="png-as-pdf"),
        pytest.param("image/gif", samples.jpeg(), id="jpeg-as-gif"),
        pytest.param("text/plain", samples.png(), id="png-as-text"),
        pytest.param("text/plain", "caf\u00e9".encode("latin-1"), id="latin1-as-text"),
        pytest.param("text/csv", b"a,b\n\x00\x01\x02,c\n", id="binary-as-csv"),
    ],
)
def test_upload_refuses_disallowed_or_mismatched_types(
    client: InProcessClient, tenant_a_admin: ApiClient, declared: str, data: bytes
) -> None:
    assert_problem(upload(tenant_a_admin, data, declared), 415)
    assert tenant_a_admin.get(FILES).json()["total_count"] == 0
    assert stored_keys(client) == []


@pytest.mark.inprocess
@pytest.mark.settings(max_file_size_mb=1)
def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    client: InProcessClient, tenant_a_admin: ApiClient, settings: Any
) -> None:
    response = upload(tenant_a_admin, b"a" * (MiB + 1), "text/plain")

    assert_problem(response, 413)
    assert tenant_a_admin.get(FILES).json()["total_count"] == 0
    assert stored_keys(client) == []
    assert list(settings.upload_spool_dir.glob("*")) == []


@pytest.mark.settings(max_file_size_mb=1)
def test_upload_of_exactly_the_limit_is_accepted(tenant_a_admin: ApiClient) -> None:
    response = upload(tenant_a_admin, b"a" * MiB, "text/plain")
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == MiB


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"files": {"file": ("empty.txt", b"", "text/plain")}}, id="empty-file"),
        pytest.param({"files": {"other": ("a.txt", b"abc", "text/plain")}}, id="no-file-field"),
        pytest.param({"data": {"file": "not a file"}}, id="form-not-multipart"),
        pytest.param({"json": {"file": "abc"}}, id="json-body"),
        pytest.param(
            {
                "content": b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n',
                "headers": {"Content-Type": "multipart/form-data; boundary=xyz"},
            },
            id="truncated-multipart",
        ),
    ],
)
def test_upload_without_a_usable_file_is_422(
    tenant_a_admin: ApiClient, kwargs: dict[str, Any]
) -> None:
    body = assert_problem(tenant_a_admin.post(UPLOAD, **kwargs), 422)
    assert body["errors"]


# --- valid cases ------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", list(samples.BY_TYPE))
def test_round_trip_is_byte_identical_for_every_allowed_type(
    tenant_a: Tenant, content_type: str
) -> None:
    make, ext = samples.BY_TYPE[content_type]
    data = make()
    created = upload(tenant_a.admin.api, data, content_type, f"sample.{ext}")

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["tenant_id"] == tenant_a.id
    assert body["uploaded_by"] == tenant_a.admin.id
    assert body["filename"] == f"sample.{ext}"
    assert body["content_type"] == content_type
    assert body["size_bytes"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()

    download = tenant_a.admin.api.get(f"{FILES}/{body['id']}")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"].split(";")[0] == content_type
    assert download.headers["etag"] == f'"{body["sha256"]}"'
    assert download.headers["content-disposition"].startswith("attachment;")


def test_if_none_match_with_the_etag_answers_304(tenant_a_admin: ApiClient) -> None:
    file_id = upload(tenant_a_admin, samples.pdf(), "application/pdf").json()["id"]
    etag = tenant_a_admin.get(f"{FILES}/{file_id}").headers["etag"]

    cached = tenant_a_admin.get(f"{FILES}/{file_id}", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    stale = tenant_a_admin.get(f"{FILES}/{file_id}", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200


@pytest.mark.inprocess
@pytest.mark.security
@pytest.mark.parametrize(
    ("raw_name", "expected"),
    [
        pytest.param(b"../../etc/passwd", "passwd", id="traversal"),
        pytest.param(b"C:\\Windows\\system32\\evil.txt", "evil.txt", id="windows-path"),
        # A raw CRLF ends the part's header line: the name is cut there, nothing injected.
        pytest.param(b"a\r\nSet-Cookie: x=1.txt", '"a', id="crlf"),
        pytest.param(b"tab\there\x07\x1b[31m.txt", "tabhere[31m.txt", id="control-chars"),
        pytest.param(b'quo"te.txt', 'quo"te.txt', id="quote"),
        pytest.param("résumé ✓.txt".encode(), "résumé ✓.txt", id="unicode"),
        pytest.param("\u202etxt.exe".encode(), "txt.exe", id="bidi-override"),
        pytest.param(b"..", "file", id="dots-only"),
        pytest.param(b"x" * 1000 + b".txt", "x" * 251 + ".txt", id="very-long"),
    ],
)
def test_filenames_are_display_data_and_cannot_inject_headers(
    client: InProcessClient, tenant_a_admin: ApiClient, raw_name: bytes, expected: str
) -> None:
    data = samples.text()
    created = raw_upload(tenant_a_admin, raw_name, b"text/plain", data)
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == expected

    download = tenant_a_admin.get(f"{FILES}/{created.json()['id']}")
    disposition = download.headers["content-disposition"]
    assert disposition.isascii()
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert "set-cookie" not in {k.lower() for k in download.headers}
    fallback = disposition.split('filename="')[1].split('"')[0]
    assert '"' not in fallback
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == expected
    # The stored object's key is made of ids, never of the client's name.
    assert stored_keys(client) == [f"{created.json()['tenant_id']}/{created.json()['id']}"]


@pytest.mark.pagination
def test_listing_pages_through_the_tenants_files(tenant_a_admin: ApiClient) -> None:
    ids = [upload(tenant_a_admin, samples.text(), "text/plain").json()["id"] for _ in range(3)]

    first = tenant_a_admin.get(f"{FILES}?page=1&page_size=2").json()
    second = tenant_a_admin.get(f"{FILES}?page=2&page_size=2").json()
    assert (first["total_count"], first["has_next"], first["has_prev"]) == (3, True, False)
    assert (second["has_next"], second["has_prev"]) == (False, True)
    assert [f["id"] for f in first["data"] + second["data"]] == ids


def test_admin_stats_count_files_and_bytes_of_the_tenant_only(
    tenant_a_admin: ApiClient, tenant_b_admin: ApiClient
) -> None:
    sizes = [len(d) for d in (samples.png(), samples.csv_bytes())]
    upload(tenant_a_admin, samples.png(), "image/png")
    upload(tenant_a_admin, samples.csv_bytes(), "text/csv")
    upload(tenant_b_admin, samples.gif(), "image/gif")

    stats = tenant_a_admin.get(STATS).json()
    assert stats["total_files"] == 2
    # Generated images differ in size run to run; the CSV's size is the sum's check.
    assert stats["total_storage_bytes"] >= sizes[1]
    listed = tenant_a_admin.get(FILES).json()["data"]
    assert stats["total_storage_bytes"] == sum(f["size_bytes"] for f in listed)


# --- failures and recovery --------------------------------------------------------------


@pytest.mark.inprocess
def test_database_failure_after_storing_the_blob_leaves_no_file(
    client: InProcessClient, tenant_a_admin: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_commit(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, ConnectionError("database went away"))

    with monkeypatch.context() as patch:
        patch.setattr(AsyncSession, "commit", failing_commit)
        response = upload(tenant_a_admin, samples.png(), "image/png")

    assert_problem(response, 503)
    assert tenant_a_admin.get(FILES).json()["total_count"] == 0
    assert stored_keys(client) == []


@pytest.mark.inprocess
def test_a_blob_shorter_on_disk_than_recorded_is_a_503_never_a_short_200(
    client: InProcessClient, tenant_a_admin: ApiClient
) -> None:
    """A small file is answered whole, so its length is checked before answering."""
    storage = runtime_of(client).storage
    if not isinstance(storage, LocalStorage):
        pytest.skip("cuts a blob on local disk")
    file_id = upload(tenant_a_admin, samples.text(), "text/plain").json()["id"]
    (key,) = stored_keys(client)
    blob = storage.root / key
    blob.write_bytes(blob.read_bytes()[:-1])

    assert_problem(tenant_a_admin.get(f"{FILES}/{file_id}"), 503)


@pytest.mark.inprocess
def test_a_download_that_loses_the_race_to_a_delete_is_a_404_not_a_503(
    client: InProcessClient, tenant_a: Tenant, tenant_a_admin: ApiClient
) -> None:
    """The download read the file's row; the delete then removed the row and the blob
    before the download opened it."""
    file_id = upload(tenant_a_admin, samples.text(), "text/plain").json()["id"]
    runtime = runtime_of(client)
    principal = Principal(
        user_id=uuid.UUID(tenant_a.admin.id),
        tenant_id=uuid.UUID(tenant_a.id),
        role="admin",
        session_id=uuid.uuid4(),
    )
    tenant_id = uuid.UUID(tenant_a.id)
    service = FileService(runtime.db, tenant_id, principal, runtime.storage, runtime.settings)

    async def download_after_delete() -> int:
        stored = await service.get(file_id)
        await service.delete(file_id)
        try:
            await service.open_content(stored)
        except NotFound:
            return 404
        return 200

    assert client.call(download_after_delete) == 404


@pytest.mark.inprocess
def test_orphan_sweep_removes_blobs_without_rows_and_keeps_the_rest(
    client: InProcessClient, tenant_a_admin: ApiClient, tmp_path: Any
) -> None:
    kept = upload(tenant_a_admin, samples.png(), "image/png").json()
    runtime = runtime_of(client)
    plant_orphan(client, tmp_path)
    assert len(stored_keys(client)) == 2

    housekeeping = StorageHousekeeping(runtime.db, runtime.storage, runtime.settings)
    removed = client.call(functools.partial(housekeeping.sweep_orphans, grace_seconds=0))

    assert removed == 1
    assert stored_keys(client) == [f"{kept['tenant_id']}/{kept['id']}"]
    assert tenant_a_admin.get(f"{FILES}/{kept['id']}").status_code == 200


@pytest.mark.asyncio
@pytest.mark.concurrency
async def test_concurrent_uploads_all_succeed_and_are_intact(
    async_tenant_a: AsyncTenant,
) -> None:
    api = async_tenant_a.admin
    payloads = [samples.png() for _ in range(4)]  # 2 x 4 uploads stay under 10 a minute

    async def send(data: bytes) -> httpx.Response:
        return await api.post(UPLOAD, files={"file": ("p.png", data, "image/png")})

    started = time.perf_counter()
    for data in payloads:
        assert (await send(data)).status_code == 201
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    responses = await asyncio.gather(*(send(data) for data in payloads))
    concurrent = time.perf_counter() - started
    print(f"4 uploads: sequential {sequential:.3f}s, concurrent {concurrent:.3f}s")

    assert [r.status_code for r in responses] == [201] * len(payloads)
    listed = (await api.get(f"{FILES}?page_size=100")).json()
    assert listed["total_count"] == 2 * len(payloads)
    for response, data in zip(responses, payloads, strict=True):
        download = await api.get(f"{FILES}/{response.json()['id']}")
        assert download.content == data
