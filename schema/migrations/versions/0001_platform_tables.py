"""Create the platform's tables on an empty database (the demo and fresh installs).

Revision ID: 0001
Revises:
Create Date: 2026-11-28

These tables belong to the platform. On an existing platform database this
revision is stamped, never run (see schema/migrate.py), and `rollback` never
undoes it: it only ever walks back the `switchboard` branch.

The tables are written out here as they were when this revision was made, not
read from schema/tables.py: editing the metadata must never change what an
applied revision created (a test runs Alembic's `check` to catch the two
drifting apart).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels = ("platform",)
depends_on = None

# BIGINT UNSIGNED AUTO_INCREMENT on MySQL/MariaDB, INTEGER PRIMARY KEY (rowid) on SQLite.
ID = sa.BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb").with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
TABLES = ("companies", "customers", "agents", "services", "calls", "appointments")


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True, autoincrement=True, nullable=False)


def _ref(name: str) -> sa.Column:
    return sa.Column(name, ID, nullable=True)


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _timestamps() -> list[sa.Column]:
    return [sa.Column(name, sa.DateTime(), nullable=True) for name in ("created_at", "updated_at", "deleted_at")]


def upgrade() -> None:
    op.create_table("companies", _id(), _text("name", 255, nullable=False),
                    sa.Column("settings", LONG_TEXT, nullable=True), *_timestamps())
    op.create_table("customers", _id(), _ref("company_id"), _text("name", 255, nullable=False), _text("phone", 32),
                    _text("email", 255), sa.Column("notes", sa.Text(), nullable=True), *_timestamps())
    op.create_table("agents", _id(), _ref("company_id"), _text("name", 255, nullable=False),
                    sa.Column("prompt", LONG_TEXT, nullable=True), *_timestamps())
    op.create_table("services", _id(), _ref("company_id"), _text("name", 255, nullable=False),
                    sa.Column("duration_minutes", sa.Integer(), nullable=True),
                    sa.Column("description", sa.Text(), nullable=True), *_timestamps())
    op.create_table("calls", _id(), _ref("company_id"), _ref("customer_id"), _ref("agent_id"),
                    _text("customer_name", 255), _text("from_number", 32), _text("to_number", 32),
                    _text("direction", 16), _text("status", 32), _text("call_status", 32),
                    sa.Column("start_timestamp", sa.DateTime(), nullable=True),
                    sa.Column("called_at", sa.DateTime(), nullable=True),
                    sa.Column("duration_sec", sa.Integer(), nullable=True),
                    sa.Column("raw", LONG_TEXT, nullable=True), sa.Column("transcript", LONG_TEXT, nullable=True),
                    sa.Column("analysis", MEDIUM_TEXT, nullable=True), *_timestamps())
    op.create_table("appointments", _id(), _ref("company_id"), _ref("customer_id"), _ref("service_id"),
                    sa.Column("starts_at", sa.DateTime(), nullable=True),
                    sa.Column("ends_at", sa.DateTime(), nullable=True), _text("status", 32),
                    sa.Column("notes", sa.Text(), nullable=True), *_timestamps())


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
