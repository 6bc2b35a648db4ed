"""The activity export as an attacker and a support person in Excel would meet it.

Names that are formulas, a name holding a lone CR, phone numbers that start with `+`,
umlauts; and a support user who sees masked numbers probing one back digit by digit
through the search.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from demo.generator import SeedPlan, seed_database
from schema.migrate import migrate
from schema.tables import calls, customers
from tests.support.databases import SEED_NOW
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, SUPPORT_COMPANY, add_users
from widgets.export_files import safe_cell, write_csv

FORMULAS = ('=HYPERLINK("http://evil.example","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\t=1+1", "\r=2+2")
HOSTILE_NAMES = FORMULAS + ("Müller, \"Kalle\"\nzweite Zeile",)
PLAN = SeedPlan(calls=400, appointments=60, companies=2, customers_per_company=15, agents_per_company=2,
                services_per_company=2, ongoing=10, stale_in_progress=2, mismatched_status=2, raw_bytes=200)
FILTERS = {"activity-kind.value": ["call"], "activity-status.value": None, "activity-direction.value": None,
           "activity-company.value": None, "activity-window.value": "24h", "activity-search.value": ""}
VICTIM_PHONE = "+4915112345678"


@pytest.fixture
def hostile_database(empty_database):
    """A seeded database with customers whose names are attacks, each with a call a minute ago."""
    writer = empty_database.writer()
    migrate(writer)
    seed_database(writer, PLAN, SEED_NOW)
    with writer.begin() as connection:
        for offset, name in enumerate(HOSTILE_NAMES, start=1):
            customer_id = connection.execute(customers.insert().values(
                company_id=SUPPORT_COMPANY, name=name, phone=VICTIM_PHONE if offset == 1 else None)
            ).inserted_primary_key[0]
            connection.execute(calls.insert().values(
                company_id=SUPPORT_COMPANY, customer_id=customer_id, agent_id=1, customer_name=name,
                from_number=VICTIM_PHONE, to_number="+49305000001", direction="inbound", status="completed",
                call_status="ended", duration_sec=125, created_at=SEED_NOW - timedelta(minutes=offset)))
    writer.dispose()
    return empty_database


def _export(client: DashClient, button: str, **filters) -> dict:
    result = client.call("activity-download.data", {button: 1}, {**FILTERS, **filters}, changed=[button])
    return result["activity-download.data"]


@pytest.mark.parametrize("value", FORMULAS + ("+4930123", "-", "=", "@"))
def test_a_cell_that_a_spreadsheet_would_run_gets_the_text_marker(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Anna Müller", "O'Brien", "1+1", "a=b", "", None, 42, HOSTILE_NAMES[-1]])
def test_other_cells_are_left_as_they_are(value):
    assert safe_cell(value) == ("" if value is None else str(value))


@pytest.mark.parametrize("value", ["+4930123", "+49 1511 2345678", "+•••••••••••678"])
def test_the_plain_file_writes_a_phone_number_as_it_is(value):
    assert safe_cell(value, numbers_as_they_are=True) == value


@pytest.mark.parametrize("value", FORMULAS + ("+", "+ 1", "+1+1", "+1-2", "+49(30)1", "-4930123", "+1\r=2"))
def test_the_plain_file_still_marks_every_formula(value):
    assert safe_cell(value, numbers_as_they_are=True) == "'" + value


def test_a_lone_cr_or_lf_cannot_start_a_row_of_its_own():
    text = write_csv(["name", "n"], [["\r=2+2", 1], ["line\nbreak", 2], ['quo"te, comma', 3]])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["name", "n"], ["'\r=2+2", "1"], ["line\nbreak", "2"], ['quo"te, comma', "3"]]
    assert text.count("\r\n") == 4  # RFC 4180: every record ends in CRLF, and only records do outside quotes


def test_both_files_hold_the_hostile_names_as_text_one_row_each(hostile_database, make_dashboard):
    client = DashClient(make_dashboard(hostile_database.url).server)
    for button in ("activity-export.n_clicks", "activity-export-excel.n_clicks"):
        download = _export(client, button)
        content = download["content"].removeprefix("\ufeff")
        rows = list(csv.reader(io.StringIO(content, newline="")))
        names = {row[3 if button.endswith("excel.n_clicks") else 2] for row in rows[1:]}
        for name in HOSTILE_NAMES:
            marked = "'" + name if name.startswith(("=", "+", "-", "@", "\t", "\r")) else name
            assert marked in names, (button, name)
        # Not one cell anywhere starts a formula; the plain file's phone numbers are numbers, as stored.
        plain = button == "activity-export.n_clicks"
        assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")
                    and not (plain and re.fullmatch(r"\+[0-9]+", cell))]
        # Every row has the header's width: no name split a row or forged one.
        assert {len(row) for row in rows} == {len(rows[0])}


def test_the_excel_file_is_utf8_with_a_bom_times_zoned_and_durations_read(hostile_database, make_dashboard):
    client = DashClient(make_dashboard(hostile_database.url, DISPLAY_TIMEZONE="Europe/Berlin").server)
    download = _export(client, "activity-export-excel.n_clicks")
    assert download["filename"].endswith("-excel.csv")
    content = download["content"]
    assert content.startswith("\ufeff")
    assert content.encode("utf-8")[:3] == b"\xef\xbb\xbf"
    rows = list(csv.DictReader(io.StringIO(content.removeprefix("\ufeff"), newline="")))
    assert list(rows[0]) == ["Kind", "ID", "Time (Europe/Berlin)", "Customer", "Phone", "Company", "Agent",
                             "Service", "Direction", "Status", "Duration (s)", "Duration (m:ss)", "Counted as"]
    victim = next(row for row in rows if row["Customer"].endswith('"y")'))
    # 11:29 UTC on 10 March is 12:29 in Berlin; 125 s is 2:05; the phone reads as written, as text.
    assert victim["Time (Europe/Berlin)"] == "2026-03-10 12:29:00"
    assert (victim["Duration (s)"], victim["Duration (m:ss)"]) == ("125", "'2:05")
    assert victim["Phone"] == "'+49 1511 2345678"  # phonenumbers' grouping for German mobiles
    assert victim["Agent"] and victim["ID"].isdigit() and victim["Kind"] == "call"
    assert "Müller" in content and "MÃ¼ller" not in content.encode("utf-8").decode("utf-8")


def test_the_plain_csv_keeps_its_columns_and_its_phones_as_stored(hostile_database, make_dashboard):
    client = DashClient(make_dashboard(hostile_database.url).server)
    content = _export(client, "activity-export.n_clicks")["content"]
    assert not content.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(content, newline="")))
    assert list(rows[0]) == ["kind", "time", "customer", "phone", "company", "service", "direction", "status",
                             "duration_sec", "counted_as"]
    phones = [row["phone"] for row in rows if row["phone"]]
    assert phones and VICTIM_PHONE in phones and all(re.fullmatch(r"\+[0-9]+", phone) for phone in phones)


def test_the_plain_csv_keeps_a_support_users_masked_phones_unmarked(hostile_database, make_dashboard, tmp_path):
    add_users(tmp_path)
    client = DashClient(make_dashboard(hostile_database.url, MEMORY_SAMPLER=False).server, login=("sam", PASSWORD))
    plain = list(csv.DictReader(io.StringIO(_export(client, "activity-export.n_clicks")["content"], newline="")))
    phones = [row["phone"] for row in plain if row["phone"]]
    assert phones and all(re.fullmatch(r"\+•+[0-9]{3}", phone) for phone in phones)
    assert VICTIM_PHONE not in {cell for row in plain for cell in row.values()}
    excel = _export(client, "activity-export-excel.n_clicks")["content"].removeprefix("\ufeff")
    marked = [row["Phone"] for row in csv.DictReader(io.StringIO(excel, newline="")) if row["Phone"]]
    assert marked and all(phone.startswith("'+") and "•" in phone for phone in marked)


def _search(client: DashClient, text: str) -> list[dict]:
    state = {**FILTERS, "activity-window.value": "90d", "activity-search.value": text, "activity-kind.value": None}
    return client.call("activity-grid.rowData", {"activity-interval.n_intervals": 1}, state)["activity-grid.rowData"]


def test_probing_a_masked_number_by_its_fragments_recovers_nothing(hostile_database, make_dashboard, tmp_path):
    add_users(tmp_path)
    # About 30 searches, as many as SEARCH_RATE_LIMIT's default allows a minute: not what this test is about.
    app = make_dashboard(hostile_database.url, MEMORY_SAMPLER=False, PHONE_REGION="DE",
                         SEARCH_RATE_LIMIT="1000 per minute")
    support = DashClient(app.server, login=("sam", PASSWORD))
    admin = DashClient(app.server, login=("ada", PASSWORD))
    digits = VICTIM_PHONE.lstrip("+")
    national = digits[2:]  # 151 12345678: typed whole, with PHONE_REGION=DE it is the number, not a fragment
    probes = [digits[-length:] for length in range(1, len(national))] + [digits]
    probes += ["+" + digits[:length] for length in range(2, len(digits))]  # prefixes
    probes += [f"%{digits[-4:]}", f"_{digits[-3:]}", "1", "78", "678"]
    found = {probe: len(_search(support, probe)) for probe in probes}
    assert found == {probe: 0 for probe in probes}
    # The same fragments find the number for an admin, who sees it anyway.
    assert _search(admin, digits[-4:])
    # The whole number finds it, however it is typed.
    for typed in (VICTIM_PHONE, "+49 151 1234 5678", "0151 12345678", "0049 (151) 123-45678"):
        rows = _search(support, typed)
        assert rows and all(row["ph"].endswith("678") and "•" in row["ph"] for row in rows), typed


def test_a_masked_viewers_text_search_looks_at_names_only(hostile_database, make_dashboard, tmp_path):
    add_users(tmp_path)
    app = make_dashboard(hostile_database.url, MEMORY_SAMPLER=False)
    support = DashClient(app.server, login=("sam", PASSWORD))
    # Two digits are no phone search: as a text search they must not reach the numbers either.
    assert _search(support, "78") == []
    assert {row["cust"] for row in _search(support, "Müller, ")} == {"Müller, \"Kalle\"\nzweite Zeile"}


def test_the_cache_keeps_a_masked_viewers_search_apart_from_an_admins(hostile_database, make_dashboard, tmp_path):
    add_users(tmp_path)
    app = make_dashboard(hostile_database.url, MEMORY_SAMPLER=False)
    admin = DashClient(app.server, login=("ada", PASSWORD))
    support = DashClient(app.server, login=("sam", PASSWORD))
    assert _search(admin, "5678")  # cached for the admin's view first
    assert _search(support, "5678") == []
    with sa.create_engine(hostile_database.url).connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(calls)
                                  .where(calls.c.from_number == VICTIM_PHONE)).scalar_one() == len(HOSTILE_NAMES)
