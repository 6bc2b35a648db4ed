"""Print how alive the demo is hour by hour: calls ongoing (the profile's figure, and the mean, least and most the
live simulator gives) and the longest the ongoing calls stood still, on a fresh demo database.

    python benchmarks/demo_around_the_clock.py --start 2026-12-12T23:00 --hours 24

seeds the demo plan (small payloads) as of --start (UTC), then runs the simulator at its default period on a
simulated clock for --hours, reading the ongoing calls as the widget does after every step.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import SETTINGS_BY_NAME  # noqa: E402
from database.engines import create_writer_engine  # noqa: E402
from demo.setup import DEMO_PLAN, prepare_demo_database  # noqa: E402
from demo.simulator import LiveSimulator  # noqa: E402
from queries.ongoing_calls import fetch_ongoing_calls  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2026-12-12T23:00", help="UTC moment the demo is seeded at")
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args()
    start = datetime.fromisoformat(args.start)
    period = SETTINGS_BY_NAME["SIMULATOR_PERIOD_SECONDS"].default
    zone = ZoneInfo(DEMO_PLAN.timezone)
    with tempfile.TemporaryDirectory() as folder:
        engine = create_writer_engine(f"sqlite:///{Path(folder) / 'demo.sqlite3'}")
        summary = prepare_demo_database(engine, replace(DEMO_PLAN, raw_bytes=200), now=start)
        clock = {"now": start}
        simulator = LiveSimulator(engine, period=period, clock=lambda: clock["now"], random_seed=1, raw_bytes=200)
        print(f"seeded {summary.calls:,} calls, {summary.ongoing} ongoing at {start:%a %H:%M} UTC; "
              f"a step every {period:g} s")
        print(f"{'UTC':>10} {'Berlin':>10} {'profile':>8} {'mean':>6} {'least':>6} {'most':>5} {'still s':>8}")
        shown, last_change = None, start
        for hour in range(args.hours):
            counts, still = [], 0.0
            hour_start = clock["now"]
            while clock["now"] < hour_start + timedelta(hours=1):
                clock["now"] += timedelta(seconds=period)
                simulator.step()
                result = fetch_ongoing_calls(engine, clock["now"])
                ids = frozenset(int(call) for call in result.rows.id)
                if ids != shown:
                    still = max(still, (clock["now"] - last_change).total_seconds())
                    shown, last_change = ids, clock["now"]
                counts.append(result.total)
            local = hour_start.replace(tzinfo=timezone.utc).astimezone(zone)
            print(f"{hour_start:%a %H:%M} {local:%a %H:%M} {simulator.profile.ongoing(hour_start):>8.1f} "
                  f"{sum(counts) / len(counts):>6.1f} {min(counts):>6} {max(counts):>5} {still:>8.0f}")
        engine.dispose()


if __name__ == "__main__":
    main()
