"""Uploads under abuse: a file is acknowledged only once its part and the closing
boundary arrived and storage holds exactly its bytes. A body cut short, over the cap,
too slow, with parts other than one `file`, or abandoned by its client keeps nothing:
no row, no blob, no spool file.

Every test here runs on the local directory and on a real S3 endpoint.
"""

import asyncio
import base64
import hashlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import strategies as st

from app.platform.config import Settings
from py_tests.fixtures.app import runtime_of, stored_keys
from py_tests.fixtures.clients import ApiClient
from py_tests.fixtures.inprocess import PEER, InProcessClient, asgi_client
from py_tests.support import samples
from py_tests.support.assertions import assert_problem
from py_tests.support.logs import logged
from py_tests.support.routes import FILES, UPLOAD

pytestmark = [
    pytest.mark.files,
    pytest.mark.inprocess,
    pytest.mark.usefixtures("storage_overrides"),
]
KiB = 1024
MiB = 1024 * KiB
NO_LIMIT = pytest.mark.settings(rate_limit_per_minute=1_000_000)


@pytest.fixture
def storage_overrides(any_storage: dict[str, Any]) -> dict[str, Any]:
    return any_storage


# --- bodies written by hand ---------------------------------------------------------------


def part(
    boundary: bytes,
    data: bytes,
    *,
    name: bytes = b"file",
    filename: bytes | None = b"a.txt",
    content_type: bytes | None = b"text/plain",
) -> bytes:
    """One part, its delimiter in front and the CRLF that ends its data behind."""
    disposition = b'form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    headers = b"Content-Disposition: " + disposition + b"\r\n"
    if content_type is not None:
        headers += b"Content-Type: " + content_type + b"\r\n"
    return b"--" + boundary + b"\r\n" + headers + b"\r\n" + data + b"\r\n"


def closing(boundary: bytes) -> bytes:
    return b"--" + boundary + b"--\r\n"


def multipart_type(boundary: bytes) -> dict[str, str]:
    return {"Content-Type": f'multipart/form-data; boundary="{boundary.decode()}"'}


class Streamed:
    """A body handed to the app in chunks of the given sizes (no Content-Length),
    counting how much of it the app asked for."""

    def __init__(self, body: bytes, sizes: Iterable[int] = itertools.repeat(64 * KiB)) -> None:
        self.body = body
        self.sizes = iter(sizes)
        self.sent = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.sent < len(self.body):
            chunk = self.body[self.sent : self.sent + next(self.sizes)]
            self.sent += len(chunk)
            yield chunk


def post_streamed(
    client: InProcessClient, api: ApiClient, chunks: AsyncIterator[bytes], boundary: bytes = b"xx"
) -> httpx.Response:
    """Sends the chunks one ASGI message each, as a server hands them on, to the app
    that `client` started: from an async iterator, which only an async client sends."""

    async def exchange() -> httpx.Response:
        async with asgi_client(client.asgi) as http:
            headers = {**api.headers, **multipart_type(boundary)}
            response = await http.post(UPLOAD, content=chunks, headers=headers)
            await response.aread()
            return response

    response: httpx.Response = client.call(exchange)
    return response


@dataclass(frozen=True)
class Kept:
    files: int
    blobs: tuple[str, ...]
    spooled: tuple[str, ...]


NOTHING = Kept(0, (), ())


def spooled(settings: Settings) -> tuple[str, ...]:
    folder = settings.upload_spool_dir
    return tuple(sorted(p.name for p in folder.iterdir())) if folder.exists() else ()


def kept(client: InProcessClient, api: ApiClient, settings: Settings) -> Kept:
    """What the service holds: file rows of the tenant, blobs, spool files."""
    files = api.get(FILES).json()["total_count"]
    return Kept(files, tuple(sorted(stored_keys(client))), spooled(settings))


# --- truncated bodies ---------------------------------------------------------------------

AUDIT_BODY = (
    b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nabc"
)


def _png_part() -> bytes:
    return part(b"xx", samples.png((84, 84)), filename=b"p.png", content_type=b"image/png")


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda: AUDIT_BODY, id="text-ends-in-its-data"),
        pytest.param(_png_part, id="png-20kb-without-closing-boundary"),
        pytest.param(lambda: _png_part() + b"--xx", id="png-cut-before-the-final-dashes"),
        pytest.param(lambda: part(b"xx", b"abc") + b"--xx-", id="one-final-dash-of-two"),
    ],
)
def test_a_body_without_its_closing_boundary_is_refused_and_keeps_nothing(
    client: InProcessClient,
    tenant_a_admin: ApiClient,
    settings: Settings,
    make_body: Callable[[], bytes],
) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xx"}
    response = tenant_a_admin.post(UPLOAD, content=make_body(), headers=headers)

    assert_problem(response, 422)
    assert kept(client, tenant_a_admin, settings) == NOTHING


# Boundary characters of RFC 2046 (a space, but not at the end).
BOUNDARY = st.text(
    alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ",
    min_size=1,
    max_size=70,
).filter(lambda b: not b.endswith(" "))
# UTF-8 text without the C0 controls a text file may not hold.
TEXT = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters="".join(chr(c) for c in range(32) if chr(c) not in "\t\n\x0c\r"),
    ),
    min_size=1,
    max_size=400,
)


@dataclass(frozen=True)
class Case:
    content_type: str
    data: bytes
    boundary: bytes
    chunk: int
    cuts: dict[str, int]

    @property
    def body(self) -> bytes:
        return part(self.boundary, self.data, content_type=self.content_type.encode()) + closing(
            self.boundary
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A valid one-file body and, for each kind of place, a point to cut it at."""
    content_type = draw(st.sampled_from(["text/plain", "text/csv", "image/png"]))
    if content_type == "image/png":
        size = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
        data = samples.png(size, seed=draw(st.integers(0, 2**32)))
    else:
        data = draw(TEXT).encode()
    boundary = draw(BOUNDARY).encode()
    assume(boundary not in data)
    body = part(boundary, data, content_type=content_type.encode()) + closing(boundary)
    data_end = len(body) - len(closing(boundary)) - 2
    data_start = data_end - len(data)
    final_dashes = len(body) - 4
    cuts = {
        "in-the-part-headers": draw(st.integers(0, data_start - 1)),
        "in-the-data": draw(st.integers(data_start, data_end)),
        "in-the-closing-boundary": draw(st.integers(data_end + 1, final_dashes - 1)),
        "before-or-between-the-final-dashes": draw(st.sampled_from([0, 1])) + final_dashes,
    }
    return Case(content_type, data, boundary, draw(st.integers(1, 2048)), cuts)


def _cut_and_whole_bodies(
    client: InProcessClient, api: ApiClient, settings: Settings, case: Case
) -> None:
    before = kept(client, api, settings)
    for where, at in case.cuts.items():
        cut = Streamed(case.body[:at], itertools.repeat(case.chunk))
        response = post_streamed(client, api, cut.chunks(), case.boundary)
        assert response.status_code == 422, (where, at, response.text)
        assert kept(client, api, settings) == before, where

    whole = Streamed(case.body, itertools.repeat(case.chunk))
    created = post_streamed(client, api, whole.chunks(), case.boundary)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["size_bytes"] == len(case.data)
    assert answer["sha256"] == hashlib.sha256(case.data).hexdigest()
    assert api.get(f"{FILES}/{answer['id']}").content == case.data
    after = kept(client, api, settings)
    assert after.files == before.files + 1
    assert set(after.blobs) - set(before.blobs) == {f"{answer['tenant_id']}/{answer['id']}"}


PROPERTY = hypothesis.settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@NO_LIMIT
@hypothesis.settings(PROPERTY, max_examples=8)
@given(case=cases())
def test_a_body_cut_anywhere_keeps_nothing_and_a_whole_one_round_trips(
    client: InProcessClient, tenant_a_admin: ApiClient, settings: Settings, case: Case
) -> None:
    _cut_and_whole_bodies(client, tenant_a_admin, settings, case)


@pytest.mark.slow
@NO_LIMIT
@hypothesis.settings(PROPERTY, max_examples=80)
@given(case=cases())
def test_many_bodies_cut_anywhere_keep_nothing_and_whole_ones_round_trip(
    client: InProcessClient, tenant_a_admin: ApiClient, settings: Settings, case: Case
) -> None:
    _cut_and_whole_bodies(client, tenant_a_admin, settings, case)


# --- the body's size and parts ------------------------------------------------------------


@pytest.mark.settings(max_file_size_mb=1)
@pytest.mark.parametrize("where", ["preamble", "epilogue"])
def test_bytes_outside_the_file_part_count_against_the_body_limit(
    client: InProcessClient, tenant_a_admin: ApiClient, settings: Settings, where: str
) -> None:
    """Blank lines before the first boundary and an epilogue after the last belong to
    no part; they are read all the same, so they count."""
    padding = b"\r\n" * MiB  # 2 MiB against a limit of 1 MiB
    upload = part(b"xx", b"two") + closing(b"xx")
    body = Streamed(padding + upload if where == "preamble" else upload + padding)

    response = post_streamed(client, tenant_a_admin, body.chunks())

    assert_problem(response, 413)
    assert response.headers["connection"] == "close"
    assert body.sent <= MiB + 64 * KiB + 64 * KiB  # the limit, the framing, one chunk
    assert kept(client, tenant_a_admin, settings) == NOTHING


def _big_field_then_a_tiny_file() -> list[bytes]:
    note = part(b"xx", b"x" * 2 * MiB, name=b"note", filename=None, content_type=None)
    return [note, part(b"xx", b"hi")]


def _two_file_parts() -> list[bytes]:
    return [part(b"xx", b"hi"), part(b"xx", b"y" * 2 * MiB, filename=b"b.txt")]


def _file_then_unknown_field() -> list[bytes]:
    return [part(b"xx", b"hi"), part(b"xx", b"x", name=b"comment", filename=None)]


@pytest.mark.settings(max_file_size_mb=1)
@pytest.mark.parametrize(
    ("make_parts", "refused", "field"),
    [
        pytest.param(_big_field_then_a_tiny_file, 0, "note", id="big-field-before-a-tiny-file"),
        pytest.param(_two_file_parts, 1, "file", id="second-file-part"),
        pytest.param(_file_then_unknown_field, 1, "comment", id="unknown-field-after-the-file"),
    ],
)
def test_a_part_other_than_the_one_file_is_refused_when_its_headers_arrive(
    client: InProcessClient,
    tenant_a_admin: ApiClient,
    settings: Settings,
    make_parts: Callable[[], list[bytes]],
    refused: int,
    field: str,
) -> None:
    parts = make_parts()
    headers_end = len(b"".join(parts[:refused])) + parts[refused].index(b"\r\n\r\n") + 4
    body = Streamed(b"".join(parts) + closing(b"xx"))

    response = post_streamed(client, tenant_a_admin, body.chunks())

    problem = assert_problem(response, 422)
    assert any(error["loc"] == ["body", field] for error in problem["errors"]), problem
    assert response.headers["connection"] == "close"
    assert body.sent <= headers_end + 64 * KiB  # none of the part's data was waited for
    assert kept(client, tenant_a_admin, settings) == NOTHING


# --- deadlines and clients that go away ---------------------------------------------------


@pytest.mark.settings(upload_timeout_seconds=0.5)
def test_an_upload_trickling_past_its_deadline_is_408_and_keeps_nothing(
    client: InProcessClient, tenant_a_admin: ApiClient, settings: Settings
) -> None:
    """One byte every 50 ms never trips the idle timeout (30 s); the total deadline of
    0.5 s ends the upload."""
    sent = 0

    async def trickle() -> AsyncIterator[bytes]:
        nonlocal sent
        yield part(b"xx", b"")[:-2]  # the part's headers; its data follows
        for _ in range(100):  # 5 s, if nothing stopped it
            await asyncio.sleep(0.05)
            sent += 1
            yield b"a"
        yield b"\r\n" + closing(b"xx")

    started = time.monotonic()
    response = post_streamed(client, tenant_a_admin, trickle())
    took = time.monotonic() - started

    assert_problem(response, 408)
    assert response.headers["connection"] == "close"
    assert 0.5 <= took < 3, took
    assert sent < 100
    assert kept(client, tenant_a_admin, settings) == NOTHING


def test_a_client_that_disconnects_mid_upload_is_logged_in_one_line_and_keeps_nothing(
    client: InProcessClient, tenant_a_admin: ApiClient, settings: Settings
) -> None:
    """What a server hands the app when the client's connection drops mid-body: some of
    the body, then `http.disconnect` (on which Starlette raises ClientDisconnect)."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part(b"xx", b"half a file ")[:-2], "more_body": True},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass  # nobody is listening any more

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": UPLOAD,
        "raw_path": UPLOAD.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", tenant_a_admin.headers["Authorization"].encode()),
            (b"content-type", b"multipart/form-data; boundary=xx"),
        ],
        "client": PEER,
        "server": ("testserver", 80),
        "state": {},
    }
    with logged("app") as records:
        client.call(client.app, scope, receive, send)

    said = [(r.levelname, r.getMessage()) for r in records]
    assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR], said
    gone = [r for r in records if "disconnected" in r.getMessage()]
    assert len(gone) == 1, said
    assert gone[0].levelno in (logging.INFO, logging.WARNING)
    assert kept(client, tenant_a_admin, settings) == NOTHING


# --- text in any chunking -----------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "text/csv"])
def test_text_whose_characters_straddle_chunk_boundaries_is_accepted(
    client: InProcessClient, tenant_a_admin: ApiClient, content_type: str
) -> None:
    text = "ä€😀,\n" * 1500  # characters of 2, 3 and 4 bytes
    data = text.encode()
    inside: dict[int, tuple[int, int]] = {}  # byte offset -> (character width, offset in it)
    at = 0
    for char in text:
        width = len(char.encode())
        inside.update({at + i: (width, i) for i in range(1, width)})
        at += width
    sizes = itertools.cycle([1, 2, 3, 5, 7, 11, 13, 509, 1021])
    cuts = list(itertools.takewhile(lambda cut: cut < len(data), itertools.accumulate(sizes)))
    chunks = [data[start:end] for start, end in itertools.pairwise([0, *cuts, len(data)])]
    every_place_inside = {(w, i) for w in (2, 3, 4) for i in range(1, w)}
    assert {inside[cut] for cut in cuts if cut in inside} == every_place_inside

    async def body() -> AsyncIterator[bytes]:
        yield part(b"xx", b"", content_type=content_type.encode())[:-2]
        for chunk in chunks:
            yield chunk
        yield b"\r\n" + closing(b"xx")

    created = post_streamed(client, tenant_a_admin, body())

    assert created.status_code == 201, created.text
    assert created.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert tenant_a_admin.get(f"{FILES}/{created.json()['id']}").content == data


# --- what storage keeps -------------------------------------------------------------------


def _cut_short(data: bytes) -> bytes:
    return data[:-1]


def _altered(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize(
    ("any_storage", "damage"),
    [
        pytest.param("local", _cut_short, id="local-cut-short"),
        pytest.param("local", _altered, id="local-altered"),
        pytest.param("s3", _cut_short, id="s3-cut-short"),
        # moto's S3 keeps an x-amz-checksum-sha256 without checking it (AWS answers
        # BadDigest), so an altered body of the same size is caught only by AWS itself.
    ],
    indirect=["any_storage"],
)
def test_a_blob_stored_with_other_bytes_than_received_is_503_and_keeps_nothing(
    client: InProcessClient,
    tenant_a_admin: ApiClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[bytes], bytes],
) -> None:
    backend = type(runtime_of(client).storage)
    put_file = backend.put_file

    async def damaged_on_the_way(self: Any, key: str, source: Path, *args: Any) -> None:
        data = await asyncio.to_thread(source.read_bytes)
        await asyncio.to_thread(source.write_bytes, damage(data))
        await put_file(self, key, source, *args)

    monkeypatch.setattr(backend, "put_file", damaged_on_the_way)
    response = tenant_a_admin.post(UPLOAD, files={"file": ("p.png", samples.png(), "image/png")})

    assert_problem(response, 503)
    assert kept(client, tenant_a_admin, settings) == NOTHING


@pytest.mark.parametrize("any_storage", ["s3"], indirect=True)
def test_s3_is_given_the_sha256_to_check_the_body_against(
    tenant_a_admin: ApiClient, any_storage: dict[str, Any], s3_admin: Any
) -> None:
    data = samples.png()
    created = tenant_a_admin.post(UPLOAD, files={"file": ("p.png", data, "image/png")}).json()

    head = s3_admin.head_object(
        Bucket=any_storage["storage_url"].removeprefix("s3://"),
        Key=f"{created['tenant_id']}/{created['id']}",
        ChecksumMode="ENABLED",
    )
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert head["ContentLength"] == len(data)
