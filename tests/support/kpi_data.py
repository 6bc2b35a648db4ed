"""A database for the per-company figures and the comparisons: the seed, plus hand-placed rows that reach every
definition's edges, and the brute-force readings of those definitions in plain Python.

On top of TEST_PLAN's seed (three companies, SEED_NOW = 2026-03-10 11:30 UTC):
- company 4 exists with nothing at all (an empty company keeps its row, all zeros), company 5 is soft-deleted;
- each seeded company gets calls of every outcome today, yesterday and a week ago, with lengths, an unknown
  status and a soft-deleted call, and appointments booked minutes, hours and days after some of them;
- the same around Berlin's switch to summer time (Sunday 2026-03-29, 02:00 -> 03:00) and back to winter time
  (Sunday 2026-10-25, 03:00 -> 02:00), and on the Mondays after them, for the DST tests.
"""
from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from schema.tables import appointments, calls, companies, customers
from tests.support.databases import SEED_NOW, TEST_PLAN, create_test_database, drop_test_database

EMPTY_COMPANY = 4
DELETED_COMPANY = 5
DST_NOW = datetime(2026, 3, 29, 13, 20, 0)  # 15:20 in Berlin, summer time since 03:00 local
AUTUMN_NOW = datetime(2026, 10, 25, 11, 40, 0)  # 12:40 in Berlin, winter time again since 03:00 CEST
# Where the hand-placed rows are: the day of each moment, the day before, and a week and a week and a day before.
ANCHORS = (SEED_NOW, DST_NOW, DST_NOW + timedelta(days=1), AUTUMN_NOW, AUTUMN_NOW + timedelta(days=1))
OUTCOMES = (("completed", "ended"), ("completed", "ended"), ("completed", "ended"), ("missed", "not_connected"),
            ("busy", "not_connected"), ("no_answer", "not_connected"), ("failed", "error"), ("voicemail", "ended"),
            ("in_progress", "in_progress"), ("ongoing", "ongoing"))


def _calls_on(rng: random.Random, customer_rows: list[dict], start: datetime, end: datetime, count: int) -> list[dict]:
    rows = []
    for _ in range(count):
        customer = rng.choice(customer_rows)
        status, call_status = rng.choice(OUTCOMES)
        created = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
        if status == "completed":
            duration = rng.randint(20, 900) if rng.random() < 0.9 else None
        else:
            duration = None if status in ("in_progress", "ongoing") else rng.randint(0, 15)
        rows.append({"company_id": customer["company_id"], "customer_id": customer["id"],
                     "customer_name": customer["name"], "direction": rng.choice(("inbound", "inbound", "outbound")),
                     "status": status, "call_status": call_status, "created_at": created, "called_at": created,
                     "start_timestamp": created, "duration_sec": duration, "updated_at": created,
                     "deleted_at": created if rng.random() < 0.03 else None})
    return rows


def _bookings_after(rng: random.Random, call_rows: list[dict]) -> list[dict]:
    rows = []
    for call in call_rows:
        if call["customer_id"] is None or rng.random() > 0.35:
            continue
        # Minutes after, about two hours after (the window's edge) or a day after the call.
        delay = rng.choice((timedelta(minutes=rng.randint(0, 50)), timedelta(minutes=rng.randint(100, 140)),
                            timedelta(hours=rng.randint(20, 30)), timedelta(0)))
        booked = call["created_at"] + delay
        slot = booked + timedelta(days=rng.randint(1, 20))
        rows.append({"company_id": call["company_id"], "customer_id": call["customer_id"], "service_id": None,
                     "starts_at": slot.replace(minute=0, second=0), "ends_at": slot, "status": "scheduled",
                     "created_at": booked, "updated_at": booked,
                     "deleted_at": booked if rng.random() < 0.05 else None})
    return rows


def add_kpi_rows(engine: sa.Engine, now: datetime) -> None:
    """Add the empty and the deleted company and the hand-placed calls and bookings."""
    rng = random.Random(16)
    with engine.begin() as connection:
        customer_rows = [dict(row._mapping) for row in connection.execute(
            sa.select(customers.c.id, customers.c.company_id, customers.c.name))]
        connection.execute(companies.insert(), [
            {"id": EMPTY_COMPANY, "name": "Leere GmbH", "created_at": now, "updated_at": now, "deleted_at": None},
            {"id": DELETED_COMPANY, "name": "Gelöscht AG", "created_at": now, "updated_at": now, "deleted_at": now}])
        new_calls = []
        for anchor in ANCHORS:
            for days_back in (0, 1, 7, 8):
                day = anchor - timedelta(days=days_back)
                new_calls += _calls_on(rng, customer_rows, day - timedelta(hours=26), day, 500)
        # A call of no customer, and one of the deleted company: neither appears anywhere.
        new_calls += [{**new_calls[0], "customer_id": None}, {**new_calls[1], "company_id": DELETED_COMPANY}]
        connection.execute(calls.insert(), new_calls)
        connection.execute(appointments.insert(), _bookings_after(rng, new_calls))


def read_rows(engine: sa.Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return every call and appointment (no text columns), soft-deleted ones included."""
    with engine.connect() as connection:
        call_rows = pd.DataFrame(connection.execute(sa.select(
            calls.c.id, calls.c.company_id, calls.c.customer_id, calls.c.direction, calls.c.status,
            calls.c.call_status, calls.c.created_at, calls.c.duration_sec, calls.c.deleted_at)).mappings().all())
        appointment_rows = pd.DataFrame(connection.execute(sa.select(
            appointments.c.id, appointments.c.company_id, appointments.c.customer_id, appointments.c.starts_at,
            appointments.c.created_at, appointments.c.deleted_at)).mappings().all())
    return call_rows, appointment_rows


def local_day_start(now: datetime, zone: str, days_back: int = 0) -> datetime:
    """Return, in UTC, the local midnight `days_back` days before `now`'s local day (computed independently)."""
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    day: date = local.date() - timedelta(days=days_back)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def nearest_rank_p90(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1] if ordered else None


PLACED_STATUSES = ("ongoing", "in_progress", "completed", "missed", "busy", "no_answer", "failed")


def brute_force_kpis(call_rows: pd.DataFrame, appointment_rows: pd.DataFrame, company_ids: list[int],
                     now: datetime, zone: str, window_hours: int = 2) -> dict[int, dict]:
    """Return each company's figures, read from the rows one by one, as the README defines them."""
    today_start = local_day_start(now, zone)
    live_calls = [row for row in call_rows.to_dict("records") if pd.isna(row["deleted_at"])]
    live_appointments = [row for row in appointment_rows.to_dict("records") if pd.isna(row["deleted_at"])]
    expected = {}
    for company in company_ids:
        today = [c for c in live_calls if c["company_id"] == company and today_start <= c["created_at"] <= now]
        answered = [c for c in today if c["status"] == "completed"]
        lengths = [c["duration_sec"] for c in answered if not pd.isna(c["duration_sec"])]
        booked = [a for a in live_appointments if a["company_id"] == company
                  and today_start <= a["created_at"] <= now and a["starts_at"] >= today_start]
        converted = [c for c in answered if any(
            a["customer_id"] == c["customer_id"] and c["created_at"] <= a["created_at"]
            < c["created_at"] + timedelta(hours=window_hours) for a in booked)]
        ongoing = [c for c in live_calls if c["company_id"] == company
                   and c["status"] in ("ongoing", "in_progress") and c["call_status"] in ("ongoing", "in_progress")
                   and c["created_at"] >= now - timedelta(hours=2)]
        expected[company] = {
            "ongoing": len(ongoing), "calls": len(today),
            "inbound": sum(c["direction"] == "inbound" for c in today),
            "outbound": sum(c["direction"] == "outbound" for c in today),
            "answered": len(answered), "missed": sum(c["status"] in ("missed", "busy", "no_answer") for c in today),
            "failed": sum(c["status"] == "failed" for c in today),
            # a status in no bucket (the default map's), or none: counted, never dropped
            "other": sum(c["status"] not in PLACED_STATUSES for c in today),
            "average_talk": sum(lengths) / len(lengths) if lengths else None,
            "p90_talk": nearest_rank_p90(lengths), "timed": len(lengths),
            "last_call_at": max((c["created_at"] for c in today), default=None),
            "booked": len(booked), "converted": len(converted),
        }
    return expected


def local_day(moment: datetime, zone: str) -> tuple[date, time]:
    local = moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
    return local.date(), local.time().replace(tzinfo=None)


def brute_force_headline(call_rows: pd.DataFrame, appointment_rows: pd.DataFrame, now: datetime,
                         zone: str) -> dict:
    """Return the headline figures, their comparisons and the hours of the chart, row by row on the local clock."""
    today, clock = local_day(now, zone)
    live_calls = [(local_day(row["created_at"], zone), row) for row in call_rows.to_dict("records")
                  if pd.isna(row["deleted_at"]) and row["created_at"] <= now]
    starts = [local_day(row["starts_at"], zone)[0] for row in appointment_rows.to_dict("records")
              if pd.isna(row["deleted_at"]) and row["starts_at"] is not None]
    expected: dict = {}
    for back in (0, 1, 7):
        day = today - timedelta(days=back)
        up_to_now = [row for (local, at), row in live_calls if local == day and at <= clock]
        lengths = [row["duration_sec"] for row in up_to_now if not pd.isna(row["duration_sec"])]
        expected[back] = {"calls": len(up_to_now), "average": sum(lengths) / len(lengths) if lengths else None,
                          "appointments": sum(start == day for start in starts)}
    for name, back in (("today_hours", 0), ("last_week_hours", 7)):
        day = today - timedelta(days=back)
        hours = [0] * 24
        for (local, _), row in live_calls:
            if local == day:
                hours[row["created_at"].replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).hour] += 1
        expected[name] = hours
    return expected


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def kpi_database(request, tmp_path_factory):
    """The seed plus the hand-placed rows, on SQLite and MariaDB, shared by a test module (read only)."""
    from demo.generator import seed_database
    from schema.migrate import migrate

    database = create_test_database(request.param, tmp_path_factory.mktemp("kpis"))
    writer = database.writer()
    migrate(writer)
    seed_database(writer, TEST_PLAN, SEED_NOW)
    add_kpi_rows(writer, SEED_NOW)
    writer.dispose()
    yield database
    drop_test_database(database)


@pytest.fixture(scope="module")
def rows(kpi_database):
    engine = kpi_database.writer()
    yield read_rows(engine)
    engine.dispose()


@pytest.fixture
def kpi_reader(kpi_database):
    engine = kpi_database.reader()
    yield engine
    engine.dispose()
