"""Signing in, in a real browser: each role's page works under the Content-Security-Policy, shows only its
panels, masks what it must, and signing out (or losing the session) leads back to the sign-in form."""
from __future__ import annotations

import re
from typing import Iterator

import pytest

from access.users import UserStore, default_users_url
from app import create_app
from widgets.services import EXTENSION_KEY
from tests.support.clock import FakeClock
from tests.support.databases import SEED_NOW
from tests.support.browser import WAIT_MS, serve_in_thread

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def site_with_users(seeded_sqlite, tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("site-with-users")
    store = UserStore(default_users_url(folder))
    store.add("ada", "admin", (), PASSWORD)
    store.add("sam", "support", (1,), PASSWORD)
    store.add("olga", "ops", (), PASSWORD)
    store.dispose()
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "ONGOING_CALLS_POLL_SECONDS": 1}, instance_path=folder, clock=FakeClock(SEED_NOW, running=True))
    services = app.server.extensions[EXTENSION_KEY]
    with serve_in_thread(app.server) as server:
        yield server.url
    services.shutdown()


def sign_in(page, site: str, name: str, password: str = PASSWORD) -> None:
    page.goto(site + "/?kind=call")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("button[type=submit]")


def test_support_signs_in_to_its_own_panels_with_masked_phones(page, site_with_users):
    sign_in(page, site_with_users, "sam")
    page.wait_for_selector("#ongoing-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
    page.wait_for_selector("#activity-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
    assert page.url.endswith("/?kind=call")  # back to the link asked for
    assert page.locator("#memory-badge").count() == 0 and page.locator("#stats-cards").count() == 0
    assert page.inner_text("#account") == "sam · support"
    callers = page.eval_on_selector_all("#ongoing-grid .ag-center-cols-container [col-id=caller]",
                                        "cells => cells.map(c => c.textContent)")
    assert callers and all(sum(ch.isdigit() for ch in caller) <= 3 and "•" in caller for caller in callers)
    # One company: no company filter, no company column in either grid.
    assert not page.is_visible("#activity-company")
    assert page.locator("#ongoing-grid [col-id=co], #activity-grid [col-id=co]").count() == 0
    page.wait_for_function("document.querySelector('#ongoing-status').textContent.startsWith('updated')",
                           timeout=WAIT_MS)
    assert page.console_errors == []  # nothing refused by the CSP, no callback error


def _call_ids(database_url: str) -> tuple[int, int]:
    """Return a call of company 1 and one of another company, from the seeded database."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            own = connection.execute(sa.text("SELECT id FROM calls WHERE company_id = 1 ORDER BY id LIMIT 1")).scalar_one()
            other = connection.execute(sa.text("SELECT id FROM calls WHERE company_id <> 1 ORDER BY id LIMIT 1")).scalar_one()
    finally:
        engine.dispose()
    return own, other


def test_a_shared_call_link_opens_the_call_after_sign_in_and_another_company_s_reads_not_found(
        page, site_with_users, seeded_sqlite):
    own, other = _call_ids(seeded_sqlite.url)
    for call_id, found in ((own, True), (other, False)):
        page.goto(f"{site_with_users}/?call={call_id}")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.fill("#login-name", "sam")
        page.fill("#login-password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(rf"/\?call={call_id}$"), timeout=WAIT_MS)
        page.wait_for_selector("#call-panel:not([hidden])", timeout=WAIT_MS)
        if found:
            page.wait_for_selector("#call-panel .details", timeout=WAIT_MS)
            assert page.inner_text("#call-heading") == f"Call {call_id}"
        else:  # another company's call: the same answer as a missing one, nothing of it shown
            page.wait_for_function("document.querySelector('#call-panel').textContent.includes('Call not found.')",
                                   timeout=WAIT_MS)
            assert page.locator("#call-panel .details").count() == 0
        # Leave the page before signing out: its next poll, signed out, would take it to the form itself and
        # abort the navigation below.
        page.goto("about:blank")
        page.context.clear_cookies()  # signed out: the next link goes through the form again
    assert page.console_errors == []


def test_ops_sees_counts_and_memory_but_no_customers(page, site_with_users):
    sign_in(page, site_with_users, "olga")
    page.wait_for_selector("#memory-badge", timeout=WAIT_MS)
    page.wait_for_function("!!document.querySelector('#card-ongoing') && "
                           "document.querySelector('#card-ongoing').textContent !== '–'", timeout=WAIT_MS)
    assert page.locator("#ongoing-grid").count() == 0 and page.locator("#activity-grid").count() == 0
    assert page.console_errors == []


def test_pause_still_works_on_a_page_with_some_panels(page, site_with_users):
    sign_in(page, site_with_users, "sam")
    page.wait_for_selector("#ongoing-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
    page.click("#pause-button")
    page.wait_for_function("document.querySelector('#polling-state').textContent === 'Paused'", timeout=WAIT_MS)
    page.click("#pause-button")
    page.wait_for_function("document.querySelector('#polling-state').textContent === 'Live'", timeout=WAIT_MS)


def test_a_wrong_password_stays_on_the_form_and_signing_out_returns_to_it(page, site_with_users):
    sign_in(page, site_with_users, "ada", "not the password at all")
    assert page.inner_text(".login-error") == "Wrong name or password."
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#memory-badge", timeout=WAIT_MS)
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(site_with_users + "/")
    page.wait_for_url(re.compile(r"/login\?next="))


def test_a_session_that_ends_sends_the_page_back_to_the_form(page, site_with_users):
    sign_in(page, site_with_users, "ada")
    page.wait_for_selector("#memory-badge", timeout=WAIT_MS)
    page.context.clear_cookies()  # as if it expired
    page.wait_for_url(re.compile(r"/login\?next="), timeout=WAIT_MS)
