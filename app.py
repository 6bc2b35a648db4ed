"""Switchboard: the live operations dashboard for call-center and appointment platforms.

`python app.py --help` lists the commands (they live in cli.py). Settings come from the environment
(see config.py and the README).
"""
from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from cli import cli  # noqa: F401  the commands live in cli.py; `python app.py` and `from app import cli` run them
from config import ConfigError, load_config

INSTANCE_PATH = Path(__file__).resolve().parent / "instance"
ASSETS_PATH = Path(__file__).resolve().parent / "assets"

if TYPE_CHECKING:  # the factory imports its parts when called, never at import time
    from monitoring.sampler import MemorySampler
    from monitoring.store import MemoryStore


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | Path | None = None,
               widgets: tuple | None = None, clock: Callable[[], datetime] | None = None):
    """Build the dashboard: Flask server, Dash app, reader engine, query cache, memory store, widgets (the
    registered ones, `widgets.registered()`, unless others are given), telling the time by `clock` (by
    default the wall clock in DATABASE_TIMEZONE)."""
    from dash import Dash
    from flask import Flask
    from flask_caching import Cache

    from access.gate import install_gate
    from access.users import open_user_store
    from access.work_limits import WorkLimits
    from access.web import init_access, may_call
    from caching import QueryCache, cache_config, shared_locks_for
    from callback_guard import install_callback_guard
    from db import create_reader_engine, is_embedded_demo, resolve_database_url
    from monitoring.costs import record_response_sizes
    from monitoring.instrumentation import CostLog, instrument_engine
    from queries.platform import read_platform_schema_early
    from queries.timeutil import database_now
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
    read_platform_schema_early(reader)
    memory_store, sampler = _memory_monitoring(config, server.instance_path)
    services = Services(
        config=config, database_url=database_url, reader=reader, queries=queries, costs=costs,
        demo=is_embedded_demo(database_url), widgets=widgets,
        users=open_user_store(config, server.instance_path), work_limits=WorkLimits.from_config(config),
        memory_store=memory_store, sampler=sampler,
        clock=clock or partial(database_now, config["DATABASE_TIMEZONE"]),
    )
    server.extensions[EXTENSION_KEY] = services
    if sampler is not None:
        _keep_sampler_running(server, sampler)
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
    init_access(server, app, services.users, config, callback_roles(app, config, widgets))
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


def _memory_monitoring(config: dict, instance_path: str) -> tuple[MemoryStore, MemorySampler | None]:
    """Open the shared memory store; return it and, with MEMORY_SAMPLER on, the sampler that fills it (not
    started: see _keep_sampler_running)."""
    from monitoring.memory import parse_group_patterns
    from monitoring.sampler import MemorySampler
    from monitoring.store import open_memory_store

    try:
        groups = parse_group_patterns(config["MEMORY_PROCESS_GROUPS"])
    except ValueError as error:
        raise ConfigError(f"MEMORY_PROCESS_GROUPS: {error}") from None
    store = open_memory_store(config, instance_path)
    if not config["MEMORY_SAMPLER"]:
        return store, None
    return store, MemorySampler(store, config["MEMORY_SAMPLE_SECONDS"], groups)


def _keep_sampler_running(server, sampler: MemorySampler) -> None:
    """Run the sampler from the first request on, restarting it if it died."""
    from flask import request

    from warm_up import is_warm_up

    @server.before_request
    def keep_sampler_running() -> None:
        # Started here, not in create_app, so gunicorn's forked workers each run their own thread
        # (and never the master, whose warm-up requests come before the fork).
        if not is_warm_up(request.environ):
            sampler.ensure_running()


def create_server():
    """Return the Flask server for gunicorn: `gunicorn "app:create_server()"`."""
    return create_app().server


if __name__ == "__main__":
    cli()
