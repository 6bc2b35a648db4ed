"""Migrations run from code: migrate, rollback and `migrate --sql`.

Two Alembic branches:
- `platform` (0001) creates the platform's tables, for the demo and fresh installs;
- `switchboard` (0002, depends on 0001) adds the performance indexes; 0003 the
  customer history's index on appointments.

On an existing platform database (its tables present, no Switchboard version
recorded) `migrate` stamps 0001 instead of running it, so no table is created or
altered, then adds the indexes. `rollback` only ever walks back the switchboard
branch: what Switchboard added, never the platform's tables.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from schema.tables import PLATFORM_TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "switchboard_alembic_version"
PLATFORM_REVISION = "0001"
SWITCHBOARD_BRANCH = "switchboard"
SWITCHBOARD_REVISIONS = ("0002", "0003")  # the switchboard branch, in order
SWITCHBOARD_BRANCH_HEAD = SWITCHBOARD_REVISIONS[-1]


class MigrationError(RuntimeError):
    """The database is in a state Switchboard will not migrate."""


@dataclass
class MigrationReport:
    adopted: bool = False
    applied: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def alembic_config(url: str, connection: sa.Connection | None = None,
                   output: TextIO | None = None) -> Config:
    """Return an Alembic config for Switchboard's migrations on `url`."""
    config = Config(stdout=output or io.StringIO(), output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def applied_revisions(engine: Engine) -> set[str]:
    """Return the revisions recorded in Switchboard's version table."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return set(context.get_current_heads())


def switchboard_head(applied: set[str]) -> str | None:
    """Return the last Switchboard revision applied (its branch's head), or None."""
    return next((revision for revision in reversed(SWITCHBOARD_REVISIONS) if revision in applied), None)


def _pending(applied: set[str]) -> list[str]:
    """Return the Switchboard revisions after the applied head, in order."""
    head = switchboard_head(applied)
    return list(SWITCHBOARD_REVISIONS[SWITCHBOARD_REVISIONS.index(head) + 1 if head else 0:])


def platform_tables_present(engine: Engine) -> tuple[list[str], list[str]]:
    """Return (present, missing) platform table names."""
    existing = set(sa.inspect(engine).get_table_names())
    names = [table.name for table in PLATFORM_TABLES]
    return [n for n in names if n in existing], [n for n in names if n not in existing]


def _check_platform(engine: Engine) -> bool:
    """Return True when the platform's tables exist already; refuse a partial schema."""
    present, missing = platform_tables_present(engine)
    if present and missing:
        raise MigrationError(
            f"the database has the platform tables {', '.join(present)} but not {', '.join(missing)}; "
            "Switchboard creates no platform table beside existing ones. "
            "Point DATABASE_URL at the platform's complete database, or at an empty one.")
    return bool(present)


def migrate(engine: Engine) -> MigrationReport:
    """Apply every migration up to head; adopt an existing platform database."""
    report = MigrationReport()
    url = engine.url.render_as_string(hide_password=False)
    before = applied_revisions(engine)
    has_platform = _check_platform(engine)
    with engine.begin() as connection:
        config = alembic_config(url, connection)
        if has_platform and PLATFORM_REVISION not in before and not before:
            command.stamp(config, PLATFORM_REVISION)
            report.adopted = True
            report.messages.append("existing platform database recognised: its tables are left as they are")
        command.upgrade(config, "heads")
    if not has_platform:
        report.applied.append(PLATFORM_REVISION)
    report.applied += _pending(before)
    if not report.applied:
        report.messages.append("already at head: nothing to apply")
    return report


def migration_sql(engine: Engine, output: TextIO) -> None:
    """Write the SQL that `migrate` would run on this database, for a DBA to review."""
    url = engine.url.render_as_string(hide_password=False)
    config = alembic_config(url, output=output)
    applied = applied_revisions(engine)
    if _check_platform(engine):
        inspector = sa.inspect(engine)
        config.attributes["existing_columns"] = {
            t: [c["name"] for c in inspector.get_columns(t)] for t in ("calls", "appointments")}
        applied = applied | {PLATFORM_REVISION}
    if not _pending(applied):
        output.write("-- already at head: nothing to apply\n")
        return
    if PLATFORM_REVISION not in applied:
        command.upgrade(config, "heads", sql=True)
        return
    if not applied_revisions(engine):
        # An existing platform database: record it as adopted, as `migrate` would.
        command.stamp(config, PLATFORM_REVISION, sql=True)
    command.upgrade(config, f"{switchboard_head(applied) or PLATFORM_REVISION}:heads", sql=True)


def rollback(engine: Engine) -> str | None:
    """Undo the last Switchboard migration; return its revision, or None if none is applied."""
    head = switchboard_head(applied_revisions(engine))
    if head is None:
        return None
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        command.downgrade(alembic_config(url, connection), f"{SWITCHBOARD_BRANCH}@-1")
    return head

