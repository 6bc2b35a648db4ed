"""One customer's history: who they are, what they did, what is booked.

Three statements, each scoped to the viewer's companies in SQL, so a customer of
another company reads exactly like a missing one:
- the summary: the customer's record (by primary key) with two one-row aggregates
  beside it, the calls (count, missed, first and last contact) read through
  `idx_customer_calls (customer_id, created_at)` and the appointments (booked,
  kept, cancelled, no-show, upcoming) through `idx_customer_appointments
  (customer_id, starts_at)`, or the platform's own foreign key index on
  `customer_id` where it has one (migration 0003);
- the upcoming appointments (starts after now), soonest first, capped;
- a page of the past: calls and appointments that have started, newest first, a
  UNION ALL of two branches each ordered and limited inside its own derived
  table, paged by keyset as the feed is (queries/activity.py).

Soft-deleted rows are never shown or counted, a soft-deleted customer is not
found, and no TEXT column is named. "Missed" is the schema map's missed bucket, as
every panel counts it; "kept" is an appointment `completed`; first and last
contact are the customer's first and last call. A row without its time (a call
with no `created_at`, an appointment with no `starts_at`) is counted but not listed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.activity import ActivityPage, Cursor, _after_cursor, _page_of
from queries.ongoing_calls import agent_name
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, no_text, platform_schema
from queries.runner import run
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from schema.tables import idx_customer_calls

PAGE_SIZE = 20
UPCOMING_CAP = 10
LARGEST_ID = 2 ** 63 - 1
KEPT_STATUS = "completed"
CANCELLED_STATUS = "cancelled"
NO_SHOW_STATUS = "no_show"
COUNTS = ("calls", "missed", "booked", "kept", "cancelled", "no_show", "upcoming")
PAGE_COLUMNS = ("kind", "id", "at", "status", "direction", "detail", "duration_sec", "call_status")


class NotFound(LookupError):
    """No such customer for this viewer: missing, soft-deleted or another company's (one answer for all three)."""


@dataclass(frozen=True)
class Summary:
    """The customer's record and the counts of their calls and appointments."""

    customer: dict[str, Any]  # id, name, phone, email, company_name
    counts: dict[str, int]  # COUNTS
    first_contact: datetime | None
    last_contact: datetime | None


# A page of the past (PAGE_COLUMNS, newest first) and the next page's cursor: the feed's own shape.
HistoryPage = ActivityPage


def check_customer_id(customer_id: Any) -> int:
    """Return a customer id a browser sent, or raise NotFound: an id that cannot exist is simply not found."""
    if isinstance(customer_id, bool) or not isinstance(customer_id, int) or not 0 < customer_id <= LARGEST_ID:
        raise NotFound(customer_id)
    return customer_id


def _scoped(table: sa.Table, customer_id: int, company_ids: Sequence[int] | None,
            platform: PlatformSchema) -> list[sa.ColumnElement[bool]]:
    """Return the conditions of a customer's live rows of `table` within the viewer's companies."""
    where = [table.c.customer_id == customer_id, *platform.live(table)]
    if company_ids is not None:
        where.append(table.c.company_id.in_(list(company_ids)))
    return where


def _count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _appointments(schema: MappedSchema) -> sa.Table | None:
    """Return the platform's appointments table, where it keeps one a customer's can be read from."""
    table = schema.table("appointments")
    return table if table is not None and schema.has("appointments.customer_id") else None


def _service(schema: MappedSchema, appointments: sa.Table, platform: PlatformSchema, source):
    """Return the service's name (NULL where the platform keeps none) and the source joined to it."""
    services = schema.table("services")
    if services is None or not schema.has("appointments.service_id") or not schema.has("services.name"):
        return None, source
    return services.c.name, source.outerjoin(
        services, platform.joined(services, services.c.id == appointments.c.service_id))


def _null(kind) -> sa.ColumnElement:
    return sa.cast(sa.null(), kind)


def summary_statement(customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
                      platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the customer's record beside the one-row aggregates of their calls and appointments."""
    customers, companies = schema.tables["customers"], schema.tables["companies"]
    source = customers.outerjoin(companies, platform.joined(companies, companies.c.id == customers.c.company_id))
    # One row per aggregate (none when the customer has no such rows), joined to the customer by its id.
    source, call_counts = _with_call_counts(source, customer_id, company_ids, platform, schema)
    source, booking_counts = _with_booking_counts(source, customer_id, now, company_ids, platform, schema)
    where = [customers.c.id == customer_id, *platform.live(customers)]
    if company_ids is not None:
        where.append(customers.c.company_id.in_(list(company_ids)))
    return (
        sa.select(customers.c.id, schema.shown("customers.name"), schema.shown("customers.phone"),
                  schema.shown("customers.email"), companies.c.name.label("company_name"), *call_counts,
                  *booking_counts)
        .select_from(source)
        .where(*where)
        .limit(1)
    )


def _with_call_counts(source, customer_id: int, company_ids: Sequence[int] | None, platform: PlatformSchema,
                      schema: MappedSchema):
    """Return the source joined to the customer's call counts and first and last contact, and those columns
    (NULL where no call names its customer)."""
    if not schema.has("calls.customer_id"):
        return source, [*(_null(sa.Integer).label(name) for name in ("calls", "missed")),
                        *(_null(sa.DateTime).label(name) for name in ("first_contact", "last_contact"))]
    calls, customers = schema.tables["calls"], schema.tables["customers"]
    call_counts = (sa.select(calls.c.customer_id, sa.func.count().label("calls"),
                             _count_where(schema.status_in("missed")).label("missed"),
                             sa.func.min(calls.c.created_at).label("first_contact"),
                             sa.func.max(calls.c.created_at).label("last_contact"))
                   .where(*_scoped(calls, customer_id, company_ids, platform)).group_by(calls.c.customer_id)
                   .subquery("call_counts"))
    return (source.outerjoin(call_counts, call_counts.c.customer_id == customers.c.id),
            [column for column in call_counts.c if column.name != "customer_id"])


def _with_booking_counts(source, customer_id: int, now: datetime, company_ids: Sequence[int] | None,
                         platform: PlatformSchema, schema: MappedSchema):
    """Return the source joined to the customer's appointment counts by outcome, and those columns (NULL where
    the platform keeps no appointments of a customer)."""
    appointments = _appointments(schema)
    if appointments is None:
        return source, [_null(sa.Integer).label(name)
                        for name in ("booked", "kept", "cancelled", "no_show", "upcoming")]
    customers = schema.tables["customers"]
    status, starts_at = schema.shown("appointments.status"), schema.field("appointments.starts_at")
    booking_counts = (sa.select(appointments.c.customer_id, sa.func.count().label("booked"),
                                _count_where(status == KEPT_STATUS).label("kept"),
                                _count_where(status == CANCELLED_STATUS).label("cancelled"),
                                _count_where(status == NO_SHOW_STATUS).label("no_show"),
                                _count_where(starts_at > now if starts_at is not None else sa.false())
                                .label("upcoming"))
                      .where(*_scoped(appointments, customer_id, company_ids, platform))
                      .group_by(appointments.c.customer_id).subquery("booking_counts"))
    return (source.outerjoin(booking_counts, booking_counts.c.customer_id == customers.c.id),
            [column for column in booking_counts.c if column.name != "customer_id"])


def upcoming_statement(customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
                       platform: PlatformSchema = DEFAULT_PLATFORM, limit: int = UPCOMING_CAP,
                       schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select | None:
    """Return the customer's appointments that start after `now`, soonest first (None: the platform keeps no
    appointments)."""
    appointments = _appointments(schema)
    starts_at = schema.field("appointments.starts_at")
    if appointments is None or starts_at is None:
        return None
    service, source = _service(schema, appointments, platform, appointments)
    return (
        sa.select(appointments.c.id, starts_at.label("at"), schema.shown("appointments.status"),
                  (service if service is not None else no_text()).label("detail"))
        .select_from(source)
        .where(*_scoped(appointments, customer_id, company_ids, platform), starts_at > now)
        .order_by(starts_at, appointments.c.id)
        .limit(limit)
    )


def _calls_branch(customer_id: int, company_ids, cursor: Cursor | None, limit: int, platform: PlatformSchema,
                  schema: MappedSchema = DEFAULT_SCHEMA):
    calls = schema.tables["calls"]
    at = calls.c.created_at
    after = _after_cursor("call", at, calls.c.id, cursor)
    agent, joins = agent_name(schema)
    source = calls
    for table, key, reference in joins:
        source = source.outerjoin(table, platform.joined(table, table.c[key] == calls.c[reference]))
    agent = agent.element if isinstance(agent, sa.sql.elements.Label) else agent
    direction, duration = schema.field("calls.direction"), schema.field("calls.duration_sec")
    call_status = schema.field("calls.call_status")
    return (
        sa.select(as_result_text(sa.literal("call", sa.String(16))).label("kind"), calls.c.id, at.label("at"),
                  as_result_text(calls.c.status).label("status"),
                  (as_result_text(direction) if direction is not None else no_text()).label("direction"),
                  as_result_text(agent).label("detail"),
                  (duration if duration is not None else _null(sa.Integer)).label("duration_sec"),
                  # The provider's own status beside the platform's: a call whose two disagree is shown as such.
                  (as_result_text(call_status) if call_status is not None else no_text()).label("call_status"))
        .select_from(source)
        .where(*_scoped(calls, customer_id, company_ids, platform), at.is_not(None),
               *([after] if after is not None else []))
        .order_by(at.desc(), calls.c.id.desc())
        .limit(limit)
    )


def _appointments_branch(customer_id: int, now: datetime, company_ids, cursor: Cursor | None, limit: int,
                         platform: PlatformSchema, schema: MappedSchema = DEFAULT_SCHEMA):
    appointments = _appointments(schema)
    at = schema.field("appointments.starts_at")
    after = _after_cursor("appointment", at, appointments.c.id, cursor)
    service, source = _service(schema, appointments, platform, appointments)
    status = schema.field("appointments.status")
    return (
        sa.select(as_result_text(sa.literal("appointment", sa.String(16))).label("kind"), appointments.c.id,
                  at.label("at"), (as_result_text(status) if status is not None else no_text()).label("status"),
                  no_text().label("direction"),
                  (as_result_text(service) if service is not None else no_text()).label("detail"),
                  _null(sa.Integer).label("duration_sec"), no_text().label("call_status"))
        .select_from(source)
        .where(*_scoped(appointments, customer_id, company_ids, platform), at <= now,
               *([after] if after is not None else []))
        .order_by(at.desc(), appointments.c.id.desc())
        .limit(limit)
    )


def page_statement(customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
                   cursor: Cursor | None = None, page_size: int = PAGE_SIZE,
                   platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the one statement of a page of the customer's past, newest first (one row more than a page)."""
    limit = page_size + 1
    branches = []
    if schema.has("calls.customer_id"):
        branches.append(_calls_branch(customer_id, company_ids, cursor, limit, platform, schema).subquery("call_rows"))
    if _appointments(schema) is not None and schema.has("appointments.starts_at"):
        branches.append(_appointments_branch(customer_id, now, company_ids, cursor, limit, platform, schema)
                        .subquery("appointment_rows"))
    if not branches:  # nothing of the customer's past is kept: an empty page, without reading a row
        return sa.select(*(_null(sa.String).label(name) for name in PAGE_COLUMNS)).where(sa.false())
    parts = [sa.select(*branch.c) for branch in branches]
    merged = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery("history")
    return sa.select(*merged.c).order_by(merged.c.at.desc(), merged.c.kind.desc(), merged.c.id.desc()).limit(limit)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def fetch_summary(engine: Engine, customer_id: int, now: datetime,
                  company_ids: Sequence[int] | None = None) -> Summary:
    """Return the customer's record and counts; NotFound when the viewer has no such customer."""
    statement = summary_statement(check_customer_id(customer_id), now, company_ids, platform_schema(engine),
                                  schema_of(engine))
    frame = run(engine, statement, max_rows=1)
    if frame.empty:
        raise NotFound(customer_id)
    row = _records(frame)[0]
    return Summary(customer={key: row[key] for key in ("id", "name", "phone", "email", "company_name")},
                   counts={key: int(row[key] or 0) for key in COUNTS},
                   first_contact=_moment(row["first_contact"]), last_contact=_moment(row["last_contact"]))


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    return pd.Timestamp(value).to_pydatetime()  # SQLite hands MIN/MAX of a DATETIME back as text


def fetch_upcoming(engine: Engine, customer_id: int, now: datetime,
                   company_ids: Sequence[int] | None = None, limit: int = UPCOMING_CAP) -> list[dict[str, Any]]:
    """Return the customer's next appointments (id, at, status, detail), soonest first."""
    statement = upcoming_statement(check_customer_id(customer_id), now, company_ids, platform_schema(engine), limit,
                                   schema_of(engine))
    if statement is None:
        return []
    return _records(run(engine, statement, max_rows=limit))


def fetch_page(engine: Engine, customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
               cursor: Cursor | None = None, page_size: int = PAGE_SIZE) -> HistoryPage:
    """Return a page of the customer's past calls and appointments, newest first, and the next page's cursor."""
    statement = page_statement(check_customer_id(customer_id), now, company_ids, cursor, page_size,
                               platform_schema(engine), schema_of(engine))
    frame = run(engine, statement, max_rows=page_size + 1)
    frame["at"] = pd.to_datetime(frame["at"])
    return _page_of(frame, page_size)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return the history's statements: calls by `idx_customer_calls`; appointments by any index bounding them to
    the customer (`idx_customer_appointments`, or the platform's own foreign key index where migration 0003
    left it in its place); the customer by primary key, which passes without a row of its own."""
    by_customer = {"calls": (idx_customer_calls.name,), "appointments": ()}
    if _appointments(schema) is None:
        by_customer = {"calls": by_customer["calls"]}
    if not schema.has("calls.customer_id"):
        by_customer.pop("calls")
    upcoming = upcoming_statement(1, now, platform=platform, schema=schema)
    return [
        ("customer history, summary", summary_statement(1, now, platform=platform, schema=schema), by_customer),
        ("customer history, page", page_statement(1, now, platform=platform, schema=schema), by_customer),
        *([("customer history, upcoming", upcoming, {"appointments": ()})] if upcoming is not None else []),
    ]
