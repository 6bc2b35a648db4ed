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
from schema.tables import agents, calls, companies, customers, idx_ongoing_calls

ONGOING_STATUSES = ("ongoing", "in_progress")
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
                      platform: PlatformSchema = DEFAULT_PLATFORM) -> sa.ColumnElement[bool]:
    """Return the WHERE clause that selects ongoing calls at `now` (soft-deleted calls never are)."""
    condition = sa.and_(
        calls.c.status.in_(ONGOING_STATUSES),
        calls.c.call_status.in_(ONGOING_STATUSES),
        calls.c.created_at >= now - ONGOING_WINDOW,
        *platform.live(calls),
    )
    if company_ids is not None:
        condition = sa.and_(condition, calls.c.company_id.in_(list(company_ids)))
    return condition


def ongoing_calls_statement(now: datetime, company_ids: Sequence[int] | None = None,
                            limit: int = DEFAULT_ROW_CAP, platform: PlatformSchema = DEFAULT_PLATFORM) -> sa.Select:
    """Return the one statement behind the ongoing-calls widget."""
    where = ongoing_condition(now, company_ids, platform)
    total = sa.select(sa.func.count()).select_from(calls).where(where).scalar_subquery()
    return (
        sa.select(
            calls.c.id, calls.c.created_at, calls.c.status, calls.c.call_status,
            calls.c.from_number, calls.c.to_number,
            # The two names may be in different collations (tables differ): compare nothing, show either.
            sa.func.coalesce(as_result_text(customers.c.name), as_result_text(calls.c.customer_name))
            .label("customer_name"),
            agents.c.name.label("agent_name"),
            companies.c.name.label("company_name"),
            calls.c.direction, calls.c.start_timestamp,
            customers.c.id.label("customer_id"),  # the customer's record, for the link to their history (NULL: none)
            total.label("total"),
        )
        .select_from(
            calls.outerjoin(customers, platform.joined(customers, customers.c.id == calls.c.customer_id))
            .outerjoin(agents, platform.joined(agents, agents.c.id == calls.c.agent_id))
            .outerjoin(companies, platform.joined(companies, companies.c.id == calls.c.company_id))
        )
        .where(where)
        .order_by(calls.c.created_at.desc(), calls.c.id.desc())
        .limit(limit)
    )


def fetch_ongoing_calls(engine: Engine, now: datetime, company_ids: Sequence[int] | None = None,
                        limit: int = DEFAULT_ROW_CAP) -> OngoingCalls:
    """Return the newest ongoing calls (at most `limit`) and how many there are in all."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    statement = ongoing_calls_statement(now, company_ids, limit, platform_schema(engine))
    frame = run(engine, statement, max_rows=limit)
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    return OngoingCalls(rows=frame.drop(columns=["total"]), total=total)


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return realistic statements of this widget and the index each table must use."""
    return [("ongoing calls", ongoing_calls_statement(now, platform=platform), {"calls": (idx_ongoing_calls.name,)})]
