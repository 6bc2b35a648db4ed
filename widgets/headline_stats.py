"""Headline stats: number cards compared with yesterday and last week, and calls per hour against last week.

"Ongoing now" is the ongoing-calls widget's own count (the same cached result as its badge, refreshed at its
poll interval by a callback of its own), never a second count that could disagree.
"""
from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, dcc, html, no_update

from access.roles import ADMIN, OPS
from access.web import current_viewer
from queries import headline_stats as queries
from queries.headline_stats import Compared, HeadlineStats, fetch_headline_stats
from queries import figures
from queries.schema_map import schema_of
from widgets.services import current_services
from widgets import ongoing_calls
from widgets.common import cached_refresh, register_poll
from widgets.registry import CONNECTION, PAUSED, REFRESH_SIGNAL, VISIBILITY, Widget

INTERVAL = "stats-interval"
ONGOING_INTERVAL = "stats-ongoing-interval"
CARDS = "stats-cards"
ONGOING_VALUE = "card-ongoing"
CHART = "stats-chart"
CHART_TEXT = "stats-chart-text"
FRESHNESS = "stats-freshness"
STATUS = "stats-status"
QUERY_NAME = "headline_stats"
TITLE = "headline stats"
POLL_SETTING = "HEADLINE_STATS_POLL_SECONDS"
ONGOING_POLL_SETTING = ongoing_calls.POLL_SETTING
# Each card and the figure it shows (queries/figures.py: its label, and what it counts as the card's title).
CARD_FIGURES = {"ongoing": "ongoing", "calls_today": "calls", "appointments_today": "appointments_starting_today",
                "average_duration_today": "average_call_today"}
CARD_LABELS = tuple((key, figures.label(figure)) for key, figure in CARD_FIGURES.items())
BAR_COLOUR, LINE_COLOUR = "#4f7cff", "#c2620a"
HOUR_TICKS = 8  # at most this many labels on the hours axis (plotly spaces them evenly: every 4th hour)


def layout(poll_seconds: int, ongoing_poll_seconds: int = 5) -> html.Section:
    """Return the headline panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "stats-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Today", id="stats-title"),
            # Not a live region: "updated 4s ago" changes every second (the header announces a lost connection).
            html.Span("", id=STATUS, className="freshness"),
        ]),
        html.Div(id=CARDS, className="cards", children=cards(card_values(None))),
        # The chart's text alternative, written by the browser from the figure (assets/switchboard.js chartText).
        html.P(id=CHART_TEXT, className="visually-hidden"),
        html.Div(dcc.Graph(id=CHART, figure=calls_per_hour_figure(None), config={"displayModeBar": False},
                           className="chart", style={"height": "280px"}), **{"aria-hidden": "true"}),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Interval(id=ONGOING_INTERVAL, interval=ongoing_poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


def panel(config: dict[str, Any]) -> html.Section:
    return layout(int(config[POLL_SETTING]), int(config[ONGOING_POLL_SETTING]))


def format_duration(seconds: float | None) -> str:
    """Return seconds as '2:05' or '1:02:05'; a dash when there is nothing to average."""
    if seconds is None:
        return "–"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def change(today: float | None, earlier: float | None) -> str:
    """Return today's change against an earlier figure: '+12 %', '−3 %', '±0 %'; '–' without both."""
    if today is None or earlier is None or earlier == 0:
        return "–"
    percent = round((today - earlier) / earlier * 100)
    return "±0 %" if percent == 0 else f"{'+' if percent > 0 else '−'}{abs(percent)} %"


def comparisons(figure: Compared, stats: HeadlineStats, whole_day: bool = False,
                shown=lambda value: f"{int(value):,}") -> list[str]:
    """Return "+12 % vs yesterday at 14:05 (273)" and "−3 % vs last Tuesday (316)" for one figure."""
    weekday = (stats.local_now.date().strftime("%A"))
    at = "" if whole_day else f" at {stats.local_now:%H:%M}"
    lines = []
    for earlier, words in ((figure.yesterday, f"yesterday{at}" if not whole_day else "all of yesterday"),
                           (figure.last_week, f"last {weekday}{at}" if not whole_day else f"all of last {weekday}")):
        number = "nothing" if earlier is None else shown(earlier)
        lines.append(f"{change(figure.today, earlier)} vs {words} ({number})")
    return lines


# The cards a platform may keep nothing for, by the feature (queries/schema_map.py FEATURES) they come from.
CARD_FEATURES = {"appointments_today": "appointments", "average_duration_today": "duration"}


def card_values(stats: HeadlineStats | None, ongoing: str = "–", lacking: dict[str, str] | None = None
                ) -> dict[str, dict[str, Any]]:
    """Return each card's value and comparison lines; "Ongoing now" is the ongoing-calls widget's count. A card
    in `lacking` (its key: the note) reads "–" with the note: the platform keeps nothing for it."""
    if stats is None:
        return {key: {"value": ongoing if key == "ongoing" else "–", "compared": []} for key, _ in CARD_LABELS}
    return {**_card_values(stats, ongoing),
            **{key: {"value": "–", "compared": [note]} for key, note in (lacking or {}).items()}}


def _card_values(stats: HeadlineStats, ongoing: str) -> dict[str, dict[str, Any]]:
    return {
        "ongoing": {"value": ongoing, "compared": ["live: the count of Ongoing calls"]},
        "calls_today": {"value": f"{stats.calls_today:,}", "compared": comparisons(stats.calls, stats)},
        "appointments_today": {"value": f"{stats.appointments_today:,}",
                               "compared": comparisons(stats.appointments, stats, whole_day=True)},
        "average_duration_today": {"value": format_duration(stats.average_duration_today),
                                   "compared": comparisons(stats.average_duration, stats, shown=format_duration)},
    }


def cards(values: dict[str, dict[str, Any]], prefix: str = "card") -> list[html.Div]:
    """Return the cards: a value, its label and its comparisons (their +/− say which way, not a colour). What
    the figure counts is the card's title, and read out after its label (hidden text) by a screen reader."""
    return [html.Div(className="card", title=figures.tooltip(CARD_FIGURES[key]), children=[
        html.Div(values[key]["value"], className="card-value", id=f"{prefix}-{key}"),
        html.Div(label, className="card-label"),
        html.Span(figures.tooltip(CARD_FIGURES[key]), className="visually-hidden"),
        *[html.Div(line, className="card-compared") for line in values[key]["compared"]],
    ]) for key, label in CARD_LABELS]


def hour_labels() -> list[str]:
    return [f"{hour:02d}:00" for hour in range(24)]


def calls_per_hour_figure(stats: HeadlineStats | None, display_timezone: str = "UTC") -> dict[str, Any]:
    """Return today's calls per hour as bars and the same weekday last week's as a line, as plain Plotly JSON.

    The hours are the viewer's clock in DISPLAY_TIMEZONE, as category labels ("14:00"): the browser draws
    them as they are, whatever its own timezone (a date axis would be shifted into the browser's)."""
    today: list[int | None] = []
    last_week: list[int] = []
    weekday = "week"
    if stats is not None:
        today = [None if count is None or count != count else int(count) for count in stats.calls_per_hour.calls]
        last_week = [int(count) for count in stats.calls_per_hour.last_week]
        weekday = stats.local_now.date().strftime("%A")
    labels = hour_labels()
    bars = {"type": "bar", "x": labels, "y": today, "name": "Today", "marker": {"color": BAR_COLOUR},
            "hovertemplate": "%{x}: %{y} calls today<extra></extra>"}
    line = {"type": "scatter", "mode": "lines+markers", "x": labels, "y": last_week, "name": f"Last {weekday}",
            "line": {"color": LINE_COLOUR, "width": 2, "dash": "dot"}, "marker": {"size": 5, "symbol": "diamond"},
            "hovertemplate": f"%{{x}}: %{{y}} calls last {weekday}<extra></extra>"}
    layout = {
        "title": {"text": f"Calls per hour: today and last {weekday}", "x": 0, "font": {"size": 14}},
        "margin": {"l": 52, "r": 8, "t": 36, "b": 44}, "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#637085", "size": 12}, "bargap": 0.15,
        "showlegend": True, "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12},
        "xaxis": {"type": "category", "showgrid": False, "title": {"text": f"Hour of day ({display_timezone})"},
                  "categoryorder": "array", "categoryarray": labels, "automargin": True,
                  # Twelve "00:00" labels need about 400 px, a phone's chart has about 290: at most eight fit it,
                  # and a still narrower chart turns them rather than write them over each other.
                  "nticks": HOUR_TICKS, "tickangle": "auto"},
        "yaxis": {"gridcolor": "rgba(138,148,166,0.2)", "rangemode": "tozero", "title": {"text": "Calls"}},
    }
    return {"data": [bars, line], "layout": layout}


def ongoing_count(services) -> str | None:
    """Return the ongoing-calls widget's count for this viewer (its badge's text), from the same cached result."""
    viewer = current_viewer()
    result = ongoing_calls.cached_calls(services, viewer.scoped(None), viewer.masks_phones)
    return result.cached.value["badge"] if result.cached else None


def refresh(previous_freshness) -> dict[str, Any]:
    """Fetch (or take from the cache) the headline figures; on a failure the last ones stay."""
    services = current_services()
    result = cached_headline(services)
    payload = result.cached.value if result.cached else None
    if payload is None:
        return {"cards": no_update, "figure": no_update, "freshness": result.freshness(previous_freshness)}
    values = with_ongoing(payload["cards"], ongoing_count(services) or "–")
    return {"cards": cards(values), "figure": payload["figure"], "freshness": result.freshness(previous_freshness)}


def cached_headline(services):
    """Return the headline payload from the query cache (computed when due), as the panel and the wallboard
    show it."""
    config = services.config
    return cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"company_ids": None, "display_timezone": config["DISPLAY_TIMEZONE"]},
        services.poll_seconds(POLL_SETTING), lambda: _payload(services)), config["STATEMENT_TIMEOUT_MS"])


def with_ongoing(values: dict[str, dict[str, Any]], ongoing: str, compared: list[str] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Return the cached card values with "Ongoing now" filled in (a copy: the cached ones stay as cached)."""
    filled = {key: dict(value) for key, value in values.items()}
    filled["ongoing"] = {"value": ongoing,
                         "compared": filled["ongoing"]["compared"] if compared is None else compared}
    return filled


def refresh_ongoing() -> Any:
    """Return "Ongoing now" at the ongoing calls' pace; a failure keeps the last figure."""
    return ongoing_count(current_services()) or no_update


def _payload(services) -> dict[str, Any]:
    """Fetch the figures and build what the browser is sent (cached as built)."""
    now = services.now()
    config = services.config
    stats = fetch_headline_stats(services.reader, now, services.today_start(now),
                                 display_timezone=config["DISPLAY_TIMEZONE"],
                                 database_timezone=config["DATABASE_TIMEZONE"])
    schema = schema_of(services.reader)
    lacking = {key: note for key, feature in CARD_FEATURES.items() for note in schema.notes(feature)}
    return {"cards": card_values(stats, lacking=lacking),
            "figure": calls_per_hour_figure(stats, config["DISPLAY_TIMEZONE"])}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    register_poll(app, {"cards": Output(CARDS, "children"), "figure": Output(CHART, "figure"),
                        "freshness": Output(FRESHNESS, "data")}, refresh, INTERVAL, FRESHNESS)
    app.callback(Output(ONGOING_VALUE, "children"), Input(ONGOING_INTERVAL, "n_intervals"),
                 Input(REFRESH_SIGNAL, "data"), prevent_initial_call=True)(lambda _ticks, _signal: refresh_ongoing())
    # Its interval follows the page's pause, hidden tab and lost connection like every widget's.
    app.clientside_callback(ClientsideFunction("switchboard", "chartText"), Output(CHART_TEXT, "children"),
                            Input(CHART, "figure"))
    app.clientside_callback(ClientsideFunction("switchboard", "followPolling"), Output(ONGOING_INTERVAL, "disabled"),
                            Input(PAUSED, "data"), Input(VISIBILITY, "data"), Input(CONNECTION, "data"))


WIDGET = Widget(
    area="headline", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, response_output=CARDS,
    queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples, build=panel,
)
