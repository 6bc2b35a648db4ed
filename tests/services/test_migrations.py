"""Migrations: fresh installs, existing platform databases, batches and rollback, offline SQL.

Switchboard owns only what it creates: an index the platform has (by Switchboard's name or its own, once or
twice) is never added again, never recorded, and never dropped.
"""
from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from schema.indexes import LEDGER_TABLE, default_wanted
from schema.migrate import VERSION_TABLE, migrate, migration_sql, rollback
from schema.tables import PLATFORM_TABLES
from tests.support.indexes import SWITCHBOARD_INDEXES, index_snapshot, switchboard_indexes

SWITCHBOARD_TABLES = {VERSION_TABLE, LEDGER_TABLE}


def laravel_platform(with_called_at: bool = True, with_foreign_keys: bool = False) -> sa.MetaData:
    """The platform's own schema as Laravel made it: extra columns and tables Switchboard does not know; with
    foreign keys as `foreignId('customer_id')->constrained()` makes them (InnoDB then indexes each key itself,
    under the constraint's name)."""
    meta = sa.MetaData()
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    def customer_id(table: str) -> sa.Column:
        if not with_foreign_keys:
            return sa.Column("customer_id", big)
        return sa.Column("customer_id", big, sa.ForeignKey("customers.id", name=f"{table}_customer_id_foreign"))

    def table(name, *columns):
        return sa.Table(name, meta, sa.Column("id", big, primary_key=True), *columns,
                        sa.Column("created_at", sa.DateTime), sa.Column("updated_at", sa.DateTime))

    table("companies", sa.Column("name", sa.String(255)), sa.Column("slug", sa.String(64)),
          sa.Column("settings", sa.Text))
    table("customers", sa.Column("company_id", big, index=True), sa.Column("name", sa.String(255)),
          sa.Column("phone", sa.String(32)), sa.Column("email", sa.String(255)), sa.Column("birthday", sa.Date),
          sa.Column("deleted_at", sa.DateTime))
    table("agents", sa.Column("company_id", big), sa.Column("name", sa.String(255)),
          sa.Column("voice_id", sa.String(64)))
    table("services", sa.Column("company_id", big), sa.Column("name", sa.String(255)),
          sa.Column("price_cents", sa.Integer))
    call_columns = [
        sa.Column("company_id", big, index=True), customer_id("calls"), sa.Column("agent_id", big),
        sa.Column("customer_name", sa.String(255)), sa.Column("from_number", sa.String(32)),
        sa.Column("to_number", sa.String(32)), sa.Column("direction", sa.String(16)),
        sa.Column("status", sa.String(32)), sa.Column("call_status", sa.String(32)),
        sa.Column("start_timestamp", sa.DateTime), sa.Column("duration_sec", sa.Integer),
        sa.Column("retell_call_id", sa.String(64), unique=True), sa.Column("cost_cents", sa.Integer),
        sa.Column("raw", sa.Text), sa.Column("deleted_at", sa.DateTime)]
    if with_called_at:
        call_columns.append(sa.Column("called_at", sa.DateTime))
    table("calls", *call_columns)
    table("appointments", sa.Column("company_id", big), customer_id("appointments"),
          sa.Column("service_id", big), sa.Column("starts_at", sa.DateTime), sa.Column("status", sa.String(32)),
          sa.Column("reminder_sent_at", sa.DateTime))
    table("users", sa.Column("email", sa.String(255)), sa.Column("password", sa.String(255)))
    sa.Table("migrations", meta, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("migration", sa.String(255)), sa.Column("batch", sa.Integer))
    return meta


def fill(engine, meta: sa.MetaData) -> None:
    start = datetime(2026, 1, 5, 9, 0)
    with engine.begin() as connection:
        for name in ("companies", "customers", "agents", "services", "users"):
            table = meta.tables[name]
            rows = [{c.name: (i + 1 if c.name == "id" else 1 if c.name.endswith("_id") else f"{name} {i}")
                     for c in table.columns if c.name not in {"created_at", "updated_at", "birthday",
                                                              "deleted_at", "price_cents"}}
                    for i in range(20)]
            connection.execute(table.insert(), rows)
        calls = meta.tables["calls"]
        connection.execute(calls.insert(), [
            {"company_id": 1 + i % 3, "customer_id": 1 + i % 20, "agent_id": 1, "status": "completed",
             "call_status": "ended", "direction": "inbound", "created_at": start + timedelta(minutes=i),
             "retell_call_id": f"call_{i}", "raw": '{"transcript": "' + "x" * 2000 + '"}', "cost_cents": i,
             **({"called_at": start + timedelta(minutes=i)} if "called_at" in calls.c else {})}
            for i in range(300)])
        connection.execute(meta.tables["appointments"].insert(), [
            {"company_id": 1, "customer_id": 1 + i % 20, "service_id": 1, "status": "scheduled",
             "starts_at": start + timedelta(hours=i)} for i in range(100)])
        connection.execute(meta.tables["migrations"].insert(), [{"migration": "2014_create_users", "batch": 1}])


def fingerprint(engine, meta: sa.MetaData) -> dict:
    """Row counts, a checksum of every row, the columns and the non-Switchboard indexes of each table."""
    inspector = sa.inspect(engine)
    result = {}
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            rows = connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            result[table.name] = {
                "rows": len(rows),
                "checksum": hashlib.sha256(repr(rows).encode()).hexdigest(),
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table.name)],
                "indexes": sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table.name)
                                  if (table.name, i["name"]) not in SWITCHBOARD_INDEXES),
            }
    return result


def ledger(engine) -> list[tuple]:
    """Return the ledger's rows: (batch, kind, table, index, columns)."""
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(
            f"SELECT batch, kind, table_name, index_name, columns FROM {LEDGER_TABLE} ORDER BY id").all()]


def printed_sql(engine) -> str:
    output = io.StringIO()
    migration_sql(engine, output)
    return output.getvalue()


def index_statements(sql: str) -> list[str]:
    """Return the statements of `migrate --sql` that add or drop an index, without their semicolons."""
    return [line.rstrip(";") for line in sql.splitlines() if re.match(r"(ALTER TABLE|CREATE INDEX|DROP INDEX)", line)]


def executed_index_statements(engine) -> list[str]:
    """Record the index statements the engine runs from now on."""
    seen: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        if re.match(r"(ALTER TABLE|CREATE INDEX|DROP INDEX)", statement):
            seen.append(statement)
    return seen


def test_fresh_database_gets_the_platform_tables_and_every_index_in_one_batch(empty_database):
    engine = empty_database.writer()
    report = migrate(engine)
    assert report.applied == ["0001", "0002", "0003", "0004", "0005"] and not report.adopted and report.batch == 1
    assert {t.name for t in PLATFORM_TABLES} <= set(sa.inspect(engine).get_table_names())
    assert switchboard_indexes(engine) == SWITCHBOARD_INDEXES
    assert [(batch, kind, table, name) for batch, kind, table, name, _ in ledger(engine)] == [
        (1, "index", table, name) for table, name in SWITCHBOARD_INDEXES]
    again = migrate(engine)  # idempotent: no statement, no batch
    assert again.applied == [] and again.created == [] and again.batch is None
    assert "nothing to apply" in " ".join(again.messages)
    assert len(ledger(engine)) == len(SWITCHBOARD_INDEXES)
    engine.dispose()


def test_rollback_undoes_the_last_batch_and_keeps_the_platform_tables(empty_database):
    engine = empty_database.writer()
    migrate(engine)
    undone = rollback(engine)
    assert undone.batches == [1] and len(undone.dropped) == len(SWITCHBOARD_INDEXES) and not undone.unadopted
    assert switchboard_indexes(engine) == {} and ledger(engine) == []
    assert rollback(engine) is None
    assert {t.name for t in PLATFORM_TABLES} <= set(sa.inspect(engine).get_table_names())
    assert migrate(engine).batch == 1
    assert switchboard_indexes(engine) == SWITCHBOARD_INDEXES
    engine.dispose()


def test_a_later_batch_is_undone_alone_and_rollback_all_undoes_every_one(empty_database):
    """A later version of Switchboard that needs one more index adds it in a batch of its own."""
    engine = empty_database.writer()
    wanted = default_wanted()
    migrate(engine, wanted[:-1])
    assert migrate(engine, wanted).batch == 2
    assert [row[0] for row in ledger(engine)] == [1] * (len(wanted) - 1) + [2]
    undone = rollback(engine)
    assert undone.batches == [2] and undone.dropped == ["appointments.idx_appointments_window (starts_at, id, company_id, "
                                                        "status, customer_id, service_id, created_at, deleted_at)"]
    assert set(switchboard_indexes(engine)) == set(SWITCHBOARD_INDEXES) - {("appointments",
                                                                             "idx_appointments_window")}
    assert migrate(engine, wanted).batch == 2
    everything = rollback(engine, everything=True)
    assert everything.batches == [2, 1] and switchboard_indexes(engine) == {} and ledger(engine) == []
    assert rollback(engine, everything=True) is None
    engine.dispose()


@pytest.mark.parametrize("with_called_at, with_foreign_keys", [(True, False), (False, False), (True, True)],
                         ids=["with-called_at", "without-called_at", "with-foreign-keys"])
def test_existing_platform_database_gets_only_indexes_and_rollback_leaves_it_as_it_was(empty_database,
                                                                                      with_called_at,
                                                                                      with_foreign_keys):
    """With foreign keys, adding idx_customer_calls makes InnoDB drop the key's own index silently; the migration
    puts it back, so the platform's indexes are the same after migrate and after rollback (which InnoDB would
    otherwise refuse: error 1553)."""
    engine = empty_database.writer()
    meta = laravel_platform(with_called_at, with_foreign_keys)
    meta.create_all(engine)
    fill(engine, meta)
    tables_before = set(sa.inspect(engine).get_table_names())
    before, indexes_before = fingerprint(engine, meta), index_snapshot(engine)

    report = migrate(engine)
    assert report.adopted and report.applied == ["0002", "0003", "0004", "0005"] and report.batch == 1
    assert set(sa.inspect(engine).get_table_names()) == tables_before | SWITCHBOARD_TABLES
    assert fingerprint(engine, meta) == before
    # None is added on appointments.customer_id where the key's own index leads with it (InnoDB's, not SQLite's).
    keyed = with_foreign_keys and engine.dialect.name in {"mysql", "mariadb"}
    expected = {key: [column for column in columns if column in meta.tables[key[0]].c]
                for key, columns in SWITCHBOARD_INDEXES.items()
                if (with_called_at or key[1] != "idx_called_at")
                and not (keyed and key[1] == "idx_customer_appointments")}
    # The platform's appointments keep no deleted_at: the covering index holds the columns there are.
    assert "deleted_at" not in expected[("appointments", "idx_appointments_window")]
    assert switchboard_indexes(engine) == expected
    assert [(table, name) for _, kind, table, name, _ in ledger(engine) if kind == "index"] == list(expected)

    undone = rollback(engine)
    assert undone.batches == [1] and undone.unadopted
    assert index_snapshot(engine) == indexes_before
    assert fingerprint(engine, meta) == before
    assert set(sa.inspect(engine).get_table_names()) == tables_before
    assert rollback(engine) is None
    engine.dispose()


def test_a_platform_without_some_tables_is_migrated_where_it_can_be(empty_database):
    """No `agents`, no `appointments`: nothing is refused, and nothing is created for them."""
    engine = empty_database.writer()
    meta = laravel_platform()
    for name in ("companies", "customers", "calls"):
        meta.tables[name].create(engine)
    report = migrate(engine)
    assert report.adopted and {index.table for index in report.created} == {"calls"}
    assert "kept as it is: appointments.idx_appointments_starts_date (starts_at): no table appointments" \
        in report.messages
    assert set(sa.inspect(engine).get_table_names()) == {"companies", "customers", "calls"} | SWITCHBOARD_TABLES
    assert rollback(engine).unadopted
    assert set(sa.inspect(engine).get_table_names()) == {"companies", "customers", "calls"}
    engine.dispose()


def platform_with_its_own_indexes(engine) -> sa.MetaData:
    """A platform that made some of Switchboard's indexes itself: one under Switchboard's name and columns,
    one under Switchboard's name on other columns, one under its own name, and one twice."""
    meta = laravel_platform()
    meta.create_all(engine)
    fill(engine, meta)
    with engine.begin() as connection:
        for statement in (
                "CREATE INDEX idx_ongoing_calls ON calls (status, call_status, created_at)",  # same name, same columns
                "CREATE INDEX idx_customer_calls ON calls (company_id, customer_id)",  # same name, other columns
                "CREATE INDEX calls_created_at_index ON calls (created_at)",  # its own name
                "CREATE INDEX calls_created_at_id_index ON calls (created_at, id)",  # ... and twice
                "CREATE INDEX appointments_status_starts_at_index ON appointments (status, starts_at, company_id)",
        ):
            connection.exec_driver_sql(statement)
    return meta


def test_the_platforms_own_indexes_are_never_added_again_recorded_or_dropped(empty_database):
    engine = empty_database.writer()
    meta = platform_with_its_own_indexes(engine)
    before, indexes_before = fingerprint(engine, meta), index_snapshot(engine)

    sql = printed_sql(engine)
    report = migrate(engine)
    created = {(index.table, index.name) for index in report.created}
    assert created == {("calls", "idx_called_at"), ("appointments", "idx_appointments_starts_date"),
                       ("appointments", "idx_customer_appointments"), ("calls", "idx_calls_window"),
                       ("appointments", "idx_appointments_window")}
    assert ("kept as it is: calls.idx_customer_calls (customer_id, created_at): the name idx_customer_calls is "
            "taken by another index; the platform's is left as it is") in report.messages
    served = next(message for message in report.messages
                  if message.startswith("kept as it is: calls.idx_calls_created_date (created_at): served by "))
    assert "calls_created_at_index (created_at)" in served and "calls_created_at_id_index (created_at, id)" in served
    assert {(table, name) for _, kind, table, name, _ in ledger(engine) if kind == "index"} == created
    for name in ("idx_ongoing_calls", "idx_customer_calls", "calls_created_at", "idx_appointments_status_date"):
        assert not any(name in statement for statement in index_statements(sql))
    assert migrate(engine).created == []

    assert rollback(engine).unadopted
    assert index_snapshot(engine) == indexes_before  # SHOW INDEX as it was, the platform's same-named ones too
    assert fingerprint(engine, meta) == before
    engine.dispose()


def test_migrate_sql_prints_exactly_what_migrate_runs(empty_database):
    engine = empty_database.writer()
    platform_with_its_own_indexes(engine)
    printed = index_statements(printed_sql(engine))
    executed = executed_index_statements(engine)
    migrate(engine)
    assert printed and executed == printed
    assert index_statements(printed_sql(engine)) == []  # nothing for indexes the database has
    assert "nothing to apply" in printed_sql(engine)
    engine.dispose()


def test_offline_sql_for_an_existing_database_adds_only_indexes(empty_database):
    engine = empty_database.writer()
    laravel_platform(with_called_at=False).create_all(engine)
    sql = printed_sql(engine)
    assert "CREATE TABLE calls" not in sql and "CREATE TABLE customers" not in sql
    assert "CREATE TABLE switchboard_migrations" in sql
    assert "idx_called_at" not in index_statements(sql)  # calls.called_at does not exist here
    if empty_database.backend == "mariadb":
        assert "ALTER TABLE calls ADD INDEX idx_ongoing_calls (status, call_status, created_at), " \
               "ALGORITHM=INPLACE, LOCK=NONE;" in sql
        assert "INSERT INTO switchboard_alembic_version (version_num) VALUES ('0001')" in sql
    else:
        assert "CREATE INDEX idx_ongoing_calls ON calls (status, call_status, created_at)" in sql
    assert "INSERT INTO switchboard_migrations (batch, kind, table_name, index_name, columns) VALUES " \
           "(1, 'index', 'calls', 'idx_ongoing_calls', 'status,call_status,created_at')" in sql
    assert switchboard_indexes(engine) == {}  # printing SQL changed nothing
    assert not SWITCHBOARD_TABLES & set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_offline_sql_for_an_empty_database_creates_everything(empty_database):
    engine = empty_database.writer()
    sql = printed_sql(engine)
    assert "CREATE TABLE calls" in sql and "CREATE TABLE switchboard_migrations" in sql
    assert len(index_statements(sql)) == len(SWITCHBOARD_INDEXES)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_the_tables_and_the_migrations_agree(empty_database):
    """Alembic's own drift check: what the migrations build is what schema/tables.py declares, indexes included."""
    from alembic import command

    from schema.migrate import alembic_config

    engine = empty_database.writer()
    migrate(engine)
    url = engine.url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        command.check(alembic_config(url, connection))  # raises AutogenerateDiffsDetected on any difference
    engine.dispose()


@pytest.mark.parametrize("empty_database", ["mariadb"], indirect=True)  # InnoDB's implicit foreign key indexes
def test_an_unrecorded_index_of_switchboards_name_is_never_dropped(empty_database):
    """An index by Switchboard's name that nothing recorded (made by hand, or by the platform) is the platform's:
    InnoDB dropped `calls_customer_id_foreign` when it came, and rollback leaves both as they are."""
    engine = empty_database.writer()
    meta = laravel_platform(with_foreign_keys=True)
    meta.create_all(engine)
    fill(engine, meta)
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE calls ADD INDEX idx_customer_calls (customer_id, created_at)"))
    indexes_before = index_snapshot(engine)
    report = migrate(engine)
    assert ("calls", "idx_customer_calls") not in {(index.table, index.name) for index in report.created}
    assert rollback(engine).unadopted
    assert index_snapshot(engine) == indexes_before
    engine.dispose()
