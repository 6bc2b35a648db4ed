"""What the feed's match count costs: capped, uncapped, and inside a search's first page.

Usage (from the repository root):

    python benchmarks/feed_count.py [--url mysql+pymysql://root@127.0.0.1:3306/sb_bench] [--calls 200000]

Without --url it seeds a temporary SQLite database (--calls calls, a quarter as many
appointments, demo-sized otherwise); with --url it seeds that database when it is
empty (it must exist; `python app.py migrate` is run on it). For the default view
(7 days), the widest (90 days) and a name search it prints the median of --repeat
runs of: the capped count Switchboard sends (`SELECT COUNT(*) FROM (SELECT 1 … LIMIT
2001)` per kind), the plain COUNT(*) it avoids, the first page alone, and the first
page with the count in the same statement (what a search costs).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime
from pathlib import Path

NOW = datetime(2026, 3, 10, 11, 30)


def seeded(url: str, calls: int) -> None:
    """Migrate and seed the database at `url` unless it holds data already."""
    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, database_is_empty, seed_database
    from schema.migrate import migrate

    writer = create_writer_engine(url)
    try:
        migrate(writer)
        if database_is_empty(writer):
            seed_database(writer, SeedPlan(calls=calls, appointments=calls // 4, raw_bytes=100), NOW)
    finally:
        writer.dispose()


def uncapped_count(engine, activity) -> int:
    """COUNT(*) of every matching row: the count the cap avoids."""
    from queries.activity import count_statement
    from queries.platform import platform_schema

    statement = count_statement(activity, NOW, cap=10 ** 9, platform=platform_schema(engine))
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar_one())


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.cache_codec import median_ms
    from database.engines import create_reader_engine
    from queries.activity import COUNT_CAP, ActivityFilter, count_activity, fetch_activity

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.url or f"sqlite:///{Path(folder) / 'count.sqlite3'}"
        seeded(url, options.calls)
        engine = create_reader_engine(url, statement_timeout_ms=60_000)
        views = {"7 days": ActivityFilter(), "90 days": ActivityFilter(window="90d"),
                 "search 'müller', 7 days": ActivityFilter(search="müller"),
                 "search 'müller', 90 days": ActivityFilter(window="90d", search="müller")}
        print(f"{engine.dialect.name}, {options.calls:,} calls, median of {options.repeat} runs (ms)")
        print(f"{'view':<26}{'matching':>10}{'capped':>9}{'COUNT(*)':>10}{'page':>8}{'page+count':>12}")
        for name, activity in views.items():
            count_activity(engine, activity, NOW)  # connections and caches warm
            total = uncapped_count(engine, activity)
            capped = median_ms(lambda: count_activity(engine, activity, NOW), options.repeat)
            full = median_ms(lambda: uncapped_count(engine, activity), options.repeat)
            page = median_ms(lambda: fetch_activity(engine, activity, NOW), options.repeat)
            both = median_ms(lambda: fetch_activity(engine, activity, NOW, count_cap=COUNT_CAP), options.repeat)
            print(f"{name:<26}{total:>10,}{capped:>9.1f}{full:>10.1f}{page:>8.1f}{both:>12.1f}")
        engine.dispose()


if __name__ == "__main__":
    main()
