"""What every widget shares: failure reasons, the freshness record, compact values.

A widget's freshness lives in a dcc.Store as
`{"ok_at": epoch of the data shown, "stale": bool, "reason": str, "server_now": epoch}`;
the browser turns it into "updated 4s ago" or "stale since 12:03:04 · reason"
every second without asking the server (assets/switchboard.js).
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from database.query_cache import CachedResult, KnownFailure
from queries.ongoing_calls import ONGOING_STATUSES, ONGOING_WINDOW
from queries.runner import QueryTooLarge

log = logging.getLogger("switchboard.widgets")

# KnownFailure: a failure the query cache remembered (or a wait for the computation in flight that ran out).
DATABASE_ERRORS = (sa.exc.DBAPIError, sa.exc.TimeoutError, QueryTooLarge, OSError, KnownFailure)
TIMEOUT_MARKERS = ("max_statement_time", "max_execution_time", "interrupted", "query execution was interrupted")
UNREACHABLE_MARKERS = ("can't connect", "lost connection", "gone away", "connection refused", "unable to open",
                       "timed out", "broken pipe", "connection reset", "unreachable")


# What a database says of a table or column it does not have: MySQL/MariaDB (1146, 1054) and SQLite.
MISSING_OBJECT = ((re.compile(r"table '(?:[^'.]*\.)?([^']+)' doesn't exist", re.I), "table"),
                  (re.compile(r"unknown column '([^']+)'", re.I), "column"),
                  (re.compile(r"no such table: ([\w.]+)", re.I), "table"),
                  (re.compile(r"no such column: ([\w.]+)", re.I), "column"))
INSPECT_HINT = "`python app.py inspect` proposes a schema map (SCHEMA_MAP_FILE)"
GENERIC_REASON = "database error"
_logged_causes: set[str] = set()  # the missing tables and columns already logged, each once
MAX_LOGGED_CAUSES = 1000


def missing_object(error: BaseException) -> str | None:
    """Return what the statement named that the database lacks ("table agents", "column customers.name"), or
    None when the error is of another kind."""
    text = str(getattr(error, "orig", None) or error)
    for pattern, kind in MISSING_OBJECT:
        found = pattern.search(text)
        if found:
            return f"{kind} {found.group(1)}"
    return None


def describe_failure(error: BaseException, statement_timeout_ms: int) -> str:
    """Return a short, user-safe reason for a failed refresh (no SQL, no stack trace); a missing table or
    column is named, with the command that proposes a map of the platform's own names."""
    if isinstance(error, KnownFailure):  # described when it happened: every watcher reads the same reason
        return error.reason
    missing = missing_object(error)
    if missing is not None:
        return f"{missing} is not in this database: {INSPECT_HINT}"
    if isinstance(error, sa.exc.TimeoutError):
        return "all database connections are busy"
    return _reason_in_message(error, statement_timeout_ms)


def _reason_in_message(error: BaseException, statement_timeout_ms: int) -> str:
    """Return the reason the driver's message tells (a timeout, an unreachable server), else the error's kind."""
    text = str(getattr(error, "orig", None) or error).lower()
    if any(marker in text for marker in TIMEOUT_MARKERS):
        return f"query timed out after {statement_timeout_ms / 1000:g} s"
    if any(marker in text for marker in UNREACHABLE_MARKERS) or isinstance(error, OSError):
        return "database unreachable"
    if isinstance(error, QueryTooLarge):
        return "more rows than the widget can show"
    return GENERIC_REASON


def shown_reason(reason: str) -> str:
    """Return the reason as the viewer may read it: a missing table or column is for admins and ops (it names
    the platform's schema); support reads that the panel could not load, no more."""
    if INSPECT_HINT not in reason:
        return reason
    try:
        from access.roles import ADMIN, OPS
        from access.web import current_viewer

        role = current_viewer().role
    except (PermissionError, RuntimeError):  # no request: the reason is for an operator
        return reason
    return reason if role in (ADMIN, OPS) else GENERIC_REASON


def _server_now() -> float:
    """Return now by the app's clock, the one that stamped `ok_at`: the page shows the age as their difference."""
    from widgets.services import current_services

    return current_services().clock()


def fresh(ok_at: float, server_now: float | None = None) -> dict[str, Any]:
    """Return the freshness record of data computed at `ok_at`, as of `server_now` (the app's clock's now)."""
    return {"ok_at": ok_at, "stale": False, "reason": "",
            "server_now": _server_now() if server_now is None else server_now}


def stale(previous: dict | None, reason: str, server_now: float | None = None) -> dict[str, Any]:
    """Return the freshness record after a failed refresh: the last success is kept."""
    ok_at = (previous or {}).get("ok_at")
    return {"ok_at": ok_at, "stale": True, "reason": shown_reason(reason),
            "server_now": _server_now() if server_now is None else server_now}


def grid_options(empty_text: str, focusable: bool = False) -> dict[str, Any]:
    """Return the grid options every grid shares, with an overlay that tells loading, failure and emptiness apart.

    The overlay starts as "Loading…"; the browser switches it to "Could not load: <reason>" (the freshness
    line's reason) or to `empty_text` as the grid's freshness record changes (assets/switchboard.js).
    A `focusable` grid's cells take keyboard focus, so Enter on a row opens it (the call details).

    Each grid is one Tab stop: Tab and Shift+Tab leave it (AG Grid's `tabToNextCell` and
    `tabToNextHeader` returning false hand the key to the browser); inside it the arrow keys move between the
    header and the cells, and coming in from outside lands on the first row (assets/switchboard.js).
    """
    return {"animateRows": False, "suppressCellFocus": not focusable, "noRowsOverlayComponent": "SwitchboardOverlay",
            "noRowsOverlayComponentParams": {"empty": empty_text, "text": "Loading…", "failed": False},
            "tabToNextCell": {"function": "false"}, "tabToNextHeader": {"function": "false"}}


@dataclass(frozen=True)
class Refresh:
    """What a widget's refresh got from the query cache: its result, or the reason it has none."""

    cached: CachedResult | None
    reason: str = ""

    def freshness(self, previous: dict | None) -> dict[str, Any]:
        """Return the freshness record: fresh as of the result's data, or stale keeping the last success."""
        if self.cached is None:
            return stale(previous, self.reason)
        if self.cached.behind:  # an older result, shown with its age and the reason it is not newer
            return stale({"ok_at": self.cached.computed_at}, self.cached.behind)
        return fresh(self.cached.computed_at)


def cached_refresh(widget: str, get: Callable[[], CachedResult], statement_timeout_ms: int,
                   errors: tuple[type[BaseException], ...] = DATABASE_ERRORS,
                   reason: Callable[[BaseException], str] | None = None) -> Refresh:
    """Take a widget's result from the query cache (computing it when due); a failure is logged and described
    here, once for every widget, never raised to Dash."""
    try:
        return Refresh(get())
    except errors as error:
        log_failure(widget, error)
        return Refresh(None, reason(error) if reason else describe_failure(error, statement_timeout_ms))


def register_poll(app, output: dict[str, Any], refresh: Callable[[Any], dict[str, Any]], interval: str,
                  freshness: str) -> None:
    """Wire a widget's data callback as most are: run on its interval and on the page's refresh signal, with
    its last freshness record, returning a dict of `output`'s keys."""
    from dash import Input, State

    from widgets.registry import REFRESH_SIGNAL

    app.callback(
        output=output,
        inputs={"_ticks": Input(interval, "n_intervals"), "_signal": Input(REFRESH_SIGNAL, "data")},
        state={"previous_freshness": State(freshness, "data")},
    )(lambda _ticks, _signal, previous_freshness: refresh(previous_freshness))


def log_failure(widget: str, error: BaseException) -> None:
    """Log a failed refresh for operators, without parameters or rows (they may hold personal data)."""
    if isinstance(error, KnownFailure):
        # Remembered from the attempt that failed, which was logged: a line per watcher per poll would bury the
        # one that matters (and costs a write per answer while the database is down).
        log.debug("%s refresh answered from a remembered failure: %s", widget, error.kind)
        return
    missing = missing_object(error)
    if missing is not None:
        # Every poll of every watcher fails alike until the map names the platform's column: once per cause.
        if missing not in _logged_causes and len(_logged_causes) < MAX_LOGGED_CAUSES:
            _logged_causes.add(missing)
            log.warning("%s refresh failed: %s is not in this database; %s", widget, missing, INSPECT_HINT)
        return
    log.warning("%s refresh failed: %s", widget, type(getattr(error, "orig", None) or error).__name__)


def epoch(value: Any, database_timezone: str = "UTC") -> int | None:
    """Return a stored naive timestamp as whole seconds since the epoch (None, NaN and NaT give None)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    moment = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    if not isinstance(moment, datetime):
        return None
    return int(moment.replace(tzinfo=ZoneInfo(database_timezone)).timestamp())


def without_empty(record: dict[str, Any]) -> dict[str, Any]:
    """Drop the keys whose value is None: the browser treats a missing key as empty, and it is shorter."""
    return {key: value for key, value in record.items() if value is not None}


def text_or_none(value: Any) -> str | None:
    """Return a string value, or None for SQL NULL / NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def drawer(panel: str, heading: tuple[str, str], status: str, close: tuple[str, str], body: str, children: list,
           class_name: str = "drawer"):
    """Return a side panel, closed: a dialog named by its heading (id, text), a freshness line, a close button
    (id, title), a live body and then `children`. A link's query string opens it (call details, customer history)."""
    from dash import html

    return html.Aside(id=panel, className=class_name, hidden=True, role="dialog",
                      **{"aria-labelledby": heading[0]}, children=[
        html.Header(className="panel-header", children=[
            html.H2(heading[1], id=heading[0]), html.Span("", id=status, className="freshness"),
            html.Button("Close", id=close[0], className="button", title=close[1]),
        ]),
        html.Div(id=body), *children,
    ])


def id_from_query_string(search: Any, key: str, noun: str, largest: int = 2 ** 63 - 1) -> tuple[int | None, str]:
    """Return the id a link's `key` names (None: none), or a message when it cannot be an id of a `noun`."""
    from urllib.parse import parse_qs

    if not isinstance(search, str) or key not in search:
        return None, ""
    try:
        values = parse_qs(search.lstrip("?"), max_num_fields=50).get(key)
    except ValueError:
        return None, ""
    if not values:
        return None, ""
    text = values[-1].strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= largest:
        return None, f"{text[:40]!r} is not a {noun} id."
    return int(text), ""


def int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


# Statuses as people read them; the export keeps the stored value.
STATUS_LABELS = {"in_progress": "In progress", "ongoing": "In progress", "completed": "Completed",
                 "failed": "Failed", "missed": "Missed", "busy": "Busy", "no_answer": "No answer",
                 "scheduled": "Scheduled", "confirmed": "Confirmed", "cancelled": "Cancelled", "no_show": "No-show"}
STATUS_LABEL_LENGTH = 40
NOT_PRINTABLE = re.compile(r"[^\w .,:;/()+&'-]+")


def status_label(status: Any) -> str | None:
    """Return a status as people read it: 'In progress' for in_progress and ongoing alike, and one nobody
    told Switchboard about made readable ('voicemail_left' -> 'Voicemail left'); None for none."""
    text = text_or_none(status)
    if text is None or text.strip() == "":
        return None
    if text in STATUS_LABELS:
        return STATUS_LABELS[text]
    words = NOT_PRINTABLE.sub(" ", text.replace("_", " ").replace("-", " ")).split()
    readable = " ".join(words)[:STATUS_LABEL_LENGTH]
    return readable[:1].upper() + readable[1:].lower() if readable else None


def call_status_label(status: Any, call_status: Any = None, created_at: Any = None,
                      now: datetime | None = None) -> str | None:
    """Return a call's status as people read it, saying why where the facts disagree.

    A call still in progress past the ongoing window never ended as far as the platform knows: no panel counts it
    as ongoing, so it reads "Stuck · 3 d" (how long since it started). A call whose two status columns disagree
    shows both, the provider's first ("Ended · status still in progress"), so no panel calls it in progress while
    another says it ended."""
    label = status_label(status)
    live = text_or_none(status) in ONGOING_STATUSES
    provider = status_label(call_status)
    if provider is not None and (text_or_none(call_status) in ONGOING_STATUSES) != live:
        if label is None:
            return provider
        return (f"{provider} · status still {label.lower()}" if live
                else f"{label} · call status {provider.lower()}")
    if live and isinstance(created_at, datetime) and pd.notna(created_at) and now is not None:
        age = now - pd.Timestamp(created_at).to_pydatetime().replace(tzinfo=None)
        if age >= ONGOING_WINDOW:
            return f"Stuck · {age_text(age.total_seconds())}"
    return label


def age_text(seconds: float) -> str:
    """Return a long age roughly, as a glance needs it: '2 h', '47 h', '3 d'."""
    hours = int(seconds // 3600)
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def skeleton(height_px: int, label: str = "Loading…"):
    """Return a placeholder of a panel part's usual height, shown until its data comes (no layout jump)."""
    from dash import html

    return html.Div(html.Span(label, className="visually-hidden"), className="skeleton",
                    style={"height": f"{height_px}px"})


def more_columns_button(grid: str, key_columns: tuple[str, ...]):
    """Return the "More columns" toggle of a grid: below 700 px the grid shows only its key columns (by column
    id) until pressed (assets/switchboard.js; the button shows on small screens only)."""
    from dash import html

    return html.Button("More columns", className="button more-columns", n_clicks=0, title="Show every column",
                       **{"aria-pressed": "false", "aria-controls": grid, "data-grid": grid,
                          "data-keep": ",".join(key_columns)})


def fit_columns(column_defs: list[dict[str, Any]], viewer: Any, company_field: str = "co") -> list[dict[str, Any]]:
    """Return a grid's columns for this viewer: someone who sees one company only gets no company column."""
    if viewer is None or not viewer.sees_one_company:
        return column_defs
    return [{**column, "hide": True} if column.get("field") == company_field else column for column in column_defs]
