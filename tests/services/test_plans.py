"""How `verify` judges query plans: from the server's own EXPLAIN on SQLite and MariaDB, and from
plan rows MariaDB gave on real platform databases."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from queries.ongoing_calls import ongoing_calls_statement
from widgets import registered
from queries.plans import (
    SMALL_TABLE_ROWS, Access, Verdict, check_plans, check_query, existing_indexes, judge_access,
    judge_plan, mysql_accesses,
)
from schema.tables import calls, companies, customers
from tests.support.databases import SEED_NOW

# EXPLAIN of the ongoing-calls statement on a platform database whose last two hours held only
# its 125 ongoing calls: MariaDB chooses the created_at index, a range as narrow as the other.
ONGOING_BY_CREATED_DATE = [
    {"id": 1, "select_type": "PRIMARY", "table": "calls", "type": "range",
     "possible_keys": "idx_ongoing_calls,idx_calls_created_date", "key": "idx_calls_created_date",
     "key_len": "6", "ref": None, "rows": "125", "Extra": "Using index condition; Using where; Using filesort"},
    {"id": 1, "select_type": "PRIMARY", "table": "customers", "type": "eq_ref", "possible_keys": "PRIMARY",
     "key": "PRIMARY", "key_len": "8", "ref": "platform.calls.customer_id", "rows": "1", "Extra": "Using where"},
    {"id": 2, "select_type": "SUBQUERY", "table": "calls", "type": "range",
     "possible_keys": "idx_ongoing_calls,idx_calls_created_date", "key": "idx_calls_created_date",
     "key_len": "6", "ref": None, "rows": "125", "Extra": "Using index condition; Using where"},
]
# The activity feed's UNION on MariaDB: the derived tables say ALL, their branches read by index.
FEED_UNION = [
    {"id": 1, "select_type": "PRIMARY", "table": "<derived2>", "type": "ALL", "key": None, "rows": "102",
     "Extra": "Using filesort"},
    {"id": 2, "select_type": "DERIVED", "table": "<derived3>", "type": "ALL", "key": None, "rows": "51", "Extra": ""},
    {"id": 3, "select_type": "DERIVED", "table": "calls", "type": "range", "key": "idx_calls_created_date",
     "rows": "357", "Extra": "Using where"},
    {"id": 4, "select_type": "UNION", "table": "<union2,4>", "type": "ALL", "key": None, "rows": None, "Extra": ""},
]
ALL_INDEXES = {"calls": {"idx_ongoing_calls", "idx_calls_created_date", "idx_customer_calls"},
               "appointments": {"idx_appointments_starts_date", "idx_appointments_status_date"}}


@pytest.fixture
def judged(reader):
    """Explain a statement on the seeded database and return verify's rows for it."""
    with reader.connect() as connection:
        tables, indexes = existing_indexes(connection)

    def judge(statement, expected_by_table):
        return check_query(reader, "example", statement, expected_by_table, tables, indexes)
    return judge


def test_every_widget_plan_passes_on_the_seeded_database(reader):
    rows = check_plans(reader, SEED_NOW, [widget.plan_examples for widget in registered() if widget.plan_examples])
    assert [(r.query, r.table, r.note) for r in rows if r.verdict is not Verdict.PASS] == []
    # Lookups by primary key (customers, companies…) and derived tables are no rows of their own.
    assert {r.table for r in rows} == {"calls", "appointments"}


def test_a_full_scan_of_calls_fails(judged):
    # agent_id is in no index: the server reads the table itself.
    [row] = judged(sa.select(calls.c.id).where(calls.c.agent_id > 1), {"calls": ("idx_calls_created_date",)})
    assert row.verdict is Verdict.FAIL and re.fullmatch(r"full scan of calls \([\d,]+ rows\)", row.note)
    # MariaDB's estimate of a full scan is InnoDB's approximate row count; SQLite's is counted.
    assert row.used == "(none)" and 2_000 < row.accesses[0].rows <= 4_000


def test_a_sort_of_a_full_scan_fails_and_says_it_sorts(judged):
    statement = sa.select(calls.c.id).order_by(calls.c.agent_id).limit(10)
    [row] = judged(statement, {"calls": ("idx_calls_created_date",)})
    assert row.verdict is Verdict.FAIL and re.fullmatch(r"full scan of calls \([\d,]+ rows\), sorted", row.note)
    assert row.kinds in ("ALL+filesort", "SCAN+filesort")


def test_a_sort_of_a_bounded_range_passes(judged):
    [row] = judged(ongoing_calls_statement(SEED_NOW), {"calls": ("idx_ongoing_calls",)})
    assert row.verdict is Verdict.PASS and row.note == ""
    assert row.accesses[0].sorted and row.accesses[0].bounded and row.used == "idx_ongoing_calls"


def test_a_full_scan_of_a_small_lookup_table_warns(judged):
    [row] = judged(sa.select(companies.c.name).order_by(companies.c.name), {})
    assert (row.table, row.verdict) == ("companies", Verdict.WARN)
    assert row.note.startswith("full scan of companies (3 rows), sorted: a small table")


def test_a_statement_the_server_cannot_plan_is_a_failing_row(judged):
    [row] = judged(sa.text("SELECT no_such_column FROM calls"), {"calls": ("idx_calls_created_date",)})
    assert row.verdict is Verdict.FAIL and row.note.startswith("could not be planned: ")
    assert "no_such_column" in row.note and "\n" not in row.note


@pytest.mark.mariadb
def test_an_illegal_mix_of_collations_is_a_failing_row(seeded_mariadb):
    engine = seeded_mariadb.reader()
    statement = sa.text("SELECT name FROM customers WHERE name COLLATE utf8mb4_unicode_ci = "
                        "CONVERT('Ann' USING utf8mb4) COLLATE utf8mb4_general_ci")
    try:
        [row] = check_query(engine, "example", statement, {"customers": ()}, set(), {})
    finally:
        engine.dispose()
    assert row.verdict is Verdict.FAIL and row.note.startswith("could not be planned: (1267) Illegal mix of collations")


def test_the_issue_11_plan_by_another_bounded_index_warns():
    rows = judge_plan("ongoing calls", mysql_accesses(ONGOING_BY_CREATED_DATE), {"calls": ("idx_ongoing_calls",)},
                      ALL_INDEXES)
    assert [(r.table, r.verdict, r.used, r.rows) for r in rows] == [
        ("calls", Verdict.WARN, "idx_calls_created_date", "250")]
    assert "reads calls by idx_calls_created_date (125 rows), not idx_ongoing_calls" in rows[0].note


def test_the_derived_tables_of_a_union_are_not_judged_as_tables():
    rows = judge_plan("activity feed", mysql_accesses(FEED_UNION), {"calls": ("idx_calls_created_date",)},
                      ALL_INDEXES)
    assert [(r.table, r.verdict) for r in rows] == [("calls", Verdict.PASS)]


def test_a_missing_expected_index_fails_even_when_the_plan_is_good():
    rows = judge_plan("ongoing calls", mysql_accesses(ONGOING_BY_CREATED_DATE), {"calls": ("idx_ongoing_calls",)},
                      {"calls": {"idx_calls_created_date"}})
    assert rows[0].verdict is Verdict.FAIL
    assert rows[0].note == "index idx_ongoing_calls does not exist: run `python app.py migrate`"


@pytest.mark.parametrize("table, rows, verdict", [
    ("companies", SMALL_TABLE_ROWS - 1, Verdict.WARN),
    ("customers", SMALL_TABLE_ROWS, Verdict.FAIL),
    ("calls", 3, Verdict.FAIL),           # calls and appointments grow: small today says nothing
    ("appointments", 0, Verdict.FAIL),
    ("agents", None, Verdict.FAIL),       # no estimate: not known to be small
])
def test_a_full_scan_fails_unless_the_table_is_small_and_not_one_that_grows(table, rows, verdict):
    access = Access(table=table, index=None, kind="ALL", bounded=False, rows=rows)
    assert judge_access(access)[0] is verdict


def test_a_bounded_read_that_sorts_very_many_rows_warns():
    access = Access(table="calls", index="idx_calls_created_date", kind="range", bounded=True,
                    rows=2_000_000, sorted=True)
    verdict, note = judge_access(access, ("idx_calls_created_date",))
    assert verdict is Verdict.WARN and note == "sorts about 2,000,000 rows read by idx_calls_created_date"


def test_an_automatic_index_of_sqlite_is_a_full_scan(seeded_sqlite):
    engine = seeded_sqlite.reader()
    # No index on customers.phone: SQLite builds one for this statement, by reading every customer.
    statement = (sa.select(calls.c.id).select_from(calls.join(customers, customers.c.phone == calls.c.from_number))
                 .where(calls.c.created_at >= SEED_NOW - timedelta(hours=2)))
    with engine.connect() as connection:
        tables, indexes = existing_indexes(connection)
    try:
        rows = check_query(engine, "example", statement, {"calls": ("idx_calls_created_date", "idx_calls_window")}, tables, indexes)
    finally:
        engine.dispose()
    assert [(r.table, r.verdict, r.kinds) for r in rows] == [
        ("calls", Verdict.PASS, "SEARCH+index only"), ("customers", Verdict.WARN, "AUTOMATIC INDEX")]
    assert rows[1].note.startswith("full scan of customers (360 rows): a small table")


def test_a_rowid_filter_of_mariadb_is_a_bounded_read_by_its_first_index():
    """MariaDB 10.4+ adds a rowid filter to an access: type 'ref|filter', key 'a|b', rows '5 (0%)'."""
    from queries.plans import mysql_accesses

    (access,) = mysql_accesses([{"table": "appointments", "type": "ref|filter", "rows": "5 (0%)",
                                 "key": "appointments_customer_id_foreign|idx_appointments_starts_date",
                                 "Extra": "Using where; Using rowid filter"}])
    assert (access.bounded, access.index, access.rows) == (True, "appointments_customer_id_foreign", 5)
    assert judge_access(access) == (Verdict.PASS, "")
