"""Memory for ops: workers, process groups and the host against the per-process limit.

Reads the memory store every worker shares (never the business database): line
charts over a chosen window with the limit and warning lines, the current value
and the window's peak of every series, a badge that turns amber over the
warning and red over the limit, and the largest processes right now.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update
from redis.exceptions import RedisError

from access.roles import ADMIN, OPS
from services import current_services
from widgets.common import cached_refresh
from widgets.registry import OPS as OPS_COLUMN, REFRESH_SIGNAL, Widget

INTERVAL = "memory-interval"
WINDOW = "memory-window"
BADGE = "memory-badge"
WORKERS_CHART = "memory-workers-chart"
GROUPS_CHART = "memory-groups-chart"
HOST_CHART = "memory-host-chart"
SERIES_TABLE = "memory-series"
TOP_TABLE = "memory-top"
FRESHNESS = "memory-freshness"
STATUS = "memory-status"
QUERY_NAME = "memory"
TITLE = "memory charts"
POLL_SETTING = "MEMORY_POLL_SECONDS"
WINDOWS = {"15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600}
MB = 1024 * 1024
MAX_POINTS = 1000
STORE_ERRORS = (OSError, RuntimeError, ValueError, sqlite3.Error, RedisError)


@dataclass(frozen=True)
class SeriesView:
    name: str
    label: str
    points: list[tuple[float, float]]
    now: float | None
    peak: float | None


@dataclass(frozen=True)
class MemoryView:
    workers: list[SeriesView]
    groups: list[SeriesView]
    host: list[SeriesView]
    top: list[dict[str, Any]]
    sampled_at: float | None


def layout(poll_seconds: int) -> html.Section:
    """Return the memory panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "memory-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Memory", id="memory-title"),
            html.Span("–", id=BADGE, className="badge", **{"aria-live": "polite"}),
            html.Div(role="group", **{"aria-label": "Time window of the memory charts"}, children=dcc.RadioItems(
                id=WINDOW, options=[{"label": name, "value": name} for name in WINDOWS], value="1h",
                inline=True, className="segmented", inputClassName="segmented-input")),
            # Not a live region: "updated 4s ago" changes every second (the header announces a lost connection).
            html.Span("", id=STATUS, className="freshness"),
        ]),
        html.Div(className="charts", children=[
            dcc.Graph(id=WORKERS_CHART, config={"displayModeBar": False}, className="chart", style={"height": "260px"},
                      figure=empty_figure("Switchboard workers")),
            dcc.Graph(id=GROUPS_CHART, config={"displayModeBar": False}, className="chart", style={"height": "260px"},
                      figure=empty_figure("Process groups")),
            dcc.Graph(id=HOST_CHART, config={"displayModeBar": False}, className="chart", style={"height": "260px"},
                      figure=empty_figure("Host")),
        ]),
        html.Div(className="tables", children=[
            html.Div(id=SERIES_TABLE, className="table-box"),
            html.Div(id=TOP_TABLE, className="table-box"),
        ]),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


def series_label(name: str) -> str:
    """Return a reader's name for a stored series ('group.php-fpm.largest_rss' -> 'php-fpm largest')."""
    parts = name.split(".")
    if parts[0] == "worker" and len(parts) == 3:
        return f"worker {parts[1]} {parts[2].upper()}"
    if parts[0] == "workers":
        return "all workers"
    if parts[0] == "group" and len(parts) >= 3:
        return f"{'.'.join(parts[1:-1])} {'total' if parts[-1] == 'total_rss' else 'largest'}"
    if parts[0] == "host":
        return f"host {parts[1].replace('_', ' ')}"
    return name


def build_view(store, window_seconds: int, now: float | None = None) -> MemoryView:
    """Read every charted series of the window from the store."""
    now = now or time.time()
    since = now - window_seconds
    names = store.series_names()
    latest = store.latest()
    current = latest.series() if latest else {}

    def view(name: str) -> SeriesView:
        return SeriesView(name=name, label=series_label(name), points=store.read(name, since, now, MAX_POINTS),
                          now=current.get(name), peak=store.peak(name, since))

    def chosen(prefix: str, suffixes: tuple[str, ...]) -> list[SeriesView]:
        views = [view(n) for n in sorted(names) if n.startswith(prefix) and n.endswith(suffixes)]
        # A group with no process in the whole window (no php-fpm on this host) is left off the chart.
        return [v for v in views if v.points and not (prefix == "group." and not v.peak)]

    top = [{"pid": p.pid, "name": p.name, "rss": p.rss, "uss": p.uss, "pss": p.pss}
           for p in (latest.top if latest else ())]
    return MemoryView(
        workers=chosen("worker", (".rss", "total_rss")),
        groups=chosen("group.", ("total_rss", "largest_rss")),
        host=chosen("host.", ("used", "available", "swap_used")),
        top=top, sampled_at=latest.at if latest else None,
    )


def badge_state(view: MemoryView, warning_mb: int, limit_mb: int) -> tuple[str, str]:
    """Return the badge's text and class from the largest single process now."""
    per_process = [v for v in view.workers if v.name.startswith("worker.")] + \
                  [v for v in view.groups if v.name.endswith("largest_rss")]
    measured = [(v.now, v.label) for v in per_process if v.now is not None]
    if not measured:
        return "no samples yet", "badge"
    largest, label = max(measured)
    text = f"{label.replace(' RSS', '').replace(' largest', '')}: {largest / MB:,.0f} MB"
    if largest >= limit_mb * MB:
        return f"over limit · {text}", "badge badge-bad"
    if largest >= warning_mb * MB:
        return f"warning · {text}", "badge badge-warn"
    return f"ok · {text}", "badge badge-ok"


def empty_figure(title: str) -> dict[str, Any]:
    return memory_figure(title, [], None, None)


def _level_line(megabytes: int, label: str, color: str, dash: str) -> tuple[dict, dict]:
    """Return the shape and the annotation of a horizontal line across the chart."""
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": megabytes, "y1": megabytes,
             "line": {"color": color, "dash": dash, "width": 1.5}}
    note = {"xref": "paper", "x": 0, "xanchor": "left", "yref": "y", "y": megabytes, "yanchor": "bottom",
            "text": f"{label} {megabytes} MB", "showarrow": False, "font": {"color": color, "size": 11}}
    return shape, note


def memory_figure(title: str, series: list[SeriesView], warning_mb: int | None, limit_mb: int | None) -> dict[str, Any]:
    """Return a line chart of the series in MB, with the per-process warning and limit lines.

    Built as plain Plotly JSON: plotly.graph_objects validates every property and costs
    about 40 ms a chart, on every poll of every viewer.
    """
    traces = [{"type": "scattergl", "mode": "lines", "name": view.label,
               "x": [int(at * 1000) for at, _ in view.points], "y": [round(value / MB, 1) for _, value in view.points],
               "hovertemplate": "%{y:,.1f} MB<extra>" + view.label + "</extra>"} for view in series]
    lines = [_level_line(limit_mb, "limit", "#c8323b", "dash")] if limit_mb else []
    lines += [_level_line(warning_mb, "warning", "#c27c00", "dot")] if warning_mb else []
    layout = {
        "title": {"text": title, "font": {"size": 13}, "x": 0.01}, "margin": {"l": 44, "r": 8, "t": 30, "b": 28},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#8a94a6", "size": 11},
        "legend": {"orientation": "h", "y": -0.2}, "xaxis": {"type": "date", "showgrid": False},
        "yaxis": {"title": {"text": "MB"}, "gridcolor": "rgba(138,148,166,0.2)", "rangemode": "tozero"},
        "shapes": [shape for shape, _ in lines], "annotations": [note for _, note in lines],
    }
    return {"data": traces, "layout": layout}


def _megabytes(value: float | int | None) -> str:
    return "–" if value is None else f"{value / MB:,.1f} MB"


def series_table(series: list[dict[str, Any]]) -> html.Table:
    """Return the current value and the window's peak of every series ({label, now, peak})."""
    rows = [html.Tr([html.Td(v["label"]), html.Td(_megabytes(v["now"]), className="numeric"),
                     html.Td(_megabytes(v["peak"]), className="numeric")])
            for v in series]
    return html.Table(className="data-table", children=[
        html.Caption("Now and peak in the window"),
        html.Thead(html.Tr([html.Th("series"), html.Th("now"), html.Th("peak")])), html.Tbody(rows)])


def top_table(top: list[dict[str, Any]]) -> html.Table:
    """Return the largest processes of the latest sample."""
    rows = [html.Tr([html.Td(str(p["pid"]), className="numeric"), html.Td(p["name"]),
                     html.Td(_megabytes(p["rss"]), className="numeric"), html.Td(_megabytes(p["uss"]), className="numeric"),
                     html.Td(_megabytes(p["pss"]), className="numeric")]) for p in top]
    return html.Table(className="data-table", children=[
        html.Caption("Largest processes now"),
        html.Thead(html.Tr([html.Th("pid"), html.Th("process"), html.Th("RSS"), html.Th("USS"), html.Th("PSS")])),
        html.Tbody(rows)])


UNCHANGED = {"badge": no_update, "badge_class": no_update, "workers": no_update, "groups": no_update,
             "host": no_update, "series": no_update, "top": no_update}


def refresh(window, previous_freshness) -> dict[str, Any]:
    """Read the window's samples (cached for one poll) and build charts, badge and tables."""
    services = current_services()
    window = window if isinstance(window, str) and window in WINDOWS else "1h"
    config = services.config
    result = cached_refresh("memory", lambda: services.queries.get_or_compute(
        QUERY_NAME, {"window": window}, services.poll_seconds(POLL_SETTING),
        lambda: panel_payload(build_view(services.memory_store, WINDOWS[window]),
                              config["MEMORY_WARNING_MB"], config["MEMORY_LIMIT_MB"])),
        config["STATEMENT_TIMEOUT_MS"], errors=STORE_ERRORS, reason=lambda _error: "memory store unreachable")
    if result.cached is None:
        return {**UNCHANGED, "freshness": result.freshness(previous_freshness)}
    payload = result.cached.value
    (badge, badge_class), (workers, groups, host) = payload["badge"], payload["figures"]
    return {"badge": badge, "badge_class": badge_class, "workers": workers, "groups": groups, "host": host,
            "series": series_table(payload["series"]), "top": top_table(payload["top"]),
            "freshness": result.freshness(previous_freshness)}


def panel_payload(view: MemoryView, warning_mb: int, limit_mb: int) -> dict[str, Any]:
    """Build the badge and the charts once per poll interval; the tables need only the current values.

    Plain JSON data, as the query cache stores it: the tables' rows, not the view's dataclasses."""
    return {"badge": badge_state(view, warning_mb, limit_mb),
            "figures": (memory_figure("Switchboard workers", view.workers, warning_mb, limit_mb),
                        memory_figure("Process groups", view.groups, warning_mb, limit_mb),
                        memory_figure("Host", view.host, None, None)),
            "series": [{"label": v.label, "now": v.now, "peak": v.peak} for v in view.workers + view.groups + view.host],
            "top": view.top}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    app.callback(
        output={"badge": Output(BADGE, "children"), "badge_class": Output(BADGE, "className"),
                "workers": Output(WORKERS_CHART, "figure"), "groups": Output(GROUPS_CHART, "figure"),
                "host": Output(HOST_CHART, "figure"), "series": Output(SERIES_TABLE, "children"),
                "top": Output(TOP_TABLE, "children"), "freshness": Output(FRESHNESS, "data")},
        inputs={"_ticks": Input(INTERVAL, "n_intervals"), "_signal": Input(REFRESH_SIGNAL, "data"),
                "window": Input(WINDOW, "value")},
        state={"previous_freshness": State(FRESHNESS, "data")},
    )(lambda _ticks, _signal, window, previous_freshness: refresh(window, previous_freshness))


WIDGET = Widget(
    area="memory", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, response_output=BADGE,
    queries={QUERY_NAME: TITLE}, placement=OPS_COLUMN,
)
