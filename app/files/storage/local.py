"""Blobs as files under one directory; writes are atomic (temp file, fsync, rename) and
checked: the staged file's size and sha256 must be the upload's before it is renamed
into place."""

import asyncio
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from app.files.storage.base import CHUNK_SIZE, StorageUnavailable


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage root")
        return path

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
        # Opening, sizing and the first read share one trip to a worker thread, so a
        # blob of one chunk costs one trip; a blob never changes once stored.
        handle, size, chunk = await asyncio.to_thread(_open_and_read, self._path(key))
        try:
            sent = 0
            while chunk:
                yield chunk
                sent += len(chunk)
                if sent >= size:
                    break
                chunk = await asyncio.to_thread(handle.read, CHUNK_SIZE)
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


def _open_and_read(path: Path) -> tuple[BinaryIO, int, bytes]:
    handle = path.open("rb")
    try:
        return handle, os.fstat(handle.fileno()).st_size, handle.read(CHUNK_SIZE)
    except BaseException:
        handle.close()
        raise


def _measure(handle: BinaryIO) -> tuple[int, str]:
    """Size and sha256 (hex) of what the file holds, read back from its start."""
    handle.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()
