"""How the dashboard is built: `create_app` puts the server, the engines, the query cache, the monitoring, the
alerts, the access checks and the widgets together; `create_server` is what gunicorn calls (through app.py).
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from config import INSTANCE_PATH, ConfigError, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ASSETS_PATH = PROJECT_ROOT / "assets"
# The renderer's hook before each callback request: the charts' code runs once the first requests are on their way
# (assets/plotly_async.js; a page without charts has no switchboardRunPlotly). Dash hashes it into the CSP.
RENDERER_HOOKS = {"request_pre": "function () { if (window.switchboardRunPlotly) { "
                                 "window.setTimeout(window.switchboardRunPlotly, 0); } }"}

if TYPE_CHECKING:  # the factory imports its parts when called, never at import time
    from monitoring.sampler import MemorySampler
    from monitoring.store import MemoryStore


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | Path | None = None,
               widgets: tuple | None = None, clock: Callable[[], float] = time.time):
    """Build the dashboard: Flask server, Dash app, reader engine, query cache, memory store, widgets (the
    registered ones, `widgets.registered()`, unless others are given), telling the time by `clock`: seconds
    since the epoch, as `time.time` gives them. Every part that stamps or judges time takes it from this one
    clock (the query cache's slots and stamps, remembered failures, the alerts, the memory samples, "now" in the
    platform's timezone, the demo's simulator), so a test that moves it never waits for the wall clock.

    Flask runs after-request handlers last-registered first, so they are registered here in the reverse of the
    order they run. Registered first, the measure of each callback response's size as sent
    (monitoring/costs.py) runs last and sees the body the browser gets; Dash's compression and the static
    files' caching come next; then the note of the response's uncompressed size, so that it runs before either
    compresses; then the access checks' handlers (security headers, the viewer's callbacks), which run first."""
    from flask import Flask
    from flask_caching import Cache

    from access.dash_internals import answer_json, write_json_with
    from access.gate import install_gate
    from access.users import open_user_store
    from access.work_limits import WorkLimits
    from alerts.service import build_alerts
    from access.pages import role_pages
    from access.web import init_access, may_call
    from database.query_cache import QueryCache, cache_config, shared_locks_for
    from access.callback_guard import install_callback_guard
    from database.engines import create_reader_engine, is_embedded_demo, resolve_database_url
    from monitoring.costs import measure_sent_sizes, note_uncompressed_sizes
    from monitoring.instrumentation import CostLog, instrument_engine
    from queries.platform import read_platform_schema_early
    from queries.schema_map import prepare_schema_map
    from serving.batch import install_batches
    from serving.metrics import register_metrics_endpoint
    from widgets.services import EXTENSION_KEY, Services
    from serving.static_assets import PageAssetsDash, StaticFiles, install_static_files
    from widgets import registered, shell
    from widgets.common import DATABASE_ERRORS, describe_failure

    config = load_config(overrides)
    widgets = registered() if widgets is None else tuple(widgets)
    write_json_with(answer_json)  # Dash's answers written by orjson, components and all (see the function)
    # Named and rooted as the project (templates/ and static lookups beside app.py), not as this module.
    server = Flask("app", root_path=str(PROJECT_ROOT), instance_path=str(instance_path or INSTANCE_PATH))
    install_gate(server, config)  # first: its checks run before any other hook reads the request
    database_url = resolve_database_url(config, server.instance_path)
    cache = Cache(config=cache_config(config))
    cache.init_app(server)
    costs = CostLog()
    queries = QueryCache(cache, costs, shared_locks_for(config), clock=clock, remember=DATABASE_ERRORS,
                         describe=partial(describe_failure, statement_timeout_ms=config["STATEMENT_TIMEOUT_MS"]),
                         wait_seconds=config["QUERY_WAIT_MS"] / 1000.0)
    # Widget queries may go to a read replica; migrations always use DATABASE_URL.
    reader = create_reader_engine(config["DATABASE_READ_URL"] or database_url, config["STATEMENT_TIMEOUT_MS"],
                                  connect_notes=queries.notes())
    instrument_engine(reader)  # what each refresh costs: statements, rows, bytes, milliseconds
    prepare_schema_map(config, reader)  # a required field the platform lacks stops the start, named
    read_platform_schema_early(reader)
    memory_store, sampler = _memory_monitoring(config, server.instance_path, clock)
    alerts = build_alerts(config, server.instance_path, database_url, reader, memory_store,
                          {query: title for widget in widgets for query, title in widget.queries.items()},
                          clock)
    queries.on_outcome = alerts.record_outcome
    services = Services(
        config=config, database_url=database_url, reader=reader, queries=queries, costs=costs,
        demo=is_embedded_demo(database_url), widgets=widgets,
        users=open_user_store(config, server.instance_path, clock), work_limits=WorkLimits.from_config(config),
        memory_store=memory_store, sampler=sampler, clock=clock, alerts=alerts,
    )
    server.extensions[EXTENSION_KEY] = services
    measure_sent_sizes(server, services.responses, shell.response_outputs(widgets))  # the first after-request
    _keep_running(server, sampler, alerts)
    static_files = StaticFiles.find(ASSETS_PATH)
    app = PageAssetsDash(__name__, server=server, title="Switchboard", update_title=None, compress=True,
                         assets_folder=str(ASSETS_PATH), static_files=static_files, hooks=RENDERER_HOOKS)
    install_static_files(server, static_files,
                         Path(config["COMPRESSED_FILES_FOLDER"] or Path(server.instance_path) / "compressed"))
    # Each role's page holds only its panels; every callback is checked against the page of every panel, so a
    # wiring mistake fails at start-up instead of hiding (no suppress_callback_exceptions).
    app.validation_layout = shell.full_page(config, widgets)
    note_uncompressed_sizes(server)  # after Dash's compression and the static files' caching
    register_metrics_endpoint(server, services)
    app.layout = lambda: _page_for_viewer(config, services)
    shell.register(app, widgets)
    for widget in widgets:
        widget.register(app)
    with server.app_context():  # the pages are built as a request builds them (the call details' buttons)
        init_access(server, app, services.users, config, callback_pages(app, config, widgets),
                    role_pages(widgets))
    install_batches(server)
    install_callback_guard(server, app, may_call,
                           retry_after=partial(_callback_retry_after, services.work_limits),
                           tarpit=services.work_limits.tarpit)
    return app


def _callback_retry_after(work_limits) -> int | None:
    """Count this callback request against its viewer's rate; return how long they must wait, or None."""
    from access.request_context import this_request

    viewer = this_request().viewer  # written by the access check, which refused the request already if nobody may
    return None if viewer is None else work_limits.callback_retry_after(viewer)


def callback_pages(app, config: dict, widgets: tuple) -> dict[str, frozenset[tuple[str, str]]]:
    """Return the pages, as (role, page) pairs, whose viewers may run each callback (the rule: access/pages.py),
    from the components each widget's panel and each page holds."""
    from access import pages
    from widgets.shell import component_areas

    return pages.callback_pages(app.callback_map, component_areas(config, widgets), widgets,
                                _component_ids_by_page(config, widgets))


def _component_ids_by_page(config: dict, widgets: tuple) -> dict[tuple[str, str], set[str]]:
    """Return the ids of the components on each page of each role, (role, page), as _page_for_viewer builds it."""
    from access.dash_internals import with_descendants
    from access.pages import role_pages
    from widgets.shell import Account, page_of

    ids = {}
    for role, pages in role_pages(widgets).items():
        mine = tuple(widget for widget in widgets if role in widget.roles)
        for page in pages:
            built = page_of(config, False, mine, page, Account(name="", role=role, csrf_token=""))
            ids[role, page] = {component.id for component in with_descendants(built)
                               if isinstance(getattr(component, "id", None), str)}
    return ids


def _page_for_viewer(config: dict, services):
    """Return the page for whoever asks: the panels of their role, their name and a sign-out button; or the
    wallboard, for a wallboard user and for a role that has it too when it asks for /wall (access/web.py)."""
    from access.pages import MAIN_PAGE
    from access.request_context import this_request
    from access.roles import LOCAL_DEMO_VIEWER
    from access.web import csrf_token
    from widgets.shell import Account, layout, page_of

    context = this_request()
    viewer = context.viewer
    if viewer is None:  # Dash checking the layout outside any viewer's request: no account, every panel
        return layout(config, services.demo, services.widgets)
    local_demo = viewer is LOCAL_DEMO_VIEWER  # the access check's answer when no user exists
    account = None if local_demo else Account(name=viewer.name, role=viewer.role, csrf_token=csrf_token())
    mine = tuple(widget for widget in services.widgets if viewer.role in widget.roles)
    return page_of(config, services.demo, mine, context.page or MAIN_PAGE, account, local_demo=local_demo,
                   viewer=viewer)


def _memory_monitoring(config: dict, instance_path: str,
                       clock: Callable[[], float]) -> tuple[MemoryStore, MemorySampler | None]:
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
    return store, MemorySampler(store, config["MEMORY_SAMPLE_SECONDS"], groups, clock=clock)


def _keep_running(server, sampler: MemorySampler | None, alerts) -> None:
    """Run the sampler from the first request on, and keep it and the alert evaluator (started at server start:
    gunicorn's post_fork, `serve`) running, restarting them if they died."""
    from flask import request

    from access.roles import is_warm_up

    @server.before_request
    def keep_sampler_running() -> None:
        # Started here, not in create_app, so gunicorn's forked workers each run their own thread
        # (and never the master, whose warm-up requests come before the fork).
        if not is_warm_up(request.environ):
            if sampler is not None:
                sampler.ensure_running()
            alerts.keep_running()


def create_server():
    """Return the Flask server for gunicorn: `gunicorn "app:create_server()"`."""
    return create_app().server
