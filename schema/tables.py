"""The platform's tables as SQLAlchemy Core metadata.

These tables belong to the phone-agent platform (a Laravel application), not to
Switchboard: BIGINT UNSIGNED ids, `created_at`/`updated_at`, provider payloads in
LONGTEXT columns. Switchboard creates them only for the embedded demo and fresh
installs (migration 0001); against an existing platform database it adds indexes
and nothing else (migration 0002).

`LARGE_TEXT_COLUMNS` names every column no widget may ever read; the query tests
check the statements a widget actually runs against it.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Laravel's SoftDeletes: a row with this set is deleted and never shown or counted.
SOFT_DELETE_COLUMN = "deleted_at"

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# BIGINT UNSIGNED AUTO_INCREMENT on MySQL/MariaDB, INTEGER PRIMARY KEY (rowid) on SQLite.
Id = sa.BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb") \
    .with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MediumText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _ref(name: str) -> sa.Column:
    return sa.Column(name, Id, nullable=True)


def _timestamps() -> list[sa.Column]:
    """Laravel's `timestamps()` and `softDeletes()`.

    `deleted_at` is optional in a platform database: queries use it only where the table has it
    (queries/platform.py detects that once per engine)."""
    return [sa.Column("created_at", sa.DateTime, nullable=True),
            sa.Column("updated_at", sa.DateTime, nullable=True),
            sa.Column(SOFT_DELETE_COLUMN, sa.DateTime, nullable=True)]


companies = sa.Table(
    "companies", metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("settings", LongText, nullable=True),  # platform JSON, never read
    *_timestamps(),
)

customers = sa.Table(
    "customers", metadata,
    _id(),
    _ref("company_id"),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("phone", sa.String(32), nullable=True),
    sa.Column("email", sa.String(255), nullable=True),
    sa.Column("notes", sa.Text, nullable=True),  # free text, never read
    *_timestamps(),
)

agents = sa.Table(
    "agents", metadata,
    _id(),
    _ref("company_id"),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("prompt", LongText, nullable=True),  # the voice agent's system prompt, never read
    *_timestamps(),
)

services = sa.Table(
    "services", metadata,
    _id(),
    _ref("company_id"),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("duration_minutes", sa.Integer, nullable=True),
    sa.Column("description", sa.Text, nullable=True),  # never read
    *_timestamps(),
)

calls = sa.Table(
    "calls", metadata,
    _id(),
    _ref("company_id"),
    _ref("customer_id"),
    _ref("agent_id"),
    sa.Column("customer_name", sa.String(255), nullable=True),
    sa.Column("from_number", sa.String(32), nullable=True),
    sa.Column("to_number", sa.String(32), nullable=True),
    sa.Column("direction", sa.String(16), nullable=True),  # inbound / outbound
    sa.Column("status", sa.String(32), nullable=True),
    sa.Column("call_status", sa.String(32), nullable=True),
    sa.Column("start_timestamp", sa.DateTime, nullable=True),
    sa.Column("called_at", sa.DateTime, nullable=True),
    sa.Column("duration_sec", sa.Integer, nullable=True),
    sa.Column("raw", LongText, nullable=True),  # ~16 KB provider JSON a row: never selected
    sa.Column("transcript", LongText, nullable=True),  # never selected
    sa.Column("analysis", MediumText, nullable=True),  # never selected
    *_timestamps(),
)

appointments = sa.Table(
    "appointments", metadata,
    _id(),
    _ref("company_id"),
    _ref("customer_id"),
    _ref("service_id"),
    sa.Column("starts_at", sa.DateTime, nullable=True),
    sa.Column("ends_at", sa.DateTime, nullable=True),
    sa.Column("status", sa.String(32), nullable=True),
    sa.Column("notes", sa.Text, nullable=True),  # never read
    *_timestamps(),
)

PLATFORM_TABLES = (companies, customers, agents, services, calls, appointments)

# Switchboard's performance indexes (DESIGN.md), by their contract names: the only thing it adds to a platform's
# database (migrations 0002 and 0003). Queries name the index each table access should use through these objects, and
# `verify` checks the plans against them.
idx_ongoing_calls = sa.Index("idx_ongoing_calls", calls.c.status, calls.c.call_status, calls.c.created_at)
idx_calls_created_date = sa.Index("idx_calls_created_date", calls.c.created_at)
idx_customer_calls = sa.Index("idx_customer_calls", calls.c.customer_id, calls.c.created_at)
idx_called_at = sa.Index("idx_called_at", calls.c.called_at)  # only where the platform has calls.called_at
idx_appointments_starts_date = sa.Index("idx_appointments_starts_date", appointments.c.starts_at)
idx_appointments_status_date = sa.Index("idx_appointments_status_date", appointments.c.status,
                                        appointments.c.starts_at)
PERFORMANCE_INDEXES = (idx_ongoing_calls, idx_calls_created_date, idx_customer_calls, idx_called_at,
                       idx_appointments_starts_date, idx_appointments_status_date)
# A customer's appointments in time order, for the customer history (migration 0003).
idx_customer_appointments = sa.Index("idx_customer_appointments", appointments.c.customer_id,
                                     appointments.c.starts_at)
CUSTOMER_HISTORY_INDEXES = (idx_customer_appointments,)
# The time-window reads from the index alone (migration 0005; schema/indexes.py keeps the first column required
# and leaves out any other a platform lacks): the headline figures, the company table, the feed's counts and searches.
# The id follows the time, so the feed's order (time, id) is the index's own: no sort of the window.
idx_calls_window = sa.Index("idx_calls_window", calls.c.created_at, calls.c.id, calls.c.company_id, calls.c.status,
                            calls.c.call_status, calls.c.direction, calls.c.duration_sec, calls.c.customer_id,
                            calls.c.deleted_at, calls.c.customer_name, calls.c.from_number, calls.c.to_number)
idx_appointments_window = sa.Index("idx_appointments_window", appointments.c.starts_at, appointments.c.id,
                                   appointments.c.company_id, appointments.c.status, appointments.c.customer_id,
                                   appointments.c.service_id, appointments.c.created_at, appointments.c.deleted_at)
WINDOW_INDEXES = (idx_calls_window, idx_appointments_window)

# Every LONGTEXT/TEXT column of the platform schema: never in a widget's SELECT.
LARGE_TEXT_COLUMNS = tuple(
    f"{table.name}.{column.name}"
    for table in PLATFORM_TABLES
    for column in table.columns
    if isinstance(column.type, sa.Text)
)
