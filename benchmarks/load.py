"""Load benchmark: N simulated browser sessions on gunicorn + MariaDB + Redis, Switchboard against the naive dashboard.

Usage (from the repository root; `pip install -r requirements-bench.txt`):

    python benchmarks/load.py [--url mysql+pymysql://root@127.0.0.1:3306/sb_bench]
                              [--redis redis://127.0.0.1:6379/0] [--sessions 1,10,50]
                              [--seconds 60] [--workers 4] [--aligned]

Everything stays on this machine: the database and Redis must be on 127.0.0.1
(the script may drop and reseed the database), the servers bind 127.0.0.1 on a
free port, and every run is bounded in time. Locust runs as a library in this
one process (not distributed): the 2-core machine also runs gunicorn and MariaDB.

The data: 200,000 calls of ~16 KB `raw` and 20,000 appointments, seeded by the
seeding logic of benchmarks/naive_vs_switchboard.py. The seeded "ongoing" calls
age out two hours after seeding (ongoing means created in the last 2 h), and
"today" and "the last 7 days" move with the clock, so the database is
dropped and reseeded when it is missing, holds fewer calls, or its newest call
is older than 90 minutes, which leaves half an hour for the runs (reseeding
takes about 2 minutes with mysqlclient installed, twice that with PyMySQL alone).

For each mode and each N of --sessions, a fresh server:
- switchboard: `gunicorn -c gunicorn.conf.py` with DATABASE_URL, CACHE_REDIS_URL,
  a CACHE_KEY_PREFIX of its own (runs share no cache entries; the keys are
  deleted afterwards), SWITCHBOARD_BIND on a free port and SWITCHBOARD_WORKERS;
  the database has Switchboard's indexes.
- naive: benchmarks/naive_dashboard.py (SELECT *, N+1, no cache) under gunicorn
  with the worker, thread and timeout settings of gunicorn.conf.py, on the same
  database without the indexes (`schema.migrate.rollback` before the naive runs,
  `schema.migrate.migrate` after, always).

A session is one open dashboard tab: it loads the page once (`/`,
`/_dash-layout`, `/_dash-dependencies` and the company list), then polls
every widget on its own clock at its configured interval (the defaults of
config.py: ongoing calls 5 s, activity 15 s, headline stats 60 s, memory 10 s,
self-cost 10 s), POSTing the payload the Dash renderer sends, built from
`/_dash-dependencies`. The first poll of each widget is the page's initial
callback. A tab's widgets tick on the tab's clock, which started when the tab
was opened: a random moment of the last minute, so that N tabs poll out of step
as N people's tabs do (with --aligned, every tab opens within the 4 s of the
warm-up and all polls come in step: everyone opening the dashboard at once).
As a browser's dcc.Interval does, a tick sends its request whether or not the
previous one has answered (over at most 6 connections a tab, a browser's limit
per host; a request may wait for one of them before its 30 s run). Like a
browser, a session resends a request once when the server closed the kept-alive
connection just as it was reused (counted and printed).

Most of the time a session shows the default feed; now and then (on average every 2 minutes, at random) it switches to a
common filter (calls only, missed, a search for "Schmidt", outbound) and back
after 15-60 s, or pages to "Older" and back; a filter change posts the URL
sync, the pager and the feed callbacks, in order, as the page does. Naive
sessions poll the naive endpoints for the same three data widgets at the same
intervals with the same filter changes (sessions use the same random seed in
both modes). Requests are named by widget, so Locust's statistics are per
widget. A request fails on an HTTP error, a client timeout (30 s, gunicorn's
worker timeout) or a widget answering "stale" (its query failed).

Measured per mode and N, over the window after a 5 s warm-up (page loads not
counted): per widget p50/p95/p99 and request counts (Locust), requests per
second, errors, database statements per minute (`Com_select`; also `Questions`
minus this script's own SHOW) and bytes the database sent per minute
(`Bytes_sent`) from deltas of MariaDB's SHOW GLOBAL STATUS (server-wide: other
clients of the server count too, so their rate just before the run is printed),
Switchboard's own statements per widget (its /metrics counters, read from
every worker at the start and the end of the window), the server's own request
times (its access log), the CPU of the server, this process, MariaDB and the
rest of the host, and the total PSS of the gunicorn master and its workers at
the end of the window (and the peak of samples every 5 s).

It is a benchmark, not a test: it prints the expectations of issue 5 as
PASS/FAIL lines and exits 0 whatever they say (non-zero only when it cannot run).
"""
from __future__ import annotations

# Importing Locust applies gevent's monkey patching, which must precede the modules that open sockets.
import gevent
import gevent.pool
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.exception import StopUser

import argparse
import itertools
import json
import math
import os
import random
import re
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.error import URLError
from urllib.parse import urlencode, urlparse
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/sb_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_SESSIONS = "1,10,50"
DEFAULT_SECONDS = 60.0
DEFAULT_WORKERS = 4
DEFAULT_WARMUP = 5.0
DEFAULT_SEED = 5
BENCH_CALLS = 200_000
STALE_AFTER_MINUTES = 90
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

SWITCHBOARD = "switchboard"
NAIVE = "naive"
MODES = (SWITCHBOARD, NAIVE)

ONGOING = "ongoing calls"
ACTIVITY = "activity"
HEADLINE = "headline stats"
MEMORY = "memory"
SELF_COST = "self-cost"
SWITCHBOARD_WIDGETS = (ONGOING, ACTIVITY, HEADLINE, MEMORY, SELF_COST)
NAIVE_WIDGETS = (ONGOING, ACTIVITY, HEADLINE)
INTERVAL_SETTINGS = {ONGOING: "ONGOING_CALLS_POLL_SECONDS", ACTIVITY: "ACTIVITY_POLL_SECONDS",
                     HEADLINE: "HEADLINE_STATS_POLL_SECONDS", MEMORY: "MEMORY_POLL_SECONDS",
                     SELF_COST: "SELF_COST_POLL_SECONDS"}
NAIVE_PATHS = {ONGOING: "/ongoing-calls", ACTIVITY: "/recent-activity", HEADLINE: "/headline-stats"}
URL_SYNC = "activity url sync"
PAGER = "activity pager"
COMPANY_OPTIONS = "company options"

BROWSER_CONNECTIONS = 6  # a browser's limit of concurrent HTTP/1.1 connections to one host
CLIENT_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
EXCURSION_MEAN_SECONDS = 120.0
EXCURSION_STAY_SECONDS = (15.0, 60.0)
OLDER_SHARE = 0.25
SPAWN_SECONDS = 4.0
PSS_SAMPLE_SECONDS = 5.0
SERVER_START_SECONDS = 90.0
SERVER_STOP_SECONDS = 10.0
ORPHAN_QUERY_WAIT_SECONDS = 15.0
DRAIN_MARGIN_SECONDS = 5.0
BACKGROUND_SECONDS = 10.0
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
STATUS_QUERY = "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Questions', 'Bytes_sent')"
MB = 1024 * 1024
# gunicorn.conf.py's access_log_format: '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'.
METRIC_LINE = re.compile(r'^switchboard_widget_statements_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
METRICS_TRIES_PER_WORKER = 10
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^"]*)" (?P<status>\d{3}) \S+ (?P<ms>\d+)ms$')

# Expectations of issue 5.
CHECK_SESSIONS = 50
CHECK_BASELINE_SESSIONS = 1
CHECK_NAIVE_SESSIONS = 10
MAX_P95_MS = 50.0
MAX_PSS_MB = 300.0
MAX_STATEMENT_GROWTH = 1.2
MIN_BYTES_RATIO = 50.0
MIN_P95_RATIO = 10.0


class BenchmarkError(RuntimeError):
    """The benchmark cannot run."""


# --- what a session does ----------------------------------------------------------------------

@dataclass(frozen=True)
class Poll:
    """One widget a session polls: its request name and the seconds between two polls."""

    name: str
    seconds: float


@dataclass(frozen=True)
class ActivityView:
    """The activity feed's filter controls as a person set them."""

    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    search: str = ""

    def naive_query(self, page: int) -> dict[str, str]:
        """Return the naive endpoint's query string values."""
        values = {"kind": ",".join(self.kinds), "status": ",".join(self.statuses),
                  "direction": ",".join(self.directions), "q": self.search, "page": str(page) if page else ""}
        return {key: value for key, value in values.items() if value}


DEFAULT_VIEW = ActivityView()
COMMON_VIEWS = (ActivityView(kinds=("call",)), ActivityView(statuses=("missed",)),
                ActivityView(search="Schmidt"), ActivityView(directions=("outbound",)))


@dataclass(frozen=True)
class WidgetCallback:
    """A Switchboard widget's data callback: its first output, its interval, its freshness store."""

    output: str
    interval: str
    freshness: str | None


@dataclass(frozen=True)
class DashIds:
    """The component ids a session needs, taken from the widget modules."""

    widgets: dict[str, WidgetCallback]
    refresh_signal: str
    url: str
    pager: str
    next_cursor: str
    older: str
    newer: str
    company: str
    memory_window: str
    filters: dict[str, str]  # ActivityView field (or "company", "window") -> control id
    default_window: str


def dash_ids() -> DashIds:
    """Return the ids of Switchboard's callbacks, read from its widget modules."""
    from queries.activity import DEFAULT_WINDOW
    from widgets import activity, headline_stats, memory, ongoing_calls, self_cost, shell

    widgets = {
        ONGOING: WidgetCallback(f"{ongoing_calls.GRID}.rowData", ongoing_calls.INTERVAL, ongoing_calls.FRESHNESS),
        ACTIVITY: WidgetCallback(f"{activity.GRID}.rowData", activity.INTERVAL, activity.FRESHNESS),
        HEADLINE: WidgetCallback(f"{headline_stats.CARDS}.children", headline_stats.INTERVAL,
                                 headline_stats.FRESHNESS),
        MEMORY: WidgetCallback(f"{memory.BADGE}.children", memory.INTERVAL, memory.FRESHNESS),
        SELF_COST: WidgetCallback(f"{self_cost.TABLE}.children", self_cost.INTERVAL, None),
    }
    filters = {"kinds": activity.KIND, "statuses": activity.STATUS_FILTER, "directions": activity.DIRECTION,
               "company": activity.COMPANY, "window": activity.WINDOW, "search": activity.SEARCH}
    return DashIds(widgets=widgets, refresh_signal=shell.REFRESH_SIGNAL, url=activity.URL, pager=activity.PAGER,
                   next_cursor=activity.NEXT_CURSOR, older=activity.OLDER, newer=activity.NEWER,
                   company=activity.COMPANY, memory_window=memory.WINDOW, filters=filters,
                   default_window=DEFAULT_WINDOW)


def dependencies_by_output(dependencies: list[dict]) -> dict[str, dict]:
    """Index server-side callbacks by their first output ("id.prop")."""
    indexed = {}
    for dependency in dependencies:
        if dependency.get("clientside_function"):
            continue
        first = dependency["output"].strip(".").split("...")[0].split("@")[0]
        indexed[first] = dependency
    return indexed


@dataclass
class RunPlan:
    """What the sessions of one run share: mode, size, seed, widgets, and when polling stops."""

    mode: str
    sessions: int
    seed: int
    polls: tuple[Poll, ...]
    ids: DashIds | None
    aligned: bool = False
    polling_ends: float = math.inf
    session_numbers: Iterator[int] = field(default_factory=itertools.count)
    resends: int = 0


class BrowserSession(FastHttpUser):
    """One person's open dashboard tab: a page load, then every widget polled on its own interval."""

    abstract = True
    concurrency = BROWSER_CONNECTIONS
    network_timeout = CLIENT_TIMEOUT_SECONDS
    connection_timeout = CONNECT_TIMEOUT_SECONDS
    wait_time = constant(1)  # only between retries of a failed page load
    plan: RunPlan

    def on_start(self) -> None:
        """Give the session its own random choices (the same in both modes) and request pool."""
        number = next(self.plan.session_numbers)
        self.rng = random.Random(f"{self.plan.seed}:{self.plan.sessions}:{number}")
        self.in_flight = gevent.pool.Group()
        self.view = DEFAULT_VIEW
        self.page = 0
        self.resend_when_dropped()

    def resend_when_dropped(self) -> None:
        """Send a request again, once, when the server closed its kept-alive connection before answering.

        Browsers do the same, so that a connection the server closed just as it was reused
        (gunicorn's keepalive is 5 s, the ongoing calls' interval too) is no error a person sees.
        The time of both attempts counts, and the run reports how many requests were resent.
        """
        from geventhttpclient.response import HTTPConnectionClosed

        agent = self.client.client
        urlopen = agent.urlopen
        plan = self.plan

        def urlopen_resending(url, method="GET", **kwargs):
            """Open the URL; once more if the reused connection was dropped before any answer."""
            try:
                return urlopen(url, method=method, **kwargs)
            except (HTTPConnectionClosed, ConnectionResetError, BrokenPipeError):
                plan.resends += 1
                return urlopen(url, method=method, **kwargs)

        agent.urlopen = urlopen_resending

    @task
    def watch(self) -> None:
        """Load the page, poll until the run's polling ends, wait for the answers, then leave."""
        if time.monotonic() >= self.plan.polling_ends:
            raise StopUser()
        opened = time.monotonic()
        if not self.load_page():
            return
        origin = opened if self.plan.aligned else opened - self.rng.uniform(0, max(p.seconds for p in self.plan.polls))
        loops = [gevent.spawn(self.poll_every, poll, opened, origin) for poll in self.plan.polls]
        loops.append(gevent.spawn(self.browse_activity))
        try:
            gevent.joinall(loops, raise_error=True)
            self.in_flight.join()
        finally:
            gevent.killall(loops)
            self.in_flight.kill()
        raise StopUser()

    def poll_every(self, poll: Poll, opened: float, origin: float) -> None:
        """Make the page's initial call, then poll on the tab's clock, whether or not the last poll answered.

        The tab's clock starts at `origin`: when the tab was opened. Unless the run is aligned, that is a
        random moment of the last minute, so that N tabs poll out of step, as N people's tabs do.
        """
        self.in_flight.spawn(self.poll_widget, poll.name, 0)
        for tick in itertools.count(math.floor((opened - origin) / poll.seconds) + 1):
            due = origin + tick * poll.seconds
            if due >= self.plan.polling_ends:
                return
            gevent.sleep(max(0.0, due - time.monotonic()))
            self.in_flight.spawn(self.poll_widget, poll.name, tick)

    def browse_activity(self) -> None:
        """Now and then switch the feed to a common filter or an older page, and back."""
        while self.pause(self.rng.expovariate(1.0 / EXCURSION_MEAN_SECONDS)):
            if self.rng.random() < OLDER_SHARE:
                self.turn_page(older=True)
                if not self.pause(self.rng.uniform(*EXCURSION_STAY_SECONDS)):
                    return
                self.turn_page(older=False)
            else:
                self.change_view(self.rng.choice(COMMON_VIEWS))
                if not self.pause(self.rng.uniform(*EXCURSION_STAY_SECONDS)):
                    return
                self.change_view(DEFAULT_VIEW)

    def pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`, but not past the end of polling; tell whether polling goes on."""
        gevent.sleep(max(0.0, min(seconds, self.plan.polling_ends - time.monotonic())))
        return time.monotonic() < self.plan.polling_ends

    def get(self, path: str, name: str) -> Any:
        """GET a path, record it under `name`, and return its JSON (None when it failed or is HTML)."""
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(failure_reason(response))
                return None
            if "json" not in (response.headers.get("Content-Type") or ""):
                return None
            return response.json()

    def load_page(self) -> bool:
        """Load the page; tell whether polling can start."""
        raise NotImplementedError

    def poll_widget(self, name: str, tick: int) -> None:
        """Poll one widget once."""
        raise NotImplementedError

    def change_view(self, view: ActivityView) -> None:
        """Show the activity feed with other filters."""
        raise NotImplementedError

    def turn_page(self, older: bool) -> None:
        """Go to the older page of the feed, or back."""
        raise NotImplementedError


def failure_reason(response) -> str:
    """Return why a request failed: the client's error, or the HTTP status."""
    error = getattr(response, "error", None)
    return f"{type(error).__name__}: {error}" if error else f"HTTP {response.status_code}"


class SwitchboardSession(BrowserSession):
    """A tab of Switchboard: Dash callbacks posted as the renderer posts them."""

    abstract = True

    def load_page(self) -> bool:
        """Fetch the page, its layout and its callbacks, then the company list, as a page load does."""
        ids = self.plan.ids
        self.get("/", "page /")
        self.get("/_dash-layout", "page /_dash-layout")
        dependencies = self.get("/_dash-dependencies", "page /_dash-dependencies")
        if not dependencies:
            return False
        self.callbacks = dependencies_by_output(dependencies)
        self.freshness: dict[str, Any] = {}
        self.ticks: dict[str, int] = {}
        self.search = ""
        self.pager: Any = {"cursors": [None], "page": 0}
        self.next_cursor: Any = None
        self.clicks = {ids.older: 0, ids.newer: 0}
        self.post_callback(COMPANY_OPTIONS, f"{ids.company}.options",
                           {f"{ids.refresh_signal}.data": 0, f"{ids.url}.pathname": "/"}, {}, [])
        return True

    def post_callback(self, name: str, output: str, inputs: dict[str, Any], state: dict[str, Any],
                      changed: list[str], freshness: str | None = None) -> dict[str, Any] | None:
        """POST one callback; return {"id.prop": value} of its answer, or None when it failed."""
        from callback_guard import callback_body  # the project's modules: importable once main() set the path

        payload = callback_body(self.callbacks[output], inputs, state, changed)
        with self.client.post("/_dash-update-component", data=json.dumps(payload), headers=JSON_HEADERS,
                              name=name, catch_response=True) as response:
            return read_callback_answer(response, freshness)

    def controls(self) -> dict[str, Any]:
        """Return the filter controls' values, as the renderer reads them from the page."""
        ids = self.plan.ids
        return {f"{ids.filters['kinds']}.value": list(self.view.kinds),
                f"{ids.filters['statuses']}.value": list(self.view.statuses),
                f"{ids.filters['directions']}.value": list(self.view.directions),
                f"{ids.filters['company']}.value": [],
                f"{ids.filters['window']}.value": ids.default_window,
                f"{ids.filters['search']}.value": self.view.search}

    def poll_widget(self, name: str, tick: int) -> None:
        """POST one widget's data callback for this tick of its interval (tick 0: the initial call)."""
        ids = self.plan.ids
        widget = ids.widgets[name]
        self.ticks[name] = tick
        trigger = f"{widget.interval}.n_intervals"
        inputs: dict[str, Any] = {trigger: tick or None, f"{ids.refresh_signal}.data": 0}
        state: dict[str, Any] = {}
        if widget.freshness:
            state[f"{widget.freshness}.data"] = self.freshness.get(name)
        if name == ACTIVITY:
            inputs[f"{ids.pager}.data"] = self.pager
            state.update(self.controls())
        if name == MEMORY:
            inputs[f"{ids.memory_window}.value"] = "1h"
        self.refresh(name, inputs, state, [trigger] if tick else [])

    def refresh(self, name: str, inputs: dict[str, Any], state: dict[str, Any], changed: list[str]) -> None:
        """POST a widget's data callback and keep what the page would keep: freshness, the next cursor."""
        widget = self.plan.ids.widgets[name]
        freshness = f"{widget.freshness}.data" if widget.freshness else None
        answer = self.post_callback(name, widget.output, inputs, state, changed, freshness)
        if not answer:
            return
        if freshness and freshness in answer:
            self.freshness[name] = answer[freshness]
        cursor_key = f"{self.plan.ids.next_cursor}.data"
        if name == ACTIVITY and cursor_key in answer:
            self.next_cursor = answer[cursor_key]

    def change_view(self, view: ActivityView) -> None:
        """Change one filter control: the URL follows, the pager resets, the feed refreshes."""
        ids = self.plan.ids
        field_name = next((name for name in ("kinds", "statuses", "directions", "search")
                           if getattr(view, name) != getattr(self.view, name)), "search")
        changed = [f"{ids.filters[field_name]}.value"]
        self.view = view
        self.sync_url(changed)
        self.move_pager(changed)

    def sync_url(self, changed: list[str]) -> None:
        """POST the URL/filter sync; when it rewrites the query string, the page posts it once more."""
        ids = self.plan.ids
        output = f"{ids.url}.search"
        inputs = {output: self.search, **self.controls()}
        answer = self.post_callback(URL_SYNC, output, inputs, {}, changed)
        if answer and output in answer:
            self.search = answer[output]
            self.post_callback(URL_SYNC, output, {**inputs, output: self.search}, {}, [output])

    def turn_page(self, older: bool) -> None:
        """Click "Older" or "Newer": the pager moves, the feed refreshes."""
        ids = self.plan.ids
        button = ids.older if older else ids.newer
        self.clicks[button] += 1
        self.move_pager([f"{button}.n_clicks"])

    def move_pager(self, changed: list[str]) -> None:
        """POST the pager callback, then the feed callback that the new pager triggers."""
        ids = self.plan.ids
        output = f"{ids.pager}.data"
        inputs = {f"{ids.older}.n_clicks": self.clicks[ids.older] or None,
                  f"{ids.newer}.n_clicks": self.clicks[ids.newer] or None, **self.controls()}
        state = {output: self.pager, f"{ids.next_cursor}.data": self.next_cursor}
        answer = self.post_callback(PAGER, output, inputs, state, changed)
        if answer and output in answer:
            self.pager = answer[output]
        widget = ids.widgets[ACTIVITY]
        feed_inputs = {f"{widget.interval}.n_intervals": self.ticks.get(ACTIVITY) or None,
                       f"{ids.refresh_signal}.data": 0, output: self.pager}
        feed_state = {f"{widget.freshness}.data": self.freshness.get(ACTIVITY), **self.controls()}
        self.refresh(ACTIVITY, feed_inputs, feed_state, [output])


def read_callback_answer(response, freshness: str | None) -> dict[str, Any] | None:
    """Return a Dash callback answer as {"id.prop": value}; mark errors and stale widgets as failures."""
    if response.status_code == 204:
        return {}
    if response.status_code != 200:
        response.failure(failure_reason(response))
        return None
    try:
        body = response.json()["response"]
        answer = {f"{component}.{prop}": value for component, props in body.items() for prop, value in props.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        response.failure("not a Dash callback answer")
        return None
    record = answer.get(freshness) if freshness else None
    if isinstance(record, dict) and record.get("stale"):
        response.failure(f"widget stale: {record.get('reason')}")
    return answer


class NaiveSession(BrowserSession):
    """A tab of the naive dashboard: its three widget endpoints, polled at the same intervals."""

    abstract = True

    def load_page(self) -> bool:
        """Fetch the page around the widgets."""
        self.get("/", "page /")
        return True

    def poll_widget(self, name: str, tick: int) -> None:
        """GET one widget's endpoint (the activity feed with the session's filter and page)."""
        path = NAIVE_PATHS[name]
        if name == ACTIVITY:
            query = urlencode(self.view.naive_query(self.page))
            path = f"{path}?{query}" if query else path
        self.get(path, name)

    def change_view(self, view: ActivityView) -> None:
        """Change the filter: the feed reloads on the first page."""
        self.view, self.page = view, 0
        self.poll_widget(ACTIVITY, 0)

    def turn_page(self, older: bool) -> None:
        """Go to the second page or back to the first: the feed reloads."""
        self.page = 1 if older else 0
        self.poll_widget(ACTIVITY, 0)


# --- servers ----------------------------------------------------------------------------------

@dataclass
class Server:
    """A gunicorn master this script started, its address and its log."""

    mode: str
    process: subprocess.Popen
    base_url: str
    log_path: Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_settings() -> dict[str, Any]:
    """Return the settings of gunicorn.conf.py (threads, timeouts) that the naive server copies."""
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def server_command(mode: str, bind: str, workers: int) -> list[str]:
    """Return the gunicorn command of a mode."""
    if mode == SWITCHBOARD:
        return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    settings = gunicorn_settings()
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
            "--worker-class", settings["worker_class"], "--threads", str(settings["threads"]),
            "--timeout", str(settings["timeout"]), "--graceful-timeout", str(settings["graceful_timeout"]),
            "--keep-alive", str(settings["keepalive"]), "--access-logfile", "-",
            "--access-logformat", settings["access_log_format"], "benchmarks.naive_dashboard:create_naive_app()"]


def server_environment(mode: str, bind: str, workers: int, database_url: str, redis_url: str,
                       cache_prefix: str | None) -> dict[str, str]:
    """Return the environment of a mode's server."""
    environ = {key: value for key, value in os.environ.items()
               if key not in {"CACHE_REDIS_URL", "CACHE_KEY_PREFIX", "GUNICORN_CMD_ARGS"}}
    environ.update({"DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"})
    if mode == SWITCHBOARD:
        environ.update({"CACHE_REDIS_URL": redis_url, "CACHE_KEY_PREFIX": cache_prefix or "",
                        "SWITCHBOARD_BIND": bind, "SWITCHBOARD_WORKERS": str(workers)})
    return environ


@contextmanager
def running_server(mode: str, workers: int, database_url: str, redis_url: str, log_dir: Path) -> Iterator[Server]:
    """Start a mode's gunicorn on a free 127.0.0.1 port, wait until it answers; always stop it."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    prefix = f"sb-load-{uuid.uuid4().hex[:12]}:" if mode == SWITCHBOARD else None
    log_path = log_dir / f"{mode}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(server_command(mode, bind, workers), cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=server_environment(mode, bind, workers, database_url, redis_url, prefix))
    server = Server(mode, process, f"http://{bind}", log_path)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop_server(server)
        if prefix:
            delete_redis_keys(redis_url, prefix)


def wait_until_answering(server: Server) -> None:
    """Wait until the server answers GET / with 200; fail with its log when it exits or never does."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchmarkError(f"{server.mode} server exited ({server.process.returncode}):\n{log_tail(server)}")
        try:
            with urlopen(f"{server.base_url}/", timeout=5) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        gevent.sleep(0.5)
    raise BenchmarkError(f"{server.mode} server did not answer within {SERVER_START_SECONDS:g} s:\n{log_tail(server)}")


def stop_server(server: Server) -> None:
    """Ask the gunicorn master to stop, then kill its process group if it lingers."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    # The workers are in the master's own session (start_new_session): this group is only this server.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def log_tail(server: Server, lines: int = 30) -> str:
    """Return the last lines of a server's log."""
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def log_summary(server: Server) -> str:
    """Count the tracebacks and worker timeouts a server logged."""
    text = server.log_path.read_text(errors="replace")
    return (f"server log: {text.count('Traceback')} tracebacks, {text.count('WORKER TIMEOUT')} worker timeouts, "
            f"{text.count('[ERROR]')} error lines")


def server_times(log_path: Path, offset: int) -> dict[str, tuple[int, float, float]]:
    """Return, per method and path, the count, p50 and p95 of the server's own request times after `offset`."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    times: dict[str, list[float]] = {}
    for line in lines:
        match = ACCESS_LINE.search(line.strip())
        if match:
            times.setdefault(f"{match['method']} {match['path']}", []).append(float(match["ms"]))
    return {key: (len(values), percentile(values, 0.50), percentile(values, 0.95)) for key, values in times.items()}


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which `fraction` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def scrape_statement_counters(base_url: str, workers: int) -> dict[str, dict[str, float]]:
    """Read every worker's statements-per-widget counters from /metrics (each answer is one worker's own)."""
    counters: dict[str, dict[str, float]] = {}
    for _ in range(workers * METRICS_TRIES_PER_WORKER):
        try:
            # urllib closes the connection after each request, so the next one may reach another worker.
            with urlopen(f"{base_url}/metrics", timeout=10) as response:
                text = response.read().decode()
        except (URLError, OSError):
            continue
        for line in text.splitlines():
            match = METRIC_LINE.match(line)
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
                counters.setdefault(labels["pid"], {})[labels["widget"]] = float(match["value"])
        if len(counters) >= workers:
            break
    return counters


def statements_by_widget(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """Return the statements each widget ran between two scrapes, summed over the workers."""
    totals: dict[str, float] = {}
    for pid, widgets in after.items():
        for widget, value in widgets.items():
            totals[widget] = totals.get(widget, 0.0) + value - before.get(pid, {}).get(widget, 0.0)
    return totals


def delete_redis_keys(redis_url: str, prefix: str) -> int:
    """Delete a run's keys (only those under its own prefix) from Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()


def pss_by_process(pid: int) -> list[int]:
    """Return the PSS of a process, then of each of its descendants, in bytes (empty when it is gone)."""
    import psutil

    try:
        master = psutil.Process(pid)
        processes = [master] + master.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_full_info().pss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sizes


def total_pss(pid: int) -> int | None:
    """Return the PSS of a process and all its descendants, in bytes (None when it is gone)."""
    sizes = pss_by_process(pid)
    return sum(sizes) if sizes else None


def process_cpu_seconds(processes) -> float:
    """Return the user + system CPU seconds of these processes (those still alive)."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def cpu_sample(server_pid: int) -> dict[str, float]:
    """Return CPU seconds so far: the host's busy time, the server's, this process's, the database's."""
    import psutil

    host = psutil.cpu_times()
    try:
        master = psutil.Process(server_pid)
        server = [master] + master.children(recursive=True)
    except psutil.NoSuchProcess:
        server = []
    database = [p for p in psutil.process_iter(["name"]) if p.info["name"] in {"mariadbd", "mysqld"}]
    return {"at": time.monotonic(), "host": host.user + host.nice + host.system + host.irq + host.softirq + host.steal,
            "server": process_cpu_seconds(server), "load generator": process_cpu_seconds([psutil.Process()]),
            "database": process_cpu_seconds(database)}


def cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return each consumer's CPU over the interval, in percent of one core; "other" is the rest of the host."""
    seconds = after["at"] - before["at"]
    if seconds <= 0:
        return {}
    shares = {name: 100.0 * (after[name] - before[name]) / seconds for name in after if name != "at"}
    shares["other"] = shares["host"] - shares["server"] - shares["load generator"] - shares["database"]
    return shares


# --- the database -----------------------------------------------------------------------------

def require_local(url: str, redis_url: str) -> None:
    """Refuse a database or a Redis that is not on this machine."""
    from benchmarks.naive_vs_switchboard import require_local_server

    require_local_server(url)
    if (urlparse(redis_url).hostname or "") not in LOCAL_HOSTS:
        raise BenchmarkError(f"only a Redis on {', '.join(LOCAL_HOSTS)} is accepted, not {redis_url}")


def newest_call_age_minutes(url: str) -> float | None:
    """Return how many minutes ago the newest call was created (None: no database or no calls)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from benchmarks.naive_vs_switchboard import database_exists
    from queries.timeutil import database_now

    server = sa.create_engine(make_url(url).set(database=""))
    try:
        if not database_exists(server, make_url(url).database):
            return None
    finally:
        server.dispose()
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("calls"):
            return None
        with engine.connect() as connection:
            newest = connection.execute(sa.text("SELECT MAX(created_at) FROM calls")).scalar_one()
    finally:
        engine.dispose()
    return None if newest is None else (database_now() - newest).total_seconds() / 60


def ensure_fresh_data(url: str) -> None:
    """Reseed the benchmark database when it is missing, too small, or older than 90 minutes."""
    from benchmarks.naive_vs_switchboard import prepare_database

    age = newest_call_age_minutes(url)
    stale = age is None or age > STALE_AFTER_MINUTES
    described = "no calls" if age is None else f"newest call {age:.0f} min old"
    print(f"benchmark data: {described}; {'reseeding' if stale else 'fresh enough'} "
          f"(reseeded when older than {STALE_AFTER_MINUTES} min)", flush=True)
    prepare_database(url, BENCH_CALLS, reseed=stale)


class DatabaseStatus:
    """Reads MariaDB's global status counters on one connection of its own."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def read(self) -> dict[str, int]:
        """Return Com_select, Questions and Bytes_sent now."""
        return {str(name): int(value) for name, value in self.connection.exec_driver_sql(STATUS_QUERY).all()}

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()
        self.engine.dispose()


def background_rates(status: DatabaseStatus, seconds: float) -> dict[str, float]:
    """Return the server's SELECT/min and bytes sent/min with no benchmark traffic (other clients' share)."""
    before, started = status.read(), time.monotonic()
    gevent.sleep(seconds)
    after, window = status.read(), time.monotonic() - started
    return {"selects": per_minute(after["Com_select"] - before["Com_select"], window),
            "bytes": per_minute(after["Bytes_sent"] - before["Bytes_sent"], window)}


def cancel_orphaned_queries(url: str) -> int:
    """Wait for queries on the benchmark database left by a stopped server; kill those that outlive the wait."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    busy = sa.text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND COMMAND = 'Query' "
                   "AND ID <> CONNECTION_ID()")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            deadline = time.monotonic() + ORPHAN_QUERY_WAIT_SECONDS
            ids = connection.execute(busy, {"db": make_url(url).database}).scalars().all()
            while ids and time.monotonic() < deadline:
                gevent.sleep(1.0)
                ids = connection.execute(busy, {"db": make_url(url).database}).scalars().all()
            for query_id in ids:
                connection.exec_driver_sql(f"KILL QUERY {int(query_id)}")
            return len(ids)
    finally:
        engine.dispose()


@contextmanager
def indexes_removed(url: str) -> Iterator[None]:
    """Run the block without Switchboard's indexes; always migrate them back."""
    from benchmarks.naive_vs_switchboard import indexes_removed as removed
    from db import create_writer_engine
    from schema.migrate import migrate

    writer = create_writer_engine(url)
    try:
        with removed(writer):
            yield
    finally:
        try:
            # Again, quietly: the reused block prints before it migrates, and a print can fail (a closed pipe).
            migrate(writer)
        finally:
            writer.dispose()


def ensure_indexes(url: str) -> None:
    """Apply Switchboard's migrations (a no-op when its indexes are in place)."""
    from db import create_writer_engine
    from schema.migrate import migrate

    writer = create_writer_engine(url)
    try:
        migrate(writer)
    finally:
        writer.dispose()


# --- one run ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Latency:
    """One request name's figures over a run's window."""

    name: str
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class RunResult:
    """What one mode at one N measured."""

    mode: str
    sessions: int
    workers: int
    window_seconds: float
    latencies: dict[str, Latency]
    requests: int
    failures: int
    errors: list[str]
    statements_per_minute: float
    questions_per_minute: float
    bytes_per_minute: float
    pss_end: int | None
    pss_peak: int | None
    pss_processes: list[int]
    drained: bool
    log_summary: str
    orphans_killed: int = 0
    resends: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    server_times: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    app_statements: dict[str, float] = field(default_factory=dict)  # per widget, per minute, from /metrics
    app_workers_seen: tuple[int, int] = (0, 0)  # workers with widget counters at the start and the end
    app_workers_gone: int = 0  # workers counted at the start, not at the end (replaced or not reached)
    background: dict[str, float] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        """Return the requests answered per second of the window."""
        return self.requests / self.window_seconds if self.window_seconds else 0.0


def widget_polls(mode: str) -> tuple[Poll, ...]:
    """Return a mode's widgets and their intervals, from config.py's defaults."""
    from config import load_config

    defaults = load_config(environ={})
    names = SWITCHBOARD_WIDGETS if mode == SWITCHBOARD else NAIVE_WIDGETS
    return tuple(Poll(name, float(defaults[INTERVAL_SETTINGS[name]])) for name in names)


def session_class(plan: RunPlan, base_url: str) -> type[BrowserSession]:
    """Return a concrete session class bound to this run's plan and server."""
    base = SwitchboardSession if plan.mode == SWITCHBOARD else NaiveSession
    return type(f"{base.__name__}Run", (base,), {"abstract": False, "host": base_url, "plan": plan})


def latencies(stats, names: Sequence[str]) -> dict[str, Latency]:
    """Return each request name's figures from Locust's statistics (all methods together)."""
    found = {}
    for name in names:
        entries = [entry for entry in stats.entries.values() if entry.name == name]
        if not entries:
            continue
        entry = entries[0]
        for other in entries[1:]:
            entry.extend(other)
        has_data = entry.num_requests > 0
        found[name] = Latency(name, entry.num_requests, entry.num_failures,
                              *(entry.get_response_time_percentile(p) if has_data else None
                                for p in (0.50, 0.95, 0.99)))
    return found


def error_lines(stats, limit: int = 5) -> list[str]:
    """Return the most frequent errors Locust recorded."""
    errors = sorted(stats.errors.values(), key=lambda error: error.occurrences, reverse=True)
    return [f"{error.occurrences}x {error.name}: {error.error}" for error in errors[:limit]]


def sample_pss_until(pid: int, ends: float) -> int | None:
    """Sample the server's total PSS every few seconds until `ends`; return the peak."""
    peak = None
    while time.monotonic() < ends:
        gevent.sleep(max(0.0, min(PSS_SAMPLE_SECONDS, ends - time.monotonic())))
        pss = total_pss(pid)
        if pss is not None:
            peak = pss if peak is None else max(peak, pss)
    return peak


def wait_for_sessions(runner, timeout: float) -> bool:
    """Wait until every session has had its last answers (or timed out); tell whether all did."""
    deadline = time.monotonic() + timeout
    while runner.user_count > 0 and time.monotonic() < deadline:
        gevent.sleep(0.5)
    return runner.user_count == 0


def drive_sessions(plan: RunPlan, server: Server, status: DatabaseStatus, seconds: float, warmup: float,
                   workers: int) -> RunResult:
    """Run the plan's sessions against a server: warm up, measure one window, let the last answers in."""
    environment = Environment(user_classes=[session_class(plan, server.base_url)], host=server.base_url)
    runner = environment.create_local_runner()
    try:
        plan.polling_ends = time.monotonic() + warmup + seconds
        runner.start(plan.sessions, spawn_rate=max(1.0, plan.sessions / SPAWN_SECONDS))
        gevent.sleep(warmup)
        counted = plan.mode == SWITCHBOARD
        counters_before = scrape_statement_counters(server.base_url, workers) if counted else {}
        environment.stats.reset_all()
        log_offset = server.log_path.stat().st_size
        before, started, cpu_before = status.read(), time.monotonic(), cpu_sample(server.process.pid)
        peak = sample_pss_until(server.process.pid, plan.polling_ends)
        after, window = status.read(), time.monotonic() - started
        cpu = cpu_shares(cpu_before, cpu_sample(server.process.pid))
        counters_after = scrape_statement_counters(server.base_url, workers) if counted else {}
        app_statements = {widget: per_minute(count, window)
                          for widget, count in statements_by_widget(counters_before, counters_after).items()}
        pss_processes = pss_by_process(server.process.pid)
        pss_end = sum(pss_processes) if pss_processes else None
        drained = wait_for_sessions(runner, CLIENT_TIMEOUT_SECONDS + DRAIN_MARGIN_SECONDS)
        stats = environment.stats
        names = [poll.name for poll in plan.polls] + [URL_SYNC, PAGER, COMPANY_OPTIONS]
        return RunResult(
            mode=plan.mode, sessions=plan.sessions, workers=workers, window_seconds=window,
            latencies=latencies(stats, names), requests=stats.total.num_requests,
            failures=stats.total.num_failures, errors=error_lines(stats),
            statements_per_minute=per_minute(after["Com_select"] - before["Com_select"], window),
            # The second SHOW GLOBAL STATUS counts itself in Questions.
            questions_per_minute=per_minute(after["Questions"] - before["Questions"] - 1, window),
            bytes_per_minute=per_minute(after["Bytes_sent"] - before["Bytes_sent"], window),
            pss_end=pss_end, pss_peak=max(filter(None, (peak, pss_end)), default=None),
            pss_processes=pss_processes, drained=drained, resends=plan.resends, cpu=cpu,
            server_times=server_times(server.log_path, log_offset), app_statements=app_statements,
            app_workers_seen=(len(counters_before), len(counters_after)),
            app_workers_gone=len(set(counters_before) - set(counters_after)),
            log_summary="")
    finally:
        runner.quit()


def per_minute(count: float, seconds: float) -> float:
    """Return a count over `seconds` as a rate per minute."""
    return count * 60.0 / seconds if seconds > 0 else 0.0


def run_mode(mode: str, sessions: int, arguments: argparse.Namespace, ids: DashIds | None,
             log_dir: Path) -> RunResult:
    """Start the mode's server, drive N sessions against it, stop it, and clear up after it."""
    print(f"\n== {mode}, {sessions} session(s), {arguments.workers} workers: "
          f"{arguments.warmup:g} s warm-up + {arguments.seconds:g} s measured ==", flush=True)
    plan = RunPlan(mode=mode, sessions=sessions, seed=arguments.seed, polls=widget_polls(mode), ids=ids,
                   aligned=arguments.aligned)
    status = DatabaseStatus(arguments.url)
    try:
        background = background_rates(status, BACKGROUND_SECONDS)
        with running_server(mode, arguments.workers, arguments.url, arguments.redis, log_dir) as server:
            result = drive_sessions(plan, server, status, arguments.seconds, arguments.warmup, arguments.workers)
        result = replace(result, log_summary=log_summary(server), background=background,
                         orphans_killed=cancel_orphaned_queries(arguments.url))
    finally:
        status.close()
    print("\n".join(run_lines(result)), flush=True)
    return result


def run_benchmark(arguments: argparse.Namespace) -> list[RunResult]:
    """Run every N in Switchboard mode with the indexes, then every N in naive mode without them."""
    modes = [mode for mode in MODES if mode in arguments.modes]
    ids = dash_ids() if SWITCHBOARD in modes else None
    results = []
    with tempfile.TemporaryDirectory(prefix="sb-load-") as log_dir:
        if SWITCHBOARD in modes:
            ensure_indexes(arguments.url)
            results += [run_mode(SWITCHBOARD, n, arguments, ids, Path(log_dir)) for n in arguments.sessions]
        if NAIVE in modes:
            with indexes_removed(arguments.url):
                results += [run_mode(NAIVE, n, arguments, None, Path(log_dir)) for n in arguments.sessions]
    return results


# --- report -----------------------------------------------------------------------------------

def milliseconds(value: float | None) -> str:
    """Format milliseconds, or a dash when there were none."""
    return "–" if value is None else f"{value:,.0f}"


def megabytes(value: int | None) -> str:
    """Format bytes as MB, or a dash when unknown."""
    return "–" if value is None else f"{value / MB:,.1f} MB"


def run_lines(result: RunResult) -> list[str]:
    """Return the lines describing one run."""
    lines = [f"  {'request':<26}{'count':>7}{'fails':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"]
    for latency in result.latencies.values():
        lines.append(f"  {latency.name:<26}{latency.requests:>7,}{latency.failures:>7,}{milliseconds(latency.p50):>9}"
                     f"{milliseconds(latency.p95):>9}{milliseconds(latency.p99):>9}")
    for key, (count, p50, p95) in sorted(result.server_times.items()):
        if count >= 2:
            lines.append(f"  server's own time, {key}: {count:,} requests, p50 {p50:,.0f} ms, p95 {p95:,.0f} ms")
    lines += [
        f"  requests/s {result.requests_per_second:,.2f} · errors {result.failures:,} of {result.requests:,} "
        f"· window {result.window_seconds:.1f} s · {result.resends} request(s) resent after a dropped "
        f"keep-alive connection (whole run){'' if result.drained else ' · some sessions did not drain'}",
        f"  database: {result.statements_per_minute:,.1f} SELECT/min (Com_select) · "
        f"{result.questions_per_minute:,.1f} statements/min (Questions) · "
        f"{result.bytes_per_minute:,.0f} bytes sent/min",
        *([f"  Switchboard's own count (/metrics; workers with counters at start/end: "
           f"{result.app_workers_seen[0]}/{result.app_workers_seen[1]} of {result.workers}): "
           f"{sum(result.app_statements.values()):,.1f} statements/min = "
           + " + ".join(f"{widget} {rate:,.1f}" for widget, rate in sorted(result.app_statements.items()) if rate)
           + (f" (an undercount: {result.app_workers_gone} worker(s) counted at the start were not found at the "
              f"end, replaced by max_requests or not reached, and their counts are missing)"
              if result.app_workers_gone else "")]
          if result.mode == SWITCHBOARD else []),
        f"  CPU over the window, % of one core (the host has {os.cpu_count()}): "
        + " · ".join(f"{name} {share:,.0f}" for name, share in result.cpu.items()),
        f"  background before the run (no benchmark traffic, {BACKGROUND_SECONDS:g} s): "
        f"{result.background.get('selects', 0):,.1f} SELECT/min · "
        f"{result.background.get('bytes', 0):,.0f} bytes sent/min",
        f"  PSS of gunicorn master + workers: {megabytes(result.pss_end)} at the end "
        f"(peak of samples {megabytes(result.pss_peak)}); master, then workers: "
        + " + ".join(f"{size / MB:,.0f}" for size in result.pss_processes) + " MB",
        f"  {result.log_summary}" + (f" · killed {result.orphans_killed} orphaned queries"
                                     if result.orphans_killed else ""),
    ]
    lines += [f"  error: {line}" for line in result.errors]
    return lines


def verdict(ok: bool | None) -> str:
    """Return PASS, FAIL, or SKIP when the run needed for the check was not made."""
    return "SKIP" if ok is None else ("PASS" if ok else "FAIL")


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """Return numerator / denominator, or None when either is missing or the denominator is zero."""
    return numerator / denominator if numerator is not None and denominator else None


def format_ratio(value: float | None) -> str:
    """Format a ratio as '12.3x', or 'n/a'."""
    return "n/a" if value is None else f"{value:,.1f}x"


def check_lines(results: list[RunResult]) -> list[str]:
    """Return the PASS/FAIL lines of issue 5's expectations."""
    by_key = {(r.mode, r.sessions): r for r in results}
    at_load = by_key.get((SWITCHBOARD, CHECK_SESSIONS))
    baseline = by_key.get((SWITCHBOARD, CHECK_BASELINE_SESSIONS))
    lines = []
    for name in SWITCHBOARD_WIDGETS:
        latency = at_load.latencies.get(name) if at_load else None
        ok = None if latency is None or latency.p95 is None else latency.p95 < MAX_P95_MS
        lines.append(f"{verdict(ok)}  {CHECK_SESSIONS} sessions, {name} p95 < {MAX_P95_MS:g} ms "
                     f"({milliseconds(latency.p95 if latency else None)} ms)")
    lines.append(f"{verdict(None if at_load is None else at_load.failures == 0)}  {CHECK_SESSIONS} sessions, "
                 f"no errors ({'–' if at_load is None else at_load.failures} of "
                 f"{'–' if at_load is None else at_load.requests} failed)")
    pss = at_load.pss_end if at_load else None
    lines.append(f"{verdict(None if pss is None else pss < MAX_PSS_MB * MB)}  {CHECK_SESSIONS} sessions, total PSS "
                 f"< {MAX_PSS_MB:g} MB ({megabytes(pss)})")
    growth = ratio(at_load.statements_per_minute if at_load else None,
                   baseline.statements_per_minute if baseline else None)
    lines.append(f"{verdict(None if growth is None else growth <= MAX_STATEMENT_GROWTH)}  statements/min at "
                 f"{CHECK_SESSIONS} sessions within {MAX_STATEMENT_GROWTH:g}x of {CHECK_BASELINE_SESSIONS} session "
                 f"({'–' if at_load is None else f'{at_load.statements_per_minute:,.1f}'} vs "
                 f"{'–' if baseline is None else f'{baseline.statements_per_minute:,.1f}'}: {format_ratio(growth)})")
    app_growth = ratio(sum(at_load.app_statements.values()) if at_load else None,
                       sum(baseline.app_statements.values()) if baseline else None)
    lines.append(f"info  the same from Switchboard's own count (/metrics, no other client counted): "
                 f"{format_ratio(app_growth)}")
    return lines + naive_check_lines(by_key)


def naive_check_lines(by_key: dict[tuple[str, int], RunResult]) -> list[str]:
    """Return the naive-against-Switchboard lines at 10 sessions."""
    naive = by_key.get((NAIVE, CHECK_NAIVE_SESSIONS))
    switchboard = by_key.get((SWITCHBOARD, CHECK_NAIVE_SESSIONS))
    both = naive is not None and switchboard is not None
    bytes_ratio = ratio(naive.bytes_per_minute, switchboard.bytes_per_minute) if both else None
    lines = [f"{verdict(None if bytes_ratio is None else bytes_ratio >= MIN_BYTES_RATIO)}  {CHECK_NAIVE_SESSIONS} "
             f"sessions, database bytes naive/switchboard >= {MIN_BYTES_RATIO:g}x ({format_ratio(bytes_ratio)})"]
    for name in NAIVE_WIDGETS:
        p95_ratio = None
        if both and name in naive.latencies and name in switchboard.latencies:
            p95_ratio = ratio(naive.latencies[name].p95, switchboard.latencies[name].p95)
        if name == ONGOING:
            lines.append(f"{verdict(None if p95_ratio is None else p95_ratio >= MIN_P95_RATIO)}  "
                         f"{CHECK_NAIVE_SESSIONS} sessions, {name} p95 naive/switchboard >= {MIN_P95_RATIO:g}x "
                         f"({format_ratio(p95_ratio)})")
        else:
            lines.append(f"info  {CHECK_NAIVE_SESSIONS} sessions, {name} p95 naive/switchboard "
                         f"{format_ratio(p95_ratio)}")
    return lines


def markdown_table(results: list[RunResult]) -> list[str]:
    """Return the README's table: one row per mode and N."""
    header = ("| mode | sessions | req/s | errors | p95 ms: ongoing · activity · stats · memory · self-cost "
              "| SELECT/min | DB bytes sent/min | PSS master + workers |")
    lines = [header, "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for result in results:
        p95s = " · ".join(milliseconds(result.latencies[name].p95) if name in result.latencies else "–"
                          for name in SWITCHBOARD_WIDGETS)
        lines.append(f"| {result.mode} | {result.sessions} | {result.requests_per_second:,.1f} | "
                     f"{result.failures:,} / {result.requests:,} | {p95s} | {result.statements_per_minute:,.0f} | "
                     f"{result.bytes_per_minute:,.0f} | {megabytes(result.pss_end)} |")
    return lines


def print_report(results: list[RunResult]) -> None:
    """Print the expectations, then the README table."""
    print("\n== expectations (issue 5) ==")
    print("\n".join(check_lines(results)))
    print("\n== table ==\n")
    print("\n".join(markdown_table(results)))


# --- command line -----------------------------------------------------------------------------

def session_counts(text: str) -> list[int]:
    """Parse "1,10,50" into positive whole numbers."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not counts or any(count <= 0 for count in counts):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return counts


def positive_number(text: str) -> float:
    """Parse a positive number."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def modes(text: str) -> list[str]:
    """Parse "switchboard,naive"."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [mode for mode in chosen if mode not in MODES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}; got {text!r}")
    return chosen


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Load benchmark: Switchboard against the naive dashboard.")
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"benchmark database on this machine (default {DEFAULT_URL})")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis on this machine (default {DEFAULT_REDIS})")
    parser.add_argument("--sessions", type=session_counts, default=session_counts(DEFAULT_SESSIONS),
                        help=f"numbers of simulated sessions, one run each (default {DEFAULT_SESSIONS})")
    parser.add_argument("--seconds", type=positive_number, default=DEFAULT_SECONDS,
                        help=f"measured seconds per run, after the warm-up (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"gunicorn workers of both servers (default {DEFAULT_WORKERS})")
    parser.add_argument("--warmup", type=positive_number, default=DEFAULT_WARMUP,
                        help=f"seconds of page loads and first polls not counted (default {DEFAULT_WARMUP:g})")
    parser.add_argument("--modes", type=modes, default=list(MODES), help="modes to run (default switchboard,naive)")
    parser.add_argument("--aligned", action="store_true",
                        help="open every tab within the warm-up so that all polls are in step (everyone opening "
                             "the dashboard at once); default: each tab was opened at a random moment")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sessions' random filter changes")
    return parser.parse_args(argv)


def interrupt(signum: int, frame: Any) -> None:
    """Turn SIGTERM into an interruption, so that servers are stopped and indexes restored."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; 0 whatever the figures, 2 when it cannot run."""
    import sqlalchemy as sa

    sys.path.insert(0, str(ROOT))
    from benchmarks.naive_vs_switchboard import BenchmarkError as SeedError

    arguments = parse_arguments(argv)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        require_local(arguments.url, arguments.redis)
        ensure_fresh_data(arguments.url)
        results = run_benchmark(arguments)
    except (BenchmarkError, SeedError, sa.exc.OperationalError) as error:
        print(f"benchmark cannot run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchmark interrupted: servers stopped, indexes restored", file=sys.stderr)
        return 130
    print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
