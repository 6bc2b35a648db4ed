"""Serving at scale: one computation per key across processes, dead lock holders, Redis outages, call storms."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from database import query_cache as caching
from database.query_cache import cache_key
from demo.generator import SeedPlan, seed_database
from queries.activity import ActivityFilter, fetch_activity
from queries.headline_stats import fetch_headline_stats
from queries.ongoing_calls import fetch_ongoing_calls
from queries.timeutil import start_of_day
from schema.migrate import migrate
from widgets.services import EXTENSION_KEY
from tests.support.clock import FROZEN_AT_VARIABLE, epoch_of
from tests.support.databases import (REDIS_URL, SEED_NOW, backends, create_test_database,
                            drop_test_database, require_redis)
from tests.support.dash_client import DashClient
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
ONGOING_INPUTS = {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}


ONGOING_QUERY_START = "SELECT calls.id, calls.created_at, calls.status"


@contextmanager
def statements_logged_by_the_server(engine) -> Iterator[Callable[[str], int]]:
    """Turn on MariaDB's general query log (as a table) for the block; count statements that start with a text."""
    with engine.connect() as connection:
        previous = connection.exec_driver_sql("SELECT @@global.general_log, @@global.log_output").one()
        connection.exec_driver_sql("SET GLOBAL log_output = 'TABLE'")
        connection.exec_driver_sql("TRUNCATE TABLE mysql.general_log")
        connection.exec_driver_sql("SET GLOBAL general_log = 1")

        def count(prefix: str) -> int:
            # Only this test's database's connections (the app processes' pools, still open): other tests run
            # the same statements on their own databases meanwhile.
            return connection.exec_driver_sql(
                "SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Query' AND argument LIKE %s "
                "AND thread_id IN (SELECT id FROM information_schema.processlist WHERE db = %s)",
                (prefix + "%", engine.url.database)).scalar_one()

        try:
            yield count
        finally:
            connection.exec_driver_sql("SET GLOBAL general_log = %s", (int(previous[0]),))
            connection.exec_driver_sql("SET GLOBAL log_output = %s", (previous[1],))
            connection.exec_driver_sql("TRUNCATE TABLE mysql.general_log")


def start_app_process(environment: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start Switchboard in a process of its own; return it and its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "tests.support.app_server"], cwd=ROOT,
                               env={**os.environ, **environment}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    line = process.stdout.readline()
    assert line.startswith("listening on "), line
    return process, f"http://127.0.0.1:{int(line.split()[-1])}"


def post(url: str, payload: dict) -> int:
    request = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status


@pytest.mark.mariadb
@pytest.mark.redis
@pytest.mark.serial  # switches MariaDB's general log, server-wide
def test_two_processes_sharing_redis_run_the_query_once_counted_at_the_database(seeded_mariadb, make_dashboard):
    require_redis()
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    environment = {"DATABASE_URL": seeded_mariadb.url, "CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix,
                   "MEMORY_SAMPLER": "false", "ONGOING_CALLS_POLL_SECONDS": "60",
                   # Both processes tell the time by one clock standing still: all the polls fall in one slot.
                   FROZEN_AT_VARIABLE: str(epoch_of(SEED_NOW))}
    payloads = DashClient(make_dashboard(seeded_mariadb.url).server)
    ongoing = payloads.payload("ongoing-grid.rowData", ONGOING_INPUTS)
    # Any callback that reaches the database, but not the ongoing calls (the headline's "Ongoing now" reads them).
    warm_up = payloads.payload("activity-company.options", {"refresh-signal.data": 0, "url.pathname": "/"})
    processes = [start_app_process(environment) for _ in range(2)]
    counter = sa.create_engine(make_url(seeded_mariadb.url), poolclass=sa.pool.NullPool)
    try:
        for _, url in processes:
            assert post(url, warm_up) == 200  # each process's first connection runs its own set-up queries
        statuses: list[int] = []

        def poll(url: str) -> None:
            for _ in range(5):
                statuses.append(post(url, ongoing))

        with statements_logged_by_the_server(counter) as server_count:
            threads = [threading.Thread(target=poll, args=(processes[i % 2][1],)) for i in range(10)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert statuses == [200] * 50
            assert server_count(ONGOING_QUERY_START) == 1
    finally:
        for process, _ in processes:
            process.terminate()
            process.wait(10)
        counter.dispose()
        clear_prefix(prefix)


def clear_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_a_lock_holder_that_dies_delays_the_others_until_its_lock_expires(seeded_sqlite, make_dashboard):
    require_redis()
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    app = make_dashboard(seeded_sqlite.url, CACHE_REDIS_URL=REDIS_URL, CACHE_KEY_PREFIX=prefix,
                         STATEMENT_TIMEOUT_MS=500, MEMORY_SAMPLER=False, ONGOING_CALLS_POLL_SECONDS=30)
    lock_name = prefix + "lock:" + cache_key("ongoing_calls", {"limit": 500, "company_ids": None, "masked": False})
    # Another worker takes the lock and dies mid-computation, leaving it to expire.
    holder = subprocess.run(
        [sys.executable, "-c", "import os, sys, redis; c = redis.Redis.from_url(sys.argv[1]);"
         "assert c.lock(sys.argv[2], timeout=3).acquire(); os._exit(0)", REDIS_URL, lock_name], timeout=30)
    assert holder.returncode == 0
    try:
        client = DashClient(app.server)
        # Meanwhile the others wait their bounded time and say so; none runs the query beside the "holder".
        result = client.call("ongoing-grid.rowData", ONGOING_INPUTS)
        assert result["ongoing-freshness.data"]["reason"] == "waiting for the database"
        assert "ongoing-grid.rowData" not in result
        time.sleep(3.2)  # the dead holder's lock has expired
        result = client.call("ongoing-grid.rowData", ONGOING_INPUTS)
        assert len(result["ongoing-grid.rowData"]) == 125
        started = time.monotonic()
        client.call("ongoing-grid.rowData", ONGOING_INPUTS)
        assert time.monotonic() - started < 1.0  # the result is now in the shared cache
    finally:
        clear_prefix(prefix)


@pytest.mark.redis
def test_while_redis_is_gone_each_process_still_computes_once_and_the_shared_cache_returns(
        seeded_sqlite, make_dashboard, monkeypatch, caplog):
    require_redis()
    monkeypatch.setattr(caching, "RETRY_SHARED_SECONDS", 0.5)
    redis_url = make_url(REDIS_URL.replace("redis://", "mysql://"))  # only to read host and port
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    with TcpProxy(redis_url.host, redis_url.port or 6379) as proxy:
        app = make_dashboard(seeded_sqlite.url, CACHE_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                             CACHE_KEY_PREFIX=prefix, MEMORY_SAMPLER=False, ONGOING_CALLS_POLL_SECONDS=60)
        services = app.server.extensions[EXTENSION_KEY]
        statements: list[str] = []
        sa.event.listen(services.reader, "before_cursor_execute", lambda c, cur, statement, *a: statements.append(statement))
        client = DashClient(app.server)
        proxy.cut()
        with caplog.at_level(logging.WARNING, logger="switchboard.cache"):
            for _ in range(4):
                assert len(client.call("ongoing-grid.rowData", ONGOING_INPUTS)["ongoing-grid.rowData"]) == 125
        assert len(statements) == 1
        assert len([r for r in caplog.records if "shared cache unreachable" in r.getMessage()]) == 1
        proxy.restore()
        time.sleep(0.6)
        client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
        assert len([r for r in caplog.records if "shared cache reachable again" in r.getMessage()]) == 1
        import redis
        shared = redis.Redis.from_url(REDIS_URL)
        assert any(b":query:" in key for key in shared.scan_iter(match=prefix + "*"))
        shared.close()
    clear_prefix(prefix)


STORM_PLAN = SeedPlan(calls=51_000, appointments=200, ongoing=50_000, raw_bytes=100, customers_per_company=200)


@pytest.fixture(scope="module", params=backends())
def storm_database(request, tmp_path_factory):
    """A database in a call storm: 50,000 calls ongoing at SEED_NOW."""
    database = create_test_database(request.param, tmp_path_factory.mktemp("storm"))
    writer = database.writer()
    migrate(writer)
    seed_database(writer, STORM_PLAN, SEED_NOW)
    writer.dispose()
    yield database
    drop_test_database(database)


def test_in_a_call_storm_every_widget_answers_capped_with_the_right_total(storm_database, make_dashboard):
    reader = storm_database.reader()
    ongoing = fetch_ongoing_calls(reader, SEED_NOW)
    assert ongoing.total == 50_000 and len(ongoing.rows) == 500 and ongoing.capped
    assert fetch_headline_stats(reader, SEED_NOW, start_of_day(SEED_NOW)).ongoing == 50_000
    page = fetch_activity(reader, ActivityFilter(window="1h"), SEED_NOW)
    assert len(page.rows) == 50 and page.next_cursor is not None
    reader.dispose()
    client = DashClient(make_dashboard(storm_database.url, MEMORY_SAMPLER=False).server)
    result = client.call("ongoing-grid.rowData", ONGOING_INPUTS)
    assert len(result["ongoing-grid.rowData"]) == 500
    assert result["ongoing-badge.children"] == "50,000"
    assert result["ongoing-caption.children"] == "showing 500 of 50,000"


def test_widgets_read_from_the_replica_and_migrations_use_the_primary(seeded_sqlite, tmp_path, monkeypatch,
                                                                      make_dashboard):
    from click.testing import CliRunner

    from cli import cli

    primary = f"sqlite:///{tmp_path / 'primary.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", primary)
    monkeypatch.setenv("DATABASE_READ_URL", seeded_sqlite.url)
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0  # creates the schema on the primary only
    app = make_dashboard(primary, DATABASE_READ_URL=seeded_sqlite.url, MEMORY_SAMPLER=False)
    result = DashClient(app.server).call("ongoing-grid.rowData", ONGOING_INPUTS)
    assert len(result["ongoing-grid.rowData"]) == 125  # the replica holds the seeded calls; the primary none
    primary_engine = sa.create_engine(primary)
    with primary_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM calls").scalar_one() == 0
    primary_engine.dispose()


def test_a_query_past_the_statement_limit_is_cancelled_and_the_widget_says_so(storm_database, make_dashboard):
    hurried = DashClient(make_dashboard(storm_database.url, MEMORY_SAMPLER=False, STATEMENT_TIMEOUT_MS=5).server)
    started = time.monotonic()
    result = hurried.call("ongoing-grid.rowData", ONGOING_INPUTS)
    assert time.monotonic() - started < 3  # cancelled by the database, not left to run
    assert "ongoing-grid.rowData" not in result
    assert result["ongoing-freshness.data"]["stale"] is True
    assert result["ongoing-freshness.data"]["reason"] == "query timed out after 0.005 s"
    # The same worker answers the next request at once.
    assert hurried.call("activity-company.options", {"refresh-signal.data": 0, "url.pathname": "/"})
