"""Migrations: fresh installs, existing platform databases, rollback, offline SQL."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from schema.migrate import MigrationError, VERSION_TABLE, migrate, migration_sql, rollback
from schema.tables import PLATFORM_TABLES

SWITCHBOARD_INDEXES = {
    ("calls", "idx_ongoing_calls"): ["status", "call_status", "created_at"],
    ("calls", "idx_calls_created_date"): ["created_at"],
    ("calls", "idx_customer_calls"): ["customer_id", "created_at"],
    ("calls", "idx_called_at"): ["called_at"],
    ("appointments", "idx_appointments_starts_date"): ["starts_at"],
    ("appointments", "idx_appointments_status_date"): ["status", "starts_at"],
    ("appointments", "idx_customer_appointments"): ["customer_id", "starts_at"],  # 0003
}


def switchboard_indexes(engine) -> dict[tuple[str, str], list[str]]:
    inspector = sa.inspect(engine)
    found = {}
    for table in ("calls", "appointments"):
        for index in inspector.get_indexes(table):
            if (table, index["name"]) in SWITCHBOARD_INDEXES:
                found[(table, index["name"])] = index["column_names"]
    return found


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


def test_fresh_database_gets_the_platform_tables_and_the_seven_indexes(empty_database):
    engine = empty_database.writer()
    report = migrate(engine)
    assert report.applied == ["0001", "0002", "0003"] and not report.adopted
    assert {t.name for t in PLATFORM_TABLES} <= set(sa.inspect(engine).get_table_names())
    assert switchboard_indexes(engine) == SWITCHBOARD_INDEXES
    assert migrate(engine).applied == []  # idempotent
    engine.dispose()


def test_rollback_leaves_no_switchboard_index_and_migrate_restores_them(empty_database):
    engine = empty_database.writer()
    migrate(engine)
    assert rollback(engine) == "0003"
    assert set(switchboard_indexes(engine)) == set(SWITCHBOARD_INDEXES) - {("appointments", "idx_customer_appointments")}
    assert migrate(engine).applied == ["0003"]  # a database at 0002 gets only the newer index
    assert [rollback(engine), rollback(engine)] == ["0003", "0002"]
    assert switchboard_indexes(engine) == {}
    assert {t.name for t in PLATFORM_TABLES} <= set(sa.inspect(engine).get_table_names())
    assert rollback(engine) is None  # the platform's tables are never rolled back
    assert {t.name for t in PLATFORM_TABLES} <= set(sa.inspect(engine).get_table_names())
    migrate(engine)
    assert switchboard_indexes(engine) == SWITCHBOARD_INDEXES
    engine.dispose()


@pytest.mark.parametrize("with_called_at, with_foreign_keys", [(True, False), (False, False), (True, True)],
                         ids=["with-called_at", "without-called_at", "with-foreign-keys"])
def test_existing_platform_database_gets_only_indexes_and_rollback_removes_only_them(empty_database,
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
    before = fingerprint(engine, meta)

    report = migrate(engine)
    assert report.adopted and report.applied == ["0002", "0003"]
    assert set(sa.inspect(engine).get_table_names()) == tables_before | {VERSION_TABLE}
    assert fingerprint(engine, meta) == before
    # 0003 adds none where the key's own index leads with customer_id already (InnoDB's, not SQLite's).
    keyed = with_foreign_keys and engine.dialect.name in {"mysql", "mariadb"}
    expected = {key: columns for key, columns in SWITCHBOARD_INDEXES.items()
                if (with_called_at or key[1] != "idx_called_at")
                and not (keyed and key[1] == "idx_customer_appointments")}
    assert switchboard_indexes(engine) == expected

    assert [rollback(engine), rollback(engine)] == ["0003", "0002"]
    assert switchboard_indexes(engine) == {}
    assert fingerprint(engine, meta) == before
    assert rollback(engine) is None
    assert set(sa.inspect(engine).get_table_names()) == tables_before | {VERSION_TABLE}
    engine.dispose()


def test_a_partial_platform_schema_is_refused_and_left_alone(empty_database):
    engine = empty_database.writer()
    meta = laravel_platform()
    meta.tables["calls"].create(engine)
    with pytest.raises(MigrationError, match="has the platform tables calls but not companies"):
        migrate(engine)
    assert set(sa.inspect(engine).get_table_names()) == {"calls"}
    engine.dispose()


def test_offline_sql_for_an_existing_database_adds_only_indexes(empty_database):
    engine = empty_database.writer()
    laravel_platform(with_called_at=False).create_all(engine)
    output = io.StringIO()
    migration_sql(engine, output)
    sql = output.getvalue()
    assert "CREATE TABLE calls" not in sql and "CREATE TABLE customers" not in sql
    assert "idx_called_at" not in sql  # calls.called_at does not exist here
    if empty_database.backend == "mariadb":
        assert "ALTER TABLE calls ADD INDEX idx_ongoing_calls (status, call_status, created_at), " \
               "ALGORITHM=INPLACE, LOCK=NONE;" in sql
        assert "INSERT INTO switchboard_alembic_version (version_num) VALUES ('0001')" in sql
    else:
        assert "CREATE INDEX idx_ongoing_calls ON calls (status, call_status, created_at)" in sql
    assert switchboard_indexes(engine) == {}  # printing SQL changed nothing
    assert VERSION_TABLE not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_offline_sql_for_an_empty_database_creates_everything(empty_database):
    engine = empty_database.writer()
    output = io.StringIO()
    migration_sql(engine, output)
    sql = output.getvalue()
    assert "CREATE TABLE calls" in sql and "idx_called_at" in sql
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
def test_rollback_keeps_a_foreign_key_served_where_an_earlier_migrate_let_innodb_drop_its_index(empty_database):
    """A database migrated before the key's index was put back: InnoDB dropped `calls_customer_id_foreign` when
    idx_customer_calls came, and now refuses to drop ours (error 1553). Rollback adds the key's index back in the
    same statement, so it succeeds and the platform is as it was before Switchboard."""
    engine = empty_database.writer()
    meta = laravel_platform(with_foreign_keys=True)
    meta.create_all(engine)
    fill(engine, meta)
    before = fingerprint(engine, meta)
    with engine.begin() as connection:  # what the earlier migration did: ours only
        connection.execute(sa.text("ALTER TABLE calls ADD INDEX idx_customer_calls (customer_id, created_at)"))
    assert "calls_customer_id_foreign" not in {index["name"] for index in sa.inspect(engine).get_indexes("calls")}
    migrate(engine)
    assert [rollback(engine), rollback(engine)] == ["0003", "0002"]
    assert switchboard_indexes(engine) == {}
    assert fingerprint(engine, meta) == before
    engine.dispose()
