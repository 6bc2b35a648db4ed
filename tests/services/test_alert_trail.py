"""Muting leaves a trail: every mute, re-mute and unmute appended with who, when, what and until.

The attack: ops mutes a rule for 24 h, an admin re-mutes it for 15 m, and ops unmutes it. A store that keeps only
the current mute loses the "by ops" record at the re-mute and every record at the unmute, and none of the three
leaves a log line. Here the same three changes are made through the page, on the SQLite store and on Redis: the
trail holds all three, each with the mute it replaced, the panel shows them, and the log has one line each.
"""
from __future__ import annotations

import logging
import threading
import time

import pytest

from alerts.store import RedisAlertStore, SqliteAlertStore
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, add_users

PANEL = {"alerts-interval.n_intervals": 1, "refresh-signal.data": 0, "alerts-mute-status.children": ""}


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request):
    if request.param == "redis":
        return request.getfixturevalue("redis_settings")[0]
    return {}


@pytest.fixture
def app(tmp_path, make_dashboard, seeded_sqlite, backend):
    add_users(tmp_path)
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, **backend)


def mute(client: DashClient, rule: str, period: str) -> str:
    answer = client.call("alerts-mute-status.children", {"alerts-mute-button.n_clicks": 1},
                         {"alerts-mute-rule.value": rule, "alerts-mute-for.value": period})
    return answer["alerts-mute-status.children"]


def test_mute_re_mute_and_unmute_each_leave_a_record_a_log_line_and_a_row_in_the_panel(app, caplog, seed_clock):
    ops = DashClient(app.server, login=("olga", PASSWORD))
    admin = DashClient(app.server, login=("ada", PASSWORD))
    store = app.server.extensions[EXTENSION_KEY].alerts.store
    with caplog.at_level(logging.INFO, logger="switchboard.alerts"):
        assert mute(ops, "call_storm", "24h").endswith("muted for 24h by olga.")
        seed_clock.advance(60)
        assert mute(admin, "call_storm", "15m").endswith("muted for 15m by ada.")
        seed_clock.advance(60)
        assert mute(ops, "call_storm", "unmute").endswith("notifications on again.")
    start = seed_clock() - 120
    changes = store.mute_changes()
    assert [(c["action"], c["by"], c["at"] - start, c["until"] and c["until"] - start) for c in changes] == [
        ("unmute", "olga", 120, None), ("mute", "ada", 60, 60 + 15 * 60), ("mute", "olga", 0, 24 * 3600)]
    assert changes[0]["replaced"]["by"] == "ada" and changes[1]["replaced"]["by"] == "olga"
    assert changes[2]["replaced"] is None
    assert "call_storm" not in store.mutes()
    lines = [record.getMessage() for record in caplog.records if record.name == "switchboard.alerts"]
    assert len(lines) == 3 and ["olga" in lines[0], "ada" in lines[1], "unmuted by olga" in lines[2]] == [True] * 3
    history = str(ops.call("alerts-badge.children", PANEL)["alerts-history.children"])
    for words in ("Mute changes", "unmuted (muted by ada)", "muted again (was by olga)", "olga", "ada"):
        assert words in history, words


def test_changes_at_once_from_two_workers_are_all_kept(app, backend, tmp_path):
    """Two stores (two workers) mute the same rule at once: every change is in the trail, none replaced."""
    first = app.server.extensions[EXTENSION_KEY].alerts.store
    second = (RedisAlertStore(backend["CACHE_REDIS_URL"], backend["CACHE_KEY_PREFIX"]) if backend
              else SqliteAlertStore(first.path))
    now = time.time()

    def mute_many(store, who):
        for n in range(20):
            store.mute("call_storm", now + 60 + n, who, now + n)

    workers = [threading.Thread(target=mute_many, args=(store, who)) for store, who in ((first, "a"), (second, "b"))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    changes = first.mute_changes(100)
    assert sorted(c["by"] for c in changes) == ["a"] * 20 + ["b"] * 20
    # Each change replaced exactly the one before it: the chain of "replaced" has no gap.
    assert sum(c["replaced"] is None for c in changes) == 1
    second.close()
