"""The floor under the page benchmark: how soon a stock Dash page with nothing but one AG Grid shows a row here.

Usage (from the repository root):

    python benchmarks/page_floor.py [--runs 5]

benchmarks/page_weight.py measures Switchboard's pages; this measures what no Switchboard code takes part in, in
the same Chromium (Debian's, headless, cold cache, loopback), so its figures tell the framework's share of the
first row on this machine from Switchboard's. Two stock Dash pages (dash and dash-ag-grid as requirements.txt
pins them, Flask-Compress on, nothing else) are served from a thread on a free 127.0.0.1 port:

- `rows in the layout`: one grid whose 125 rows of 8 columns come with the layout (no callback at all);
- `rows by a callback`: the same grid, its rows from one callback the page fires on load (one round trip).

Each prints the medians of the runs: KiB on the wire, ms to the grid's first row, and the JavaScript heap's
script time as Chromium counts it (Performance.getMetrics: ScriptDuration, TaskDuration).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = [{"id": i, "customer": f"Customer {i}", "phone": f"+49 30 {5000000 + i}", "company": "Praxis Dr. Berger",
         "agent": "Anna", "status": "in progress", "direction": "inbound", "duration": 60 + i} for i in range(125)]
COLUMNS = [{"field": name} for name in ROWS[0]]
FIRST_ROW = "document.querySelector('#grid .ag-center-cols-container .ag-row')"


def stock_app(rows_in_layout: bool):
    import dash_ag_grid as dag
    from dash import Dash, Input, Output, dcc, html

    app = Dash(__name__, compress=True)
    app.layout = html.Div([
        dcc.Store(id="start", data=0),
        dag.AgGrid(id="grid", columnDefs=COLUMNS, rowData=ROWS if rows_in_layout else [], style={"height": "460px"}),
    ])
    if not rows_in_layout:
        app.callback(Output("grid", "rowData"), Input("start", "data"))(lambda _start: ROWS)
    return app


def measure(browser, url: str) -> tuple[float, float, float, float]:
    context = browser.new_context()
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Performance.enable")
        sizes: dict[str, int] = {}
        cdp.on("Network.loadingFinished", lambda event: sizes.__setitem__(event["requestId"],
                                                                          int(event["encodedDataLength"])))
        page.goto(url, wait_until="commit", timeout=60_000)
        page.wait_for_function(FIRST_ROW, timeout=60_000, polling=10)
        first_row = page.evaluate("performance.now()")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return sum(sizes.values()) / 1024, first_row, metrics["ScriptDuration"] * 1000, metrics["TaskDuration"] * 1000
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    from tests.support.browser import launch_chromium

    print(f"{'page':<20} {'KiB':>6} {'1st row':>9} {'script':>8} {'tasks':>8}   (medians of {options.runs}; ms)")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for label, in_layout in (("rows in the layout", True), ("rows by a callback", False)):
            server = make_server("127.0.0.1", 0, stock_app(in_layout).server, threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                url = f"http://127.0.0.1:{server.server_port}/"
                measure(browser, url)  # the first load compresses each file once (Flask-Compress caches nothing)
                runs = [measure(browser, url) for _ in range(options.runs)]
            finally:
                server.shutdown()
            kib, first, script, tasks = (statistics.median(values) for values in zip(*runs))
            print(f"{label:<20} {kib:>6,.0f} {first:>9,.0f} {script:>8,.0f} {tasks:>8,.0f}", flush=True)
        browser.close()


if __name__ == "__main__":
    main()
