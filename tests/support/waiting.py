"""Bounded waits for tests: poll a condition until it holds or the time runs out."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], object], seconds: float = 3.0, pause: float = 0.02) -> bool:
    """Return True as soon as `condition()` is true, False when `seconds` ran out first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(pause)
    return False
