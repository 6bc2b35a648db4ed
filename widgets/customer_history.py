"""One customer's history in a side panel, opened from their name anywhere.

A customer's name in ongoing calls, the feed or a call's details is a link: it puts
`?customer=<id>` in the page's query string (beside `?call=` and the feed's filters),
and the panel follows the query string, so the link can be shared and survives
sign-in. The panel lies over the call's details; Escape or its close button takes
`customer` out again and focus goes back to the name it was opened from
(assets/switchboard.js).

What it shows is three cached statements per customer, page and viewer scope
(queries/customer_history.py): the record with its counts and first and last
contact, the upcoming appointments, and a page of the past, newest first. A
customer outside the viewer's companies reads "Customer not found.", exactly as a
missing one does. Support sees the customer's number masked, as in the grids.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update

from access.masking import mask_field
from access.roles import ADMIN, SUPPORT, mask_phone
from access.web import current_viewer
from queries import customer_history as queries
from queries import figures
from queries.customer_history import NotFound, fetch_page, fetch_summary, fetch_upcoming
from widgets.services import current_services
from widgets.feed_pager import cursor_to_data, first_page, read_pager, turn
from widgets.call_details import display_time, duration_text
from widgets.common import (cached_refresh, call_status_label, drawer, id_from_query_string, status_label,
                            text_or_none)
from widgets.registry import REFRESH_SIGNAL, URL, Widget

PANEL = "customer-panel"
HEADING = "customer-heading"
CLOSE = "customer-close"
BODY = "customer-body"
CUSTOMER = "customer-open"  # the id of the customer shown, as the server read it from the link
PAGER = "customer-pager"
NEXT_CURSOR = "customer-next-cursor"
OLDER = "customer-older"
NEWER = "customer-newer"
PAGE_LABEL = "customer-page"
SHOWN = "customer-shown"  # the clientside callback that moves focus into the panel writes here
FRESHNESS = "customer-freshness"
STATUS = "customer-status"
QUERY_KEY = "customer"
QUERY_NAME = "customer_history"
TITLE = "customer history"
POLL_SETTING = "ONGOING_CALLS_POLL_SECONDS"  # a short cache lifetime, as the call details have
NOT_FOUND = "Customer not found."
MAX_PAGE_SIZE = 500  # a page is one statement's rows: the setting cannot make it the whole table
# The counts and their figures (queries/figures.py: the label, and what is counted as the count's title).
COUNT_FIGURES = {"calls": "history_calls", "missed": "history_missed", "booked": "history_booked"}
COUNT_LABELS = (*((key, figures.label(figure)) for key, figure in COUNT_FIGURES.items()),
                ("kept", "Kept"), ("cancelled", "Cancelled"), ("no_show", "No-show"))
COUNT_MEANINGS = {figures.label(figure): figures.tooltip(figure) for figure in COUNT_FIGURES.values()} | {
    "Kept": "Of those appointments, the ones kept (completed).", "Cancelled": "Of those, the ones cancelled.",
    "No-show": "Of those, the ones the customer did not come to."}
HISTORY_COLUMNS = ("Time", "Kind", "Status", "Agent or service", "Direction", "Duration")


def layout(poll_seconds: int) -> html.Aside:
    """Return the side panel, closed; the link's `?customer=` opens it."""
    return drawer(PANEL, (HEADING, "Customer"), STATUS, (CLOSE, "Close the customer's history (Escape)"), BODY, [
        html.Nav(className="pager", **{"aria-label": "History pages"}, children=[
            html.Button("← Newer", id=NEWER, className="button", disabled=True),
            html.Span("Page 1", id=PAGE_LABEL, className="caption"),
            html.Button("Older →", id=OLDER, className="button", disabled=True),
        ]),
        dcc.Store(id=CUSTOMER), dcc.Store(id=PAGER, data=first_page()), dcc.Store(id=NEXT_CURSOR),
        dcc.Store(id=FRESHNESS), dcc.Store(id=SHOWN),
    ], class_name="drawer drawer-over")


# --- the link ---------------------------------------------------------------------------------------------

def customer_from_query_string(search: Any) -> tuple[int | None, str]:
    """Return the customer a link asks for (None: no panel), or a message when its id cannot be one."""
    return id_from_query_string(search, QUERY_KEY, "customer", queries.LARGEST_ID)


# --- what is shown ----------------------------------------------------------------------------------------

def history_data(summary: queries.Summary, upcoming: list[dict[str, Any]], page: queries.HistoryPage,
                 config: dict[str, Any], mask_phones: bool, now: datetime | None = None) -> dict[str, Any]:
    """Return what the panel shows (JSON for the cache): the record, counts, upcoming and a page, as text; a call
    reads as the feed reads it (stuck at `now`, or its two statuses side by side where they disagree)."""
    zones = config["DATABASE_TIMEZONE"], config["DISPLAY_TIMEZONE"]
    customer = summary.customer
    # A name, an address or a row's detail may hold a number too (an unknown caller's name often is one).
    text = (lambda value: mask_field(text_or_none(value))) if mask_phones else text_or_none
    name = (text(customer["name"]) or "").strip()
    rows = page.rows.astype(object).where(page.rows.notna(), None).to_dict("records")
    return {
        "found": True, "id": int(customer["id"]), "name": name or f"Customer {customer['id']}",
        "fields": _record_fields(summary, text, mask_phones, zones),
        "counts": [(label, summary.counts[key]) for key, label in COUNT_LABELS],
        "upcoming": [(display_time(row["at"], *zones), _label(row["status"]), text(row["detail"]))
                     for row in upcoming],
        "more_upcoming": max(summary.counts["upcoming"] - len(upcoming), 0),
        "rows": [_history_row(row, text, zones, now) for row in rows],
        "next": cursor_to_data(page.next_cursor),
    }


def _record_fields(summary: queries.Summary, text, mask_phones: bool, zones: tuple[str, str]) -> list[tuple]:
    """Return the customer's record as (label, text) pairs, those without a value left out."""
    customer = summary.customer
    phone = text_or_none(customer["phone"])
    fields = [("Phone", mask_phone(phone) if mask_phones else phone), ("Email", text(customer["email"])),
              ("Company", text_or_none(customer["company_name"])),
              ("First contact", display_time(summary.first_contact, *zones)),
              ("Last contact", display_time(summary.last_contact, *zones)), ("Customer id", str(customer["id"]))]
    return [(label, value) for label, value in fields if value]


def _history_row(row: dict[str, Any], text, zones: tuple[str, str], now: datetime | None) -> tuple:
    """Return a history row as text, a call's with its id (its time links to its details)."""
    is_call = row["kind"] == "call"
    status = (call_status_label(row["status"], row.get("call_status"), row["at"], now) if is_call
              else _label(row["status"]))
    return (display_time(row["at"], *zones), "Call" if is_call else "Appointment", status,
            text(row["detail"]), text_or_none(row["direction"]), duration_text(row["duration_sec"]),
            int(row["id"]) if is_call else None)


def _label(status: Any) -> str | None:
    return status_label(status)  # the feed's labels: "In progress" for in_progress and ongoing alike


def _history_cells(row: list) -> list:
    """Return a history row's cells; a call's time links to its details (?call=, opened over the page by
    assets/switchboard.js, which closes the history)."""
    shown, call_id = row[:len(HISTORY_COLUMNS)], row[len(HISTORY_COLUMNS)] if len(row) > len(HISTORY_COLUMNS) else None
    cells = [html.Td(value or "") for value in shown]
    if call_id is not None:
        cells[0] = html.Td(html.A(shown[0] or f"Call {call_id}", href=f"?call={call_id}", className="call-link",
                                  title="Open the call's details", **{"data-call": str(call_id)}))
    return cells


def history_view(data: dict[str, Any], page: int) -> list:
    """Return the panel's body for its data: every value as text, the history as a table."""
    if not data.get("found"):
        return [html.P(data.get("message") or NOT_FOUND, className="notice")]
    def listing(pairs):
        return html.Dl(className="details", children=[part for label, value in pairs
                                                       for part in (html.Dt(label), html.Dd(value))])
    upcoming = _upcoming_items(data)
    counts = html.Dl(className="counts", children=[
        html.Div(className="count", title=COUNT_MEANINGS.get(label), children=[html.Dt(label), html.Dd(f"{count:,}")])
        for label, count in data["counts"]])
    return [listing(data["fields"]), counts,
            html.H3("Upcoming appointments"),
            html.Ul(upcoming, className="upcoming") if upcoming else html.P("None booked.", className="caption"),
            html.H3("History"), _history_table(data["rows"], page)]


def _upcoming_items(data: dict[str, Any]) -> list:
    """Return the upcoming appointments as list items, and how many more there are."""
    upcoming = [html.Li(" · ".join(part for part in item if part)) for item in data["upcoming"]]
    if data["more_upcoming"]:
        upcoming.append(html.Li(f"and {data['more_upcoming']:,} more"))
    return upcoming


def _history_table(rows: list, page: int) -> html.Table:
    """Return a page of the history as a table (a row saying so where there is none)."""
    return html.Table(className="history", children=[
        html.Caption(f"Calls and appointments, newest first (page {page + 1})"),
        html.Thead(html.Tr([html.Th(label, scope="col") for label in HISTORY_COLUMNS])),
        html.Tbody([html.Tr(_history_cells(row)) for row in rows]
                   or [html.Tr(html.Td("No calls or appointments yet.", colSpan=len(HISTORY_COLUMNS)))]),
    ])


# --- callbacks --------------------------------------------------------------------------------------------

def read_customer_pager(pager: Any, customer_id: Any) -> tuple[list, int]:
    """Return the pager's cursors and page for this customer: another customer's pager starts at the newest."""
    if not isinstance(pager, dict) or pager.get("customer") != customer_id:
        return [None], 0
    return read_pager(pager)


def turn_page(triggered: Any, pager: Any, next_cursor: Any, customer_id: Any) -> dict[str, Any]:
    """Move between the history's pages of the customer shown."""
    cursors, page = read_customer_pager(pager, customer_id)
    towards = {OLDER: "older", NEWER: "newer"}.get(triggered)
    return {**turn(cursors, page, towards, next_cursor), "customer": customer_id}


def show(search: Any, pager: Any, previous_freshness: Any, triggered: Any = None,
         open_customer: Any = None) -> dict[str, Any]:
    """Open, page or close the panel for the link's `?customer=`."""
    customer_id, message = customer_from_query_string(search)
    closed = {"hidden": True, "heading": "Customer", "body": [], "customer": None, "next": None,
              "older_disabled": True, "newer_disabled": True, "page_label": "Page 1", "freshness": no_update}
    if triggered == URL and customer_id is not None and customer_id == open_customer:
        return {key: no_update for key in closed}  # the link changed elsewhere: the page shown stays
    if customer_id is None:
        return closed if not message else {**closed, "hidden": False,
                                           "body": history_view({"found": False, "message": message}, 0)}
    cursors, page = read_customer_pager(pager, customer_id)
    services = current_services()
    viewer = current_viewer()
    scope = viewer.scoped(None)
    cursor = cursors[page]
    page_size = min(int(services.config["CUSTOMER_HISTORY_PAGE_SIZE"]), MAX_PAGE_SIZE)

    def compute() -> dict[str, Any]:
        now = services.now()
        try:
            summary = fetch_summary(services.reader, customer_id, now, scope)
        except NotFound:
            return {"found": False}  # kept like a found customer: a forged id costs the same as a real one
        return history_data(summary, fetch_upcoming(services.reader, customer_id, now, scope),
                            fetch_page(services.reader, customer_id, now, scope, cursor, page_size), services.config,
                            viewer.masks_phones, now)

    result = cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"customer_id": customer_id, "company_ids": scope, "masked": viewer.masks_phones,
                     "cursor": cursor_to_data(cursor), "page_size": page_size},
        services.poll_seconds(POLL_SETTING), compute), services.config["STATEMENT_TIMEOUT_MS"])
    return _panel(customer_id, page, result, previous_freshness, closed)


def _panel(customer_id: int, page: int, result, previous_freshness: Any, closed: dict[str, Any]) -> dict[str, Any]:
    """Return the open panel for a refresh's result: the customer's page, not found, or why it could not load."""
    if result.cached is None:
        body = [html.P(f"Could not load the customer: {result.reason}", className="notice notice-failed")]
        return {**closed, "hidden": False, "heading": f"Customer {customer_id}", "body": body,
                "customer": customer_id, "freshness": result.freshness(previous_freshness)}
    data = result.cached.value
    found = bool(data.get("found"))
    return {"hidden": False, "heading": data["name"] if found else "Customer", "body": history_view(data, page),
            "customer": customer_id if found else None, "next": data.get("next") if found else None,
            "older_disabled": not (found and data.get("next")), "newer_disabled": page == 0,
            "page_label": f"Page {page + 1}", "freshness": result.freshness(previous_freshness)}


def register(app: Dash) -> None:
    """Wire the panel: names open it (clientside, through the link), the link and the pager fill it."""
    app.clientside_callback(
        ClientsideFunction("switchboard", "closeCustomer"),
        Output(URL, "search", allow_duplicate=True), Input(CLOSE, "n_clicks"), State(URL, "search"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "customerShown"), Output(SHOWN, "data"), Input(PANEL, "hidden"),
    )
    app.callback(
        output={"pager": Output(PAGER, "data")},
        inputs={"_older": Input(OLDER, "n_clicks"), "_newer": Input(NEWER, "n_clicks")},
        state={"pager": State(PAGER, "data"), "next_cursor": State(NEXT_CURSOR, "data"),
               "customer_id": State(CUSTOMER, "data")},
        prevent_initial_call=True,
    )(lambda _older, _newer, pager, next_cursor, customer_id:
      {"pager": turn_page(ctx.triggered_id, pager, next_cursor, customer_id)})
    app.callback(
        output={"hidden": Output(PANEL, "hidden"), "heading": Output(HEADING, "children"),
                "body": Output(BODY, "children"), "customer": Output(CUSTOMER, "data"),
                "next": Output(NEXT_CURSOR, "data"), "older_disabled": Output(OLDER, "disabled"),
                "newer_disabled": Output(NEWER, "disabled"), "page_label": Output(PAGE_LABEL, "children"),
                "freshness": Output(FRESHNESS, "data")},
        inputs={"search": Input(URL, "search"), "pager": Input(PAGER, "data"), "_signal": Input(REFRESH_SIGNAL, "data")},
        state={"previous_freshness": State(FRESHNESS, "data"), "open_customer": State(CUSTOMER, "data")},
    )(lambda search, pager, _signal, previous_freshness, open_customer:
      show(search, pager, previous_freshness, ctx.triggered_id, open_customer))


WIDGET = Widget(
    area="customer_history", title=TITLE, roles=frozenset({ADMIN, SUPPORT}), layout=layout, register=register,
    poll_setting=POLL_SETTING, freshness=FRESHNESS, status=STATUS, response_output=BODY,
    queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples,
)
