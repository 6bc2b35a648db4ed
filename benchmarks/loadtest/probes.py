"""What a run measures besides Locust's own figures: the database's status counters, the server's PSS
and CPU, Switchboard's /metrics, and the server's log (its request times, replaced workers).

Its waits are time.sleep, which Locust's gevent patching makes cooperative in the benchmark, so that the
module imports without gevent (the tests use it)."""
from __future__ import annotations

import math
import re
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

STATUS_QUERY = "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Questions', 'Bytes_sent')"
METRIC_LINE = re.compile(r'^switchboard_widget_statements_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
METRICS_TRIES_PER_WORKER = 10
# gunicorn.conf.py's access_log_format: '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'.
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>[^"]*)" (?P<status>\d{3}) \S+ (?P<ms>\d+)ms$')
BOOTING_WORKER = "Booting worker with pid"  # gunicorn's line for each worker it starts
ORPHAN_QUERY_WAIT_SECONDS = 15.0


# --- the database ---------------------------------------------------------------------------------

class DatabaseStatus:
    """Reads MariaDB's global status counters on one connection of its own."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def read(self) -> dict[str, int]:
        """Return Com_select, Questions and Bytes_sent now."""
        return {str(name): int(value) for name, value in self.connection.exec_driver_sql(STATUS_QUERY).all()}

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()
        self.engine.dispose()


def per_minute(count: float, seconds: float) -> float:
    """Return a count over `seconds` as a rate per minute."""
    return count * 60.0 / seconds if seconds > 0 else 0.0


def background_rates(status: DatabaseStatus, seconds: float) -> dict[str, float]:
    """Return the server's SELECT/min and bytes sent/min with no benchmark traffic (other clients' share)."""
    before, started = status.read(), time.monotonic()
    time.sleep(seconds)
    after, window = status.read(), time.monotonic() - started
    return {"selects": per_minute(after["Com_select"] - before["Com_select"], window),
            "bytes": per_minute(after["Bytes_sent"] - before["Bytes_sent"], window)}


def cancel_orphaned_queries(url: str) -> int:
    """Wait for queries on the benchmark database left by a stopped server; kill those that outlive the wait."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    busy = sa.text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND COMMAND = 'Query' "
                   "AND ID <> CONNECTION_ID()")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            deadline = time.monotonic() + ORPHAN_QUERY_WAIT_SECONDS
            ids = connection.execute(busy, {"db": make_url(url).database}).scalars().all()
            while ids and time.monotonic() < deadline:
                time.sleep(1.0)
                ids = connection.execute(busy, {"db": make_url(url).database}).scalars().all()
            for query_id in ids:
                connection.exec_driver_sql(f"KILL QUERY {int(query_id)}")
            return len(ids)
    finally:
        engine.dispose()


# --- the server's processes -----------------------------------------------------------------------

def pss_by_process(pid: int) -> list[int]:
    """Return the PSS of a process, then of each of its descendants, in bytes (empty when it is gone)."""
    import psutil

    try:
        master = psutil.Process(pid)
        processes = [master] + master.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    sizes = []
    for process in processes:
        try:
            sizes.append(process.memory_full_info().pss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sizes


def total_pss(pid: int) -> int | None:
    """Return the PSS of a process and all its descendants, in bytes (None when it is gone)."""
    sizes = pss_by_process(pid)
    return sum(sizes) if sizes else None


def process_cpu_seconds(processes, reaped: bool = False) -> float:
    """Return the user + system CPU seconds of these processes (those still alive); with `reaped`, also
    those of their children that have exited and been waited for."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
            if reaped:
                total += times.children_user + times.children_system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def cpu_sample(server_pid: int) -> dict[str, float]:
    """Return CPU seconds so far: the host's busy time, the server's, this process's, the database's."""
    import psutil

    host = psutil.cpu_times()
    try:
        master = psutil.Process(server_pid)
        server = [master] + master.children(recursive=True)
    except psutil.NoSuchProcess:
        server = []
    database = [p for p in psutil.process_iter(["name"]) if p.info["name"] in {"mariadbd", "mysqld"}]
    return {"at": time.monotonic(), "host": host.user + host.nice + host.system + host.irq + host.softirq + host.steal,
            # A worker that max_requests replaced is gone by the second sample, and its CPU with it: the split
            # once read "server -8 %" at 400 sessions. The master reaps its workers, and the kernel then adds
            # their CPU to the master's children times, so counting those keeps every worker's share.
            "server": process_cpu_seconds(server, reaped=True),
            # Not this process's reaped children: those are the servers of earlier runs.
            "load generator": process_cpu_seconds([psutil.Process()]),
            "database": process_cpu_seconds(database)}


def cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return each consumer's CPU over the interval, in percent of one core; "other" is the rest of the host."""
    seconds = after["at"] - before["at"]
    if seconds <= 0:
        return {}
    shares = {name: 100.0 * (after[name] - before[name]) / seconds for name in after if name != "at"}
    shares["other"] = shares["host"] - shares["server"] - shares["load generator"] - shares["database"]
    return shares


# --- Switchboard's /metrics -----------------------------------------------------------------------

def scrape_statement_counters(base_url: str, workers: int) -> dict[str, dict[str, float]]:
    """Read every worker's statements-per-widget counters from /metrics (each answer is one worker's own)."""
    counters: dict[str, dict[str, float]] = {}
    for _ in range(workers * METRICS_TRIES_PER_WORKER):
        try:
            # urllib closes the connection after each request, so the next one may reach another worker.
            with urlopen(f"{base_url}/metrics", timeout=10) as response:
                text = response.read().decode()
        except (URLError, OSError):
            continue
        for line in text.splitlines():
            match = METRIC_LINE.match(line)
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
                counters.setdefault(labels["pid"], {})[labels["widget"]] = float(match["value"])
        if len(counters) >= workers:
            break
    return counters


def statements_by_widget(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """Return the statements each widget ran between two scrapes, summed over the workers."""
    totals: dict[str, float] = {}
    for pid, widgets in after.items():
        for widget, value in widgets.items():
            totals[widget] = totals.get(widget, 0.0) + value - before.get(pid, {}).get(widget, 0.0)
    return totals


# --- the server's log -----------------------------------------------------------------------------

def log_since(log_path: Path, offset: int) -> str:
    """Return what the server logged after `offset` bytes."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def workers_started(log_text: str) -> int:
    """Count the workers gunicorn started in this stretch of its log (after its first: the replaced ones)."""
    return log_text.count(BOOTING_WORKER)


def server_times(log_text: str) -> dict[str, tuple[int, float, float]]:
    """Return, per method and path, the count, p50 and p95 of the server's own request times in its log."""
    times: dict[str, list[float]] = {}
    for line in log_text.splitlines():
        match = ACCESS_LINE.search(line.strip())
        if match:
            times.setdefault(f"{match['method']} {match['path']}", []).append(float(match["ms"]))
    return {key: (len(values), percentile(values, 0.50), percentile(values, 0.95)) for key, values in times.items()}


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which `fraction` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def log_summary(log_path: Path) -> str:
    """Count the tracebacks and worker timeouts a server logged."""
    text = log_path.read_text(errors="replace")
    return (f"server log: {text.count('Traceback')} tracebacks, {text.count('WORKER TIMEOUT')} worker timeouts, "
            f"{text.count('[ERROR]')} error lines")
