"""What a running Switchboard holds: settings, the reader engine, the query cache, the cost log, the user
store, the work limits, the memory store and sampler, and the clock it tells the time by.

`create_app` builds one `Services`, complete, and keeps it in the Flask app's extensions;
callbacks reach it through `current_services()`, never through a module global.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from flask import current_app
from sqlalchemy.engine import Engine

from database.query_cache import QueryCache, slot_of
from demo.simulator import LiveSimulator
from monitoring.costs import ResponseLog
from monitoring.instrumentation import CostLog
from queries.timeutil import database_now, start_of_day

if TYPE_CHECKING:  # for the annotations only: importing them here would make widgets/services.py pull in every layer
    from alerts.service import Alerts
    from access.users import UserStore
    from access.work_limits import WorkLimits
    from monitoring.sampler import MemorySampler
    from monitoring.store import MemoryStore
    from widgets.registry import Widget

EXTENSION_KEY = "switchboard"


@dataclass
class Services:
    config: dict[str, Any]
    database_url: str
    reader: Engine
    queries: QueryCache
    costs: CostLog
    demo: bool
    widgets: tuple[Widget, ...]  # this app's, in page order
    users: UserStore  # who may sign in
    work_limits: WorkLimits  # each user's searches and exports
    memory_store: MemoryStore  # shared by the workers of a host (or all, in Redis)
    sampler: MemorySampler | None  # None with MEMORY_SAMPLER off; each worker starts its own on a first request
    clock: Callable[[], float]  # seconds since the epoch: the one clock of this app (create_app's `clock`)
    alerts: Alerts | None = None  # the alert store, rules and evaluator
    responses: ResponseLog = field(default_factory=ResponseLog)
    # Only `python app.py serve` starts one, on the demo database: it is the command's, not the app's.
    simulator: LiveSimulator | None = None
    # The answers of panels that show this process's own figures, each with the slot it was built in (slot_answer).
    slot_answers: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def now(self) -> datetime:
        """Return now as the platform stores time (a naive datetime in DATABASE_TIMEZONE)."""
        return database_now(self.config["DATABASE_TIMEZONE"], at=self.clock())

    def today_start(self, now):
        """Return when today began for the viewer, in the platform's time."""
        return start_of_day(now, self.config["DISPLAY_TIMEZONE"], self.config["DATABASE_TIMEZONE"])

    @property
    def widget_names(self) -> dict[str, str]:
        """Return each cached query's name and what the self-cost panel and /metrics call it."""
        return {query: title for widget in self.widgets for query, title in widget.queries.items()}

    def poll_seconds(self, widget_setting: str) -> int:
        return int(self.config[widget_setting])

    def slot_answer(self, name: str, interval: int, build: Callable[[], Any]) -> Any:
        """Return the answer `build` gives, built once per slot of `interval` seconds in this process: a panel of
        this process's own figures (no query, so not in the query cache) is the same for everyone who asks in a
        slot, as a query's result is. Two first asks of a slot at once may both build it; either answer is right."""
        slot = slot_of(interval, self.clock())
        kept = self.slot_answers.get(name)
        if kept is not None and kept[0] == slot:
            return kept[1]
        answer = build()
        self.slot_answers[name] = (slot, answer)
        return answer

    def forget_measurements(self) -> None:
        """Drop the refresh costs, response sizes, cache counts and the answers built from them (a warm-up's)."""
        self.costs.clear()
        self.responses.clear()
        self.queries.forget_counts()
        self.slot_answers.clear()

    def close_connections(self) -> None:
        """Close the pooled database connections (before forking: each worker opens its own).

        Redis clients need nothing: redis-py's pools notice a fork and start afresh."""
        self.reader.dispose()
        self.users.dispose()
        if self.alerts and self.alerts.probe_engine is not None:
            self.alerts.probe_engine.dispose()

    def shutdown(self) -> None:
        """Stop the background threads and close the connections."""
        if self.simulator:
            self.simulator.stop()
        if self.sampler:
            self.sampler.stop()
        if self.alerts:
            self.alerts.stop()
        self.memory_store.close()
        self.work_limits.close()
        self.close_connections()


def current_services() -> Services:
    """Return the Services of the app handling this request."""
    return current_app.extensions[EXTENSION_KEY]
