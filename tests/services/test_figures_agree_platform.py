"""One meaning for each number on a platform with a status vocabulary of its own (tests/support/provider_platform.py
on MariaDB, the map `inspect` proposes, unedited): its `not_connected` is a missed call in the company table, the
wallboard, the feed's "Missed" filter and count, the export and a customer's history alike, and booked today and
appointments starting today agree across the table, the headline card and the feed."""
from __future__ import annotations

from collections import Counter

import pytest

from queries import figures
from queries.schema_map import parse_schema_map
from tests.support.databases import SEED_NOW, plain_sql
from tests.support.figure_agreement import (EXPORT_WORDS, FEED_BUCKETS, appointments_by_feed, card_value,
                                            export_today, feed_bucket_today, feed_rows, headline_cards,
                                            history_missed_by_feed, table_rows, wall_rows)
from tests.support.provider_platform import provider_platform_database

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with provider_platform_database(tmp_path_factory.mktemp("figures-platform"), calls=3_000) as database:
        yield database


@pytest.fixture
def mapped_app(platform, cli_on, tmp_path, make_dashboard):
    proposed = cli_on(platform.url)("inspect")
    assert proposed.exit_code == 0, proposed.output
    path = tmp_path / "schema-map.toml"
    path.write_text(proposed.output)
    schema = parse_schema_map(proposed.output)
    assert "not_connected" in schema.statuses.missed and "ended" in schema.statuses.answered  # its own vocabulary
    return make_dashboard(platform.url, SCHEMA_MAP_FILE=str(path), MEMORY_SAMPLER=False), schema


def _plain_count(url: str, sql: str, **params) -> int:
    (count,), = plain_sql(url, sql, **params)
    return count


def test_the_platforms_missed_calls_agree_everywhere(platform, mapped_app):
    app, schema = mapped_app
    table, wall = table_rows(app), wall_rows(app)
    assert len(table) == 3
    checked = 0
    for status, key in FEED_BUCKETS.items():
        by_feed, feed_count, selected = feed_bucket_today(app, SEED_NOW, "UTC", status)
        assert feed_count == selected
        exported = Counter(row["company"] for row in export_today(app, SEED_NOW, status))
        for company, row in table.items():
            assert row.get(key, 0) == by_feed.get(company, 0) == exported.get(row["co"], 0), (status, company)
            checked += row.get(key, 0)
    missed_today = sum(row.get("mis", 0) for row in table.values())
    plain = _plain_count(platform.url, "SELECT COUNT(*) FROM calls WHERE status = 'not_connected' AND deleted_at IS "
                                       "NULL AND created_at >= :start AND created_at <= :now",
                         start=SEED_NOW.replace(hour=0, minute=0), now=SEED_NOW)
    assert missed_today == plain > 0 and checked > missed_today
    # The export says what each of the platform's statuses counts as.
    every_call = export_today(app, SEED_NOW, None)
    assert {row["status"] for row in every_call if row["counted_as"] == "Missed"} == {"not_connected"}
    assert {row["status"] for row in every_call if row["counted_as"] == EXPORT_WORDS["completed"]} <= \
        set(schema.statuses.answered)
    for company, row in table.items():
        assert {key: wall[company].get(key) for key in ("mis_r", "mis_r_n", "mis_r_lv", "ans_r", "bk")} == \
            {key: row.get(key) for key in ("mis_r", "mis_r_n", "mis_r_lv", "ans_r", "bk")}
    # The feed's "Missed" over 24 hours is the plain count of the mapped bucket.
    assert len(feed_rows(app, SEED_NOW, kinds=("call",), statuses=("missed",), window="24h")) == _plain_count(
        platform.url, "SELECT COUNT(*) FROM calls WHERE status = 'not_connected' AND deleted_at IS NULL "
                      "AND created_at > :since AND created_at <= :now", since=SEED_NOW.replace(day=9), now=SEED_NOW)


def test_a_customers_missed_calls_and_the_days_appointments_agree(mapped_app):
    app, _ = mapped_app
    found = history_missed_by_feed(app, SEED_NOW, range(1, 61))
    assert len(found) > 40 and sum(missed for _, missed, _ in found) > 10
    assert [(customer, missed) for customer, missed, _ in found] == [(customer, rows) for customer, _, rows in found]
    table = table_rows(app)
    starting, booked = appointments_by_feed(app, SEED_NOW, "UTC")
    assert card_value(headline_cards(app), "card-appointments_today") == f"{starting:,}"
    assert {company: row.get("bk", 0) for company, row in table.items()} == \
        {company: booked.get(company, 0) for company in table}
    assert sum(booked.values()) > 0


def test_the_tooltips_name_the_platforms_statuses(mapped_app):
    app, schema = mapped_app
    from widgets.services import EXTENSION_KEY
    from widgets import company_kpis

    panel = company_kpis.panel(app.server.extensions[EXTENSION_KEY].config)
    grid = next(child for child in panel.children if getattr(child, "id", None) == company_kpis.GRID)
    missed = next(column for column in grid.columnDefs if column["field"] == "mis")
    assert missed["headerTooltip"] == figures.tooltip("missed", schema.statuses) and "not_connected" in \
        missed["headerTooltip"]
