"""Active users in page order: an index on (tenant_id, is_active, created_at, id).

The users listing hides deactivated users by default. Its page and the tenant's count
of active users are then both answered from this index, the count without visiting a
single table row; with only (tenant_id, created_at, id), every user of the tenant was
read to check its `is_active`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["tenant_id", "is_active", "created_at", "id"]


def upgrade() -> None:
    op.create_index("ix_users_tenant_active_order", "users", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_users_tenant_active_order", table_name="users")
