"""Test databases and services: the seeded plan and its fixed moment, and the MariaDB and Redis of the run.

- SWITCHBOARD_TEST_MYSQL_URL: a server URL such as mysql+pymysql://root@127.0.0.1:3306/test.
  Each test (or module) creates its own uniquely named database there and drops it.
- SWITCHBOARD_TEST_REDIS_URL: redis://127.0.0.1:6379/0 for the shared-cache tests.
- SWITCHBOARD_REQUIRE_SERVICES=1 (set by .ci/run): a missing service fails the run
  instead of skipping its tests.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from database.engines import create_reader_engine, create_writer_engine
from demo.generator import SeedPlan, seed_database
from monitoring.instrumentation import instrument_engine
from schema.migrate import migrate
from tests.support import tiers

MYSQL_URL = os.environ.get("SWITCHBOARD_TEST_MYSQL_URL", "")
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "")
REQUIRE_SERVICES = os.environ.get("SWITCHBOARD_REQUIRE_SERVICES") == "1"
# A fixed moment makes the seeded data, and so every expected result, reproducible.
SEED_NOW = datetime(2026, 3, 10, 11, 30, 0)
TEST_PLAN = SeedPlan(calls=3_000, appointments=900, companies=3, customers_per_company=120,
                     agents_per_company=3, services_per_company=4, raw_bytes=16_000)


def unavailable(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SWITCHBOARD_REQUIRE_SERVICES=1: CI must run these tests)", pytrace=False)
    pytest.skip(reason)


def require_redis() -> None:
    """Skip (or, in CI, fail) unless the test Redis answers; fail a test not marked `redis`."""
    tiers.require("redis")
    if not REDIS_URL:
        unavailable("Redis tests need SWITCHBOARD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        unavailable(f"Redis at {REDIS_URL} is unreachable: {error}")
    finally:
        client.close()


def require_mysqlclient() -> None:
    """Skip (or, in CI, fail) unless mysqlclient, the optional C driver (requirements-mysql.txt), is installed."""
    import importlib.util

    if importlib.util.find_spec("MySQLdb") is None:
        unavailable("mysqlclient is not installed (pip install -r requirements-mysql.txt; it needs libmariadb-dev)")


def backends() -> list:
    return ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@dataclass
class TestDatabase:
    backend: str
    url: str

    def writer(self) -> Engine:
        return create_writer_engine(self.url)

    def reader(self, statement_timeout_ms: int = 5000) -> Engine:
        engine = create_reader_engine(self.url, statement_timeout_ms)
        instrument_engine(engine)  # as create_app does
        return engine


def _server_engine() -> Engine:
    return sa.create_engine(make_url(MYSQL_URL), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def plain_sql(url: str, sql: str, **params) -> list:
    """Run plain SQL on its own engine and return every row: the truth a test holds the app's figures to."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def create_test_database(backend: str, folder: Path, collation: str = "utf8mb4_general_ci") -> TestDatabase:
    """Create an empty, uniquely named database on the backend (on MariaDB, with this default collation)."""
    if backend == "sqlite":
        return TestDatabase("sqlite", f"sqlite:///{folder / ('sb-' + uuid.uuid4().hex[:8] + '.sqlite3')}")
    if not MYSQL_URL:
        unavailable("MariaDB tests need SWITCHBOARD_TEST_MYSQL_URL (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    tiers.require("mariadb")
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    try:
        server = _server_engine()
        with server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET {collation.split('_')[0]} "
                                       f"COLLATE {collation}")
        server.dispose()
    except sa.exc.OperationalError as error:
        unavailable(f"MariaDB at {MYSQL_URL} is unreachable: {error.orig}")
    return TestDatabase("mariadb", make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False))


def drop_test_database(database: TestDatabase) -> None:
    if database.backend == "sqlite":
        return
    server = _server_engine()
    with server.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{make_url(database.url).database}`")
    server.dispose()


def seeded(backend: str, folder: Path) -> TestDatabase:
    database = create_test_database(backend, folder)
    writer = database.writer()
    migrate(writer)
    seed_database(writer, TEST_PLAN, SEED_NOW)
    writer.dispose()
    return database
