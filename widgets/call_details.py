"""One call's details in a side panel, and its payload, transcript or analysis on demand.

A click on a row of ongoing calls or the feed (or Enter on a focused row) puts
`?call=<id>` in the page's query string, beside the feed's filters, so the link can
be shared; the panel follows the query string. Escape or the close button takes
`call` out again and focus goes back to the row (assets/switchboard.js). The grids
keep polling underneath.

The details are one cached statement per call and viewer scope (queries/call_details.py),
refreshed at the ongoing interval while the call is ongoing. A payload entry (a large column,
or a part of a JSON column the schema map names) is read only when its button is pressed, one
entry of one call, cut at PAYLOAD_PREVIEW_KB.
For a viewer who sees masked numbers every phone number in them is masked before the
text leaves the server.
"""
from __future__ import annotations

import re
import weakref
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update

from access.masking import mask_field, mask_text
from access.roles import ADMIN, SUPPORT, mask_phone
from access.web import current_viewer
from queries import call_details as queries
from access.work_limits import WorkRefused
from queries.call_details import (PAYLOAD_COLUMNS, NotFound, check_call_id, fetch_call_details, fetch_payload,
                                  payload_title)
from queries.schema_map import DEFAULT_SCHEMA, schema_of
from queries.ongoing_calls import ONGOING_STATUSES
from widgets.services import current_services
from widgets.common import (DATABASE_ERRORS, cached_refresh, describe_failure, drawer, id_from_query_string,
                            int_or_none, log_failure, status_label, text_or_none, call_status_label)
from widgets.payload_view import prepare
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
PAYLOAD_BUTTONS = {name: f"call-{name}-button" for name in PAYLOAD_COLUMNS}
# Each app's buttons: the default entries' and one per further entry its schema map lists (`summary`).
_BUTTONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PAYLOAD = "call-payload"  # what was fetched: {"title", "note", "sections": [{"key", "text"}]}
PAYLOAD_NOTE = "call-payload-note"
PAYLOAD_SEARCH = "call-payload-search"
PAYLOAD_VIEW = "call-payload-view"
PAYLOAD_EXPAND = "call-payload-expand"
ONGOING_GRID = "ongoing-grid"
ACTIVITY_GRID = "activity-grid"
QUERY_KEY = "call"
QUERY_NAME = "call_details"
PAYLOAD_QUERY = "call_payload"
PAYLOAD_TITLE = "call details: a payload, prepared"
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
# Free text that may hold a number: an unknown caller's name is often their number, a recording's URL the caller's
# (`?From=%2B49…`). Masked like a payload's text for a viewer of masked numbers.
TEXT_FIELDS = ("customer_name", "agent_name", "recording_url", "sentiment")
STATUS_FIELDS = ("status", "call_status")


def layout(poll_seconds: int) -> html.Aside:
    """Return the side panel, closed; the link's `?call=` opens it. One button per payload entry the schema map
    lists (the default entries' buttons keep their ids, hidden where the map lists them not)."""
    listed = _payload_entries()
    return drawer(PANEL, (HEADING, "Call"), STATUS, (CLOSE, "Close the call's details (Escape)"), BODY, [
        html.Div(className="payload-buttons", children=[
            html.Button(payload_title(name), id=button, className="button", hidden=name not in listed)
            for name, button in _payload_buttons().items()]),
        *([html.P("Call payload: not in this database", className="caption")] if not listed else []),
        html.Div(id=PAYLOAD_NOTE, className="caption", role="status"),
        dcc.Input(id=PAYLOAD_SEARCH, type="search", placeholder="Search in it", className="search", value="",
                  debounce=0.3, maxLength=100),
        html.Button("Expand all", id=PAYLOAD_EXPAND, className="button", hidden=True, **{"aria-expanded": "false"}),
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


def details_data(fields: dict[str, Any], config: dict[str, Any], mask_phones: bool,
                 now: datetime | None = None) -> dict[str, Any]:
    """Return the call's fields as the panel shows them (JSON for the cache): labels, text values, the timeline,
    and first, where the facts disagree, what the grids show and why (a call stuck in progress at `now`, or two
    status columns that disagree)."""
    values = _shown_values(fields, config, mask_phones)
    note = disagreement(fields, now)
    ongoing = (fields.get("status") in ONGOING_STATUSES and fields.get("call_status") in ONGOING_STATUSES
               and note is None)
    return {"found": True, "id": int(fields["id"]), "ongoing": ongoing,
            "customer_id": int_or_none(fields.get("customer_record")),
            "fields": [*([("Shown as", note)] if note else []),
                       *((label, values[name]) for name, label in FIELDS if values.get(name) is not None)],
            "timeline": _timeline(fields, config["DATABASE_TIMEZONE"], config["DISPLAY_TIMEZONE"])}


def _shown_values(fields: dict[str, Any], config: dict[str, Any], mask_phones: bool) -> dict[str, str | None]:
    """Return the call's fields as text, numbers masked for a viewer who sees masked numbers."""
    values = {name: text_or_none(fields.get(name)) for name, _ in FIELDS}
    values["duration_sec"] = duration_text(fields.get("duration_sec"))
    for name in PHONE_FIELDS:
        values[name] = mask_phone(values[name]) if mask_phones else values[name]
    for name in TEXT_FIELDS if mask_phones else ():
        values[name] = mask_field(values[name], config.get("PHONE_REGION") or FALLBACK_REGION)
    for name in STATUS_FIELDS:
        values[name] = _status_text(values[name])
    return values


def _status_text(stored: str | None) -> str | None:
    """Return a status as the grids read it, with the stored value beside it for whoever checks the data."""
    label = status_label(stored)
    if label is None:
        return stored
    return label if label.lower() == stored.lower() else f"{label} ({stored})"


def _timeline(fields: dict[str, Any], database_timezone: str, display_timezone: str) -> list[tuple[str, str]]:
    """Return the call's moments that are known, in the display timezone: its end is its start plus its length."""
    start = fields.get("start_timestamp") or fields.get("created_at")
    ended = None
    if fields.get("duration_sec") is not None and isinstance(start, datetime):
        ended = start + timedelta(seconds=int(fields["duration_sec"]))
    moments = {**fields, "ended": ended}
    timeline = [(label, display_time(moments.get(name), database_timezone, display_timezone))
                for name, label in TIMELINE]
    return [(label, when) for label, when in timeline if when is not None]


def disagreement(fields: dict[str, Any], now: datetime | None) -> str | None:
    """Return what the grids show for a call whose facts disagree, and why; None for a call whose agree."""
    status, call_status = fields.get("status"), fields.get("call_status")
    shown = call_status_label(status, call_status, fields.get("created_at"), now)
    if shown is None or shown == status_label(status):
        return None
    if shown.startswith("Stuck"):
        return f"{shown}: still in progress, its end never recorded; not counted as ongoing"
    return f"{shown}: the platform's status and the provider's call status disagree"


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
    """Return the text with every phone number in it masked as in the grids (all digits but the last three of
    each), in whatever shape it is written (access/masking.py)."""
    return mask_text(text, region or FALLBACK_REGION)


def payload_data(payload: queries.Payload, mask_phones: bool, region: str) -> dict[str, Any]:
    """Return what the browser gets of a fetched payload entry: a note and text sections (one per top-level JSON
    key), prepared within bounds and masked for a viewer who sees masked numbers (widgets/payload_view.py); "none
    for this call" where the call has no value there (a NULL column, or a JSON part whose key is missing)."""
    title = payload_title(payload.name)
    if payload.text is None:
        return {"title": title, "note": f"{title}: none for this call.", "sections": []}
    size = f"{len(payload.text) / 1024:,.0f} KB"
    note = (f"{title}: first {size} of {payload.total_length / 1024:,.0f} KB" if payload.cut
            else f"{title}: {size}")
    prepared = prepare(title, payload.text, payload.cut, mask_phones, region or FALLBACK_REGION)
    return {"title": title, "note": f"{note} ({prepared.note})" if prepared.note else note,
            "sections": prepared.sections}


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
        return details_data(fields, services.config, viewer.masks_phones, services.now())

    result = cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"call_id": call_id, "company_ids": scope, "masked": viewer.masks_phones},
        services.poll_seconds(POLL_SETTING), compute), services.config["STATEMENT_TIMEOUT_MS"])
    return _panel(call_id, result, previous_freshness)


def _panel(call_id: int, result, previous_freshness: Any) -> dict[str, Any]:
    """Return the open panel for a refresh's result: the call, not found, or why it could not be loaded."""
    if result.cached is None:
        body = [html.P(f"Could not load the call: {result.reason}", className="notice notice-failed")]
        return {"hidden": False, "heading": f"Call {call_id}", "body": body, "call": call_id, "live": True,
                "freshness": result.freshness(previous_freshness)}
    data = result.cached.value
    return {"hidden": False, "heading": f"Call {call_id}" if data.get("found") else "Call",
            "body": details_view(data), "call": call_id if data.get("found") else None,
            "live": bool(data.get("ongoing")), "freshness": result.freshness(previous_freshness)}


def _payload_buttons() -> dict[str, str]:
    """Return the app's payload buttons' ids by entry (the default ones outside a request)."""
    from flask import current_app, has_app_context

    return _BUTTONS.get(current_app._get_current_object(), PAYLOAD_BUTTONS) if has_app_context() else PAYLOAD_BUTTONS


def _payload_entries() -> tuple[str, ...]:
    """Return the payload entries the schema map lists and the platform has (the default ones outside a request,
    as the page every callback is checked against is built)."""
    from flask import has_app_context

    return schema_of(current_services().reader).payload if has_app_context() else DEFAULT_SCHEMA.payload


def _pressed_entry(triggered: Any) -> str | None:
    """Return the payload entry whose button was pressed, where the platform has it (None: no such entry)."""
    entry = next((name for name, button in _payload_buttons().items() if button == triggered), None)
    return entry if entry is not None and entry in _payload_entries() else None


def open_payload(triggered: Any, call_id: Any) -> dict[str, Any]:
    """Fetch the entry whose button was pressed, for the open call only.

    Reading and preparing a payload (parsing, masking, laying out) is the heaviest work a press can ask for, so
    the prepared result is cached per call, entry, scope and masking for the details' interval (one preparation
    however many press or watch), and each preparation counts against the user's PAYLOAD_RATE_LIMIT."""
    entry = _pressed_entry(triggered)
    if entry is None:
        return {"payload": no_update, "note": no_update}
    services = current_services()
    viewer = current_viewer()
    cap = int(services.config["PAYLOAD_PREVIEW_KB"]) * 1024
    scope = viewer.scoped(None)

    def prepared() -> dict[str, Any]:
        services.work_limits.count_payload(viewer)
        try:
            payload = fetch_payload(services.reader, check_call_id(call_id), entry, cap, scope)
        except NotFound:
            return {"found": False}  # kept like a found one: a forged id costs one statement per interval
        return {"found": True, **payload_data(payload, viewer.masks_phones, services.config["PHONE_REGION"])}

    try:
        result = services.queries.get_or_compute(
            PAYLOAD_QUERY, {"call_id": call_id if isinstance(call_id, int) else None, "entry": entry,
                            "company_ids": scope, "masked": viewer.masks_phones, "cap": cap},
            services.poll_seconds(POLL_SETTING), prepared)
    except WorkRefused as refusal:  # this user's alone, never cached
        return {"payload": no_update, "note": str(refusal)}
    except DATABASE_ERRORS as error:
        log_failure(TITLE, error)
        return {"payload": None, "note": f"Could not load: {describe_failure(error, services.config['STATEMENT_TIMEOUT_MS'])}"}
    if not result.value.get("found"):
        return {"payload": None, "note": NOT_FOUND}
    data = {key: value for key, value in result.value.items() if key != "found"}
    return {"payload": {**data, "call": call_id}, "note": data["note"]}


def register(app: Dash) -> None:
    """Wire the panel: rows open it (clientside, through the link), the link fills it, buttons fetch payloads."""
    from widgets.services import EXTENSION_KEY

    mapped = schema_of(app.server.extensions[EXTENSION_KEY].reader).payload
    buttons = _BUTTONS[app.server] = {**PAYLOAD_BUTTONS, **{
        name: f"call-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-button" for name in mapped
        if name not in PAYLOAD_BUTTONS}}
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
        Output(PAYLOAD_VIEW, "children"), Output(PAYLOAD_NOTE, "hidden"), Output(PAYLOAD_EXPAND, "children"),
        Output(PAYLOAD_EXPAND, "hidden"), Output(PAYLOAD_EXPAND, "aria-expanded"), Input(PAYLOAD, "data"),
        Input(PAYLOAD_SEARCH, "value"), Input(CALL, "data"), Input(PAYLOAD_EXPAND, "n_clicks"),
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
        inputs={"_buttons": {name: Input(button, "n_clicks") for name, button in buttons.items()}},
        state={"call_id": State(CALL, "data")}, prevent_initial_call=True,
    )(lambda _buttons, call_id: open_payload(ctx.triggered_id, call_id))


WIDGET = Widget(
    area="call_details", title=TITLE, roles=frozenset({ADMIN, SUPPORT}), layout=layout, register=register,
    poll_setting=POLL_SETTING, freshness=FRESHNESS, status=STATUS, response_output=BODY,
    queries={QUERY_NAME: TITLE, PAYLOAD_QUERY: PAYLOAD_TITLE}, plan_examples=queries.plan_examples,
)
