"""Failures cost one attempt, not one per watcher: the query cache remembers a failure for
the rest of its slot, shared through Redis like a result; waiters wait a bounded time; the reader engine's
network waits are bounded and its connection attempts gated, against a database that never answers."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask_caching import Cache
from sqlalchemy.engine import make_url

from database.query_cache import (FAILURE_REMEMBERED_MOST_SECONDS, AsOf, WAITING_REASON, KnownFailure, QueryCache,
                                   SharedLocks, cache_config)
from database.engines import create_reader_engine, driver_timeouts
from monitoring.instrumentation import CostLog
from tests.support.databases import MYSQL_URL, REDIS_URL, require_mysqlclient, require_redis, unavailable
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for
from widgets.common import DATABASE_ERRORS, describe_failure

WATCHERS = 6
INTERVAL = 2


def _describe(error: BaseException) -> str:
    return describe_failure(error, statement_timeout_ms=500)


def _local_cache(clock=time.time, **options) -> QueryCache:
    cache = Cache(config=cache_config({}))
    cache.init_app(Flask(__name__))
    return QueryCache(cache, CostLog(), clock=clock, remember=DATABASE_ERRORS, describe=_describe, **options)


def _ask(queries: QueryCache, query: str, compute) -> str:
    """Return what a widget would show: 'fresh' or the stale reason."""
    try:
        queries.get_or_compute(query, {"p": 1}, INTERVAL, compute)
    except DATABASE_ERRORS as error:
        return _describe(error)
    return "fresh"


def _unreachable():
    raise sa.exc.OperationalError("SELECT 1", {}, OSError("Can't connect to MySQL server on '127.0.0.1'"))


def test_a_failure_is_remembered_as_plain_data_for_the_rest_of_its_slot_only():
    clock = [1000.0]
    queries = _local_cache(clock=lambda: clock[0])
    attempts = []

    def compute():
        attempts.append(clock[0])
        _unreachable()

    seen = [_ask(queries, "w", compute) for _ in range(WATCHERS * 3)]
    assert attempts == [1000.0] and set(seen) == {"database unreachable"}
    stored = [value for value in queries.cache.cache._cache.values()]
    assert len(stored) == 1
    record = json.loads(stored[0][1])  # stored as JSON text: plain data, no exception object, no pickle
    assert record["failure"]["reason"] == "database unreachable" and record["failure"]["kind"] == "OSError"
    clock[0] = 1002.0  # the next slot tries again, and a success is served as usual
    assert _ask(queries, "w", lambda: "rows") == "fresh"


def test_a_key_refreshed_rarely_is_tried_again_within_a_minute_of_its_failure():
    """The feed's shared window counts live 50 minutes: their failure must not outlast the outage by as much."""
    queries = _local_cache(clock=lambda: 1000.0)  # 2,000 s left of a 3,000 s slot
    with pytest.raises(DATABASE_ERRORS):
        queries.get_or_compute("window counts", {"window": "7d"}, 3_000, _unreachable)
    (expires_at, _), = queries.cache.cache._cache.values()  # cachelib keeps (expiry on the wall clock, value)
    assert 0 < expires_at - time.time() <= FAILURE_REMEMBERED_MOST_SECONDS
    # A key of a poll's interval keeps its failure for the rest of its slot and one slot more.
    short = _local_cache(clock=lambda: 1000.0)
    with pytest.raises(DATABASE_ERRORS):
        short.get_or_compute("ongoing", {}, 15, _unreachable)
    (expires_at, _), = short.cache.cache._cache.values()
    assert 14 < expires_at - time.time() <= 15 + 15


def test_an_error_outside_the_remembered_ones_is_raised_and_not_cached():
    queries = _local_cache()
    attempts = []

    def broken():
        attempts.append(1)
        raise KeyError("a bug, not the database")

    for _ in range(3):
        with pytest.raises(KeyError):
            queries.get_or_compute("w", {"p": 1}, 60, broken)
    assert len(attempts) == 3


def test_a_waiter_answers_waiting_within_its_wait_and_never_runs_the_query_itself():
    queries = _local_cache(wait_seconds=0.2)
    release, attempts = threading.Event(), []

    def slow():
        attempts.append(1)
        assert release.wait(10)
        return "rows"

    holder = threading.Thread(target=queries.get_or_compute, args=("w", {"p": 1}, 60, slow))
    holder.start()
    try:
        assert wait_for(lambda: attempts)
        assert _ask(queries, "w", slow) == WAITING_REASON
        assert not release.is_set() and attempts == [1]  # answered while the holder still computes
    finally:
        release.set()
        holder.join(10)


def test_a_waiter_gets_the_latest_result_fresh_within_an_interval_and_marked_behind_after_it():
    """A database slower than a key's interval: each result is stored for the slot its computation began in,
    which has ended; the waiters of the later slots read the latest result instead of waiting for ever."""
    clock = [1000.0]
    queries = _local_cache(clock=lambda: clock[0], wait_seconds=0.1)
    assert queries.get_or_compute("w", {"p": 1}, INTERVAL, lambda: ["row 1"]).behind == ""
    release, attempts = threading.Event(), []

    def slow():
        attempts.append(clock[0])
        assert release.wait(10)
        return ["row 2"]

    clock[0] = 1002.0  # a new slot: its first asker computes, slowly
    holder = threading.Thread(target=queries.get_or_compute, args=("w", {"p": 1}, INTERVAL, slow))
    holder.start()
    try:
        assert wait_for(lambda: attempts)
        waited = queries.get_or_compute("w", {"p": 1}, INTERVAL, slow)
        assert (waited.value, waited.computed_at, waited.behind) == (["row 1"], 1000.0, "")  # an interval old
        clock[0] = 1002.5
        waited = queries.get_or_compute("w", {"p": 1}, INTERVAL, slow)
        assert (waited.value, waited.behind) == (["row 1"], WAITING_REASON)
        assert attempts == [1002.0]  # no waiter ran the query
    finally:
        release.set()
        holder.join(10)
    # The slow result, finished after its slot, is the latest now: the next slot's waiters read it.
    clock[0] = 1004.5
    release.clear()
    attempts.clear()
    holder = threading.Thread(target=queries.get_or_compute, args=("w", {"p": 1}, INTERVAL, slow))
    holder.start()
    try:
        assert wait_for(lambda: attempts)
        waited = queries.get_or_compute("w", {"p": 1}, INTERVAL, slow)
        # Stamped when it was stored (the clock stood at 1002.5): two seconds old, an interval, so fresh.
        assert (waited.value, waited.computed_at, waited.behind) == (["row 2"], 1002.5, "")
    finally:
        release.set()
        holder.join(10)


def test_a_result_built_from_a_key_in_flight_waits_with_it_and_is_not_remembered_as_failed():
    """The feed's page of a view is computed from its newest rows, another key: when those are in flight
    elsewhere, the page's asker is a waiter like theirs (its own latest result, else "waiting"), and the next
    ask computes the page again instead of reading a failure for the rest of the slot."""
    clock = [1000.0]
    queries = _local_cache(clock=lambda: clock[0], wait_seconds=0.1)
    release, attempts = threading.Event(), []

    def newest_rows():
        attempts.append(1)
        assert release.wait(10)
        return ["row 2"]

    def page(rows_compute):
        return lambda: ["page of"] + queries.get_or_compute("newest", {"p": 1}, INTERVAL, rows_compute).current().value

    # The page was computed before (from rows no longer kept); the newest rows are being computed for the first
    # time, slowly, by another request, in the page's next slot.
    assert queries.get_or_compute("page", {"p": 1}, INTERVAL, lambda: ["page of", "row 1"]).value == \
        ["page of", "row 1"]
    clock[0] = 1002.0
    holder = threading.Thread(target=queries.get_or_compute, args=("newest", {"p": 1}, INTERVAL, newest_rows))
    holder.start()
    try:
        assert wait_for(lambda: attempts)
        waited = queries.get_or_compute("page", {"p": 1}, INTERVAL, page(newest_rows))
        assert (waited.value, waited.behind) == (["page of", "row 1"], "")  # the page's latest, an interval old
        clock[0] = 1002.5
        waited = queries.get_or_compute("page", {"p": 1}, INTERVAL, page(newest_rows))
        assert (waited.value, waited.behind) == (["page of", "row 1"], WAITING_REASON)
        # A page never computed before has nothing to show yet, and says so.
        assert _ask(queries, "another page", page(newest_rows)) == WAITING_REASON
    finally:
        release.set()
        holder.join(10)
    assert attempts == [1]  # no waiter ran the query
    # Nothing was remembered as failed: the next ask computes the page from the rows now in the cache.
    assert queries.get_or_compute("page", {"p": 1}, INTERVAL, page(newest_rows)).value == ["page of", "row 2"]
    assert _ask(queries, "another page", page(newest_rows)) == "fresh"


def test_a_result_built_from_another_is_as_old_as_its_data_and_never_from_a_waiters_stand_in():
    """A page built from the newest rows is stamped with when those rows were read, not when it was cut from
    them; and while the rows' next computation is in flight, their stand-in (the latest rows, given to their
    waiters) builds no page for the new slot: the page's askers get the page's own latest, judged by its data's
    age. Built from the stand-in, a page would pass rows read before an outage off as its slot's own."""
    clock = [1000.0]
    queries = _local_cache(clock=lambda: clock[0], wait_seconds=0.1)
    release, built, attempts = threading.Event(), [], []

    def slow_rows():
        attempts.append(1)
        assert release.wait(10)
        return ["row 2"]

    def page(rows_compute):
        def build():
            rows = queries.get_or_compute("newest", {"p": 1}, INTERVAL, rows_compute).current()
            built.append(rows.value)
            return AsOf(["page of"] + rows.value, rows.computed_at)
        return build

    assert queries.get_or_compute("newest", {"p": 1}, INTERVAL, lambda: ["row 1"]).computed_at == 1000.0
    clock[0] = 1001.5
    first = queries.get_or_compute("page", {"p": 1}, INTERVAL, page(slow_rows))
    assert (first.value, first.computed_at) == (["page of", "row 1"], 1000.0)  # as old as its rows
    assert queries.get_or_compute("page", {"p": 1}, INTERVAL, page(slow_rows)).computed_at == 1000.0  # a hit
    clock[0] = 1002.0
    holder = threading.Thread(target=queries.get_or_compute, args=("newest", {"p": 1}, INTERVAL, slow_rows))
    holder.start()
    try:
        assert wait_for(lambda: attempts)
        assert queries.get_or_compute("newest", {"p": 1}, INTERVAL, slow_rows).waited
        waited = queries.get_or_compute("page", {"p": 1}, INTERVAL, page(slow_rows))
        assert (waited.value, waited.computed_at, waited.behind) == (["page of", "row 1"], 1000.0, "")
        clock[0] = 1002.5  # the page's data is now more than an interval old, though the page was cut at 1001.5
        waited = queries.get_or_compute("page", {"p": 1}, INTERVAL, page(slow_rows))
        assert (waited.value, waited.behind) == (["page of", "row 1"], WAITING_REASON)
    finally:
        release.set()
        holder.join(10)
    assert built == [["row 1"]]  # no page was built from the stand-in
    assert queries.get_or_compute("page", {"p": 1}, INTERVAL, page(slow_rows)).value == ["page of", "row 2"]


def test_a_result_served_behind_shows_its_rows_marked_stale_with_its_age(monkeypatch):
    from database.query_cache import CachedResult
    from widgets import common
    from widgets.common import Refresh

    monkeypatch.setattr(common, "_server_now", lambda: 1003.0)
    record = Refresh(CachedResult(["row"], 1000.0, behind=WAITING_REASON)).freshness(None)
    assert (record["stale"], record["ok_at"], record["reason"]) == (True, 1000.0, WAITING_REASON)
    assert Refresh(CachedResult(["row"], 1000.0)).freshness(None)["stale"] is False


def test_a_waiter_in_the_slot_after_a_failure_reads_that_failure(monkeypatch):
    clock = [1000.0]
    queries = _local_cache(clock=lambda: clock[0], wait_seconds=0.2)
    assert _ask(queries, "w", _unreachable) == "database unreachable"
    clock[0] = 1002.5
    release = threading.Event()
    holder = threading.Thread(target=_ask, args=(queries, "w", lambda: release.wait(10)))
    holder.start()
    try:
        time.sleep(0.05)
        assert _ask(queries, "w", lambda: "rows") == "database unreachable"
    finally:
        release.set()
        holder.join(10)


def _mysql_or_skip() -> None:
    if not MYSQL_URL:
        unavailable("MariaDB tests need SWITCHBOARD_TEST_MYSQL_URL (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")


@pytest.mark.mariadb
@pytest.mark.redis
def test_six_watchers_on_two_workers_cost_one_failing_statement_per_slot():
    """The measured case: six browsers watching a failing feed, which without failure memory run 3x one's SELECTs."""
    _mysql_or_skip()
    require_redis()
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    config = {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix}
    engines, workers, statements = [], [], []
    for _ in range(2):  # two workers: each its engine and cache, one Redis
        engine = create_reader_engine(MYSQL_URL, 500)
        sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
        cache = Cache(config=cache_config(config))
        cache.init_app(Flask(__name__))
        locks = SharedLocks(redis.Redis.from_url(REDIS_URL), prefix, ttl=10)
        engines.append(engine)
        workers.append(QueryCache(cache, CostLog(), locks, remember=DATABASE_ERRORS, describe=_describe))
    missing = sa.table("switchboard_no_such_table_" + uuid.uuid4().hex[:6], sa.column("id"))

    def failing(engine):
        with engine.connect() as connection:
            return connection.execute(sa.select(missing.c.id).where(missing.c.id == sa.bindparam("id", 1))).all()

    try:
        while time.time() % INTERVAL > INTERVAL / 4:  # start early in a slot: all asks fall in it
            time.sleep(0.02)
        slot = int(time.time() // INTERVAL)
        seen: list[str] = []
        lock = threading.Lock()

        def watch(index: int) -> None:
            queries, engine = workers[index % 2], engines[index % 2]
            for _ in range(3):
                reason = _ask(queries, "feed", lambda: failing(engine))
                with lock:
                    seen.append(reason)
                time.sleep(0.05)

        threads = [threading.Thread(target=watch, args=(index,)) for index in range(WATCHERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert int(time.time() // INTERVAL) == slot, "the asks outlasted the slot; the machine is overloaded"
        assert len(statements) == 1
        # One reason for every watcher, the missing table named (the admin's view of the failure).
        assert len(seen) == WATCHERS * 3 and set(seen) == {seen[0]}
        assert seen[0].startswith(f"table {missing.name} is not in this database"), seen[0]
        stored = redis.Redis.from_url(REDIS_URL).keys(prefix + "query:feed:*")
        assert len(stored) == 1  # the failure, shared
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        for engine in engines:
            engine.dispose()


@pytest.mark.mariadb
@pytest.mark.parametrize("driver", ["pymysql", "mysqldb"])
def test_a_black_holed_database_fails_within_the_network_timeout_and_the_gate_holds_new_attempts(driver):
    _mysql_or_skip()
    if driver == "mysqldb":
        require_mysqlclient()
    server = make_url(MYSQL_URL)
    with TcpProxy(server.host or "127.0.0.1", server.port or 3306) as proxy:
        url = server.set(drivername=f"mysql+{driver}", host="127.0.0.1", port=proxy.port)
        engine = create_reader_engine(url.render_as_string(hide_password=False), statement_timeout_ms=500)
        try:
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
            proxy.black_hole()
            outcome: list[BaseException] = []

            def connect() -> None:
                try:
                    with engine.connect() as connection:
                        connection.execute(sa.text("SELECT 1"))
                except sa.exc.DBAPIError as error:
                    outcome.append(error)

            asker = threading.Thread(target=connect, daemon=True)
            asker.start()
            asker.join(20)  # unbounded waits would hold it until TCP gives up (minutes)
            assert not asker.is_alive(), "a black-holed database held the thread"
            assert outcome and _describe(outcome[0]) == "database unreachable"
            accepted = proxy.accepted
            for _ in range(5):  # within the gate's hold: no new connection is even tried
                with pytest.raises(sa.exc.OperationalError) as refused:
                    with engine.connect():
                        pass
                assert _describe(refused.value) == "database unreachable"
            assert proxy.accepted == accepted
            proxy.restore()
            assert wait_for(lambda: _connects(engine), seconds=10)
        finally:
            engine.dispose()


def _connects(engine) -> bool:
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    except sa.exc.DBAPIError:
        return False


def test_the_driver_timeouts_are_bounded_for_both_drivers():
    assert driver_timeouts("pymysql", 2.5) == {"connect_timeout": 2.5, "read_timeout": 2.5, "write_timeout": 2.5}
    assert driver_timeouts("mysqldb", 2.5) == {"connect_timeout": 3, "read_timeout": 3, "write_timeout": 3}
    assert driver_timeouts("pysqlite", 2.5) == {}


def test_a_known_failure_is_a_database_error_described_by_its_reason():
    failure = KnownFailure("OperationalError", "query timed out after 2 s", 0.0)
    assert isinstance(failure, DATABASE_ERRORS) and _describe(failure) == "query timed out after 2 s"
    assert KnownFailure.from_record(failure.record()).reason == failure.reason
    assert KnownFailure.from_record({"rows": []}) is None
