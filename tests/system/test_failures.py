"""A database that goes away: widgets turn stale with a reason, keep their data, and recover."""
from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import make_url

from database.engines import network_timeout_seconds
from tests.support.dash_client import DashClient
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.mariadb


@pytest.fixture
def proxied_dashboard(seeded_mariadb, make_dashboard):
    url = make_url(seeded_mariadb.url)
    with TcpProxy(url.host, url.port or 3306) as proxy:
        app = make_dashboard(url.set(port=proxy.port).render_as_string(hide_password=False),
                             ONGOING_CALLS_POLL_SECONDS=1, STATEMENT_TIMEOUT_MS=2000)
        yield app, proxy


def _poll(client: DashClient, freshness=None) -> dict:
    return client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0},
                       {"ongoing-freshness.data": freshness})


def test_the_widget_goes_stale_while_the_database_is_gone_and_recovers(proxied_dashboard, seed_clock):
    app, proxy = proxied_dashboard
    client = DashClient(app.server)
    good = _poll(client)
    assert len(good["ongoing-grid.rowData"]) == 125
    last_success = good["ongoing-freshness.data"]

    proxy.cut()
    seed_clock.advance(1)  # the next one-second slot: the result is asked of the database again
    for _ in range(3):
        failed = _poll(client, last_success)
        assert "ongoing-grid.rowData" not in failed  # the table keeps its rows
        assert failed["ongoing-freshness.data"]["stale"] is True
        assert failed["ongoing-freshness.data"]["reason"] == "database unreachable"
        assert failed["ongoing-freshness.data"]["ok_at"] == last_success["ok_at"]

    proxy.restore()
    # The failure serves the rest of its slot, and the process tries a new connection once per network
    # timeout of real time (database.engines.ConnectionGate): fresh again in a slot after that, stale with the
    # reason until then.
    deadline = time.monotonic() + network_timeout_seconds(2000) + 2
    seed_clock.advance(1)
    recovered = _poll(client, failed["ongoing-freshness.data"])
    while "ongoing-grid.rowData" not in recovered and time.monotonic() < deadline:
        assert recovered["ongoing-freshness.data"]["reason"] == "database unreachable"
        time.sleep(0.2)
        seed_clock.advance(1)
        recovered = _poll(client, failed["ongoing-freshness.data"])
    assert len(recovered["ongoing-grid.rowData"]) == 125
    assert recovered["ongoing-freshness.data"]["stale"] is False


def test_every_widget_answers_without_a_server_error_while_the_database_is_gone(proxied_dashboard):
    app, proxy = proxied_dashboard
    client = DashClient(app.server)
    proxy.cut()
    filters = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
               "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
    feed = client.call("activity-grid.rowData", {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
                                                 "activity-pager.data": None}, filters)
    stats = client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
    export = client.call("activity-download.data", {"activity-export.n_clicks": 1}, filters)
    assert feed["activity-freshness.data"]["stale"] and stats["stats-freshness.data"]["stale"]
    assert export["activity-notice.children"] == "Not exported: database unreachable"
