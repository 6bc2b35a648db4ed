"""The activity feed's names that its modules share: its components' ids, its title and its poll setting.

They live apart from widgets/activity.py (the widget's layout, callbacks and record) so that the feed's filters,
pager, page and export can name the components without importing the widget that imports them.
"""
from __future__ import annotations

TITLE = "activity feed"
POLL_SETTING = "ACTIVITY_POLL_SECONDS"

GRID = "activity-grid"
INTERVAL = "activity-interval"
KIND = "activity-kind"
STATUS_FILTER = "activity-status"
DIRECTION = "activity-direction"
COMPANY = "activity-company"
WINDOW = "activity-window"
SEARCH = "activity-search"
NOTICE = "activity-notice"
CLEAR = "activity-clear"  # "Clear filters", offered when a filtered result is empty
LINK_KEYS = "activity-link-keys"  # the link's keys of the feed's filters, for the browser's "Clear filters"
PAGER = "activity-pager"
VIEW = "activity-view"  # the feed's part of the link the grid shows (its filters' query string)
NEXT_CURSOR = "activity-next-cursor"
OLDER = "activity-older"
NEWER = "activity-newer"
PAGE_LABEL = "activity-page"
EXPORT = "activity-export"
EXPORT_EXCEL = "activity-export-excel"
DOWNLOAD = "activity-download"
FRESHNESS = "activity-freshness"
STATUS = "activity-status-line"
