"""Live figures per company, for the admins' table and the wallboard: one grouped statement per refresh.

The definitions (README, "Per-company live table"), all over the viewer's "today"
(local midnight in DISPLAY_TIMEZONE up to now) and never counting soft-deleted rows:

- ongoing: the platform's definition (queries/ongoing_calls.py), grouped by company;
- calls today: calls created today, and of them inbound and outbound (`direction`);
- answered: `status` completed; missed: missed, busy or no_answer; failed: failed. A rate is
  its count over the calls with one of these outcomes (ongoing calls and unknown statuses have
  none yet), so the three rates add up to 100 %;
- talk time: average and p90 of `duration_sec` over today's answered calls that have one. The
  p90 is the nearest-rank percentile: the smallest length that at least 90 % of those calls do
  not exceed (the ceil(0.9 n)-th shortest), numbered by ROW_NUMBER() within each company, which
  SQLite and MariaDB compute alike (MariaDB's PERCENTILE_CONT interpolates, SQLite has none);
- booked today: appointments created today (booked, whatever their status since), for a slot
  from today on; an appointment entered for a slot already past is a record, not a booking;
- booking rate: today's answered calls whose customer (same `customer_id`, same company) had an
  appointment created within BOOKING_WINDOW_HOURS after the call began, over today's answered calls;
- last call: when the newest call of today began (none: no call today).

One statement: the companies (a keyset page of the primary key, at most MAX_COMPANIES), left-joined to three
grouped derived tables that each read their own index range: today's calls by `idx_calls_created_date`, the
ongoing ones by `idx_ongoing_calls`, and today's bookings by `idx_appointments_starts_date` (a booking is made
before its slot, so its slot is from today on), each joined to the call that led to it, if any, by
`idx_customer_calls` (the booking's customer, the call within the window before it). A company
with nothing today still has its row, all zeros.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.ongoing_calls import ongoing_condition
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, platform_schema
from queries.runner import run
from queries.timeutil import plus_seconds
from schema.tables import (appointments, calls, companies, idx_appointments_starts_date, idx_calls_created_date,
                           idx_customer_calls, idx_ongoing_calls)

ANSWERED = ("completed",)
MISSED = ("missed", "busy", "no_answer")
FAILED = ("failed",)
DEFAULT_BOOKING_WINDOW_HOURS = 2
MAX_COMPANIES = 1000  # the table's cap: a platform with more companies shows its first 1,000 by id

COLUMNS = ("company_id", "company_name", "ongoing", "calls", "inbound", "outbound", "answered", "missed", "failed",
           "average_talk", "p90_talk", "last_call_at", "booked", "converted")


@dataclass(frozen=True)
class CompanyKpis:
    """One row per company (COLUMNS), and whether the table was cut at MAX_COMPANIES."""

    rows: pd.DataFrame
    capped: bool


def _scope(column: sa.ColumnElement, company_ids: Sequence[int] | None) -> list[sa.ColumnElement[bool]]:
    return [] if company_ids is None else [column.in_(list(company_ids))]


def _count_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement:
    # COUNT of a CASE, not SUM: an integer on every server (MariaDB's SUM is a DECIMAL).
    return sa.func.count(sa.case((condition, 1)))


def _by_slot(select: sa.Select) -> sa.Select:
    """Read appointments by their slot's index on MySQL/MariaDB, whatever share of them is still to come.

    The slots from today on are a bounded range, but in a young platform (or the demo: 30 days ahead of 90
    behind) a quarter of the table, where MariaDB prefers a full scan that grows with every booking."""
    hint = f"FORCE INDEX ({idx_appointments_starts_date.name})"
    return select.with_hint(appointments, hint, dialect_name="mysql").with_hint(appointments, hint,
                                                                               dialect_name="mariadb")


def kpi_statement(now: datetime, today_start: datetime, company_ids: Sequence[int] | None = None,
                  booking_window_hours: int = DEFAULT_BOOKING_WINDOW_HOURS,
                  platform: PlatformSchema = DEFAULT_PLATFORM, limit: int = MAX_COMPANIES,
                  after_company: int = 0) -> sa.Select:
    """Return the one statement behind the per-company table: the companies after `after_company` by id (a
    keyset page, read by the primary key), at most `limit` of them (one more tells that there are more)."""
    in_today = [calls.c.created_at >= today_start, calls.c.created_at <= now, *platform.live(calls),
                *_scope(calls.c.company_id, company_ids)]
    timed = sa.case((sa.and_(calls.c.status.in_(ANSWERED), calls.c.duration_sec.is_not(None)), 1), else_=0)
    today = sa.select(
        calls.c.company_id, calls.c.direction, calls.c.status, calls.c.duration_sec, calls.c.created_at,
        timed.label("timed"),
        # Each company's timed calls numbered by length, and counted, for the nearest-rank p90.
        sa.func.row_number().over(partition_by=(calls.c.company_id, timed), order_by=calls.c.duration_sec)
        .label("position"),
        sa.func.count().over(partition_by=(calls.c.company_id, timed)).label("timed_count"),
    ).where(*in_today).subquery("today")
    is_timed = today.c.timed == 1
    per_company = sa.select(
        today.c.company_id,
        sa.func.count().label("calls"),
        _count_where(today.c.direction == "inbound").label("inbound"),
        _count_where(today.c.direction == "outbound").label("outbound"),
        _count_where(today.c.status.in_(ANSWERED)).label("answered"),
        _count_where(today.c.status.in_(MISSED)).label("missed"),
        _count_where(today.c.status.in_(FAILED)).label("failed"),
        sa.func.avg(sa.case((is_timed, today.c.duration_sec))).label("average_talk"),
        sa.func.min(sa.case((sa.and_(is_timed, today.c.position * 10 >= today.c.timed_count * 9),
                             today.c.duration_sec))).label("p90_talk"),
        sa.func.max(today.c.created_at).label("last_call_at"),
    ).group_by(today.c.company_id).subquery("per_company")
    ongoing = (sa.select(calls.c.company_id, sa.func.count().label("ongoing"))
               .where(ongoing_condition(now, company_ids, platform)).group_by(calls.c.company_id)
               .subquery("ongoing"))
    # Today's bookings, counted; and, apart, joined to the answered calls of today that led to them. On MySQL and
    # MariaDB that join is an inner one, which they filter on idx_customer_calls' created_at before reading a call
    # (index condition pushdown); as the outer join that also counted the bookings, MariaDB read every call of
    # each booking's customer (27 rows a booking at 20 companies: 25 ms of 57). SQLite, given an inner join,
    # starts from today's calls and looks their bookings up by customer (1.6 times slower on the demo's data); an
    # outer join keeps it starting from the bookings.
    def todays_bookings(name: str):
        return _by_slot(sa.select(appointments.c.id, appointments.c.company_id, appointments.c.customer_id,
                                  appointments.c.created_at)
                        .where(appointments.c.starts_at >= today_start, appointments.c.created_at >= today_start,
                               appointments.c.created_at <= now, *platform.live(appointments),
                               *_scope(appointments.c.company_id, company_ids))).subquery(name)

    bookings = todays_bookings("bookings")
    booked = (sa.select(bookings.c.company_id, sa.func.count().label("booked"))
              .group_by(bookings.c.company_id).subquery("booked"))
    converting = todays_bookings("converting")
    led_to_booking = sa.and_(
        calls.c.customer_id == converting.c.customer_id, calls.c.company_id == converting.c.company_id,
        # The call within the window before the booking, as a range of the call's own column: read by
        # idx_customer_calls (customer_id, created_at), not every call the customer ever made.
        calls.c.created_at <= converting.c.created_at,
        calls.c.created_at > plus_seconds(converting.c.created_at, sa.literal(-int(booking_window_hours) * 3600)),
        *in_today, calls.c.status.in_(ANSWERED))
    converted = (sa.select(converting.c.company_id, sa.func.count(sa.distinct(calls.c.id)).label("converted"))
                 .select_from(converting.join(calls, led_to_booking, isouter=not platform.mysql))
                 .group_by(converting.c.company_id)
                 .subquery("converted"))
    zero = sa.literal(0)
    return (
        sa.select(
            companies.c.id.label("company_id"), companies.c.name.label("company_name"),
            sa.func.coalesce(ongoing.c.ongoing, zero).label("ongoing"),
            *[sa.func.coalesce(per_company.c[name], zero).label(name)
              for name in ("calls", "inbound", "outbound", "answered", "missed", "failed")],
            per_company.c.average_talk, per_company.c.p90_talk, per_company.c.last_call_at,
            sa.func.coalesce(booked.c.booked, zero).label("booked"),
            sa.func.coalesce(converted.c.converted, zero).label("converted"),
        )
        .select_from(
            companies.outerjoin(per_company, per_company.c.company_id == companies.c.id)
            .outerjoin(ongoing, ongoing.c.company_id == companies.c.id)
            .outerjoin(booked, booked.c.company_id == companies.c.id)
            .outerjoin(converted, converted.c.company_id == companies.c.id)
        )
        .where(companies.c.id > after_company, *platform.live(companies), *_scope(companies.c.id, company_ids))
        .order_by(companies.c.id)
        .limit(limit + 1)
    )


def fetch_company_kpis(engine: Engine, now: datetime, today_start: datetime,
                       company_ids: Sequence[int] | None = None,
                       booking_window_hours: int = DEFAULT_BOOKING_WINDOW_HOURS,
                       limit: int = MAX_COMPANIES, after_company: int = 0) -> CompanyKpis:
    """Return each company's live figures at `now` ('today' began at `today_start`): the first `limit` companies
    by id after `after_company`."""
    if company_ids is not None and not company_ids:
        return CompanyKpis(rows=pd.DataFrame(columns=list(COLUMNS)), capped=False)
    statement = kpi_statement(now, today_start, company_ids, booking_window_hours, platform_schema(engine), limit,
                              after_company)
    frame = run(engine, statement, max_rows=limit + 1)
    return CompanyKpis(rows=frame.head(limit), capped=len(frame) > limit)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [("company kpis", kpi_statement(now, today_start, platform=platform),
             {"calls": (idx_calls_created_date.name, idx_ongoing_calls.name, idx_customer_calls.name),
              "appointments": (idx_appointments_starts_date.name,)})]
