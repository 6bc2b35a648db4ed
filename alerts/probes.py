"""What each rule observes: one function per source, (context, params) -> Observation.

The database probe has an engine of its own (one pooled connection, connect and read bounded by
ALERT_PROBE_TIMEOUT_SECONDS), so it answers about the database itself, not about the reader's connection
gate. Widget failures come from each widget query's latest outcome, recorded in the alert store by the query
cache (every worker's); memory from the shared memory store; calls from queries/alerts.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from alerts.rules import COMPANY_FIGURES, in_business_hours, parse_business_hours
from alerts.state import Observation
from database.engines import _mysql_url, driver_timeouts
from monitoring.memory import MemoryLevels, judged_figures
from queries import alerts as queries
from queries.company_kpis import fetch_company_kpis, judged_figure
from queries.figures import BY_KEY, judged_enough
from queries.timeutil import start_of_day

MB = 1024 * 1024
OUTCOME_RECENT_SECONDS = 600  # a widget whose query nobody asked for this long is not judged (no data)
SWAP_WINDOW_SECONDS = 300
STALE_SAMPLE_PERIODS = 4


def create_probe_engine(url: str, timeout_seconds: float) -> Engine:
    """Return the probe's engine: one connection, the driver's waits bounded, no connection gate."""
    parsed = _mysql_url(url)
    return sa.create_engine(parsed, pool_size=1, max_overflow=0, pool_timeout=timeout_seconds, pool_recycle=280,
                            connect_args=driver_timeouts(parsed.get_driver_name(), timeout_seconds))


def database_label(url: str) -> str:
    """Return the database's name for messages: host and database, never the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database}"
    return f"{parsed.get_backend_name()} {parsed.host or 'localhost'}:{parsed.port or 3306}/{parsed.database or ''}"


def probe_database(engine: Engine) -> str:
    """Run SELECT 1; return "" when it answered, else why not (the error's class, no SQL, no secrets)."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1").scalar_one()
        return ""
    except (sa.exc.SQLAlchemyError, OSError) as error:
        return type(getattr(error, "orig", None) or error).__name__


@dataclass
class Context:
    """What one evaluation may look at."""

    config: dict[str, Any]
    wall: float  # epoch seconds now
    database_now: datetime  # now as the platform stores time
    probe: Callable[[], str]
    database_label: str
    reader: Engine
    memory_store: Any
    alert_store: Any
    database_queries: dict[str, str]  # the widgets' cached queries that read the business database -> titles
    business_hours: tuple = ()
    database_error: str = ""  # this round's probe answer (set by the database rule, which runs first)
    rule_states: dict = field(default_factory=dict)  # every rule's state so far this round (the evaluator's)

    @classmethod
    def hours(cls, config: dict[str, Any]) -> tuple:
        return parse_business_hours(config["ALERT_BUSINESS_HOURS"])

    def local_now(self) -> datetime:
        return datetime.fromtimestamp(self.wall, ZoneInfo(self.config["DISPLAY_TIMEZONE"]))


def observe_database(context: Context, params: dict) -> Observation:
    context.database_error = context.probe()
    failed = f": SELECT 1 failed ({context.database_error})" if context.database_error else ""
    return Observation(value=1.0 if context.database_error else 0.0, detail=context.database_label + failed)


def _outcomes(context: Context) -> dict[str, dict] | None:
    """Return the recently refreshed database widgets' outcomes, or None when none refreshed lately."""
    outcomes = {query: outcome for query, outcome in context.alert_store.widget_outcomes().items()
                if query in context.database_queries
                and context.wall - max(outcome.get("ok_at", 0), outcome.get("failed_at", 0)) < OUTCOME_RECENT_SECONDS}
    return outcomes or None


def _worst(context: Context, values: dict[str, float], unit: str) -> Observation:
    worst = max(values.values())
    names = [f"{context.database_queries[query]} ({value:,.0f}{unit})" for query, value in
             sorted(values.items(), key=lambda item: -item[1]) if value > 0][:4]
    return Observation(value=worst, detail=", ".join(names))


def observe_widget_failing(context: Context, params: dict) -> Observation:
    outcomes = _outcomes(context)
    if outcomes is None:
        return Observation(detail="no widget refreshed in the last 10 minutes")
    return _worst(context, {q: (context.wall - o["failing_since"]) if o.get("failing_since") else 0.0
                            for q, o in outcomes.items()}, " s")


def observe_widget_stale(context: Context, params: dict) -> Observation:
    outcomes = _outcomes(context)
    if outcomes is None:
        return Observation(detail="no widget refreshed in the last 10 minutes")
    return _worst(context, {q: float(o["failures"]) for q, o in outcomes.items()}, " failed")


def _sample(context: Context):
    """Return the newest memory sample, or None when there is none or it is too old to judge."""
    sample = context.memory_store.latest()
    too_old = STALE_SAMPLE_PERIODS * float(context.config["MEMORY_SAMPLE_SECONDS"]) + 30
    return sample if sample is not None and context.wall - sample.at <= too_old else None


def _memory(context: Context, level: str) -> Observation:
    sample = _sample(context)
    if sample is None:
        return Observation(detail="no recent memory sample")
    shares = []
    # The levels the badge and the charts use: one set of per-group figures.
    for figure in judged_figures(sample, MemoryLevels.from_config(context.config)):
        megabytes = getattr(figure.levels, level)
        if megabytes:
            shares.append((100.0 * figure.value / (megabytes * MB),
                           f"{figure.label}: {figure.value / MB:,.0f} MB of {megabytes} MB"))
    if not shares:
        return Observation(value=0.0, detail="nothing with a level")
    share, detail = max(shares)
    return Observation(value=round(share, 1), detail=detail)


def observe_memory_limit(context: Context, params: dict) -> Observation:
    return _memory(context, "limit_mb")


def observe_memory_warning(context: Context, params: dict) -> Observation:
    return _memory(context, "warning_mb")


def observe_memory_group(context: Context, params: dict) -> Observation:
    sample = _sample(context)
    group = next((g for g in sample.groups if g.name == params.get("group")), None) if sample else None
    if group is None:
        return Observation(detail=f"no sample of group {params.get('group')}")
    return Observation(value=round(group.total_rss / MB, 1), detail=f"{group.name} ({group.count} processes)")


def observe_host_available(context: Context, params: dict) -> Observation:
    sample = _sample(context)
    if sample is None:
        return Observation(detail="no recent memory sample")
    return Observation(value=round(sample.host.available / MB), detail=f"host, {sample.host.total / MB:,.0f} MB")


def observe_host_swapping(context: Context, params: dict) -> Observation:
    points = context.memory_store.read("host.swap_used", context.wall - SWAP_WINDOW_SECONDS, context.wall, 1000)
    if len(points) < 2:
        return Observation(detail="no recent memory samples")
    return Observation(value=round(max(0.0, points[-1][1] - min(v for _, v in points)) / MB, 1), detail="host")


def observe_ongoing_calls(context: Context, params: dict) -> Observation:
    return Observation(value=float(queries.count_ongoing(context.reader, context.database_now)),
                       detail=context.database_label)


def _outside_hours(context: Context) -> str:
    return "" if in_business_hours(context.business_hours, context.local_now()) else "outside business hours"


def observe_calls_drop(context: Context, params: dict) -> Observation:
    idle = _outside_hours(context)
    if idle:
        return Observation(idle=idle)
    counts = queries.week_over_week(context.reader, context.database_now)
    if counts.week_before < params["min_calls"]:
        return Observation(idle=f"only {counts.week_before} calls the same hour last week")
    return Observation(value=round(100.0 * counts.last_hour / counts.week_before, 1),
                       detail=f"{counts.last_hour} calls in the last hour, {counts.week_before} a week before")


def observe_agent_silent(context: Context, params: dict) -> Observation:
    idle = _outside_hours(context)
    if idle:
        return Observation(idle=idle)
    silent = queries.silent_agents(context.reader, context.database_now, params["minutes"], params["min_calls"])
    names = ", ".join(f"{agent.name} (company {agent.company_id})" for agent in silent[:5])
    more = f" and {len(silent) - 5} more" if len(silent) > 5 else ""
    return Observation(value=float(len(silent)), detail=f"no call for {params['minutes']} min: {names}{more}"
                       if silent else "")


def observe_company_figure(context: Context, params: dict) -> Observation:
    """Observe the worst company's figure today (params["figure"]: a judged figure of the company table), among
    the companies with at least `min_calls` calls behind it; none has that many: idle, so the rule cannot fire
    on "0 %" of three calls (the table shows such a figure neutral too)."""
    figure, min_calls = params["figure"], int(params["min_calls"])
    now = context.database_now
    today_start = start_of_day(now, context.config["DISPLAY_TIMEZONE"], context.config["DATABASE_TIMEZONE"])
    result = fetch_company_kpis(context.reader, now, today_start,
                                booking_window_hours=int(context.config["BOOKING_WINDOW_HOURS"]))
    judged = []
    for row in result.rows.itertuples(index=False):
        value, volume = judged_figure(row, figure)
        if value is not None and judged_enough(volume, min_calls):
            judged.append((value, str(row.company_name), volume))
    if not judged:
        return Observation(idle=f"no company has {min_calls} calls behind its {BY_KEY[figure].label} today")
    good, bad = context.config[COMPANY_FIGURES[figure]]
    value, company, volume = (min if good > bad else max)(judged)
    return Observation(value=round(value, 1), detail=f"{company} (n={volume})")


def observe_rule_errors(context: Context, params: dict) -> Observation:
    """Count the rules that could not be evaluated for `seconds` or longer (an alert that cannot judge says so)."""
    from alerts.state import ERROR

    stuck = sorted(name for name, state in context.rule_states.items()
                   if state.state == ERROR and state.since is not None and context.wall - state.since >= params["seconds"])
    return Observation(value=float(len(stuck)), detail=", ".join(
        f"{name} ({context.rule_states[name].reason})" for name in stuck[:5]))


OBSERVERS: dict[str, Callable[[Context, dict], Observation]] = {
    "database": observe_database, "widget_failing": observe_widget_failing, "widget_stale": observe_widget_stale,
    "memory_limit": observe_memory_limit, "memory_warning": observe_memory_warning,
    "memory_group": observe_memory_group, "host_available": observe_host_available,
    "host_swapping": observe_host_swapping, "ongoing_calls": observe_ongoing_calls,
    "calls_drop": observe_calls_drop, "agent_silent": observe_agent_silent, "rule_errors": observe_rule_errors,
    "company_figure": observe_company_figure,
}

