"""The generated demo data looks like a real platform's, and the simulator keeps it moving."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from demo.simulator import LiveSimulator
from queries.ongoing_calls import fetch_ongoing_calls
from schema.migrate import migrate
from schema.tables import appointments, calls
from demo.generator import SeedPlan, seed_database
from queries.timeutil import database_now
from tests.conftest import SEED_NOW, TEST_PLAN


@pytest.fixture(scope="module")
def seeded_calls(seeded_database) -> pd.DataFrame:
    engine = seeded_database.writer()
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(sa.select(
            calls.c.id, calls.c.created_at, calls.c.direction, calls.c.status, calls.c.call_status,
            calls.c.duration_sec, sa.func.length(calls.c.raw).label("raw_length"))).mappings().all())
    engine.dispose()
    return frame


def test_calls_spread_over_90_days_with_a_working_day_load(seeded_calls):
    past = seeded_calls[seeded_calls.status.isin(["completed", "failed", "missed", "busy", "no_answer"])]
    assert len(seeded_calls) == TEST_PLAN.calls
    assert past.created_at.min() >= SEED_NOW - timedelta(days=90)
    assert past.created_at.max() <= SEED_NOW - timedelta(hours=2)
    hours = past.created_at.dt.hour.value_counts()
    assert hours.get(10, 0) > 10 * hours.get(3, 0)  # mid-morning is busy, the night is quiet
    weekdays = past.created_at.dt.day_of_week.value_counts()
    assert weekdays.get(1, 0) > 3 * weekdays.get(6, 0)  # Tuesdays far busier than Sundays
    assert 0.6 < (seeded_calls.direction == "inbound").mean() < 0.8
    completed = past[past.status == "completed"].duration_sec
    assert 60 < completed.median() < 400 and completed.min() > 0


def test_every_call_carries_a_provider_payload_of_about_16_kb(seeded_calls):
    assert seeded_calls.raw_length.between(15_000, 17_500).all()


def test_ongoing_stale_and_mismatched_calls_are_there(seeded_calls):
    ongoing = {"ongoing", "in_progress"}
    live = seeded_calls[seeded_calls.status.isin(ongoing) & seeded_calls.call_status.isin(ongoing)]
    assert (live.created_at >= SEED_NOW - timedelta(hours=2)).sum() == 125
    assert (live.created_at < SEED_NOW - timedelta(hours=2)).sum() == TEST_PLAN.stale_in_progress


def test_appointments_past_and_future_with_fitting_statuses(seeded_database):
    engine = seeded_database.writer()
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(
            sa.select(appointments.c.starts_at, appointments.c.status)).mappings().all())
    engine.dispose()
    past, future = frame[frame.starts_at <= SEED_NOW], frame[frame.starts_at > SEED_NOW]
    assert len(frame) == TEST_PLAN.appointments and len(past) > 0 and len(future) > 0
    assert set(past.status) <= {"completed", "no_show", "cancelled"}
    assert set(future.status) <= {"scheduled", "confirmed", "cancelled"}
    assert frame.starts_at.dt.hour.between(8, 17).all()


def test_the_simulator_starts_and_ends_calls_and_books_appointments(empty_database):
    writer = empty_database.writer()
    migrate(writer)
    seed_database(writer, SeedPlan(calls=600, appointments=50, raw_bytes=500), SEED_NOW)
    clock = {"now": SEED_NOW}
    simulator = LiveSimulator(writer, period=3.0, clock=lambda: clock["now"], random_seed=7, raw_bytes=500)
    reader = empty_database.reader()
    before = set(fetch_ongoing_calls(reader, SEED_NOW).rows["id"])
    totals = {"started": 0, "ended": 0, "booked": 0}
    for _ in range(40):
        clock["now"] += timedelta(seconds=3)
        report = simulator.step()
        for key in totals:
            totals[key] += getattr(report, key)
    now = clock["now"]
    after = fetch_ongoing_calls(reader, now)
    assert totals["started"] > 0 and totals["ended"] > 0 and totals["booked"] > 0
    assert set(after.rows["id"]) != before
    assert 80 <= after.total <= 170  # stays near the demo's level of about 125
    with writer.connect() as connection:
        ended = connection.execute(
            sa.select(calls.c.duration_sec, calls.c.status, sa.func.length(calls.c.raw))
            .where(calls.c.id.in_(before - set(after.rows["id"])))).all()
    assert ended and all(status not in {"ongoing", "in_progress"} for _, status, _ in ended)
    assert all(duration is not None and length > 100 for duration, _, length in ended)
    reader.dispose()
    writer.dispose()


def test_the_simulator_thread_runs_and_stops(empty_database):
    writer = empty_database.writer()
    migrate(writer)
    seed_database(writer, SeedPlan(calls=300, appointments=20, raw_bytes=200), database_now())
    simulator = LiveSimulator(writer, period=0.05, random_seed=3, raw_bytes=200)
    with writer.connect() as connection:
        count_before = connection.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one()
    simulator.start()
    try:
        deadline = database_now() + timedelta(seconds=20)
        count = count_before
        while count == count_before and database_now() < deadline:
            with writer.connect() as connection:
                count = connection.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one()
    finally:
        simulator.stop()
    assert count > count_before
    assert not simulator._thread.is_alive()
    writer.dispose()
