"""Ongoing calls, for admins watching live.

"Ongoing" is the platform's definition (DESIGN.md): both status columns say
ongoing or in progress, and the call was created within the last two hours, so
calls the provider never closed (stale `in_progress` rows) do not count.

One statement returns the newest calls, capped, with customer, agent and company
names joined in, and the total count as an uncorrelated scalar subquery that the
database answers from `idx_ongoing_calls` alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, platform_schema
from queries.runner import run
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from schema.tables import idx_calls_window, idx_ongoing_calls

ONGOING_STATUSES = DEFAULT_SCHEMA.statuses.ongoing  # the default map's
ONGOING_WINDOW = timedelta(hours=2)
DEFAULT_ROW_CAP = 500

COLUMNS = ("id", "created_at", "status", "call_status", "from_number", "to_number",
           "customer_name", "agent_name", "company_name", "direction", "start_timestamp", "customer_id")


@dataclass(frozen=True)
class OngoingCalls:
    """The capped rows and the number of ongoing calls in all."""

    rows: pd.DataFrame
    total: int

    @property
    def capped(self) -> bool:
        return self.total > len(self.rows)


def ongoing_condition(now: datetime, company_ids: Sequence[int] | None = None,
                      platform: PlatformSchema = DEFAULT_PLATFORM,
                      schema: MappedSchema = DEFAULT_SCHEMA) -> sa.ColumnElement[bool]:
    """Return the WHERE clause that selects ongoing calls at `now` (soft-deleted calls never are): the map's
    ongoing statuses, in the columns it says decide."""
    calls = schema.tables["calls"]
    condition = sa.and_(
        schema.ongoing_statuses(),
        calls.c.created_at >= now - ONGOING_WINDOW,
        *platform.live(calls),
    )
    if company_ids is not None:
        condition = sa.and_(condition, calls.c.company_id.in_(list(company_ids)))
    return condition


def agent_name(schema: MappedSchema) -> tuple[sa.ColumnElement, list[tuple[sa.Table, str, str]]]:
    """Return how a call's agent is shown, and the join it needs: the agents table's name by the call's agent
    id, else the agent the call names itself (a provider's agent id), else nothing."""
    agents, name = schema.table("agents"), schema.field("agents.name")
    if agents is not None and name is not None and schema.has("calls.agent_id") and schema.has("agents.id"):
        return name.label("agent_name"), [(agents, "id", "agent_id")]
    return schema.shown("calls.agent_name", "agent_name"), []


def _joined(platform: PlatformSchema, calls: sa.Table, joins: list[tuple[sa.Table, str, str]]):
    """Return calls outer-joined to each (table, its key, the call's reference) in order."""
    source = calls
    for table, key, reference in joins:
        source = source.outerjoin(table, platform.joined(table, table.c[key] == calls.c[reference]))
    return source


def ongoing_calls_statement(now: datetime, company_ids: Sequence[int] | None = None,
                            limit: int = DEFAULT_ROW_CAP, platform: PlatformSchema = DEFAULT_PLATFORM,
                            schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the one statement behind the ongoing-calls widget."""
    calls, customers, companies = schema.tables["calls"], schema.tables["customers"], schema.tables["companies"]
    where = ongoing_condition(now, company_ids, platform, schema)
    total = sa.select(sa.func.count()).select_from(calls).where(where).scalar_subquery()
    agent, agent_joins = agent_name(schema)
    with_customer = schema.has("calls.customer_id")
    # The two names may be in different collations (tables differ): compare nothing, show either.
    names = [as_result_text(name) for name in (schema.field("customers.name") if with_customer else None,
                                               schema.field("calls.customer_name")) if name is not None]
    customer_name = (sa.func.coalesce(*names) if len(names) > 1 else names[0] if names else sa.null())
    joins = ([(customers, "id", "customer_id")] if with_customer else []) + agent_joins + \
        [(companies, "id", "company_id")]
    return (
        sa.select(
            schema.shown("calls.id"), schema.shown("calls.created_at"), schema.shown("calls.status"),
            schema.shown("calls.call_status"),
            schema.shown("calls.from_number"), schema.shown("calls.to_number"),
            customer_name.label("customer_name"),
            agent,
            companies.c.name.label("company_name"),
            schema.shown("calls.direction"), schema.shown("calls.start_timestamp"),
            # the customer's record, for the link to their history (NULL: none)
            (customers.c.id if with_customer else sa.null()).label("customer_id"),
            total.label("total"),
        )
        .select_from(_joined(platform, calls, joins))
        .where(where)
        .order_by(calls.c.created_at.desc(), calls.c.id.desc())
        .limit(limit)
    )


def fetch_ongoing_calls(engine: Engine, now: datetime, company_ids: Sequence[int] | None = None,
                        limit: int = DEFAULT_ROW_CAP) -> OngoingCalls:
    """Return the newest ongoing calls (at most `limit`) and how many there are in all."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    statement = ongoing_calls_statement(now, company_ids, limit, platform_schema(engine), schema_of(engine))
    frame = run(engine, statement, max_rows=limit)
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    return OngoingCalls(rows=frame.drop(columns=["total"]), total=total)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    return [("ongoing calls", ongoing_calls_statement(now, platform=platform, schema=schema),
             # The last two hours by the covering time index serve as well: the same range, read from the index.
             {"calls": (idx_ongoing_calls.name, idx_calls_window.name)})]
