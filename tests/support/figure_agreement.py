"""Read the same figures from every place that shows them, each through its own path: the company table and the
wallboard (their callbacks), the headline cards (its callback), the activity feed (its filter's rows and count),
the CSV export (its download), and a customer's history (its summary). The figure-agreement tests compare them."""
from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime, timedelta

import pandas as pd

from queries.activity import ActivityFilter, count_activity, fetch_activity
from queries.customer_history import NotFound, fetch_summary
from queries.timeutil import start_of_day
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient

# The feed's status choice for each bucket the company table counts, and the table's key of that count.
FEED_BUCKETS = {"completed": "ans", "missed": "mis", "failed": "fail"}
EXPORT_WORDS = {"completed": "Answered", "missed": "Missed", "failed": "Failed"}
FILTERS = {"activity-kind.value": ["call"], "activity-status.value": None, "activity-direction.value": None,
           "activity-company.value": None, "activity-window.value": "24h", "activity-search.value": ""}


def _walk(node):
    if isinstance(node, dict):
        yield node
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _walk(item)


def card_value(cards, card_id: str) -> str:
    """Return the text of the card value whose id is `card_id` in a rendered list of cards."""
    return next(node["props"]["children"] for node in _walk(cards)
                if isinstance(node.get("props"), dict) and node["props"].get("id") == card_id)


def reader_of(app):
    return app.server.extensions[EXTENSION_KEY].reader


def table_rows(app) -> dict[int, dict]:
    client = DashClient(app.server)
    return {row["id"]: row for row in client.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})
            ["kpi-grid.rowData"]}


def wall_rows(app) -> dict[int, dict]:
    client = DashClient(app.server).from_page("/wall")
    return {row["id"]: row for row in client.call("wall-grid.rowData", {"wall-interval.n_intervals": 1})
            ["wall-grid.rowData"]}


def headline_cards(app):
    return DashClient(app.server).call("stats-cards.children", {"stats-interval.n_intervals": 1,
                                                                "refresh-signal.data": 0})["stats-cards.children"]


def feed_rows(app, now: datetime, **chosen) -> pd.DataFrame:
    """Return every row of a feed filter (one page as large as it needs), as the feed's statement reads them."""
    return fetch_activity(reader_of(app), ActivityFilter(**chosen), now, page_size=100_000).rows


def feed_bucket_today(app, now: datetime, zone: str, status: str) -> tuple[Counter, int, int]:
    """Return, for the feed's status choice, today's matching calls per company, and the feed's own count of the
    filter (24 hours) beside the number of rows it selects."""
    chosen = {"kinds": ("call",), "statuses": (status,), "window": "24h"}
    rows = feed_rows(app, now, **chosen)
    today = rows[rows["at"] >= start_of_day(now, zone)]
    counted = count_activity(reader_of(app), ActivityFilter(**chosen), now)
    return Counter(int(company) for company in today["company_id"]), counted, len(rows)


def export_today(app, now: datetime, status: str | None) -> list[dict]:
    """Return the plain CSV export's rows of today (UTC display) for calls of this status choice (None: all)."""
    client = DashClient(app.server)
    download = client.call("activity-download.data", {"activity-export.n_clicks": 1},
                           {**FILTERS, "activity-status.value": [status] if status else None})
    rows = list(csv.DictReader(io.StringIO(download["activity-download.data"]["content"], newline="")))
    return [row for row in rows if row["time"][:10] == now.date().isoformat()]


def appointments_by_feed(app, now: datetime, zone: str) -> tuple[int, Counter]:
    """Return the appointments starting today and, per company, those booked today (for a slot from today on),
    read from the feed's past day and its upcoming month."""
    today_start = start_of_day(now, zone)
    rows = pd.concat([feed_rows(app, now, kinds=("appointment",), window=window)
                      for window in ("24h", "next30d")]).drop_duplicates(subset=["id"])
    starting = rows[(rows["at"] >= today_start) & (rows["at"] < today_start + timedelta(days=1))]
    booked = rows[(rows["booked_at"] >= today_start) & (rows["booked_at"] <= now) & (rows["at"] >= today_start)]
    return len(starting), Counter(int(company) for company in booked["company_id"])


def history_missed_by_feed(app, now: datetime, customer_ids) -> list[tuple[int, int, int]]:
    """Return (customer, the history's missed count, the feed's missed rows of that customer over 90 days) for the
    customers whose every call lies within those 90 days."""
    reader = reader_of(app)
    found = []
    for customer in customer_ids:
        try:
            summary = fetch_summary(reader, customer, now)
        except NotFound:  # soft-deleted: never shown, never counted
            continue
        if not summary.counts["calls"] or summary.first_contact < now - timedelta(days=90):
            continue
        rows = feed_rows(app, now, kinds=("call",), statuses=("missed",), customer_id=customer, window="90d")
        found.append((customer, summary.counts["missed"], len(rows)))
    return found
