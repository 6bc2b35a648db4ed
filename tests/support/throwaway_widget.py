"""A widget that exists only in a test: its widget module and its query module in one file, nothing else.

`tests/app/test_registry.py` hands it to `create_app` beside the registered widgets and finds it on the page of
its role, in the role table, in `verify`, in `/metrics` and behind the access check, with no other file
touched: what the README's "Adding a widget" promises.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from dash import Dash, Output, dcc, html, no_update

from access.roles import ADMIN, OPS
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, platform_schema
from queries.runner import run
from schema.tables import calls, idx_calls_created_date, idx_calls_window
from widgets.services import current_services
from widgets.common import cached_refresh, register_poll
from widgets.registry import Widget

PANEL = "throwaway-panel"
COUNT = "throwaway-count"
INTERVAL = "throwaway-interval"
FRESHNESS = "throwaway-freshness"
STATUS = "throwaway-status"
QUERY_NAME = "calls_last_hour"
TITLE = "calls in the last hour"
POLL_SETTING = "MEMORY_POLL_SECONDS"  # any setting will do for a widget that lives in one test


# --- its query module -------------------------------------------------------------------------------------

def calls_last_hour_statement(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM) -> sa.Select:
    return (sa.select(sa.func.count().label("calls")).select_from(calls)
            .where(calls.c.created_at >= now - timedelta(hours=1), calls.c.created_at <= now, *platform.live(calls)))


def fetch_calls_last_hour(engine, now: datetime) -> int:
    return int(run(engine, calls_last_hour_statement(now, platform_schema(engine)), max_rows=1)["calls"].iloc[0])


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM):
    return [(TITLE, calls_last_hour_statement(now, platform), {"calls": (idx_calls_window.name, idx_calls_created_date.name)})]


# --- its widget module ------------------------------------------------------------------------------------

def layout(poll_seconds: int) -> html.Section:
    return html.Section(id=PANEL, className="panel", **{"aria-labelledby": "throwaway-title"}, children=[
        html.H2("Calls in the last hour", id="throwaway-title"),
        html.Span("–", id=COUNT), html.Span("", id=STATUS),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000), dcc.Store(id=FRESHNESS),
    ])


def refresh(previous_freshness) -> dict[str, Any]:
    services = current_services()
    result = cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {}, services.poll_seconds(POLL_SETTING),
        lambda: f"{fetch_calls_last_hour(services.reader, services.now()):,}"),
        services.config["STATEMENT_TIMEOUT_MS"])
    return {"count": result.cached.value if result.cached else no_update,
            "freshness": result.freshness(previous_freshness)}


def register(app: Dash) -> None:
    register_poll(app, {"count": Output(COUNT, "children"), "freshness": Output(FRESHNESS, "data")}, refresh,
                  INTERVAL, FRESHNESS)


WIDGET = Widget(
    area="throwaway", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, response_output=COUNT,
    queries={QUERY_NAME: TITLE}, plan_examples=plan_examples,
)
