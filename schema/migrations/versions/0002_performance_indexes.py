"""Add the dashboard's performance indexes.

Revision ID: 0002
Revises:
Create Date: 2026-11-28

The six indexes of DESIGN.md, by their exact names. On MySQL/MariaDB each is
built online (ALGORITHM=INPLACE, LOCK=NONE), so the platform keeps writing calls
while the index builds; SQLAlchemy's Index has no such options, hence the ALTERs.
`idx_called_at` is skipped where `calls.called_at` does not exist, and an index
that already exists under its name is left as it is.

Offline (`migrate --sql`) the caller passes the columns it found in
`config.attributes["existing_columns"]`, since nothing can be inspected then.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from schema.tables import PERFORMANCE_INDEXES

revision: str = "0002"
down_revision: str | None = None
branch_labels = ("switchboard",)
depends_on = "0001"

# (table, index, columns) of the indexes declared in schema/tables.py, in their order.
INDEXES = tuple((index.table.name, index.name, tuple(column.name for column in index.columns))
                for index in PERFORMANCE_INDEXES)


def _existing() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Return the columns and the index names of each table involved."""
    tables = {table for table, _, _ in INDEXES}
    if context.is_offline_mode():
        columns = context.config.attributes.get("existing_columns") or {}
        return {t: set(columns.get(t, ())) or None for t in tables}, {t: set() for t in tables}
    inspector = sa.inspect(op.get_bind())
    columns = {t: {c["name"] for c in inspector.get_columns(t)} for t in tables}
    indexes = {t: {i["name"] for i in inspector.get_indexes(t)} for t in tables}
    return columns, indexes


def _applicable(columns: dict, table: str, wanted: tuple[str, ...]) -> bool:
    present = columns.get(table)
    return present is None or set(wanted) <= present


def _is_mysql() -> bool:
    return op.get_context().dialect.name in {"mysql", "mariadb"}


def _quote(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(name)


def upgrade() -> None:
    columns, indexes = _existing()
    for table, name, wanted in INDEXES:
        if not _applicable(columns, table, wanted) or name in indexes[table]:
            continue
        if _is_mysql():
            column_list = ", ".join(_quote(column) for column in wanted)
            op.execute(f"ALTER TABLE {_quote(table)} ADD INDEX {_quote(name)} ({column_list}), "
                       "ALGORITHM=INPLACE, LOCK=NONE")
        else:
            op.create_index(name, table, list(wanted))


def downgrade() -> None:
    columns, indexes = _existing()
    offline = context.is_offline_mode()
    for table, name, wanted in reversed(INDEXES):
        if not _applicable(columns, table, wanted) or not (offline or name in indexes[table]):
            continue
        if _is_mysql():
            op.execute(f"ALTER TABLE {_quote(table)} DROP INDEX {_quote(name)}, "
                       "ALGORITHM=INPLACE, LOCK=NONE")
        else:
            op.drop_index(name, table_name=table)
