"""Recent customer activity, for support staff: calls and appointments in one feed.

One statement: a UNION ALL of a calls branch and an appointments branch, each
already filtered, ordered and limited inside its own derived table (so each uses
its index and reads at most one page), then merged newest first.

Pagination is by keyset: the feed is ordered by (at, kind, id) descending and a
page ends with a cursor, the key of its last row; the next page starts after it.
No OFFSET, so page 200 costs what page 1 costs.

A call's time is its `created_at`; an appointment's is its `starts_at`. A past
window runs from `now - window` to `now`: what has happened. An upcoming window
(`next24h`, `next7d`, `next30d`) runs from just after `now` to `now + window`, soonest first:
appointments booked for later, never calls. Every appointment
row carries its booking time too (`created_at`).

A status filter follows the kind: call statuses for calls, appointment statuses for
appointments, and a combination that cannot match (`kind=appointment&status=missed`)
is refused with a message, not answered with nothing. `in_progress` and `ongoing`
are one status to people (DESIGN.md's "ongoing" takes both): either matches both.

How many rows match is counted apart, capped (`count_activity`): "1–50 of 1,204",
or "more than 2,000" where counting further would read too much.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Sequence

import pandas as pd
import phonenumbers
import sqlalchemy as sa
from phonenumbers.phonemetadata import PhoneMetadata
from sqlalchemy.engine import Engine

from queries.frames import frame_from_data, frame_to_data
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, no_text, platform_schema
from queries.ongoing_calls import agent_name
from queries.runner import run
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from schema.tables import (idx_appointments_starts_date, idx_appointments_status_date, idx_appointments_window,
                           idx_calls_created_date, idx_calls_window, idx_customer_calls)

KINDS = ("call", "appointment")
CALL_STATUSES = ("ongoing", "in_progress", "completed", "failed", "missed", "busy", "no_answer")
APPOINTMENT_STATUSES = ("scheduled", "confirmed", "completed", "cancelled", "no_show")
STATUSES = tuple(dict.fromkeys(CALL_STATUSES + APPOINTMENT_STATUSES))
# What people mean by one status: the platform writes either for a call in progress (the map's ongoing bucket).
SAME_STATUS = {"in_progress": ("in_progress", "ongoing"), "ongoing": ("in_progress", "ongoing")}
# The bucket a call status chosen in the feed stands for: a call filter selects the whole bucket, as the map
# places the platform's statuses in it, so "missed" is the calls the company table counts as missed
# (queries/figures.py). `busy` and `no_answer` are missed calls: a link that names them is read as "missed".
STATUS_BUCKET = {"ongoing": "ongoing", "in_progress": "ongoing", "completed": "answered", "missed": "missed",
                 "busy": "missed", "no_answer": "missed", "failed": "failed"}
# A status a link may name that the feed offers by another name (the same bucket).
SAME_CHOICE = {"ongoing": "in_progress", "busy": "missed", "no_answer": "missed"}
# The call statuses a person chooses from, one per bucket: `completed` is the answered calls.
CALL_STATUS_CHOICES = tuple(s for s in CALL_STATUSES if s not in SAME_CHOICE)
DIRECTIONS = ("inbound", "outbound")
PAST_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
                "30d": timedelta(days=30), "90d": timedelta(days=90)}
# The platform books up to about a month ahead: the widest upcoming window shows every booking of the demo.
UPCOMING_WINDOWS = {"next24h": timedelta(hours=24), "next7d": timedelta(days=7), "next30d": timedelta(days=30)}
WINDOWS = {**PAST_WINDOWS, **UPCOMING_WINDOWS}
DEFAULT_WINDOW = "7d"
# Most rows a count reads: past it the feed says "more than 2,000" (each branch reads at most one more).
COUNT_CAP = 2000
DEFAULT_PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 100
LIKE_ESCAPE = "\\"
PHONE_SEARCH = re.compile(r"^[\d\s()+./-]+$")
TYPED_ELLIPSIS = re.compile(r"(…|\.\.\.)\s*$")  # "0896663…": the rest of the number left out

COLUMNS = ("kind", "id", "at", "customer_name", "phone", "company_id", "company_name", "service_name",
           "direction", "status", "duration_sec", "customer_id", "booked_at", "call_status")
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
        if self.upcoming and self.kinds and "appointment" not in self.kinds:
            raise ValueError("calls are never upcoming: the upcoming windows show appointments booked for later")
        misfit = status_misfit(self.statuses, self.kinds, self.upcoming)
        if misfit:
            raise ValueError(misfit)
        if len(self.search) > SEARCH_MAX_LENGTH:
            raise ValueError(f"search text is longer than {SEARCH_MAX_LENGTH} characters")
        if any(0xD800 <= ord(character) <= 0xDFFF for character in self.search):
            # A lone surrogate is not text: no driver can send it, and no row can hold it.
            raise ValueError("the search holds a character that is not text")

    @property
    def upcoming(self) -> bool:
        """Tell whether the window looks ahead (appointments booked for later) rather than back."""
        return self.window in UPCOMING_WINDOWS

    def wants(self, kind: str) -> bool:
        """Tell whether rows of this kind can match the filter at all."""
        if self.kinds and kind not in self.kinds:
            return False
        if self.upcoming and kind == "call":
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
    matching: int | None = None  # how many rows match (count_cap + 1: more than that), when it was asked for


def statuses_of(kinds: Sequence[str], upcoming: bool = False) -> tuple[str, ...]:
    """Return the statuses rows of these kinds can have (all kinds when none is chosen)."""
    kinds = [kind for kind in (kinds or KINDS) if not (upcoming and kind == "call")]
    return tuple(dict.fromkeys(s for kind in kinds for s in (CALL_STATUSES if kind == "call" else APPOINTMENT_STATUSES)))


def status_misfit(statuses: Sequence[str], kinds: Sequence[str], upcoming: bool = False) -> str:
    """Return why these statuses cannot match rows of these kinds ('' when each can)."""
    fitting = statuses_of(kinds, upcoming)
    wrong = [s for s in statuses if s in STATUSES and s not in fitting]
    if not wrong:
        return ""
    what = "upcoming appointments" if upcoming else "appointments" if tuple(kinds) == ("appointment",) else "calls"
    return (f"status {', '.join(map(repr, wrong))} does not fit {what}; choose from "
            f"{', '.join(s for s in fitting if s != 'ongoing')}")


def matching_statuses(statuses: Sequence[str], kind: str, schema: MappedSchema = DEFAULT_SCHEMA) -> list[str]:
    """Return the stored statuses a status filter matches among rows of `kind`: a call status chosen matches
    every value of its bucket as the schema map places them ("missed": missed, busy and no_answer by default,
    also `not_connected` on a platform that says so), the same set the company table counts."""
    own = CALL_STATUSES if kind == "call" else APPOINTMENT_STATUSES
    chosen = [s for s in statuses if s in own or (kind == "call" and s in SAME_STATUS)]
    if kind != "call":
        return list(dict.fromkeys(chosen))
    buckets = schema.statuses
    return list(dict.fromkeys(same for s in chosen for same in buckets.values(STATUS_BUCKET[s])))


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


def number_fragment(text: str, region: str = "") -> tuple[str, bool] | None:
    """Return what a typed phone number or fragment matches in stored E.164 numbers, and whether at their start.

    Fragments are a design choice, made with phonenumbers' own data, not rules of ours:
    - typed with its country code (`+49 89 666…`, `0049 89 666`): the start of the number, `+4989666…`;
    - typed the national way (`089 66636345`, `0896663…`) where PHONE_REGION is set: the region's national
      prefix (0 in DE) becomes its country code, and it is the start of the number, `+4989666…`; a whole
      number is normalised by phonenumbers.parse (which knows the exceptions, Italy's kept 0 among them);
    - any other digits (`66636345`, `(30) 123-45`): anywhere in the number, as before.
    None: fewer than 3 digits, or no number at all. Only for viewers who see numbers: a masked viewer's
    search matches whole numbers only (see `whole_number`)."""
    typed = TYPED_ELLIPSIS.sub("", text).strip()
    digits = re.sub(r"\D", "", typed)
    if not PHONE_SEARCH.match(typed) or len(digits) < 3:
        return None
    if typed.startswith("+") or digits.startswith("00"):
        return "+" + (digits[2:] if not typed.startswith("+") else digits), True
    return _national_fragment(typed, digits, region) or (digits, False)


def _national_fragment(typed: str, digits: str, region: str) -> tuple[str, bool] | None:
    """Return the start of the E.164 number that digits typed the region's national way stand for (None: they
    do not begin with the region's national prefix, or no region is set)."""
    metadata = PhoneMetadata.metadata_for_region(region.upper()) if region else None
    prefix = metadata.national_prefix if metadata is not None else None
    if not prefix or not digits.startswith(prefix):
        return None
    whole = whole_number(typed, region)
    if whole is not None:
        return whole, True
    return f"+{metadata.country_code}{digits[len(prefix):]}", True


def _search_condition(activity: ActivityFilter, names: Sequence[sa.Column], phones: Sequence[sa.Column],
                      platform: PlatformSchema):
    text = activity.search.strip()
    if not text:
        return None
    if activity.whole_numbers_only:
        if PHONE_SEARCH.match(text):
            number = whole_number(text, activity.phone_region)
            return sa.or_(*(phone == number for phone in phones)) if number else sa.false()
        # Names only: the numbers' fragments stay out of reach of a text search too.
        return _text_condition(names, (), text, platform)
    fragment = number_fragment(text, activity.phone_region)
    if fragment is not None:
        # Numbers are stored in E.164 (+4930…): match the digits, whatever the formatting typed.
        found, at_start = fragment
        pattern = f"{escape_like(found)}%" if at_start else f"%{escape_like(found)}%"
        return sa.or_(*(phone.like(pattern, escape=LIKE_ESCAPE) for phone in phones))
    return _text_condition(names, phones, text, platform)


def _text_condition(names: Sequence[sa.Column], phones: Sequence[sa.Column], text: str, platform: PlatformSchema):
    """Return 'any name contains the text, ignoring case and accents (see queries/platform.py), or any number
    contains it as typed'."""
    pattern = escape_like(text)
    matches = [match for column in names if (match := platform.contains_text(column, pattern, LIKE_ESCAPE)) is not None]
    # A column whose charset cannot hold the text holds no match: asking the server would be error 1267.
    matches += [phone.like(f"%{pattern}%", escape=LIKE_ESCAPE) for phone in phones if platform.can_hold(phone, text)]
    return sa.or_(*matches) if matches else sa.false()


def _after_cursor(kind: str, at: sa.ColumnElement, row_id: sa.ColumnElement, cursor: Cursor | None,
                  ascending: bool = False):
    """Return the condition 'comes after the cursor' for a branch whose rows are all `kind`, in the feed's
    order by (at, kind, id): newest first, or soonest first (`ascending`, the upcoming windows)."""
    if cursor is None:
        return None

    def later(column, value):
        return column > value if ascending else column < value

    if kind == cursor.kind:
        return sa.or_(later(at, cursor.at), sa.and_(at == cursor.at, later(row_id, cursor.id)))
    kind_comes_after = kind > cursor.kind if ascending else kind < cursor.kind
    return sa.or_(later(at, cursor.at), at == cursor.at) if kind_comes_after else later(at, cursor.at)


def window_bounds(activity: ActivityFilter, now: datetime, at: sa.ColumnElement) -> list[sa.ColumnElement]:
    """Return the time conditions of the filter's window: back from now, or ahead of it (after now)."""
    span = WINDOWS[activity.window]
    if activity.upcoming:
        return [at > now, at <= now + span]
    return [at >= now - span, at <= now]


def _ordered(at: sa.ColumnElement, row_id: sa.ColumnElement, ascending: bool) -> list[sa.ColumnElement]:
    return [at.asc(), row_id.asc()] if ascending else [at.desc(), row_id.desc()]


def _present(*columns: sa.ColumnElement | None) -> list[sa.ColumnElement]:
    return [column for column in columns if column is not None]


def _text(column: sa.ColumnElement | None) -> sa.ColumnElement:
    """Return a text column of a UNION branch in the result columns' collation (a NULL one where absent)."""
    return no_text() if column is None else as_result_text(column)


def _or_null(column: sa.ColumnElement | None, kind) -> sa.ColumnElement:
    """Return a column of a UNION branch, or a typed NULL where the platform does not hold it."""
    return column if column is not None else sa.cast(sa.null(), kind)


def _owner_conditions(activity: ActivityFilter, table: sa.Table,
                      customer_id: sa.ColumnElement | None) -> list[sa.ColumnElement]:
    """Return the filter's company scope and customer as conditions on a branch's table (a platform that keeps
    no customer of its rows has none of one customer)."""
    conditions = []
    if activity.company_ids is not None:
        conditions.append(table.c.company_id.in_(activity.company_ids))
    if activity.customer_id is not None:
        conditions.append(customer_id == activity.customer_id if customer_id is not None else sa.false())
    return conditions


def _with_customer_and_company(table: sa.Table, customer_id: sa.ColumnElement | None, platform: PlatformSchema,
                               schema: MappedSchema):
    """Return a branch's table joined to its row's customer (where the platform keeps one) and company."""
    customers, companies = schema.tables["customers"], schema.tables["companies"]
    joined = table
    if customer_id is not None:
        joined = joined.outerjoin(customers, platform.joined(customers, customers.c.id == customer_id))
    return joined.outerjoin(companies, platform.joined(companies, companies.c.id == table.c.company_id))


def _call_conditions(activity: ActivityFilter, direction: sa.ColumnElement | None,
                     schema: MappedSchema) -> list[sa.ColumnElement]:
    """Return the filter's call statuses and directions as conditions on the calls."""
    calls = schema.tables["calls"]
    conditions = []
    if activity.statuses:
        conditions.append(calls.c.status.in_(matching_statuses(activity.statuses, "call", schema)))
    if activity.directions:
        # A platform that keeps no direction has no call of one.
        conditions.append(direction.in_(activity.directions) if direction is not None else sa.false())
    return conditions


def _call_phone(direction: sa.ColumnElement | None, from_number: sa.ColumnElement | None,
                to_number: sa.ColumnElement | None) -> sa.ColumnElement | None:
    """Return the other party's number: the called one of an outbound call, the caller's otherwise."""
    if direction is not None and from_number is not None and to_number is not None:
        return sa.case((direction == "outbound", to_number), else_=from_number)
    return from_number if from_number is not None else to_number


def _first_name(names: Sequence[sa.ColumnElement]) -> sa.ColumnElement:
    """Return the first of the names a row has, in the result columns' collation."""
    shown = [as_result_text(name) for name in names]
    return sa.func.coalesce(*shown) if len(shown) > 1 else shown[0] if shown else no_text()


def _with_agent(joined, calls: sa.Table, platform: PlatformSchema, schema: MappedSchema):
    """Return the calls' join with the tables that name their agent, and the agent's name column."""
    agent_column, agent_joins = agent_name(schema)
    for table, key, reference in agent_joins:
        joined = joined.outerjoin(table, platform.joined(table, table.c[key] == calls.c[reference]))
    named = agent_column.element if isinstance(agent_column, sa.sql.elements.Label) else agent_column
    return joined, [_text(named).label("agent_name")]


def _calls_branch(activity: ActivityFilter, now: datetime, cursor: Cursor | None, limit: int,
                  platform: PlatformSchema, with_agent: bool, schema: MappedSchema = DEFAULT_SCHEMA):
    calls, customers, companies = schema.tables["calls"], schema.tables["customers"], schema.tables["companies"]
    field = schema.field
    at = calls.c.created_at
    direction, customer_id = field("calls.direction"), field("calls.customer_id")
    from_number, to_number = field("calls.from_number"), field("calls.to_number")
    customer_names = _present(field("customers.name") if customer_id is not None else None,
                              field("calls.customer_name"))
    phones = _present(field("customers.phone") if customer_id is not None else None, from_number, to_number)
    conditions = [*window_bounds(activity, now, at), *platform.live(calls),
                  *_call_conditions(activity, direction, schema), *_owner_conditions(activity, calls, customer_id),
                  *_present(_search_condition(activity, customer_names, phones, platform),
                            _after_cursor("call", at, calls.c.id, cursor, activity.upcoming))]
    joined = _with_customer_and_company(calls, customer_id, platform, schema)
    agent = []
    if with_agent:
        joined, agent = _with_agent(joined, calls, platform, schema)
    # Every text column of the UNION in one explicit collation: the tables' own may differ (see queries/platform.py).
    return (
        sa.select(
            as_result_text(sa.literal("call", sa.String(16))).label("kind"), calls.c.id, at.label("at"),
            _first_name(customer_names).label("customer_name"),
            _text(_call_phone(direction, from_number, to_number)).label("phone"), calls.c.company_id,
            as_result_text(companies.c.name).label("company_name"), no_text().label("service_name"),
            _text(direction).label("direction"), as_result_text(calls.c.status).label("status"),
            _or_null(field("calls.duration_sec"), sa.Integer).label("duration_sec"),
            _or_null(customers.c.id if customer_id is not None else None, sa.Integer).label("customer_id"),
            sa.cast(sa.null(), sa.DateTime).label("booked_at"),
            # The provider's own status beside the platform's: the feed shows a call whose two disagree as such.
            _text(field("calls.call_status")).label("call_status"),
            *agent,
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(*_ordered(at, calls.c.id, activity.upcoming))
        .limit(limit)
    )


def _appointment_status_condition(activity: ActivityFilter, schema: MappedSchema) -> list[sa.ColumnElement]:
    """Return the filter's appointment statuses as a condition (none match where the platform keeps none)."""
    if not activity.statuses:
        return []
    status = schema.field("appointments.status")
    return [status.in_(matching_statuses(activity.statuses, "appointment")) if status is not None else sa.false()]


def _with_service(joined, platform: PlatformSchema, schema: MappedSchema):
    """Return the appointments' join with their service, and the service's name (None where the platform keeps
    no service of an appointment)."""
    services = schema.table("services")
    service_id, service_name = schema.field("appointments.service_id"), schema.field("services.name")
    if services is None or service_id is None or service_name is None:
        return joined, None
    return joined.outerjoin(services, platform.joined(services, services.c.id == service_id)), service_name


def _appointments_branch(activity: ActivityFilter, now: datetime, cursor: Cursor | None, limit: int,
                         platform: PlatformSchema, with_agent: bool, schema: MappedSchema = DEFAULT_SCHEMA):
    appointments, customers = schema.tables["appointments"], schema.tables["customers"]
    companies = schema.tables["companies"]
    field = schema.field
    at, customer_id = field("appointments.starts_at"), field("appointments.customer_id")
    name, phone = (field("customers.name"), field("customers.phone")) if customer_id is not None else (None, None)
    conditions = [*window_bounds(activity, now, at), *platform.live(appointments),
                  *_appointment_status_condition(activity, schema),
                  *_owner_conditions(activity, appointments, customer_id),
                  *_present(_search_condition(activity, _present(name), _present(phone), platform),
                            _after_cursor("appointment", at, appointments.c.id, cursor, activity.upcoming))]
    joined, service_name = _with_service(_with_customer_and_company(appointments, customer_id, platform, schema),
                                         platform, schema)
    return (
        sa.select(
            as_result_text(sa.literal("appointment", sa.String(16))).label("kind"), appointments.c.id, at.label("at"),
            _text(name).label("customer_name"), _text(phone).label("phone"),
            appointments.c.company_id, as_result_text(companies.c.name).label("company_name"),
            _text(service_name).label("service_name"), no_text().label("direction"),
            _text(field("appointments.status")).label("status"), sa.cast(sa.null(), sa.Integer).label("duration_sec"),
            _or_null(customers.c.id if customer_id is not None else None, sa.Integer).label("customer_id"),
            _or_null(field("appointments.created_at"), sa.DateTime).label("booked_at"),
            no_text().label("call_status"),
            *([no_text().label("agent_name")] if with_agent else []),
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(*_ordered(at, appointments.c.id, activity.upcoming))
        .limit(limit)
    )


# The covering index of each kind's time window (schema/indexes.py): every column a branch reads is in it.
WINDOW_INDEX = {"call": ("calls", idx_calls_window.name), "appointment": ("appointments", idx_appointments_window.name)}


def _by_window(branch: sa.Select, kind: str, activity: ActivityFilter, platform: PlatformSchema,
               schema: MappedSchema) -> sa.Select:
    """Read a branch's time window from its covering index on MySQL/MariaDB, where the database has it.

    Both it and the plain time index serve the branch's order, and MariaDB takes the narrower one, then fetches
    each row it reads from the table: one random page read a row where ids do not follow time (an imported or
    merged table), seconds for a week of a million calls that a search must read through. Not for one
    customer's rows (their own index bounds them) nor appointments by status (the status index does)."""
    table_name, index = WINDOW_INDEX[kind]
    table = schema.table(table_name)
    if (activity.customer_id is not None or (kind == "appointment" and activity.statuses) or table is None
            or index not in platform.indexes.get(table.name, {})):
        return branch
    hint = f"FORCE INDEX ({index})"
    return branch.with_hint(table, hint, dialect_name="mysql").with_hint(table, hint, dialect_name="mariadb")


def _wanted(activity: ActivityFilter, kind: str, schema: MappedSchema) -> bool:
    """Tell whether rows of this kind can match: the filter wants them and the platform keeps them."""
    if kind == "appointment" and (schema.table("appointments") is None or not schema.has("appointments.starts_at")):
        return False
    return activity.wants(kind)


def activity_statement(activity: ActivityFilter, now: datetime, cursor: Cursor | None = None,
                       page_size: int = DEFAULT_PAGE_SIZE, platform: PlatformSchema = DEFAULT_PLATFORM,
                       with_agent: bool = False, count_cap: int | None = None,
                       schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select | None:
    """Return the one statement for a page of the feed (None when no kind can match); the export asks for the
    calls' agent too. With `count_cap`, every row also carries how many rows match, capped (`matching`): an
    uncorrelated scalar subquery, counted once, so a search's first page and its count are one round trip."""
    # One row more than a page tells whether another page follows.
    limit = page_size + 1
    branches = []
    if _wanted(activity, "call", schema):
        branches.append(_by_window(_calls_branch(activity, now, cursor, limit, platform, with_agent, schema),
                                   "call", activity, platform, schema)
                        .subquery("call_rows"))
    if _wanted(activity, "appointment", schema):
        branches.append(_by_window(_appointments_branch(activity, now, cursor, limit, platform, with_agent, schema),
                                   "appointment", activity, platform, schema)
                        .subquery("appointment_rows"))
    if not branches:
        return None
    parts = [sa.select(*branch.c) for branch in branches]
    merged = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery("activity")
    keys = (merged.c.at, merged.c.kind, merged.c.id)
    counted = [] if count_cap is None else [
        count_statement(activity, now, count_cap, platform, schema).scalar_subquery().label("matching")]
    return (
        sa.select(*merged.c, *counted)
        .order_by(*(key.asc() if activity.upcoming else key.desc() for key in keys))
        .limit(limit)
    )


def fetch_activity(engine: Engine, activity: ActivityFilter, now: datetime, cursor: Cursor | None = None,
                   page_size: int = DEFAULT_PAGE_SIZE, with_agent: bool = False,
                   count_cap: int | None = None) -> ActivityPage:
    """Return one page of the feed in its order and the cursor of the next page; with `count_cap` (first pages
    only: a later page's rows would not tell a count of 0), how many rows match, capped, in the same statement."""
    if page_size <= 0:
        raise ValueError("page size must be positive")
    schema = schema_of(engine)
    if not any(_wanted(activity, kind, schema) for kind in KINDS):
        columns = [*COLUMNS, "agent_name"] if with_agent else list(COLUMNS)
        return ActivityPage(rows=pd.DataFrame(columns=columns), next_cursor=None,
                            matching=None if count_cap is None else 0)
    if cursor is not None:
        count_cap = None
    statement = activity_statement(activity, now, cursor, page_size, platform_schema(engine), with_agent, count_cap,
                                   schema)
    frame = run(engine, statement, max_rows=page_size + 1)
    frame["at"] = pd.to_datetime(frame["at"])
    frame["booked_at"] = pd.to_datetime(frame["booked_at"])
    matching = None
    if count_cap is not None:
        matching = min(int(frame["matching"].iloc[0]), count_cap + 1) if len(frame) else 0
        frame = frame.drop(columns=["matching"])
    page = _page_of(frame, page_size)
    return replace(page, matching=matching)


def count_statement(activity: ActivityFilter, now: datetime, cap: int = COUNT_CAP,
                    platform: PlatformSchema = DEFAULT_PLATFORM,
                    schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select | None:
    """Return the statement that counts the filter's rows up to `cap` + 1 (None when no kind can match).

    `SELECT COUNT(*) FROM (SELECT 1 … LIMIT cap + 1)` per kind: each branch reads at most cap + 1 rows by its
    index, however many match, so a count never costs more than a deep page."""
    branches = []
    for kind, branch in (("call", _calls_branch), ("appointment", _appointments_branch)):
        if _wanted(activity, kind, schema):
            rows = _by_window(branch(activity, now, None, cap + 1, platform, False, schema), kind, activity,
                              platform, schema)
            branches.append(sa.select(sa.literal(1).label("one")).select_from(
                rows.with_only_columns(sa.literal(1).label("one"), maintain_column_froms=True)
                .order_by(None).subquery(f"{kind}_matches")))
    if not branches:
        return None
    every = (sa.union_all(*branches) if len(branches) > 1 else branches[0]).subquery("matches")
    return sa.select(sa.func.count().label("matching")).select_from(every)


def count_activity(engine: Engine, activity: ActivityFilter, now: datetime, cap: int = COUNT_CAP) -> int:
    """Return how many rows match the filter, or cap + 1 when more than `cap` do."""
    statement = count_statement(activity, now, cap, platform_schema(engine), schema_of(engine))
    if statement is None:
        return 0
    return min(int(run(engine, statement, max_rows=1)["matching"].iloc[0]), cap + 1)


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
        """Return the feed as plain JSON data, as the query cache stores it (never a pickle)."""
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
                     page_size: int, schema: MappedSchema = DEFAULT_SCHEMA) -> ActivityPage | None:
    """Return the page `fetch_activity` would return at `recent.now`, or None when the recent rows cannot tell.

    The recent rows are the top of the feed in its order, so the rows of any filter
    among them are the top of that filter's feed. The page is exact when more than a
    page of them match, or when nothing that could match is missing: the recent rows
    hold the whole widest window, or reach back past the filter's window.
    Searches, single customers and the upcoming windows go to the database: the first two match by SQL's
    rules, and the recent rows hold nothing ahead of now.
    """
    matching = _recent_matches(recent, activity, cursor, schema)
    if matching is None:
        return None
    if len(matching) > page_size or _recent_hold_the_window(recent, activity):
        return _page_of(matching, page_size)
    return None


def count_from_recent(recent: RecentFeed, activity: ActivityFilter, schema: MappedSchema = DEFAULT_SCHEMA
                      ) -> int | None:
    """Return how many rows match, as count_activity would at `recent.now`, or None when the recent rows
    cannot tell (they do not reach back past the filter's window)."""
    matching = _recent_matches(recent, activity, None, schema)
    if matching is None or not _recent_hold_the_window(recent, activity):
        return None
    return len(matching)


def _recent_hold_the_window(recent: RecentFeed, activity: ActivityFilter) -> bool:
    """Tell whether no row of the filter's window is missing from the recent rows: they are all older than
    its oldest row."""
    rows = recent.rows
    return recent.holds_everything or (len(rows) > 0 and rows["at"].iloc[-1] < recent.now - WINDOWS[activity.window])


def _recent_matches(recent: RecentFeed, activity: ActivityFilter, cursor: Cursor | None,
                    schema: MappedSchema = DEFAULT_SCHEMA) -> pd.DataFrame | None:
    """Return the recent rows the filter keeps after the cursor, or None when its rows are not among them."""
    if (activity.search or activity.customer_id is not None or activity.upcoming
            or not _within(activity.company_ids, recent.company_ids)):
        return None
    rows = recent.rows
    keep = (rows["at"] >= recent.now - WINDOWS[activity.window]) & _kept_by_view(rows, activity, schema)
    if cursor is not None:
        keep &= _before(rows, cursor)
    return rows[keep]


def _kept_by_view(rows: pd.DataFrame, activity: ActivityFilter, schema: MappedSchema) -> pd.Series:
    """Return which rows (feed rows, or counted groups of them) the filter keeps by kind, status, direction and
    company, as the statement's conditions would; its time window and search are the caller's."""
    kinds = [kind for kind in KINDS if _wanted(activity, kind, schema)]
    keep = rows["kind"].isin(kinds)
    if activity.statuses:
        keep &= (((rows["kind"] == "call") & rows["status"].isin(matching_statuses(activity.statuses, "call", schema)))
                 | ((rows["kind"] == "appointment")
                    & rows["status"].isin(matching_statuses(activity.statuses, "appointment"))))
    if activity.directions:
        keep &= rows["direction"].isin(activity.directions)
    if activity.company_ids is not None:
        keep &= rows["company_id"].isin(activity.company_ids)
    return keep


# --- counts: one grouped statement per window, shared by every view ------------------------------------------

# Counted groups (kind × status × direction × company) a window's count may hold; past it, views count apart.
WINDOW_COUNT_GROUPS = 20_000
# A window's groups are counted again once this many feed intervals (a minute at the default 15 s) or this share
# of the window has passed, whichever is longer: a week's every 50 minutes, 90 days' twice a day. Between two
# counts a view's count is the last one moved on by the rows that arrived since (exact) and the share of the window
# that left it (taken as even): off by a small part of the whole, and shown as an estimate (see feed_count).
WINDOW_COUNT_INTERVALS = 4
WINDOW_COUNT_SHARE = 1 / 200


def window_count_seconds(window: str, interval: int) -> int:
    """Return how long a window's grouped count serves before it is counted again."""
    return max(WINDOW_COUNT_INTERVALS * interval, int(WINDOWS[window].total_seconds() * WINDOW_COUNT_SHARE))
ABOUT_DIGITS = 3  # an estimated count is shown to this many significant digits: "about 12,400"


@dataclass(frozen=True)
class FeedCount:
    """How many rows a view of the feed holds: exact, capped (`matching` = cap + 1: more than cap), or estimated."""

    matching: int
    capped: bool = False
    about: bool = False

    def to_data(self) -> dict[str, Any]:
        return {"matching": self.matching, "capped": self.capped, "about": self.about}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "FeedCount | None":
        """Rebuild a count to_data described (an entry with no `capped` is a capped count, as they all were)."""
        if data.get("matching") is None:
            return None
        return cls(int(data["matching"]), bool(data.get("capped", True)), bool(data.get("about", False)))


@dataclass(frozen=True)
class WindowCounts:
    """The rows of one time window counted by kind, status, direction and company, at `now`.

    Every view without a search or a customer (calls only, missed, outbound, a company, and any mix of them)
    is a sum of these groups, so one statement counts every such view of the window, whatever their number,
    and for every viewer: a viewer's companies are a filter of the groups like any other."""

    groups: pd.DataFrame  # kind, status, direction, company_id, matching
    now: datetime
    window: str
    complete: bool  # False: more than WINDOW_COUNT_GROUPS groups; the views are then counted apart

    def to_data(self) -> dict[str, Any]:
        """Return the counts as plain JSON data, as the query cache stores them."""
        return {"groups": frame_to_data(self.groups), "now": self.now.isoformat(), "window": self.window,
                "complete": self.complete}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "WindowCounts":
        return cls(groups=frame_from_data(data["groups"]), now=datetime.fromisoformat(data["now"]),
                   window=data["window"], complete=data["complete"])


def window_counts_statement(window: str, now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM,
                            schema: MappedSchema = DEFAULT_SCHEMA,
                            cap: int = WINDOW_COUNT_GROUPS) -> sa.Select | None:
    """Return the statement that counts a window's rows by kind, status, direction and company (None: no kind
    has rows in it). Each branch reads its window from the covering index (idx_calls_window,
    idx_appointments_window) and fetches no row: a week of a million calls is a few thousand index pages."""
    activity = ActivityFilter(window=window)
    branches = []
    if _wanted(activity, "call", schema):
        calls = schema.tables["calls"]
        direction = schema.field("calls.direction")
        branches.append(sa.select(
            as_result_text(sa.literal("call", sa.String(16))).label("kind"), as_result_text(calls.c.status)
            .label("status"), _text(direction).label("direction"), calls.c.company_id.label("company_id"),
            sa.func.count().label("matching"))
            .where(*window_bounds(activity, now, calls.c.created_at), *platform.live(calls))
            .group_by(*_present(calls.c.status, direction, calls.c.company_id)))
    if _wanted(activity, "appointment", schema):
        appointments = schema.tables["appointments"]
        status = schema.field("appointments.status")
        branches.append(sa.select(
            as_result_text(sa.literal("appointment", sa.String(16))).label("kind"), _text(status).label("status"),
            no_text().label("direction"), appointments.c.company_id.label("company_id"),
            sa.func.count().label("matching"))
            .where(*window_bounds(activity, now, schema.field("appointments.starts_at")),
                   *platform.live(appointments))
            .group_by(*_present(status, appointments.c.company_id)))
    if not branches:
        return None
    every = (sa.union_all(*branches) if len(branches) > 1 else branches[0]).subquery("window_counts")
    return sa.select(*every.c).limit(cap + 1)


def fetch_window_counts(engine: Engine, window: str, now: datetime,
                        cap: int = WINDOW_COUNT_GROUPS) -> WindowCounts:
    """Return the window's rows counted by kind, status, direction and company at `now`."""
    statement = window_counts_statement(window, now, platform_schema(engine), schema_of(engine), cap)
    columns = ["kind", "status", "direction", "company_id", "matching"]
    frame = pd.DataFrame(columns=columns) if statement is None else run(engine, statement, max_rows=cap + 1)
    return WindowCounts(groups=frame.head(cap).reset_index(drop=True), now=now, window=window,
                        complete=len(frame) <= cap)


def count_from_groups(counts: WindowCounts, activity: ActivityFilter,
                      schema: MappedSchema = DEFAULT_SCHEMA) -> int | None:
    """Return how many of the window's rows the filter keeps at `counts.now`, or None when the groups cannot
    tell: a search or a customer (SQL decides what matches), another window, groups cut at their cap."""
    if (activity.search or activity.customer_id is not None or activity.window != counts.window
            or not counts.complete):
        return None
    groups = counts.groups
    if groups.empty:
        return 0
    return int(groups.loc[_kept_by_view(groups, activity, schema), "matching"].sum())


def feed_count(recent: RecentFeed, counts: WindowCounts | None, activity: ActivityFilter,
               schema: MappedSchema = DEFAULT_SCHEMA) -> FeedCount | None:
    """Return a view's count at `recent.now` without a statement of its own, or None when none can be had so.

    Exact from the newest rows where they hold the window; else from the window's groups, exact when they were
    counted at that moment or later. Groups counted earlier (they are counted once every few intervals) are
    moved on: plus the matching rows that arrived since, which the newest rows hold; minus the share of the
    window's oldest rows that left it since, taken as spread evenly over the window. That is an estimate,
    shown as one ("about 12,400")."""
    exact = count_from_recent(recent, activity, schema)
    if exact is not None:
        return FeedCount(exact)
    counted = None if counts is None else count_from_groups(counts, activity, schema)
    if counted is None:
        return None
    if counts.now >= recent.now:
        return FeedCount(counted)
    arrived = 0
    matching = _recent_matches(recent, activity, None, schema)
    if matching is not None:
        if not recent.holds_everything and len(recent.rows) and recent.rows["at"].iloc[-1] > counts.now:
            return None  # more rows arrived since the count than the newest rows hold: it must be counted again
        arrived = int((matching["at"] > pd.Timestamp(counts.now)).sum())
    elapsed = (recent.now - counts.now).total_seconds()
    left = counted * min(1.0, elapsed / WINDOWS[activity.window].total_seconds())
    return FeedCount(max(0, round(counted + arrived - left)), about=True)


def about(count: int, digits: int = ABOUT_DIGITS) -> int:
    """Return an estimated count to `digits` significant digits (12,431 -> 12,400)."""
    if count <= 0:
        return 0
    return int(round(count, digits - len(str(count))))


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
    companies = schema_of(engine).tables["companies"]
    statement = (sa.select(companies.c.id, companies.c.name).where(*platform_schema(engine).live(companies))
                 .order_by(companies.c.name, companies.c.id))
    if company_ids is not None:
        statement = statement.where(companies.c.id.in_(list(company_ids)))
    return run(engine, statement.limit(COMPANY_OPTIONS_CAP), max_rows=COMPANY_OPTIONS_CAP)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use (none of a feature the
    platform lacks: appointments, a direction)."""
    # A time window is read from its covering index where `migrate` made it (see schema/indexes.py).
    by_time = {"calls": (idx_calls_window.name, idx_calls_created_date.name),
               "appointments": (idx_appointments_window.name, idx_appointments_starts_date.name)}
    # Upcoming by status: the status index, or the covering one (a day ahead read with the status beside the time).
    by_status = {"appointments": (idx_appointments_status_date.name, idx_appointments_window.name)}
    with_appointments = schema.offers("appointments") and schema.has("appointments.starts_at")
    if not with_appointments:
        by_time = {"calls": by_time["calls"]}

    def statement(activity: ActivityFilter) -> sa.Select | None:
        return activity_statement(activity, now, platform=platform, schema=schema)

    with_customer = schema.has("calls.customer_id")
    examples = [
        (True, "activity feed", lambda: statement(ActivityFilter()), by_time),
        (True, "activity feed, searched and counted",
         lambda: activity_statement(ActivityFilter(search="ann"), now, platform=platform, count_cap=COUNT_CAP,
                                    schema=schema), by_time),
        (with_appointments, "activity feed, by status",
         lambda: statement(ActivityFilter(kinds=("appointment",), statuses=("cancelled",))),
         {"appointments": (idx_appointments_status_date.name,)}),
        (with_customer, "activity feed, one customer",
         lambda: statement(ActivityFilter(kinds=("call",), customer_id=1, window="90d")),
         {"calls": (idx_customer_calls.name,)}),
        (with_appointments, "activity feed, upcoming", lambda: statement(ActivityFilter(window="next7d")),
         {"appointments": by_time["appointments"]}),
        (with_appointments, "activity feed, upcoming by status",
         lambda: statement(ActivityFilter(window="next24h", statuses=("confirmed",))), by_status),
        (True, "activity feed, counted", lambda: count_statement(ActivityFilter(), now, platform=platform,
                                                                 schema=schema), by_time),
        (True, "activity feed, a window's counts",
         lambda: window_counts_statement(DEFAULT_WINDOW, now, platform, schema), by_time),
    ]
    return [(name, build(), expected) for wanted, name, build, expected in examples if wanted]
