"""`python app.py serve` on a machine where `npm ci` was never run: it starts, says what `npm ci` would add, and its
page and every file the page names are served, compressed as the browser asks, from Dash's Python packages.

The partial bundle is hidden by pointing the process at an empty node_modules folder (benchmarks/first_page.py's
runner sets static_assets.NODE_MODULES, as the app tier's tests do in process); the real one stays for the others.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import urllib.request

import brotli

from benchmarks.first_page import RUNNER, free_port
from serving.static_assets import page_file_urls
from tests.support.gunicorn import ROOT

LISTEN_SECONDS = 120  # a bound on the start, never a measure
FULL_PLOTLY = "/_dash-component-suites/plotly/package_data/plotly."


def get(url: str, encoding: str) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
    with urllib.request.urlopen(request, timeout=60) as response:
        body, headers = response.read(), dict(response.headers)
    coding = headers.get("Content-Encoding")
    return (brotli.decompress(body) if coding == "br" else gzip.decompress(body) if coding == "gzip" else body), headers


def wait_until_listening(process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + LISTEN_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("python app.py did not listen in time")


def test_python_app_py_serves_its_page_without_node_modules(seeded_sqlite, tmp_path):
    (tmp_path / "node_modules").mkdir()
    port = free_port()
    environment = {"DATABASE_URL": seeded_sqlite.url, "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite3'}",
                   "COMPRESSED_FILES_FOLDER": str(tmp_path / "compressed"), "SIMULATE": "false",
                   "MEMORY_SAMPLER": "false"}
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path / "node_modules"), "serve", "--port",
                                str(port), "--no-simulate"], cwd=ROOT, env={**os.environ, **environment},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_listening(process, url)
        page, _ = get(f"{url}/", "identity")
        files = page_file_urls(page.decode())
        assert [path for path in files if FULL_PLOTLY in path] and not [path for path in files if "plotly-basic" in path]
        for path in files:
            plain, _ = get(f"{url}{path}", "identity")
            for encoding in ("gzip, deflate, br", "gzip"):
                body, headers = get(f"{url}{path}", encoding)
                assert body == plain, (path, encoding)
                assert "Accept-Encoding" in headers.get("Vary", ""), path
                if len(plain) > 1024:
                    assert headers["Content-Encoding"] == encoding.split(",")[-1].strip(), (path, encoding)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert "npm ci" in errors
