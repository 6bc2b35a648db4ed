"""One meaning for each number: the same figure agrees wherever it is shown (company table, wallboard, headline
cards, the feed's filter and its count, the CSV export, a customer's history), on the seeded SQLite database; the
tooltips and docs/numbers.md come from the same definitions; a rate or p90 on too few calls is shown neutral."""
from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from queries import figures
from queries.company_kpis import CompanyKpis
from queries.schema_map import StatusBuckets
from tests.support.databases import SEED_NOW
from tests.support.figure_agreement import (EXPORT_WORDS, FEED_BUCKETS, appointments_by_feed, card_value,
                                            export_today, feed_bucket_today, headline_cards,
                                            history_missed_by_feed, table_rows, wall_rows)
from widgets import company_kpis, headline_stats, wallboard
from widgets import feed_filters

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def app(seeded_app):
    return seeded_app


@pytest.fixture(scope="module")
def table(app):
    return table_rows(app)


def test_answered_missed_and_failed_are_one_set_in_the_table_the_feed_and_the_export(app, table):
    checked = 0
    for status, key in FEED_BUCKETS.items():
        by_feed, feed_count, feed_rows = feed_bucket_today(app, SEED_NOW, "UTC", status)
        assert feed_count == feed_rows  # the feed's "1–50 of N" counts the rows its filter shows
        exported = Counter(row["company"] for row in export_today(app, SEED_NOW, status))
        for company, row in table.items():
            assert row.get(key, 0) == by_feed.get(company, 0), (status, company)
            assert row.get(key, 0) == exported.get(row["co"], 0), (status, company)
            checked += row.get(key, 0)
    assert checked > 10  # the seeded day has calls in the buckets: nothing agreed by being empty


def test_the_feeds_missed_is_the_whole_bucket(app, table):
    by_feed, _, _ = feed_bucket_today(app, SEED_NOW, "UTC", "missed")
    every_call = export_today(app, SEED_NOW, None)
    statuses = Counter(row["status"] for row in every_call if row["counted_as"] == "Missed")
    # More than one stored status in the bucket today: a filter of `missed` alone would fall short.
    assert len(statuses) >= 2 and set(statuses) <= {"missed", "busy", "no_answer"}
    assert sum(by_feed.values()) == sum(statuses.values()) == sum(row.get("mis", 0) for row in table.values())
    # A link that names a part of the bucket is read as the bucket, and says nothing was dropped.
    values, notices = feed_filters.parse_query_string("?kind=call&status=busy,no_answer")
    assert values["status"] == ["missed"] and notices == []


def test_the_exports_counted_as_column_is_the_tables_count(app, table):
    counted = Counter((row["company"], row["counted_as"]) for row in export_today(app, SEED_NOW, None))
    for row in table.values():
        for status, key in FEED_BUCKETS.items():
            assert counted.get((row["co"], EXPORT_WORDS[status]), 0) == row.get(key, 0)
        assert counted.get((row["co"], "Other"), 0) == row.get("oth", 0)


def test_the_wallboard_shows_the_tables_figures(app, table):
    wall = wall_rows(app)
    assert sorted(wall) == sorted(table)
    for company, row in table.items():
        for key in ("n", "ans_r", "mis_r", "fail_r", "bk", "bk_r", "p90", "mis_r_n", "mis_r_lv"):
            assert wall[company].get(key) == row.get(key), (company, key)


def test_booked_today_and_appointments_starting_today_are_two_figures_that_each_agree(app, table):
    starting, booked = appointments_by_feed(app, SEED_NOW, "UTC")
    cards = headline_cards(app)
    assert card_value(cards, "card-appointments_today") == f"{starting:,}"
    assert card_value(cards, "card-calls_today") == f"{sum(row.get('n', 0) for row in table.values()):,}"
    for company, row in table.items():
        assert row.get("bk", 0) == booked.get(company, 0), company
    assert starting > 0 and sum(booked.values()) > 0 and starting != sum(booked.values())
    labels = json.dumps(cards)
    assert "Appointments starting today" in labels and figures.meaning("appointments_starting_today") in labels
    headers = {column["field"]: column["headerName"] for column in company_kpis.column_defs()}
    assert headers["bk"] == "Booked today"


def test_a_customers_missed_calls_are_the_feeds_missed_calls_of_that_customer(app):
    found = history_missed_by_feed(app, SEED_NOW, range(1, 361, 7))
    assert len(found) > 10 and sum(missed for _, missed, _ in found) > 0
    assert [(customer, missed) for customer, missed, _ in found] == [(customer, rows) for customer, _, rows in found]


def test_every_header_and_card_explains_itself_from_the_definitions():
    statuses = StatusBuckets(missed=("not_connected", "voicemail"))
    columns = {column["field"]: column for column in company_kpis.column_defs(statuses=statuses, min_calls=7)}
    assert columns["mis"]["headerTooltip"] == figures.tooltip("missed", statuses, 7)
    assert "not_connected, voicemail" in columns["mis"]["headerTooltip"]
    assert "only from 7 today's calls with an outcome" in columns["mis_r"]["headerTooltip"]
    assert all(column.get("headerTooltip") for field, column in columns.items() if field != "co")
    wall = {column["field"]: column for column in wallboard.wall_columns()}
    assert wall["bk"]["headerName"] == "Booked today" and wall["mis_r"]["headerTooltip"]
    for card in headline_stats.cards(headline_stats.card_values(None)):
        assert card.title and card.title == figures.tooltip(headline_stats.CARD_FIGURES[
            card.children[0].id.removeprefix("card-")])
        assert card.children[2].children == card.title  # read out to a screen reader after the label


def test_the_numbers_page_is_written_from_the_definitions():
    assert (DOCS / "numbers.md").read_text(encoding="utf-8") == figures.numbers_markdown(), \
        "docs/numbers.md differs from queries/figures.py: run `python -m queries.figures > docs/numbers.md`"
    for figure in figures.FIGURES:
        assert f"| {figure.label} | {figures.meaning(figure.key)} |" in figures.numbers_markdown()


def _result(**counts) -> CompanyKpis:
    row = {"company_id": 1, "company_name": "Praxis", "ongoing": 0, "calls": 3, "inbound": 3, "outbound": 0,
           "answered": 0, "missed": 3, "failed": 0, "other": 0, "timed": 0, "average_talk": None,
           "p90_talk": None, "last_call_at": None, "booked": 0, "converted": 0, **counts}
    return CompanyKpis(rows=pd.DataFrame([row]), capped=False)


def test_a_rate_on_too_few_calls_is_neutral_with_its_count(app):
    from widgets.services import EXTENSION_KEY
    config = dict(app.server.extensions[EXTENSION_KEY].config)
    assert config["JUDGE_MIN_CALLS"] == 20
    (few,) = company_kpis.compact_rows(_result(), config)
    assert (few["mis_r"], few["mis_r_n"], few["ans_r"], few["ans_r_n"]) == (100.0, 3, 0.0, 3)
    assert "mis_r_lv" not in few and "ans_r_lv" not in few  # no "⚠ alert" from three calls
    assert "bk_r" not in few and "bk_r_n" not in few  # no answered call: nothing to rate, nothing to count
    (p90,) = company_kpis.compact_rows(_result(answered=25, missed=0, timed=2, p90_talk=900, converted=0), config)
    assert (p90["p90"], p90["p90_n"], "p90_lv" in p90) == (900, 2, False)  # a p90 of two calls is not judged
    assert (p90["ans_r_lv"], "ans_r_n" in p90, p90["bk_r_lv"]) == ("ok", False, "alert")  # 25 calls: judged
    (judged,) = company_kpis.compact_rows(_result(missed=20, timed=0), config)
    assert judged["mis_r_lv"] == "alert" and "mis_r_n" not in judged
    # The cell says the count beside the figure, and keeps the neutral look (no level class).
    column = {c["field"]: c for c in company_kpis.column_defs()}["mis_r"]
    assert "' · n=' + params.data.mis_r_n" in column["valueFormatter"]["function"]
    assert "params.data.mis_r_lv || 'none'" in column["cellClass"]["function"]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's cell functions")
def test_the_desk_and_the_wall_show_a_neutral_figure_with_its_count():
    root = Path(__file__).resolve().parents[2]
    formatter = {c["field"]: c for c in company_kpis.column_defs()}["mis_r"]["valueFormatter"]["function"]
    rows = {"few": {"mis_r": 0.0, "mis_r_n": 3}, "judged": {"mis_r": 25.0, "mis_r_lv": "alert"}, "empty": {}}
    shown = json.loads(subprocess.run(
        ["node", str(root / "tests/support/grid_cells.js"), str(root / "assets/switchboard.js"), "mis_r", formatter,
         json.dumps(rows)], capture_output=True, text=True, check=True, timeout=60).stdout)
    assert shown["few"] == {"desk": "0.0 % · n=3", "wall": "0 % · n=3"}  # neutral: no level word
    assert shown["judged"] == {"desk": "25.0 % · ⚠ alert", "wall": "25 % ⚠ alert"}
    assert shown["empty"] == {"desk": "–", "wall": "–"}
