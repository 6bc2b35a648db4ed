"""Engines: one read-only engine for widget queries, one writer for migrations and the demo.

Nothing here runs at import time; `create_app` and the CLI call these factories.

Every connection of the reader engine carries a statement time limit, set once
per connection when the pool opens it:
- MariaDB: `max_statement_time` (seconds, any statement);
- MySQL: `max_execution_time` (milliseconds, SELECT only);
- SQLite: a progress handler that interrupts a statement past its deadline.
The flavour (MariaDB or MySQL) is detected once per engine, on its first connection.

A database that accepts connections and never answers (a dropped network, not a
refused port) must not hold the dashboard's threads: the reader's
driver waits at most `network_timeout_seconds` to connect and for any one read or
write, and its connections pass a gate: one attempt at a time per process and,
while connecting fails, one retry per that long across the workers (ConnectionGate).
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cachelib import SimpleCache
from sqlalchemy.engine import Engine, make_url

DEMO_DATABASE_FILE = "switchboard-demo.sqlite3"
# SQLite calls the progress handler every this many virtual-machine instructions.
SQLITE_PROGRESS_STEPS = 10_000
# How much longer than the statement limit the reader waits on the network: the server cancels a statement
# at its limit and answers with the error, which must not be cut short by the client.
NETWORK_MARGIN_SECONDS = 1.0
# How long a connection waits for another thread's attempt in flight before failing (a healthy connect takes
# milliseconds; an attempt at a database that never answers takes the network timeout).
CONNECT_WAIT_SECONDS = 0.5
DOWN_NOTE_SECONDS = 3600  # how long "connecting fails" is remembered without a success to clear it
CANNOT_CONNECT = 2003  # CR_CONN_HOST_ERROR, the code both drivers give a failed connection


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


def create_reader_engine(url: str, statement_timeout_ms: int = 5000, connect_notes=None) -> Engine:
    """Return the read-only, time-limited engine that widget queries use; `connect_notes` (the query cache's
    shared notes) lets every worker know when connecting fails (see ConnectionGate). The caller attaches the
    cost instrumentation (monitoring.instrumentation.instrument_engine): this layer does not know it."""
    parsed = _mysql_url(url)
    network = network_timeout_seconds(statement_timeout_ms)
    engine = sa.create_engine(parsed, pool_pre_ping=True, pool_recycle=280,
                              connect_args=driver_timeouts(parsed.get_driver_name(), network))
    if engine.dialect.name == "sqlite":
        _guard_sqlite(engine, statement_timeout_ms)
    else:
        _guard_mysql(engine, statement_timeout_ms)
        name = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:16]
        sa.event.listen(engine, "do_connect", ConnectionGate(name, network, connect_notes).connect)
    return engine


def network_timeout_seconds(statement_timeout_ms: int) -> float:
    """Return how long the reader waits on the database's network: to connect, and for any one read or write.

    PyMySQL waits 10 s to connect and for ever to read, and it reads the server's greeting under the read
    timeout: against a database that never answers, a thread is held until TCP gives up."""
    return statement_timeout_ms / 1000.0 + NETWORK_MARGIN_SECONDS


def driver_timeouts(driver: str, seconds: float) -> dict[str, Any]:
    """Return the connect arguments that bound the driver's connect, read and write waits to `seconds`."""
    if driver == "pymysql":
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
    if driver == "mysqldb":  # whole seconds only (libmysqlclient's options are unsigned ints)
        whole = max(1, math.ceil(seconds))
        return {"connect_timeout": whole, "read_timeout": whole, "write_timeout": whole}
    return {}


class ConnectionGate:
    """One connection attempt at a time per process; while connecting fails, one retry per `hold` seconds
    across every process that shares `notes`.

    While the database is down, every widget of every watcher needs a connection; without the gate each one
    tries, so the attempts grow with the watchers, the keys and the workers. With it, the deployment retries
    about once per `hold` (the network timeout): as often when the server refuses at once as when it never
    answers. The asks in between fail at once with the last attempt's error. `notes` is a cache with
    Flask-Caching's get/set/add/delete (the query cache's shared notes: Redis when configured); installed as
    the engine's do_connect hook.
    """

    def __init__(self, name: str, hold: float, notes=None, wait: float = CONNECT_WAIT_SECONDS):
        self.down_key, self.retry_key = f"connect:{name}:down", f"connect:{name}:retry"
        self.hold, self.wait = hold, wait
        self.notes = notes if notes is not None else SimpleCache()
        self._attempt = threading.Lock()

    def connect(self, dialect, connection_record, cargs, cparams):
        """Connect as the dialect would, unless connecting fails and this is not the one retry of its hold."""
        error = dialect.loaded_dbapi.OperationalError
        if not self._attempt.acquire(timeout=self.wait):
            raise error(CANNOT_CONNECT, "Can't connect to the database: the attempt in flight has not ended")
        try:
            down = self.notes.get(self.down_key)
            # add() is atomic (SET NX in Redis): one process of all claims the retry of this hold.
            if down is not None and not self.notes.add(self.retry_key, 1, timeout=math.ceil(self.hold)):
                raise error(CANNOT_CONNECT, f"Can't connect to the database (the attempt {time.time() - down['at']:.1f}"
                                            f" s ago failed: {down['error']}; retried once per {self.hold:g} s)")
            try:
                connection = dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.Error as failure:
                self.notes.set(self.down_key, {"at": time.time(), "error": str(failure)}, timeout=DOWN_NOTE_SECONDS)
                self.notes.set(self.retry_key, 1, timeout=math.ceil(self.hold))  # the next retry: a hold from now
                raise
            if down is not None:
                self.notes.delete(self.down_key)
            return connection
        finally:
            self._attempt.release()


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
    from queries.platform import register_sqlite_functions  # the searches' SQL function lives with the searches

    register_sqlite_functions(dbapi_connection)
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
