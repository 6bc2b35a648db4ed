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
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, no_text, platform_schema
from queries.runner import run
from queries.timeutil import floor_hour, hour_start, last_hours
from schema.tables import (appointments, calls, idx_appointments_starts_date, idx_calls_created_date,
                           idx_ongoing_calls)

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


def _metric(name: str) -> sa.ColumnElement:
    return as_result_text(sa.literal(name, sa.String(24)))


def headline_statement(now: datetime, today_start: datetime, company_ids: Sequence[int] | None = None,
                       platform: PlatformSchema = DEFAULT_PLATFORM) -> sa.CompoundSelect:
    """Return the one statement behind the headline cards and the hourly chart (soft-deleted rows uncounted)."""
    chart_start = floor_hour(now) - timedelta(hours=HOURS_CHARTED - 1)
    live_calls = [*_company(calls.c.company_id, company_ids), *platform.live(calls)]
    calls_today = [calls.c.created_at >= today_start, calls.c.created_at <= now, *live_calls]
    bucket = hour_start(calls.c.created_at)
    return sa.union_all(
        sa.select(_metric("ongoing").label("metric"), no_text().label("bucket"), sa.func.count().label("value"))
        .select_from(calls).where(ongoing_condition(now, company_ids, platform)),
        sa.select(_metric("calls_today"), no_text(), sa.func.count())
        .select_from(calls).where(*calls_today),
        sa.select(_metric("appointments_today"), no_text(), sa.func.count())
        .select_from(appointments)
        .where(appointments.c.starts_at >= today_start,
               appointments.c.starts_at < today_start + timedelta(days=1),
               *_company(appointments.c.company_id, company_ids), *platform.live(appointments)),
        sa.select(_metric("average_duration_today"), no_text(), sa.func.avg(calls.c.duration_sec))
        .select_from(calls).where(*calls_today, calls.c.duration_sec.is_not(None)),
        sa.select(_metric("calls_per_hour"), as_result_text(bucket), sa.func.count())
        .select_from(calls)
        .where(calls.c.created_at >= chart_start, calls.c.created_at <= now, *live_calls)
        .group_by(bucket),
    )


def fetch_headline_stats(engine: Engine, now: datetime, today_start: datetime,
                         company_ids: Sequence[int] | None = None) -> HeadlineStats:
    """Return the headline figures at `now`; 'today' began at `today_start`."""
    statement = headline_statement(now, today_start, company_ids, platform_schema(engine))
    frame = run(engine, statement, max_rows=HOURS_CHARTED + 8)
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


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [("headline stats", headline_statement(now, today_start, platform=platform),
             {"calls": (idx_ongoing_calls.name, idx_calls_created_date.name),
              "appointments": (idx_appointments_starts_date.name,)})]

