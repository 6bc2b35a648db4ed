"""The activity feed's page of rows: read for the link or the pager, counted, and sent as compact rows.

The first page refreshes on every poll; "Older" reads the next by keyset (widgets/feed_pager.py). The pager says
how many rows match ("1–50 of 1,204", "… of more than 2,000"), counted once per view and interval like the page.
Statuses read as people say them ("In progress", "No answer").
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dash import no_update, set_props

from access.masking import mask_field
from access.roles import Viewer, mask_phone
from access.web import current_viewer
from access.work_limits import WorkRefused
from database.query_cache import AsOf
from queries import activity as queries
from queries.activity import (COUNT_CAP, ActivityFilter, ActivityPage, Cursor, FeedCount, RecentFeed, WindowCounts,
                              count_activity, count_from_recent, feed_count, fetch_activity, fetch_company_options,
                              fetch_recent_feed, fetch_window_counts, page_from_recent, window_count_seconds)
from queries.schema_map import schema_of
from widgets.common import (cached_refresh, call_status_label, epoch, int_or_none, stale, status_label,
                            text_or_none, without_empty)
from widgets.feed_filters import build_query_string, controls_for_link, sync_url_and_filters, viewer_filter
from widgets.feed_ids import INTERVAL, NOTICE, POLL_SETTING, TITLE
from widgets.feed_pager import cursor_to_data, first_page, read_pager
from widgets.registry import REFRESH_SIGNAL, URL
from widgets.services import Services, current_services

QUERY_NAME = "activity"
RECENT_QUERY_NAME = "activity_recent"
RECENT_TITLE = "activity feed: shared newest rows (every view reads them)"
COUNT_QUERY_NAME = "activity_count"
COUNT_TITLE = "activity feed: rows matching a view (its count)"
WINDOW_COUNTS_QUERY_NAME = "activity_window_counts"
WINDOW_COUNTS_TITLE = "activity feed: a window's rows counted once for every view"
COMPANY_OPTIONS_SECONDS = 300
COMPANY_OPTIONS_QUERY = "company_options"
COMPANY_OPTIONS_TITLE = "company options"
# The newest rows take 100-150 ms to fetch: when many watch, the next slot's are fetched this long before it
# starts (at most a fifth of the interval), so no view waits for them when the slot turns
# (see caching.QueryCache.prefetch_next_slot).
RECENT_PREFETCH_SECONDS = 2.0
ROWS_OUTPUTS = ("rows", "next_cursor", "freshness", "page_label", "older_disabled", "newer_disabled", "notice")


# --- the view shown ---------------------------------------------------------------------------------------

def show_view(triggered: str | None, search: Any, pager: Any, shown: Any, filters: dict[str, Any],
              previous_freshness: Any) -> dict[str, Any]:
    """The feed's rows, read in the page's first round of callbacks: on the first call and whenever the link
    changes, the filters come from the link on the first page; on a poll or a page turn, the controls' filters on
    the pager's page. "controls" holds what the browser is to set beside the outputs (see activity.register): the
    filter controls and status choices the link asks for, and the link as the filters read it (values it ignored
    left out), each only where it differs.

    Reading the link here, rather than after the controls were set from it and the pager reset (three rounds of
    callbacks before a row), makes the first rows one round trip after the page. A link whose
    feed part is the view already shown (another panel's key changed: ?call=, ?customer=) leaves the feed as it
    is, on its page."""
    untouched = {"view": no_update, "pager": no_update, "controls": {}}
    synced = sync_url_and_filters(URL, search, filters)
    view = build_query_string(**synced["filters"])
    # A poll or a page turn whose link is not the view shown (the answer to the link's own call was lost: refused,
    # timed out, or dropped by Dash for this newer call) reads the link as that call would have.
    link_unread = isinstance(search, str) and view != shown
    if triggered not in (URL, None) and not link_unread:
        return {**untouched, **refresh(triggered, pager, filters, previous_freshness)}
    if triggered == URL and view == shown:
        return {**untouched, **_unchanged_rows()}
    return _show_link(triggered, synced, view, pager, filters, previous_freshness)


def _show_link(triggered: str | None, synced: dict[str, Any], view: str, pager: Any, filters: dict[str, Any],
               previous_freshness: Any) -> dict[str, Any]:
    """Return the first page of the view the link asks for (`synced`: as sync_url_and_filters read it), with the
    controls to set beside it and the link's notice."""
    rows = refresh(triggered, first_page(), synced["filters"], previous_freshness)
    controls = controls_for_link(triggered, synced, filters)
    # The link's own notices (what it ignored); without any, the notice a control's change wrote stays (and the
    # first call of a page starts with none).
    notice = rows["notice"] if rows["notice"] is not no_update else \
        synced["notice"] if synced["notice"] or triggered is None else no_update
    if notice is not no_update and notice and notice == synced["notice"] and URL in controls:
        # The link's notice goes with the link as read, a side update too: Dash applies those even when it drops
        # this answer for a newer call of this callback (a poll that fired before the answer came), and that call
        # reads the cleaned link, which has nothing left to say. Without it the notice was lost on such pages.
        controls[NOTICE] = {"children": notice}
    return {**rows, "notice": notice,
            "view": view, "pager": first_page() if pager != first_page() else no_update, "controls": controls}


def set_controls(result: dict[str, Any]) -> dict[str, Any]:
    """Set the components `result["controls"]` names through Dash's set_props, and return the outputs.

    set_props, not outputs: the filter controls' values feed the callback that writes the link, so as outputs they
    would make Dash hold every reader of the link (this callback, the call details, the customer history) until
    that callback's turn; as side updates they still fire it, after the rows are on their way."""
    for component, props in result.pop("controls").items():
        set_props(component, props)
    return result


def _unchanged_rows() -> dict[str, Any]:
    return {key: no_update for key in ROWS_OUTPUTS}


# --- reading a page ---------------------------------------------------------------------------------------

def refresh(triggered: str | None, pager: Any, filters: dict[str, Any], previous_freshness: Any) -> dict[str, Any]:
    """Fetch (or take from the cache) the current page of the feed; `triggered` tells a poll from a new view.

    The newest rows of the feed are one cached statement per interval; a view that
    they answer exactly (see queries.activity.page_from_recent) costs no statement.
    A view's page lives in the same time slot as the rows it was cut from (see database/query_cache.py), so it
    expires with them.
    """
    services = current_services()
    viewer = current_viewer()
    try:
        activity = viewer_filter(filters, viewer, services.config["PHONE_REGION"])
    except ValueError as error:
        return {"rows": [], "next_cursor": None, "freshness": no_update, "page_label": "Page 1",
                "older_disabled": True, "newer_disabled": True, "notice": f"Not searched: {error}"}
    cursors, page = read_pager(pager)
    reading = FeedReading.of(services, viewer, activity, cursors[page])
    reading.prefetch_recent()
    polled = triggered in (INTERVAL, REFRESH_SIGNAL)  # a poll of the view on screen, not a new view
    try:
        result = cached_refresh(TITLE, reading.cached_page, services.config["STATEMENT_TIMEOUT_MS"])
    except WorkRefused as refusal:  # this viewer's alone
        shown = _unchanged_rows() if polled else _emptied(page, stale(None, str(refusal)))
        return {**shown, "notice": str(refusal)}
    if result.cached is None:
        # A poll keeps the view's last rows, marked stale.
        return {**_unchanged_rows(), "freshness": result.freshness(previous_freshness)} if polled \
            else _emptied(page, result.freshness(None))
    return _shown_page(reading, result, page, previous_freshness)


def _emptied(page: int, freshness: dict[str, Any]) -> dict[str, Any]:
    """Return the outputs of a new view that could not load: the previous view's rows must not pass for its own,
    so the grid empties and its overlay says why (a refusal or a failure is not "no matches", nor a load that
    never ends)."""
    return {**_unchanged_rows(), "rows": [], "next_cursor": None, "freshness": freshness,
            "page_label": f"Page {page + 1}", "older_disabled": True, "newer_disabled": page == 0}


def _shown_page(reading: FeedReading, result, page: int, previous_freshness: Any) -> dict[str, Any]:
    """Return the outputs of a page read (`result`): its rows, their freshness, where they are among the rows that
    match, and which ways the pager can turn."""
    payload = result.cached.value
    # Counted once per view and interval, for all its pages: by the first page's own statement when it had one
    # (kept here for the later pages), else from the newest rows or the window's shared groups.
    known = payload.get("matching")
    counted = cached_refresh(COUNT_TITLE, lambda: reading.cached_count(known),
                             reading.services.config["STATEMENT_TIMEOUT_MS"])
    count = FeedCount.from_data(counted.cached.value) if counted.cached else \
        (FeedCount(known, capped=True) if known is not None else None)
    return {**_unchanged_rows(), "rows": payload["rows"], "next_cursor": payload["next_cursor"],
            "freshness": result.freshness(previous_freshness),
            "page_label": _counted_caption(page, reading.page_size, len(payload["rows"]), count),
            "older_disabled": payload["next_cursor"] is None, "newer_disabled": page == 0}


def _counted_caption(page: int, page_size: int, shown: int, count: FeedCount | None) -> str:
    """Return the page's caption for its count (None: not had)."""
    return page_caption(page, page_size, shown, count and count.matching,
                        COUNT_CAP if count is None or count.capped else None, about=bool(count and count.about))


@dataclass(frozen=True)
class FeedReading:
    """One refresh's reading of the feed: a viewer's view from one page's cursor, and the newest rows of the whole
    feed (one cached statement per interval, shared by every view) that most views are cut from."""

    services: Services
    viewer: Viewer
    activity: ActivityFilter
    cursor: Cursor | None
    page_size: int
    lifetime: int  # seconds: the poll interval, which every cached result here lives for
    timezone: str  # the database's
    recent_rows: int
    scope: tuple[int, ...] | None  # the companies the viewer may see (None: all)

    @classmethod
    def of(cls, services: Services, viewer: Viewer, activity: ActivityFilter, cursor: Cursor | None) -> FeedReading:
        return cls(services, viewer, activity, cursor, page_size=int(services.config["ACTIVITY_PAGE_SIZE"]),
                   lifetime=services.poll_seconds(POLL_SETTING), timezone=services.config["DATABASE_TIMEZONE"],
                   recent_rows=int(services.config["ACTIVITY_RECENT_ROWS"]), scope=viewer.scoped(None))

    @property
    def recent_params(self) -> dict[str, Any]:
        return {"rows": self.recent_rows, "company_ids": self.scope}

    def fetch_recent(self) -> dict[str, Any]:
        # Cached as plain data: one result read by many views, filtered per view (see page_from_recent).
        return fetch_recent_feed(self.services.reader, self.services.now(), self.recent_rows, self.scope).to_data()

    def prefetch_recent(self) -> None:
        self.services.queries.prefetch_next_slot(RECENT_QUERY_NAME, self.recent_params, self.lifetime,
                                                 self.fetch_recent, ahead=recent_prefetch_seconds(self.lifetime))

    def cached_recent(self):
        return self.services.queries.get_or_compute(RECENT_QUERY_NAME, self.recent_params, self.lifetime,
                                                    self.fetch_recent)

    def cached_page(self):
        return self.services.queries.get_or_compute(
            QUERY_NAME, {**_filter_params(self.activity), "cursor": cursor_to_data(self.cursor),
                         "page_size": self.page_size, "masked": self.viewer.masks_phones},
            self.lifetime, self.page_of_view)

    def page_of_view(self) -> dict[str, Any]:
        """Return the view's page: cut from the newest rows when they answer it exactly, else by its own
        statement (a first page's counts its matches too: a search is one round trip)."""
        recent = self.cached_recent().current()
        feed = RecentFeed.from_data(recent.value)
        page = page_from_recent(feed, self.activity, self.cursor, self.page_size, schema_of(self.services.reader))
        if page is not None:
            return AsOf(page_payload(page, self.timezone, self.viewer.masks_phones, feed.now), recent.computed_at)
        # Only a search that reaches the database is counted; a refusal raises through the cache, which
        # stores nothing for it, so the next viewer of this view computes it on their own count.
        self.services.work_limits.count_search(self.viewer)
        now = self.services.now()
        page = fetch_activity(self.services.reader, self.activity, now, self.cursor, self.page_size,
                              count_cap=COUNT_CAP)
        return page_payload(page, self.timezone, self.viewer.masks_phones, now)

    def cached_count(self, known: int | None):
        """Return the view's cached count: `known` when its first page's statement counted it, else counted."""
        return self.services.queries.get_or_compute(
            COUNT_QUERY_NAME, {**_filter_params(self.activity), "cap": COUNT_CAP}, self.lifetime,
            self.count_of_view if known is None else lambda: FeedCount(known, capped=True).to_data())

    def count_of_view(self) -> dict[str, Any]:
        """Count the view with no statement of its own: from the newest rows, else the window's groups, which
        every view of the window shares (one statement per window every few intervals, however many views people
        open); a capped statement only when neither can."""
        recent = RecentFeed.from_data(self.cached_recent().current().value)
        schema = schema_of(self.services.reader)
        counts = self.window_counts() if count_from_recent(recent, self.activity, schema) is None \
            and not self.activity.search and self.activity.customer_id is None else None
        counted = feed_count(recent, counts, self.activity, schema)
        if counted is None and counts is not None:  # too many groups, or rows since: the view counts apart
            counted = FeedCount(count_activity(self.services.reader, self.activity, self.services.now(), COUNT_CAP),
                                capped=True)
        # A search's or a customer's count comes with its first page's statement; a later page whose count has
        # expired shows its page number until the first page is read again, rather than count by a statement.
        return {} if counted is None else counted.to_data()

    def window_counts(self) -> WindowCounts:
        window = self.activity.window
        return WindowCounts.from_data(self.services.queries.get_or_compute(
            WINDOW_COUNTS_QUERY_NAME, {"window": window}, window_count_seconds(window, self.lifetime),
            lambda: fetch_window_counts(self.services.reader, window, self.services.now()).to_data()).value)


def _filter_params(activity: ActivityFilter) -> dict[str, Any]:
    return {"kinds": activity.kinds, "statuses": activity.statuses, "directions": activity.directions,
            "company_ids": activity.company_ids, "customer_id": activity.customer_id, "window": activity.window,
            "search": activity.search, "whole_numbers_only": activity.whole_numbers_only,
            "phone_region": activity.phone_region}


def recent_prefetch_seconds(interval: int) -> float:
    """Return how long before a slot ends the next slot's newest rows are fetched (when many watch).

    Rows fetched ahead serve the whole next slot, so a page may be this much older than its interval."""
    return min(RECENT_PREFETCH_SECONDS, interval / 5)


# --- what the browser is sent -----------------------------------------------------------------------------

def page_payload(result: ActivityPage, database_timezone: str, mask_phones: bool = False,
                 now: datetime | None = None) -> dict[str, Any]:
    """Return what the browser is sent for a page: compact rows and the next page's cursor."""
    payload = {"rows": compact_rows(result, database_timezone, mask_phones, now),
               "next_cursor": cursor_to_data(result.next_cursor)}
    return payload if result.matching is None else {**payload, "matching": result.matching}


def compact_rows(page: ActivityPage, database_timezone: str, mask_phones: bool = False,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Return the feed rows as the browser needs them: short keys, epoch seconds, no empty values; a call's status
    says when it is stuck (in progress past the ongoing window at `now`) or its two status columns disagree."""
    phone = mask_phone if mask_phones else text_or_none
    # An unknown caller's name is often their number: a name is masked like any text that may hold one.
    name = (lambda value: mask_field(text_or_none(value))) if mask_phones else text_or_none
    rows = []
    for row in page.rows.itertuples(index=False):
        record = {"k": "a" if row.kind == "appointment" else "c", "id": int(row.id),
                  "at": epoch(row.at, database_timezone), "cust": name(row.customer_name),
                  "ph": phone(text_or_none(row.phone)), "co": text_or_none(row.company_name),
                  "svc": text_or_none(row.service_name), "dir": text_or_none(row.direction),
                  "st": (status_label(row.status) if row.kind == "appointment" else
                         call_status_label(row.status, getattr(row, "call_status", None), row.at, now)),
                  "dur": int_or_none(row.duration_sec),
                  "cid": int_or_none(getattr(row, "customer_id", None)),
                  # getattr: newest rows a worker of the previous release cached (one slot) have no booked_at.
                  "bk": epoch(getattr(row, "booked_at", None), database_timezone)}
        rows.append(without_empty(record))
    return rows


def page_caption(page: int, page_size: int, shown: int, matching: int | None, cap: int | None = COUNT_CAP,
                 about: bool = False) -> str:
    """Return where the page is among the rows that match: '51–100 of 1,204', '1–50 of more than 2,000' (a
    capped count), '1–50 of about 12,400' (an estimate), or 'Page 3' when the count could not be had."""
    if matching is None or (shown == 0 and page > 0):
        return f"Page {page + 1}"
    if shown == 0:
        return "No rows match"
    first = page * page_size + 1
    last = first + shown - 1
    # The count and the page may be a moment apart: never fewer than the page shows.
    if about:
        total = f"about {max(queries.about(matching), last):,}"
    elif cap is not None and matching > cap:
        total = f"more than {cap:,}"
    else:
        total = f"{max(matching, last):,}"
    return f"{first:,}–{last:,} of {total}"


# --- the company filter's choices -------------------------------------------------------------------------

def company_options() -> dict[str, Any]:
    """Return the companies to filter by (cached for five minutes)."""
    services = current_services()
    scope = current_viewer().scoped(None)
    def options() -> list[dict[str, Any]]:
        found = fetch_company_options(services.reader, scope)
        return [{"label": name, "value": int(company_id)} for company_id, name in zip(found.id, found.name)]

    # The built options are cached, not the DataFrame (the cache holds JSON only).
    result = cached_refresh(COMPANY_OPTIONS_TITLE, lambda: services.queries.get_or_compute(
        COMPANY_OPTIONS_QUERY, {"company_ids": scope}, COMPANY_OPTIONS_SECONDS, options),
        services.config["STATEMENT_TIMEOUT_MS"])
    return {"options": result.cached.value if result.cached else no_update}
