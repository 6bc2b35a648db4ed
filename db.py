"""Engines: one read-only engine for widget queries, one writer for migrations and the demo.

Nothing here runs at import time; `create_app` and the CLI call these factories.

Every connection of the reader engine carries a statement time limit, set once
per connection when the pool opens it:
- MariaDB: `max_statement_time` (seconds, any statement);
- MySQL: `max_execution_time` (milliseconds, SELECT only);
- SQLite: a progress handler that interrupts a statement past its deadline.
The flavour (MariaDB or MySQL) is detected once per engine, on its first connection.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from monitoring.instrumentation import instrument_engine

DEMO_DATABASE_FILE = "switchboard-demo.sqlite3"
# SQLite calls the progress handler every this many virtual-machine instructions.
SQLITE_PROGRESS_STEPS = 10_000


def resolve_database_url(config: dict[str, Any], instance_path: str | Path) -> str:
    """Return DATABASE_URL, or the embedded demo database under the instance folder."""
    if config.get("DATABASE_URL"):
        return config["DATABASE_URL"]
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance / DEMO_DATABASE_FILE}"


def is_embedded_demo(url: str) -> bool:
    """Tell whether the URL is the SQLite database Switchboard fills with demo data."""
    return make_url(url).get_backend_name() == "sqlite"


def _mysql_url(url: str):
    parsed = make_url(url)
    if parsed.get_backend_name() in {"mysql", "mariadb"} and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def create_writer_engine(url: str) -> Engine:
    """Return an engine for migrations, seeding and the simulator (no time limit)."""
    engine = sa.create_engine(_mysql_url(url), pool_pre_ping=True, pool_recycle=280)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_reader_engine(url: str, statement_timeout_ms: int = 5000) -> Engine:
    """Return the read-only, time-limited, instrumented engine that widget queries use."""
    engine = sa.create_engine(_mysql_url(url), pool_pre_ping=True, pool_recycle=280)
    if engine.dialect.name == "sqlite":
        _guard_sqlite(engine, statement_timeout_ms)
    else:
        _guard_mysql(engine, statement_timeout_ms)
    instrument_engine(engine)
    return engine


def server_flavour(engine: Engine) -> str:
    """Return 'sqlite', 'mariadb' or 'mysql' for this engine's server."""
    if engine.dialect.name == "sqlite":
        return "sqlite"
    with engine.connect() as connection:
        return _flavour_of(connection.exec_driver_sql("SELECT VERSION()").scalar_one())


def _flavour_of(version: object) -> str:
    """Return 'mariadb' or 'mysql' from the server's VERSION() text."""
    return "mariadb" if "mariadb" in str(version).lower() else "mysql"


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the simulator writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _guard_sqlite(engine: Engine, statement_timeout_ms: int) -> None:
    timeout = statement_timeout_ms / 1000.0

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        _sqlite_pragmas(dbapi_connection, connection_record)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()
        deadline = connection_record.info.setdefault("statement_deadline", [None])

        def interrupt_when_late() -> int:
            # A non-zero return makes SQLite abort the statement ("interrupted").
            return int(deadline[0] is not None and time.monotonic() > deadline[0])

        dbapi_connection.set_progress_handler(interrupt_when_late, SQLITE_PROGRESS_STEPS)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def start_clock(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("statement_deadline", [None])[0] = time.monotonic() + timeout

    @sa.event.listens_for(engine, "checkin")
    def clear_clock(dbapi_connection, connection_record):
        # The deadline covers execute and fetch; it ends when the connection goes back.
        connection_record.info.setdefault("statement_deadline", [None])[0] = None


def _guard_mysql(engine: Engine, statement_timeout_ms: int) -> None:
    flavour: dict[str, str] = {}

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        if "name" not in flavour:
            cursor.execute("SELECT VERSION()")
            flavour["name"] = _flavour_of(cursor.fetchone()[0])
        if flavour["name"] == "mariadb":
            cursor.execute(f"SET SESSION max_statement_time = {statement_timeout_ms / 1000.0:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {int(statement_timeout_ms)}")
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.close()
