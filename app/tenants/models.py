"""The tenant table. Tenant names are unique by their `unique_key`
(app/platform/text.py), kept in a column beside the display name: assigning the name
sets the key, and a unique index on the key lets concurrent registrations of one name
(in any case or normal form) conflict in the database."""

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.platform.db.base import Base, UTCDateTime, utcnow
from app.platform.text import unique_key


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (Index("uq_tenants_name_key", "name_key", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(50))
    # Text: normalising and folding can lengthen a name (U+FDFA becomes 18 letters).
    name_key: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("name")
    def _keep_name_key(self, _: str, name: str) -> str:
        self.name_key = unique_key(name)
        return name
