"""The per-company table's one statement at 20 and at 200 companies, on 200,000 calls, on MariaDB and SQLite.

Usage (from the repository root):

    python benchmarks/company_kpis.py [--mysql-url mysql+pymysql://root@127.0.0.1:3306/sb_kpis]
                                      [--sqlite-folder instance/bench] [--calls 200000] [--repeat 20]
                                      [--companies 20 200] [--backends mariadb sqlite] [--reseed]

For each backend and company count it uses a database of its own (MariaDB: the URL's database name with
`_<companies>` appended, e.g. sb_kpis_200; SQLite: `<folder>/kpis-<companies>.sqlite3`), seeding it when it is
missing, holds fewer calls or another number of companies, or with --reseed: `--calls` calls of ~16 KB `raw`
over 90 days (a tenth as many appointments), as `python app.py seed` makes them, with 400 customers a company
(at most 40,000 in all). Only a MariaDB server on this machine is accepted, since the script drops and recreates
its databases.

"Now" is MAX(calls.created_at) + 5 s and "today" the 24 hours before it: the most a day holds (as at 23:59),
whatever time of day the data was seeded, and the same rows however long ago that was. Each
measurement is `fetch_company_kpis` on a reader engine from `db.create_reader_engine` (statement timeout and
all), after one warm-up run: the statements of one refresh (always 1, checked), the rows it returned, and the
median and p95 wall clock of --repeat refreshes (checkout, the statement, reading the rows into a DataFrame).
"CPU here" is this thread's CPU time for a refresh (time.thread_time): on SQLite the statement's whole work, which
other processes' load does not inflate as it does the wall clock; on MariaDB only the client's part.
A benchmark, not a test: it prints the figures and the 50 ms goal as PASS/FAIL and exits 0 whatever they are.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.naive_vs_switchboard import (BenchmarkError, database_exists, recreate_database,  # noqa: E402
                                             require_local_server)

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/sb_kpis"
DEFAULT_SQLITE_FOLDER = Path("instance") / "bench"
DEFAULT_CALLS = 200_000
DEFAULT_REPEAT = 20
GOAL_MS = 50.0
CUSTOMERS = 40_000
NOW_MARGIN = timedelta(seconds=5)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL)
    parser.add_argument("--sqlite-folder", type=Path, default=DEFAULT_SQLITE_FOLDER)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--companies", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--backends", nargs="+", choices=("mariadb", "sqlite"), default=["mariadb", "sqlite"])
    parser.add_argument("--reseed", action="store_true", help="seed every database again")
    return parser.parse_args(argv)


def database_url(backend: str, arguments: argparse.Namespace, companies: int) -> str:
    if backend == "sqlite":
        arguments.sqlite_folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(arguments.sqlite_folder / f'kpis-{companies}.sqlite3').resolve()}"
    url = make_url(arguments.mysql_url)
    return url.set(database=f"{url.database}_{companies}").render_as_string(hide_password=False)


def held(url: str) -> tuple[int, int]:
    """Return the calls and companies a database holds (0, 0 without tables)."""
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("calls"):
            return 0, 0
        with engine.connect() as connection:
            return (connection.execute(sa.text("SELECT COUNT(*) FROM calls")).scalar_one(),
                    connection.execute(sa.text("SELECT COUNT(*) FROM companies")).scalar_one())
    finally:
        engine.dispose()


def prepare(url: str, calls: int, companies: int, reseed: bool) -> None:
    """Seed the database unless it already holds these calls and companies."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        present = held(url) if path.exists() else (0, 0)
        if present == (calls, companies) and not reseed:
            return
        path.unlink(missing_ok=True)
    else:
        require_local_server(url)
        server = sa.create_engine(parsed.set(database=""))
        try:
            present = held(url) if database_exists(server, parsed.database) else (0, 0)
            if present == (calls, companies) and not reseed:
                return
            recreate_database(server, parsed.database)
        finally:
            server.dispose()
    seed(url, calls, companies)


def seed(url: str, calls: int, companies: int) -> None:
    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from queries.timeutil import database_now
    from schema.migrate import migrate

    plan = SeedPlan(calls=calls, appointments=calls // 10, companies=companies,
                    customers_per_company=min(400, CUSTOMERS // companies))
    engine = create_writer_engine(url)
    started = time.perf_counter()
    try:
        migrate(engine)
        seed_database(engine, plan, database_now())
    finally:
        engine.dispose()
    print(f"seeded {make_url(url).database}: {calls:,} calls, {companies} companies in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def measure(url: str, repeat: int) -> dict:
    """Return one refresh's statements and rows, and the median and p95 of `repeat` refreshes (ms)."""
    from database.engines import create_reader_engine
    from monitoring.instrumentation import instrument_engine, measure_refresh
    from queries.company_kpis import fetch_company_kpis
    from schema.tables import calls

    engine = create_reader_engine(url, 30_000)
    instrument_engine(engine)
    try:
        with engine.connect() as connection:
            now = connection.execute(sa.select(sa.func.max(calls.c.created_at))).scalar_one() + NOW_MARGIN
        today = now - timedelta(days=1)  # the fullest "today": at 23:59
        fetch_company_kpis(engine, now, today)  # warm-up: the first connection's set-up, cold pages
        with measure_refresh("company kpis") as cost:
            result = fetch_company_kpis(engine, now, today)
        times, cpu = [], []
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.thread_time()
            fetch_company_kpis(engine, now, today)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
    finally:
        engine.dispose()
    times.sort()
    return {"statements": cost.statement_count, "rows": len(result.rows),
            "calls_today": int(result.rows.calls.sum()), "median": statistics.median(times),
            "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], "cpu": statistics.median(cpu)}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    rows = []
    try:
        for backend in arguments.backends:
            for companies in arguments.companies:
                url = database_url(backend, arguments, companies)
                prepare(url, arguments.calls, companies, arguments.reseed)
                rows.append((backend, companies, measure(url, arguments.repeat)))
    except BenchmarkError as error:
        print(f"cannot run: {error}", file=sys.stderr)
        return 2
    print(f"\nper-company table, {arguments.calls:,} calls, {arguments.repeat} refreshes after a warm-up\n")
    print("| backend | companies | statements | rows | calls today | median | p95 | CPU here (median) | goal < 50 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for backend, companies, figures in rows:
        verdict = "PASS" if figures["median"] < GOAL_MS else "FAIL"
        print(f"| {backend} | {companies} | {figures['statements']} | {figures['rows']} | "
              f"{figures['calls_today']:,} | {figures['median']:.1f} ms | {figures['p95']:.1f} ms | "
              f"{figures['cpu']:.1f} ms | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
