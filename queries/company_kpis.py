"""Live figures per company, for the admins' table and the wallboard: one grouped statement per refresh.

The definitions (README, "Per-company live table"), all over the viewer's "today"
(local midnight in DISPLAY_TIMEZONE up to now) and never counting soft-deleted rows:

- ongoing: the platform's definition (queries/ongoing_calls.py), grouped by company;
- calls today: calls created today, and of them inbound and outbound (`direction`);
- answered, missed, failed: the schema map's status buckets (by default `completed`; `missed`, `busy` or
  `no_answer`; `failed`; queries/figures.py says each in words), and other: a status no bucket places (or none), counted so
  that no call is dropped silently. A rate is its count over the calls with one of the three
  outcomes (ongoing and other calls have none yet), so the three rates add up to 100 %;
- talk time: average and p90 of `duration_sec` over today's answered calls that have one. The
  p90 is the nearest-rank percentile: the smallest length that at least 90 % of those calls do
  not exceed (the ceil(0.9 n)-th shortest), numbered by ROW_NUMBER() within each company, which
  SQLite and MariaDB compute alike (MariaDB's PERCENTILE_CONT interpolates, SQLite has none); `timed` is how
  many calls it stands on, so that a p90 of two calls is not judged (JUDGE_MIN_CALLS);
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
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, platform_schema
from queries.runner import run
from queries.timeutil import plus_seconds
from schema.tables import (idx_appointments_starts_date, idx_appointments_window, idx_calls_created_date,
                           idx_calls_window, idx_customer_calls, idx_ongoing_calls)

DEFAULT_BOOKING_WINDOW_HOURS = 2
MAX_COMPANIES = 1000  # the table's cap: a platform with more companies shows its first 1,000 by id

COLUMNS = ("company_id", "company_name", "ongoing", "calls", "inbound", "outbound", "answered", "missed", "failed",
           "other", "timed", "average_talk", "p90_talk", "last_call_at", "booked", "converted")


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


def _by_slot(select: sa.Select, appointments: sa.Table, platform: PlatformSchema) -> sa.Select:
    """Read appointments by their slot's index on MySQL/MariaDB, whatever share of them is still to come.

    The slots from today on are a bounded range, but in a young platform (or the demo: 30 days ahead of 90
    behind) a quarter of the table, where MariaDB prefers a full scan that grows with every booking. The hint
    names an index the table has (the platform's own where it serves): a hint naming none is an error."""
    name = idx_appointments_starts_date.name
    if platform.indexes:
        name = platform.index_leading(appointments, appointments.c.starts_at.name, name)
        if name is None:
            return select
    hint = f"FORCE INDEX ({name})"
    return select.with_hint(appointments, hint, dialect_name="mysql").with_hint(appointments, hint,
                                                                               dialect_name="mariadb")


def kpi_statement(now: datetime, today_start: datetime, company_ids: Sequence[int] | None = None,
                  booking_window_hours: int = DEFAULT_BOOKING_WINDOW_HOURS,
                  platform: PlatformSchema = DEFAULT_PLATFORM, limit: int = MAX_COMPANIES,
                  after_company: int = 0, schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the one statement behind the per-company table: the companies after `after_company` by id (a
    keyset page, read by the primary key), at most `limit` of them (one more tells that there are more).
    A figure the platform keeps nothing for (no direction, no duration, no appointments) is NULL."""
    calls, companies, appointments = schema.tables["calls"], schema.tables["companies"], schema.table("appointments")
    with_direction = schema.has("calls.direction")
    with_bookings = appointments is not None and all(schema.has(f"appointments.{name}") for name in (
        "starts_at", "created_at", "customer_id"))
    in_today = [calls.c.created_at >= today_start, calls.c.created_at <= now, *platform.live(calls),
                *_scope(calls.c.company_id, company_ids)]
    per_company = _per_company(_todays_calls(schema, in_today), schema, with_direction)
    ongoing = (sa.select(calls.c.company_id, sa.func.count().label("ongoing"))
               .where(ongoing_condition(now, company_ids, platform, schema)).group_by(calls.c.company_id)
               .subquery("ongoing"))
    zero = sa.literal(0)
    source = (companies.outerjoin(per_company, per_company.c.company_id == companies.c.id)
              .outerjoin(ongoing, ongoing.c.company_id == companies.c.id))
    if with_bookings:
        booked, converted = _bookings(schema, now, today_start, company_ids, booking_window_hours, platform,
                                      in_today, schema.field("calls.customer_id"))
        source = (source.outerjoin(booked, booked.c.company_id == companies.c.id)
                  .outerjoin(converted, converted.c.company_id == companies.c.id))
        bookings = [sa.func.coalesce(booked.c.booked, zero).label("booked"),
                    sa.func.coalesce(converted.c.converted, zero).label("converted")]
    else:
        bookings = [_null_int().label("booked"), _null_int().label("converted")]
    return (
        sa.select(
            companies.c.id.label("company_id"), companies.c.name.label("company_name"),
            sa.func.coalesce(ongoing.c.ongoing, zero).label("ongoing"),
            *_figures(per_company, with_direction, zero),
            per_company.c.average_talk, per_company.c.p90_talk, per_company.c.last_call_at,
            *bookings,
        )
        .select_from(source)
        .where(companies.c.id > after_company, *platform.live(companies), *_scope(companies.c.id, company_ids))
        .order_by(companies.c.id)
        .limit(limit + 1)
    )


def _null_int() -> sa.ColumnElement:
    return sa.cast(sa.null(), sa.Integer)


def _todays_calls(schema: MappedSchema, in_today: list[sa.ColumnElement[bool]]) -> sa.Subquery:
    """Return today's calls, each with whether it is timed (answered, with a length) and its rank by length."""
    calls = schema.tables["calls"]
    direction, duration = schema.field("calls.direction"), schema.field("calls.duration_sec")
    duration_or_null = duration if duration is not None else _null_int()
    timed = sa.case((sa.and_(schema.status_in("answered"), duration_or_null.is_not(None)), 1), else_=0)
    return sa.select(
        calls.c.company_id, (direction if direction is not None else sa.null()).label("direction"), calls.c.status,
        duration_or_null.label("duration_sec"), calls.c.created_at,
        timed.label("timed"),
        # Each company's timed calls numbered by length, and counted, for the nearest-rank p90.
        sa.func.row_number().over(partition_by=(calls.c.company_id, timed), order_by=duration_or_null)
        .label("position"),
        sa.func.count().over(partition_by=(calls.c.company_id, timed)).label("timed_count"),
    ).where(*in_today).subquery("today")


def _counted(condition: sa.ColumnElement[bool] | None, name: str) -> sa.ColumnElement:
    """Return how many rows meet the condition, labelled (NULL where the platform keeps nothing to judge by)."""
    return (_count_where(condition) if condition is not None else _null_int()).label(name)


def _per_company(today: sa.Subquery, schema: MappedSchema, with_direction: bool) -> sa.Subquery:
    """Return each company's figures of today's calls: counts by direction and bucket, talk times, the last call."""
    is_timed = today.c.timed == 1
    return sa.select(
        today.c.company_id,
        sa.func.count().label("calls"),
        _counted(today.c.direction == "inbound" if with_direction else None, "inbound"),
        _counted(today.c.direction == "outbound" if with_direction else None, "outbound"),
        *(_counted(schema.status_in(bucket, today.c.status), bucket)
          for bucket in ("answered", "missed", "failed", "other")),
        # The answered calls with a length: what the average and the p90 stand on (queries/figures.py).
        _count_where(is_timed).label("timed"),
        sa.func.avg(sa.case((is_timed, today.c.duration_sec))).label("average_talk"),
        sa.func.min(sa.case((sa.and_(is_timed, today.c.position * 10 >= today.c.timed_count * 9),
                             today.c.duration_sec))).label("p90_talk"),
        sa.func.max(today.c.created_at).label("last_call_at"),
    ).group_by(today.c.company_id).subquery("per_company")


def _figures(per_company: sa.Subquery, with_direction: bool, zero: sa.ColumnElement) -> list[sa.ColumnElement]:
    """Return the companies' counts, 0 where a company had no call today (NULL where the platform keeps no
    direction)."""
    absent = () if with_direction else ("inbound", "outbound")
    return [sa.func.coalesce(per_company.c[name], zero).label(name) if name not in absent
            else _null_int().label(name) for name in ("calls", "inbound", "outbound", "answered", "missed", "failed",
                                                      "other", "timed")]


def _bookings(schema: MappedSchema, now: datetime, today_start: datetime, company_ids: Sequence[int] | None,
              booking_window_hours: int, platform: PlatformSchema, in_today: list[sa.ColumnElement[bool]],
              customer_id: sa.ColumnElement | None):
    """Return the derived tables of today's bookings per company, and of those an answered call of today led to.

    On MySQL and MariaDB the join to the calls is an inner one, which they filter on idx_customer_calls'
    created_at before reading a call (index condition pushdown); as the outer join that also counted the
    bookings, MariaDB read every call of each booking's customer (27 rows a booking at 20 companies: 25 ms of
    57). SQLite, given an inner join, starts from today's calls and looks their bookings up by customer (1.6
    times slower on the demo's data); an outer join keeps it starting from the bookings."""
    calls, appointments = schema.tables["calls"], schema.tables["appointments"]

    def todays_bookings(name: str):
        return _by_slot(sa.select(appointments.c.id, appointments.c.company_id, appointments.c.customer_id,
                                  appointments.c.created_at)
                        .where(appointments.c.starts_at >= today_start, appointments.c.created_at >= today_start,
                               appointments.c.created_at <= now, *platform.live(appointments),
                               *_scope(appointments.c.company_id, company_ids)), appointments, platform).subquery(name)

    bookings = todays_bookings("bookings")
    booked = (sa.select(bookings.c.company_id, sa.func.count().label("booked"))
              .group_by(bookings.c.company_id).subquery("booked"))
    converting = todays_bookings("converting")
    if customer_id is None:  # no call names its customer: none can be seen to lead to a booking
        converted = (sa.select(converting.c.company_id, sa.literal(0).label("converted"))
                     .where(sa.false()).subquery("converted"))
        return booked, converted
    led_to_booking = sa.and_(
        customer_id == converting.c.customer_id, calls.c.company_id == converting.c.company_id,
        # The call within the window before the booking, as a range of the call's own column: read by
        # idx_customer_calls (customer_id, created_at), not every call the customer ever made.
        calls.c.created_at <= converting.c.created_at,
        calls.c.created_at > plus_seconds(converting.c.created_at, sa.literal(-int(booking_window_hours) * 3600)),
        *in_today, schema.status_in("answered"))
    converted = (sa.select(converting.c.company_id, sa.func.count(sa.distinct(calls.c.id)).label("converted"))
                 .select_from(converting.join(calls, led_to_booking, isouter=not platform.mysql))
                 .group_by(converting.c.company_id)
                 .subquery("converted"))
    return booked, converted


def fetch_company_kpis(engine: Engine, now: datetime, today_start: datetime,
                       company_ids: Sequence[int] | None = None,
                       booking_window_hours: int = DEFAULT_BOOKING_WINDOW_HOURS,
                       limit: int = MAX_COMPANIES, after_company: int = 0) -> CompanyKpis:
    """Return each company's live figures at `now` ('today' began at `today_start`): the first `limit` companies
    by id after `after_company`."""
    if company_ids is not None and not company_ids:
        return CompanyKpis(rows=pd.DataFrame(columns=list(COLUMNS)), capped=False)
    statement = kpi_statement(now, today_start, company_ids, booking_window_hours, platform_schema(engine), limit,
                              after_company, schema_of(engine))
    frame = run(engine, statement, max_rows=limit + 1)
    return CompanyKpis(rows=frame.head(limit), capped=len(frame) > limit)


def judged_figure(row, key: str) -> tuple[float | None, int | None]:
    """Return one company row's judged figure (queries/figures.py: answered_rate, missed_rate, failed_rate,
    booking_rate or p90_talk) and the calls it stands on; the figure is None where there is nothing to divide."""
    answered, missed, failed = (int(getattr(row, name)) for name in ("answered", "missed", "failed"))
    outcomes = answered + missed + failed
    if key == "p90_talk":
        timed = getattr(row, "timed", None)
        return (None if pd.isna(row.p90_talk) else float(row.p90_talk)), (None if pd.isna(timed) else int(timed))
    if key == "booking_rate":
        converted = row.converted
        if converted is None or pd.isna(converted) or answered == 0:
            return None, answered
        return 100.0 * int(converted) / answered, answered
    part = {"answered_rate": answered, "missed_rate": missed, "failed_rate": failed}[key]
    return (None if outcomes == 0 else 100.0 * part / outcomes), outcomes


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Today's calls are read from their covering index where `migrate` made it (see schema/indexes.py).
    expected = {"calls": (idx_calls_window.name, idx_calls_created_date.name, idx_ongoing_calls.name,
                          idx_customer_calls.name),
                "appointments": (idx_appointments_window.name, idx_appointments_starts_date.name)}
    if not (schema.offers("appointments") and schema.has("appointments.starts_at")):
        expected = {"calls": expected["calls"][:3]}
    return [("company kpis", kpi_statement(now, today_start, platform=platform, schema=schema), expected)]
