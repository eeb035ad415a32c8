"""Files of one tenant: upload, listing, download, delete, and the orphan sweep.

Order of writes: the blob is stored first, then the row is committed. A crash in
between leaves a blob that no row points at, which no client can reach and which the
sweep removes once it is older than the grace period. Delete commits the row's removal
first, then removes the blob; a failure there also leaves only an orphan.
"""

import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.requests import Request

from app.auth import Principal
from app.config import Settings
from app.db.models import StoredFile
from app.db.repositories import Blobs, TenantScope
from app.db.session import Database
from app.errors import Forbidden, ServiceUnavailable
from app.pagination import PageParams
from app.schemas import FileOut, Page
from app.services.tokens import purge_expired_sessions
from app.services.users import not_found, parse_id
from app.storage import BlobStorage, StorageUnavailable
from app.uploads import receive_upload

logger = logging.getLogger("app.files")
SWEEP_BATCH = 500


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
                TenantScope(session, self._tenant_id).files.add(stored)
        except BaseException:
            await _forget_blob(self._storage, key)
            raise
        return stored

    async def page(self, params: PageParams) -> Page[FileOut]:
        async with self._db.session() as session:
            rows, total = await TenantScope(session, self._tenant_id).files.page(
                offset=params.offset, limit=params.page_size
            )
        return params.of([FileOut.model_validate(f) for f in rows], total)

    async def get(self, raw_id: str) -> StoredFile:
        """The file's row; the session is closed before its bytes are streamed."""
        async with self._db.session() as session:
            stored = await TenantScope(session, self._tenant_id).files.get(parse_id(raw_id))
        if stored is None:
            raise not_found()
        return stored

    async def open_content(self, stored: StoredFile) -> AsyncIterator[bytes]:
        """The file's bytes, with the blob already opened so a storage failure is a 503
        answer rather than a broken stream."""
        chunks = self._storage.open(stored.storage_key)
        try:
            first = await anext(chunks, b"")
        except FileNotFoundError as exc:
            logger.error("blob %s of file %s is missing", stored.storage_key, stored.id)
            raise ServiceUnavailable("The file's content is unavailable") from exc
        except StorageUnavailable as exc:
            raise ServiceUnavailable("File storage is unavailable; try again shortly") from exc
        return _prepend(first, chunks)

    async def delete(self, raw_id: str) -> None:
        file_id = parse_id(raw_id)
        async with self._db.transaction() as session:
            files = TenantScope(session, self._tenant_id).files
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
        await _forget_blob(self._storage, key)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def _forget_blob(storage: BlobStorage, key: str) -> None:
    try:
        await storage.delete(key)
    except StorageUnavailable:
        logger.warning("blob %s left for the orphan sweep", key)


async def sweep_orphans(db: Database, storage: BlobStorage, grace_seconds: int) -> int:
    """Removes blobs that no file row points at and that are older than the grace period
    (younger ones may belong to an upload that is about to commit). Returns the count."""
    cutoff = time.time() - grace_seconds
    removed = 0
    batch: list[str] = []

    async def flush() -> int:
        async with db.session() as session:
            known = await Blobs(session).known_keys(batch)
        orphans = [key for key in batch if key not in known]
        for key in orphans:
            await storage.delete(key)
        batch.clear()
        return len(orphans)

    async for key, modified in storage.list_blobs():
        if modified < cutoff:
            batch.append(key)
        if len(batch) >= SWEEP_BATCH:
            removed += await flush()
    if batch:
        removed += await flush()
    if removed:
        logger.info("orphan sweep removed %d blobs", removed)
    return removed


def remove_stale_spool_files(settings: Settings) -> int:
    """Spool files of uploads that a crash interrupted (live ones are younger)."""
    cutoff = time.time() - settings.orphan_grace_seconds
    removed = 0
    folder = settings.upload_spool_dir
    for path in folder.glob("*.upload") if folder.exists() else ():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


async def housekeeping(db: Database, storage: BlobStorage, settings: Settings) -> None:
    """Start-up cleanup, run in the background: a failure is logged, never fatal."""
    try:
        remove_stale_spool_files(settings)
        await sweep_orphans(db, storage, settings.orphan_grace_seconds)
        await purge_expired_sessions(db)
    except Exception:
        logger.exception("start-up housekeeping failed; `python -m app sweep-orphans` retries")
