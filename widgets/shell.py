"""The page around the widgets: header, theme, pause/resume, polling that respects hidden tabs.

Everything here runs in the browser (clientside callbacks in assets/switchboard.js):
- pause/resume and a hidden tab disable every widget's dcc.Interval;
- showing the tab again, or resuming, bumps `refresh-signal`, an input of every
  widget callback, so each refreshes at once;
- a one-second tick rewrites "updated 4s ago" and ticks live call durations,
  without a request to the server;
- a connection watch notices when the dashboard's own server (or the network to it) is
  gone: "Connection lost · retrying" in the header and the tab title, polling off, the
  clock stopped, until /healthz answers again (issue 11, item 7);
- an empty grid says why: loading, "Could not load: <reason>", or its empty text.
"""
from __future__ import annotations

from dataclasses import dataclass

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html
from dash.development.base_component import Component

from access.roles import ACTIVITY, AREAS, HEADLINE, MEMORY, ONGOING, SELF_COST, SHELL

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
LOCAL_DEMO_BANNER = "local-demo-banner"
ACCOUNT = "account"
CONNECTION = "connection"
# Each widget's interval, and its freshness record with the line that shows it.
WIDGET_INTERVALS = (ongoing_calls.INTERVAL, activity.INTERVAL, headline_stats.INTERVAL, memory.INTERVAL,
                    self_cost.INTERVAL)
FRESHNESS_PAIRS = ((ongoing_calls.FRESHNESS, ongoing_calls.STATUS), (activity.FRESHNESS, activity.STATUS),
                   (headline_stats.FRESHNESS, headline_stats.STATUS), (memory.FRESHNESS, memory.STATUS))
# Each grid, and the freshness record of its rows.
GRID_FRESHNESS = ((ongoing_calls.GRID, ongoing_calls.FRESHNESS), (activity.GRID, activity.FRESHNESS))
POLL_SETTINGS = ("ONGOING_CALLS_POLL_SECONDS", "ACTIVITY_POLL_SECONDS", "HEADLINE_STATS_POLL_SECONDS",
                 "MEMORY_POLL_SECONDS")
MAX_CONNECTION_CHECK_SECONDS = 10
# The first output of each widget's data callback names the widget whose response it is.
RESPONSE_OUTPUTS = {ongoing_calls.GRID: ongoing_calls.QUERY_NAME, activity.GRID: activity.QUERY_NAME,
                    headline_stats.CARDS: headline_stats.QUERY_NAME, memory.BADGE: memory.QUERY_NAME}


@dataclass(frozen=True)
class Account:
    """Who is signed in, for the header (None in the local demo, which has no login)."""

    name: str
    role: str
    csrf_token: str


def panels(config: dict) -> dict[str, Component]:
    """Return each area's panel, in page order."""
    return {
        HEADLINE: headline_stats.layout(config["HEADLINE_STATS_POLL_SECONDS"]),
        ONGOING: ongoing_calls.layout(config["ONGOING_CALLS_POLL_SECONDS"]),
        ACTIVITY: activity.layout(config["ACTIVITY_POLL_SECONDS"]),
        MEMORY: memory.layout(config["MEMORY_POLL_SECONDS"]),
        SELF_COST: self_cost.layout(config["SELF_COST_POLL_SECONDS"]),
    }


def component_areas(config: dict) -> dict[str, str]:
    """Return the area each component id belongs to (the page's own components are the shell's)."""
    areas = {component.id: area for area, panel in panels(config).items()
             for component in [panel, *panel._traverse()] if isinstance(getattr(component, "id", None), str)}
    page = layout(config, demo=False, areas=frozenset(AREAS), account=None, local_demo=False)
    for component in page._traverse():
        if isinstance(getattr(component, "id", None), str):
            areas.setdefault(component.id, SHELL)
    return areas


def connection_check_seconds(config: dict) -> int:
    """Return how long the page may hear nothing from the server before it asks /healthz: one poll of
    its fastest widget, so a lost connection shows within one poll even when no request fails."""
    return max(1, min(MAX_CONNECTION_CHECK_SECONDS, *(int(config[name]) for name in POLL_SETTINGS)))


def _header_right(account: Account | None) -> list[Component]:
    if account is None:
        return []
    return [
        html.Span(f"{account.name} · {account.role}", id=ACCOUNT, className="account"),
        html.Form(method="POST", action="/logout", className="logout", children=[
            dcc.Input(type="hidden", name="csrf_token", value=account.csrf_token),
            html.Button("Sign out", type="submit", className="button"),
        ]),
    ]


def layout(config: dict, demo: bool, areas: frozenset[str] = frozenset(AREAS), account: Account | None = None,
           local_demo: bool = False) -> html.Div:
    """Return the page with the panels of these areas."""
    chosen = {area: panel for area, panel in panels(config).items() if area in areas}
    ops = [chosen.pop(area) for area in (MEMORY, SELF_COST) if area in chosen]
    banner = html.Div(
        "Local demo, no login: this Switchboard answers this machine only. "
        "Add a user (python app.py add-user NAME --role admin) to require logins and serve a team.",
        id=LOCAL_DEMO_BANNER, className="banner", role="note") if local_demo else None
    return html.Div(className="page", children=[
        dcc.Location(id=URL, refresh=False),
        *([banner] if banner else []),
        html.Header(className="topbar", children=[
            html.H1(["Switchboard", html.Span(" live operations", className="subtitle")]),
            html.Span("Demo data" if demo else "", className="demo-flag" if demo else ""),
            html.Span("Live", id=POLLING_STATE, className="polling-state", **{"aria-live": "polite"}),
            html.Button("Pause", id=PAUSE_BUTTON, className="button", n_clicks=0,
                        title="Stop polling the database until resumed", **{"aria-pressed": "false"}),
            html.Button("Dark theme", id=THEME_BUTTON, className="button", n_clicks=0,
                        title="Switch between light and dark"),
            *_header_right(account),
        ]),
        html.Main(className="grid-layout", children=[
            *chosen.values(),
            *([html.Div(id=OPS_SLOT, className="ops-slot", children=ops)] if ops else []),
        ]),
        dcc.Store(id=REFRESH_SIGNAL, data=0),
        dcc.Store(id=VISIBILITY, data={"hidden": False}),
        dcc.Store(id=PAUSED, data=False),
        dcc.Store(id=THEME, storage_type="local"),
        dcc.Store(id=SETTINGS, data={"displayTimezone": config["DISPLAY_TIMEZONE"],
                                     "connectionCheckSeconds": connection_check_seconds(config)}),
        dcc.Store(id=CONNECTION, data={"lost": False}),
        dcc.Interval(id=TICK, interval=1000),
    ])


def register(app: Dash) -> None:
    """Wire the page's clientside callbacks: one set for the page, one per widget.

    A widget's own callbacks touch only its own components and the page's, so a
    page without that widget (another role's) simply has none of them.
    """
    app.clientside_callback(
        ClientsideFunction("switchboard", "togglePause"),
        Output(PAUSED, "data"), Output(PAUSE_BUTTON, "children"), Output(PAUSE_BUTTON, "aria-pressed"),
        Input(PAUSE_BUTTON, "n_clicks"), State(PAUSED, "data"), prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "applyPolling"),
        Output(TICK, "disabled"), Output(POLLING_STATE, "children"), Output(POLLING_STATE, "className"),
        Output(REFRESH_SIGNAL, "data"),
        Input(PAUSED, "data"), Input(VISIBILITY, "data"), Input(CONNECTION, "data"), State(REFRESH_SIGNAL, "data"),
    )
    for interval in WIDGET_INTERVALS:
        app.clientside_callback(
            ClientsideFunction("switchboard", "followPolling"),
            Output(interval, "disabled"), Input(PAUSED, "data"), Input(VISIBILITY, "data"), Input(CONNECTION, "data"),
        )
    for grid, store in GRID_FRESHNESS:
        app.clientside_callback(
            ClientsideFunction("switchboard", "gridOverlay"),
            Output(grid, "dashGridOptions"), Input(store, "data"), Input(CONNECTION, "data"),
            State(grid, "dashGridOptions"),
        )
    app.clientside_callback(
        ClientsideFunction("switchboard", "applyTheme"),
        Output(THEME, "data"), Output(THEME_BUTTON, "children"),
        Input(THEME_BUTTON, "n_clicks"), State(THEME, "data"),
    )
    for store, status in FRESHNESS_PAIRS:
        app.clientside_callback(
            ClientsideFunction("switchboard", "tick"),
            Output(status, "children"), Output(status, "className"),
            Input(TICK, "n_intervals"), Input(store, "data"), Input(CONNECTION, "data"), State(SETTINGS, "data"),
        )
