"""The naive-against-Switchboard benchmark reads both headline answers the same way at any hour of the day."""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pandas as pd
import pytest

from benchmarks.naive_vs_switchboard import headline_answer, hours_so_far

TODAY = datetime(2026, 3, 10)
COUNTS = [hour * 3 + 1 for hour in range(24)]


def switchboard_stats(now: datetime) -> SimpleNamespace:
    """Headline stats shaped as fetch_headline_stats returns them: today's hours still to come are None."""
    calls = pd.Series([count if hour <= now.hour else None for hour, count in enumerate(COUNTS)], dtype=object)
    return SimpleNamespace(ongoing=4, calls_today=sum(COUNTS[:now.hour + 1]), appointments_today=7,
                           average_duration_today=183.456,
                           calls_per_hour=pd.DataFrame({"hour": range(24), "calls": calls, "last_week": COUNTS}))


@pytest.mark.parametrize("now", [datetime(2026, 3, 10, 0, 0, 5), datetime(2026, 3, 10, 4, 15),
                                 datetime(2026, 3, 10, 22, 59, 59), datetime(2026, 3, 10, 23, 30)],
                         ids=["midnight", "04:15", "22:59", "23:30"])
def test_both_modes_chart_the_hours_of_today_so_far(now):
    answer = headline_answer(switchboard_stats(now))
    hours = answer["calls_per_hour"]
    assert hours[:now.hour + 1] == COUNTS[:now.hour + 1]
    assert hours[now.hour + 1:] == [None] * (23 - now.hour)
    assert all(isinstance(count, int) for count in hours[:now.hour + 1])
    # The naive widget counts every hour of today, and leaves those to come empty as the chart does.
    assert hours_so_far(COUNTS, TODAY, now) == hours
    assert answer["average_duration_today"] == 183.5


def test_a_nan_hour_reads_as_none():
    stats = switchboard_stats(datetime(2026, 3, 10, 1, 0))
    stats.calls_per_hour["calls"] = pd.Series([1.0, 2.0] + [float("nan")] * 22)
    assert headline_answer(stats)["calls_per_hour"] == [1, 2] + [None] * 22
