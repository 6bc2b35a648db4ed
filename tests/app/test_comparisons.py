"""The headline figures against yesterday and last week, and the chart's hours, read on the viewer's clock:
each equals a brute-force reading over the rows, on SQLite and MariaDB, across both of Berlin's DST changes."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from queries.headline_stats import fetch_headline_stats
from queries.timeutil import day_window, start_of_day
from tests.support.databases import SEED_NOW
from tests.support.kpi_data import (AUTUMN_NOW, DST_NOW, brute_force_headline, kpi_database, kpi_reader,  # noqa: F401
                            rows)
from widgets import headline_stats

MOMENTS = [(SEED_NOW, "UTC"), (SEED_NOW, "Europe/Berlin"), (DST_NOW, "Europe/Berlin"),
           (DST_NOW + timedelta(days=1), "Europe/Berlin"), (AUTUMN_NOW, "Europe/Berlin"),
           (AUTUMN_NOW + timedelta(days=1), "Europe/Berlin"), (SEED_NOW, "America/New_York")]


def _fetch(engine, now, zone):
    return fetch_headline_stats(engine, now, start_of_day(now, zone), display_timezone=zone)


@pytest.mark.parametrize("now, zone", MOMENTS)
def test_each_figure_and_its_comparisons_equal_the_brute_force_reading(kpi_reader, rows, now, zone):
    expected = brute_force_headline(*rows, now, zone)
    stats = _fetch(kpi_reader, now, zone)
    assert (stats.calls.today, stats.calls.yesterday, stats.calls.last_week) == \
        tuple(expected[back]["calls"] for back in (0, 1, 7))
    assert (stats.appointments.today, stats.appointments.yesterday, stats.appointments.last_week) == \
        tuple(expected[back]["appointments"] for back in (0, 1, 7))
    for found, back in ((stats.average_duration.today, 0), (stats.average_duration.yesterday, 1),
                        (stats.average_duration.last_week, 7)):
        assert found == (None if expected[back]["average"] is None else pytest.approx(expected[back]["average"]))
    assert stats.calls_today == expected[0]["calls"] and stats.calls.yesterday > 20 and stats.calls.last_week > 20
    local_hour = stats.local_now.hour
    assert stats.calls_per_hour.calls.tolist()[:local_hour + 1] == expected["today_hours"][:local_hour + 1]
    assert all(count is None or count != count for count in stats.calls_per_hour.calls.tolist()[local_hour + 1:])
    assert stats.calls_per_hour.last_week.tolist() == expected["last_week_hours"]


def test_the_dst_days_have_23_and_25_hours_and_yesterday_at_the_same_time_is_on_yesterdays_clock():
    spring = day_window(DST_NOW + timedelta(days=1), 1, "Europe/Berlin")  # Monday: yesterday was the 23-hour day
    assert (spring.start, spring.end) == (datetime(2026, 3, 28, 23), datetime(2026, 3, 29, 22))
    assert spring.until == datetime(2026, 3, 29, 13, 20)  # 15:20 summer time, 24 h before now
    monday_before = day_window(DST_NOW + timedelta(days=1), 7, "Europe/Berlin")
    assert monday_before.until == datetime(2026, 3, 23, 14, 20)  # 15:20 winter time: 7 days and 1 hour before
    autumn = day_window(AUTUMN_NOW, 0, "Europe/Berlin")
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_the_hour_that_happens_twice_counts_both_and_the_skipped_one_none(kpi_reader, rows):
    autumn = brute_force_headline(*rows, AUTUMN_NOW, "Europe/Berlin")["today_hours"]
    stats = _fetch(kpi_reader, AUTUMN_NOW, "Europe/Berlin")
    assert stats.calls_per_hour.calls[2] == autumn[2] and autumn[2] > autumn[1] // 2
    spring = _fetch(kpi_reader, DST_NOW, "Europe/Berlin")
    assert spring.calls_per_hour.calls[2] == 0


def test_the_cards_say_the_change_and_what_it_is_against(kpi_reader):
    stats = _fetch(kpi_reader, DST_NOW, "Europe/Berlin")
    values = headline_stats.card_values(stats, ongoing="7")
    calls = values["calls_today"]
    assert calls["value"] == f"{stats.calls_today:,}"
    change = round((stats.calls.today - stats.calls.yesterday) / stats.calls.yesterday * 100)
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    assert calls["compared"][0] == f"{sign}{abs(change)} % vs yesterday at 15:20 ({int(stats.calls.yesterday):,})"
    assert calls["compared"][1].endswith(f"vs last Sunday at 15:20 ({int(stats.calls.last_week):,})")
    assert values["appointments_today"]["compared"][0].split(" vs ")[1].startswith("all of yesterday")
    assert values["ongoing"]["value"] == "7"


def test_change_is_signed_and_honest_about_nothing_to_compare():
    assert [headline_stats.change(*pair) for pair in ((112, 100), (97, 100), (100, 100), (5, 0), (None, 3))] == \
        ["+12 %", "−3 %", "±0 %", "–", "–"]


def test_the_chart_is_drawn_on_the_display_clock_with_last_weeks_line_a_title_and_axis_labels(kpi_reader):
    stats = _fetch(kpi_reader, DST_NOW, "Europe/Berlin")
    figure = headline_stats.calls_per_hour_figure(stats, "Europe/Berlin")
    bars, line = figure["data"]
    assert bars["type"] == "bar" and line["type"] == "scatter" and line["name"] == "Last Sunday"
    assert bars["x"] == line["x"] == [f"{hour:02d}:00" for hour in range(24)]  # categories: no browser timezone
    assert figure["layout"]["xaxis"]["type"] == "category"
    assert figure["layout"]["title"]["text"] and figure["layout"]["xaxis"]["title"]["text"] == \
        "Hour of day (Europe/Berlin)" and figure["layout"]["yaxis"]["title"]["text"] == "Calls"
    assert bars["y"][15] is not None and bars["y"][16] is None  # 15:20 in Berlin: the hours to come are empty
