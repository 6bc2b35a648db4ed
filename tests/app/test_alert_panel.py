"""The alerts panel, the header indicator, muting and /metrics over HTTP, as ops and admins."""
from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.state import Episode, RuleState
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, add_users

PANEL = {"alerts-interval.n_intervals": 1, "refresh-signal.data": 0, "alerts-mute-status.children": ""}


@pytest.fixture
def secured_app(tmp_path, make_dashboard, seeded_sqlite):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, METRICS_TOKEN="scrape")
    alerts = app.server.extensions[EXTENSION_KEY].alerts
    now = time.time()
    episode = Episode(id="call_storm@1", rule="call_storm", started_at=now - 60, breached_at=now - 120, peak=260,
                      value=240, threshold=200, detail="mariadb db1")
    assert alerts.store.try_lead("test", 30)
    record = {"id": episode.id, "rule": "call_storm", "title": "ongoing calls above the ceiling",
              "started_at": episode.started_at, "breached_at": episode.breached_at, "ended_at": None, "peak": 260,
              "value": 240, "threshold": 200, "unit": " ongoing calls", "detail": "", "direction": "above",
              "muted": False}
    outbox = [{"id": "call_storm@1:firing#k", "episode": episode.id, "rule": "call_storm", "kind": "firing",
               "label": "mailto://oncall@example.com", "status": "sent", "due_at": None}]
    assert alerts.store.commit("test", {"call_storm": RuleState("firing", now - 60, now - 120, value=240,
                                                                episode=episode)}, [record], outbox)
    return app


def test_ops_see_what_fires_the_history_and_who_was_notified(secured_app):
    client = DashClient(secured_app.server, login=("olga", PASSWORD))
    answer = client.call("alerts-badge.children", PANEL)
    assert answer["alerts-badge.children"] == "1 firing · ongoing calls above the ceiling"
    assert answer["alerts-header.children"].startswith("Alert: 1 firing")
    text = str(answer["alerts-history.children"]) + str(answer["alerts-now.children"])
    assert "mailto://oncall@example.com" in text and "260 ongoing calls" in text and "open" in text


def test_muting_is_validated_and_recorded_with_who(secured_app):
    client = DashClient(secured_app.server, login=("ada", PASSWORD))
    mute = lambda rule, period: client.call("alerts-mute-status.children", {"alerts-mute-button.n_clicks": 1},
                                            {"alerts-mute-rule.value": rule, "alerts-mute-for.value": period})
    assert mute("no_such_rule", "1h")["alerts-mute-status.children"] == "Choose a rule to mute."
    assert mute("call_storm", "forever")["alerts-mute-status.children"].startswith("Choose how long")
    assert mute(["call_storm"], {"x": 1})["alerts-mute-status.children"] == "Choose a rule to mute."
    assert mute("call_storm", "4h")["alerts-mute-status.children"] == \
        "ongoing calls above the ceiling: muted for 4h by ada."
    muted = secured_app.server.extensions[EXTENSION_KEY].alerts.store.mutes()["call_storm"]
    assert muted["by"] == "ada" and muted["until"] - secured_app.server.extensions[EXTENSION_KEY].clock() == 4 * 3600
    assert "muted until" in str(client.call("alerts-badge.children", PANEL)["alerts-now.children"])
    assert mute("call_storm", "unmute")["alerts-mute-status.children"].endswith("notifications on again.")


def test_support_can_neither_see_nor_mute_alerts(secured_app):
    admin = DashClient(secured_app.server, login=("ada", PASSWORD))
    support = DashClient(secured_app.server, login=("sam", PASSWORD))
    payload = admin.payload("alerts-mute-status.children", {"alerts-mute-button.n_clicks": 1},
                            {"alerts-mute-rule.value": "call_storm", "alerts-mute-for.value": "24h"})
    assert support.post(payload).status_code == 403
    assert "call_storm" not in secured_app.server.extensions[EXTENSION_KEY].alerts.store.mutes()


def test_metrics_export_each_rules_state(secured_app):
    response = secured_app.server.test_client().get("/metrics", headers={"Authorization": "Bearer scrape"})
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    states = {sample.labels["rule"]: sample.value for sample in families["switchboard_alert_state"].samples}
    assert states["call_storm"] == 1 and states["database_down"] == 0 and "memory_warning" not in states
