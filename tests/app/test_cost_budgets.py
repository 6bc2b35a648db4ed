"""The cost panel holds each widget to the budget of its design: the feed's shared newest rows may be
ACTIVITY_RECENT_ROWS and the one look-ahead row, a customer's history its three statements, the headline
its dozen index ranges; the rest the default. Refreshing every panel on the seeded database shows no figure over
its budget (but for database time and memory, which depend on the machine, not the design)."""
from __future__ import annotations

import pytest

from config import load_config
from monitoring.costs import DEFAULT_BUDGET, HEADLINE_DB_MS, ResponseLog, widget_budgets, widget_costs
from monitoring.instrumentation import CostLog, measure_refresh
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from widgets import self_cost

DESIGN_COLUMNS = ("statements / refresh", "rows / refresh", "bytes from DB / refresh", "bytes to browser / response")


def _over(query: str, statements: int = 1, rows: int = 10, db_ms: float = 5.0, **settings) -> list[str]:
    log = CostLog()
    with measure_refresh(query, log) as cost:
        cost.statements += ["SELECT 1"] * statements
        cost.rows, cost.db_ms = rows, db_ms
    (row,) = widget_costs({query: query}, log, {}, ResponseLog(),
                          budgets=widget_budgets(load_config(settings, environ={})))
    return [column.heading for column, over in zip(self_cost.COLUMNS, self_cost.over_budget(row))
            if over and column.heading != "memory added / refresh"]


@pytest.mark.parametrize("query, figures, over", [
    ("activity_recent", {"rows": 2001}, []),  # the cap and its look-ahead row
    ("activity_recent", {"rows": 2002}, ["rows / refresh"]),
    ("activity_recent", {"rows": 501, "ACTIVITY_RECENT_ROWS": "500"}, []),
    ("activity_recent", {"rows": 502, "ACTIVITY_RECENT_ROWS": "500"}, ["rows / refresh"]),
    ("activity", {"rows": 2001}, ["rows / refresh"]),  # only the shared rows have the look-ahead allowance
    ("customer_history", {"statements": 3}, []),
    ("customer_history", {"statements": 4}, ["statements / refresh"]),
    ("company_kpis", {"statements": 3}, ["statements / refresh"]),
    ("headline_stats", {"db_ms": 180.0}, []),
    ("headline_stats", {"db_ms": HEADLINE_DB_MS + 1.0}, ["DB ms / refresh"]),
    ("company_kpis", {"db_ms": 180.0}, ["DB ms / refresh"]),
])
def test_each_widget_is_held_to_its_own_budget(query, figures, over):
    assert _over(query, **figures) == over


def test_the_budgets_say_why_they_differ():
    meanings = " ".join(column.budget_text for column in self_cost.COLUMNS)
    assert "ACTIVITY_RECENT_ROWS + 1" in meanings and "customer history ≤ 3" in meanings
    assert f"headline stats ≤ {HEADLINE_DB_MS} ms" in meanings
    assert widget_budgets(load_config({}, environ={}))["activity_recent"].rows == 2001
    assert DEFAULT_BUDGET.statements == 2 and DEFAULT_BUDGET.rows == 2000


def test_every_panel_refreshed_on_the_seeded_data_is_within_its_design_budget(seeded_sqlite, make_dashboard):
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    client = DashClient(app.server)
    client.call("activity-grid.rowData", {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
                                          "activity-pager.data": None},
                {"activity-kind.value": None, "activity-status.value": ["missed"], "activity-direction.value": None,
                 "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""})
    client.call("customer-panel.hidden", {"url.search": "?customer=1", "customer-pager.data": None,
                                          "refresh-signal.data": 0}, {"customer-freshness.data": None})
    client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
    client.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})
    services = app.server.extensions[EXTENSION_KEY]
    costs = {cost.widget: cost for cost in widget_costs(services.widget_names, services.costs, {}, services.responses,
                                                        budgets=widget_budgets(services.config)) if cost.refreshes}
    titles = services.widget_names
    recent, history = costs[titles["activity_recent"]], costs[titles["customer_history"]]
    assert recent.rows_per_refresh == 2001 and history.statements_per_refresh == 3  # what the design reads
    assert {titles[name] for name in ("headline_stats", "company_kpis")} <= set(costs)
    over = {(cost.widget, column.heading) for cost in costs.values()
            for column, is_over in zip(self_cost.COLUMNS, self_cost.over_budget(cost))
            if is_over and column.heading in DESIGN_COLUMNS}
    assert over == set()


def test_a_widget_response_is_logged_uncompressed_and_as_sent_and_the_note_stays_on_the_server(seeded_app):
    # The raw size is noted before Dash's compression and the sent size measured after every other handler: a
    # compressed answer logs fewer bytes sent than built, the very bytes the browser got, and never the note.
    from monitoring.costs import RAW_LENGTH_HEADER

    services = seeded_app.server.extensions[EXTENSION_KEY]
    services.responses.clear()
    client = DashClient(seeded_app.server)
    payload = client.payload("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})
    response = client.post(payload, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers.get("Content-Encoding") == "gzip"
    assert RAW_LENGTH_HEADER not in response.headers
    ((_, raw, sent),) = services.responses.recent("company_kpis", seconds=float("inf"))
    assert sent == len(response.get_data()) < raw
