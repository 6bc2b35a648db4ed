"""Alerts end to end in one process: one evaluator per deployment on both stores (SQLite, Redis), takeover
without a duplicate or a lost resolution, real deliveries to a JSON webhook and an SMTP server, retries with
backoff logged without secrets, mutes, the rules file, and the call rules against brute force."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from alerts.delivery import destinations
from alerts.evaluator import AlertEvaluator
from alerts.probes import Context
from alerts.rules import RuleSpec, RulesFileError, built_in, load_rules
from alerts.state import FIRING, Rule
from alerts.store import RedisAlertStore, SqliteAlertStore
from config import load_config
from queries import alerts as alert_queries
from schema.tables import agents, calls
from tests.support.databases import REDIS_URL, SEED_NOW
from tests.support.receivers import JsonReceiver, SmtpReceiver

PERIOD = 0.2


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def open_store(request, tmp_path, redis_settings_or_none):
    """Return a function opening the store as another worker would: its own connection to the same data."""
    opened = []
    prefix = redis_settings_or_none()[0]["CACHE_KEY_PREFIX"] if request.param == "redis" else ""

    def open_one():
        made = (SqliteAlertStore(tmp_path / "alerts.sqlite3") if request.param == "sqlite"
                else RedisAlertStore(REDIS_URL, prefix))
        opened.append(made)
        return made

    yield open_one
    for made in opened:
        made.close()


@pytest.fixture
def store(open_store):
    return open_store()


@pytest.fixture
def redis_settings_or_none(request):
    def get():
        return request.getfixturevalue("redis_settings")
    return get


class Database:
    """A database the test switches up and down: the probe's answer."""

    def __init__(self):
        self.down = False

    def probe(self) -> str:
        return "OperationalError" if self.down else ""


def evaluator(store, database: Database, urls, holder: str, down_seconds: float = 0.6, **kwargs) -> AlertEvaluator:
    specs = [RuleSpec(Rule("database_down", "database unreachable", threshold=1, for_seconds=down_seconds,
                           resolved_title="database reachable again"), "database")]

    def context(now: float) -> Context:
        return Context(config={"DISPLAY_TIMEZONE": "UTC"}, wall=now, database_now=datetime.utcnow(),
                       probe=database.probe, database_label="mariadb 127.0.0.1:3306/test", reader=None,
                       memory_store=None, alert_store=store, database_queries={})

    return AlertEvaluator(store, specs, context, PERIOD, destinations(urls), where="Switchboard on test",
                          holder=holder, **kwargs)


def run_for(seconds: float, *evaluators: AlertEvaluator, alive=None) -> None:
    """Step every evaluator still alive once a period, delivering what is due, for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for each in evaluators:
            if alive is None or each in alive:
                each.step()
                if each.is_leader:
                    each.delivery.deliver_due()
        time.sleep(PERIOD)


def kinds(messages) -> list[str]:
    return [m["title"].split(":")[0].split()[-1] for m in messages]


def test_two_workers_deliver_one_firing_and_one_resolution(store, open_store):
    database = Database()
    with JsonReceiver() as hook:
        first, second = (evaluator(open_store(), database, [hook.apprise_url], holder) for holder in ("w1", "w2"))
        run_for(0.6, first, second)
        # Read right after a step: the lease lasts 1.5 periods, which a busy machine's pause can outlast.
        first.step(), second.step()
        assert [first.is_leader, second.is_leader].count(True) == 1 and store.leader() in {"w1", "w2"}
        database.down = True
        run_for(1.6, first, second)
        assert store.states()["database_down"].state == FIRING
        database.down = False
        run_for(0.8, first, second)
        messages = hook.wait_for(2, 5)
    assert kinds(messages) == ["FIRING", "RESOLVED"]
    firing, resolved = messages
    assert "database unreachable" in firing["title"] and "mariadb 127.0.0.1:3306/test" in firing["message"]
    assert "Since:" in firing["message"] and "Dashboard: /" in firing["message"]
    assert "SELECT 1 failed (OperationalError)" in firing["message"]
    assert "Value: unreachable for " in firing["message"] and "(threshold 0.6 s)" in firing["message"]
    assert "database reachable again" in resolved["title"]
    (episode,) = store.episodes()
    assert episode["ended_at"] is not None
    sent = [entry for entry in store.outbox() if entry["status"] == "sent"]
    assert sorted(entry["kind"] for entry in sent) == ["firing", "resolved"]


def test_a_send_that_outlasts_the_lease_is_recorded_sent_and_not_sent_again(store, open_store):
    """A busy machine pauses the leader mid-send past its lease: the delivery happened, so it is recorded, and
    the evaluator that leads next does not send it a second time."""
    database = Database()
    other = open_store()
    sent = []

    def slow_send(url: str, title: str, body: str) -> bool:
        sent.append(title)
        if len(sent) == 1:  # the lease lapses while this send runs, and w2 takes it
            assert store.try_lead(first.holder, 0.001)
            time.sleep(0.01)
            assert other.try_lead("w2", 60)
        return True

    with JsonReceiver() as hook:
        first = evaluator(store, database, [hook.apprise_url], "w1", sender=slow_send)
        database.down = True
        deadline = time.monotonic() + 5
        while not store.due(time.time()) and time.monotonic() < deadline:
            first.step()
            time.sleep(PERIOD)
        assert first.is_leader
        # Its lease renewed for long: a busy machine's pause before the send must not end it (the send does).
        assert store.try_lead(first.holder, 60)
        assert first.delivery.deliver_due() == 1
    assert len(sent) == 1 and "database unreachable" in sent[0]
    (entry,) = store.outbox()
    assert entry["status"] == "sent" and store.due(time.time() + 3600) == []
    second = evaluator(other, database, [], "w2", sender=slow_send)
    assert second.delivery.deliver_due() == 0 and len(sent) == 1


def test_a_cut_shorter_than_the_duration_delivers_nothing(store):
    database = Database()
    with JsonReceiver() as hook:
        only = evaluator(store, database, [hook.apprise_url], "w1", down_seconds=1.0)
        run_for(0.4, only)
        database.down = True
        run_for(0.6, only)
        database.down = False
        run_for(0.6, only)
        assert hook.wait_for(1, 0.5) == []
    assert store.episodes() == []


def test_the_evaluator_dies_mid_episode_and_another_resolves_it_without_a_duplicate(store, open_store):
    database = Database()
    with JsonReceiver() as hook:
        first, second = (evaluator(open_store(), database, [hook.apprise_url], holder) for holder in ("w1", "w2"))
        first.step()  # w1 leads
        assert first.is_leader
        database.down = True
        run_for(1.4, first, second)
        assert hook.wait_for(1, 3) and kinds(hook.messages) == ["FIRING"]
        leader = first if first.is_leader else second
        survivor = second if leader is first else first
        started, steps = time.monotonic(), 0
        # The leader dies: it steps no more. The survivor takes over within two of its periods: counted in its
        # steps (each at least a period apart), which a busy machine makes later, never more numerous.
        while not survivor.is_leader and time.monotonic() - started < 10:
            run_for(PERIOD, survivor)
            steps += 1
        assert survivor.is_leader and steps <= 3, steps
        run_for(0.6, survivor)  # still down: no second firing
        database.down = False
        run_for(0.6, survivor)
        messages = hook.wait_for(2, 5)
    assert kinds(messages) == ["FIRING", "RESOLVED"]
    assert len(store.episodes()) == 1


def test_a_worker_that_lost_the_lease_writes_nothing(store):
    database = Database()
    stalled = evaluator(store, database, [], "w1")
    stalled.step()
    time.sleep(1.5 * PERIOD + 0.1)
    assert evaluator(store, database, [], "w2").step() == [] and store.leader() == "w2"
    assert not store.commit("w1", {}, [], [{"id": "x", "episode": "e", "due_at": 0}])
    assert store.due(time.time() + 10) == []


def test_a_failing_destination_is_retried_with_backoff_and_logged_without_secrets(tmp_path, caplog):
    store = SqliteAlertStore(tmp_path / "alerts.sqlite3")
    database = Database()
    now = [1_000_000.0]
    with JsonReceiver() as hook:
        secret_url = hook.apprise_url.replace("json://", "json://alice:s3cretpw@")
        only = evaluator(store, database, [secret_url], "w1", down_seconds=0, clock=lambda: now[0])
        hook.fail_next(2)
        database.down = True
        with caplog.at_level(logging.INFO, logger="switchboard.alerts"):
            only.step()
            assert only.delivery.deliver_due() == 0  # refused: retried in 5 s
            assert only.delivery.deliver_due() == 0  # not due yet
            now[0] += 5
            assert only.delivery.deliver_due() == 0  # refused again: retried in 10 s
            now[0] += 9
            assert only.delivery.deliver_due() == 0
            now[0] += 1
            assert only.delivery.deliver_due() == 1
    assert hook.refused == 2 and kinds(hook.messages) == ["FIRING"]
    assert "s3cretpw" not in caplog.text and "retrying in 10 s" in caplog.text
    (entry,) = store.outbox()
    assert entry["attempts"] == 3 and entry["status"] == "sent" and "s3cretpw" not in entry["label"]
    store.close()


def test_email_is_delivered_through_a_real_smtp_server(tmp_path):
    store = SqliteAlertStore(tmp_path / "alerts.sqlite3")
    database = Database()
    with SmtpReceiver() as mail:
        only = evaluator(store, database, [mail.apprise_url], "w1", down_seconds=0)
        database.down = True
        only.step()
        only.delivery.deliver_due()
        database.down = False
        only.step()
        only.delivery.deliver_due()
        messages = mail.wait_for(2, 5)
    assert [m["Subject"] for m in messages] == ["[Switchboard] FIRING: database unreachable",
                                                "[Switchboard] RESOLVED: database reachable again"]
    assert messages[0]["To"] == "oncall@example.com"
    store.close()


def test_a_muted_rule_notifies_neither_start_nor_end(store):
    database = Database()
    with JsonReceiver() as hook:
        only = evaluator(store, database, [hook.apprise_url], "w1", down_seconds=0)
        store.mute("database_down", time.time() + 60, by="olga", at=time.time())
        database.down = True
        run_for(0.3, only)
        store.unmute("database_down")
        database.down = False
        run_for(0.3, only)
        assert hook.wait_for(1, 0.5) == []
    assert {entry["status"] for entry in store.outbox()} == {"muted"}
    assert store.episodes()[0]["muted"] is True


def test_the_rules_file_overrides_and_adds_rules(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[rules.call_storm]\nthreshold = 350\nfor_seconds = 120\n\n'
                    '[rules.php_fpm_heavy]\nsource = "memory_group"\ngroup = "php-fpm"\ntitle = "php-fpm over 1 GB"\n'
                    'threshold = 1024\nfor_seconds = 300\n\n[rules.agent_silent]\nenabled = false\n')
    specs = {spec.name: spec for spec in load_rules(load_config({"ALERT_RULES_FILE": str(path)}, environ={}))}
    assert specs["call_storm"].rule.threshold == 350 and specs["call_storm"].rule.for_seconds == 120
    assert specs["php_fpm_heavy"].params == {"group": "php-fpm"} and specs["php_fpm_heavy"].rule.title == "php-fpm over 1 GB"
    assert "agent_silent" not in specs and "memory_warning" not in specs  # off by default (ALERT_DISABLED_RULES)
    assert "database_down" in specs


@pytest.mark.parametrize("text, message", [
    ("[rules.call_storm]\nthreshhold = 3\n", "unknown keys"),
    ("[rules.mine]\nthreshold = 3\n", "needs a threshold and a source"),
    ("[rules.mine]\nsource = \"memory_group\"\nthreshold = 3\n", "needs group"),
    ("[rules.call_storm]\nclear = 1000\n", "clear level"),
    ("[rules.call_storm\n", "Expected"),
    ("threshold = 3\n", "only \\[rules"),
])
def test_a_bad_rules_file_is_refused_naming_the_rule_and_the_fault(tmp_path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesFileError, match=message):
        load_rules(load_config({"ALERT_RULES_FILE": str(path)}, environ={}))


def test_every_built_in_rule_is_tuned_by_its_setting():
    config = load_config({"ALERT_DATABASE_DOWN_SECONDS": 7.0, "ALERT_ONGOING_CALLS_MAX": 42,
                          "ALERT_WIDGET_STALE_POLLS": 3}, environ={})
    specs = {spec.name: spec for spec in built_in(config)}
    assert specs["database_down"].rule.for_seconds == 7.0 and specs["call_storm"].rule.threshold == 42
    assert specs["widget_stale"].rule.threshold == 3
    assert {spec.rule.repeat_seconds for spec in specs.values()} == {0}  # reminders off by default
    reminding = built_in(load_config({"ALERT_REPEAT_SECONDS": 3600.0}, environ={}))
    assert {spec.rule.repeat_seconds for spec in reminding} == {3600}
    assert load_config(environ={})["ALERT_DATABASE_DOWN_SECONDS"] == 60


# The call rules against brute force over every seeded call.

def _all_calls(engine):
    with engine.connect() as connection:
        columns = [calls.c.id, calls.c.agent_id, calls.c.created_at, calls.c.status, calls.c.call_status]
        rows = connection.execute(sa.select(*columns)).all()
        known_agents = {row.id: row.name for row in connection.execute(sa.select(agents.c.id, agents.c.name))}
    return rows, known_agents


MOMENTS = [SEED_NOW, SEED_NOW - timedelta(hours=3, minutes=17), SEED_NOW - timedelta(days=2, hours=5)]


@pytest.mark.parametrize("now", MOMENTS)
def test_week_over_week_counts_match_brute_force(reader, now):
    rows, _ = _all_calls(reader)
    hour, week = timedelta(hours=1), timedelta(days=7)
    expected = (sum(now - hour <= r.created_at < now for r in rows),
                sum(now - week - hour <= r.created_at < now - week for r in rows))
    found = alert_queries.week_over_week(reader, now)
    assert (found.last_hour, found.week_before) == expected


@pytest.mark.parametrize("now", MOMENTS)
@pytest.mark.parametrize("minutes, min_calls", [(60, 0.15), (240, 0.3), (720, 0.5)])
def test_silent_agents_match_brute_force(reader, now, minutes, min_calls):
    rows, known_agents = _all_calls(reader)
    window = timedelta(minutes=minutes)
    expected = set()
    for agent in {r.agent_id for r in rows if r.agent_id is not None}:
        mine = [r.created_at for r in rows if r.agent_id == agent]
        recent = sum(now - window <= at < now for at in mine)
        before = sum(now - timedelta(days=d) - window <= at < now - timedelta(days=d) for d in range(1, 8) for at in mine)
        if recent == 0 and before >= min_calls * 7 and agent in known_agents:
            expected.add((agent, before))
    found = {(agent.agent_id, agent.baseline_calls) for agent in alert_queries.silent_agents(reader, now, minutes, min_calls)}
    assert found == expected


def test_some_seeded_moment_has_silent_agents(reader):
    # The brute-force comparisons above must not all be of empty sets.
    assert any(alert_queries.silent_agents(reader, now, minutes, min_calls)
               for now in MOMENTS for minutes, min_calls in [(60, 0.15), (240, 0.3), (720, 0.5)])


def test_ongoing_count_matches_brute_force(reader):
    rows, _ = _all_calls(reader)
    ongoing = {"ongoing", "in_progress"}
    expected = sum(r.status in ongoing and r.call_status in ongoing and r.created_at >= SEED_NOW - timedelta(hours=2)
                   for r in rows)
    assert alert_queries.count_ongoing(reader, SEED_NOW) == expected > 0


def test_the_history_keeps_the_newest_episodes_and_their_outbox_only(store, monkeypatch):
    import alerts.store as module

    monkeypatch.setattr(module, "HISTORY_KEPT", 3)
    assert store.try_lead("w1", 30)
    for index in range(5):
        episode = {"id": f"r@{index}", "rule": "r", "started_at": 1000.0 + index}
        entry = {"id": f"r@{index}:firing#k", "episode": episode["id"], "kind": "firing", "status": "pending",
                 "due_at": 5000.0 + index}
        assert store.commit("w1", {}, [episode], [entry])
    assert [episode["id"] for episode in store.episodes()] == ["r@4", "r@3", "r@2"]
    assert sorted(entry["episode"] for entry in store.outbox()) == ["r@2", "r@3", "r@4"]
    assert [entry["id"] for entry in store.outbox(["r@3", "r@0"])] == ["r@3:firing#k"]
    assert [entry["episode"] for entry in store.due(10_000)] == ["r@2", "r@3", "r@4"]


def test_widget_outcomes_count_failures_in_a_row_on_both_stores(store):
    store.widget_outcome("ongoing_calls", 100.0, None)
    for at in (110.0, 120.0, 130.0):
        store.widget_outcome("ongoing_calls", at, "database unreachable")
    store.widget_outcome("activity", 125.0, None)
    outcomes = store.widget_outcomes()
    assert outcomes["ongoing_calls"] == {"ok_at": 100.0, "failed_at": 130.0, "failing_since": 110.0, "failures": 3,
                                         "reason": "database unreachable"}
    assert outcomes["activity"] == {"ok_at": 125.0, "failures": 0, "reason": ""}
    store.widget_outcome("ongoing_calls", 140.0, None)
    assert store.widget_outcomes()["ongoing_calls"] == {"ok_at": 140.0, "failed_at": 130.0, "failures": 0,
                                                        "reason": ""}
