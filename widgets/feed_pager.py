"""The activity feed's pager: pages by keyset (see queries/activity.py), each page's cursor kept in the browser.

"Older" keeps the cursor of the page's last row; "Newer" drops the last one; any other change goes back to the
newest page. The customer history pages the same way.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from queries.activity import KINDS, Cursor
from widgets.feed_ids import NEWER, OLDER

MAX_PAGES = 1000  # a pager deeper than this starts over


def first_page() -> dict[str, Any]:
    return {"cursors": [None], "page": 0}


def cursor_to_data(cursor: Cursor | None) -> dict[str, Any] | None:
    return None if cursor is None else {"at": cursor.at.isoformat(), "kind": cursor.kind, "id": cursor.id}


def cursor_from_data(data: Any) -> Cursor | None:
    """Return the cursor a browser sent back, or None when it is missing or malformed."""
    if not isinstance(data, dict):
        return None
    try:
        kind, row_id = data["kind"], data["id"]
        if kind not in KINDS or not isinstance(row_id, int) or isinstance(row_id, bool) or row_id < 0:
            return None
        at = datetime.fromisoformat(str(data["at"]))
        # The feed's times are naive, as stored; a cursor with a zone was not made here.
        return None if at.tzinfo is not None else Cursor(at=at, kind=kind, id=row_id)
    except (KeyError, TypeError, ValueError):
        return None


def read_pager(pager: Any) -> tuple[list[Cursor | None], int]:
    """Return the pager's cursors and page as the browser sent them, valid or reset to the first page."""
    if not isinstance(pager, dict) or not isinstance(pager.get("cursors"), list):
        return [None], 0
    page = pager.get("page")
    raw = pager["cursors"][:MAX_PAGES]
    cursors = [None] + [cursor_from_data(entry) for entry in raw[1:]]
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < len(cursors) \
            or any(cursor is None for cursor in cursors[1:page + 1]):
        return [None], 0
    return cursors[:page + 1], page


def turn(cursors: list[Cursor | None], page: int, towards: str | None, next_cursor: Any) -> dict[str, Any]:
    """Return the pager turned from this page `towards` "older" or "newer" rows; else back to the newest. The feed
    and the customer history page alike."""
    if towards == "older" and cursor_from_data(next_cursor) is not None:
        return {"cursors": [cursor_to_data(c) for c in cursors] + [next_cursor], "page": page + 1}
    if towards == "newer" and page > 0:
        return {"cursors": [cursor_to_data(c) for c in cursors[:page]], "page": page - 1}
    return first_page()


def turn_page(triggered: str | None, pager: Any, next_cursor: Any) -> dict[str, Any]:
    """Move between pages (`triggered` is the button pressed); any change of filter goes back to the newest."""
    cursors, page = read_pager(pager)
    return turn(cursors, page, {OLDER: "older", NEWER: "newer"}.get(triggered), next_cursor)
