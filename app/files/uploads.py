"""Streaming multipart uploads: size, type and checksum checked while the bytes arrive.

The request body is fed chunk by chunk to python-multipart's push parser; the `file`
part is written to a spool file on disk (memory stays at one chunk), hashed with
sha256 and counted as it goes. A file is handed on only once its part and the body's
closing boundary arrived; a body that ends before is malformed (422). The body holds
exactly one part, `file`: any other part, or a second `file`, is refused (422) as soon
as its headers arrive. The whole body, whatever it holds, is capped at the file limit
plus room for the framing, counted as it arrives: past it, or past the file limit, 413
(before reading, when `Content-Length` already says so). 415 when the declared type is
not allowed or the bytes are not of that type. A body must arrive within a total
deadline, and no gap in it may exceed the idle timeout (408). A client that goes away
mid-body is logged in one line. Whatever is refused leaves nothing behind: the spool
file is removed on every path.
"""

import asyncio
import codecs
import hashlib
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import puremagic
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.platform.errors import DomainError, InvalidInput, PayloadTooLarge, RequestTimeout

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

logger = logging.getLogger("app.uploads")
SNIFF_BYTES = 8 * 1024
MAX_FILENAME = 255
# Room for the multipart framing around the file's own bytes: the body may be at most
# the file limit plus this.
MULTIPART_OVERHEAD = 64 * 1024
TEXT_TYPES = frozenset({"text/plain", "text/csv"})
# C0 controls other than tab, LF, FF and CR mark binary content.
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


class UnsupportedFileType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class UnexpectedPart(InvalidInput):
    """A part other than the one `file`, refused while the body still streams: the
    connection is closed so that the rest of the body is not read."""

    def __init__(self, field: str, msg: str, kind: str) -> None:
        super().__init__([{"loc": ["body", field], "msg": msg, "type": kind}])
        self.headers["Connection"] = "close"


class ClientGone(DomainError):
    """The client closed its connection mid-body; nobody reads the answer."""

    status, slug, title = 400, "client-disconnected", "Client disconnected"


def _no_file(detail: str) -> InvalidInput:
    return InvalidInput([{"loc": ["body", "file"], "msg": detail, "type": "missing_file"}])


def _malformed(detail: str) -> InvalidInput:
    return InvalidInput([{"loc": ["body"], "msg": detail, "type": "multipart"}])


@dataclass
class SpooledUpload:
    path: Path
    filename: str
    content_type: str
    size: int = 0
    head: bytes = b""
    hasher: Any = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return str(self.hasher.hexdigest())


def clean_filename(raw: str) -> str:
    """Display name only: last path part, no control or format (bidi) characters."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").split("/")[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        name = name[: MAX_FILENAME - len(ext) - 1].rstrip() + ("." + ext if ext else "")
        name = name[:MAX_FILENAME]
    return name or "file"


class _FilePart:
    """Callbacks of the multipart parser for one request: takes the one `file` part,
    refuses any other, and notes whether the body's closing boundary arrived."""

    def __init__(self, spool_dir: Path, allowed: frozenset[str], max_bytes: int) -> None:
        self._spool_dir = spool_dir
        self._allowed = allowed
        self._max_bytes = max_bytes
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._sink: IO[bytes] | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self.upload: SpooledUpload | None = None
        self.body_complete = False  # the closing boundary arrived

    def callbacks(self) -> "MultipartCallbacks":
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name != b"file":
            field = (name or b"").decode("utf-8", errors="replace")[:64]
            raise UnexpectedPart(
                field, "Only the `file` field is accepted; send no other part", "extra_forbidden"
            )
        if self.upload is not None:
            raise UnexpectedPart("file", "Send one file per upload", "too_many_files")
        raw_name = options.get(b"filename")
        if raw_name is None:
            raise _no_file("The `file` field must be a file, with a filename")
        declared, _ = parse_options_header(self._headers.get(b"content-type", b""))
        content_type = declared.decode("latin-1").lower() or "application/octet-stream"
        if content_type not in self._allowed:
            raise UnsupportedFileType(
                f"Files of type {content_type} are not accepted; "
                f"allowed: {', '.join(sorted(self._allowed))}"
            )
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        path = self._spool_dir / f"{uuid.uuid4().hex}.upload"
        self.upload = SpooledUpload(
            path=path,
            filename=clean_filename(raw_name.decode("utf-8", errors="replace")),
            content_type=content_type,
        )
        self._sink = path.open("wb")
        if content_type in TEXT_TYPES:
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is None or self.upload is None:
            return
        chunk = data[start:end]
        upload = self.upload
        upload.size += len(chunk)
        if upload.size > self._max_bytes:
            raise PayloadTooLarge(f"The file is larger than the limit of {self._max_bytes} bytes")
        if len(upload.head) < SNIFF_BYTES:
            upload.head += chunk[: SNIFF_BYTES - len(upload.head)]
        upload.hasher.update(chunk)
        if self._decoder is not None:
            _check_text(self._decoder, chunk, final=False)
        self._sink.write(chunk)

    def _part_end(self) -> None:
        if self._sink is not None:
            if self._decoder is not None:
                _check_text(self._decoder, b"", final=True)
                self._decoder = None
            self._sink.close()
            self._sink = None

    def _end(self) -> None:
        self.body_complete = True

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def _check_text(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool) -> None:
    try:
        text = decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        raise UnsupportedFileType("A text file must be UTF-8 text") from None
    if _BINARY_CONTROL.search(text):
        raise UnsupportedFileType("A text file must not contain binary control characters")


def _check_signature(upload: SpooledUpload) -> None:
    if upload.content_type in TEXT_TYPES:
        return  # checked while streaming
    try:
        found = {m.mime_type for m in puremagic.magic_string(upload.head)}
    except (puremagic.PureError, ValueError):
        found = set()
    if upload.content_type not in found:
        raise UnsupportedFileType(f"The file's bytes are not {upload.content_type}")


class _Arrival:
    """The request body's chunks, each within `idle` seconds of the one before and all
    within `total` seconds of the first call; otherwise a 408."""

    def __init__(self, request: Request, *, idle: float, total: float) -> None:
        self._chunks = request.stream().__aiter__()
        self._idle = idle
        self._total = total
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + total
        self.received = 0

    async def next(self) -> bytes | None:
        """The next chunk, or None at the end of the body."""
        left = self._deadline - self._loop.time()
        if left <= 0:
            raise self._late()
        try:
            chunk = await asyncio.wait_for(anext(self._chunks), min(self._idle, left))
        except StopAsyncIteration:
            return None
        except TimeoutError:
            if left <= self._idle:
                raise self._late() from None
            raise RequestTimeout(
                f"No part of the upload arrived for {self._idle:g} seconds"
            ) from None
        self.received += len(chunk)
        return chunk

    def _late(self) -> RequestTimeout:
        return RequestTimeout(f"The upload did not arrive within {self._total:g} seconds")


async def receive_upload(
    request: Request,
    *,
    spool_dir: Path,
    allowed: frozenset[str],
    max_bytes: int,
    idle_timeout: float,
    total_timeout: float,
) -> SpooledUpload:
    """Reads the `file` part of a multipart request into a checked spool file. The body
    must arrive within `total_timeout` seconds, with no gap longer than `idle_timeout`;
    otherwise the client is answered 408 and let go.

    The caller owns the returned spool file and must remove it."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise _no_file("Send the file as multipart/form-data in a field named `file`")
    max_body = max_bytes + MULTIPART_OVERHEAD
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > max_body:
        raise PayloadTooLarge(f"The request is larger than the limit of {max_bytes} bytes")
    part = _FilePart(spool_dir, allowed, max_bytes)
    parser = MultipartParser(boundary, part.callbacks())
    body = _Arrival(request, idle=idle_timeout, total=total_timeout)
    try:
        while (chunk := await body.next()) is not None:
            if body.received > max_body:
                raise PayloadTooLarge(f"The request is larger than the limit of {max_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
        # The parser ends the message only at its closing boundary, after ending the
        # last part: until then the file may be cut anywhere, however whole it looks.
        if not part.body_complete:
            raise _malformed("The multipart body ended before its closing boundary")
        upload = part.upload
        if upload is None:
            raise _no_file("No file was sent in the `file` field")
        if upload.size == 0:
            raise _no_file("The file is empty")
        _check_signature(upload)
        return upload
    except MultipartParseError:
        _discard(part)
        raise _malformed("Malformed multipart body") from None
    except ClientDisconnect:
        _discard(part)
        logger.info("upload abandoned: the client disconnected after %d bytes", body.received)
        raise ClientGone("The client closed the connection before the upload arrived") from None
    except BaseException:
        _discard(part)
        raise


def _discard(part: _FilePart) -> None:
    part.close()
    if part.upload is not None:
        part.upload.path.unlink(missing_ok=True)
