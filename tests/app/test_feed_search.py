"""The feed as support staff use it: upcoming appointments, statuses that follow the kind,
how many rows match, names found whatever their case and accents, numbers in national and international formats,
and what a support user of one company sees.

Every expectation is computed by brute force in Python from every seeded row (read through the writer engine),
on SQLite, on MariaDB in its default collation and on MariaDB in `utf8mb4_bin` (a collation that folds nothing,
so Switchboard must). The Laravel-style variants (utf8mb4_unicode_ci, latin1, utf8mb3) are in
tests/services/test_real_databases.py.
"""
from __future__ import annotations

import json
import unicodedata
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from access.users import UserStore, default_users_url
from demo.generator import SeedPlan, seed_database
from queries.activity import (COUNT_CAP, DEFAULT_PAGE_SIZE, STATUSES, WINDOWS, ActivityFilter, count_activity, count_from_recent, fetch_activity,
                              fetch_recent_feed, number_fragment)
from schema.migrate import migrate
from schema.tables import appointments, calls, customers
from widgets.services import EXTENSION_KEY
from tests.support.databases import SEED_NOW, create_test_database, drop_test_database
from tests.support.dash_client import DashClient
from widgets import feed_filters, feed_ids, feed_page, feed_pager
from widgets.registry import URL
from widgets.common import status_label

NOW = SEED_NOW
PASSWORD = "correct horse battery staple"
PLAN = SeedPlan(calls=900, appointments=700, companies=3, customers_per_company=50, agents_per_company=2,
                services_per_company=3, ongoing=30, stale_in_progress=10, mismatched_status=5, raw_bytes=200)
# Names in several scripts, each given a call an hour ago and an appointment tomorrow (company 2).
SCRIPT_NAMES = ("Σωκράτης Παπαδόπουλος", "Иван Петров", "Zoë Ångström", "Émile Zola", "Ngô Bảo Châu")
SEARCHES_ALIKE = [("MÜLLER", "muller", "Müller", "mÜlLeR"), ("Emile", "ÉMILE", "émile"),
                  ("ΣΩΚΡΑΤΗΣ", "σωκράτης", "Σωκρατης"), ("ИВАН", "иван петров"), ("zoe angstrom", "ZOË ÅNGSTRÖM"),
                  ("ngo bao chau", "NGÔ BẢO")]
FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
           "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0, "activity-pager.data": None}


def fold(text) -> str:
    """The definition a search follows: no case (Unicode's casefold), no accents (combining marks dropped)."""
    return "".join(c for c in unicodedata.normalize("NFKD", str(text or ""))
                   if unicodedata.category(c) != "Mn").casefold()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb),
                                        pytest.param("mariadb-bin", marks=pytest.mark.mariadb)])
def database(request, tmp_path_factory):
    backend = request.param.split("-")[0]
    collation = "utf8mb4_bin" if request.param.endswith("bin") else "utf8mb4_general_ci"
    found = create_test_database(backend, tmp_path_factory.mktemp("feed"), collation=collation)
    writer = found.writer()
    migrate(writer)
    seed_database(writer, PLAN, NOW)
    with writer.begin() as connection:
        for offset, name in enumerate(SCRIPT_NAMES):
            customer = connection.execute(customers.insert().values(
                company_id=2, name=name, phone=f"+4989666363{offset:02d}", created_at=NOW)).inserted_primary_key[0]
            connection.execute(calls.insert().values(
                company_id=2, customer_id=customer, customer_name=name, direction="inbound", status="completed",
                call_status="ended", from_number=f"+4989666363{offset:02d}", to_number="+49305000002",
                created_at=NOW - timedelta(minutes=50 + offset), duration_sec=60))
            connection.execute(appointments.insert().values(
                company_id=2, customer_id=customer, status="confirmed", starts_at=NOW + timedelta(hours=20 + offset),
                created_at=NOW - timedelta(days=2)))
    writer.dispose()
    yield found
    drop_test_database(found)


@pytest.fixture(scope="module")
def reader(database):
    engine = database.reader()
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def rows(database) -> pd.DataFrame:
    """Every call and appointment as a feed row, with what a search may match, read the obvious way."""
    engine = database.writer()
    with engine.connect() as connection:
        names = dict(connection.execute(sa.select(customers.c.id, customers.c.name)).all())
        phones = dict(connection.execute(sa.select(customers.c.id, customers.c.phone)).all())
        call_rows = connection.execute(sa.select(
            calls.c.id, calls.c.created_at, calls.c.company_id, calls.c.customer_id, calls.c.customer_name,
            calls.c.status, calls.c.direction, calls.c.from_number, calls.c.to_number)).all()
        appointment_rows = connection.execute(sa.select(
            appointments.c.id, appointments.c.starts_at, appointments.c.company_id, appointments.c.customer_id,
            appointments.c.status, appointments.c.created_at)).all()
    engine.dispose()
    records = [{"kind": "call", "id": r.id, "at": r.created_at, "company_id": r.company_id, "status": r.status,
                "direction": r.direction, "booked_at": None,
                "names": (names.get(r.customer_id), r.customer_name),
                "phones": (phones.get(r.customer_id), r.from_number, r.to_number)} for r in call_rows]
    records += [{"kind": "appointment", "id": r.id, "at": r.starts_at, "company_id": r.company_id,
                 "status": r.status, "direction": None, "booked_at": r.created_at,
                 "names": (names.get(r.customer_id),), "phones": (phones.get(r.customer_id),)}
                for r in appointment_rows]
    return pd.DataFrame(records)


def expected(rows: pd.DataFrame, activity: ActivityFilter, name_has: str = "", phone_match=None) -> pd.DataFrame:
    """The filter's rows by brute force, in the feed's order (soonest first for an upcoming window)."""
    span = WINDOWS[activity.window]
    if activity.upcoming:
        keep = (rows["at"] > NOW) & (rows["at"] <= NOW + span) & (rows.kind == "appointment")
    else:
        keep = (rows["at"] >= NOW - span) & (rows["at"] <= NOW)
    if activity.kinds:
        keep &= rows.kind.isin(activity.kinds)
    if activity.statuses:
        # A call status is its whole bucket (the default map's): "missed" is missed, busy and no_answer.
        wanted = set(activity.statuses) | ({"ongoing", "in_progress"} if {"ongoing", "in_progress"}
                                           & set(activity.statuses) else set()) | (
            {"missed", "busy", "no_answer"} if {"missed", "busy", "no_answer"} & set(activity.statuses) else set())
        call_fit = (rows.kind == "call") & rows.status.isin(wanted - {"scheduled", "confirmed", "cancelled", "no_show"})
        appointment_fit = (rows.kind == "appointment") & rows.status.isin(
            wanted & {"scheduled", "confirmed", "completed", "cancelled", "no_show"})
        keep &= call_fit | appointment_fit
    if name_has:
        keep &= rows.names.map(lambda names: any(fold(name_has) in fold(n) for n in names if n))
    if phone_match is not None:
        keep &= rows.phones.map(lambda phones: any(phone_match(p) for p in phones if p))
    chosen = rows[keep]
    return chosen.sort_values(["at", "kind", "id"], ascending=activity.upcoming)


def all_pages(reader, activity: ActivityFilter, page_size: int = 40) -> list[tuple[str, int]]:
    keys, cursor = [], None
    for _ in range(200):
        page = fetch_activity(reader, activity, NOW, cursor=cursor, page_size=page_size)
        keys += list(zip(page.rows["kind"], page.rows["id"].astype(int)))
        cursor = page.next_cursor
        if cursor is None:
            return keys
    raise AssertionError("pagination did not end")


def keys_of(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(frame.kind, frame.id.astype(int)))


# --- upcoming appointments ------------------------------------------------------------------------------

@pytest.mark.parametrize("activity", [
    ActivityFilter(window="next24h"), ActivityFilter(window="next7d"), ActivityFilter(window="next30d"),
    ActivityFilter(window="next7d", kinds=("appointment",), statuses=("confirmed",)),
    ActivityFilter(window="next7d", statuses=("cancelled", "scheduled"), company_ids=(1, 2)),
], ids=["24h", "7d", "30d", "confirmed", "two-statuses-two-companies"])
def test_upcoming_windows_are_the_future_bookings_soonest_first(reader, rows, activity):
    wanted = expected(rows, activity)
    if activity.company_ids:
        wanted = wanted[wanted.company_id.isin(activity.company_ids)]
    assert len(wanted) > 0
    assert all_pages(reader, activity) == keys_of(wanted)
    assert count_activity(reader, activity, NOW) == len(wanted)


def test_an_upcoming_row_carries_its_booking_time(reader, rows):
    page = fetch_activity(reader, ActivityFilter(window="next7d"), NOW, page_size=30)
    booked = rows[rows.kind == "appointment"].set_index("id").booked_at
    assert len(page.rows) == 30 and (page.rows["at"] > NOW).all()
    for row in page.rows.itertuples():
        assert row.booked_at == booked.loc[row.id] and row.booked_at < row.at
    shown = feed_page.compact_rows(page, "UTC")
    assert all(record["bk"] == int(pd.Timestamp(booked.loc[record["id"]]).tz_localize("UTC").timestamp())
               for record in shown)


def test_the_demos_future_bookings_are_all_visible(tmp_path):
    """The demo's 5,000 appointments reach 30 days ahead: about 1,300 of them were invisible in the feed."""
    demo = create_test_database("sqlite", tmp_path)
    writer = demo.writer()
    migrate(writer)
    seed_database(writer, SeedPlan(calls=200, appointments=5_000, raw_bytes=100), NOW)
    with writer.connect() as connection:
        # Slots are drawn up to 30 days ahead, then moved into business hours: a few land on day 31.
        future = connection.execute(sa.select(sa.func.count()).select_from(appointments).where(
            appointments.c.starts_at > NOW, appointments.c.starts_at <= NOW + timedelta(days=30))).scalar_one()
        later = connection.execute(sa.select(sa.func.count()).select_from(appointments)
                                   .where(appointments.c.starts_at > NOW + timedelta(days=30))).scalar_one()
    writer.dispose()
    reader = demo.reader()
    try:
        assert future > 1_000 and later < future / 50
        shown = all_pages(reader, ActivityFilter(window="next30d"), page_size=COUNT_CAP)
        assert len(shown) == len(set(shown)) == future
        assert count_activity(reader, ActivityFilter(window="next30d"), NOW, cap=10_000) == future
    finally:
        reader.dispose()


# --- statuses -------------------------------------------------------------------------------------------

def test_in_progress_and_ongoing_are_one_status(reader, rows):
    both = expected(rows, ActivityFilter(window="24h", statuses=("in_progress",)))
    assert set(both.status) == {"in_progress", "ongoing"}  # the seed writes both
    for chosen in (("in_progress",), ("ongoing",)):
        assert all_pages(reader, ActivityFilter(window="24h", statuses=chosen)) == keys_of(both)
    assert status_label("in_progress") == status_label("ongoing") == "In progress"
    assert feed_filters.parse_query_string("?status=ongoing,in_progress,missed")[0]["status"] == ["in_progress", "missed"]
    assert [o["value"] for o in feed_filters.status_options(["call"])].count("in_progress") == 1
    assert "ongoing" not in [o["value"] for o in feed_filters.status_options()]


def test_the_grid_shows_labels_and_the_exports_keep_the_stored_statuses(database, make_dashboard):
    import csv
    import io

    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    ongoing = {**FILTERS, "activity-window.value": "24h", "activity-status.value": ["in_progress"]}
    grid = client.call("activity-grid.rowData", INPUTS, ongoing)["activity-grid.rowData"]
    # A call whose provider status says it ended reads so (widgets.common.call_status_label), beside its status.
    assert grid and "In progress" in {row["st"] for row in grid}
    assert {row["st"] for row in grid} <= {"In progress", "Ended · status still in progress"}
    for button in ("activity-export", "activity-export-excel"):
        exported = client.call("activity-download.data", {f"{button}.n_clicks": 1}, ongoing)["activity-download.data"]
        rows = list(csv.DictReader(io.StringIO(exported["content"].lstrip("\ufeff"))))
        assert {row.get("status", row.get("Status")) for row in rows} == {"in_progress", "ongoing"}, button


@pytest.mark.parametrize("raw, label", [("no_answer", "No answer"), ("voicemail_left", "Voicemail left"),
                                        ("RINGING-TRANSFER", "Ringing transfer"), ("<b>x</b>", "B x /b"),
                                        ("", None), (None, None), ("a" * 300, "A" + "a" * 39)])
def test_statuses_read_as_people_say_them(raw, label):
    assert status_label(raw) == label


def test_the_status_choices_follow_the_kind_and_the_window():
    values = lambda options: [o["value"] for o in options]  # noqa: E731
    assert values(feed_filters.status_options(["appointment"])) == ["scheduled", "confirmed", "completed", "cancelled",
                                                            "no_show"]
    assert "missed" not in values(feed_filters.status_options(None, "next24h"))
    assert "cancelled" not in values(feed_filters.status_options(["call"]))
    assert {"missed", "cancelled"} <= set(values(feed_filters.status_options()))


def test_changing_the_kind_drops_a_status_that_no_longer_fits_with_a_notice():
    out = feed_filters.sync_url_and_filters(feed_ids.KIND, "?kind=call&status=missed",
                                            feed_filters.filter_values(["appointment"], ["missed", "cancelled"], [], [], "7d", ""))
    assert out["filters"]["statuses"] == ["cancelled"] and "dropped status=missed" in out["notice"]
    assert out["search"] == "?kind=appointment&status=cancelled"
    assert "missed" not in [o["value"] for o in out["status_options"]]
    out = feed_filters.sync_url_and_filters(feed_ids.WINDOW, "", feed_filters.filter_values(["call"], ["missed"], [], [], "next24h", ""))
    assert out["filters"]["kinds"] == ["appointment"] and out["filters"]["statuses"] == []
    assert out["search"] == "?kind=appointment&window=next24h"


@pytest.mark.parametrize("link, notice, kept", [
    ("?kind=appointment&status=missed,confirmed", "ignored status=missed: status 'missed' does not fit appointments",
     {"kind": ["appointment"], "status": ["confirmed"]}),
    ("?window=next24h&status=failed", "does not fit upcoming appointments", {"window": "next24h", "status": []}),
    ("?kind=call&window=next7d", "calls are never upcoming", {"kind": ["call"], "window": "7d"}),
    ("?kind=call&status=no_show", "does not fit calls", {"status": []}),
])
def test_a_link_whose_status_does_not_fit_its_kind_says_so(link, notice, kept):
    out = feed_filters.sync_url_and_filters(URL, link, feed_filters.filter_values())
    assert notice in out["notice"]
    values, _ = feed_filters.parse_query_string(link)
    assert {key: values[key] for key in kept} == kept


# --- how many rows match --------------------------------------------------------------------------------

@pytest.mark.parametrize("activity", [
    ActivityFilter(), ActivityFilter(window="90d"), ActivityFilter(window="24h", kinds=("call",)),
    ActivityFilter(window="30d", statuses=("missed", "cancelled")), ActivityFilter(window="next7d"),
    ActivityFilter(window="90d", search="müller"),
], ids=["7d", "90d", "calls-24h", "missed-or-cancelled", "upcoming", "searched"])
def test_the_count_is_the_brute_force_count_capped(reader, rows, activity):
    wanted = expected(rows, activity, name_has=activity.search)
    assert len(wanted) > 0
    assert count_activity(reader, activity, NOW) == min(len(wanted), COUNT_CAP + 1)
    small_cap = max(1, len(wanted) // 3)
    assert count_activity(reader, activity, NOW, cap=small_cap) == small_cap + 1  # "more than"
    recent = fetch_recent_feed(reader, NOW, 100_000)
    counted = count_from_recent(recent, activity)
    assert counted is None if (activity.search or activity.upcoming) else counted == len(wanted)


def test_the_count_is_one_capped_statement_per_kind(reader):
    from monitoring.instrumentation import measure_refresh

    count_activity(reader, ActivityFilter(), NOW)
    with measure_refresh("count") as cost:
        count_activity(reader, ActivityFilter(window="90d"), NOW)
    assert cost.statement_count == 1
    assert cost.statements[0].upper().count("LIMIT") == 2 and "COUNT(*)" in cost.statements[0].upper()


def test_the_pager_says_where_the_page_is_among_the_matches():
    assert feed_page.page_caption(0, 50, 50, 1204) == "1–50 of 1,204"
    assert feed_page.page_caption(1, 50, 50, 1204) == "51–100 of 1,204"
    assert feed_page.page_caption(2, 50, 50, COUNT_CAP + 1) == "101–150 of more than 2,000"
    assert feed_page.page_caption(0, 50, 3, 2) == "1–3 of 3"  # a row arrived between the count and the page
    assert feed_page.page_caption(0, 50, 0, 0) == "No rows match"
    assert feed_page.page_caption(4, 50, 20, None) == "Page 5"


def test_the_feed_callback_shows_the_count_and_caches_it_for_the_interval(database, rows, make_dashboard):
    app = make_dashboard(database.url, MEMORY_SAMPLER=False, ACTIVITY_POLL_SECONDS=3600)
    client = DashClient(app.server)
    searched = {**FILTERS, "activity-window.value": "90d", "activity-search.value": "MÜLLER"}
    total = len(expected(rows, ActivityFilter(window="90d"), name_has="müller"))
    first = client.call("activity-grid.rowData", INPUTS, searched)
    assert first["activity-page.children"] == f"1–{min(total, 50)} of {total:,}"
    services = app.server.extensions[EXTENSION_KEY]
    statements = []
    sa.event.listen(services.reader, "before_cursor_execute", lambda *args: statements.append(args[2]))
    again = client.call("activity-grid.rowData", INPUTS, searched)
    assert again["activity-page.children"] == first["activity-page.children"] and statements == []
    every = client.call("activity-grid.rowData", INPUTS, {**FILTERS, "activity-window.value": "90d"})
    assert every["activity-page.children"] == f"1–50 of {len(expected(rows, ActivityFilter(window='90d'))):,}"


def test_a_search_and_its_count_are_one_statement_and_its_next_page_one_more(database, rows, make_dashboard):
    app = make_dashboard(database.url, MEMORY_SAMPLER=False, ACTIVITY_POLL_SECONDS=3600)
    client = DashClient(app.server)
    searched = {**FILTERS, "activity-window.value": "90d", "activity-search.value": "müller"}
    total = len(expected(rows, ActivityFilter(window="90d"), name_has="müller"))
    assert total > 50
    client.call("activity-grid.rowData", INPUTS, FILTERS)  # the newest rows, cached for the hour
    statements = []
    sa.event.listen(app.server.extensions[EXTENSION_KEY].reader, "before_cursor_execute",
                    lambda *args: statements.append(args[2]))
    first = client.call("activity-grid.rowData", INPUTS, searched)
    assert len(statements) == 1 and "count(*)" in statements[0].lower()
    assert first["activity-page.children"] == f"1–50 of {total:,}"
    pager = {"cursors": [None, first["activity-next-cursor.data"]], "page": 1}
    second = client.call("activity-grid.rowData", {**INPUTS, "activity-pager.data": pager}, searched)
    assert len(statements) == 2 and "count(*)" not in statements[1].lower()
    assert second["activity-page.children"] == f"51–{min(100, total)} of {total:,}"


# --- searching names and numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("alike", SEARCHES_ALIKE, ids=lambda alike: alike[0])
def test_names_are_found_whatever_their_case_and_accents(reader, rows, alike):
    found = [all_pages(reader, ActivityFilter(window="90d", search=text), page_size=200) for text in alike]
    wanted = keys_of(expected(rows, ActivityFilter(window="90d"), name_has=alike[0]))
    assert len(wanted) > 0
    assert all(keys == wanted for keys in found), [len(keys) for keys in found]


def test_a_collation_that_folds_nothing_is_compared_in_one_that_does(reader, database):
    from queries.platform import platform_schema

    facts = platform_schema(reader)
    if database.backend == "sqlite":
        assert facts.collations == {}  # every search goes through switchboard_fold
    else:
        binary = facts.collations["customers.name"] == "utf8mb4_bin"
        assert facts.folds(customers.c.name) is not binary and facts.folds(calls.c.customer_name) is not binary
        assert facts.collations["customers.name"] in ("utf8mb4_bin", "utf8mb4_general_ci")


def test_emile_finds_emile_with_its_accent(reader):
    page = fetch_activity(reader, ActivityFilter(window="90d", search="Emile"), NOW, page_size=500)
    assert len(page.rows) > 0 and all("Émile" in name for name in page.rows["customer_name"])


def test_verify_passes_the_feeds_plans_upcoming_searched_and_counted(reader):
    """A search filters the rows of the window by its time index; the upcoming windows and the count too."""
    from queries.activity import plan_examples
    from queries.plans import Verdict, check_plans

    checked = check_plans(reader, NOW, [plan_examples])
    assert {"activity feed, upcoming", "activity feed, upcoming by status", "activity feed, counted",
            "activity feed, searched and counted"} <= {row.query for row in checked}
    assert all(row.verdict is Verdict.PASS for row in checked), [
        (row.query, row.table, row.note) for row in checked if row.verdict is not Verdict.PASS]


def _customer_from_munich(rows: pd.DataFrame) -> str:
    numbers = sorted({p for phones in rows.phones for p in phones if p and p.startswith("+4989")
                      and len(p) == 13})
    assert numbers, "the seed gives some customers Munich numbers"
    return numbers[0]


def _typed_forms(number: str) -> dict[str, tuple[str, bool]]:
    """How people type a Munich number +4989 6663 6345: what each form must match, and whether at the start."""
    national = number[5:]
    return {
        f"089 {national}": (number, True),  # whole, national
        f"089 {national[:4]}…": ("+4989" + national[:4], True),  # a fragment, national
        f"0{number[3:10]}": (number[:10], True),  # a fragment without spaces
        f"+49 89 {national[:3]}": ("+4989" + national[:3], True),  # international
        f"0049 (89) {national[:3]}": ("+4989" + national[:3], True),
        national[2:]: (national[2:], False),  # digits alone: anywhere in the number
    }


def test_numbers_typed_in_national_and_international_formats_find_the_same_customer(reader, rows):
    number = _customer_from_munich(rows)
    for typed, (match, at_start) in _typed_forms(number).items():
        assert number_fragment(typed, "DE") == (match, at_start), typed
        activity = ActivityFilter(window="90d", search=typed, phone_region="DE")
        wanted = expected(rows, ActivityFilter(window="90d"),
                          phone_match=(lambda p: p.startswith(match)) if at_start else (lambda p: match in p))
        keys = all_pages(reader, activity, page_size=200)
        assert keys == keys_of(wanted) and keys, typed
        holders = wanted[wanted.phones.map(lambda phones: number in phones)]
        assert set(keys_of(holders)) <= set(keys)


def test_without_a_region_a_national_number_is_only_digits():
    assert number_fragment("089 66636345") == ("08966636345", False)
    assert number_fragment("+49 89 666") == ("+4989666", True)
    assert number_fragment("12") is None and number_fragment("Müller") is None


def test_an_admin_finds_a_customer_by_a_national_fragment_through_the_feed(database, rows, make_dashboard):
    number = _customer_from_munich(rows)
    app = make_dashboard(database.url, MEMORY_SAMPLER=False, PHONE_REGION="DE")
    client = DashClient(app.server)
    for typed in (f"0{number[3:]}", f"0{number[3:10]}…", f"+49 {number[3:5]} {number[5:9]}"):
        out = client.call("activity-grid.rowData", INPUTS,
                          {**FILTERS, "activity-window.value": "90d", "activity-search.value": typed})
        assert any(row.get("ph", "").startswith(number[:10]) for row in out["activity-grid.rowData"]), typed


# --- support of one company, and hostile input ---------------------------------------------------------

def _layout_of(client) -> dict:
    return client.client.get("/_dash-layout").get_json()


def _find(node, wanted_id: str, parent=None):
    """Return (component, parent) of the component with this id in a layout tree."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == wanted_id:
            return node, parent
        children = node.get("props", {}).get("children")
        for child in children if isinstance(children, list) else [children]:
            found = _find(child, wanted_id, node)
            if found:
                return found
    return None


@pytest.fixture
def users_app(database, make_dashboard, tmp_path):
    store = UserStore(default_users_url(tmp_path))
    try:
        store.add("ada", "admin", (), PASSWORD)
        store.add("sam", "support", (2,), PASSWORD)
        store.add("sue", "support", (1, 2), PASSWORD)
    finally:
        store.dispose()
    return make_dashboard(database.url, MEMORY_SAMPLER=False)


@pytest.mark.parametrize("user, one_company", [("sam", True), ("sue", False), ("ada", False)])
def test_a_support_user_of_one_company_gets_no_company_filter_or_column(users_app, user, one_company):
    client = DashClient(users_app.server, login=(user, PASSWORD))
    page = _layout_of(client)
    _, group = _find(page, feed_ids.COMPANY)
    assert bool(group["props"].get("hidden")) is one_company
    for grid in (feed_ids.GRID, "ongoing-grid"):
        component, _ = _find(page, grid)
        company = [c for c in component["props"]["columnDefs"] if c.get("field") == "co"]
        assert len(company) == 1 and bool(company[0].get("hide")) is one_company
    shown = client.call("activity-grid.rowData", INPUTS, FILTERS)["activity-grid.rowData"]
    assert shown and (user != "sam" or {row["co"] for row in shown} == {"Salon Lumière"})


def test_the_caller_of_an_outbound_call_is_the_customers_number(database, make_dashboard):
    engine = database.writer()
    with engine.connect() as connection:
        ongoing = connection.execute(sa.select(calls.c.id, calls.c.direction, calls.c.from_number,
                                               calls.c.to_number)
                                     .where(calls.c.status.in_(("ongoing", "in_progress")),
                                            calls.c.call_status.in_(("ongoing", "in_progress")),
                                            calls.c.created_at >= NOW - timedelta(hours=2))).all()
    engine.dispose()
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    shown = {row["id"]: row for row in client.call(
        "ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})["ongoing-grid.rowData"]}
    directions = {call.direction for call in ongoing}
    assert {"inbound", "outbound"} <= directions
    for call in ongoing:
        customer = call.to_number if call.direction == "outbound" else call.from_number
        assert shown[call.id].get("caller") == customer
        assert shown[call.id]["st"] == "In progress"


@pytest.mark.parametrize("filters, message", [
    ({"activity-kind.value": ["appointment"], "activity-status.value": ["missed"]},
     "status 'missed' does not fit appointments"),
    ({"activity-kind.value": ["call"], "activity-window.value": "next24h"}, "calls are never upcoming"),
    ({"activity-window.value": "next7d", "activity-status.value": ["busy"]}, "does not fit upcoming appointments"),
    ({"activity-status.value": ["in_progress", "bogus"]}, "unknown status 'bogus'"),
    ({"activity-search.value": "x" * 20_000}, "longer than 100 characters"),
    ({"activity-window.value": "next999d"}, "unknown time window"),
])
def test_forged_filters_get_a_clear_message_not_an_empty_result(database, make_dashboard, filters, message):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    response = client.post(client.payload("activity-grid.rowData", INPUTS, {**FILTERS, **filters}))
    assert response.status_code == 200
    out = response.get_json()["response"]
    assert out["activity-grid"]["rowData"] == [] and message in out["activity-notice"]["children"]
    assert out["activity-notice"]["children"].startswith("Not searched")


@pytest.mark.parametrize("search, notice", [
    ("?q=%ED%A0%80", ""),  # a surrogate's bytes are not UTF-8: read as U+FFFD, an odd search, not an error
    ("?q=" + "%F0%9F%8C%BB" * 200, "longer than 100 characters"),
    ("?status=" + "x," * 5000, "not a known status"),
    ("?kind=appointment&status=missed&window=next24h&q=%00", "does not fit upcoming appointments"),
])
def test_hostile_links_get_a_notice_and_no_server_error(database, make_dashboard, search, notice):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    # The link is read by the feed's own callback (its rows come in the page's first round): it says what it ignored.
    response = client.post(client.payload("activity-grid.rowData", {"url.search": search}, {
        f"{component}.value": None for component in feed_filters.FILTER_IDS}))
    assert response.status_code == 200
    # A link that ignored nothing leaves the notice as it was (a control's change may have just written one).
    shown = response.get_json()["response"].get("activity-notice", {"children": ""})["children"]
    assert notice in shown and (notice or "activity-notice" not in response.get_json()["response"])


def test_a_lone_surrogate_in_a_search_is_refused_with_a_message(database, make_dashboard):
    with pytest.raises(ValueError, match="not text"):
        feed_filters.filter_from_controls(None, None, None, None, "7d", "m\ud800ller")
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    body = json.dumps(client.payload("activity-grid.rowData", INPUTS,
                                     {**FILTERS, "activity-search.value": "m\ud800ller"}))
    response = client.client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400 and b"Traceback" not in response.data


def test_every_typed_form_is_an_answer_never_an_error(reader):
    window = fetch_activity(reader, ActivityFilter(window="90d"), NOW, page_size=5_000)
    in_window = set(zip(window.rows["kind"], window.rows["id"]))
    for typed in ("+", "00", "0", "+49", "0 0 0", "(((", "0" * 100, "+" + "9" * 99, "089…", "...", "1.2.3",
                  "+49 89 ‎666", "٠٨٩ ٦٦٦", "0896663…", "%_\\"):
        page = fetch_activity(reader, ActivityFilter(window="90d", search=typed[:100], phone_region="DE"), NOW,
                              count_cap=COUNT_CAP)
        # An answer of the feed's shape, within its window and page, its count telling the same as its rows.
        assert list(page.rows.columns) == list(window.rows.columns), typed
        assert set(zip(page.rows["kind"], page.rows["id"])) <= in_window, typed
        assert len(page.rows) <= DEFAULT_PAGE_SIZE and (page.matching == 0) == page.rows.empty, typed
    # Forms no number or name can hold match nothing, rather than everything.
    for nothing in ("0" * 100, "+" + "9" * 99, "%_\\"):
        assert fetch_activity(reader, ActivityFilter(window="90d", search=nothing, phone_region="DE"), NOW).rows.empty


# --- the link, read by the feed's own callback (its rows in the page's first round) ---------------------------

def test_a_link_sets_the_controls_and_shows_its_first_page_in_one_answer(database, make_dashboard, rows):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    pager = {"cursors": [None, {"at": "2020-01-01T00:00:00", "kind": "call", "id": 5}], "page": 1}
    response = client.post(client.payload("activity-grid.rowData", {"url.search": "?kind=call&window=24h&zap=1",
                                                                    "activity-pager.data": pager}, FILTERS))
    assert response.status_code == 200
    answer = response.get_json()
    shown = answer["response"]
    assert shown["activity-pager"]["data"] == feed_pager.first_page() and shown["activity-view"]["data"] == "?kind=call&window=24h"
    assert {row["k"] for row in shown["activity-grid"]["rowData"]} == {"c"}
    assert "ignored 'zap'" in shown["activity-notice"]["children"]
    # The controls follow the link, and the address bar gets the link as read (what it ignored left out).
    side = answer["sideUpdate"]
    assert side["activity-kind"] == {"value": ["call"]} and side["activity-window"] == {"value": "24h"}
    assert side["url"] == {"search": "?kind=call&window=24h"}
    # The notice goes with the cleaned link too: Dash applies side updates of an answer it drops for a newer call.
    assert "ignored 'zap'" in side["activity-notice"]["children"]
    assert {option["value"] for option in side["activity-status"]["options"]} <= set(STATUSES)


def test_another_panels_key_in_the_link_leaves_the_feed_on_its_page(database, make_dashboard):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    pager = {"cursors": [None, {"at": "2020-01-01T00:00:00", "kind": "call", "id": 5}], "page": 1}
    state = {**FILTERS, "activity-kind.value": ["call"], "activity-view.data": "?kind=call"}
    response = client.post(client.payload("activity-grid.rowData", {"url.search": "?kind=call&call=42",
                                                                    "activity-pager.data": pager}, state))
    # Nothing to change (the open call is the call panel's): no output and no control set.
    assert response.status_code == 200 and response.get_json() == {"multi": True, "response": {}}
    # The first call of a page reads the link whatever the feed showed before (a reload).
    first = client.post(client.payload("activity-grid.rowData", {"url.search": "?kind=call&call=42"}, state,
                                       changed=[]))
    assert first.status_code == 200 and first.get_json()["response"]["activity-view"]["data"] == "?kind=call"


def test_a_control_writes_the_link_and_only_a_control(database, make_dashboard):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    typed = client.call("url.search", {**FILTERS, "activity-search.value": "anna"}, {"url.search": "?call=7"},
                        changed=["activity-search.value"])
    assert typed["url.search"] == "?q=anna&call=7"
    # A body that claims the link changed is not this callback's to act on: the feed's own callback reads links.
    assert client.call("url.search", FILTERS, {"url.search": "?kind=bogus"}, changed=["url.search"]) == {}


def test_a_poll_reads_a_link_whose_own_answer_was_lost(database, make_dashboard):
    """The link's call was refused or dropped: the next poll shows the link's view on its first page, not the
    controls' defaults under a filtered link, nor an old page's cursors under a new filter."""
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    pager = {"cursors": [None, {"at": "2020-01-01T00:00:00", "kind": "call", "id": 5}], "page": 1}
    for shown in (None, "?kind=call"):
        answer = client.post(client.payload(
            "activity-grid.rowData", {"activity-interval.n_intervals": 3, "url.search": "?kind=appointment",
                                      "activity-pager.data": pager}, {**FILTERS, "activity-view.data": shown}))
        body = answer.get_json()
        assert answer.status_code == 200 and body["response"]["activity-view"]["data"] == "?kind=appointment"
        assert {row["k"] for row in body["response"]["activity-grid"]["rowData"]} == {"a"}
        assert body["response"]["activity-pager"]["data"] == feed_pager.first_page()
        assert body["sideUpdate"]["activity-kind"] == {"value": ["appointment"]}
    # The view shown is the link's: a poll refreshes it on its page.
    same = client.post(client.payload(
        "activity-grid.rowData", {"activity-interval.n_intervals": 4, "url.search": "?kind=call&call=3",
                                  "activity-pager.data": feed_pager.first_page()},
        {**FILTERS, "activity-kind.value": ["call"], "activity-view.data": "?kind=call"})).get_json()
    assert "activity-view" not in same["response"] and "sideUpdate" not in same


def test_the_controls_are_set_only_where_they_differ_from_the_link(database, make_dashboard):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    # A first load without filters: the dropdowns' None is the link's empty choice; nothing to set but the
    # statuses to choose from.
    first = client.post(client.payload("activity-grid.rowData", {"url.search": ""}, FILTERS, changed=[])).get_json()
    assert set(first.get("sideUpdate", {})) <= {"activity-status"}
    # The search box keeps the typist's trailing space (the link keeps the text trimmed).
    typed = client.post(client.payload("activity-grid.rowData", {"url.search": "?q=anna"},
                                       {**FILTERS, "activity-search.value": "anna "})).get_json()
    assert "activity-search" not in typed.get("sideUpdate", {})


def test_a_notice_of_a_control_change_is_not_wiped_by_the_link_it_wrote(database, make_dashboard):
    client = DashClient(make_dashboard(database.url, MEMORY_SAMPLER=False).server)
    chosen = {**FILTERS, "activity-kind.value": ["call"], "activity-status.value": ["scheduled"]}
    wrote = client.call("url.search", chosen, {"url.search": "?status=scheduled"}, changed=["activity-kind.value"])
    assert "dropped status=scheduled" in wrote["activity-notice.children"]
    read = client.post(client.payload("activity-grid.rowData", {"url.search": wrote["url.search"]},
                                      {**chosen, "activity-status.value": [], "activity-view.data": "?status=scheduled"}))
    assert "activity-notice" not in read.get_json()["response"]
