"""The one `file` part of an upload, as python-multipart's push parser delivers it:
written to a spool file while it is hashed, counted and (text types) checked as
UTF-8; any other part refused as soon as its headers arrive; the bytes checked against
the declared type once the part is whole."""

import codecs
import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import puremagic
from python_multipart.multipart import parse_options_header

from app.platform.errors import DomainError, InvalidInput, PayloadTooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

SNIFF_BYTES = 8 * 1024
MAX_FILENAME = 255
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


def no_file(detail: str) -> InvalidInput:
    return InvalidInput([{"loc": ["body", "file"], "msg": detail, "type": "missing_file"}])


def malformed(detail: str) -> InvalidInput:
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


class FilePart:
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
            raise no_file("The `file` field must be a file, with a filename")
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
            check_text(self._decoder, chunk, final=False)
        self._sink.write(chunk)

    def _part_end(self) -> None:
        if self._sink is not None:
            if self._decoder is not None:
                check_text(self._decoder, b"", final=True)
                self._decoder = None
            self._sink.close()
            self._sink = None

    def _end(self) -> None:
        self.body_complete = True

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


def check_text(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool) -> None:
    try:
        text = decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        raise UnsupportedFileType("A text file must be UTF-8 text") from None
    if _BINARY_CONTROL.search(text):
        raise UnsupportedFileType("A text file must not contain binary control characters")


def check_signature(upload: SpooledUpload) -> None:
    if upload.content_type in TEXT_TYPES:
        return  # checked while streaming
    try:
        found = {m.mime_type for m in puremagic.magic_string(upload.head)}
    except (puremagic.PureError, ValueError):
        found = set()
    if upload.content_type not in found:
        raise UnsupportedFileType(f"The file's bytes are not {upload.content_type}")
