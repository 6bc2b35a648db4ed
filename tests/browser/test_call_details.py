"""The call details in a browser: a row opens them with ?call= in the link, the payload opens on request,
Escape closes them and gives focus back to the grid; Enter on a feed row opens one too; no console errors."""
from __future__ import annotations

import re

from tests.support.browser import WAIT_MS
from tests.support.browser import wait_for, wait_for_rows


def test_a_row_opens_the_call_its_payload_opens_on_request_and_escape_closes_it(page, demo_site):
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    row = page.locator("#ongoing-grid .ag-center-cols-container .ag-row").first
    call_id = row.get_attribute("row-id")
    row.locator(".ag-cell").first.click()
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    page.wait_for_url(re.compile(rf"[?&]call={call_id}\b"), timeout=WAIT_MS)
    assert page.inner_text("#call-heading") == f"Call {call_id}"
    page.click("#call-raw-button")
    wait_for(page, "#call-payload-view details summary", "payload sections")
    assert "Provider payload" in page.inner_text("#call-payload-note")
    page.fill("#call-payload-search", "transcript")
    page.wait_for_function("document.querySelectorAll('#call-payload-view details[open]').length > 0", timeout=WAIT_MS)
    page.keyboard.press("Escape")
    page.wait_for_selector("#call-panel", state="hidden", timeout=WAIT_MS)
    page.wait_for_function("!/[?&]call=/.test(window.location.search)", timeout=WAIT_MS)
    page.wait_for_function("!!document.activeElement.closest('#ongoing-grid')", timeout=WAIT_MS)
    # Enter on a focused call row of the feed opens it too; the close button closes it.
    wait_for_rows(page, "activity-grid")
    feed_row = page.locator("#activity-grid .ag-center-cols-container .ag-row[row-id^='c']").first
    feed_id = feed_row.get_attribute("row-id")[1:]
    feed_row.locator(".ag-cell").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"[?&]call={feed_id}\b"), timeout=WAIT_MS)
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    page.click("#call-close")
    page.wait_for_selector("#call-panel", state="hidden", timeout=WAIT_MS)
    assert page.console_errors == []


def test_the_open_call_takes_the_focus_once_and_leaves_it_where_the_person_puts_it(page, demo_site):
    """A row's call takes the focus when it opens; a person who then moves on keeps it there. The panel's polling
    switch runs on every change of the page's polling (pause, a hidden tab, the connection, each refresh of an
    ongoing call): pulling the focus back to Close each time would leave the Pause button out of reach."""
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    page.locator("#ongoing-grid .ag-center-cols-container .ag-row").first.locator(".ag-cell").first.click()
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'call-close'", timeout=WAIT_MS)
    page.focus("#pause-button")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#pause-button').getAttribute('aria-pressed') === 'true'",
                           timeout=WAIT_MS)
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#pause-button').getAttribute('aria-pressed') === 'false'",
                           timeout=WAIT_MS)
    page.wait_for_timeout(1_500)  # the refresh that follows a resume, and the callbacks after its answer
    assert page.evaluate("document.activeElement.id") == "pause-button"
    assert page.is_visible("#call-panel")
    assert page.console_errors == []


def test_a_poll_that_redraws_the_call_leaves_the_focus_on_the_same_link(page, demo_site):
    """An ongoing call's details are drawn again at every refresh, as new elements (Dash replaces a component's
    children). Unless the focus is carried over, a keyboard user on the customer's name drops to <body> at each
    one, and a name focused back after the history closed is lost the same way a moment later."""
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    page.wait_for_selector("#ongoing-grid .ag-center-cols-container .ag-row a.customer-link", timeout=WAIT_MS)
    row = page.locator("#ongoing-grid .ag-center-cols-container .ag-row:has(a.customer-link)").first
    row.locator("[col-id=caller]").click()
    page.wait_for_selector("#call-panel:not([hidden]) .details a.customer-link", timeout=WAIT_MS)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'call-close'", timeout=WAIT_MS)
    page.focus("#call-panel a.customer-link")
    page.evaluate("""() => {
        window.__bodyRedraws = 0;
        const first = document.querySelector('#call-panel a.customer-link');
        new MutationObserver(() => {
            const link = document.querySelector('#call-panel a.customer-link');
            if (link && link !== first) { window.__bodyRedraws += 1; }
        }).observe(document.getElementById('call-body'), {childList: true, subtree: true});
    }""")
    page.wait_for_function("window.__bodyRedraws >= 2", timeout=WAIT_MS)  # two refreshes drew a new link
    page.wait_for_timeout(300)
    assert page.evaluate("!!document.activeElement.closest('#call-panel a.customer-link')"), \
        page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
    assert page.console_errors == []


def test_a_payload_shows_its_scalar_keys_open_and_expand_all_opens_every_section(page, demo_site):
    """The keys a person reads first (the call's id, its status) are open; "Expand all" opens the rest and turns
    into "Collapse all", which closes all but those."""
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    page.locator("#ongoing-grid .ag-center-cols-container .ag-row").first.locator(".ag-cell").first.click()
    page.wait_for_selector("#call-panel:not([hidden]) .details", timeout=WAIT_MS)
    page.click("#call-raw-button")
    page.wait_for_selector("#call-payload-view details summary", timeout=WAIT_MS)
    opened = "() => [...document.querySelectorAll('#call-payload-view details')].filter(d => d.open).map(d => d.querySelector('summary').textContent)"
    closed = "() => [...document.querySelectorAll('#call-payload-view details')].filter(d => !d.open).map(d => d.querySelector('summary').textContent)"
    assert "call_id" in page.evaluate(opened) and "call_status" in page.evaluate(opened)
    assert "transcript_object" in page.evaluate(closed)
    expand = page.get_by_role("button", name="Expand all")
    assert expand.get_attribute("aria-expanded") == "false"
    expand.click()
    page.wait_for_function(f"({closed})().length === 0", timeout=WAIT_MS)
    collapse = page.get_by_role("button", name="Collapse all")
    assert collapse.get_attribute("aria-expanded") == "true"
    collapse.click()
    page.wait_for_function(f"({closed})().includes('transcript_object')", timeout=WAIT_MS)
    assert "call_id" in page.evaluate(opened)
    assert page.console_errors == []
