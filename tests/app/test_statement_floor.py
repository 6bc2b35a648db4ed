"""The floor of statements a minute, shown beside the actual figure on /metrics and in the cost panel."""
from __future__ import annotations

from config import load_config
from monitoring.costs import statements_floor_per_minute, statements_per_minute
from monitoring.instrumentation import CostLog, RefreshCost
from widgets import registered
from widgets.self_cost import statements_caption

START = 1_800_000_000.0


def test_the_floor_is_one_statement_per_polled_widget_per_interval():
    config = load_config({}, environ={})
    # ongoing calls 12, the feed's newest rows 4, the company table 4, headline stats 1
    assert statements_floor_per_minute(registered(), config) == 21
    slower = {**config, "ONGOING_CALLS_POLL_SECONDS": 10, "ACTIVITY_POLL_SECONDS": 30}
    assert statements_floor_per_minute(registered(), slower) == 6 + 2 + 4 + 1


def test_this_workers_statements_a_minute_count_the_last_hour_only():
    log = CostLog()
    log.add(RefreshCost("ongoing_calls", statements=["SELECT 1"], started_at=START - 4000))  # over an hour ago
    for second in range(0, 600, 5):  # ten minutes of one statement every 5 s
        log.add(RefreshCost("ongoing_calls", statements=["SELECT 1"], started_at=START - 600 + second))
    log.add(RefreshCost("activity_recent", statements=[], started_at=START - 300))  # answered from the cache
    assert statements_per_minute(log, clock=lambda: START) == 12
    assert statements_per_minute(CostLog(), clock=lambda: START) is None
    assert statements_caption(12.04, 21) == "statements a minute: 12.0 here; floor 21.0 for all workers together"
    assert statements_caption(None, 21).startswith("statements a minute: – here")


def test_metrics_show_the_floor_beside_the_statement_counters(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    body = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}).get_data(as_text=True)
    assert "switchboard_statements_floor_per_minute 21.0" in body.splitlines()
