"""How long the query cache's JSON takes against pickle, for the activity feed's newest rows.

Usage (from the repository root):

    python benchmarks/cache_codec.py [--url mysql+pymysql://root@127.0.0.1:3306/test] [--rows 2000]

Without --url it seeds a temporary SQLite database. It fetches the feed's newest
rows (ACTIVITY_RECENT_ROWS, 2,000 by default: the biggest value the cache holds),
then times the round trip each way: pickle of the RecentFeed (what a pickling
cache would hold) and the cache's own JSON entry (encode_entry of
RecentFeed.to_data, then decode_entry and RecentFeed.from_data), and the same
for the built page of 50 rows the browser is sent. It prints the median of
--repeat runs and the bytes stored.
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path


def median_ms(work, repeat: int) -> float:
    """Return the median milliseconds of `repeat` runs of work()."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def seeded_sqlite(folder: Path) -> str:
    """Return the URL of a temporary SQLite database seeded with the demo generator."""
    from datetime import datetime

    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from schema.migrate import migrate

    url = f"sqlite:///{folder / 'codec.sqlite3'}"
    writer = create_writer_engine(url)
    migrate(writer)
    seed_database(writer, SeedPlan(calls=20_000, appointments=5_000, companies=5, customers_per_company=400,
                                   agents_per_company=5, services_per_company=4, raw_bytes=100),
                  datetime(2026, 3, 10, 11, 30))
    writer.dispose()
    return url


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from datetime import datetime

    from database.query_cache import decode_entry, encode_entry
    from database.engines import create_reader_engine
    from queries.activity import ActivityFilter, RecentFeed, fetch_recent_feed, page_from_recent
    from widgets.feed_page import page_payload

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a seeded temporary SQLite file)")
    parser.add_argument("--rows", type=int, default=2000, help="newest rows fetched (ACTIVITY_RECENT_ROWS)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or seeded_sqlite(Path(folder))
        reader = create_reader_engine(url)
        now = datetime(2026, 3, 10, 11, 30) if not args.url else datetime.utcnow()
        feed = fetch_recent_feed(reader, now, args.rows)
        reader.dispose()
    page = page_payload(page_from_recent(feed, ActivityFilter(), None, 50), "UTC")

    def json_entry(value) -> bytes:
        return encode_entry({"value": value, "computed_at": time.time()})

    cases = {
        f"newest rows ({len(feed.rows):,})": (
            lambda: pickle.dumps(feed, pickle.HIGHEST_PROTOCOL), pickle.loads,
            lambda: json_entry(feed.to_data()), lambda stored: RecentFeed.from_data(decode_entry(stored)["value"])),
        f"built page ({len(page['rows'])} rows)": (
            lambda: pickle.dumps(page, pickle.HIGHEST_PROTOCOL), pickle.loads,
            lambda: json_entry(page), decode_entry),
    }
    print(f"{'value':<22} {'codec':<7} {'encode ms':>10} {'decode ms':>10} {'bytes':>9}")
    for name, (pickle_dumps, pickle_loads, json_dumps, json_loads) in cases.items():
        for codec, dumps, loads in (("pickle", pickle_dumps, pickle_loads), ("json", json_dumps, json_loads)):
            stored = dumps()
            print(f"{name:<22} {codec:<7} {median_ms(dumps, args.repeat):>10.3f} "
                  f"{median_ms(lambda: loads(stored), args.repeat):>10.3f} {len(stored):>9,}")


if __name__ == "__main__":
    main()
