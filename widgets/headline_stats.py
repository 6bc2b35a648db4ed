"""Headline stats: number cards and a calls-per-hour chart."""
from __future__ import annotations

from typing import Any

from dash import Dash, Output, dcc, html, no_update

from access.roles import ADMIN, OPS
from queries import headline_stats as queries
from queries.headline_stats import HeadlineStats, fetch_headline_stats
from services import current_services
from widgets.common import cached_refresh, epoch, register_poll
from widgets.registry import Widget

INTERVAL = "stats-interval"
CARDS = "stats-cards"
CHART = "stats-chart"
FRESHNESS = "stats-freshness"
STATUS = "stats-status"
QUERY_NAME = "headline_stats"
TITLE = "headline stats"
POLL_SETTING = "HEADLINE_STATS_POLL_SECONDS"
CARD_LABELS = (("ongoing", "Ongoing now"), ("calls_today", "Calls today"),
               ("appointments_today", "Appointments today"), ("average_duration_today", "Avg. call today"))


def layout(poll_seconds: int) -> html.Section:
    """Return the headline panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "stats-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Today", id="stats-title"),
            # Not a live region: "updated 4s ago" changes every second (the header announces a lost connection).
            html.Span("", id=STATUS, className="freshness"),
        ]),
        html.Div(id=CARDS, className="cards", children=cards(card_values(None))),
        dcc.Graph(id=CHART, figure=calls_per_hour_figure(None), config={"displayModeBar": False},
                  className="chart", style={"height": "220px"}),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


def format_duration(seconds: float | None) -> str:
    """Return seconds as '2:05' or '1:02:05'; a dash when there is nothing to average."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def card_values(stats: HeadlineStats | None) -> dict[str, str]:
    """Return the text of each card."""
    if stats is None:
        return {key: "–" for key, _ in CARD_LABELS}
    return {"ongoing": f"{stats.ongoing:,}", "calls_today": f"{stats.calls_today:,}",
            "appointments_today": f"{stats.appointments_today:,}",
            "average_duration_today": format_duration(stats.average_duration_today)}


def cards(values: dict[str, str]) -> list[html.Div]:
    return [html.Div(className="card", children=[html.Div(values[key], className="card-value", id=f"card-{key}"),
                                                 html.Div(label, className="card-label")])
            for key, label in CARD_LABELS]


def calls_per_hour_figure(stats: HeadlineStats | None, database_timezone: str = "UTC") -> dict[str, Any]:
    """Return the calls-per-hour bar chart as plain Plotly JSON (hours as epoch ms, shown in the browser's time)."""
    x: list[int] = []
    y: list[int] = []
    if stats is not None:
        x = [epoch(hour, database_timezone) * 1000 for hour in stats.calls_per_hour.hour]
        y = [int(count) for count in stats.calls_per_hour.calls]
    bars = {"type": "bar", "x": x, "y": y, "name": "calls", "marker": {"color": "#4f7cff"},
            "hovertemplate": "%{y} calls<extra></extra>"}
    layout = {
        "margin": {"l": 36, "r": 8, "t": 8, "b": 28}, "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#8a94a6", "size": 12}, "bargap": 0.15,
        "showlegend": False, "xaxis": {"type": "date", "showgrid": False},
        "yaxis": {"gridcolor": "rgba(138,148,166,0.2)", "rangemode": "tozero"},
    }
    return {"data": [bars], "layout": layout}


def refresh(previous_freshness) -> dict[str, Any]:
    """Fetch (or take from the cache) the headline figures; on a failure the last ones stay."""
    services = current_services()
    result = cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"company_ids": None, "display_timezone": services.config["DISPLAY_TIMEZONE"]},
        services.poll_seconds(POLL_SETTING), lambda: _payload(services)), services.config["STATEMENT_TIMEOUT_MS"])
    payload = result.cached.value if result.cached else None
    return {"cards": cards(payload["cards"]) if payload else no_update,
            "figure": payload["figure"] if payload else no_update,
            "freshness": result.freshness(previous_freshness)}


def _payload(services) -> dict[str, Any]:
    """Fetch the figures and build what the browser is sent (cached as built)."""
    now = services.now()
    stats = fetch_headline_stats(services.reader, now, services.today_start(now))
    return {"cards": card_values(stats), "figure": calls_per_hour_figure(stats, services.config["DATABASE_TIMEZONE"])}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    register_poll(app, {"cards": Output(CARDS, "children"), "figure": Output(CHART, "figure"),
                        "freshness": Output(FRESHNESS, "data")}, refresh, INTERVAL, FRESHNESS)


WIDGET = Widget(
    area="headline", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, response_output=CARDS,
    queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples,
)
