"""Platform databases as the platform builds them, not as Switchboard would: Laravel's DDL on MariaDB.

The DDL is what Laravel's MySQL schema grammar emits for the platform's migrations
(`$table->id()`, `foreignId()->constrained()`, `timestamps()`, `softDeletes()`,
`json()`, `enum()`, `longText()`), table by table in the character set and
collation a variant names, plus Laravel's own `migrations` table. The rows are
the demo generator's, inserted through the same tables, then the real world is
added: soft-deleted rows, statuses nobody told Switchboard about, a call whose
customer is gone, NULL names and numbers, names no latin1 column can hold.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from demo.generator import SeedPlan, seed_database
from queries.platform import charset_holds

LARAVEL = "utf8mb4_unicode_ci"
MARIADB_DEFAULT = "utf8mb4_general_ci"
UTF8MB3 = "utf8mb3_general_ci"
LATIN1 = "latin1_swedish_ci"

PLAN = SeedPlan(calls=1_500, appointments=500, companies=3, customers_per_company=60, agents_per_company=2,
                services_per_company=3, ongoing=40, stale_in_progress=10, mismatched_status=5, raw_bytes=2_000)

TABLE_DDL = {
    "companies": """
        `id` bigint unsigned not null auto_increment primary key,
        `name` varchar(255) not null,
        `plan` enum('free','pro','enterprise') not null default 'pro',
        `settings` json null,
        `created_at` timestamp null, `updated_at` timestamp null{soft}""",
    "customers": """
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned null,
        `name` varchar(255) not null,
        `phone` varchar(32) null,
        `email` varchar(255) null,
        `notes` text null,
        `metadata` json null,
        `created_at` timestamp null, `updated_at` timestamp null{soft},
        constraint `customers_company_id_foreign` foreign key (`company_id`) references `companies` (`id`)
            on delete cascade""",
    "agents": """
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned null,
        `name` varchar(255) not null,
        `voice` enum('alloy','echo','nova') null,
        `prompt` longtext null,
        `created_at` timestamp null, `updated_at` timestamp null{soft},
        constraint `agents_company_id_foreign` foreign key (`company_id`) references `companies` (`id`)""",
    "services": """
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned null,
        `name` varchar(255) not null,
        `duration_minutes` int null,
        `description` text null,
        `created_at` timestamp null, `updated_at` timestamp null{soft},
        constraint `services_company_id_foreign` foreign key (`company_id`) references `companies` (`id`)""",
    # No foreign key on customer_id: the platform keeps a call when its customer is removed.
    "calls": """
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned null,
        `customer_id` bigint unsigned null,
        `agent_id` bigint unsigned null,
        `customer_name` varchar(255) null,
        `from_number` varchar(32) null,
        `to_number` varchar(32) null,
        `direction` enum('inbound','outbound') null,
        `status` varchar(32) null,
        `call_status` varchar(32) null,
        `provider` enum('twilio','vapi','retell') null,
        `start_timestamp` timestamp null,
        `called_at` datetime null,
        `duration_sec` int null,
        `cost` decimal(8, 4) null,
        `raw` longtext null,
        `transcript` longtext null,
        `analysis` json null,
        `metadata` json null,
        `created_at` timestamp null, `updated_at` timestamp null{soft},
        constraint `calls_company_id_foreign` foreign key (`company_id`) references `companies` (`id`),
        constraint `calls_agent_id_foreign` foreign key (`agent_id`) references `agents` (`id`) on delete set null""",
    "appointments": """
        `id` bigint unsigned not null auto_increment primary key,
        `company_id` bigint unsigned null,
        `customer_id` bigint unsigned null,
        `service_id` bigint unsigned null,
        `starts_at` datetime null,
        `ends_at` datetime null,
        `status` varchar(32) null,
        `notes` text null,
        `created_at` timestamp null, `updated_at` timestamp null{soft},
        constraint `appointments_company_id_foreign` foreign key (`company_id`) references `companies` (`id`),
        constraint `appointments_customer_id_foreign` foreign key (`customer_id`) references `customers` (`id`)
            on delete cascade,
        constraint `appointments_service_id_foreign` foreign key (`service_id`) references `services` (`id`)""",
}
TABLE_ORDER = ("companies", "customers", "agents", "services", "calls", "appointments")


@dataclass(frozen=True)
class PlatformVariant:
    """How one platform database is built: a collation per table, and whether it soft-deletes."""

    name: str
    collations: dict[str, str]
    soft_deletes: bool = True

    @staticmethod
    def uniform(name: str, collation: str, soft_deletes: bool = True) -> "PlatformVariant":
        return PlatformVariant(name, {table: collation for table in TABLE_ORDER}, soft_deletes)


VARIANTS = (
    PlatformVariant.uniform("laravel", LARAVEL),
    PlatformVariant.uniform("latin1", LATIN1, soft_deletes=False),
    PlatformVariant.uniform("utf8mb3", UTF8MB3),
    # Tables created over the years under different defaults.
    PlatformVariant("mixed", {"companies": LATIN1, "customers": MARIADB_DEFAULT, "agents": UTF8MB3,
                              "services": LARAVEL, "calls": LARAVEL, "appointments": MARIADB_DEFAULT}),
)


def charset_of(collation: str) -> str:
    return collation.split("_", 1)[0]


def create_laravel_tables(engine: Engine, variant: PlatformVariant) -> None:
    """Create the platform's tables and Laravel's `migrations` table, as `php artisan migrate` would."""
    soft = ",\n        `deleted_at` timestamp null" if variant.soft_deletes else ""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "create table `migrations` (`id` int unsigned not null auto_increment primary key, "
            "`migration` varchar(255) not null, `batch` int not null) "
            "default character set utf8mb4 collate 'utf8mb4_unicode_ci'")
        for batch, table in enumerate(TABLE_ORDER, start=1):
            collation = variant.collations[table]
            connection.exec_driver_sql(
                f"create table `{table}` ({TABLE_DDL[table].format(soft=soft)}) "
                f"default character set {charset_of(collation)} collate '{collation}' engine = InnoDB")
            connection.exec_driver_sql(
                "insert into `migrations` (`migration`, `batch`) values (%s, %s)",
                (f"2024_01_0{batch}_000000_create_{table}_table", 1))


@dataclass
class RealWorldRows:
    """The ids of the rows a test looks for (or must not find)."""

    deleted_call: int = 0
    deleted_customer: int = 0
    deleted_customer_name: str = ""
    deleted_appointment: int = 0
    deleted_company: int = 0
    unknown_status_call: int = 0
    orphan_call: int = 0
    nameless_call: int = 0
    unicode_names: dict[str, int] = field(default_factory=dict)  # name -> customer id (only those the charset holds)


UNICODE_NAMES = ("Zoë Müller", "Ömer Yılmaz", "Иван Петров", "Ana 🌻 Flores")


def add_real_world_rows(engine: Engine, variant: PlatformVariant, now: datetime) -> RealWorldRows:
    """Add rows that platforms have and generated data lacks; soft-delete some where the tables can."""
    found = RealWorldRows()
    minute = timedelta(minutes=1)
    customer_charset = charset_of(variant.collations["customers"])
    with engine.begin() as connection:
        def insert(table: str, **values) -> int:
            columns = ", ".join(f"`{name}`" for name in values)
            marks = ", ".join(["%s"] * len(values))
            result = connection.exec_driver_sql(f"insert into `{table}` ({columns}) values ({marks})",
                                                tuple(values.values()))
            return int(result.lastrowid)

        def ongoing_call(**values) -> int:
            base = dict(company_id=1, agent_id=1, direction="inbound", status="ongoing", call_status="in_progress",
                        from_number="+4915100000001", to_number="+49305000001", created_at=now - 3 * minute,
                        start_timestamp=now - 3 * minute, called_at=now - 3 * minute, raw='{"x": 1}',
                        metadata='{"k": [1, 2]}', provider="vapi")
            return insert("calls", **{**base, **values})

        found.unknown_status_call = ongoing_call(customer_id=1, customer_name="Status Unbekannt",
                                                 status="in_progress", call_status="ringing_transfer")
        # Finished with a status the platform added last month.
        insert("calls", company_id=1, customer_id=1, agent_id=1, customer_name="Status Unbekannt",
               direction="outbound", status="voicemail_left", call_status="ended", duration_sec=17,
               from_number="+49305000001", to_number="+4915100000001", created_at=now - 5 * minute)
        found.orphan_call = ongoing_call(customer_id=999_999, customer_name="Gone Customer")
        found.nameless_call = ongoing_call(customer_id=None, customer_name=None, from_number=None, to_number=None,
                                           direction=None, agent_id=None)
        for name in UNICODE_NAMES:
            if charset_holds(customer_charset, name):
                customer = insert("customers", company_id=2, name=name, phone="+4917600000042", created_at=now)
                found.unicode_names[name] = customer
                insert("appointments", company_id=2, customer_id=customer, service_id=None, status="confirmed",
                       starts_at=now - 30 * minute, created_at=now - timedelta(days=1))
        if variant.soft_deletes:
            found.deleted_call = ongoing_call(customer_id=2, customer_name="Deleted Call", deleted_at=now - minute)
            found.deleted_customer_name = "Gelöscht Kundin"
            found.deleted_customer = insert("customers", company_id=1, name=found.deleted_customer_name,
                                            phone="+4917000000099", created_at=now - timedelta(days=3),
                                            deleted_at=now - timedelta(hours=1))
            # The deleted customer's live call and appointment stay (Laravel does not cascade soft deletes),
            # but her record, name and number are never joined in.
            ongoing_call(customer_id=found.deleted_customer, customer_name=None, from_number="+4917000000098")
            insert("appointments", company_id=1, customer_id=found.deleted_customer, status="scheduled",
                   starts_at=now - 20 * minute, created_at=now - timedelta(days=2))
            found.deleted_appointment = insert("appointments", company_id=1, customer_id=1, status="confirmed",
                                               starts_at=now - 10 * minute, created_at=now - timedelta(days=2),
                                               deleted_at=now - 5 * minute)
            found.deleted_company = insert("companies", name="Closed Company GmbH", created_at=now,
                                           deleted_at=now)
    return found


def build_platform_database(engine: Engine, variant: PlatformVariant, now: datetime) -> RealWorldRows:
    """Create a variant's tables, fill them with the generator's rows, then the real world's."""
    create_laravel_tables(engine, variant)
    seed_database(engine, PLAN, now)
    return add_real_world_rows(engine, variant, now)
