"""Realistic generated data for the demo, the tests and the benchmarks.

Several companies with their customers, agents and the services of their trade;
calls spread over the last `days` days (up to now: every finished call has ended)
following one load profile (LoadProfile: the companies' local hour and weekday,
which the live simulator follows too), an inbound/outbound mix and log-normal
durations, each with a provider payload (`raw`); calls ongoing now (125, or as many
as the profile has at that hour), whose ages are a few minutes as real ones are;
calls stuck in `in_progress` (the provider never closed them, up to ten days old)
and calls whose two status columns disagree (neither may count as ongoing);
appointments in the past and the future, a share of them booked right after a
completed call of the same customer.

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
from datetime import datetime, timedelta, timezone
from functools import cached_property
from itertools import accumulate
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine, create_engine

from schema.tables import agents, appointments, calls, companies, customers, services

# Each company with the services of its trade: a salon offers cuts, not test drives.
COMPANY_TRADES = (
    ("Praxis Dr. Berger", ("First consultation", "Follow-up", "Check-up", "Vaccination", "Blood test", "Sick note")),
    ("Salon Lumière", ("Haircut", "Colour", "Blow-dry", "Highlights", "Beard trim", "Perm")),
    ("Autohaus Nord", ("Test drive", "Inspection", "Tyre change", "Oil service", "Trade-in valuation", "Repair")),
    ("Kanzlei Weiss & Partner", ("Initial consultation", "Legal advice", "Contract review", "Notary appointment",
                                 "Tenancy law", "Employment law")),
    ("Physio am Park", ("Physiotherapy", "Massage", "Manual therapy", "Lymphatic drainage", "Sports rehab",
                        "Back class")),
    ("Tierklinik Süd", ("Vaccination", "Check-up", "Dental cleaning", "Neutering", "Emergency", "Microchip")),
    ("Zahnzentrum Mitte", ("Cleaning", "Check-up", "Filling", "Whitening", "Root canal", "Consultation")),
    ("Fahrschule Lenz", ("Driving lesson", "Theory lesson", "Motorway lesson", "Night drive", "Mock test",
                         "Driving test")),
)
# A platform with more companies than trades has branches: "Salon Lumière Hamburg".
BRANCH_CITIES = ("Hamburg", "München", "Köln", "Leipzig", "Dresden", "Bremen", "Essen", "Bonn", "Kiel", "Mainz",
                 "Ulm", "Jena", "Trier", "Passau", "Lübeck", "Erfurt", "Rostock", "Kassel", "Aachen", "Freiburg")
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannah", "Ivan", "Jonas",
               "Katrin", "Lukas", "Mara", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Sven", "Tara",
               "Umut", "Vera", "Wim", "Xenia", "Yusuf", "Zoe", "Émile", "Søren", "Ana María", "Chloé")
LAST_NAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
              "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
              "Zimmermann", "Braun", "Krüger", "Hofmann", "Yılmaz", "Kowalski", "O'Brien", "García")
AGENT_NAMES = ("Lea (reception)", "Max (booking)", "Sophie (after hours)", "Tom (reminders)",
               "Mia (overflow)", "Jan (outbound)")
# The one load profile of the demo (LoadProfile), on the companies' local clock: AI agents answer around the clock,
# so every hour has AROUND_THE_CLOCK_LOAD (people calling after hours, on Sundays, at night), and on top of it the
# business day: relative calls per local hour (peaks mid-morning and mid-afternoon) times the weekday's share
# (Monday first). The night is about a quarter of a weekday's peak, never empty.
AROUND_THE_CLOCK_LOAD = 3.0
HOURLY_LOAD = (0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2.0, 5.0, 8.0, 9.0, 8.5,
               6.0, 6.5, 8.0, 8.5, 7.5, 6.0, 4.0, 2.5, 1.5, 1.0, 0.6, 0.3)
WEEKDAY_LOAD = (1.0, 1.0, 0.95, 0.95, 0.9, 0.45, 0.15)
# The companies are German: their day, and so the profile's hours, are Berlin's (summer time included).
COMPANY_TIMEZONE = "Europe/Berlin"
PAST_CALL_OUTCOMES = (("completed", "ended", 0.86), ("failed", "error", 0.03), ("missed", "not_connected", 0.06),
                      ("busy", "not_connected", 0.03), ("no_answer", "not_connected", 0.02))
ONGOING = ("ongoing", "in_progress")
WEEK_WEIGHT = 24 * 7 * AROUND_THE_CLOCK_LOAD + sum(HOURLY_LOAD) * sum(WEEKDAY_LOAD)
COMPLETED_MEDIAN_SECONDS = 150
COMPLETED_SIGMA = 0.7
# The mean length of a completed call (log-normal: median·e^(σ²/2)), which is how long an ongoing call lasts on
# average: the simulator ends calls at this pace, and ongoing calls are this many seconds of arrivals.
MEAN_CALL_SECONDS = COMPLETED_MEDIAN_SECONDS * math.exp(COMPLETED_SIGMA ** 2 / 2)
BOOKING_SHARE = 0.35  # completed calls whose customer books an appointment right after
BOOKING_DELAY_SECONDS = 1_200  # ... within this long after the call ends
BOOKING_AHEAD_DAYS = 7  # ... for a slot within the next week
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
    ongoing: int | None = 125  # None: as many as the load profile has ongoing at `now`
    stale_in_progress: int = 40
    mismatched_status: int = 15
    days: int = 90
    raw_bytes: int = 16_000
    random_seed: int = 20251002
    timezone: str = COMPANY_TIMEZONE  # the companies' clock, which the load profile's hours are read on


@dataclass(frozen=True)
class LoadProfile:
    """Calls per hour through the week: one shape (AROUND_THE_CLOCK_LOAD + HOURLY_LOAD × WEEKDAY_LOAD) scaled to
    the calls of a week.

    The seeded history is drawn from it and the live simulator starts calls at its rate for the current hour,
    so the hour being lived looks like the same hour of the days before. Moments are the database's (naive UTC);
    the hour and weekday they fall on are read in `timezone`, the companies' own, so 10:00 in Berlin is busy in
    winter (09:00 UTC) and in summer (08:00 UTC) alike."""

    calls_per_week: float
    timezone: str = COMPANY_TIMEZONE

    @classmethod
    def of_plan(cls, plan: "SeedPlan") -> "LoadProfile":
        return cls(plan_history_calls(plan) * 7 / plan.days, plan.timezone)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def weight(self, moment: datetime) -> float:
        """Return the profile's relative load at `moment` (naive UTC), by the local hour and weekday there."""
        local = moment.replace(tzinfo=timezone.utc).astimezone(self.zone)
        return AROUND_THE_CLOCK_LOAD + HOURLY_LOAD[local.hour] * WEEKDAY_LOAD[local.weekday()]

    def rate(self, moment: datetime) -> float:
        """Return the calls an hour the profile expects at `moment`."""
        return self.calls_per_week * self.weight(moment) / WEEK_WEIGHT

    def ongoing(self, moment: datetime) -> float:
        """Return how many calls are ongoing at `moment` on average: the rate times a call's mean length."""
        return self.rate(moment) * MEAN_CALL_SECONDS / 3600


def planned_ongoing(plan: "SeedPlan", now: datetime) -> int:
    """Return how many calls the plan has ongoing at `now`: its number, or the profile's."""
    return plan.ongoing if plan.ongoing is not None else round(LoadProfile.of_plan(plan).ongoing(now))


def plan_history_calls(plan: "SeedPlan") -> int:
    """Return the finished calls of the plan's history (its calls but the ongoing, stale and mismatched ones)."""
    return max(plan.calls - (plan.ongoing or 0) - plan.stale_in_progress - plan.mismatched_status, 0)


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


class MomentSampler:
    """Draws moments of the last `days` days (up to now) that follow the load profile.

    Each hour of the window weighs what the profile says for it in the companies' zone, so a day with a summer
    time change has its 23 or 25 hours, and today's hours so far get as many calls as the same hours of the days
    before: a comparison with yesterday at this time reads the profile, not the sampling."""

    def __init__(self, profile: LoadProfile, now: datetime, days: int):
        self.now = now
        first = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        self.hours = [first + timedelta(hours=index)
                      for index in range(int((now - first).total_seconds() // 3600) + 1)]
        self.cumulative = list(accumulate(profile.weight(hour) for hour in self.hours))

    def moment(self, rng: random.Random, ended_by: float = 0.0) -> datetime:
        """Return a moment at least `ended_by` seconds before now (a finished call of that length has ended)."""
        latest = self.now - timedelta(seconds=ended_by + 5)
        while True:
            hour = rng.choices(self.hours, cum_weights=self.cumulative)[0]
            moment = hour + timedelta(seconds=rng.randrange(3600))
            if moment <= latest:
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
        self.completed: list[tuple[int, int, datetime]] = []  # (customer, company, ended at) of finished calls

    def reference_rows(self) -> dict[sa.Table, list[dict]]:
        """Return companies, customers, agents and services, with explicit ids."""
        plan, rng = self.plan, self.rng
        stamp = self.now - timedelta(days=plan.days + 30)
        rows: dict[sa.Table, list[dict]] = {companies: [], customers: [], agents: [], services: []}
        for company_id in range(1, plan.companies + 1):
            name, trade = company_trade(company_id)
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
                rows[services].append({"id": service_id, "company_id": company_id, "name": trade[index % len(trade)],
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
            return status, call_status, max(5, int(self.rng.lognormvariate(math.log(COMPLETED_MEDIAN_SECONDS),
                                                                            COMPLETED_SIGMA)))
        return status, call_status, (self.rng.randint(0, 20) if status == "failed" else 0)

    def calls(self) -> Iterator[dict]:
        """Yield every call: past ones, ongoing ones, stale and mismatched ones."""
        plan, rng, now = self.plan, self.rng, self.now
        moments = MomentSampler(LoadProfile.of_plan(plan), now, plan.days)
        for _ in range(plan_history_calls(plan)):
            status, call_status, duration = self.finished_outcome()
            row = self.call_row(moments.moment(rng, ended_by=duration or 0), status, call_status, duration)
            if status == "completed":
                self.completed.append((row["customer_id"], row["company_id"],
                                       row["created_at"] + timedelta(seconds=duration or 0)))
            yield row
        for _ in range(planned_ongoing(plan, now)):
            # How long a call in progress has run: as long as lengths are exponential, its age is too, with the
            # same mean (a few minutes; hardly ever half an hour).
            age = min(rng.expovariate(1 / MEAN_CALL_SECONDS), 7000)
            yield self.call_row(now - timedelta(seconds=age), rng.choice(ONGOING), rng.choice(ONGOING), None)
        for _ in range(plan.stale_in_progress):
            # The provider never closed these: older than two hours, still "in progress".
            yield self.call_row(now - timedelta(hours=2, minutes=1) - timedelta(seconds=rng.uniform(0, 10 * 86400)),
                                "in_progress", "in_progress", None)
        for _ in range(plan.mismatched_status):
            # The two status columns disagree: not ongoing by the platform's definition.
            yield self.call_row(now - timedelta(seconds=rng.uniform(0, 7000)), rng.choice(ONGOING), "ended", None)

    def appointment_row(self, starts_at: datetime, status: str, customer_id: int | None = None,
                        company_id: int | None = None, booked: datetime | None = None) -> dict:
        """Return an appointment (of a random customer unless one is given), booked at `booked` or some days
        before its slot, never after now."""
        rng = self.rng
        if customer_id is None or company_id is None:
            customer = rng.choice(self.customers)
            customer_id, company_id = customer["id"], customer["company_id"]
        if booked is None:
            earliest = self.now - timedelta(days=self.plan.days)
            latest = max(min(starts_at - timedelta(hours=12), self.now), earliest)
            booked = earliest + (latest - earliest) * rng.random()
        return {"company_id": company_id, "customer_id": customer_id,
                "service_id": rng.choice(self.services_by_company[company_id]),
                "starts_at": starts_at, "ends_at": starts_at + timedelta(minutes=30), "status": status,
                "notes": None, "created_at": booked, "updated_at": booked}

    def appointment_slot(self, earliest: datetime, latest: datetime) -> datetime:
        """Return a quarter-hour slot in business hours between the two moments."""
        rng = self.rng
        moment = earliest + timedelta(seconds=rng.uniform(0, max((latest - earliest).total_seconds(), 1)))
        return moment.replace(hour=rng.randint(8, 17), minute=rng.choice((0, 15, 30, 45)),
                              second=0, microsecond=0)

    def booking_after(self, customer_id: int, company_id: int, ended: datetime) -> dict:
        """Return the appointment a customer books just after a call that ended at `ended`."""
        booked = min(ended + timedelta(seconds=self.rng.uniform(0, BOOKING_DELAY_SECONDS)), self.now)
        starts_at = self.appointment_slot(booked + timedelta(days=1), booked + timedelta(days=BOOKING_AHEAD_DAYS))
        return self.appointment_row(starts_at, self.appointment_status(starts_at), customer_id, company_id, booked)

    def appointment_status(self, starts_at: datetime) -> str:
        if starts_at <= self.now:
            return self.rng.choices(("completed", "no_show", "cancelled"), weights=(85, 5, 10))[0]
        return self.rng.choices(("scheduled", "confirmed", "cancelled"), weights=(60, 32, 8))[0]

    def appointments(self) -> Iterator[dict]:
        """Yield appointments: bookings right after BOOKING_SHARE of the completed calls (as many as the plan
        has), the rest booked days ahead, over the last `days` days and the next 30."""
        plan, rng, now = self.plan, self.rng, self.now
        after_calls = rng.sample(self.completed, min(plan.appointments, round(len(self.completed) * BOOKING_SHARE)))
        for customer_id, company_id, ended in after_calls:
            yield self.booking_after(customer_id, company_id, ended)
        for _ in range(plan.appointments - len(after_calls)):
            starts_at = self.appointment_slot(now - timedelta(days=plan.days), now + timedelta(days=30))
            yield self.appointment_row(starts_at, self.appointment_status(starts_at))


def company_trade(company_id: int) -> tuple[str, tuple[str, ...]]:
    """Return a company's name (a branch's, past the eighth) and the services of its trade."""
    name, services_offered = COMPANY_TRADES[(company_id - 1) % len(COMPANY_TRADES)]
    branch = (company_id - 1) // len(COMPANY_TRADES)
    if branch:
        name = f"{name} {BRANCH_CITIES[(branch - 1) % len(BRANCH_CITIES)]}"
    return name, services_offered


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
    """Insert batches: on SQLite in one transaction (a commit per batch would wait for the disk a thousand
    times), elsewhere on two connections at once, as the server is a separate process."""
    report = on_progress or _no_progress
    if engine.dialect.name == "sqlite":
        _insert_in_one_transaction(engine, batches, report)
    else:
        _insert_on_writers(engine, batches, report)


def _no_progress(rows: int) -> None:
    """Report nothing: no one asked how far the insert is."""


def _insert_in_one_transaction(engine: Engine, batches: Iterator[tuple[sa.Table, list[dict]]],
                               report: Callable[[int], None]) -> None:
    """Insert every batch in one transaction, reporting each as it goes in."""
    with engine.begin() as connection:
        for table, batch in batches:
            # Compiled once, run in C: the cheapest way into SQLite.
            connection.execute(table.insert(), batch)
            report(len(batch))


def _insert_on_writers(engine: Engine, batches: Iterator[tuple[sa.Table, list[dict]]],
                       report: Callable[[int], None]) -> None:
    """Insert on WRITER_THREADS connections at once, at most two batches a writer waiting, reported in order."""
    writers = WRITER_THREADS

    def insert(table: sa.Table, batch: list[dict]) -> int:
        with engine.begin() as connection:
            # One multi-row INSERT a batch: mysqlclient's executemany would send 64 KB statements,
            # four 16 KB rows each, and a round trip per statement costs more than compiling.
            connection.execute(table.insert().values(batch))
        return len(batch)

    with ThreadPoolExecutor(max_workers=writers) as pool:
        pending: deque[Future] = deque()
        for table, batch in batches:
            pending.append(pool.submit(insert, table, batch))
            while len(pending) > writers * 2 or (pending and pending[0].done()):
                report(pending.popleft().result())
        for future in pending:
            report(future.result())


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
                       calls=plan.calls, appointments=plan.appointments, ongoing=planned_ongoing(plan, data.now))
