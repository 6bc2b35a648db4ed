"""The reader engine: a statement time limit the database enforces, and read-only sessions."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from database.engines import create_reader_engine, resolve_database_url, server_flavour
from queries.runner import QueryTooLarge, run
from schema.tables import calls
from tests.support.databases import create_test_database, drop_test_database, require_mysqlclient


def slow_statement(backend: str) -> sa.TextClause:
    if backend == "mariadb":
        # A cross join big enough to outlast the limit, not a SLEEP the server may treat specially.
        return sa.text("SELECT COUNT(*) FROM calls a, calls b, calls c WHERE a.duration_sec + b.duration_sec > c.id")
    return sa.text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT MAX(i) FROM n")


def test_a_statement_past_the_limit_is_cancelled_by_the_database(seeded_database):
    engine = create_reader_engine(seeded_database.url, statement_timeout_ms=300)
    with pytest.raises(sa.exc.OperationalError) as raised:
        with engine.connect() as connection:
            connection.execute(slow_statement(seeded_database.backend)).all()
    message = str(raised.value.orig).lower()
    assert "interrupted" in message or "max_statement_time" in message
    with engine.connect() as connection:  # the pool still works afterwards
        assert connection.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one() > 0
    engine.dispose()


def test_the_reader_cannot_write(seeded_database):
    engine = seeded_database.reader()
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as connection:
            connection.execute(calls.update().values(status="completed"))
    engine.dispose()


def test_the_server_flavour_is_detected(seeded_database):
    engine = seeded_database.reader()
    assert server_flavour(engine) == {"sqlite": "sqlite", "mariadb": "mariadb"}[seeded_database.backend]
    engine.dispose()


def test_the_runner_refuses_more_rows_than_the_cap(reader):
    with pytest.raises(QueryTooLarge):
        run(reader, sa.select(calls.c.id).limit(11), max_rows=10)
    assert len(run(reader, sa.select(calls.c.id).limit(10), max_rows=10)) == 10


def test_the_default_database_is_the_demo_file_in_the_instance_folder(tmp_path):
    url = resolve_database_url({"DATABASE_URL": None}, tmp_path / "instance")
    assert url == f"sqlite:///{tmp_path / 'instance' / 'switchboard-demo.sqlite3'}"
    assert (tmp_path / "instance").is_dir()
    assert resolve_database_url({"DATABASE_URL": "mysql+pymysql://u@h/db"}, tmp_path) == "mysql+pymysql://u@h/db"


@pytest.mark.mariadb
def test_mysqlclient_urls_work_too(tmp_path):
    require_mysqlclient()
    database = create_test_database("mariadb", tmp_path)
    try:
        url = database.url.replace("mysql+pymysql://", "mysql+mysqldb://")
        engine = create_reader_engine(url, statement_timeout_ms=300)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT @@max_statement_time").scalar_one() == pytest.approx(0.3)
            assert connection.exec_driver_sql("SELECT @@session.tx_read_only").scalar_one() == 1
        engine.dispose()
    finally:
        drop_test_database(database)
