"""The storage protocol every backend implements."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

CHUNK_SIZE = 64 * 1024


class StorageUnavailable(Exception):
    """The backend could not be reached or failed; the caller answers 503."""


class BlobStorage(Protocol):
    async def put_file(self, key: str, source: Path, size: int, sha256: str) -> None:
        """Stores the local file `source` under `key` and checks that what was stored is
        `size` bytes with this sha256 (hex); otherwise nothing is kept under `key` and
        StorageUnavailable is raised. The source may be moved away; the caller removes it
        afterwards if it is still there."""

    def open(self, key: str) -> AsyncIterator[bytes]:
        """Streams the blob in chunks; raises StorageUnavailable or FileNotFoundError."""

    async def delete(self, key: str) -> None:
        """Removes the blob; a missing blob is not an error."""

    async def list_blobs(self) -> AsyncIterator[tuple[str, float]]:
        """Every (key, last-modified epoch seconds), for the orphan sweep."""
        yield "", 0.0  # pragma: no cover - protocol

    async def ping(self) -> None:
        """Raises StorageUnavailable when the backend does not answer."""

    async def close(self) -> None: ...
