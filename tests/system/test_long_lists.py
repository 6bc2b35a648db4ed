"""The 100,000-element company list under gunicorn, on MariaDB and Redis: no worker grows.

The attack: a support user sends `activity-company.value = [1] * 100000` (a 201 KB body) to the feed and the
export, eight at once, each with a new search: unguarded, one worker grows from 138 to 607 MB, another to 396
MB, and MariaDB times out three times at once. Here the same eight requests go to gunicorn over real sockets
while each worker's RSS is sampled: every one is refused, and no worker's peak is more than 25 MB above where
it was.
"""
from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import psutil
import requests

from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.memory_processes import PeakRss
from tests.support.users import ACTIVITY_STATE, PASSWORD, SUPPORT_COMPANY, add_users

RSS_GROWTH_ALLOWED = 25 * 1024 * 1024
WORKERS = 2


def signed_in(base: str) -> requests.Session:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{base}/login").text).group(1)
    answer = session.post(f"{base}/login", data={"name": "sam", "password": PASSWORD, "csrf_token": token},
                          allow_redirects=False)
    assert answer.status_code == 302, answer.status_code
    return session


def body(dependencies: list[dict], first_output: str, inputs: dict, state: dict, changed: str) -> bytes:
    from access.callback_guard import callback_body

    dependency = next(d for d in dependencies if d["output"].lstrip(".").startswith(first_output))
    return json.dumps(callback_body(dependency, inputs, state, [changed]), separators=(",", ":")).encode()


def test_eight_100000_element_company_lists_at_once_grow_no_worker(seeded_mariadb, redis_settings, tmp_path):
    add_users(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings, _ = redis_settings
    environment = {**os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "SWITCHBOARD_WORKERS": str(WORKERS),
                   "SWITCHBOARD_THREADS": "4", "DATABASE_URL": seeded_mariadb.url, "MEMORY_SAMPLER": "false",
                   "SECRET_KEY": "long-lists-test-secret-key-0123456789abcdef", **settings,
                   "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}", "CALLBACK_RATE_LIMIT": "none"}
    with running_gunicorn(environment, port, workers=WORKERS) as server:
        sessions = [signed_in(base) for _ in range(8)]
        dependencies = sessions[0].get(f"{base}/_dash-dependencies").json()
        forged = {**ACTIVITY_STATE, "activity-company.value": [SUPPORT_COMPANY] * 100_000}
        bodies = [body(dependencies, "activity-grid.rowData",
                       {"activity-interval.n_intervals": 1, "activity-pager.data": {"cursors": [None], "page": 0}},
                       {**forged, "activity-search.value": f"anna {n}"}, "activity-interval.n_intervals")
                  if n % 2 else
                  body(dependencies, "activity-download.data", {"activity-export.n_clicks": 1},
                       {**forged, "activity-search.value": f"anna {n}"}, "activity-export.n_clicks")
                  for n in range(8)]
        assert all(200_000 < len(one) < 256 * 1024 for one in bodies)
        for session in sessions:  # each worker's first requests (lazy imports, first-request setup) come first
            session.get(f"{base}/_dash-layout")
        workers = psutil.Process(server.process.pid).children()
        before = {worker.pid: worker.memory_info().rss for worker in workers}
        with PeakRss(workers) as rss:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda pair: pair[0].post(
                    f"{base}/_dash-update-component", data=pair[1], headers={"Content-Type": "application/json"},
                    timeout=30), zip(sessions, bodies)))
        assert sessions[0].get(f"{base}/healthz").status_code == 200
    growth = {pid: rss.peaks[pid] - before[pid] for pid in before}
    print("\npeak RSS growth per worker: " + ", ".join(f"{value / 2 ** 20:.1f} MB" for value in growth.values()))
    assert [answer.status_code for answer in answers] == [400] * 8
    assert all("items" in answer.json()["error"] for answer in answers)
    assert max(growth.values()) < RSS_GROWTH_ALLOWED, growth
