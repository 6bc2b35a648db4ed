"""Warm the app in gunicorn's master before it forks, so the workers share what first use builds.

A preloaded app still does a lot on its first requests: CPython 3.11 rewrites the
bytecode of every function it runs (the specializing interpreter), SQLAlchemy
compiles and caches each statement, Dash builds its callback map and pages, and
pandas and plotly import their lazy parts. Done in each worker, all of that lands
on private, copied-on-write pages, four times over; done once in the master, the
workers inherit it shared. Measured with `python benchmarks/load.py`: see the README.

The warm-up is one page load: the page, the files it names (each compressed once, as browsers ask for it:
static_assets.py keeps the result), its layout, its callbacks, then every
server-side callback that a browser fires when the page opens, with the layout's
initial values, twice (a computed answer, then a cached one). It goes through
the whole WSGI stack in process (Flask's test client; no socket), as an admin
viewer that only code inside this process can name: the mark is an object in the
request's environ, which no HTTP request can carry.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterator, Mapping

from flask import Flask

from access.roles import ADMIN, Viewer
from callback_guard import callback_body
from static_assets import page_file_urls

log = logging.getLogger("switchboard.warm_up")

ENVIRON_KEY = "switchboard.warm_up"
MARK = object()
VIEWER = Viewer(name="warm-up", role=ADMIN, company_ids=None)
ROUNDS = 2  # the first computes, the second is answered from the cache
UPDATE_PATH = "/_dash-update-component"
WARM_ENCODINGS = ("gzip, deflate, br", "gzip, deflate")  # browsers over HTTPS and loopback; older ones


def is_warm_up(environ: Mapping[str, Any]) -> bool:
    """Tell whether a request is the master's own warm-up (never true for a request from outside)."""
    return environ.get(ENVIRON_KEY) is MARK


def warm_up(server: Flask) -> int:
    """Load the page and fire its initial callbacks in process; return how many answered (200 or 204)."""
    client = server.test_client()
    client.environ_base.update({ENVIRON_KEY: MARK, "REMOTE_ADDR": "127.0.0.1"})
    page = client.get("/").get_data(as_text=True)
    for url in page_file_urls(page):  # compressed once here, and shared by every worker
        for encoding in WARM_ENCODINGS:
            client.get(url, headers={"Accept-Encoding": encoding})
    layout = json.loads(client.get("/_dash-layout").data)
    dependencies = json.loads(client.get("/_dash-dependencies").data)
    initial = dict(initial_values(layout))
    answered = 0
    for _ in range(ROUNDS):
        for dependency in initial_callbacks(dependencies):
            response = client.post(UPDATE_PATH, data=json.dumps(callback_body(dependency, initial, initial)),
                                   content_type="application/json")
            answered += response.status_code in (200, 204)
    return answered


def initial_values(component: Any) -> Iterator[tuple[str, Any]]:
    """Yield ("id.prop", value) for every property of every component of a Dash layout (as JSON)."""
    if isinstance(component, list):
        for child in component:
            yield from initial_values(child)
        return
    if not isinstance(component, dict) or "props" not in component:
        return
    props = component["props"]
    component_id = props.get("id")
    for name, value in props.items():
        if isinstance(component_id, str):
            yield f"{component_id}.{name}", value
        if isinstance(value, (dict, list)):
            yield from initial_values(value)


def initial_callbacks(dependencies: list[dict]) -> Iterator[dict]:
    """Yield the server-side callbacks a browser fires when the page opens."""
    for dependency in dependencies:
        if not dependency.get("clientside_function") and not dependency.get("prevent_initial_call"):
            yield dependency


def warm_up_before_fork(server: Flask, services) -> str:
    """Warm the app, then forget what the warm-up measured and close its connections (gunicorn's master).

    Return a line for the log."""
    started = time.perf_counter()
    try:
        answered = warm_up(server)
    except Exception as error:  # a failed warm-up costs memory, never the start
        log.warning("warm-up failed", exc_info=True)
        return f"warm-up failed ({type(error).__name__}); each worker warms itself"
    finally:
        services.forget_measurements()
        services.close_connections()
    return f"warmed the app before forking: {answered} callback answers in {(time.perf_counter() - started) * 1000:.0f} ms"
