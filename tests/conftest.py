"""Fixtures: every database test runs on SQLite, and on MariaDB when its URL is set.

- SWITCHBOARD_TEST_MYSQL_URL: a server URL such as mysql+pymysql://root@127.0.0.1:3306/test.
  Each test (or module) creates its own uniquely named database there and drops it.
- SWITCHBOARD_TEST_REDIS_URL: redis://127.0.0.1:6379/0 for the shared-cache tests.
- SWITCHBOARD_REQUIRE_SERVICES=1 (set by .ci/run): a missing service fails the run
  instead of skipping its tests.
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from db import create_reader_engine, create_writer_engine
from demo.generator import SeedPlan, seed_database
from monitoring.instrumentation import instrument_engine
from schema.migrate import migrate

MYSQL_URL = os.environ.get("SWITCHBOARD_TEST_MYSQL_URL", "")
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "")
REQUIRE_SERVICES = os.environ.get("SWITCHBOARD_REQUIRE_SERVICES") == "1"
# A fixed moment makes the seeded data, and so every expected result, reproducible.
SEED_NOW = datetime(2026, 3, 10, 11, 30, 0)
TEST_PLAN = SeedPlan(calls=3_000, appointments=900, companies=3, customers_per_company=120,
                     agents_per_company=3, services_per_company=4, raw_bytes=16_000)


def pytest_configure(config) -> None:
    """One folder of compressed page files for the whole run (every app, in this process and in its servers'):
    brotli at its best takes seconds a file, paid once per run instead of once per test's instance folder."""
    import tempfile

    if "COMPRESSED_FILES_FOLDER" not in os.environ:
        os.environ["COMPRESSED_FILES_FOLDER"] = config._switchboard_compressed = tempfile.mkdtemp(
            prefix="switchboard-compressed-")


def pytest_unconfigure(config) -> None:
    import shutil

    folder = getattr(config, "_switchboard_compressed", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("COMPRESSED_FILES_FOLDER", None)


def _unavailable(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SWITCHBOARD_REQUIRE_SERVICES=1: CI must run these tests)", pytrace=False)
    pytest.skip(reason)


def require_redis() -> None:
    """Skip (or, in CI, fail) unless the test Redis answers."""
    if not REDIS_URL:
        _unavailable("Redis tests need SWITCHBOARD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        _unavailable(f"Redis at {REDIS_URL} is unreachable: {error}")
    finally:
        client.close()


@pytest.fixture
def redis_settings():
    """Settings for an app whose cache lives in the test Redis under a prefix of this test's, and a client;
    the prefix's keys are deleted after the test."""
    require_redis()
    import redis
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    yield {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix}, client
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def _backends() -> list:
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


def create_test_database(backend: str, folder: Path, collation: str = "utf8mb4_general_ci") -> TestDatabase:
    """Create an empty, uniquely named database on the backend (on MariaDB, with this default collation)."""
    if backend == "sqlite":
        return TestDatabase("sqlite", f"sqlite:///{folder / ('sb-' + uuid.uuid4().hex[:8] + '.sqlite3')}")
    if not MYSQL_URL:
        _unavailable("MariaDB tests need SWITCHBOARD_TEST_MYSQL_URL (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    try:
        server = _server_engine()
        with server.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET {collation.split('_')[0]} "
                                       f"COLLATE {collation}")
        server.dispose()
    except sa.exc.OperationalError as error:
        _unavailable(f"MariaDB at {MYSQL_URL} is unreachable: {error.orig}")
    return TestDatabase("mariadb", make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False))


def drop_test_database(database: TestDatabase) -> None:
    if database.backend == "sqlite":
        return
    server = _server_engine()
    with server.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{make_url(database.url).database}`")
    server.dispose()


@pytest.fixture(params=_backends())
def empty_database(request, tmp_path) -> Iterator[TestDatabase]:
    """An empty database of its own, per test."""
    database = create_test_database(request.param, tmp_path)
    yield database
    drop_test_database(database)


def _seeded(backend: str, folder: Path) -> TestDatabase:
    database = create_test_database(backend, folder)
    writer = database.writer()
    migrate(writer)
    seed_database(writer, TEST_PLAN, SEED_NOW)
    writer.dispose()
    return database


@pytest.fixture(scope="session", params=_backends())
def seeded_database(request, tmp_path_factory) -> Iterator[TestDatabase]:
    """A migrated database seeded with TEST_PLAN at SEED_NOW, shared by the session (read only)."""
    database = _seeded(request.param, tmp_path_factory.mktemp("seeded"))
    yield database
    drop_test_database(database)


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory) -> Iterator[TestDatabase]:
    """The seeded database on SQLite only, for tests that need one database, not each."""
    yield _seeded("sqlite", tmp_path_factory.mktemp("seeded-sqlite"))


@pytest.fixture(scope="session")
def seeded_mariadb(tmp_path_factory) -> Iterator[TestDatabase]:
    """The seeded database on MariaDB only, for tests of a real server (proxies, timeouts)."""
    database = _seeded("mariadb", tmp_path_factory.mktemp("seeded-mariadb"))
    yield database
    drop_test_database(database)


@pytest.fixture
def reader(seeded_database) -> Iterator[Engine]:
    engine = seeded_database.reader()
    yield engine
    engine.dispose()


@pytest.fixture
def make_dashboard(tmp_path):
    """Build apps on a database, frozen at SEED_NOW; every one is shut down after the test."""
    from app import create_app
    from services import EXTENSION_KEY

    built = []

    def make(database_url: str, **overrides):
        app = create_app({"DATABASE_URL": database_url, **overrides}, instance_path=tmp_path)
        services = app.server.extensions[EXTENSION_KEY]
        # The seed is fixed in time: the widgets look at the database as of its moment.
        services.now = lambda: SEED_NOW
        built.append(services)
        return app

    yield make
    for services in built:
        services.shutdown()


def clear_of_a_slot_boundary(interval: float, needed: float) -> None:
    """Wait, if need be, until `needed` seconds fit before the query cache's next slot boundary.

    Cache entries end at the boundaries of their interval's time slots (caching.py); a test that
    counts one computation per interval must not straddle one.
    """
    left = interval - time.time() % interval
    if left < needed:
        time.sleep(left + 0.05)


@pytest.fixture
def cli_on(monkeypatch):
    """Return a runner of `python app.py …` commands (Click's test runner) against a database URL."""
    from click.testing import CliRunner

    from cli import cli

    def on(database_url: str):
        monkeypatch.setenv("DATABASE_URL", database_url)
        return lambda *args: CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return on
