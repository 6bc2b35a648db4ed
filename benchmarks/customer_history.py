"""What opening a customer's history and a call's details costs the database.

Usage (from the repository root):

    python benchmarks/customer_history.py [--url mysql+pymysql://root@127.0.0.1:3306/platform] [--calls 100000]

Without --url it seeds a temporary SQLite database with --calls calls. For the busiest
customers it times each of the history's three statements (the summary with its counts,
the upcoming appointments, the first page and the last page of the past) and prints the
median of --repeat runs, the statements and the rows fetched. Then the first call opened:
the statements its details send once the platform's facts were read at start-up, against
what reading the `calls` columns through SQLAlchemy's inspector costs (what the first opened
call would pay if that read were not part of the start-up one).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

NOW = datetime(2026, 3, 10, 11, 30)


def seeded_sqlite(folder: Path, calls: int) -> str:
    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from schema.migrate import migrate

    url = f"sqlite:///{folder / 'history.sqlite3'}"
    writer = create_writer_engine(url)
    migrate(writer)
    seed_database(writer, SeedPlan(calls=calls, appointments=calls // 4, raw_bytes=200), NOW)
    writer.dispose()
    return url


def counted(engine):
    """Return a list that collects the statements `engine` sends."""
    import sqlalchemy as sa

    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *args: seen.append(statement))
    return seen


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import sqlalchemy as sa

    from benchmarks.cache_codec import median_ms
    from database.engines import create_reader_engine
    from queries.call_details import fetch_call_details
    from queries.customer_history import fetch_page, fetch_summary, fetch_upcoming
    from queries.platform import platform_schema
    from schema.tables import appointments, calls

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a seeded temporary SQLite file)")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or seeded_sqlite(Path(folder), args.calls)
        now = NOW if not args.url else datetime.utcnow()
        reader = create_reader_engine(url)
        started = time.perf_counter()
        platform_schema(reader)  # at start-up in the app (read_platform_schema_early)
        startup_ms = (time.perf_counter() - started) * 1000.0
        with reader.connect() as connection:
            total_calls = connection.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one()
            busiest = connection.execute(
                sa.select(calls.c.customer_id, sa.func.count().label("n")).where(calls.c.customer_id.is_not(None))
                .group_by(calls.c.customer_id).order_by(sa.text("n DESC")).limit(args.customers)).all()
            booked = dict(connection.execute(
                sa.select(appointments.c.customer_id, sa.func.count()).where(
                    appointments.c.customer_id.in_([c for c, _ in busiest])).group_by(appointments.c.customer_id)).all())
            a_call = connection.execute(sa.select(sa.func.max(calls.c.id))).scalar_one()
        print(f"{reader.dialect.name}: {total_calls:,} calls; the platform's facts read at start-up in {startup_ms:.1f} ms")
        print(f"{'customer':>9} {'calls':>6} {'appts':>6}  {'summary':>8} {'upcoming':>9} {'page 1':>7} {'last page':>10}"
              f"  statements  rows")
        seen = counted(reader)
        for customer, count in busiest:
            summary_ms = median_ms(lambda: fetch_summary(reader, customer, now), args.repeat)
            upcoming_ms = median_ms(lambda: fetch_upcoming(reader, customer, now), args.repeat)
            first_ms = median_ms(lambda: fetch_page(reader, customer, now), args.repeat)
            cursor, last, pages = fetch_page(reader, customer, now).next_cursor, None, 1
            while cursor is not None and pages < 1000:
                last = cursor
                cursor, pages = fetch_page(reader, customer, now, cursor=cursor).next_cursor, pages + 1
            last_ms = median_ms(lambda: fetch_page(reader, customer, now, cursor=last), args.repeat) if last \
                else first_ms
            mark = len(seen)  # what opening the panel sends: the summary, the upcoming, a page
            rows = 1 + len(fetch_upcoming(reader, customer, now)) + len(fetch_page(reader, customer, now).rows)
            fetch_summary(reader, customer, now)
            print(f"{customer:>9} {count:>6,} {booked.get(customer, 0):>6,}  {summary_ms:>7.2f}ms {upcoming_ms:>8.2f}ms"
                  f" {first_ms:>6.2f}ms {last_ms:>9.2f}ms  {len(seen) - mark:>10}  {rows:>4}   ({pages} pages)")
        fresh = create_reader_engine(url)
        platform_schema(fresh)
        seen = counted(fresh)
        started = time.perf_counter()
        fetch_call_details(fresh, a_call)
        details_ms = (time.perf_counter() - started) * 1000.0
        sent = len(seen)
        inspector = create_reader_engine(url)
        with inspector.connect() as connection:  # connected first, as the details' engine was
            connection.execute(sa.text("SELECT 1"))
        seen_inspecting = counted(inspector)
        started = time.perf_counter()
        sa.inspect(inspector).get_columns("calls")
        inspect_ms = (time.perf_counter() - started) * 1000.0
        print(f"first call opened: {sent} statement, {details_ms:.1f} ms; the inspector's read of the calls columns it "
              f"paid before: {len(seen_inspecting)} statements, {inspect_ms:.1f} ms")
        for engine in (reader, fresh, inspector):
            engine.dispose()


if __name__ == "__main__":
    main()
