"""Time as the database keeps it, and SQL for hour buckets on every dialect."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

HOUR_FORMAT = "%Y-%m-%d %H:00:00"


def database_now(database_timezone: str = "UTC") -> datetime:
    """Return now as a naive datetime in the timezone the platform stores."""
    return datetime.now(timezone.utc).astimezone(ZoneInfo(database_timezone)).replace(tzinfo=None)


def start_of_day(now: datetime, display_timezone: str = "UTC",
                 database_timezone: str = "UTC") -> datetime:
    """Return the database-time instant at which `now`'s day began for the viewer."""
    stored = ZoneInfo(database_timezone)
    viewer = ZoneInfo(display_timezone)
    local_now = now.replace(tzinfo=stored).astimezone(viewer)
    local_midnight = datetime(local_now.year, local_now.month, local_now.day, tzinfo=viewer)
    return local_midnight.astimezone(stored).replace(tzinfo=None)


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
