"""Switchboard: the live operations dashboard for call-center and appointment platforms.

`python app.py --help` lists the commands. Settings come from the environment
(see config.py and the README).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from config import ConfigError, load_config

INSTANCE_PATH = Path(__file__).resolve().parent / "instance"


def _load_config_or_exit(overrides: dict | None = None) -> dict:
    try:
        return load_config(overrides)
    except ConfigError as error:
        raise click.ClickException(f"invalid setting: {error}") from None


def _database_url(config: dict) -> str:
    from db import resolve_database_url
    return resolve_database_url(config, INSTANCE_PATH)


@click.group(invoke_without_command=True)
@click.pass_context
def cli(context: click.Context) -> None:
    """Switchboard, the live operations dashboard."""
    if context.invoked_subcommand is None:
        context.invoke(serve)


@cli.command()
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of running it (for a DBA).")
def migrate(as_sql: bool) -> None:
    """Apply migrations up to head (creates the schema on an empty database, else adds indexes only)."""
    from db import create_writer_engine
    from schema.migrate import MigrationError, migrate as run_migrations, migration_sql

    engine = create_writer_engine(_database_url(_load_config_or_exit()))
    try:
        if as_sql:
            migration_sql(engine, sys.stdout)
            return
        report = run_migrations(engine)
    except MigrationError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    for message in report.messages:
        click.echo(message)
    for revision in report.applied:
        click.echo(f"applied {revision}")


@cli.command()
def rollback() -> None:
    """Undo the last migration (Switchboard's indexes; never the platform's tables)."""
    from db import create_writer_engine
    from schema.migrate import rollback as run_rollback

    engine = create_writer_engine(_database_url(_load_config_or_exit()))
    try:
        undone = run_rollback(engine)
    finally:
        engine.dispose()
    click.echo(f"rolled back {undone}" if undone else "nothing to roll back: no Switchboard migration is applied")


@cli.command()
def verify() -> None:
    """Check that every widget query's plan uses its index; exit 1 when one does not."""
    from db import create_reader_engine
    from queries.plans import check_plans, format_checks
    from queries.timeutil import database_now

    config = _load_config_or_exit()
    engine = create_reader_engine(_database_url(config), config["STATEMENT_TIMEOUT_MS"])
    try:
        checks = check_plans(engine, database_now(config["DATABASE_TIMEZONE"]))
    finally:
        engine.dispose()
    click.echo(format_checks(checks))
    failures = [check for check in checks if not check.ok]
    if failures:
        click.echo("", err=True)
        for check in failures:
            click.echo(f"FAIL {check.query}: {check.problem}", err=True)
        raise click.ClickException(
            f"{len(failures)} widget query plan(s) do not use their index. "
            "Run `python app.py migrate` to add the indexes, then verify again.")
    click.echo(f"\nall {len(checks)} widget query plans use their indexes")


@cli.command()
@click.option("--calls", "call_count", type=click.IntRange(min=200), default=20_000, show_default=True,
              help="Calls to generate (spread over 90 days).")
@click.option("--appointments", "appointment_count", type=click.IntRange(min=0), default=5_000,
              show_default=True, help="Appointments to generate (past and future).")
@click.option("--raw-bytes", type=click.IntRange(min=0, max=1_000_000), default=16_000, show_default=True,
              help="Size of each call's provider payload (calls.raw).")
@click.option("--force", is_flag=True, help="Add the data even if the database already has some.")
def seed(call_count: int, appointment_count: int, raw_bytes: int, force: bool) -> None:
    """Fill the configured database with realistic generated data."""
    from tqdm import tqdm

    from db import create_writer_engine
    from demo.generator import SeedPlan, database_is_empty, seed_database
    from queries.timeutil import database_now
    from schema.migrate import MigrationError, migrate as run_migrations, platform_tables_present

    config = _load_config_or_exit()
    engine = create_writer_engine(_database_url(config))
    try:
        present, _ = platform_tables_present(engine)
        if not present:
            run_migrations(engine)
        elif not force and not database_is_empty(engine):
            raise click.ClickException(
                "the database already holds data; seeding adds made-up companies, customers and calls. "
                "Use --force if that is what you want.")
        plan = SeedPlan(calls=call_count, appointments=appointment_count, raw_bytes=raw_bytes)
        with tqdm(total=call_count + appointment_count, unit="rows", desc="seeding") as bar:
            summary = seed_database(engine, plan, database_now(config["DATABASE_TIMEZONE"]), bar.update)
    except MigrationError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"seeded {summary.companies} companies, {summary.customers:,} customers, "
               f"{summary.calls:,} calls ({summary.ongoing} ongoing), {summary.appointments:,} appointments")


@cli.command()
def serve() -> None:
    """Serve the dashboard (development server; production runs under gunicorn)."""
    raise click.ClickException("the dashboard is not built yet (issue #3)")


if __name__ == "__main__":
    cli()
