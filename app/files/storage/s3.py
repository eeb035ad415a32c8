"""Blobs in an S3-compatible bucket, through aioboto3 (one client per app instance,
over one session per process and set of credentials)."""

import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from functools import cache
from pathlib import Path
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.files.storage.base import CHUNK_SIZE, StorageUnavailable

MAX_CONNECTIONS = 100
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


@cache
def _session(
    access_key_id: str | None, secret_access_key: str | None, region: str
) -> aioboto3.Session:
    """Building a session loads botocore's data files, which is slow; its clients
    are made per storage object, so one session serves them all."""
    return aioboto3.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
    )


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._prefix = f"{prefix}/" if prefix else ""
        self._session = _session(access_key_id, secret_access_key, region or "us-east-1")
        self._endpoint_url = endpoint_url
        self._plain_http = endpoint_url is not None and endpoint_url.lower().startswith("http://")
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def _s3(self) -> Any:
        if self._client is None:
            self._stack = AsyncExitStack()
            self._client = await self._stack.enter_async_context(
                self._session.client(
                    "s3",
                    endpoint_url=self._endpoint_url,
                    # Plain HTTP has no certificate to check, so the CA bundle is not
                    # loaded for it.
                    verify=False if self._plain_http else None,
                    config=Config(
                        connect_timeout=3,
                        read_timeout=30,
                        # A download holds its connection while its client reads (at
                        # most SEND_TIMEOUT_SECONDS of stalling): room for many at once,
                        # where botocore's default of 10 let ten slow readers stall
                        # every other download.
                        max_pool_connections=MAX_CONNECTIONS,
                        retries={"max_attempts": 2, "mode": "standard"},
                    ),
                )
            )
        return self._client

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def put_file(self, key: str, source: Path, size: int, sha256: str) -> None:
        """One PUT that carries the sha256, so the server checks the body against it (S3
        refuses a mismatch with BadDigest); then the stored object's size is read back.
        A single PUT, because S3 checks a whole object's sha256 only there (a multipart
        upload's is a checksum of checksums); it takes objects of up to 5 GiB."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        try:
            s3 = await self._s3()
            with source.open("rb") as body:
                await s3.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=body,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
            stored = await s3.head_object(
                Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED"
            )
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        stored_size = stored.get("ContentLength")
        stored_checksum = stored.get("ChecksumSHA256", checksum)
        if stored_size != size or stored_checksum != checksum:
            with contextlib.suppress(StorageUnavailable):  # else the orphan sweep removes it
                await self.delete(key)
            raise StorageUnavailable(
                f"the stored object ({stored_size} bytes, checksum {stored_checksum}) is not "
                f"the one received ({size} bytes, checksum {checksum})"
            )

    async def open(self, key: str) -> AsyncIterator[bytes]:
        try:
            s3 = await self._s3()
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                raise FileNotFoundError(key) from exc
            raise StorageUnavailable(type(exc).__name__) from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        body = response["Body"]
        try:
            while chunk := await body.read(CHUNK_SIZE):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        try:
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    async def list_blobs(self) -> AsyncIterator[tuple[str, float]]:
        try:
            s3 = await self._s3()
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self._prefix) :], item["LastModified"].timestamp()
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    async def ping(self) -> None:
        try:
            s3 = await self._s3()
            await s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._client = None
