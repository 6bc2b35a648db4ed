"""The memory store: shared by processes, kept across restarts, bounded, light to read; SQLite and Redis."""
from __future__ import annotations

import random
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.downsample import downsample
from monitoring.store import RedisMemoryStore, SqliteMemoryStore, open_memory_store
from tests.support.memory_processes import make_store_target, run_writer, synthetic_sample

BASE = 1_700_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def target(request, tmp_path):
    """Where the store lives: a SQLite file of this test's, or Redis under a prefix of this test's."""
    store_target = make_store_target(request.param, tmp_path)
    yield store_target
    store_target.cleanup()


@pytest.fixture
def store(target):
    store = target.open()
    yield store
    store.close()


def test_what_one_process_writes_another_reads(target, store):
    run_writer(target, 86400, BASE, 0, 40)
    assert store.read("host.used", since=BASE) == [(BASE + n, float(n)) for n in range(40)]
    assert store.read("host.used", since=BASE + 10, until=BASE + 12) == [(BASE + n, float(n)) for n in (10, 11, 12)]
    assert {"workers.total_rss", "worker.101.rss", "worker.101.uss", "worker.101.pss", "group.php-fpm.total_rss",
            "group.php-fpm.largest_rss", "host.used", "host.available", "host.total",
            "host.swap_used"} == set(store.series_names())
    assert store.latest() == synthetic_sample(BASE + 39, 39)


def test_a_restarted_writer_keeps_the_history(target, store):
    run_writer(target, 86400, BASE, 0, 20)
    run_writer(target, 86400, BASE, 20, 30)
    reopened = target.open()
    try:
        assert reopened.read("host.used", since=BASE) == [(BASE + n, float(n)) for n in range(30)]
    finally:
        reopened.close()
    assert store.read("host.used", since=BASE)[0] == (BASE, 0.0)
    assert store.latest().at == BASE + 29


def test_retention_drops_the_oldest_points_and_series(target):
    store = target.open(retention_seconds=100)
    try:
        for n in range(30):
            store.append(synthetic_sample(BASE + 10 * n, n, worker_pid=101 if n < 10 else 202))
        # The newest sample is at +290: points older than 100 s (before +190) are gone.
        assert store.read("host.used", since=0) == [(BASE + 10 * n, float(n)) for n in range(19, 30)]
        assert "worker.101.rss" not in store.series_names() and "worker.202.rss" in store.series_names()
        assert store.read("worker.101.rss", since=0) == [] and store.peak("worker.101.rss", since=0) is None
    finally:
        store.close()


def test_a_long_window_reads_within_budget_and_keeps_every_spike(store):
    rng = random.Random(4)
    values = [float(rng.randint(0, 100)) for _ in range(2000)]
    # One spike in the middle of 30 of the 50 buckets a 100-point budget makes of 2,000 points.
    spikes = {40 * bucket + 20: 10_000.0 + bucket for bucket in rng.sample(range(50), 30)}
    values = [spikes.get(index, value) for index, value in enumerate(values)]
    for n, value in enumerate(values):
        store.append(synthetic_sample(BASE + n, int(value)))
    points = store.read("host.used", since=BASE, max_points=100)
    assert len(points) <= 100 and points == sorted(points)
    assert {(BASE + index, value) for index, value in spikes.items()} <= set(points)
    assert set(points) <= {(BASE + n, value) for n, value in enumerate(values)}
    assert store.peak("host.used", since=BASE) == max(values)
    assert store.peak("host.used", since=BASE + 1000) == max(values[1000:])


def test_an_empty_store_has_nothing_to_show(store):
    assert store.latest() is None and store.series_names() == []
    assert store.read("host.used", since=0) == [] and store.peak("host.used", since=0) is None


def test_workers_are_those_with_a_fresh_heartbeat(store):
    now = time.time()
    store.register_worker("web-1", 11, now - 100)
    store.register_worker("web-1", 12, now)
    store.register_worker("web-1", 13, now - 1)
    store.register_worker("web-2", 21, now)
    assert store.workers("web-1", max_age=10) == [12, 13]
    store.register_worker("web-1", 11, now)
    assert store.workers("web-1", max_age=10) == [11, 12, 13]


def test_only_the_holder_renews_the_lease_until_it_expires(store):
    assert store.try_lead("web-1", "a", ttl=0.5)
    assert not store.try_lead("web-1", "b", ttl=0.5)
    assert store.try_lead("web-1", "a", ttl=0.5)
    assert store.try_lead("web-2", "b", ttl=0.5)  # a lease per host
    time.sleep(0.8)  # longer than the TTL: "a" stopped renewing
    assert store.try_lead("web-1", "b", ttl=0.5)
    assert not store.try_lead("web-1", "a", ttl=0.5)


@pytest.mark.redis
def test_redis_keys_all_live_under_the_prefix(tmp_path):
    target = make_store_target("redis", tmp_path)
    try:
        store = target.open()
        store.append(synthetic_sample(BASE, 1))
        store.register_worker("web-1", 11, BASE)
        store.try_lead("web-1", "a", ttl=5)
        store.close()
        keys = target.redis_keys()
        assert keys and all(key.startswith(target.prefix + "memory:") for key in keys)
    finally:
        target.cleanup()


def test_without_redis_the_store_is_a_file_in_the_instance_folder(tmp_path):
    store = open_memory_store({"CACHE_REDIS_URL": None, "CACHE_KEY_PREFIX": "switchboard:",
                               "MEMORY_RETENTION_HOURS": 2}, tmp_path / "instance")
    try:
        assert isinstance(store, SqliteMemoryStore) and store.retention_seconds == 7200
        assert store.path == tmp_path / "instance" / "switchboard-memory.sqlite3" and store.path.exists()
    finally:
        store.close()


@pytest.mark.redis
def test_with_redis_the_store_is_shared_under_the_cache_prefix(tmp_path):
    target = make_store_target("redis", tmp_path)
    store = open_memory_store({"CACHE_REDIS_URL": target.target, "CACHE_KEY_PREFIX": target.prefix,
                               "MEMORY_RETENTION_HOURS": 24}, tmp_path)
    try:
        # Each host keeps its own namespace, so hosts sharing one Redis never mix their series.
        assert isinstance(store, RedisMemoryStore)
        assert store.keys == f"{target.prefix}memory:{socket.gethostname()}:"
        assert store.retention_seconds == 86400 and not (tmp_path / "switchboard-memory.sqlite3").exists()
    finally:
        store.close()
        target.cleanup()


# downsample() on its own


def test_points_that_fit_are_returned_unchanged():
    points = [(float(n), float(n % 7)) for n in range(50)]
    assert downsample(points, 50) == points and downsample([], 10) == []


def test_a_flat_series_keeps_one_point_per_bucket():
    assert len(downsample([(float(n), 5.0) for n in range(1000)], 100)) == 50


def test_a_budget_of_one_keeps_the_maximum():
    assert downsample([(0.0, 1.0), (1.0, 9.0), (2.0, 3.0)], 1) == [(1.0, 9.0)]
    with pytest.raises(ValueError):
        downsample([(0.0, 1.0)], 0)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(-1000, 1000)), min_size=1, max_size=400,
                unique_by=lambda point: point[0]),
       st.integers(1, 60))
def test_downsampling_keeps_every_bucket_maximum_within_the_budget(raw, max_points):
    points = sorted((float(at), float(value)) for at, value in raw)
    result = downsample(points, max_points)
    assert len(result) <= max_points and result == sorted(result) and set(result) <= set(points)
    assert max(value for _, value in result) == max(value for _, value in points)
    if len(points) > max_points >= 2:
        buckets = max_points // 2
        start, span = points[0][0], points[-1][0] - points[0][0]

        def bucket_maxima(series):
            maxima: dict[int, float] = {}
            for at, value in series:
                index = min(int((at - start) / span * buckets), buckets - 1)
                maxima[index] = max(value, maxima.get(index, value))
            return maxima

        assert bucket_maxima(result) == bucket_maxima(points)
