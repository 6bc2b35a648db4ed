"""The per-company live table: every figure equals a brute-force reading of its definition, on SQLite and
MariaDB, in UTC and across Berlin's switch to summer time, for an empty company too; one statement."""
from __future__ import annotations

import pytest

from monitoring.instrumentation import measure_refresh
from queries.company_kpis import fetch_company_kpis
from queries.timeutil import start_of_day
from tests.support.databases import SEED_NOW
from tests.support.kpi_data import (AUTUMN_NOW, DELETED_COMPANY, DST_NOW, EMPTY_COMPANY, brute_force_kpis,
                            kpi_database, kpi_reader, rows)  # noqa: F401  (fixtures)

COMPANIES = [1, 2, 3, EMPTY_COMPANY]
MOMENTS = [(SEED_NOW, "UTC"), (SEED_NOW, "Europe/Berlin"), (DST_NOW, "Europe/Berlin"), (DST_NOW, "UTC"),
           (AUTUMN_NOW, "Europe/Berlin"),
           (SEED_NOW, "America/New_York")]


def _as_found(frame) -> dict[int, dict]:
    found = {}
    for record in frame.to_dict("records"):
        company = int(record.pop("company_id"))
        record.pop("company_name")
        for key in ("average_talk", "p90_talk"):
            record[key] = None if record[key] is None or record[key] != record[key] else float(record[key])
        if record["last_call_at"] is not None and record["last_call_at"] != record["last_call_at"]:
            record["last_call_at"] = None
        found[company] = record
    return found


@pytest.mark.parametrize("now, zone", MOMENTS)
def test_every_figure_equals_the_brute_force_reading(kpi_reader, rows, now, zone):
    call_rows, appointment_rows = rows
    result = fetch_company_kpis(kpi_reader, now, start_of_day(now, zone))
    found = _as_found(result.rows)
    expected = brute_force_kpis(call_rows, appointment_rows, COMPANIES, now, zone)
    assert sorted(found) == COMPANIES  # the empty company has its row, the deleted one none
    for company in COMPANIES:
        got, want = found[company], expected[company]
        assert got.pop("average_talk") == (None if want["average_talk"] is None else pytest.approx(want["average_talk"]))
        want.pop("average_talk")
        assert {key: (value.to_pydatetime() if hasattr(value, "to_pydatetime") else value)
                for key, value in got.items()} == want, (company, zone, now)
    busy = expected[1]
    assert busy["calls"] > 20 and busy["answered"] > 5 and busy["converted"] > 0 and busy["booked"] > 0
    assert expected[EMPTY_COMPANY]["calls"] == 0 and found[EMPTY_COMPANY]["p90_talk"] is None
    assert result.capped is False


def test_the_dst_day_starts_at_local_midnight(kpi_reader, rows):
    # Berlin's 2026-03-29 began at 23:00 UTC the day before (winter time): a 23-hour day.
    assert start_of_day(DST_NOW, "Europe/Berlin") == DST_NOW.replace(day=28, hour=23, minute=0)
    call_rows, appointment_rows = rows
    by_utc_day = brute_force_kpis(call_rows, appointment_rows, [1], DST_NOW, "UTC")[1]["calls"]
    by_berlin_day = _as_found(fetch_company_kpis(kpi_reader, DST_NOW, start_of_day(DST_NOW, "Europe/Berlin"))
                              .rows)[1]["calls"]
    assert by_berlin_day != by_utc_day  # the hour before UTC midnight is Berlin's today


def test_a_support_scope_reads_only_its_companies(kpi_reader, rows):
    result = fetch_company_kpis(kpi_reader, SEED_NOW, start_of_day(SEED_NOW), company_ids=(2, DELETED_COMPANY))
    assert result.rows.company_id.tolist() == [2]
    assert fetch_company_kpis(kpi_reader, SEED_NOW, start_of_day(SEED_NOW), company_ids=()).rows.empty


def test_a_refresh_is_one_statement_whatever_the_number_of_companies(kpi_reader):
    fetch_company_kpis(kpi_reader, SEED_NOW, start_of_day(SEED_NOW))
    with measure_refresh("company kpis") as cost:
        fetch_company_kpis(kpi_reader, SEED_NOW, start_of_day(SEED_NOW))
    assert cost.statement_count == 1
    assert " raw" not in cost.statements[0].lower() and "transcript" not in cost.statements[0].lower()


def test_the_table_is_capped(kpi_reader):
    result = fetch_company_kpis(kpi_reader, SEED_NOW, start_of_day(SEED_NOW), limit=2)
    assert result.rows.company_id.tolist() == [1, 2] and result.capped


# --- the widget ------------------------------------------------------------------------------------------------

def test_levels_read_both_ways():
    from widgets.company_kpis import level

    assert [level(value, (85.0, 70.0)) for value in (90, 85, 80, 70, 69.9, None)] == \
        ["ok", "ok", "watch", "watch", "alert", None]
    assert [level(value, (10.0, 20.0)) for value in (0, 10, 15, 20, 20.1)] == ["ok", "ok", "watch", "watch", "alert"]


def test_bad_levels_are_refused_with_a_clear_message(monkeypatch):
    from config import ConfigError, load_config

    for text in ("85", "85,85", "high,low"):
        with pytest.raises(ConfigError, match="KPI_MISSED_RATE_LEVELS"):
            load_config(environ={"KPI_MISSED_RATE_LEVELS": text})
    assert load_config(environ={"KPI_MISSED_RATE_LEVELS": "5, 12.5"})["KPI_MISSED_RATE_LEVELS"] == (5.0, 12.5)


@pytest.fixture
def kpi_app(kpi_database, tmp_path, make_dashboard):
    from access.users import UserStore, default_users_url

    store = UserStore(default_users_url(tmp_path))
    store.add("ada", "admin", (), "correct horse battery staple")
    store.add("sam", "support", (2,), "correct horse battery staple")
    store.add("olga", "ops", (), "correct horse battery staple")
    store.dispose()
    return make_dashboard(kpi_database.url, MEMORY_SAMPLER=False)


def test_the_panel_shows_every_company_to_admins_and_its_own_to_support(kpi_app, rows):
    from tests.support.dash_client import DashClient

    call_rows, appointment_rows = rows
    expected = brute_force_kpis(call_rows, appointment_rows, COMPANIES, SEED_NOW, "UTC")
    admin = DashClient(kpi_app.server, login=("ada", "correct horse battery staple"))
    shown = admin.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})
    by_id = {row["id"]: row for row in shown["kpi-grid.rowData"]}
    assert sorted(by_id) == COMPANIES and shown["kpi-freshness.data"]["stale"] is False
    for company, want in expected.items():
        row = by_id[company]
        outcomes = want["answered"] + want["missed"] + want["failed"]
        assert (row.get("on", 0), row.get("n", 0), row.get("ans", 0), row.get("bk", 0)) == \
            (want["ongoing"], want["calls"], want["answered"], want["booked"])
        if outcomes:
            assert row["mis_r"] == round(100 * want["missed"] / outcomes, 1)
            # Judged from JUDGE_MIN_CALLS (20) calls with an outcome; below, neutral with its count.
            assert (row.get("mis_r_lv"), row.get("mis_r_n")) == ((row["mis_r_lv"], None) if outcomes >= 20
                                                                 else (None, outcomes))
            assert outcomes < 20 or row["mis_r_lv"] in {"ok", "watch", "alert"}
        if want["answered"]:
            assert row["bk_r"] == round(100 * want["converted"] / want["answered"], 1)
    assert "ans_r" not in by_id[EMPTY_COMPANY] and "last" not in by_id[EMPTY_COMPANY]  # nothing to rate: no level
    support = DashClient(kpi_app.server, login=("sam", "correct horse battery staple"))
    mine = support.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})["kpi-grid.rowData"]
    assert [row["id"] for row in mine] == [2]
    ops = DashClient(kpi_app.server, login=("olga", "correct horse battery staple"))
    assert "kpi-grid" not in ops.client.get("/_dash-layout").get_data(as_text=True)
    assert ops.post(admin.payload("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})).status_code == 403


def test_a_company_links_to_the_feed_filtered_to_it():
    from widgets.company_kpis import column_defs

    assert column_defs()[0]["cellRenderer"] == "SwitchboardCompanyLink"
    assert "cellRenderer" not in column_defs(links=False)[0]
    script = open("assets/switchboard.js", encoding="utf-8").read()
    assert '"/?company=" + encodeURIComponent(id)' in script
