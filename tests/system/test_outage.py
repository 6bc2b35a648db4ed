"""MariaDB unreachable under load, behind gunicorn, in two ways: the port refuses (every connection dropped,
new ones closed at once) and the network is black-holed (connections accepted, nothing ever answered). No
worker dies, no 5xx, widgets go stale with the reason and are fresh again once the database is back; and the
outage costs the database the same with six watchers as with one, counted at the proxy:
connections accepted and MySQL commands sent during the cut. While black-holed, /healthz answers sooner than a database read could time out.

The database sits behind an in-test TCP proxy. Clients poll three widgets over real HTTP throughout; every
answer is recorded with when it was asked.
"""
from __future__ import annotations

import http.client
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import psutil
import pytest
from sqlalchemy.engine import make_url

from database.engines import network_timeout_seconds
from tests.support.databases import REDIS_URL, require_redis
from tests.support.dash_client import HttpDashClient
from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.tcp_proxy import TcpProxy
from widgets.feed_page import recent_prefetch_seconds

pytestmark = [pytest.mark.mariadb, pytest.mark.redis]

OUTAGE_SECONDS = 12.0
HEALTHY_SECONDS = 2.0
STATEMENT_TIMEOUT_MS = 2000
POLL_SECONDS = {"ongoing": 1, "activity": 2, "headline": 2}
POLL_SECONDS_MOST = max(POLL_SECONDS.values())
# Fresh again within one hold of the connection gate (db.ConnectionGate) plus the rest of a failure's slot, with
# two seconds for a machine shared with the rest of the suite: quiet, the last stale answer comes 1-4.5 s after
# the return; with three other test workers busy, 5.5 s was seen.
SCHEDULING_SECONDS = 2.0
RECOVERY_SECONDS = network_timeout_seconds(STATEMENT_TIMEOUT_MS) + POLL_SECONDS_MOST + SCHEDULING_SECONDS
AFTER_SECONDS = RECOVERY_SECONDS + 2.5
WATCHERS = (1, 6)
WORKERS = 2
PAUSE_SECONDS = 0.2
HEALTH_EVERY_SECONDS = 0.2
# Under the reader's network timeout (3 s here): an answer within it cannot have waited on the black-holed
# database, however busy the machine (quiet, the slowest is about 0.2 s; with three suites at once, 1.1 s).
HEALTH_WITHIN_SECONDS = network_timeout_seconds(STATEMENT_TIMEOUT_MS) - 1.0
MOST_COST_RATIO = 1.5  # six watchers' connections and commands during the cut, against one watcher's
REASONS = {"refused": {"database unreachable"},
           # a waiter whose wait ran out while the first attempt hangs says so (caching.WAITING_REASON)
           "black-holed": {"database unreachable", "waiting for the database"}}
ACTIVITY_STATE = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
                  "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": "",
                  "activity-freshness.data": None}
WIDGETS = {
    "ongoing": ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}, {},
                "ongoing-freshness.data"),
    "activity": ("activity-grid.rowData", {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
                                           "activity-pager.data": None}, ACTIVITY_STATE, "activity-freshness.data"),
    "headline": ("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0}, {},
                 "stats-freshness.data"),
}


@dataclass
class Answer:
    widget: str
    asked_at: float
    answered_at: float
    status: int | None  # None: the connection itself failed
    stale: bool | None
    reason: str


@pytest.fixture
def gunicorn_behind_a_proxy(seeded_mariadb, tmp_path):
    require_redis()
    url = make_url(seeded_mariadb.url)
    with TcpProxy(url.host, url.port or 3306) as proxy:
        port = free_port()
        environment = {
            **os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "SWITCHBOARD_WORKERS": str(WORKERS),
            "SWITCHBOARD_THREADS": "4",
            "DATABASE_URL": url.set(port=proxy.port).render_as_string(hide_password=False),
            "CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": f"sbtest-{uuid.uuid4().hex[:10]}:",
            "ONGOING_CALLS_POLL_SECONDS": str(POLL_SECONDS["ongoing"]),
            "ACTIVITY_POLL_SECONDS": str(POLL_SECONDS["activity"]),
            "HEADLINE_STATS_POLL_SECONDS": str(POLL_SECONDS["headline"]),
            "STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS), "MEMORY_SAMPLER": "false",
            # The alert evaluator probes the database once a period per deployment, whatever the watchers; its
            # connections would blur the per-watcher counts (it has its own test: test_alert_outage.py).
            "ALERTS": "false",
            "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}",
            # No planned recycling (max_requests) during the test: any worker replaced is one that died.
            "GUNICORN_CMD_ARGS": "--max-requests 0",
        }
        with running_gunicorn(environment, port, WORKERS) as server:
            yield port, proxy, server.process
        print("\n".join(line for line in server.errors.splitlines() if "WARNING" in line or "ERROR" in line)[-4000:])


def _poll_until(port: int, stop: threading.Event, answers: list[Answer], lock: threading.Lock) -> None:
    client = HttpDashClient("127.0.0.1", port)
    while not stop.is_set():
        for widget, (output, inputs, state, freshness_key) in WIDGETS.items():
            asked = time.monotonic()
            try:
                status, updated = client.call(output, inputs, state)
                failure = ""
            except (http.client.HTTPException, OSError) as error:
                status, updated, failure = None, {}, repr(error)
            freshness = updated.get(freshness_key) or {}
            with lock:
                answers.append(Answer(widget, asked, time.monotonic(), status, freshness.get("stale"),
                                      freshness.get("reason", failure)))
        stop.wait(PAUSE_SECONDS)


def _until_every_widget_is_fresh(port: int, seconds: float = 30.0) -> None:
    """Poll each widget until it answers fresh: the server is warm before the clock starts."""
    client = HttpDashClient("127.0.0.1", port)
    deadline = time.monotonic() + seconds
    waiting = set(WIDGETS)
    while waiting and time.monotonic() < deadline:
        for widget in sorted(waiting):
            output, inputs, state, freshness_key = WIDGETS[widget]
            status, updated = client.call(output, inputs, state)
            if status == 200 and (updated.get(freshness_key) or {}).get("stale") is False:
                waiting.discard(widget)
        time.sleep(0.2)
    assert not waiting, f"never fresh before the outage: {sorted(waiting)}"


@dataclass
class Outage:
    watchers: int
    cut_at: float
    restored_at: float
    connections: int  # accepted by the proxy during the cut
    commands: int  # MySQL commands the workers sent during the cut
    answers: list[Answer]
    health_seconds: list[float] = field(default_factory=list)  # each /healthz answer's time, during the cut

    def recovered_after(self) -> float:
        """Seconds from the database's return to the last stale answer asked after it (0: none was stale)."""
        return max((a.asked_at - self.restored_at for a in self.answers
                    if a.asked_at >= self.restored_at and a.stale), default=0.0)


def _probe_health(port: int, stop: threading.Event, seconds: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
        except OSError:
            ok = False
        finally:
            connection.close()
        seconds.append(time.monotonic() - started if ok else float("inf"))
        stop.wait(HEALTH_EVERY_SECONDS)


def _outage(port: int, proxy: TcpProxy, mode: str, watchers: int) -> Outage:
    """Poll with this many watchers, cut the database in this mode for OUTAGE_SECONDS, restore it, and
    return what was answered and what the cut cost the database."""
    answers: list[Answer] = []
    lock, stop, health_stop = threading.Lock(), threading.Event(), threading.Event()
    health: list[float] = []
    threads = [threading.Thread(target=_poll_until, args=(port, stop, answers, lock), daemon=True)
               for _ in range(watchers)]
    for thread in threads:
        thread.start()
    time.sleep(HEALTHY_SECONDS)
    prober = threading.Thread(target=_probe_health, args=(port, health_stop, health), daemon=True)
    connections, commands = proxy.accepted, proxy.mysql_commands
    cut_at = time.monotonic()
    proxy.cut() if mode == "refused" else proxy.black_hole()
    prober.start()
    time.sleep(OUTAGE_SECONDS)
    health_stop.set()
    connections, commands = proxy.accepted - connections, proxy.mysql_commands - commands
    restored_at = time.monotonic()
    proxy.restore()
    prober.join(timeout=15)
    time.sleep(AFTER_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=40)
    return Outage(watchers, cut_at, restored_at, connections, commands, answers, health)


def _check_answers(outage: Outage, mode: str) -> None:
    """Fresh before the cut, stale with the reason during it, fresh again once the database is back."""
    answers, cut_at, restored_at = outage.answers, outage.cut_at, outage.restored_at
    assert all(answer.status == 200 for answer in answers), \
        [(a.widget, round(a.asked_at - cut_at, 2), a.status, a.reason) for a in answers if a.status != 200][:5]
    # Asked in time to be answered before the cut (an answer computed after it is rightly stale).
    before = [a for a in answers if a.asked_at < cut_at - 0.5]
    assert before and not any(a.stale for a in before), \
        [(a.widget, round(a.asked_at - cut_at, 2), a.reason) for a in before if a.stale][:10]
    # Once each widget's cached result has expired, every answer during the outage says stale, and why. The
    # feed's newest rows may have been fetched ahead, before the cut, for the slot after the cut's.
    expired = {widget: seconds + (recent_prefetch_seconds(seconds) if widget == "activity" else 0)
               for widget, seconds in POLL_SECONDS.items()}
    # Answered before the database returned: an answer that waited past its return is rightly fresh.
    during = [a for a in answers if cut_at + expired[a.widget] + 0.5 <= a.asked_at and a.answered_at < restored_at]
    assert {a.widget for a in during} == set(WIDGETS)
    assert all(a.stale is True and a.reason in REASONS[mode] for a in during), \
        [(a.widget, round(a.asked_at - cut_at, 2), a.stale, a.reason) for a in during
         if not (a.stale and a.reason in REASONS[mode])][:20]
    # Fresh again within RECOVERY_SECONDS of the database's return: the pool hands out no dead connection.
    after = [a for a in answers if a.asked_at >= restored_at + RECOVERY_SECONDS]
    assert {a.widget for a in after} == set(WIDGETS)
    assert not any(a.stale for a in after), [(a.widget, round(a.asked_at - restored_at, 2), a.reason)
                                             for a in after if a.stale][:10]


@pytest.mark.parametrize("mode", ["refused", "black-holed"])
def test_an_outage_costs_as_much_with_six_watchers_as_with_one(gunicorn_behind_a_proxy, mode):
    port, proxy, master = gunicorn_behind_a_proxy
    _until_every_widget_is_fresh(port)
    workers_before = {child.pid for child in psutil.Process(master.pid).children()}
    outages = []
    for watchers in WATCHERS:
        outages.append(_outage(port, proxy, mode, watchers))
        _until_every_widget_is_fresh(port)
    workers_after = {child.pid for child in psutil.Process(master.pid).children()}
    for outage in outages:
        during = sum(outage.cut_at <= a.asked_at < outage.restored_at for a in outage.answers)
        print(f"\n{mode}, {outage.watchers} watcher(s): {len(outage.answers)} callback requests, {during} during "
              f"the {OUTAGE_SECONDS:.0f} s cut; {outage.connections} connections and {outage.commands} MySQL "
              f"commands during it; /healthz slowest {max(outage.health_seconds):.3f} s of "
              f"{len(outage.health_seconds)}; fresh again {outage.recovered_after():.2f} s after the return")
    assert master.poll() is None and workers_after == workers_before, "a worker died or was replaced"
    for outage in outages:
        _check_answers(outage, mode)
    one, six = outages
    assert six.connections <= MOST_COST_RATIO * max(one.connections, 1), (one.connections, six.connections)
    # Each worker's pool learns once that its connections are dead (a ping: one command), and one watcher's
    # kept-alive connection may reach one worker only: up to a command per worker beyond the ratio.
    assert six.commands <= MOST_COST_RATIO * one.commands + WORKERS, (one.commands, six.commands)
    if mode == "black-holed":
        for outage in outages:
            assert outage.health_seconds and max(outage.health_seconds) < HEALTH_WITHIN_SECONDS, \
                sorted(outage.health_seconds)[-5:]
