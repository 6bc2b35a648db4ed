"""The ancestor dashboard's queries against Switchboard's, widget by widget, on MariaDB.

Usage (from the repository root):

    python benchmarks/naive_vs_switchboard.py [--url mysql+pymysql://root@127.0.0.1:3306/sb_bench]
                                              [--calls 200000] [--repeat 5] [--reseed]

The URL defaults to $BENCHMARK_DATABASE_URL, else
mysql+pymysql://root@127.0.0.1:3306/switchboard_bench. Only a server on this
machine is accepted, since the script may drop and recreate the database: when
the database is missing, holds fewer calls than --calls, or --reseed is given,
it is dropped, recreated, migrated and seeded (`--calls` calls of ~16 KB `raw`,
a tenth as many appointments), and the seeding time is printed.

The two modes, run one after the other against the same data:
- naive: what the ancestor dashboard did (see ANCESTOR-deployment-guide.md),
  without Switchboard's six indexes (`schema.migrate.rollback` before, and
  `schema.migrate.migrate` after, always). `SELECT *` (so every `raw`), no LIMIT,
  then one lookup per row and relation (N+1). Ongoing calls: every ongoing call,
  then its customer, agent and company one at a time. Recent activity: every
  call and appointment of the last 7 days, a customer lookup per row (and a
  service lookup per appointment), then the 50 newest kept in Python, as the
  old widget mapped its rows before it cut them for display. Headline stats:
  today's calls and appointments fetched with `SELECT *` and counted in Python,
  the naive ongoing query counted the same way, and 24 `COUNT(*)` queries, one for
  each hour of today (the hours still to come are left empty, as Switchboard's
  chart leaves them). Each refresh runs on one connection, as one PHP request did.
- switchboard: `fetch_ongoing_calls`, `fetch_activity(ActivityFilter())` and
  `fetch_headline_stats` on a reader engine from `db.create_reader_engine`,
  with the indexes migrated.

"Now": the data was generated relative to the moment it was seeded, so the
benchmark uses now = MAX(calls.created_at) + 5 s. Ongoing calls, today and the
last 7 days then mean the same rows whenever the benchmark runs, however long
ago the database was seeded.

What is measured, per widget and mode:
- statements, bytes sent, rows examined: deltas of MariaDB's *session* status
  (`Com_select`, `Bytes_sent`, `Rows_read`) of the one connection the refresh
  ran on. Rows examined is `Rows_read` (MariaDB's count of row reads requested
  from the storage engines, temporary tables excluded); it tracks the sum of the
  `Handler_read_*` deltas within a row or so a statement. `SHOW STATUS` itself
  counts as neither a SELECT nor a row read, but its result is in `Bytes_sent`.
  Switchboard's queries check their own connection out of the engine's pool, so
  the engine's pool is emptied first and the status is read on a pooled
  connection before and after the refresh, which then reuses that same
  connection; the script fails if the engine opened any other connection in
  between. A no-op checkout measured the same way (pool ping and rollback, one
  `SHOW STATUS` result) is subtracted, so the figures are the widget's own,
  within the few bytes by which the `SHOW STATUS` result's digits vary. Global
  status is not used: other sessions on the server would count too.
- median ms: the wall clock of the whole refresh (connection checkout, every
  statement, the N+1 loops, the Python work on the rows), the median of
  --repeat runs that follow one warm-up run and the counted run.
- instrumented: what Switchboard's own `monitoring.instrumentation.measure_refresh`
  records for the counted run (statements, bytes received as approximated from
  the rows, database ms); the naive engine is instrumented the same way.

It is a benchmark, not a test: it prints its expectations as PASS/FAIL lines
and exits 0 whatever the ratios are (non-zero only when it cannot run).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

if TYPE_CHECKING:
    from monitoring.instrumentation import RefreshCost

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/switchboard_bench"
DEFAULT_CALLS = 200_000
DEFAULT_REPEAT = 5
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
NOW_MARGIN = timedelta(seconds=5)
ACTIVITY_WINDOW = timedelta(days=7)
HOURS_CHARTED = 24
SWITCHBOARD_INDEXES = ("idx_ongoing_calls", "idx_calls_created_date", "idx_customer_calls",
                       "idx_called_at", "idx_appointments_starts_date", "idx_appointments_status_date")

ONGOING = "ongoing calls"
ACTIVITY = "recent activity"
HEADLINE = "headline stats"
NAIVE = "naive"
SWITCHBOARD = "switchboard"
EXPECTED_ONGOING_BYTES_RATIO = 100.0
EXPECTED_ONGOING_SPEED_RATIO = 20.0

# Bytes_sent: bytes the server sent; Rows_read: rows examined; Com_select: SELECT statements.
STATUS_VARIABLES = ("Bytes_sent", "Rows_read", "Com_select")
READ_SESSION_STATUS = ("SHOW SESSION STATUS WHERE Variable_name IN "
                       "('Bytes_sent', 'Rows_read', 'Com_select')")

# The ancestor's statements: SELECT *, no LIMIT, no index to help them.
NAIVE_ONGOING_CALLS = sa.text(
    "SELECT * FROM calls WHERE status IN :statuses AND call_status IN :statuses "
    "AND created_at >= :since ORDER BY created_at DESC"
).bindparams(sa.bindparam("statuses", expanding=True))
NAIVE_CALLS_SINCE = sa.text("SELECT * FROM calls WHERE created_at >= :since")
NAIVE_APPOINTMENTS_STARTED = sa.text(
    "SELECT * FROM appointments WHERE starts_at >= :since AND starts_at <= :now")
NAIVE_APPOINTMENTS_OF_DAY = sa.text(
    "SELECT * FROM appointments WHERE starts_at >= :day_start AND starts_at < :day_end")
NAIVE_CALLS_IN_HOUR = sa.text(
    "SELECT COUNT(*) AS calls FROM calls WHERE created_at >= :hour_start AND created_at < :hour_end")
NAIVE_LOOKUPS = {
    "customers": sa.text("SELECT * FROM customers WHERE id = :id"),
    "agents": sa.text("SELECT * FROM agents WHERE id = :id"),
    "companies": sa.text("SELECT * FROM companies WHERE id = :id"),
    "services": sa.text("SELECT * FROM services WHERE id = :id"),
}


class BenchmarkError(RuntimeError):
    """The benchmark cannot run against this database."""


@dataclass(frozen=True)
class WidgetRun:
    """One widget's refresh in one mode, and how to read the answer it computed."""

    widget: str
    mode: str
    engine: Engine
    refresh: Callable[[], Any]
    answer: Callable[[Any], Any]


@dataclass(frozen=True)
class Measurement:
    """What one widget's refresh cost in one mode."""

    widget: str
    mode: str
    statements: int
    bytes_sent: int
    rows_examined: int
    median_ms: float
    instrumented: RefreshCost
    answer: Any


# --- command line -----------------------------------------------------------------------------

def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Compare the ancestor dashboard's queries with Switchboard's on MariaDB.")
    parser.add_argument("--url", default=os.environ.get("BENCHMARK_DATABASE_URL", DEFAULT_URL),
                        help="SQLAlchemy URL of the benchmark database (default: $BENCHMARK_DATABASE_URL "
                             f"or {DEFAULT_URL})")
    parser.add_argument("--calls", type=_positive_int, default=DEFAULT_CALLS,
                        help=f"calls the database must hold; fewer means reseed (default {DEFAULT_CALLS:,})")
    parser.add_argument("--repeat", type=_positive_int, default=DEFAULT_REPEAT,
                        help=f"timed runs per widget and mode, after one warm-up (default {DEFAULT_REPEAT})")
    parser.add_argument("--reseed", action="store_true",
                        help="drop, recreate and seed the database even if it holds enough calls")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def require_local_server(url: str) -> None:
    """Refuse any server but this machine's MySQL/MariaDB, and a URL without a database."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in {"mysql", "mariadb"}:
        raise BenchmarkError(f"the benchmark needs MariaDB (mysql+pymysql://…), not {parsed.get_backend_name()}")
    if (parsed.host or "localhost") not in LOCAL_HOSTS:
        raise BenchmarkError(f"the benchmark may drop its database: only {', '.join(LOCAL_HOSTS)} "
                             f"are accepted, not {parsed.host}")
    if not parsed.database:
        raise BenchmarkError("the URL names no database")


# --- the benchmark database -------------------------------------------------------------------

def prepare_database(url: str, calls: int, reseed: bool) -> None:
    """Create and seed the database when it is missing, holds too few calls, or --reseed."""
    name = make_url(url).database
    # An empty database name connects to the server without choosing a database.
    server = sa.create_engine(make_url(url).set(database=""))
    try:
        present = count_calls(url) if database_exists(server, name) else None
        if present is not None and present >= calls and not reseed:
            print(f"database {name}: {present:,} calls, enough (use --reseed to start over)")
            return
        print(f"database {name}: {'missing' if present is None else f'{present:,} calls'}; "
              f"recreating it with {calls:,} calls")
        recreate_database(server, name)
    finally:
        server.dispose()
    seed_with_progress(url, calls)


def database_exists(server: Engine, name: str) -> bool:
    """Tell whether the server has a database of this name."""
    query = sa.text("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name")
    with server.connect() as connection:
        return connection.execute(query, {"name": name}).scalar_one() > 0


def count_calls(url: str) -> int:
    """Return how many calls the database holds (0 without a calls table)."""
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("calls"):
            return 0
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT COUNT(*) FROM calls")).scalar_one()
    finally:
        engine.dispose()


def recreate_database(server: Engine, name: str) -> None:
    """Drop the database if it exists and create it empty."""
    quoted = server.dialect.identifier_preparer.quote_identifier(name)
    with server.begin() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
        connection.exec_driver_sql(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4")


def seed_with_progress(url: str, calls: int) -> None:
    """Migrate the empty database and seed it, with a progress bar; print how long it took."""
    from tqdm import tqdm

    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from queries.timeutil import database_now
    from schema.migrate import migrate

    engine = create_writer_engine(url)
    plan = SeedPlan(calls=calls, appointments=calls // 10)
    started = time.perf_counter()
    try:
        migrate(engine)
        with tqdm(total=plan.calls + plan.appointments, unit="rows", desc="seeding") as bar:
            summary = seed_database(engine, plan, database_now(), bar.update)
    finally:
        engine.dispose()
    print(f"seeded {summary.calls:,} calls ({summary.ongoing} ongoing) and {summary.appointments:,} "
          f"appointments in {time.perf_counter() - started:.1f} s")


def require_mariadb(engine: Engine) -> None:
    """Refuse a server whose session status lacks the variables measured here."""
    from database.engines import server_flavour

    if server_flavour(engine) != "mariadb":
        raise BenchmarkError("the benchmark reads MariaDB's session status (Rows_read); the server is MySQL")


def benchmark_now(engine: Engine) -> datetime:
    """Return the newest call's created_at plus a margin: 'now' as the seeded data sees it."""
    with engine.connect() as connection:
        newest = connection.execute(sa.text("SELECT MAX(created_at) FROM calls")).scalar_one()
    if newest is None:
        raise BenchmarkError("the calls table is empty; run with --reseed")
    return newest + NOW_MARGIN


def switchboard_indexes_present(engine: Engine) -> list[str]:
    """Return which of Switchboard's six indexes the database has now."""
    inspector = sa.inspect(engine)
    names = {index["name"] for table in ("calls", "appointments") for index in inspector.get_indexes(table)}
    return [name for name in SWITCHBOARD_INDEXES if name in names]


@contextmanager
def indexes_removed(writer: Engine) -> Iterator[None]:
    """Run the block without Switchboard's indexes, as the ancestor did; always restore them."""
    from schema.migrate import migrate, rollback

    try:
        print("removing Switchboard's indexes (schema.migrate.rollback)...", flush=True)
        while rollback(writer):  # one Switchboard migration at a time, down to none
            pass
        yield
    finally:
        # Migrate first: a print that fails (a closed pipe) must not leave the indexes off.
        started = time.perf_counter()
        migrate(writer)
        print(f"indexes restored in {time.perf_counter() - started:.1f} s: "
              f"{', '.join(switchboard_indexes_present(writer))}", flush=True)


# --- the ancestor's widgets -------------------------------------------------------------------

def fetch_all(connection: Connection, statement: sa.TextClause, **params: Any) -> list[dict]:
    """Run a naive statement, fetch every row and return the rows as dicts."""
    from monitoring.instrumentation import record_rows

    rows = connection.execute(statement, params).all()
    record_rows(rows)
    return [dict(row._mapping) for row in rows]


def lookup(connection: Connection, table: str, row_id: int | None) -> dict | None:
    """Load one related row by id, as a lazy-loaded relation did (one statement a row)."""
    if row_id is None:
        return None
    rows = fetch_all(connection, NAIVE_LOOKUPS[table], id=row_id)
    return rows[0] if rows else None


def naive_ongoing_rows(connection: Connection, now: datetime) -> list[dict]:
    """Load every ongoing call with SELECT *, newest first, without a LIMIT."""
    from queries.ongoing_calls import ONGOING_STATUSES, ONGOING_WINDOW

    return fetch_all(connection, NAIVE_ONGOING_CALLS, statuses=list(ONGOING_STATUSES),
                     since=now - ONGOING_WINDOW)


def naive_ongoing_calls(connection: Connection, now: datetime) -> list[dict]:
    """Load every ongoing call, then its customer, agent and company one at a time."""
    calls = naive_ongoing_rows(connection, now)
    for call in calls:
        call["customer"] = lookup(connection, "customers", call["customer_id"])
        call["agent"] = lookup(connection, "agents", call["agent_id"])
        call["company"] = lookup(connection, "companies", call["company_id"])
    return calls


def naive_recent_activity(connection: Connection, now: datetime, page_size: int) -> list[dict]:
    """Load every call and appointment of the window with their relations, then keep the newest."""
    since = now - ACTIVITY_WINDOW
    feed = [{"kind": "call", "id": call["id"], "at": call["created_at"],
             "customer": lookup(connection, "customers", call["customer_id"])}
            for call in fetch_all(connection, NAIVE_CALLS_SINCE, since=since)]
    feed += [{"kind": "appointment", "id": appointment["id"], "at": appointment["starts_at"],
              "customer": lookup(connection, "customers", appointment["customer_id"]),
              "service": lookup(connection, "services", appointment["service_id"])}
             for appointment in fetch_all(connection, NAIVE_APPOINTMENTS_STARTED, since=since, now=now)]
    feed.sort(key=lambda item: (item["at"], item["kind"], item["id"]), reverse=True)
    return feed[:page_size]


def naive_calls_in_hour(connection: Connection, hour_start: datetime) -> int:
    """Count one hour's calls with its own statement."""
    rows = fetch_all(connection, NAIVE_CALLS_IN_HOUR, hour_start=hour_start,
                     hour_end=hour_start + timedelta(hours=1))
    return int(rows[0]["calls"])


def hours_so_far(counts: Sequence[int], today_start: datetime, now: datetime) -> list[int | None]:
    """Return the counts of today's hours (oldest first) as the headline chart shows them: None for the hours
    still to come."""
    return [count if today_start + timedelta(hours=hour) <= now else None for hour, count in enumerate(counts)]


def naive_headline_stats(connection: Connection, now: datetime, today_start: datetime) -> dict:
    """Fetch today's rows and the ongoing calls to count them in Python; one COUNT for each hour of today."""
    calls_today = fetch_all(connection, NAIVE_CALLS_SINCE, since=today_start)
    appointments_today = fetch_all(connection, NAIVE_APPOINTMENTS_OF_DAY, day_start=today_start,
                                   day_end=today_start + timedelta(days=1))
    durations = [call["duration_sec"] for call in calls_today if call["duration_sec"] is not None]
    return {
        "ongoing": len(naive_ongoing_rows(connection, now)),
        "calls_today": len(calls_today),
        "appointments_today": len(appointments_today),
        "average_duration_today": round(statistics.fmean(durations), 1) if durations else None,
        "calls_per_hour": hours_so_far([naive_calls_in_hour(connection, today_start + timedelta(hours=hour))
                                        for hour in range(HOURS_CHARTED)], today_start, now),
    }


def on_one_connection(engine: Engine, widget: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Return a refresh that runs a naive widget on one connection, as one PHP request did."""
    def refresh() -> Any:
        with engine.connect() as connection:
            return widget(connection, *args)
    return refresh


def naive_runs(engine: Engine, now: datetime) -> list[WidgetRun]:
    """Return the ancestor's three widget refreshes."""
    from queries.activity import DEFAULT_PAGE_SIZE
    from queries.timeutil import start_of_day

    return [
        WidgetRun(ONGOING, NAIVE, engine, on_one_connection(engine, naive_ongoing_calls, now),
                  lambda rows: (len(rows), sorted(row["id"] for row in rows))),
        WidgetRun(ACTIVITY, NAIVE, engine,
                  on_one_connection(engine, naive_recent_activity, now, DEFAULT_PAGE_SIZE),
                  lambda feed: [(item["kind"], int(item["id"])) for item in feed]),
        WidgetRun(HEADLINE, NAIVE, engine,
                  on_one_connection(engine, naive_headline_stats, now, start_of_day(now)),
                  lambda stats: stats),
    ]


# --- Switchboard's widgets --------------------------------------------------------------------

def headline_answer(stats: Any) -> dict:
    """Return Switchboard's headline stats in the shape the naive widget computes (the hours of today still to
    come are None in both)."""
    from pandas import isna

    average = stats.average_duration_today
    return {
        "ongoing": stats.ongoing,
        "calls_today": stats.calls_today,
        "appointments_today": stats.appointments_today,
        "average_duration_today": None if average is None else round(average, 1),
        "calls_per_hour": [None if isna(count) else int(count) for count in stats.calls_per_hour["calls"]],
    }


def switchboard_runs(reader: Engine, now: datetime) -> list[WidgetRun]:
    """Return Switchboard's three widget refreshes on the reader engine."""
    from queries.activity import ActivityFilter, fetch_activity
    from queries.headline_stats import fetch_headline_stats
    from queries.ongoing_calls import fetch_ongoing_calls
    from queries.timeutil import start_of_day

    return [
        WidgetRun(ONGOING, SWITCHBOARD, reader, lambda: fetch_ongoing_calls(reader, now),
                  lambda result: (result.total, sorted(int(i) for i in result.rows["id"]))),
        WidgetRun(ACTIVITY, SWITCHBOARD, reader, lambda: fetch_activity(reader, ActivityFilter(), now),
                  lambda page: [(str(kind), int(i)) for kind, i in zip(page.rows["kind"], page.rows["id"])]),
        WidgetRun(HEADLINE, SWITCHBOARD, reader,
                  lambda: fetch_headline_stats(reader, now, start_of_day(now)), headline_answer),
    ]


# --- measuring --------------------------------------------------------------------------------

def read_session_status(connection: Connection) -> dict[str, int]:
    """Return this connection's session counters that the benchmark measures."""
    found = {str(name): int(value) for name, value in connection.exec_driver_sql(READ_SESSION_STATUS).all()}
    missing = [name for name in STATUS_VARIABLES if name not in found]
    if missing:
        raise BenchmarkError(f"the server's session status has no {', '.join(missing)}")
    return found


def status_change(engine: Engine, action: Callable[[], Any]) -> tuple[dict[str, int], Any]:
    """Return how the pooled connection's session status changed across `action`, and its result."""
    with engine.connect() as connection:
        before = read_session_status(connection)
    result = action()
    with engine.connect() as connection:
        after = read_session_status(connection)
    return {name: after[name] - before[name] for name in STATUS_VARIABLES}, result


def check_out_and_return(engine: Engine) -> None:
    """Do what every refresh does besides its statements: check a connection out and back in."""
    with engine.connect():
        pass


def count_refresh(run: WidgetRun) -> tuple[dict[str, int], RefreshCost, Any]:
    """Return one refresh's session status deltas (pool overhead removed), its cost and result."""
    opened: list[object] = []

    def on_connect(dbapi_connection, connection_record) -> None:
        opened.append(dbapi_connection)

    run.engine.dispose()
    sa.event.listen(run.engine, "connect", on_connect)
    try:
        idle, _ = status_change(run.engine, lambda: check_out_and_return(run.engine))
        busy, (cost, result) = status_change(run.engine, lambda: instrumented_refresh(run))
    finally:
        sa.event.remove(run.engine, "connect", on_connect)
    if len(opened) != 1:
        raise BenchmarkError(f"{run.mode} {run.widget} used {len(opened)} connections; "
                             "its session status would be incomplete")
    return {name: busy[name] - idle[name] for name in STATUS_VARIABLES}, cost, result


def instrumented_refresh(run: WidgetRun) -> tuple[RefreshCost, Any]:
    """Run one refresh inside Switchboard's own instrumentation; return its cost and result."""
    from monitoring.instrumentation import measure_refresh

    with measure_refresh(f"{run.mode} {run.widget}") as cost:
        result = run.refresh()
    return cost, result


def median_refresh_ms(refresh: Callable[[], Any], repeat: int) -> float:
    """Return the median wall-clock time of `repeat` refreshes, in milliseconds."""
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        refresh()
        durations.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(durations)


def measure(run: WidgetRun, repeat: int) -> Measurement:
    """Warm up, count one refresh's work on the server, then time `repeat` refreshes."""
    print(f"  {run.mode} {run.widget}: warm-up, counted run, {repeat} timed runs...", flush=True)
    run.refresh()
    deltas, cost, result = count_refresh(run)
    median_ms = median_refresh_ms(run.refresh, repeat)
    return Measurement(widget=run.widget, mode=run.mode, statements=deltas["Com_select"],
                       bytes_sent=deltas["Bytes_sent"], rows_examined=deltas["Rows_read"],
                       median_ms=median_ms, instrumented=cost, answer=run.answer(result))


def run_benchmark(url: str, repeat: int) -> list[Measurement]:
    """Measure Switchboard's widgets with the indexes, then the ancestor's without them."""
    from database.engines import create_reader_engine, create_writer_engine
    from monitoring.instrumentation import instrument_engine
    from schema.migrate import migrate

    writer, reader, naive = create_writer_engine(url), create_reader_engine(url), create_writer_engine(url)
    for engine in (reader, naive):  # as create_app instruments its reader
        instrument_engine(engine)
    try:
        require_mariadb(writer)
        migrate(writer)
        now = benchmark_now(writer)
        print(f"now = {now:%Y-%m-%d %H:%M:%S} (newest call + {NOW_MARGIN.seconds} s)")
        print(f"switchboard mode, indexes: {', '.join(switchboard_indexes_present(writer))}", flush=True)
        measurements = [measure(run, repeat) for run in switchboard_runs(reader, now)]
        with indexes_removed(writer):
            print(f"naive mode, indexes: {', '.join(switchboard_indexes_present(writer)) or 'none'}", flush=True)
            measurements += [measure(run, repeat) for run in naive_runs(naive, now)]
        return measurements
    finally:
        for engine in (writer, reader, naive):
            engine.dispose()


# --- report -----------------------------------------------------------------------------------

def ratio(naive: float, switchboard: float) -> float | None:
    """Return naive / switchboard, or None when Switchboard's figure is zero."""
    return naive / switchboard if switchboard else None


def format_ratio(value: float | None) -> str:
    """Format a ratio as '123.4x', or 'n/a' when it is undefined."""
    return "n/a" if value is None else f"{value:,.1f}x"


def widget_table(naive: Measurement, switchboard: Measurement) -> list[str]:
    """Return the lines of one widget's table, its ratios and whether both modes agree."""
    header = (f"  {'mode':<12}{'statements':>11}{'bytes sent':>15}{'rows examined':>15}{'median ms':>12}"
              f"   | instrumented:{'statements':>11}{'bytes recv.':>14}{'db ms':>11}")
    lines = [f"{naive.widget}", header]
    for m in (naive, switchboard):
        lines.append(f"  {m.mode:<12}{m.statements:>11,}{m.bytes_sent:>15,}{m.rows_examined:>15,}"
                     f"{m.median_ms:>12,.1f}   | {'':<13}{m.instrumented.statement_count:>11,}"
                     f"{m.instrumented.bytes_received:>14,}{m.instrumented.db_ms:>11,.1f}")
    lines.append(
        f"  naive/switchboard: bytes {format_ratio(ratio(naive.bytes_sent, switchboard.bytes_sent))}, "
        f"time {format_ratio(ratio(naive.median_ms, switchboard.median_ms))}, "
        f"statements {format_ratio(ratio(naive.statements, switchboard.statements))}, "
        f"rows {format_ratio(ratio(naive.rows_examined, switchboard.rows_examined))}")
    agree = "yes" if naive.answer == switchboard.answer else "NO (see below)"
    lines.append(f"  same answer in both modes: {agree}")
    if naive.answer != switchboard.answer:
        lines += [f"    naive:       {naive.answer!r:.300}", f"    switchboard: {switchboard.answer!r:.300}"]
    return lines


def expectation_lines(naive: Measurement, switchboard: Measurement) -> list[str]:
    """Return the PASS/FAIL lines of the ongoing-calls expectations."""
    checks = (("bytes", ratio(naive.bytes_sent, switchboard.bytes_sent), EXPECTED_ONGOING_BYTES_RATIO),
              ("speed", ratio(naive.median_ms, switchboard.median_ms), EXPECTED_ONGOING_SPEED_RATIO))
    return [f"{ONGOING}: {label} ratio >= {expected:g}x: "
            f"{'PASS' if value is not None and value >= expected else 'FAIL'} ({format_ratio(value)})"
            for label, value, expected in checks]


def print_report(measurements: list[Measurement]) -> None:
    """Print a table per widget, then the expectations."""
    by_key = {(m.widget, m.mode): m for m in measurements}
    print()
    for widget in (ONGOING, ACTIVITY, HEADLINE):
        print("\n".join(widget_table(by_key[widget, NAIVE], by_key[widget, SWITCHBOARD])))
        print()
    print("\n".join(expectation_lines(by_key[ONGOING, NAIVE], by_key[ONGOING, SWITCHBOARD])))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; 0 whatever the ratios, 2 when it cannot run."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    arguments = parse_arguments(argv)
    try:
        require_local_server(arguments.url)
        prepare_database(arguments.url, arguments.calls, arguments.reseed)
        measurements = run_benchmark(arguments.url, arguments.repeat)
    except (BenchmarkError, sa.exc.OperationalError) as error:
        print(f"benchmark cannot run: {error}", file=sys.stderr)
        return 2
    print_report(measurements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
