"""The generated demo data looks like a real platform's, and the simulator keeps it moving."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from demo.simulator import LiveSimulator
from queries.ongoing_calls import fetch_ongoing_calls
from schema.migrate import migrate
from schema.tables import appointments, calls
from demo.generator import COMPANY_TIMEZONE, SeedPlan, seed_database
from queries.timeutil import database_now
from tests.support.databases import SEED_NOW, TEST_PLAN


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
    # Up to now: every finished call has ended by now, and the last hour has finished calls too.
    ended = past.created_at + pd.to_timedelta(past.duration_sec.fillna(0), unit="s")
    assert ended.max() <= SEED_NOW and (past.created_at >= SEED_NOW - timedelta(hours=1)).sum() > 0
    # On the companies' clock: AI agents answer around the clock, so the night is quieter but never empty.
    local = past.created_at.dt.tz_localize("UTC").dt.tz_convert(COMPANY_TIMEZONE)
    hours = local.dt.hour.value_counts()
    assert hours.get(10, 0) > 2.5 * hours.get(4, 0)  # mid-morning is busy, the night is quiet
    assert len(hours) == 24 and hours.min() > 0.2 * hours.max()
    weekdays = local.dt.day_of_week.value_counts()
    assert weekdays.get(1, 0) > 1.5 * weekdays.get(6, 0)  # Tuesdays busier than Sundays
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


def test_ongoing_calls_have_run_as_long_as_real_ones_do(seeded_calls):
    ongoing = {"ongoing", "in_progress"}
    live = seeded_calls[seeded_calls.status.isin(ongoing) & seeded_calls.call_status.isin(ongoing)
                        & (seeded_calls.created_at >= SEED_NOW - timedelta(hours=2))]
    ages = (SEED_NOW - live.created_at).dt.total_seconds()
    # As long as finished calls last (a mean of about 3 minutes), not "1:55" hours at start-up.
    assert 100 < ages.mean() < 300 and ages.median() < 240 and ages.max() < 30 * 60


def test_each_company_offers_the_services_of_its_trade(seeded_database):
    from demo.generator import COMPANY_TRADES
    from schema.tables import companies, services

    engine = seeded_database.writer()
    with engine.connect() as connection:
        offered = connection.execute(sa.select(companies.c.name, services.c.name)
                                     .join(services, services.c.company_id == companies.c.id)).all()
    engine.dispose()
    trades = dict(COMPANY_TRADES)
    assert offered and all(service in trades[company] for company, service in offered)
    assert "Test drive" not in {service for company, service in offered if company == "Salon Lumière"}
    assert "Haircut" in {service for company, service in offered if company == "Salon Lumière"}


def test_a_share_of_completed_calls_is_followed_by_the_customers_booking(seeded_database):
    from demo.generator import BOOKING_DELAY_SECONDS

    engine = seeded_database.writer()
    with engine.connect() as connection:
        booked = pd.DataFrame(connection.execute(sa.select(appointments.c.customer_id, appointments.c.created_at))
                              .mappings().all())
        completed = pd.DataFrame(connection.execute(sa.select(
            calls.c.customer_id, calls.c.created_at, calls.c.duration_sec).where(calls.c.status == "completed"))
            .mappings().all())
    engine.dispose()
    completed["ended"] = completed.created_at + pd.to_timedelta(completed.duration_sec, unit="s")
    pairs = booked.merge(completed, on="customer_id", suffixes=("_booked", "_call"))
    soon = pairs[(pairs.created_at_booked >= pairs.ended)
                 & (pairs.created_at_booked <= pairs.ended + timedelta(seconds=BOOKING_DELAY_SECONDS))]
    assert 0.25 < soon.created_at_booked.nunique() / len(completed) < 0.45  # BOOKING_SHARE of them, about
    assert (booked.created_at <= SEED_NOW).all()


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


def test_the_simulator_follows_the_profile_of_the_seeded_history(empty_database):
    """One profile: over an hour, the simulator starts about as many calls as the seeded weeks
    had in that hour of that weekday, books for a share of its completed calls and ends what it started."""
    writer = empty_database.writer()
    migrate(writer)
    plan = SeedPlan(calls=12_000, appointments=400, days=14, raw_bytes=300, ongoing=None)
    seed_database(writer, plan, SEED_NOW)  # a Tuesday, 11:30 UTC (12:30 in Berlin)
    with writer.connect() as connection:
        history = pd.DataFrame(connection.execute(sa.select(calls.c.created_at, calls.c.status)).mappings().all())
    seeded_ongoing = fetch_ongoing_calls(empty_database.reader(), SEED_NOW).total
    # The seeded calls between 11:30 and 12:30 last Tuesday (14 days: today and the 13 before).
    tuesdays = [SEED_NOW - timedelta(days=7)]
    same_hour = sum(((history.created_at >= start) & (history.created_at < start + timedelta(hours=1))).sum()
                    for start in tuesdays) / len(tuesdays)
    clock = {"now": SEED_NOW}
    simulator = LiveSimulator(writer, period=30.0, clock=lambda: clock["now"], random_seed=7, raw_bytes=300)
    totals = {"started": 0, "ended": 0, "booked": 0}
    for _ in range(120):  # an hour, 30 s a step
        clock["now"] += timedelta(seconds=30)
        report = simulator.step()
        for key in totals:
            totals[key] += getattr(report, key)
    assert same_hour > 30 and 0.6 * same_hour < totals["started"] < 1.4 * same_hour, (same_hour, totals)
    expected = sum(simulator.profile.rate(SEED_NOW + timedelta(minutes=minutes)) for minutes in range(0, 60)) / 60
    assert 0.7 * expected < totals["started"] < 1.3 * expected, (expected, totals)  # the profile's own rate
    # Ongoing: the arrivals times a call's mean length, now as when seeded, never the demo's old 125.
    reader = empty_database.reader()
    after = fetch_ongoing_calls(reader, clock["now"])
    assert 2 <= seeded_ongoing <= 20 and after.total <= 25
    assert 0.15 * totals["ended"] < totals["booked"] < 0.45 * totals["ended"]
    with writer.connect() as connection:
        ended = connection.execute(
            sa.select(calls.c.duration_sec, calls.c.status, sa.func.length(calls.c.raw))
            .where(calls.c.created_at > SEED_NOW, calls.c.status.not_in(("ongoing", "in_progress")))).all()
    assert ended and all(duration is not None and length > 100 for duration, _, length in ended)
    reader.dispose()
    writer.dispose()


def test_the_demo_plan_gives_every_company_two_weeks_of_history_and_services_of_its_own(empty_database):
    from demo.setup import DEMO_PLAN
    from schema.tables import services

    writer = empty_database.writer()
    migrate(writer)
    # A tenth of its calls: every company on every day is what is tested, not the volume.
    seed_database(writer, replace(DEMO_PLAN, raw_bytes=100, calls=DEMO_PLAN.calls // 10,
                                  appointments=DEMO_PLAN.appointments // 10), SEED_NOW)
    with writer.connect() as connection:
        days = connection.execute(sa.select(calls.c.company_id, sa.func.count(sa.distinct(
            sa.func.date(calls.c.created_at)))).where(calls.c.created_at >= SEED_NOW - timedelta(days=7))
            .group_by(calls.c.company_id)).all()
        names = connection.execute(sa.select(services.c.company_id, services.c.name)).all()
    writer.dispose()
    assert len(days) == DEMO_PLAN.companies and all(count >= 7 for _, count in days)  # every day of the week
    assert len({company for company, _ in names}) == DEMO_PLAN.companies


def test_the_simulator_thread_runs_and_stops(empty_database):
    writer = empty_database.writer()
    migrate(writer)
    seed_database(writer, SeedPlan(calls=300, appointments=20, raw_bytes=200), database_now())
    simulator = LiveSimulator(writer, period=0.05, random_seed=3, raw_bytes=200)
    # Calls ending is what a step surely does (a history this thin starts a call an hour or so).
    ended = sa.select(sa.func.count()).select_from(calls).where(calls.c.status.not_in(("ongoing", "in_progress")))
    with writer.connect() as connection:
        count_before = connection.execute(ended).scalar_one()
    simulator.start()
    try:
        deadline = database_now() + timedelta(seconds=20)
        count = count_before
        while count == count_before and database_now() < deadline:
            with writer.connect() as connection:
                count = connection.execute(ended).scalar_one()
    finally:
        simulator.stop()
    assert count > count_before
    assert not simulator._thread.is_alive()
    writer.dispose()
