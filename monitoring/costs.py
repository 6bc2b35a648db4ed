"""What each widget costs, put together: database work, cache hits, bytes to the browser, memory.

The old deployment guide's "key metrics to track", live: per widget, statements
per refresh, rows, bytes from the database, database milliseconds, the cache
hit ratio over the last hour, bytes sent to the browser per response, and the
resident memory a refresh added to the worker. These figures are this worker
process's own (each gunicorn worker keeps its own); the memory charts, by
contrast, read the store every worker shares.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from flask import Flask, Response, request

from access.callback_guard import parsed_callback_body
from access.dash_internals import DASH_UPDATE_PATH
from monitoring.instrumentation import CostLog, RefreshCost

HOUR = 3600.0
RAW_LENGTH_HEADER = "X-Switchboard-Uncompressed-Length"


class ResponseLog:
    """The size of each widget's callback responses over the last hour (bounded, thread-safe)."""

    def __init__(self, per_widget: int = 5000, clock: Callable[[], float] = time.time):
        self._per_widget = per_widget
        self._clock = clock
        self._sizes: dict[str, deque[tuple[float, int, int]]] = {}
        self._lock = threading.Lock()

    def add(self, widget: str, raw_bytes: int, sent_bytes: int) -> None:
        with self._lock:
            self._sizes.setdefault(widget, deque(maxlen=self._per_widget)).append((self._clock(), raw_bytes, sent_bytes))

    def clear(self) -> None:
        with self._lock:
            self._sizes.clear()

    def recent(self, widget: str, seconds: float = HOUR) -> list[tuple[float, int, int]]:
        oldest = self._clock() - seconds
        with self._lock:
            return [entry for entry in self._sizes.get(widget, ()) if entry[0] >= oldest]

    def totals(self) -> dict[str, tuple[int, int, int]]:
        """Return per widget (responses, raw bytes, bytes sent) over everything kept."""
        with self._lock:
            return {widget: (len(sizes), sum(s[1] for s in sizes), sum(s[2] for s in sizes))
                    for widget, sizes in self._sizes.items()}


def widget_of(outputs: Mapping[str, str]) -> str | None:
    """Return the widget whose callback this Dash update request runs, by its first output."""
    # Only the body the callback guard parsed and accepted: a request refused before it (too large, no
    # login, unknown host) is never read here (a body read after its 401 can be 150 MB).
    body = parsed_callback_body()
    if body is None:
        return None
    output = str(body.get("output", ""))
    first = output.lstrip(".").split("...")[0].split(".")[0]
    return outputs.get(first)


def measure_sent_sizes(server: Flask, log: ResponseLog, outputs: Mapping[str, str]) -> None:
    """Log the bytes of every widget callback response as sent, with its uncompressed size (noted by
    note_uncompressed_sizes). Register it before any other after-request handler: the order is create_app's."""

    @server.after_request
    def measure(response: Response) -> Response:
        if request.path == DASH_UPDATE_PATH and not response.direct_passthrough:
            widget = widget_of(outputs)
            if widget:
                sent = response.calculate_content_length() or 0
                log.add(widget, int(response.headers.pop(RAW_LENGTH_HEADER, sent)), sent)
        return response


def note_uncompressed_sizes(server: Flask) -> None:
    """Note the size of every callback response before compression, for measure_sent_sizes. Register it right
    after Dash (and its compression): the order is create_app's."""

    @server.after_request
    def note(response: Response) -> Response:
        if request.path == DASH_UPDATE_PATH and not response.direct_passthrough:
            response.headers[RAW_LENGTH_HEADER] = str(response.calculate_content_length() or 0)
        return response


KB, MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Budget:
    """What one computation of a widget may cost, in the cost table's units: what Switchboard was built to.

    One statement per refresh (two for a search outside the shared rows), no more rows than a cap, never a
    LONGTEXT payload (the ancestor read 2.7 MB per widget load), an indexed read, an answer the browser takes
    in one small response (the ancestor's fixed widgets sent ~60 KB)."""

    statements: float = 2
    rows: float = 2000
    db_bytes: float = 1 * MB
    db_ms: float = 100
    browser_bytes: float = 60 * KB
    memory: float = 1 * MB


DEFAULT_BUDGET = Budget()
# A widget built to cost more than the default: a budget of its own, and why.
HEADLINE_DB_MS = 250  # a dozen index ranges over three days, polled every 60 s, not 15: less database time a minute


def widget_budgets(config: Mapping[str, object]) -> dict[str, Budget]:
    """Return the budgets that differ from DEFAULT_BUDGET, by cached query name."""
    recent_rows = int(config.get("ACTIVITY_RECENT_ROWS", 2000))
    return {
        # The feed's newest rows: ACTIVITY_RECENT_ROWS and one more, read to know whether older rows are left
        # (the keyset page's look-ahead row: without it the shared rows could not tell they hold the window).
        "activity_recent": Budget(rows=recent_rows + 1),
        # A customer's history is three statements by design: the record and its counts, the upcoming
        # appointments, a page of the past (each cached per customer; queries/customer_history.py).
        "customer_history": Budget(statements=3),
        "headline_stats": Budget(db_ms=HEADLINE_DB_MS),
    }


@dataclass(frozen=True)
class WidgetCost:
    widget: str
    refreshes: int
    statements_per_refresh: float | None
    rows_per_refresh: float | None
    db_bytes_per_refresh: float | None
    db_ms_per_refresh: float | None
    cache_hit_ratio: float | None
    responses: int
    browser_bytes_per_response: float | None
    memory_added_per_refresh: float | None
    budget: Budget = DEFAULT_BUDGET


def widget_costs(widgets: Mapping[str, str], costs: CostLog, hit_ratios: Mapping[str, float | None],
                 responses: ResponseLog, since_seconds: float = HOUR,
                 budgets: Mapping[str, Budget] | None = None) -> list[WidgetCost]:
    """Return the last hour's average cost of each widget (`widgets` maps query name to label), each with its
    budget (`budgets`: by query name; DEFAULT_BUDGET for the others)."""
    oldest = time.time() - since_seconds
    table = []
    for query, label in widgets.items():
        refreshes = [c for c in costs.history(query) if c.started_at >= oldest and not c.failed]
        table.append(_widget_cost(label, refreshes, responses.recent(query, since_seconds), hit_ratios.get(query),
                                  (budgets or {}).get(query, DEFAULT_BUDGET)))
    return table


def _widget_cost(label: str, refreshes: list[RefreshCost], sent: list[tuple[float, int, int]],
                 hit_ratio: float | None, budget: Budget) -> WidgetCost:
    """Return one widget's averages over its refreshes and over the responses sent for it."""
    return WidgetCost(
        widget=label, refreshes=len(refreshes),
        statements_per_refresh=_average(c.statement_count for c in refreshes),
        rows_per_refresh=_average(c.rows for c in refreshes),
        db_bytes_per_refresh=_average(c.bytes_received for c in refreshes),
        db_ms_per_refresh=_average(c.db_ms for c in refreshes),
        cache_hit_ratio=hit_ratio,
        responses=len(sent), browser_bytes_per_response=_average(s[2] for s in sent),
        memory_added_per_refresh=_average(c.memory_added for c in refreshes),
        budget=budget,
    )


def _average(values: Iterable[float]) -> float | None:
    values = list(values)
    # fsum, not statistics.mean: mean adds exactly, in Fractions, a hundred times slower for the same
    # figure to the last digit shown, and the cost panel averages an hour of refreshes at every poll.
    return math.fsum(values) / len(values) if values else None


def statements_floor_per_minute(widgets, config: Mapping[str, object]) -> float:
    """Return the fewest statements a minute the dashboard sends, however many watch: one per polled widget per
    interval (the feed's is its newest rows), summed over every worker, since the cache shares each slot.

    `widgets`: the registry's. A widget counts when it polls (an interval), caches queries and reads the
    platform's tables (plan examples): the memory, alert and cost panels read stores of their own."""
    return sum(60 / int(config[widget.poll_setting]) for widget in widgets
               if widget.interval and widget.queries and widget.plan_examples)


def statements_per_minute(costs: CostLog, since_seconds: float = HOUR,
                          clock: Callable[[], float] = time.time) -> float | None:
    """Return this worker's statements a minute over the last hour (since its first refresh, if later)."""
    now = clock()
    refreshes = [cost for widget in costs.widgets() for cost in costs.history(widget)
                 if cost.started_at >= now - since_seconds]
    if not refreshes:
        return None
    minutes = max(now - min(cost.started_at for cost in refreshes), 60.0) / 60
    return sum(cost.statement_count for cost in refreshes) / minutes
