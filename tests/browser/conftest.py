"""Browser fixtures: a session-wide headless Chromium and a fresh `page` per test.

`page` is a Playwright Page with `page.console_errors` (see tests/support/browser.py);
`proxied_dashboard(**settings)` serves the app on MariaDB through a TcpProxy the test can cut.
Every test under tests/browser is marked `browser`; a missing Chromium or Playwright
skips them, or fails them when SWITCHBOARD_REQUIRE_SERVICES=1.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _unavailable
from tests.support.browser import browser_unavailable_reason, launch_chromium, serve_in_thread, watch_console
from tests.support.tcp_proxy import TcpProxy

HERE = Path(__file__).parent
# Widgets poll every second or two, so a browser test sees a change within seconds.
FAST_POLLING = {"ONGOING_CALLS_POLL_SECONDS": 1, "ACTIVITY_POLL_SECONDS": 1, "HEADLINE_STATS_POLL_SECONDS": 2}
WAIT_MS = 15_000


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test in this folder `browser`."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Launch headless Chromium once for the session."""
    reason = browser_unavailable_reason()
    if reason:
        _unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    """Open a page in a new browser context, recording its console errors."""
    context = browser.new_context()
    yield watch_console(context.new_page())
    context.close()


@pytest.fixture
def proxied_dashboard(seeded_mariadb, make_dashboard):
    """Return a context manager serving the app on MariaDB through a proxy the test can cut: (url, proxy)."""
    @contextmanager
    def serve(**settings) -> Iterator[tuple[str, TcpProxy]]:
        url = make_url(seeded_mariadb.url)
        with TcpProxy(url.host, url.port or 3306) as proxy:
            app = make_dashboard(url.set(port=proxy.port).render_as_string(hide_password=False), **settings)
            with serve_in_thread(app.server) as server:
                yield server.url, proxy

    return serve
