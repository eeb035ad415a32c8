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
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.files.file_part import FilePart, SpooledUpload, check_signature, malformed, no_file
from app.platform.errors import DomainError, PayloadTooLarge, RequestTimeout

if TYPE_CHECKING:
    pass

logger = logging.getLogger("app.uploads")
# Room for the multipart framing around the file's own bytes: the body may be at most
# the file limit plus this.
MULTIPART_OVERHEAD = 64 * 1024


class ClientGone(DomainError):
    """The client closed its connection mid-body; nobody reads the answer."""

    status, slug, title = 400, "client-disconnected", "Client disconnected"


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
    boundary = _boundary_of(request, max_bytes)
    max_body = max_bytes + MULTIPART_OVERHEAD
    part = FilePart(spool_dir, allowed, max_bytes)
    parser = MultipartParser(boundary, part.callbacks())
    body = _Arrival(request, idle=idle_timeout, total=total_timeout)
    try:
        while (chunk := await body.next()) is not None:
            if body.received > max_body:
                raise PayloadTooLarge(f"The request is larger than the limit of {max_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
        return _received_file(part)
    except MultipartParseError:
        _discard(part)
        raise malformed("Malformed multipart body") from None
    except ClientDisconnect:
        _discard(part)
        logger.info("upload abandoned: the client disconnected after %d bytes", body.received)
        raise ClientGone("The client closed the connection before the upload arrived") from None
    except BaseException:
        _discard(part)
        raise


def _boundary_of(request: Request, max_bytes: int) -> bytes:
    """The multipart boundary, refusing what is not multipart or declares a length past
    the limit before any byte of it is read."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise no_file("Send the file as multipart/form-data in a field named `file`")
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > max_bytes + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"The request is larger than the limit of {max_bytes} bytes")
    return boundary


def _received_file(part: FilePart) -> SpooledUpload:
    """The file of a body the parser read to its end, once it is whole and not empty."""
    # The parser ends the message only at its closing boundary, after ending the last
    # part: until then the file may be cut anywhere, however whole it looks.
    if not part.body_complete:
        raise malformed("The multipart body ended before its closing boundary")
    upload = part.upload
    if upload is None:
        raise no_file("No file was sent in the `file` field")
    if upload.size == 0:
        raise no_file("The file is empty")
    check_signature(upload)
    return upload


def _discard(part: FilePart) -> None:
    part.close()
    if part.upload is not None:
        part.upload.path.unlink(missing_ok=True)
