"""What an open dashboard page costs the browser while it only watches: its main thread's busy time per second.

Usage (from the repository root):

    python benchmarks/page_cpu.py [--seconds 20]

It seeds the demo database as benchmarks/page_weight.py does (125 calls ongoing), serves the app in its own
process, opens the local demo's page (admin) in Debian's headless Chromium at 1,400 × 900, waits for the first
polls, and then reads Chrome's own counters (CDP `Performance.getMetrics`) over --seconds in two states:

- live: polling at the configured intervals, the freshness lines and durations ageing each second;
- paused (the page's pause button: no polls).

For each it prints the renderer main thread's busy time per second of wall clock (TaskDuration: script,
style, layout and paint together), the script part of it, and layouts per second. A phone or a wallboard left
open all night spends this for every second it is open. No simulator runs: every poll answers the same rows, so
the figures are the page's floor; on a live platform the grids' redraws come on top.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.page_weight import Server, seed  # noqa: E402  (the same demo data and server)

COUNTERS = ("TaskDuration", "ScriptDuration", "LayoutCount")
SETTLE_MS = 8_000  # the page's first polls and its charts' library, before anything is measured


def per_second(page, session, seconds: float) -> dict[str, float]:
    """Return Chrome's counters' growth per second over the next `seconds`."""
    def read() -> dict[str, float]:
        return {metric["name"]: metric["value"] for metric in session.send("Performance.getMetrics")["metrics"]}

    before = read()
    page.wait_for_timeout(seconds * 1000)
    after = read()
    return {name: (after[name] - before[name]) / seconds for name in COUNTERS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds measured per state (default 20)")
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch_chromium

    with tempfile.TemporaryDirectory(prefix="page-cpu-") as name:
        folder = Path(name)
        server = Server(seed(folder), folder)
        try:
            server.warm()
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(server.url)
                page.wait_for_timeout(SETTLE_MS)
                session = page.context.new_cdp_session(page)
                session.send("Performance.enable")
                print(f"{'state':<28} {'busy s/s':>9} {'script s/s':>11} {'layouts/s':>10}   ({options.seconds:g} s each)")
                states = (
                    ("live", None),
                    ("paused", "document.querySelector('#pause-button').click()"),
                )
                for label, action in states:
                    if action:
                        page.evaluate(action)
                        page.wait_for_timeout(1_000)
                    figures = per_second(page, session, options.seconds)
                    print(f"{label:<28} {figures['TaskDuration']:>9.3f} {figures['ScriptDuration']:>11.3f} "
                          f"{figures['LayoutCount']:>10.1f}")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
