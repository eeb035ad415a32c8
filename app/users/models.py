"""The user table. Usernames and emails are unique service-wide by their
`unique_key` (app/platform/text.py), kept beside each display value as the tenant name's
is (app/tenants/models.py)."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.platform.db.base import Base, UTCDateTime, utcnow
from app.platform.text import unique_key


class User(Base):
    """A tenant member, or (tenant_id NULL, role 'operator') a platform operator."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_tenant_order", "tenant_id", "created_at", "id"),
        # The default listing (active users) and its count read only this index.
        Index("ix_users_tenant_active_order", "tenant_id", "is_active", "created_at", "id"),
        Index("uq_users_username_key", "username_key", unique=True),
        Index("uq_users_email_key", "email_key", unique=True),
        CheckConstraint("role IN ('admin', 'user', 'operator')", name="role_known"),
        CheckConstraint("(role = 'operator') = (tenant_id IS NULL)", name="operator_has_no_tenant"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE")
    )
    username: Mapped[str] = mapped_column(String(50))
    username_key: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")
    # NULL: no password set yet, so the user cannot log in.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @validates("username")
    def _keep_username_key(self, _: str, username: str) -> str:
        self.username_key = unique_key(username)
        return username

    @validates("email")
    def _keep_email_key(self, _: str, email: str) -> str:
        self.email_key = unique_key(email)
        return email
