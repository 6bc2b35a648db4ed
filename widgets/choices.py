"""Lists a browser sends (the feed's multi-choice filters): checked, deduplicated and capped before any SQL.

A dropdown sends each choice once and never more choices than it offers. A forged request may send one
company id 100,000 times: intersected with the viewer's companies but kept whole, it became an `IN (…)` of
100,000 bound parameters in both branches of the feed's statement and again in its count (+140 MB of a worker's
memory per request). So a list is refused, with a message that says why, as soon as it is longer than its cap,
before any item is looked at; otherwise every item must be of the list's type and duplicates are dropped, in
the order sent.
"""
from __future__ import annotations

from typing import Any, Callable

from access.roles import Viewer

# The companies an admin (who may see all of them) can choose at once; "All companies" is the empty choice.
MAX_CHOSEN_COMPANIES = 100


def is_company_id(value: Any) -> bool:
    """Tell whether a value is a company id as the dropdown sends it: a positive integer (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 63


def is_name(value: Any) -> bool:
    return isinstance(value, str)


def company_cap(viewer: Viewer | None) -> int:
    """Return how many companies this viewer may choose at once: as many as they may see, or the fixed cap."""
    if viewer is None or viewer.company_ids is None:
        return MAX_CHOSEN_COMPANIES
    return len(set(viewer.company_ids))


def checked_choices(values: Any, noun: str, cap: int, is_valid: Callable[[Any], bool], wrong: str) -> tuple:
    """Return the distinct choices of a multi-choice control (None: none), or raise ValueError: not a list,
    longer than `cap` (counted before anything else), or an item `is_valid` refuses (`wrong` says what)."""
    if values is None:
        return ()
    if not isinstance(values, list):
        raise ValueError(wrong)
    if len(values) > cap:
        raise ValueError(f"too many {noun}: at most {cap:,} at once ({len(values):,} were sent)")
    if not all(is_valid(value) for value in values):
        raise ValueError(wrong)
    return tuple(dict.fromkeys(values))
