"""Browser fixtures: a session-wide headless Chromium and a fresh `page` per test.

`page` is a Playwright Page with `page.console_errors` (see tests/support/browser.py).
Every test under tests/browser is marked `browser`; a missing Chromium or Playwright
skips them, or fails them when SWITCHBOARD_REQUIRE_SERVICES=1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import _unavailable
from tests.support.browser import browser_unavailable_reason, launch_chromium, watch_console

HERE = Path(__file__).parent


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
