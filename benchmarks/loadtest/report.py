"""The report: each run's figures, the load targets as a table of checks, the README's table."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from benchmarks.loadtest.servers import NAIVE, SWITCHBOARD
from benchmarks.loadtest.sessions import NAIVE_WIDGETS

MB = 1024 * 1024
BACKGROUND_SECONDS = 10.0

# The load targets: at 50 sessions every polled widget's p95 under 50 ms, no failed request and the server's PSS
# under 300 MB; SELECTs a minute grow at most 1.2x from 1 session to 50; against the naive dashboard at 10
# sessions, at least 50x fewer database bytes and a 10x lower p95 for ongoing calls.
CHECK_SESSIONS = 50
CHECK_BASELINE_SESSIONS = 1
CHECK_NAIVE_SESSIONS = 10
MAX_P95_MS = 50.0
MAX_PSS_MB = 300.0
MAX_STATEMENT_GROWTH = 1.2
MIN_BYTES_RATIO = 50.0
MIN_P95_RATIO = 10.0
RATIO_WIDGET = "ongoing"  # the widget whose p95 naive/switchboard is judged; the others' are shown


@dataclass(frozen=True)
class Latency:
    """One request name's figures over a run's window."""

    name: str
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class RunResult:
    """What one mode at one N measured."""

    mode: str
    sessions: int
    workers: int
    window_seconds: float
    widgets: tuple[str, ...]  # the polled widgets, as the server's page declares them (naive: its endpoints)
    latencies: dict[str, Latency]
    requests: int
    failures: int
    errors: list[str]
    statements_per_minute: float
    questions_per_minute: float
    bytes_per_minute: float
    pss_end: int | None
    pss_peak: int | None
    pss_processes: list[int]
    drained: bool
    log_summary: str
    orphans_killed: int = 0
    resends: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    workers_replaced: int = 0  # workers gunicorn started during the window (max_requests replacing them)
    server_times: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    app_statements: dict[str, float] = field(default_factory=dict)  # per widget, per minute, from /metrics
    app_workers_seen: tuple[int, int] = (0, 0)  # workers with widget counters at the start and the end
    app_workers_gone: int = 0  # workers counted at the start, not at the end (replaced or not reached)
    background: dict[str, float] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        """Return the requests answered per second of the window."""
        return self.requests / self.window_seconds if self.window_seconds else 0.0

    def p95(self, name: str) -> float | None:
        """Return a widget's p95 (None when it was not polled or never answered)."""
        latency = self.latencies.get(name)
        return latency.p95 if latency else None


def milliseconds(value: float | None) -> str:
    """Format milliseconds, or a dash when there were none."""
    return "–" if value is None else f"{value:,.0f}"


def megabytes(value: int | None) -> str:
    """Format bytes as MB, or a dash when unknown."""
    return "–" if value is None else f"{value / MB:,.1f} MB"


def run_lines(result: RunResult) -> list[str]:
    """Return the lines describing one run."""
    lines = [f"  {'request':<26}{'count':>7}{'fails':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"]
    for latency in result.latencies.values():
        lines.append(f"  {latency.name:<26}{latency.requests:>7,}{latency.failures:>7,}{milliseconds(latency.p50):>9}"
                     f"{milliseconds(latency.p95):>9}{milliseconds(latency.p99):>9}")
    for key, (count, p50, p95) in sorted(result.server_times.items()):
        if count >= 2:
            lines.append(f"  server's own time, {key}: {count:,} requests, p50 {p50:,.0f} ms, p95 {p95:,.0f} ms")
    lines += [
        f"  requests/s {result.requests_per_second:,.2f} · errors {result.failures:,} of {result.requests:,} "
        f"· window {result.window_seconds:.1f} s · {result.resends} request(s) resent after a dropped "
        f"keep-alive connection (whole run){'' if result.drained else ' · some sessions did not drain'}",
        f"  database: {result.statements_per_minute:,.1f} SELECT/min (Com_select) · "
        f"{result.questions_per_minute:,.1f} statements/min (Questions) · "
        f"{result.bytes_per_minute:,.0f} bytes sent/min",
        *([f"  Switchboard's own count (/metrics; workers with counters at start/end: "
           f"{result.app_workers_seen[0]}/{result.app_workers_seen[1]} of {result.workers}): "
           f"{sum(result.app_statements.values()):,.1f} statements/min = "
           + " + ".join(f"{widget} {rate:,.1f}" for widget, rate in sorted(result.app_statements.items()) if rate)
           + (f" (an undercount: {result.app_workers_gone} worker(s) counted at the start were not found at the "
              f"end, replaced by max_requests or not reached, and their counts are missing)"
              if result.app_workers_gone else "")]
          if result.mode == SWITCHBOARD else []),
        f"  CPU over the window, % of one core (the host has {os.cpu_count()}): "
        + " · ".join(f"{name} {share:,.0f}" for name, share in result.cpu.items())
        + f" · {result.workers_replaced} worker(s) replaced during the window (their CPU counted)",
        f"  background before the run (no benchmark traffic, {BACKGROUND_SECONDS:g} s): "
        f"{result.background.get('selects', 0):,.1f} SELECT/min · "
        f"{result.background.get('bytes', 0):,.0f} bytes sent/min",
        f"  PSS of gunicorn master + workers: {megabytes(result.pss_end)} at the end "
        f"(peak of samples {megabytes(result.pss_peak)}); master, then workers: "
        + " + ".join(f"{size / MB:,.0f}" for size in result.pss_processes) + " MB",
        f"  {result.log_summary}" + (f" · killed {result.orphans_killed} orphaned queries"
                                     if result.orphans_killed else ""),
    ]
    lines += [f"  error: {line}" for line in result.errors]
    return lines


# --- the checks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """What a figure must be: below, at most or at least a value."""

    symbol: str
    value: float
    unit: str = ""

    def holds(self, figure: float) -> bool:
        """Tell whether the figure meets the threshold."""
        return {"<": figure < self.value, "<=": figure <= self.value, ">=": figure >= self.value}[self.symbol]

    def __str__(self) -> str:
        return f"{self.symbol} {self.value:g}{self.unit}"


@dataclass(frozen=True)
class Check:
    """One expectation: its name, its threshold (None: shown, not judged), the figure measured."""

    name: str
    threshold: Threshold | None
    figure: float | None  # None: the run it needs was not made
    shown: str  # the figure as the table prints it

    @property
    def verdict(self) -> str:
        """Return PASS or FAIL; SKIP when the run needed was not made; info when nothing is judged."""
        if self.threshold is None:
            return "info"
        if self.figure is None:
            return "SKIP"
        return "PASS" if self.threshold.holds(self.figure) else "FAIL"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """Return numerator / denominator, or None when either is missing or the denominator is zero."""
    return numerator / denominator if numerator is not None and denominator else None


def format_ratio(value: float | None) -> str:
    """Format a ratio as '12.3x', or 'n/a'."""
    return "n/a" if value is None else f"{value:,.1f}x"


def checks(results: list[RunResult]) -> list[Check]:
    """Return the load targets, measured: one table of (name, threshold, figure)."""
    by_key = {(r.mode, r.sessions): r for r in results}
    at_load = by_key.get((SWITCHBOARD, CHECK_SESSIONS))
    baseline = by_key.get((SWITCHBOARD, CHECK_BASELINE_SESSIONS))
    naive = by_key.get((NAIVE, CHECK_NAIVE_SESSIONS))
    compared = by_key.get((SWITCHBOARD, CHECK_NAIVE_SESSIONS))
    both = naive is not None and compared is not None

    def of(run: RunResult | None, figure: Callable[[RunResult], float | None]) -> float | None:
        return figure(run) if run is not None else None

    rows = [Check(f"{CHECK_SESSIONS} sessions, {name} p95", Threshold("<", MAX_P95_MS, " ms"),
                  of(at_load, lambda run: run.p95(name)), f"{milliseconds(of(at_load, lambda run: run.p95(name)))} ms")
            for name in polled_widgets(results)]
    failures = of(at_load, lambda run: run.failures)
    rows.append(Check(f"{CHECK_SESSIONS} sessions, failed requests", Threshold("<=", 0), failures,
                      "– of –" if at_load is None else f"{at_load.failures:,} of {at_load.requests:,}"))
    pss = of(at_load, lambda run: run.pss_end)
    rows.append(Check(f"{CHECK_SESSIONS} sessions, total PSS", Threshold("<", MAX_PSS_MB, " MB"),
                      None if pss is None else pss / MB, megabytes(pss)))
    growth = ratio(of(at_load, lambda run: run.statements_per_minute), of(baseline, lambda run: run.statements_per_minute))
    rows.append(Check(f"SELECT/min at {CHECK_SESSIONS} sessions over {CHECK_BASELINE_SESSIONS} session",
                      Threshold("<=", MAX_STATEMENT_GROWTH, "x"), growth,
                      f"{'–' if at_load is None else f'{at_load.statements_per_minute:,.1f}'} vs "
                      f"{'–' if baseline is None else f'{baseline.statements_per_minute:,.1f}'}: {format_ratio(growth)}"))
    app_growth = ratio(of(at_load, lambda run: sum(run.app_statements.values())),
                       of(baseline, lambda run: sum(run.app_statements.values())))
    rows.append(Check("the same from Switchboard's own count (/metrics, no other client counted)", None, app_growth,
                      format_ratio(app_growth)))
    bytes_ratio = ratio(naive.bytes_per_minute, compared.bytes_per_minute) if both else None
    rows.append(Check(f"{CHECK_NAIVE_SESSIONS} sessions, database bytes naive/switchboard",
                      Threshold(">=", MIN_BYTES_RATIO, "x"), bytes_ratio, format_ratio(bytes_ratio)))
    for name in NAIVE_WIDGETS:
        p95_ratio = ratio(naive.p95(name), compared.p95(name)) if both else None
        rows.append(Check(f"{CHECK_NAIVE_SESSIONS} sessions, {name} p95 naive/switchboard",
                          Threshold(">=", MIN_P95_RATIO, "x") if name == RATIO_WIDGET else None, p95_ratio,
                          format_ratio(p95_ratio)))
    return rows


def check_lines(results: list[RunResult]) -> list[str]:
    """Return the checks as a table: verdict, check, threshold, figure."""
    rows = [(check.verdict, check.name, str(check.threshold or ""), check.shown) for check in checks(results)]
    header = ("verdict", "check", "threshold", "figure")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(3)]
    return [f"{verdict:<{widths[0]}}  {name:<{widths[1]}}  {threshold:<{widths[2]}}  {figure}"
            for verdict, name, threshold, figure in [header, *rows]]


def polled_widgets(results: list[RunResult]) -> list[str]:
    """Return the widgets the runs polled, Switchboard's first, each once."""
    ordered = sorted(results, key=lambda result: result.mode != SWITCHBOARD)
    return list(dict.fromkeys(name for result in ordered for name in result.widgets))


def markdown_table(results: list[RunResult]) -> list[str]:
    """Return the README's table: one row per mode and N."""
    widgets = polled_widgets(results)
    header = (f"| mode | sessions | req/s | errors | p95 ms: {' · '.join(widgets)} "
              "| SELECT/min | DB bytes sent/min | PSS master + workers |")
    lines = [header, "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for result in results:
        p95s = " · ".join(milliseconds(result.p95(name)) for name in widgets)
        lines.append(f"| {result.mode} | {result.sessions} | {result.requests_per_second:,.1f} | "
                     f"{result.failures:,} / {result.requests:,} | {p95s} | {result.statements_per_minute:,.0f} | "
                     f"{result.bytes_per_minute:,.0f} | {megabytes(result.pss_end)} |")
    return lines


def print_report(results: list[RunResult]) -> None:
    """Print the load targets' checks, then the README table."""
    print("\n== load targets ==")
    print("\n".join(check_lines(results)))
    print("\n== table ==\n")
    print("\n".join(markdown_table(results)))
