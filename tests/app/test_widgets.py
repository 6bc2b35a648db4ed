"""Widget logic without a browser: links, validation, cursors, builders, caching and callbacks over HTTP."""
from __future__ import annotations

import gzip
import json
import re
import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from database.query_cache import QueryCache, cache_key
from monitoring.instrumentation import CostLog
from queries.activity import ActivityFilter, Cursor
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.gunicorn import free_port
from widgets import common, feed_filters, feed_ids, feed_pager, headline_stats, ongoing_calls, shell
from widgets.registry import URL


# --- links and filters ----------------------------------------------------------------------------------

def test_a_link_round_trips_to_the_same_filters():
    query = feed_filters.build_query_string(["call"], ["missed", "failed"], ["inbound"], [2, 3], "24h", " anna ")
    assert query == "?kind=call&status=missed%2Cfailed&direction=inbound&company=2%2C3&window=24h&q=anna"
    values, notices = feed_filters.parse_query_string(query)
    assert notices == []
    assert values == {"kind": ["call"], "status": ["missed", "failed"], "direction": ["inbound"],
                      "company": [2, 3], "window": "24h", "q": "anna"}
    assert feed_filters.build_query_string([], [], [], [], "7d", "") == ""


@pytest.mark.parametrize("query, notice", [
    ("?kind=fax", "ignored kind='fax': not a known kind"),
    ("?status=done", "ignored status='done': not a known status"),
    ("?company=-1", "ignored company='-1': not a company id"),
    ("?company=99999999999999999999999", "not a company id"),
    ("?window=1y", "ignored window='1y'"),
    ("?q=" + "x" * 300, "longer than 100 characters"),
    ("?colour=red", "ignored 'colour': not a filter"),
])
def test_nonsense_in_a_link_is_dropped_with_a_notice(query, notice):
    values, notices = feed_filters.parse_query_string(query + "&kind=call")
    assert any(notice in n for n in notices), notices
    assert values["kind"] == ["call"]  # the sensible part of the link still applies


def test_sync_reads_the_link_on_load_and_writes_it_on_change():
    out = feed_filters.sync_url_and_filters(URL, "?kind=call&status=bogus", feed_filters.filter_values(window=None,
                                                                                                       search=None))
    assert out["filters"]["kinds"] == ["call"] and "bogus" in out["notice"] and out["search"] == "?kind=call"
    out = feed_filters.sync_url_and_filters(feed_ids.SEARCH, "", feed_filters.filter_values([], ["missed"], [], [], "7d",
                                                                                            "müller"))
    assert out["search"] == "?status=missed&q=m%C3%BCller" and out["notice"] == ""


@pytest.mark.parametrize("controls, message", [
    ((["fax"], None, None, None, "7d", ""), "unknown kind"),
    ((None, "missed", None, None, "7d", ""), "lists of names"),
    ((None, None, None, ["1"], "7d", ""), "chosen from the list"),
    ((None, None, None, [True], "7d", ""), "chosen from the list"),
    ((None, None, None, None, "7d", 5), "must be text"),
    ((None, None, None, None, "forever", ""), "unknown time window"),
])
def test_bad_control_values_get_a_clear_message(controls, message):
    with pytest.raises(ValueError, match=message):
        feed_filters.filter_from_controls(*controls)


@pytest.mark.parametrize("data", [None, "x", {}, {"at": "yesterday", "kind": "call", "id": 1},
                                  {"at": "2026-01-01T00:00:00", "kind": "fax", "id": 1},
                                  {"at": "2026-01-01T00:00:00", "kind": "call", "id": -4},
                                  {"at": "2026-01-01T00:00:00", "kind": "call", "id": "1 OR 1=1"}])
def test_a_malformed_cursor_from_the_browser_means_the_first_page(data):
    assert feed_pager.cursor_from_data(data) is None


def test_a_cursor_survives_the_round_trip_through_the_browser():
    cursor = Cursor(at=datetime(2026, 3, 1, 12, 30, 5, 123456), kind="appointment", id=42)
    assert feed_pager.cursor_from_data(json.loads(json.dumps(feed_pager.cursor_to_data(cursor)))) == cursor


def test_pages_go_older_and_back_and_a_filter_change_starts_over():
    def press(button, pager, next_cursor):
        return feed_pager.turn_page(button, pager, next_cursor)

    one = {"at": "2026-03-01T10:00:00", "kind": "call", "id": 9}
    two = {"at": "2026-02-01T10:00:00", "kind": "call", "id": 3}
    pager = press(feed_ids.OLDER, feed_pager.first_page(), one)
    assert pager == {"cursors": [None, one], "page": 1}
    pager = press(feed_ids.OLDER, pager, two)
    assert pager == {"cursors": [None, one, two], "page": 2}
    assert press(feed_ids.NEWER, pager, None) == {"cursors": [None, one], "page": 1}
    assert press(feed_ids.SEARCH, pager, two) == feed_pager.first_page()


# --- builders -------------------------------------------------------------------------------------------

def test_durations_read_like_a_clock():
    assert headline_stats.format_duration(None) == "–"
    assert headline_stats.format_duration(65.4) == "1:05"
    assert headline_stats.format_duration(3725) == "1:02:05"


@pytest.mark.parametrize("text, reason", [
    ("(1969, 'Query execution was interrupted (max_statement_time exceeded)')", "query timed out after 5 s"),
    ("(2003, \"Can't connect to MySQL server on '127.0.0.1'\")", "database unreachable"),
    ("(2013, 'Lost connection to server during query')", "database unreachable"),
    ("interrupted", "query timed out after 5 s"),
    ("(1054, \"Unknown column 'x' in 'field list'\")",
     "column x is not in this database: `python app.py inspect` proposes a schema map (SCHEMA_MAP_FILE)"),
    ("(1064, 'You have an error in your SQL syntax')", "database error"),
])
def test_failures_are_described_without_sql(text, reason):
    error = sa.exc.OperationalError("SELECT secret FROM calls", {}, Exception(text))
    assert common.describe_failure(error, 5000) == reason


def test_a_stale_record_keeps_the_time_of_the_last_success():
    record = common.stale(common.fresh(1_700_000_000.0, 1_700_000_001.0), "database unreachable", 1_700_000_009.0)
    assert record == {"ok_at": 1_700_000_000.0, "stale": True, "reason": "database unreachable",
                      "server_now": 1_700_000_009.0}
    assert common.stale(None, "x", 1_700_000_009.0)["ok_at"] is None


def test_a_grid_starts_loading_and_keeps_its_empty_text_for_when_a_load_succeeds():
    params = common.grid_options("No ongoing calls right now")["noRowsOverlayComponentParams"]
    assert params == {"empty": "No ongoing calls right now", "text": "Loading…", "failed": False}


@pytest.mark.parametrize("polls, seconds", [((5, 15, 60, 10, 15), 5), ((1, 1, 2, 10, 15), 1),
                                            ((30, 60, 60, 60, 30), 10)])
def test_the_connection_is_checked_after_one_poll_of_the_fastest_widget(polls, seconds):
    config = dict(zip(("ONGOING_CALLS_POLL_SECONDS", "ACTIVITY_POLL_SECONDS", "HEADLINE_STATS_POLL_SECONDS",
                       "MEMORY_POLL_SECONDS", "COMPANY_KPIS_POLL_SECONDS"), polls))
    assert shell.connection_check_seconds(config) == seconds


def test_stored_times_become_epoch_seconds_in_their_zone():
    assert common.epoch(datetime(2026, 1, 1, 0, 0)) == 1767225600
    assert common.epoch(datetime(2026, 1, 1, 1, 0), "Europe/Berlin") == 1767225600
    assert common.epoch(None) is None and common.epoch(float("nan")) is None


# --- caching --------------------------------------------------------------------------------------------

def test_cache_keys_follow_the_query_and_every_bound_parameter():
    assert cache_key("activity", {"a": 1, "b": [1, 2]}) == cache_key("activity", {"b": [1, 2], "a": 1})
    assert cache_key("activity", {"a": 1}) != cache_key("activity", {"a": 2})
    assert cache_key("activity", {"a": 1}) != cache_key("ongoing_calls", {"a": 1})
    assert cache_key("activity", {"company_ids": [1]}) != cache_key("activity", {"company_ids": [2]})


def _query_cache(**options) -> QueryCache:
    from flask import Flask
    from flask_caching import Cache

    from database.query_cache import cache_config

    cache = Cache(config=cache_config({}))
    cache.init_app(Flask(__name__))
    return QueryCache(cache, CostLog(), **options)


def test_concurrent_misses_compute_once_and_the_result_lives_one_interval():
    clock = [1000.0]
    queries = _query_cache(clock=lambda: clock[0])
    computed = []

    def compute():
        computed.append(1)
        time.sleep(0.2)
        return "rows"

    threads = [threading.Thread(target=queries.get_or_compute, args=("w", {"p": 1}, 5, compute)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1
    assert queries.counters["w"].misses == 1 and queries.counters["w"].hits == 11
    clock[0] = 1004.9  # the same slot: the result serves the rest of it
    queries.get_or_compute("w", {"p": 1}, 5, compute)
    assert len(computed) == 1
    clock[0] = 1005.0  # the next slot: one interval after the first computation's slot began
    assert queries.get_or_compute("w", {"p": 1}, 5, compute).value == "rows" and len(computed) == 2


def test_a_lone_watcher_polling_every_interval_gets_a_fresh_result_each_time():
    clock = [1002.3]
    queries = _query_cache(clock=lambda: clock[0])
    computed = []
    for poll in range(6):
        clock[0] = 1002.3 + 5 * poll + 0.01 * (poll % 3)  # a browser's timer, a little late or not
        queries.get_or_compute("w", {}, 5, lambda: computed.append(1))
    assert len(computed) == 6


def _prefetching_cache(clock: list[float]) -> tuple[QueryCache, list[float]]:
    """A query cache on a fake clock whose computations ahead run at once (no thread)."""
    queries = _query_cache(clock=lambda: clock[0])
    queries.start_background = lambda work: work()
    computed: list[float] = []
    return queries, computed


def test_a_key_in_demand_is_computed_ahead_of_its_next_slot_and_the_slot_turns_without_waiting():
    clock = [1000.5]
    queries, computed = _prefetching_cache(clock)

    def compute():
        computed.append(clock[0])
        return f"rows as of {clock[0]}"

    for ask, at in enumerate((1000.5, 1001.0, 1002.0, 1003.2, 1003.4)):  # five asks, two in the last 2 s
        clock[0] = at
        started = queries.prefetch_next_slot("w", {}, 5, compute, ahead=2.0)
        assert started == (ask == 3), ask  # the fourth ask is the first in demand near the end: once
    assert computed == [1003.2]
    clock[0] = 1005.1  # the next slot: its entry is there, computed 1.8 s before the slot began
    assert queries.get_or_compute("w", {}, 5, compute).value == "rows as of 1003.2"
    assert computed == [1003.2]


def test_a_lone_watcher_is_never_computed_ahead():
    clock = [1004.0]
    queries, computed = _prefetching_cache(clock)
    for poll in range(6):  # one poll a slot, each in its slot's last 2 seconds
        clock[0] = 1004.0 + 5 * poll
        assert not queries.prefetch_next_slot("w", {}, 5, lambda: computed.append(clock[0]), ahead=2.0)
        queries.get_or_compute("w", {}, 5, lambda: computed.append(clock[0]))
    assert computed == [1004.0 + 5 * poll for poll in range(6)]  # each poll fresh, nothing computed ahead


def test_asks_early_in_a_slot_compute_nothing_ahead_and_a_failure_ahead_is_not_cached():
    clock = [1000.0]
    queries, computed = _prefetching_cache(clock)
    for at in (1000.0, 1000.5, 1001.0, 1002.0, 1002.9):
        clock[0] = at
        assert not queries.prefetch_next_slot("w", {}, 5, lambda: computed.append(at), ahead=2.0)

    def fail():
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("Lost connection"))

    clock[0] = 1003.5
    assert queries.prefetch_next_slot("w", {}, 5, fail, ahead=2.0)  # started, and failed in the background
    clock[0] = 1005.2
    assert queries.get_or_compute("w", {}, 5, lambda: "fresh").value == "fresh"


def test_the_hit_counters_can_be_read_while_new_queries_are_counted():
    queries = _query_cache()
    queries.get_or_compute("first", {}, 5, lambda: 1)
    for index, query in enumerate(queries.hit_counters()):  # the self-cost panel and /metrics read them so
        queries.get_or_compute(f"new-{index}", {}, 5, lambda: 2)
    assert set(queries.hit_counters()) == {"first", "new-0"}


def test_an_entry_expires_at_the_end_of_its_slot():
    from database.query_cache import slot_key

    key, lifetime = slot_key("w", {}, 5, 1002.3)
    assert lifetime == 4 and key.endswith(":5:200")  # 2.7 s left, in whole seconds, and one more
    assert slot_key("w", {}, 5, 1004.99)[0] == key and slot_key("w", {}, 5, 1005.0)[0] != key


@pytest.mark.parametrize("second_fraction", [0.0, 0.5, 0.999])
def test_the_in_process_cache_keeps_an_entry_to_its_slots_end_whatever_the_second(monkeypatch, second_fraction):
    """cachelib's SimpleCache counts a lifetime from the start of the current second: an entry stored 0.8 s
    before its slot ends, late in a second, is still served until the slot ends."""
    import cachelib.simple

    real = [7000.0 + second_fraction]
    monkeypatch.setattr(cachelib.simple, "time", lambda: real[0])
    clock = [1004.2]
    queries = _query_cache(clock=lambda: clock[0])
    computed = []
    queries.get_or_compute("w", {}, 5, lambda: computed.append(clock[0]))
    for step in (0.3, 0.49):  # the slot's last moments, on both clocks
        clock[0] += step
        real[0] += step
        queries.get_or_compute("w", {}, 5, lambda: computed.append(clock[0]))
    assert computed == [1004.2]
    clock[0], real[0] = 1005.0, real[0] + 0.01  # the next slot: its own key, computed once
    queries.get_or_compute("w", {}, 5, lambda: computed.append(clock[0]))
    assert computed == [1004.2, 1005.0]


def test_a_failed_computation_is_not_cached():
    queries = _query_cache()

    def fail():
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("Lost connection"))

    with pytest.raises(sa.exc.OperationalError):
        queries.get_or_compute("w", {}, 60, fail)
    assert queries.get_or_compute("w", {}, 60, lambda: "ok").value == "ok"


# --- callbacks over HTTP on a seeded database -----------------------------------------------------------

@pytest.fixture
def dashboard(seeded_database, make_dashboard):
    return make_dashboard(seeded_database.url, ONGOING_CALLS_POLL_SECONDS=30)


def test_the_ongoing_response_is_small_and_compact(dashboard):
    client = DashClient(dashboard.server)
    payload = client.payload("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    response = client.post(payload, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers.get("Content-Encoding") == "gzip"
    body = json.loads(gzip.decompress(response.data))["response"]
    rows = body["ongoing-grid"]["rowData"]
    assert len(rows) == 125 and body["ongoing-badge"]["children"] == "125"
    assert set().union(*rows) <= {"id", "at", "start", "st", "caller", "cust", "agent", "co", "dir", "cid"}
    assert all(isinstance(row["at"], int) for row in rows)
    assert len(response.data) < 20_000, len(response.data)


def test_many_clients_polling_one_widget_run_its_query_once_per_interval(dashboard):
    services = dashboard.server.extensions[EXTENSION_KEY]
    statements = []
    sa.event.listen(services.reader, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    client = DashClient(dashboard.server)
    payload = client.payload("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    statuses = []

    def poll():
        local = dashboard.server.test_client()
        for _ in range(5):
            statuses.append(local.post("/_dash-update-component", json=payload).status_code)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 40
    assert len([s for s in statements if "FROM calls" in s]) == 1


def test_the_feed_callback_pages_by_cursor_and_reports_bad_filters(dashboard):
    client = DashClient(dashboard.server)
    base = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0, "activity-pager.data": feed_pager.first_page()}
    filters = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
               "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
    first = client.call("activity-grid.rowData", base, filters)
    assert len(first["activity-grid.rowData"]) == 50 and first["activity-older.disabled"] is False
    cursor = first["activity-next-cursor.data"]
    second = client.call("activity-grid.rowData", {**base, "activity-pager.data": {"cursors": [None, cursor], "page": 1}},
                         filters)
    # Where the page is among the rows that match (counted by brute force in tests/app/test_feed_search.py).
    assert re.fullmatch(r"51–100 of [\d,]+", second["activity-page.children"])
    assert second["activity-newer.disabled"] is False
    keys = {(r["k"], r["id"]) for r in first["activity-grid.rowData"]}
    assert not keys & {(r["k"], r["id"]) for r in second["activity-grid.rowData"]}
    hostile = client.call("activity-grid.rowData", base, {**filters, "activity-company.value": ["1; DROP TABLE calls"]})
    assert hostile["activity-grid.rowData"] == [] and "Not searched" in hostile["activity-notice.children"]


def test_the_export_is_a_bounded_csv_of_the_current_filter(dashboard):
    dashboard.server.extensions[EXTENSION_KEY].config["ACTIVITY_EXPORT_ROW_CAP"] = 120
    client = DashClient(dashboard.server)
    result = client.call("activity-download.data", {"activity-export.n_clicks": 1},
                         {"activity-kind.value": ["call"], "activity-status.value": None,
                          "activity-direction.value": None, "activity-company.value": None,
                          "activity-window.value": "30d", "activity-search.value": ""})
    download = result["activity-download.data"]
    lines = download["content"].strip().splitlines()
    assert download["filename"].startswith("switchboard-activity-") and download["filename"].endswith(".csv")
    assert lines[0] == "kind,time,customer,phone,company,service,direction,status,duration_sec,counted_as"
    assert len(lines) == 121 and all(line.startswith("call,") for line in lines[1:])
    assert "newest 120 rows" in result["activity-notice.children"]


def test_headline_callback_builds_cards_and_chart(dashboard):
    client = DashClient(dashboard.server)
    result = client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
    texts = json.dumps(result["stats-cards.children"])
    assert '"125"' in texts and "Ongoing now" in texts
    assert len(result["stats-chart.figure"]["data"][0]["x"]) == 24
    assert result["stats-freshness.data"]["stale"] is False


def test_ongoing_now_in_the_headline_is_the_ongoing_calls_badge(dashboard, monkeypatch):
    """One figure, one value: the card reads the ongoing-calls widget's one cached result,
    never a count of its own that could disagree with the badge on the same screen."""
    client = DashClient(dashboard.server)
    badge = client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1})["ongoing-badge.children"]

    def no_second_count(*args, **kwargs):
        raise AssertionError("the headline counted the ongoing calls again")
    monkeypatch.setattr(ongoing_calls, "fetch_ongoing_calls", no_second_count)
    card = client.call("card-ongoing.children", {"stats-ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    cards = client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert card["card-ongoing.children"] == badge == "125"
    ongoing_card = next(card for card in cards["stats-cards.children"] if "Ongoing now" in json.dumps(card))
    assert ongoing_card["props"]["children"][0]["props"]["children"] == badge


FEED_FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
                "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}


def test_a_feed_view_that_could_not_load_is_empty_and_says_why_and_a_failed_poll_keeps_the_rows(make_dashboard):
    """An error never looks like an empty result, nor like another view's rows."""
    client = DashClient(make_dashboard(f"mysql+pymysql://root@127.0.0.1:{free_port()}/test").server)
    shown = common.fresh(1_700_000_000.0, 1_700_000_001.0)
    inputs = {"activity-interval.n_intervals": 3, "refresh-signal.data": 0, "activity-pager.data": feed_pager.first_page()}
    state = {**FEED_FILTERS, "activity-search.value": "anna", "activity-freshness.data": shown}
    changed_filter = client.call("activity-grid.rowData", inputs, state, changed=["activity-pager.data"])
    assert changed_filter["activity-grid.rowData"] == []
    assert changed_filter["activity-freshness.data"]["stale"] is True
    assert changed_filter["activity-freshness.data"]["reason"] == "database unreachable"
    assert changed_filter["activity-freshness.data"]["ok_at"] is None  # the time shown was another view's
    assert changed_filter["activity-older.disabled"] is True
    poll = client.call("activity-grid.rowData", inputs, state, changed=["activity-interval.n_intervals"])
    assert "activity-grid.rowData" not in poll  # the rows on screen stay, marked stale
    assert poll["activity-freshness.data"]["stale"] is True and poll["activity-freshness.data"]["ok_at"] == shown["ok_at"]
