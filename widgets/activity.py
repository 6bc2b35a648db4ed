"""Recent customer activity, for support staff: filters, search, pages, CSV export.

The filters live in the page's query string (`?kind=call&status=missed&q=anna`),
so a pasted link shows a colleague the same view. Values in a link that make no
sense are dropped with a visible notice, never an error page.

Pages come from the database by keyset (see queries/activity.py): "Older" keeps
the cursor of the page's last row; the first page refreshes on every poll. The
pager says how many rows match ("1–50 of 1,204", "… of more than 2,000"), counted
once per view and interval like the page.

The status choices follow the kind (and an upcoming window, which shows
appointments only): a status that no longer fits is dropped with a notice.
Statuses read as people say them ("In progress", "No answer"); the export keeps
the stored value. A support user of one company gets no company filter or column.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode
from zoneinfo import ZoneInfo

import dash_ag_grid as dag
import pandas as pd
import phonenumbers
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update, set_props

from queries.figures import BUCKET_LABELS
from queries.schema_map import StatusBuckets, schema_of
from queries import figures
from queries.activity import (APPOINTMENT_STATUSES, COUNT_CAP, DEFAULT_WINDOW, DIRECTIONS, KINDS, SAME_CHOICE,
                              SEARCH_MAX_LENGTH, STATUS_BUCKET, STATUSES,
                              UPCOMING_WINDOWS, WINDOWS, ActivityFilter, ActivityPage,
                              Cursor, FeedCount, RecentFeed, WindowCounts, count_activity, count_from_recent,
                              feed_count, fetch_activity, fetch_company_options, fetch_recent_feed,
                              fetch_window_counts, page_from_recent, status_misfit, statuses_of,
                              window_count_seconds)
from access.masking import mask_field
from access.roles import Viewer, mask_phone
from access.web import current_viewer
from access.work_limits import WorkRefused
from widgets.services import current_services
from access.roles import ADMIN, SUPPORT
from queries import activity as queries
from widgets.choices import MAX_CHOSEN_COMPANIES, checked_choices, company_cap, is_company_id, is_name
from widgets.common import (DATABASE_ERRORS, cached_refresh, describe_failure, epoch, fit_columns, grid_options,
                            more_columns_button, stale,
                            int_or_none, log_failure, status_label, text_or_none, without_empty,
                            call_status_label)
from widgets.registry import REFRESH_SIGNAL, URL, Widget
from widgets.export_files import TEXT_MARKER, minutes_and_seconds, write_csv

GRID = "activity-grid"
INTERVAL = "activity-interval"
KIND = "activity-kind"
STATUS_FILTER = "activity-status"
DIRECTION = "activity-direction"
COMPANY = "activity-company"
WINDOW = "activity-window"
SEARCH = "activity-search"
NOTICE = "activity-notice"
CLEAR = "activity-clear"  # "Clear filters", offered when a filtered result is empty
PAGER = "activity-pager"
VIEW = "activity-view"  # the feed's part of the link the grid shows (its filters' query string)
NEXT_CURSOR = "activity-next-cursor"
OLDER = "activity-older"
NEWER = "activity-newer"
PAGE_LABEL = "activity-page"
EXPORT = "activity-export"
EXPORT_EXCEL = "activity-export-excel"
DOWNLOAD = "activity-download"
FRESHNESS = "activity-freshness"
STATUS = "activity-status-line"
QUERY_NAME = "activity"
RECENT_QUERY_NAME = "activity_recent"
RECENT_TITLE = "activity feed: shared newest rows (every view reads them)"
COUNT_QUERY_NAME = "activity_count"
COUNT_TITLE = "activity feed: rows matching a view (its count)"
WINDOW_COUNTS_QUERY_NAME = "activity_window_counts"
WINDOW_COUNTS_TITLE = "activity feed: a window's rows counted once for every view"
TITLE = "activity feed"
POLL_SETTING = "ACTIVITY_POLL_SECONDS"
COMPANY_OPTIONS_SECONDS = 300
COMPANY_OPTIONS_QUERY = "company_options"
COMPANY_OPTIONS_TITLE = "company options"
# The newest rows take 100-150 ms to fetch: when many watch, the next slot's are fetched this long before it
# starts (at most a fifth of the interval), so no view waits for them when the slot turns
# (see caching.QueryCache.prefetch_next_slot).
RECENT_PREFETCH_SECONDS = 2.0
MAX_PAGES = 1000  # a pager deeper than this starts over
FILTER_IDS = (KIND, STATUS_FILTER, DIRECTION, COMPANY, WINDOW, SEARCH)
# The filter controls by the names the callbacks give their values (filter_from_controls' arguments).
FILTER_FIELDS = dict(zip(("kinds", "statuses", "directions", "companies", "window", "search"), FILTER_IDS))
QUERY_KEYS = ("kind", "status", "direction", "company", "window", "q")
# Keys of the query string that other panels own (the call details' `?call=`, the customer history's
# `?customer=`): not filters, kept as they are.
OTHER_PANELS_KEYS = ("call", "customer")
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


def status_options(kinds: Any = None, window: Any = None) -> list[dict[str, str]]:
    """Return the statuses to choose from for these kinds and window: a call status is a whole bucket
    (queries/figures.py), labelled and titled with what it selects; in_progress stands for ongoing too, and
    missed for busy and no_answer."""
    chosen = tuple(k for k in kinds if k in KINDS) if isinstance(kinds, list) else ()
    fitting = statuses_of(chosen, window in UPCOMING_WINDOWS)
    calls = "call" in (chosen or KINDS) and window not in UPCOMING_WINDOWS
    appointments = "appointment" in (chosen or KINDS)
    options = []
    for status in (s for s in fitting if s not in SAME_CHOICE):
        option = {"label": status_label(status), "value": status}
        if calls and status in STATUS_BUCKET:
            bucket = STATUS_BUCKET[status]
            both = appointments and status in APPOINTMENT_STATUSES
            option["label"] = (f"{BUCKET_LABELS[bucket]} calls / {status_label(status)} appointments" if both
                               else BUCKET_LABELS[bucket] if bucket != "ongoing" else status_label(status))
            option["title"] = f"Calls: {figures.bucket_meaning(bucket)}"
        options.append(option)
    return options


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
        dcc.Download(id=DOWNLOAD),
    ])


# --- the query string -------------------------------------------------------------------------------------

def parse_query_string(search: str | None) -> tuple[dict[str, Any], list[str]]:
    """Return the filter values a link asks for, and a notice for each value that was ignored."""
    values: dict[str, Any] = {"kind": [], "status": [], "direction": [], "company": [], "window": DEFAULT_WINDOW,
                              "q": ""}
    notices: list[str] = []
    if not isinstance(search, str):
        search = ""
    try:
        raw = parse_qs(search.lstrip("?"), keep_blank_values=False, max_num_fields=50)
    except ValueError:
        return values, ["the link's filters could not be read; showing everything"]
    allowed = {"kind": KINDS, "status": STATUSES, "direction": DIRECTIONS}
    caps = {"kind": len(KINDS), "status": len(STATUSES), "direction": len(DIRECTIONS),
            "company": MAX_CHOSEN_COMPANIES}
    for key, entries in raw.items():
        # Distinct values only, and no more than a control offers (widgets/choices.py): a forged link's list is
        # ignored whole, before any value is looked at.
        items = list(dict.fromkeys(item for entry in entries for item in entry.split(",") if item != ""))
        if key in caps and len(items) > caps[key]:
            notices.append(f"ignored {key}: more than {caps[key]} values")
        elif key in allowed:
            for item in items:
                if item in allowed[key]:
                    values[key].append(item)
                else:
                    notices.append(f"ignored {key}={item[:40]!r}: not a known {key}")
        elif key == "company":
            for item in items:
                company = int(item) if item.isascii() and item.isdigit() else 0
                if is_company_id(company) and company not in values["company"]:
                    values["company"].append(company)
                elif not is_company_id(company):
                    notices.append(f"ignored company={item[:40]!r}: not a company id")
        elif key == "window":
            if items and items[-1] in WINDOWS:
                values["window"] = items[-1]
            else:
                notices.append(f"ignored window={(items[-1] if items else '')[:40]!r}: choose one of {', '.join(WINDOWS)}")
        elif key == "q":
            text = entries[-1]
            if len(text) > SEARCH_MAX_LENGTH:
                notices.append(f"ignored the search: longer than {SEARCH_MAX_LENGTH} characters")
            else:
                values["q"] = text
        elif key not in OTHER_PANELS_KEYS:
            notices.append(f"ignored {key[:40]!r}: not a filter")
    # `ongoing` is offered as `in_progress`, `busy` and `no_answer` as `missed`: each the same bucket, which
    # either name selects whole.
    values["status"] = list(dict.fromkeys(SAME_CHOICE.get(s, s) for s in values["status"]))
    return values, notices + fit_to_kind(values)


def fit_to_kind(values: dict[str, Any]) -> list[str]:
    """Drop the window and statuses a link's kind cannot have (calls are never upcoming; a call status never
    fits appointments), changing `values`; return a notice for each."""
    notices = []
    if values["window"] in UPCOMING_WINDOWS and values["kind"] == ["call"]:
        notices.append(f"ignored window={values['window']}: calls are never upcoming (the upcoming windows show "
                       "appointments)")
        values["window"] = DEFAULT_WINDOW
    fitting = statuses_of(tuple(values["kind"]), values["window"] in UPCOMING_WINDOWS)
    for status in [s for s in values["status"] if s not in fitting]:
        notices.append(f"ignored status={status}: "
                       f"{status_misfit([status], tuple(values['kind']), values['window'] in UPCOMING_WINDOWS)}")
        values["status"].remove(status)
    return notices


def build_query_string(kinds, statuses, directions, companies, window, search) -> str:
    """Return the query string for these filter values (defaults left out)."""
    pairs = [("kind", ",".join(kinds or [])), ("status", ",".join(statuses or [])),
             ("direction", ",".join(directions or [])), ("company", ",".join(str(c) for c in companies or [])),
             ("window", window if window and window != DEFAULT_WINDOW else ""), ("q", (search or "").strip())]
    encoded = urlencode([(key, value) for key, value in pairs if value])
    return f"?{encoded}" if encoded else ""


def with_other_panels(query: str, search: Any) -> str:
    """Return the filters' query string with the keys other panels own taken over from `search` (the link)."""
    try:
        pairs = [(key, value) for key, value in parse_qsl((search or "").lstrip("?"), max_num_fields=50)
                 if key in OTHER_PANELS_KEYS] if isinstance(search, str) else []
    except ValueError:
        pairs = []
    if not pairs:
        return query
    return f"{query}&{urlencode(pairs)}" if query else f"?{urlencode(pairs)}"


def filter_values(kinds=None, statuses=None, directions=None, companies=None, window=DEFAULT_WINDOW,
                  search="") -> dict[str, Any]:
    """Return the filter controls' values by the names the callbacks use (see FILTER_FIELDS)."""
    return {"kinds": kinds, "statuses": statuses, "directions": directions, "companies": companies,
            "window": window, "search": search}


def sync_url_and_filters(triggered: str | None, search: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """Keep the query string and the filter controls in step, whichever one changed (`triggered`); the status
    choices follow the kind and window, and a chosen status that no longer fits is dropped with a notice."""
    unchanged = {"search": no_update, "filters": {name: no_update for name in FILTER_FIELDS},
                 "status_options": no_update}
    if triggered in (URL, None):
        values, notices = parse_query_string(search)
        canonical = with_other_panels(build_query_string(values["kind"], values["status"], values["direction"],
                                                         values["company"], values["window"], values["q"]), search)
        return {"search": canonical if canonical != search else no_update,
                "filters": filter_values(values["kind"], values["status"], values["direction"], values["company"],
                                         values["window"], values["q"]),
                "status_options": status_options(values["kind"], values["window"]),
                "notice": "; ".join(notices[:5]) if notices else ""}
    fitted, notices = _fitted_controls(filters, triggered)
    try:
        activity = filter_from_controls(**fitted)
    except ValueError as error:
        return {**unchanged, "notice": f"Not applied: {error}"}
    query = with_other_panels(build_query_string(activity.kinds, activity.statuses, activity.directions,
                                                 activity.company_ids, activity.window, activity.search), search)
    changed = {name: fitted[name] if fitted[name] != filters.get(name) else no_update for name in FILTER_FIELDS}
    return {"search": query if query != search else no_update, "filters": changed,
            "status_options": status_options(fitted.get("kinds"), fitted.get("window"))
            if triggered in (KIND, WINDOW) else no_update,
            "notice": "; ".join(notices)}


def _fitted_controls(filters: dict[str, Any], triggered: str | None) -> tuple[dict[str, Any], list[str]]:
    """Return the controls' values with the window and statuses the chosen kind cannot have dropped, and a
    notice for each (values of the wrong shape are left for filter_from_controls to refuse); choosing an
    upcoming window while calls are chosen chooses appointments instead."""
    kinds, statuses, window = filters.get("kinds"), filters.get("statuses"), filters.get("window")
    if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) or v is None for v in (kinds, statuses)) \
            or not isinstance(window, str):
        return filters, []
    values = {"kind": [k for k in kinds or [] if k in KINDS], "status": [s for s in statuses or []],
              "window": window}
    if len(values["kind"]) != len(kinds or []) or any(s not in STATUSES for s in values["status"]):
        return filters, []
    notices = []
    if triggered == WINDOW and window in UPCOMING_WINDOWS and values["kind"] == ["call"]:
        values["kind"] = ["appointment"]
        notices.append("the upcoming windows show appointments: kind set to appointments")
    notices += [notice.replace("ignored ", "dropped ", 1) for notice in fit_to_kind(values)]
    if not notices:
        return filters, []
    return {**filters, "kinds": values["kind"], "statuses": values["status"], "window": values["window"]}, notices


# --- filters, cursors and pages ---------------------------------------------------------------------------

def filter_from_controls(kinds, statuses, directions, companies, window, search,
                         company_limit: int = MAX_CHOSEN_COMPANIES) -> ActivityFilter:
    """Return the validated filter for the controls' values (ValueError with a clear message): every list
    checked, deduplicated and capped (widgets/choices.py), companies at `company_limit` (see company_cap)."""
    names = "filters must be lists of names"
    chosen_kinds = checked_choices(kinds, "kinds", len(KINDS), is_name, names)
    chosen_statuses = checked_choices(statuses, "statuses", len(STATUSES), is_name, names)
    chosen_directions = checked_choices(directions, "directions", len(DIRECTIONS), is_name, names)
    chosen_companies = checked_choices(companies, "companies", company_limit, is_company_id,
                                       "companies must be chosen from the list")
    if search is not None and not isinstance(search, str):
        raise ValueError("the search must be text")
    return ActivityFilter(kinds=chosen_kinds, statuses=chosen_statuses, directions=chosen_directions,
                          company_ids=chosen_companies or None,
                          window=window if isinstance(window, str) else DEFAULT_WINDOW,
                          search=(search or "").strip())


def first_page() -> dict[str, Any]:
    return {"cursors": [None], "page": 0}


def cursor_to_data(cursor: Cursor | None) -> dict[str, Any] | None:
    return None if cursor is None else {"at": cursor.at.isoformat(), "kind": cursor.kind, "id": cursor.id}


def cursor_from_data(data: Any) -> Cursor | None:
    """Return the cursor a browser sent back, or None when it is missing or malformed."""
    if not isinstance(data, dict):
        return None
    try:
        kind, row_id = data["kind"], data["id"]
        if kind not in KINDS or not isinstance(row_id, int) or isinstance(row_id, bool) or row_id < 0:
            return None
        at = datetime.fromisoformat(str(data["at"]))
        # The feed's times are naive, as stored; a cursor with a zone was not made here.
        return None if at.tzinfo is not None else Cursor(at=at, kind=kind, id=row_id)
    except (KeyError, TypeError, ValueError):
        return None


def read_pager(pager: Any) -> tuple[list[Cursor | None], int]:
    """Return the pager's cursors and page as the browser sent them, valid or reset to the first page."""
    if not isinstance(pager, dict) or not isinstance(pager.get("cursors"), list):
        return [None], 0
    page = pager.get("page")
    raw = pager["cursors"][:MAX_PAGES]
    cursors = [None] + [cursor_from_data(entry) for entry in raw[1:]]
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < len(cursors) \
            or any(cursor is None for cursor in cursors[1:page + 1]):
        return [None], 0
    return cursors[:page + 1], page


def turn_page(triggered: str | None, pager: Any, next_cursor: Any) -> dict[str, Any]:
    """Move between pages (`triggered` is the button pressed); any change of filter goes back to the newest."""
    cursors, page = read_pager(pager)
    if triggered == OLDER and cursor_from_data(next_cursor) is not None:
        return {"cursors": [cursor_to_data(c) for c in cursors] + [next_cursor], "page": page + 1}
    if triggered == NEWER and page > 0:
        return {"cursors": [cursor_to_data(c) for c in cursors[:page]], "page": page - 1}
    return first_page()


def link_from_controls(triggered: str | None, search: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """A filter control changed (`triggered`): write the link (the view follows it, see show_view), with the
    controls fitted to each other and a notice for what was dropped or refused."""
    if triggered not in FILTER_IDS:  # only a control's change writes the link; the link's own change is read
        return {"search": no_update, "filters": {name: no_update for name in FILTER_FIELDS},
                "status_options": no_update, "notice": no_update}
    synced = sync_url_and_filters(triggered, search, filters)
    # A person's change that writes a new link says what it dropped, or clears an old notice; the link's reader
    # (show_view) then adds only what the link itself ignored. A change that writes no new link (the controls
    # set from the link) has nothing to say, and must not clear what show_view said of that link.
    writes_link = synced["search"] is not no_update
    return {**synced, "notice": synced["notice"] if synced["notice"] or writes_link else no_update}


def _same_control_value(name: str, value: Any, current: Any) -> bool:
    """Tell whether a control already shows what the link asks for: a multi-choice's None is its empty list,
    and the search box's spaces around the text are the typist's (the link keeps the text trimmed)."""
    if name == "search":
        return isinstance(current, str) and current.strip() == (value or "").strip()
    if isinstance(value, list) and current is None:
        return value == []
    return value == current


def show_view(triggered: str | None, search: Any, pager: Any, shown: Any, filters: dict[str, Any],
              previous_freshness: Any) -> dict[str, Any]:
    """The feed's rows, read in the page's first round of callbacks: on the first call and whenever the link
    changes, the filters come from the link on the first page; on a poll or a page turn, the controls' filters on
    the pager's page. "controls" holds what the browser is to set beside the outputs (see register): the filter
    controls and status choices the link asks for, and the link as the filters read it (values it ignored left
    out), each only where it differs.

    Reading the link here, rather than after the controls were set from it and the pager reset (three rounds of
    callbacks before a row), makes the first rows one round trip after the page. A link whose
    feed part is the view already shown (another panel's key changed: ?call=, ?customer=) leaves the feed as it
    is, on its page."""
    untouched = {"view": no_update, "pager": no_update, "controls": {}}
    synced = sync_url_and_filters(URL, search, filters)
    values = synced["filters"]
    view = build_query_string(**values)
    # A poll or a page turn whose link is not the view shown (the answer to the link's own call was lost: refused,
    # timed out, or dropped by Dash for this newer call) reads the link as that call would have.
    link_unread = isinstance(search, str) and view != shown
    if triggered not in (URL, None) and not link_unread:
        return {**untouched, **refresh(triggered, pager, filters, previous_freshness)}
    if triggered == URL and view == shown:
        return {**untouched, **{key: no_update for key in ROWS_OUTPUTS}}
    rows = refresh(triggered, first_page(), values, previous_freshness)
    controls = {FILTER_FIELDS[name]: {"value": value} for name, value in values.items()
                if not _same_control_value(name, value, filters.get(name))}
    if any(FILTER_FIELDS[name] in controls for name in ("kinds", "window")) or triggered is None:
        controls[STATUS_FILTER] = {**controls.get(STATUS_FILTER, {}), "options": synced["status_options"]}
    if synced["search"] is not no_update:
        controls[URL] = {"search": synced["search"]}
    # The link's own notices (what it ignored); without any, the notice a control's change wrote stays (and the
    # first call of a page starts with none).
    notice = rows["notice"] if rows["notice"] is not no_update else \
        synced["notice"] if synced["notice"] or triggered is None else no_update
    if notice is not no_update and notice and notice == synced["notice"] and URL in controls:
        # The link's notice goes with the link as read, a side update too: Dash applies those even when it drops
        # this answer for a newer call of this callback (a poll that fired before the answer came), and that call
        # reads the cleaned link, which has nothing left to say. Without it the notice was lost on such pages.
        controls[NOTICE] = {"children": notice}
    return {**rows, "notice": notice,
            "view": view, "pager": first_page() if pager != first_page() else no_update, "controls": controls}


def set_controls(result: dict[str, Any]) -> dict[str, Any]:
    """Set the components `result["controls"]` names through Dash's set_props, and return the outputs.

    set_props, not outputs: the filter controls' values feed the callback that writes the link, so as outputs they
    would make Dash hold every reader of the link (this callback, the call details, the customer history) until
    that callback's turn; as side updates they still fire it, after the rows are on their way."""
    for component, props in result.pop("controls").items():
        set_props(component, props)
    return result


def compact_rows(page: ActivityPage, database_timezone: str, mask_phones: bool = False,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Return the feed rows as the browser needs them: short keys, epoch seconds, no empty values; a call's status
    says when it is stuck (in progress past the ongoing window at `now`) or its two status columns disagree."""
    phone = mask_phone if mask_phones else text_or_none
    # An unknown caller's name is often their number: a name is masked like any text that may hold one.
    name = (lambda value: mask_field(text_or_none(value))) if mask_phones else text_or_none
    rows = []
    for row in page.rows.itertuples(index=False):
        record = {"k": "a" if row.kind == "appointment" else "c", "id": int(row.id),
                  "at": epoch(row.at, database_timezone), "cust": name(row.customer_name),
                  "ph": phone(text_or_none(row.phone)), "co": text_or_none(row.company_name),
                  "svc": text_or_none(row.service_name), "dir": text_or_none(row.direction),
                  "st": (status_label(row.status) if row.kind == "appointment" else
                         call_status_label(row.status, getattr(row, "call_status", None), row.at, now)),
                  "dur": int_or_none(row.duration_sec),
                  "cid": int_or_none(getattr(row, "customer_id", None)),
                  # getattr: newest rows a worker of the previous release cached (one slot) have no booked_at.
                  "bk": epoch(getattr(row, "booked_at", None), database_timezone)}
        rows.append(without_empty(record))
    return rows


def _filter_params(activity: ActivityFilter) -> dict[str, Any]:
    return {"kinds": activity.kinds, "statuses": activity.statuses, "directions": activity.directions,
            "company_ids": activity.company_ids, "customer_id": activity.customer_id, "window": activity.window,
            "search": activity.search, "whole_numbers_only": activity.whole_numbers_only,
            "phone_region": activity.phone_region}


ROWS_OUTPUTS = ("rows", "next_cursor", "freshness", "page_label", "older_disabled", "newer_disabled", "notice")


def refresh(triggered: str | None, pager: Any, filters: dict[str, Any], previous_freshness: Any) -> dict[str, Any]:
    """Fetch (or take from the cache) the current page of the feed; `triggered` tells a poll from a new view.

    The newest rows of the feed are one cached statement per interval; a view that
    they answer exactly (see queries.activity.page_from_recent) costs no statement.
    A view's page lives in the same time slot as the rows it was cut from (see database/query_cache.py), so it
    expires with them.
    """
    services = current_services()
    viewer = current_viewer()
    try:
        activity = scoped_filter(filter_from_controls(**filters, company_limit=company_cap(viewer)), viewer,
                                 services.config["PHONE_REGION"])
    except ValueError as error:
        return {"rows": [], "next_cursor": None, "freshness": no_update, "page_label": "Page 1",
                "older_disabled": True, "newer_disabled": True, "notice": f"Not searched: {error}"}
    cursors, page = read_pager(pager)
    cursor = cursors[page]
    page_size = int(services.config["ACTIVITY_PAGE_SIZE"])
    lifetime = services.poll_seconds(POLL_SETTING)
    timezone = services.config["DATABASE_TIMEZONE"]
    recent_rows = int(services.config["ACTIVITY_RECENT_ROWS"])

    scope = viewer.scoped(None)
    recent_params = {"rows": recent_rows, "company_ids": scope}

    def fetch_recent():
        # Cached as plain data: one result read by many views, filtered per view (see page_from_recent).
        return fetch_recent_feed(services.reader, services.now(), recent_rows, scope).to_data()

    services.queries.prefetch_next_slot(RECENT_QUERY_NAME, recent_params, lifetime, fetch_recent,
                                        ahead=recent_prefetch_seconds(lifetime))

    def page_of_view() -> dict[str, Any]:
        recent = services.queries.get_or_compute(RECENT_QUERY_NAME, recent_params, lifetime, fetch_recent)
        feed = RecentFeed.from_data(recent.value)
        page = page_from_recent(feed, activity, cursor, page_size, schema_of(services.reader))
        if page is not None:
            return {**page_payload(page, timezone, viewer.masks_phones, feed.now), "as_of": recent.computed_at}
        # Only a search that reaches the database is counted; a refusal raises through the cache, which
        # stores nothing for it, so the next viewer of this view computes it on their own count.
        services.work_limits.count_search(viewer)
        # A first page counts its matches in the same statement (a search is one round trip).
        now = services.now()
        page = fetch_activity(services.reader, activity, now, cursor, page_size, count_cap=COUNT_CAP)
        return {**page_payload(page, timezone, viewer.masks_phones, now), "as_of": services.clock()}

    unchanged = {key: no_update for key in ROWS_OUTPUTS}
    polled = triggered in (INTERVAL, REFRESH_SIGNAL)  # a poll of the view on screen, not a new view

    def emptied(freshness: dict[str, Any]) -> dict[str, Any]:
        # A new view that could not load: the previous view's rows must not pass for its own, so the grid empties
        # and its overlay says why (a refusal or a failure is not "no matches", nor a load that never ends).
        return {**unchanged, "rows": [], "next_cursor": None, "freshness": freshness,
                "page_label": f"Page {page + 1}", "older_disabled": True, "newer_disabled": page == 0}

    try:
        result = cached_refresh(TITLE, lambda: services.queries.get_or_compute(
            QUERY_NAME, {**_filter_params(activity), "cursor": cursor_to_data(cursor), "page_size": page_size,
                         "masked": viewer.masks_phones},
            lifetime, page_of_view), services.config["STATEMENT_TIMEOUT_MS"])
    except WorkRefused as refusal:  # this viewer's alone
        shown = {**unchanged} if polled else emptied(stale(None, str(refusal)))
        return {**shown, "notice": str(refusal)}
    if result.cached is None:
        # A poll keeps the view's last rows, marked stale.
        return {**unchanged, "freshness": result.freshness(previous_freshness)} if polled \
            else emptied(result.freshness(None))
    payload = result.cached.value

    def count_of_view() -> dict[str, Any]:
        # No statement of the view's own: the newest rows, else the window's groups, which every view of the
        # window shares (one statement per window every few intervals, however many views people open).
        recent = RecentFeed.from_data(services.queries.get_or_compute(
            RECENT_QUERY_NAME, recent_params, lifetime, fetch_recent).value)
        schema = schema_of(services.reader)
        counts = None
        if count_from_recent(recent, activity, schema) is None and not activity.search \
                and activity.customer_id is None:
            counts = WindowCounts.from_data(services.queries.get_or_compute(
                WINDOW_COUNTS_QUERY_NAME, {"window": activity.window},
                window_count_seconds(activity.window, lifetime),
                lambda: fetch_window_counts(services.reader, activity.window, services.now()).to_data()).value)
        counted = feed_count(recent, counts, activity, schema)
        if counted is None and counts is not None:  # too many groups, or rows since: the view counts apart
            counted = FeedCount(count_activity(services.reader, activity, services.now(), COUNT_CAP), capped=True)
        # A search's or a customer's count comes with its first page's statement; a later page whose count has
        # expired shows its page number until the first page is read again, rather than count by a statement.
        return {} if counted is None else counted.to_data()

    # Counted once per view and interval, for all its pages: by the first page's own statement when it had one
    # (kept here for the later pages), else from the newest rows or the window's shared groups.
    known = payload.get("matching")
    counted = cached_refresh(COUNT_TITLE, lambda: services.queries.get_or_compute(
        COUNT_QUERY_NAME, {**_filter_params(activity), "cap": COUNT_CAP}, lifetime,
        count_of_view if known is None else lambda: FeedCount(known, capped=True).to_data()),
        services.config["STATEMENT_TIMEOUT_MS"])
    count = FeedCount.from_data(counted.cached.value) if counted.cached else \
        (FeedCount(known, capped=True) if known is not None else None)
    return {**unchanged, "rows": payload["rows"], "next_cursor": payload["next_cursor"],
            "freshness": result.freshness(previous_freshness, ok_at=payload["as_of"]),
            "page_label": page_caption(page, page_size, len(payload["rows"]), count and count.matching,
                                       COUNT_CAP if count is None or count.capped else None,
                                       about=bool(count and count.about)),
            "older_disabled": payload["next_cursor"] is None, "newer_disabled": page == 0}


def page_caption(page: int, page_size: int, shown: int, matching: int | None, cap: int | None = COUNT_CAP,
                 about: bool = False) -> str:
    """Return where the page is among the rows that match: '51–100 of 1,204', '1–50 of more than 2,000' (a
    capped count), '1–50 of about 12,400' (an estimate), or 'Page 3' when the count could not be had."""
    if matching is None or (shown == 0 and page > 0):
        return f"Page {page + 1}"
    if shown == 0:
        return "No rows match"
    first = page * page_size + 1
    last = first + shown - 1
    # The count and the page may be a moment apart: never fewer than the page shows.
    if about:
        total = f"about {max(queries.about(matching), last):,}"
    elif cap is not None and matching > cap:
        total = f"more than {cap:,}"
    else:
        total = f"{max(matching, last):,}"
    return f"{first:,}–{last:,} of {total}"


def recent_prefetch_seconds(interval: int) -> float:
    """Return how long before a slot ends the next slot's newest rows are fetched (when many watch).

    Rows fetched ahead serve the whole next slot, so a page may be this much older than its interval."""
    return min(RECENT_PREFETCH_SECONDS, interval / 5)


def page_payload(result: ActivityPage, database_timezone: str, mask_phones: bool = False,
                 now: datetime | None = None) -> dict[str, Any]:
    """Return what the browser is sent for a page: compact rows and the next page's cursor."""
    payload = {"rows": compact_rows(result, database_timezone, mask_phones, now),
               "next_cursor": cursor_to_data(result.next_cursor)}
    return payload if result.matching is None else {**payload, "matching": result.matching}


def scoped_filter(activity: ActivityFilter, viewer: Viewer, phone_region: str = "") -> ActivityFilter:
    """Return the filter with the companies the viewer may see (the browser's choice only narrows them); a viewer
    who sees masked numbers finds a number only by typing all of it."""
    return replace(activity, company_ids=viewer.scoped(activity.company_ids),
                   whole_numbers_only=viewer.masks_phones, phone_region=phone_region)


def company_options() -> dict[str, Any]:
    """Return the companies to filter by (cached for five minutes)."""
    services = current_services()
    scope = current_viewer().scoped(None)
    def options() -> list[dict[str, Any]]:
        found = fetch_company_options(services.reader, scope)
        return [{"label": name, "value": int(company_id)} for company_id, name in zip(found.id, found.name)]

    # The built options are cached, not the DataFrame (the cache holds JSON only).
    result = cached_refresh(COMPANY_OPTIONS_TITLE, lambda: services.queries.get_or_compute(
        COMPANY_OPTIONS_QUERY, {"company_ids": scope}, COMPANY_OPTIONS_SECONDS, options),
        services.config["STATEMENT_TIMEOUT_MS"])
    return {"options": result.cached.value if result.cached else no_update}


def export_file(which: str, filters: dict[str, Any]):
    """Send the current filter's rows (up to the export cap) as a CSV file: plain (EXPORT) or for Excel."""
    services = current_services()
    viewer = current_viewer()
    try:
        activity = scoped_filter(filter_from_controls(**filters, company_limit=company_cap(viewer)), viewer,
                                 services.config["PHONE_REGION"])
    except ValueError as error:
        return no_update, f"Not exported: {error}"
    cap = int(services.config["ACTIVITY_EXPORT_ROW_CAP"])
    now = services.now()
    try:
        # The user's one export slot is held while the file is built too: that is their share of a worker.
        with services.work_limits.exporting(viewer):
            page = fetch_activity(services.reader, activity, now, None, cap, with_agent=which == EXPORT_EXCEL)
            return export_download(which, page, now, cap, services.config, viewer.masks_phones,
                                   schema_of(services.reader).statuses)
    except WorkRefused as refusal:
        return no_update, f"Not exported: {refusal}"
    except DATABASE_ERRORS as error:
        log_failure("activity export", error)
        return no_update, f"Not exported: {describe_failure(error, services.config['STATEMENT_TIMEOUT_MS'])}"


def export_download(which: str, page: ActivityPage, now: datetime, cap: int, config: dict[str, Any],
                    mask_phones: bool, statuses: StatusBuckets | None = None):
    """Return the download of an export's rows, and a note when the cap cut them; each call says the bucket it
    is counted in (`statuses`: the map's), so a spreadsheet's count of "Missed" is the company table's."""
    zones = config["DATABASE_TIMEZONE"], config["DISPLAY_TIMEZONE"]
    note = f"Exported the newest {cap:,} rows; narrow the filter for older ones." if page.next_cursor else ""
    if which == EXPORT_EXCEL:
        content = excel_csv(page, *zones, mask_phones, statuses)
        filename = f"switchboard-activity-{now:%Y%m%d-%H%M}-excel.csv"
    else:
        frame = csv_frame(page, *zones, mask_phones, statuses)
        content = write_csv(list(frame.columns), frame.astype(object).where(frame.notna(), None).itertuples(
            index=False, name=None))
        filename = f"switchboard-activity-{now:%Y%m%d-%H%M}.csv"
    return dcc.send_string(content, filename, type="text/csv"), note


def export(triggered: str | None, filters: dict[str, Any]) -> dict[str, Any]:
    """Run the export whose button was pressed (`triggered`)."""
    if triggered not in (EXPORT, EXPORT_EXCEL):
        return {"download": no_update, "notice": no_update}
    download, notice = export_file(triggered, filters)
    return {"download": download, "notice": notice}


def _display_times(rows: pd.DataFrame, database_timezone: str, display_timezone: str) -> list[str | None]:
    viewer = ZoneInfo(display_timezone)
    stored = ZoneInfo(database_timezone)
    return [None if pd.isna(at) else at.to_pydatetime().replace(tzinfo=stored).astimezone(viewer)
            .strftime("%Y-%m-%d %H:%M:%S") for at in rows["at"]]


def _phones(rows: pd.DataFrame, mask_phones: bool, formatted: bool = False) -> list[str | None]:
    phones = [text_or_none(p) for p in rows["phone"]]
    if mask_phones:
        return [mask_phone(p) for p in phones]
    return [international(p) for p in phones] if formatted else phones


def _names(rows: pd.DataFrame, mask_phones: bool) -> list[str | None]:
    """Return the customers' names, masked like any text that may hold a number for a viewer of masked numbers."""
    names = [text_or_none(name) for name in rows["customer_name"]]
    return [mask_field(name) for name in names] if mask_phones else names


def international(number: str | None) -> str | None:
    """Return a stored number in international format (+49 30 5000001), or as stored when it is not one."""
    if number is None:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _counted_as(rows: pd.DataFrame, statuses: StatusBuckets | None) -> list[str | None]:
    return [figures.counted_as(kind, text_or_none(status), statuses) for kind, status in zip(rows["kind"],
                                                                                            rows["status"])]


def csv_frame(page: ActivityPage, database_timezone: str, display_timezone: str,
              mask_phones: bool = False, statuses: StatusBuckets | None = None) -> pd.DataFrame:
    """Return the plain export's columns, times in the display timezone, and the bucket each call counts in."""
    rows = page.rows
    return pd.DataFrame({
        "kind": rows["kind"], "time": _display_times(rows, database_timezone, display_timezone),
        "customer": _names(rows, mask_phones), "phone": _phones(rows, mask_phones),
        "company": rows["company_name"], "service": rows["service_name"], "direction": rows["direction"],
        "status": rows["status"], "duration_sec": rows["duration_sec"].astype("Int64"),
        "counted_as": _counted_as(rows, statuses),
    })


def excel_csv(page: ActivityPage, database_timezone: str, display_timezone: str, mask_phones: bool = False,
              statuses: StatusBuckets | None = None) -> str:
    """Return the Excel file: a byte order mark, the timezone in the header, agent, and durations as m:ss too."""
    rows = page.rows
    header = ("Kind", "ID", f"Time ({display_timezone})", "Customer", "Phone", "Company", "Agent", "Service",
              "Direction", "Status", "Duration (s)", "Duration (m:ss)", "Counted as")
    durations = [int_or_none(d) for d in rows["duration_sec"]]
    columns = zip(
        rows["kind"], (int(i) for i in rows["id"]), _display_times(rows, database_timezone, display_timezone),
        _names(rows, mask_phones), _phones(rows, mask_phones, formatted=True),
        map(text_or_none, rows["company_name"]), map(text_or_none, rows["agent_name"]),
        map(text_or_none, rows["service_name"]), map(text_or_none, rows["direction"]),
        map(text_or_none, rows["status"]), durations,
        # Excel reads '2:05' as two hours and five minutes: the text marker keeps it minutes and seconds.
        (None if d is None else TEXT_MARKER + minutes_and_seconds(d) for d in durations),
        _counted_as(rows, statuses))
    return write_csv(header, columns, for_excel=True)


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
    )
    app.clientside_callback(
        ClientsideFunction("switchboard", "clearFilters"),
        Output(URL, "search", allow_duplicate=True), Input(CLEAR, "n_clicks"), State(URL, "search"),
        prevent_initial_call=True,
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
