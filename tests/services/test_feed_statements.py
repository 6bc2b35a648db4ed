"""The feed's statements per interval do not grow with the number of distinct views people open.

Each view is a filter of the shared newest rows (its page) and a sum of the window's shared grouped count (its
count), so a slot costs the newest rows and, once every few intervals, one grouped count per window, however
many views are open. The newest rows here are too few to hold the 7-day window (as on a busy platform, where
2,000 rows are less than a week), so every count needs the window's groups. Statements are counted by the app's
own cost instrumentation (monitoring.instrumentation), per query of the feed.
"""
from __future__ import annotations

import pytest

from queries.activity import ActivityFilter, about, count_activity, window_count_seconds
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from widgets import activity as feed

POLL_SECONDS = 15
RECENT_ROWS = 250  # the 140 calls of the last two hours and about three days before them: less than a week
PAGE_SIZE = 10
FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
           "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0, "activity-pager.data": None}
# Views people flip between, each with more than a page among the newest rows (so its page needs no statement).
VIEWS = [
    {},
    {"activity-kind.value": ["call"]},
    {"activity-direction.value": ["inbound"]},
    {"activity-direction.value": ["outbound"]},
    {"activity-status.value": ["completed"]},
    {"activity-company.value": [1]},
    {"activity-company.value": [2]},
    {"activity-company.value": [3]},
    {"activity-kind.value": ["call"], "activity-direction.value": ["inbound"]},
    {"activity-company.value": [1, 3], "activity-status.value": ["completed"]},
]


def as_filter(view: dict) -> ActivityFilter:
    return ActivityFilter(kinds=tuple(view.get("activity-kind.value") or ()),
                          statuses=tuple(view.get("activity-status.value") or ()),
                          directions=tuple(view.get("activity-direction.value") or ()),
                          company_ids=tuple(view["activity-company.value"]) if "activity-company.value" in view
                          else None)


def feed_statements(app) -> int:
    """Return the statements the feed's queries have run in this process (the cost log's running totals)."""
    services = app.server.extensions[EXTENSION_KEY]
    totals = services.costs.totals()
    return sum(totals[name].statements for name in feed.WIDGET.queries if name in totals)


@pytest.fixture
def dashboard(seeded_database, make_dashboard):
    return make_dashboard(seeded_database.url, MEMORY_SAMPLER=False, ACTIVITY_POLL_SECONDS=POLL_SECONDS,
                          ACTIVITY_RECENT_ROWS=RECENT_ROWS, ACTIVITY_PAGE_SIZE=PAGE_SIZE, ALERTS=False)


def poll(client: DashClient, views: list[dict]) -> list[str]:
    return [client.call("activity-grid.rowData", INPUTS, {**FILTERS, **view})["activity-page.children"]
            for view in views]


def test_a_slots_statements_do_not_grow_with_the_number_of_views(dashboard, seed_clock):
    client = DashClient(dashboard.server)
    poll(client, VIEWS[:1])
    one_view = feed_statements(dashboard)
    assert one_view == 2  # the newest rows, and the 7-day window's grouped count
    poll(client, VIEWS[1:])
    assert feed_statements(dashboard) == one_view  # nine more views: no statement more

    # Later slots: the newest rows once a slot, and the window counted again only when its longer slot turns.
    counted_for = window_count_seconds("7d", POLL_SECONDS)
    assert counted_for == 3024  # a two-hundredth of a week
    feed_slots, count_slots = {seed_clock() // POLL_SECONDS}, {seed_clock() // counted_for}
    for _ in range(2):
        ends = (seed_clock() // counted_for + 1) * counted_for
        for step in (POLL_SECONDS, POLL_SECONDS, ends - seed_clock() - 1, 1, POLL_SECONDS):
            seed_clock.advance(step)
            poll(client, VIEWS)
            feed_slots.add(seed_clock() // POLL_SECONDS)
            count_slots.add(seed_clock() // counted_for)
            assert feed_statements(dashboard) == len(feed_slots) + len(count_slots)
    assert len(count_slots) == 3  # counted again twice, each time once for every view


def test_every_views_count_is_the_databases_and_an_estimate_says_so(dashboard, seeded_database, seed_clock):
    client = DashClient(dashboard.server)
    reader = seeded_database.reader()
    try:
        exact = [count_activity(reader, as_filter(view), dashboard.server.extensions[EXTENSION_KEY].now(), cap=10**9)
                 for view in VIEWS]
    finally:
        reader.dispose()
    assert all(count > PAGE_SIZE for count in exact)
    assert poll(client, VIEWS) == [f"1–{PAGE_SIZE} of {count:,}" for count in exact]
    # A slot later the groups are a slot old: moved on by the newest rows, and shown as an estimate.
    seed_clock.advance(POLL_SECONDS)
    later = poll(client, VIEWS)
    assert later == [f"1–{PAGE_SIZE} of about {max(about(count), PAGE_SIZE):,}" for count in exact]
