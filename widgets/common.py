"""What every widget shares: failure reasons, the freshness record, compact values.

A widget's freshness lives in a dcc.Store as
`{"ok_at": epoch of the data shown, "stale": bool, "reason": str, "server_now": epoch}`;
the browser turns it into "updated 4s ago" or "stale since 12:03:04 · reason"
every second without asking the server (assets/switchboard.js).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from caching import CachedResult, KnownFailure
from queries.runner import QueryTooLarge

log = logging.getLogger("switchboard.widgets")

# KnownFailure: a failure the query cache remembered (or a wait for the computation in flight that ran out).
DATABASE_ERRORS = (sa.exc.DBAPIError, sa.exc.TimeoutError, QueryTooLarge, OSError, KnownFailure)
TIMEOUT_MARKERS = ("max_statement_time", "max_execution_time", "interrupted", "query execution was interrupted")
UNREACHABLE_MARKERS = ("can't connect", "lost connection", "gone away", "connection refused", "unable to open",
                       "timed out", "broken pipe", "connection reset", "unreachable")


def describe_failure(error: BaseException, statement_timeout_ms: int) -> str:
    """Return a short, user-safe reason for a failed refresh (no SQL, no stack trace)."""
    if isinstance(error, KnownFailure):  # described when it happened: every watcher reads the same reason
        return error.reason
    text = str(getattr(error, "orig", None) or error).lower()
    if isinstance(error, sa.exc.TimeoutError):
        return "all database connections are busy"
    if any(marker in text for marker in TIMEOUT_MARKERS):
        return f"query timed out after {statement_timeout_ms / 1000:g} s"
    if any(marker in text for marker in UNREACHABLE_MARKERS) or isinstance(error, OSError):
        return "database unreachable"
    if isinstance(error, QueryTooLarge):
        return "more rows than the widget can show"
    return "database error"


def fresh(ok_at: float) -> dict[str, Any]:
    """Return the freshness record of data computed at `ok_at`."""
    return {"ok_at": ok_at, "stale": False, "reason": "", "server_now": time.time()}


def stale(previous: dict | None, reason: str) -> dict[str, Any]:
    """Return the freshness record after a failed refresh: the last success is kept."""
    ok_at = (previous or {}).get("ok_at")
    return {"ok_at": ok_at, "stale": True, "reason": reason, "server_now": time.time()}


def grid_options(empty_text: str, focusable: bool = False) -> dict[str, Any]:
    """Return the grid options every grid shares, with an overlay that tells loading, failure and emptiness apart.

    The overlay starts as "Loading…"; the browser switches it to "Could not load: <reason>" (the freshness
    line's reason) or to `empty_text` as the grid's freshness record changes (assets/switchboard.js).
    A `focusable` grid's cells take keyboard focus, so Enter on a row opens it (the call details).
    """
    return {"animateRows": False, "suppressCellFocus": not focusable, "noRowsOverlayComponent": "SwitchboardOverlay",
            "noRowsOverlayComponentParams": {"empty": empty_text, "text": "Loading…", "failed": False}}


@dataclass(frozen=True)
class Refresh:
    """What a widget's refresh got from the query cache: its result, or the reason it has none."""

    cached: CachedResult | None
    reason: str = ""

    def freshness(self, previous: dict | None, ok_at: float | None = None) -> dict[str, Any]:
        """Return the freshness record: fresh as of the result (or `ok_at`), or stale keeping the last success."""
        if self.cached is None:
            return stale(previous, self.reason)
        return fresh(self.cached.computed_at if ok_at is None else ok_at)


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


def int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)
