"""One call's details, and its provider payload, transcript or analysis on demand.

The details are one statement by primary key: named scalar columns of `calls` with the
customer, agent and company names joined in, never a TEXT/LONGTEXT column. A payload entry
(a large column, or a part of a JSON column the schema map names) is read only when a person
presses its button, one entry of one call, cut at the database (`SUBSTRING(x, 1, :cap)` with
`LENGTH(x)`, where x is the column or the JSON part extracted from it), so a 5 MB payload
never crosses the wire whole. Both are scoped to the viewer's companies in SQL: a call
of another company reads exactly like a missing one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, platform_schema
from queries.ongoing_calls import agent_name
from queries.runner import run
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from schema.tables import LARGE_TEXT_COLUMNS, calls

# The default map's payload entries (its large columns), by the name their button shows; a schema map lists the
# platform's own.
PAYLOAD_COLUMNS = {"raw": "Provider payload", "transcript": "Transcript", "analysis": "Analysis"}


def payload_title(name: str) -> str:
    """Return the name a payload entry's button shows ("cost_breakdown" -> "Cost breakdown")."""
    return PAYLOAD_COLUMNS.get(name) or name.replace("_", " ").strip().capitalize()

# Scalar columns some platform versions keep and others do not: selected only where the table has them.
OPTIONAL_COLUMNS = ("called_at", "duration_sec", "updated_at", "cost", "sentiment", "recording_url")
BASE_COLUMNS = ("id", "company_id", "customer_id", "agent_id", "from_number", "to_number", "direction", "status",
                "call_status", "start_timestamp", "created_at")
# The optional columns Switchboard's own schema has (the demo's): what a statement is built with when no
# engine was asked (plan_examples).
DECLARED_OPTIONAL = frozenset(name for name in OPTIONAL_COLUMNS if name in calls.c)
LARGEST_ID = 2 ** 63 - 1  # BIGINT UNSIGNED ids that a signed bound parameter can carry on every driver

class NotFound(LookupError):
    """No such call for this viewer: missing, soft-deleted or another company's (one answer for all three)."""


@dataclass(frozen=True)
class Payload:
    """The first `len(text)` characters of one call's payload entry, and how long it is in all."""

    name: str
    text: str | None
    total_length: int

    @property
    def cut(self) -> bool:
        return self.text is not None and self.total_length > len(self.text)


def _column(schema: MappedSchema, name: str) -> sa.ColumnElement:
    # Names come from OPTIONAL_COLUMNS, never from input; a column the map does not declare is the platform's own.
    if schema.has(f"calls.{name}"):
        return schema.shown(f"calls.{name}")
    table = schema.tables["calls"]
    return table.c[name] if name in table.c else sa.literal_column(f"{table.name}.{name}").label(name)


def details_statement(call_id: int, company_ids: Sequence[int] | None = None,
                      present: frozenset[str] = DECLARED_OPTIONAL,
                      platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the one statement behind a call's details panel: scalar columns and names, by primary key."""
    calls, customers, companies = schema.tables["calls"], schema.tables["customers"], schema.tables["companies"]
    where = [calls.c.id == call_id, *platform.live(calls)]
    if company_ids is not None:
        where.append(calls.c.company_id.in_(list(company_ids)))
    agent, agent_joins = agent_name(schema)
    with_customer = schema.has("calls.customer_id")
    return (
        sa.select(
            *(schema.shown(f"calls.{name}") for name in BASE_COLUMNS), *_optional_columns(schema, present),
            _customer_name(schema, with_customer).label("customer_name"), agent,
            companies.c.name.label("company_name"),
            # the customer's live record: their history's link
            (customers.c.id if with_customer else sa.null()).label("customer_record"),
        )
        .select_from(_details_source(schema, platform, with_customer, agent_joins))
        .where(*where)
        .limit(1)
    )


def _optional_columns(schema: MappedSchema, present: frozenset[str]) -> list[sa.ColumnElement]:
    """Return the optional scalar columns the platform's calls have, never a large one nor a payload entry's."""
    return [_column(schema, name) for name in OPTIONAL_COLUMNS
            if name in present and f"calls.{name}" not in LARGE_TEXT_COLUMNS and name not in schema.payload_columns]


def _customer_name(schema: MappedSchema, with_customer: bool) -> sa.ColumnElement:
    """Return the customer's name: their record's, else the one the call keeps (NULL where neither is held)."""
    # The two names may be in different collations: shown, never compared.
    names = [as_result_text(name) for name in (schema.field("customers.name") if with_customer else None,
                                               schema.field("calls.customer_name")) if name is not None]
    return sa.func.coalesce(*names) if len(names) > 1 else names[0] if names else sa.null()


def _details_source(schema: MappedSchema, platform: PlatformSchema, with_customer: bool, agent_joins):
    """Return the calls joined to their customer (where the platform keeps one), agent and company."""
    calls, customers, companies = schema.tables["calls"], schema.tables["customers"], schema.tables["companies"]
    source = calls
    if with_customer:
        source = source.outerjoin(customers, platform.joined(customers, customers.c.id == calls.c.customer_id))
    for table, key, reference in agent_joins:
        source = source.outerjoin(table, platform.joined(table, table.c[key] == calls.c[reference]))
    return source.outerjoin(companies, platform.joined(companies, companies.c.id == calls.c.company_id))


def check_call_id(call_id: Any) -> int:
    """Return a call id a browser sent, or raise NotFound: an id that cannot exist is simply not found."""
    if isinstance(call_id, bool) or not isinstance(call_id, int) or not 0 < call_id <= LARGEST_ID:
        raise NotFound(call_id)
    return call_id


def fetch_call_details(engine: Engine, call_id: int, company_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Return the call's fields as {column: value}; NotFound when the viewer has no such call."""
    # The platform's columns were read with its other facts at start-up (queries/platform.py): no inspector here.
    platform = platform_schema(engine)
    schema = schema_of(engine)
    statement = details_statement(check_call_id(call_id), company_ids,
                                  platform.scalars(schema.tables["calls"].name, DECLARED_OPTIONAL), platform, schema)
    frame = run(engine, statement, max_rows=1)
    if frame.empty:
        raise NotFound(call_id)
    return frame.astype(object).where(frame.notna(), None).iloc[0].to_dict()


def payload_statement(call_id: int, name: str, cap: int, company_ids: Sequence[int] | None = None,
                      platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the one statement that reads one call's payload entry (one the map lists: a column, or a part of a
    JSON column), cut at `cap` characters by the database."""
    if name not in schema.payload:
        raise ValueError(f"not a payload column: {name!r}")
    calls = schema.tables["calls"]
    source = schema.payload_source(name)
    where = [calls.c.id == call_id, *platform.live(calls)]
    if company_ids is not None:
        where.append(calls.c.company_id.in_(list(company_ids)))
    # The cap counts characters (SUBSTRING, substr); the total is LENGTH: bytes on MySQL/MariaDB, characters on
    # SQLite. Provider JSON is ASCII but for names, so "first 64 KB of 212 KB" reads right either way.
    length = sa.func.length(source)
    return (sa.select(sa.func.substr(source, 1, sa.bindparam("cap", cap, type_=sa.Integer)).label("text"),
                      length.label("total_length"))
            .where(*where).limit(1))


def fetch_payload(engine: Engine, call_id: int, name: str, cap: int,
                  company_ids: Sequence[int] | None = None) -> Payload:
    """Return the first `cap` characters of one call's payload entry `name`; NotFound when the viewer has no such
    call (a call without the entry has text None)."""
    if cap <= 0:
        raise ValueError("cap must be positive")
    frame = run(engine, payload_statement(check_call_id(call_id), name, cap, company_ids, platform_schema(engine),
                                          schema_of(engine)), max_rows=1)
    if frame.empty:
        raise NotFound(call_id)
    text, total = frame["text"].iloc[0], frame["total_length"].iloc[0]
    present = isinstance(text, str)
    return Payload(name=name, text=text if present else None, total_length=int(total) if present else 0)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return the details and payload statements: lookups by primary key, judged bounded with no index named (no
    payload statement where the map lists no payload entry)."""
    calls = schema.tables["calls"].name
    present = platform.scalars(calls, DECLARED_OPTIONAL)  # the optional columns this platform has
    examples = [("call details", details_statement(1, present=present, platform=platform, schema=schema),
                 {calls: ()})]
    if schema.payload:
        examples.append(("call payload", payload_statement(1, schema.payload[0], 65_536, platform=platform,
                                                           schema=schema), {calls: ()}))
    return examples
