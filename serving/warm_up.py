"""Warm the app in gunicorn's master before it forks, so the workers share what first use builds.

A preloaded app still does a lot on its first requests: CPython 3.11 rewrites the
bytecode of every function it runs (the specializing interpreter), SQLAlchemy
compiles and caches each statement, Dash builds its callback map and pages, and
pandas and plotly import their lazy parts. Done in each worker, all of that lands
on private, copied-on-write pages, four times over; done once in the master, the
workers inherit it shared. Measured with `python benchmarks/load.py`: see the README.

The warm-up is one page load: the page, the files it names (as browsers ask for them: each file's fast
variant is made and kept, its best compression started in the background, serving/static_assets.py), its layout,
its callbacks, then every
server-side callback that a browser fires when the page opens, with the layout's
initial values, twice (a computed answer, then a cached one). It goes through
the whole WSGI stack in process (Flask's test client; no socket), as an admin
viewer that only code inside this process can name: the mark is an object in the
request's environ, which no HTTP request can carry.

Neither waits for the best compressions: under gunicorn the listening socket is open while the master warms,
so a first request would wait with it. The master's background thread goes on compressing after the fork and
keeps brotli's best on disk, where the workers find it (static_assets.Compressed). A server of one process
(`python app.py`) starts the same file warm-up in a thread at start (`warm_files_in_background`).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Iterator

from flask import Flask

from access.roles import WARM_UP_ENVIRON_KEY, WARM_UP_MARK, WARM_UP_VIEWER
from access.callback_guard import callback_body
from access.dash_internals import DASH_DEPENDENCIES_PATH, DASH_LAYOUT_PATH, DASH_UPDATE_PATH
from serving.static_assets import page_file_urls

log = logging.getLogger("switchboard.warm_up")

VIEWER = WARM_UP_VIEWER
ROUNDS = 2  # the first computes, the second is answered from the cache
WARM_ENCODINGS = ("gzip, deflate, br", "gzip, deflate")  # browsers over HTTPS and loopback; older ones


def warm_up(server: Flask) -> int:
    """Load the page and fire its initial callbacks in process; return how many answered (200 or 204)."""
    client = warm_up_client(server)
    warm_files(client)
    layout = json.loads(client.get(DASH_LAYOUT_PATH).data)
    dependencies = json.loads(client.get(DASH_DEPENDENCIES_PATH).data)
    initial = dict(initial_values(layout))
    answered = 0
    for _ in range(ROUNDS):
        for dependency in initial_callbacks(dependencies):
            response = client.post(DASH_UPDATE_PATH, data=json.dumps(callback_body(dependency, initial, initial)),
                                   content_type="application/json")
            answered += response.status_code in (200, 204)
    return answered


def warm_up_client(server: Flask):
    """Return a test client whose requests are the warm-up's own (in process, as an admin)."""
    client = server.test_client()
    client.environ_base.update({WARM_UP_ENVIRON_KEY: WARM_UP_MARK, "REMOTE_ADDR": "127.0.0.1"})
    return client


def warm_files(client) -> list[str]:
    """Ask for the page and every file it names, in each encoding browsers ask for: each file's fast variant is
    made here and its best compression started in the background (shared by every worker). Return the URLs."""
    urls = page_file_urls(client.get("/").get_data(as_text=True))
    for url in urls:
        for encoding in WARM_ENCODINGS:
            client.get(url, headers={"Accept-Encoding": encoding})
    return urls


def warm_files_in_background(server: Flask) -> threading.Thread:
    """Start compressing the page's files in a thread (a server of one process, at start): the server listens
    meanwhile, and a browser's first requests are answered with the fast variants, never held up."""

    def run() -> None:
        try:
            warm_files(warm_up_client(server))
        except Exception:  # costs bytes on the first page's wire, never the start
            log.warning("warming the page's files failed: each is compressed when first asked for", exc_info=True)

    thread = threading.Thread(target=run, name="switchboard-warm-files", daemon=True)
    thread.start()
    return thread


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
