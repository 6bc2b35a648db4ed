"""The demo's live simulator: calls start and end, appointments are booked and cancelled.

A background thread takes a step every few seconds on the writer engine:
- calls that have run their course end (mostly completed, some failed), with a
  duration and a provider payload, as the platform records them; calls last
  MEAN_CALL_SECONDS on average, as the seeded ones do;
- new calls start at the load profile's rate for the current local hour of the
  companies (LoadProfile), scaled to the calls the database holds for the last
  seven days: the hour being lived looks like the same hour of the seeded days;
- the page never stands still: when no call has started or ended for
  QUIET_LIMIT_SECONDS (a quiet night), the step starts the next call early, and
  the arrivals that follow make up for it, so the hour's calls stay the
  profile's (on a database too thin to make up for them, it ends the
  longest-running call instead while more are ongoing than the profile has);
- as on real platforms, the provider's end of a call is now and then lost: one
  call in STUCK_EVERY stays `in_progress` for good (stuck, once past the ongoing
  window), one in MISMATCH_EVERY gets its `call_status` ended but keeps its
  `status` (the two columns disagree);
- a share of the customers whose call completed book an appointment right away,
  and now and then a future one is cancelled.
It runs only in demo mode, on the embedded database, and stops with `stop()`.
"""
from __future__ import annotations

import logging
import math
import random
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from demo.generator import (BOOKING_AHEAD_DAYS, BOOKING_SHARE, COMPANY_TIMEZONE, MEAN_CALL_SECONDS, ONGOING, DemoData,
                            LoadProfile, SeedPlan)
from queries.ongoing_calls import ongoing_condition
from queries.timeutil import database_now
from schema.tables import agents, appointments, calls, customers, services

log = logging.getLogger(__name__)

CANCEL_SHARE = 0.1  # bookings after which a future appointment is cancelled
# Without seven days of calls to scale the profile by: the demo plan's week.
FALLBACK_PROFILE = LoadProfile(calls_per_week=90_000)
# Longest the demo's calls stand still: under the feed's 15 s poll, so every grid changes between two polls even on
# a Sunday night, when a call starts or ends every 6 s on average and 15 s pass without either about one time in ten.
QUIET_LIMIT_SECONDS = 10.0
# Calls whose end the provider never reports (by call id, so a call's fate holds from one step to the next).
STUCK_EVERY = 1_000
MISMATCH_EVERY = 1_500
LONGEST_CALL_SECONDS = 7_000  # a call still running this long is ended, unless it is one of the stuck ones
EARLY_STARTS_MAX = 10  # calls started early that the arrivals have not made up for yet, at most


@dataclass
class StepReport:
    started: int = 0
    ended: int = 0
    booked: int = 0
    cancelled: int = 0


class LiveSimulator:
    """Keeps a demo database moving; one step every `period` seconds."""

    def __init__(self, engine: Engine, period: float = 3.0, clock: Callable[[], datetime] | None = None,
                 random_seed: int | None = None, raw_bytes: int = 16_000, timezone: str = COMPANY_TIMEZONE):
        self.engine = engine
        self.period = period
        self.clock = clock or database_now
        self.data = DemoData(SeedPlan(raw_bytes=raw_bytes, random_seed=random_seed or random.randrange(1 << 30)),
                             self.clock())
        self.rng = self.data.rng
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loaded = False
        self.timezone = timezone
        self.profile = replace(FALLBACK_PROFILE, timezone=timezone)
        self.last_change: datetime | None = None  # when a call last started or ended
        self.started_early = 0  # calls started ahead of their arrival, which the next arrivals make up for

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
            self.profile = LoadProfile(calls_per_week=week, timezone=self.timezone)
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
            if report.started or report.ended:
                self.last_change = now
            elif self.last_change is None:
                self.last_change = now
            elif (now - self.last_change).total_seconds() >= QUIET_LIMIT_SECONDS:
                report.started, report.ended, completed = self._break_the_quiet(connection, now)
                self.last_change = now
            report.booked, report.cancelled = self._change_appointments(connection, now, completed)
        return report

    def _break_the_quiet(self, connection: sa.Connection, now: datetime) -> tuple[int, int, list[tuple[int, int]]]:
        """Start the next call early; or, with EARLY_STARTS_MAX not made up for yet (a rate too low to repay them)
        and more calls ongoing than the profile has now, end the longest-running one. Return (started, ended,
        customers whose call completed)."""
        ongoing = connection.execute(sa.select(sa.func.count()).select_from(calls)
                                     .where(ongoing_condition(now))).scalar_one()
        if self.started_early < EARLY_STARTS_MAX or ongoing <= self.profile.ongoing(now):
            self._insert_calls(connection, now, 1)
            # Beyond EARLY_STARTS_MAX (a rate too low to repay them) an early start is an extra call.
            self.started_early = min(self.started_early + 1, EARLY_STARTS_MAX)
            return 1, 0, []
        oldest = connection.execute(
            sa.select(calls.c.id, calls.c.created_at, calls.c.from_number, calls.c.to_number, calls.c.customer_id,
                      calls.c.company_id)
            .where(ongoing_condition(now), calls.c.id % STUCK_EVERY != 0)
            .order_by(calls.c.created_at).limit(1)).first()
        if oldest is None:
            return 0, 0, []
        return 0, 1, self._end(connection, oldest, now)

    def _end_calls(self, connection: sa.Connection, now: datetime) -> tuple[int, list[tuple[int, int]]]:
        """End the calls whose time has come; return how many, and the customers whose call completed."""
        live = connection.execute(
            sa.select(calls.c.id, calls.c.created_at, calls.c.from_number, calls.c.to_number, calls.c.customer_id,
                      calls.c.company_id)
            .where(ongoing_condition(now))).all()
        ended = 0
        completed = []
        for call in live:
            if call.id % STUCK_EVERY == 0:
                continue  # the provider never reports its end: it stays in_progress
            age = (now - call.created_at).total_seconds()
            # Exponential call lengths: the chance to end within one period.
            if self.rng.random() > min(1.0, self.period / MEAN_CALL_SECONDS) and age < LONGEST_CALL_SECONDS:
                continue
            completed += self._end(connection, call, now)
            ended += 1
        return ended, completed

    def _end(self, connection: sa.Connection, call: sa.Row, now: datetime) -> list[tuple[int, int]]:
        """End one call as the platform records it; return its customer and company when it completed."""
        age = (now - call.created_at).total_seconds()
        status, call_status, duration = self.data.finished_outcome()
        duration = int(age) if status == "completed" else duration
        raw = self.data.payloads.payload(f"call_{call.id}", call.from_number or "", call.to_number or "",
                                         call.created_at, call_status, self.rng)
        if call.id % MISMATCH_EVERY == 0:
            # The provider's end arrived in call_status, the platform's own status and length never followed.
            connection.execute(calls.update().where(calls.c.id == call.id).values(
                call_status="ended", updated_at=now, raw=raw))
            return []
        connection.execute(calls.update().where(calls.c.id == call.id).values(
            status=status, call_status=call_status, duration_sec=duration, updated_at=now, raw=raw))
        if status == "completed" and call.customer_id is not None and call.company_id is not None:
            return [(int(call.customer_id), int(call.company_id))]
        return []

    def _start_calls(self, connection: sa.Connection, now: datetime) -> int:
        """Start the calls arriving in this step (Poisson, at the profile's rate for this hour), but those started
        early for them."""
        arrivals = poisson(self.rng, self.profile.rate(now) * self.period / 3600)
        made_up = min(arrivals, self.started_early)
        self.started_early -= made_up
        return self._insert_calls(connection, now, arrivals - made_up)

    def _insert_calls(self, connection: sa.Connection, now: datetime, count: int) -> int:
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
