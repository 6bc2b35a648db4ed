"""One benchmark: for each mode and N, a fresh server, N sessions driven through a measured window, the
probes read at its start and end; then the report. `main` is benchmarks/load.py's command line."""
from __future__ import annotations

# First: Locust's import applies gevent's monkey patching, before any module that opens sockets.
from benchmarks.loadtest.sessions import (PAGE_REQUESTS, PART, BrowserSession, NaiveSession, RunPlan,
                                          SwitchboardSession, naive_polls)

import argparse
import math
import json
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence
from urllib.request import urlopen

import gevent
from locust.env import Environment

from benchmarks.loadtest import probes
from benchmarks.loadtest.data import BenchmarkError, ensure_fresh_data, ensure_indexes, indexes_removed, require_local
from benchmarks.loadtest.page import polled_widgets
from benchmarks.loadtest.report import BACKGROUND_SECONDS, Latency, RunResult, print_report, run_lines
from benchmarks.loadtest.servers import MODES, NAIVE, SWITCHBOARD, Server, ServerError, running_server
from benchmarks.loadtest.sessions import CLIENT_TIMEOUT_SECONDS, DEFAULT_SEED

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/sb_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_SESSIONS = "1,10,50"
DEFAULT_SECONDS = 60.0
DEFAULT_WORKERS = 4
DEFAULT_WARMUP = 5.0
SPAWN_SECONDS = 4.0
PSS_SAMPLE_SECONDS = 5.0
DRAIN_MARGIN_SECONDS = 5.0


def page_widgets(base_url: str) -> tuple[str, ...]:
    """Return the names of the widgets the server's page polls, read as each session reads them."""
    def fetch(path: str) -> Any:
        with urlopen(f"{base_url}{path}", timeout=30) as response:
            return json.load(response)
    return tuple(widget.name for widget in polled_widgets(fetch("/_dash-dependencies"), fetch("/_dash-layout")))


def session_class(plan: RunPlan, base_url: str) -> type[BrowserSession]:
    """Return a concrete session class bound to this run's plan and server."""
    base = SwitchboardSession if plan.mode == SWITCHBOARD else NaiveSession
    return type(f"{base.__name__}Run", (base,), {"abstract": False, "host": base_url, "plan": plan})


def latencies(stats, names: Sequence[str]) -> dict[str, Latency]:
    """Return each request name's figures from Locust's statistics (all methods together)."""
    found = {}
    for name in names:
        entries = [entry for entry in stats.entries.values() if entry.name == name]
        if not entries:
            continue
        entry = entries[0]
        for other in entries[1:]:
            entry.extend(other)
        has_data = entry.num_requests > 0
        found[name] = Latency(name, entry.num_requests, entry.num_failures,
                              *(entry.get_response_time_percentile(p) if has_data else None
                                for p in (0.50, 0.95, 0.99)))
    return found


def error_lines(stats, limit: int = 5) -> list[str]:
    """Return the most frequent errors Locust recorded."""
    errors = sorted(stats.errors.values(), key=lambda error: error.occurrences, reverse=True)
    return [f"{error.occurrences}x {error.name}: {error.error}" for error in errors[:limit]]


def sample_until(pid: int, ends: float, base_url: str | None = None, workers: int = 0
                 ) -> tuple[int | None, dict[str, dict[str, float]]]:
    """Sample the server's total PSS every few seconds until `ends`; return the peak, and (with `base_url`) the
    latest statement counters seen of every worker, so that a worker max_requests replaces during the window
    keeps the statements it ran until its last sample."""
    peak, seen = None, {}
    while time.monotonic() < ends:
        gevent.sleep(max(0.0, min(PSS_SAMPLE_SECONDS, ends - time.monotonic())))
        pss = probes.total_pss(pid)
        if pss is not None:
            peak = pss if peak is None else max(peak, pss)
        if base_url is not None:
            seen.update(probes.scrape_statement_counters(base_url, workers))
    return peak, seen


def stats_totals(stats) -> tuple[int, int]:
    """Return the HTTP requests answered so far and how many of them failed (a batch's parts, recorded each
    under its widget's name, are not requests of their own)."""
    parts = [entry for entry in stats.entries.values() if entry.method == PART]
    return (stats.total.num_requests - sum(entry.num_requests for entry in parts),
            stats.total.num_failures - sum(entry.num_failures for entry in parts))


def wait_for_sessions(runner, timeout: float) -> bool:
    """Wait until every session has had its last answers (or timed out); tell whether all did."""
    deadline = time.monotonic() + timeout
    while runner.user_count > 0 and time.monotonic() < deadline:
        gevent.sleep(0.5)
    return runner.user_count == 0


def drive_sessions(plan: RunPlan, server: Server, status: probes.DatabaseStatus, seconds: float, warmup: float,
                   workers: int) -> RunResult:
    """Run the plan's sessions against a server: warm up, measure one window, let the last answers in."""
    widgets = page_widgets(server.base_url) if plan.mode == SWITCHBOARD else tuple(p.name for p in naive_polls())
    environment = Environment(user_classes=[session_class(plan, server.base_url)], host=server.base_url)
    runner = environment.create_local_runner()
    try:
        # The window is set once the warm-up and the first readings are over, not before: on a saturated host
        # starting the sessions, and a scrape of every worker's counters, outlast the warm-up, and a window set in
        # advance had passed before it was measured (0 s, 0 req/s).
        plan.polling_ends = math.inf
        runner.start(plan.sessions, spawn_rate=max(1.0, plan.sessions / SPAWN_SECONDS))
        gevent.sleep(warmup)
        counted = plan.mode == SWITCHBOARD
        counters_before = probes.scrape_statement_counters(server.base_url, workers) if counted else {}
        environment.stats.reset_all()
        log_offset = server.log_path.stat().st_size
        before, started, cpu_before = status.read(), time.monotonic(), probes.cpu_sample(server.process.pid)
        plan.polling_ends = started + seconds
        peak, seen = sample_until(server.process.pid, plan.polling_ends, server.base_url if counted else None,
                                  workers)
        after, window = status.read(), time.monotonic() - started
        # What the window served: answers that arrive while the sessions drain are not the window's, and under
        # saturation they are many (dividing them by the window made req/s higher than the server gave).
        window_requests, window_failures = stats_totals(environment.stats)
        cpu = probes.cpu_shares(cpu_before, probes.cpu_sample(server.process.pid))
        replaced = probes.workers_started(probes.log_since(server.log_path, log_offset))
        counters_after = {**seen, **probes.scrape_statement_counters(server.base_url, workers)} if counted else {}
        app_statements = {widget: probes.per_minute(count, window)
                          for widget, count in probes.statements_by_widget(counters_before, counters_after).items()}
        pss_processes = probes.pss_by_process(server.process.pid)
        pss_end = sum(pss_processes) if pss_processes else None
        drained = wait_for_sessions(runner, CLIENT_TIMEOUT_SECONDS + DRAIN_MARGIN_SECONDS)
        # The server's own times count the window's requests and those still answered as the sessions drain.
        logged = probes.log_since(server.log_path, log_offset)
        stats = environment.stats
        return RunResult(
            mode=plan.mode, sessions=plan.sessions, workers=workers, window_seconds=window, widgets=widgets,
            latencies=latencies(stats, [*widgets, *PAGE_REQUESTS]), requests=window_requests,
            failures=window_failures, errors=error_lines(stats),
            statements_per_minute=probes.per_minute(after["Com_select"] - before["Com_select"], window),
            # The second SHOW GLOBAL STATUS counts itself in Questions.
            questions_per_minute=probes.per_minute(after["Questions"] - before["Questions"] - 1, window),
            bytes_per_minute=probes.per_minute(after["Bytes_sent"] - before["Bytes_sent"], window),
            pss_end=pss_end, pss_peak=max(filter(None, (peak, pss_end)), default=None),
            pss_processes=pss_processes, drained=drained, resends=plan.resends, cpu=cpu,
            workers_replaced=replaced, server_times=probes.server_times(logged),
            app_statements=app_statements, app_workers_seen=(len(counters_before), len(counters_after)),
            app_workers_gone=len(set(counters_before) - set(counters_after)), log_summary="")
    finally:
        runner.quit()


def run_mode(mode: str, sessions: int, arguments: argparse.Namespace, log_dir: Path) -> RunResult:
    """Start the mode's server, drive N sessions against it, stop it, and clear up after it."""
    print(f"\n== {mode}, {sessions} session(s), {arguments.workers} workers: "
          f"{arguments.warmup:g} s warm-up + {arguments.seconds:g} s measured ==", flush=True)
    plan = RunPlan(mode=mode, sessions=sessions, seed=arguments.seed, aligned=arguments.aligned,
                   batched=not arguments.unbatched)
    status = probes.DatabaseStatus(arguments.url)
    try:
        background = probes.background_rates(status, BACKGROUND_SECONDS)
        with running_server(mode, arguments.workers, arguments.url, arguments.redis, log_dir) as server:
            result = drive_sessions(plan, server, status, arguments.seconds, arguments.warmup, arguments.workers)
        result = replace(result, log_summary=probes.log_summary(server.log_path), background=background,
                         orphans_killed=probes.cancel_orphaned_queries(arguments.url))
    finally:
        status.close()
    print("\n".join(run_lines(result)), flush=True)
    return result


def run_benchmark(arguments: argparse.Namespace) -> list[RunResult]:
    """Run every N in Switchboard mode with the indexes, then every N in naive mode without them."""
    modes = [mode for mode in MODES if mode in arguments.modes]
    results = []
    with tempfile.TemporaryDirectory(prefix="sb-load-") as log_dir:
        if SWITCHBOARD in modes:
            ensure_indexes(arguments.url)
            results += [run_mode(SWITCHBOARD, n, arguments, Path(log_dir)) for n in arguments.sessions]
        if NAIVE in modes:
            with indexes_removed(arguments.url):
                results += [run_mode(NAIVE, n, arguments, Path(log_dir)) for n in arguments.sessions]
    return results


# --- command line -----------------------------------------------------------------------------

def session_counts(text: str) -> list[int]:
    """Parse "1,10,50" into positive whole numbers."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not counts or any(count <= 0 for count in counts):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return counts


def positive_number(text: str) -> float:
    """Parse a positive number."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def modes(text: str) -> list[str]:
    """Parse "switchboard,naive"."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [mode for mode in chosen if mode not in MODES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}; got {text!r}")
    return chosen


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Load benchmark: Switchboard against the naive dashboard.")
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"benchmark database on this machine (default {DEFAULT_URL})")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis on this machine (default {DEFAULT_REDIS})")
    parser.add_argument("--sessions", type=session_counts, default=session_counts(DEFAULT_SESSIONS),
                        help=f"numbers of simulated sessions, one run each (default {DEFAULT_SESSIONS})")
    parser.add_argument("--seconds", type=positive_number, default=DEFAULT_SECONDS,
                        help=f"measured seconds per run, after the warm-up (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"gunicorn workers of both servers (default {DEFAULT_WORKERS})")
    parser.add_argument("--warmup", type=positive_number, default=DEFAULT_WARMUP,
                        help=f"seconds of page loads and first polls not counted (default {DEFAULT_WARMUP:g})")
    parser.add_argument("--modes", type=modes, default=list(MODES), help="modes to run (default switchboard,naive)")
    parser.add_argument("--aligned", action="store_true",
                        help="open every tab within the warm-up so that all polls are in step (everyone opening "
                             "the dashboard at once); default: each tab was opened at a random moment")
    parser.add_argument("--unbatched", action="store_true",
                        help="post every poll in a request of its own, not the polls of one tick together")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sessions' random filter changes")
    return parser.parse_args(argv)


def interrupt(signum: int, frame: Any) -> None:
    """Turn SIGTERM into an interruption, so that servers are stopped and indexes restored."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; 0 whatever the figures, 2 when it cannot run."""
    import sqlalchemy as sa

    from benchmarks.naive_vs_switchboard import BenchmarkError as SeedError

    arguments = parse_arguments(argv)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        require_local(arguments.url, arguments.redis)
        ensure_fresh_data(arguments.url)
        results = run_benchmark(arguments)
    except (BenchmarkError, ServerError, SeedError, sa.exc.OperationalError) as error:
        print(f"benchmark cannot run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchmark interrupted: servers stopped, indexes restored", file=sys.stderr)
        return 130
    print_report(results)
    return 0
