"""A call storm: 50,000 calls ongoing at once. Do the widgets stay capped, right and small?

Usage (from the repository root):

    python benchmarks/call_storm.py [--url mysql+pymysql://root@127.0.0.1:3306/switchboard_storm] [--refreshes 30]

The database (on this machine only) is dropped, recreated and seeded with 50,000
ongoing calls among 60,000 (small payloads: the storm is about rows, not bytes).
Then one app, as one gunicorn worker would hold it, refreshes every widget
--refreshes times with its cache emptied before each round, so each round really
queries the database. It prints each widget's rows, total and median time, and
the worker's resident memory before and after; a worker's memory must grow by
less than 25 MB.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psutil

MEMORY_BUDGET_MB = 25
ONGOING = 50_000


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306/switchboard_storm")
    parser.add_argument("--refreshes", type=int, default=30)
    return parser.parse_args()


def recreate_database(url: str) -> None:
    """Drop and create the storm database (loopback servers only)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("the storm benchmark drops its database: give it a database on this machine")
    server = sa.create_engine(parsed.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{parsed.database}`")
        connection.exec_driver_sql(f"CREATE DATABASE `{parsed.database}` CHARACTER SET utf8mb4")
    server.dispose()


def seed_storm(url: str):
    """Migrate and seed the storm; return the moment the data is relative to."""
    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from queries.timeutil import database_now
    from schema.migrate import migrate

    writer = create_writer_engine(url)
    now = database_now()
    started = time.perf_counter()
    migrate(writer)
    seed_database(writer, SeedPlan(calls=ONGOING + 10_000, appointments=2_000, ongoing=ONGOING, raw_bytes=200), now)
    writer.dispose()
    print(f"seeded {ONGOING:,} ongoing calls in {time.perf_counter() - started:.1f} s")
    return now


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app import create_app
    from widgets.services import EXTENSION_KEY
    from tests.support.dash_client import DashClient

    args = parse_arguments()
    recreate_database(args.url)
    now = seed_storm(args.url)
    app = create_app({"DATABASE_URL": args.url, "MEMORY_SAMPLER": False})
    services = app.server.extensions[EXTENSION_KEY]
    services.now = lambda: now
    client = DashClient(app.server)
    filters = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
               "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
    widgets = {
        "ongoing calls": ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}, {}),
        "activity feed": ("activity-grid.rowData", {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
                                                    "activity-pager.data": None}, filters),
        "headline stats": ("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0}, {}),
    }
    process = psutil.Process()
    timings: dict[str, list[float]] = {name: [] for name in widgets}
    results: dict[str, dict] = {}
    rss_start = process.memory_info().rss
    for round_number in range(args.refreshes + 1):
        services.queries.clear()
        for name, (output, inputs, state) in widgets.items():
            started = time.perf_counter()
            results[name] = client.call(output, inputs, state)
            if round_number:  # the first round warms up imports and the connection pool
                timings[name].append((time.perf_counter() - started) * 1000)
        if round_number == 0:
            rss_before = process.memory_info().rss
    rss_after = process.memory_info().rss
    ongoing = results["ongoing calls"]
    print(f"\n{'widget':<16} {'rows sent':>10} {'median ms':>10}")
    for name in widgets:
        rows = results[name].get(widgets[name][0])
        count = len(rows) if isinstance(rows, list) else "-"
        print(f"{name:<16} {count:>10} {statistics.median(timings[name]):>10.1f}")
    print(f"\nongoing badge {ongoing['ongoing-badge.children']!r}, caption {ongoing['ongoing-caption.children']!r}")
    grown = (rss_after - rss_before) / 2**20
    print(f"worker RSS before any refresh {rss_start / 2**20:.1f} MB, after the first round "
          f"{rss_before / 2**20:.1f} MB, after {args.refreshes} more {rss_after / 2**20:.1f} MB")
    print(f"grew {(rss_after - rss_start) / 2**20:+.1f} MB in all, {grown:+.1f} MB after the first round")
    print(f"capped at 500 with the true total: {'PASS' if len(ongoing['ongoing-grid.rowData']) == 500 and ongoing['ongoing-badge.children'] == f'{ONGOING:,}' else 'FAIL'}")
    total_growth = (rss_after - rss_start) / 2**20
    print(f"memory growth under {MEMORY_BUDGET_MB} MB: {'PASS' if total_growth < MEMORY_BUDGET_MB else 'FAIL'}")
    services.shutdown()


if __name__ == "__main__":
    main()
