"""What each role's page loads and how long a browser may keep it (serving/static_assets.py).

Every test builds the real app on the seeded SQLite database with an admin, a support and an ops user, signs in
through the login form and reads the page and the files it names over HTTP, as a browser would.
"""
from __future__ import annotations

import gzip
import hashlib
import threading
import json
import logging
import re
from pathlib import Path

import brotli
import pytest

from serving import static_assets
from serving.static_assets import (IMMUTABLE, INTERIM, LOCK_NAME, NOT_STORED, PLOTLY_BUNDLE, REGENERATOR, REGENERATOR_NAME,
                           REVALIDATE, page_file_urls)
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, add_users

ROOT = Path(__file__).resolve().parents[2]
LOGINS = {"admin": "ada", "support": "sam", "ops": "olga"}
DASH_FULL_PLOTLY = "plotly/package_data/plotly"
GRID_CODE = "/_dash-component-suites/dash_ag_grid/"
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium sends, on loopback too
SETTLE_SECONDS = 600  # a bound on waiting for the background compressions, never a measure


def settled(server) -> None:
    """Wait until the server's background compressions are done (their results kept)."""
    assert server.extensions[static_assets.COMPRESSED_KEY].background.wait(SETTLE_SECONDS)


@pytest.fixture
def app(tmp_path, make_dashboard, seeded_sqlite):
    add_users(tmp_path)
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)


def signed_in(app, role: str) -> DashClient:
    return DashClient(app.server, login=(LOGINS[role], PASSWORD))


def body_of(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    data = response.get_data()
    return brotli.decompress(data) if encoding == "br" else gzip.decompress(data) if encoding == "gzip" else data


def index(client: DashClient) -> str:
    response = client.client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("role", sorted(LOGINS))
def test_every_file_a_page_loads_is_kept_a_year_and_the_page_and_its_answers_never(app, role):
    client = signed_in(app, role)
    page = client.client.get("/")
    assert page.headers["Cache-Control"] == NOT_STORED
    files = page_file_urls(page.get_data(as_text=True))
    assert len(files) >= 8
    for url in files:  # at first the best compression or, while it is made, a fast one that caches revalidate
        response = client.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        assert response.status_code == 200, url
        assert (response.headers["Cache-Control"], response.get_etag()[0].endswith(".br-fast")) in {
            (IMMUTABLE, False), (INTERIM, True)}, url
        assert "Accept-Encoding" in response.headers["Vary"], url
    settled(app.server)
    for url in files:
        response = client.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == IMMUTABLE, url
        assert "Accept-Encoding" in response.headers["Vary"], url
    for path in ("/_dash-layout", "/_dash-dependencies"):
        assert client.client.get(path).headers["Cache-Control"] == NOT_STORED, path
    first_output = sorted(dependency["output"] for dependency in client.dependencies
                          if dependency.get("clientside_function") is None)[0].strip(".").split("...")[0]
    dependency = client.dependency(first_output)
    answer = client.post(client.payload(first_output, {item["id"] + "." + item["property"]: None
                                                       for item in dependency["inputs"]}))
    assert answer.headers["Cache-Control"] == NOT_STORED


def test_a_static_url_names_its_content_and_a_stale_one_leads_to_the_current_file(app):
    client = signed_in(app, "admin")
    static = [url for url in page_file_urls(index(client)) if url.startswith("/static-assets/")]
    assert {url.rsplit("/", 1)[1] for url in static} >= {"switchboard.css", "switchboard.js", "favicon.svg"}
    for url in static:
        _, _, digest, name = url.split("/")
        for encoding in ("", "gzip", "gzip, deflate, br"):
            body = body_of(client.client.get(url, headers={"Accept-Encoding": encoding}))
            assert hashlib.sha256(body).hexdigest().startswith(digest), url
            on_disk = {PLOTLY_BUNDLE.name: ROOT / "node_modules" / PLOTLY_BUNDLE,
                       REGENERATOR_NAME: ROOT / "node_modules" / REGENERATOR}.get(name, ROOT / "assets" / name)
            assert body == on_disk.read_bytes()
        again = client.client.get(url, headers={"If-None-Match": f'"{digest}"'})
        assert again.status_code == 304 and again.headers["ETag"] == f'"{digest}"'
    stale = client.client.get(f"/static-assets/{'0' * 16}/switchboard.css")
    assert stale.status_code == 302 and stale.headers["Location"].endswith(
        next(url for url in static if url.endswith("/switchboard.css")))
    assert stale.headers["Cache-Control"] == NOT_STORED
    assert client.client.get("/static-assets/0/no-such-file.js").status_code == 404


def test_files_dash_names_without_a_fingerprint_are_revalidated(app):
    client = signed_in(app, "admin")
    # The grid's code chunk as its own loader asks for it, and the login page's stylesheet.
    for path in ("/_dash-component-suites/dash_ag_grid/async-community.js", "/assets/login.css"):
        response = client.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == REVALIDATE, path
        assert response.headers.get("ETag"), path


def test_charts_use_the_partial_plotly_bundle_from_the_registry_and_never_dash_s_full_one(app):
    installed = json.loads((ROOT / "node_modules" / PLOTLY_BUNDLE.parent / "package.json").read_text())
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"][installed["name"]]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"][f"node_modules/{installed['name']}"]
    assert installed["version"] == wanted == locked["version"]
    admin = page_file_urls(index(signed_in(app, "admin")))
    assert [url for url in admin if url.endswith("/plotly-basic.min.js")]
    assert not [url for url in admin if DASH_FULL_PLOTLY in url]


def test_each_role_loads_only_the_code_of_its_own_components(app):
    admin, support, ops = (page_file_urls(index(signed_in(app, role))) for role in ("admin", "support", "ops"))
    assert [url for url in admin if url.startswith(GRID_CODE)] and [url for url in support if url.startswith(GRID_CODE)]
    assert not [url for url in ops if url.startswith(GRID_CODE)]  # ops has no grid
    assert not [url for url in support if "plotly" in url]  # support has no chart
    assert [url for url in ops if "plotly-basic" in url]
    for files in (admin, support, ops):
        assert not [url for url in files if "dash_table" in url or "async-enterprise" in url or "datepicker" in url]
    # The renderer checks the callbacks against the viewer's own layout: the page carries no second copy of it
    # (nor, for ops, any word of the grids' panels).
    for role in ("admin", "support", "ops"):
        page = index(signed_in(app, role))
        config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page,
                                      re.S).group(1))
        assert "validation_layout" not in config and not config["suppress_callback_exceptions"], role
        assert len(page.encode()) < 8_000, role
    ops_page = index(signed_in(app, "ops"))
    assert "\"namespace\":\"dash_ag_grid\"" not in ops_page and "ongoing-grid" not in ops_page


def test_the_page_is_switchboard_s_own_english_page_with_its_favicon(app):
    client = signed_in(app, "admin")
    page = index(client)
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert "<title>Switchboard</title>" in page
    icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', page).group(1)
    response = client.client.get(icon)
    assert response.mimetype == "image/svg+xml"
    assert b"<title>Switchboard</title>" in body_of(response)
    assert "_favicon.ico" not in page


def test_without_node_modules_the_app_starts_with_dash_s_full_bundle_and_says_so(tmp_path, make_dashboard,
                                                                                 seeded_sqlite, monkeypatch, caplog):
    monkeypatch.setattr(static_assets, "NODE_MODULES", tmp_path / "no-node-modules")
    add_users(tmp_path)
    with caplog.at_level(logging.WARNING, logger="switchboard.static"):
        app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    assert "npm ci" in caplog.text
    client = signed_in(app, "admin")
    files = page_file_urls(index(client))
    full = [url for url in files if DASH_FULL_PLOTLY in url]
    assert full and not [url for url in files if "plotly-basic" in url]
    response = client.client.get(full[0])
    assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE
    assert not [url for url in page_file_urls(index(signed_in(app, "support"))) if "plotly" in url]


def test_large_scripts_are_compressed_at_brotlis_best_once_per_content_and_kept_on_disk(tmp_path, seeded_sqlite,
                                                                                      make_dashboard, monkeypatch):
    folder = tmp_path / "compressed"
    # Earlier tests' apps in this process may still be compressing the same script in their background threads:
    # only this thread's calls and those of threads started from now on are this test's.
    earlier = set(threading.enumerate()) - {threading.current_thread()}
    compressed = []
    original = static_assets.brotli.compress
    monkeypatch.setattr(static_assets.brotli, "compress", lambda data, quality: compressed.append(
        (hashlib.sha256(data).hexdigest(), quality, threading.current_thread())) or original(data, quality=quality))

    def qualities() -> list[int]:
        """The qualities this test's script was compressed at, in order."""
        return [quality for digest, quality, thread in compressed
                if digest == hashlib.sha256(plain).hexdigest() and thread not in earlier]

    grid_url = None
    for process in range(2):  # a second process (or a restart) reads what the first one kept
        client = DashClient(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False,
                                           COMPRESSED_FILES_FOLDER=str(folder)).server)
        grid_url = next(url for url in page_file_urls(index(client)) if "dash_ag_grid.v" in url)
        first = client.client.get(grid_url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        # The first process answers with a fast variant while it compresses; the restart has the best at once.
        assert first.headers["Cache-Control"] == (INTERIM if process == 0 else IMMUTABLE)
        settled(client.client.application)
        response = client.client.get(grid_url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        assert response.headers["Content-Encoding"] == "br" and response.headers["Cache-Control"] == IMMUTABLE
        plain = body_of(response)
        assert body_of(first) == plain
        if process == 0:
            # Once each, in either order: the background thread may start its best before the fast variant.
            assert sorted(qualities()) == sorted([static_assets.FAST_BROTLI_QUALITY, static_assets.BROTLI_KEPT_QUALITY])
            at_nine = len(original(plain, quality=static_assets.BROTLI_QUALITY))
            assert len(response.get_data()) < at_nine * 0.95  # the point of it: 8% smaller for this script
    # The restart compressed nothing, not even a fast variant.
    assert sorted(qualities()) == sorted([static_assets.FAST_BROTLI_QUALITY, static_assets.BROTLI_KEPT_QUALITY])
    kept = {path.name for path in folder.iterdir()} - {LOCK_NAME}
    assert kept == {f"{hashlib.sha256(plain).hexdigest()}.br"}  # whole files only: no partial one left behind


def test_without_a_folder_it_can_write_a_process_keeps_its_own(tmp_path, seeded_sqlite, make_dashboard, caplog):
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    client = DashClient(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False,
                                       COMPRESSED_FILES_FOLDER=str(blocked / "compressed")).server)
    urls = [url for url in page_file_urls(index(client)) if "dash_ag_grid" in url or "dash_renderer" in url]
    with caplog.at_level(logging.WARNING, logger="switchboard.static"):
        for url in urls:
            client.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        settled(client.client.application)
        served = [client.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS}) for url in urls]
    for url, response in zip(urls, served):
        assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE, url
        assert body_of(response) == client.client.get(url).get_data(), url
    assert sum("cannot keep the compressed file" in record.getMessage() for record in caplog.records) == 1
    # The rest of this process's files are compressed at 9, in memory, without trying the folder again.
    assert client.client.application.extensions[static_assets.COMPRESSED_KEY].folder is None


@pytest.mark.parametrize("role", sorted(LOGINS))
def test_regenerator_runtime_from_npm_takes_the_place_of_dashs_babel_polyfill(app, role):
    scripts = [url for url in page_file_urls(index(signed_in(app, role))) if url.endswith(".js")]
    assert not any("/deps/polyfill@" in url for url in scripts)
    # First, where the polyfill stood: the renderer's and dcc's async code calls regeneratorRuntime as it loads.
    assert scripts[0].endswith(f"/{REGENERATOR_NAME}")
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/regenerator-runtime"]["version"] == "0.14.1"


@pytest.mark.parametrize("damage", ["truncated", "another file's", "not brotli"])
def test_a_kept_file_damaged_on_disk_is_never_served(tmp_path, seeded_sqlite, make_dashboard, caplog, damage):
    folder = tmp_path / "compressed"
    client = DashClient(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False,
                                       COMPRESSED_FILES_FOLDER=str(folder)).server)
    url = next(url for url in page_file_urls(index(client)) if "dash_ag_grid.v" in url)
    client.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
    settled(client.client.application)
    good = client.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS}).get_data()
    (kept,) = set(folder.iterdir()) - {folder / LOCK_NAME}
    kept.write_bytes({"truncated": good[: len(good) // 2], "another file's": brotli.compress(b"console.log(1)"),
                      "not brotli": b"\x00" * 100}[damage])
    restarted = DashClient(make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False,
                                          COMPRESSED_FILES_FOLDER=str(folder)).server)
    with caplog.at_level(logging.WARNING, logger="switchboard.static"):
        meanwhile = restarted.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        settled(restarted.client.application)
        served = restarted.client.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
    assert meanwhile.headers["Cache-Control"] == INTERIM  # the fast variant while the file is compressed anew
    assert body_of(meanwhile) == body_of(served)
    assert served.status_code == 200 and served.get_data() == good and kept.read_bytes() == good
    assert any("compressing anew" in record.getMessage() for record in caplog.records)


def test_a_made_up_fingerprint_is_not_kept_again(app):
    """Dash serves a component suite under any fingerprint: what is kept is the content, once."""
    client = signed_in(app, "admin")
    url = next(url for url in page_file_urls(index(client)) if "dash_renderer.v" in url)
    compressed = app.server.extensions[static_assets.COMPRESSED_KEY]
    for number in range(20):
        forged = re.sub(r"m\d+", f"m{number}", url, count=1)
        response = client.client.get(forged, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        assert response.status_code == 200
    settled(app.server)
    assert len([key for key in compressed.kept if key[1] == "br"]) == 1
    assert not [key for key in compressed.kept if key[1].endswith(static_assets.FAST)]  # the best took its place
