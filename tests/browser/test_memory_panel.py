"""The memory panel in a real browser: limit and warning lines, and the badge in each of its states."""
from __future__ import annotations

import pytest

from tests.support.browser import WAIT_MS, serve_in_thread



@pytest.mark.parametrize("warning_mb, limit_mb, state", [
    (100_000, 200_000, "badge-ok"), (1, 200_000, "badge-warn"), (1, 2, "badge-bad")], ids=["green", "amber", "red"])
def test_the_memory_panel_draws_its_lines_and_colours_its_badge(page, seeded_sqlite, make_dashboard,
                                                                warning_mb, limit_mb, state):
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLE_SECONDS=0.5, MEMORY_POLL_SECONDS=1,
                         MEMORY_WARNING_MB=warning_mb, MEMORY_LIMIT_MB=limit_mb)
    with serve_in_thread(app.server) as server:
        page.goto(server.url)
        page.wait_for_selector(f"#memory-badge.{state}", timeout=WAIT_MS)
        chart = "#memory-workers-chart"
        # A line drawn: a path with a segment in it. A worker with one sample so far has a trace but no segment, and a
        # flat line (green, amber: 200 MB of RSS on a 200,000 MB axis) has a box of no height, so ':visible' never holds.
        page.wait_for_function(
            """chart => [...document.querySelectorAll(chart + ' .scatterlayer .trace path.js-line')]
                   .some(path => (path.getAttribute('d') || '').includes('L'))""", arg=chart, timeout=WAIT_MS)
        page.wait_for_selector(f"{chart} text:has-text('limit {limit_mb} MB')", timeout=WAIT_MS)
        page.wait_for_selector(f"{chart} text:has-text('warning {warning_mb} MB')", timeout=WAIT_MS)
        page.wait_for_selector("#memory-top td", timeout=WAIT_MS)
        page.wait_for_selector("#self-cost-table td:has-text('ongoing calls')", timeout=WAIT_MS)
        assert page.console_errors == []
