"""The demo's live simulator: calls start and end, appointments are booked and cancelled.

A background thread takes a step every few seconds on the writer engine:
- calls that have run their course end (mostly completed, some failed), with a
  duration and a provider payload, as the platform records them; calls last
  MEAN_CALL_SECONDS on average, as the seeded ones do;
- new calls start at the load profile's rate for the current hour (LoadProfile),
  scaled to the calls the database holds for the last seven days: the hour being
  lived looks like the same hour of the seeded days (issue 16, item 5);
- a share of the customers whose call completed book an appointment right away,
  and now and then a future one is cancelled.
It runs only in demo mode, on the embedded database, and stops with `stop()`.
"""
from __future__ import annotations

import logging
import math
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from demo.generator import BOOKING_AHEAD_DAYS, BOOKING_SHARE, MEAN_CALL_SECONDS, ONGOING, DemoData, LoadProfile, SeedPlan
from queries.ongoing_calls import ongoing_condition
from queries.timeutil import database_now
from schema.tables import agents, appointments, calls, customers, services

log = logging.getLogger(__name__)

CANCEL_SHARE = 0.1  # bookings after which a future appointment is cancelled
# Without seven days of calls to scale the profile by: the demo plan's week.
FALLBACK_PROFILE = LoadProfile(calls_per_week=10_000)


@dataclass
class StepReport:
    started: int = 0
    ended: int = 0
    booked: int = 0
    cancelled: int = 0


class LiveSimulator:
    """Keeps a demo database moving; one step every `period` seconds."""

    def __init__(self, engine: Engine, period: float = 3.0, clock: Callable[[], datetime] | None = None,
                 random_seed: int | None = None, raw_bytes: int = 16_000):
        self.engine = engine
        self.period = period
        self.clock = clock or database_now
        self.data = DemoData(SeedPlan(raw_bytes=raw_bytes, random_seed=random_seed or random.randrange(1 << 30)),
                             self.clock())
        self.rng = self.data.rng
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loaded = False
        self.profile = FALLBACK_PROFILE

    def _load_reference(self) -> None:
        """Read the customers, agents and services the new rows will point at, and the calls of the last seven
        days, which the load profile is scaled to."""
        with self.engine.connect() as connection:
            self.data.customers = [dict(row._mapping) for row in connection.execute(
                sa.select(customers.c.id, customers.c.company_id, customers.c.name, customers.c.phone))]
            for row in connection.execute(sa.select(agents.c.id, agents.c.company_id)):
                self.data.agents_by_company.setdefault(row.company_id, []).append(row.id)
            for row in connection.execute(sa.select(services.c.id, services.c.company_id)):
                self.data.services_by_company.setdefault(row.company_id, []).append(row.id)
            week = connection.execute(sa.select(sa.func.count()).select_from(calls).where(
                calls.c.created_at > self.clock() - timedelta(days=7))).scalar_one()
        if week:
            self.profile = LoadProfile(calls_per_week=week)
        # Only customers whose company has agents and services can call or book.
        self.data.customers = [c for c in self.data.customers
                               if c["company_id"] in self.data.agents_by_company
                               and c["company_id"] in self.data.services_by_company]
        self._loaded = True

    def step(self) -> StepReport:
        """Move the demo forward by one step and say what changed."""
        if not self._loaded:
            self._load_reference()
        report = StepReport()
        if not self.data.customers:
            return report
        now = self.clock().replace(microsecond=0)
        self.data.now = now
        with self.engine.begin() as connection:
            report.ended, completed = self._end_calls(connection, now)
            report.started = self._start_calls(connection, now)
            report.booked, report.cancelled = self._change_appointments(connection, now, completed)
        return report

    def _end_calls(self, connection: sa.Connection, now: datetime) -> tuple[int, list[tuple[int, int]]]:
        """End the calls whose time has come; return how many, and the customers whose call completed."""
        live = connection.execute(
            sa.select(calls.c.id, calls.c.created_at, calls.c.from_number, calls.c.to_number, calls.c.customer_id,
                      calls.c.company_id)
            .where(ongoing_condition(now))).all()
        ended = 0
        completed = []
        for call in live:
            age = (now - call.created_at).total_seconds()
            # Exponential call lengths: the chance to end within one period.
            if self.rng.random() > min(1.0, self.period / MEAN_CALL_SECONDS) and age < 7000:
                continue
            status, call_status, duration = self.data.finished_outcome()
            duration = int(age) if status == "completed" else duration
            connection.execute(
                calls.update().where(calls.c.id == call.id).values(
                    status=status, call_status=call_status, duration_sec=duration, updated_at=now,
                    raw=self.data.payloads.payload(f"call_{call.id}", call.from_number or "", call.to_number or "",
                                                   call.created_at, call_status, self.rng)))
            ended += 1
            if status == "completed" and call.customer_id is not None and call.company_id is not None:
                completed.append((int(call.customer_id), int(call.company_id)))
        return ended, completed

    def _start_calls(self, connection: sa.Connection, now: datetime) -> int:
        # Arrivals at random (Poisson), at the profile's rate for this hour.
        count = poisson(self.rng, self.profile.rate(now) * self.period / 3600)
        rows = [self.data.call_row(now - timedelta(seconds=self.rng.uniform(0, self.period)),
                                   self.rng.choice(ONGOING), self.rng.choice(ONGOING), None) for _ in range(count)]
        if rows:
            connection.execute(calls.insert(), rows)
        return count

    def _change_appointments(self, connection: sa.Connection, now: datetime,
                             completed: list[tuple[int, int]]) -> tuple[int, int]:
        """Book for a share of the customers whose call just completed; now and then cancel a future one."""
        bookings = [self.data.appointment_row(self.data.appointment_slot(now + timedelta(days=1),
                                                                         now + timedelta(days=BOOKING_AHEAD_DAYS)),
                                              "scheduled", customer_id, company_id, booked=now)
                    for customer_id, company_id in completed
                    if company_id in self.data.services_by_company and self.rng.random() < BOOKING_SHARE]
        if bookings:
            connection.execute(appointments.insert(), bookings)
        booked, cancelled = len(bookings), 0
        if any(self.rng.random() < CANCEL_SHARE for _ in bookings):
            upcoming = connection.execute(
                sa.select(appointments.c.id).where(appointments.c.starts_at > now,
                                                   appointments.c.status.in_(("scheduled", "confirmed")))
                .order_by(appointments.c.starts_at).limit(20)).scalars().all()
            if upcoming:
                connection.execute(appointments.update()
                                   .where(appointments.c.id == self.rng.choice(upcoming))
                                   .values(status="cancelled", updated_at=now))
                cancelled = 1
        return booked, cancelled

    def start(self) -> None:
        """Run steps in a daemon thread until `stop()`."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="switchboard-simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.step()
            except Exception:  # keep the demo alive through a locked or briefly missing database
                log.exception("simulator step failed; trying again next period")


def poisson(rng: random.Random, mean: float) -> int:
    """Return a Poisson-distributed count with this mean (Knuth's method; a normal one for large means)."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
