"""What each widget costs, for ops: the old deployment guide's "key metrics to track", live.

Figures are this worker's own over the last hour (see monitoring/costs.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dash import Dash, Input, Output, dcc, html

from access.roles import ADMIN, OPS
from monitoring.costs import (HEADLINE_DB_MS, WidgetCost, statements_floor_per_minute, statements_per_minute,
                              widget_budgets, widget_costs)
from widgets.services import current_services
from widgets.common import skeleton
from widgets.registry import OPS as OPS_COLUMN, REFRESH_SIGNAL, Widget

INTERVAL = "self-cost-interval"
TABLE = "self-cost-table"
CAPTION = "self-cost-caption"
TITLE = "widget costs"
POLL_SETTING = "SELF_COST_POLL_SECONDS"


@dataclass(frozen=True)
class Column:
    """One column of the cost table: its heading, what it measures, and the budget its figure is held to."""
    heading: str
    meaning: str
    budget: str = ""  # the Budget field it is held to (monitoring/costs.py); "": none (more is better, or a count)
    budget_text: str = ""


# The budgets are monitoring/costs.py's: a default, and a budget of its own for a widget built to cost more.
COLUMNS = (
    Column("widget", "The widget, or the shared query that several views read."),
    Column("refreshes", "How many times this worker computed it in the last hour: once per poll interval at most, "
                        "however many people watch, because every other viewer is answered from the cache."),
    Column("statements / refresh", "SQL statements sent per computation. 0 when every view was answered from rows "
                                   "another refresh had already fetched (the feed's filtered pages read its shared "
                                   "newest rows).", "statements", "≤ 2; customer history ≤ 3 (its three statements)"),
    Column("rows / refresh", "Rows the database returned per computation; each query is capped.", "rows",
           "≤ 2,000; the feed's shared newest rows ≤ ACTIVITY_RECENT_ROWS + 1 (one more tells whether older rows "
           "are left)"),
    Column("bytes from DB / refresh", "Bytes of those rows as the driver received them: named columns only, never a "
                                      "payload column.", "db_bytes", "≤ 1.0 MB"),
    Column("DB ms / refresh", "Milliseconds spent in the database per computation (through the indexes that "
                              "`python app.py verify` checks).", "db_ms",
           f"≤ 100 ms; headline stats ≤ {HEADLINE_DB_MS} ms (a dozen index ranges, polled every 60 s)"),
    Column("cache hits (1 h)", "Share of requests answered from the cache in the last hour: with many watchers it "
                               "approaches 100 %."),
    Column("bytes to browser / response", "Bytes of one callback answer as sent (compressed).", "browser_bytes",
           "≤ 60.0 KB"),
    Column("memory added / refresh", "Resident memory this worker grew by during a computation (often 0: memory "
                                     "already held is reused).", "memory", "≤ 1.0 MB"),
)
ZERO_STATEMENTS_NOTE = ("A widget can show 0 statements per refresh: its answer came from rows another refresh "
                        "fetched, so the database did no work for it.")
OVER_BUDGET = " (over budget)"


def layout(poll_seconds: int) -> html.Section:
    """Return the self-cost panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "self-cost-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("What each widget costs", id="self-cost-title"),
            html.Span("", id=CAPTION, className="caption"),
        ]),
        html.Div(id=TABLE, className="table-box", children=skeleton(320)),
        meanings(),
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


def cost_values(cost: WidgetCost) -> list[float | None]:
    """Return the figures of one widget's costs, in the columns' order and units (None for the name cell)."""
    return [None, cost.refreshes, cost.statements_per_refresh, cost.rows_per_refresh, cost.db_bytes_per_refresh,
            cost.db_ms_per_refresh, cost.cache_hit_ratio, cost.browser_bytes_per_response,
            cost.memory_added_per_refresh]


def cost_cells(cost: WidgetCost) -> list[str]:
    """Return the table cells of one widget's costs, each over its budget saying so in words."""
    ratio = "–" if cost.cache_hit_ratio is None else f"{cost.cache_hit_ratio:.0%}"
    cells = [cost.widget, f"{cost.refreshes:,}", _number(cost.statements_per_refresh, 1),
             _number(cost.rows_per_refresh, 0), _bytes(cost.db_bytes_per_refresh), _number(cost.db_ms_per_refresh, 1),
             ratio, _bytes(cost.browser_bytes_per_response), _bytes(cost.memory_added_per_refresh)]
    return [cell + OVER_BUDGET if over else cell for cell, over in zip(cells, over_budget(cost))]


def over_budget(cost: WidgetCost) -> list[bool]:
    """Tell, per column, whether the widget's figure is over the column's budget."""
    return [bool(column.budget) and value is not None and value > getattr(cost.budget, column.budget)
            for column, value in zip(COLUMNS, cost_values(cost))]


def _heading(index: int, column: Column) -> html.Th:
    # The meaning shows on hover (title) and, for the keyboard and screen readers, in the list under the table,
    # which each heading points to.
    return html.Th(column.heading, scope="col", title=column.meaning + (f" Budget: {column.budget_text}."
                                                                        if column.budget_text else ""),
                   **{"aria-describedby": f"self-cost-meaning-{index}"})


def meanings() -> html.Details:
    """Return the columns' meanings and budgets, as a list a keyboard or screen-reader user can open."""
    items = []
    for index, column in enumerate(COLUMNS):
        items += [html.Dt(column.heading),
                  html.Dd(column.meaning + (f" Budget: {column.budget_text}." if column.budget_text else ""),
                          id=f"self-cost-meaning-{index}")]
    return html.Details(className="cost-meanings", children=[
        html.Summary("What the columns mean, and their budgets"), html.P(ZERO_STATEMENTS_NOTE), html.Dl(items)])


def cost_table(costs: list[WidgetCost]) -> html.Table:
    body = []
    for cost in costs:
        over = over_budget(cost)
        body.append(html.Tr([html.Td(cell, className=("numeric" if index else "") + (" over-budget" if over[index]
                                                                                    else ""))
                             for index, cell in enumerate(cost_cells(cost))]))
    return html.Table(className="data-table", children=[
        html.Thead(html.Tr([_heading(index, column) for index, column in enumerate(COLUMNS)])), html.Tbody(body)])


def refresh() -> dict[str, Any]:
    """Summarise this worker's last hour of widget refreshes, once per poll interval (Services.slot_answer)."""
    services = current_services()
    return services.slot_answer(TITLE, services.poll_seconds(POLL_SETTING), lambda: _summary(services))


def _summary(services) -> dict[str, Any]:
    from widgets import registered  # the registry imports this module

    ratios = {query: counter.hit_ratio() for query, counter in services.queries.hit_counters().items()}
    costs = widget_costs(services.widget_names, services.costs, ratios, services.responses,
                         budgets=widget_budgets(services.config))
    return {"table": cost_table(costs), "caption": f"this worker (pid {os.getpid()}), last hour · "
            + statements_caption(statements_per_minute(services.costs),
                                 statements_floor_per_minute(registered(), services.config))}


def statements_caption(actual: float | None, floor: float) -> str:
    """Return this worker's statements a minute beside the floor every worker's together can reach."""
    here = "–" if actual is None else f"{actual:,.1f}"
    return f"statements a minute: {here} here; floor {floor:,.1f} for all workers together"


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
