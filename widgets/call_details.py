"""One call's details in a side panel, and its payload, transcript or analysis on demand (issue 14, items 1-2).

A click on a row of ongoing calls or the feed (or Enter on a focused row) puts
`?call=<id>` in the page's query string, beside the feed's filters, so the link can
be shared; the panel follows the query string. Escape or the close button takes
`call` out again and focus goes back to the row (assets/switchboard.js). The grids
keep polling underneath.

The details are one cached statement per call and viewer scope (queries/call_details.py),
refreshed at the ongoing interval while the call is ongoing. The large columns are read
only when their button is pressed, one column of one call, cut at PAYLOAD_PREVIEW_KB.
For a viewer who sees masked numbers every phone number in them is masked before the
text leaves the server.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update

from access.roles import ADMIN, SUPPORT, mask_phone
from access.web import current_viewer
from queries import call_details as queries
from queries.call_details import PAYLOAD_COLUMNS, NotFound, fetch_call_details, fetch_payload
from queries.ongoing_calls import ONGOING_STATUSES
from services import current_services
from widgets.common import (DATABASE_ERRORS, cached_refresh, describe_failure, drawer, id_from_query_string,
                            int_or_none, log_failure, status_label, text_or_none)
from widgets.registry import REFRESH_SIGNAL, URL, Widget

PANEL = "call-panel"
HEADING = "call-heading"
CLOSE = "call-close"
BODY = "call-body"
CALL = "call-open"  # the id of the call shown, as the server read it from the link
LIVE = "call-live"  # whether it is ongoing: its details then refresh at the ongoing interval
INTERVAL = "call-interval"
FRESHNESS = "call-freshness"
STATUS = "call-status"
PAYLOAD_BUTTONS = {column: f"call-{column}-button" for column in PAYLOAD_COLUMNS}
PAYLOAD = "call-payload"  # what was fetched: {"title", "note", "sections": [{"key", "text"}]}
PAYLOAD_NOTE = "call-payload-note"
PAYLOAD_SEARCH = "call-payload-search"
PAYLOAD_VIEW = "call-payload-view"
ONGOING_GRID = "ongoing-grid"
ACTIVITY_GRID = "activity-grid"
QUERY_KEY = "call"
QUERY_NAME = "call_details"
TITLE = "call details"
POLL_SETTING = "ONGOING_CALLS_POLL_SECONDS"
FALLBACK_REGION = "DE"
NOT_FOUND = "Call not found."

CUSTOMER_LABEL = "Customer"
FIELDS = (("status", "Status"), ("call_status", "Call status"), ("direction", "Direction"),
          ("from_number", "From"), ("to_number", "To"), ("customer_name", CUSTOMER_LABEL), ("agent_name", "Agent"),
          ("company_name", "Company"), ("duration_sec", "Duration"), ("cost", "Cost"), ("sentiment", "Sentiment"),
          ("recording_url", "Recording"), ("id", "Call id"))
TIMELINE = (("created_at", "Created"), ("start_timestamp", "Started"), ("called_at", "Called"),
            ("ended", "Ended"), ("updated_at", "Last updated"))
PHONE_FIELDS = ("from_number", "to_number")
STATUS_FIELDS = ("status", "call_status")


def layout(poll_seconds: int) -> html.Aside:
    """Return the side panel, closed; the link's `?call=` opens it."""
    return drawer(PANEL, (HEADING, "Call"), STATUS, (CLOSE, "Close the call's details (Escape)"), BODY, [
        html.Div(className="payload-buttons", children=[
            html.Button(label, id=PAYLOAD_BUTTONS[column], className="button") for column, label in PAYLOAD_COLUMNS.items()]),
        html.Div(id=PAYLOAD_NOTE, className="caption", role="status"),
        dcc.Input(id=PAYLOAD_SEARCH, type="search", placeholder="Search in it", className="search", value="",
                  debounce=0.3, maxLength=100),
        html.Div(id=PAYLOAD_VIEW, className="payload"),
        dcc.Store(id=CALL), dcc.Store(id=LIVE, data=False), dcc.Store(id=PAYLOAD), dcc.Store(id=FRESHNESS),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000, disabled=True),
    ])


# --- the link ---------------------------------------------------------------------------------------------

def call_from_query_string(search: Any) -> tuple[int | None, str]:
    """Return the call a link asks for (None: no panel), or a message when its id cannot be one."""
    return id_from_query_string(search, QUERY_KEY, "call", queries.LARGEST_ID)


# --- what is shown ----------------------------------------------------------------------------------------

def display_time(value: Any, database_timezone: str, display_timezone: str) -> str | None:
    """Return a stored naive time as the viewer reads it, in the display timezone (None for no time)."""
    if not isinstance(value, datetime):
        return None
    shown = value.replace(tzinfo=ZoneInfo(database_timezone)).astimezone(ZoneInfo(display_timezone))
    return shown.strftime("%Y-%m-%d %H:%M:%S")


def duration_text(seconds: Any) -> str | None:
    """Return seconds as m:ss (None for none)."""
    if seconds is None:
        return None
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def details_data(fields: dict[str, Any], config: dict[str, Any], mask_phones: bool) -> dict[str, Any]:
    """Return the call's fields as the panel shows them (JSON for the cache): labels, text values, the timeline."""
    zones = config["DATABASE_TIMEZONE"], config["DISPLAY_TIMEZONE"]
    values = {name: text_or_none(fields.get(name)) for name, _ in FIELDS}
    values["duration_sec"] = duration_text(fields.get("duration_sec"))
    for name in PHONE_FIELDS:
        values[name] = mask_phone(values[name]) if mask_phones else values[name]
    for name in STATUS_FIELDS:  # as the grids read it, with the stored value beside it for whoever checks the data
        stored, label = values[name], status_label(values[name])
        if label is not None:
            values[name] = label if label.lower() == stored.lower() else f"{label} ({stored})"
    start = fields.get("start_timestamp") or fields.get("created_at")
    ended = None
    if fields.get("duration_sec") is not None and isinstance(start, datetime):
        ended = start + timedelta(seconds=int(fields["duration_sec"]))
    moments = {**fields, "ended": ended}
    timeline = [(label, display_time(moments.get(name), *zones)) for name, label in TIMELINE]
    ongoing = fields.get("status") in ONGOING_STATUSES and fields.get("call_status") in ONGOING_STATUSES
    return {"found": True, "id": int(fields["id"]), "ongoing": ongoing,
            "customer_id": int_or_none(fields.get("customer_record")),
            "fields": [(label, values[name]) for name, label in FIELDS if values.get(name) is not None],
            "timeline": [(label, when) for label, when in timeline if when is not None]}


def details_view(data: dict[str, Any]) -> list:
    """Return the panel's body for its data: two definition lists, every value as text."""
    if not data.get("found"):
        return [html.P(data.get("message") or NOT_FOUND, className="notice")]
    def listing(pairs):
        return html.Dl(className="details", children=[part for label, value in pairs
                                                      for part in (html.Dt(label), html.Dd(shown(label, value)))])

    def shown(label, value):
        # The customer's name opens their history (assets/switchboard.js keeps the rest of the link).
        customer = data.get("customer_id")
        if label != CUSTOMER_LABEL or not customer:
            return value
        return html.A(value, href=f"?customer={customer}", className="customer-link",
                      title="Open the customer's history", **{"data-customer": str(customer)})
    return [listing(data["fields"]), html.H3("Timeline"), listing(data["timeline"])]


def mask_phones_in_text(text: str, region: str) -> str:
    """Return the text with every phone number in it masked as in the grids (all digits but the last three).

    `phonenumbers` finds the numbers, in national and international formats, inside JSON strings and prose.
    A valid number is masked (the matcher's default leniency, which leaves dates and durations alone); so is
    any possible one written internationally (+49…, 0049…), made-up and unassigned numbers included."""
    region = region or FALLBACK_REGION
    spans = {(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region, max_tries=1_000_000)}
    spans |= {(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=1_000_000)
        if m.raw_string.lstrip("(").startswith(("+", "00"))}
    pieces, last = [], 0
    for start, end in sorted(spans):
        if start >= last:  # two passes may find one number twice
            pieces += [text[last:start], mask_phone(text[start:end])]
            last = end
    return "".join(pieces) + text[last:]


def payload_data(payload: queries.Payload, mask_phones: bool, region: str) -> dict[str, Any]:
    """Return what the browser gets of a fetched column: a note and text sections (one per top-level JSON key)."""
    title = PAYLOAD_COLUMNS[payload.column]
    if payload.text is None:
        return {"title": title, "note": f"{title}: none for this call.", "sections": []}
    text = mask_phones_in_text(payload.text, region) if mask_phones else payload.text
    size = f"{len(payload.text) / 1024:,.0f} KB"
    note = (f"{title}: first {size} of {payload.total_length / 1024:,.0f} KB" if payload.cut
            else f"{title}: {size}")
    try:
        document = None if payload.cut else json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        sections = [{"key": str(key), "text": json.dumps(value, indent=2, ensure_ascii=False)}
                    for key, value in document.items()]
    elif document is not None:
        sections = [{"key": title, "text": json.dumps(document, indent=2, ensure_ascii=False)}]
    else:
        sections = [{"key": title, "text": text}]  # cut JSON or prose: shown as it is
    return {"title": title, "note": note, "sections": sections}


# --- callbacks --------------------------------------------------------------------------------------------

def show(search: Any, previous_freshness: Any, triggered: Any = None, open_call: Any = None) -> dict[str, Any]:
    """Open, refresh or close the panel for the link's `?call=`."""
    call_id, message = call_from_query_string(search)
    closed = {"hidden": True, "heading": "Call", "body": [], "call": None, "live": False, "freshness": no_update}
    if triggered == URL and call_id is not None and call_id == open_call:
        # The link changed elsewhere (a filter, the customer history over it): the open call is drawn as it
        # is, so the name focus returns to is still there (assets/switchboard.js).
        return {key: no_update for key in closed}
    if call_id is None and not message:
        return closed
    if call_id is None:
        return {**closed, "hidden": False, "body": details_view({"found": False, "message": message})}
    services = current_services()
    viewer = current_viewer()
    scope = viewer.scoped(None)

    def compute() -> dict[str, Any]:
        try:
            fields = fetch_call_details(services.reader, call_id, scope)
        except NotFound:
            return {"found": False}  # kept like a found call: a forged id costs one statement per interval
        return details_data(fields, services.config, viewer.masks_phones)

    result = cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"call_id": call_id, "company_ids": scope, "masked": viewer.masks_phones},
        services.poll_seconds(POLL_SETTING), compute), services.config["STATEMENT_TIMEOUT_MS"])
    if result.cached is None:
        body = [html.P(f"Could not load the call: {result.reason}", className="notice notice-failed")]
        return {"hidden": False, "heading": f"Call {call_id}", "body": body, "call": call_id, "live": True,
                "freshness": result.freshness(previous_freshness)}
    data = result.cached.value
    return {"hidden": False, "heading": f"Call {call_id}" if data.get("found") else "Call",
            "body": details_view(data), "call": call_id if data.get("found") else None,
            "live": bool(data.get("ongoing")), "freshness": result.freshness(previous_freshness)}


def open_payload(triggered: Any, call_id: Any) -> dict[str, Any]:
    """Fetch the column whose button was pressed, for the open call only."""
    column = next((name for name, button in PAYLOAD_BUTTONS.items() if button == triggered), None)
    if column is None:
        return {"payload": no_update, "note": no_update}
    services = current_services()
    viewer = current_viewer()
    cap = int(services.config["PAYLOAD_PREVIEW_KB"]) * 1024
    try:
        payload = fetch_payload(services.reader, call_id, column, cap, viewer.scoped(None))
    except NotFound:
        return {"payload": None, "note": NOT_FOUND}
    except DATABASE_ERRORS as error:
        log_failure(TITLE, error)
        return {"payload": None, "note": f"Could not load: {describe_failure(error, services.config['STATEMENT_TIMEOUT_MS'])}"}
    data = {**payload_data(payload, viewer.masks_phones, services.config["PHONE_REGION"]), "call": call_id}
    return {"payload": data, "note": data["note"]}


def register(app: Dash) -> None:
    """Wire the panel: rows open it (clientside, through the link), the link fills it, buttons fetch payloads."""
    app.clientside_callback(
        ClientsideFunction("switchboard", "openCall"),
        Output(URL, "search", allow_duplicate=True),
        Input(ONGOING_GRID, "cellClicked"), Input(ACTIVITY_GRID, "cellClicked"), State(URL, "search"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "closeCall"),
        Output(URL, "search", allow_duplicate=True), Input(CLOSE, "n_clicks"), State(URL, "search"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "renderPayload"),
        # A payload fetched for another call than the open one is not shown.
        Output(PAYLOAD_VIEW, "children"), Output(PAYLOAD_NOTE, "hidden"), Input(PAYLOAD, "data"),
        Input(PAYLOAD_SEARCH, "value"), Input(CALL, "data"),
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "detailsPolling"),
        Output(INTERVAL, "disabled"), Input(LIVE, "data"), Input("polling-paused", "data"),
        Input("page-visibility", "data"), Input("connection", "data"), Input(PANEL, "hidden"),
    )
    app.callback(
        output={"hidden": Output(PANEL, "hidden"), "heading": Output(HEADING, "children"),
                "body": Output(BODY, "children"), "call": Output(CALL, "data"), "live": Output(LIVE, "data"),
                "freshness": Output(FRESHNESS, "data")},
        inputs={"search": Input(URL, "search"), "_ticks": Input(INTERVAL, "n_intervals"),
                "_signal": Input(REFRESH_SIGNAL, "data")},
        state={"previous_freshness": State(FRESHNESS, "data"), "open_call": State(CALL, "data")},
    )(lambda search, _ticks, _signal, previous_freshness, open_call:
      show(search, previous_freshness, ctx.triggered_id, open_call))
    app.callback(
        output={"payload": Output(PAYLOAD, "data"), "note": Output(PAYLOAD_NOTE, "children")},
        inputs={"_buttons": {column: Input(button, "n_clicks") for column, button in PAYLOAD_BUTTONS.items()}},
        state={"call_id": State(CALL, "data")}, prevent_initial_call=True,
    )(lambda _buttons, call_id: open_payload(ctx.triggered_id, call_id))


WIDGET = Widget(
    area="call_details", title=TITLE, roles=frozenset({ADMIN, SUPPORT}), layout=layout, register=register,
    poll_setting=POLL_SETTING, freshness=FRESHNESS, status=STATUS, response_output=BODY,
    queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples,
)
