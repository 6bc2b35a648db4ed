"""How soon the first page of a freshly started `python app.py` shows data, with and without `npm ci`.

Usage (from the repository root):

    python benchmarks/first_page.py [--runs 1] [--timeout 120]

It seeds a demo database in a temporary folder (benchmarks/page_weight.py's), then, for each case, starts
`python app.py serve --no-simulate` on a free 127.0.0.1 port with an empty COMPRESSED_FILES_FOLDER (nothing
compressed yet: a release's first start) and opens the page in headless Chromium (cold cache, loopback) as soon as
the server listens, as a person who just ran the README's first command would:

- `partial bundle (npm ci)`: node_modules as `npm ci` leaves it;
- `Python only`: the app pointed at an empty node_modules folder (the real one is left alone), so it serves
  Dash's full plotly.js (4.8 MB) from its Python package.

For each it prints: seconds from the command to a listening server, ms from navigation until every widget shows
data (page_weight.py's WIDGET_READY), KiB on the wire, and how long the background compressions took after the
first page (until its files are served at brotli's best, `Cache-Control: ... immutable`).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# `python app.py` with serving.static_assets pointed at the node_modules folder given first (tests do the same in process).
RUNNER = ("import sys; from pathlib import Path; from serving import static_assets; "
          "static_assets.NODE_MODULES = Path(sys.argv[1]); from cli import cli; cli(sys.argv[2:], prog_name='app.py')")
START_SECONDS = 120
POLL_SECONDS = 0.2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(environment: dict[str, str], node_modules: Path, port: int) -> tuple[subprocess.Popen, float]:
    """Start `python app.py serve`; return the process and the seconds it took to listen."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(node_modules), "serve", "--port", str(port),
                                "--no-simulate"], cwd=ROOT, env={**os.environ, **environment},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.monotonic() - started < START_SECONDS:
        if process.poll() is not None:
            raise RuntimeError("the server exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, time.monotonic() - started
        except OSError:
            time.sleep(POLL_SECONDS)
    process.kill()
    raise RuntimeError("the server did not listen in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="fresh starts per case (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds any one wait may take (default 300)")
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from benchmarks.page_weight import measure_once, seconds_until_compressed, seed
    from tests.support.browser import launch_chromium

    with tempfile.TemporaryDirectory(prefix="first-page-") as name:
        folder = Path(name)
        environment = seed(folder)
        empty = folder / "node_modules"
        empty.mkdir()
        cases = [("partial bundle (npm ci)", ROOT / "node_modules"), ("Python only", empty)]
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            print(f"{'case':<26} {'listen s':>8} {'first page ms':>13} {'KiB':>7} {'best after s':>13}",
                  flush=True)
            for label, node_modules in cases:
                for run in range(options.runs):
                    kept = folder / f"compressed-{label.split()[0]}-{run}"  # empty: a release's first start
                    port = free_port()
                    process, listen = start({**environment, "COMPRESSED_FILES_FOLDER": str(kept)}, node_modules,
                                            port)
                    try:
                        url = f"http://127.0.0.1:{port}"
                        page = measure_once(browser, url, None, None, int(options.timeout * 1000))
                        background = seconds_until_compressed(url, options.timeout)
                    finally:
                        process.terminate()
                        process.wait(30)
                    print(f"{label:<26} {listen:>8.1f} {page.all_data_ms:>13,.0f} {page.kib:>7,.0f} "
                          f"{'> timeout' if background is None else f'{background:.0f}':>13}", flush=True)
            browser.close()


if __name__ == "__main__":
    main()
