"""Unique keys: tenant names, usernames and emails are unique by their NFKC case-folded
key (app/platform/text.py), kept in a column of its own, instead of by `lower(...)`, which
SQLite applies to ASCII only and neither database normalises.

The keys of existing rows are computed in Python, with the function the service uses.
Rows that were accepted twice under the old rule (`Ärzte` and `ärzte` on SQLite, a
precomposed and a decomposed `Ä` anywhere) all stay: the oldest keeps the plain key,
each later one gets the key followed by U+001F and its id, which no valid name can
produce, and a warning names the rows by id. New names clash with the oldest.

A downgrade restores the `lower(...)` indexes; it fails if two rows that differ by
key are equal in lower case (on PostgreSQL `lower('İ')` can be `i`, where case folding
keeps the dot).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import logging
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from app.platform.text import unique_key

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

# table -> {display column: key column}
KEYED = {
    "tenants": {"name": "name_key"},
    "users": {"username": "username_key", "email": "email_key"},
}
# The indexes of revision 0001: (name, table, expression).
LOWER_INDEXES = [
    ("uq_tenants_name_ci", "tenants", "lower(name)"),
    ("uq_users_username_ci", "users", "lower(username)"),
    ("uq_users_email_ci", "users", "lower(email)"),
]
KEY_INDEXES = [
    ("uq_tenants_name_key", "tenants", "name_key"),
    ("uq_users_username_key", "users", "username_key"),
    ("uq_users_email_key", "users", "email_key"),
]
BATCH = 1000


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError("0003 computes keys in Python: run it on a database, not as --sql")
    for table, columns in KEYED.items():
        for key in columns.values():
            op.add_column(table, sa.Column(key, sa.Text(), nullable=True))
        _fill_keys(table, columns)
    for name, table, _ in LOWER_INDEXES:
        op.drop_index(name, table_name=table)
    # SQLite cannot add NOT NULL to a column: the batch copies the table into a new one.
    for table, columns in KEYED.items():
        with op.batch_alter_table(table) as batch:
            for key in columns.values():
                batch.alter_column(key, existing_type=sa.Text(), nullable=False)
    for name, table, column in KEY_INDEXES:
        op.create_index(name, table, [column], unique=True)


def downgrade() -> None:
    for name, table, _ in KEY_INDEXES:
        op.drop_index(name, table_name=table)
    for table, columns in KEYED.items():
        with op.batch_alter_table(table) as batch:
            for key in columns.values():
                batch.drop_column(key)
    # After the batches: SQLite's copy of a table would not carry expression indexes.
    for name, table, expression in LOWER_INDEXES:
        op.create_index(name, table, [sa.text(expression)], unique=True)


def _fill_keys(table: str, columns: dict[str, str]) -> None:
    """Each row's keys, oldest row first, so that the oldest of a clash keeps its key."""
    rows = sa.table(
        table,
        sa.column("id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        *(sa.column(name, sa.Text()) for name in (*columns, *columns.values())),
    )
    bind = op.get_bind()
    found = bind.execute(
        sa.select(rows.c.id, *(rows.c[name] for name in columns)).order_by(
            rows.c.created_at, rows.c.id
        )
    ).all()
    taken: dict[str, set[str]] = {key: set() for key in columns.values()}
    values: list[dict[str, object]] = []
    for row_id, *displays in found:
        row: dict[str, object] = {"row_id": row_id}
        for display, key in zip(displays, columns.values(), strict=True):
            row[f"new_{key}"] = _key_of(table, key, row_id, display, taken[key])
        values.append(row)
    update = (
        sa.update(rows)
        .where(rows.c.id == sa.bindparam("row_id"))
        .values({key: sa.bindparam(f"new_{key}") for key in columns.values()})
    )
    for start in range(0, len(values), BATCH):
        bind.execute(update, values[start : start + BATCH])


def _key_of(table: str, column: str, row_id: uuid.UUID, display: str, taken: set[str]) -> str:
    key = unique_key(display)
    if key in taken:
        logger.warning(
            "%s %s has the same %s as an older row; it keeps its value under a key of its own",
            table,
            row_id,
            column,
        )
        key = f"{key}\x1f{row_id}"
    taken.add(key)
    return key
