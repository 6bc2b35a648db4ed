"""The alerts panel and the header's indicator in a real browser: a firing rule shows in the header and the
panel, a rule is muted (applied from the keyboard), and the page has no console errors."""
from __future__ import annotations

import time

from alerts.state import Episode, RuleState
from widgets.services import EXTENSION_KEY
from tests.support.browser import WAIT_MS, serve_in_thread



def _firing(app) -> None:
    store = app.server.extensions[EXTENSION_KEY].alerts.store
    now = time.time()
    episode = Episode(id="call_storm@1", rule="call_storm", started_at=now, breached_at=now - 60, peak=250,
                      value=250, threshold=200)
    assert store.try_lead("test", 60)
    record = {"id": episode.id, "rule": "call_storm", "title": "ongoing calls above the ceiling",
              "started_at": now, "breached_at": now - 60, "ended_at": None, "peak": 250, "value": 250,
              "threshold": 200, "unit": " ongoing calls", "detail": "", "direction": "above", "muted": False}
    assert store.commit("test", {"call_storm": RuleState("firing", now, now - 60, value=250, episode=episode)},
                        [record], [])


def test_a_firing_rule_shows_in_the_header_and_is_muted_from_the_keyboard(page, seeded_sqlite, make_dashboard):
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, ALERTS_POLL_SECONDS=1)
    _firing(app)
    with serve_in_thread(app.server) as server:
        page.goto(server.url)
        header = page.wait_for_selector("a.alerts-header-firing", timeout=WAIT_MS)
        assert header.inner_text() == "Alert: 1 firing · ongoing calls above the ceiling"
        page.wait_for_selector("#alerts-now tr.alert-firing td:has-text('ongoing calls above the ceiling')",
                               timeout=WAIT_MS)
        page.wait_for_selector("#alerts-history td:has-text('open')", timeout=WAIT_MS)
        page.click("#alerts-mute-rule")
        page.get_by_role("option", name="ongoing calls above the ceiling").click()
        page.focus("#alerts-mute-button")
        page.keyboard.press("Enter")
        page.wait_for_selector("#alerts-mute-status:has-text('muted for 1h by local demo')", timeout=WAIT_MS)
        page.wait_for_selector("#alerts-now td:has-text('muted until')", timeout=WAIT_MS)
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: the header still shows it
        assert page.is_visible("a.alerts-header-firing")
        assert page.console_errors == []
