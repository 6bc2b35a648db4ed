"""The master's warm-up before forking: every initial callback answers, nothing it did is counted or left open,
and no request from outside can pass for it."""
from __future__ import annotations

import json
import os
import re
import threading
import urllib.request

import pytest

from access.roles import WARM_UP_ENVIRON_KEY, WARM_UP_MARK
from serving import warm_up
from widgets.services import EXTENSION_KEY
from tests.support.users import PASSWORD, add_users
from tests.support.dash_client import DashClient
from tests.support.gunicorn import free_port, running_gunicorn

METRICS_TOKEN = "warm-up-test-token"
ONGOING_INPUTS = {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}


def initial_server_callbacks(server) -> int:
    """Count the callbacks an admin's page fires when it opens (the warm-up fires each of them per round)."""
    client = DashClient(server, login=("ada", PASSWORD))
    return len(list(warm_up.initial_callbacks(client.dependencies)))


def test_the_warm_up_fires_every_initial_callback_even_with_users_and_leaves_no_trace(
        seeded_sqlite, tmp_path, make_dashboard):
    add_users(tmp_path)
    expected = initial_server_callbacks(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False).server)
    assert expected >= 6  # the five data widgets, the company list and the URL sync
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=True)
    services = app.server.extensions[EXTENSION_KEY]

    line = warm_up.warm_up_before_fork(app.server, services)

    assert line.startswith(f"warmed the app before forking: {expected * warm_up.ROUNDS} callback answers"), line
    # Nothing the warm-up did is counted: a forked worker's counters start at zero.
    assert services.costs.totals() == {}
    assert services.responses.totals() == {}
    assert services.queries.counters == {}
    # No connection is left open to be shared with the workers, and the sampler thread never started here.
    assert services.reader.pool.checkedin() == 0 and services.reader.pool.checkedout() == 0
    assert not services.sampler.running
    assert not any(thread.name == "cache-prefetch" for thread in threading.enumerate())


def test_the_warm_up_warms_the_cache_it_fills_with_an_admin_s_results(seeded_sqlite, tmp_path, make_dashboard):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    services = app.server.extensions[EXTENSION_KEY]
    admin = DashClient(app.server, login=("ada", PASSWORD))
    warm_up.warm_up(app.server)
    services.forget_measurements()
    admin.call("ongoing-grid.rowData", ONGOING_INPUTS)
    # An admin's first poll in the same slot is a hit: the warm-up's result is one an admin may see.
    assert services.queries.counters["ongoing_calls"].totals() == (1, 0)


def test_the_warm_up_compresses_every_file_of_the_page_once_for_the_workers(seeded_sqlite, tmp_path, make_dashboard):
    from serving.static_assets import COMPRESSED_KEY, FAST, file_key, page_file_urls

    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    warm_up.warm_up(app.server)
    compressed = app.server.extensions[COMPRESSED_KEY]
    client = app.server.test_client()
    client.environ_base.update({WARM_UP_ENVIRON_KEY: WARM_UP_MARK})
    urls = page_file_urls(client.get("/").get_data(as_text=True))
    large = [url for url in urls if len(client.get(url).get_data()) >= 1024]
    assert any("plotly-basic" in url for url in large) and any("dash_ag_grid" in url for url in large)
    # Each file's fast variants are kept for the workers at once; the best are made in the background.
    fast = {(key, encoding.removesuffix(FAST)) for key, encoding in compressed.kept}
    assert all((file_key(url), encoding) in fast or compressed.holds(url, encoding)
               for url in large for encoding in ("br", "gzip"))
    assert compressed.background.wait(600)
    assert all(compressed.holds(url, encoding) for url in large for encoding in ("br", "gzip"))


@pytest.mark.parametrize("claim", [
    {"headers": {"Switchboard-Warm-Up": "1"}},
    {"environ_base": {WARM_UP_ENVIRON_KEY: "1"}},  # what a WSGI server could at most pass on: text
    {"environ_base": {WARM_UP_ENVIRON_KEY: repr(WARM_UP_MARK)}},
])
def test_no_request_from_outside_passes_for_the_warm_up(seeded_sqlite, tmp_path, make_dashboard, claim):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    client = app.server.test_client()
    payload = DashClient(app.server, login=("ada", PASSWORD)).payload("ongoing-grid.rowData", ONGOING_INPUTS)
    update = client.post("/_dash-update-component", data=json.dumps(payload), content_type="application/json",
                         **claim)
    assert update.status_code == 401
    assert client.get("/", **claim).status_code == 302
    assert client.get("/_dash-dependencies", **claim).status_code == 401


def _metrics(port: int) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def test_gunicorn_warms_in_the_master_and_its_workers_count_from_zero(seeded_sqlite, tmp_path, make_dashboard):
    add_users(tmp_path)
    expected = initial_server_callbacks(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False).server)
    port = free_port()
    environment = {**os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "SWITCHBOARD_WORKERS": "2",
                   "DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": "false", "METRICS_TOKEN": METRICS_TOKEN,
                   "SECRET_KEY": "warm-up-test-secret-key-0123456789",
                   "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}"}
    environment.pop("CACHE_REDIS_URL", None)
    environment.pop("PHONE_REGION", None)
    with running_gunicorn(environment, port, workers=2) as server:
        # Each worker's counters start at zero: whichever worker answered, no refresh is counted yet.
        refreshes = [line for line in _metrics(port).splitlines()
                     if line.startswith("switchboard_widget_refreshes_total{") and not line.endswith(" 0.0")]
        assert refreshes == []
    warmed = re.search(r"warmed the app before forking: (\d+) callback answers", server.errors)
    assert warmed is not None, server.errors[-3000:]
    assert int(warmed.group(1)) == expected * warm_up.ROUNDS
    # The seeded numbers are all German and PHONE_REGION is unset: the master says so, once.
    assert server.errors.count("PHONE_REGION is not set, and the stored numbers sampled are all from DE") == 1
