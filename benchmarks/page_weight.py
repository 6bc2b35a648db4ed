"""What the page a person opens weighs and how soon it shows data, in headless Chromium with a cold cache.

Usage (from the repository root):

    python benchmarks/page_weight.py [--runs 3] [--profiles loopback,fast3g] [--keep-going]

It seeds a fresh demo database (the embedded SQLite demo's plan with 125 calls ongoing, at any hour) in a temporary folder, serves the app
from it in its own process on a free 127.0.0.1 port (tests/support/app_server.py, no simulator), and opens
each role's page in a new browser context (nothing cached) through Debian's /usr/bin/chromium:
first the local demo with no user (an admin page), then with users admin, support and ops signed in.
For each page and network profile it prints the medians of the runs:

- KiB transferred (encoded bytes on the wire, headers included) and the number of responses, counted
  from navigation until every widget shows data;
- ms to the first ongoing-calls row;
- ms until every widget on the page shows data (see WIDGET_READY: what "has data" means per widget);
- the chain: how many callback requests (/_dash-update-component) went out before that moment, and how
  many rounds of them (a round starts when a request goes out after every earlier one has answered).

Profiles: `loopback` (no throttling) and `fast3g` (Chrome DevTools' Fast 3G: 150 ms latency, 1.6 Mbps
down, 750 kbps up, via Network.emulateNetworkConditions). Every wait is bounded (--timeout).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "page-weight-benchmark-password"
USERS = {"admin": ("ada", ()), "support": ("sam", (1, 2)), "ops": ("olga", ())}
PROFILES = {
    "loopback": None,
    # Chrome DevTools' "Fast 3G" preset, in bytes per second.
    "fast3g": {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8,
               "uploadThroughput": 750_000 / 8},
}
START_SECONDS = 60
BUSY_ONGOING = 125
# What "shows data" means for each widget: its panel (found by its heading, drawn with the layout) and a DOM test.
# A widget whose panel is not on the page is not waited for. The call details panel opens on demand (?call=) and is not part of a page's first load.
WIDGET_READY = {
    "ongoing calls": ("#ongoing-title", "document.querySelector('#ongoing-grid .ag-center-cols-container .ag-row')"),
    "ongoing count": ("#ongoing-title", "/\\d/.test(document.querySelector('#ongoing-badge').textContent)"),
    "activity feed": ("#activity-title", "document.querySelector('#activity-grid .ag-center-cols-container .ag-row')"),
    "headline cards": ("#stats-title", "/\\d/.test(document.querySelector('#card-ongoing')?.textContent || '')"),
    "calls chart": ("#stats-title", "document.querySelector('#stats-chart .bars path, #stats-chart .bar')"),
    # Drawn by Plotly with at least one point (a trace's data is drawn into SVG or, for WebGL traces, a canvas).
    "memory charts": ("#memory-title", "(document.querySelector('#memory-host-chart .js-plotly-plot')"
                                            "?._fullData || []).some(trace => (trace.x || []).length)"),
    "widget costs": ("#self-cost-title", "document.querySelector('#self-cost-table table tbody tr')"),
}
FIRST_ROW = "ongoing calls"

# Runs in the page before any of its scripts: notes when each widget first shows data (ms since navigation).
MARKER_SCRIPT = """
(() => {
  const tests = %s;
  const marks = {};
  window.__pageWeightMarks = marks;
  const check = () => {
    for (const [name, [panel, test]] of Object.entries(tests)) {
      if (name in marks || !document.querySelector(panel)) continue;
      try { if (eval(test)) marks[name] = performance.now(); } catch (e) { /* not rendered yet */ }
    }
  };
  const start = () => {
    new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true,
                                                                     characterData: true});
    setInterval(check, 20);
  };
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""
WIDGETS_PRESENT = "(tests) => Object.entries(tests).filter(([n, [p]]) => document.querySelector(p)).map(([n]) => n)"


@dataclass
class Run:
    kib: float
    responses: int
    first_row_ms: float | None
    all_data_ms: float
    callbacks: int
    rounds: int
    waited_for: list[str] = field(default_factory=list)
    urls: list[tuple[str, int]] = field(default_factory=list)
    timeline: list[tuple[int, int, str]] = field(default_factory=list)  # (sent ms, done ms, output or URL)


def seed(folder: Path) -> dict[str, str]:
    """Create and seed the demo database in the folder; return the server's environment."""
    sys.path.insert(0, str(ROOT))
    from dataclasses import replace

    from database.engines import create_writer_engine
    from demo.setup import DEMO_PLAN, prepare_demo_database

    url = f"sqlite:///{folder / 'demo.sqlite3'}"
    engine = create_writer_engine(url)
    try:
        print("seeding the demo database ...", flush=True)
        # The demo's plan has as many calls ongoing as its load profile has at this hour: none at night (UTC). The
        # page is measured at a busy moment whatever the hour: BUSY_ONGOING calls ongoing.
        prepare_demo_database(engine, replace(DEMO_PLAN, ongoing=BUSY_ONGOING))
    finally:
        engine.dispose()
    return {"DATABASE_URL": url, "USERS_DATABASE_URL": f"sqlite:///{folder / 'users.sqlite3'}",
            "SIMULATE": "false"}


def add_users(environment: dict[str, str], folder: Path) -> None:
    from access.users import open_user_store

    store = open_user_store({"USERS_DATABASE_URL": environment["USERS_DATABASE_URL"]}, folder)
    try:
        for role, (name, companies) in USERS.items():
            store.add(name, role, companies, PASSWORD)
    finally:
        store.dispose()


class Server:
    """The app in its own process on a free loopback port."""

    def __init__(self, environment: dict[str, str], folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.app_server", "--instance", str(folder)], cwd=ROOT,
            env={**os.environ, **environment}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + START_SECONDS
        line = ""
        while time.monotonic() < deadline and not line.startswith("listening on"):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("the app server exited before listening")
        if not line.startswith("listening on"):
            self.stop()
            raise RuntimeError("the app server did not start in time")
        self.url = f"http://127.0.0.1:{int(line.split()[-1])}"

    def warm(self) -> None:
        """Fetch the local demo page's files once, as gunicorn's master does before it forks (serving/warm_up.py): each is
        compressed then (brotli 11, kept in the instance folder), not while a measured page waits for it."""
        import urllib.request

        from serving.static_assets import page_file_urls

        with urllib.request.urlopen(f"{self.url}/", timeout=30) as response:
            page = response.read().decode()
        for path in page_file_urls(page):
            request = urllib.request.Request(f"{self.url}{path}", headers={"Accept-Encoding": "gzip, deflate, br"})
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        # The first answers are fast variants while the best are made in the background: wait for those.

        if seconds_until_compressed(self.url, 600) is None:
            raise RuntimeError("the page's files were not compressed within 600 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def sign_in(browser, url: str, name: str) -> dict:
    """Sign in through the login form; return the storage state (the session cookie) for new contexts."""
    import re

    context = browser.new_context()
    try:
        form = context.request.get(f"{url}/login", timeout=10_000).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        answer = context.request.post(f"{url}/login", form={"name": name, "password": PASSWORD, "csrf_token": token},
                                      max_redirects=0, timeout=10_000)
        if answer.status != 302:
            raise RuntimeError(f"signing in as {name} answered {answer.status}")
        return context.storage_state()
    finally:
        context.close()


def _callback_output(body: str | None) -> str | None:
    """Return the output a callback request asks for (its first one), from the request body."""
    try:
        return json.loads(body)["output"][:70] if body else None
    except (ValueError, KeyError, TypeError):
        return None


def rounds_of(callbacks: list[tuple[float, float]]) -> int:
    """Count the rounds of callback requests: a new round when one leaves after all earlier ones answered."""
    rounds, answered_by = 0, -1.0
    for sent, answered in sorted(callbacks):
        if sent >= answered_by:
            rounds += 1
        answered_by = max(answered_by, answered)
    return rounds


def measure_once(browser, url: str, state: dict | None, profile: dict | None, timeout_ms: int) -> Run:
    """Open the page in a fresh context (cold cache) and measure it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(storage_state=state)
    try:
        page = context.new_page()
        page.add_init_script(MARKER_SCRIPT % json.dumps(WIDGET_READY))
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if profile:
            cdp.send("Network.emulateNetworkConditions", profile)
        requests: dict[str, dict] = {}
        finished: dict[str, int] = {}
        cdp.on("Network.requestWillBeSent", lambda event: requests.setdefault(
            event["requestId"], {"url": event["request"]["url"], "sent": event["timestamp"],
                                 "output": _callback_output(event["request"].get("postData"))}))
        cdp.on("Network.responseReceived", lambda event: requests.get(event["requestId"], {}).update(
            answered=event["timestamp"]))
        cdp.on("Network.loadingFinished", lambda event: (
            finished.__setitem__(event["requestId"], int(event["encodedDataLength"])),
            requests.get(event["requestId"], {}).update(done=event["timestamp"])))
        page.goto(url, wait_until="commit", timeout=timeout_ms)
        page.wait_for_load_state("domcontentloaded", timeout=timeout_ms)
        # Panels appear once Dash has rendered the layout; then each must show data.
        page.wait_for_function("() => document.querySelector('.panel')", timeout=timeout_ms)
        present = page.evaluate(WIDGETS_PRESENT, WIDGET_READY)
        try:
            page.wait_for_function("(names) => names.every(n => n in window.__pageWeightMarks)", arg=present,
                                   timeout=timeout_ms, polling=50)
        except PlaywrightTimeout:
            marks = page.evaluate("() => window.__pageWeightMarks")
            missing = [name for name in present if name not in marks]
            raise RuntimeError(f"no data within {timeout_ms} ms: {', '.join(missing)}") from None
        marks = page.evaluate("() => window.__pageWeightMarks")
        all_data = max(marks[name] for name in present)
        # CDP timestamps are monotonic seconds; the first request is the navigation itself.
        start = min(entry["sent"] for entry in requests.values())
        cutoff = start + all_data / 1000.0
        counted = [(entry, finished[rid]) for rid, entry in requests.items()
                   if rid in finished and entry.get("done", cutoff + 1) <= cutoff + 0.001
                   and not entry["url"].startswith("data:")]
        callbacks = [(entry["sent"], entry.get("done", entry.get("answered", cutoff))) for entry in requests.values()
                     if "/_dash-update-component" in entry["url"] and entry["sent"] <= cutoff]
        return Run(kib=sum(size for _, size in counted) / 1024, responses=len(counted),
                   first_row_ms=marks.get(FIRST_ROW), all_data_ms=all_data, callbacks=len(callbacks),
                   rounds=rounds_of(callbacks), waited_for=present,
                   urls=sorted(((entry["url"].replace(url, ""), size) for entry, size in counted),
                               key=lambda pair: -pair[1]),
                   timeline=sorted((round((entry["sent"] - start) * 1000), round((entry.get("done", cutoff) - start) * 1000),
                                    entry["output"] or entry["url"].replace(url, "")[:70])
                                   for entry in requests.values() if entry["sent"] <= cutoff))
    finally:
        context.close()


def median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def report(label: str, profile: str, runs: list[Run], verbose: bool) -> None:
    first = median([run.first_row_ms for run in runs])
    print(f"{label:<22} {profile:<9} {median([r.kib for r in runs]):>8,.0f} {median([r.responses for r in runs]):>5.0f} "
          f"{'–' if first is None else f'{first:,.0f}':>9} {median([r.all_data_ms for r in runs]):>9,.0f} "
          f"{median([r.callbacks for r in runs]):>5.0f} {median([r.rounds for r in runs]):>6.0f}   "
          f"{', '.join(runs[0].waited_for)}", flush=True)
    if verbose:
        for path, size in runs[0].urls:
            print(f"    {size / 1024:>8.1f} KiB  {path[:110]}")
        print("    requests until every widget showed data (ms from navigation: sent, done):")
        for sent, done, what in runs[0].timeline:
            print(f"    {sent:>6} {done:>6}  {what}")


def seconds_until_compressed(url: str, limit: float) -> float | None:
    """Poll the page's files until every one is served at its best (immutable); return the seconds taken, or None
    past the limit."""
    from serving.static_assets import IMMUTABLE, page_file_urls

    started = time.monotonic()
    with urllib.request.urlopen(f"{url}/", timeout=30) as response:
        waiting = set(page_file_urls(response.read().decode()))
    while waiting and time.monotonic() - started < limit:
        for path in sorted(waiting):
            request = urllib.request.Request(f"{url}{path}", method="HEAD", headers={"Accept-Encoding": "br"})
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.headers.get("Cache-Control") == IMMUTABLE:
                    waiting.discard(path)
        if waiting:
            time.sleep(1)
    return None if waiting else time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold-cache loads per page and profile (default 3)")
    parser.add_argument("--profiles", default="loopback,fast3g", help="comma-separated: loopback, fast3g")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any one wait may take (default 60)")
    parser.add_argument("--verbose", action="store_true", help="list each response of the first run")
    parser.add_argument("--demo-only", action="store_true", help="only the local demo page (no users)")
    options = parser.parse_args()
    profiles = [name.strip() for name in options.profiles.split(",") if name.strip()]
    unknown = set(profiles) - set(PROFILES)
    if unknown:
        parser.error(f"unknown profile(s): {', '.join(sorted(unknown))}")
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch_chromium

    timeout_ms = int(options.timeout * 1000)
    with tempfile.TemporaryDirectory(prefix="page-weight-") as name:
        folder = Path(name)
        environment = seed(folder)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            print(f"{'page':<22} {'profile':<9} {'KiB':>8} {'resp':>5} {'1st row':>9} {'all data':>9} "
                  f"{'cbs':>5} {'rounds':>6}   widgets waited for   (medians of {options.runs}; ms)")
            phases = [("no users", None)] if options.demo_only else [("no users", None), ("users", USERS)]
            for phase, users in phases:
                if users:
                    add_users(environment, folder)
                server = Server(environment, folder)
                try:
                    if not users:
                        server.warm()
                    time.sleep(3)  # the memory sampler's first samples, so its charts have something to draw
                    pages = [("admin (local demo)", None)] if not users else \
                        [(role, sign_in(browser, server.url, login)) for role, (login, _) in users.items()]
                    for label, state in pages:
                        for profile in profiles:
                            runs = [measure_once(browser, server.url, state, PROFILES[profile], timeout_ms)
                                    for _ in range(options.runs)]
                            report(label, profile, runs, options.verbose and profile == "loopback")
                finally:
                    server.stop()
            browser.close()


if __name__ == "__main__":
    main()
