"""What each widget refresh costs the database: statements, rows, bytes, milliseconds.

SQLAlchemy cursor events on the reader engine record every statement run while a
refresh is being measured (`measure_refresh`), with its SQL text and its database
time. Rows and bytes are known only once the rows are fetched: `instrument_engine`
also has the one query runner (`queries.runner.run`) hand each fetch to
`record_rows`. The factory instruments the reader engine; database/engines.py does not.

Bytes are approximated as the MySQL text protocol carries a result: each value's
text plus a one-byte length, and a four-byte packet header a row.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.runner import observe_rows

ROW_HEADER_BYTES = 4


@dataclass
class RefreshCost:
    """The database cost of one widget refresh."""

    widget: str
    statements: list[str] = field(default_factory=list)
    rows: int = 0
    bytes_received: int = 0
    db_ms: float = 0.0
    started_at: float = field(default_factory=time.time)
    failed: bool = False
    memory_added: int = 0  # bytes of resident memory the refresh added to this process (may be negative)
    _clock: float | None = field(default=None, repr=False)

    @property
    def statement_count(self) -> int:
        return len(self.statements)


@dataclass
class RefreshTotals:
    refreshes: int = 0
    failures: int = 0
    statements: int = 0
    rows: int = 0
    bytes_received: int = 0
    db_ms: float = 0.0


_current_refresh: ContextVar[RefreshCost | None] = ContextVar("current_refresh", default=None)


class CostLog:
    """The latest refresh costs of each widget in this process (bounded, thread-safe)."""

    def __init__(self, per_widget: int = 720):
        self._per_widget = per_widget
        self._costs: dict[str, deque[RefreshCost]] = {}
        self._totals: dict[str, RefreshTotals] = {}
        self._lock = threading.Lock()

    def add(self, cost: RefreshCost) -> None:
        with self._lock:
            self._costs.setdefault(cost.widget, deque(maxlen=self._per_widget)).append(cost)
            totals = self._totals.setdefault(cost.widget, RefreshTotals())
            totals.refreshes += 1
            totals.failures += int(cost.failed)
            totals.statements += cost.statement_count
            totals.rows += cost.rows
            totals.bytes_received += cost.bytes_received
            totals.db_ms += cost.db_ms

    def clear(self) -> None:
        """Forget everything recorded (before a worker starts: its totals count from zero)."""
        with self._lock:
            self._costs.clear()
            self._totals.clear()

    def totals(self) -> dict[str, "RefreshTotals"]:
        """Return each widget's running totals since the process started (never decreasing)."""
        with self._lock:
            return {widget: RefreshTotals(**vars(totals)) for widget, totals in self._totals.items()}

    def latest(self, widget: str) -> RefreshCost | None:
        with self._lock:
            costs = self._costs.get(widget)
            return costs[-1] if costs else None

    def history(self, widget: str) -> list[RefreshCost]:
        with self._lock:
            return list(self._costs.get(widget, ()))

    def widgets(self) -> list[str]:
        with self._lock:
            return sorted(self._costs)


@contextmanager
def measure_refresh(widget: str, log: CostLog | None = None) -> Iterator[RefreshCost]:
    """Record every statement run inside the block as the cost of one refresh of `widget`."""
    cost = RefreshCost(widget=widget)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    token = _current_refresh.set(cost)
    try:
        yield cost
    except BaseException:
        cost.failed = True
        raise
    finally:
        _current_refresh.reset(token)
        cost.memory_added = process.memory_info().rss - rss_before
        if log is not None:
            log.add(cost)


def record_rows(rows: Sequence[Sequence[object]]) -> None:
    """Add fetched rows and their approximate wire size to the refresh being measured."""
    cost = _current_refresh.get()
    if cost is None:
        return
    if cost._clock is not None:
        # Drivers that stream (SQLite) do most of the work while fetching.
        cost.db_ms += (time.perf_counter() - cost._clock) * 1000.0
        cost._clock = None
    cost.rows += len(rows)
    cost.bytes_received += approximate_result_bytes(rows)


def approximate_result_bytes(rows: Iterable[Sequence[object]]) -> int:
    """Return about how many bytes the MySQL text protocol needs for these rows."""
    total = 0
    for row in rows:
        total += ROW_HEADER_BYTES
        for value in row:
            total += 1 if value is None else len(str(value)) + 1
    return total


def instrument_engine(engine: Engine) -> None:
    """Attach the statement and timing hooks to an engine, and count the rows the runner fetches on it."""
    observe_rows(engine, record_rows)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        cost = _current_refresh.get()
        if cost is not None:
            cost.statements.append(statement)
            cost._clock = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        cost = _current_refresh.get()
        if cost is not None and cost._clock is not None:
            now = time.perf_counter()
            cost.db_ms += (now - cost._clock) * 1000.0
            cost._clock = now  # the fetch, if any, is timed from here by record_rows
