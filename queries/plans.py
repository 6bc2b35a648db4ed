"""`python app.py verify`: judge each widget query's plan as a DBA would.

Each query module names realistic statements and, per table, the indexes an
access to that table is expected to use (`plan_examples`). Here each statement is
explained with its parameters bound, as the server would plan it:
- MySQL/MariaDB: EXPLAIN; a row per table access, with its `type`, `key`, `rows` and `Extra`;
- SQLite: EXPLAIN QUERY PLAN; a line per access ("SEARCH calls USING INDEX …").

What is judged is whether the plan is bounded, not the index's name:
- PASS: every table is read through an index condition (a range, a lookup);
- WARN: a bounded read through another index than the expected one, a full scan of
  a small lookup table, or a bounded read that still sorts very many rows;
- FAIL: a full scan of calls or appointments (sorted or not) or of any large table,
  an expected index that does not exist, or a statement the server cannot plan.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from queries.platform import platform_schema
from queries.schema_map import BUCKETS, MappedSchema, schema_of

# A widget's plan_examples(now, platform): realistic statements and the indexes each table should be read by.
PlanExamples = Callable[..., list[tuple[str, sa.Executable, dict[str, tuple[str, ...]]]]]
# The platform's tables that grow with every call and booking: however few rows they hold
# today (a test database, a new platform), a full scan of them is a failure waiting to happen.
GROWING_TABLES = frozenset({"calls", "appointments"})
# Below this many rows a table is a few pages: MariaDB may rightly prefer reading it whole
# to an index (companies with 3 rows), and it costs well under a millisecond. Such a scan
# is worth a warning, since the table may grow, not a failure.
SMALL_TABLE_ROWS = 1_000
# A sort over a bounded read is fine until the bound itself is wide: above this many rows
# every poll sorts a sizeable batch, past MariaDB's default 2 MB sort_buffer_size and so through temporary files.
SORTED_ROWS_WARNING = 100_000
# MariaDB access types that read by an index condition: a lookup or a range, never the whole table.
BOUNDED_TYPES = frozenset({"system", "const", "eq_ref", "ref", "ref_or_null", "range", "index_merge",
                           "unique_subquery", "index_subquery", "fulltext"})
# SQLite before 3.36 wrote "SCAN TABLE calls"; since then "SCAN calls".
SQLITE_ACCESS = re.compile(r"^(?P<kind>SCAN|SEARCH) (?:TABLE )?(?P<table>\w+)(?: AS \w+)?(?: USING (?P<using>.*?))?(?: \(|$)")
SQLITE_INDEX = re.compile(r"^(?:COVERING )?INDEX (?P<index>\w+)$")
SQLITE_PRIMARY = re.compile(r"^(?:INTEGER )?PRIMARY KEY$")
SQLITE_SORT = re.compile(r"^USE TEMP B-TREE FOR (?:.* )?(?:ORDER|GROUP) BY")
MIGRATE_HINT = "run `python app.py migrate`"


class Verdict(IntEnum):
    """How a plan (or one access of it) fares; a larger value is worse."""

    PASS = 0
    WARN = 1
    FAIL = 2


class Explain(Executable, ClauseElement):
    """EXPLAIN (or EXPLAIN QUERY PLAN) of a statement, with its parameters bound."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement):
        self.statement = statement


def _explained(element: Explain, compiler, **kw) -> str:
    sql = compiler.process(element.statement, **kw)
    # EXPLAIN's rows are the server's, not the statement's: were the statement's result columns kept, a statement
    # with as many columns as EXPLAIN has would have its types applied to them by position (a DateTime to `parent`).
    compiler._result_columns = []
    return sql


@compiles(Explain)
def _explain_mysql(element, compiler, **kw):
    return "EXPLAIN " + _explained(element, compiler, **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element, compiler, **kw):
    return "EXPLAIN QUERY PLAN " + _explained(element, compiler, **kw)


@dataclass(frozen=True)
class Access:
    """One table access of a plan."""

    table: str
    index: str | None
    kind: str          # the server's own word: MariaDB's `type` (range, eq_ref, ALL…), SQLite's SEARCH/SCAN
    bounded: bool      # read by an index condition, not the whole table or the whole index
    rows: int | None   # the server's estimate; for a full scan, the table's row count
    sorted: bool = False   # a filesort (SQLite: a temporary B-tree) sorts the rows this access reads
    derived: bool = False  # a derived table or union result (<derived2>, a CTE), not a base table
    index_only: bool = False  # every column comes from the index: no row is fetched (MariaDB's "Using index")


@dataclass(frozen=True)
class PlanRow:
    """One line of verify's table: a query's reads of one table, or why the query could not be judged."""

    query: str
    table: str
    expected: tuple[str, ...]
    verdict: Verdict
    note: str = ""
    accesses: tuple[Access, ...] = field(default_factory=tuple)
    weeks: float | None = None  # how many weeks of data the table holds (None: not read, or no rows)

    @property
    def used(self) -> str:
        return ", ".join(dict.fromkeys(a.index or "(none)" for a in self.accesses)) or "-"

    @property
    def kinds(self) -> str:
        kinds = dict.fromkeys(a.kind + ("+index only" if a.index_only else "") + ("+filesort" if a.sorted else "")
                              for a in self.accesses)
        return ", ".join(kinds) or "-"

    @property
    def rows(self) -> str:
        estimates = [a.rows for a in self.accesses if a.rows is not None]
        return f"{sum(estimates):,}" if estimates else "n/a"

    @property
    def rows_per_week(self) -> str:
        """Return the plan's estimated rows per week of the table's data: a plan bounded by a time window reads
        fewer per week as the history grows, a full scan always the week's whole volume."""
        estimates = [a.rows for a in self.accesses if a.rows is not None]
        if not estimates or not self.weeks:
            return "n/a"
        return f"{sum(estimates) / self.weeks:,.0f}"


def mysql_accesses(plan: list[dict]) -> list[Access]:
    """Return the accesses of MariaDB/MySQL EXPLAIN rows (no table: nothing read, e.g. 'Impossible WHERE')."""
    # MariaDB's rowid filter adds itself to an access: type "ref|filter", key "<index read>|<index filtering>".
    return [Access(table=str(row["table"]), index=_first(row.get("key")), kind=str(row.get("type")),
                   bounded=_first(row.get("type")) in BOUNDED_TYPES, rows=_int_or_none(row.get("rows")),
                   sorted="Using filesort" in str(row.get("Extra") or ""),
                   derived=str(row["table"]).startswith("<"),
                   index_only="Using index" in str(row.get("Extra") or "").split("; "))
            for row in plan if row.get("table")]


def sqlite_accesses(plan: list[dict], base_tables: set[str]) -> list[Access]:
    """Return the accesses of SQLite EXPLAIN QUERY PLAN rows; a sort marks the accesses beside it."""
    sorted_parents = {row["parent"] for row in plan if SQLITE_SORT.match(str(row["detail"]))}
    accesses = []
    for row in plan:
        match = SQLITE_ACCESS.match(str(row["detail"]))
        if match:
            using = match["using"] or ""
            index, bounded = _sqlite_index(match["kind"], using)
            kind = "AUTOMATIC INDEX" if using.startswith("AUTOMATIC") else match["kind"]
            accesses.append(Access(table=match["table"], index=index, kind=kind, bounded=bounded,
                                   rows=None, sorted=row["parent"] in sorted_parents,
                                   derived=match["table"] not in base_tables,
                                   index_only=using.startswith("COVERING INDEX")))
    return accesses


def _sqlite_index(kind: str, using: str) -> tuple[str | None, bool]:
    """Return the index an access reads and whether it is bounded by an index condition."""
    if SQLITE_PRIMARY.match(using):
        return "PRIMARY", kind == "SEARCH"
    index = SQLITE_INDEX.match(using)
    # An AUTOMATIC index is one SQLite builds for this statement, by reading the whole table.
    return (index["index"] if index else None), kind == "SEARCH" and index is not None


def _first(value) -> str | None:
    return None if value is None else str(value).split("|")[0]


def _int_or_none(value) -> int | None:
    """Return EXPLAIN's row estimate; MariaDB writes "5 (0%)" when a rowid filter cuts the rows it reads."""
    match = re.match(r"\s*(\d+)", "" if value is None else str(value))
    return int(match.group(1)) if match else None


def explain(connection: Connection, statement: sa.Executable, base_tables: set[str]) -> list[Access]:
    """Return the accesses of the statement's plan; on SQLite, a full scan's rows are counted."""
    result = connection.execute(Explain(statement))
    # The result's keys would be the explained statement's labels: take EXPLAIN's own names.
    names = [column[0] for column in result.cursor.description]
    plan = [dict(zip(names, row)) for row in result]
    if connection.dialect.name != "sqlite":
        return mysql_accesses(plan)
    return [_counted(connection, a) if not a.bounded and not a.derived else a
            for a in sqlite_accesses(plan, base_tables)]


def _counted(connection: Connection, access: Access) -> Access:
    """Return the access with its table's row count (SQLite's plan has no estimates)."""
    rows = connection.execute(sa.select(sa.func.count()).select_from(sa.table(access.table))).scalar_one()
    return replace(access, rows=int(rows))


def judge_access(access: Access, expected: tuple[str, ...] = ()) -> tuple[Verdict, str]:
    """Judge one read of a base table against the indexes expected for its table."""
    if not access.bounded:
        return _judge_scan(access)
    if access.sorted and (access.rows or 0) > SORTED_ROWS_WARNING:
        return Verdict.WARN, f"sorts about {access.rows:,} rows read by {access.index}"
    if expected and access.index not in expected:
        return Verdict.WARN, (f"reads {access.table} by {access.index} ({_estimate(access)}), "
                              f"not {' or '.join(expected)}: a bounded read, as good while its range stays narrow")
    return Verdict.PASS, ""


def _judge_scan(access: Access) -> tuple[Verdict, str]:
    """Judge a read of a whole table (or of a whole index): bounded by nothing but the table's size."""
    what = f"full scan of {access.table}" + (f" by index {access.index}" if access.index else "")
    what += f" ({_estimate(access)})" + (", sorted" if access.sorted else "")
    small = access.rows is not None and access.rows < SMALL_TABLE_ROWS
    if access.table in GROWING_TABLES:
        return Verdict.FAIL, what + (f": {access.table} grows with the platform" if small else "")
    if small:
        return Verdict.WARN, f"{what}: a small table, fine while it stays under {SMALL_TABLE_ROWS:,} rows"
    return Verdict.FAIL, what


def _estimate(access: Access) -> str:
    return "rows not estimated" if access.rows is None else f"{access.rows:,} rows"


def judge_plan(query: str, accesses: list[Access], expected_by_table: dict[str, tuple[str, ...]],
               indexes: dict[str, set[str]]) -> list[PlanRow]:
    """Return the rows of one query: one per expected table, and one per other table read badly."""
    base = [a for a in accesses if not a.derived]
    rows = [_table_row(query, table, expected, [a for a in base if a.table == table], indexes.get(table, set()))
            for table, expected in expected_by_table.items()]
    for access in base:
        verdict, note = judge_access(access)
        if access.table not in expected_by_table and verdict is not Verdict.PASS:
            rows.append(PlanRow(query, access.table, (), verdict, note, (access,)))
    return rows


def _table_row(query: str, table: str, expected: tuple[str, ...], accesses: list[Access],
               existing: set[str]) -> PlanRow:
    """Judge every read of one expected table together: the worst verdict, with all the reasons."""
    judged = [judge_access(a, expected) for a in accesses]
    notes = list(dict.fromkeys(note for _, note in judged if note))
    verdict = max((v for v, _ in judged), default=Verdict.WARN)
    missing = [ix for ix in expected if ix not in existing]
    if missing:
        # Only the indexes the query was written for stay right as the data changes: even a good plan fails.
        verdict, notes = Verdict.FAIL, _missing_index_notes(notes, missing, table)
    elif not accesses:
        notes.append(f"the plan does not read {table}: nothing to judge")
    return PlanRow(query, table, expected, verdict, "; ".join(notes), tuple(accesses))


def _missing_index_notes(notes: list[str], missing: list[str], table: str) -> list[str]:
    """Return the notes led by the missing indexes, less those on how the table is read (judged without them)."""
    return [f"{_index_words(missing)} not exist: {MIGRATE_HINT}",
            *(note for note in notes if not note.startswith(f"reads {table} by "))]


def _index_words(names: list[str]) -> str:
    return f"index {names[0]} does" if len(names) == 1 else f"indexes {', '.join(names)} do"


def error_reason(error: sa.exc.SQLAlchemyError) -> str:
    """Return the database's own words for an error, on one line: '(1271) Illegal mix of collations…'."""
    orig = getattr(error, "orig", None)
    args = getattr(orig, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        text = f"({args[0]}) {args[1]}"
    else:
        text = str(orig if orig is not None else error)
    return (text.strip().splitlines() or [type(error).__name__])[0]


def existing_indexes(connection: Connection, growing: set[str] = GROWING_TABLES
                     ) -> tuple[set[str], dict[str, set[str]]]:
    """Return the database's tables and the index names of each (no entry: the table is absent)."""
    tables, columns = _index_columns(connection, growing)
    return tables, {table: set(found) for table, found in columns.items()}


def _index_columns(connection: Connection, growing: set[str]) -> tuple[set[str], dict[str, dict[str, tuple]]]:
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    return tables, {t: {ix["name"]: tuple(ix["column_names"]) for ix in inspector.get_indexes(t)}
                    for t in tables & growing}


def serving_indexes(expected_by_table: dict[str, tuple[str, ...]], schema: MappedSchema,
                    indexes: dict[str, dict[str, tuple]]) -> dict[str, tuple[str, ...]]:
    """Return the expectations with each index Switchboard did not create (the platform has one that leads with
    the same columns, so `migrate` added none) replaced by the platform's indexes that serve in its place."""
    from schema.indexes import mapped_wanted

    wanted = {index.name: index for index in mapped_wanted(schema.source)}
    served = {}
    for table, expected in expected_by_table.items():
        found = indexes.get(table, {})
        names: list[str] = []
        for name in expected:
            index = wanted.get(name)
            prefix = index.serving_prefix if index is not None else ()
            instead = [other for other, columns in sorted(found.items(), key=lambda item: str(item[0]))
                       if prefix and tuple(columns[:len(prefix)]) == prefix] if name not in found else []
            names += instead or [name]
        served[table] = tuple(dict.fromkeys(names))
    return served


UNPLACED_CAP = 50
UNPLACED_DAYS = 30


def unplaced_statuses_statement(now: datetime, schema: MappedSchema) -> sa.Select:
    """Return the statement of the distinct call statuses of the last 30 days that no bucket places: one range
    of the calls' time index, capped."""
    calls = schema.tables["calls"]
    status = calls.c.status
    placed = [value for bucket in BUCKETS for value in schema.statuses.values(bucket)]
    return (sa.select(status).distinct()
            .where(calls.c.created_at >= now - timedelta(days=UNPLACED_DAYS), calls.c.created_at <= now,
                   status.is_not(None), status.not_in(placed))
            .order_by(status).limit(UNPLACED_CAP))


def unplaced_statuses(engine: Engine, now: datetime) -> list[str]:
    """Return the call statuses of the last 30 days that the schema map puts in no bucket (at most 50)."""
    with engine.connect() as connection:
        return [str(value) for (value,) in connection.execute(unplaced_statuses_statement(now, schema_of(engine)))]


def check_query(engine: Engine, name: str, statement: sa.Executable,
                expected_by_table: dict[str, tuple[str, ...]], tables: set[str],
                indexes: dict[str, set[str]]) -> list[PlanRow]:
    """Explain one statement and judge it; a statement the server cannot plan is one failing row."""
    try:
        # A connection of its own: an error (or a lost connection) ends with this statement only.
        with engine.connect() as connection:
            accesses = explain(connection, statement, tables)
    except sa.exc.SQLAlchemyError as error:
        return [PlanRow(name, ", ".join(expected_by_table) or "-", (), Verdict.FAIL,
                        f"could not be planned: {error_reason(error)}")]
    return judge_plan(name, accesses, expected_by_table, indexes)


def check_plans(engine: Engine, now: datetime, sources: Sequence[PlanExamples]) -> list[PlanRow]:
    """Explain and judge every widget query (`sources`: each widget's plan_examples, from the registry).
    Raises SQLAlchemyError only when the database is unreachable."""
    platform, schema = platform_schema(engine), schema_of(engine)
    growing = GROWING_TABLES | {schema.table(t).name for t in GROWING_TABLES if schema.table(t) is not None}
    with engine.connect() as connection:
        tables, columns = _index_columns(connection, growing)
    indexes = {table: set(found) for table, found in columns.items()}
    weeks = {span.table: span.weeks for span in data_spans(engine, schema)}
    return [replace(row, weeks=weeks.get(row.table)) for plan_examples in sources
            for name, statement, expected_by_table in _examples(plan_examples, now, platform, schema)
            for row in check_query(engine, name, statement,
                                   serving_indexes(_physical(expected_by_table, schema), schema, columns),
                                   tables, indexes)]


@dataclass(frozen=True)
class DataSpan:
    """How much a growing table holds: its rows and the weeks from its first row's time to its last's."""

    table: str
    rows: int
    first: datetime | None
    last: datetime | None

    @property
    def weeks(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        # A table of a day's data holds a seventh of a week, not none.
        return max((self.last - self.first) / timedelta(weeks=1), 1 / 7)

    def describe(self) -> str:
        if self.weeks is None:
            return f"{self.table}: no rows"
        return (f"{self.table}: {self.rows:,} rows over {self.weeks:,.1f} weeks "
                f"({self.rows / self.weeks:,.0f} a week), {self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}")


# The time each growing table's rows are read by: MIN and MAX of it are two reads of its index's ends.
SPAN_FIELDS = (("calls", "calls.created_at"), ("appointments", "appointments.starts_at"))


def data_spans(engine: Engine, schema: MappedSchema) -> list[DataSpan]:
    """Return the rows and time span of each growing table the platform has (one statement each)."""
    spans = []
    with engine.connect() as connection:
        for logical, name in SPAN_FIELDS:
            table, column = schema.table(logical), schema.field(name)
            if table is None or column is None:
                continue
            rows, first, last = connection.execute(
                sa.select(sa.func.count(), sa.func.min(column), sa.func.max(column)).select_from(table)).one()
            spans.append(DataSpan(table.name, int(rows), _as_datetime(first), _as_datetime(last)))
    return spans


def _as_datetime(value) -> datetime | None:
    """Return a MIN/MAX of a time column as a datetime (SQLite hands aggregates back as text)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _examples(plan_examples: PlanExamples, now: datetime, platform, schema: MappedSchema):
    """Return a widget's examples built from the schema map (a source that takes no map gets the default one)."""
    if "schema" in inspect.signature(plan_examples).parameters:
        return plan_examples(now, platform, schema=schema)
    return plan_examples(now, platform)


def _physical(expected_by_table: dict[str, tuple[str, ...]], schema: MappedSchema) -> dict[str, tuple[str, ...]]:
    """Return the expectations keyed by the platform's table names (the examples name the logical tables)."""
    return {(schema.table(table).name if schema.table(table) is not None else table): expected
            for table, expected in expected_by_table.items()}


def summary(rows: list[PlanRow]) -> tuple[Verdict, str]:
    """Return the worst verdict of the rows and a line that says what the plans came to."""
    failing = _queries_judged(rows, Verdict.FAIL)
    warning = _queries_judged(rows, Verdict.WARN) - failing
    queries = len({row.query for row in rows})
    if failing:
        return Verdict.FAIL, (f"{len(failing)} of {queries} widget query plans fail, {len(warning)} warn."
                              f"{_migrate_hint(rows)}")
    return (Verdict.WARN if warning else Verdict.PASS,
            f"all {queries} widget query plans are bounded" + (f"; {len(warning)} with a warning" if warning else ""))


def _queries_judged(rows: list[PlanRow], verdict: Verdict) -> set[str]:
    """Return the queries that have a row of this verdict."""
    return {row.query for row in rows if row.verdict is verdict}


def _migrate_hint(rows: list[PlanRow]) -> str:
    """Return the advice to migrate where a row says an index is missing ("" where none does)."""
    if any(MIGRATE_HINT in row.note for row in rows):
        return " Run `python app.py migrate` to add the indexes, then verify again."
    return ""


def format_checks(rows: list[PlanRow]) -> str:
    """Return the rows as a plain-text table."""
    header = ("query", "table", "expected index", "index used", "access", "rows (est.)", "per week of data",
              "verdict", "why")
    cells = [(r.query, r.table, " or ".join(r.expected) or "-", r.used, r.kinds, r.rows, r.rows_per_week,
              r.verdict.name, r.note) for r in rows]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [header, tuple("-" * w for w in widths), *cells]]
    return "\n".join(lines)
