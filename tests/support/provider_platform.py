"""An AI phone-agent platform's database as its own Laravel migrations build it on MariaDB, not as Switchboard's
contract names things.

It differs from the contract in each of the ways real platforms do:
- no agents table: the voice provider's agent id string is kept on the call (`agent_id varchar`);
- the customer's name in `first_name` and `last_name`; the call's start in `call_time`, its length in `duration`;
- no `raw`: the payload in JSON columns (`analysis`, `cost_breakdown`, with `CHECK (json_valid(…))`, as
  MariaDB writes Laravel's `json()`) and TEXT ones (`transcript`, `summary`); `analysis` holds the spoken turns
  under "transcript" too, except in every seventh call;
- the provider's status vocabulary in `status` alone (no `call_status`);
- the platform's own indexes: one under Switchboard's name (`idx_ongoing_calls`), one that duplicates it under
  Laravel's name, one on `created_at`, one on `appointments.starts_at`;
- a trigger, a view, TIMESTAMP columns, soft deletes, `utf8mb4_unicode_ci` throughout.
"""
from __future__ import annotations

import json
import random
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from tests.support.databases import TestDatabase

COLLATION = "utf8mb4_unicode_ci"
ONGOING_STATUSES = ("registered", "ongoing", "in_progress")
FINISHED_STATUSES = ("ended", "analyzed", "analyzed", "ended", "not_connected", "error", "transferred")
PAYLOAD_COLUMNS = ("transcript", "summary", "analysis", "cost_breakdown")
COMPANIES = ("Praxis Dr. Weiß", "Salon Lumière", "Autohaus Nord")
TRANSCRIPT_TURNS = [{"role": "agent", "text": "Guten Tag, wie kann ich helfen?"},
                    {"role": "user", "text": "Ich hätte gern einen Termin."}]

DDL = (
    """create table `companies` (
        `id` bigint unsigned not null auto_increment primary key,
        `name` varchar(255) not null,
        `settings` json null check (json_valid(`settings`)),
        `created_at` timestamp null, `updated_at` timestamp null, `deleted_at` timestamp null)""",
    """create table `customers` (
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned not null,
        `first_name` varchar(255) null,
        `last_name` varchar(255) null,
        `phone` varchar(32) null,
        `email` varchar(255) null,
        `created_at` timestamp null, `updated_at` timestamp null, `deleted_at` timestamp null,
        constraint `customers_company_id_foreign` foreign key (`company_id`) references `companies` (`id`))""",
    """create table `services` (
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned not null,
        `name` varchar(255) not null,
        `created_at` timestamp null, `updated_at` timestamp null, `deleted_at` timestamp null,
        constraint `services_company_id_foreign` foreign key (`company_id`) references `companies` (`id`))""",
    """create table `calls` (
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned not null,
        `customer_id` bigint unsigned null,
        `agent_id` varchar(64) null,
        `from_number` varchar(32) null,
        `to_number` varchar(32) null,
        `direction` enum('inbound', 'outbound') null,
        `status` varchar(32) null,
        `call_time` timestamp null,
        `duration` int null,
        `transcript` text null,
        `summary` text null,
        `analysis` json null check (json_valid(`analysis`)),
        `cost_breakdown` json null check (json_valid(`cost_breakdown`)),
        `created_at` timestamp null, `updated_at` timestamp null, `deleted_at` timestamp null,
        constraint `calls_company_id_foreign` foreign key (`company_id`) references `companies` (`id`))""",
    "alter table `calls` add index `idx_ongoing_calls` (`status`, `created_at`)",
    "alter table `calls` add index `calls_status_created_at_index` (`status`, `created_at`)",
    "alter table `calls` add index `calls_created_at_index` (`created_at`)",
    """create table `appointments` (
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned not null,
        `customer_id` bigint unsigned not null,
        `service_id` bigint unsigned null,
        `starts_at` timestamp null,
        `status` varchar(32) null,
        `created_at` timestamp null, `updated_at` timestamp null, `deleted_at` timestamp null,
        constraint `appointments_company_id_foreign` foreign key (`company_id`) references `companies` (`id`),
        constraint `appointments_customer_id_foreign` foreign key (`customer_id`) references `customers` (`id`))""",
    "alter table `appointments` add index `appointments_starts_at_index` (`starts_at`)",
    """create trigger `calls_touch_updated_at` before update on `calls` for each row
        set new.`updated_at` = current_timestamp""",
    """create view `recent_calls` as select `id`, `company_id`, `status`, `created_at` from `calls`
        where `deleted_at` is null""",
)


def build_provider_platform(engine: Engine, now: datetime, calls: int = 1_200, seed: int = 24) -> None:
    """Create the platform's tables as its migrations do and fill them: calls over the last 40 days, a few of
    them ongoing now, appointments around now, soft-deleted rows of each kind."""
    rng = random.Random(seed)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"alter database character set utf8mb4 collate {COLLATION}")
        for statement in DDL:
            if statement.startswith("create table"):
                statement += f" default character set utf8mb4 collate '{COLLATION}' engine = InnoDB"
            connection.exec_driver_sql(statement)

        def insert(table: str, rows: list[dict]) -> None:
            columns = list(rows[0])
            connection.exec_driver_sql(
                f"insert into `{table}` ({', '.join(f'`{c}`' for c in columns)}) "
                f"values ({', '.join(['%s'] * len(columns))})", [tuple(row[c] for c in columns) for row in rows])

        insert("companies", [{"name": name, "settings": "{}", "created_at": now - timedelta(days=400),
                              "deleted_at": None} for name in COMPANIES])
        first = ("Anna", "Zoë", "Jürgen", "Émile", "Ana", "Ömer", "Lena", None)
        last = ("Müller", "Schmidt", "Dubois", "Yılmaz", None, "Weber")
        customers = [{"company_id": 1 + i % 3, "first_name": first[i % len(first)], "last_name": last[i % len(last)],
                      "phone": f"+49151{i:08d}", "email": f"c{i}@example.org", "created_at": now - timedelta(days=90),
                      "deleted_at": now - timedelta(days=1) if i == 7 else None} for i in range(60)]
        insert("customers", customers)
        insert("services", [{"company_id": 1 + i % 3, "name": f"Service {i}", "created_at": now - timedelta(days=300)}
                            for i in range(6)])
        rows = []
        for i in range(calls):
            ongoing = i < 25
            at = now - (timedelta(minutes=rng.randint(1, 100)) if ongoing else
                        timedelta(minutes=rng.randint(5, 40 * 24 * 60)))
            customer = rng.randint(1, 60) if i % 11 else None
            status = rng.choice(ONGOING_STATUSES) if ongoing else rng.choice(FINISHED_STATUSES)
            rows.append({
                "company_id": 1 + i % 3, "customer_id": customer, "agent_id": f"agent_{'abc'[i % 3]}{i % 5:02d}",
                "from_number": f"+49151{(customer or 99):08d}", "to_number": "+4930500000" + str(i % 3),
                "direction": "outbound" if i % 4 == 0 else "inbound", "status": status,
                "call_time": at, "duration": None if ongoing or status == "not_connected" else rng.randint(20, 600),
                "transcript": "Agent: Guten Tag. Kunde: Ich hätte gern einen Termin." * 3,
                "summary": "Termin gewünscht.",
                # The provider's analysis carries the spoken turns too, but for some calls (no key at all).
                "analysis": json.dumps({"sentiment": "positive", "booked": i % 5 == 0,
                                        **({} if i % 7 == 6 else {"transcript": TRANSCRIPT_TURNS})}),
                "cost_breakdown": json.dumps({"llm": 0.012, "tts": 0.004}),
                "created_at": at, "updated_at": at, "deleted_at": now - timedelta(minutes=1) if i == 3 else None,
            })
        insert("calls", rows)
        insert("appointments", [{
            "company_id": 1 + i % 3, "customer_id": 1 + (i * 7) % 59, "service_id": 1 + i % 6,
            "starts_at": now + timedelta(hours=rng.randint(-24 * 30, 24 * 14)),
            "status": ("scheduled", "confirmed", "completed", "cancelled")[i % 4],
            "created_at": now - timedelta(hours=rng.randint(0, 24 * 20)),
            "deleted_at": now if i == 5 else None} for i in range(300)])


@contextmanager
def provider_platform_database(folder: Path, calls: int = 1_200,
                               prepare: Callable[[Engine], None] | None = None) -> Iterator[TestDatabase]:
    """Yield a MariaDB database of its own holding the platform (`build_provider_platform` at SEED_NOW, with
    `calls` calls), after `prepare` has run on its writer; drop it afterwards."""
    from database.engines import create_writer_engine
    from tests.support.databases import SEED_NOW, create_test_database, drop_test_database

    database = create_test_database("mariadb", folder, collation=COLLATION)
    try:
        writer = create_writer_engine(database.url)
        try:
            build_provider_platform(writer, SEED_NOW, calls=calls)
            if prepare is not None:
                prepare(writer)
        finally:
            writer.dispose()
        yield database
    finally:
        drop_test_database(database)
