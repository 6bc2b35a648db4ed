"""Switchboard's branch: its first revision.

Revision ID: 0002
Revises:
Create Date: 2026-11-28

Switchboard's indexes are not made by a revision: which of them a database lacks depends on the
indexes the platform has already, so `migrate` plans them from the catalog and records each one it
creates (schema/indexes.py). The revision stays so that a database which recorded it still upgrades.
"""
from __future__ import annotations

revision: str = "0002"
down_revision: str | None = None
branch_labels = ("switchboard",)
depends_on = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
