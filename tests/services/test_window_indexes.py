"""The covering time-window indexes (migration 0005): made on the columns the schema map names, recorded as
Switchboard's, rolled back alone, and used by the plans `verify` explains.

The platform here is shaped as real ones are: its own names for Switchboard's fields, a TEXT column where a
name would be, no direction, soft deletes on calls but not on appointments, and indexes of its own (one of them
leading with the calls' time) that no migration may touch.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from queries.plans import Verdict, check_plans, format_checks
from queries.schema_map import parse_schema_map
from schema.indexes import mapped_wanted
from schema.migrate import migrate, rollback
from tests.support.databases import SEED_NOW
from tests.support.indexes import index_snapshot
from widgets import registered

MAP = '''
[calls]
created_at = "inserted_at"
customer_name = "caller_name"
direction = ""
'''
WINDOW = ("idx_calls_window", "idx_appointments_window")


def platform_tables(engine) -> sa.MetaData:
    """A platform's calls and appointments with their own column names and indexes, and a few rows."""
    meta = sa.MetaData()
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    sa.Table("companies", meta, sa.Column("id", big, primary_key=True), sa.Column("name", sa.String(255)))
    sa.Table("customers", meta, sa.Column("id", big, primary_key=True), sa.Column("company_id", big),
             sa.Column("name", sa.String(255)), sa.Column("phone", sa.String(32)), sa.Column("email", sa.String(255)))
    calls = sa.Table(
        "calls", meta, sa.Column("id", big, primary_key=True), sa.Column("company_id", big),
        sa.Column("customer_id", big), sa.Column("caller_name", sa.Text),  # TEXT: no index can hold it whole
        sa.Column("from_number", sa.String(32)), sa.Column("to_number", sa.String(32)),
        sa.Column("status", sa.String(32)), sa.Column("call_status", sa.String(32)),
        sa.Column("duration_sec", sa.Integer), sa.Column("raw", sa.Text), sa.Column("inserted_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        sa.Index("calls_inserted_at_index", "inserted_at"), sa.Index("calls_company_id_index", "company_id"))
    appointments = sa.Table(
        "appointments", meta, sa.Column("id", big, primary_key=True), sa.Column("company_id", big),
        sa.Column("customer_id", big), sa.Column("service_id", big), sa.Column("starts_at", sa.DateTime),
        sa.Column("status", sa.String(32)), sa.Column("created_at", sa.DateTime),
        sa.Index("appointments_starts_at_status_index", "starts_at", "status"))
    meta.create_all(engine)
    start = datetime(2026, 1, 5, 9, 0)
    with engine.begin() as connection:
        connection.execute(meta.tables["companies"].insert(), [{"id": i, "name": f"Company {i}"} for i in (1, 2)])
        connection.execute(calls.insert(), [
            {"company_id": 1 + i % 2, "customer_id": None if i % 7 == 0 else 1 + i % 5, "caller_name": None,
             "status": "completed", "call_status": "ended", "duration_sec": 60 + i, "raw": "{}",
             "inserted_at": start + timedelta(minutes=37 * i), "deleted_at": start if i % 11 == 0 else None}
            for i in range(200)])
        connection.execute(appointments.insert(), [
            {"company_id": 1, "customer_id": 1, "service_id": None, "status": "scheduled",
             "starts_at": start + timedelta(hours=5 * i), "created_at": start} for i in range(40)])
    return meta


def window_indexes(engine) -> dict[str, tuple[str, ...]]:
    inspector = sa.inspect(engine)
    return {index["name"]: tuple(index["column_names"]) for table in ("calls", "appointments")
            for index in inspector.get_indexes(table) if index["name"] in WINDOW}


def test_the_window_indexes_honour_the_map_and_are_rolled_back_alone(empty_database):
    engine = empty_database.writer()
    platform_tables(engine)
    wanted = mapped_wanted(parse_schema_map(MAP))
    earlier = [index for index in wanted if index.name not in WINDOW]
    migrate(engine, earlier)  # the indexes of an earlier version, in batch 1
    before = index_snapshot(engine)

    report = migrate(engine, wanted)
    assert report.batch == 2 and sorted(index.name for index in report.created) == sorted(WINDOW)
    # The map's column names; no direction (the map says the platform has none), no caller_name (TEXT), and no
    # deleted_at on appointments (the platform's appointments do not soft-delete).
    assert window_indexes(engine) == {
        "idx_calls_window": ("inserted_at", "id", "company_id", "status", "call_status", "duration_sec",
                             "customer_id", "deleted_at", "from_number", "to_number"),
        "idx_appointments_window": ("starts_at", "id", "company_id", "status", "customer_id", "service_id",
                                    "created_at"),
    }
    with engine.connect() as connection:
        recorded = connection.exec_driver_sql(
            "SELECT batch, table_name, index_name, columns FROM switchboard_migrations WHERE kind = 'index' "
            "AND batch = 2 ORDER BY id").all()
    assert [(row[0], row[2]) for row in recorded] == [(2, name) for name in ("idx_calls_window",
                                                                            "idx_appointments_window")]
    assert recorded[0][3] == ("inserted_at,id,company_id,status,call_status,duration_sec,customer_id,deleted_at,"
                              "from_number,to_number")
    assert migrate(engine, wanted).created == []  # run twice, nothing the second time

    undone = rollback(engine)
    assert undone.batches == [2] and sorted(undone.dropped) == [
        "appointments.idx_appointments_window (starts_at, id, company_id, status, customer_id, service_id, "
        "created_at)",
        "calls.idx_calls_window (inserted_at, id, company_id, status, call_status, duration_sec, customer_id, "
        "deleted_at, from_number, to_number)"]
    # SHOW INDEX as it was before the batch: the platform's own, and the earlier batch's, untouched.
    assert index_snapshot(engine) == before
    names = {index["name"] for index in sa.inspect(engine).get_indexes("calls")}
    assert {"calls_inserted_at_index", "calls_company_id_index"} <= names
    engine.dispose()


def test_a_platform_index_of_the_window_name_is_never_dropped(empty_database):
    """An index named idx_calls_window that the platform made itself is the platform's: kept, not recorded."""
    engine = empty_database.writer()
    platform_tables(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE INDEX idx_calls_window ON calls (company_id, inserted_at)")
    wanted = mapped_wanted(parse_schema_map(MAP))
    before = index_snapshot(engine)
    report = migrate(engine, wanted)
    assert "idx_calls_window" not in {index.name for index in report.created}
    assert any(message.startswith("kept as it is: calls.idx_calls_window") and "taken by another index" in message
               for message in report.messages)
    assert rollback(engine, everything=True).unadopted
    assert index_snapshot(engine) == before
    engine.dispose()


# The widgets whose time windows the covering indexes serve, and the table each reads by them.
COVERED = [("headline stats", "calls"), ("company kpis", "calls"), ("activity feed, a window's counts", "calls"),
           ("activity feed, counted", "calls"), ("activity feed, searched and counted", "calls"),
           ("headline stats", "appointments"), ("activity feed, a window's counts", "appointments")]


def test_verify_shows_the_time_window_plans_read_the_covering_indexes(reader):
    rows = check_plans(reader, SEED_NOW, [widget.plan_examples for widget in registered() if widget.plan_examples])
    by_query = {(row.query, row.table): row for row in rows}
    for query, table in COVERED:
        row = by_query[(query, table)]
        assert row.verdict is Verdict.PASS, (query, row.note)
        assert f"idx_{table}_window" in row.used.split(", "), (query, row.used)
        assert any(access.index == f"idx_{table}_window" and access.index_only for access in row.accesses), query
    table = format_checks(rows)
    assert "per week of data" in table.splitlines()[0] and "index only" in table
    if reader.dialect.name != "sqlite":  # SQLite's plans carry no row estimates
        counts = by_query[("activity feed, a window's counts", "calls")]
        assert counts.weeks and float(counts.rows_per_week.replace(",", "")) > 0


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_migrate_sql_names_the_window_indexes_on_an_existing_platform(empty_database):
    import io

    from schema.migrate import migration_sql

    engine = empty_database.writer()
    platform_tables(engine)
    output = io.StringIO()
    migration_sql(engine, output, mapped_wanted(parse_schema_map(MAP)))
    sql = output.getvalue()
    assert ('CREATE INDEX idx_calls_window ON calls (inserted_at, id, company_id, status, call_status, duration_sec, '
            'customer_id, deleted_at, from_number, to_number)') in sql
    assert "caller_name" not in sql
    assert {index["name"] for index in sa.inspect(engine).get_indexes("calls")} == {
        "calls_inserted_at_index", "calls_company_id_index"}  # printing SQL changed nothing
    engine.dispose()
