"""Realistic generated data for the demo, the tests and the benchmarks.

Several companies with their customers, agents and services; calls spread over
the last 90 days with a working-day, hour-of-day load curve, an inbound/outbound
mix and log-normal durations, each with a provider payload (`raw`) of about
16 KB; about 125 calls ongoing now; stale `in_progress` calls older than two
hours and calls whose two status columns disagree (neither may count as
ongoing); appointments in the past and the future.

Rows go in by batched executemany, which PyMySQL and mysqlclient send as
multi-row INSERTs.
"""
from __future__ import annotations

import json
import math
import random
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine, create_engine

from schema.tables import agents, appointments, calls, companies, customers, services

COMPANY_NAMES = ("Praxis Dr. Berger", "Salon Lumière", "Autohaus Nord", "Kanzlei Weiss & Partner",
                 "Physio am Park", "Tierklinik Süd", "Zahnzentrum Mitte", "Fahrschule Lenz")
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannah", "Ivan", "Jonas",
               "Katrin", "Lukas", "Mara", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Sven", "Tara",
               "Umut", "Vera", "Wim", "Xenia", "Yusuf", "Zoe", "Émile", "Søren", "Ana María", "Chloé")
LAST_NAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
              "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
              "Zimmermann", "Braun", "Krüger", "Hofmann", "Yılmaz", "Kowalski", "O'Brien", "García")
AGENT_NAMES = ("Lea (reception)", "Max (booking)", "Sophie (after hours)", "Tom (reminders)",
               "Mia (overflow)", "Jan (outbound)")
SERVICE_NAMES = ("First consultation", "Follow-up", "Check-up", "Cleaning", "Haircut", "Colour",
                 "Test drive", "Inspection", "Legal advice", "Massage", "Vaccination", "Driving lesson")
# Relative call load per hour of the day (local business hours peak mid-morning and mid-afternoon).
HOURLY_LOAD = (0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2.0, 5.0, 8.0, 9.0, 8.5,
               6.0, 6.5, 8.0, 8.5, 7.5, 6.0, 4.0, 2.5, 1.5, 1.0, 0.6, 0.3)
WEEKDAY_LOAD = (1.0, 1.0, 0.95, 0.95, 0.9, 0.45, 0.15)
PAST_CALL_OUTCOMES = (("completed", "ended", 0.86), ("failed", "error", 0.03), ("missed", "not_connected", 0.06),
                      ("busy", "not_connected", 0.03), ("no_answer", "not_connected", 0.02))
ONGOING = ("ongoing", "in_progress")
BATCH_ROWS = 100  # about 1.6 MB of payloads a statement, well under max_allowed_packet
WRITER_THREADS = 2


@dataclass(frozen=True)
class SeedPlan:
    calls: int = 20_000
    appointments: int = 5_000
    companies: int = 5
    customers_per_company: int = 400
    agents_per_company: int = 4
    services_per_company: int = 6
    ongoing: int = 125
    stale_in_progress: int = 40
    mismatched_status: int = 15
    days: int = 90
    raw_bytes: int = 16_000
    random_seed: int = 20251002


@dataclass(frozen=True)
class SeedSummary:
    companies: int
    customers: int
    agents: int
    services: int
    calls: int
    appointments: int
    ongoing: int


class PayloadFactory:
    """Builds provider payloads of about `size` bytes from a small pool of transcripts."""

    def __init__(self, rng: random.Random, size: int, pool: int = 32):
        self.size = size
        self.transcripts = [json.dumps(self._transcript(rng, max(size - 300, 0))) for _ in range(pool)]

    @staticmethod
    def _transcript(rng: random.Random, size: int) -> list[dict]:
        lines = ("Hello, you have reached the front desk, how can I help?",
                 "I would like to book an appointment for next week, please.",
                 "Of course. Could you tell me your name and date of birth?",
                 "Tuesday at ten would suit me, or Wednesday afternoon.",
                 "I have booked you in; you will receive a confirmation by SMS.",
                 "Could I move my appointment? Something came up at work.",
                 "Thank you for calling, goodbye!")
        turns, length = [], 0
        while length < size:
            turn = {"role": rng.choice(("agent", "user")), "content": rng.choice(lines),
                    "words": [{"w": w, "s": round(rng.random() * 30, 2)} for w in rng.choice(lines).split()[:4]]}
            length += len(json.dumps(turn)) + 2
            turns.append(turn)
        return turns

    def payload(self, call_id: str, from_number: str, to_number: str, started: datetime,
                status: str, rng: random.Random) -> str:
        head = json.dumps({
            "call_id": call_id, "from_number": from_number, "to_number": to_number,
            "start_timestamp": int(started.timestamp() * 1000), "call_status": status,
            "latency": {"llm": {"p50": rng.randint(300, 900)}, "tts": {"p50": rng.randint(100, 400)}},
        })
        # The transcripts are serialised once; splicing one in keeps 200,000 payloads cheap.
        return head[:-1] + ', "transcript_object": ' + rng.choice(self.transcripts) + "}"


def _phone(rng: random.Random) -> str:
    return "+49" + rng.choice(("30", "40", "89", "221", "69")) + str(rng.randint(1_000_000, 99_999_999))


def _weighted_moment(rng: random.Random, now: datetime, days: int) -> datetime:
    """Return a moment in the last `days` days that follows the weekly and hourly load."""
    while True:
        day = now - timedelta(days=rng.random() * days)
        if rng.random() > WEEKDAY_LOAD[day.weekday()]:
            continue
        hour = rng.choices(range(24), weights=HOURLY_LOAD)[0]
        moment = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60), microsecond=0)
        if now - timedelta(days=days) <= moment <= now - timedelta(hours=2):
            return moment


def _batches(rows: Iterator[dict], size: int = BATCH_ROWS) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class DemoData:
    """Generates the rows of one demo database, reproducibly from the plan's seed."""

    def __init__(self, plan: SeedPlan, now: datetime):
        self.plan = plan
        self.now = now.replace(microsecond=0)
        self.rng = random.Random(plan.random_seed)
        self.payloads = PayloadFactory(self.rng, plan.raw_bytes)
        self.customers: list[dict] = []
        self.agents_by_company: dict[int, list[int]] = {}
        self.services_by_company: dict[int, list[int]] = {}

    def reference_rows(self) -> dict[sa.Table, list[dict]]:
        """Return companies, customers, agents and services, with explicit ids."""
        plan, rng = self.plan, self.rng
        stamp = self.now - timedelta(days=plan.days + 30)
        rows: dict[sa.Table, list[dict]] = {companies: [], customers: [], agents: [], services: []}
        for company_id in range(1, plan.companies + 1):
            name = COMPANY_NAMES[(company_id - 1) % len(COMPANY_NAMES)]
            rows[companies].append({"id": company_id, "name": name, "settings": json.dumps({"locale": "de"}),
                                    "created_at": stamp, "updated_at": stamp})
            for _ in range(plan.customers_per_company):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                customer = {"id": len(rows[customers]) + 1, "company_id": company_id, "name": f"{first} {last}",
                            "phone": _phone(rng), "email": f"{first}.{last}@example.org".lower().replace(" ", ""),
                            "notes": "Prefers mornings.", "created_at": stamp, "updated_at": stamp}
                rows[customers].append(customer)
            for index in range(plan.agents_per_company):
                agent_id = len(rows[agents]) + 1
                self.agents_by_company.setdefault(company_id, []).append(agent_id)
                rows[agents].append({"id": agent_id, "company_id": company_id,
                                     "name": AGENT_NAMES[index % len(AGENT_NAMES)], "prompt": "You are polite.",
                                     "created_at": stamp, "updated_at": stamp})
            for index in range(plan.services_per_company):
                service_id = len(rows[services]) + 1
                self.services_by_company.setdefault(company_id, []).append(service_id)
                rows[services].append({"id": service_id, "company_id": company_id,
                                       "name": SERVICE_NAMES[(company_id + index) % len(SERVICE_NAMES)],
                                       "duration_minutes": rng.choice((15, 30, 45, 60)),
                                       "description": "", "created_at": stamp, "updated_at": stamp})
        self.customers = rows[customers]
        return rows

    def call_row(self, created_at: datetime, status: str, call_status: str, duration: int | None) -> dict:
        """Return one call of a random customer at `created_at`."""
        rng = self.rng
        customer = rng.choice(self.customers)
        company_id = customer["company_id"]
        direction = "inbound" if rng.random() < 0.7 else "outbound"
        company_line = "+4930" + str(5_000_000 + company_id)
        from_number, to_number = ((customer["phone"], company_line) if direction == "inbound"
                                  else (company_line, customer["phone"]))
        finished = duration is not None
        return {
            "company_id": company_id, "customer_id": customer["id"],
            "agent_id": rng.choice(self.agents_by_company[company_id]),
            "customer_name": customer["name"], "from_number": from_number, "to_number": to_number,
            "direction": direction, "status": status, "call_status": call_status,
            "start_timestamp": created_at + timedelta(seconds=rng.randint(1, 6)), "called_at": created_at,
            "duration_sec": duration,
            "raw": self.payloads.payload(f"call_{rng.getrandbits(64):016x}", from_number, to_number,
                                         created_at, call_status, rng),
            "transcript": None if not finished else "agent: Hello!\nuser: I'd like an appointment.",
            "analysis": None if not finished else json.dumps({"sentiment": rng.choice(("positive", "neutral"))}),
            "created_at": created_at,
            "updated_at": created_at + timedelta(seconds=duration or 0),
        }

    def finished_outcome(self) -> tuple[str, str, int | None]:
        """Return (status, call_status, duration) of a call that has ended."""
        status, call_status, _ = self.rng.choices(PAST_CALL_OUTCOMES, weights=[o[2] for o in PAST_CALL_OUTCOMES])[0]
        if status == "completed":
            return status, call_status, max(5, int(self.rng.lognormvariate(math.log(150), 0.7)))
        return status, call_status, (self.rng.randint(0, 20) if status == "failed" else 0)

    def calls(self) -> Iterator[dict]:
        """Yield every call: past ones, ongoing ones, stale and mismatched ones."""
        plan, rng, now = self.plan, self.rng, self.now
        special = plan.ongoing + plan.stale_in_progress + plan.mismatched_status
        for _ in range(max(plan.calls - special, 0)):
            yield self.call_row(_weighted_moment(rng, now, plan.days), *self.finished_outcome())
        for _ in range(plan.ongoing):
            # Most live calls began minutes ago; a few long ones began up to two hours ago.
            age = rng.expovariate(1 / 240) if rng.random() < 0.9 else rng.uniform(900, 7000)
            yield self.call_row(now - timedelta(seconds=min(age, 7100)), rng.choice(ONGOING), rng.choice(ONGOING), None)
        for _ in range(plan.stale_in_progress):
            # The provider never closed these: older than two hours, still "in progress".
            yield self.call_row(now - timedelta(hours=2, minutes=1) - timedelta(seconds=rng.uniform(0, 10 * 86400)),
                                "in_progress", "in_progress", None)
        for _ in range(plan.mismatched_status):
            # The two status columns disagree: not ongoing by the platform's definition.
            yield self.call_row(now - timedelta(seconds=rng.uniform(0, 7000)), rng.choice(ONGOING), "ended", None)

    def appointment_row(self, starts_at: datetime, status: str) -> dict:
        rng = self.rng
        customer = rng.choice(self.customers)
        booked = min(starts_at - timedelta(days=rng.uniform(0.5, 21)), self.now)
        return {"company_id": customer["company_id"], "customer_id": customer["id"],
                "service_id": rng.choice(self.services_by_company[customer["company_id"]]),
                "starts_at": starts_at, "ends_at": starts_at + timedelta(minutes=30), "status": status,
                "notes": None, "created_at": booked, "updated_at": booked}

    def appointment_slot(self, earliest: datetime, latest: datetime) -> datetime:
        """Return a quarter-hour slot in business hours between the two moments."""
        rng = self.rng
        moment = earliest + timedelta(seconds=rng.uniform(0, max((latest - earliest).total_seconds(), 1)))
        return moment.replace(hour=rng.randint(8, 17), minute=rng.choice((0, 15, 30, 45)),
                              second=0, microsecond=0)

    def appointments(self) -> Iterator[dict]:
        """Yield appointments over the last `days` days and the next 30."""
        plan, rng, now = self.plan, self.rng, self.now
        for _ in range(plan.appointments):
            starts_at = self.appointment_slot(now - timedelta(days=plan.days), now + timedelta(days=30))
            if starts_at <= now:
                status = rng.choices(("completed", "no_show", "cancelled"), weights=(85, 5, 10))[0]
            else:
                status = rng.choices(("scheduled", "confirmed", "cancelled"), weights=(60, 32, 8))[0]
            yield self.appointment_row(starts_at, status)


def database_is_empty(engine: Engine) -> bool:
    """Tell whether the platform tables hold no calls, appointments or companies."""
    with engine.connect() as connection:
        return all(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
                   for table in (companies, calls, appointments))


def _bulk_engine(engine: Engine) -> Engine:
    """Return the engine to bulk-load with: mysqlclient's C escaping when it is installed.

    PyMySQL escapes every value in Python, which for 3 GB of payloads costs more
    than the server's own work; the data and the database are the same either way.
    """
    url = engine.url
    if url.get_backend_name() in {"mysql", "mariadb"} and url.get_driver_name() == "pymysql":
        try:
            import MySQLdb  # noqa: F401  (mysqlclient)
        except ImportError:
            return engine
        return create_engine(url.set(drivername=f"{url.get_backend_name()}+mysqldb"))
    return engine


def _insert_batches(engine: Engine, batches: Iterator[tuple[sa.Table, list[dict]]],
                    on_progress: Callable[[int], None] | None) -> None:
    """Insert batches, on two connections at once where the server is a separate process."""
    writers = 1 if engine.dialect.name == "sqlite" else WRITER_THREADS

    def insert(table: sa.Table, batch: list[dict]) -> int:
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                # Compiled once, run in C: the cheapest way into SQLite.
                connection.execute(table.insert(), batch)
            else:
                # One multi-row INSERT a batch: mysqlclient's executemany would send 64 KB statements,
                # four 16 KB rows each, and a round trip per statement costs more than compiling.
                connection.execute(table.insert().values(batch))
        return len(batch)

    with ThreadPoolExecutor(max_workers=writers) as pool:
        pending: deque[Future] = deque()
        for table, batch in batches:
            pending.append(pool.submit(insert, table, batch))
            while len(pending) > writers * 2 or (pending and pending[0].done()):
                done = pending.popleft().result()
                if on_progress:
                    on_progress(done)
        for future in pending:
            done = future.result()
            if on_progress:
                on_progress(done)


def seed_database(engine: Engine, plan: SeedPlan, now: datetime,
                  on_progress: Callable[[int], None] | None = None) -> SeedSummary:
    """Fill the (empty) platform tables with the plan's data; report rows as they go in."""
    data = DemoData(plan, now)
    reference = data.reference_rows()
    with engine.begin() as connection:
        for table, rows in reference.items():
            connection.execute(table.insert(), rows)
    bulk = _bulk_engine(engine)
    batches = ((table, batch) for table, rows in ((calls, data.calls()), (appointments, data.appointments()))
               for batch in _batches(rows))
    try:
        _insert_batches(bulk, batches, on_progress)
    finally:
        if bulk is not engine:
            bulk.dispose()
    if engine.dialect.name in {"mysql", "mariadb"}:
        with engine.connect() as connection:
            # Fresh statistics, so the optimizer plans with the rows just loaded.
            connection.exec_driver_sql("ANALYZE TABLE companies, customers, agents, services, calls, appointments").all()
    return SeedSummary(companies=len(reference[companies]), customers=len(reference[customers]),
                       agents=len(reference[agents]), services=len(reference[services]),
                       calls=plan.calls, appointments=plan.appointments, ongoing=plan.ongoing)
