"""Switchboard: the live operations dashboard for call-center and appointment platforms.

`python app.py --help` lists the commands. Settings come from the environment
(see config.py and the README).
"""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import click

from config import ConfigError, load_config

INSTANCE_PATH = Path(__file__).resolve().parent / "instance"
ASSETS_PATH = Path(__file__).resolve().parent / "assets"


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | Path | None = None,
               widgets: tuple | None = None):
    """Build the dashboard: Flask server, Dash app, reader engine, query cache, memory store, widgets (the
    registered ones, `widgets.registered()`, unless others are given)."""
    from dash import Dash
    from flask import Flask
    from flask_caching import Cache

    from access.gate import install_gate
    from access.users import open_user_store
    from access.work_limits import WorkLimits
    from access.web import install_access
    from caching import QueryCache, cache_config, shared_locks_for
    from callback_guard import install_callback_guard
    from db import create_reader_engine, is_embedded_demo, resolve_database_url
    from monitoring.costs import record_response_sizes
    from monitoring.instrumentation import CostLog, instrument_engine
    from queries.platform import read_platform_schema_early
    from monitoring.metrics import register_metrics_endpoint
    from services import EXTENSION_KEY, Services
    from widgets import registered, shell
    from widgets.common import DATABASE_ERRORS, describe_failure

    config = load_config(overrides)
    widgets = registered() if widgets is None else tuple(widgets)
    server = Flask(__name__, instance_path=str(instance_path or INSTANCE_PATH))
    install_gate(server, config)  # first: its checks run before any other hook reads the request
    database_url = resolve_database_url(config, server.instance_path)
    cache = Cache(config=cache_config(config))
    cache.init_app(server)
    costs = CostLog()
    queries = QueryCache(cache, costs, shared_locks_for(config), remember=DATABASE_ERRORS,
                         describe=partial(describe_failure, statement_timeout_ms=config["STATEMENT_TIMEOUT_MS"]),
                         wait_seconds=config["QUERY_WAIT_MS"] / 1000.0)
    # Widget queries may go to a read replica; migrations always use DATABASE_URL.
    reader = create_reader_engine(config["DATABASE_READ_URL"] or database_url, config["STATEMENT_TIMEOUT_MS"],
                                  connect_notes=queries.notes())
    instrument_engine(reader)  # what each refresh costs: statements, rows, bytes, milliseconds
    services = Services(
        config=config, database_url=database_url, reader=reader,
        queries=queries, costs=costs, demo=is_embedded_demo(database_url), widgets=widgets,
    )
    server.extensions[EXTENSION_KEY] = services
    read_platform_schema_early(services.reader)
    _start_memory_monitoring(server, services)
    services.users = open_user_store(config, server.instance_path)
    services.work_limits = WorkLimits.from_config(config)
    app = Dash(__name__, server=server, title="Switchboard", update_title=None, compress=True,
               assets_folder=str(ASSETS_PATH))
    # Each role's page holds only its panels; every callback is checked against the page of every panel, so a
    # wiring mistake fails at start-up instead of hiding (no suppress_callback_exceptions).
    app.validation_layout = shell.full_page(config, widgets)
    record_response_sizes(server, services.responses, shell.response_outputs(widgets))  # after Dash's compression
    register_metrics_endpoint(server, services)
    app.layout = lambda: _page_for_viewer(config, services)
    shell.register(app, widgets)
    for widget in widgets:
        widget.register(app)
    may_call = install_access(server, app, services.users, config, callback_roles(app, config, widgets))
    install_callback_guard(server, app, may_call)
    return app


def callback_roles(app, config: dict, widgets: tuple) -> dict[str, frozenset[str]]:
    """Return the roles that may run each callback: those of the one widget whose components it writes to
    (the page's own components, such as the URL, may be written too); every role's for the page shell's."""
    from access.roles import ROLES, SHELL
    from widgets.shell import component_areas

    owners = component_areas(config, widgets)
    roles = {widget.area: widget.roles for widget in widgets}
    allowed = {}
    for key in app.callback_map:
        outputs = key.strip(".").split("...")
        found = {owners.get(output.rsplit(".", 1)[0]) for output in outputs}
        areas = found - {SHELL}
        if None in found or len(areas) > 1:
            raise RuntimeError(f"callback {key} must write to the components of one widget at most")
        allowed[key] = roles[areas.pop()] if areas else frozenset(ROLES)
    return allowed


def _page_for_viewer(config: dict, services):
    """Return the page for whoever asks: the panels of their role, their name and a sign-out button."""
    from flask import g

    from access.roles import LOCAL_DEMO_VIEWER
    from access.web import csrf_token
    from widgets.shell import Account, layout

    viewer = g.get("viewer")
    if viewer is None:  # Dash checking the layout outside any viewer's request: no account, every panel
        return layout(config, services.demo, services.widgets)
    local_demo = viewer is LOCAL_DEMO_VIEWER  # the access check's answer when no user exists
    account = None if local_demo else Account(name=viewer.name, role=viewer.role, csrf_token=csrf_token())
    mine = tuple(widget for widget in services.widgets if viewer.role in widget.roles)
    return layout(config, services.demo, mine, account, local_demo=local_demo)


def _start_memory_monitoring(server, services) -> None:
    """Open the shared memory store; run the sampler from the first request on, restarting it if it died."""
    from monitoring.memory import parse_group_patterns
    from flask import request

    from monitoring.sampler import MemorySampler
    from monitoring.store import open_memory_store
    from warm_up import is_warm_up

    config = services.config
    try:
        groups = parse_group_patterns(config["MEMORY_PROCESS_GROUPS"])
    except ValueError as error:
        raise ConfigError(f"MEMORY_PROCESS_GROUPS: {error}") from None
    services.memory_store = open_memory_store(config, server.instance_path)
    if not config["MEMORY_SAMPLER"]:
        return
    services.sampler = MemorySampler(services.memory_store, config["MEMORY_SAMPLE_SECONDS"], groups)

    @server.before_request
    def keep_sampler_running() -> None:
        # Started here, not in create_app, so gunicorn's forked workers each run their own thread
        # (and never the master, whose warm-up requests come before the fork).
        if not is_warm_up(request.environ):
            services.sampler.ensure_running()


def create_server():
    """Return the Flask server for gunicorn: `gunicorn "app:create_server()"`."""
    return create_app().server


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
    try:
        return check_plans(engine, database_now(config["DATABASE_TIMEZONE"]),
                           [widget.plan_examples for widget in registered() if widget.plan_examples])
    except SQLAlchemyError as error:
        raise click.ClickException(f"cannot reach the database at {make_url(url).render_as_string()}: "
                                   f"{error_reason(error)}") from None
    finally:
        engine.dispose()


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
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--simulate/--no-simulate", default=None,
              help="Keep the demo's calls moving (default: the SIMULATE setting; demo database only).")
def serve(host: str, port: int, simulate: bool | None) -> None:
    """Serve the dashboard (development server; production runs under gunicorn)."""
    from demo.simulator import LiveSimulator
    from services import EXTENSION_KEY

    from access.exposure import ExposureError, check_exposure

    config = _load_config_or_exit()
    store = _user_store(config)
    try:
        check_exposure([host], config, store.has_users())
    except ExposureError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.dispose()
    url = _database_url(config)
    if not config["DATABASE_URL"]:
        _prepare_demo(url)
    app = create_app()
    services = app.server.extensions[EXTENSION_KEY]
    if services.demo and (config["SIMULATE"] if simulate is None else simulate):
        from db import create_writer_engine
        services.simulator = LiveSimulator(create_writer_engine(url), config["SIMULATOR_PERIOD_SECONDS"])
        services.simulator.start()
        click.echo(f"live simulator: a step every {config['SIMULATOR_PERIOD_SECONDS']:g} s")
    click.echo(f"Switchboard on http://{host}:{port}/  ({'demo data' if services.demo else 'DATABASE_URL'})")
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        services.shutdown()


def _prepare_demo(url: str) -> None:
    """Create and seed the embedded demo database on first start."""
    from tqdm import tqdm

    from db import create_writer_engine
    from demo.setup import DEMO_PLAN, prepare_demo_database

    engine = create_writer_engine(url)
    bars: list[tqdm] = []

    def advance(rows: int) -> None:
        # The bar appears only when there is something to seed (the first start).
        if not bars:
            bars.append(tqdm(total=DEMO_PLAN.calls + DEMO_PLAN.appointments, unit="rows", desc="demo data"))
        bars[0].update(rows)

    try:
        summary = prepare_demo_database(engine, on_progress=advance)
    finally:
        engine.dispose()
        for bar in bars:
            bar.close()
    if summary:
        click.echo(f"demo database ready: {summary.calls:,} calls, {summary.appointments:,} appointments")


def _user_store(config: dict):
    from access.users import open_user_store
    return open_user_store(config, INSTANCE_PATH)


@cli.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "support", "ops"]), required=True,
              help="admin: everything; support: activity and ongoing calls of its companies, phones masked; "
                   "ops: memory, widget costs and headline counts.")
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
    store = _user_store(config)
    try:
        user = store.add(name, role, company_ids, password, replace=replace)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.dispose()
    scope = f" (companies {', '.join(map(str, user.company_ids))})" if user.company_ids else ""
    click.echo(f"{'replaced' if replace else 'added'} {user.name}: {user.role}{scope}")


@cli.command("remove-user")
@click.argument("name")
def remove_user(name: str) -> None:
    """Remove a user; its open sessions end at their next request."""
    from access.users import UserError

    store = _user_store(_load_config_or_exit())
    try:
        store.remove(name)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.dispose()
    click.echo(f"removed {name}")


@cli.command("list-users")
def list_users() -> None:
    """List the users (names, roles, companies; never passwords)."""
    store = _user_store(_load_config_or_exit())
    try:
        users = sorted(store.users().values(), key=lambda user: user.name)
    finally:
        store.dispose()
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


if __name__ == "__main__":
    cli()
