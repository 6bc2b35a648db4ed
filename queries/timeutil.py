"""Time as the database keeps it, and SQL for hour buckets on every dialect."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

HOUR_FORMAT = "%Y-%m-%d %H:00:00"


def database_now(database_timezone: str = "UTC", at: float | None = None) -> datetime:
    """Return now (or the moment `at`, seconds since the epoch) as a naive datetime in the timezone the
    platform stores."""
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.astimezone(ZoneInfo(database_timezone)).replace(tzinfo=None)


def start_of_day(now: datetime, display_timezone: str = "UTC",
                 database_timezone: str = "UTC") -> datetime:
    """Return the database-time instant at which `now`'s day began for the viewer."""
    stored = ZoneInfo(database_timezone)
    viewer = ZoneInfo(display_timezone)
    local_now = now.replace(tzinfo=stored).astimezone(viewer)
    local_midnight = datetime(local_now.year, local_now.month, local_now.day, tzinfo=viewer)
    return local_midnight.astimezone(stored).replace(tzinfo=None)


@dataclass(frozen=True)
class DayWindow:
    """A day of the viewer's calendar in database time: its start, the same time of day as now, its end."""

    start: datetime  # local midnight
    until: datetime  # the same local time of day as `now` on that day (now itself for today)
    end: datetime  # the next local midnight
    day: date  # the local date


def _stored(local: datetime, stored: ZoneInfo) -> datetime:
    return local.astimezone(stored).replace(tzinfo=None)


def day_window(now: datetime, days_back: int, display_timezone: str = "UTC",
               database_timezone: str = "UTC") -> DayWindow:
    """Return the local day `days_back` days before `now`'s, up to the same wall-clock time as now.

    "Yesterday at 14:05" is 14:05 on yesterday's clock, whatever the clocks did in between (a DST change makes
    that 23 or 25 hours before now). A time of day that day did not have (02:30 on the day clocks went
    forward) is read as the clock before the change read it (zoneinfo's fold=0), so 03:30 summer time."""
    stored, viewer = ZoneInfo(database_timezone), ZoneInfo(display_timezone)
    local_now = now.replace(tzinfo=stored).astimezone(viewer)
    day = local_now.date() - timedelta(days=days_back)
    until = now if days_back == 0 else _stored(datetime.combine(day, local_now.time().replace(tzinfo=None),
                                                                 tzinfo=viewer), stored)
    return DayWindow(start=_stored(datetime.combine(day, time(0), tzinfo=viewer), stored), until=until,
                     end=_stored(datetime.combine(day + timedelta(days=1), time(0), tzinfo=viewer), stored), day=day)


def local_hour(moment: datetime, display_timezone: str = "UTC", database_timezone: str = "UTC") -> tuple[date, int]:
    """Return the viewer's local date and hour of day at a stored moment."""
    local = moment.replace(tzinfo=ZoneInfo(database_timezone)).astimezone(ZoneInfo(display_timezone))
    return local.date(), local.hour


def floor_hour(moment: datetime) -> datetime:
    """Return the start of the hour that contains `moment`."""
    return moment.replace(minute=0, second=0, microsecond=0)


def last_hours(now: datetime, hours: int) -> list[datetime]:
    """Return the starts of the last `hours` hours, the current one included, oldest first."""
    current = floor_hour(now)
    return [current - timedelta(hours=back) for back in range(hours - 1, -1, -1)]


class hour_start(FunctionElement):
    """The start of a timestamp's hour, as 'YYYY-MM-DD HH:00:00' text."""

    type = sa.String()
    inherit_cache = True
    name = "hour_start"


@compiles(hour_start, "sqlite")
def _hour_start_sqlite(element, compiler, **kw):
    (column,) = list(element.clauses)
    return compiler.process(sa.func.strftime(HOUR_FORMAT, column), **kw)


@compiles(hour_start, "mysql")
@compiles(hour_start, "mariadb")
def _hour_start_mysql(element, compiler, **kw):
    (column,) = list(element.clauses)
    return compiler.process(sa.func.date_format(column, HOUR_FORMAT), **kw)


class plus_seconds(FunctionElement):
    """A timestamp column plus a whole number of seconds (bound, negative to go back), as the column's own
    type compares."""

    type = sa.DateTime()
    inherit_cache = True
    name = "plus_seconds"


@compiles(plus_seconds, "sqlite")
def _plus_seconds_sqlite(element, compiler, **kw):
    column, seconds = list(element.clauses)
    # SQLAlchemy stores SQLite timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff'; %f gives SS.SSS, so three zeros
    # make the text compare as the stored values do.
    return (f"(strftime('%Y-%m-%d %H:%M:%f', {compiler.process(column, **kw)}, "
            f"{compiler.process(seconds, **kw)} || ' seconds') || '000')")


@compiles(plus_seconds, "mysql")
@compiles(plus_seconds, "mariadb")
def _plus_seconds_mysql(element, compiler, **kw):
    column, seconds = list(element.clauses)
    return f"DATE_ADD({compiler.process(column, **kw)}, INTERVAL {compiler.process(seconds, **kw)} SECOND)"
