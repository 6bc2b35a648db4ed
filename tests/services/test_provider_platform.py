"""Switchboard on an AI phone-agent platform's own database (tests/support/provider_platform.py), through the
schema map `inspect` proposes for it, unedited: every panel answers with data, the ongoing count is the plain
SQL count over the mapped statuses, `migrate --sql`, `migrate` and `verify` succeed, and `migrate` then
`rollback` leave every index as the platform had it."""
from __future__ import annotations

import json

import pytest

from queries.ongoing_calls import ONGOING_WINDOW
from queries.plans import unplaced_statuses
from queries.schema_map import parse_schema_map
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.databases import SEED_NOW, plain_sql
from tests.support.provider_platform import PAYLOAD_COLUMNS, provider_platform_database

pytestmark = pytest.mark.mariadb

ACTIVITY_FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
                    "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
ACTIVITY_INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0, "activity-pager.data": None}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with provider_platform_database(tmp_path_factory.mktemp("provider")) as database:
        yield database


@pytest.fixture
def mapped(platform, cli_on, monkeypatch, tmp_path):
    """The map `inspect` proposes, unedited, as SCHEMA_MAP_FILE; and a runner of commands with it."""
    run = cli_on(platform.url)
    proposed = run("inspect")
    assert proposed.exit_code == 0, proposed.output
    path = tmp_path / "schema-map.toml"
    path.write_text(proposed.output)
    monkeypatch.setenv("SCHEMA_MAP_FILE", str(path))
    return run, path, parse_schema_map(proposed.output)


def show_index(url: str) -> list[tuple]:
    rows = []
    for table in ("calls", "appointments", "customers", "companies", "services"):
        # Everything SHOW INDEX says of an index but its statistics (Cardinality), which a rebuild refreshes.
        rows += [tuple(value for key, value in row._mapping.items() if key != "Cardinality")
                 for row in plain_sql(url, f"SHOW INDEX FROM `{table}`")]
    return sorted(rows, key=repr)


def test_inspect_proposes_a_map_that_names_the_platforms_own_columns(mapped):
    _, path, schema = mapped
    text = path.read_text()
    assert 'name = { concat = ["first_name", "last_name"] }' in text
    assert 'start_timestamp = "call_time"' in text and 'duration_sec = "duration"' in text
    assert 'agent_name = "agent_id"' in text and "table agents (optional)" in text
    assert set(schema.payload) == set(PAYLOAD_COLUMNS)
    assert schema.statuses.bucket_of("analyzed") == "answered" and schema.statuses.bucket_of("registered") == "ongoing"
    assert schema.statuses.bucket_of("not_connected") == "missed" and schema.statuses.decides_ongoing == "status"


def test_every_panel_answers_with_data_and_ongoing_is_the_plain_count(platform, mapped, make_dashboard):
    _, path, schema = mapped
    client = DashClient(make_dashboard(platform.url, SCHEMA_MAP_FILE=str(path)).server)
    statuses = ", ".join(f"'{value}'" for value in schema.statuses.ongoing)
    (expected,), = plain_sql(platform.url, f"SELECT COUNT(*) FROM calls WHERE status IN ({statuses}) "
                                             "AND created_at >= :since AND deleted_at IS NULL",
                               since=SEED_NOW - ONGOING_WINDOW)
    assert expected > 0

    ongoing = client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    rows = ongoing["ongoing-grid.rowData"]
    assert len(rows) == expected and ongoing["ongoing-freshness.data"]["stale"] is False
    card = client.call("card-ongoing.children", {"stats-ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert str(expected) in json.dumps(card)
    stats = client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert stats["stats-freshness.data"]["stale"] is False
    kpis = client.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})["kpi-grid.rowData"]
    assert len(kpis) == 3 and sum(row.get("on", 0) for row in kpis) == expected
    assert sum(row.get("ans", 0) for row in kpis) > 0 and sum(row.get("oth", 0) for row in kpis) > 0  # transferred

    feed = client.call("activity-grid.rowData", ACTIVITY_INPUTS, ACTIVITY_FILTERS)
    assert len(feed["activity-grid.rowData"]) == 50 and feed["activity-freshness.data"]["stale"] is False
    searched = client.call("activity-grid.rowData", ACTIVITY_INPUTS,
                           {**ACTIVITY_FILTERS, "activity-search.value": "Zoë Schmidt", "activity-window.value": "90d"})
    assert searched["activity-grid.rowData"] and searched["activity-freshness.data"]["stale"] is False
    exported = client.call("activity-download.data", {"activity-export.n_clicks": 1}, ACTIVITY_FILTERS)
    assert len(exported["activity-download.data"]["content"].strip().splitlines()) > 1

    call_id = min(row["id"] for row in rows)
    details = client.call("call-panel.hidden", {"url.search": f"?call={call_id}", "call-interval.n_intervals": 0,
                                                "refresh-signal.data": 0}, {"call-freshness.data": None})
    assert details["call-panel.hidden"] is False and "agent_" in json.dumps(details)
    buttons = {f"call-{column}-button.n_clicks": None for column in ("raw", *PAYLOAD_COLUMNS)}
    for column in PAYLOAD_COLUMNS:
        button = f"call-{column}-button.n_clicks"
        payload = client.call("call-payload.data", {**buttons, button: 1}, {"call-open.data": call_id},
                              changed=[button])
        assert payload["call-payload.data"] and payload["call-payload.data"]["sections"], column

    history = client.call("customer-panel.hidden", {"url.search": "?customer=1", "customer-pager.data": None,
                                                    "refresh-signal.data": 0}, {"customer-freshness.data": None})
    assert history["customer-panel.hidden"] is False and "Anna Müller" in json.dumps(history, ensure_ascii=False)
    # `verify` names the statuses of the last 30 days no bucket places: one capped statement.
    reader = client.client.application.extensions[EXTENSION_KEY].reader
    assert unplaced_statuses(reader, SEED_NOW) == ["transferred"]
    wall = client.from_page("/wall").call("wall-grid.rowData", {"wall-interval.n_intervals": 1})
    assert len(wall["wall-grid.rowData"]) == 3


def test_migrate_verify_and_rollback_leave_the_platforms_indexes_as_they_were(platform, mapped):
    run, _, _ = mapped
    before = show_index(platform.url)
    printed = run("migrate", "--sql")
    assert printed.exit_code == 0, printed.output
    assert "idx_ongoing_calls" not in printed.output.split("-- kept as it is")[0]  # the platform's own serves
    migrated = run("migrate")
    assert migrated.exit_code == 0, migrated.output
    verified = run("verify")
    assert verified.exit_code == 0, verified.output
    assert "Traceback" not in verified.output
    assert run("migrate").output.strip().endswith("every index Switchboard needs is there")
    rolled = run("rollback")
    assert rolled.exit_code == 0, rolled.output
    assert show_index(platform.url) == before
    assert run("rollback", "--all").exit_code == 0
    assert show_index(platform.url) == before
