"""The page around the widgets: header, theme, pause/resume, polling that respects hidden tabs.

Everything here runs in the browser (clientside callbacks in assets/switchboard.js):
- pause/resume and a hidden tab disable every widget's dcc.Interval;
- showing the tab again, or resuming, bumps `refresh-signal`, an input of every
  widget callback, so each refreshes at once;
- the polls due at one tick leave as one request (`batchPath` in the settings store; serving/batch.py);
- each freshness line is written when its widget's freshness changes, and one timer in the page
  keeps "updated 4s ago" and the live call durations current each second, without a request to the
  server or a Dash callback (only the wallboard's page has a one-second interval, for its clock);
- a connection watch notices when the dashboard's own server (or the network to it) is
  gone: "Connection lost · retrying" in the header and the tab title, polling off, the
  clock stopped, until /healthz answers again;
- an empty grid says why: loading, "Could not load: <reason>", or its empty text.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html
from dash.development.base_component import Component

from access.dash_internals import descendants, with_descendants
from access.pages import BATCH_PATH, MAIN_PAGE, WALL_PAGE, WALL_PATH, pages_of
from access.roles import SHELL
from widgets import registered
from widgets.registry import (CONNECTION, OPS, PAUSED, REFRESH_SIGNAL, SETTINGS, URL, VISIBILITY, WALL,
                              Widget)

PAUSE_BUTTON = "pause-button"
POLLING_STATE = "polling-state"
THEME = "theme"
THEME_BUTTON = "theme-button"
OPS_SLOT = "ops-slot"
LOCAL_DEMO_BANNER = "local-demo-banner"
ACCOUNT = "account"
ANNOUNCER = "announcer"
MAX_CONNECTION_CHECK_SECONDS = 10
ANSWER_WORK_SECONDS = 5  # beyond its statement: the slowest poll's own work on a busy host
# Intervals that start together fire within milliseconds of one another; a person notices 50 ms of delay nowhere.
BATCH_WINDOW_MS = 50


def response_outputs(widgets: tuple[Widget, ...]) -> dict[str, str]:
    """Return the first output of each widget's data callback, and the query whose response it is."""
    return {widget.response_output: next(iter(widget.queries)) for widget in widgets if widget.response_output}


@dataclass(frozen=True)
class Account:
    """Who is signed in, for the header (None in the local demo, which has no login)."""

    name: str
    role: str
    csrf_token: str


def component_areas(config: dict, widgets: tuple[Widget, ...] | None = None) -> dict[str, str]:
    """Return the area each component id belongs to (the page's own components are the shell's)."""
    widgets = registered() if widgets is None else widgets
    areas = {component.id: widget.area for widget in widgets for panel in [widget.panel(config)]
             for component in with_descendants(panel) if isinstance(getattr(component, "id", None), str)}
    for component in descendants(full_page(config, widgets)):
        if isinstance(getattr(component, "id", None), str):
            areas.setdefault(component.id, SHELL)
    return areas


def full_page(config: dict, widgets: tuple[Widget, ...]) -> html.Div:
    """Return the page with every widget: what Dash checks every callback against (its validation layout)."""
    return layout(config, demo=False, widgets=widgets, account=None, local_demo=False, with_wall=True)


def page_of(config: dict, demo: bool, widgets: tuple[Widget, ...], page: str, account: Account | None = None,
            local_demo: bool = False, viewer=None) -> html.Div:
    """Return one page of a role, given the widgets that role sees: the wallboard (with a link back to the
    dashboard for a role that has one) or the dashboard."""
    if page == WALL_PAGE:
        return wall_layout(config, demo, widgets, back=MAIN_PAGE in pages_of(widgets))
    return layout(config, demo, widgets, account, local_demo=local_demo, viewer=viewer)


def connection_check_seconds(config: dict, widgets: tuple[Widget, ...] | None = None) -> int:
    """Return how long the page may hear nothing from the server before it asks /healthz: one poll of
    its fastest widget with a freshness record, so a lost connection shows within one poll even when no
    request fails."""
    widgets = registered() if widgets is None else widgets
    polls = [int(config[widget.poll_setting]) for widget in widgets if widget.freshness]
    return max(1, min(MAX_CONNECTION_CHECK_SECONDS, *polls))


def answer_timeout_seconds(config: dict) -> int:
    """Return how long the page waits for a poll's answer before it gives the request up: a statement's limit,
    the wait for a computation in flight and the slowest poll's own work on a busy host. A request that outlives
    it hangs (a connection a network dropped without a word), and Dash sends no other request of that callback
    while one is unanswered: the widget would stand still for ever."""
    return math.ceil((config["STATEMENT_TIMEOUT_MS"] + config["QUERY_WAIT_MS"]) / 1000 + ANSWER_WORK_SECONDS)


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


def skip_links(panels: list[Component]) -> html.Nav:
    """Return a link to each panel's heading (out of sight until focused): the first Tab stops of the page."""
    links = []
    for panel in (panel for panel in panels if not getattr(panel, "hidden", False)):  # not the closed drawers
        heading_id = getattr(panel, "aria-labelledby", None)
        heading = next((c for c in with_descendants(panel) if getattr(c, "id", None) == heading_id), None)
        if heading is not None and isinstance(heading.children, str):
            links.append(html.A(f"Skip to {heading.children}", href=f"#{heading_id}", className="skip-link"))
    return html.Nav(links, className="skip-links", **{"aria-label": "Skip to a panel"})


def layout(config: dict, demo: bool, widgets: tuple[Widget, ...], account: Account | None = None,
           local_demo: bool = False, viewer=None, with_wall: bool = False) -> html.Div:
    """Return the page with the panels of these widgets (a viewer's: those of their role, fitted to them); the
    wallboard is a page of its own (wall_layout), here only with_wall (the validation layout)."""
    main, walls, ops = _panels(config, widgets, viewer, with_wall)
    has_wall = any(widget.placement == WALL for widget in widgets)
    return html.Div(className="page", children=[
        dcc.Location(id=URL, refresh=False),
        skip_links(main + ops),
        *([_local_demo_banner()] if local_demo else []),
        _topbar(demo, widgets, account, wall_link=has_wall and not with_wall),
        html.Main(className="grid-layout", children=[
            *main,
            *([html.Div(id=OPS_SLOT, className="ops-slot", children=ops)] if ops else []),
            *walls,
        ]),
        *page_stores(config, widgets),
    ])


def _panels(config: dict, widgets: tuple[Widget, ...], viewer,
            with_wall: bool) -> tuple[list[Component], list[Component], list[Component]]:
    """Return the panels of the main grid, of the wallboard (only with_wall) and of the ops column."""
    main = [widget.panel(config, viewer) for widget in widgets if widget.placement not in (OPS, WALL)]
    walls = [widget.panel(config, viewer) for widget in widgets if widget.placement == WALL] if with_wall else []
    ops = [widget.panel(config, viewer) for widget in widgets if widget.placement == OPS]
    return main, walls, ops


def _local_demo_banner() -> html.Div:
    return html.Div(
        "Local demo, no login: this Switchboard answers this machine only. "
        "Add a user (python app.py add-user NAME --role admin) to require logins and serve a team.",
        id=LOCAL_DEMO_BANNER, className="banner", role="note")


def _topbar(demo: bool, widgets: tuple[Widget, ...], account: Account | None, wall_link: bool) -> html.Header:
    """Return the dashboard's header: the title, the widgets' own header items, the polling state, the pause
    and theme buttons, the link to the wallboard (`wall_link`) and who is signed in."""
    return html.Header(className="topbar", children=[
        html.H1(["Switchboard", html.Span(" live operations", className="subtitle")]),
        html.Span("Demo data" if demo else "", className="demo-flag" if demo else ""),
        *[widget.header() for widget in widgets if widget.header],
        html.Span("Live", id=POLLING_STATE, className="polling-state"),
        html.Button("Pause", id=PAUSE_BUTTON, className="button", n_clicks=0,
                    title="Stop polling the database until resumed", **{"aria-pressed": "false"}),
        html.Button("Dark theme", id=THEME_BUTTON, className="button", n_clicks=0,
                    title="Switch between light and dark"),
        *([html.A("Wallboard", href=WALL_PATH, className="button wall-link",
                  title="The wallboard the floor's TV shows")] if wall_link else []),
        *_header_right(account),
    ])


def page_stores(config: dict, widgets: tuple[Widget, ...]) -> list[Component]:
    """Return the page's own stores, which every widget's callbacks may read."""
    return [
        dcc.Store(id=REFRESH_SIGNAL, data=0),
        dcc.Store(id=VISIBILITY, data={"hidden": False}),
        dcc.Store(id=PAUSED, data=False),
        dcc.Store(id=THEME, storage_type="local"),
        dcc.Store(id=SETTINGS, data={"displayTimezone": config["DISPLAY_TIMEZONE"],
                                     "connectionCheckSeconds": connection_check_seconds(config, widgets),
                                     "answerTimeoutSeconds": answer_timeout_seconds(config),
                                     # The polls due at one tick leave together (serving/batch.py): those sent
                                     # within this window, asked by an interval or the refresh signal; never
                                     # a person's click or typing, nor the first load (each panel shows its
                                     # first rows as they come, not when the slowest panel's are ready).
                                     "batchPath": BATCH_PATH, "batchWindowMs": BATCH_WINDOW_MS,
                                     "batchSignals": [f"{REFRESH_SIGNAL}.data"]}),
        dcc.Store(id=CONNECTION, data={"lost": False}),
        # The page's one live region: state changes only (a panel gone stale or recovered, the connection lost or
        # back, polling paused, an alert firing), never the "updated 4s ago" lines (assets/switchboard.js).
        html.Div(id=ANNOUNCER, className="visually-hidden", role="status", **{"aria-live": "polite"}),
    ]


def wall_layout(config: dict, demo: bool, widgets: tuple[Widget, ...], back: bool = False) -> html.Div:
    """Return a wallboard's page: its panel on all of the screen, large type, nothing to click (no pause, theme
    or sign-out button: a TV has nobody to press them); the live state still says when the server is gone.
    A person who has a dashboard too (an admin, the local demo) gets a link back to it (`back`)."""
    walls = tuple(widget for widget in widgets if widget.placement == WALL)
    return html.Div(className="page wall-page", children=[
        dcc.Location(id=URL, refresh=False),
        html.Main(className="wall-main", children=[
            # In the top right corner; first in the page, so the way back is the first Tab stop.
            html.Div(className="wall-state", children=[
                *([html.A("← Dashboard", href="/", className="button wall-back")] if back else []),
                html.Span("Demo data" if demo else "", className="demo-flag" if demo else ""),
                html.Span("Live", id=POLLING_STATE, className="polling-state"),  # the announcer says changes
            ]),
            *[widget.panel(config) for widget in walls],
        ]),
        *page_stores(config, walls),
    ])


def register(app: Dash, widgets: tuple[Widget, ...]) -> None:
    """Wire the page's clientside callbacks: one set for the page, one per widget.

    A widget's own callbacks touch only its own components and the page's, so a
    page without that widget (another role's) simply has none of them.
    """
    _register_polling(app, widgets)
    _register_grid_overlays(app, widgets)
    app.clientside_callback(
        ClientsideFunction("switchboard", "applyTheme"),
        Output(THEME, "data"), Output(THEME_BUTTON, "children"),
        Input(THEME_BUTTON, "n_clicks"), State(THEME, "data"),
    )
    _register_freshness_lines(app, widgets)


def _register_polling(app: Dash, widgets: tuple[Widget, ...]) -> None:
    """Wire the pause button, the polling state and every widget's interval, which follows them."""
    app.clientside_callback(
        ClientsideFunction("switchboard", "togglePause"),
        Output(PAUSED, "data"), Output(PAUSE_BUTTON, "children"), Output(PAUSE_BUTTON, "aria-pressed"),
        Input(PAUSE_BUTTON, "n_clicks"), State(PAUSED, "data"), prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "applyPolling"),
        Output(POLLING_STATE, "children"), Output(POLLING_STATE, "className"),
        Output(REFRESH_SIGNAL, "data"),
        Input(PAUSED, "data"), Input(VISIBILITY, "data"), Input(CONNECTION, "data"), State(REFRESH_SIGNAL, "data"),
    )
    for interval in (widget.interval for widget in widgets if widget.interval):
        app.clientside_callback(
            ClientsideFunction("switchboard", "followPolling"),
            Output(interval, "disabled"), Input(PAUSED, "data"), Input(VISIBILITY, "data"), Input(CONNECTION, "data"),
        )


def _register_grid_overlays(app: Dash, widgets: tuple[Widget, ...]) -> None:
    """Wire each grid's overlay (loading, could not load, empty) to its widget's freshness record."""
    for grid, store in ((widget.grid, widget.freshness) for widget in widgets if widget.grid and widget.freshness):
        app.clientside_callback(
            ClientsideFunction("switchboard", "gridOverlay"),
            Output(grid, "dashGridOptions"), Input(store, "data"), Input(CONNECTION, "data"),
            State(grid, "dashGridOptions"),
        )


def _register_freshness_lines(app: Dash, widgets: tuple[Widget, ...]) -> None:
    """Wire each widget's freshness line to its freshness record."""
    for store, status in ((widget.freshness, widget.status) for widget in widgets if widget.freshness):
        app.clientside_callback(
            ClientsideFunction("switchboard", "freshnessLine"),
            Output(status, "children"), Output(status, "className"),
            Input(store, "data"), Input(CONNECTION, "data"), State(SETTINGS, "data"),
        )
