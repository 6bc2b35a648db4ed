"""The static files the page loads: content-hashed URLs, a year of caching, and only what the viewer's page uses.

- assets/ files (the page's CSS and JS, the favicon) and the partial plotly.js bundle (npm package
  plotly.js-basic-dist-min, installed by `npm ci` from package-lock.json) are served at
  /static-assets/<sha256 of the content>/<name> with `Cache-Control: public, max-age=31536000, immutable`,
  compressed once (brotli 11, kept on disk by content in COMPRESSED_FILES_FOLDER; gzip 9 per process), in the
  background: until that is done a request gets a fast variant (brotli 5, gzip 1) that caches revalidate, each
  variant with its own ETag (Compressed). Dash's own `?m=<mtime>` asset links are turned off (assets_ignore): an
  mtime is not the content, so a checkout or a copy could serve a stale file for a year.
- Dash's component suites carry a version-and-mtime fingerprint in their file names: those get the same
  immutable caching; the few it requests unfingerprinted, and Dash's unhashed /assets/ URLs (the login page's
  CSS), are revalidated (`no-cache`, with an ETag). The HTML page, the layout, the callback list and every
  callback answer are never stored (`no-store`).
- The page lists the scripts its viewer's components need and no others (`PageAssetsDash`): a library none
  of the page's components comes from is left off (ops, with no grid, loads no AG Grid), and the code
  chunks Dash would fetch later, one after another (the grid's, the graph's, the dropdown's), are listed
  in the page so they download in parallel with the rest. Charts use the partial plotly.js: dcc.Graph
  takes a `window.Plotly` already on the page instead of loading Dash's full bundle; its loader
  (assets/plotly_async.js) preloads it after the page's own code and runs it once the first callback requests
  are on their way, and until it has, window.Plotly is the promise of it, so the grids fill meanwhile. Without
  node_modules (`npm ci` is an optimisation, not a requirement) the app starts all the same, serves Dash's full
  plotly.js from its Python package and logs a warning; its first page is as quick, as no request waits for a
  compression.
- Dash's babel polyfill gives way to regenerator-runtime (npm), what current browsers lack of it.
- The layout and the callback list are preloaded from the page's head, so they download with the scripts
  instead of after them.
"""
from __future__ import annotations

import fcntl
import gzip
import hashlib
import logging
import mimetypes
import os
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property, partial
from html import escape
from pathlib import Path
from typing import Callable, Hashable

from dash import Dash
from flask import Flask, Response, abort, redirect, request

from access.dash_internals import (DASH_COMPONENT_SUITES_PATH, DASH_DEPENDENCIES_PATH, DASH_LAYOUT_PATH,
                                   RendererConfigHook, component_type, layout_value, split_fingerprint,
                                   with_descendants)
from access.pages import requests_prefix
from access.request_context import this_request

try:  # Brotli (requirements.txt) makes files about a tenth smaller than gzip; without it, gzip
    import brotli
except ImportError:  # pragma: no cover - installed with the app
    brotli = None

log = logging.getLogger("switchboard.static")

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
PLOTLY_BUNDLE = Path("plotly.js-basic-dist-min") / "plotly-basic.min.js"  # bar, pie, scatter: what the charts draw
# What Dash's babel polyfill (polyfill@7, 97 KB: core-js 2 and regenerator-runtime) gives a current browser:
# only `regeneratorRuntime`, which the renderer's and dcc's transpiled async code call (what core-js 2 adds is
# native in current, evergreen browsers). It takes the polyfill's place, 25 KB.
REGENERATOR = Path("regenerator-runtime") / "runtime.js"
REGENERATOR_NAME = "regenerator-runtime.js"
DASH_POLYFILL = re.compile(re.escape(DASH_COMPONENT_SUITES_PATH) + r"dash/deps/polyfill@[^\"]*\.js")
STATIC_PATH = "/static-assets"
DASH_ASSETS = "/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_STORED = "no-store"
FAVICON = "favicon.svg"
PLOTLY_LOADER = "plotly_async.js"
# assets/ files the dashboard page does not load itself (the login page links its stylesheet on its own).
NOT_ON_THE_PAGE = frozenset({"login.css", FAVICON, PLOTLY_LOADER})  # the loader: on pages with a chart only
DIGEST_CHARS = 16
MIN_COMPRESS_BYTES = 1024
# Brotli's best (11) makes the page's large scripts 8% smaller than 9 (admin: about 80 KiB) but takes 2-4 s a
# file: it is done once per file content and kept on disk (COMPRESSED_FILES_FOLDER), so only a release's first
# start pays it. Without a folder to keep it in, 9 (a tenth of a second), once a process.
BROTLI_QUALITY = 9
BROTLI_KEPT_QUALITY = 11
GZIP_LEVEL = 9
# Until the best is ready (made in the background: no request waits for it), a request is answered with a fast
# variant. For Dash's full plotly.js (4.8 MB) on this project's 2-core machine: brotli 5 takes 0.1 s for 1.29 MB
# (brotli 11: about 40 s for 1.1 MB), gzip 1 0.05 s for 1.7 MB (gzip 9: 0.17 s for 1.47 MB).
FAST_BROTLI_QUALITY = 5
FAST_GZIP_LEVEL = 1
FAST = "-fast"  # the interim variant's mark, in its ETag and where it is kept
INTERIM = "no-cache"  # the interim variant is kept by caches only if they ask again: the best replaces it
BACKGROUND_NICE = 10
LOCK_NAME = ".lock"  # in COMPRESSED_FILES_FOLDER: one compression at a time among the processes sharing it
COMPRESSED_KEY = "switchboard.compressed"  # the app's Compressed, in its extensions
INDEX_STRING = """<!DOCTYPE html>
<html lang="en">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""

# The code chunks Dash's libraries load on demand, by the component types that need them. A chunk listed here is
# put in the page when one of its components is on it; any other (the date picker's, AG Grid Enterprise's) is
# left to be fetched on demand, as Dash does.
CHUNKS = {
    ("dash_core_components", "async-graph.js"): {"Graph"},
    ("dash_core_components", "async-dropdown.js"): {"Dropdown"},
    ("dash_core_components", "async-slider.js"): {"Slider", "RangeSlider"},
    ("dash_ag_grid", "async-community.js"): {"AgGrid"},
}
# Dash's own package serves several libraries; the folder of a script says which.
DASH_FOLDERS = {"dcc": "dash_core_components", "html": "dash_html_components", "dash_table": "dash_table"}
ALWAYS = frozenset({"dash-renderer", "deps"})  # the renderer and React
SCRIPT_TAG = re.compile(r'<script src="([^"]+)"></script>')


@dataclass
class StaticFile:
    """One file served at a URL naming its content."""

    name: str
    path: Path

    @cached_property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:DIGEST_CHARS]

    @property
    def url(self) -> str:
        return f"{STATIC_PATH}/{self.digest}/{self.name}"

    def response(self, compressed: Compressed) -> Response:
        response = Response(self.data, mimetype=mimetypes.guess_type(self.name)[0] or "application/octet-stream")
        response.headers["Cache-Control"] = IMMUTABLE
        compressed.apply(self.url, response)  # its ETag: the content's digest, and the variant's encoding
        return response.make_conditional(request)


class Background:
    """Runs jobs one at a time, in the order given, on a daemon thread of low CPU priority that exists while
    there is work: the process's exit never waits for it, and the requests' threads keep the CPU first.

    A job is named; a name already waiting or running is not queued again. A forked child (gunicorn's
    workers) starts its own thread when given work: fork copies no thread, and the parent's queue is the
    parent's to run."""

    def __init__(self) -> None:
        self._start_afresh()

    def _start_afresh(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._queue: deque[tuple[Hashable, Callable[[], None]]] = deque()
        self._pending: set[Hashable] = set()
        self._running = False

    def submit(self, name: Hashable, job: Callable[[], None]) -> None:
        """Queue the job unless one by this name is waiting or running."""
        if self._pid != os.getpid():
            self._start_afresh()
        with self._lock:
            if name in self._pending:
                return
            self._pending.add(name)
            self._queue.append((name, job))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="switchboard-compress", daemon=True).start()

    def pending(self, name: Hashable) -> bool:
        """Tell whether a job by this name is waiting or running in this process."""
        return self._pid == os.getpid() and name in self._pending

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every job given so far has run (at most `timeout` seconds); tell whether they have."""
        if self._pid != os.getpid():
            return True
        with self._done:
            return self._done.wait_for(lambda: not self._pending, timeout)

    def _run(self) -> None:
        try:  # Linux gives each thread its own nice value: only this thread yields to the requests
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        except (AttributeError, OSError):  # pragma: no cover - another system, or no permission: full priority
            pass
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                name, job = self._queue.popleft()
            try:
                job()
            except Exception:  # a failed compression costs bytes on the wire, never the file: served as before
                log.exception("compressing %s in the background failed", name)
            finally:
                with self._done:
                    self._pending.discard(name)
                    self._done.notify_all()


@dataclass
class Compressed:
    """Files that never change under their URL, compressed once and kept, by file and encoding: in this process,
    and, for brotli at its best, on disk in `folder` by the content's digest (shared by processes and restarts).

    No request waits for the best compression (brotli 11 takes 2-4 s a large file, about 40 s for Dash's full
    plotly.js): the first request for a file starts it in the background and is answered at once with a fast
    variant (brotli 5 or gzip 1: a tenth of a second for plotly.js) that caches must revalidate (`no-cache`)
    instead of keeping it a year; once the best is ready, it is served with the URL's year of caching. Each
    variant has an ETag of its own (the content's digest, the encoding, `-fast` for the interim), so a cache
    never answers one client with the encoding negotiated for another, and a browser holding the interim gets
    the best on its next visit (a 200 instead of a 304).

    A component suite is kept by its path without Dash's fingerprint: Dash serves it under any fingerprint a client
    makes up, and the whole URL would keep (and compress) one more copy for each."""

    kept: dict[tuple[str, str], bytes] = field(default_factory=dict)
    folder: Path | None = None
    background: Background = field(default_factory=Background)
    digests: dict[str, str] = field(default_factory=dict)

    def apply(self, url: str, response: Response) -> None:
        """Compress the response's body as the request accepts (brotli, else gzip) and tag it with its variant's
        ETag: the best compression when it is kept, else a fast one while the best is made in the background."""
        response.vary.add("Accept-Encoding")
        data = response.get_data()
        key = file_key(url)
        digest = self.digests.get(key) or self.digests.setdefault(key, hashlib.sha256(data).hexdigest()[:DIGEST_CHARS])
        encoding = accepted_encoding()
        if encoding is None or len(data) < MIN_COMPRESS_BYTES:
            response.set_etag(digest)
            return
        body = self.kept.get((key, encoding)) or self._kept_on_disk(key, data, encoding)
        if body is not None:
            response.set_etag(f"{digest}.{encoding}")
        elif request.if_none_match.contains(f"{digest}.{encoding}"):
            # The client holds the best already (from a process that had it): it stays better than the interim.
            body = b""
            response.set_etag(f"{digest}.{encoding}")
        else:
            self.background.submit((key, encoding), partial(self._compress_best, key, data, encoding))
            body = self.kept.get((key, fast := f"{encoding}{FAST}"))
            if body is None:
                body = fast_compress(data, encoding)
                if (key, encoding) not in self.kept:  # not once the best is here: nothing would serve it
                    self.kept[key, fast] = body
            response.set_etag(f"{digest}.{fast}")
            response.headers["Cache-Control"] = INTERIM
        response.set_data(body)
        response.headers["Content-Encoding"] = encoding

    def holds(self, url: str, encoding: str) -> bool:
        """Tell whether the file at this URL is kept compressed at its best in this encoding."""
        return (file_key(url), encoding) in self.kept

    def _kept_on_disk(self, key: str, data: bytes, encoding: str) -> bytes | None:
        """Return the best brotli of the data if a process kept it on disk (read and checked once a process)."""
        if encoding != "br" or self.folder is None or self.background.pending((key, encoding)):
            return None
        path = self.folder / f"{hashlib.sha256(data).hexdigest()}.br"
        if not path.is_file():
            return None
        kept = self._read_kept(path, data)
        if kept is not None:
            self.kept[key, encoding] = kept
            self.kept.pop((key, f"{encoding}{FAST}"), None)
        return kept

    def _compress_best(self, key: str, data: bytes, encoding: str) -> None:
        """Compress at the best level (in the background) and keep it; the fast variant is no longer needed."""
        self.kept[key, encoding] = self._brotli(data) if encoding == "br" \
            else gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
        self.kept.pop((key, f"{encoding}{FAST}"), None)

    @staticmethod
    def _read_kept(path: Path, data: bytes) -> bytes | None:
        try:
            kept = path.read_bytes()
            # Checked once a process (a few ms): a file damaged on disk is never served.
            if brotli.decompress(kept) == data:
                return kept
            log.warning("the compressed file %s does not hold its content: compressing anew", path)
        except FileNotFoundError:
            pass
        except (OSError, brotli.error) as error:
            log.warning("cannot read the compressed file %s (%s): compressing anew", path, error)
        return None

    def _brotli(self, data: bytes) -> bytes:
        if self.folder is None:
            return brotli.compress(data, quality=BROTLI_QUALITY)
        path = self.folder / f"{hashlib.sha256(data).hexdigest()}.br"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = open(self.folder / LOCK_NAME, "a+b")
        except OSError as error:
            self._cannot_keep(error)
            return brotli.compress(data, quality=BROTLI_QUALITY)
        with lock:
            # One compression at a time among the processes sharing the folder (gunicorn's master and its workers):
            # a file one of them is compressing is read by the others once it is written, instead of being
            # compressed again by each on the same two cores. lockf's locks belong to the process, so a worker
            # forked while its master holds one does not inherit it.
            fcntl.lockf(lock, fcntl.LOCK_EX)
            kept = self._read_kept(path, data)
            if kept is not None:
                return kept
            compressed = brotli.compress(data, quality=BROTLI_KEPT_QUALITY)
            partial_path = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
            try:  # written whole under a name of its own, then renamed: a reader never sees half a file
                with open(partial_path, "wb") as file:
                    file.write(compressed)
                    file.flush()
                    os.fsync(file.fileno())  # on disk before the name: a power cut leaves no empty file by that name
                os.replace(partial_path, path)
            except OSError as error:
                partial_path.unlink(missing_ok=True)
                self._cannot_keep(error)
            return compressed

    def _cannot_keep(self, error: OSError) -> None:
        # Nowhere to keep it: this process compresses the rest at 9 (a tenth of a second each), as without a
        # folder, instead of paying brotli 11 again in every process.
        log.warning("cannot keep the compressed file in %s (%s): this process compresses in memory, at %d",
                    self.folder, error, BROTLI_QUALITY)
        self.folder = None


def accepted_encoding() -> str | None:
    """Return the encoding to answer this request with: brotli, else gzip, as its Accept-Encoding allows
    (`;q=0` refuses one), else None (the file as it is)."""
    accepted = request.accept_encodings
    if brotli is not None and accepted.quality("br") > 0:
        return "br"
    return "gzip" if accepted.quality("gzip") > 0 else None


def fast_compress(data: bytes, encoding: str) -> bytes:
    """Compress at a fast level: what a request is answered with until the best compression is ready."""
    return brotli.compress(data, quality=FAST_BROTLI_QUALITY) if encoding == "br" \
        else gzip.compress(data, compresslevel=FAST_GZIP_LEVEL, mtime=0)


def file_key(url: str) -> str:
    """Return what names a file's content among the URLs it is served at: a component suite's path without Dash's
    fingerprint (the same file under every one); any other URL as it is (a static asset's names its digest)."""
    if url.startswith(DASH_COMPONENT_SUITES_PATH):
        path, _ = split_fingerprint(url[len(DASH_COMPONENT_SUITES_PATH):])
        return DASH_COMPONENT_SUITES_PATH + path
    return url


@dataclass
class StaticFiles:
    """The files served with content-hashed URLs, by name."""

    files: dict[str, StaticFile] = field(default_factory=dict)

    @classmethod
    def find(cls, assets_folder: Path, node_modules: Path | None = None) -> StaticFiles:
        """Find the assets and the partial plotly.js bundle (in NODE_MODULES unless told another folder)."""
        node_modules = NODE_MODULES if node_modules is None else node_modules
        files = {path.name: StaticFile(path.name, path) for path in sorted(assets_folder.iterdir())
                 if path.is_file() and not path.name.startswith(".")}
        bundle = node_modules / PLOTLY_BUNDLE
        if bundle.is_file():
            files[bundle.name] = StaticFile(bundle.name, bundle)
        else:
            log.warning("the partial plotly.js bundle %s is missing: charts load Dash's full plotly.js instead "
                        "(about 1.1 MB with brotli, 0.8 MB more than the partial bundle); `npm ci` installs it", bundle)
        runtime = node_modules / REGENERATOR
        if runtime.is_file():
            files[REGENERATOR_NAME] = StaticFile(REGENERATOR_NAME, runtime)
        else:
            log.warning("%s is missing (run `npm ci`): pages load Dash's babel polyfill instead (about 30 KB more "
                        "compressed)", runtime)
        return cls(files)

    @property
    def regenerator(self) -> StaticFile | None:
        """Return regenerator-runtime, which takes the place of Dash's babel polyfill, if it is here."""
        return self.files.get(REGENERATOR_NAME)

    @property
    def plotly(self) -> StaticFile | None:
        """Return the partial plotly.js bundle, if it and its loader are here."""
        return self.files.get(PLOTLY_BUNDLE.name) if PLOTLY_LOADER in self.files else None

    def page_files(self, suffix: str) -> list[StaticFile]:
        """Return the assets the dashboard page loads itself (by name, as Dash orders them), of one kind."""
        return [file for name, file in self.files.items()
                if name.endswith(suffix) and name not in NOT_ON_THE_PAGE and name not in (PLOTLY_BUNDLE.name,
                                                                                            REGENERATOR_NAME)]


def library_of(url: str) -> tuple[str | None, str]:
    """Return the component library a component-suites script belongs to (None: the renderer and React, always
    needed), and its file name without Dash's fingerprint."""
    path = url.split(DASH_COMPONENT_SUITES_PATH, 1)[1].split("?", 1)[0]
    package, _, inner = path.partition("/")
    inner, _ = split_fingerprint(inner)
    folder, _, name = inner.rpartition("/")
    if package == "dash":
        top = inner.split("/", 1)[0]
        return (None if top in ALWAYS else DASH_FOLDERS.get(top, top)), name
    return package, name


def needed(url: str, components: frozenset[tuple[str, str]], partial_plotly: bool) -> bool:
    """Tell whether a page with these (library, component type) pairs needs this script."""
    if DASH_COMPONENT_SUITES_PATH not in url:
        return True
    library, name = library_of(url)
    if library is None:
        return True
    if library == "plotly":  # Dash's full plotly.js: for a page with a chart when the partial bundle is missing
        return not partial_plotly and ("dash_core_components", "Graph") in components
    if library not in {used for used, _ in components}:
        return False
    if name.startswith("async-"):
        return bool(CHUNKS.get((library, name), set()) & {kind for used, kind in components if used == library})
    return True


def components_of(layout) -> frozenset[tuple[str, str]]:
    """Return the (library, component type) pairs of a layout."""
    return frozenset(kind for kind in map(component_type, with_descendants(layout)) if kind is not None)


class PageAssetsDash(RendererConfigHook, Dash):
    """Dash, serving each page the scripts its components need, with content-hashed assets and favicon."""

    def __init__(self, *args, static_files: StaticFiles, **kwargs) -> None:
        # Dash's eager loading lists every library's on-demand chunks in the page (fingerprinted); the page keeps
        # those its components use. Its own asset links (?m=mtime) are replaced by content-hashed ones.
        super().__init__(*args, eager_loading=True, assets_ignore=".*", **kwargs)
        self.static_files = static_files
        self.index_string = INDEX_STRING
        self._components_by_page: dict[tuple[str | None, str | None], frozenset[tuple[str, str]]] = {}

    def page_components(self) -> frozenset[tuple[str, str]]:
        """Return the component types of this viewer's page (the same for everyone of one role and page: the
        access check says which page: access/request_context.py)."""
        context = this_request()
        page = (getattr(context.viewer, "role", None), context.page)
        if page not in self._components_by_page:
            self._components_by_page[page] = components_of(layout_value(self))
        return self._components_by_page[page]

    def renderer_config(self, config: dict) -> dict:
        # The renderer checks the callbacks it is given against the page's validation layout when the config has
        # one, else against the page's layout itself. Dash's would be app.validation_layout, every role's panels
        # (which the server checks every callback against at start-up): it would need every library's code on
        # every page and describe the panels of other roles. The viewer's own page is exactly the layout the
        # renderer fetches, so the config carries none: the same check, without 40 KB (5 KiB compressed) of
        # the same layout a second time in the page.
        config.pop("validation_layout", None)
        # The wall's page asks for its layout and callbacks under /wall/ (access/pages.py, WallPageRequests).
        config["requests_pathname_prefix"] = self.page_requests_prefix()
        return config

    def page_requests_prefix(self) -> str:
        """Return where this page's renderer asks for its layout, callbacks and their answers."""
        return requests_prefix(self.config.requests_pathname_prefix, this_request().page)

    def interpolate_index(self, **kwargs) -> str:
        components = self.page_components()
        files = self.static_files
        prefix = self.page_requests_prefix()
        favicon = files.files.get(FAVICON)
        kwargs.update(
            scripts="\n".join(_page_scripts(kwargs["scripts"], components, files)),
            css="\n".join(_page_head(prefix, kwargs["css"], files)),
            favicon=f'<link rel="icon" type="image/svg+xml" href="{escape(favicon.url)}">' if favicon else
            kwargs["favicon"])
        return super().interpolate_index(**kwargs)


def _page_scripts(dash_scripts: str, components: frozenset[tuple[str, str]], files: StaticFiles) -> list[str]:
    """Return the page's script tags: those of Dash's its components need, the partial plotly.js's loader when
    it has a chart, then the app's own scripts."""
    kept = _needed_scripts(dash_scripts, components, files)
    if files.regenerator is not None:  # in the polyfill's place: before the renderer and React
        kept = [script_tag(files.regenerator.url) if (match := SCRIPT_TAG.fullmatch(line.strip()))
                and DASH_POLYFILL.search(match.group(1)) else line for line in kept]
    partial_chart = files.plotly is not None and ("dash_core_components", "Graph") in components
    # The partial plotly.js is fetched by its loader (run before the renderer), which makes dcc.Graph wait for it.
    loader = [f'<script src="{escape(files.files[PLOTLY_LOADER].url)}" data-plotly="{escape(files.plotly.url)}">'
              '</script>'] if partial_chart else []
    return [*kept, *loader, *(script_tag(file.url) for file in files.page_files(".js"))]


def _needed_scripts(dash_scripts: str, components: frozenset[tuple[str, str]], files: StaticFiles) -> list[str]:
    """Return the lines of Dash's scripts the page keeps: each script its components need, once, and every line
    that is no script tag."""
    # Each script once: every Dash app a process builds adds Dash's full plotly.js to dcc's resources again
    # (Dash._setup_plotlyjs), and a second app (tests, a reload) would list it, and run it, twice.
    listed: set[str] = set()
    return [line for line in dash_scripts.split("\n")
            if not (match := SCRIPT_TAG.fullmatch(line.strip()))
            or (needed(match.group(1), components, files.plotly is not None)
                and match.group(1) not in listed and not listed.add(match.group(1)))]


def _page_head(prefix: str, dash_css: str, files: StaticFiles) -> list[str]:
    """Return the page's head links: the preloads of its layout and callbacks, Dash's styles, then the app's."""
    head = [f'<link rel="preload" href="{escape(prefix)}{path}" as="fetch" crossorigin="anonymous">'
            for path in (DASH_LAYOUT_PATH.lstrip("/"), DASH_DEPENDENCIES_PATH.lstrip("/"))]
    return head + [dash_css, *(f'<link rel="stylesheet" href="{escape(file.url)}">'
                               for file in files.page_files(".css"))]


def page_file_urls(html: str) -> list[str]:
    """Return the URLs of the files a page loads: scripts (and the one the plotly.js loader fetches), stylesheets,
    icon."""
    return [*re.findall(r'<script[^>]* src="([^"]+)"', html), *re.findall(r'<script[^>]* data-plotly="([^"]+)"', html),
            *re.findall(r'<link rel="(?:stylesheet|icon)"[^>]* href="([^"]+)"', html)]


def script_tag(url: str) -> str:
    return f'<script src="{escape(url)}"></script>'


def install_static_files(server: Flask, static_files: StaticFiles, compressed_folder: Path | None = None) -> None:
    """Serve the content-hashed files and give every response its caching rule; compress what never changes once
    (brotli's best kept in `compressed_folder`)."""
    compressed = server.extensions[COMPRESSED_KEY] = Compressed(folder=compressed_folder)

    @server.route(f"{STATIC_PATH}/<digest>/<name>")
    def static_file(digest: str, name: str) -> Response:
        file = static_files.files.get(name)
        if file is None:
            abort(404)
        if digest != file.digest:  # a page from before the file changed: the current one, found anew each time
            return redirect(file.url, 302)
        return file.response(compressed)

    # Registered after Dash's Flask-Compress, so it runs before it: what it compresses, Flask-Compress leaves.
    @server.after_request
    def caching(response: Response) -> Response:
        response.headers["Cache-Control"] = cache_control(request.path, response)
        if response.headers["Cache-Control"] == IMMUTABLE and response.status_code == 200 \
                and "Content-Encoding" not in response.headers and not response.is_streamed:
            compressed.apply(request.path, response)
            response = response.make_conditional(request)
        return response


def cache_control(path: str, response: Response) -> str:
    """Return how long a browser may keep this response: fingerprinted files for a year, nothing else."""
    if path.startswith(STATIC_PATH + "/") and response.status_code in (200, 304) and "Cache-Control" in response.headers:
        return response.headers["Cache-Control"]
    if path.startswith(DASH_COMPONENT_SUITES_PATH) and response.status_code in (200, 304):
        _, fingerprinted = split_fingerprint(path[len(DASH_COMPONENT_SUITES_PATH):])
        return IMMUTABLE if fingerprinted else REVALIDATE
    if path.startswith(DASH_ASSETS) and response.status_code in (200, 304):
        return REVALIDATE
    return NOT_STORED
