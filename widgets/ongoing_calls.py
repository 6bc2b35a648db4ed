"""Ongoing calls, for admins: a live table with a count badge and ticking durations.

The server sends compact rows (short keys, epoch seconds) once per poll; the
browser ticks each call's duration every second between polls. The caller is the
customer's number: `from_number` of an inbound call, `to_number` of an outbound one
(whose `from_number` is the company's own line). A support user of one company gets
no company column.
"""
from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import Dash, Output, dcc, html, no_update

from queries import ongoing_calls as queries
from queries.ongoing_calls import OngoingCalls, fetch_ongoing_calls
from queries.schema_map import schema_of
from access.masking import mask_field
from access.roles import ADMIN, SUPPORT, mask_phone
from access.web import current_viewer
from widgets.services import current_services
from widgets.common import (cached_refresh, epoch, fit_columns, grid_options, int_or_none, more_columns_button,
                            register_poll,
                            call_status_label, text_or_none, without_empty)
from widgets.registry import Widget

GRID = "ongoing-grid"
INTERVAL = "ongoing-interval"
BADGE = "ongoing-badge"
CAPTION = "ongoing-caption"
FRESHNESS = "ongoing-freshness"
STATUS = "ongoing-status"
QUERY_NAME = "ongoing_calls"
TITLE = "ongoing calls"
POLL_SETTING = "ONGOING_CALLS_POLL_SECONDS"

COLUMN_DEFS = [
    {"field": "caller", "headerName": "Caller", "minWidth": 140},
    {"field": "cust", "headerName": "Customer", "minWidth": 150, "cellRenderer": "CustomerLink"},
    {"field": "agent", "headerName": "Agent", "minWidth": 130},
    {"field": "co", "headerName": "Company", "minWidth": 150},
    {"field": "dir", "headerName": "Direction", "width": 110,
     "cellClass": {"function": "'direction direction-' + params.value"}},
    {"field": "st", "headerName": "Status", "width": 120},
    {"colId": "duration", "headerName": "Duration", "width": 110, "sort": "desc",
     "valueGetter": {"function": "switchboardElapsed(params.data.start || params.data.at)"},
     "valueFormatter": {"function": "switchboardDuration(params.value)"}, "cellClass": "numeric"},
    {"field": "at", "headerName": "Started", "width": 110,
     "valueFormatter": {"function": "switchboardClock(params.value)"}},
]


def layout(poll_seconds: int, viewer=None) -> html.Section:
    """Return the ongoing-calls panel (for a viewer of one company, without the company column)."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "ongoing-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Ongoing calls", id="ongoing-title"),
            html.Span("–", id=BADGE, className="badge", title="Calls ongoing now"),
            html.Span("", id=CAPTION, className="caption"),
            # Not a live region: "updated 4s ago" changes every second (the header announces a lost connection).
            html.Span("", id=STATUS, className="freshness"),
            more_columns_button(GRID, ("cust", "st", "duration")),
        ]),
        dag.AgGrid(
            id=GRID, columnDefs=fit_columns(COLUMN_DEFS, viewer), rowData=[], getRowId="params.data.id",
            defaultColDef={"sortable": True, "resizable": True, "filter": False},
            dashGridOptions=grid_options("No ongoing calls right now", focusable=True),
            columnSize="responsiveSizeToFit", className="grid", style={"height": "420px"},
        ),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


def compact_rows(result: OngoingCalls, database_timezone: str, mask_phones: bool = False) -> list[dict[str, Any]]:
    """Return the rows as the browser needs them: short keys, epoch seconds, no empty values."""
    phone = mask_phone if mask_phones else text_or_none
    # An unknown caller's name is often their number: a name is masked like any text that may hold one.
    name = (lambda value: mask_field(text_or_none(value))) if mask_phones else text_or_none
    rows = []
    for row in result.rows.itertuples(index=False):
        customer_number = row.to_number if text_or_none(row.direction) == "outbound" else row.from_number
        record = {"id": int(row.id), "at": epoch(row.created_at, database_timezone),
                  "start": epoch(row.start_timestamp, database_timezone),
                  # Both columns: a platform whose map counts either as ongoing shows a disagreement as such.
                  "st": call_status_label(row.status, row.call_status),
                  "caller": phone(text_or_none(customer_number)),
                  "cust": name(row.customer_name), "agent": text_or_none(row.agent_name),
                  "co": text_or_none(row.company_name), "dir": text_or_none(row.direction),
                  "cid": int_or_none(row.customer_id)}
        rows.append(without_empty(record))
    return rows


def caption(result: OngoingCalls, notes: list[str] = ()) -> str:
    """Return 'showing 500 of 7,214' when capped, and the columns the platform keeps nothing for."""
    return " · ".join([*([f"showing {len(result.rows):,} of {result.total:,}"] if result.capped else []), *notes])


# The grid's columns a platform may keep nothing for: their cells stay empty, and the caption says why.
FEATURES = ("agent", "direction", "start")


def table_payload(result: OngoingCalls, database_timezone: str, mask_phones: bool = False,
                  notes: list[str] = ()) -> dict[str, Any]:
    """Return what the browser is sent: compact rows, the badge and the caption."""
    return {"rows": compact_rows(result, database_timezone, mask_phones), "badge": f"{result.total:,}",
            "caption": caption(result, notes)}


def cached_calls(services, company_ids: tuple[int, ...] | None, masked: bool):
    """Return the ongoing calls of these companies as sent, from the query cache (computed when due): the
    badge here and "Ongoing now" in the headline read this one result."""
    limit = int(services.config["ONGOING_CALLS_ROW_CAP"])
    timezone = services.config["DATABASE_TIMEZONE"]
    # The cache keeps the built payload, so a hit costs no DataFrame work at all.
    return cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"limit": limit, "company_ids": company_ids, "masked": masked},
        services.poll_seconds(POLL_SETTING),
        lambda: table_payload(fetch_ongoing_calls(services.reader, services.now(), company_ids=company_ids,
                                                  limit=limit), timezone, masked,
                              schema_of(services.reader).notes(*FEATURES))),
        services.config["STATEMENT_TIMEOUT_MS"])


def refresh(previous_freshness) -> dict[str, Any]:
    """Fetch (or take from the cache) the ongoing calls, ready to send; on a failure the last rows stay."""
    viewer = current_viewer()
    # The viewer's companies, never the browser's, bound into the query; one cache entry per scope.
    result = cached_calls(current_services(), viewer.scoped(None), viewer.masks_phones)
    shown = result.cached.value if result.cached else {}
    return {"rows": shown.get("rows", no_update), "badge": shown.get("badge", no_update),
            "caption": shown.get("caption", no_update), "freshness": result.freshness(previous_freshness)}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    register_poll(app, {"rows": Output(GRID, "rowData"), "badge": Output(BADGE, "children"),
                        "caption": Output(CAPTION, "children"), "freshness": Output(FRESHNESS, "data")},
                  refresh, INTERVAL, FRESHNESS)


WIDGET = Widget(
    area="ongoing", title=TITLE, roles=frozenset({ADMIN, SUPPORT}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, grid=GRID,
    response_output=GRID, queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples, per_viewer=True,
)
