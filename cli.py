"""The commands of `python app.py` (app.py runs this group when executed; see the README's command table).

Each command imports what it uses when it runs, so `--help` and a mistyped command stay quick and
nothing opens a connection at import time. Every engine or user store a command opens is disposed of
by `disposed()`, however the command ends.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, Protocol, TypeVar

import click

from access.roles import ROLES
from config import ConfigError, load_config


class Disposable(Protocol):
    def dispose(self) -> None: ...


D = TypeVar("D", bound=Disposable)


@contextmanager
def disposed(resource: D) -> Iterator[D]:
    """Yield an engine (or a user store, which holds one); dispose of its connections however the block ends."""
    try:
        yield resource
    finally:
        resource.dispose()


def writer_engine(url: str):
    """Open the writer engine (migrations, seeding) on the database at `url`, for a `with` block."""
    from db import create_writer_engine
    return disposed(create_writer_engine(url))


def user_store(config: dict):
    """Open the user store USERS_DATABASE_URL names (or the instance folder's), for a `with` block."""
    from access.users import open_user_store
    from app import INSTANCE_PATH
    return disposed(open_user_store(config, INSTANCE_PATH))


def _load_config_or_exit(overrides: dict | None = None) -> dict:
    try:
        return load_config(overrides)
    except ConfigError as error:
        raise click.ClickException(f"invalid setting: {error}") from None


def _database_url(config: dict) -> str:
    from app import INSTANCE_PATH
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
    from schema.migrate import MigrationError, migrate as run_migrations, migration_sql

    with writer_engine(_database_url(_load_config_or_exit())) as engine:
        try:
            if as_sql:
                migration_sql(engine, sys.stdout)
                return
            report = run_migrations(engine)
        except MigrationError as error:
            raise click.ClickException(str(error)) from None
    for message in report.messages:
        click.echo(message)
    for revision in report.applied:
        click.echo(f"applied {revision}")


@cli.command()
def rollback() -> None:
    """Undo the last migration (Switchboard's indexes; never the platform's tables)."""
    from schema.migrate import rollback as run_rollback

    with writer_engine(_database_url(_load_config_or_exit())) as engine:
        undone = run_rollback(engine)
    click.echo(f"rolled back {undone}" if undone else "nothing to roll back: no Switchboard migration is applied")


@cli.command()
def verify() -> None:
    """Judge every widget query's plan from the server's EXPLAIN; exit 1 when one fails."""
    from queries.plans import Verdict, format_checks, summary

    rows = _judged_plans(_load_config_or_exit())
    click.echo(format_checks(rows))
    verdict, message = summary(rows)
    if verdict is Verdict.FAIL:
        raise click.ClickException(message)
    click.echo("\n" + message)


def _judged_plans(config: dict) -> list:
    """Return verify's rows; a database that cannot be used at all is one clear message, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from db import create_reader_engine
    from queries.plans import check_plans, error_reason
    from queries.timeutil import database_now
    from widgets import registered

    url = _database_url(config)
    try:
        engine = create_reader_engine(url, config["STATEMENT_TIMEOUT_MS"])
    except (SQLAlchemyError, ImportError) as error:  # a malformed URL, a driver that is not installed
        raise click.ClickException(f"cannot use DATABASE_URL: {error}") from None
    with disposed(engine):
        try:
            return check_plans(engine, database_now(config["DATABASE_TIMEZONE"]),
                               [widget.plan_examples for widget in registered() if widget.plan_examples])
        except SQLAlchemyError as error:
            raise click.ClickException(f"cannot reach the database at {make_url(url).render_as_string()}: "
                                       f"{error_reason(error)}") from None


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

    from demo.generator import SeedPlan, database_is_empty, seed_database
    from queries.timeutil import database_now
    from schema.migrate import MigrationError, migrate as run_migrations, platform_tables_present

    config = _load_config_or_exit()
    with writer_engine(_database_url(config)) as engine:
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
    click.echo(f"seeded {summary.companies} companies, {summary.customers:,} customers, "
               f"{summary.calls:,} calls ({summary.ongoing} ongoing), {summary.appointments:,} appointments")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--simulate/--no-simulate", default=None,
              help="Keep the demo's calls moving (default: the SIMULATE setting; demo database only).")
def serve(host: str, port: int, simulate: bool | None) -> None:
    """Serve the dashboard (development server; production runs under gunicorn)."""
    from access.exposure import ExposureError, check_exposure
    from app import create_app
    from demo.simulator import LiveSimulator
    from services import EXTENSION_KEY

    config = _load_config_or_exit()
    with user_store(config) as store:
        try:
            check_exposure([host], config, store.has_users())
        except ExposureError as error:
            raise click.ClickException(str(error)) from None
    url = _database_url(config)
    if not config["DATABASE_URL"]:
        prepare_demo(url)
    app = create_app()
    services = app.server.extensions[EXTENSION_KEY]
    if services.demo and (config["SIMULATE"] if simulate is None else simulate):
        from db import create_writer_engine
        # Not disposed here: the simulator keeps its engine until services.shutdown() below.
        services.simulator = LiveSimulator(create_writer_engine(url), config["SIMULATOR_PERIOD_SECONDS"])
        services.simulator.start()
        click.echo(f"live simulator: a step every {config['SIMULATOR_PERIOD_SECONDS']:g} s")
    if services.alerts is not None:
        services.alerts.start()  # alerts are evaluated from server start, watched or not
    click.echo(f"Switchboard on http://{host}:{port}/  ({'demo data' if services.demo else 'DATABASE_URL'})")
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        services.shutdown()


def prepare_demo(url: str) -> None:
    """Create and seed the embedded demo database on first start."""
    from tqdm import tqdm

    from demo.setup import DEMO_PLAN, prepare_demo_database

    bars: list[tqdm] = []

    def advance(rows: int) -> None:
        # The bar appears only when there is something to seed (the first start).
        if not bars:
            bars.append(tqdm(total=DEMO_PLAN.calls + DEMO_PLAN.appointments, unit="rows", desc="demo data"))
        bars[0].update(rows)

    try:
        with writer_engine(url) as engine:
            summary = prepare_demo_database(engine, on_progress=advance)
    finally:
        for bar in bars:
            bar.close()
    if summary:
        click.echo(f"demo database ready: {summary.calls:,} calls, {summary.appointments:,} appointments")


@cli.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(list(ROLES)), required=True,
              help="admin: everything; support: activity and ongoing calls of its companies, phones masked; "
                   "ops: memory, widget costs and headline counts; wallboard: the wallboard for a TV (figures per "
                   "company, no customer data).")
@click.option("--company", "company_ids", type=click.IntRange(min=1), multiple=True,
              help="A company a support user may see (repeat for several).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@click.option("--replace", is_flag=True, help="Give an existing user a new password, role and companies.")
def add_user(name: str, role: str, company_ids: tuple[int, ...], password_stdin: bool, replace: bool) -> None:
    """Add a user who may sign in (the password is stored hashed)."""
    from access.users import UserError, check_new_user

    config = _load_config_or_exit()
    try:
        # Everything but the password is checked before anyone is asked to type one.
        check_new_user(name, role, company_ids)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with user_store(config) as store:
        try:
            user = store.add(name, role, company_ids, password, replace=replace)
        except UserError as error:
            raise click.ClickException(str(error)) from None
    scope = f" (companies {', '.join(map(str, user.company_ids))})" if user.company_ids else ""
    click.echo(f"{'replaced' if replace else 'added'} {user.name}: {user.role}{scope}")


@cli.command("remove-user")
@click.argument("name")
def remove_user(name: str) -> None:
    """Remove a user; its open sessions end at their next request."""
    from access.users import UserError

    with user_store(_load_config_or_exit()) as store:
        try:
            store.remove(name)
        except UserError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"removed {name}")


@cli.command("list-users")
def list_users() -> None:
    """List the users (names, roles, companies; never passwords)."""
    with user_store(_load_config_or_exit()) as store:
        users = sorted(store.users().values(), key=lambda user: user.name)
    if not users:
        click.echo("no users: Switchboard serves loopback only, as a local demo without login")
    for user in users:
        scope = ", ".join(map(str, user.company_ids)) if user.company_ids else "all companies"
        click.echo(f"{user.name}\t{user.role}\t{scope}")


@cli.command("cache-clear")
def cache_clear() -> None:
    """Empty the query cache (the shared Redis cache; an in-process cache ends with its server)."""
    config = _load_config_or_exit()
    if not config["CACHE_REDIS_URL"]:
        click.echo("no CACHE_REDIS_URL: each server process keeps its own cache, which a restart empties")
        return
    from flask import Flask
    from flask_caching import Cache

    from caching import cache_config

    cache = Cache(config=cache_config(config))
    cache.init_app(Flask(__name__))
    cache.clear()
    click.echo("query cache cleared")
