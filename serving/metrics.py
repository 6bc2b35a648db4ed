"""`/metrics`: Switchboard's figures as Prometheus text, for an existing Prometheus/Grafana.

Memory comes from the shared memory store (the same in every worker); widget
costs are the answering worker's own and carry its `pid` label, as Prometheus
expects of processes scraped one by one.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Mapping

from flask import Flask, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitoring.memory import MemoryLevels, MemorySample

MB = 1024 * 1024


class SwitchboardCollector:
    """Collects memory and widget-cost metrics from one app's Services at scrape time."""

    def __init__(self, services):
        self.services = services

    def collect(self) -> Iterator[Metric]:
        yield from self._memory()
        yield from self._alerts()
        yield from self._widgets()

    def _alerts(self) -> Iterator[Metric]:
        """Each rule's state from the shared alert store, so an existing Alertmanager can take over."""
        from alerts.state import STATE_NUMBERS

        alerts = getattr(self.services, "alerts", None)
        if alerts is None:
            return
        try:
            states = alerts.states()
        except Exception:  # noqa: BLE001 - a scrape must answer even when the alert store does not
            return
        family = GaugeMetricFamily("switchboard_alert_state", "Alert rule state: 1 firing, 0.5 pending, 0 ok, "
                                   "-1 no data, -2 error evaluating.", labels=["rule"])
        for rule, state in states.items():
            family.add_metric([rule], STATE_NUMBERS.get(state.state, -2))
        yield family

    def _memory(self) -> Iterator[Metric]:
        yield from _memory_levels(self.services.config)
        store = self.services.memory_store
        sample = store.latest() if store is not None else None
        if sample is not None:
            yield from _memory_sample(sample)

    def _widgets(self) -> Iterator[Metric]:
        pid = str(os.getpid())
        labels = ["widget", "pid"]
        families = {
            "refreshes": CounterMetricFamily("switchboard_widget_refreshes", "Widget query computations.", labels=labels),
            "statements": CounterMetricFamily("switchboard_widget_statements", "SQL statements run.", labels=labels),
            "rows": CounterMetricFamily("switchboard_widget_rows", "Rows received from the database.", labels=labels),
            "bytes": CounterMetricFamily("switchboard_widget_db_bytes", "Bytes received from the database (approx.).",
                                         labels=labels),
            "seconds": CounterMetricFamily("switchboard_widget_db_seconds", "Database time.", labels=labels),
        }
        for widget, totals in self.services.costs.totals().items():
            values = {"refreshes": totals.refreshes, "statements": totals.statements, "rows": totals.rows,
                      "bytes": totals.bytes_received, "seconds": totals.db_ms / 1000.0}
            for key, family in families.items():
                family.add_metric([widget, pid], values[key])
        cache = GaugeMetricFamily("switchboard_cache_requests_last_hour", "Query cache look-ups in the last hour.",
                                  labels=["widget", "result", "pid"])
        for query, counter in self.services.queries.hit_counters().items():
            hits, misses = counter.totals()
            cache.add_metric([query, "hit", pid], hits)
            cache.add_metric([query, "miss", pid], misses)
        sent = CounterMetricFamily("switchboard_widget_response_bytes", "Bytes sent to browsers by widget callbacks.",
                                   labels=labels)
        for widget, (_, _, sent_bytes) in self.services.responses.totals().items():
            sent.add_metric([widget, pid], sent_bytes)
        yield from families.values()
        yield cache
        yield sent
        yield self._floor()

    def _floor(self) -> Metric:
        """The statements a minute no number of watchers can bring lower, beside which the sum over the workers
        of rate(switchboard_widget_statements_total) reads: one per polled widget per interval."""
        from monitoring.costs import statements_floor_per_minute
        from widgets import registered

        floor = GaugeMetricFamily("switchboard_statements_floor_per_minute",
                                  "Statements a minute at the floor: one per polled widget per interval, all "
                                  "workers together.")
        floor.add_metric([], statements_floor_per_minute(registered(), self.services.config))
        return floor


def _memory_levels(config: Mapping[str, Any]) -> Iterator[Metric]:
    """The workers' memory limit and warning, and each process group's own levels."""
    limit = GaugeMetricFamily("switchboard_memory_limit_bytes", "Memory limit of each Switchboard worker.")
    limit.add_metric([], config["MEMORY_LIMIT_MB"] * MB)
    warning = GaugeMetricFamily("switchboard_memory_warning_bytes", "Memory warning level of each Switchboard worker.")
    warning.add_metric([], config["MEMORY_WARNING_MB"] * MB)
    yield limit
    yield warning
    group_levels = GaugeMetricFamily("switchboard_process_group_memory_level_bytes",
                                     "A process group's own warning or limit on its sum (MEMORY_GROUP_LIMITS).",
                                     labels=["group", "level"])
    for name, levels in MemoryLevels.from_config(config).groups.items():
        for level, megabytes in (("warning", levels.warning_mb), ("limit", levels.limit_mb)):
            if megabytes:
                group_levels.add_metric([name, level], megabytes * MB)
    yield group_levels


def _memory_sample(sample: MemorySample) -> Iterator[Metric]:
    """The latest memory sample: each worker, each process group, the host and when it was taken."""
    workers = GaugeMetricFamily("switchboard_worker_memory_bytes", "Memory of each Switchboard worker.",
                                labels=["pid", "kind"])
    for process in sample.workers:
        for kind in ("rss", "uss", "pss"):
            value = getattr(process, kind)
            if value is not None:
                workers.add_metric([str(process.pid), kind], value)
    groups = GaugeMetricFamily("switchboard_process_group_memory_bytes",
                               "Resident memory of a configured process group: the sum and the largest member.",
                               labels=["group", "stat"])
    members = GaugeMetricFamily("switchboard_process_group_processes", "Processes in a configured group.",
                                labels=["group"])
    for group in sample.groups:
        groups.add_metric([group.name, "total"], group.total_rss)
        groups.add_metric([group.name, "largest"], group.largest_rss)
        members.add_metric([group.name], group.count)
    host = GaugeMetricFamily("switchboard_host_memory_bytes", "Host memory.", labels=["kind"])
    for kind in ("total", "used", "available", "swap_used"):
        host.add_metric([kind], getattr(sample.host, kind))
    sampled = GaugeMetricFamily("switchboard_memory_sample_timestamp_seconds", "When the latest sample was taken.")
    sampled.add_metric([], sample.at)
    yield from (workers, groups, members, host, sampled)


def register_metrics_endpoint(server: Flask, services) -> CollectorRegistry:
    """Serve /metrics from a registry of this app's own (not the process-global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SwitchboardCollector(services))

    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    server.add_url_rule("/metrics", "metrics", metrics)
    return registry

