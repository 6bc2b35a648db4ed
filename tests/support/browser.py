"""Real-browser test helpers: serve a WSGI app in a thread and drive Debian's Chromium with Playwright.

API (the fixtures live in tests/browser/conftest.py):
- `serve_in_thread(wsgi_app)`: context manager yielding a ServerHandle whose `.url` is http://127.0.0.1:PORT.
- `launch_chromium(playwright)`: launch /usr/bin/chromium headless; never downloads a browser.
- `browser_unavailable_reason()`: why browser tests cannot run here, or None.
- `watch_console(page)`: attach `page.console_errors`, a list of the console errors and page errors seen.
  The `page` fixture is a plain Playwright Page with this list attached: `assert page.console_errors == []`.
- `count_requests(page, CALLBACK_POSTS, seconds=3.0)`: count requests whose URL contains the text (or one of them).
- `callback_parts(request)`: the callback requests a request carries: one, a batch's parts, or none.
- `screenshot(page, path)`: save a full-page PNG.
"""
from __future__ import annotations

import importlib.util
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from access.dash_internals import DASH_UPDATE_PATH
from access.pages import BATCH_PATH

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
)
JOIN_SECONDS = 5.0
# Where a page posts its callbacks: one at a time, or the polls of one tick together (serving/batch.py).
CALLBACK_POSTS = (DASH_UPDATE_PATH, BATCH_PATH)
# Widgets poll every second or two, so a browser test sees a change within seconds.
FAST_POLLING = {"ONGOING_CALLS_POLL_SECONDS": 1, "ACTIVITY_POLL_SECONDS": 1, "HEADLINE_STATS_POLL_SECONDS": 2}
# How long a test waits for the page to show something: far beyond a poll, so that a machine busy with the
# rest of the suite (several workers, each with servers and a browser) is waited for rather than failed.
WAIT_MS = 30_000


class _QuietHandler(WSGIRequestHandler):
    """Log errors only, not every request."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@dataclass
class ServerHandle:
    """A WSGI app served on 127.0.0.1 by a daemon thread."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve_in_thread(wsgi_app, port: int = 0) -> Iterator[ServerHandle]:
    """Serve the app on `port` (by default one the OS chooses) until the block ends, then shut the server down."""
    server = make_server("127.0.0.1", port, wsgi_app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"wsgi-{server.server_port}", daemon=True)
    thread.start()
    try:
        yield ServerHandle(server, thread)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(JOIN_SECONDS)


def browser_unavailable_reason() -> str | None:
    """Return why Chromium or Playwright is missing, or None when both are here."""
    if importlib.util.find_spec("playwright") is None:
        return "browser tests need the playwright package (pip install -r requirements-dev.txt)"
    if not CHROMIUM.exists():
        return f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


def launch_chromium(playwright):
    """Launch Debian's headless Chromium; Playwright's own browsers are never downloaded."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))


def watch_console(page):
    """Record console errors and uncaught page errors into `page.console_errors`; return the page."""
    page.console_errors = []

    def on_console(message) -> None:
        if message.type == "error":
            location = message.location or {}
            page.console_errors.append(f"console: {message.text} ({location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(f"pageerror: {error}"))
    return page


def count_requests(page, url_part: str | tuple[str, ...], seconds: float = 3.0) -> int:
    """Count the requests whose URL contains url_part (or one of the parts) during the next `seconds`."""
    parts = (url_part,) if isinstance(url_part, str) else url_part
    seen = []

    def on_request(request) -> None:
        if any(part in request.url for part in parts):
            seen.append(request.url)

    page.on("request", on_request)
    try:
        # wait_for_timeout, not time.sleep: Playwright delivers events only while it runs.
        page.wait_for_timeout(seconds * 1000)
    finally:
        page.remove_listener("request", on_request)
    return len(seen)


def callback_parts(request) -> list[dict]:
    """Return the callback requests (Dash's bodies) that a browser request carries: its own body when it is a
    callback request, a batch's parts, or none."""
    path = request.url.split("?", 1)[0]
    if path.endswith(DASH_UPDATE_PATH):
        return [request.post_data_json or {}]
    if path.endswith(BATCH_PATH):
        return list((request.post_data_json or {}).get("parts", []))
    return []


def screenshot(page, path: str | Path) -> Path:
    """Save a full-page PNG of the page at path and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


def what_the_page_shows(page) -> dict:
    """Return every grid's overlay, every freshness line and every notice shown: what a failed wait reports,
    which tells a slow machine from a refused or failed answer."""
    return page.evaluate("""() => ({
        overlays: [...document.querySelectorAll('.grid-overlay')].map(e => e.textContent),
        statuses: [...document.querySelectorAll('.freshness')].map(e => (e.id || '?') + ': ' + e.textContent),
        notices: [...document.querySelectorAll('[id$="-note"], [id$="-notice"]')].filter(e => e.textContent)
                   .map(e => e.id + ': ' + e.textContent),
        url: location.href})""")


def _waited(page, wait, what: str) -> None:
    """Run a Playwright wait of WAIT_MS; when it runs out, fail with what the page shows instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        wait()
    except PlaywrightTimeout:
        raise AssertionError(f"no {what} within {WAIT_MS / 1000:g} s; the page shows {what_the_page_shows(page)}"
                             ) from None


def wait_for(page, selector: str, what: str) -> None:
    """Wait until `selector` is visible; when it is not within WAIT_MS, fail with what the page shows instead."""
    _waited(page, lambda: page.wait_for_selector(selector, timeout=WAIT_MS), what)


ROWS_SHOWN = """grid => {
    let api = null;
    try { api = window.dash_ag_grid.getApi(grid); } catch (error) { return false; }
    return !!api && api.getDisplayedRowCount() > 0
        && !!document.querySelector('#' + grid + ' .ag-center-cols-container .ag-row');
}"""


def wait_for_rows(page, grid: str) -> None:
    """Wait until the grid holds rows and has drawn one: by the grid's own count and a row element, not by
    Playwright's visibility, which a grid laying itself out on a busy machine can miss for a while."""
    _waited(page, lambda: page.wait_for_function(ROWS_SHOWN, arg=grid, timeout=WAIT_MS), f"row in #{grid}")
