"""Accessibility and small screens in a real browser, for every role's page:

- axe-core (axe-playwright-python bundles it) finds no serious or critical violation, in the light and the
  dark theme, on the admin, support, ops and wallboard pages and on the sign-in page;
- from the top of the page, Tab reaches every control of every panel in under 40 presses, each grid being one
  Tab stop (its header cells and rows are not), and Enter on a focused row still opens the call;
- the focused control shows a ring (an outline) whose colour reaches 3:1 against the panel;
- at 390×844 no page is wider than the viewport, and `SWITCHBOARD_SCREENSHOT_DIR=docs` writes docs/phone-*.png.

`python -m pytest tests/browser/test_accessibility.py -q -s` prints the Tab counts measured (README figures).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest

from access.roles import ROLES
from access.users import UserStore, default_users_url
from app import create_app
from widgets.services import EXTENSION_KEY
from tests.support.clock import FakeClock
from tests.support.databases import SEED_NOW
from tests.support.browser import CALLBACK_POSTS, WAIT_MS, screenshot, serve_in_thread

PASSWORD = "correct horse battery staple"
MAX_TABS = 40
USERS = {"admin": ("ada", ()), "support": ("sam", (1,)), "ops": ("otto", ())}
PAGES = {**USERS, **({"wallboard": ("wally", ())} if "wallboard" in ROLES else {})}  # the wall has nothing to Tab to
BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}

# Every control a keyboard user must reach: what the browser puts in the Tab order, outside the grids (a grid is
# one stop, counted by its own focusable wrapper) and outside the closed drill-down panels.
CONTROLS_JS = """() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]';
  const shown = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
    && getComputedStyle(el).visibility !== 'hidden';
  const all = Array.from(document.querySelectorAll(selector)).filter((el) =>
    el.tabIndex >= 0 && !el.disabled && shown(el) && !el.closest('[hidden], .ag-root-wrapper, .skip-links'));
  const grids = Array.from(document.querySelectorAll('.ag-root-wrapper')).filter(shown);
  return [...all.map(describe), ...grids.map((g) => 'grid#' + g.closest('[id]').id)];
  function describe(el) {
    const id = el.id || (el.closest('[id]') || {}).id || '';
    return el.tagName.toLowerCase() + '#' + id + '|' + (el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 30);
  }
}"""
ACTIVE_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) { return null; }
  const grid = el.closest('.ag-root-wrapper');
  if (grid) { return 'grid#' + grid.closest('[id]').id; }
  const id = el.id || (el.closest('[id]') || {}).id || '';
  return el.tagName.toLowerCase() + '#' + id + '|' + (el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 30);
}"""


@pytest.fixture(scope="module")
def site(seeded_sqlite, tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("a11y")
    store = UserStore(default_users_url(folder))
    for role, (name, companies) in PAGES.items():
        store.add(name, role, companies, PASSWORD)
    store.dispose()
    # Tabbing and axe drive the page quickly: no callback limit for this test app. Each test signs in afresh, a
    # dozen times a minute as the same user when the machine is quick: the sign-in limits (tested on their own)
    # would refuse the sixth.
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "CALLBACK_RATE_LIMIT": "none",
                      "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "1000 per minute", "LOGIN_LIMIT_PER_ADDRESS": "1000 per minute",
                      "ONGOING_CALLS_POLL_SECONDS": 2}, instance_path=folder, clock=FakeClock(SEED_NOW, running=True))
    services = app.server.extensions[EXTENSION_KEY]
    with serve_in_thread(app.server) as server:
        yield server.url
    services.shutdown()


def open_as(browser, site: str, role: str, theme: str = "light", viewport: dict | None = None):
    """Sign in as the role's user in a new context; return the page, its data shown."""
    context = browser.new_context(color_scheme=theme, viewport=viewport or {"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(site + "/")
    page.wait_for_url(re.compile(r"/login"), timeout=WAIT_MS)
    page.fill("#login-name", PAGES[role][0])
    page.fill("#login-password", PASSWORD)
    page.click("button[type=submit]")
    if role == "wallboard":
        page.wait_for_url(re.compile(r"/wall$"), timeout=WAIT_MS)
        page.wait_for_selector("#wall-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
        page.wait_for_timeout(500)
        return page
    page.wait_for_selector(".page", timeout=WAIT_MS)
    wait_for_data(page)
    return page


def wait_for_data(page) -> None:
    """Wait until no panel still says it is loading."""
    # At least one line: right after a reload the renderer has drawn nothing yet, and "every" of none holds.
    page.wait_for_function(
        "() => { const lines = Array.from(document.querySelectorAll('.freshness')).filter(s => !s.closest('[hidden]'));"
        " return lines.length > 0 && lines.every(s => s.textContent.startsWith('updated'))"
        " && !document.querySelector('.skeleton'); }", timeout=WAIT_MS)
    page.wait_for_timeout(300)


def blocking_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str)
            else str(n["target"]) for n in v["nodes"][:5])
            for v in results.response["violations"] if v["impact"] in BLOCKING]


@pytest.mark.parametrize("role", list(PAGES))
def test_axe_finds_nothing_serious_on_each_role_s_page_in_either_theme(browser, site, role):
    """One page load, checked in the light theme and again after the theme button turns it dark."""
    page = open_as(browser, site, role, "light")
    folder = os.environ.get("SWITCHBOARD_SCREENSHOT_DIR")
    try:
        for theme in ("light", "dark"):
            if theme == "dark" and role != "wallboard":
                page.click("#theme-button")
                page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
            # The wallboard is dark whatever the browser prefers (a TV across the room); the other pages follow it.
            assert page.evaluate("document.documentElement.dataset.theme") == ("dark" if role == "wallboard" else theme)
            if folder and role == "admin":  # the README's pictures of the page
                screenshot(page, Path(folder) / ("dashboard.png" if theme == "light" else "dashboard-dark.png"))
            violations = blocking_violations(page)
            assert not violations, f"{theme}: " + "\n".join(violations)
            if role == "wallboard":
                break  # one theme only
    finally:
        page.context.close()


def test_axe_finds_nothing_serious_on_the_wallboard_an_admin_opens(browser, site):
    page = open_as(browser, site, "admin")
    try:
        page.goto(site + "/wall")
        page.wait_for_selector("#wall-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
        page.wait_for_timeout(500)
        assert page.is_visible("a.wall-back")  # the way back to the dashboard, checked with the rest
        violations = blocking_violations(page)
        assert not violations, "\n".join(violations)
    finally:
        page.context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_sign_in_page(browser, site, theme):
    context = browser.new_context(color_scheme=theme)
    page = context.new_page()
    try:
        page.goto(site + "/login")
        page.wait_for_selector("#login-name", timeout=WAIT_MS)
        violations = blocking_violations(page)
        assert not violations, "\n".join(violations)
    finally:
        context.close()


def tab_through(page, presses: int) -> list[str | None]:
    """Press Tab from the top of the page; return what held focus after each press."""
    page.reload()
    page.wait_for_selector(".page", timeout=WAIT_MS)
    wait_for_data(page)
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(ACTIVE_JS))
    return seen


@pytest.mark.parametrize("role", list(USERS))
def test_tab_reaches_every_control_of_every_panel_in_under_40_presses(browser, site, role):
    page = open_as(browser, site, role)
    try:
        controls = page.evaluate(CONTROLS_JS)
        seen = tab_through(page, MAX_TABS - 1)
        first = {}
        for index, name in enumerate(seen, start=1):
            first.setdefault(name, index)
        missing = [control for control in controls if control not in first]
        print(f"\n{role}: {len(controls)} controls, every one reached within {max(first.values())} Tabs "
              f"(grids at {sorted((v, k) for k, v in first.items() if k and k.startswith('grid'))})")
        assert missing == []
        # A grid is one stop: the presses inside it are at most one in a row.
        assert not any(a == b and a and a.startswith("grid") for a, b in zip(seen, seen[1:]))
    finally:
        page.context.close()


def test_enter_on_a_focused_row_opens_the_call_and_arrows_move_inside_the_grid(browser, site):
    page = open_as(browser, site, "admin")
    try:
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            if page.evaluate(ACTIVE_JS) == "grid#ongoing-grid":
                break
        page.wait_for_timeout(200)
        row = "document.activeElement.closest('.ag-row')?.getAttribute('row-index')"
        assert page.evaluate(row) == "0"  # the first row, not the header: Enter opens it
        page.keyboard.press("ArrowDown")
        assert page.evaluate(row) == "1"
        page.keyboard.press("Enter")
        page.wait_for_selector("#call-panel:not([hidden])", timeout=WAIT_MS)
        assert "call=" in page.url
    finally:
        page.context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_focus_rings_reach_3_to_1(browser, site, theme):
    page = open_as(browser, site, "admin", theme)
    try:
        poor = []
        for _ in range(MAX_TABS - 1):
            page.keyboard.press("Tab")
            page.wait_for_timeout(50)
            focused = page.evaluate(ACTIVE_JS)
            if focused is None:  # the end of the page, on to the browser's own controls
                continue
            ring = page.evaluate(RING_JS)
            if ring is None or ring["ratio"] < 3:
                poor.append((focused, ring))
        assert not poor, "\n".join(map(str, poor))
    finally:
        page.context.close()


RING_JS = """() => {
  const el = document.activeElement;
  const target = el.closest('.ag-root-wrapper') ? (el.closest('.ag-cell, .ag-header-cell, .ag-root-wrapper') || el) : el;
  let style = getComputedStyle(target), ringEl = target;
  // a visually hidden input (the memory range's radio) shows its ring on its label
  if (parseFloat(style.width) <= 1 && target.labels && target.labels[0]) { ringEl = target.labels[0]; style = getComputedStyle(ringEl); }
  let color = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 ? style.outlineColor : null;
  if (!color) {
    const shadow = style.boxShadow.match(/rgba?\\([^)]*\\)/);
    color = shadow ? shadow[0] : null;
  }
  if (!color) { return null; }
  const panel = getComputedStyle(document.querySelector('.panel') || document.body).backgroundColor;
  const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [a, b] = [lum(color), lum(panel)].sort((x, y) => y - x);
  return {color: color, ratio: (a + 0.05) / (b + 0.05)};
}"""


@pytest.mark.parametrize("role", list(PAGES))
def test_no_page_is_wider_than_a_phone(browser, site, role):
    page = open_as(browser, site, role, viewport=PHONE)
    try:
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        folder = os.environ.get("SWITCHBOARD_SCREENSHOT_DIR")
        if folder:
            screenshot(page, Path(folder) / f"phone-{role}.png")
    finally:
        page.context.close()


# Each coloured state as the page draws it (the warning and limit badges, a stale line, a lost connection, a firing
# alert), set by hand so that axe checks its contrast in both themes without waiting for the state to happen.
STATES_JS = """() => {
  const set = (id, className, text) => { const e = document.getElementById(id); if (e) { e.className = className;
    if (text) { e.textContent = text; } } };
  set('memory-badge', 'badge badge-warn', 'warning · worker 1: 420 MB');
  set('alerts-badge', 'badge badge-bad', '1 firing · memory');
  set('ongoing-status', 'freshness stale', '⚠ stale · last update 12:00:00 · database unreachable');
  set('polling-state', 'polling-state lost', 'Connection lost · retrying');
  set('alerts-header', 'alerts-header alerts-header-firing', 'Alert: 1 firing · memory');
  const paused = document.createElement('span'); paused.className = 'polling-state paused'; paused.textContent = 'Paused';
  document.querySelector('.topbar').appendChild(paused);
  const live = document.createElement('span'); live.className = 'polling-state'; live.textContent = 'Live';
  document.querySelector('.topbar').appendChild(live);
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_coloured_state_reaches_the_contrast_asked(browser, site, theme):
    page = open_as(browser, site, "admin", theme)
    try:
        page.evaluate("() => { document.querySelector('#pause-button').click(); }")  # no poll redraws them
        page.wait_for_timeout(300)
        page.evaluate(STATES_JS)
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page, options={"runOnly": ["color-contrast"]})
        assert [node["target"] for v in results.response["violations"] for node in v["nodes"]] == []
    finally:
        page.context.close()


def test_an_empty_filtered_feed_offers_clear_filters_which_resets_them_and_the_link(browser, site):
    page = open_as(browser, site, "admin")
    try:
        page.goto(site + "/?q=nobody-by-this-name&kind=call")
        page.wait_for_selector("#activity-clear:not([hidden])", timeout=WAIT_MS)
        assert "No activity matches" in page.inner_text("#activity-grid")
        page.click("#activity-clear")
        page.wait_for_selector("#activity-grid .ag-center-cols-container .ag-row", timeout=WAIT_MS)
        assert "q=" not in page.url and "kind=" not in page.url
        assert page.input_value("#activity-search") == ""
        # The rows and the button's state come in separate answers: the button goes once the feed says it is full.
        page.wait_for_selector("#activity-clear", state="hidden", timeout=WAIT_MS)
    finally:
        page.context.close()


def test_panels_keep_their_size_while_loading(browser, site):
    """The skeletons stand where the tables come: the page below them does not move when the data arrives."""
    page = open_as(browser, site, "admin")
    try:
        for posts in CALLBACK_POSTS:  # answers never come: loading stays
            page.route(f"**{posts}", lambda route: None)
        page.reload()
        # A skeleton, or the data the page itself brought (the first data may come with the page).
        page.wait_for_selector("#memory-top .skeleton, #memory-top table", timeout=WAIT_MS)
        loading = page.evaluate("document.querySelector('#memory-top').getBoundingClientRect().height")
        for posts in CALLBACK_POSTS:
            page.unroute(f"**{posts}")
        page.reload()
        wait_for_data(page)
        loaded = page.evaluate("document.querySelector('#memory-top').getBoundingClientRect().height")
        assert abs(loaded - loading) <= 1, (loading, loaded)
    finally:
        page.context.close()
