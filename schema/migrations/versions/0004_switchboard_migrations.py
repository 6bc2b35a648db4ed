"""Create Switchboard's own ledger of what it added to the database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

`switchboard_migrations` records every index Switchboard creates, with the batch of the `migrate`
that made it (as Laravel's `migrations` table does), and whether that batch first adopted an
existing platform database. `rollback` reads it to drop only what Switchboard made.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "switchboard_migrations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True, nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=True),
        sa.Column("index_name", sa.String(64), nullable=True),
        sa.Column("columns", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
    )


def downgrade() -> None:
    op.drop_table("switchboard_migrations")
