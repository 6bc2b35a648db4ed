"""The demo's live simulator: calls start and end, appointments are booked and cancelled.

A background thread takes a step every few seconds on the writer engine:
- calls that have run their course end (mostly completed, some failed), with a
  duration and a provider payload, as the platform records them;
- new calls start, keeping the number of ongoing calls near the demo's level;
- now and then an appointment is booked, or a future one cancelled.
It runs only in demo mode, on the embedded database, and stops with `stop()`.
"""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from demo.generator import ONGOING, DemoData, SeedPlan
from queries.ongoing_calls import ongoing_condition
from queries.timeutil import database_now
from schema.tables import agents, appointments, calls, customers, services

log = logging.getLogger(__name__)

TARGET_ONGOING = 125
MEAN_CALL_SECONDS = 240


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

    def _load_reference(self) -> None:
        """Read the customers, agents and services the new rows will point at."""
        with self.engine.connect() as connection:
            self.data.customers = [dict(row._mapping) for row in connection.execute(
                sa.select(customers.c.id, customers.c.company_id, customers.c.name, customers.c.phone))]
            for row in connection.execute(sa.select(agents.c.id, agents.c.company_id)):
                self.data.agents_by_company.setdefault(row.company_id, []).append(row.id)
            for row in connection.execute(sa.select(services.c.id, services.c.company_id)):
                self.data.services_by_company.setdefault(row.company_id, []).append(row.id)
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
            report.ended = self._end_calls(connection, now)
            report.started = self._start_calls(connection, now)
            report.booked, report.cancelled = self._change_appointments(connection, now)
        return report

    def _end_calls(self, connection: sa.Connection, now: datetime) -> int:
        live = connection.execute(
            sa.select(calls.c.id, calls.c.created_at, calls.c.from_number, calls.c.to_number)
            .where(ongoing_condition(now))).all()
        ended = 0
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
        return ended

    def _start_calls(self, connection: sa.Connection, now: datetime) -> int:
        ongoing = connection.execute(sa.select(sa.func.count()).select_from(calls)
                                     .where(ongoing_condition(now))).scalar_one()
        # Steady arrivals, nudged towards the target level.
        expected = TARGET_ONGOING * self.period / MEAN_CALL_SECONDS + (TARGET_ONGOING - ongoing) * 0.05
        count = max(0, int(self.rng.gauss(expected, 1.0) + 0.5))
        rows = [self.data.call_row(now - timedelta(seconds=self.rng.uniform(0, self.period)),
                                   self.rng.choice(ONGOING), self.rng.choice(ONGOING), None) for _ in range(count)]
        if rows:
            connection.execute(calls.insert(), rows)
        return count

    def _change_appointments(self, connection: sa.Connection, now: datetime) -> tuple[int, int]:
        booked = cancelled = 0
        if self.rng.random() < 0.5:
            starts_at = self.data.appointment_slot(now + timedelta(hours=2), now + timedelta(days=14))
            connection.execute(appointments.insert(), [{**self.data.appointment_row(starts_at, "scheduled"),
                                                        "created_at": now, "updated_at": now}])
            booked = 1
        if self.rng.random() < 0.15:
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
