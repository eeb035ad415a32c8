"""SQL of files: the files of one tenant (`TenantFiles`), and the unscoped view the
admin totals and the orphan sweep need (`Blobs`)."""

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam as param
from sqlalchemy import func, select

from app.files.models import StoredFile
from app.platform.db.database import DbSession, ReadRow, entities
from app.platform.db.scoping import OWN_TENANT, TenantScoped
from app.platform.pagination import PageQuery

# What reads of files select: a file's metadata, with where its bytes are stored.
FILE_VIEW = (
    StoredFile.id,
    StoredFile.tenant_id,
    StoredFile.filename,
    StoredFile.content_type,
    StoredFile.size_bytes,
    StoredFile.uploaded_by,
    StoredFile.uploaded_at,
    StoredFile.sha256,
    StoredFile.storage_key,
)


class TenantFiles(TenantScoped):
    """The files of one tenant (app/platform/db/scoping.py)."""

    _OWN = StoredFile.tenant_id == OWN_TENANT
    _BY_ID = select(StoredFile).where(_OWN, StoredFile.id == param("id"))
    _VIEW_BY_ID = select(*FILE_VIEW).where(_OWN, StoredFile.id == param("id"))
    _PAGE = PageQuery(StoredFile, FILE_VIEW, [_OWN], (StoredFile.uploaded_at, StoredFile.id))

    async def view(self, file_id: uuid.UUID) -> ReadRow | None:
        """The file as a read shows it (`FILE_VIEW`)."""
        return (await self._session.execute(self._VIEW_BY_ID, self.values(id=file_id))).first()

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        """The entity, to change in a write."""
        return await entities(self._session).scalar(self._BY_ID, self.values(id=file_id))

    async def page(self, *, offset: int, limit: int) -> tuple[Sequence[ReadRow], int]:
        """(the page, how many files there are in all)."""
        return await self._PAGE.run(self._session, offset=offset, limit=limit, **self.values())

    async def delete(self, stored: StoredFile) -> None:
        await entities(self._session).delete(stored)


class Blobs:
    """Unscoped view of stored files, for totals and for the orphan sweep."""

    def __init__(self, session: DbSession) -> None:
        self._session = session

    async def totals(self, tenant_id: uuid.UUID | None) -> tuple[int, int]:
        """(files, bytes) of one tenant, or platform-wide when tenant_id is None."""
        stmt = select(func.count(), func.coalesce(func.sum(StoredFile.size_bytes), 0))
        if tenant_id is not None:
            stmt = stmt.where(StoredFile.tenant_id == tenant_id)
        files, size = (await self._session.execute(stmt)).one()
        return int(files), int(size)

    async def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(keys)
        if not wanted:
            return set()
        stmt = select(StoredFile.storage_key).where(StoredFile.storage_key.in_(wanted))
        return set((await self._session.scalars(stmt)).all())
