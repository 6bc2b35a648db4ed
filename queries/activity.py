"""Recent customer activity, for support staff: calls and appointments in one feed.

One statement: a UNION ALL of a calls branch and an appointments branch, each
already filtered, ordered and limited inside its own derived table (so each uses
its index and reads at most one page), then merged newest first.

Pagination is by keyset: the feed is ordered by (at, kind, id) descending and a
page ends with a cursor, the key of its last row; the next page starts after it.
No OFFSET, so page 200 costs what page 1 costs.

A call's time is its `created_at`; an appointment's is its `starts_at`. The
window runs from `now - window` to `now`: what has happened, not what is booked
for later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import pandas as pd
import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.frames import frame_from_data, frame_to_data
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, no_text, platform_schema
from queries.runner import run
from schema.tables import (agents, appointments, calls, companies, customers, idx_appointments_starts_date,
                           idx_appointments_status_date, idx_calls_created_date, idx_customer_calls, services)

KINDS = ("call", "appointment")
CALL_STATUSES = ("ongoing", "in_progress", "completed", "failed", "missed", "busy", "no_answer")
APPOINTMENT_STATUSES = ("scheduled", "confirmed", "completed", "cancelled", "no_show")
STATUSES = tuple(dict.fromkeys(CALL_STATUSES + APPOINTMENT_STATUSES))
DIRECTIONS = ("inbound", "outbound")
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "30d": timedelta(days=30), "90d": timedelta(days=90)}
DEFAULT_WINDOW = "7d"
DEFAULT_PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 100
LIKE_ESCAPE = "\\"
PHONE_SEARCH = re.compile(r"^[\d\s()+./-]+$")

COLUMNS = ("kind", "id", "at", "customer_name", "phone", "company_id", "company_name", "service_name",
           "direction", "status", "duration_sec")
WIDEST_WINDOW = "90d"


@dataclass(frozen=True)
class Cursor:
    """The key of the last row of a page: (at, kind, id)."""

    at: datetime
    kind: str
    id: int


@dataclass(frozen=True)
class ActivityFilter:
    """A validated filter of the feed; empty tuples mean 'any'."""

    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    company_ids: tuple[int, ...] | None = None
    customer_id: int | None = None
    window: str = DEFAULT_WINDOW
    search: str = ""
    # For viewers who see masked numbers: a number matches only whole, never by a fragment (a fragment search
    # of '…134', '…0134', … would read a masked number back digit by digit).
    whole_numbers_only: bool = False
    phone_region: str = ""  # where a number typed without its country code is from (PHONE_REGION)

    def __post_init__(self):
        _check_subset("kind", self.kinds, KINDS)
        _check_subset("status", self.statuses, STATUSES)
        _check_subset("direction", self.directions, DIRECTIONS)
        if self.window not in WINDOWS:
            raise ValueError(f"unknown time window {self.window!r}; choose one of {', '.join(WINDOWS)}")
        if len(self.search) > SEARCH_MAX_LENGTH:
            raise ValueError(f"search text is longer than {SEARCH_MAX_LENGTH} characters")
        if any(0xD800 <= ord(character) <= 0xDFFF for character in self.search):
            # A lone surrogate is not text: no driver can send it, and no row can hold it.
            raise ValueError("the search holds a character that is not text")

    def wants(self, kind: str) -> bool:
        """Tell whether rows of this kind can match the filter at all."""
        if self.kinds and kind not in self.kinds:
            return False
        own_statuses = CALL_STATUSES if kind == "call" else APPOINTMENT_STATUSES
        if self.statuses and not set(self.statuses) & set(own_statuses):
            return False
        # Appointments have no direction: a direction filter means calls only.
        return not (kind == "appointment" and self.directions)


@dataclass(frozen=True)
class ActivityPage:
    rows: pd.DataFrame
    next_cursor: Cursor | None


def _check_subset(label: str, chosen: Sequence[str], allowed: Sequence[str]) -> None:
    unknown = [value for value in chosen if value not in allowed]
    if unknown:
        raise ValueError(f"unknown {label} {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}")


def escape_like(text: str) -> str:
    """Escape LIKE's wildcards so user text matches literally."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def whole_number(text: str, region: str = "") -> str | None:
    """Return the E.164 form of a typed phone number ('030 5000001' in DE -> '+49305000001'), or None."""
    typed = text.strip()
    if typed.startswith("00"):
        typed = "+" + typed[2:]
    try:
        number = phonenumbers.parse(typed, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _search_condition(activity: ActivityFilter, names: Sequence[sa.Column], phones: Sequence[sa.Column],
                      platform: PlatformSchema):
    text = activity.search.strip()
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if activity.whole_numbers_only:
        if PHONE_SEARCH.match(text):
            number = whole_number(text, activity.phone_region)
            return sa.or_(*(phone == number for phone in phones)) if number else sa.false()
        # Names only: the numbers' fragments stay out of reach of a text search too.
        columns, pattern = names, f"%{escape_like(text)}%"
    elif PHONE_SEARCH.match(text) and len(digits) >= 3:
        # Numbers are stored in E.164 (+4930…): match the digits, whatever the formatting typed.
        columns, pattern = phones, f"%{digits}%"
    else:
        columns, pattern = (*names, *phones), f"%{escape_like(text)}%"
    # A column whose charset cannot hold the text holds no match (a latin1 name is never 'Иван'); asking the
    # server would be error 1267, and converting the column instead would cost it its index.
    matches = [column.like(pattern, escape=LIKE_ESCAPE) for column in columns if platform.can_hold(column, text)]
    return sa.or_(*matches) if matches else sa.false()


def _after_cursor(kind: str, at: sa.ColumnElement, row_id: sa.ColumnElement, cursor: Cursor | None):
    """Return the condition 'comes after the cursor' for a branch whose rows are all `kind`."""
    if cursor is None:
        return None
    if kind < cursor.kind:
        return at <= cursor.at
    if kind > cursor.kind:
        return at < cursor.at
    return sa.or_(at < cursor.at, sa.and_(at == cursor.at, row_id < cursor.id))


def _calls_branch(activity: ActivityFilter, now: datetime, cursor: Cursor | None, limit: int,
                  platform: PlatformSchema, with_agent: bool):
    at = calls.c.created_at
    conditions = [at >= now - WINDOWS[activity.window], at <= now, *platform.live(calls)]
    if activity.statuses:
        conditions.append(calls.c.status.in_([s for s in activity.statuses if s in CALL_STATUSES]))
    if activity.directions:
        conditions.append(calls.c.direction.in_(activity.directions))
    if activity.company_ids is not None:
        conditions.append(calls.c.company_id.in_(activity.company_ids))
    if activity.customer_id is not None:
        conditions.append(calls.c.customer_id == activity.customer_id)
    search = _search_condition(activity, (customers.c.name, calls.c.customer_name),
                               (customers.c.phone, calls.c.from_number, calls.c.to_number), platform)
    after = _after_cursor("call", at, calls.c.id, cursor)
    conditions += [c for c in (search, after) if c is not None]
    phone = sa.case((calls.c.direction == "outbound", calls.c.to_number), else_=calls.c.from_number)
    joined = (calls.outerjoin(customers, platform.joined(customers, customers.c.id == calls.c.customer_id))
              .outerjoin(companies, platform.joined(companies, companies.c.id == calls.c.company_id)))
    agent = []
    if with_agent:
        joined = joined.outerjoin(agents, platform.joined(agents, agents.c.id == calls.c.agent_id))
        agent = [as_result_text(agents.c.name).label("agent_name")]
    # Every text column of the UNION in one explicit collation: the tables' own may differ (see queries/platform.py).
    return (
        sa.select(
            as_result_text(sa.literal("call", sa.String(16))).label("kind"), calls.c.id, at.label("at"),
            sa.func.coalesce(as_result_text(customers.c.name), as_result_text(calls.c.customer_name))
            .label("customer_name"),
            as_result_text(phone).label("phone"), calls.c.company_id,
            as_result_text(companies.c.name).label("company_name"), no_text().label("service_name"),
            as_result_text(calls.c.direction).label("direction"), as_result_text(calls.c.status).label("status"),
            calls.c.duration_sec, *agent,
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(at.desc(), calls.c.id.desc())
        .limit(limit)
    )


def _appointments_branch(activity: ActivityFilter, now: datetime, cursor: Cursor | None, limit: int,
                         platform: PlatformSchema, with_agent: bool):
    at = appointments.c.starts_at
    conditions = [at >= now - WINDOWS[activity.window], at <= now, *platform.live(appointments)]
    if activity.statuses:
        conditions.append(appointments.c.status.in_(
            [s for s in activity.statuses if s in APPOINTMENT_STATUSES]))
    if activity.company_ids is not None:
        conditions.append(appointments.c.company_id.in_(activity.company_ids))
    if activity.customer_id is not None:
        conditions.append(appointments.c.customer_id == activity.customer_id)
    search = _search_condition(activity, (customers.c.name,), (customers.c.phone,), platform)
    after = _after_cursor("appointment", at, appointments.c.id, cursor)
    conditions += [c for c in (search, after) if c is not None]
    return (
        sa.select(
            as_result_text(sa.literal("appointment", sa.String(16))).label("kind"), appointments.c.id, at.label("at"),
            as_result_text(customers.c.name).label("customer_name"), as_result_text(customers.c.phone).label("phone"),
            appointments.c.company_id, as_result_text(companies.c.name).label("company_name"),
            as_result_text(services.c.name).label("service_name"), no_text().label("direction"),
            as_result_text(appointments.c.status).label("status"), sa.cast(sa.null(), sa.Integer).label("duration_sec"),
            *([no_text().label("agent_name")] if with_agent else []),
        )
        .select_from(
            appointments
            .outerjoin(customers, platform.joined(customers, customers.c.id == appointments.c.customer_id))
            .outerjoin(companies, platform.joined(companies, companies.c.id == appointments.c.company_id))
            .outerjoin(services, platform.joined(services, services.c.id == appointments.c.service_id)))
        .where(*conditions)
        .order_by(at.desc(), appointments.c.id.desc())
        .limit(limit)
    )


def activity_statement(activity: ActivityFilter, now: datetime, cursor: Cursor | None = None,
                       page_size: int = DEFAULT_PAGE_SIZE, platform: PlatformSchema = DEFAULT_PLATFORM,
                       with_agent: bool = False) -> sa.Select | None:
    """Return the one statement for a page of the feed (None when no kind can match); the export asks for the
    calls' agent too."""
    # One row more than a page tells whether another page follows.
    limit = page_size + 1
    branches = []
    if activity.wants("call"):
        branches.append(_calls_branch(activity, now, cursor, limit, platform, with_agent).subquery("call_rows"))
    if activity.wants("appointment"):
        branches.append(_appointments_branch(activity, now, cursor, limit, platform, with_agent)
                        .subquery("appointment_rows"))
    if not branches:
        return None
    parts = [sa.select(*branch.c) for branch in branches]
    merged = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery("activity")
    return (
        sa.select(*merged.c)
        .order_by(merged.c.at.desc(), merged.c.kind.desc(), merged.c.id.desc())
        .limit(limit)
    )


def fetch_activity(engine: Engine, activity: ActivityFilter, now: datetime, cursor: Cursor | None = None,
                   page_size: int = DEFAULT_PAGE_SIZE, with_agent: bool = False) -> ActivityPage:
    """Return one page of the feed, newest first, and the cursor of the next page."""
    if page_size <= 0:
        raise ValueError("page size must be positive")
    if not any(activity.wants(kind) for kind in KINDS):
        columns = [*COLUMNS, "agent_name"] if with_agent else list(COLUMNS)
        return ActivityPage(rows=pd.DataFrame(columns=columns), next_cursor=None)
    statement = activity_statement(activity, now, cursor, page_size, platform_schema(engine), with_agent)
    frame = run(engine, statement, max_rows=page_size + 1)
    frame["at"] = pd.to_datetime(frame["at"])
    return _page_of(frame, page_size)


def _page_of(frame: pd.DataFrame, page_size: int) -> ActivityPage:
    """Cut a page from the feed's rows in order, one more than a page telling that another follows."""
    next_cursor = None
    if len(frame) > page_size:
        frame = frame.iloc[:page_size]
        last = frame.iloc[-1]
        next_cursor = Cursor(at=last["at"].to_pydatetime(), kind=str(last["kind"]), id=int(last["id"]))
    return ActivityPage(rows=frame.reset_index(drop=True), next_cursor=next_cursor)


# --- the recent feed: many views answered from one statement ----------------------------------------------

@dataclass(frozen=True)
class RecentFeed:
    """The newest rows of the whole feed (within the widest window and a tenant scope), fetched once.

    Support staff flip between a handful of views (calls only, missed, outbound, the
    next page). Each is a filter of the newest rows, so one statement per interval
    answers all of them exactly, instead of one statement per view per interval.
    """

    rows: pd.DataFrame
    now: datetime
    company_ids: tuple[int, ...] | None
    holds_everything: bool  # fewer rows than asked for: nothing older is left in the window

    def to_data(self) -> dict[str, Any]:
        """Return the feed as plain JSON data, as the query cache stores it (never a pickle; issue 12)."""
        return {"rows": frame_to_data(self.rows), "now": self.now.isoformat(),
                "company_ids": None if self.company_ids is None else list(self.company_ids),
                "holds_everything": self.holds_everything}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "RecentFeed":
        """Rebuild the feed to_data described."""
        scope = data["company_ids"]
        return cls(rows=frame_from_data(data["rows"]), now=datetime.fromisoformat(data["now"]),
                   company_ids=None if scope is None else tuple(scope), holds_everything=data["holds_everything"])


def fetch_recent_feed(engine: Engine, now: datetime, row_count: int,
                      company_ids: tuple[int, ...] | None = None) -> RecentFeed:
    """Return the newest `row_count` rows of the feed within the widest window and these companies."""
    page = fetch_activity(engine, ActivityFilter(window=WIDEST_WINDOW, company_ids=company_ids), now,
                          page_size=row_count)
    return RecentFeed(rows=page.rows, now=now, company_ids=company_ids, holds_everything=page.next_cursor is None)


def page_from_recent(recent: RecentFeed, activity: ActivityFilter, cursor: Cursor | None,
                     page_size: int) -> ActivityPage | None:
    """Return the page `fetch_activity` would return at `recent.now`, or None when the recent rows cannot tell.

    The recent rows are the top of the feed in its order, so the rows of any filter
    among them are the top of that filter's feed. The page is exact when more than a
    page of them match, or when nothing that could match is missing: the recent rows
    hold the whole widest window, or reach back past the filter's window.
    Searches and single customers go to the database: their match rules are SQL's.
    """
    if activity.search or activity.customer_id is not None or not _within(activity.company_ids, recent.company_ids):
        return None
    rows = recent.rows
    since = recent.now - WINDOWS[activity.window]
    keep = rows["at"] >= since
    kinds = [kind for kind in KINDS if activity.wants(kind)]
    keep &= rows["kind"].isin(kinds)
    if activity.statuses:
        call_statuses = [s for s in activity.statuses if s in CALL_STATUSES]
        appointment_statuses = [s for s in activity.statuses if s in APPOINTMENT_STATUSES]
        keep &= (((rows["kind"] == "call") & rows["status"].isin(call_statuses))
                 | ((rows["kind"] == "appointment") & rows["status"].isin(appointment_statuses)))
    if activity.directions:
        keep &= rows["direction"].isin(activity.directions)
    if activity.company_ids is not None:
        keep &= rows["company_id"].isin(activity.company_ids)
    if cursor is not None:
        keep &= _before(rows, cursor)
    matching = rows[keep]
    if len(matching) > page_size:
        return _page_of(matching, page_size)
    # Rows missing from the recent ones are all older than its oldest row.
    if recent.holds_everything or rows["at"].iloc[-1] < since:
        return _page_of(matching, page_size)
    return None


def _within(chosen: tuple[int, ...] | None, scope: tuple[int, ...] | None) -> bool:
    """Tell whether a company filter asks for nothing outside the recent rows' scope."""
    return scope is None or (chosen is not None and set(chosen) <= set(scope))


def _before(rows: pd.DataFrame, cursor: Cursor) -> pd.Series:
    """Rows whose key (at, kind, id) comes after the cursor in the feed's newest-first order."""
    at = rows["at"]
    same_at = at == pd.Timestamp(cursor.at)
    return (at < pd.Timestamp(cursor.at)) | (same_at & (rows["kind"] < cursor.kind)) \
        | (same_at & (rows["kind"] == cursor.kind) & (rows["id"] < cursor.id))


COMPANY_OPTIONS_CAP = 1000


def fetch_company_options(engine: Engine, company_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Return the companies the feed can be filtered by (id, name), by name."""
    statement = (sa.select(companies.c.id, companies.c.name).where(*platform_schema(engine).live(companies))
                 .order_by(companies.c.name, companies.c.id))
    if company_ids is not None:
        statement = statement.where(companies.c.id.in_(list(company_ids)))
    return run(engine, statement.limit(COMPANY_OPTIONS_CAP), max_rows=COMPANY_OPTIONS_CAP)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    by_time = {"calls": (idx_calls_created_date.name,), "appointments": (idx_appointments_starts_date.name,)}

    def statement(activity: ActivityFilter) -> sa.Select | None:
        return activity_statement(activity, now, platform=platform)

    return [
        ("activity feed", statement(ActivityFilter()), by_time),
        ("activity feed, searched", statement(ActivityFilter(search="ann")), by_time),
        ("activity feed, by status", statement(ActivityFilter(kinds=("appointment",), statuses=("cancelled",))),
         {"appointments": (idx_appointments_status_date.name,)}),
        ("activity feed, one customer", statement(ActivityFilter(kinds=("call",), customer_id=1, window="90d")),
         {"calls": (idx_customer_calls.name,)}),
    ]
