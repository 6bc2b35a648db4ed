"""One customer's history: who they are, what they did, what is booked (issue 14, item 3).

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
found, and no TEXT column is named. "Missed" is the call status `missed`, as the
feed's filter reads it; "kept" is an appointment `completed`; first and last
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
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, no_text, platform_schema
from queries.runner import run
from schema.tables import agents, appointments, calls, companies, customers, idx_customer_calls, services

PAGE_SIZE = 20
UPCOMING_CAP = 10
LARGEST_ID = 2 ** 63 - 1
MISSED_STATUS = "missed"
KEPT_STATUS = "completed"
CANCELLED_STATUS = "cancelled"
NO_SHOW_STATUS = "no_show"
COUNTS = ("calls", "missed", "booked", "kept", "cancelled", "no_show", "upcoming")
PAGE_COLUMNS = ("kind", "id", "at", "status", "direction", "detail", "duration_sec")


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


def summary_statement(customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
                      platform: PlatformSchema = DEFAULT_PLATFORM) -> sa.Select:
    """Return the customer's record beside the one-row aggregates of their calls and appointments."""
    # One row per aggregate (none when the customer has no such rows), joined to the customer by its id.
    call_counts = (sa.select(calls.c.customer_id, sa.func.count().label("calls"), _count_where(calls.c.status == MISSED_STATUS).label("missed"),
                             sa.func.min(calls.c.created_at).label("first_contact"),
                             sa.func.max(calls.c.created_at).label("last_contact"))
                   .where(*_scoped(calls, customer_id, company_ids, platform)).group_by(calls.c.customer_id)
                   .subquery("call_counts"))
    status = appointments.c.status
    booking_counts = (sa.select(appointments.c.customer_id, sa.func.count().label("booked"), _count_where(status == KEPT_STATUS).label("kept"),
                                _count_where(status == CANCELLED_STATUS).label("cancelled"),
                                _count_where(status == NO_SHOW_STATUS).label("no_show"),
                                _count_where(appointments.c.starts_at > now).label("upcoming"))
                      .where(*_scoped(appointments, customer_id, company_ids, platform))
                      .group_by(appointments.c.customer_id).subquery("booking_counts"))
    where = [customers.c.id == customer_id, *platform.live(customers)]
    if company_ids is not None:
        where.append(customers.c.company_id.in_(list(company_ids)))
    return (
        sa.select(customers.c.id, customers.c.name, customers.c.phone, customers.c.email,
                  companies.c.name.label("company_name"),
                  *(column for column in (*call_counts.c, *booking_counts.c) if column.name != "customer_id"))
        .select_from(customers.outerjoin(companies, platform.joined(companies, companies.c.id == customers.c.company_id))
                     .outerjoin(call_counts, call_counts.c.customer_id == customers.c.id)
                     .outerjoin(booking_counts, booking_counts.c.customer_id == customers.c.id))
        .where(*where)
        .limit(1)
    )


def upcoming_statement(customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
                       platform: PlatformSchema = DEFAULT_PLATFORM, limit: int = UPCOMING_CAP) -> sa.Select:
    """Return the customer's appointments that start after `now`, soonest first."""
    return (
        sa.select(appointments.c.id, appointments.c.starts_at.label("at"), appointments.c.status,
                  services.c.name.label("detail"))
        .select_from(appointments.outerjoin(
            services, platform.joined(services, services.c.id == appointments.c.service_id)))
        .where(*_scoped(appointments, customer_id, company_ids, platform), appointments.c.starts_at > now)
        .order_by(appointments.c.starts_at, appointments.c.id)
        .limit(limit)
    )


def _calls_branch(customer_id: int, company_ids, cursor: Cursor | None, limit: int, platform: PlatformSchema):
    at = calls.c.created_at
    after = _after_cursor("call", at, calls.c.id, cursor)
    return (
        sa.select(as_result_text(sa.literal("call", sa.String(16))).label("kind"), calls.c.id, at.label("at"),
                  as_result_text(calls.c.status).label("status"), as_result_text(calls.c.direction).label("direction"),
                  as_result_text(agents.c.name).label("detail"), calls.c.duration_sec)
        .select_from(calls.outerjoin(agents, platform.joined(agents, agents.c.id == calls.c.agent_id)))
        .where(*_scoped(calls, customer_id, company_ids, platform), at.is_not(None),
               *([after] if after is not None else []))
        .order_by(at.desc(), calls.c.id.desc())
        .limit(limit)
    )


def _appointments_branch(customer_id: int, now: datetime, company_ids, cursor: Cursor | None, limit: int,
                         platform: PlatformSchema):
    at = appointments.c.starts_at
    after = _after_cursor("appointment", at, appointments.c.id, cursor)
    return (
        sa.select(as_result_text(sa.literal("appointment", sa.String(16))).label("kind"), appointments.c.id,
                  at.label("at"), as_result_text(appointments.c.status).label("status"), no_text().label("direction"),
                  as_result_text(services.c.name).label("detail"), sa.cast(sa.null(), sa.Integer).label("duration_sec"))
        .select_from(appointments.outerjoin(
            services, platform.joined(services, services.c.id == appointments.c.service_id)))
        .where(*_scoped(appointments, customer_id, company_ids, platform), at <= now,
               *([after] if after is not None else []))
        .order_by(at.desc(), appointments.c.id.desc())
        .limit(limit)
    )


def page_statement(customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
                   cursor: Cursor | None = None, page_size: int = PAGE_SIZE,
                   platform: PlatformSchema = DEFAULT_PLATFORM) -> sa.Select:
    """Return the one statement of a page of the customer's past, newest first (one row more than a page)."""
    limit = page_size + 1
    branches = [_calls_branch(customer_id, company_ids, cursor, limit, platform).subquery("call_rows"),
                _appointments_branch(customer_id, now, company_ids, cursor, limit, platform)
                .subquery("appointment_rows")]
    merged = sa.union_all(*(sa.select(*branch.c) for branch in branches)).subquery("history")
    return sa.select(*merged.c).order_by(merged.c.at.desc(), merged.c.kind.desc(), merged.c.id.desc()).limit(limit)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def fetch_summary(engine: Engine, customer_id: int, now: datetime,
                  company_ids: Sequence[int] | None = None) -> Summary:
    """Return the customer's record and counts; NotFound when the viewer has no such customer."""
    statement = summary_statement(check_customer_id(customer_id), now, company_ids, platform_schema(engine))
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
    statement = upcoming_statement(check_customer_id(customer_id), now, company_ids, platform_schema(engine), limit)
    return _records(run(engine, statement, max_rows=limit))


def fetch_page(engine: Engine, customer_id: int, now: datetime, company_ids: Sequence[int] | None = None,
               cursor: Cursor | None = None, page_size: int = PAGE_SIZE) -> HistoryPage:
    """Return a page of the customer's past calls and appointments, newest first, and the next page's cursor."""
    statement = page_statement(check_customer_id(customer_id), now, company_ids, cursor, page_size,
                               platform_schema(engine))
    frame = run(engine, statement, max_rows=page_size + 1)
    frame["at"] = pd.to_datetime(frame["at"])
    return _page_of(frame, page_size)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return the history's statements: calls by `idx_customer_calls`; appointments by any index bounding them to
    the customer (`idx_customer_appointments`, or the platform's own foreign key index where migration 0003
    left it in its place); the customer by primary key, which passes without a row of its own."""
    by_customer = {"calls": (idx_customer_calls.name,), "appointments": ()}
    return [
        ("customer history, summary", summary_statement(1, now, platform=platform), by_customer),
        ("customer history, page", page_statement(1, now, platform=platform), by_customer),
        ("customer history, upcoming", upcoming_statement(1, now, platform=platform), {"appointments": ()}),
    ]
