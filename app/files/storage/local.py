"""Blobs as files under one directory; writes are atomic (temp file, fsync, rename) and
checked: the staged file's size and sha256 must be the upload's before it is renamed
into place."""

import asyncio
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from app.files.storage.base import CHUNK_SIZE, StorageUnavailable

# Linux: a read that fails at once rather than wait for the disk.
_NOWAIT = hasattr(os, "RWF_NOWAIT") and hasattr(os, "preadv")


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def _path(self, key: str) -> Path:
        # Checked by its text, without touching the disk: keys are the service's own
        # (`<tenant id>/<uuid>`), and the blobs under the root are its own files.
        parts = PurePosixPath(key).parts
        if not parts or parts[0] == "/" or any(p in ("..", ".") for p in parts) or "\0" in key:
            raise ValueError("storage key escapes the storage root")
        return self.root.joinpath(*parts)

    async def put_file(self, key: str, source: Path, size: int, sha256: str) -> None:
        await asyncio.to_thread(self._put_sync, key, source, size, sha256)

    def _put_sync(self, key: str, source: Path, size: int, sha256: str) -> None:
        target = self._path(key)
        staging = self._tmp / f"{uuid.uuid4().hex}.part"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            try:  # same filesystem (the usual case): no second copy of the bytes
                os.replace(source, staging)
            except OSError:
                shutil.copyfile(source, staging)
            with staging.open("rb+") as handle:
                os.fsync(handle.fileno())
                stored = _measure(handle)
            if stored != (size, sha256):
                raise StorageUnavailable(
                    f"the stored file ({stored[0]} bytes, sha256 {stored[1]}) is not the one "
                    f"received ({size} bytes, sha256 {sha256})"
                )
            os.replace(staging, target)
        except OSError as exc:
            staging.unlink(missing_ok=True)
            raise StorageUnavailable(str(exc)) from exc
        except StorageUnavailable:
            staging.unlink(missing_ok=True)
            raise

    async def open(self, key: str) -> AsyncIterator[bytes]:
        # A chunk the page cache holds is read on the loop (`RWF_NOWAIT` reads only
        # what needs no disk access); any other is read in a worker thread, so a cold
        # or slow disk never holds the loop for a read. A blob never changes once stored.
        handle = self._path(key).open("rb")
        try:
            size, offset = os.fstat(handle.fileno()).st_size, 0
            while offset < size:
                chunk = _cached_chunk(handle, offset)
                if chunk is None:
                    chunk = await asyncio.to_thread(os.pread, handle.fileno(), CHUNK_SIZE, offset)
                if not chunk:
                    break
                offset += len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def list_blobs(self) -> AsyncIterator[tuple[str, float]]:
        entries = await asyncio.to_thread(self._list_sync)
        for entry in entries:
            yield entry

    def _list_sync(self) -> list[tuple[str, float]]:
        if not self.root.exists():
            return []
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and self._tmp not in path.parents:
                found.append((path.relative_to(self.root).as_posix(), path.stat().st_mtime))
        return found

    async def ping(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def close(self) -> None:
        return None


def _cached_chunk(handle: BinaryIO, offset: int) -> bytes | None:
    """The chunk at `offset` if the page cache holds it; None when it needs the disk."""
    if not _NOWAIT:
        return None
    buffer = bytearray(CHUNK_SIZE)
    try:
        read = os.preadv(handle.fileno(), [buffer], offset, os.RWF_NOWAIT)
    except (BlockingIOError, OSError):  # not cached, or the file system cannot say
        return None
    return bytes(memoryview(buffer)[:read]) if read else None


def _measure(handle: BinaryIO) -> tuple[int, str]:
    """Size and sha256 (hex) of what the file holds, read back from its start."""
    handle.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()
