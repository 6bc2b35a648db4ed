"""Switchboard's branch: the customer history's index, planned like the others.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`appointments.idx_customer_appointments` is one of the indexes schema/indexes.py plans from the
catalog; the revision stays so that a database which recorded it still upgrades.
"""
from __future__ import annotations

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
