"""Switchboard's branch: the indexes that cover the time-window reads.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

`calls.idx_calls_window` and `appointments.idx_appointments_window` (schema/indexes.py, WINDOW_INDEXES) hold
every column the headline figures, the company table and the feed's counts and searches read, so those reads
never fetch a row. Like the others they are planned from the catalog on the columns the schema map names,
created online, recorded in `switchboard_migrations` with the batch that made them, and dropped by `rollback`
only as recorded: the revision itself changes nothing, so a database that recorded it still upgrades.
"""
from __future__ import annotations

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
