"""`python app.py verify`: prove from the query plans that each widget query uses its index.

Each query module names realistic statements and, per table, the indexes an
access to that table may use (`plan_examples`). Here each statement is explained
with its parameters bound, as the server would plan it:
- MySQL/MariaDB: EXPLAIN; a row per table access, with `key` and a `rows` estimate;
- SQLite: EXPLAIN QUERY PLAN; a line per access ("SEARCH calls USING INDEX …").
Every access to a named table must use one of its expected indexes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from queries import activity, headline_stats, ongoing_calls
from queries.platform import platform_schema

WIDGET_QUERY_MODULES = (ongoing_calls, activity, headline_stats)
SQLITE_ACCESS = re.compile(
    r"^(?:SCAN|SEARCH) (?P<table>\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX (?P<index>\w+))?")


class Explain(Executable, ClauseElement):
    """EXPLAIN (or EXPLAIN QUERY PLAN) of a statement, with its parameters bound."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement):
        self.statement = statement


@compiles(Explain)
def _explain_mysql(element, compiler, **kw):
    return "EXPLAIN " + compiler.process(element.statement, **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element, compiler, **kw):
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)


@dataclass(frozen=True)
class TableAccess:
    table: str
    index: str | None
    rows: int | None


@dataclass(frozen=True)
class PlanCheck:
    query: str
    table: str
    expected: tuple[str, ...]
    used: tuple[str, ...]
    rows_estimate: int | None
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and bool(self.used) and all(u in self.expected for u in self.used)

    @property
    def problem(self) -> str:
        if self.missing:
            return f"index {', '.join(self.missing)} does not exist"
        if not self.used:
            return f"the plan shows no access to {self.table}"
        if not self.ok:
            return f"the plan reads {self.table} by {', '.join(u or 'a full scan' for u in self.used)}"
        return ""


def table_accesses(engine: Engine, statement: sa.Executable) -> list[TableAccess]:
    """Return each access to a base table in the statement's plan."""
    with engine.connect() as connection:
        result = connection.execute(Explain(statement))
        # The result's keys would be the explained statement's labels: take EXPLAIN's own names.
        names = [column[0] for column in result.cursor.description]
        plan = [dict(zip(names, row)) for row in result]
    if engine.dialect.name == "sqlite":
        accesses = []
        for row in plan:
            match = SQLITE_ACCESS.match(str(row["detail"]))
            if match:
                accesses.append(TableAccess(match["table"], match["index"], None))
        return accesses
    return [TableAccess(str(row["table"]), row.get("key"), _int_or_none(row.get("rows")))
            for row in plan if row.get("table") and not str(row["table"]).startswith("<")]


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def check_plans(engine: Engine, now: datetime) -> list[PlanCheck]:
    """Explain every widget query and compare each table access with its expected indexes."""
    indexes = {table: {ix["name"] for ix in sa.inspect(engine).get_indexes(table)}
               for table in ("calls", "appointments")}
    checks = []
    platform = platform_schema(engine)
    for module in WIDGET_QUERY_MODULES:
        for name, statement, expected_by_table in module.plan_examples(now, platform):
            accesses = table_accesses(engine, statement)
            for table, expected in expected_by_table.items():
                mine = [a for a in accesses if a.table == table]
                estimates = [a.rows for a in mine if a.rows is not None]
                checks.append(PlanCheck(
                    query=name, table=table, expected=expected,
                    used=tuple(a.index or "" for a in mine),
                    rows_estimate=sum(estimates) if estimates else None,
                    missing=tuple(ix for ix in expected if ix not in indexes[table]),
                ))
    return checks


def format_checks(checks: list[PlanCheck]) -> str:
    """Return the checks as a plain-text table."""
    header = ("query", "table", "expected index", "index used", "rows examined (est.)", "ok")
    rows = [(c.query, c.table, " or ".join(c.expected), ", ".join(u or "(full scan)" for u in c.used) or "-",
             "n/a" if c.rows_estimate is None else f"{c.rows_estimate:,}", "yes" if c.ok else "NO")
            for c in checks]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header, tuple("-" * w for w in widths), *rows]]
    return "\n".join(lines)
