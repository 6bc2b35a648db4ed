"""Per-user limits on searches and exports, in this process and shared through Redis.

The attack: one support user floods searches and exports from many threads, and
everyone else's dashboard slows down. Each test signs real users in through the
login form and calls the callbacks over HTTP, counting the statements that reach
the database with an event listener on the reader engine.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import access.work_limits as work_limits
from access.roles import LOCAL_DEMO_VIEWER, Viewer
from access.users import UserStore, default_users_url
from access.work_limits import WorkLimits, WorkRefused, describe
from widgets.services import EXTENSION_KEY
from tests.support.databases import REDIS_URL, require_redis
from tests.support.dash_client import DashClient
from tests.support.tcp_proxy import TcpProxy
from tests.support.users import PASSWORD, add_users
from widgets import feed_pager

# An hour-long slot: the feed's newest rows, computed by the first search, stay cached for the whole test.
POLL = 3600
FEED_INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
               "activity-pager.data": feed_pager.first_page()}
SEARCH_REFUSED = re.compile(r"^Too many searches: at most 3 a minute\. Try again in \d+ s\.$")
EXPORT_RUNNING = "Not exported: An export is already running for you; wait for it to finish."
SAM = Viewer(name="sam", role="support", company_ids=(1,))
ADA = Viewer(name="ada", role="admin", company_ids=None)


def filters(search: str = "", kinds=None) -> dict:
    return {"activity-kind.value": kinds, "activity-status.value": None, "activity-direction.value": None,
            "activity-company.value": None, "activity-window.value": "90d", "activity-search.value": search}


def search(client: DashClient, text: str) -> dict:
    return client.call("activity-grid.rowData", FEED_INPUTS, filters(text))


def export(client: DashClient) -> dict:
    return client.call("activity-download.data", {"activity-export.n_clicks": 1}, filters(kinds=["call"]))


def clear_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture
def shared_storage(redis_url):
    """The test Redis under a prefix of the test's own: what two workers or hosts share."""
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    yield {"CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix}
    clear_prefix(prefix)


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def storage(request):
    """The settings that put the limits in this process, or in the test Redis under a prefix of the test's own."""
    if request.param == "in-process":
        return {}
    return request.getfixturevalue("shared_storage")


@pytest.fixture
def limited(tmp_path, make_dashboard, seeded_sqlite):
    """Build apps with ada (admin), sam and sue (support of company 1) that share one user store."""
    add_users(tmp_path)
    store = UserStore(default_users_url(tmp_path))
    store.add("sue", "support", (1,), PASSWORD)
    store.dispose()

    def build(**overrides):
        return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, ACTIVITY_POLL_SECONDS=POLL,
                              SEARCH_RATE_LIMIT="3 per minute", **overrides)
    return build


def statements_of(app) -> list[str]:
    """Return a list that fills with every statement the app sends to the database from now on."""
    statements: list[str] = []
    sa.event.listen(app.server.extensions[EXTENSION_KEY].reader, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    return statements


# --- searches -------------------------------------------------------------------------------------------------

def test_a_user_over_the_search_limit_is_told_when_to_retry_and_nothing_reaches_the_database(limited, storage):
    app = limited(**storage)
    sam = DashClient(app.server, login=("sam", PASSWORD))
    for text in ("anna", "ben", "carla"):
        assert "activity-grid.rowData" in search(sam, text)
    statements = statements_of(app)
    refused = search(sam, "dora")
    assert SEARCH_REFUSED.match(refused["activity-notice.children"]), refused
    assert set(refused) == {"activity-notice.children"}  # the rows, pager and freshness stay as they were
    assert statements == []
    # A search the cache answers costs the database nothing and is not counted, even over the limit.
    assert "activity-grid.rowData" in search(sam, "anna") and statements == []
    # Another user's searches have their own count (her search and her scope's newest rows reach the database).
    ada = DashClient(app.server, login=("ada", PASSWORD))
    assert "activity-grid.rowData" in search(ada, "dora") and len(statements) == 2


def test_a_refused_new_search_empties_the_grid_and_says_why(limited):
    """A poll over the limit keeps the rows of the view on screen; a search typed over it must not leave the
    previous search's rows under the new text: the grid empties and its overlay reads the refusal."""
    app = limited()
    sam = DashClient(app.server, login=("sam", PASSWORD))
    for text in ("anna", "ben", "carla"):
        assert "activity-grid.rowData" in search(sam, text)
    statements = statements_of(app)
    typed = sam.call("activity-grid.rowData", FEED_INPUTS, filters("dora"), changed=["activity-search.value"])
    assert typed["activity-grid.rowData"] == []
    assert typed["activity-freshness.data"]["stale"] is True
    assert SEARCH_REFUSED.match(typed["activity-freshness.data"]["reason"]), typed
    assert SEARCH_REFUSED.match(typed["activity-notice.children"]), typed
    assert statements == []


def test_a_refused_search_is_never_cached_for_anyone(limited):
    app = limited()
    sam, sue = (DashClient(app.server, login=(name, PASSWORD)) for name in ("sam", "sue"))
    for text in ("anna", "ben", "carla"):
        search(sam, text)
    assert SEARCH_REFUSED.match(search(sam, "emil")["activity-notice.children"])
    # sue sees what sam sees (same companies, masked phones): the same cache entry, which the refusal left empty.
    statements = statements_of(app)
    answered = search(sue, "emil")
    assert "activity-grid.rowData" in answered and "activity-notice.children" not in answered
    assert len(statements) == 1
    # Now cached, sam gets it too without a statement or a count.
    assert "activity-grid.rowData" in search(sam, "emil") and len(statements) == 1


def test_two_app_instances_sharing_redis_share_each_users_count(limited, shared_storage):
    first, second = limited(**shared_storage), limited(**shared_storage)
    on_first, on_second = (DashClient(app.server, login=("sam", PASSWORD)) for app in (first, second))
    assert "activity-grid.rowData" in search(on_first, "anna")
    assert "activity-grid.rowData" in search(on_second, "ben")
    assert "activity-grid.rowData" in search(on_first, "carla")
    assert SEARCH_REFUSED.match(search(on_second, "dora")["activity-notice.children"])


def test_parallel_searches_get_exactly_the_limit_across_workers(storage):
    # Two WorkLimits on one Redis are two workers; in process, one is shared by a worker's threads.
    workers = [WorkLimits("10 per minute", "6 per minute", 10.0, storage.get("CACHE_REDIS_URL"),
                          storage.get("CACHE_KEY_PREFIX", "switchboard:")) for _ in range(2 if storage else 1)]
    allowed: list[bool] = []
    start = threading.Barrier(16)

    def flood(limits: WorkLimits) -> None:
        start.wait()
        for _ in range(3):
            try:
                limits.count_search(SAM)
                allowed.append(True)
            except WorkRefused:
                allowed.append(False)

    threads = [threading.Thread(target=flood, args=(workers[i % len(workers)],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 48 and allowed.count(True) == 10
    for limits in workers:
        limits.close()


# --- exports --------------------------------------------------------------------------------------------------

def test_one_export_at_a_time_per_user_while_other_users_export(limited, storage):
    app = limited(**storage)
    entered, finish = threading.Event(), threading.Event()

    def hold_the_first_export(conn, cursor, statement, *args):
        if threading.current_thread().name == "first-export" and not entered.is_set():
            entered.set()
            finish.wait(10)

    sam_tab, sam_other_tab, ada = (DashClient(app.server, login=(name, PASSWORD)) for name in ("sam", "sam", "ada"))
    # The engine's first statements read the platform's schema, once, under a lock every export would wait for.
    assert "activity-download.data" in export(ada)
    sa.event.listen(app.server.extensions[EXTENSION_KEY].reader, "before_cursor_execute", hold_the_first_export)
    results: dict = {}
    first = threading.Thread(target=lambda: results.update(export(sam_tab)), name="first-export")
    first.start()
    try:
        assert entered.wait(10), "the first export never reached the database"
        second = export(sam_other_tab)
        assert second == {"activity-notice.children": EXPORT_RUNNING}
        assert "activity-download.data" in export(ada)  # another user's export is not held up
    finally:
        finish.set()
        first.join(10)
    assert results["activity-download.data"]["content"].startswith("kind,time,customer")
    assert "activity-download.data" in export(sam_other_tab)  # the slot is free again


def test_exports_over_the_limit_are_refused_before_the_database(limited, storage):
    app = limited(EXPORT_RATE_LIMIT="2 per minute", **storage)
    sam = DashClient(app.server, login=("sam", PASSWORD))
    assert all("activity-download.data" in export(sam) for _ in range(2))
    statements = statements_of(app)
    refused = export(sam)
    assert set(refused) == {"activity-notice.children"}
    assert re.match(r"^Not exported: Too many exports: at most 2 a minute\. Try again in \d+ s\.$",
                    refused["activity-notice.children"]), refused
    assert statements == []
    assert "activity-download.data" in export(DashClient(app.server, login=("ada", PASSWORD)))


# --- without Redis ------------------------------------------------------------------------------------------

@pytest.mark.redis
def test_while_redis_is_down_limits_hold_in_this_process_logged_once_and_shared_again_after(monkeypatch, caplog):
    require_redis()
    monkeypatch.setattr(work_limits, "RETRY_SHARED_SECONDS", 0.3)
    target = make_url(REDIS_URL.replace("redis://", "mysql://"))  # only to read host and port
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    with TcpProxy(target.host, target.port or 6379) as proxy:
        limits = WorkLimits("3 per minute", "6 per minute", 10.0, f"redis://127.0.0.1:{proxy.port}/0", prefix)
        proxy.cut()
        with caplog.at_level(logging.WARNING, logger="switchboard.limits"):
            for _ in range(3):
                limits.count_search(SAM)
            with pytest.raises(WorkRefused, match="Too many searches"):
                limits.count_search(SAM)
            time.sleep(0.4)  # Redis is tried again, and is still gone
            with limits.exporting(SAM):
                with pytest.raises(WorkRefused, match="already running"):
                    with limits.exporting(SAM):
                        pass
        warnings = [r.getMessage() for r in caplog.records if r.name == "switchboard.limits"]
        assert len(warnings) == 1 and "Redis unreachable" in warnings[0]
        proxy.restore()
        time.sleep(0.4)
        limits.count_search(ADA)
        client = redis.Redis.from_url(REDIS_URL)
        assert any(b"user:ada" in key for key in client.scan_iter(match=prefix + "*"))
        client.close()
        limits.close()
    clear_prefix(prefix)


# --- the message ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate, reads", [("30 per minute", "30 a minute"), ("200 per hour", "200 an hour"),
                                         ("100/10 minutes", "100 in 10 minutes"), ("1 per second", "1 a second")])
def test_a_rate_reads_as_a_person_would_say_it(rate, reads):
    import limits

    assert describe(limits.parse(rate)) == reads


def test_the_local_demo_viewer_is_one_user():
    limits = WorkLimits("1 per minute", "1 per minute", 10.0)
    limits.count_search(LOCAL_DEMO_VIEWER)
    with pytest.raises(WorkRefused):
        limits.count_search(LOCAL_DEMO_VIEWER)
    limits.count_search(SAM)


# --- every callback request (the flood's surplus) ---------------------------------------------------------------

ONGOING_INPUTS = {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}
CALLBACK_REFUSED = re.compile(r"^Too many requests: try again in (\d+) s\.$")


def ongoing(client: DashClient):
    return client.post(client.payload("ongoing-grid.rowData", ONGOING_INPUTS))


def test_a_user_over_the_request_rate_gets_429_with_retry_after_before_any_work(limited, storage):
    app = limited(CALLBACK_RATE_LIMIT="4 per minute", **storage)
    sam = DashClient(app.server, login=("sam", PASSWORD))
    assert [ongoing(sam).status_code for _ in range(4)] == [200] * 4
    statements = statements_of(app)
    # Over the rate: refused before the body is read, so even a malformed or forbidden body gets the 429.
    for response in (ongoing(sam), sam.post({"output": "no such callback"}), search_response(sam)):
        assert response.status_code == 429
        wait = int(response.headers["Retry-After"])
        assert 1 <= wait <= 60 and CALLBACK_REFUSED.match(response.get_json()["error"]).group(1) == str(wait)
    assert statements == []
    # Another user has a count of their own; the page itself (a GET) is never counted.
    ada = DashClient(app.server, login=("ada", PASSWORD))
    assert ongoing(ada).status_code == 200
    assert sam.client.get("/").status_code == 200


def search_response(client: DashClient):
    return client.post(client.payload("activity-grid.rowData", FEED_INPUTS, filters("zed")))


def test_the_request_rate_is_one_count_per_user_across_workers(limited, shared_storage):
    first, second = (limited(CALLBACK_RATE_LIMIT="3 per minute", **shared_storage) for _ in range(2))
    on_first, on_second = (DashClient(app.server, login=("sam", PASSWORD)) for app in (first, second))
    answers = [ongoing(client).status_code for client in (on_first, on_second, on_first, on_second)]
    assert answers == [200, 200, 200, 429]


def test_the_no_user_demo_is_never_counted_but_a_user_called_local_demo_is(make_dashboard, seeded_sqlite):
    demo = DashClient(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False,
                                     CALLBACK_RATE_LIMIT="2 per minute").server)
    assert {ongoing(demo).status_code for _ in range(6)} == {200}
    limits = WorkLimits("30 per minute", "6 per minute", 10.0, callback_rate="2 per minute")
    namesake = Viewer(name=LOCAL_DEMO_VIEWER.name, role="admin", company_ids=None)
    assert [limits.callback_retry_after(namesake) for _ in range(2)] == [None, None]
    assert limits.callback_retry_after(namesake) >= 1
    assert limits.callback_retry_after(LOCAL_DEMO_VIEWER) is None


def test_a_request_rate_of_none_means_no_limit(limited):
    app = limited(CALLBACK_RATE_LIMIT="none")
    sam = DashClient(app.server, login=("sam", PASSWORD))
    assert {ongoing(sam).status_code for _ in range(70)} == {200}


def test_a_refused_user_is_refused_again_without_asking_redis_until_their_window_ends(shared_storage, monkeypatch):
    limits = WorkLimits("30 per minute", "6 per minute", 10.0, shared_storage["CACHE_REDIS_URL"],
                        shared_storage["CACHE_KEY_PREFIX"], callback_rate="2 per minute")
    assert [limits.callback_retry_after(SAM) for _ in range(2)] == [None, None]
    first_wait = limits.callback_retry_after(SAM)
    assert 1 <= first_wait <= 60

    def no_redis(*args):
        raise AssertionError("asked Redis for a user already refused")
    monkeypatch.setattr(limits._shared, "hit", no_redis)
    assert 1 <= limits.callback_retry_after(SAM) <= first_wait
    # The window ends: the next request is counted in Redis again.
    monkeypatch.setattr(work_limits.time, "time", lambda real=time.time: real() + 61)
    with pytest.raises(AssertionError, match="already refused"):
        limits.callback_retry_after(SAM)
    limits.close()


def test_the_tarpit_holds_a_refusal_a_moment_while_a_slot_is_free_and_never_holds_every_thread():
    from access.work_limits import Tarpit

    tarpit = Tarpit(slots=1, seconds=0.5)
    started = time.monotonic()
    tarpit.hold(wait=30)
    assert 0.45 <= time.monotonic() - started < 2.0  # held, but never past its moment
    started = time.monotonic()
    tarpit.hold(wait=0)  # never past the client's own wait
    assert time.monotonic() - started < 0.2
    # While the one slot is taken, another refusal is answered at once.
    holder = threading.Thread(target=tarpit.hold, args=(30,))
    holder.start()
    time.sleep(0.1)
    started = time.monotonic()
    tarpit.hold(wait=30)
    assert time.monotonic() - started < 0.2
    holder.join(5)


def test_a_flooding_user_is_slowed_by_the_tarpit_and_answered_429(limited):
    app = limited(CALLBACK_RATE_LIMIT="2 per minute")
    sam = DashClient(app.server, login=("sam", PASSWORD))
    assert [ongoing(sam).status_code for _ in range(2)] == [200, 200]
    started = time.monotonic()
    assert ongoing(sam).status_code == 429
    assert time.monotonic() - started >= 0.9  # TARPIT_SECONDS: a spinning client slows to one a second


def test_counts_in_this_process_keep_a_fixed_window_and_start_no_thread_per_count(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(work_limits.time, "time", lambda: now[0])
    threads = threading.active_count()
    limits = WorkLimits("3 per minute", "3 per minute", 5.0, callback_rate="5 per 10 seconds")
    assert [limits.callback_retry_after(SAM) for _ in range(5)] == [None] * 5
    assert threading.active_count() == threads  # windows end when read, not on a timer thread
    now[0] += 4.0
    assert limits.callback_retry_after(SAM) == 6  # the window started with the first request: 6 s are left
    assert limits.callback_retry_after(ADA) is None  # another user's count is their own
    now[0] += 6.0
    assert limits.callback_retry_after(SAM) is None  # a new window
    with pytest.raises(WorkRefused, match=SEARCH_REFUSED):
        for _ in range(4):
            limits.count_search(SAM)
