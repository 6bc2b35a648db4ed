"""Million-row tables in any order: each time-window widget on calls whose ids follow time, and on calls whose ids
do not (an imported or merged table), with a buffer pool smaller than the table.

Usage (from the repository root):

    python benchmarks/scale.py [--scales 10000,100000,1000000] [--repeat 7] [--raw-bytes 600]
                               [--url mysql+pymysql://root@127.0.0.1:3306/]   # instead of a server of its own

By default it starts a MariaDB server of its own (/usr/sbin/mariadbd, a throwaway datadir under the system's
temporary folder, `innodb_buffer_pool_size=128M`, loopback only) and removes it at the end; with --url it uses
that server and says so (its buffer pool is whatever that server has). For each scale it builds two databases
with the same rows: `random` as the project's seeder writes them (calls in the order it draws them, so their ids
do not follow their time), and `ordered`, a copy of it made by `INSERT … SELECT … ORDER BY created_at` (ids in
time order, as a platform that only ever appends writes them). Both are migrated, so both have every index
Switchboard plans, the covering time-window indexes included.

Then it times each widget's statement as the dashboard runs it (the project's query functions on its reader
engine, with the statement time limit) at the data's own "now": headline stats, the company table, the feed's
newest rows, the feed's counts of a 7-day window (the shared grouped count), the capped count of one view, and a
7-day name search with its count. It prints the median of --repeat runs after one warm-up run, and the ratio
random/ordered. On the random databases it then drops the two covering indexes and times them again ("random,
no covering"), which is what a platform database without them costs.

It is a benchmark, not a test: it prints figures and exits 0 unless it cannot run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

NOW = datetime(2026, 3, 10, 11, 30)
BUFFER_POOL = "128M"
SEARCH = "Schmidt"  # a surname the seeder gives about one customer in forty


@dataclass(frozen=True)
class Widget:
    name: str
    run: Callable  # (engine) -> anything


def widgets() -> list[Widget]:
    """Return the time-window reads, each as the dashboard runs it."""
    from queries.activity import ActivityFilter, count_activity, fetch_activity, fetch_recent_feed, \
        fetch_window_counts
    from queries.company_kpis import fetch_company_kpis
    from queries.headline_stats import fetch_headline_stats

    today = NOW.replace(hour=0, minute=0, second=0)
    return [
        Widget("headline stats", lambda engine: fetch_headline_stats(engine, NOW, today)),
        Widget("company table", lambda engine: fetch_company_kpis(engine, NOW, today)),
        Widget("feed: newest 2,000 rows", lambda engine: fetch_recent_feed(engine, NOW, 2000)),
        Widget("feed: 7-day counts (grouped)", lambda engine: fetch_window_counts(engine, "7d", NOW)),
        Widget("feed: 7-day capped count", lambda engine: count_activity(engine, ActivityFilter(
            statuses=("missed",)), NOW)),
        Widget("feed: 7-day name search", lambda engine: fetch_activity(engine, ActivityFilter(search=SEARCH), NOW,
                                                                        count_cap=2000)),
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def own_server() -> Iterator[str]:
    """Start a MariaDB server of this script's own with a 128 MB buffer pool; yield its URL; remove it after."""
    folder = Path(tempfile.mkdtemp(prefix="sb-scale-"))
    datadir, port = folder / "data", free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True)
    server = subprocess.Popen(
        ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=root", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={folder / 'mysqld.sock'}", f"--pid-file={folder / 'mysqld.pid'}",
         f"--innodb-buffer-pool-size={BUFFER_POOL}", "--innodb-log-file-size=256M", "--skip-log-bin",
         "--innodb-flush-log-at-trx-commit=2", "--max-allowed-packet=64M", "--skip-name-resolve"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "error.log", "wb"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {(folder / 'error.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield f"mysql+pymysql://root@127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def database_url(server: str, name: str) -> str:
    return server.rstrip("/") + "/" + name


def build(server: str, calls: int, raw_bytes: int) -> tuple[str, str]:
    """Create (or reuse) the scale's `random` and `ordered` databases; return their URLs."""
    import sqlalchemy as sa

    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from schema.migrate import migrate

    random_name, ordered_name = f"sb_scale_{calls}_random", f"sb_scale_{calls}_ordered"
    admin = sa.create_engine(server)
    with admin.connect() as connection:
        existing = {row[0] for row in connection.exec_driver_sql("SHOW DATABASES")}
    if random_name not in existing or ordered_name not in existing:
        with admin.begin() as connection:
            for name in (random_name, ordered_name):
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 "
                                           "COLLATE utf8mb4_unicode_ci")
        plan = SeedPlan(calls=calls, appointments=calls // 10, companies=20,
                        customers_per_company=max(100, calls // 200), raw_bytes=raw_bytes)
        started = time.monotonic()
        writer = create_writer_engine(database_url(server, random_name))
        migrate(writer)
        seed_database(writer, plan, NOW)
        writer.dispose()
        print(f"  seeded {calls:,} calls in {time.monotonic() - started:.0f} s", flush=True)
        writer = create_writer_engine(database_url(server, ordered_name))
        migrate(writer)
        writer.dispose()
        copy_in_time_order(admin, random_name, ordered_name)
    admin.dispose()
    return database_url(server, random_name), database_url(server, ordered_name)


def copy_in_time_order(admin, source: str, target: str) -> None:
    """Copy every platform table; calls and appointments get new ids in the order of their time."""
    from schema.tables import PLATFORM_TABLES

    by_time = {"calls": "created_at", "appointments": "created_at"}
    with admin.begin() as connection:
        for table in PLATFORM_TABLES:
            names = [column.name for column in table.columns if not (table.name in by_time and column.name == "id")]
            columns = ", ".join(f"`{name}`" for name in names)
            order = f" ORDER BY `{by_time[table.name]}`, id" if table.name in by_time else ""
            connection.exec_driver_sql(f"INSERT INTO {target}.`{table.name}` ({columns}) "
                                       f"SELECT {columns} FROM {source}.`{table.name}`{order}")
        connection.exec_driver_sql(f"ANALYZE TABLE {target}.calls, {target}.appointments, {target}.customers").all()


def timed(engine, widget: Widget, repeat: int) -> float | str:
    """Return the median milliseconds of `repeat` runs after a warm-up, or why the statement failed."""
    from sqlalchemy.exc import SQLAlchemyError

    times = []
    try:
        for run in range(repeat + 1):
            started = time.perf_counter()
            widget.run(engine)
            if run:
                times.append((time.perf_counter() - started) * 1000)
    except SQLAlchemyError as error:
        return "timeout" if "max_statement_time" in str(error) or "1969" in str(error) else type(error).__name__
    return statistics.median(times)


def measure(url: str, repeat: int) -> dict[str, float | str]:
    from database.engines import create_reader_engine

    engine = create_reader_engine(url, 5000)
    try:
        return {widget.name: timed(engine, widget, repeat) for widget in widgets()}
    finally:
        engine.dispose()


def drop_covering(url: str) -> None:
    """Drop the covering time-window indexes (and their ledger rows) from a scale's random database."""
    import sqlalchemy as sa

    from schema.indexes import LEDGER_TABLE
    from schema.tables import WINDOW_INDEXES

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for index in WINDOW_INDEXES:
            connection.exec_driver_sql(f"ALTER TABLE `{index.table.name}` DROP INDEX IF EXISTS `{index.name}`")
            connection.exec_driver_sql(f"DELETE FROM {LEDGER_TABLE} WHERE index_name = %s", (index.name,))
    engine.dispose()


def restore_covering(url: str) -> None:
    from database.engines import create_writer_engine
    from schema.migrate import migrate

    writer = create_writer_engine(url)
    migrate(writer)
    writer.dispose()


def figure(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:,.1f} ms"


def ratio(slow: float | str, fast: float | str) -> str:
    if isinstance(slow, str) or isinstance(fast, str) or fast <= 0:
        return "-"
    return f"{slow / fast:,.1f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--raw-bytes", type=int, default=600,
                        help="calls.raw per row: a row of about 1 KB, so a million calls outgrow the buffer pool")
    parser.add_argument("--url", default="", help="a server URL (no database) to use instead of one of its own")
    parser.add_argument("--keep", action="store_true", help="with --url: keep the databases for another run")
    args = parser.parse_args()
    scales = [int(scale) for scale in args.scales.split(",")]
    server_context = own_server() if not args.url else _given(args.url)
    started = datetime.now()
    with server_context as server:
        print(f"{started:%Y-%m-%d %H:%M}  server: {'its own, buffer pool ' + BUFFER_POOL if not args.url else server}"
              f"  repeat: {args.repeat}", flush=True)
        print("| widget | calls | ordered ids | random ids | random, no covering | random/ordered "
              "| no covering/ordered |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
        for calls in scales:
            random_url, ordered_url = build(server, calls, args.raw_bytes)
            ordered = measure(ordered_url, args.repeat)
            shuffled = measure(random_url, args.repeat)
            drop_covering(random_url)
            bare = measure(random_url, args.repeat)
            restore_covering(random_url)
            for name in ordered:
                print(f"| {name} | {calls:,} | {figure(ordered[name])} | {figure(shuffled[name])} | "
                      f"{figure(bare[name])} | {ratio(shuffled[name], ordered[name])} | "
                      f"{ratio(bare[name], ordered[name])} |", flush=True)
            if args.url and not args.keep:
                _drop(server, calls)
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def _drop(server: str, calls: int) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(server)
    with admin.begin() as connection:
        for kind in ("random", "ordered"):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS sb_scale_{calls}_{kind}")
    admin.dispose()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.chdir(Path(__file__).resolve().parents[1])
    sys.exit(main())
