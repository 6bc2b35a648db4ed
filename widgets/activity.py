"""Recent customer activity, for support staff: filters, search, pages, CSV export.

This module is the widget's layout, callbacks and record; the feed's parts live where their names say:
widgets/feed_filters.py (the filters: the link, the controls, the filter a viewer runs), widgets/feed_pager.py
(pages by keyset), widgets/feed_page.py (the page of rows and its count), widgets/feed_export.py (the export) and
widgets/feed_ids.py (the components' ids they share). A support user of one company gets no company filter or
column.
"""
from __future__ import annotations

import dash_ag_grid as dag
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html

from access.roles import ADMIN, SUPPORT, Viewer
from queries import activity as queries
from queries.activity import DEFAULT_WINDOW, DIRECTIONS, KINDS, SEARCH_MAX_LENGTH, WINDOWS
from widgets.common import fit_columns, grid_options, more_columns_button
from widgets.feed_export import export
from widgets.feed_filters import FILTER_FIELDS, FILTERS, link_from_controls, status_options
from widgets.feed_ids import (CLEAR, COMPANY, DIRECTION, DOWNLOAD, EXPORT, EXPORT_EXCEL, FRESHNESS, GRID, INTERVAL,
                              KIND, LINK_KEYS, NEWER, NEXT_CURSOR, NOTICE, OLDER, PAGE_LABEL, PAGER, POLL_SETTING, SEARCH,
                              STATUS, STATUS_FILTER, TITLE, VIEW, WINDOW)
from widgets.feed_page import (COUNT_QUERY_NAME, COUNT_TITLE, QUERY_NAME, RECENT_QUERY_NAME, RECENT_TITLE,
                               WINDOW_COUNTS_QUERY_NAME, WINDOW_COUNTS_TITLE, company_options, set_controls,
                               show_view)
from widgets.feed_pager import first_page, turn_page
from widgets.registry import REFRESH_SIGNAL, URL, Widget

WINDOW_LABELS = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days",
                 "90d": "Last 90 days", "next24h": "Next 24 hours", "next7d": "Next 7 days",
                 "next30d": "Next 30 days"}

COLUMN_DEFS = [
    {"field": "k", "headerName": "Kind", "width": 110,
     "valueFormatter": {"function": "params.value === 'a' ? 'Appointment' : 'Call'"},
     "cellClass": {"function": "'kind kind-' + params.value"}},
    {"field": "at", "headerName": "Time", "width": 150, "valueFormatter": {"function": "switchboardDateTime(params.value)"}},
    {"field": "cust", "headerName": "Customer", "minWidth": 150, "cellRenderer": "CustomerLink"},
    {"field": "ph", "headerName": "Phone", "minWidth": 140},
    {"field": "co", "headerName": "Company", "minWidth": 150},
    {"field": "svc", "headerName": "Service", "minWidth": 130},
    {"field": "dir", "headerName": "Direction", "width": 110},
    {"field": "st", "headerName": "Status", "width": 120},
    {"field": "bk", "headerName": "Booked", "width": 150, "headerTooltip": "When the appointment was booked",
     "valueFormatter": {"function": "switchboardDateTime(params.value)"}},
    {"field": "dur", "headerName": "Duration", "width": 100, "cellClass": "numeric",
     "valueFormatter": {"function": "switchboardDuration(params.value)"}},
]


def _options(values, labels=None) -> list[dict[str, str]]:
    return [{"label": (labels or {}).get(v, v.replace("_", " ")), "value": v} for v in values]


def layout(poll_seconds: int, viewer: Viewer | None = None) -> html.Section:
    """Return the activity panel (for a viewer of one company, without the company filter and column)."""
    def labelled(label: str, control, hidden: bool = False):
        if isinstance(control, dcc.Input):
            return html.Label(className="filter", children=[html.Span(label, className="filter-label"), control])
        # Dash's dropdown names itself after its value, so the filter's name goes on a labelled group.
        label_id = f"{control.id}-label"
        return html.Div(className="filter", role="group", hidden=hidden, **{"aria-labelledby": label_id}, children=[
            html.Span(label, id=label_id, className="filter-label"), control])

    one_company = viewer is not None and viewer.sees_one_company

    return html.Section(className="panel panel-wide", **{"aria-labelledby": "activity-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Recent customer activity", id="activity-title"),
            # Not a live region: "updated 4s ago" changes every second (the header announces a lost connection).
            html.Span("", id=STATUS, className="freshness"),
        ]),
        html.Div(className="filters", role="search", children=[
            labelled("Search", dcc.Input(className="search",id=SEARCH, type="search", placeholder="Customer name or phone",
                                         debounce=0.4, maxLength=SEARCH_MAX_LENGTH, value="")),
            labelled("Kind", dcc.Dropdown(id=KIND, options=_options(KINDS), multi=True, placeholder="Calls and appointments")),
            labelled("Status", dcc.Dropdown(id=STATUS_FILTER, options=status_options(), multi=True, placeholder="Any status")),
            labelled("Direction", dcc.Dropdown(id=DIRECTION, options=_options(DIRECTIONS), multi=True, placeholder="Both")),
            # Kept (hidden) for a viewer of one company: the callbacks read it, and it can only narrow the scope.
            labelled("Company", dcc.Dropdown(id=COMPANY, options=[], multi=True, placeholder="All companies"),
                     hidden=one_company),
            labelled("Time", dcc.Dropdown(id=WINDOW, options=_options(WINDOWS, WINDOW_LABELS), value=DEFAULT_WINDOW,
                                          clearable=False)),
            html.Button("Export CSV", id=EXPORT, className="button", title="Download the current filter as CSV"),
            html.Button("Export for Excel", id=EXPORT_EXCEL, className="button",
                        title="Download the current filter as a CSV file for Excel: UTF-8 with a byte order mark, "
                              "agent and m:ss durations"),
            more_columns_button(GRID, ("at", "cust", "st")),
        ]),
        html.Div(id=NOTICE, className="notice", role="status"),
        # Shown by the browser when the grid is empty and the link holds a filter (assets/switchboard.js).
        html.Button("Clear filters", id=CLEAR, className="button clear-filters", n_clicks=0, hidden=True,
                    title="Show all activity again: every filter back to its default"),
        dag.AgGrid(
            id=GRID, columnDefs=fit_columns(COLUMN_DEFS, viewer), rowData=[], getRowId="params.data.k + params.data.id",
            defaultColDef={"sortable": True, "resizable": True},
            dashGridOptions=grid_options("No activity matches these filters", focusable=True),
            columnSize="responsiveSizeToFit", className="grid", style={"height": "460px"},
        ),
        html.Nav(className="pager", **{"aria-label": "Activity pages"}, children=[
            html.Button("← Newer", id=NEWER, className="button", disabled=True),
            html.Span("Page 1", id=PAGE_LABEL, className="caption"),
            html.Button("Older →", id=OLDER, className="button", disabled=True),
        ]),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=PAGER, data=first_page()),
        dcc.Store(id=VIEW),
        dcc.Store(id=NEXT_CURSOR),
        dcc.Store(id=FRESHNESS),
        dcc.Store(id=LINK_KEYS, data=[f.link_key for f in FILTERS]),
        dcc.Download(id=DOWNLOAD),
    ])


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app; each passes Dash's triggered id to logic that takes it."""
    filters = {name: Input(component, "value") for name, component in FILTER_FIELDS.items()}
    filter_states = {name: State(component, "value") for name, component in FILTER_FIELDS.items()}
    app.callback(
        output={"search": Output(URL, "search"),
                "filters": {name: Output(component, "value") for name, component in FILTER_FIELDS.items()},
                "status_options": Output(STATUS_FILTER, "options"), "notice": Output(NOTICE, "children")},
        inputs={"filters": filters}, state={"search": State(URL, "search")}, prevent_initial_call=True,
    )(lambda filters, search: link_from_controls(ctx.triggered_id, search, filters))
    app.clientside_callback(
        ClientsideFunction("switchboard", "offerClearFilters"),
        Output(CLEAR, "hidden"), Input(GRID, "rowData"), Input(URL, "search"), Input(FRESHNESS, "data"),
        State(LINK_KEYS, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "clearFilters"),
        Output(URL, "search", allow_duplicate=True), Input(CLEAR, "n_clicks"), State(URL, "search"),
        State(LINK_KEYS, "data"), prevent_initial_call=True,
    )
    app.callback(
        output={"pager": Output(PAGER, "data")},
        inputs={"_older": Input(OLDER, "n_clicks"), "_newer": Input(NEWER, "n_clicks")},
        state={"pager": State(PAGER, "data"), "next_cursor": State(NEXT_CURSOR, "data")}, prevent_initial_call=True,
    )(lambda _older, _newer, pager, next_cursor: {"pager": turn_page(ctx.triggered_id, pager, next_cursor)})
    # No input of this callback is written by another callback of the first round, nor downstream of one (the
    # link's writers all wait for a person; see set_controls), so Dash sends it with the page's first requests.
    app.callback(
        output={"rows": Output(GRID, "rowData"), "next_cursor": Output(NEXT_CURSOR, "data"),
                "freshness": Output(FRESHNESS, "data"), "page_label": Output(PAGE_LABEL, "children"),
                "older_disabled": Output(OLDER, "disabled"), "newer_disabled": Output(NEWER, "disabled"),
                "notice": Output(NOTICE, "children", allow_duplicate=True), "view": Output(VIEW, "data"),
                "pager": Output(PAGER, "data", allow_duplicate=True)},
        inputs={"search": Input(URL, "search"), "_ticks": Input(INTERVAL, "n_intervals"),
                "_signal": Input(REFRESH_SIGNAL, "data"), "pager": Input(PAGER, "data")},
        state={"shown": State(VIEW, "data"), "filters": filter_states, "previous_freshness": State(FRESHNESS, "data")},
        prevent_initial_call="initial_duplicate",
    )(lambda search, _ticks, _signal, pager, shown, filters, previous_freshness:
      set_controls(show_view(ctx.triggered_id, search, pager, shown, filters, previous_freshness)))
    app.callback(
        output={"options": Output(COMPANY, "options")},
        inputs={"_signal": Input(REFRESH_SIGNAL, "data"), "_pathname": Input(URL, "pathname")},
    )(lambda _signal, _pathname: company_options())
    app.callback(
        output={"download": Output(DOWNLOAD, "data"), "notice": Output(NOTICE, "children", allow_duplicate=True)},
        inputs={"_csv": Input(EXPORT, "n_clicks"), "_excel": Input(EXPORT_EXCEL, "n_clicks")},
        state={"filters": filter_states}, prevent_initial_call=True,
    )(lambda _csv, _excel, filters: export(ctx.triggered_id, filters))


WIDGET = Widget(
    area="activity", title=TITLE, roles=frozenset({ADMIN, SUPPORT}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, grid=GRID,
    response_output=GRID, plan_examples=queries.plan_examples,
    queries={QUERY_NAME: TITLE, RECENT_QUERY_NAME: RECENT_TITLE, COUNT_QUERY_NAME: COUNT_TITLE,
             WINDOW_COUNTS_QUERY_NAME: WINDOW_COUNTS_TITLE}, per_viewer=True,
)
