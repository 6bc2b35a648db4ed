"""What one cached widget callback costs the server in CPU, and in which layer it goes.

Usage (from the repository root):

    python benchmarks/callback_cpu.py [--requests 300] [--role admin] [--top 25] [--folder DIR]
                                      [--no-http] [--session-reads]

It seeds the embedded demo database (benchmarks/page_weight.py's: the demo's plan, 125 calls ongoing) and users in
a temporary folder (or in --folder, kept and reused on the next run), builds the app on it (`create_app`, clock
standing still, so every answer comes from the query cache; no memory sampler, no simulator) and signs in (with
`--role local-demo`, no user exists: the loopback demo viewer). It reads the page's layout and callbacks as the
renderer does, finds the polled widgets (benchmarks/loadtest/page.py: every server callback an enabled
dcc.Interval triggers), warms each widget's cache with the page's first call, then replays each widget's poll
(the body the browser sends, tick by tick, with the freshness record it got back) --requests times:

- through Flask's test client, and
- over HTTP to werkzeug's WSGI server in a thread of this process (one kept-alive connection; skipped with
  --no-http).

For each widget it prints the server's CPU per request (thread CPU inside the WSGI app, everything from the
first hook to the last byte of the body) and the whole process's CPU per request (client and server together),
the answer's size and encoding; then, for all widgets together, a cProfile of the test client's replay: CPU per
request by layer (each function's own time goes to the layer of its file, or, for shared code such as werkzeug
or SQLAlchemy, to the layer of its callers) and the top cumulative entries, each marked with its layer.

With the clock standing still, a session's row in the user store is read once and then trusted (access/users.py,
LOOKUP_SECONDS); `--session-reads` trusts no lookup (LOOKUP_SECONDS 0), so every request reads the store: the
worst case, a worker that has not seen this session for a while.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROLES = {"admin": "ada", "support": "sam", "ops": "olga"}
LOCAL_DEMO = "local-demo"
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br", "Accept": "application/json",
                   "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) callback_cpu benchmark"}

# Layers, by the file a function lives in (first match wins); a function of none of them (werkzeug, SQLAlchemy,
# builtins) is charged to its callers' layers in proportion to what each called of it.
LAYERS = (
    # Wrappers around the whole app: what they call is charged by its own layer.
    ("flask/werkzeug", ("access/web.py:__call__", "benchmarks/callback_cpu.py")),
    ("guard", ("access/callback_guard.py", "access/work_limits.py", "access/gate.py",
               "serving/factory.py:_callback_retry_after")),
    ("auth/session", ("access/web.py", "access/users.py", "access/roles.py", "access/exposure.py", "flask_login/",
                      "flask/sessions.py", "itsdangerous/", "hmac.py", "hashlib")),
    ("json", ("json/", "plotly/io/_json.py", "_plotly_utils/utils.py", "plotly/utils.py", "orjson",
              "dash/_utils.py:to_json", "base_component.py:to_plotly_json")),
    ("compression", ("flask_compress/", "gzip.py", "zlib", "brotli", "serving/static_assets.py")),
    ("hooks", ("monitoring/costs.py:measure", "monitoring/costs.py:note", "monitoring/costs.py:widget_of",
               "monitoring/costs.py:add", "serving/metrics.py", "flask_talisman/", "alerts/", "monitoring/sampler.py",
               "serving/factory.py")),
    # The components a widget's answer is built of are the widget's work, though Dash's code.
    ("widget", ("widgets/", "queries/", "database/", "monitoring/", "dash/development/",
                "dash/html/", "dash/dcc/", "dash_ag_grid/")),
    ("dash dispatch", ("dash/",)),
)
FRAMEWORK = "flask/werkzeug"  # the request's own handling, and what no layer above called
LAYER_ORDER = ["auth/session", "guard", "dash dispatch", "widget", "json", "compression", "hooks", FRAMEWORK]


def layer_of(function: tuple[str, int, str]) -> str | None:
    """Return the layer of a profiled function (file, line, name), or None for shared code."""
    filename, _, name = function
    where = f"{filename.replace(chr(92), '/')}:{name}"
    for layer, patterns in LAYERS:
        if any(pattern in where if ":" in pattern else pattern in filename or pattern in name
               for pattern in patterns):
            return layer
    return None


def time_by_layer(stats: pstats.Stats) -> dict[str, float]:
    """Return seconds of CPU by layer: each function's own time, charged to its layer or its callers'."""
    table = stats.stats  # {function: (primitive calls, calls, own time, cumulative time, callers)}
    shares: dict[tuple, dict[str, float]] = {}  # function -> {layer: fraction of its time}

    def share(function, visiting: frozenset) -> dict[str, float]:
        """Return how a function's time splits among the layers, by its own layer or its callers'."""
        layer = layer_of(function)
        if layer is not None:
            return {layer: 1.0}
        if function in shares:
            return shares[function]
        callers = {caller: entry[3] for caller, entry in table.get(function, (0, 0, 0, 0, {}))[4].items()
                   if caller not in visiting}  # a recursion's callers are charged where it was entered
        whole = sum(callers.values())
        if whole <= 0:
            result = {FRAMEWORK: 1.0}
        else:
            result = {}
            for caller, weight in callers.items():
                for name, fraction in share(caller, visiting | {function}).items():
                    result[name] = result.get(name, 0.0) + fraction * weight / whole
        shares[function] = result
        return result

    totals: dict[str, float] = {}
    for function, (_, _, own, _, _) in table.items():
        for layer, fraction in share(function, frozenset()).items():
            totals[layer] = totals.get(layer, 0.0) + own * fraction
    return totals


class ServerCpu:
    """WSGI middleware noting the thread CPU each request takes, from the first hook to the body's last byte."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.seconds: list[float] = []

    def __call__(self, environ, start_response):
        started = time.thread_time()
        result = self.wsgi_app(environ, start_response)
        try:
            body = [chunk for chunk in result]
        finally:
            if hasattr(result, "close"):
                result.close()
        self.seconds.append(time.thread_time() - started)
        return body


@dataclass
class Measured:
    server_ms: float
    process_ms: float
    raw_bytes: int
    sent_bytes: int
    encoding: str


def prepare(folder: Path, role: str) -> dict[str, str]:
    """Seed the demo database and the users in the folder, unless a run before did; return the settings."""
    from benchmarks.page_weight import add_users, seed

    environment = {"DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}",
                   "USERS_DATABASE_URL": f"sqlite:///{folder / 'users.sqlite3'}", "SIMULATE": "false"}
    if not (folder / "demo.sqlite3").exists():
        environment = seed(folder)
        add_users(environment, folder)
    users = folder / ("users.sqlite3" if role != LOCAL_DEMO else "no-users.sqlite3")
    return {**environment, "USERS_DATABASE_URL": f"sqlite:///{users}"}


def build(environment: dict[str, str], folder: Path, clock):
    from app import create_app

    overrides = {"DATABASE_URL": environment["DATABASE_URL"], "USERS_DATABASE_URL": environment["USERS_DATABASE_URL"],
                 "SIMULATE": False, "MEMORY_SAMPLER": False,
                 # Counted as always, never reached: one viewer here sends what hundreds of pages would.
                 "CALLBACK_RATE_LIMIT": "1000000 per 10 seconds"}
    return create_app(overrides, instance_path=folder / "instance", clock=clock)


class Page:
    """The page's polled widgets and the bodies its renderer posts for them, tick by tick."""

    def __init__(self, layout, dependencies: list[dict]) -> None:
        from benchmarks.loadtest.page import layout_props, polled_widgets
        from widgets import activity

        self.widgets = polled_widgets(dependencies, layout)
        self.props = {**layout_props(layout), f"{activity.URL}.pathname": "/", f"{activity.URL}.search": ""}

    def body(self, widget, tick: int) -> bytes:
        from access.callback_guard import callback_body

        values = {**self.props, widget.trigger: tick}
        return json.dumps(callback_body(widget.callback, values, values, [widget.trigger])).encode()

    def keep(self, answer: bytes) -> None:
        """Keep what an answer wrote (a widget's freshness record), as the renderer does."""
        for component, props in json.loads(answer)["response"].items():
            for prop, value in props.items():
                self.props[f"{component}.{prop}"] = value


def test_client_session(server, role: str):
    from benchmarks.page_weight import PASSWORD
    from tests.support.dash_client import sign_in

    client = server.test_client()
    if role != LOCAL_DEMO:
        response = sign_in(client, ROLES[role], PASSWORD)
        if response.status_code != 302:
            raise RuntimeError(f"signing in as {ROLES[role]} answered {response.status_code}")
    # From now on as a browser asks (sign_in reads the form as text: uncompressed).
    client.environ_base.update({f"HTTP_{key.upper().replace('-', '_')}": value for key, value in BROWSER_HEADERS.items()})
    return client


def decoded(data: bytes, encoding: str) -> bytes:
    import gzip

    if encoding == "br":
        import brotli
        return brotli.decompress(data)
    return gzip.decompress(data) if encoding == "gzip" else data


def replay_test_client(client, page: Page, widget, meter: ServerCpu, requests: int, profile=None) -> Measured:
    """Post the widget's poll `requests` times through the test client; return its costs per request."""
    bodies = [page.body(widget, tick) for tick in range(2, requests + 2)]
    meter.seconds.clear()
    answers = []
    started = time.process_time()
    for body in bodies:
        if profile is not None:
            profile.enable()
        response = client.post("/_dash-update-component", data=body, content_type="application/json")
        if profile is not None:
            profile.disable()
        if response.status_code != 200:
            raise RuntimeError(f"{widget.name}: {response.status_code} {response.get_data()[:200]!r}")
        answers.append(response)
    process = time.process_time() - started
    last = answers[-1]
    encoding = last.headers.get("Content-Encoding", "")
    return Measured(1000 * sum(meter.seconds) / requests, 1000 * process / requests,
                    len(decoded(last.get_data(), encoding)), len(last.get_data()), encoding or "none")


def replay_http(port: int, cookie: str | None, page: Page, widget, meter: ServerCpu, requests: int, ) -> Measured:
    """Post the widget's poll `requests` times over one kept-alive HTTP connection; return its costs per request."""
    import http.client

    headers = {**BROWSER_HEADERS, "Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bodies = [page.body(widget, tick) for tick in range(2, requests + 2)]
    meter.seconds.clear()
    started = time.process_time()
    try:
        for body in bodies:
            connection.request("POST", "/_dash-update-component", body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"{widget.name} over HTTP: {response.status} {data[:200]!r}")
    finally:
        connection.close()
    process = time.process_time() - started
    encoding = response.headers.get("Content-Encoding") or "none"
    return Measured(1000 * sum(meter.seconds) / len(meter.seconds), 1000 * process / requests,
                    len(decoded(data, encoding if encoding != "none" else "")), len(data), encoding)


def print_table(title: str, rows: dict[str, Measured]) -> None:
    print(f"\n{title}")
    print(f"{'widget':<34} {'server CPU ms':>13} {'process CPU ms':>14} {'raw B':>8} {'sent B':>8} {'enc':>5}")
    for name, measured in rows.items():
        print(f"{name[:34]:<34} {measured.server_ms:>13.2f} {measured.process_ms:>14.2f} {measured.raw_bytes:>8,} "
              f"{measured.sent_bytes:>8,} {measured.encoding:>5}")
    server = [m.server_ms for m in rows.values()]
    print(f"{'mean of the widgets':<34} {sum(server) / len(server):>13.2f} "
          f"{sum(m.process_ms for m in rows.values()) / len(rows):>14.2f}")


def print_profile(profile: cProfile.Profile, requests: int, top: int, unprofiled_ms: float) -> None:
    stats = pstats.Stats(profile, stream=io.StringIO())
    layers = time_by_layer(stats)
    total = sum(layers.values())
    print(f"\nCPU per request by layer (cProfile of thread CPU, test client, all widgets, {requests} requests; the "
          f"profiler's own cost, per function call, inflates the profiled figures: 'scaled' shares out the "
          f"unprofiled mean, {unprofiled_ms:.2f} ms)")
    print(f"{'layer':<16} {'profiled ms':>11} {'share':>6} {'scaled ms':>9}")
    for layer in [*LAYER_ORDER, *sorted(set(layers) - set(LAYER_ORDER))]:
        if layer in layers:
            print(f"{layer:<16} {1000 * layers[layer] / requests:>11.3f} {layers[layer] / total:>6.1%} "
                  f"{unprofiled_ms * layers[layer] / total:>9.3f}")
    print(f"{'total':<16} {1000 * total / requests:>11.3f} {1:>6.0%} {unprofiled_ms:>9.3f}")
    print(f"\ntop {top} cumulative entries (ms per request), by layer")
    entries = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)[:top]
    print(f"{'cum ms':>7} {'own ms':>7} {'calls/req':>9}  {'layer':<14} function")
    for function, (_, calls, own, cumulative, _) in entries:
        filename, line, name = function
        short = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        print(f"{1000 * cumulative / requests:>7.3f} {1000 * own / requests:>7.3f} {calls / requests:>9.1f}  "
              f"{layer_of(function) or '-':<14} {short}:{line}({name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per widget and way (default 300)")
    parser.add_argument("--role", choices=[*ROLES, LOCAL_DEMO], default="admin")
    parser.add_argument("--top", type=int, default=25, help="cumulative profile entries to print (default 25)")
    parser.add_argument("--folder", type=Path, help="where to keep the seeded database for later runs")
    parser.add_argument("--no-http", action="store_true", help="skip the run through the WSGI server")
    parser.add_argument("--session-reads", action="store_true",
                        help="trust no session lookup (LOOKUP_SECONDS 0): every request reads the user store")
    options = parser.parse_args()
    if not 1 <= options.requests <= 100_000 or not 1 <= options.top <= 500:
        parser.error("--requests is 1-100,000, --top 1-500")
    with tempfile.TemporaryDirectory(prefix="callback-cpu-") as temporary:
        folder = options.folder or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        run(options, folder)


def run(options, folder: Path) -> None:
    import logging

    from tests.support.clock import FakeClock
    from widgets.services import EXTENSION_KEY

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    environment = prepare(folder, options.role)
    clock = FakeClock(time.time())  # standing still: every poll after the first is answered from the cache
    app = build(environment, folder, clock)
    server = app.server
    meter = ServerCpu(server.wsgi_app)
    server.wsgi_app = meter
    if options.session_reads:  # as tests/system/test_sessions.py does: no lookup is trusted
        import access.users
        access.users.LOOKUP_SECONDS = 0.0
    try:
        client = test_client_session(server, options.role)
        page = Page(*(json.loads(decoded(answer.get_data(), answer.headers.get("Content-Encoding", "")))
                      for answer in (client.get("/_dash-layout"), client.get("/_dash-dependencies"))))
        for widget in page.widgets:  # the first call of each: computes and caches its query
            response = client.post("/_dash-update-component", data=page.body(widget, 1),
                                   content_type="application/json")
            if response.status_code != 200:
                raise RuntimeError(f"{widget.name}: {response.status_code}")
            page.keep(decoded(response.get_data(), response.headers.get("Content-Encoding", "")))
        print(f"{len(page.widgets)} polled widgets on the {options.role} page; {options.requests} requests each; "
              f"{'every request reads the user store' if options.session_reads else 'session lookups trusted'}")
        rows = {}
        for widget in page.widgets:
            rows[widget.name] = replay_test_client(client, page, widget, meter, options.requests)
        print_table("through Flask's test client", rows)
        if not options.no_http:
            print_table("over HTTP (werkzeug's WSGI server, one kept-alive connection)",
                        http_rows(server, client, page, meter, options.requests))
        profile = cProfile.Profile(time.thread_time)  # CPU, not the waits of a busy machine
        for widget in page.widgets:
            replay_test_client(client, page, widget, meter, options.requests, profile)
        print_profile(profile, options.requests * len(page.widgets), options.top,
                      sum(row.server_ms for row in rows.values()) / len(rows))
    finally:
        server.extensions[EXTENSION_KEY].shutdown()


def http_rows(server, client, page: Page, meter: ServerCpu, requests: int, ) -> dict[str, Measured]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as browsers and gunicorn use it
    http_server = make_server("127.0.0.1", 0, server, threaded=False)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    cookie = client.get_cookie("switchboard_session")
    try:
        return {widget.name: replay_http(http_server.server_port,
                                         f"switchboard_session={cookie.value}" if cookie else None,
                                         page, widget, meter, requests, )
                for widget in page.widgets}
    finally:
        http_server.shutdown()
        thread.join(10)


if __name__ == "__main__":
    main()
