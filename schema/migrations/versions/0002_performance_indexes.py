"""Add the dashboard's performance indexes.

Revision ID: 0002
Revises:
Create Date: 2026-11-28

The six indexes of DESIGN.md, by their exact names, built online on MySQL/MariaDB
(schema/online_indexes.py). `idx_called_at` is skipped where `calls.called_at` does
not exist, and an index that already exists under its name is left as it is.
"""
from __future__ import annotations

from schema.online_indexes import add_indexes, drop_indexes, specs
from schema.tables import PERFORMANCE_INDEXES

revision: str = "0002"
down_revision: str | None = None
branch_labels = ("switchboard",)
depends_on = "0001"

INDEXES = specs(PERFORMANCE_INDEXES)


def upgrade() -> None:
    add_indexes(INDEXES)


def downgrade() -> None:
    drop_indexes(INDEXES)
