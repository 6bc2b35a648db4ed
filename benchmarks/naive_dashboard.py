"""The ancestor dashboard, served over HTTP: a mode of the load benchmark, not of the product.

    DATABASE_URL=mysql+pymysql://root@127.0.0.1:3306/sb_bench \
        gunicorn -w 4 --threads 4 -k gthread "benchmarks.naive_dashboard:create_naive_app()"

One endpoint per widget (GET or POST), each doing per poll exactly what the old
PHP dashboard did per request, through the naive functions of
benchmarks/naive_vs_switchboard.py: `SELECT *` (every call's ~16 KB `raw`), no
LIMIT, one lookup statement per row and relation (N+1), no cache, one
connection per refresh. Run it against a database without Switchboard's
indexes (benchmarks/load.py rolls them back around the naive run). It answers
JSON of the rows the old widget showed:

- `/ongoing-calls`: every ongoing call (no cap);
- `/recent-activity?kind=call&q=schmidt&page=1`: a page of 50 of the last 7
  days. The old widget loaded the whole window for every view, so a filter
  changes what is shown, not what is loaded: `kind` and `q` (customer name or
  phone) are applied to the loaded feed in Python; the naive feed carries no
  status or direction, so `status` and `direction` are accepted and reported as
  ignored (the database work is the same either way);
- `/headline-stats`: the counts, the average and the 24 hourly counts.

"Now" is the clock (UTC), as for Switchboard, not the seeded data's newest call.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from flask import Flask, jsonify, request

ENGINE_KEY = "naive_dashboard_engine"
PAGE_SIZE = 50
FILTERS_APPLIED = ("kind", "q")
FILTERS_IGNORED = ("status", "direction")


def create_naive_app(database_url: str | None = None) -> Flask:
    """Build the naive dashboard on `database_url` (default: $DATABASE_URL)."""
    from database.engines import create_writer_engine

    url = database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("the naive dashboard needs a database: pass database_url or set DATABASE_URL")
    app = Flask(__name__)
    # No statement time limit and no instrumentation: the old dashboard had neither.
    app.extensions[ENGINE_KEY] = create_writer_engine(url)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/ongoing-calls", "ongoing_calls", ongoing_calls, methods=["GET", "POST"])
    app.add_url_rule("/recent-activity", "recent_activity", recent_activity, methods=["GET", "POST"])
    app.add_url_rule("/headline-stats", "headline_stats", headline_stats, methods=["GET", "POST"])
    return app


def index():
    """List the widget endpoints (the page the old dashboard rendered around them)."""
    return jsonify({"widgets": ["/ongoing-calls", "/recent-activity", "/headline-stats"]})


def ongoing_calls():
    """Answer every ongoing call with its customer, agent and company, loaded one at a time."""
    from benchmarks.naive_vs_switchboard import naive_ongoing_calls

    calls = _on_one_connection(naive_ongoing_calls, _now())
    return jsonify({"total": len(calls), "rows": [ongoing_row(call) for call in calls]})


def recent_activity():
    """Answer one page of the last 7 days' calls and appointments, after loading all of them."""
    filters = _request_values()
    page = _page_number(filters.get("page"))
    feed = _on_one_connection(naive_activity_feed, _now())
    shown = filter_feed(feed, filters.get("kind"), filters.get("q"))
    rows = shown[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    ignored = [name for name in FILTERS_IGNORED if filters.get(name)]
    return jsonify({"page": page, "rows": [activity_row(item) for item in rows], "ignored_filters": ignored})


def headline_stats():
    """Answer today's counts from rows fetched with SELECT *, and one COUNT per hour."""
    from benchmarks.naive_vs_switchboard import naive_headline_stats
    from queries.timeutil import start_of_day

    now = _now()
    return jsonify(_on_one_connection(naive_headline_stats, now, start_of_day(now)))


def naive_activity_feed(connection, now: datetime) -> list[dict]:
    """Return the whole naive feed of the window, newest first (the old widget cut it for display)."""
    from benchmarks.naive_vs_switchboard import naive_recent_activity

    # A page size of None keeps every item: feed[:None].
    return naive_recent_activity(connection, now, None)


def filter_feed(feed: list[dict], kind: str | None, search: str | None) -> list[dict]:
    """Keep the feed items of this kind whose customer's name or phone contains the search."""
    needle = (search or "").strip().lower()
    digits = "".join(ch for ch in needle if ch.isdigit())
    kept = []
    for item in feed:
        if kind and item["kind"] != kind:
            continue
        customer = item.get("customer") or {}
        name = str(customer.get("name") or "").lower()
        phone = "".join(ch for ch in str(customer.get("phone") or "") if ch.isdigit())
        if needle and needle not in name and not (digits and digits in phone):
            continue
        kept.append(item)
    return kept


def ongoing_row(call: dict) -> dict[str, Any]:
    """Return the columns the old ongoing-calls widget showed."""
    return {"id": call["id"], "at": _iso(call["created_at"]), "start": _iso(call.get("start_timestamp")),
            "from": call.get("from_number"), "to": call.get("to_number"), "dir": call.get("direction"),
            "st": call.get("status"), "cust": _name(call.get("customer")) or call.get("customer_name"),
            "agent": _name(call.get("agent")), "co": _name(call.get("company"))}


def activity_row(item: dict) -> dict[str, Any]:
    """Return the columns the old activity widget showed."""
    customer = item.get("customer") or {}
    return {"k": item["kind"], "id": item["id"], "at": _iso(item["at"]), "cust": customer.get("name"),
            "ph": customer.get("phone"), "svc": _name(item.get("service"))}


def _on_one_connection(widget, *args):
    """Run a naive widget on one pooled connection, as one PHP request did."""
    from flask import current_app

    with current_app.extensions[ENGINE_KEY].connect() as connection:
        return widget(connection, *args)


def _now() -> datetime:
    from queries.timeutil import database_now

    return database_now()


def _request_values() -> dict[str, str]:
    """Return the filters from the query string and, for a POST, the JSON body."""
    values = {key: request.args.get(key, "") for key in FILTERS_APPLIED + FILTERS_IGNORED + ("page",)}
    body = request.get_json(silent=True) if request.method == "POST" else None
    if isinstance(body, dict):
        values.update({key: str(value) for key, value in body.items() if key in values and value is not None})
    return values


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and int(text) < 1000 else 0


def _name(row: dict | None) -> str | None:
    return None if not row else row.get("name")


def _iso(value: Any) -> str | None:
    """Return a timestamp as ISO text (SQLite's text() results are text already)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
