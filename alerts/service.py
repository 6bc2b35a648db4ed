"""The alerts of one running Switchboard: the store, the rules in force, the evaluator; built by create_app."""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from alerts.delivery import destinations
from alerts.evaluator import AlertEvaluator
from alerts.probes import Context, create_probe_engine, database_label, probe_database
from alerts.rules import RuleSpec, RulesFileError, load_rules
from alerts.state import RuleState
from alerts.store import AlertStore, open_alert_store
from queries.timeutil import database_now as platform_now

log = logging.getLogger("switchboard.alerts")


@dataclass
class Alerts:
    store: AlertStore
    specs: list[RuleSpec]
    evaluator: AlertEvaluator | None  # None with ALERTS off
    probe_engine: Any = None
    clock: Callable[[], float] = time.time  # the app's clock (create_app's), for the outcomes' stamps

    def rules(self) -> dict[str, RuleSpec]:
        return {spec.name: spec for spec in self.specs}

    def states(self) -> dict[str, RuleState]:
        """Return every rule's state (a rule not yet evaluated reads as ok)."""
        stored = self.store.states()
        return {spec.name: stored.get(spec.name, RuleState()) for spec in self.specs}

    def record_outcome(self, query: str, reason: str | None) -> None:
        """Record a widget query's computation (the query cache calls this); never raises."""
        try:
            self.store.widget_outcome(query, self.clock(), reason)
        except Exception as error:  # noqa: BLE001 - the dashboard must not fail for the alert store
            log.debug("could not record the outcome of %s: %s", query, type(error).__name__)

    def start(self) -> None:
        """Start evaluating in this process (gunicorn's post_fork, `serve`: from server start)."""
        if self.evaluator is not None:
            self.evaluator.start()

    def keep_running(self) -> None:
        """Restart the evaluator's threads if they died (only once start() was called in this process)."""
        if self.evaluator is not None and self.evaluator.started:
            self.evaluator.ensure_running()

    def stop(self) -> None:
        if self.evaluator is not None:
            self.evaluator.stop()
        if self.probe_engine is not None:
            self.probe_engine.dispose()
        self.store.close()


def build_alerts(config: dict[str, Any], instance_path: str | Path, database_url: str, reader, memory_store,
                 database_queries: dict[str, str], clock: Callable[[], float]) -> Alerts:
    """Open the alert store, load the rules (a bad rules file stops the start, naming what is wrong) and build
    the evaluator (not started: gunicorn's post_fork and `serve` start it in each serving process)."""
    from config import ConfigError

    try:
        specs = load_rules(config)
    except RulesFileError as error:
        raise ConfigError(str(error)) from None
    store = open_alert_store(config, instance_path)
    if not config["ALERTS"]:
        return Alerts(store, specs, None, clock=clock)
    probe_engine = create_probe_engine(database_url, float(config["ALERT_PROBE_TIMEOUT_SECONDS"]))
    label = database_label(database_url)
    hours = Context.hours(config)

    def make_context(now: float) -> Context:
        return Context(config=config, wall=now, database_now=platform_now(config["DATABASE_TIMEZONE"], at=now), probe=lambda: probe_database(probe_engine),
                       database_label=label, reader=reader, memory_store=memory_store, alert_store=store,
                       database_queries=database_queries, business_hours=hours)

    evaluator = AlertEvaluator(store, specs, make_context, float(config["ALERT_EVALUATE_SECONDS"]),
                               destinations(config["ALERT_NOTIFY_URLS"]), where=f"Switchboard on {socket.gethostname()}",
                               timezone=config["DISPLAY_TIMEZONE"], public_url=config["ALERT_PUBLIC_URL"],
                               clock=clock)
    return Alerts(store, specs, evaluator, probe_engine, clock)
