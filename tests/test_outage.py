"""MariaDB unreachable for 30 seconds under load, behind gunicorn: no worker dies, no 5xx, widgets go stale
with the reason and are fresh again at the first poll after the database returns.

The database sits behind an in-test TCP proxy that the test cuts (every open
connection dropped, new ones refused). Several clients poll three widgets over
real HTTP throughout; every answer is recorded with when it was asked.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

import psutil
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import REDIS_URL, require_redis
from tests.support.dash_client import HttpDashClient
from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.tcp_proxy import TcpProxy
from widgets.activity import recent_prefetch_seconds

pytestmark = [pytest.mark.mariadb, pytest.mark.redis]

OUTAGE_SECONDS = 30.0
HEALTHY_SECONDS = 4.0
AFTER_SECONDS = 6.0
CLIENTS = 6
WORKERS = 2
PAUSE_SECONDS = 0.2
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
POLL_SECONDS = {"ongoing": 1, "activity": 2, "headline": 2}


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
            "STATEMENT_TIMEOUT_MS": "2000", "MEMORY_SAMPLER": "false",
            "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}",
            # No planned recycling (max_requests) during the test: any worker replaced is one that died.
            "GUNICORN_CMD_ARGS": "--max-requests 0",
        }
        with running_gunicorn(environment, port, WORKERS) as server:
            yield port, proxy, server.process


def _poll_until(port: int, stop: threading.Event, answers: list[Answer], lock: threading.Lock) -> None:
    client = HttpDashClient("127.0.0.1", port)
    while not stop.is_set():
        for widget, (output, inputs, state, freshness_key) in WIDGETS.items():
            asked = time.monotonic()
            try:
                status, updated = client.call(output, inputs, state)
            except OSError:
                status, updated = None, {}
            freshness = updated.get(freshness_key) or {}
            with lock:
                answers.append(Answer(widget, asked, time.monotonic(), status, freshness.get("stale"),
                                      freshness.get("reason", "")))
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


def test_thirty_seconds_without_the_database_under_load(gunicorn_behind_a_proxy):
    port, proxy, master = gunicorn_behind_a_proxy
    _until_every_widget_is_fresh(port)
    workers_before = {child.pid for child in psutil.Process(master.pid).children()}
    answers: list[Answer] = []
    lock, stop = threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_poll_until, args=(port, stop, answers, lock), daemon=True)
               for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(HEALTHY_SECONDS)
    cut_at = time.monotonic()
    proxy.cut()
    time.sleep(OUTAGE_SECONDS)
    restored_at = time.monotonic()
    proxy.restore()
    time.sleep(AFTER_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=40)

    workers_after = {child.pid for child in psutil.Process(master.pid).children()}
    print(f"\n{len(answers)} callback requests; {sum(a.asked_at >= cut_at and a.asked_at < restored_at for a in answers)}"
          f" during the {OUTAGE_SECONDS:.0f} s outage; statuses {sorted({a.status for a in answers}, key=str)}")
    assert master.poll() is None and workers_after == workers_before, "a worker died or was replaced"
    assert all(answer.status == 200 for answer in answers), sorted({answer.status for answer in answers}, key=str)
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
    assert all(a.stale is True and a.reason == "database unreachable" for a in during), \
        [(a.widget, round(a.asked_at - cut_at, 2), a.stale, a.reason) for a in during
         if not (a.stale and a.reason == "database unreachable")][:20]
    # The first poll after the database returns is fresh: the pool hands out no dead connection.
    after = [a for a in answers if a.asked_at >= restored_at + 0.2]
    assert {a.widget for a in after} == set(WIDGETS)
    assert not any(a.stale for a in after), [(a.widget, round(a.asked_at - restored_at, 2), a.reason)
                                             for a in after if a.stale][:10]
