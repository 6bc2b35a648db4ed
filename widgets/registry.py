"""What a widget is, declared once in its own module; everything else iterates the list of them.

The page shell (panels, polling, freshness lines, grid overlays), the role table,
the access check of every callback, `verify`, the cost panel and `/metrics`, and
the tests all read a widget's `Widget` record instead of keeping lists of their
own, so adding a widget is its widget module, its query module and its setting
(README, "Adding a widget"). The ordered list is `widgets.registered()`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from dash import Dash
from dash.development.base_component import Component

from access.pages import WALL_PAGE

# Components of the page itself that every widget's callbacks may read (see widgets/shell.py).
REFRESH_SIGNAL = "refresh-signal"  # bumped when the page resumes or reconnects: every widget refreshes at once
URL = "url"  # the page's dcc.Location
PAUSED = "polling-paused"  # the page's pause switch ...
VISIBILITY = "page-visibility"  # ... whether its tab is hidden ...
CONNECTION = "connection"  # ... and whether its server answers: what every interval follows
SETTINGS = "display-settings"  # what the browser needs to show times (DISPLAY_TIMEZONE)

MAIN = "main"  # the page's grid of panels
OPS = "ops"  # the column of ops panels beside it
WALL = WALL_PAGE  # a page of its own: the wallboard (widgets/wallboard.py; its pages: access/pages.py)


@dataclass(frozen=True)
class Widget:
    """One widget: where it goes, who sees it, what it polls and queries, and how it is built and wired."""

    area: str  # its name in the role table and in the access check of its callbacks
    title: str  # what the cost panel and /metrics call its refreshes
    roles: frozenset[str]  # the roles whose page shows it
    layout: Callable[[int], Component]  # layout(poll_seconds) -> the panel
    register: Callable[[Dash], None]  # wires its callbacks into the app
    poll_setting: str  # the setting of its poll interval (and cache lifetime)
    interval: str | None = None  # its dcc.Interval, paused with the page
    freshness: str | None = None  # its freshness record (dcc.Store) ...
    status: str | None = None  # ... and the line that shows it
    grid: str | None = None  # a grid whose overlay follows the freshness record
    response_output: str | None = None  # the first output of its data callback: names its responses' sizes
    # Each query it caches, by name, and what the cost panel calls it (the widget's own query is `title`).
    queries: dict[str, str] = field(default_factory=dict)
    # queries.<module>.plan_examples: realistic statements and the index each table should be read by (verify).
    plan_examples: Callable[..., list[tuple[str, Any, dict[str, tuple[str, ...]]]]] | None = None
    placement: str = MAIN
    # layout(poll_seconds, viewer) instead: the panel fits who looks (None: everything, as Dash validates it).
    per_viewer: bool = False
    # A component the page header shows for the roles that see the widget (the alerts' indicator), written by
    # the widget's own callbacks.
    header: Callable[[], Component] | None = None
    # panel(config) -> the panel, for a widget whose panel needs more settings than its poll interval.
    build: Callable[[dict[str, Any]], Component] | None = None

    def panel(self, config: dict[str, Any], viewer: Any = None) -> Component:
        """Return the widget's panel for these settings (and, for a per-viewer widget, this viewer)."""
        if self.build is not None:
            return self.build(config)
        poll_seconds = int(config[self.poll_setting])
        return self.layout(poll_seconds, viewer) if self.per_viewer else self.layout(poll_seconds)
