"""Every panel inside the screen, checked by the boxes the browser lays out, not only by the page's width:
at 390x844 the call's panel, its payload and the customer's history hold every element between 0 and 390; the
wallboard's header items never overlap at a TV's, a laptop's or a phone's size; the hours axis's labels do not run
into one another on a phone; at 360 px the customer history's table wraps its words whole (only a token longer than
its cell breaks) and stays inside its panel; the company table needs no sideways scrolling at 1440x900."""
from __future__ import annotations

import pytest

from tests.support.browser import WAIT_MS, wait_for, wait_for_rows
from widgets.headline_stats import HOUR_TICKS, calls_per_hour_figure

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 740}
# Every shown element under `root` whose box leaves the screen sideways (1 px allowed for rounding).
OUTSIDE_JS = """(root) => {
  const width = window.innerWidth, outside = [];
  for (const el of document.querySelectorAll(root + ', ' + root + ' *')) {
    const box = el.getBoundingClientRect();
    if ((!box.width && !box.height) || getComputedStyle(el).visibility === 'hidden') { continue; }
    if (box.left < -1 || box.right > width + 1) {
      outside.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return outside;
}"""
# Each word (a run of letters and digits) of the selected cells' text that is laid out on more than one line: a
# Range over it has one client rect per line it lies on.
SPLIT_WORDS_JS = """(selector) => {
  const split = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/[\\p{L}\\p{N}]+/gu)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) { split.push(`${word[0]} in "${cell.textContent}" (${cell.clientWidth} px wide)`); }
      }
    }
  }
  return split;
}"""
# Puts these texts in the first history row's cells after its time (the cells the page would fill with them).
FILL_ROW_JS = """(texts) => {
  const cells = document.querySelectorAll('#customer-panel table.history tbody tr:first-child td');
  texts.forEach((text, i) => { cells[i + 1].textContent = text; });
}"""
# Each pair of boxes among the selected elements that intersect.
OVERLAPS_JS = """(selector) => {
  const boxes = [...document.querySelectorAll(selector)].filter(e => e.getClientRects().length)
    .map(e => [e.className + ' ' + e.textContent.trim().slice(0, 20), e.getBoundingClientRect()]);
  const pairs = [];
  for (let i = 0; i < boxes.length; i++) { for (let j = i + 1; j < boxes.length; j++) {
    const [[p, a], [q, b]] = [boxes[i], boxes[j]];
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) {
      pairs.push([p, q]); }
  } }
  return {count: boxes.length, pairs: pairs};
}"""


def test_the_call_its_payload_and_the_customer_history_lie_inside_a_phone(page, demo_site):
    page.set_viewport_size(PHONE)
    page.goto(demo_site)
    wait_for(page, "#ongoing-grid .ag-center-cols-container .ag-row a.customer-link", "ongoing call with a customer")
    row = page.locator("#ongoing-grid .ag-center-cols-container .ag-row:has(a.customer-link)").first
    row.locator(".ag-cell:not(:has(a))").last.click()
    page.wait_for_selector("#call-panel:not([hidden]) .details a.customer-link", timeout=WAIT_MS)
    page.click("#call-raw-button")
    page.wait_for_selector("#call-payload-view details summary", timeout=WAIT_MS)
    page.evaluate("document.querySelectorAll('#call-payload-view details').forEach(d => { d.open = true; })")
    page.wait_for_timeout(300)
    assert page.evaluate(OUTSIDE_JS, "#call-panel") == []
    page.click("#call-panel a.customer-link")
    page.wait_for_selector("#customer-panel:not([hidden]) table.history tbody tr", timeout=WAIT_MS)
    page.wait_for_timeout(300)
    assert page.evaluate(OUTSIDE_JS, "#customer-panel") == []
    widths = page.evaluate("(() => { const d = document.querySelector('#customer-panel');"
                           " return [d.scrollWidth, d.clientWidth]; })()")
    assert widths[0] <= widths[1], widths
    assert page.console_errors == []


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080), (390, 844)])
def test_the_wallboard_header_items_never_overlap(page, demo_site, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(demo_site + "/wall")
    wait_for_rows(page, "wall-grid")
    page.wait_for_function("document.querySelector('#wall-status').textContent.startsWith('updated')",
                           timeout=WAIT_MS)
    page.wait_for_timeout(300)
    # The header's own items and the page's state that shares its row (the way back, the demo flag, Live).
    seen = page.evaluate(OVERLAPS_JS, ".wall-header > *, .wall-state > *")
    assert seen["count"] >= 5 and seen["pairs"] == [], seen
    assert page.evaluate(OUTSIDE_JS, ".wall-main") == []
    assert page.console_errors == []


def test_the_hours_axis_holds_a_few_labels_whatever_the_width():
    axis = calls_per_hour_figure(None)["layout"]["xaxis"]
    assert "dtick" not in axis and axis["nticks"] == HOUR_TICKS <= 8 and axis["automargin"]


def test_the_hours_axis_labels_do_not_collide_on_a_phone(page, demo_site):
    page.set_viewport_size(PHONE)
    page.goto(demo_site)
    wait_for(page, "#stats-chart .xtick text", "hours axis")
    page.wait_for_timeout(500)
    seen = page.evaluate(OVERLAPS_JS, "#stats-chart .xtick text")
    assert seen["count"] >= 4 and seen["pairs"] == [], seen
    assert page.console_errors == []


def test_the_customer_history_wraps_words_whole_inside_a_small_phone(page, demo_site):
    page.set_viewport_size(SMALL_PHONE)
    page.goto(demo_site)
    wait_for(page, "#ongoing-grid .ag-center-cols-container .ag-row a.customer-link", "ongoing call with a customer")
    link = page.locator("#ongoing-grid .ag-center-cols-container .ag-row a.customer-link").first
    page.goto(demo_site + link.get_attribute("href"))
    page.wait_for_selector("#customer-panel:not([hidden]) table.history tbody tr", timeout=WAIT_MS)
    page.wait_for_timeout(300)
    cells = "#customer-panel table.history th, #customer-panel table.history td"
    assert page.evaluate(SPLIT_WORDS_JS, cells) == []
    assert page.evaluate(OUTSIDE_JS, "#customer-panel") == []
    # The widest words the demo's rows hold, whatever this customer's history holds: none splits.
    page.evaluate(FILL_ROW_JS, ["Appointment", "Cancelled", "Physiotherapy (reminders)", "outbound", "12:34"])
    page.wait_for_timeout(100)
    assert page.evaluate(SPLIT_WORDS_JS, cells) == []
    assert page.evaluate(OUTSIDE_JS, "#customer-panel") == []
    # A token longer than its cell (an address, a provider's id) breaks; the other cells' words stay whole, and
    # everything stays inside.
    page.evaluate(FILL_ROW_JS, ["Call", "Completed", "anna.mueller-luedenscheidt.praxisverwaltung@example.de"])
    page.wait_for_timeout(100)
    long_cell = "tbody tr:first-child td:nth-child(4)"
    assert page.evaluate(SPLIT_WORDS_JS, f"#customer-panel table.history {long_cell}") != []
    others = f"#customer-panel table.history th, #customer-panel table.history td:not({long_cell})"
    assert page.evaluate(SPLIT_WORDS_JS, others) == []
    assert page.evaluate(OUTSIDE_JS, "#customer-panel") == []
    widths = page.evaluate("(() => { const d = document.querySelector('#customer-panel');"
                           " return [d.scrollWidth, d.clientWidth]; })()")
    assert widths[0] <= widths[1], widths
    assert page.console_errors == []


def test_the_company_table_needs_no_sideways_scrolling_on_a_laptop(page, demo_site):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(demo_site)
    wait_for_rows(page, "kpi-grid")
    measure = """() => { const v = document.querySelector('#kpi-grid .ag-center-cols-viewport');
      return {scroll: v.scrollWidth, client: v.clientWidth,
              columns: [...document.querySelectorAll('#kpi-grid .ag-header-cell')].map(h => h.getAttribute('col-id')),
              cut: [...document.querySelectorAll('#kpi-grid .ag-header-cell-text, #kpi-grid .ag-cell-value')]
                     .filter(t => t.scrollWidth > t.clientWidth + 1).map(t => t.textContent)}; }"""
    page.wait_for_function(f"(({measure})()).scroll <= (({measure})()).client", timeout=WAIT_MS)
    page.wait_for_timeout(1_500)  # a poll's redraw and the next fitting: still no scrolling
    sizes = page.evaluate(measure)
    assert sizes["scroll"] <= sizes["client"] and sizes["cut"] == [], sizes
    # The figures that matter most stay: the company, its calls and its rates.
    assert {"co", "on", "n", "ans_r", "mis_r", "fail_r", "bk_r"} <= set(sizes["columns"]), sizes
    assert page.console_errors == []
