"""Fixtures of every tier, and the tiers themselves.

The folder a test lives in is its tier (tests/unit, tests/app, tests/services, tests/system, tests/browser) and
becomes its marker, so `pytest tests/unit` and `pytest -m unit` pick the same tests. What a test uses adds the
service markers: a MariaDB database (the `mariadb` parameter of the backend fixtures, `seeded_mariadb`) marks it
`mariadb`, Redis (`redis_settings`, `redis_url`) marks it `redis`. A test that reaches a service it is not marked
for fails (tests.support.tiers), so `-m "not redis"` never runs a Redis test by mistake.

Helpers live in tests/support; nothing here is imported by a test module.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from typing import Iterator

# Every app, CLI command and server a test starts keeps its own files (secret key, embedded demo database, stores)
# in a folder of this process, never in the checkout's instance/ folder: set before config is imported, and
# inherited by the servers the tests start. Each xdist worker sets its own.
RUN_INSTANCE_PATH = os.environ["SWITCHBOARD_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="switchboard-instance-")

import pytest  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from tests.support import tiers
from tests.support.clock import FakeClock, test_now
from tests.support.users import add_users
from tests.support.databases import (REDIS_URL, SEED_NOW, TestDatabase, backends, create_test_database,
                                     drop_test_database, require_redis, seeded)


# pbkdf2 at a thousand rounds: about 0.3 ms a check instead of scrypt's tens of milliseconds.
TEST_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"

def pytest_configure(config) -> None:
    """One folder of compressed page files for the whole run (every app, in this process and in its servers'):
    brotli at its best takes seconds a file, paid once per run instead of once per test's instance folder.
    Passwords of the users tests create are hashed cheaply: scrypt's deliberate cost, paid at every sign-in of
    every test, is the largest single share of the suite's CPU. The production default has its own test."""
    import access.users

    tiers.register_markers(config)
    access.users.PASSWORD_HASH_METHOD = TEST_PASSWORD_HASH_METHOD
    if "COMPRESSED_FILES_FOLDER" not in os.environ:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.environ["COMPRESSED_FILES_FOLDER"] = config._switchboard_compressed = tempfile.mkdtemp(
            prefix=f"switchboard-compressed-{worker}-")


def pytest_unconfigure(config) -> None:
    import shutil

    shutil.rmtree(RUN_INSTANCE_PATH, ignore_errors=True)
    folder = getattr(config, "_switchboard_compressed", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("COMPRESSED_FILES_FOLDER", None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    # First: pytest-xdist's worker reads the xdist_group marks in this hook to name each test's group.
    tiers.mark_items(items)


def pytest_runtest_setup(item) -> None:
    tiers.entering(item)


def pytest_runtest_teardown(item) -> None:
    tiers.leaving(item)


def pytest_runtest_logreport(report) -> None:
    tiers.record(report)


def pytest_terminal_summary(terminalreporter) -> None:
    tiers.summary(terminalreporter)


@pytest.fixture
def redis_url() -> str:
    """The test Redis's URL (the test is marked `redis`); fails in CI, skips elsewhere, when it does not answer."""
    require_redis()
    return REDIS_URL


@pytest.fixture
def redis_settings(redis_url):
    """Settings for an app whose cache lives in the test Redis under a prefix of this test's, and a client;
    the prefix's keys are deleted after the test."""
    import redis
    client = redis.Redis.from_url(redis_url)
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    yield {"CACHE_REDIS_URL": redis_url, "CACHE_KEY_PREFIX": prefix}, client
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=backends())
def empty_database(request, tmp_path) -> Iterator[TestDatabase]:
    """An empty database of its own, per test."""
    database = create_test_database(request.param, tmp_path)
    yield database
    drop_test_database(database)


@pytest.fixture(scope="session", params=backends())
def seeded_database(request, tmp_path_factory) -> Iterator[TestDatabase]:
    """A migrated database seeded with TEST_PLAN at SEED_NOW, shared by the session (read only)."""
    database = seeded(request.param, tmp_path_factory.mktemp("seeded"))
    yield database
    drop_test_database(database)


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory) -> Iterator[TestDatabase]:
    """The seeded database on SQLite only, for tests that need one database, not each."""
    yield seeded("sqlite", tmp_path_factory.mktemp("seeded-sqlite"))


@pytest.fixture(scope="session")
def seeded_mariadb(tmp_path_factory) -> Iterator[TestDatabase]:
    """The seeded database on MariaDB only, for tests of a real server (proxies, timeouts)."""
    database = seeded("mariadb", tmp_path_factory.mktemp("seeded-mariadb"))
    yield database
    drop_test_database(database)


@pytest.fixture
def reader(seeded_database) -> Iterator[Engine]:
    engine = seeded_database.reader()
    yield engine
    engine.dispose()


@pytest.fixture
def seed_clock() -> FakeClock:
    """A clock standing at SEED_NOW, the seeded data's moment: moved only by the test (`advance`)."""
    return FakeClock(SEED_NOW)


@pytest.fixture
def test_clock() -> FakeClock:
    """A clock running from SWITCHBOARD_TEST_NOW (or the wall clock's now) at the wall clock's pace."""
    return FakeClock(test_now(), running=True)


@pytest.fixture
def make_dashboard(tmp_path, seed_clock):
    """Build apps on a database, telling the time by `seed_clock` (SEED_NOW unless the test moves it); every one
    is shut down after the test."""
    from app import create_app
    from widgets.services import EXTENSION_KEY

    built = []

    def make(database_url: str, clock: FakeClock | None = None, **overrides):
        app = create_app({"DATABASE_URL": database_url, **overrides}, instance_path=tmp_path,
                         clock=clock or seed_clock)
        built.append(app.server.extensions[EXTENSION_KEY])
        return app

    yield make
    for services in built:
        services.shutdown()


@pytest.fixture(scope="module")
def seeded_app(seeded_sqlite, tmp_path_factory):
    """One app for a module's read-only tests: the seeded SQLite database, its clock standing at SEED_NOW, no
    users (the local demo's viewer) and no memory sampler."""
    from app import create_app
    from widgets.services import EXTENSION_KEY

    built = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False},
                       instance_path=tmp_path_factory.mktemp("seeded-app"), clock=FakeClock(SEED_NOW))
    yield built
    built.server.extensions[EXTENSION_KEY].shutdown()


@pytest.fixture
def secured(tmp_path, make_dashboard):
    """Build the app with four users (admin, support of company 1, ops, wallboard) on a database URL."""
    def build(database_url: str, **overrides):
        add_users(tmp_path)
        return make_dashboard(database_url, MEMORY_SAMPLER=False, **overrides)
    return build


@pytest.fixture
def app_on_sqlite(secured, seeded_sqlite):
    return secured(seeded_sqlite.url, METRICS_TOKEN="s3cret-scrape-token")



@pytest.fixture
def cli_on(monkeypatch):
    """Return a runner of `python app.py …` commands (Click's test runner) against a database URL."""
    from click.testing import CliRunner

    from cli import cli

    def on(database_url: str):
        monkeypatch.setenv("DATABASE_URL", database_url)
        return lambda *args: CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return on
