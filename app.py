"""Switchboard: the live operations dashboard for call-center and appointment platforms.

`python app.py --help` lists the commands (they live in cli.py). Settings come from the environment
(see config.py and the README).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from cli import cli  # noqa: F401  the commands live in cli.py; `python app.py` and `from app import cli` run them
from config import ConfigError, load_config

INSTANCE_PATH = Path(__file__).resolve().parent / "instance"
ASSETS_PATH = Path(__file__).resolve().parent / "assets"


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | Path | None = None):
    """Build the dashboard: Flask server, Dash app, reader engine, query cache, memory store, widgets."""
    from dash import Dash
    from flask import Flask
    from flask_caching import Cache

    from access.gate import install_gate
    from access.users import open_user_store
    from access.web import install_access
    from caching import QueryCache, cache_config, shared_locks_for
    from callback_guard import install_callback_guard
    from db import create_reader_engine, is_embedded_demo, resolve_database_url
    from monitoring.costs import note_uncompressed_sizes, record_response_sizes
    from monitoring.instrumentation import CostLog
    from monitoring.metrics import register_metrics_endpoint
    from services import EXTENSION_KEY, Services
    from widgets import activity, headline_stats, memory, ongoing_calls, self_cost, shell
    from widgets.common import DATABASE_ERRORS, describe_failure

    config = load_config(overrides)
    server = Flask(__name__, instance_path=str(instance_path or INSTANCE_PATH))
    install_gate(server, config)  # first: its checks run before any other hook reads the request
    database_url = resolve_database_url(config, server.instance_path)
    cache = Cache(config=cache_config(config))
    cache.init_app(server)
    costs = CostLog()
    queries = QueryCache(cache, costs, shared_locks_for(config), remember=DATABASE_ERRORS,
                         describe=partial(describe_failure, statement_timeout_ms=config["STATEMENT_TIMEOUT_MS"]),
                         wait_seconds=config["QUERY_WAIT_MS"] / 1000.0)
    services = Services(
        config=config, database_url=database_url,
        # Widget queries may go to a read replica; migrations always use DATABASE_URL.
        reader=create_reader_engine(config["DATABASE_READ_URL"] or database_url, config["STATEMENT_TIMEOUT_MS"],
                                    connect_notes=queries.notes()),
        queries=queries, costs=costs, demo=is_embedded_demo(database_url),
        widget_names={**{widget.QUERY_NAME: widget.TITLE for widget in (ongoing_calls, activity, headline_stats, memory)},
                      activity.RECENT_QUERY_NAME: activity.RECENT_TITLE},
    )
    server.extensions[EXTENSION_KEY] = services
    _start_memory_monitoring(server, services)
    record_response_sizes(server, services.responses, shell.RESPONSE_OUTPUTS)
    services.users = open_user_store(config, server.instance_path)
    # Each role gets a page of its own panels, so callbacks may name components another page lacks.
    app = Dash(__name__, server=server, title="Switchboard", update_title=None, compress=True,
               assets_folder=str(ASSETS_PATH), suppress_callback_exceptions=True)
    note_uncompressed_sizes(server)
    register_metrics_endpoint(server, services)
    app.layout = lambda: _page_for_viewer(config, services)
    for widget in (shell, headline_stats, ongoing_calls, activity, memory, self_cost):
        widget.register(app)
    may_call = install_access(server, app, services.users, config, callback_areas(app, config))
    install_callback_guard(server, app, may_call)
    return app


def callback_areas(app, config: dict) -> dict[str, str]:
    """Return the area of each callback: the one widget whose components it writes to (the page's own
    components, such as the URL, may be written too), or the page shell when it writes only those."""
    from access.roles import SHELL
    from widgets.shell import component_areas

    owners = component_areas(config)
    areas = {}
    for key in app.callback_map:
        outputs = key.strip(".").split("...")
        found = {owners.get(output.rsplit(".", 1)[0]) for output in outputs}
        widgets = found - {SHELL}
        if None in found or len(widgets) > 1:
            raise RuntimeError(f"callback {key} must write to the components of one widget at most")
        areas[key] = widgets.pop() if widgets else SHELL
    return areas


def _page_for_viewer(config: dict, services):
    """Return the page for whoever asks: the panels of their role, their name and a sign-out button."""
    from flask import g

    from access.roles import AREAS, LOCAL_DEMO_VIEWER
    from access.web import csrf_token
    from widgets.shell import Account, layout

    viewer = g.get("viewer")
    if viewer is None:  # Dash checking the layout outside any viewer's request: no account, every panel
        return layout(config, services.demo, frozenset(AREAS))
    local_demo = viewer is LOCAL_DEMO_VIEWER  # the access check's answer when no user exists
    account = None if local_demo else Account(name=viewer.name, role=viewer.role, csrf_token=csrf_token())
    return layout(config, services.demo, viewer.areas, account, local_demo=local_demo)


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


if __name__ == "__main__":
    cli()
