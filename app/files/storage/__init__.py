"""Object storage for file bytes, behind one small protocol, chosen by `STORAGE_URL`.

`file:///path` (or empty: `<DATA_DIR>/files`) stores blobs in a local directory;
`s3://bucket` stores them in an S3-compatible bucket (endpoint and credentials from
settings). Keys are derived from ids only, never from a client's filename.
"""

from pathlib import Path
from urllib.parse import urlparse

from app.files.storage.base import BlobStorage, StorageUnavailable
from app.files.storage.local import LocalStorage
from app.platform.config import Settings

__all__ = ["BlobStorage", "LocalStorage", "StorageUnavailable", "build_storage"]


def build_storage(settings: Settings) -> BlobStorage:
    url = settings.storage_url
    if not url:
        return LocalStorage(settings.data_dir / "files")
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(parsed.path))
    if parsed.scheme == "s3" and parsed.netloc:
        # Imported here: aioboto3 and aiohttp slow the start-up of every process (the
        # CLI's too) that stores its files locally.
        from app.files.storage.s3 import S3Storage

        return S3Storage(
            bucket=parsed.netloc,
            prefix=parsed.path.strip("/"),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    # Settings refuse any other URL; its value is not repeated (it may hold a secret).
    raise ValueError("STORAGE_URL must be file:///path or s3://bucket")
