"""Create the platform's tables on an empty database (the demo and fresh installs).

Revision ID: 0001
Revises:
Create Date: 2026-11-28

These tables belong to the platform. On an existing platform database this
revision is stamped, never run (see schema/migrate.py), and `rollback` never
undoes it: it only ever walks back the `switchboard` branch.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from schema.tables import PLATFORM_TABLES

revision: str = "0001"
down_revision: str | None = None
branch_labels = ("platform",)
depends_on = None


def upgrade() -> None:
    for table in PLATFORM_TABLES:
        op.create_table(table.name, *[
            sa.Column(column.name, column.type, primary_key=column.primary_key,
                      nullable=column.nullable, autoincrement=column.autoincrement)
            for column in table.columns
        ])


def downgrade() -> None:
    for table in reversed(PLATFORM_TABLES):
        op.drop_table(table.name)
