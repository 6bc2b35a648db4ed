"""A clock for tests: the app tells the time by it (`create_app(clock=…)`), and the test moves it.

SWITCHBOARD_TEST_NOW (ISO 8601, UTC unless it says otherwise, e.g. `2026-12-08T03:00:00Z`) sets the moment the
running clocks start from, so the whole suite can be run as if it were 03:00 or 15:00 on any day; unset, they start
from the wall clock's now. Clocks at SEED_NOW, the seeded data's moment, ignore it: their data were made for them.
"""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone

TEST_NOW_VARIABLE = "SWITCHBOARD_TEST_NOW"
# For an app in another process (tests/support/app_server.py): a clock standing still at these epoch seconds.
FROZEN_AT_VARIABLE = "SWITCHBOARD_TEST_FROZEN_AT"


def epoch_of(moment: datetime | float) -> float:
    """Return seconds since the epoch for a moment (a naive datetime is UTC, as the platform stores time)."""
    if isinstance(moment, (int, float)):
        return float(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def test_now() -> float:
    """Return the moment SWITCHBOARD_TEST_NOW names, or the wall clock's now when it is unset."""
    text = os.environ.get(TEST_NOW_VARIABLE, "").strip()
    if not text:
        return time.time()
    try:
        return epoch_of(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"{TEST_NOW_VARIABLE}={text!r} is not an ISO 8601 moment (e.g. 2026-12-08T03:00:00Z)") \
            from None


test_now.__test__ = False  # a helper, though its name starts with test_: pytest collects none from a module importing it


class FakeClock:
    """Seconds since the epoch, standing at `start` (or, `running`, moving at the wall clock's pace from it) and
    moved forward by `advance`. Callable, as `time.time` is."""

    __test__ = False

    def __init__(self, start: datetime | float, running: bool = False):
        self._start = epoch_of(start)
        self._moved = 0.0
        self._running_since = time.monotonic() if running else None
        self._guard = threading.Lock()

    def __call__(self) -> float:
        with self._guard:
            ran = 0.0 if self._running_since is None else time.monotonic() - self._running_since
            return self._start + self._moved + ran

    def advance(self, seconds: float) -> None:
        with self._guard:
            self._moved += seconds

    def utc(self) -> datetime:
        """Return the clock's now as a naive UTC datetime."""
        return datetime.fromtimestamp(self(), timezone.utc).replace(tzinfo=None)


def clock_from_environment() -> FakeClock:
    """Return the clock of an app served in another process: standing at SWITCHBOARD_TEST_FROZEN_AT when that is
    set (processes that must agree on one cache slot), else running from SWITCHBOARD_TEST_NOW."""
    frozen = os.environ.get(FROZEN_AT_VARIABLE, "").strip()
    return FakeClock(float(frozen)) if frozen else FakeClock(test_now(), running=True)
