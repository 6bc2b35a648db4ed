"""The drill-down in a browser, as an admin and as support: a deep link survives sign-in, a call opens
from each grid, its payload opens on request (and only then is `raw` read), the customer's name opens their
history, the history pages, and Escape closes everything, giving focus back where it was; no console errors.

`SWITCHBOARD_SCREENSHOT_DIR=docs` writes docs/customer-history.png (docs/widgets.md's picture) from the admin's run.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from access.users import UserStore, default_users_url
from app import create_app
from widgets.services import EXTENSION_KEY
from tests.support.clock import FakeClock
from tests.support.databases import SEED_NOW
from tests.support.browser import WAIT_MS, serve_in_thread
from tests.support.customer_truth import Truth

PASSWORD = "correct horse battery staple"
SUPPORT_COMPANY = 1
NAMES_RAW = re.compile(r"\braw\b")


class Site:
    """The app on the seeded database, and every statement its reader engine sends (with its parameters)."""

    def __init__(self, url: str, services):
        self.url, self.services = url, services
        self.statements: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        sa.event.listen(services.reader, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        with self._lock:
            self.statements.append((statement, parameters))

    def mark(self) -> int:
        with self._lock:
            return len(self.statements)

    def since(self, mark: int) -> list[tuple[str, object]]:
        with self._lock:
            return list(self.statements[mark:])


@pytest.fixture(scope="module")
def site(seeded_sqlite, tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("drill-down")
    store = UserStore(default_users_url(folder))
    store.add("ada", "admin", (), PASSWORD)
    store.add("sam", "support", (SUPPORT_COMPANY,), PASSWORD)
    store.dispose()
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "ONGOING_CALLS_POLL_SECONDS": 2,
                      "CUSTOMER_HISTORY_PAGE_SIZE": 5}, instance_path=folder, clock=FakeClock(SEED_NOW, running=True))
    services = app.server.extensions[EXTENSION_KEY]
    with serve_in_thread(app.server) as server:
        yield Site(server.url, services)
    services.shutdown()


@pytest.fixture(scope="module")
def truth(seeded_sqlite) -> Truth:
    engine = sa.create_engine(seeded_sqlite.url)
    try:
        return Truth(engine, SEED_NOW)
    finally:
        engine.dispose()


def deep_linked_customer(truth: Truth) -> int:
    """A customer of the support company with more than a page of history."""
    return next(c for c in truth.busiest(40) if truth.customers[c].company_id == SUPPORT_COMPANY
                and len(truth.past(c, None)) > 5)


def focused(page, selector: str) -> bool:
    return page.evaluate("(s) => !!document.activeElement && !!document.activeElement.closest(s)", selector)


def wait_focus(page, selector: str) -> None:
    page.wait_for_function("(s) => !!document.activeElement && !!document.activeElement.closest(s)", arg=selector,
                           timeout=WAIT_MS)


def open_history_from_the_call(page) -> str:
    """Follow the customer link in the open call's details; return the customer's name."""
    link = page.locator("#call-panel a.customer-link")
    name = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(r"[?&]customer=\d+"), timeout=WAIT_MS)
    page.wait_for_selector("#customer-panel:not([hidden]) table.history", timeout=WAIT_MS)
    page.wait_for_function("(n) => document.querySelector('#customer-heading').textContent === n", arg=name,
                           timeout=WAIT_MS)
    wait_focus(page, "#customer-panel")
    return name


def page_the_history(page) -> None:
    first = page.inner_text("#customer-body table.history tbody")
    page.click("#customer-older")
    page.wait_for_function("document.querySelector('#customer-page').textContent === 'Page 2'", timeout=WAIT_MS)
    page.wait_for_function("(f) => document.querySelector('#customer-body table.history tbody').innerText !== f",
                           arg=first, timeout=WAIT_MS)
    page.click("#customer-newer")
    page.wait_for_function("document.querySelector('#customer-page').textContent === 'Page 1'", timeout=WAIT_MS)


@pytest.mark.parametrize("who", ["ada", "sam"])
def test_drill_down_from_both_grids_with_the_keyboard_closing_everything(page, site, truth, who):
    customer = deep_linked_customer(truth)
    # A shared link to a customer's history, opened signed out, lands on it after signing in.
    page.goto(f"{site.url}/?customer={customer}")
    page.wait_for_url(re.compile(r"/login\?next="), timeout=WAIT_MS)
    page.fill("#login-name", who)
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/\?customer={customer}$"), timeout=WAIT_MS)
    page.wait_for_selector("#customer-panel:not([hidden]) table.history", timeout=WAIT_MS)
    assert page.inner_text("#customer-heading") == truth.customers[customer].name
    page.keyboard.press("Escape")
    page.wait_for_selector("#customer-panel", state="hidden", timeout=WAIT_MS)
    page.wait_for_function("!/[?&]customer=/.test(window.location.search)", timeout=WAIT_MS)

    # A call from ongoing calls: nothing names `raw` until its payload is asked for, then one statement does.
    page.wait_for_selector("#ongoing-grid .ag-center-cols-container .ag-row a.customer-link", timeout=WAIT_MS)
    row = page.locator("#ongoing-grid .ag-center-cols-container .ag-row:has(a.customer-link)").first
    call_id = row.get_attribute("row-id")
    before_details = site.mark()
    row.locator("[col-id=caller]").click()
    page.wait_for_url(re.compile(rf"[?&]call={call_id}\b"), timeout=WAIT_MS)
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    assert not any(NAMES_RAW.search(statement) for statement, _ in site.since(before_details))
    before_payload = site.mark()
    page.click("#call-raw-button")
    page.wait_for_selector("#call-payload-view details summary", timeout=WAIT_MS)
    reads = [(s, p) for s, p in site.since(before_payload) if NAMES_RAW.search(s)]
    assert len(reads) == 1 and int(call_id) in tuple(reads[0][1]), reads

    # Its customer's history, paged; the history never reads a payload either.
    before_history = site.mark()
    open_history_from_the_call(page)
    page_the_history(page)
    assert not any(NAMES_RAW.search(statement) for statement, _ in site.since(before_history))
    if who == "sam":
        phone = page.inner_text("#customer-body .details dd")
        assert "•" in phone and sum(ch.isdigit() for ch in phone) <= 3
    elif os.environ.get("SWITCHBOARD_SCREENSHOT_DIR"):
        page.set_viewport_size({"width": 1280, "height": 860})
        page.screenshot(path=str(Path(os.environ["SWITCHBOARD_SCREENSHOT_DIR"]) / "customer-history.png"))
    # Escape closes the history (focus back on the name in the call), then the call (focus back on its row).
    page.keyboard.press("Escape")
    page.wait_for_selector("#customer-panel", state="hidden", timeout=WAIT_MS)
    wait_focus(page, "#call-panel a.customer-link")
    assert page.is_visible("#call-panel") and re.search(rf"[?&]call={call_id}\b", page.url)
    page.keyboard.press("Escape")
    page.wait_for_selector("#call-panel", state="hidden", timeout=WAIT_MS)
    wait_focus(page, "#ongoing-grid")
    assert "call=" not in page.url and "customer=" not in page.url

    # From the feed: a click on a call row opens it, Enter on a customer's name opens their history.
    page.wait_for_selector("#activity-grid .ag-center-cols-container .ag-row[row-id^='c'] a.customer-link",
                           timeout=WAIT_MS)
    feed_row = page.locator("#activity-grid .ag-center-cols-container .ag-row[row-id^='c']:has(a.customer-link)").first
    feed_call = feed_row.get_attribute("row-id")[1:]
    feed_row.locator("[col-id=at]").click()
    page.wait_for_url(re.compile(rf"[?&]call={feed_call}\b"), timeout=WAIT_MS)
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    page.keyboard.press("Escape")
    page.wait_for_selector("#call-panel", state="hidden", timeout=WAIT_MS)
    wait_focus(page, "#activity-grid")
    feed_row.locator("[col-id=cust]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"[?&]customer=\d+"), timeout=WAIT_MS)
    page.wait_for_selector("#customer-panel:not([hidden]) table.history", timeout=WAIT_MS)
    wait_focus(page, "#customer-panel")
    page.keyboard.press("Escape")
    page.wait_for_selector("#customer-panel", state="hidden", timeout=WAIT_MS)
    wait_focus(page, "#activity-grid [col-id=cust]")
    assert page.console_errors == []


def test_a_customer_of_another_company_reads_not_found_for_support(page, site, truth):
    other = next(c for c in truth.busiest(40) if truth.customers[c].company_id != SUPPORT_COMPANY)
    page.goto(f"{site.url}/?customer={other}")
    page.wait_for_url(re.compile(r"/login\?next="), timeout=WAIT_MS)
    page.fill("#login-name", "sam")
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#customer-panel:not([hidden]) .notice", timeout=WAIT_MS)
    assert page.inner_text("#customer-body") == "Customer not found."
    assert truth.customers[other].name not in page.content()
    assert page.console_errors == []


def test_a_call_in_the_history_opens_its_details_in_place_of_the_history(page, site, truth):
    """A call's time in the history is a link: followed (by click or Enter), the history closes and the call's
    details open, with the focus in them; appointments have no details, so their times are plain text."""
    customer = deep_linked_customer(truth)
    page.goto(f"{site.url}/?customer={customer}")
    page.fill("#login-name", "ada")
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#customer-panel:not([hidden]) table.history a.call-link", timeout=WAIT_MS)
    link = page.locator("#customer-panel table.history a.call-link").first
    call_id = link.get_attribute("data-call")
    rows = page.locator("#customer-panel table.history tbody tr")
    kinds = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    links = [rows.nth(i).locator("a.call-link").count() for i in range(rows.count())]
    assert links == [1 if kind == "Call" else 0 for kind in kinds]
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"[?&]call={call_id}\b"), timeout=WAIT_MS)
    page.wait_for_function("!/[?&]customer=/.test(window.location.search)", timeout=WAIT_MS)
    page.wait_for_selector("#customer-panel", state="hidden", timeout=WAIT_MS)
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    assert page.inner_text("#call-heading") == f"Call {call_id}"
    wait_focus(page, "#call-panel")
    assert page.console_errors == []
