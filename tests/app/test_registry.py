"""One registry of widgets: a new widget is its widget module, its query module and its setting, nothing else.

A throwaway widget from a fixture module (tests/support/throwaway_widget.py) is handed to `create_app`
beside the registered ones; it must then be on its roles' pages and no other, in the role table, behind the
access check of its callback, in `verify` and in `/metrics`, with no production file knowing it.
"""
from __future__ import annotations

import json

import pytest

from access.pages import role_areas
from access.roles import ADMIN, OPS, ROLES, SHELL, SUPPORT, WALLBOARD
from queries.plans import Verdict, check_plans
from tests.support.databases import SEED_NOW
from tests.support import throwaway_widget
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, add_users
from widgets import registered
from widgets.registry import WALL
from widgets.shell import component_areas

WIDGETS = (*registered(), throwaway_widget.WIDGET)
POLL = {"throwaway-interval.n_intervals": 1, "refresh-signal.data": 0}


@pytest.fixture
def app_with_throwaway(tmp_path, make_dashboard, seeded_sqlite, seed_clock):
    add_users(tmp_path)
    from app import create_app
    from widgets.services import EXTENSION_KEY

    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False,
                      "METRICS_TOKEN": "scrape"}, instance_path=tmp_path, widgets=WIDGETS, clock=seed_clock)
    services = app.server.extensions[EXTENSION_KEY]
    yield app
    services.shutdown()


def test_every_registered_widget_is_declared_once_with_what_the_page_needs():
    widgets = registered()
    assert [widget.area for widget in widgets] == ["headline", "company_kpis", "ongoing", "activity",
                                                 "call_details", "customer_history", "alerts", "memory",
                                                 "self_cost", "wallboard"]
    assert len({widget.area for widget in widgets}) == len(widgets)
    for widget in widgets:
        # Admins see every panel, the wallboard too: a page of its own, which only the wallboard role lands on.
        assert widget.roles <= set(ROLES) and ADMIN in widget.roles
        assert (WALLBOARD in widget.roles) == (widget.placement == WALL)
        assert widget.freshness is None or widget.status is not None


def test_the_role_table_is_derived_from_the_widgets():
    table = role_areas(registered())
    assert table[SUPPORT] == {SHELL, "company_kpis", "ongoing", "activity", "call_details", "customer_history"}
    # no call details or customer history for ops
    assert table[OPS] == {SHELL, "headline", "alerts", "memory", "self_cost"}
    assert table[ADMIN] == {SHELL, *(widget.area for widget in registered())}
    assert table[WALLBOARD] == {SHELL, "wallboard"}
    assert "throwaway" in role_areas(WIDGETS)[OPS] and "throwaway" not in role_areas(WIDGETS)[SUPPORT]


def test_a_throwaway_widget_is_on_its_roles_pages_and_behind_the_access_check(app_with_throwaway):
    ops = DashClient(app_with_throwaway.server, login=("olga", PASSWORD))
    support = DashClient(app_with_throwaway.server, login=("sam", PASSWORD))
    assert throwaway_widget.PANEL in ops.client.get("/_dash-layout").get_data(as_text=True)
    assert throwaway_widget.PANEL not in support.client.get("/_dash-layout").get_data(as_text=True)
    # Its callback is listed for ops and refused to support, who is never told of it.
    assert any(d["output"].startswith("..throwaway-count.children") for d in ops.dependencies)
    assert not any("throwaway" in d["output"] for d in support.dependencies)
    payload = ops.payload("throwaway-count.children", POLL)
    assert support.post(payload).status_code == 403
    answered = ops.call("throwaway-count.children", POLL)
    expected = throwaway_widget.fetch_calls_last_hour(app_with_throwaway.server.extensions["switchboard"].reader,
                                                      SEED_NOW)
    assert answered["throwaway-count.children"] == f"{expected:,}" and expected > 0
    assert answered["throwaway-freshness.data"]["stale"] is False
    # Its component ids belong to its area, and its freshness line ticks like every widget's.
    assert component_areas(app_with_throwaway.server.extensions["switchboard"].config, WIDGETS)[
        throwaway_widget.COUNT] == "throwaway"


def test_a_throwaway_widget_is_in_metrics_and_the_cost_panel(app_with_throwaway):
    ops = DashClient(app_with_throwaway.server, login=("olga", PASSWORD))
    ops.call("throwaway-count.children", POLL)
    metrics = ops.client.get("/metrics", headers={"Authorization": "Bearer scrape"}).get_data(as_text=True)
    assert f'widget="{throwaway_widget.QUERY_NAME}"' in metrics
    costs = ops.call("self-cost-table.children", {"self-cost-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert throwaway_widget.TITLE in json.dumps(costs)


def test_a_throwaway_widget_is_in_verify(seeded_database):
    engine = seeded_database.reader()
    try:
        rows = check_plans(engine, SEED_NOW, [widget.plan_examples for widget in WIDGETS if widget.plan_examples])
    finally:
        engine.dispose()
    mine = [row for row in rows if row.query == throwaway_widget.TITLE]
    assert mine and all(row.verdict is Verdict.PASS for row in mine), mine


def _intervals(node) -> dict[str, int]:
    """Return the id and period (ms) of every dcc.Interval in a layout's JSON."""
    found = {}
    if isinstance(node, dict):
        if node.get("type") == "Interval" and node.get("namespace") == "dash_core_components":
            found[node["props"]["id"]] = node["props"].get("interval", 1000)
        for value in node.values():
            found.update(_intervals(value))
    elif isinstance(node, list):
        for value in node:
            found.update(_intervals(value))
    return found


def test_no_page_but_the_wall_has_a_one_second_interval(tmp_path, make_dashboard, seeded_sqlite):
    """A Dash interval each second costs an open page a dispatch each second (a phone left open at night); the
    freshness lines age by a timer in the page, and only the wall's clock ticks each second."""
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    for name in ("ada", "sam", "olga"):
        intervals = _intervals(DashClient(app.server, login=(name, PASSWORD)).client.get("/_dash-layout").get_json())
        assert intervals and min(intervals.values()) >= 5_000, (name, intervals)
    wall = _intervals(DashClient(app.server, login=("wally", PASSWORD)).client.get("/wall/_dash-layout").get_json())
    assert sorted(period for period in wall.values() if period < 5_000) == [1_000]
