"""Files of one tenant: upload, listing, download and delete.

Order of writes: the blob is stored first, then the row is committed. A crash in
between leaves a blob that no row points at, which no client can reach and which the
sweep removes once it is older than the grace period. Delete commits the row's removal
first, then removes the blob; a failure there also leaves only an orphan.
"""

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from pydantic import TypeAdapter
from starlette.requests import Request

from app.files.models import StoredFile
from app.files.repository import TenantFiles
from app.files.schemas import FileOut
from app.files.storage import BlobStorage, StorageUnavailable
from app.files.uploads import receive_upload
from app.platform.config import Settings
from app.platform.db.database import Database, ReadRow
from app.platform.db.scoping import not_found, parse_id
from app.platform.errors import Forbidden, ServiceUnavailable
from app.platform.pagination import Page, PageParams
from app.platform.permissions import Principal

# A page's rows validated in one call, rather than one model at a time.
_PAGE_OF_FILES = TypeAdapter(list[FileOut])
logger = logging.getLogger("app.files")


class FileService:
    def __init__(
        self,
        db: Database,
        tenant_id: uuid.UUID,
        principal: Principal,
        storage: BlobStorage,
        settings: Settings,
    ) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._principal = principal
        self._storage = storage
        self._settings = settings

    async def upload(self, request: Request) -> StoredFile:
        upload = await receive_upload(
            request,
            spool_dir=self._settings.upload_spool_dir,
            allowed=frozenset(self._settings.allowed_file_types),
            max_bytes=self._settings.max_file_size_bytes,
            idle_timeout=self._settings.upload_idle_timeout_seconds,
            total_timeout=self._settings.upload_timeout_seconds,
        )
        file_id = uuid.uuid4()
        key = f"{self._tenant_id}/{file_id}"
        try:
            await self._storage.put_file(key, upload.path, upload.size, upload.sha256)
        except StorageUnavailable as exc:
            logger.error("storing a blob failed: %s", exc)
            raise ServiceUnavailable("File storage is unavailable; try again shortly") from exc
        finally:
            upload.path.unlink(missing_ok=True)
        stored = StoredFile(
            id=file_id,
            uploaded_by=self._principal.user_id,
            filename=upload.filename,
            content_type=upload.content_type,
            size_bytes=upload.size,
            sha256=upload.sha256,
            storage_key=key,
            uploaded_at=datetime.now(UTC),
        )
        try:
            async with self._db.transaction() as session:
                TenantFiles(session, self._tenant_id).add(stored)
        except BaseException:
            await forget_blob(self._storage, key)
            raise
        return stored

    async def page(self, params: PageParams) -> Page[FileOut]:
        async with self._db.session() as session:
            rows, total = await TenantFiles(session, self._tenant_id).page(
                offset=params.offset, limit=params.page_size
            )
        return params.of(_PAGE_OF_FILES.validate_python(rows, from_attributes=True), total)

    async def get(self, raw_id: str) -> ReadRow:
        """The file's row; the session is closed before its bytes are streamed."""
        async with self._db.session() as session:
            stored = await TenantFiles(session, self._tenant_id).view(parse_id(raw_id))
        if stored is None:
            raise not_found()
        return stored

    async def open_content(self, stored: ReadRow) -> AsyncIterator[bytes]:
        """The file's bytes, with the blob already opened so a storage failure is a 503
        answer rather than a broken stream."""
        chunks = self._storage.open(stored.storage_key)
        try:
            first = await anext(chunks, b"")
        except FileNotFoundError as exc:
            async with self._db.session() as session:
                still_there = await TenantFiles(session, self._tenant_id).view(stored.id)
            if still_there is None:  # deleted since it was read: its blob went first
                raise not_found() from exc
            logger.error("blob %s of file %s is missing", stored.storage_key, stored.id)
            raise ServiceUnavailable("The file's content is unavailable") from exc
        except StorageUnavailable as exc:
            raise ServiceUnavailable("File storage is unavailable; try again shortly") from exc
        return _prepend(first, chunks)

    async def delete(self, raw_id: str) -> None:
        file_id = parse_id(raw_id)
        async with self._db.transaction() as session:
            files = TenantFiles(session, self._tenant_id)
            stored = await files.get(file_id)
            if stored is None:
                raise not_found()
            if (
                not self._principal.is_tenant_admin
                and stored.uploaded_by != self._principal.user_id
            ):
                raise Forbidden("Only the uploader or a tenant administrator may delete a file")
            key = stored.storage_key
            await files.delete(stored)
        await forget_blob(self._storage, key)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def forget_blob(storage: BlobStorage, key: str) -> None:
    try:
        await storage.delete(key)
    except StorageUnavailable:
        logger.warning("blob %s left for the orphan sweep", key)
