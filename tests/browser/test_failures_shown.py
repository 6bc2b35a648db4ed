"""An error never looks like an empty result, in a real browser.

- A grid whose data failed says "Could not load: <reason>" in the grid, and fills when the database returns.
- When the dashboard's own server dies, or the network to it stops answering, the page says
  "Connection lost · retrying" (header and tab title), its clock stops, and it comes back by itself
  when the server answers again.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from demo.generator import SeedPlan
from demo.setup import prepare_demo_database
from tests.support.browser import FAST_POLLING, WAIT_MS
from tests.support.clock import FakeClock, test_now
from tests.support.browser import screenshot, serve_in_thread
from tests.support.gunicorn import ROOT, free_port
from tests.support.tcp_proxy import TcpProxy

ROWS = "#{grid} .ag-center-cols-container .ag-row"
OVERLAY = "#{grid} .grid-overlay"
BLACK_HOLE_SECONDS = 8
# The console errors a dead server may cause, and no others: Chromium's line for each request cut off
# (reset or empty: in flight when the server died) or refused (the polls and connection checks after), and
# the Dash renderer's for each callback whose request failed.
OUTAGE_ERRORS = (
    re.compile(r"console: Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|SOCKET_NOT_CONNECTED) "
               r"\(http://127\.0\.0\.1:(?P<port>\d+)/((_dash-update-component|_switchboard-batch)\?[^ ]*|healthz)\)"),
    re.compile(r"console: Error: Callback failed: the server did not respond\.\n"
               r"    at \w+ \(http://127\.0\.0\.1:(?P<port>\d+)/_dash-component-suites/dash/dash-renderer/.*", re.S),
)


def unexpected_during_outage(errors: list[str], port: int) -> list[str]:
    """Return the console errors that are not the failed requests of an outage of the server on this port."""
    def expected(entry: str) -> bool:
        return any((found := pattern.fullmatch(entry)) and int(found["port"]) == port for pattern in OUTAGE_ERRORS)

    return [entry for entry in errors if not expected(entry)]


# --- a grid whose data failed ------------------------------------------------------------------------------

@pytest.fixture
def cut_from_the_start(proxied_dashboard) -> Iterator[tuple[str, TcpProxy]]:
    """The app on MariaDB through a proxy that refuses the database before the page first asks."""
    with proxied_dashboard(**FAST_POLLING) as (site, proxy):
        proxy.cut()
        yield site, proxy


@pytest.mark.mariadb
def test_a_grid_that_could_not_load_says_so_and_fills_when_the_database_returns(page, cut_from_the_start):
    site, proxy = cut_from_the_start
    page.goto(site)
    for grid in ("ongoing-grid", "activity-grid"):
        page.wait_for_selector(f"{OVERLAY.format(grid=grid)}:has-text('Could not load')", timeout=WAIT_MS)
        # Refused, or not yet known: a request that finds the one connection attempt of its process still in
        # flight (the gate lets one through at a time) says it is waiting for it, and never runs one beside it.
        assert page.inner_text(OVERLAY.format(grid=grid)) in {"⚠ Could not load: database unreachable",
                                                               "⚠ Could not load: waiting for the database"}
    # The grid gives the freshness line's reason, and never its empty text.
    status = page.inner_text("#ongoing-status")
    assert "database unreachable" in status or "waiting for the database" in status, status
    assert page.locator("text=No activity matches these filters").count() == 0
    assert page.locator("text=No ongoing calls right now").count() == 0
    proxy.restore()
    for grid in ("ongoing-grid", "activity-grid"):
        page.wait_for_selector(ROWS.format(grid=grid), timeout=WAIT_MS)
    page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
    # Callbacks that failed were answered with 200 and a stale record: the console stays clean.
    assert page.console_errors == []


def test_a_database_on_a_closed_port_is_a_failure_in_the_grid_not_an_empty_one(page, make_dashboard):
    app = make_dashboard(f"mysql+pymysql://root@127.0.0.1:{free_port()}/test", **FAST_POLLING)
    with serve_in_thread(app.server) as server:
        page.goto(server.url)
        overlay = OVERLAY.format(grid="activity-grid")
        page.wait_for_selector(f"{overlay}:has-text('Could not load')", timeout=WAIT_MS)
        assert page.inner_text(overlay) == "⚠ Could not load: database unreachable"
        assert page.inner_text("#polling-state") == "Live"  # the server answers: only the database is gone
        # The connection's state is announced politely; lines that tick every second are no live regions.
        assert page.get_attribute("#announcer", "aria-live") == "polite"
        assert page.eval_on_selector("#polling-state", "e => e.closest('[aria-live]')") is None
        for status in ("#ongoing-status", "#activity-status-line", "#stats-status", "#memory-status"):
            assert page.eval_on_selector(status, "e => e.closest('[aria-live], [role=status], [role=log]')") is None
        assert page.console_errors == []


# --- the dashboard's own server goes away ------------------------------------------------------------------

class AppProcess:
    """Switchboard served by a process of its own on a fixed port, which the test can kill and start again."""

    def __init__(self, environment: dict[str, str], port: int, instance: Path):
        self.environment, self.port, self.instance = environment, port, instance
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.app_server", "--port", str(self.port),
             "--instance", str(self.instance)],
            cwd=ROOT, env={**os.environ, **self.environment}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        line = self.process.stdout.readline()
        assert line == f"listening on {self.port}\n", line

    def kill(self) -> None:
        """End the server at once, as a crash or an OOM kill would: no goodbye to open connections."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process.stdout.close()


@pytest.fixture
def app_process(tmp_path) -> Iterator[AppProcess]:
    """The app on a fresh demo database, served by a process of its own."""
    from database.engines import create_writer_engine

    database_url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    writer = create_writer_engine(database_url)
    # Seeded for the moment the served app's clock starts from (tests/support/clock.py), whatever the hour.
    prepare_demo_database(writer, SeedPlan(calls=1_500, appointments=300, raw_bytes=1_000),
                          now=FakeClock(test_now()).utc())
    writer.dispose()
    environment = {"DATABASE_URL": database_url, "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}",
                   "MEMORY_SAMPLER": "false", "SECRET_KEY": "test-secret-key-for-one-test",
                   **{name: str(value) for name, value in FAST_POLLING.items()}}
    served = AppProcess(environment, free_port(), tmp_path / "instance")
    served.start()
    yield served
    if served.process.poll() is None:
        served.kill()


def duration_cells(page) -> list[str]:
    return page.eval_on_selector_all("#ongoing-grid .ag-center-cols-container [col-id='duration']",
                                     "cells => cells.map(c => c.textContent)")


def test_a_dead_server_shows_connection_lost_and_the_page_recovers_without_a_reload(page, app_process, tmp_path):
    page.goto(app_process.url)
    page.wait_for_selector(ROWS.format(grid="ongoing-grid"), timeout=WAIT_MS)
    page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
    assert page.title() == "Switchboard" and page.inner_text("#polling-state") == "Live"
    # The page's last file (the charts' plotly.js, fetched after the first rows) has arrived: the outage below
    # is one of polling, not of the page's own loading.
    page.wait_for_function("window.Plotly && typeof window.Plotly.then !== 'function'", timeout=WAIT_MS)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    assert page.console_errors == []

    app_process.kill()
    # Within one poll (1 s here) and a probe.
    page.wait_for_selector("#polling-state:has-text('Connection lost · retrying')", timeout=5_000)
    page.wait_for_function("document.title === 'Connection lost · Switchboard'", timeout=2_000)
    page.wait_for_selector("#ongoing-status:has-text('connection lost')", timeout=2_000)
    assert re.fullmatch(r"⚠ connection lost · last update \d\d:\d\d:\d\d", page.inner_text("#ongoing-status"))
    assert "connection lost" in page.inner_text("#activity-status-line")
    page.wait_for_timeout(1_200)  # a tick that was under way as the loss was noticed
    frozen, status = duration_cells(page), page.inner_text("#ongoing-status")
    assert frozen
    page.wait_for_timeout(2_500)
    # Durations and "updated Ns ago" stop pretending to tick.
    assert duration_cells(page) == frozen and page.inner_text("#ongoing-status") == status
    screenshot(page, tmp_path / "connection-lost.png")

    app_process.start()
    page.wait_for_selector("#polling-state:text-is('Live')", timeout=WAIT_MS)
    page.wait_for_function("document.title === 'Switchboard'", timeout=2_000)
    page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
    page.wait_for_selector("#activity-status-line:has-text('updated')", timeout=WAIT_MS)
    page.wait_for_function(
        "(frozen) => { const cells = [...document.querySelectorAll(\"#ongoing-grid .ag-center-cols-container"
        " [col-id='duration']\")].map(c => c.textContent); return cells.length && cells.join() !== frozen.join(); }",
        arg=frozen, timeout=WAIT_MS)  # live data again: durations tick
    assert page.evaluate("window.sameDocument") is True
    assert page.console_errors, "the outage left no trace: was the server really gone?"
    assert unexpected_during_outage(page.console_errors, app_process.port) == []


def test_a_network_that_stops_answering_shows_connection_lost_and_the_page_recovers(page, app_process):
    """A black hole fails no request: the page notices that answers stopped coming, asks /healthz, and waits."""
    with TcpProxy("127.0.0.1", app_process.port) as proxy:
        page.goto(f"http://127.0.0.1:{proxy.port}")
        page.wait_for_selector(ROWS.format(grid="ongoing-grid"), timeout=WAIT_MS)
        page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
        page.evaluate("window.sameDocument = true")
        # Every chunk, either way, now waits longer than the page waits for /healthz.
        proxy.delay(BLACK_HOLE_SECONDS)
        # One check period (1 s here, the fastest poll) and a probe's timeout later.
        page.wait_for_selector("#polling-state:has-text('Connection lost · retrying')", timeout=8_000)
        page.wait_for_function("document.title === 'Connection lost · Switchboard'", timeout=WAIT_MS)
        proxy.delay(0)
        # Requests caught in the black hole hold the browser's connections until their chunks pass.
        page.wait_for_selector("#polling-state:text-is('Live')", timeout=BLACK_HOLE_SECONDS * 1000 + WAIT_MS)
        page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
        # The title follows the polling state on the page's next tick, not in the same frame.
        page.wait_for_function("document.title === 'Switchboard'", timeout=WAIT_MS)
        assert page.evaluate("window.sameDocument") is True
        assert page.console_errors == []
