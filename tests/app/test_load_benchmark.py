"""The load benchmark's own logic (benchmarks/loadtest): what it polls, and how it counts the server's CPU."""
from __future__ import annotations

import subprocess
import sys

import psutil

from benchmarks.loadtest import probes
from benchmarks.loadtest.page import layout_props, polled_widgets


def page_of(tmp_path, **overrides):
    """Return the /_dash-dependencies and /_dash-layout of a dashboard built with these settings."""
    from app import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'page.sqlite3'}", "MEMORY_SAMPLER": False,
                      "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}", **overrides},
                     instance_path=tmp_path)
    client = app.server.test_client()
    return client.get("/_dash-dependencies").get_json(), client.get("/_dash-layout").get_json()


def test_every_interval_driven_callback_is_polled_at_its_interval(tmp_path):
    dependencies, layout = page_of(tmp_path, ONGOING_CALLS_POLL_SECONDS=2, HEADLINE_STATS_POLL_SECONDS=90)
    widgets = {widget.name: widget for widget in polled_widgets(dependencies, layout)}
    assert {name: widget.seconds for name, widget in widgets.items()} == {
        "stats": 90.0, "stats-ongoing": 2.0, "kpi": 15.0, "ongoing": 2.0, "activity": 15.0, "alerts": 10.0,
        "memory": 10.0, "self-cost": 10.0}
    # Client-side callbacks (the freshness clocks tick every second) are the browser's own, never posted.
    assert all(not widget.callback.get("clientside_function") for widget in widgets.values())
    assert widgets["ongoing"].trigger == "ongoing-interval.n_intervals"
    assert widgets["ongoing"].kept == ("ongoing-freshness.data",) and widgets["self-cost"].kept == ()


def test_a_widget_missing_from_any_list_is_still_polled(tmp_path):
    dependencies, layout = page_of(tmp_path)
    before = len(polled_widgets(dependencies, layout))
    layout = {"type": "Div", "namespace": "dash_html_components",
              "props": {"children": [layout, {"type": "Interval", "namespace": "dash_core_components",
                                              "props": {"id": "new-panel-interval", "interval": 30000}}]}}
    dependencies = dependencies + [{"output": "new-panel.children", "inputs": [
        {"id": "new-panel-interval", "property": "n_intervals"}], "state": [], "clientside_function": None}]
    polled = {widget.name: widget.seconds for widget in polled_widgets(dependencies, layout)}
    assert polled["new-panel"] == 30.0 and len(polled) == before + 1


def test_the_page_props_start_from_the_layout(tmp_path):
    _, layout = page_of(tmp_path)
    props = layout_props(layout)
    assert props["refresh-signal.data"] == 0 and props["memory-window.data"] == "1h"
    assert props["activity-pager.data"] == {"cursors": [None], "page": 0}


def test_the_cpu_of_a_child_that_exited_still_counts():
    # A worker that max_requests replaced is gone by the end of the window; its parent reaped it.
    myself = psutil.Process()
    before = probes.process_cpu_seconds([myself], reaped=True)
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.5\n"
                    "while time.process_time() < end: pass"], check=True)
    assert probes.process_cpu_seconds([myself], reaped=True) - before >= 0.4


def test_replaced_workers_are_counted_from_the_log():
    log = ("[INFO] Autorestarting worker after current request.\n[INFO] Worker exiting (pid: 10)\n"
           "[INFO] Booting worker with pid: 12\n")
    assert probes.workers_started(log) == 1
    assert probes.server_times('[01/Dec/2026:10:00:00 +0000] "GET /healthz" 200 2 3ms\n') == {"GET /healthz": (1, 3.0, 3.0)}
