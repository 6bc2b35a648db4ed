"""What each widget costs, for ops: the old deployment guide's "key metrics to track", live.

Figures are this worker's own over the last hour (see monitoring/costs.py).
"""
from __future__ import annotations

import os
from typing import Any

from dash import Dash, Input, Output, dcc, html

from access.roles import ADMIN, OPS
from monitoring.costs import WidgetCost, widget_costs
from services import current_services
from widgets.registry import OPS as OPS_COLUMN, REFRESH_SIGNAL, Widget

INTERVAL = "self-cost-interval"
TABLE = "self-cost-table"
CAPTION = "self-cost-caption"
TITLE = "widget costs"
POLL_SETTING = "SELF_COST_POLL_SECONDS"
COLUMNS = ("widget", "refreshes", "statements / refresh", "rows / refresh", "bytes from DB / refresh",
           "DB ms / refresh", "cache hits (1 h)", "bytes to browser / response", "memory added / refresh")


def layout(poll_seconds: int) -> html.Section:
    """Return the self-cost panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "self-cost-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("What each widget costs", id="self-cost-title"),
            html.Span("", id=CAPTION, className="caption"),
        ]),
        html.Div(id=TABLE, className="table-box"),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
    ])


def _number(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def _bytes(value: float | None) -> str:
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{sign}{size:,.0f} {unit}" if unit == "B" else f"{sign}{size:,.1f} {unit}"
        size /= 1024
    return f"{value:,.0f} B"


def cost_cells(cost: WidgetCost) -> list[str]:
    """Return the table cells of one widget's costs."""
    ratio = "–" if cost.cache_hit_ratio is None else f"{cost.cache_hit_ratio:.0%}"
    return [cost.widget, f"{cost.refreshes:,}", _number(cost.statements_per_refresh, 1),
            _number(cost.rows_per_refresh, 0), _bytes(cost.db_bytes_per_refresh), _number(cost.db_ms_per_refresh, 1),
            ratio, _bytes(cost.browser_bytes_per_response), _bytes(cost.memory_added_per_refresh)]


def cost_table(costs: list[WidgetCost]) -> html.Table:
    body = [html.Tr([html.Td(cell, className="numeric" if index else "") for index, cell in enumerate(cost_cells(c))])
            for c in costs]
    return html.Table(className="data-table", children=[
        html.Thead(html.Tr([html.Th(column) for column in COLUMNS])), html.Tbody(body)])


def refresh() -> dict[str, Any]:
    """Summarise this worker's last hour of widget refreshes."""
    services = current_services()
    ratios = {query: counter.hit_ratio() for query, counter in services.queries.hit_counters().items()}
    costs = widget_costs(services.widget_names, services.costs, ratios, services.responses)
    return {"table": cost_table(costs), "caption": f"this worker (pid {os.getpid()}), last hour"}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    app.callback(output={"table": Output(TABLE, "children"), "caption": Output(CAPTION, "children")},
                 inputs={"_ticks": Input(INTERVAL, "n_intervals"), "_signal": Input(REFRESH_SIGNAL, "data")},
                 )(lambda _ticks, _signal: refresh())


# Its own figures come from the cost log, not a query of its own: it polls, but keeps no freshness record.
WIDGET = Widget(
    area="self_cost", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, placement=OPS_COLUMN,
)
