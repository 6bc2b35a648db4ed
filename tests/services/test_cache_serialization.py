"""The query cache and the memory store hold JSON, never pickles: whoever can write to a
shared Redis must not be able to run code in the workers."""
from __future__ import annotations

import logging
import pickle
import time
from dataclasses import dataclass
from datetime import datetime

import orjson
import pandas as pd
import pytest
from flask import Flask
from flask_caching import Cache

from database.query_cache import (FORMAT_VERSION, NotCacheable, QueryCache, StoredAsIs, StoredAsIsRedisCache, cache_config,
                     decode_entry, encode_entry)
from monitoring.instrumentation import CostLog
from monitoring.store import RedisMemoryStore, SqliteMemoryStore
from queries.activity import WINDOWS, ActivityFilter, RecentFeed, fetch_recent_feed, page_from_recent
from widgets.services import EXTENSION_KEY
from tests.support.databases import REDIS_URL, SEED_NOW
from tests.support.dash_client import DashClient
from tests.support.memory_processes import synthetic_sample


class PickleBomb:
    """Unpickled, it creates the file at `path`: proof that a stored pickle was loaded."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


@dataclass
class Row:
    id: int


def _local_queries(**options) -> QueryCache:
    cache = Cache(config=cache_config({}))
    cache.init_app(Flask(__name__))
    return QueryCache(cache, CostLog(), **options)


@pytest.mark.parametrize("value", [
    pd.DataFrame({"id": [1]}), Row(1), datetime(2026, 1, 1), {1: "a non-text key"}, {"rows": {"x", "y"}},
    pd.Series([1]).iloc[0],  # a numpy integer, as a DataFrame hands them out
], ids=["dataframe", "dataclass", "datetime", "int-key", "set", "numpy-int"])
def test_a_value_json_cannot_carry_fails_loudly_where_it_is_cached(value):
    queries = _local_queries()
    with pytest.raises(NotCacheable):
        queries.get_or_compute("w", {"p": 1}, 60, lambda: value)
    calls = []
    assert queries.get_or_compute("w", {"p": 1}, 60, lambda: calls.append(1) or "ok").value == "ok"
    assert calls == [1], "nothing was stored for the value that failed"


def test_a_computed_result_is_served_as_a_hit_will_serve_it():
    queries = _local_queries()
    first = queries.get_or_compute("w", {"p": 1}, 60, lambda: {"badge": ("ok", "badge"), "n": 1.5})
    second = queries.get_or_compute("w", {"p": 1}, 60, lambda: pytest.fail("a hit computes nothing"))
    assert first.value == second.value == {"badge": ["ok", "badge"], "n": 1.5}
    assert first.computed_at == second.computed_at


def test_the_backends_store_bytes_as_they_are_and_nothing_else():
    serializer = StoredAsIs()
    bomb = b"!" + pickle.dumps(PickleBomb("/nonexistent/never"))
    assert serializer.loads(bomb) is bomb and serializer.dumps(b"{}") == b"{}"
    with pytest.raises(NotCacheable):
        serializer.dumps({"a": 1})  # no path stores an object the backend would have to pickle
    assert cache_config({"CACHE_REDIS_URL": REDIS_URL or "redis://127.0.0.1:6379/0", "CACHE_KEY_PREFIX": "x:"}
                        )["CACHE_TYPE"] == "database.query_cache.StoredAsIsRedisCache"
    assert isinstance(StoredAsIsRedisCache.serializer, StoredAsIs)


@pytest.mark.parametrize("stored", [
    None, b"!" + pickle.dumps({"value": 1}), pickle.dumps({"value": 1}), b"not json", b"[1, 2]",
    orjson.dumps({"v": FORMAT_VERSION + 1, "value": 1, "computed_at": 1.0}), "\ud800",
])
def test_anything_but_this_versions_json_decodes_as_a_miss(stored):
    assert decode_entry(stored) is None


def test_entries_carry_their_version():
    assert decode_entry(encode_entry({"value": [1], "computed_at": 2.0})) == {
        "v": FORMAT_VERSION, "value": [1], "computed_at": 2.0}


def test_shared_notes_round_trip_as_json():
    notes = _local_queries().notes()
    notes.set("connect:x:down", {"at": 1.5, "error": "refused"}, timeout=60)
    assert notes.get("connect:x:down") == {"at": 1.5, "error": "refused"}
    assert notes.add("retry", 1, timeout=60) and not notes.add("retry", 1, timeout=60)
    assert notes.get("missing") is None


# --- the activity feed's newest rows, the one result cached as rows ------------------------------------

def test_the_recent_rows_answer_every_view_alike_after_the_trip_through_json(reader):
    recent = fetch_recent_feed(reader, SEED_NOW, 300)
    back = RecentFeed.from_data(orjson.loads(encode_entry({"value": recent.to_data()}))["value"])
    pd.testing.assert_frame_equal(back.rows, recent.rows)
    assert (back.now, back.company_ids, back.holds_everything) == (recent.now, recent.company_ids,
                                                                   recent.holds_everything)
    for view in [ActivityFilter(), ActivityFilter(window="1h"), ActivityFilter(kinds=("call",)),
                 ActivityFilter(statuses=("missed",), window="30d"), ActivityFilter(company_ids=(2,))]:
        expected, page = page_from_recent(recent, view, None, 25), page_from_recent(back, view, None, 25)
        assert (page is None) == (expected is None)
        if page is not None:
            pd.testing.assert_frame_equal(page.rows, expected.rows)
            assert page.next_cursor == expected.next_cursor


def test_a_scoped_feed_keeps_its_scope_as_a_tuple(reader):
    recent = fetch_recent_feed(reader, SEED_NOW, 50, company_ids=(1, 2))
    back = RecentFeed.from_data(orjson.loads(orjson.dumps(recent.to_data())))
    assert back.company_ids == (1, 2) and back.rows["at"].dtype == recent.rows["at"].dtype
    assert back.now - WINDOWS["90d"] == recent.now - WINDOWS["90d"]


# --- Redis ---------------------------------------------------------------------------------------------

ONGOING_INPUTS = {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}
FEED_INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
               "activity-pager.data": {"cursors": [None], "page": 0}}
FEED_FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
                "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
# Every widget callback that goes through the query cache, as the browser calls it.
WIDGET_CALLS = [
    ("ongoing-grid.rowData", ONGOING_INPUTS, None),
    ("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0}, None),
    ("activity-grid.rowData", FEED_INPUTS, FEED_FILTERS),
    ("activity-company.options", {"refresh-signal.data": 0, "url.pathname": "/"}, None),
    ("memory-badge.children", {"memory-interval.n_intervals": 1, "refresh-signal.data": 0,
                               "memory-window.data": "1h"}, None),
]
POLLS = {name: 60 for name in ("ONGOING_CALLS_POLL_SECONDS", "ACTIVITY_POLL_SECONDS", "HEADLINE_STATS_POLL_SECONDS",
                                "MEMORY_POLL_SECONDS")}


def _shown(result: dict) -> dict:
    """What the widget shows, without its freshness record (which holds the server's clock)."""
    return {key: value for key, value in result.items() if not key.endswith("-freshness.data")}


@pytest.mark.redis
def test_every_widgets_cached_value_is_json_in_redis_and_serves_alike(seeded_database, redis_settings,
                                                                      make_dashboard):
    settings, client = redis_settings
    dashboard = make_dashboard(seeded_database.url, **POLLS, **settings)
    services = dashboard.server.extensions[EXTENSION_KEY]
    services.sampler.step()
    browser = DashClient(dashboard.server)
    first = [browser.call(output, inputs, state) for output, inputs, state in WIDGET_CALLS]
    again = [browser.call(output, inputs, state) for output, inputs, state in WIDGET_CALLS]
    assert [_shown(result) for result in again] == [_shown(result) for result in first]
    assert all(not result.get(key, {}).get("stale") for result in first for key in result
               if key.endswith("-freshness.data"))
    counters = services.queries.hit_counters()
    assert {query: counter.misses for query, counter in counters.items()} == {
        "ongoing_calls": 1, "headline_stats": 1, "activity": 1, "activity_recent": 1, "activity_count": 1,
        "company_options": 1, "memory": 1}
    keys = list(client.scan_iter(match=settings["CACHE_KEY_PREFIX"] + "query:*"))
    assert len([key for key in keys if not key.endswith(b":latest")]) == 7 and len(keys) == 14  # each one's latest
    for key in keys:
        entry = orjson.loads(client.get(key))  # JSON text, or this raises
        assert entry["v"] == FORMAT_VERSION and "value" in entry


@pytest.mark.redis
def test_a_pickle_in_a_live_entry_is_never_loaded_and_the_widget_recomputes(seeded_sqlite, redis_settings,
                                                                             make_dashboard, tmp_path, caplog):
    settings, client = redis_settings
    dashboard = make_dashboard(seeded_sqlite.url, ONGOING_CALLS_POLL_SECONDS=60, MEMORY_SAMPLER=False, **settings)
    services = dashboard.server.extensions[EXTENSION_KEY]
    browser = DashClient(dashboard.server)
    shown = browser.call("ongoing-grid.rowData", ONGOING_INPUTS)
    (key,) = (key for key in client.scan_iter(match=settings["CACHE_KEY_PREFIX"] + "query:ongoing_calls:*")
              if not key.endswith(b":latest"))
    marker = tmp_path / "unpickled"
    caplog.set_level(logging.WARNING, logger="switchboard.cache")
    # As cachelib's Redis serializer writes a pickle ("!" first), then a bare pickle: both are misses.
    for bomb in (b"!" + pickle.dumps(PickleBomb(str(marker))), pickle.dumps(PickleBomb(str(marker)))):
        client.set(key, bomb, keepttl=True)
        again = browser.call("ongoing-grid.rowData", ONGOING_INPUTS)
        assert not marker.exists(), "the stored pickle was loaded"
        assert again["ongoing-grid.rowData"] == shown["ongoing-grid.rowData"]
        assert orjson.loads(client.get(key))["v"] == FORMAT_VERSION  # recomputed, and stored as JSON again
    assert services.queries.counters["ongoing_calls"].misses == 3
    ignored = [r for r in caplog.records if "did not write" in r.getMessage()]
    assert len(ignored) == 1, "logged once, not once a read"


@pytest.mark.redis
def test_the_memory_snapshot_is_json_and_a_pickled_one_is_never_loaded(redis_settings, tmp_path):
    settings, client = redis_settings
    store = RedisMemoryStore(REDIS_URL, settings["CACHE_KEY_PREFIX"], host="test-host")
    try:
        sample = synthetic_sample(time.time(), 1)
        store.append(sample)
        assert orjson.loads(client.get(store.keys + "latest"))["at"] == sample.at
        assert store.latest() == sample
        marker = tmp_path / "unpickled"
        client.set(store.keys + "latest", pickle.dumps(PickleBomb(str(marker))))
        assert store.latest() is None and not marker.exists()
        client.set(store.keys + "latest", b'{"at": 1}')  # JSON, but not a sample
        assert store.latest() is None
    finally:
        store.close()


def test_a_foreign_snapshot_in_the_sqlite_store_reads_as_none(tmp_path):
    store = SqliteMemoryStore(tmp_path / "memory.sqlite3")
    try:
        store.append(synthetic_sample(time.time(), 1))
        with store._transaction() as db:
            db.execute("UPDATE snapshot SET sample = ?", ("{not json",))
        assert store.latest() is None
    finally:
        store.close()
