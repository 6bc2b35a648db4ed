"""The wallboard in a real browser: a TV's page at 1920x1080 and 1280x720, one screen high, large type, nothing
to click, a page of companies at a time, and back by itself after a server restart.

`SWITCHBOARD_SCREENSHOT_DIR=docs` writes docs/wallboard-1920x1080.png and docs/wallboard-1280x720.png (the
README's pictures); without it the run writes nothing into the tree."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest

from access.users import UserStore, default_users_url
from app import create_app
from demo.generator import SeedPlan, seed_database
from schema.migrate import migrate
from widgets.services import EXTENSION_KEY
from tests.support.clock import FakeClock
from tests.support.users import PASSWORD
from tests.support.databases import SEED_NOW, create_test_database
from tests.support.browser import WAIT_MS, screenshot, serve_in_thread

# A floor of 20 companies, more than fit on a TV at once, with two weeks of the demo's load profile behind them.
FLOOR_PLAN = SeedPlan(calls=40_000, appointments=9_000, companies=20, customers_per_company=60, agents_per_company=2,
                      services_per_company=4, raw_bytes=200, days=14, ongoing=None)
SETTINGS = {"COMPANY_KPIS_POLL_SECONDS": 2, "WALLBOARD_ROTATE_SECONDS": 2, "MEMORY_SAMPLER": False,
            "DISPLAY_TIMEZONE": "Europe/Berlin"}


@pytest.fixture(scope="module")
def floor(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A seeded floor of 20 companies and a user store with a wallboard user: (database URL, instance folder)."""
    folder = tmp_path_factory.mktemp("wallboard")
    database = create_test_database("sqlite", folder)
    writer = database.writer()
    migrate(writer)
    seed_database(writer, FLOOR_PLAN, SEED_NOW)
    writer.dispose()
    store = UserStore(default_users_url(folder))
    store.add("wally", "wallboard", (), PASSWORD)
    store.add("ada", "admin", (), PASSWORD)
    store.dispose()
    yield database.url, folder


def _app(floor):
    url, folder = floor
    app = create_app({"DATABASE_URL": url, **SETTINGS}, instance_path=folder, clock=FakeClock(SEED_NOW, running=True))
    services = app.server.extensions[EXTENSION_KEY]
    return app, services


@pytest.fixture(scope="module")
def wall_site(floor) -> Iterator[str]:
    app, services = _app(floor)
    with serve_in_thread(app.server) as server:
        yield server.url
    services.shutdown()


def _open_wall(browser, site: str, width: int, height: int):
    context, page = _sign_in(browser, site, width, height, "wally")
    page.wait_for_url(re.compile(r"/wall$"), timeout=WAIT_MS)
    _wait_for_figures(page)
    return context, page


def _sign_in(browser, site: str, width: int, height: int, name: str, path: str = "/"):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    from tests.support.browser import watch_console
    watch_console(page)
    page.goto(site + path)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    return context, page


def _wait_for_figures(page) -> None:
    page.wait_for_selector("#wall-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('#wall-card-calls_today').textContent !== '–' && "
                           "document.querySelector('#wall-card-ongoing').textContent !== '–'", timeout=WAIT_MS)


@pytest.mark.parametrize("width, height", [(1920, 1080), (1280, 720)])
def test_the_wallboard_fills_one_screen_in_large_type_with_nothing_to_click(browser, wall_site, width, height):
    context, page = _open_wall(browser, wall_site, width, height)
    try:
        page.wait_for_function("document.querySelector('#wall-page').textContent.includes('page 1 of')",
                               timeout=WAIT_MS)
        page.wait_for_timeout(500)  # the row height follows the screen: let the grid settle
        folder = os.environ.get("SWITCHBOARD_SCREENSHOT_DIR")
        if folder:  # the README's pictures of the wallboard
            screenshot(page, Path(folder) / f"wallboard-{width}x{height}.png")
        sizes = page.evaluate("""() => ({
            scroll: document.documentElement.scrollHeight, inner: window.innerHeight,
            scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
            cell: parseFloat(getComputedStyle(document.querySelector('#wall-grid .ag-cell')).fontSize),
            value: parseFloat(getComputedStyle(document.querySelector('#wall-card-calls_today')).fontSize),
            clickable: document.querySelectorAll('button, a[href], input, select, textarea').length,
            gridBottom: document.querySelector('#wall-grid').getBoundingClientRect().bottom,
        })""")
        assert sizes["scroll"] <= sizes["inner"] and sizes["scrollWidth"] <= sizes["innerWidth"], sizes
        assert sizes["gridBottom"] <= height, sizes
        assert sizes["clickable"] == 0, sizes
        # Readable from across the room: the table's text is at least 1.4 % of the width, a figure 3.5 %.
        assert sizes["cell"] >= 0.014 * width and sizes["value"] >= 0.035 * width, sizes
        text = page.inner_text("#wall-grid")
        assert re.search(r"\d+ % (ok|watch|⚠ alert)", text)  # a level in words, not colour alone
        assert re.search(r"\b12:\d\d:\d\d\b", text)  # the last calls at 12:2x Berlin time (11:2x UTC)
        assert "vs yesterday at" in page.inner_text("#wall-cards")
        # Every company the page label counts is on the screen, whole: none hidden below the grid's bottom edge
        # (the page size once followed the grid's first, smaller rows, and the last two of 13 were never seen).
        label = page.inner_text("#wall-page")
        first, last = map(int, re.search(r"companies (\d+)–(\d+) of", label).groups())
        shown = page.evaluate("""() => {
            const body = document.querySelector('#wall-grid .ag-body-viewport').getBoundingClientRect();
            return Array.from(document.querySelectorAll('#wall-grid .ag-center-cols-container .ag-row'))
                .filter(row => { const box = row.getBoundingClientRect();
                                 return box.height > 0 && box.top >= body.top - 1 && box.bottom <= body.bottom + 1; })
                .length;
        }""")
        assert shown == last - first + 1, (label, shown)
        assert page.console_errors == []
    finally:
        context.close()


def _the_admins_wall(page) -> None:
    _wait_for_figures(page)
    page.wait_for_function("document.querySelector('#wall-page').textContent.includes('page 1 of')", timeout=WAIT_MS)
    # The TV's page, with one thing to press: the way back. Nothing of the desk's page is on it.
    sizes = page.evaluate("""() => ({
        scroll: document.documentElement.scrollHeight, inner: window.innerHeight,
        scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
        clickable: Array.from(document.querySelectorAll('button, a[href], input, select, textarea'))
            .map(element => element.textContent),
        desk: !!document.querySelector('#ongoing-grid, #pause-button, #memory-host-chart'),
    })""")
    assert sizes["scroll"] <= sizes["inner"] and sizes["scrollWidth"] <= sizes["innerWidth"], sizes
    assert sizes["clickable"] == ["← Dashboard"] and not sizes["desk"], sizes


def test_an_admin_opens_the_wallboard_from_a_link_or_the_header_and_comes_back_with_the_keyboard(browser, wall_site):
    context, page = _sign_in(browser, wall_site, 1280, 720, "ada", path="/wall")  # a link sent to an admin
    try:
        page.wait_for_url(re.compile(r"/wall$"), timeout=WAIT_MS)
        _the_admins_wall(page)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "← Dashboard"
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/$"), timeout=WAIT_MS)
        page.wait_for_selector("#ongoing-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
        page.focus("a.wall-link")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/wall$"), timeout=WAIT_MS)
        _the_admins_wall(page)
        assert page.console_errors == []
    finally:
        context.close()


def test_the_admins_wall_does_not_need_the_browser_to_send_a_referer(browser, wall_site):
    """A browser (or a proxy) that sends no Referer at all still gets the wall at /wall: its page's requests say
    which page they are for by their path (/wall/_dash-…), not by a header the browser may strip."""
    context, page = _sign_in(browser, wall_site, 1280, 720, "ada", path="/wall")
    try:
        page.wait_for_url(re.compile(r"/wall$"), timeout=WAIT_MS)
        _wait_for_figures(page)
        def no_referrer(route):  # the page as a browser that never sends one would have it
            response = route.fetch()
            route.fulfill(response=response, body=response.text().replace(
                "<head>", '<head><meta name="referrer" content="no-referrer">', 1))

        page.route(re.compile(r"/wall$"), no_referrer)
        sent = []
        page.on("request", lambda request: sent.append((request.url, request.header_value("referer"))))
        # The page before the reload polls until the new one replaces it: only the new document's requests count.
        page.on("framenavigated", lambda frame: sent.clear() if frame == page.main_frame else None)
        page.reload()
        _the_admins_wall(page)
        asked = [(url, referer) for url, referer in sent if "/_dash-" in url and "component-suites" not in url]
        assert asked and all("/wall/_dash-" in url and referer is None for url, referer in asked), asked
        assert page.console_errors == []
    finally:
        context.close()


def test_the_wallboard_turns_a_page_of_companies_at_a_time(browser, wall_site):
    context, page = _open_wall(browser, wall_site, 1280, 720)
    try:
        page.wait_for_function("document.querySelector('#wall-page').textContent.includes('page 1 of')",
                               timeout=WAIT_MS)
        first = page.inner_text("#wall-grid .ag-center-cols-container")
        page.wait_for_function("document.querySelector('#wall-page').textContent.includes('page 2 of')",
                               timeout=WAIT_MS)
        # The grid draws the turned page's rows in its next frame, after the label has changed.
        page.wait_for_function("first => document.querySelector('#wall-grid .ag-center-cols-container')"
                               ".innerText !== first", arg=first, timeout=WAIT_MS)
        label = page.inner_text("#wall-page")
        assert re.fullmatch(r"companies \d+–\d+ of 20 · page 2 of \d+", label), label
        assert page.console_errors == []
    finally:
        context.close()


def test_the_wallboard_comes_back_by_itself_after_the_server_restarts(browser, floor):
    app, services = _app(floor)
    with serve_in_thread(app.server) as server:
        port, site = server.port, server.url
        context, page = _open_wall(browser, site, 1280, 720)
        page.evaluate("window.__beforeRestart = true")
    services.shutdown()
    try:
        page.wait_for_function("document.querySelector('#polling-state').textContent.toLowerCase()"
                               ".includes('lost')", timeout=WAIT_MS)
        again, services_again = _app(floor)  # a new process would build a new app, from the same settings
        with serve_in_thread(again.server, port=port):
            # Reloaded (the marker is gone) and showing figures again, without anybody touching the TV.
            page.wait_for_function("window.__beforeRestart === undefined && "
                                   "!!document.querySelector('#wall-grid .ag-center-cols-container .ag-row')",
                                   timeout=60_000)
            assert page.url.endswith("/wall")
        services_again.shutdown()
    finally:
        context.close()
