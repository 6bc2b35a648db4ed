"""Migrations run from code: migrate, rollback and `migrate --sql`.

Two Alembic branches keep the tables apart:
- `platform` (0001) creates the platform's tables, for the demo and fresh installs;
- `switchboard` (0002…0005, depends on 0001) creates Switchboard's ledger, `switchboard_migrations`; its
  revisions mark which indexes a version plans (0005: the time-window indexes), created from the catalog.

On a database that has any of the platform's tables already, `migrate` stamps 0001 instead of running
it: no platform table is created, altered or required (a platform without `agents` is fine). Then it
plans Switchboard's indexes from the catalog (schema/indexes.py), creates those the database lacks and
records each in the ledger under this run's batch number. `rollback` undoes the last batch, as
Laravel's does: it drops the indexes that batch recorded and nothing else; undoing the batch that
adopted a platform database removes the ledger and the version table too, so the database is as it
was before Switchboard. The platform's tables are never rolled back.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from database.engines import server_flavour
from schema.indexes import (ADOPTED, INDEX, LEDGER_TABLE, Catalog, Step, WantedIndex, declared_catalog,
                            default_wanted, describe, drop_statement, ledger, ledger_rows, plan_indexes, read_catalog)
from schema.tables import PLATFORM_TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "switchboard_alembic_version"
PLATFORM_REVISION = "0001"
SWITCHBOARD_REVISIONS = ("0002", "0003", "0004", "0005")  # the switchboard branch, in order


class MigrationError(RuntimeError):
    """The database is in a state Switchboard will not migrate."""


@dataclass
class MigrationReport:
    adopted: bool = False
    applied: list[str] = field(default_factory=list)  # Alembic revisions run
    batch: int | None = None  # the ledger's batch for what this run created, if anything
    created: list[WantedIndex] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


@dataclass
class RollbackReport:
    batches: list[int] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # `table.index (columns)`
    messages: list[str] = field(default_factory=list)
    unadopted: bool = False  # the ledger and the version table are gone: the database is as before Switchboard


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


def _has_platform(engine: Engine) -> bool:
    """Return True when any of the platform's tables exists: then none is created, whichever are missing."""
    present, _ = platform_tables_present(engine)
    return bool(present)


def _tables_of(wanted: Sequence[WantedIndex]) -> set[str]:
    return {index.table for index in wanted}


def _ledger_exists(connection: sa.Connection) -> bool:
    return sa.inspect(connection).has_table(LEDGER_TABLE)


def _next_batch(connection: sa.Connection) -> int:
    if not _ledger_exists(connection):
        return 1
    return (connection.execute(sa.select(sa.func.max(ledger.c.batch))).scalar() or 0) + 1


def migrate(engine: Engine, wanted: Sequence[WantedIndex] | None = None) -> MigrationReport:
    """Bring Switchboard's tables to head, then create the indexes the database lacks and record them."""
    wanted = default_wanted() if wanted is None else tuple(wanted)
    report = MigrationReport()
    url = engine.url.render_as_string(hide_password=False)
    before = applied_revisions(engine)
    has_platform = _has_platform(engine)
    with engine.begin() as connection:
        config = alembic_config(url, connection)
        if has_platform and not before:
            command.stamp(config, PLATFORM_REVISION)
            report.adopted = True
            report.messages.append("existing platform database recognised: its tables are left as they are")
        command.upgrade(config, "heads")
    if not has_platform:
        report.applied.append(PLATFORM_REVISION)
    report.applied += _pending(before)
    _create_indexes(engine, wanted, report)
    if not report.applied and not report.created and not report.adopted:
        report.messages.append("nothing to apply: every index Switchboard needs is there")
    return report


def _create_indexes(engine: Engine, wanted: Sequence[WantedIndex], report: MigrationReport) -> None:
    """Create the planned indexes one by one, recording each in the ledger as soon as it exists."""
    flavour = server_flavour(engine)
    with engine.connect() as connection:
        plan = plan_indexes(read_catalog(connection, flavour, _tables_of(wanted)), wanted, engine.dialect)
        batch = _next_batch(connection)
    report.messages += [f"kept as it is: {describe(d.wanted, d.wanted.table)}: {d.reason}"
                        for d in plan.decisions if not d.create and not d.present]
    if not plan.statements and not report.adopted:
        return
    report.batch = batch
    if report.adopted:
        with engine.begin() as connection:
            connection.execute(ledger.insert(), {"batch": batch, "kind": ADOPTED})
    for step in plan.statements:
        _run_step(engine, flavour, batch, step, report)


def _run_step(engine: Engine, flavour: str, batch: int, step: Step, report: MigrationReport) -> None:
    """Run one statement of the plan, recording the index it creates in the same transaction."""
    index = step.creates
    with engine.begin() as connection:
        if step.keeps and flavour == "mysql" and step.keeps[1] in _index_names(connection, step.keeps[0]):
            return  # MySQL has no ADD INDEX IF NOT EXISTS: the foreign key's index stayed
        before = _index_names(connection, index.table) if index is not None and flavour != "sqlite" else None
        connection.exec_driver_sql(step.sql)
        if index is not None:
            connection.execute(ledger.insert(), ledger_rows(batch, [index]))
            report.created.append(index)
    if before is not None:
        _restore_vanished(engine, index.table, before, report)


def _index_names(connection: sa.Connection, table: str) -> dict[str, tuple[str, ...]]:
    return {index["name"]: tuple(index["column_names"]) for index in sa.inspect(connection).get_indexes(table)
            if index["name"]}


def _restore_vanished(engine: Engine, table: str, before: dict[str, tuple[str, ...]],
                      report: MigrationReport) -> None:
    """Add back any index of the platform's that InnoDB dropped while one of ours was added (a foreign key's
    own index the plan did not foresee): the platform's schema stays as it was."""
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as connection:
        after = _index_names(connection, table)
        for name, columns in before.items():
            if name not in after:
                connection.exec_driver_sql(
                    f"ALTER TABLE {preparer.quote(table)} ADD INDEX {preparer.quote(name)} "
                    f"({', '.join(preparer.quote(c) for c in columns)}), ALGORITHM=INPLACE, LOCK=NONE")
                report.messages.append(f"the platform's index {table}.{name} was dropped by the server when ours "
                                       "was added; it was added back as it was")


def migration_sql(engine: Engine, output: TextIO, wanted: Sequence[WantedIndex] | None = None) -> None:
    """Write the SQL that `migrate` would run on this database, for a DBA to review; change nothing."""
    wanted = default_wanted() if wanted is None else tuple(wanted)
    flavour = server_flavour(engine)
    url = engine.url.render_as_string(hide_password=False)
    config = alembic_config(url, output=output)
    applied = applied_revisions(engine)
    has_platform = _has_platform(engine)
    adopting = has_platform and not applied
    if not has_platform:
        command.upgrade(config, "heads", sql=True)
        catalog, batch = declared_catalog(flavour), 1
    else:
        with engine.connect() as connection:
            catalog, batch = read_catalog(connection, flavour, _tables_of(wanted)), _next_batch(connection)
        if adopting:
            command.stamp(config, PLATFORM_REVISION, sql=True)
        if _pending(applied):
            command.upgrade(config, f"{switchboard_head(applied) or PLATFORM_REVISION}:heads", sql=True)
    _write_index_sql(engine, catalog, wanted, batch, adopting, output,
                     nothing_else=has_platform and not adopting and not _pending(applied))


def _write_index_sql(engine: Engine, catalog: Catalog, wanted: Sequence[WantedIndex], batch: int, adopting: bool,
                     output: TextIO, nothing_else: bool) -> None:
    """Write the index statements of the plan and the ledger rows that record them, each as it would run."""
    plan = plan_indexes(catalog, wanted, engine.dialect)
    for decision in plan.decisions:
        if not decision.create and not decision.present:
            output.write(f"-- kept as it is: {describe(decision.wanted, decision.wanted.table)}: "
                         f"{decision.reason}\n")
    if nothing_else and not plan.statements:
        output.write("-- nothing to apply: every index Switchboard needs is there\n")
        return
    if adopting:
        output.write(_literal(engine, ledger.insert().values(batch=batch, kind=ADOPTED)) + ";\n")
    for step in plan.statements:
        output.write(step.sql + ";\n")
        if step.creates is not None:
            output.write(_literal(engine, ledger.insert().values(**ledger_rows(batch, [step.creates])[0])) + ";\n")


def _literal(engine: Engine, statement: sa.Executable) -> str:
    return str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def rollback(engine: Engine, everything: bool = False) -> RollbackReport | None:
    """Undo the last batch of `migrate` (with `everything`, every batch); return what was undone, or None."""
    recorded = _recorded(engine, server_flavour(engine), everything)
    if recorded is None:
        return None
    rows, catalog = recorded
    report = RollbackReport(batches=sorted({row["batch"] for row in rows}, reverse=True))
    dropping = {row["index_name"] for row in rows if row["kind"] == INDEX}
    for row in rows:
        if row["kind"] == INDEX:
            _drop_recorded(engine, catalog, row, dropping, report)
        with engine.begin() as connection:
            connection.execute(ledger.delete().where(ledger.c.id == row["id"]))
    if any(row["kind"] == ADOPTED for row in rows):
        _unadopt(engine)
        report.unadopted = True
    return report


def _recorded(engine: Engine, flavour: str, everything: bool) -> tuple[list, Catalog] | None:
    """Return the ledger's rows of the last batch (or of every batch), newest first, and the catalog of their
    tables; None where nothing is recorded."""
    with engine.connect() as connection:
        if not _ledger_exists(connection):
            return None
        last = connection.execute(sa.select(sa.func.max(ledger.c.batch))).scalar()
        if last is None:
            return None
        query = sa.select(ledger).order_by(ledger.c.id.desc())
        rows = connection.execute(query if everything else query.where(ledger.c.batch == last)).mappings().all()
        tables = {row["table_name"] for row in rows if row["table_name"]}
        return rows, read_catalog(connection, flavour, tables)


def _drop_recorded(engine: Engine, catalog: Catalog, row, dropping: set[str], report: RollbackReport) -> None:
    """Drop one recorded index if it is still the one Switchboard made (same table, name and columns)."""
    table, name, columns = row["table_name"], row["index_name"], tuple(row["columns"].split(","))
    entry = catalog.tables.get(table)
    found = [index for index in entry.indexes if index.name == name] if entry else []
    if not found:
        report.messages.append(f"{table}.{name} was gone already")
        return
    if found[0].columns != columns:
        report.messages.append(f"{table}.{name} is now on ({', '.join(found[0].columns)}), not the index "
                               "Switchboard made: left as it is")
        return
    with engine.begin() as connection:
        connection.exec_driver_sql(drop_statement(catalog, engine.dialect, table, name, columns, dropping))
    entry.indexes = [index for index in entry.indexes if index.name != name]
    report.dropped.append(f"{table}.{name} ({', '.join(columns)})")


def _unadopt(engine: Engine) -> None:
    """Remove Switchboard's ledger and version table from a platform database it adopted."""
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as connection:
        command.downgrade(alembic_config(url, connection), "switchboard@base")
    with engine.begin() as connection:
        sa.Table(VERSION_TABLE, sa.MetaData()).drop(connection, checkfirst=True)
