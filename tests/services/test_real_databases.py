"""Switchboard on platform databases it did not create: Laravel's DDL, in four charset/collation variants.

Each variant is built as `php artisan migrate` builds it (tests/support/platform_databases.py):
`utf8mb4_unicode_ci` (Laravel's default), latin1 without soft deletes (an old install), utf8mb3, and
a mix of collations table by table. Every widget, the search, the export, `migrate`, `verify` and
`rollback` run on each, and soft-deleted rows must appear nowhere.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from queries.activity import ActivityFilter, fetch_activity, fetch_company_options
from queries.headline_stats import fetch_headline_stats
from queries.ongoing_calls import ONGOING_WINDOW, fetch_ongoing_calls
from queries.platform import charset_holds, platform_schema
from queries.timeutil import start_of_day
from tests.support.databases import SEED_NOW, create_test_database, drop_test_database
from tests.support.dash_client import DashClient
from tests.support.platform_databases import (UNICODE_NAMES, VARIANTS, PlatformVariant, RealWorldRows,
                                              build_platform_database, charset_of)

pytestmark = pytest.mark.mariadb

ACTIVITY_FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
                    "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
ACTIVITY_INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0, "activity-pager.data": None}


class Platform:
    """One variant's database: its URL, the rows to look for, and Switchboard's reader engine on it."""

    def __init__(self, variant: PlatformVariant, url: str, rows: RealWorldRows, reader: sa.Engine):
        self.variant, self.url, self.rows, self.reader = variant, url, rows, reader

    def brute_force(self, sql: str, **params):
        """Ask the database directly, the obvious way, to check the widgets' answers."""
        with self.reader.connect() as connection:
            return connection.execute(sa.text(sql), params).all()


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda variant: variant.name)
def platform(request, tmp_path_factory):
    from database.engines import create_reader_engine, create_writer_engine
    from monitoring.instrumentation import instrument_engine

    variant: PlatformVariant = request.param
    database = create_test_database("mariadb", tmp_path_factory.mktemp(variant.name),
                                    collation=variant.collations["calls"])
    # Old installs ran without strict mode: what a latin1 column cannot hold went in as '?', as it did there.
    writer_url = make_url(database.url).update_query_dict({"init_command": "SET SESSION sql_mode=''"})
    writer = create_writer_engine(writer_url.render_as_string(hide_password=False))
    rows = build_platform_database(writer, variant, SEED_NOW)
    writer.dispose()
    reader = create_reader_engine(database.url)
    instrument_engine(reader)  # as create_app does
    found = Platform(variant, database.url, rows, reader)
    yield found
    found.reader.dispose()
    drop_test_database(database)


@pytest.fixture
def run(platform, cli_on):
    return cli_on(platform.url)


def test_the_variant_is_built_as_named(platform):
    """The fixture itself: the tables really are in the collations the variant names."""
    found = dict(platform.brute_force(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"))
    assert {table: found[table] for table in platform.variant.collations} == platform.variant.collations
    assert found["migrations"] == "utf8mb4_unicode_ci"
    facts = platform_schema(platform.reader)
    expected = {"companies", "customers", "agents", "services", "calls", "appointments"}
    assert facts.soft_deleting == (expected if platform.variant.soft_deletes else frozenset())
    assert facts.charsets["calls.customer_name"] == charset_of(platform.variant.collations["calls"])


def test_migrate_adopts_the_platform_and_verify_fails_before_and_passes_after(run, platform):
    columns_before = platform.brute_force(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION")
    before = run("verify")
    assert before.exit_code == 1 and "Traceback" not in before.output
    assert "python app.py migrate" in before.output

    migrated = run("migrate")
    assert migrated.exit_code == 0, migrated.output
    assert "existing platform database recognised" in migrated.output and " in batch 1" in migrated.output
    passing = run("verify")
    assert passing.exit_code == 0, passing.output
    assert "Traceback" not in passing.output and "idx_ongoing_calls" in passing.output

    # The platform's foreign key index on appointments.customer_id serves the customer history: none is added
    # beside it, which would have made InnoDB drop it (and the rollback of ours refused: error 1553).
    indexes = {name for (name,) in platform.brute_force(
        "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'appointments'")}
    assert "appointments_customer_id_foreign" in indexes and "idx_customer_appointments" not in indexes
    assert run("rollback").output.strip().endswith("rolled back batch 1")
    assert run("verify").exit_code == 1
    assert run("migrate").exit_code == 0
    columns_after = platform.brute_force(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME NOT IN ('switchboard_alembic_version', 'switchboard_migrations') "
        "ORDER BY TABLE_NAME, ORDINAL_POSITION")
    # Switchboard added indexes and its own two tables; not one platform column changed.
    assert columns_after == columns_before
    assert run("verify").exit_code == 0


def test_every_widget_shows_rows(platform, make_dashboard):
    client = DashClient(make_dashboard(platform.url).server)
    ongoing = client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert ongoing["ongoing-grid.rowData"] and ongoing["ongoing-freshness.data"]["stale"] is False
    feed = client.call("activity-grid.rowData", ACTIVITY_INPUTS, ACTIVITY_FILTERS)
    assert len(feed["activity-grid.rowData"]) == 50 and feed["activity-freshness.data"]["stale"] is False
    stats = client.call("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert stats["stats-freshness.data"]["stale"] is False and "Ongoing now" in json.dumps(stats)
    options = client.call("activity-company.options", {"refresh-signal.data": 0, "url.pathname": "/"})
    assert {option["label"] for option in options["activity-company.options"]} >= {"Salon Lumière"}


def test_ongoing_calls_count_and_show_what_the_database_holds(platform):
    live = "AND deleted_at IS NULL" if platform.variant.soft_deletes else ""
    (expected,), = platform.brute_force(
        "SELECT COUNT(*) FROM calls WHERE status IN ('ongoing', 'in_progress') "
        f"AND call_status IN ('ongoing', 'in_progress') AND created_at >= :since {live}",
        since=SEED_NOW - ONGOING_WINDOW)
    ongoing = fetch_ongoing_calls(platform.reader, SEED_NOW)
    assert ongoing.total == expected and len(ongoing.rows) == expected
    by_id = ongoing.rows.set_index("id")
    # A customer that no longer exists: the call keeps the name it was made with.
    assert by_id.loc[platform.rows.orphan_call, "customer_name"] == "Gone Customer"
    # No name, no number, no direction, no agent: shown empty, never an error.
    nameless = by_id.loc[platform.rows.nameless_call]
    assert nameless[["customer_name", "from_number", "to_number", "agent_name", "direction"]].isna().all()
    # A call_status Switchboard does not know is not "ongoing", and it breaks nothing.
    assert platform.rows.unknown_status_call not in by_id.index
    stats = fetch_headline_stats(platform.reader, SEED_NOW, start_of_day(SEED_NOW))
    assert stats.ongoing == expected


def test_statuses_nobody_told_switchboard_about_are_shown_as_they_are(platform, make_dashboard):
    page = fetch_activity(platform.reader, ActivityFilter(kinds=("call",), window="1h"), SEED_NOW, page_size=500)
    assert {"voicemail_left"} <= set(page.rows["status"])
    client = DashClient(make_dashboard(platform.url).server)
    feed = client.call("activity-grid.rowData", ACTIVITY_INPUTS, {**ACTIVITY_FILTERS, "activity-window.value": "1h"})
    # Shown readably (the export keeps the stored value).
    assert "Voicemail left" in {row.get("st") for row in feed["activity-grid.rowData"]}


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_a_search_finds_what_the_column_can_hold_and_is_never_an_error(platform, make_dashboard, name):
    holds = charset_holds(charset_of(platform.variant.collations["customers"]), name)
    assert holds == (name in platform.rows.unicode_names)
    page = fetch_activity(platform.reader, ActivityFilter(search=name, window="90d"), SEED_NOW)
    if holds:
        assert set(page.rows["customer_name"]) == {name}
    else:
        assert page.rows.empty
    client = DashClient(make_dashboard(platform.url).server)
    feed = client.call("activity-grid.rowData", ACTIVITY_INPUTS, {**ACTIVITY_FILTERS, "activity-search.value": name})
    assert feed["activity-freshness.data"]["stale"] is False
    assert len(feed["activity-grid.rowData"]) == (1 if holds else 0)


def test_a_latin1_name_is_found_in_latin1(platform):
    """Müller is latin1: every variant holds it, and the generator's customers carry it."""
    page = fetch_activity(platform.reader, ActivityFilter(search="Müller", window="90d"), SEED_NOW, page_size=500)
    assert len(page.rows) > 0 and all("Müller" in name for name in page.rows["customer_name"])


def test_the_export_works_on_every_variant(platform, make_dashboard):
    client = DashClient(make_dashboard(platform.url).server)
    result = client.call("activity-download.data", {"activity-export.n_clicks": 1},
                         {**ACTIVITY_FILTERS, "activity-search.value": "Müller"})
    content = result["activity-download.data"]["content"]
    assert "Müller" in content and len(content.strip().splitlines()) > 1


def _everything_shown(platform, make_dashboard) -> str:
    """Every row every view shows on the platform, as one text: ongoing, the feed, a search, the export."""
    client = DashClient(make_dashboard(platform.url, ACTIVITY_EXPORT_ROW_CAP=5000).server)
    texts = [
        client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}),
        client.call("activity-grid.rowData", ACTIVITY_INPUTS, {**ACTIVITY_FILTERS, "activity-window.value": "1h"}),
        client.call("activity-company.options", {"refresh-signal.data": 0, "url.pathname": "/"}),
        client.call("activity-download.data", {"activity-export.n_clicks": 1},
                    {**ACTIVITY_FILTERS, "activity-window.value": "24h"}),
    ]
    return json.dumps(texts, ensure_ascii=False)


def test_soft_deleted_rows_appear_nowhere(platform, make_dashboard):
    if not platform.variant.soft_deletes:
        pytest.skip("this variant has no deleted_at: covered by the test below")
    rows = platform.rows
    shown = _everything_shown(platform, make_dashboard)
    # Her record's name and number are not joined in anywhere (her call keeps the number it came from).
    assert rows.deleted_customer_name not in shown and "+4917000000099" not in shown
    assert "Deleted Call" not in shown and "Closed Company GmbH" not in shown

    ongoing_ids = set(fetch_ongoing_calls(platform.reader, SEED_NOW).rows["id"])
    assert rows.deleted_call not in ongoing_ids
    feed = fetch_activity(platform.reader, ActivityFilter(window="1h"), SEED_NOW, page_size=1000).rows
    keys = set(zip(feed["kind"], feed["id"]))
    assert ("call", rows.deleted_call) not in keys and ("appointment", rows.deleted_appointment) not in keys
    # The deleted customer's own appointment stays (Laravel does not cascade soft deletes), nameless.
    searched = fetch_activity(platform.reader, ActivityFilter(search=rows.deleted_customer_name, window="90d"),
                              SEED_NOW)
    assert searched.rows.empty
    by_number = fetch_activity(platform.reader, ActivityFilter(search="+49 170 00000099", kinds=("appointment",),
                                                               window="90d"), SEED_NOW)
    assert by_number.rows.empty
    assert "Closed Company GmbH" not in set(fetch_company_options(platform.reader)["name"])

    (calls_today,), = platform.brute_force(
        "SELECT COUNT(*) FROM calls WHERE created_at >= :today AND created_at <= :now AND deleted_at IS NULL",
        today=start_of_day(SEED_NOW), now=SEED_NOW)
    (appointments_today,), = platform.brute_force(
        "SELECT COUNT(*) FROM appointments WHERE starts_at >= :today AND starts_at < :tomorrow "
        "AND deleted_at IS NULL", today=start_of_day(SEED_NOW),
        tomorrow=start_of_day(SEED_NOW).replace(hour=23, minute=59, second=59))
    stats = fetch_headline_stats(platform.reader, SEED_NOW, start_of_day(SEED_NOW))
    assert (stats.calls_today, stats.appointments_today) == (calls_today, appointments_today)


def test_without_deleted_at_no_statement_names_it(platform):
    if platform.variant.soft_deletes:
        pytest.skip("this variant soft-deletes: covered by the test above")
    from monitoring.instrumentation import measure_refresh

    with measure_refresh("all widgets") as cost:
        fetch_ongoing_calls(platform.reader, SEED_NOW)
        fetch_activity(platform.reader, ActivityFilter(search="ann"), SEED_NOW)
        fetch_headline_stats(platform.reader, SEED_NOW, start_of_day(SEED_NOW))
        fetch_company_options(platform.reader)
    assert cost.statement_count == 4
    assert not any("deleted_at" in statement for statement in cost.statements)


@pytest.mark.parametrize("connection_collation", ["utf8mb4_unicode_ci", "utf8mb4_bin", "utf8mb4_unicode_520_ci"])
def test_no_statement_depends_on_the_connections_collation(platform, connection_collation):
    """What a platform's own DATABASE_URL or a server's init_connect may set must change no answer."""
    from database.engines import create_reader_engine

    engine = create_reader_engine(platform.url)

    @sa.event.listens_for(engine, "connect")
    def set_collation(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET collation_connection = '{connection_collation}'")
        cursor.close()

    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT @@collation_connection").scalar_one() == connection_collation
        for activity in (ActivityFilter(), ActivityFilter(search="ann", window="90d"),
                         ActivityFilter(search="Müller", window="90d")):
            mine = fetch_activity(engine, activity, SEED_NOW).rows
            reference = fetch_activity(platform.reader, activity, SEED_NOW).rows
            assert mine.equals(reference)
        assert fetch_ongoing_calls(engine, SEED_NOW).total == fetch_ongoing_calls(platform.reader, SEED_NOW).total
        mine_stats = fetch_headline_stats(engine, SEED_NOW, start_of_day(SEED_NOW))
        assert mine_stats.calls_today == fetch_headline_stats(platform.reader, SEED_NOW,
                                                              start_of_day(SEED_NOW)).calls_today
    finally:
        engine.dispose()



def _folded(text) -> str:
    """What a name search compares: no case, no accents."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c)).casefold()


@pytest.mark.parametrize("alike", [("MÜLLER", "muller", "Müller"), ("Emile", "ÉMILE", "émile"),
                                   ("zoe muller", "ZOË MÜLLER"), ("иван петров", "ИВАН ПЕТРОВ")],
                         ids=lambda alike: alike[0])
def test_names_are_found_whatever_their_case_and_accents_in_every_collation(platform, alike):
    """latin1_swedish_ci reads ü as y and utf8mb3/utf8mb4 _ci fold as MariaDB's rules say: the search must
    find the same rows in each, by brute force over every row of the window."""
    from queries.activity import count_activity

    window = ActivityFilter(window="90d")
    every = fetch_activity(platform.reader, window, SEED_NOW, page_size=5000).rows
    wanted = {(kind, int(row_id)) for kind, row_id, name in zip(every.kind, every.id, every.customer_name)
              if isinstance(name, str) and _folded(alike[0]) in _folded(name)}
    held = charset_holds(charset_of(platform.variant.collations["customers"]), "Иван Петров")
    if alike[0] == "иван петров":
        assert bool(wanted) is held  # a latin1 table holds no Cyrillic name: nothing to find, and no error
    else:
        assert wanted
    for text in alike:
        searched = ActivityFilter(window="90d", search=text)
        page = fetch_activity(platform.reader, searched, SEED_NOW, page_size=5000).rows
        assert {(kind, int(row_id)) for kind, row_id in zip(page.kind, page.id)} == wanted, text
        assert count_activity(platform.reader, searched, SEED_NOW) == len(wanted)


def test_upcoming_appointments_and_their_count_on_every_variant(platform, make_dashboard):
    from queries.activity import count_activity

    live = "AND deleted_at IS NULL" if platform.variant.soft_deletes else ""
    expected = [row_id for row_id, in platform.brute_force(
        f"SELECT id FROM appointments WHERE starts_at > :now AND starts_at <= :until {live} ORDER BY starts_at, id",
        now=SEED_NOW, until=SEED_NOW + timedelta(days=7))]
    page = fetch_activity(platform.reader, ActivityFilter(window="next7d"), SEED_NOW, page_size=5000).rows
    assert page["id"].astype(int).tolist() == expected and len(expected) > 0
    assert count_activity(platform.reader, ActivityFilter(window="next7d"), SEED_NOW) == len(expected)
    client = DashClient(make_dashboard(platform.url).server)
    feed = client.call("activity-grid.rowData", ACTIVITY_INPUTS, {**ACTIVITY_FILTERS, "activity-window.value": "next7d"})
    assert [row["id"] for row in feed["activity-grid.rowData"]] == expected[:50]
    assert feed["activity-page.children"] == f"1–{min(50, len(expected))} of {len(expected):,}"
    assert all("bk" in row for row in feed["activity-grid.rowData"])
