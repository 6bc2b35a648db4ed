"""What a running Switchboard holds: settings, the reader engine, the query cache, the cost log.

`create_app` builds one `Services` and keeps it in the Flask app's extensions;
callbacks reach it through `current_services()`, never through a module global.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy.engine import Engine

from caching import QueryCache
from demo.simulator import LiveSimulator
from monitoring.costs import ResponseLog
from monitoring.instrumentation import CostLog
from queries.timeutil import database_now, start_of_day

EXTENSION_KEY = "switchboard"


@dataclass
class Services:
    config: dict[str, Any]
    database_url: str
    reader: Engine
    queries: QueryCache
    costs: CostLog
    demo: bool
    responses: ResponseLog = field(default_factory=ResponseLog)
    widgets: tuple[Any, ...] = ()  # widgets.registry.Widget: this app's, in page order
    memory_store: Any = None  # monitoring.store.MemoryStore, shared by the workers of a host (or all, in Redis)
    sampler: Any = None  # monitoring.sampler.MemorySampler, started on the first request
    simulator: LiveSimulator | None = field(default=None)
    users: Any = None  # access.users.UserStore: who may sign in
    work_limits: Any = None  # access.work_limits.WorkLimits: each user's searches and exports

    def now(self):
        """Return now as the platform stores time."""
        return database_now(self.config["DATABASE_TIMEZONE"])

    def today_start(self, now):
        """Return when today began for the viewer, in the platform's time."""
        return start_of_day(now, self.config["DISPLAY_TIMEZONE"], self.config["DATABASE_TIMEZONE"])

    @property
    def widget_names(self) -> dict[str, str]:
        """Return each cached query's name and what the self-cost panel and /metrics call it."""
        return {query: title for widget in self.widgets for query, title in widget.queries.items()}

    def poll_seconds(self, widget_setting: str) -> int:
        return int(self.config[widget_setting])

    def forget_measurements(self) -> None:
        """Drop the refresh costs, response sizes and cache counts recorded so far (a warm-up's)."""
        self.costs.clear()
        self.responses.clear()
        self.queries.forget_counts()

    def close_connections(self) -> None:
        """Close the pooled database connections (before forking: each worker opens its own).

        Redis clients need nothing: redis-py's pools notice a fork and start afresh."""
        self.reader.dispose()
        if self.users is not None:
            self.users.dispose()

    def shutdown(self) -> None:
        """Stop the background threads and close the connections."""
        if self.simulator:
            self.simulator.stop()
        if self.sampler:
            self.sampler.stop()
        if self.memory_store is not None:
            self.memory_store.close()
        if self.work_limits is not None:
            self.work_limits.close()
        self.close_connections()


def current_services() -> Services:
    """Return the Services of the app handling this request."""
    return current_app.extensions[EXTENSION_KEY]
