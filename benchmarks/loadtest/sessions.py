"""Simulated browser tabs: a page load, then every widget polled on its own interval (see __init__.py).

benchmarks/load.py runs these sessions with Locust as a library. Locust's own runner takes this file too,
against a Switchboard that is already running (from the repository root, so that its modules import):

    locust -f benchmarks/loadtest/sessions.py --host http://127.0.0.1:8050 --users 10 --run-time 60s
"""
from __future__ import annotations

# Importing Locust applies gevent's monkey patching, which must precede the modules that open sockets.
import gevent
import gevent.pool
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

import functools
import itertools
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlencode

from benchmarks.loadtest.page import PolledWidget, dependencies_by_output, layout_props, polled_widgets
from benchmarks.loadtest.servers import SWITCHBOARD

DEFAULT_SEED = 5

# The naive dashboard has no Dash page to read its widgets from: its three endpoints, named as Switchboard's
# widgets of the same data are (their interval ids without "-interval"), polled at Switchboard's default intervals.
NAIVE_FEED = "activity"
NAIVE_WIDGETS = {"ongoing": ("/ongoing-calls", "ONGOING_CALLS_POLL_SECONDS"),
                 NAIVE_FEED: ("/recent-activity", "ACTIVITY_POLL_SECONDS"),
                 "stats": ("/headline-stats", "HEADLINE_STATS_POLL_SECONDS")}
URL_SYNC = "activity url sync"
PAGER = "activity pager"
COMPANY_OPTIONS = "company options"
BATCH = "batch"  # the polls of one tick, in one request
PART = "PART"  # the method under which a batch's parts are recorded, each under its widget's name
PAGE_REQUESTS = (URL_SYNC, PAGER, COMPANY_OPTIONS, BATCH)  # named requests besides the widgets' polls

BROWSER_CONNECTIONS = 6  # a browser's limit of concurrent HTTP/1.1 connections to one host
CLIENT_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
EXCURSION_MEAN_SECONDS = 120.0
EXCURSION_STAY_SECONDS = (15.0, 60.0)
OLDER_SHARE = 0.25
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


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
class FeedIds:
    """The activity feed's controls a session changes, taken from its widget module."""

    url: str
    pager: str
    next_cursor: str
    older: str
    newer: str
    company: str
    filters: dict[str, str]  # ActivityView field (or "company", "window") -> control id
    default_window: str


@functools.cache
def feed_ids() -> FeedIds:
    """Return the ids of the activity feed's controls, read from its widget module."""
    from queries.activity import DEFAULT_WINDOW
    from widgets import activity

    filters = {"kinds": activity.KIND, "statuses": activity.STATUS_FILTER, "directions": activity.DIRECTION,
               "company": activity.COMPANY, "window": activity.WINDOW, "search": activity.SEARCH}
    return FeedIds(url=activity.URL, pager=activity.PAGER, next_cursor=activity.NEXT_CURSOR, older=activity.OLDER,
                   newer=activity.NEWER, company=activity.COMPANY, filters=filters, default_window=DEFAULT_WINDOW)


def naive_polls() -> tuple[Poll, ...]:
    """Return the naive dashboard's widgets and their intervals, from config.py's defaults."""
    from config import load_config

    defaults = load_config(environ={})
    return tuple(Poll(name, float(defaults[setting])) for name, (_, setting) in NAIVE_WIDGETS.items())


@dataclass
class RunPlan:
    """What the sessions of one run share: mode, size, seed, and when polling stops."""

    mode: str
    sessions: int
    seed: int = DEFAULT_SEED
    aligned: bool = False
    batched: bool = True  # the polls due at one tick go as one request, as the page sends them (serving/batch.py)
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
    polls: tuple[Poll, ...] = ()  # set by load_page

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
        origin = opened if self.plan.aligned else opened - self.rng.uniform(0, max(p.seconds for p in self.polls))
        if self.plan.batched:
            loops = [gevent.spawn(self.poll_together, opened, origin)]
        else:
            loops = [gevent.spawn(self.poll_every, poll, opened, origin) for poll in self.polls]
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

    def poll_together(self, opened: float, origin: float) -> None:
        """Poll every widget on the tab's clock as poll_every does, the polls due at one tick in one request."""
        self.in_flight.spawn(self.poll_widgets, [(poll.name, 0) for poll in self.polls])
        ticks = {poll.name: math.floor((opened - origin) / poll.seconds) + 1 for poll in self.polls}
        seconds = {poll.name: poll.seconds for poll in self.polls}
        while True:
            due = min(origin + ticks[name] * seconds[name] for name in ticks)
            if due >= self.plan.polling_ends:
                return
            gevent.sleep(max(0.0, due - time.monotonic()))
            batch = [(name, tick) for name, tick in ticks.items() if origin + tick * seconds[name] <= due + 1e-6]
            for name, _ in batch:
                ticks[name] += 1
            self.in_flight.spawn(self.poll_widgets, batch)

    def poll_widgets(self, polls: list[tuple[str, int]]) -> None:
        """Poll these widgets at these ticks (one by one, unless the session batches them)."""
        for name, tick in polls:
            self.poll_widget(name, tick)

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
        """Load the page and set the polls; tell whether polling can start."""
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
    """A tab of Switchboard: Dash callbacks posted as the renderer posts them.

    As the renderer does, the session keeps the page's props ("id.prop": value), starting from the layout
    and updated by every callback answer, and sends a callback's inputs and state from them; only the feed's
    filter controls are the session's own choice.
    """

    abstract = True

    def load_page(self) -> bool:
        """Fetch the page, its layout and its callbacks, then the company list, as a page load does."""
        ids = feed_ids()
        self.get("/", "page /")
        layout = self.get("/_dash-layout", "page /_dash-layout")
        dependencies = self.get("/_dash-dependencies", "page /_dash-dependencies")
        if not dependencies or not layout:
            return False
        self.callbacks = dependencies_by_output(dependencies)
        self.widgets = {widget.name: widget for widget in polled_widgets(dependencies, layout)}
        self.polls = tuple(Poll(widget.name, widget.seconds) for widget in self.widgets.values())
        # The feed is the polled widget that the pager drives.
        self.feed = next((widget for widget in self.widgets.values()
                          if f"{ids.pager}.data" in {f"{e['id']}.{e['property']}" for e in widget.callback["inputs"]}),
                         None)
        # The browser's location on "/": dcc.Location reports it, the layout does not hold it.
        self.props = {**layout_props(layout), f"{ids.url}.pathname": "/", f"{ids.url}.search": ""}
        self.ticks: dict[str, int] = {}
        self.clicks = {ids.older: 0, ids.newer: 0}
        self.post_callback(COMPANY_OPTIONS, self.callbacks[f"{ids.company}.options"], {}, [])
        return True

    def post_callback(self, name: str, callback: dict, values: dict[str, Any], changed: list[str],
                      kept: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """POST one callback with the page's props (`values` first); keep its answer; return it as
        {"id.prop": value}, or None when it failed."""
        with self.client.post("/_dash-update-component", data=json.dumps(self.payload(callback, values, changed)),
                              headers=JSON_HEADERS,
                              name=name, catch_response=True) as response:
            answer = read_callback_answer(response, kept)
        if answer:
            self.props.update(answer)
        return answer

    def payload(self, callback: dict, values: dict[str, Any], changed: list[str]) -> dict[str, Any]:
        """Return a callback's request body from the page's props and controls (`values` first)."""
        from access.callback_guard import callback_body  # the project's modules: importable once the root is on the path

        values = {**self.props, **self.controls(), **values}
        return callback_body(callback, values, values, changed)

    def controls(self) -> dict[str, Any]:
        """Return the filter controls' values, as the renderer reads them from the page."""
        ids = feed_ids()
        return {f"{ids.filters['kinds']}.value": list(self.view.kinds),
                f"{ids.filters['statuses']}.value": list(self.view.statuses),
                f"{ids.filters['directions']}.value": list(self.view.directions),
                f"{ids.filters['company']}.value": [],
                f"{ids.filters['window']}.value": ids.default_window,
                f"{ids.filters['search']}.value": self.view.search}

    def poll_widget(self, name: str, tick: int) -> None:
        """POST one widget's data callback for this tick of its interval (tick 0: the initial call)."""
        widget = self.widgets[name]
        self.ticks[name] = tick
        self.refresh(widget, tick, [widget.trigger] if tick else [])

    def poll_widgets(self, polls: list[tuple[str, int]]) -> None:
        """POST the data callbacks of the widgets due at one tick as the parts of one batch, as the page does.

        The batch is recorded as BATCH; each part under its widget's name (method PART, with the batch's time):
        the statistics stay per widget, and the run's request count is of HTTP requests (PART not counted)."""
        from access.pages import BATCH_PATH

        if len(polls) == 1:
            self.poll_widget(*polls[0])
            return
        widgets, parts = [], []
        for name, tick in polls:
            widget = self.widgets[name]
            self.ticks[name] = tick
            widgets.append(widget)
            parts.append(self.payload(widget.callback, {widget.trigger: tick or None},
                                      [widget.trigger] if tick else []))
        started = time.perf_counter()
        with self.client.post(BATCH_PATH, data=json.dumps({"parts": parts}), headers=JSON_HEADERS, name=BATCH,
                              catch_response=True) as response:
            answers = read_batch_answers(response, len(parts))
        elapsed_ms = (time.perf_counter() - started) * 1000
        for widget, answer in zip(widgets, answers):
            outcome, failure = read_part_answer(answer, widget.kept)
            if outcome:
                self.props.update(outcome)
            self.environment.events.request.fire(
                request_type=PART, name=widget.name, response_time=elapsed_ms,
                response_length=len((answer or {}).get("body") or ""), response=None, context={},
                exception=None if failure is None else PartFailure(failure))

    def refresh(self, widget: PolledWidget, tick: int, changed: list[str]) -> None:
        """POST a widget's data callback at this tick of its interval."""
        self.post_callback(widget.name, widget.callback, {widget.trigger: tick or None}, changed, widget.kept)

    def change_view(self, view: ActivityView) -> None:
        """Change one filter control: the URL follows, the pager resets, the feed refreshes."""
        ids = feed_ids()
        field_name = next((name for name in ("kinds", "statuses", "directions", "search")
                           if getattr(view, name) != getattr(self.view, name)), "search")
        changed = [f"{ids.filters[field_name]}.value"]
        self.view = view
        self.sync_url(changed)
        self.move_pager(changed)

    def sync_url(self, changed: list[str]) -> None:
        """POST the URL/filter sync; when it rewrites the query string, the page posts it once more."""
        output = f"{feed_ids().url}.search"
        answer = self.post_callback(URL_SYNC, self.callbacks[output], {}, changed)
        if answer and output in answer:
            self.post_callback(URL_SYNC, self.callbacks[output], {}, [output])

    def turn_page(self, older: bool) -> None:
        """Click "Older" or "Newer": the pager moves, the feed refreshes."""
        ids = feed_ids()
        button = ids.older if older else ids.newer
        self.clicks[button] += 1
        self.move_pager([f"{button}.n_clicks"])

    def move_pager(self, changed: list[str]) -> None:
        """POST the pager callback, then the feed callback that the new pager triggers."""
        ids = feed_ids()
        output = f"{ids.pager}.data"
        clicks = {f"{button}.n_clicks": count or None for button, count in self.clicks.items()}
        self.post_callback(PAGER, self.callbacks[output], clicks, changed)
        if self.feed is not None:
            self.refresh(self.feed, self.ticks.get(self.feed.name, 0), [output])


def read_callback_answer(response, kept: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Return a Dash callback answer as {"id.prop": value}; mark errors and stale widgets as failures."""
    if response.status_code not in (200, 204):
        response.failure(failure_reason(response))
        return None
    answer, failure = callback_outcome(response.status_code, response.json, kept)
    if failure is not None:
        response.failure(failure)
    return answer


def callback_outcome(status: int | None, read_body, kept: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    """Return a callback's answer as {"id.prop": value} (None when there is none) and why it failed (None when
    it did not): its status, a body that is not a Dash answer, or a stale widget (`kept`: its freshness store)."""
    if status == 204:
        return {}, None
    if status != 200:
        return None, f"HTTP {status}"
    try:
        body = read_body()["response"]
        answer = {f"{component}.{prop}": value for component, props in body.items() for prop, value in props.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, "not a Dash callback answer"
    for key in kept:  # a widget's freshness store, which says when its query failed
        record = answer.get(key)
        if isinstance(record, dict) and record.get("stale"):
            return answer, f"widget stale: {record.get('reason')}"
    return answer, None


class PartFailure(Exception):
    """Why one part of a batch failed (its status, or its widget's stale reason)."""


def read_batch_answers(response, count: int) -> list[dict | None]:
    """Return a batch's answers, one per part (None for each when the batch itself failed)."""
    if response.status_code != 200:
        response.failure(failure_reason(response))
        return [None] * count
    try:
        answers = response.json()["answers"]
    except (ValueError, KeyError, TypeError):
        answers = None
    if not isinstance(answers, list) or len(answers) != count:
        response.failure("not a batch's answers")
        return [None] * count
    return answers


def read_part_answer(answer: dict | None, kept: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    """Return a part's answer as {"id.prop": value} and why it failed (None when it did not)."""
    if answer is None:
        return None, "the batch failed"
    return callback_outcome(answer.get("status"), lambda: json.loads(answer["body"]), kept)


class NaiveSession(BrowserSession):
    """A tab of the naive dashboard: its three widget endpoints, polled at the same intervals."""

    abstract = True

    def load_page(self) -> bool:
        """Fetch the page around the widgets."""
        self.polls = naive_polls()
        self.get("/", "page /")
        return True

    def poll_widget(self, name: str, tick: int) -> None:
        """GET one widget's endpoint (the activity feed with the session's filter and page)."""
        path = NAIVE_WIDGETS[name][0]
        if name == NAIVE_FEED:
            query = urlencode(self.view.naive_query(self.page))
            path = f"{path}?{query}" if query else path
        self.get(path, name)

    def change_view(self, view: ActivityView) -> None:
        """Change the filter: the feed reloads on the first page."""
        self.view, self.page = view, 0
        self.poll_widget(NAIVE_FEED, 0)

    def turn_page(self, older: bool) -> None:
        """Go to the second page or back to the first: the feed reloads."""
        self.page = 1 if older else 0
        self.poll_widget(NAIVE_FEED, 0)


class SwitchboardTab(SwitchboardSession):
    """A Switchboard tab for Locust's own runner (`locust -f`, above); polls until Locust stops it."""

    abstract = False
    plan = RunPlan(mode=SWITCHBOARD, sessions=0)
