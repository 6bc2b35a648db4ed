"""Headline stats: ongoing now, calls and appointments today, average duration, calls per hour.

One statement in long form, `(metric, bucket, value)`: a UNION ALL whose branches
each answer one figure from its own index: ongoing now; calls, their average length
and appointments today, and the same over the same part of yesterday and of the
same weekday last week ("306 calls today · +12 % vs yesterday at 14:05");
today's calls and last week's by hour. Hours are the viewer's (DISPLAY_TIMEZONE),
read from the database's hour buckets here; the hours with no calls are filled in
here, not in SQL.

Calls and their average length are compared up to now's time of day (a whole day's
total is no fair comparison at 14:05); appointments by the whole day they start in,
since a day's schedule is known ahead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Sequence
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.ongoing_calls import ongoing_condition
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, no_text, platform_schema
from queries.runner import run
from queries.timeutil import DayWindow, day_window, hour_start, local_hour
from schema.tables import (idx_appointments_starts_date, idx_appointments_window, idx_calls_created_date,
                           idx_calls_window, idx_ongoing_calls)

HOURS_OF_DAY = 24
YESTERDAY, LAST_WEEK = 1, 7  # the earlier days each figure is compared with, in days back


@dataclass(frozen=True)
class Compared:
    """A figure of today and the same figure over the same part of yesterday and of the same weekday last week."""

    today: float | None
    yesterday: float | None
    last_week: float | None


@dataclass(frozen=True)
class HeadlineStats:
    ongoing: int
    calls_today: int
    appointments_today: int
    average_duration_today: float | None  # seconds; None when no call of today has a duration
    # Columns hour (0-23, of the local day), calls (today's; None for the hours still to come) and last_week
    # (the same weekday a week ago, every hour).
    calls_per_hour: pd.DataFrame
    calls: Compared  # calls up to now's time of day
    average_duration: Compared  # the average call length up to now's time of day
    appointments: Compared  # appointments starting that whole day (the day's schedule)
    local_now: datetime  # now on the viewer's clock (naive), for "vs yesterday at 14:05"


def _company(column: sa.ColumnElement, company_ids: Sequence[int] | None):
    return [] if company_ids is None else [column.in_(list(company_ids))]


def _metric(name: str) -> sa.ColumnElement:
    return as_result_text(sa.literal(name, sa.String(24)))


def _windows(now: datetime, display_timezone: str, database_timezone: str) -> dict[int, DayWindow]:
    return {back: day_window(now, back, display_timezone, database_timezone) for back in (0, YESTERDAY, LAST_WEEK)}


def headline_statement(now: datetime, today_start: datetime, company_ids: Sequence[int] | None = None,
                       platform: PlatformSchema = DEFAULT_PLATFORM, display_timezone: str = "UTC",
                       database_timezone: str = "UTC", schema: MappedSchema = DEFAULT_SCHEMA) -> sa.CompoundSelect:
    """Return the one statement behind the headline cards, their comparisons and the hourly chart (soft-deleted
    rows uncounted): a branch per figure and day, each answered from its own index range."""
    windows = _windows(now, display_timezone, database_timezone)
    calls, appointments = schema.tables["calls"], schema.table("appointments")
    starts_at, duration = schema.field("appointments.starts_at"), schema.field("calls.duration_sec")
    if starts_at is None:
        appointments = None  # a platform without appointments (or their time) has no such figure
    live_calls = [*_company(calls.c.company_id, company_ids), *platform.live(calls)]
    bucket = hour_start(calls.c.created_at)

    def calls_between(start: datetime, until: datetime) -> list[sa.ColumnElement[bool]]:
        return [calls.c.created_at >= start, calls.c.created_at <= until, *live_calls]

    def appointments_between(start: datetime, end: datetime) -> list[sa.ColumnElement[bool]]:
        return [starts_at >= start, starts_at < end,
                *_company(appointments.c.company_id, company_ids), *platform.live(appointments)]

    branches = [sa.select(_metric("ongoing").label("metric"), no_text().label("bucket"), sa.func.count().label("value"))
                .select_from(schema.tables["calls"]).where(ongoing_condition(now, company_ids, platform, schema))]
    for back, window in windows.items():
        start, until = (today_start, now) if back == 0 else (window.start, window.until)
        end = window.end
        branches.append(sa.select(_metric(f"calls_{back}"), no_text(), sa.func.count())
                        .select_from(calls).where(*calls_between(start, until)))
        if appointments is not None:
            branches.append(sa.select(_metric(f"appointments_{back}"), no_text(), sa.func.count())
                            .select_from(appointments).where(*appointments_between(start, end)))
        if duration is not None:
            branches.append(sa.select(_metric(f"average_duration_{back}"), no_text(), sa.func.avg(duration))
                            .select_from(calls).where(*calls_between(start, until), duration.is_not(None)))
    for back, (start, until) in ((0, (today_start, now)), (LAST_WEEK, (windows[LAST_WEEK].start,
                                                                        windows[LAST_WEEK].end))):
        branches.append(sa.select(_metric(f"calls_per_hour_{back}"), as_result_text(bucket), sa.func.count())
                        .select_from(calls)
                        .where(calls.c.created_at >= start, calls.c.created_at < until if back else
                               calls.c.created_at <= until, *live_calls)
                        .group_by(bucket))
    return sa.union_all(*branches)


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def hourly_counts(frame: pd.DataFrame, metric: str, day: date, display_timezone: str,
                  database_timezone: str) -> list[int]:
    """Return the calls of each hour of the viewer's `day` from the statement's hour buckets (database time).

    A database hour falls in the local hour it starts in: exact for every whole-hour offset; on the day clocks
    go back, the local hour that happens twice counts both; on the day they go forward, the skipped hour has 0."""
    counts = [0] * HOURS_OF_DAY
    rows = frame[frame["metric"] == metric]
    for bucket, value in zip(rows["bucket"], rows["value"]):
        local_day, hour = local_hour(datetime.strptime(str(bucket), "%Y-%m-%d %H:%M:%S"), display_timezone,
                                     database_timezone)
        if local_day == day:
            counts[hour] += int(value)
    return counts


def fetch_headline_stats(engine: Engine, now: datetime, today_start: datetime,
                         company_ids: Sequence[int] | None = None, display_timezone: str = "UTC",
                         database_timezone: str = "UTC") -> HeadlineStats:
    """Return the headline figures at `now`; 'today' began at `today_start` (local midnight in
    `display_timezone`, the zone the comparisons and the chart's hours are read in)."""
    statement = headline_statement(now, today_start, company_ids, platform_schema(engine), display_timezone,
                                   database_timezone, schema_of(engine))
    frame = run(engine, statement, max_rows=2 * HOURS_OF_DAY + 16)
    scalars = {row.metric: row.value for row in frame.itertuples() if not row.metric.startswith("calls_per_hour")}
    windows = _windows(now, display_timezone, database_timezone)
    local_now = now.replace(tzinfo=ZoneInfo(database_timezone)).astimezone(ZoneInfo(display_timezone))
    today = hourly_counts(frame, "calls_per_hour_0", windows[0].day, display_timezone, database_timezone)
    last_week = hourly_counts(frame, f"calls_per_hour_{LAST_WEEK}", windows[LAST_WEEK].day, display_timezone,
                              database_timezone)

    def compared(name: str) -> Compared:
        return Compared(*(_number(scalars.get(f"{name}_{back}")) for back in (0, YESTERDAY, LAST_WEEK)))

    calls_compared, average, appointments_compared = compared("calls"), compared("average_duration"), \
        compared("appointments")
    return HeadlineStats(
        ongoing=int(scalars.get("ongoing") or 0),
        calls_today=int(calls_compared.today or 0),
        appointments_today=int(appointments_compared.today or 0),
        average_duration_today=average.today,
        calls_per_hour=pd.DataFrame({"hour": range(HOURS_OF_DAY),
                                     "calls": pd.Series([count if hour <= local_now.hour else None
                                                         for hour, count in enumerate(today)], dtype=object),
                                     "last_week": last_week}),
        calls=calls_compared, average_duration=average, appointments=appointments_compared,
        local_now=local_now.replace(tzinfo=None),
    )


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # The time windows are read from their covering index where `migrate` made it (see schema/indexes.py).
    expected = {"calls": (idx_ongoing_calls.name, idx_calls_window.name, idx_calls_created_date.name)}
    if schema.offers("appointments") and schema.has("appointments.starts_at"):
        expected["appointments"] = (idx_appointments_window.name, idx_appointments_starts_date.name)
    return [("headline stats", headline_statement(now, today_start, platform=platform, schema=schema), expected)]

