"""The page around the widgets: header, theme, pause/resume, polling that respects hidden tabs.

Everything here runs in the browser (clientside callbacks in assets/switchboard.js):
- pause/resume and a hidden tab disable every widget's dcc.Interval;
- showing the tab again, or resuming, bumps `refresh-signal`, an input of every
  widget callback, so each refreshes at once;
- a one-second tick rewrites "updated 4s ago" and ticks live call durations,
  without a request to the server.
"""
from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

from widgets import activity, headline_stats, memory, ongoing_calls, self_cost

URL = activity.URL
REFRESH_SIGNAL = "refresh-signal"
VISIBILITY = "page-visibility"
PAUSED = "polling-paused"
PAUSE_BUTTON = "pause-button"
POLLING_STATE = "polling-state"
THEME = "theme"
THEME_BUTTON = "theme-button"
TICK = "clock-tick"
OPS_SLOT = "ops-slot"
SETTINGS = "display-settings"
WIDGET_INTERVALS = (ongoing_calls.INTERVAL, activity.INTERVAL, headline_stats.INTERVAL, memory.INTERVAL,
                    self_cost.INTERVAL)
FRESHNESS_PAIRS = ((ongoing_calls.FRESHNESS, ongoing_calls.STATUS), (activity.FRESHNESS, activity.STATUS),
                   (headline_stats.FRESHNESS, headline_stats.STATUS), (memory.FRESHNESS, memory.STATUS))
# The first output of each widget's data callback names the widget whose response it is.
RESPONSE_OUTPUTS = {ongoing_calls.GRID: ongoing_calls.QUERY_NAME, activity.GRID: activity.QUERY_NAME,
                    headline_stats.CARDS: headline_stats.QUERY_NAME, memory.BADGE: memory.QUERY_NAME}


def layout(config: dict, demo: bool) -> html.Div:
    """Return the whole page."""
    return html.Div(className="page", children=[
        dcc.Location(id=URL, refresh=False),
        html.Header(className="topbar", children=[
            html.H1(["Switchboard", html.Span(" live operations", className="subtitle")]),
            html.Span("Demo data" if demo else "", className="demo-flag" if demo else ""),
            html.Span("Live", id=POLLING_STATE, className="polling-state", **{"aria-live": "polite"}),
            html.Button("Pause", id=PAUSE_BUTTON, className="button", n_clicks=0,
                        title="Stop polling the database until resumed", **{"aria-pressed": "false"}),
            html.Button("Dark theme", id=THEME_BUTTON, className="button", n_clicks=0,
                        title="Switch between light and dark"),
        ]),
        html.Main(className="grid-layout", children=[
            headline_stats.layout(config["HEADLINE_STATS_POLL_SECONDS"]),
            ongoing_calls.layout(config["ONGOING_CALLS_POLL_SECONDS"]),
            activity.layout(config["ACTIVITY_POLL_SECONDS"]),
            html.Div(id=OPS_SLOT, className="ops-slot", children=[
                memory.layout(config["MEMORY_POLL_SECONDS"]),
                self_cost.layout(config["SELF_COST_POLL_SECONDS"]),
            ]),
        ]),
        dcc.Store(id=REFRESH_SIGNAL, data=0),
        dcc.Store(id=VISIBILITY, data={"hidden": False}),
        dcc.Store(id=PAUSED, data=False),
        dcc.Store(id=THEME, storage_type="local"),
        dcc.Store(id=SETTINGS, data={"displayTimezone": config["DISPLAY_TIMEZONE"]}),
        dcc.Interval(id=TICK, interval=1000),
    ])


def register(app: Dash) -> None:
    """Wire the page's clientside callbacks."""
    app.clientside_callback(
        ClientsideFunction("switchboard", "togglePause"),
        Output(PAUSED, "data"), Output(PAUSE_BUTTON, "children"), Output(PAUSE_BUTTON, "aria-pressed"),
        Input(PAUSE_BUTTON, "n_clicks"), State(PAUSED, "data"), prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "applyPolling"),
        *[Output(interval, "disabled") for interval in WIDGET_INTERVALS], Output(TICK, "disabled"),
        Output(POLLING_STATE, "children"), Output(REFRESH_SIGNAL, "data"),
        Input(PAUSED, "data"), Input(VISIBILITY, "data"), State(REFRESH_SIGNAL, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "applyTheme"),
        Output(THEME, "data"), Output(THEME_BUTTON, "children"),
        Input(THEME_BUTTON, "n_clicks"), State(THEME, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "tick"),
        *[output for _, status in FRESHNESS_PAIRS
          for output in (Output(status, "children"), Output(status, "className"))],
        Input(TICK, "n_intervals"), *[Input(store, "data") for store, _ in FRESHNESS_PAIRS], State(SETTINGS, "data"),
    )
