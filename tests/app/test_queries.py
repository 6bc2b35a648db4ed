"""Each widget query's result equals a brute-force computation over the seeded rows.

The expected values are computed in pandas from every seeded row (read through
the writer engine, without the large text columns), so the SQL is checked
against an independent reading of the definition, on SQLite and on MariaDB.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring.instrumentation import measure_refresh
from queries.activity import (WINDOWS, ActivityFilter, fetch_activity, fetch_recent_feed,
                              page_from_recent)
from queries.headline_stats import fetch_headline_stats
from queries.ongoing_calls import ONGOING_STATUSES, fetch_ongoing_calls
from queries.timeutil import start_of_day
from schema.tables import LARGE_TEXT_COLUMNS, agents, appointments, calls, companies, customers, services
from tests.support.databases import SEED_NOW

NOW = SEED_NOW


@pytest.fixture(scope="module")
def everything(seeded_database):
    """Every seeded call and appointment with its related names, read without the text columns."""
    engine = seeded_database.writer()
    text_columns = {name.split(".")[1] for name in LARGE_TEXT_COLUMNS if name.startswith("calls.")}
    with engine.connect() as connection:
        call_rows = pd.DataFrame(connection.execute(
            sa.select(*[c for c in calls.c if c.name not in text_columns])).mappings().all())
        appointment_rows = pd.DataFrame(connection.execute(
            sa.select(appointments.c.id, appointments.c.company_id, appointments.c.customer_id,
                      appointments.c.service_id, appointments.c.starts_at, appointments.c.status)).mappings().all())
        names = {table.name: dict(connection.execute(sa.select(table.c.id, table.c.name)).all())
                 for table in (customers, agents, companies, services)}
        phones = dict(connection.execute(sa.select(customers.c.id, customers.c.phone)).all())
    engine.dispose()
    return call_rows, appointment_rows, names, phones


MISSED_BUCKET = {"missed": ("missed", "busy", "no_answer")}

def _expected_ongoing(call_rows: pd.DataFrame, company_ids=None) -> pd.DataFrame:
    live = call_rows[call_rows.status.isin(ONGOING_STATUSES) & call_rows.call_status.isin(ONGOING_STATUSES)
                     & (call_rows.created_at >= NOW - timedelta(hours=2))]
    if company_ids is not None:
        live = live[live.company_id.isin(company_ids)]
    return live.sort_values(["created_at", "id"], ascending=False)


def test_ongoing_calls_match_the_definition(reader, everything):
    call_rows, _, names, _ = everything
    expected = _expected_ongoing(call_rows)
    result = fetch_ongoing_calls(reader, NOW)
    assert result.total == len(expected) == 125
    assert result.rows["id"].tolist() == expected["id"].tolist()
    assert list(result.rows.columns) == ["id", "created_at", "status", "call_status", "from_number", "to_number",
                                         "customer_name", "agent_name", "company_name", "direction",
                                         "start_timestamp", "customer_id"]
    by_id = expected.set_index("id")
    for row in result.rows.itertuples():
        source = by_id.loc[row.id]
        assert row.customer_name == names["customers"][source.customer_id]
        assert row.agent_name == names["agents"][source.agent_id]
        assert row.company_name == names["companies"][source.company_id]


def test_stale_and_mismatched_calls_are_not_ongoing(reader, everything):
    call_rows, _, _, _ = everything
    stale = call_rows[(call_rows.status == "in_progress") & (call_rows.call_status == "in_progress")
                      & (call_rows.created_at < NOW - timedelta(hours=2))]
    mismatched = call_rows[call_rows.status.isin(ONGOING_STATUSES) & ~call_rows.call_status.isin(ONGOING_STATUSES)]
    assert len(stale) >= 40 and len(mismatched) >= 15  # the seed made them; they must exist to prove anything
    shown = set(fetch_ongoing_calls(reader, NOW).rows["id"])
    assert not shown & set(stale["id"]) and not shown & set(mismatched["id"])


def test_ongoing_calls_are_capped_with_the_true_total(reader, everything):
    expected = _expected_ongoing(everything[0])
    result = fetch_ongoing_calls(reader, NOW, limit=50)
    assert len(result.rows) == 50 and result.total == 125 and result.capped
    assert result.rows["id"].tolist() == expected["id"].head(50).tolist()


def test_ongoing_calls_of_chosen_companies_only(reader, everything):
    expected = _expected_ongoing(everything[0], company_ids=[2])
    result = fetch_ongoing_calls(reader, NOW, company_ids=[2])
    assert result.total == len(expected) > 0
    assert set(result.rows["id"]) == set(expected["id"])


def test_no_ongoing_calls_is_an_empty_frame_and_zero(reader):
    result = fetch_ongoing_calls(reader, NOW, company_ids=[999_999])
    assert result.total == 0 and result.rows.empty and not result.capped


def _expected_feed(everything, activity: ActivityFilter) -> pd.DataFrame:
    call_rows, appointment_rows, names, phones = everything
    since = NOW - WINDOWS[activity.window]
    frames = []
    if activity.wants("call"):
        chosen = call_rows[(call_rows.created_at >= since) & (call_rows.created_at <= NOW)]
        if activity.statuses:
            # "missed" is a bucket, as the company table counts it (docs/numbers.md): the caller was not reached.
            wanted = {same for status in activity.statuses for same in MISSED_BUCKET.get(status, (status,))}
            chosen = chosen[chosen.status.isin(wanted)]
        if activity.directions:
            chosen = chosen[chosen.direction.isin(activity.directions)]
        frames.append(pd.DataFrame({
            "kind": "call", "id": chosen.id, "at": chosen.created_at, "company_id": chosen.company_id,
            "customer_name": [names["customers"][c] for c in chosen.customer_id],
            "search_phones": [(phones[c], f, t) for c, f, t in zip(chosen.customer_id, chosen.from_number,
                                                                   chosen.to_number)]}))
    if activity.wants("appointment"):
        chosen = appointment_rows[(appointment_rows.starts_at >= since) & (appointment_rows.starts_at <= NOW)]
        if activity.statuses:
            chosen = chosen[chosen.status.isin(activity.statuses)]
        frames.append(pd.DataFrame({
            "kind": "appointment", "id": chosen.id, "at": chosen.starts_at, "company_id": chosen.company_id,
            "customer_name": [names["customers"][c] for c in chosen.customer_id],
            "search_phones": [(phones[c],) for c in chosen.customer_id]}))
    feed = pd.concat(frames, ignore_index=True)
    if activity.company_ids is not None:
        feed = feed[feed.company_id.isin(activity.company_ids)]
    if activity.search:
        needle = activity.search.lower()
        digits = re.sub(r"\D", "", activity.search)
        if digits and re.fullmatch(r"[\d\s()+./-]+", activity.search):
            hit = [any(digits in p for p in ps) for ps in feed.search_phones]
        else:
            hit = [needle in n.lower() or any(needle in p for p in ps)
                   for n, ps in zip(feed.customer_name, feed.search_phones)]
        feed = feed[hit]
    return feed.sort_values(["at", "kind", "id"], ascending=False)


def _all_pages(reader, activity: ActivityFilter, page_size: int) -> tuple[list[tuple[str, int]], int]:
    keys, cursor, pages = [], None, 0
    while pages < 500:
        page = fetch_activity(reader, activity, NOW, cursor=cursor, page_size=page_size)
        keys += list(zip(page.rows["kind"], page.rows["id"].astype(int)))
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return keys, pages
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("activity", [
    ActivityFilter(window="24h"),
    ActivityFilter(window="7d", kinds=("appointment",)),
    ActivityFilter(window="7d", directions=("outbound",)),
    ActivityFilter(window="7d", statuses=("completed",)),
    ActivityFilter(window="7d", statuses=("cancelled", "failed")),
    ActivityFilter(window="30d", company_ids=(1, 3), kinds=("call",), statuses=("missed",)),
], ids=["24h", "appointments", "outbound", "completed", "cancelled-or-failed", "companies-missed"])
def test_every_page_of_the_feed_together_is_the_brute_force_feed(reader, everything, activity):
    expected = _expected_feed(everything, activity)
    keys, pages = _all_pages(reader, activity, page_size=37)
    assert keys == list(zip(expected.kind, expected.id.astype(int)))
    assert len(expected) > 0 and pages == -(-len(expected) // 37)  # a full last page ends the feed too


RECENT_VIEWS = [
    ActivityFilter(), ActivityFilter(window="1h"), ActivityFilter(window="24h"), ActivityFilter(kinds=("call",)),
    ActivityFilter(kinds=("appointment",), window="30d"), ActivityFilter(statuses=("missed",)),
    ActivityFilter(statuses=("completed",), window="90d"), ActivityFilter(directions=("outbound",)),
    ActivityFilter(company_ids=(2,), statuses=("failed", "cancelled")),
]


@pytest.mark.parametrize("recent_rows", [40, 300, 100_000])
def test_views_answered_from_the_recent_rows_are_exactly_the_databases_pages(reader, recent_rows):
    """Every page the recent rows answer, on every filter and page depth, equals fetch_activity's."""
    recent = fetch_recent_feed(reader, NOW, recent_rows)
    answered = 0
    for activity in RECENT_VIEWS:
        cursor = None
        for _depth in range(4):
            expected = fetch_activity(reader, activity, NOW, cursor, page_size=25)
            page = page_from_recent(recent, activity, cursor, page_size=25)
            if page is not None:
                answered += 1
                assert list(zip(page.rows.kind, page.rows.id)) == list(zip(expected.rows.kind, expected.rows.id))
                assert page.next_cursor == expected.next_cursor
            if expected.next_cursor is None:
                break
            cursor = expected.next_cursor
    if recent_rows == 100_000:
        assert recent.holds_everything and answered == sum(
            min(4, len(_all_pages(reader, view, 25)[0]) // 25 + 1) for view in RECENT_VIEWS)
    assert answered > 0


def test_searches_and_companies_outside_the_recent_scope_go_to_the_database(reader):
    recent = fetch_recent_feed(reader, NOW, 100, company_ids=(1, 2))
    assert page_from_recent(recent, ActivityFilter(search="ann", company_ids=(1, 2)), None, 25) is None
    assert page_from_recent(recent, ActivityFilter(company_ids=(3,)), None, 25) is None
    assert page_from_recent(recent, ActivityFilter(), None, 25) is None  # all companies is wider than the scope
    answered = page_from_recent(recent, ActivityFilter(company_ids=(2,)), None, 25)
    assert len(answered.rows) == 25 and set(answered.rows["company_id"]) == {2}


def test_first_page_is_capped_and_newest_first(reader, everything):
    expected = _expected_feed(everything, ActivityFilter())
    page = fetch_activity(reader, ActivityFilter(), NOW, page_size=50)
    assert len(page.rows) == 50 and page.next_cursor is not None
    assert list(zip(page.rows.kind, page.rows.id)) == list(zip(expected.kind, expected.id))[:50]
    assert page.rows["at"].is_monotonic_decreasing


def test_feed_rows_carry_names_and_service_for_appointments(reader, everything):
    _, appointment_rows, names, _ = everything
    page = fetch_activity(reader, ActivityFilter(kinds=("appointment",), window="30d"), NOW, page_size=20)
    by_id = appointment_rows.set_index("id")
    for row in page.rows.itertuples():
        assert row.service_name == names["services"][by_id.loc[row.id].service_id]
        assert row.customer_name == names["customers"][by_id.loc[row.id].customer_id]
        assert row.direction is None or pd.isna(row.direction)


@pytest.mark.parametrize("search_kind", ["name", "phone-formatted", "wildcards"])
def test_search_matches_name_or_phone(reader, everything, search_kind):
    call_rows, _, names, phones = everything
    some_customer = int(call_rows[call_rows.created_at >= NOW - timedelta(days=7)].customer_id.iloc[0])
    if search_kind == "name":
        search = names["customers"][some_customer].split()[1][:4].upper()
    elif search_kind == "phone-formatted":
        digits = phones[some_customer][3:]
        search = f"({digits[:2]}) {digits[2:5]}-{digits[5:]}"
    else:
        search = "%_"  # literal characters, not wildcards: matches nothing
    activity = ActivityFilter(window="7d", search=search)
    expected = _expected_feed(everything, activity)
    keys, _ = _all_pages(reader, activity, page_size=100)
    assert keys == list(zip(expected.kind, expected.id.astype(int)))
    assert (len(keys) > 0) == (search_kind != "wildcards")


def test_invalid_filters_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown kind 'fax'"):
        ActivityFilter(kinds=("fax",))
    with pytest.raises(ValueError, match="unknown time window"):
        ActivityFilter(window="1y")
    with pytest.raises(ValueError, match="longer than"):
        ActivityFilter(search="x" * 101)


def test_a_filter_no_kind_can_match_runs_no_query(reader):
    with measure_refresh("activity") as cost:
        page = fetch_activity(reader, ActivityFilter(kinds=("appointment",), directions=("inbound",)), NOW)
    assert page.rows.empty and page.next_cursor is None and cost.statement_count == 0


def test_headline_stats_match_brute_force(reader, everything):
    call_rows, appointment_rows, _, _ = everything
    today = start_of_day(NOW)
    stats = fetch_headline_stats(reader, NOW, today)
    calls_today = call_rows[(call_rows.created_at >= today) & (call_rows.created_at <= NOW)]
    assert stats.ongoing == len(_expected_ongoing(call_rows)) == 125
    assert stats.calls_today == len(calls_today)
    assert stats.appointments_today == int(((appointment_rows.starts_at >= today)
                                            & (appointment_rows.starts_at < today + timedelta(days=1))).sum())
    assert stats.average_duration_today == pytest.approx(calls_today.duration_sec.dropna().mean())
    # Today's hours on the viewer's clock (UTC here): the hours to come have no bar yet.
    expected_hourly = calls_today.created_at.dt.hour.value_counts()
    assert stats.calls_per_hour.hour.tolist() == list(range(24))
    for hour, count in zip(stats.calls_per_hour.hour, stats.calls_per_hour.calls):
        assert count == (expected_hourly.get(hour, 0) if hour <= NOW.hour else None)
    assert stats.calls_per_hour.calls.sum() == len(calls_today)


def test_headline_stats_in_another_timezone_start_the_day_there(reader, everything):
    call_rows = everything[0]
    today = start_of_day(NOW, display_timezone="America/New_York")
    assert today == NOW.replace(hour=4, minute=0, second=0)  # midnight in New York (EDT, UTC-4, from March 8)
    stats = fetch_headline_stats(reader, NOW, today)
    assert stats.calls_today == int(((call_rows.created_at >= today) & (call_rows.created_at <= NOW)).sum())


WIDGET_REFRESHES = {
    "ongoing calls": lambda engine: fetch_ongoing_calls(engine, NOW),
    "activity feed": lambda engine: fetch_activity(engine, ActivityFilter(), NOW),
    "activity feed, searched": lambda engine: fetch_activity(engine, ActivityFilter(search="müll"), NOW),
    "headline stats": lambda engine: fetch_headline_stats(engine, NOW, start_of_day(NOW)),
}
LARGE_COLUMN_NAMES = sorted({name.split(".")[1] for name in LARGE_TEXT_COLUMNS})


@pytest.mark.parametrize("widget", sorted(WIDGET_REFRESHES))
def test_a_refresh_is_one_statement_naming_no_large_column_and_no_star(reader, widget):
    WIDGET_REFRESHES[widget](reader)  # the first connection's set-up is not the widget's cost
    with measure_refresh(widget) as cost:
        WIDGET_REFRESHES[widget](reader)
    assert cost.statement_count == 1
    statement = cost.statements[0]
    for column in LARGE_COLUMN_NAMES:
        assert not re.search(rf"\b{column}\b", statement, re.IGNORECASE), f"{widget} names {column}"
    assert not re.search(r"select\s+(distinct\s+)?\*|\.\*", statement, re.IGNORECASE)
    assert "LIMIT" in statement.upper() or widget == "headline stats"
    assert cost.rows > 0 and cost.bytes_received > 0 and cost.db_ms > 0


def test_the_ongoing_refresh_moves_kilobytes_not_megabytes(reader):
    with measure_refresh("ongoing calls") as cost:
        fetch_ongoing_calls(reader, NOW)
    # 125 rows without the 16 KB payloads: about 150 bytes a row.
    assert cost.rows == 125 and cost.bytes_received < 125 * 300


def test_parameters_are_bound_not_pasted(reader):
    hostile = "x' OR '1'='1"
    with measure_refresh("activity feed") as cost:
        page = fetch_activity(reader, ActivityFilter(search=hostile), NOW)
    assert page.rows.empty
    assert hostile not in cost.statements[0] and "OR '1'='1" not in cost.statements[0]
