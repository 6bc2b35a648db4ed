"""What each widget costs, put together: database work, cache hits, bytes to the browser, memory.

The old deployment guide's "key metrics to track", live: per widget, statements
per refresh, rows, bytes from the database, database milliseconds, the cache
hit ratio over the last hour, bytes sent to the browser per response, and the
resident memory a refresh added to the worker. These figures are this worker
process's own (each gunicorn worker keeps its own); the memory charts, by
contrast, read the store every worker shares.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from statistics import mean
from typing import Callable, Mapping

from flask import Flask, Response, request

from callback_guard import parsed_callback_body
from monitoring.instrumentation import CostLog

DASH_UPDATE_PATH = "/_dash-update-component"
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
    # login, unknown host) is never read here (issue 12: a 150 MB body was read after its 401).
    body = parsed_callback_body()
    if body is None:
        return None
    output = str(body.get("output", ""))
    first = output.lstrip(".").split("...")[0].split(".")[0]
    return outputs.get(first)


def record_response_sizes(server: Flask, log: ResponseLog, outputs: Mapping[str, str]) -> None:
    """Log the bytes of every widget callback response, before compression and as sent.

    Call it once Dash (and its compression) is set up. Flask runs after-request handlers
    last-registered first: the note of the raw size is added last, so it runs before
    compression, and the measure is put first, so it runs after every other handler and
    sees the body as sent, whatever was registered in between.
    """

    def note(response: Response) -> Response:
        if request.path == DASH_UPDATE_PATH and not response.direct_passthrough:
            response.headers[RAW_LENGTH_HEADER] = str(response.calculate_content_length() or 0)
        return response

    def measure(response: Response) -> Response:
        if request.path == DASH_UPDATE_PATH and not response.direct_passthrough:
            widget = widget_of(outputs)
            if widget:
                sent = response.calculate_content_length() or 0
                log.add(widget, int(response.headers.pop(RAW_LENGTH_HEADER, sent)), sent)
        return response

    server.after_request(note)
    server.after_request_funcs.setdefault(None, []).insert(0, measure)


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


def widget_costs(widgets: Mapping[str, str], costs: CostLog, hit_ratios: Mapping[str, float | None],
                 responses: ResponseLog, since_seconds: float = HOUR) -> list[WidgetCost]:
    """Return the last hour's average cost of each widget (`widgets` maps query name to label)."""
    oldest = time.time() - since_seconds
    table = []
    for query, label in widgets.items():
        refreshes = [c for c in costs.history(query) if c.started_at >= oldest and not c.failed]
        sent = responses.recent(query, since_seconds)

        def average(values):
            values = list(values)
            return mean(values) if values else None

        table.append(WidgetCost(
            widget=label, refreshes=len(refreshes),
            statements_per_refresh=average(c.statement_count for c in refreshes),
            rows_per_refresh=average(c.rows for c in refreshes),
            db_bytes_per_refresh=average(c.bytes_received for c in refreshes),
            db_ms_per_refresh=average(c.db_ms for c in refreshes),
            cache_hit_ratio=hit_ratios.get(query),
            responses=len(sent), browser_bytes_per_response=average(s[2] for s in sent),
            memory_added_per_refresh=average(c.memory_added for c in refreshes),
        ))
    return table
