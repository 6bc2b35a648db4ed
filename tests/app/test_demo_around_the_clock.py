"""The demo is alive at every hour: its AI agents answer around the clock on its companies' (Berlin) clock, about
ten calls or more are ongoing even on a Sunday night, the ongoing grid and the activity feed change within 15 s of
the page opening, and calls the provider never closed read as stuck wherever they appear."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from config import DEMO_DEFAULTS, SETTINGS_BY_NAME
from database.engines import create_writer_engine
from demo.generator import COMPANY_TIMEZONE, LoadProfile
from demo.setup import DEMO_PLAN, prepare_demo_database
from demo.simulator import LiveSimulator
from queries.ongoing_calls import fetch_ongoing_calls
from schema.tables import calls
from widgets.services import EXTENSION_KEY
from tests.support.clock import FakeClock
from tests.support.dash_client import DashClient
from widgets import feed_pager

# UTC moments, as the database keeps time (Berlin is UTC+1 in December, UTC+2 in July).
MOMENTS = {
    "Tuesday 04:00 UTC": datetime(2026, 12, 8, 4, 0),  # 05:00 in Berlin: the newcomer's "Ongoing 0"
    "Tuesday 15:00 UTC": datetime(2026, 12, 8, 15, 0),  # 16:00 in Berlin: a busy afternoon
    "Sunday 02:00 UTC": datetime(2026, 12, 13, 2, 0),  # 03:00 in Berlin on a Sunday: the quietest hour there is
}
SIMULATED_MINUTES = 15
FEED_BASE = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0, "activity-pager.data": feed_pager.first_page()}
FEED_FILTERS = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
                "activity-company.value": None, "activity-window.value": "24h", "activity-search.value": ""}
ONGOING_INPUTS = {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}


LAST_DAYS = 8

def _grids(client: DashClient) -> tuple[list[dict], str, list[dict]]:
    """Return the ongoing grid's rows, its badge and the feed's first page, as the browser gets them."""
    ongoing = client.call("ongoing-grid.rowData", ONGOING_INPUTS)
    feed = client.call("activity-grid.rowData", FEED_BASE, FEED_FILTERS)
    return ongoing["ongoing-grid.rowData"], ongoing["ongoing-badge.children"], feed["activity-grid.rowData"]


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_the_demo_has_calls_ongoing_and_every_grid_changes_within_15_s(moment, tmp_path, make_dashboard):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    writer = create_writer_engine(url)
    # The demo's own plan at its own calls a day, with small payloads, over the eight days the simulator reads (it
    # scales to the last seven): neither the payloads' size nor the older week is what is tested here.
    summary = prepare_demo_database(writer, replace(DEMO_PLAN, raw_bytes=200, days=LAST_DAYS,
                                                    calls=DEMO_PLAN.calls * LAST_DAYS // DEMO_PLAN.days,
                                                    appointments=DEMO_PLAN.appointments * LAST_DAYS // DEMO_PLAN.days),
                                    now=moment)
    clock = FakeClock(moment)
    app = make_dashboard(url, clock=clock, MEMORY_SAMPLER=False, **DEMO_DEFAULTS)
    services = app.server.extensions[EXTENSION_KEY]
    client = DashClient(app.server)

    rows, badge, feed = _grids(client)
    assert summary.ongoing >= 10 and int(badge) == summary.ongoing == len(rows), (summary, badge)

    simulator = LiveSimulator(writer, period=SETTINGS_BY_NAME["SIMULATOR_PERIOD_SECONDS"].default,
                              clock=services.now, random_seed=5, raw_bytes=200)
    steps_in_15_s = int(15 // simulator.period)
    for _ in range(steps_in_15_s):
        clock.advance(simulator.period)
        simulator.step()
    later_rows, _, later_feed = _grids(client)
    assert later_rows != rows, "the ongoing grid stood still for 15 s"
    assert later_feed != feed, "the activity feed stood still for 15 s"

    # A quarter of an hour on: the count stays around the profile's, and no 15 s pass without the ongoing calls changing.
    reader = services.reader
    counts, last_change, longest_still = [], services.now(), 0.0
    shown = {int(call) for call in fetch_ongoing_calls(reader, services.now()).rows.id}
    for _ in range(int(SIMULATED_MINUTES * 60 // simulator.period)):
        clock.advance(simulator.period)
        simulator.step()
        now = services.now()
        result = fetch_ongoing_calls(reader, now)
        ids = {int(call) for call in result.rows.id}
        if ids != shown:
            longest_still = max(longest_still, (now - last_change).total_seconds())
            shown, last_change = ids, now
        counts.append(result.total)
    longest_still = max(longest_still, (services.now() - last_change).total_seconds())
    mean = sum(counts) / len(counts)
    print(f"\n{moment:%a %H:%M} UTC: seeded {summary.ongoing} ongoing; over {SIMULATED_MINUTES} min "
          f"mean {mean:.1f}, min {min(counts)}, max {max(counts)}; longest still {longest_still:.0f} s")
    # About ten or more on average, the hour's own figure; never empty (a count drawn at random dips below it).
    assert mean >= 9.5 and min(counts) >= 1, counts
    assert longest_still <= 15, longest_still
    writer.dispose()


def test_the_profile_follows_berlins_clock_through_summer_time():
    profile = LoadProfile(calls_per_week=70_000, timezone=COMPANY_TIMEZONE)
    # 10:00 on a Tuesday in Berlin: 09:00 UTC in winter, 08:00 UTC in summer, the same load.
    assert profile.rate(datetime(2026, 12, 8, 9)) == pytest.approx(profile.rate(datetime(2026, 7, 7, 8)))
    assert profile.rate(datetime(2026, 7, 7, 8)) > 3 * profile.rate(datetime(2026, 7, 7, 2))
    # The night of the spring change has 23 hours, each with a load of its own; none is empty.
    night = [datetime(2026, 3, 29, 0) + timedelta(hours=hour) for hour in range(6)]
    assert all(profile.rate(moment) > 0 for moment in night)
    # The quietest hour of the week still keeps about ten calls ongoing at the demo plan's volume.
    demo = LoadProfile.of_plan(DEMO_PLAN)
    week = [datetime(2026, 12, 7) + timedelta(hours=hour) for hour in range(24 * 7)]
    assert min(demo.ongoing(moment) for moment in week) >= 10
    assert demo.timezone == DEMO_DEFAULTS["DISPLAY_TIMEZONE"]  # the demo shows times on the clock its calls follow


def test_stuck_and_disagreeing_calls_say_so_in_the_feed_the_history_and_the_details(tmp_path, make_dashboard):
    moment = MOMENTS["Tuesday 04:00 UTC"]
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    writer = create_writer_engine(url)
    plan = replace(DEMO_PLAN, calls=3_000, appointments=300, customers_per_company=40, raw_bytes=200)
    prepare_demo_database(writer, plan, now=moment)
    with writer.connect() as connection:
        stuck = connection.execute(
            sa.select(calls.c.id, calls.c.customer_id, calls.c.created_at)
            .where(calls.c.status == "in_progress", calls.c.call_status == "in_progress",
                   calls.c.created_at < moment - timedelta(days=2))
            .order_by(calls.c.created_at.desc()).limit(1)).one()
        disagreeing = connection.execute(
            sa.select(calls.c.id, calls.c.customer_id)
            .where(calls.c.call_status == "ended").order_by(calls.c.created_at.desc()).limit(1)).one()
    writer.dispose()
    days = (moment - stuck.created_at).days
    app = make_dashboard(url, clock=FakeClock(moment), MEMORY_SAMPLER=False, **DEMO_DEFAULTS)
    client = DashClient(app.server)

    feed = client.call("activity-grid.rowData", FEED_BASE, {**FEED_FILTERS, "activity-window.value": "30d",
                                                            "activity-kind.value": ["call"],
                                                            "activity-status.value": ["in_progress"]})
    shown = {row["id"]: row["st"] for row in feed["activity-grid.rowData"]}
    assert shown[stuck.id] == f"Stuck · {days} d"
    assert shown[disagreeing.id] == "Ended · status still in progress"
    # Every call the feed lists as in progress is ongoing (under two hours old), stuck, or says that it ended.
    assert {status.split(" · ")[0] for status in shown.values()} == {"Stuck", "Ended"} | (
        {"In progress"} if any(status == "In progress" for status in shown.values()) else set())

    history = client.call("customer-panel.hidden", {"url.search": f"?customer={stuck.customer_id}",
                                                    "customer-pager.data": None, "refresh-signal.data": 0},
                          {"customer-freshness.data": None})
    assert f"Stuck · {days} d" in str(history["customer-body.children"])
    details = client.call("call-panel.hidden", {"url.search": f"?call={stuck.id}", "call-interval.n_intervals": 0,
                                                "refresh-signal.data": 0}, {"call-freshness.data": None})
    assert f"Stuck · {days} d: still in progress" in str(details["call-body.children"])
    details = client.call("call-panel.hidden", {"url.search": f"?call={disagreeing.id}",
                                                "call-interval.n_intervals": 0, "refresh-signal.data": 0},
                          {"call-freshness.data": None})
    assert "Ended · status still in progress: the platform's status and the provider's call status disagree" \
        in str(details["call-body.children"])
