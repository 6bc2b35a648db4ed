"""A customer's history: counts, upcoming and pages against brute force over the seeded rows
(SQLite, MariaDB and a Laravel-built platform database), the scope, soft deletes, the links and the callbacks."""
from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime

import pytest
from dash import no_update
import sqlalchemy as sa

from queries.customer_history import (NotFound, PAGE_SIZE, UPCOMING_CAP, fetch_page, fetch_summary, fetch_upcoming,
                                      plan_examples)
from queries.plans import Verdict, check_plans
from queries.platform import platform_schema
from schema.migrate import migrate
from schema.tables import LARGE_TEXT_COLUMNS, appointments, calls, customers
from tests.support.customer_truth import Truth
from tests.support.databases import SEED_NOW, create_test_database, drop_test_database
from tests.support.dash_client import DashClient, sign_in
from tests.support.platform_databases import VARIANTS, build_platform_database
from tests.support.users import PASSWORD, SUPPORT_COMPANY
from widgets import activity, call_details, customer_history, feed_filters, feed_ids, ongoing_calls
from widgets.registry import URL

LARAVEL = next(variant for variant in VARIANTS if variant.name == "laravel")


# --- brute force: every row read plainly, the history computed in Python ----------------------------------


def all_pages(engine, customer_id, scope, page_size=PAGE_SIZE) -> list[tuple[str, int]]:
    seen, cursor = [], None
    for _ in range(1000):
        page = fetch_page(engine, customer_id, SEED_NOW, scope, cursor, page_size)
        seen += list(zip(page.rows["kind"], (int(i) for i in page.rows["id"])))
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the pages never end")


def assert_history_is_the_truth(engine, truth: Truth, customer_id: int, scope, page_size=PAGE_SIZE) -> None:
    summary = fetch_summary(engine, customer_id, SEED_NOW, scope)
    assert summary.counts == truth.counts(customer_id, scope)
    assert (summary.first_contact, summary.last_contact) == truth.contacts(customer_id, scope)
    assert [row["id"] for row in fetch_upcoming(engine, customer_id, SEED_NOW, scope)] == truth.upcoming(customer_id, scope)
    assert all_pages(engine, customer_id, scope, page_size) == truth.past(customer_id, scope)


def test_the_history_matches_brute_force_on_the_seeded_database(reader):
    truth = Truth(reader, SEED_NOW)
    busiest = truth.busiest()
    assert sum(truth.counts(c, None)["calls"] + truth.counts(c, None)["booked"] for c in busiest) > 4 * 7
    for customer_id in busiest:
        company = truth.customers[customer_id].company_id
        assert_history_is_the_truth(reader, truth, customer_id, None, page_size=7)
        assert_history_is_the_truth(reader, truth, customer_id, (company,), page_size=7)


@pytest.mark.parametrize("scope", [None, (1,)])
def test_a_forged_a_deleted_or_a_missing_customer_is_not_found(reader, scope):
    truth = Truth(reader, SEED_NOW)
    other = next(c for c, row in truth.customers.items() if row.company_id != 1)
    for customer_id in ([other] if scope else []) + [999_999_999, 0, -1, True, "1"]:
        with pytest.raises(NotFound):
            fetch_summary(reader, customer_id, SEED_NOW, scope)


def test_the_statements_name_no_text_column_and_verify_finds_the_customer_indexes(seeded_database):
    engine = seeded_database.reader()
    platform_schema(engine)  # read at start-up in the app, not by a view
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *args: seen.append(statement))
    try:
        fetch_summary(engine, 1, SEED_NOW), fetch_upcoming(engine, 1, SEED_NOW), fetch_page(engine, 1, SEED_NOW)
        reads = list(seen)
        rows = check_plans(engine, SEED_NOW, [plan_examples])
    finally:
        engine.dispose()
    texts = {column.split(".")[1] for column in LARGE_TEXT_COLUMNS}
    assert len(reads) == 3 and not any("*" in s.replace("count(*)", "") for s in reads)
    assert not any(re.search(rf"\b{name}\b", s) for s in reads for name in texts)
    assert all(row.verdict is Verdict.PASS for row in rows), rows
    used = {(row.query, row.table): row.used for row in rows}
    assert "idx_customer_calls" in used[("customer history, page", "calls")]
    assert "idx_customer_appointments" in used[("customer history, page", "appointments")]


# --- a platform database as Laravel builds it: soft deletes, NULL names, orphans ---------------------------

@pytest.fixture(scope="module")
def laravel(tmp_path_factory):
    from database.engines import create_reader_engine, create_writer_engine

    database = create_test_database("mariadb", tmp_path_factory.mktemp("laravel-history"),
                                    collation=LARAVEL.collations["calls"])
    writer = create_writer_engine(database.url)
    rows = build_platform_database(writer, LARAVEL, SEED_NOW)
    migrate(writer)  # adopts the platform's tables, adds the indexes
    writer.dispose()
    reader = create_reader_engine(database.url)
    yield reader, rows
    reader.dispose()
    drop_test_database(database)


@pytest.mark.mariadb
def test_on_a_laravel_database_the_history_matches_brute_force_and_never_shows_a_deleted_row(laravel):
    reader, rows = laravel
    truth = Truth(reader, SEED_NOW)
    # Customer 1 has a soft-deleted call and appointment and a call of an unknown status.
    for customer_id in {1, *truth.busiest(3)}:
        assert_history_is_the_truth(reader, truth, customer_id, None, page_size=5)
    listed = all_pages(reader, 1, None)
    assert ("appointment", rows.deleted_appointment) not in listed and ("call", rows.deleted_call) not in listed
    with pytest.raises(NotFound):
        fetch_summary(reader, rows.deleted_customer, SEED_NOW)
    plans = check_plans(reader, SEED_NOW, [plan_examples])
    assert all(row.verdict is Verdict.PASS for row in plans), plans
    # The platform's own foreign key index bounds the appointments: migration 0003 left it in place.
    assert {row.used for row in plans if row.table == "appointments"} == {"appointments_customer_id_foreign"}
    # Laravel's json() is a LONGTEXT on MariaDB: like the TEXT columns, no call statement may name it.
    scalars = platform_schema(reader).scalar_columns["calls"]
    assert {"cost", "provider", "called_at"} <= scalars and not scalars & {"raw", "transcript", "analysis", "metadata"}


@pytest.mark.mariadb
def test_on_a_laravel_database_a_customer_whose_calls_have_no_name_still_has_a_history(laravel):
    reader, rows = laravel
    # The deleted customer's live call has no customer_name; a customer with calls named NULL is still theirs.
    with reader.connect() as connection:
        nameless = connection.execute(sa.select(calls.c.customer_id).where(
            calls.c.customer_name.is_(None), calls.c.customer_id.is_not(None), calls.c.deleted_at.is_(None),
            calls.c.customer_id != rows.deleted_customer).limit(1)).scalar()
    truth = Truth(reader, SEED_NOW)
    if nameless is not None and truth.found(nameless, None):
        assert_history_is_the_truth(reader, truth, nameless, None)
    for name, customer_id in rows.unicode_names.items():
        summary = fetch_summary(reader, customer_id, SEED_NOW)
        assert summary.customer["name"] == name and summary.counts["booked"] == 1


# --- the widget: what it shows, the link, each role ----------------------------------------------------------

@pytest.mark.parametrize("search, expected", [("?customer=12", (12, "")), ("?call=3&customer=7&kind=call", (7, "")),
                                              ("", (None, "")), ("?call=3", (None, ""))])
def test_the_link_names_the_open_customer(search, expected):
    assert customer_history.customer_from_query_string(search) == expected


@pytest.mark.parametrize("search", ["?customer=abc", "?customer=-1", "?customer=0", f"?customer={10 ** 30}",
                                    "?customer=1%20OR%201=1", "?customer=%EF%BC%91"])
def test_a_customer_link_that_cannot_name_one_says_so(search):
    customer_id, message = customer_history.customer_from_query_string(search)
    assert customer_id is None and "is not a customer id" in message


def test_the_customer_is_kept_beside_the_call_and_the_feeds_filters():
    out = feed_filters.sync_url_and_filters(feed_ids.SEARCH, "?call=4&customer=42", feed_filters.filter_values(
        [], ["missed"], [], [], "7d", ""))
    assert out["search"] == "?status=missed&call=4&customer=42"
    opened = feed_filters.sync_url_and_filters(URL, "?customer=42", feed_filters.filter_values())
    assert opened["search"] is no_update and opened["notice"] == ""


SHOW = "customer-panel.hidden"


def show(client, search: str, pager=None) -> dict:
    return client.call(SHOW, {"url.search": search, "customer-pager.data": pager, "refresh-signal.data": 0},
                       {"customer-freshness.data": None})


@pytest.fixture
def customer_ids(seeded_sqlite):
    engine = sa.create_engine(seeded_sqlite.url)
    truth = Truth(engine, SEED_NOW)
    engine.dispose()
    own = next(c for c in truth.busiest(20) if truth.customers[c].company_id == SUPPORT_COMPANY)
    other = next(c for c in truth.busiest(20) if truth.customers[c].company_id != SUPPORT_COMPANY)
    return own, other, truth


def test_the_panel_shows_the_counts_and_pages_through_the_history(secured, seeded_sqlite, customer_ids):
    own, _, truth = customer_ids
    app = secured(seeded_sqlite.url, CUSTOMER_HISTORY_PAGE_SIZE=5)
    admin = DashClient(app.server, login=("ada", PASSWORD))
    opened = show(admin, f"?customer={own}")
    text = json.dumps(opened)
    counts = truth.counts(own, None)
    assert opened[SHOW] is False and opened["customer-open.data"] == own
    assert f'"Calls"' in text and f'"{counts["calls"]:,}"' in text and f'"{counts["booked"]:,}"' in text
    assert opened["customer-heading.children"] == truth.customers[own].name
    older = opened["customer-next-cursor.data"]
    assert older is not None and opened["customer-older.disabled"] is False
    pager = customer_history.turn_page(customer_history.OLDER, None, older, own)
    second = show(admin, f"?customer={own}", pager)
    assert second["customer-page.children"] == "Page 2" and second["customer-newer.disabled"] is False
    assert second["customer-body.children"] != opened["customer-body.children"]
    # Another customer's pager is not this one's: a new customer starts at the newest.
    assert customer_history.read_customer_pager(pager, own + 1) == ([None], 0)


def test_support_sees_its_own_customer_masked_and_anothers_as_not_found(app_on_sqlite, customer_ids, seeded_sqlite):
    own, other, _ = customer_ids
    engine = sa.create_engine(seeded_sqlite.url)
    with engine.connect() as connection:
        phone = connection.execute(sa.select(customers.c.phone).where(customers.c.id == own)).scalar_one()
    engine.dispose()
    support = DashClient(app_on_sqlite.server, login=("sam", PASSWORD))
    opened = show(support, f"?customer={own}")
    assert opened[SHOW] is False and phone not in json.dumps(opened) and phone[-3:] in json.dumps(opened)
    admin = show(DashClient(app_on_sqlite.server, login=("ada", PASSWORD)), f"?customer={own}")
    assert phone in json.dumps(admin)
    forged, missing = show(support, f"?customer={other}"), show(support, "?customer=999999999")
    assert forged["customer-body.children"] == missing["customer-body.children"]
    assert customer_history.NOT_FOUND in json.dumps(forged) and forged["customer-open.data"] is None
    assert forged["customer-heading.children"] == missing["customer-heading.children"] == "Customer"


def test_ops_sees_no_history_at_all(app_on_sqlite, customer_ids):
    ops = DashClient(app_on_sqlite.server, login=("olga", PASSWORD))
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    assert customer_history.PANEL not in ops.client.get("/_dash-layout").get_data(as_text=True)
    assert not any("customer-" in d["output"] for d in ops.dependencies)
    request = admin.payload(SHOW, {"url.search": f"?customer={customer_ids[0]}", "customer-pager.data": None,
                                   "refresh-signal.data": 0}, {"customer-freshness.data": None})
    assert ops.post(request).status_code == 403


def test_names_in_both_grids_and_in_the_details_link_to_the_history(app_on_sqlite, seeded_sqlite):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    ongoing = admin.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0},
                         {"ongoing-freshness.data": None})["ongoing-grid.rowData"]
    engine = sa.create_engine(seeded_sqlite.url)
    with engine.connect() as connection:
        owners = dict(connection.execute(sa.select(calls.c.id, calls.c.customer_id)).all())
    engine.dispose()
    assert ongoing and all(row.get("cid") == owners[row["id"]] for row in ongoing)
    assert all(column.get("cellRenderer") == "CustomerLink" for column in
               (*ongoing_calls.COLUMN_DEFS, *activity.COLUMN_DEFS) if column.get("field") == "cust")
    call = next(row for row in ongoing if row.get("cid"))
    details = admin.call("call-panel.hidden", {"url.search": f"?call={call['id']}", "call-interval.n_intervals": 0,
                                               "refresh-signal.data": 0}, {"call-freshness.data": None})
    assert f'"href": "?customer={call["cid"]}"' in json.dumps(details)


def test_a_name_without_a_customer_record_is_no_link():
    from queries.ongoing_calls import OngoingCalls
    import pandas as pd

    frame = pd.DataFrame([{"id": 1, "created_at": SEED_NOW, "status": "ongoing", "call_status": "ongoing",
                           "from_number": None, "to_number": None, "customer_name": None, "agent_name": None,
                           "company_name": None, "direction": None, "start_timestamp": None,
                           "customer_id": float("nan")}])
    rows = ongoing_calls.compact_rows(OngoingCalls(rows=frame, total=1), "UTC")
    assert "cid" not in rows[0] and "cust" not in rows[0]
    data = call_details.details_data({"id": 1, "customer_name": "Walk-in", "customer_record": None},
                                     {"DATABASE_TIMEZONE": "UTC", "DISPLAY_TIMEZONE": "UTC"}, False)
    assert "customer-link" not in json.dumps(call_details.details_view(data), default=str)


def test_a_customer_link_survives_sign_in(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    redirected = client.get("/?customer=7&kind=call")
    assert redirected.status_code == 302
    login_page = client.get(redirected.headers["Location"])
    assert login_page.status_code == 200
    action = re.search(r'action="([^"]+)"', login_page.get_data(as_text=True)).group(1)
    assert action == "/login?next=/%3Fcustomer%3D7%26kind%3Dcall"
    signed_in = sign_in(client, "ada", PASSWORD, next_path="/%3Fcustomer%3D7%26kind%3Dcall")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/?customer=7&kind=call"


@pytest.mark.parametrize("name", [None, "", "   "])
def test_a_customer_without_a_name_is_called_by_their_id(name):
    import pandas as pd

    from queries.customer_history import COUNTS, PAGE_COLUMNS, Summary
    from queries.activity import ActivityPage

    summary = Summary(customer={"id": 5, "name": name, "phone": None, "email": None, "company_name": None},
                      counts={key: 0 for key in COUNTS}, first_contact=None, last_contact=None)
    data = customer_history.history_data(summary, [], ActivityPage(pd.DataFrame(columns=PAGE_COLUMNS), None),
                                         {"DATABASE_TIMEZONE": "UTC", "DISPLAY_TIMEZONE": "UTC"}, True)
    assert data["name"] == "Customer 5" and data["fields"] == [("Customer id", "5")]
    shown = json.dumps(customer_history.history_view(data, 0), default=str)
    assert "No calls or appointments yet." in shown and "None booked." in shown
