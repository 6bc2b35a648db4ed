"""The load benchmark's sessions send the polls of one tick together, as the page does (serving/batch.py), and
still count each widget's answers and failures on their own; the run's request count is of HTTP requests.

Locust patches the standard library with gevent's on import: the sessions run in a process of their own, against
the app served here."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.browser import FAST_POLLING, serve_in_thread

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="requirements-bench.txt")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = '''
import json, sys, time
from benchmarks.loadtest.sessions import BATCH, PART, RunPlan
from benchmarks.loadtest.runner import page_widgets, session_class, stats_totals
from locust.env import Environment
import gevent

url, batched = sys.argv[1], sys.argv[2] == "batched"
plan = RunPlan(mode="switchboard", sessions=2, aligned=True, batched=batched)
environment = Environment(user_classes=[session_class(plan, url)], host=url)
runner = environment.create_local_runner()
runner.start(2, spawn_rate=10)
# Six seconds of polling from when both tabs have their page, however long a busy machine takes to serve it.
loaded = lambda: environment.stats.get("page /_dash-dependencies", "GET").num_requests
for _ in range(600):
    if loaded() >= 2:
        break
    gevent.sleep(0.1)
plan.polling_ends = time.monotonic() + 6
gevent.sleep(8)
runner.quit()
entries = {f"{entry.method} {entry.name}": [entry.num_requests, entry.num_failures]
           for entry in environment.stats.entries.values()}
print(json.dumps({"entries": entries, "totals": stats_totals(environment.stats), "widgets": page_widgets(url)}))
'''


def _run_sessions(url: str, mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, url, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_sessions_polls_of_one_tick_are_one_request_and_each_widget_is_still_counted(make_dashboard, seeded_sqlite):
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, **FAST_POLLING)
    with serve_in_thread(app.server) as server:
        batched = _run_sessions(server.url, "batched")
        alone = _run_sessions(server.url, "unbatched")
    entries, widgets = batched["entries"], batched["widgets"]
    assert {"ongoing", "activity", "stats"} <= set(widgets)
    # Two sessions, six seconds of one-second ticks: a batch per tick and session, each part under its widget.
    assert 10 <= entries["POST batch"][0] <= 16 and entries["POST batch"][1] == 0
    for widget in ("ongoing", "activity"):
        assert entries[f"PART {widget}"][0] >= 10 and entries[f"PART {widget}"][1] == 0
    assert entries["PART stats"][0] >= 4
    http_requests = sum(count for key, (count, _) in entries.items() if not key.startswith("PART "))
    assert batched["totals"] == [http_requests, 0]
    # Unbatched, the same polls are requests of their own: many more of them.
    assert not any(key.startswith("PART ") for key in alone["entries"])
    assert alone["totals"][0] > http_requests + 20
