"""What the built-in rules observe, on real stores: memory against each group's own levels (no false alarm for
MariaDB), the host, the widgets' failure memory as the query cache records it, business hours, and the rules
that read the database held while it is unreachable."""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from alerts.evaluator import AlertEvaluator
from alerts.probes import OBSERVERS, Context
from alerts.rules import built_in, in_business_hours, load_rules, parse_business_hours
from alerts.state import ERROR, FIRING, NODATA, OK
from alerts.store import SqliteAlertStore
from config import load_config
from monitoring.memory import GroupMemory, HostMemory, MemoryLevels, MemorySample, ProcessMemory
from monitoring.store import SqliteMemoryStore
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient

MB = 1024 * 1024


def sample(at: float, worker_mb: float = 100, mysqld_mb: float = 590, php_mb: float = 300,
           available_mb: float = 4000, swap_mb: float = 0) -> MemorySample:
    return MemorySample(
        at=at, workers=(ProcessMemory(101, "gunicorn", int(worker_mb * MB)),),
        groups=(GroupMemory("mysqld", 1, int(mysqld_mb * MB), int(mysqld_mb * MB), 7),
                GroupMemory("php-fpm", 5, int(php_mb * MB), int(php_mb * MB / 5), 8)),
        host=HostMemory(total=8000 * MB, used=int((8000 - available_mb) * MB), available=int(available_mb * MB),
                        swap_used=int(swap_mb * MB)), top=())


@pytest.fixture
def stores(tmp_path):
    memory, alerts = SqliteMemoryStore(tmp_path / "memory.sqlite3"), SqliteAlertStore(tmp_path / "alerts.sqlite3")
    yield memory, alerts
    memory.close()
    alerts.close()


def context(stores, now: float, probe=lambda: "", **settings) -> Context:
    memory, alerts = stores
    config = load_config(settings, environ={})
    return Context(config=config, wall=now, database_now=datetime.utcnow(), probe=probe, database_label="db",
                   reader=None, memory_store=memory, alert_store=alerts,
                   database_queries={"ongoing_calls": "ongoing calls", "activity": "activity feed"},
                   business_hours=Context.hours(config))


def observe(source: str, ctx: Context, params: dict | None = None):
    return OBSERVERS[source](ctx, params or {})


def test_mariadb_over_the_worker_limit_is_no_alarm_but_php_fpm_over_its_own_is(stores):
    now = time.time()
    stores[0].append(sample(now))
    quiet = observe("memory_limit", context(stores, now))
    assert quiet.value == pytest.approx(100 * 100 / 512, abs=0.1) and "worker 101" in quiet.detail
    loud = observe("memory_limit", context(stores, now, MEMORY_GROUP_LIMITS="php-fpm=200:256,mysqld=none"))
    assert loud.value == pytest.approx(100 * 300 / 256, abs=0.1) and loud.detail == "php-fpm: 300 MB of 256 MB"
    warning = observe("memory_warning", context(stores, now, MEMORY_GROUP_LIMITS="php-fpm=200:512"))
    assert warning.value == 150 and warning.detail.startswith("php-fpm")
    # The badge judges the same figures: MariaDB's 590 MB is not "over limit · mysqld".
    from widgets.memory import badge_state, build_view
    view = build_view(stores[0], 900, now)
    assert badge_state(view, MemoryLevels.from_config(context(stores, now).config)) == ("ok · worker 101: 100 MB",
                                                                                          "badge badge-ok")


def test_memory_rules_have_no_data_without_a_recent_sample(stores):
    now = time.time()
    assert not observe("memory_limit", context(stores, now)).has_data
    stores[0].append(sample(now - 3600))
    for source in ("memory_limit", "host_available", "memory_group"):
        assert not observe(source, context(stores, now), {"group": "php-fpm"}).has_data


def test_host_available_and_swapping(stores):
    now = time.time()
    for index, swap in enumerate([100, 100, 180, 250]):
        stores[0].append(sample(now - 60 + index * 20, available_mb=200, swap_mb=swap))
    assert observe("host_available", context(stores, now)).value == 200
    assert observe("host_swapping", context(stores, now)).value == 150
    assert observe("memory_group", context(stores, now), {"group": "php-fpm"}).value == 300


def test_widget_rules_read_the_failure_memory(stores):
    now = time.time()
    alerts = stores[1]
    assert not observe("widget_stale", context(stores, now)).has_data  # nobody watched: no data, not 0
    alerts.widget_outcome("ongoing_calls", now - 100, None)
    for offset in (90, 60, 30):
        alerts.widget_outcome("activity", now - offset, "database unreachable")
    alerts.widget_outcome("memory", now, "memory store unreachable")  # not a database widget
    stale, failing = observe("widget_stale", context(stores, now)), observe("widget_failing", context(stores, now))
    assert stale.value == 3 and stale.detail == "activity feed (3 failed)"
    assert failing.value == pytest.approx(90, abs=1)
    alerts.widget_outcome("activity", now, None)
    assert observe("widget_stale", context(stores, now)).value == 0


def test_the_query_cache_records_each_widgets_outcome(make_dashboard, seeded_sqlite, tmp_path, seed_clock):
    good = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    DashClient(good.server).call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    services = good.server.extensions[EXTENSION_KEY]
    outcome = services.alerts.store.widget_outcomes()["ongoing_calls"]
    assert outcome["failures"] == 0 and outcome["ok_at"] == services.clock()  # stamped by the app's clock
    seed_clock.advance(1)
    # Nothing listens on port 1: every refresh fails, and is remembered as failed.
    bad = make_dashboard("mysql+pymysql://root@127.0.0.1:1/nothing", MEMORY_SAMPLER=False, STATEMENT_TIMEOUT_MS=500)
    DashClient(bad.server).call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    outcome = bad.server.extensions[EXTENSION_KEY].alerts.store.widget_outcomes()["ongoing_calls"]
    assert outcome["failures"] == 1 and outcome["reason"] == "database unreachable"
    assert outcome["failing_since"] > outcome["ok_at"]  # one store for both apps (one instance folder)


def test_business_hours_parse_and_apply():
    hours = parse_business_hours("Mon-Fri 08:00-18:00; Sat 09:00-13:00")
    assert in_business_hours(hours, datetime(2026, 3, 10, 9, 0))  # a Tuesday
    assert not in_business_hours(hours, datetime(2026, 3, 10, 18, 0))
    assert in_business_hours(hours, datetime(2026, 3, 14, 12, 59)) and not in_business_hours(hours, datetime(2026, 3, 15, 10))
    for bad in ("Mon-Fri 18:00-08:00", "Someday 08:00-18:00", "08:00-18:00"):
        with pytest.raises(ValueError):
            parse_business_hours(bad)


def test_call_rules_are_idle_outside_business_hours(stores):
    # 03:00 UTC on a Sunday: neither rule applies, and neither asks the database (reader=None would fail).
    sunday_night = datetime(2026, 3, 15, 3, 0).timestamp()
    for source in ("calls_drop", "agent_silent"):
        observation = observe(source, context(stores, sunday_night), {"minutes": 30, "min_calls": 3})
        assert observation.idle == "outside business hours"


def test_rules_that_read_the_database_are_held_while_it_is_down(stores):
    memory, alerts = stores
    config = load_config({"ALERT_DATABASE_DOWN_SECONDS": 1.0}, environ={})
    down = [False]
    probe = lambda: "OperationalError" if down[0] else ""
    evaluator = AlertEvaluator(alerts, built_in(config), lambda now: context(stores, now, probe=probe), 0.2, [],
                               where="test", holder="w1")
    evaluator.step()
    states = alerts.states()
    assert states["database_down"].state == OK
    assert states["call_storm"].state == ERROR  # reader=None: it could not be evaluated, and says so
    assert states["memory_limit"].state == NODATA
    held_since = states["call_storm"].since
    down[0] = True
    evaluator.step()
    time.sleep(1.1)
    evaluator.step()
    states = alerts.states()
    assert states["database_down"].state == FIRING
    assert states["call_storm"].since == held_since and states["call_storm"].state == ERROR  # held, not judged
    down[0] = False
    evaluator.step()
    assert alerts.states()["database_down"].state == OK


def test_the_evaluator_thread_runs_from_start(stores):
    memory, alerts = stores
    evaluator = AlertEvaluator(alerts, built_in(load_config(environ={}))[:1], lambda now: context(stores, now), 0.1,
                               [], where="test", holder="w1")
    evaluator.start()
    try:
        deadline = time.monotonic() + 5
        while alerts.leader() != "w1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alerts.leader() == "w1" and evaluator.running and evaluator.started
    finally:
        evaluator.stop()
    assert not evaluator.running


def test_a_rule_stuck_in_error_is_reported_by_the_rule_about_rules(stores):
    memory, alerts = stores
    config = load_config({"ALERT_RULE_ERROR_SECONDS": 0.3, "ALERT_DISABLED_RULES": "calls_drop,agent_silent"},
                         environ={})
    # The rules in force, less the two disabled: they too have no reader here, but are judged in business hours only,
    # so with them the report would read differently by the hour the suite runs.
    evaluator = AlertEvaluator(alerts, load_rules(config), lambda now: context(stores, now), 0.2, [], where="test",
                               holder="w1")
    assert not {"calls_drop", "agent_silent"} & {spec.name for spec in evaluator.specs}
    assert evaluator.specs[-1].name == "rules_failing" and evaluator.specs[0].name == "database_down"
    evaluator.step()
    assert alerts.states()["rules_failing"].state == OK  # call_storm errs (no reader), not yet for long
    time.sleep(0.35)
    events = evaluator.step()
    state = alerts.states()["rules_failing"]
    assert state.state == FIRING and [event.kind for event in events] == ["firing"]
    assert state.episode.detail.startswith("call_storm (could not evaluate:")
