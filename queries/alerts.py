"""The call rules' statements: cheap counts through the calls indexes, named columns, capped.

- ongoing calls now (a call storm): one count through `idx_ongoing_calls`;
- the last hour's calls against the same hour on the same weekday a week before: two counts, each one range
  of `idx_calls_created_date`;
- AI agents silent: calls per agent in the last N minutes and in the same N minutes of each of the 7 days
  before (eight ranges of `idx_calls_created_date`), for the agents that normally have calls then; their names
  by primary key, a second statement only when there are any.

Soft-deleted calls are never counted and a soft-deleted (or missing) agent is never reported
(queries/platform.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.ongoing_calls import ongoing_condition
from queries.schema_map import DEFAULT_SCHEMA, MappedSchema, schema_of
from queries.platform import DEFAULT_PLATFORM, PlatformSchema, as_result_text, platform_schema
from queries.runner import run
from schema.tables import idx_calls_created_date, idx_calls_window, idx_ongoing_calls

BASELINE_DAYS = 7
SILENT_AGENTS_CAP = 200


def ongoing_count_statement(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM,
                            schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the count of calls ongoing at `now`."""
    return sa.select(sa.func.count().label("ongoing_calls")).select_from(schema.tables["calls"]).where(
        ongoing_condition(now, None, platform, schema))


def _count_between(start: datetime, end: datetime, platform: PlatformSchema,
                   schema: MappedSchema = DEFAULT_SCHEMA) -> sa.ScalarSelect:
    calls = schema.tables["calls"]
    return (sa.select(sa.func.count()).select_from(calls)
            .where(calls.c.created_at >= start, calls.c.created_at < end, *platform.live(calls)).scalar_subquery())


def week_over_week_statement(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM,
                             schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the calls of the last hour and of the same hour one week before."""
    week = timedelta(days=7)
    hour = timedelta(hours=1)
    return sa.select(_count_between(now - hour, now, platform, schema).label("last_hour"),
                     _count_between(now - week - hour, now - week, platform, schema).label("week_before"))


def agent_key(schema: MappedSchema) -> tuple[sa.ColumnElement | None, bool]:
    """Return what tells a call's agent for the silent-agents rule, and whether it is an agents table's id (its
    name then read by primary key); (None, False) where the platform keeps no agent on its calls."""
    if schema.has("calls.agent_id") and schema.has("agents.id") and schema.has("agents.name"):
        return schema.field("calls.agent_id"), True
    return schema.field("calls.agent_name"), False


def silent_agents_statement(now: datetime, minutes: int, min_calls: float,
                            platform: PlatformSchema = DEFAULT_PLATFORM,
                            schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select | None:
    """Return the agents with no call in the last `minutes` that had at least `min_calls` on average in the same
    minutes of the 7 days before (calls only: names are looked up by primary key after); capped. None where the
    platform keeps no agent on its calls."""
    calls = schema.tables["calls"]
    agent, _ = agent_key(schema)
    if agent is None:
        return None
    window = timedelta(minutes=minutes)
    ends = [now - timedelta(days=day) for day in range(BASELINE_DAYS + 1)]
    ranges = [sa.and_(calls.c.created_at >= end - window, calls.c.created_at < end) for end in ends]
    recent = sa.func.sum(sa.case((calls.c.created_at >= now - window, 1), else_=0))
    baseline = sa.func.count() - recent
    return (sa.select(agent.label("agent_id"), baseline.label("baseline_calls"),
                      sa.func.max(calls.c.company_id).label("company_id"))
            .where(agent.is_not(None), sa.or_(*ranges), *platform.live(calls))
            .group_by(agent)
            .having(sa.and_(recent == 0, baseline >= min_calls * BASELINE_DAYS))
            .order_by(baseline.desc(), agent)
            .limit(SILENT_AGENTS_CAP))


def agent_names_statement(agent_ids: list[int], platform: PlatformSchema = DEFAULT_PLATFORM,
                          schema: MappedSchema = DEFAULT_SCHEMA) -> sa.Select:
    """Return the names and companies of these agents (soft-deleted ones left out), by primary key."""
    agents = schema.tables["agents"]
    return (sa.select(agents.c.id, as_result_text(agents.c.name).label("agent_name"), agents.c.company_id)
            .where(agents.c.id.in_(agent_ids), *platform.live(agents)).limit(len(agent_ids)))


def count_ongoing(engine: Engine, now: datetime) -> int:
    frame = run(engine, ongoing_count_statement(now, platform_schema(engine), schema_of(engine)), max_rows=1)
    return int(frame["ongoing_calls"].iloc[0])


@dataclass(frozen=True)
class WeekOverWeek:
    last_hour: int
    week_before: int


def week_over_week(engine: Engine, now: datetime) -> WeekOverWeek:
    frame = run(engine, week_over_week_statement(now, platform_schema(engine), schema_of(engine)), max_rows=1)
    return WeekOverWeek(int(frame["last_hour"].iloc[0]), int(frame["week_before"].iloc[0]))


@dataclass(frozen=True)
class SilentAgent:
    agent_id: int | str  # an agents table's id, or the provider's agent id the call keeps
    name: str
    company_id: int | None
    baseline_calls: int  # in the same minutes of the 7 days before, all together


def silent_agents(engine: Engine, now: datetime, minutes: int, min_calls: float) -> list[SilentAgent]:
    """Return the silent agents, busiest first; an agent that is missing or soft-deleted is not one."""
    platform, schema = platform_schema(engine), schema_of(engine)
    statement = silent_agents_statement(now, minutes, min_calls, platform, schema)
    if statement is None:
        return []
    quiet = run(engine, statement, max_rows=SILENT_AGENTS_CAP)
    if quiet.empty:
        return []
    if not agent_key(schema)[1]:  # the provider's agent id is its own name
        return [SilentAgent(str(agent), str(agent), _int(company), int(calls_before))
                for agent, calls_before, company in zip(quiet["agent_id"], quiet["baseline_calls"],
                                                        quiet["company_id"])]
    ids = [int(agent) for agent in quiet["agent_id"]]
    names = {int(row.id): row for row in run(engine, agent_names_statement(ids, platform, schema),
                                             max_rows=len(ids)).itertuples()}
    return [SilentAgent(agent, str(names[agent].agent_name), _int(names[agent].company_id), int(calls_before))
            for agent, calls_before in zip(ids, quiet["baseline_calls"]) if agent in names]


def _int(value) -> int | None:
    return None if value is None or value != value else int(value)  # NULL, or NaN from pandas


def plan_examples(now: datetime, platform: PlatformSchema = DEFAULT_PLATFORM, schema: MappedSchema = DEFAULT_SCHEMA
                  ) -> list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]:
    """Return the alert rules' statements and the index each table must use."""
    silent = silent_agents_statement(now, 30, 3, platform, schema)
    return [
        ("alert: ongoing calls", ongoing_count_statement(now, platform, schema),
         {"calls": (idx_ongoing_calls.name, idx_calls_window.name)}),
        ("alert: week over week", week_over_week_statement(now, platform, schema),
         {"calls": (idx_calls_window.name, idx_calls_created_date.name)}),
        *([("alert: silent agents", silent, {"calls": (idx_calls_window.name, idx_calls_created_date.name)})]
          if silent is not None else []),
    ]
