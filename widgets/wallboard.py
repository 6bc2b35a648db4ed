"""The wallboard: a TV on the call-center floor, signed in as a `wallboard` user; an admin,
and the local demo, open it at /wall to see what the floor sees.

Large type, the headline figures with their comparisons and the per-company table, nothing to click. The
figures are the panels' own cached results (widgets/headline_stats.py, widgets/company_kpis.py and the
ongoing calls' count), so the wall and a desk never disagree. No customer names or numbers: the per-company
rows hold none. When more companies exist than fit, the table turns a page every WALLBOARD_ROTATE_SECONDS
("companies 1–9 of 23"). Left alone for days it keeps going: the page watches its own refreshes and
reloads itself (after the server answers again, with a growing pause between attempts) when the server
restarted or the page stopped getting answers (assets/switchboard.js, `wallWatch`).
"""
from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from access.roles import ADMIN, WALLBOARD
from widgets.services import current_services
from widgets import company_kpis, headline_stats
from widgets.common import grid_options, register_poll
from widgets.registry import CONNECTION, SETTINGS, VISIBILITY, WALL, Widget

INTERVAL = "wall-interval"
ROTATE = "wall-rotate"
CARDS = "wall-cards"
GRID = "wall-grid"
PAGE = "wall-page"
CLOCK = "wall-clock"
# The wall's one-second tick: its clock and its watch of itself. The wall's alone: on any other page a timer in
# the page ages the freshness lines, and an interval each second would cost every open page a Dash dispatch.
TICK = "wall-tick"
FRESHNESS = "wall-freshness"
STATUS = "wall-status"
WATCH = "wall-watch"
TITLE = "wallboard"
POLL_SETTING = company_kpis.POLL_SETTING
ROTATE_SETTING = "WALLBOARD_ROTATE_SECONDS"
# The figures a floor manager reads from across the room; the desk's table has every column.
WALL_FIELDS = ("co", "on", "n", "ans_r", "mis_r", "fail_r", "p90", "bk", "bk_r", "last")
# Shorter headers for a TV's columns, still saying what is counted (the tooltips are the desk's).
WALL_HEADERS = {"n": "Calls today", "ans_r": "Answered %", "mis_r": "Missed %", "fail_r": "Failed %",
                "bk": "Booked today", "bk_r": "Booking %"}


def wall_columns(config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Return the wall's columns: the desk's, fewer, unsortable, with no link (nothing to click); a judged
    figure shows its level's word beside it in smaller type, so it fits a TV's column, or its count where too
    few calls stand behind it to judge."""
    words = {} if config is None else {"statuses": company_kpis.mapped_statuses(config),
                                       "min_calls": int(config["JUDGE_MIN_CALLS"])}
    columns = {column["field"]: column for column in company_kpis.column_defs(links=False, **words)}
    chosen = []
    for field in WALL_FIELDS:
        column = {key: value for key, value in columns[field].items()
                  if key not in ("width", "minWidth", "pinned", "context")}
        column["headerName"] = WALL_HEADERS.get(field, column["headerName"])
        column["flex"] = {"co": 2.8, "on": 0.9, "n": 0.8, "bk": 0.9, "last": 1.1}.get(field, 1.2)
        if f"{field}_lv" in str(column.get("cellClass")):
            formatter = "duration" if field == "p90" else "percent"
            column.pop("valueFormatter")
            column.update(cellRenderer="SwitchboardLevelCell", cellRendererParams={"format": formatter})
        chosen.append(column)
    return chosen


def layout(poll_seconds: int, rotate_seconds: int = 10, config: dict[str, Any] | None = None) -> html.Section:
    """Return the wallboard's panel: the cards, the table and its page, all of the screen."""
    return html.Section(className="wall-panel", **{"aria-labelledby": "wall-title"}, children=[
        html.Header(className="wall-header", children=[
            html.H1("Switchboard", id="wall-title"),
            html.Span("", id=CLOCK, className="wall-clock", **{"aria-label": "time now"}),
            # A box of its own: its freshness line rewrites the line's class.
            html.Div(className="wall-freshness", children=html.Span("", id=STATUS, className="freshness")),
        ]),
        html.Div(id=CARDS, className="cards wall-cards", children=headline_stats.cards(
            headline_stats.card_values(None), prefix="wall-card")),
        html.Div(className="wall-table", children=[
            html.Div(className="wall-table-header", children=[
                html.H2("Companies today"), html.Span("", id=PAGE, className="wall-page-label")]),
            dag.AgGrid(
                id=GRID, columnDefs=wall_columns(config), rowData=[], getRowId="params.data.id",
                defaultColDef={"sortable": False, "resizable": False, "filter": False, "suppressMovable": True},
                dashGridOptions={**grid_options("No companies"), "pagination": True,
                                 "suppressPaginationPanel": True,
                                 "suppressHorizontalScroll": True},
                className="grid wall-grid", style={"height": "100%"},
            ),
        ]),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Interval(id=ROTATE, interval=rotate_seconds * 1000),
        dcc.Interval(id=TICK, interval=1000),
        dcc.Store(id=FRESHNESS),
        dcc.Store(id=WATCH, data={"pollSeconds": poll_seconds}),
    ])


def panel(config: dict[str, Any]) -> html.Section:
    return layout(int(config[POLL_SETTING]), int(config[ROTATE_SETTING]), config)


def refresh(previous_freshness) -> dict[str, Any]:
    """Return the wall's figures from the panels' own cached results; on a failure the last ones stay.

    Every company, as the desk's admins see them: a wallboard user has no company scope and no customer data."""
    services = current_services()
    table = company_kpis.cached_table(services, None)
    headline = headline_stats.cached_headline(services)
    if headline.cached is not None:
        values = headline_stats.with_ongoing(headline.cached.value["cards"],
                                             headline_stats.ongoing_count(services) or "–", ["live"])
        cards: Any = headline_stats.cards(values, prefix="wall-card")
    else:
        cards = no_update
    # The line says the first failure (the table's before the headline's); the part that failed keeps its last.
    worst = next((result for result in (table, headline) if result.cached is None), table)
    return {"rows": table.cached.value["rows"] if table.cached else no_update, "cards": cards,
            "freshness": worst.freshness(previous_freshness)}


def register(app: Dash) -> None:
    """Wire the wallboard's callbacks: its data, the table's rotation and the page's watch of itself."""
    register_poll(app, {"rows": Output(GRID, "rowData"), "cards": Output(CARDS, "children"),
                        "freshness": Output(FRESHNESS, "data")}, refresh, INTERVAL, FRESHNESS)
    app.clientside_callback(ClientsideFunction("switchboard", "wallRotate"), Output(PAGE, "children"),
                            Input(ROTATE, "n_intervals"), Input(GRID, "rowData"), State(SETTINGS, "data"))
    # The clock stops only while the tab is hidden: a paused wall still tells the time.
    app.clientside_callback(ClientsideFunction("switchboard", "whileShown"), Output(TICK, "disabled"),
                            Input(VISIBILITY, "data"))
    app.clientside_callback(ClientsideFunction("switchboard", "wallWatch"), Output(CLOCK, "children"),
                            Input(TICK, "n_intervals"), Input(FRESHNESS, "data"), Input(CONNECTION, "data"),
                            State(WATCH, "data"), State(SETTINGS, "data"))


WIDGET = Widget(
    area="wallboard", title=TITLE, roles=frozenset({WALLBOARD, ADMIN}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, grid=GRID,
    placement=WALL, build=panel,
)
