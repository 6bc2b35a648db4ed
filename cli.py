"""The commands of `python app.py` (app.py runs this group when executed; see the README's command table).

Each command imports what it uses when it runs, so `--help` and a mistyped command stay quick and
nothing opens a connection at import time. Every engine or user store a command opens is disposed of
by `disposed()`, however the command ends.
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator, Protocol, TypeVar

import click

from access.roles import ROLES
from config import ConfigError, load_config

log = logging.getLogger("switchboard.start")


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
    from database.engines import create_writer_engine
    return disposed(create_writer_engine(url))


def user_store(config: dict):
    """Open the user store USERS_DATABASE_URL names (or the instance folder's), for a `with` block."""
    from access.users import open_user_store
    from config import INSTANCE_PATH
    return disposed(open_user_store(config, INSTANCE_PATH))


def _load_config_or_exit(overrides: dict | None = None) -> dict:
    try:
        return load_config(overrides)
    except ConfigError as error:
        raise click.ClickException(f"invalid setting: {error}") from None


def _database_url(config: dict) -> str:
    from config import INSTANCE_PATH
    from database.engines import resolve_database_url
    return resolve_database_url(config, INSTANCE_PATH)


# serve's options, taken by the group too: `python app.py --port 8061` is the first command a newcomer adapts.
SERVE_FLAGS = {"host": "--host", "port": "--port", "simulate": "--simulate/--no-simulate"}


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="With no command (or serve): the address to listen on [127.0.0.1].")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="With no command (or serve): the port to listen on [8050].")
@click.option("--simulate/--no-simulate", default=None, help="With no command (or serve): as serve's.")
@click.pass_context
def cli(context: click.Context, host: str | None, port: int | None, simulate: bool | None) -> None:
    """Switchboard, the live operations dashboard. With no command it serves: `python app.py --port 8061`."""
    given = {name: value for name, value in (("host", host), ("port", port), ("simulate", simulate))
             if value is not None}
    if context.invoked_subcommand is None:
        context.invoke(serve, **given)
    elif given and context.invoked_subcommand != "serve":
        flags = " and ".join(SERVE_FLAGS[name] for name in given)
        raise click.UsageError(f"{flags} {'go' if len(given) > 1 else 'goes'} with serve, not with "
                               f"{context.invoked_subcommand}: give no command (python app.py --port 8061) "
                               "or put the options after serve")
    elif given:  # `python app.py --port 8061 serve`: serve's own options still win
        context.default_map = {**(context.default_map or {}), "serve": given}


@cli.command()
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of running it (for a DBA).")
def migrate(as_sql: bool) -> None:
    """Add the indexes the database lacks and record them (on an empty database, create the schema first)."""
    from schema.migrate import MigrationError, migrate as run_migrations, migration_sql

    config = _load_config_or_exit()
    wanted = _wanted_indexes(config)
    with writer_engine(_database_url(config)) as engine:
        try:
            if as_sql:
                migration_sql(engine, sys.stdout, wanted)
                return
            report = run_migrations(engine, wanted)
        except MigrationError as error:
            raise click.ClickException(str(error)) from None
    for message in report.messages:
        click.echo(message)
    for revision in report.applied:
        click.echo(f"applied {revision}")
    for index in report.created:
        click.echo(f"created {index.table}.{index.name} ({', '.join(index.columns)}) in batch {report.batch}")


def _wanted_indexes(config: dict):
    """Return the indexes Switchboard's reads need, on the columns SCHEMA_MAP_FILE names."""
    from queries.schema_map import SchemaMapError, check_schema_map, load_schema_map
    from schema.indexes import mapped_wanted

    try:
        mapped = load_schema_map(config.get("SCHEMA_MAP_FILE"))
        check_schema_map(mapped)
    except SchemaMapError as error:
        raise click.ClickException(str(error)) from None
    return mapped_wanted(mapped)


@cli.command()
@click.option("--all", "everything", is_flag=True, help="Undo every batch: everything Switchboard ever added.")
def rollback(everything: bool) -> None:
    """Undo the last migrate (its batch of indexes); never an index or table of the platform's."""
    from schema.migrate import rollback as run_rollback

    with writer_engine(_database_url(_load_config_or_exit())) as engine:
        report = run_rollback(engine, everything=everything)
    if report is None:
        click.echo("nothing to roll back: Switchboard has recorded no index it created")
        return
    for message in report.messages:
        click.echo(message)
    for index in report.dropped:
        click.echo(f"dropped {index}")
    if report.unadopted:
        click.echo("removed Switchboard's own tables (switchboard_migrations, switchboard_alembic_version)")
    click.echo(f"rolled back batch {', '.join(map(str, report.batches))}")


@cli.command()
def inspect() -> None:
    """Print a schema map proposed from the platform's catalog (TOML, a reason per line); write nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from database.engines import create_reader_engine
    from queries.plans import error_reason
    from queries.propose_map import propose_map

    config = _load_config_or_exit()
    try:
        engine = create_reader_engine(_database_url(config), config["STATEMENT_TIMEOUT_MS"])
    except (SQLAlchemyError, ImportError) as error:
        raise click.ClickException(f"cannot use DATABASE_URL: {error}") from None
    with disposed(engine):
        try:
            proposal = propose_map(engine)
        except SQLAlchemyError as error:
            raise click.ClickException(f"cannot read the catalog: {error_reason(error)}") from None
    click.echo(proposal.toml(), nl=False)


@cli.command()
def verify() -> None:
    """Judge every widget query's plan from the server's EXPLAIN; exit 1 when one fails."""
    from queries.plans import Verdict, format_checks, summary

    rows, notes = _judged_plans(_load_config_or_exit())
    click.echo(format_checks(rows))
    click.echo("")  # the notes apart from the table, which a reader cuts at its first blank line
    for note in notes:
        click.echo(note)
    verdict, message = summary(rows)
    if verdict is Verdict.FAIL:
        raise click.ClickException(message)
    click.echo("\n" + message)


def _judged_plans(config: dict) -> list:
    """Return verify's rows and its notes (the features the platform lacks, the statuses the map does not
    place); a database or a map that cannot be used at all is one clear message, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from database.engines import create_reader_engine
    from queries.plans import check_plans, data_spans, error_reason, unplaced_statuses
    from queries.schema_map import SchemaMapError, prepare_schema_map, schema_of
    from queries.timeutil import database_now
    from widgets import registered

    url = _database_url(config)
    try:
        engine = create_reader_engine(url, config["STATEMENT_TIMEOUT_MS"])
    except (SQLAlchemyError, ImportError) as error:  # a malformed URL, a driver that is not installed
        raise click.ClickException(f"cannot use DATABASE_URL: {error}") from None
    with disposed(engine):
        try:
            schema = prepare_schema_map(config, engine)
            now = database_now(config["DATABASE_TIMEZONE"])
            rows = check_plans(engine, now, [widget.plan_examples for widget in registered() if widget.plan_examples])
            # What "per week of data" is measured against: a bounded plan's figure falls as the history grows.
            notes = [f"data: {span.describe()}" for span in data_spans(engine, schema_of(engine))]
            notes += [f"left out: {note}" for note in schema.absent()]
            unplaced = unplaced_statuses(engine, now)
            if unplaced:
                notes.append("statuses of the last 30 days no bucket of the schema map places (counted as "
                             f"\"other\"): {', '.join(unplaced)}")
            return rows, notes
        except SchemaMapError as error:
            raise click.ClickException(str(error)) from None
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
    from serving.factory import create_app
    from widgets.services import EXTENSION_KEY

    config = _load_config_or_exit()
    _refuse_exposure(host, config)
    refuse_a_busy_port(host, port)  # before the demo is seeded or the simulator writes
    url = _database_url(config)
    embedded_demo = not config["DATABASE_URL"]
    if embedded_demo:
        prepare_demo(url)
    try:
        app = create_app(demo_settings(config) if embedded_demo else None)
    except ConfigError as error:  # a schema map the platform's database cannot satisfy, named
        raise click.ClickException(str(error)) from None
    services = app.server.extensions[EXTENSION_KEY]
    if not embedded_demo:
        _warn_of_phone_region(services)
    if services.demo and (config["SIMULATE"] if simulate is None else simulate):
        _start_simulator(services, url, config)
    if services.alerts is not None:
        services.alerts.start()  # alerts are evaluated from server start, watched or not
    from serving.warm_up import warm_files_in_background

    warm_files_in_background(app.server)  # the page's files compressed from the start, no request waiting for it
    click.echo(f"Switchboard on http://{host}:{port}/  ({'demo data' if services.demo else 'DATABASE_URL'})")
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        services.shutdown()


def _refuse_exposure(host: str, config: dict) -> None:
    """Stop with a message where serving on this address would expose the dashboard as the settings forbid."""
    from access.exposure import ExposureError, check_exposure

    with user_store(config) as store:
        try:
            check_exposure([host], config, store.has_users())
        except ExposureError as error:
            raise click.ClickException(str(error)) from None


def _warn_of_phone_region(services) -> None:
    """Log the warning about PHONE_REGION that the platform's numbers call for, if any."""
    from queries.phone_region import check_phone_region

    warning = check_phone_region(services.config, services.reader)
    if warning:
        log.warning("%s", warning)


def _start_simulator(services, url: str, config: dict) -> None:
    """Start the live simulator that keeps the demo's calls moving."""
    from database.engines import create_writer_engine
    from demo.simulator import LiveSimulator

    # Not disposed here: the simulator keeps its engine until services.shutdown().
    services.simulator = LiveSimulator(create_writer_engine(url), config["SIMULATOR_PERIOD_SECONDS"],
                                       clock=services.now)
    services.simulator.start()
    click.echo(f"live simulator: a step every {config['SIMULATOR_PERIOD_SECONDS']:g} s")


def refuse_a_busy_port(host: str, port: int) -> None:
    """Stop with a message naming the port when the server could not listen there: bound as werkzeug binds
    (its address family and address, SO_REUSEADDR), so a port another program holds is refused and one that
    only lingers after a stopped server is not."""
    import errno
    import socket

    from werkzeug.serving import get_sockaddr, select_address_family

    family = select_address_family(host, port)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(get_sockaddr(host, port, family))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else port - 1
            raise click.ClickException(f"port {port} is in use by another program (on {host}): stop it, or choose "
                                       f"another port: python app.py --port {other}") from None
        raise click.ClickException(f"cannot listen on {host} port {port}: {error.strerror or error}") from None


def demo_settings(config: dict) -> dict:
    """Return the settings the embedded demo adds to the configured ones: its own defaults (config.DEMO_DEFAULTS:
    the country of its numbers, its companies' timezone) where nothing else is configured."""
    from config import demo_defaults

    return demo_defaults(config)


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
    if company_ids:
        _refuse_unknown_companies(config, company_ids)
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


def _refuse_unknown_companies(config: dict, company_ids: tuple[int, ...]) -> None:
    """Stop with a message naming the companies that are not in the database: a company that does not exist
    would give the user empty panels, silently."""
    known = {int(company) for company in live_companies(config, company_ids)["id"]}
    unknown = [str(company) for company in company_ids if company not in known]
    if unknown:
        raise click.ClickException(f"no company {', '.join(unknown)} in the database (a deleted one counts as "
                                   "none); `python app.py companies` lists the ids")


@cli.command()
def companies() -> None:
    """List the companies' ids and names, for add-user --company (deleted companies are left out)."""
    from queries.activity import COMPANY_OPTIONS_CAP

    found = live_companies(_load_config_or_exit())
    if found.empty:
        click.echo("no companies in the database")
    for company in found.itertuples(index=False):
        click.echo(f"{int(company.id)}\t{company.name}")
    if len(found) >= COMPANY_OPTIONS_CAP:
        click.echo(f"(the first {COMPANY_OPTIONS_CAP:,} by name)", err=True)


def live_companies(config: dict, company_ids: tuple[int, ...] | None = None):
    """Return the companies (id, name; of `company_ids` if given) the dashboard shows, by name; on the embedded
    demo, created first as `serve` creates it. A database that cannot answer is one clear message."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from database.engines import create_reader_engine
    from queries.activity import fetch_company_options
    from queries.plans import error_reason
    from queries.schema_map import SchemaMapError, prepare_schema_map

    url = _database_url(config)
    if not config["DATABASE_URL"]:
        prepare_demo(url)
    try:
        engine = create_reader_engine(url, config["STATEMENT_TIMEOUT_MS"])
    except (SQLAlchemyError, ImportError) as error:
        raise click.ClickException(f"cannot use DATABASE_URL: {error}") from None
    with disposed(engine):
        try:
            prepare_schema_map(config, engine)
            return fetch_company_options(engine, company_ids)
        except SchemaMapError as error:
            raise click.ClickException(str(error)) from None
        except SQLAlchemyError as error:
            raise click.ClickException(f"cannot read the companies at {make_url(url).render_as_string()}: "
                                       f"{error_reason(error)}") from None


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

    from database.query_cache import cache_config

    cache = Cache(config=cache_config(config))
    cache.init_app(Flask(__name__))
    cache.clear()
    click.echo("query cache cleared")
