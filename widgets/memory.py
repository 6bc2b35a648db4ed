"""Memory for ops: workers against their limit, process groups against their own, and the host.

Reads the memory store every worker shares (never the business database): line
charts over a chosen window with the limit and warning lines, the current value
and the window's peak of every series, a badge that turns amber over a
warning and red over a limit, and the largest processes right now.

Each figure is judged against its own levels: a Switchboard worker against MEMORY_LIMIT_MB /
MEMORY_WARNING_MB, a process group's sum against its MEMORY_GROUP_LIMITS entry, a group without one not at
all (MariaDB's 590 MB is no worker's limit). The badge, the charts and the memory alerts share
monitoring.memory.judged_figures.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from redis.exceptions import RedisError

from access.roles import ADMIN, OPS
from monitoring.memory import Judged, Levels, MemoryLevels, judged_figures
from widgets.services import current_services
from widgets.common import cached_refresh, skeleton
from widgets.registry import OPS as OPS_COLUMN, REFRESH_SIGNAL, Widget

INTERVAL = "memory-interval"
WINDOW = "memory-window"
BADGE = "memory-badge"
WORKERS_CHART = "memory-workers-chart"
GROUPS_CHART = "memory-groups-chart"
HOST_CHART = "memory-host-chart"
SERIES_TABLE = "memory-series"
SUMMARY = "memory-summary"  # the charts' text alternative
TOP_TABLE = "memory-top"
# The largest-processes box stands this tall from the first paint (its skeleton) to any sample: ten rows, the
# caption and the notes fit, and a sample with fewer processes or without notes does not move the page below.
TOP_TABLE_HEIGHT_PX = 380
FRESHNESS = "memory-freshness"
STATUS = "memory-status"
QUERY_NAME = "memory"
TITLE = "memory charts"
POLL_SETTING = "MEMORY_POLL_SECONDS"
WINDOWS = {"15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600}
DEFAULT_WINDOW = "1h"
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
    ended: float | None = None  # a worker gone from the latest sample: when its last sample was taken


@dataclass(frozen=True)
class MemoryView:
    workers: list[SeriesView]
    groups: list[SeriesView]
    host: list[SeriesView]
    top: list[dict[str, Any]]
    sampled_at: float | None
    latest: Any = None  # the newest MemorySample (judged against the levels), None before the first


def layout(poll_seconds: int) -> html.Section:
    """Return the memory panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "memory-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Memory", id="memory-title"),
            html.Span("–", id=BADGE, className="badge"),
            # Toggle buttons, one pressed (Dash's RadioItems nests its radios in listbox options: axe's
            # nested-interactive, and a list without a name).
            html.Div(role="group", className="segmented", **{"aria-label": "Time window of the memory charts"},
                     children=[html.Button(name, id=window_button(name), className="segmented-button", n_clicks=0,
                                           title=f"Show the last {name}",
                                           **{"aria-pressed": str(name == DEFAULT_WINDOW).lower()})
                               for name in WINDOWS]),
            dcc.Store(id=WINDOW, data=DEFAULT_WINDOW),
            # Not a live region: "updated 4s ago" changes every second (the header announces a lost connection).
            html.Span("", id=STATUS, className="freshness"),
        ]),
        # The charts' text alternative: a sentence per chart (the tables below hold the figures).
        html.Div(id=SUMMARY, className="visually-hidden", **{"aria-label": "The memory charts in words"}),
        html.Div(className="charts", **{"aria-hidden": "true"}, children=[
            dcc.Graph(id=WORKERS_CHART, config={"displayModeBar": False}, className="chart", style={"height": "260px"},
                      figure=empty_figure("Switchboard workers")),
            dcc.Graph(id=GROUPS_CHART, config={"displayModeBar": False}, className="chart", style={"height": "260px"},
                      figure=empty_figure("Process groups")),
            dcc.Graph(id=HOST_CHART, config={"displayModeBar": False}, className="chart", style={"height": "260px"},
                      figure=empty_figure("Host")),
        ]),
        html.Div(className="tables", children=[
            html.Div(id=SERIES_TABLE, className="table-box", children=skeleton(350)),
            html.Div(id=TOP_TABLE, className="table-box", style={"minHeight": f"{TOP_TABLE_HEIGHT_PX}px"},
                     children=skeleton(TOP_TABLE_HEIGHT_PX)),
        ]),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


def window_button(name: str) -> str:
    """Return the id of the memory range's button for a window ('1h' -> 'memory-window-1h')."""
    return f"{WINDOW}-{name}"


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
        points = store.read(name, since, now, MAX_POINTS)
        # A worker that is not in the latest sample has ended (restarted, killed): no "now", but when it ended.
        ended = points[-1][0] if points and latest and name.startswith("worker.") and name not in current else None
        return SeriesView(name=name, label=series_label(name), points=points, now=current.get(name),
                          peak=store.peak(name, since), ended=ended)

    def chosen(prefix: str, suffixes: tuple[str, ...]) -> list[SeriesView]:
        views = [view(n) for n in sorted(names) if n.startswith(prefix) and n.endswith(suffixes)]
        # A group with no process in the whole window (no php-fpm on this host) is left off the chart.
        return [v for v in views if v.points and not (prefix == "group." and not v.peak)]

    top = [{"pid": p.pid, "name": p.name, "rss": p.rss, "uss": p.uss, "pss": p.pss, "why": p.why}
           for p in (latest.top if latest else ())]
    return MemoryView(
        workers=chosen("worker", (".rss", "total_rss")),
        groups=chosen("group.", ("total_rss", "largest_rss")),
        host=chosen("host.", ("used", "available", "swap_used")),
        top=top, sampled_at=latest.at if latest else None, latest=latest,
    )



def badge_state(view: MemoryView, levels: MemoryLevels) -> tuple[str, str]:
    """Return the badge's text and class: the worst figure now against its own levels."""
    figures = judged_figures(view.latest, levels) if view.latest else []
    if not figures:
        return "no samples yet", "badge"
    worst = max(figures, key=lambda figure: (_severity(figure), figure.value))
    text = f"{worst.label}: {worst.value / MB:,.0f} MB"
    severity = _severity(worst)
    if severity == 2:
        return f"over limit · {text}", "badge badge-bad"
    if severity == 1:
        return f"warning · {text}", "badge badge-warn"
    return f"ok · {text}", "badge badge-ok"


def _severity(figure: Judged) -> int:
    """Return 2 over its limit, 1 over its warning, else 0."""
    if figure.levels.limit_mb and figure.value >= figure.levels.limit_mb * MB:
        return 2
    if figure.levels.warning_mb and figure.value >= figure.levels.warning_mb * MB:
        return 1
    return 0


def empty_figure(title: str) -> dict[str, Any]:
    return memory_figure(title, [], [])


def _level_line(megabytes: int, label: str, color: str, dash: str, divisor: int = MB) -> tuple[dict, dict]:
    """Return the shape and the annotation of a horizontal line across the chart (y in the chart's unit)."""
    y = round(megabytes * MB / divisor, 2)
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
             "line": {"color": color, "dash": dash, "width": 1.5}}
    note = {"xref": "paper", "x": 0, "xanchor": "left", "yref": "y", "y": y, "yanchor": "bottom",
            "text": f"{label} {megabytes} MB", "showarrow": False, "font": {"color": color, "size": 11}}
    return shape, note


def level_lines(levels: Levels, name: str = "") -> list[tuple[int, str, str, str]]:
    """Return the limit and warning lines of one set of levels: (MB, label, colour, dash)."""
    prefix = f"{name} " if name else ""
    lines = [(levels.limit_mb, f"{prefix}limit", "#c8323b", "dash")] if levels.limit_mb else []
    return lines + ([(levels.warning_mb, f"{prefix}warning", "#c27c00", "dot")] if levels.warning_mb else [])


def group_lines(levels: MemoryLevels, groups: list[SeriesView]) -> list[tuple[int, str, str, str]]:
    """Return the level lines of the groups charted (each its own, named: 'php-fpm limit 512 MB')."""
    charted = {v.name.split(".")[1] for v in groups if v.name.count(".") >= 2}
    return [line for name in sorted(charted) if name in levels.groups for line in level_lines(levels.groups[name], name)]


GB = 1024 * MB
GB_ABOVE = 10 * GB  # the host axis read "20k" MB: above 10 GB the charts and tables speak GB
DASHES = ("solid", "dash", "dot", "dashdot")
GAP_FACTOR = 3  # a pause over three sample periods is a gap in the line, not a line drawn across it


def unit_for(series: list[SeriesView], levels: list[tuple[int, str, str, str]] = ()) -> tuple[str, int]:
    """Return the unit of a chart: GB when its largest value (or level line) is above 10 GB, else MB."""
    largest = max([value for view in series for _, value in view.points] + [mb * MB for mb, *_ in levels],
                  default=0)
    return ("GB", GB) if largest > GB_ABOVE else ("MB", MB)


def with_gaps(points: list[tuple[float, float]], divisor: int) -> tuple[list[int | None], list[float | None]]:
    """Return a series' x (ms) and y (in the unit), with a None where samples are missing: Plotly breaks the line
    there instead of drawing a drop to 0 or a straight line across the outage."""
    steps = sorted(b[0] - a[0] for a, b in zip(points, points[1:]))
    usual = steps[len(steps) // 2] if steps else 0
    xs: list[int | None] = []
    ys: list[float | None] = []
    for index, (at, value) in enumerate(points):
        if index and usual > 0 and at - points[index - 1][0] > GAP_FACTOR * usual:
            xs.append(int((points[index - 1][0] + at) * 500))
            ys.append(None)
        xs.append(int(at * 1000))
        ys.append(round(value / divisor, 2 if divisor == GB else 1))
    return xs, ys


def memory_figure(title: str, series: list[SeriesView], levels: list[tuple[int, str, str, str]],
                  display_timezone: str = "UTC") -> dict[str, Any]:
    """Return a line chart of the series in MB (GB above 10 GB), with level lines (MB, label, colour, dash).

    Missing samples are gaps; a worker that ended says when in its legend entry; series with the same points
    (one worker: its RSS is "all workers") get their own dash and width and say which they equal, so neither
    hides the other. Built as plain Plotly JSON: plotly.graph_objects validates every property and costs
    about 40 ms a chart, on every poll of every viewer.
    """
    unit, divisor = unit_for(series, levels)
    traces, seen = [], {}
    for index, view in enumerate(series):
        label = view.label + (f" (ended {clock(view.ended, display_timezone)})" if view.ended else "")
        same = seen.get(tuple(view.points))
        seen.setdefault(tuple(view.points), view.label)
        x, y = with_gaps(view.points, divisor)
        traces.append({"type": "scatter", "mode": "lines", "name": label + (f" = {same}" if same else ""),
                       "x": x, "y": y, "connectgaps": False,
                       "line": {"dash": DASHES[index % len(DASHES)], "width": 4 if index == 0 else 2},
                       "hovertemplate": "%{y:,.1f} " + unit + "<extra>" + label + "</extra>"})
    lines = [_level_line(megabytes, label, color, dash, divisor) for megabytes, label, color, dash in levels]
    layout = {
        "title": {"text": title, "font": {"size": 13}, "x": 0.01}, "margin": {"l": 44, "r": 8, "t": 30, "b": 28},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#8a94a6", "size": 11},
        "legend": {"orientation": "h", "y": -0.2}, "xaxis": {"type": "date", "showgrid": False},
        "yaxis": {"title": {"text": unit}, "gridcolor": "rgba(138,148,166,0.2)", "rangemode": "tozero"},
        "shapes": [shape for shape, _ in lines], "annotations": [note for _, note in lines],
    }
    return {"data": traces, "layout": layout}


def clock(at: float | None, display_timezone: str = "UTC") -> str:
    """Return a moment as HH:MM:SS on the display clock."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if at is None:
        return "–"
    try:
        zone = ZoneInfo(display_timezone)
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return datetime.fromtimestamp(at, zone).strftime("%H:%M:%S")


def chart_summary(title: str, series: list[SeriesView], window: str, display_timezone: str = "UTC") -> str:
    """Return the text alternative of a chart: one sentence per series (now, peak, or when it ended)."""
    if not series:
        return f"{title}: no samples in the last {window}."
    parts = []
    for view in series:
        state = (f"ended {clock(view.ended, display_timezone)}" if view.ended
                 else f"now {_amount(view.now)}")
        parts.append(f"{view.label} {state}, peak {_amount(view.peak)}")
    return f"{title}, last {window}: " + "; ".join(parts) + "."


def _megabytes(value: float | int | None) -> str:
    return _amount(value)


def _amount(value: float | int | None) -> str:
    """Return bytes as MB, or as GB above 10 GB ('20.3 GB', not '20,800.0 MB')."""
    if value is None:
        return "–"
    return f"{value / GB:,.1f} GB" if value > GB_ABOVE else f"{value / MB:,.1f} MB"


def series_table(series: list[dict[str, Any]]) -> html.Table:
    """Return the current value and the window's peak of every series ({label, now, peak})."""
    rows = [html.Tr([html.Td(v["label"]),
                     html.Td(f"ended {v['ended']}" if v.get("ended") else _megabytes(v["now"]), className="numeric"),
                     html.Td(_megabytes(v["peak"]), className="numeric")])
            for v in series]
    return html.Table(className="data-table", children=[
        html.Caption("Now and peak in the window"),
        html.Thead(html.Tr([html.Th("series"), html.Th("now"), html.Th("peak")])), html.Tbody(rows)])


def top_table(top: list[dict[str, Any]]) -> html.Table:
    """Return the largest processes of the latest sample."""
    reasons = list(dict.fromkeys(p.get("why") for p in top if p.get("why")))

    def share(p: dict[str, Any], key: str) -> html.Td:
        if p[key] is not None:
            return html.Td(_megabytes(p[key]), className="numeric")
        mark = f" ({reasons.index(p['why']) + 1})" if p.get("why") in reasons else ""
        return html.Td("–" + mark, className="numeric", title=p.get("why") or "not sampled")

    # A long command line is cut to one line (whole in its title), and the reasons share one note: the panel keeps
    # its height from sample to sample, whichever processes are largest.
    rows = [html.Tr([html.Td(str(p["pid"]), className="numeric"),
                     html.Td(p["name"], className="one-line", title=p["name"]),
                     html.Td(_megabytes(p["rss"]), className="numeric"), share(p, "uss"), share(p, "pss")]) for p in top]
    notes = [html.P(" · ".join(f"– ({number}): {reason}" for number, reason in enumerate(reasons, start=1)),
                    className="caption one-line")] if reasons else []
    return html.Div([html.Table(className="data-table", children=[
        html.Caption("Largest processes now (USS: memory only it uses; PSS: its share of what it shares)"),
        html.Thead(html.Tr([html.Th("pid"), html.Th("process"), html.Th("RSS"), html.Th("USS"), html.Th("PSS")])),
        html.Tbody(rows)]), *notes])


UNCHANGED = {"badge": no_update, "badge_class": no_update, "workers": no_update, "groups": no_update,
             "summary": no_update,
             "host": no_update, "series": no_update, "top": no_update}


def refresh(window, previous_freshness) -> dict[str, Any]:
    """Read the window's samples (cached for one poll) and build charts, badge and tables."""
    services = current_services()
    window = window if isinstance(window, str) and window in WINDOWS else DEFAULT_WINDOW
    config = services.config
    result = cached_refresh("memory", lambda: services.queries.get_or_compute(
        QUERY_NAME, {"window": window}, services.poll_seconds(POLL_SETTING),
        lambda: panel_payload(build_view(services.memory_store, WINDOWS[window], services.clock()), MemoryLevels.from_config(config),
                              window, config["DISPLAY_TIMEZONE"])),
        config["STATEMENT_TIMEOUT_MS"], errors=STORE_ERRORS, reason=lambda _error: "memory store unreachable")
    if result.cached is None:
        return {**UNCHANGED, "freshness": result.freshness(previous_freshness)}
    payload = result.cached.value
    (badge, badge_class), (workers, groups, host) = payload["badge"], payload["figures"]
    return {"badge": badge, "badge_class": badge_class, "workers": workers, "groups": groups, "host": host,
            "summary": html.Ul([html.Li(text) for text in payload.get("summaries", [])]),
            "series": series_table(payload["series"]), "top": top_table(payload["top"]),
            "freshness": result.freshness(previous_freshness)}


def panel_payload(view: MemoryView, levels: MemoryLevels, window: str = DEFAULT_WINDOW,
                  display_timezone: str = "UTC") -> dict[str, Any]:
    """Build the badge, the charts and their text alternatives once per poll interval; the tables need only the
    current values.

    Plain JSON data, as the query cache stores it: the tables' rows, not the view's dataclasses."""
    charts = (("Switchboard workers", view.workers, level_lines(levels.workers)),
              ("Process groups", view.groups, group_lines(levels, view.groups)), ("Host", view.host, []))
    return {"badge": badge_state(view, levels),
            "figures": tuple(memory_figure(title, series, lines, display_timezone) for title, series, lines in charts),
            "summaries": [chart_summary(title, series, window, display_timezone) for title, series, _ in charts],
            "series": [{"label": v.label, "now": v.now, "peak": v.peak,
                        "ended": clock(v.ended, display_timezone) if v.ended else None}
                       for v in view.workers + view.groups + view.host],
            "top": view.top}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    app.callback(
        output={"badge": Output(BADGE, "children"), "badge_class": Output(BADGE, "className"),
                "workers": Output(WORKERS_CHART, "figure"), "groups": Output(GROUPS_CHART, "figure"),
                "host": Output(HOST_CHART, "figure"), "series": Output(SERIES_TABLE, "children"),
                "summary": Output(SUMMARY, "children"),
                "top": Output(TOP_TABLE, "children"), "freshness": Output(FRESHNESS, "data")},
        inputs={"_ticks": Input(INTERVAL, "n_intervals"), "_signal": Input(REFRESH_SIGNAL, "data"),
                "window": Input(WINDOW, "data")},
        state={"previous_freshness": State(FRESHNESS, "data")},
    )(lambda _ticks, _signal, window, previous_freshness: refresh(window, previous_freshness))
    buttons = [window_button(name) for name in WINDOWS]
    app.clientside_callback(
        ClientsideFunction("switchboard", "memoryWindow"),
        Output(WINDOW, "data"), *[Output(button, "aria-pressed") for button in buttons],
        *[Input(button, "n_clicks") for button in buttons], prevent_initial_call=True,
    )


WIDGET = Widget(
    area="memory", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, response_output=BADGE,
    queries={QUERY_NAME: TITLE}, placement=OPS_COLUMN,
)
