"""Clean-up of file storage: blobs that no file row points at (an upload interrupted
between storing its blob and committing its row, a delete whose blob removal failed)
and spool files of uploads a crash interrupted."""

import logging
import time

from app.files.repository import Blobs
from app.files.storage import BlobStorage
from app.platform.config import Settings
from app.platform.db.database import Database

logger = logging.getLogger("app.files")
SWEEP_BATCH = 500


class StorageHousekeeping:
    def __init__(self, db: Database, storage: BlobStorage, settings: Settings) -> None:
        self._db = db
        self._storage = storage
        self._settings = settings

    async def sweep_orphans(self, *, grace_seconds: float | None = None) -> int:
        """Removes blobs that no file row points at and that are older than the grace
        period, ORPHAN_GRACE_SECONDS unless given (younger ones may belong to an upload
        that is about to commit). Returns the count."""
        grace = self._settings.orphan_grace_seconds if grace_seconds is None else grace_seconds
        cutoff = time.time() - grace
        removed = 0
        batch: list[str] = []
        async for key, modified in self._storage.list_blobs():
            if modified < cutoff:
                batch.append(key)
            if len(batch) >= SWEEP_BATCH:
                removed += await self._remove_unknown(batch)
                batch = []
        if batch:
            removed += await self._remove_unknown(batch)
        if removed:
            logger.info("orphan sweep removed %d blobs", removed)
        return removed

    async def _remove_unknown(self, keys: list[str]) -> int:
        async with self._db.session() as session:
            known = await Blobs(session).known_keys(keys)
        orphans = [key for key in keys if key not in known]
        for key in orphans:
            await self._storage.delete(key)
        return len(orphans)

    def remove_stale_spool_files(self) -> int:
        """Spool files of uploads that a crash interrupted (live ones are younger)."""
        cutoff = time.time() - self._settings.orphan_grace_seconds
        removed = 0
        folder = self._settings.upload_spool_dir
        for path in folder.glob("*.upload") if folder.exists() else ():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
