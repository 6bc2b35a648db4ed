"""The dashboard in a real browser (headless Chromium): wiring, live data, links, pausing, faults."""
from __future__ import annotations

import re
import time
from typing import Iterator

import pytest
from access.dash_internals import DASH_UPDATE_PATH
from tests.support.browser import FAST_POLLING, WAIT_MS
from tests.support.browser import CALLBACK_POSTS, callback_parts, count_requests, wait_for, wait_for_rows
from tests.support.tcp_proxy import TcpProxy


def rendered_ids(page, grid: str) -> list[str]:
    return page.eval_on_selector_all(f"#{grid} .ag-center-cols-container .ag-row", "rows => rows.map(r => r.getAttribute('row-id'))")


def test_the_page_loads_fills_and_stays_free_of_console_errors(page, demo_site):
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    wait_for_rows(page, "activity-grid")
    page.wait_for_function("document.querySelector('#card-ongoing')?.textContent !== '–' && !!document.querySelector('#card-ongoing')", timeout=WAIT_MS)
    assert int(page.inner_text("#ongoing-badge").replace(",", "")) > 50
    # On a host busy with the rest of the suite a poll may be answered "waiting for the database" (its query still
    # running after QUERY_WAIT_MS) and marked stale for a moment: rightly; the line says "updated" once one is fresh.
    page.wait_for_function("/^updated \\d+s ago$/.test(document.querySelector('#ongoing-status').textContent)",
                           timeout=WAIT_MS)
    # The chart draws once plotly.js has run, which it does after the first callbacks are out: maybe after the rows.
    page.wait_for_selector("#stats-chart .bars path, #stats-chart .bar", state="attached", timeout=WAIT_MS)
    assert page.console_errors == []


def grid_ids(page, grid: str) -> set[str]:
    """Return the ids of every row the grid holds (rendered or not)."""
    return set(page.evaluate(
        "(grid) => { const ids = []; window.dash_ag_grid.getApi(grid).forEachNode(n => ids.push(n.id)); return ids; }",
        grid))


def test_the_ongoing_table_changes_as_calls_start_and_end(page, demo_site):
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    first = grid_ids(page, "ongoing-grid")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and grid_ids(page, "ongoing-grid") == first:
        time.sleep(0.5)
    assert grid_ids(page, "ongoing-grid") != first
    # Durations tick in the browser between polls.
    cell = page.locator("#ongoing-grid .ag-row[row-index='0'] [col-id='duration']")
    before = cell.inner_text()
    page.wait_for_function(
        "(before) => { const c = document.querySelector(\"#ongoing-grid .ag-row[row-index='0'] [col-id='duration']\");"
        " return c && c.textContent !== before; }", arg=before, timeout=WAIT_MS)
    assert page.console_errors == []


def test_a_search_and_a_filter_narrow_the_feed_and_live_in_the_link(page, demo_site, browser):
    page.goto(demo_site)
    wait_for_rows(page, "activity-grid")
    page.fill("#activity-search", "Müller")
    page.wait_for_function("location.search.includes('q=M%C3%BCller')", timeout=WAIT_MS)
    page.click("#activity-kind")
    page.get_by_role("option", name="appointment").click()
    page.wait_for_function("location.search.includes('kind=appointment')", timeout=WAIT_MS)
    page.wait_for_function(
        "() => { const cells = [...document.querySelectorAll(\"#activity-grid .ag-center-cols-container [col-id='k']\")];"
        " return cells.length > 0 && cells.every(c => c.textContent === 'Appointment'); }", timeout=WAIT_MS)
    customers = page.eval_on_selector_all("#activity-grid .ag-center-cols-container [col-id='cust']",
                                          "cells => cells.map(c => c.textContent)")
    assert customers and all("Müller" in name for name in customers)
    link = page.url

    other = browser.new_context().new_page()
    other.goto(link)
    other.wait_for_function("document.querySelector('#activity-search')?.value === 'Müller'", timeout=WAIT_MS)
    wait_for_rows(other, "activity-grid")
    other.wait_for_function(
        "() => [...document.querySelectorAll(\"#activity-grid .ag-center-cols-container [col-id='k']\")]"
        ".every(c => c.textContent === 'Appointment')", timeout=WAIT_MS)
    assert "appointment" in other.inner_text("#activity-kind")
    assert page.console_errors == []
    other.context.close()


def test_a_bad_link_shows_a_notice_not_an_error_page(page, demo_site):
    page.goto(demo_site + "/?status=exploded&window=forever&q=anna")
    page.wait_for_selector("#activity-notice:has-text('ignored status')", timeout=WAIT_MS)
    assert "ignored window" in page.inner_text("#activity-notice")
    page.wait_for_function("document.querySelector('#activity-search')?.value === 'anna'", timeout=WAIT_MS)
    page.wait_for_function("!location.search.includes('exploded')", timeout=WAIT_MS)
    assert page.console_errors == []


def test_pause_stops_requests_and_resume_refreshes_at_once(page, demo_site):
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    with page.expect_request(lambda request: bool(callback_parts(request)), timeout=WAIT_MS):
        pass  # polling, before the pause
    page.click("#pause-button")
    page.wait_for_selector("#polling-state:has-text('Paused')", timeout=WAIT_MS)
    time.sleep(0.5)  # a request already in flight may still land
    assert count_requests(page, CALLBACK_POSTS, seconds=3.0) == 0
    with page.expect_request(lambda request: bool(callback_parts(request)), timeout=3000):
        page.click("#pause-button")
    page.wait_for_selector("#polling-state:has-text('Live')", timeout=WAIT_MS)
    assert page.console_errors == []


def test_the_polls_of_one_tick_leave_in_one_request(page, demo_site):
    """Ongoing calls and the feed poll every second here, the headline every two, the other panels less often:
    one request a second carries them all, each answered as if alone, and every panel still updates. The first
    load's requests go each on its own: a panel shows its rows as they come."""
    first = []
    page.on("request", lambda request: first.append(request.url) if callback_parts(request) else None)
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
    assert len(first) >= 5 and all(DASH_UPDATE_PATH in url for url in first[:5]), first[:5]
    sent = []
    page.on("request", lambda request: sent.append(callback_parts(request)) if callback_parts(request) else None)
    before = page.inner_text("#card-ongoing")
    page.wait_for_timeout(8_000)
    outputs = [part.get("output", "") for parts in sent for part in parts]
    # At most eight ticks of the one-second polls, and a request more for a tick a busy page split; a machine
    # busy with the rest of the suite may answer slower than a tick, and a poll waits for its last answer.
    sizes = [len(parts) for parts in sent]
    assert 0 < len(sent) <= 10 and len(outputs) >= 1.5 * len(sent) and max(sizes) >= 3, sizes
    for output_key in ("ongoing-grid.rowData", "activity-grid.rowData", "stats-cards.children"):
        assert any(output_key in output for output in outputs), output_key
    for status in ("ongoing-status", "activity-status-line", "stats-status"):
        assert page.inner_text(f"#{status}").startswith("updated"), (status, page.inner_text(f"#{status}"))
    assert page.inner_text("#card-ongoing") not in ("", "–") and before not in ("",)
    assert page.console_errors == []


def test_a_hidden_tab_stops_polling_and_refreshes_when_shown(page, demo_site):
    page.goto(demo_site)
    wait_for_rows(page, "ongoing-grid")
    set_hidden = ("(hidden) => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});"
                  " document.dispatchEvent(new Event('visibilitychange')); }")
    page.evaluate(set_hidden, True)
    page.wait_for_selector("#polling-state:has-text('hidden')", timeout=WAIT_MS)
    time.sleep(0.5)
    assert count_requests(page, CALLBACK_POSTS, seconds=3.0) == 0
    # Shown again, the page refreshes at once: by the refresh signal, not by the next poll.
    with page.expect_request(lambda request: any("refresh-signal.data" in part.get("changedPropIds", [])
                                                 for part in callback_parts(request)), timeout=WAIT_MS):
        page.evaluate(set_hidden, False)
    assert page.console_errors == []


def test_the_theme_switches_and_is_remembered(page, demo_site):
    page.goto(demo_site)
    page.wait_for_selector("#theme-button")
    start = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme-button")
    page.wait_for_function("(start) => document.documentElement.dataset.theme !== start", arg=start)
    chosen = page.evaluate("document.documentElement.dataset.theme")
    page.reload()
    page.wait_for_function("(chosen) => document.documentElement.dataset.theme === chosen", arg=chosen)
    assert page.console_errors == []


@pytest.fixture
def proxied_site(proxied_dashboard) -> Iterator[tuple[str, TcpProxy]]:
    """The app on MariaDB through a proxy the test can cut."""
    with proxied_dashboard(**FAST_POLLING) as site:
        yield site


@pytest.mark.mariadb
def test_an_unreachable_database_turns_widgets_stale_and_they_recover(page, proxied_site):
    site, proxy = proxied_site
    page.goto(site)
    wait_for_rows(page, "ongoing-grid")
    for status in ("#ongoing-status", "#activity-status-line", "#stats-status"):  # each had data before the cut
        wait_for(page, f"{status}:has-text('updated')", f"'updated' in {status} before the cut")
    rows_before = len(rendered_ids(page, "ongoing-grid"))
    proxy.cut()
    for status in ("#ongoing-status", "#activity-status-line", "#stats-status"):
        page.wait_for_selector(f"{status}:has-text('stale')", timeout=WAIT_MS)
    assert "database unreachable" in page.inner_text("#ongoing-status")
    assert len(rendered_ids(page, "ongoing-grid")) == rows_before  # the last data stays on screen
    assert page.locator("text=Internal Server Error").count() == 0
    proxy.restore()
    for status in ("#ongoing-status", "#activity-status-line", "#stats-status"):
        wait_for(page, f"{status}:has-text('updated')", f"'updated' in {status} after the database returned")
    # Failed callbacks are answered with 200 and a stale record: the console stays clean.
    assert page.console_errors == []


def test_every_control_has_an_accessible_name(page, demo_site):
    page.goto(demo_site)
    page.wait_for_selector("#activity-kind")
    assert page.get_by_label("Search", exact=True).count() == 1
    for name in ("Kind", "Status", "Direction", "Company", "Time"):
        assert page.get_by_role("group", name=name, exact=True).count() == 1, name
    for name in ("Pause", "Export CSV", "← Newer", "Older →"):
        assert page.get_by_role("button", name=name, exact=True).count() == 1, name
    assert page.get_by_role("button", name=re.compile(r"^(Dark|Light) theme$")).count() == 1
    assert page.get_by_role("group", name="Time window of the memory charts").count() == 1
    assert page.console_errors == []


def test_upcoming_appointments_show_their_booking_count_and_only_appointment_statuses(page, demo_site):
    """The upcoming window, the booking time, the match count and statuses that follow the kind."""
    page.goto(demo_site + "/?window=next7d")
    wait_for_rows(page, "activity-grid")
    page.wait_for_function("/^1–[\\d,]+ of [\\d,]+$/.test(document.querySelector('#activity-page')?.textContent || '')",
                           timeout=WAIT_MS)
    cells = lambda column: page.eval_on_selector_all(  # noqa: E731
        f"#activity-grid .ag-center-cols-container [col-id='{column}']", "cells => cells.map(c => c.textContent)")
    assert set(cells("k")) == {"Appointment"}
    booked, starts = cells("bk"), cells("at")
    assert booked and all(re.search(r"\d\d:\d\d", text) for text in booked) and booked != starts
    assert set(cells("st")) <= {"Scheduled", "Confirmed", "Cancelled"}
    page.click("#activity-status")
    offered = page.eval_on_selector_all("[role='option']", "options => options.map(o => o.textContent)")
    assert "Confirmed" in offered and "Missed" not in offered and "In progress" not in offered
    page.keyboard.press("Escape")
    assert page.console_errors == []


@pytest.fixture
def slow_polling_site(make_dashboard, seeded_sqlite) -> Iterator[str]:
    from tests.support.browser import serve_in_thread

    from config import SETTINGS

    # Every widget a minute apart: any request in the seconds measured would be a poll's.
    app = make_dashboard(seeded_sqlite.url, **{setting.name: 60 for setting in SETTINGS
                                                if setting.name.endswith("_POLL_SECONDS")})
    with serve_in_thread(app.server) as server:
        yield server.url


def test_freshness_lines_age_between_polls_without_a_request_or_a_callback_each_second(page, slow_polling_site):
    """Between two polls a minute apart, "updated 4s ago" keeps counting, written by the page's one timer: no
    request and no Dash callback each second (they cost a page a fifth of a core). Paused, the ages go on
    counting: the data does grow older."""
    # The count starts once every first answer is in: an answer to a request sent before it does run the line.
    unanswered = set()
    page.on("request", lambda request: unanswered.add(request) if callback_parts(request) else None)
    page.on("requestfinished", lambda request: unanswered.discard(request))
    page.on("requestfailed", lambda request: unanswered.discard(request))
    page.goto(slow_polling_site)
    wait_for_rows(page, "ongoing-grid")
    page.wait_for_selector("#ongoing-status:has-text('updated')", timeout=WAIT_MS)
    quiet = 0
    for _ in range(300):
        quiet = 0 if unanswered else quiet + 1
        if quiet == 3:
            break
        page.wait_for_timeout(100)
    assert quiet == 3, f"{len(unanswered)} requests still unanswered"
    page.evaluate("""() => {
        window.freshnessLineRuns = 0;
        const functions = window.dash_clientside.switchboard, line = functions.freshnessLine;
        functions.freshnessLine = function () { window.freshnessLineRuns += 1; return line.apply(this, arguments); };
    }""")
    seconds = lambda: int(re.fullmatch(r"updated (\d+)s ago", page.inner_text("#ongoing-status")).group(1))
    before = seconds()
    assert count_requests(page, CALLBACK_POSTS, seconds=3.5) == 0
    assert seconds() >= before + 2
    assert page.evaluate("window.freshnessLineRuns") == 0

    page.click("#pause-button")
    page.wait_for_selector("#polling-state:text-is('Paused')", timeout=WAIT_MS)
    paused = seconds()
    page.wait_for_timeout(2_500)
    assert seconds() >= paused + 2
    assert page.console_errors == []
