"""Headline stats: ongoing now, calls and appointments today, average duration, calls per hour.

One statement in long form, `(metric, bucket, value)`: a UNION ALL whose branches
each answer one figure from its own index, plus the last 24 hours of calls
grouped by hour. The hours with no calls are filled in here, not in SQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.ongoing_calls import ongoing_condition
from queries.runner import run
from queries.timeutil import floor_hour, hour_start, last_hours
from schema.tables import appointments, calls

HOURS_CHARTED = 24


@dataclass(frozen=True)
class HeadlineStats:
    ongoing: int
    calls_today: int
    appointments_today: int
    average_duration_today: float | None  # seconds; None when no call of today has a duration
    calls_per_hour: pd.DataFrame  # columns hour (datetime), calls (int); 24 rows, oldest first


def _company(column: sa.ColumnElement, company_ids: Sequence[int] | None):
    return [] if company_ids is None else [column.in_(list(company_ids))]


def headline_statement(now: datetime, today_start: datetime,
                       company_ids: Sequence[int] | None = None) -> sa.CompoundSelect:
    """Return the one statement behind the headline cards and the hourly chart."""
    no_bucket = sa.cast(sa.null(), sa.String(19))
    chart_start = floor_hour(now) - timedelta(hours=HOURS_CHARTED - 1)
    calls_today = [calls.c.created_at >= today_start, calls.c.created_at <= now,
                   *_company(calls.c.company_id, company_ids)]
    bucket = hour_start(calls.c.created_at)
    return sa.union_all(
        sa.select(sa.literal("ongoing", sa.String(24)).label("metric"), no_bucket.label("bucket"),
                  sa.func.count().label("value"))
        .select_from(calls).where(ongoing_condition(now, company_ids)),
        sa.select(sa.literal("calls_today", sa.String(24)), no_bucket, sa.func.count())
        .select_from(calls).where(*calls_today),
        sa.select(sa.literal("appointments_today", sa.String(24)), no_bucket, sa.func.count())
        .select_from(appointments)
        .where(appointments.c.starts_at >= today_start,
               appointments.c.starts_at < today_start + timedelta(days=1),
               *_company(appointments.c.company_id, company_ids)),
        sa.select(sa.literal("average_duration_today", sa.String(24)), no_bucket,
                  sa.func.avg(calls.c.duration_sec))
        .select_from(calls).where(*calls_today, calls.c.duration_sec.is_not(None)),
        sa.select(sa.literal("calls_per_hour", sa.String(24)), bucket, sa.func.count())
        .select_from(calls)
        .where(calls.c.created_at >= chart_start, calls.c.created_at <= now,
               *_company(calls.c.company_id, company_ids))
        .group_by(bucket),
    )


def fetch_headline_stats(engine: Engine, now: datetime, today_start: datetime,
                         company_ids: Sequence[int] | None = None) -> HeadlineStats:
    """Return the headline figures at `now`; 'today' began at `today_start`."""
    frame = run(engine, headline_statement(now, today_start, company_ids), max_rows=HOURS_CHARTED + 8)
    scalars = {row.metric: row.value for row in frame.itertuples() if row.metric != "calls_per_hour"}
    hourly = frame[frame["metric"] == "calls_per_hour"]
    counts = {datetime.strptime(str(bucket), "%Y-%m-%d %H:%M:%S"): int(value)
              for bucket, value in zip(hourly["bucket"], hourly["value"])}
    hours = last_hours(now, HOURS_CHARTED)
    average = scalars.get("average_duration_today")
    return HeadlineStats(
        ongoing=int(scalars.get("ongoing") or 0),
        calls_today=int(scalars.get("calls_today") or 0),
        appointments_today=int(scalars.get("appointments_today") or 0),
        average_duration_today=None if average is None or pd.isna(average) else float(average),
        calls_per_hour=pd.DataFrame({"hour": hours, "calls": [counts.get(hour, 0) for hour in hours]}),
    )


def plan_examples(now: datetime) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [("headline stats", headline_statement(now, today_start),
             {"calls": ("idx_ongoing_calls", "idx_calls_created_date"),
              "appointments": ("idx_appointments_starts_date",)})]

