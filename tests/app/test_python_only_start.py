"""A machine with Python only (no `npm ci`): the app serves Dash's full plotly.js from its Python package, and no
request waits for a file's best compression (static_assets.Compressed).

The partial bundle is hidden by pointing the app at an empty node_modules folder (the real one stays for the other
tests). brotli's best is held at a gate the test opens (an event, never a clock): a request answered while the gate
is shut did not wait for it.
"""
from __future__ import annotations

import gzip
import os
import threading

import brotli
import pytest

from serving import static_assets
from serving.static_assets import BROTLI_KEPT_QUALITY, FAST, IMMUTABLE, INTERIM, Background, page_file_urls
from tests.support.dash_client import DashClient

FULL_PLOTLY = "/_dash-component-suites/plotly/package_data/plotly."  # Dash fingerprints it: plotly.v7_1_0m….min.js
BOUND_SECONDS = 120  # how long a broken implementation may hold the test before it fails, never a measure


class BrotliGate:
    """brotli.compress, with its best quality held until `open` and refused on the requests' thread."""

    def __init__(self, request_thread: threading.Thread) -> None:
        self.original = brotli.compress
        self.request_thread = request_thread
        self.reached = threading.Event()
        self.opened = threading.Event()

    def compress(self, data: bytes, quality: int = 11) -> bytes:
        if quality == BROTLI_KEPT_QUALITY:
            if threading.current_thread() is self.request_thread:
                raise AssertionError("a request waited for brotli's best")
            self.reached.set()
            assert self.opened.wait(BOUND_SECONDS), "the gate was never opened"
            quality = 2  # what is tested is who waits, not brotli: the gate's best stays cheap
        return self.original(data, quality=quality)


@pytest.fixture
def gate(monkeypatch) -> BrotliGate:
    gate = BrotliGate(threading.current_thread())
    monkeypatch.setattr(static_assets.brotli, "compress", gate.compress)
    yield gate
    gate.opened.set()  # never leave a background thread held


@pytest.fixture
def python_only(tmp_path, monkeypatch, make_dashboard, seeded_sqlite, gate):
    """The app as `python app.py` starts it without `npm ci`: an empty node_modules, nothing compressed yet."""
    (tmp_path / "node_modules").mkdir()
    monkeypatch.setattr(static_assets, "NODE_MODULES", tmp_path / "node_modules")
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, COMPRESSED_FILES_FOLDER=str(tmp_path / "kept"))


def full_plotly_url(client: DashClient) -> str:
    (url,) = [url for url in page_file_urls(client.client.get("/").get_data(as_text=True)) if FULL_PLOTLY in url]
    return url


def plain_full_plotly() -> bytes:
    import plotly

    return (static_assets.Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def test_the_first_request_for_dash_s_full_plotly_is_answered_at_once_with_a_fast_variant(python_only, gate):
    client = DashClient(python_only.server)
    url = full_plotly_url(client)
    assert "plotly-basic" not in client.client.get("/").get_data(as_text=True)
    plain = plain_full_plotly()

    first = client.client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert gate.reached.wait(BOUND_SECONDS)  # the best is being made, in the background, held at the gate
    assert not gate.opened.is_set()
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "br"
    assert brotli.decompress(first.get_data()) == plain
    assert first.headers["Cache-Control"] == INTERIM  # no cache keeps the interim for a year
    assert "Accept-Encoding" in first.headers["Vary"]
    interim = first.headers["ETag"]
    assert interim.endswith(f'.br{FAST}"')

    # Every encoding has its own ETag: a cache revalidating what it holds never gets one client's encoding approved
    # for another.
    older = client.client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": interim})
    assert older.status_code == 200 and older.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(older.get_data()) == plain and older.headers["ETag"].endswith(f'.gzip{FAST}"')
    identity = client.client.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": interim})
    assert identity.status_code == 200 and "Content-Encoding" not in identity.headers
    assert identity.get_data() == plain and identity.headers["Cache-Control"] == IMMUTABLE
    refused = client.client.get(url, headers={"Accept-Encoding": "gzip, br;q=0"})
    assert refused.headers["Content-Encoding"] == "gzip"

    # Asked again while the best is still being made: the interim still stands.
    again = client.client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": interim})
    assert again.status_code == 304 and again.headers["ETag"] == interim and not gate.opened.is_set()

    gate.opened.set()
    assert python_only.server.extensions[static_assets.COMPRESSED_KEY].background.wait(BOUND_SECONDS)
    # The browser holding the interim gets the best, for a year; holding the best, it is told to keep it.
    best = client.client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": interim})
    assert best.status_code == 200 and best.headers["Cache-Control"] == IMMUTABLE
    assert brotli.decompress(best.get_data()) == plain and best.headers["ETag"] == interim.replace(FAST, "")
    kept = client.client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": best.headers["ETag"]})
    assert kept.status_code == 304 and kept.headers["Cache-Control"] == IMMUTABLE
    assert "Accept-Encoding" in kept.headers["Vary"]


def test_the_partial_bundle_s_own_url_gets_the_same_fast_answer(tmp_path, make_dashboard, seeded_sqlite, gate):
    """With `npm ci` done the same holds for the content-hashed files (the partial bundle among them)."""
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, COMPRESSED_FILES_FOLDER=str(tmp_path / "kept"))
    client = DashClient(app.server)
    (url,) = [url for url in page_file_urls(client.client.get("/").get_data(as_text=True)) if "plotly-basic" in url]
    first = client.client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert gate.reached.wait(BOUND_SECONDS) and not gate.opened.is_set()
    digest = url.split("/")[2]
    assert first.status_code == 200 and first.headers["ETag"] == f'"{digest}.br{FAST}"'
    assert first.headers["Cache-Control"] == INTERIM
    gate.opened.set()
    assert app.server.extensions[static_assets.COMPRESSED_KEY].background.wait(BOUND_SECONDS)
    best = client.client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert best.headers["ETag"] == f'"{digest}.br"' and best.headers["Cache-Control"] == IMMUTABLE


def test_a_second_process_sharing_the_folder_does_not_compress_the_same_file_again(python_only, gate, tmp_path,
                                                                                   make_dashboard, seeded_sqlite):
    """Another app on the same folder (a restart, another worker) finds the best on disk: it serves it at once."""
    url = full_plotly_url(DashClient(python_only.server))
    python_only.server.test_client().get(url, headers={"Accept-Encoding": "br"})
    gate.opened.set()
    assert python_only.server.extensions[static_assets.COMPRESSED_KEY].background.wait(BOUND_SECONDS)
    gate.reached.clear()
    restarted = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, COMPRESSED_FILES_FOLDER=str(tmp_path / "kept"))
    served = restarted.server.test_client().get(url, headers={"Accept-Encoding": "br"})
    assert served.headers["Cache-Control"] == IMMUTABLE and not served.headers["ETag"].endswith(f'{FAST}"')
    assert brotli.decompress(served.get_data()) == plain_full_plotly()
    assert not gate.reached.is_set()


def test_a_forked_worker_runs_its_own_background_jobs():
    """gunicorn forks its workers from a master whose background thread may be busy: fork copies no thread, so
    a worker's jobs must run on a thread of its own, not wait in a queue the parent's thread left behind."""
    background = Background()
    busy, release = threading.Event(), threading.Event()
    background.submit("parent's", lambda: busy.set() or release.wait(BOUND_SECONDS))
    assert busy.wait(BOUND_SECONDS)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports by its exit code
        ran = threading.Event()
        background.submit("child's", ran.set)
        os._exit(0 if background.wait(BOUND_SECONDS) and ran.is_set() and not background.pending("parent's") else 1)
    release.set()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert background.wait(BOUND_SECONDS)
