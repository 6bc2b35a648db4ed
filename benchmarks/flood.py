"""One user floods searches and exports, or payload opens: does another viewer's dashboard stay fast?

Usage (from the repository root):

    python benchmarks/flood.py [--url mysql+pymysql://root@127.0.0.1:3306/sb_flood]
                               [--redis redis://127.0.0.1:6379/0] [--seconds 30] [--threads 8]
                               [--workers 4] [--through-nginx] [--compare-unlimited]
                               [--flood searches|payloads]

Everything stays on this machine: the database and Redis must be on 127.0.0.1
(the script drops, seeds and finally drops its database), gunicorn binds
127.0.0.1 on a free port, and every loop ends at a deadline.

The data: 20,000 calls and 5,000 appointments (demo.generator's default plan,
--raw-bytes of provider JSON a call). Two users in a user store of the run's own:
an admin and a support user of company 1. Gunicorn runs gunicorn.conf.py with
CACHE_REDIS_URL (a key prefix of the run's own, deleted afterwards) and the
default limits (SEARCH_RATE_LIMIT, EXPORT_RATE_LIMIT).

1. Quiet: the admin polls the ongoing-calls callback (one request after another,
   POLL_PAUSE_SECONDS apart) for --quiet-seconds.
2. Flood: the same, while the support user runs --threads threads for --seconds,
   each sending a distinct search, then another, then another, then a CSV export,
   over and over, as fast as answers come (the attack). With
   `--flood payloads`, each thread opens provider payloads of company 1's calls
   instead, a few calls over and over (a payload is read, parsed and masked for
   support: the heaviest work one press asks for), as fast as answers come.

It prints the admin's p50/p95 in both phases and what became of the flood's
requests (served, refused by a limit, failed). With --compare-unlimited the same
two phases run again on a fresh server whose limits are too high to matter: the
attack as it was before the limits. It is a benchmark, not a test: it prints
figures and a PASS/FAIL line for "p95 under 50 ms while one user floods" (for
payloads: "p95 within twice the quiet p95"), and exits 0 whatever they say
(non-zero only when it cannot run).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from contextlib import ExitStack
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
warnings.filterwarnings("ignore", message="Unverified HTTPS request")
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402  (after the path: the script runs from the repository root)
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.support.dash_client import CallbackPayloads  # noqa: E402
from tests.support.gunicorn import free_port, running_gunicorn  # noqa: E402
from tests.support.nginx import running_nginx  # noqa: E402

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/sb_flood"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PASSWORD = "flood benchmark password"
ADMIN, SUPPORT = "ada", "sam"
# A watching tab sends about one request a second; the admin polls five a second to collect samples quickly,
# still within CALLBACK_RATE_LIMIT's default of 150 in 10 s, so what is timed is the flood's effect, not the limit.
POLL_PAUSE_SECONDS = 0.2
REQUEST_TIMEOUT_SECONDS = 30.0
SIGN_IN_ATTEMPTS, SIGN_IN_PAUSE_SECONDS = 30, 2.0
MAX_REQUESTS_PER_THREAD = 100_000  # a bound besides the deadline
TARGET_P95_MS = 50.0
UNLIMITED = "1000000 per second"
ONGOING_INPUTS = {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0}
FEED_INPUTS = {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
               "activity-pager.data": {"cursors": [None], "page": 0}}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PAYLOAD_CALLS = 40  # the calls whose payloads a payload flood opens, round and round
PAYLOAD_GROWTH_ALLOWED = 2.0  # the admin's p95 during a payload flood, at most this times the quiet one


def payload_inputs() -> dict:
    """The payload buttons as a press of "Provider payload" sends them (the pressed one first: it changed)."""
    return {"call-raw-button.n_clicks": 1, "call-transcript-button.n_clicks": None,
            "call-analysis-button.n_clicks": None}


def feed_state(search: str = "") -> dict:
    return {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
            "activity-company.value": None, "activity-window.value": "90d", "activity-search.value": search}


class Browser(CallbackPayloads):
    """One signed-in browser tab over real HTTP: its own session cookie and kept-alive connection."""

    def __init__(self, base_url: str, name: str):
        self.base_url = base_url
        self.http = requests.Session()
        # Through nginx: its test certificate names switchboard.example.com, and this connects to 127.0.0.1.
        self.http.verify = False
        self.http.trust_env = False  # nor a CA bundle or proxy from the environment: loopback only
        # nginx's sign-in rate per address (30 a minute, burst 10) counts the form's GET and POST alike: each
        # is retried until it passes, as a patient attacker would.
        page = self._patiently(lambda: self.http.get(f"{base_url}/login", timeout=REQUEST_TIMEOUT_SECONDS))
        signed_in = self._patiently(lambda: self.http.post(
            f"{base_url}/login", allow_redirects=False, timeout=REQUEST_TIMEOUT_SECONDS,
            data={"name": name, "password": PASSWORD, "csrf_token": TOKEN.search(page.text).group(1)}))
        if signed_in.status_code != 302:
            raise RuntimeError(f"{name} could not sign in: {signed_in.status_code}")
        self.dependencies = self.http.get(f"{base_url}/_dash-dependencies", timeout=REQUEST_TIMEOUT_SECONDS).json()

    @staticmethod
    def _patiently(send):
        for _ in range(SIGN_IN_ATTEMPTS):
            response = send()
            if response.status_code != 429:
                return response
            time.sleep(SIGN_IN_PAUSE_SECONDS)
        return response

    def call(self, first_output: str, inputs: dict, state: dict | None = None) -> tuple[int, dict]:
        """Return the status and {"id.prop": value} of what the callback updated."""
        response = self.http.post(f"{self.base_url}/_dash-update-component", timeout=REQUEST_TIMEOUT_SECONDS,
                                  data=json.dumps(self.payload(first_output, inputs, state)),
                                  headers={"Content-Type": "application/json"})
        if response.status_code != 200:
            return response.status_code, {}
        answer = response.json()["response"]
        return 200, {f"{component}.{prop}": value for component, props in answer.items()
                     for prop, value in props.items()}


@dataclass
class Phase:
    admin_ms: list[float] = field(default_factory=list)
    admin_errors: int = 0
    flood: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def poll_ongoing(admin: Browser, until: float, phase: Phase) -> None:
    """Poll the ongoing-calls callback as the admin until the deadline, timing each answer."""
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            status, answer = admin.call("ongoing-grid.rowData", ONGOING_INPUTS)
        except requests.RequestException:
            status, answer = 0, {}
        if status == 200 and "ongoing-grid.rowData" in answer:
            phase.admin_ms.append((time.perf_counter() - started) * 1000)
        else:
            phase.admin_errors += 1
        time.sleep(POLL_PAUSE_SECONDS)


def outcome(kind: str, status: int, answer: dict) -> str:
    """Name what became of one flood request."""
    if status == 429:
        return f"{kind} refused: request rate (429)"
    if status != 200:
        return f"{kind} failed (HTTP {status})"
    notice = answer.get("activity-notice.children") or answer.get("call-payload-note.children") or ""
    if kind == "payload" and "call-payload.data" in answer:
        return "payload served"
    if kind == "search" and "activity-grid.rowData" in answer:
        return "search served"
    if kind == "export" and "activity-download.data" in answer:
        return "export served"
    if kind == "search" and "activity-freshness.data" in answer:
        return "search answered stale (no rows in time: the view on screen keeps its rows)"
    if "Too many" in notice or "already running" in notice:
        return f"{kind} refused: {'one at a time' if 'already running' in notice else 'rate limit'}"
    return f"{kind} failed ({notice[:60]!r})"


def flood(browser: Browser, thread: int, until: float, phase: Phase, lock: threading.Lock,
          call_ids: Sequence[int] = ()) -> None:
    """Send distinct searches and exports (three to one), or payload opens of `call_ids` when given, as fast as
    they are answered, until the deadline."""
    for number in range(MAX_REQUESTS_PER_THREAD):
        if time.monotonic() >= until:
            return
        try:
            if call_ids:
                call_id = call_ids[(thread * 7 + number) % len(call_ids)]
                status, answer = browser.call("call-payload.data", payload_inputs(), {"call-open.data": call_id})
                result = outcome("payload", status, answer)
            elif number % 4 == 3:
                status, answer = browser.call("activity-download.data", {"activity-export.n_clicks": number},
                                              feed_state())
                result = outcome("export", status, answer)
            else:
                # A text no cache has seen: each one is a statement unless a limit stops it.
                status, answer = browser.call("activity-grid.rowData", FEED_INPUTS,
                                              feed_state(f"mu{thread}x{number}"))
                result = outcome("search", status, answer)
        except requests.RequestException as error:
            result = f"failed ({type(error).__name__})"
        with lock:
            phase.flood[result] += 1


def run_phase(base_url: str, seconds: float, threads: int, call_ids: Sequence[int] = ()) -> Phase:
    """Time the admin's polls for `seconds`, with `threads` flooding as the support user (0: quiet), opening
    payloads of `call_ids` when given."""
    phase = Phase()
    admin = Browser(base_url, ADMIN)
    flooders = [Browser(base_url, SUPPORT) for _ in range(threads)]
    lock = threading.Lock()
    started = time.monotonic()
    until = started + seconds
    workers = [threading.Thread(target=flood, args=(browser, index, until, phase, lock, call_ids), daemon=True)
               for index, browser in enumerate(flooders)]
    for worker in workers:
        worker.start()
    poll_ongoing(admin, until, phase)
    for worker in workers:
        worker.join(REQUEST_TIMEOUT_SECONDS + 5)
    phase.seconds = time.monotonic() - started
    return phase


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def phase_lines(label: str, phase: Phase) -> list[str]:
    lines = [f"  {label}: admin ongoing-calls p50 {statistics.median(phase.admin_ms):.1f} ms, "
             f"p95 {percentile(phase.admin_ms, 0.95):.1f} ms over {len(phase.admin_ms)} polls "
             f"({phase.admin_errors} failed)"]
    if phase.flood:
        total = sum(phase.flood.values())
        lines.append(f"    flood: {total} requests in {phase.seconds:.0f} s ({total / phase.seconds:.1f}/s)")
        lines += [f"      {name}: {count}" for name, count in sorted(phase.flood.items())]
    return lines


# --- the database, the users and the server ---------------------------------------------------------------

def require_local(url: str, redis_url: str) -> None:
    for target in (make_url(url).host, make_url(redis_url.replace("redis://", "mysql://", 1)).host):
        if target not in LOCAL_HOSTS:
            raise SystemExit(f"the flood benchmark runs on this machine only, not on {target}")


def recreate_and_seed(url: str, raw_bytes: int) -> None:
    """Drop, create, migrate and seed the benchmark's database."""
    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from queries.timeutil import database_now
    from schema.migrate import migrate

    parsed = make_url(url)
    server = sa.create_engine(parsed.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{parsed.database}`")
        connection.exec_driver_sql(f"CREATE DATABASE `{parsed.database}` CHARACTER SET utf8mb4")
    server.dispose()
    started = time.perf_counter()
    writer = create_writer_engine(url)
    migrate(writer)
    summary = seed_database(writer, SeedPlan(raw_bytes=raw_bytes), database_now())
    writer.dispose()
    print(f"seeded {summary.calls:,} calls and {summary.appointments:,} appointments "
          f"in {time.perf_counter() - started:.0f} s")


def drop_database(url: str) -> None:
    parsed = make_url(url)
    server = sa.create_engine(parsed.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{parsed.database}`")
    server.dispose()


def add_users(users_url: str) -> None:
    from access.users import UserStore

    store = UserStore(users_url)
    try:
        store.add(ADMIN, "admin", (), PASSWORD)
        store.add(SUPPORT, "support", (1,), PASSWORD)
    finally:
        store.dispose()


def delete_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def payload_calls(url: str) -> list[int]:
    """Return the calls of company 1 (the support user's) with a payload, the ones a payload flood opens."""
    from schema.tables import calls

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(sa.select(calls.c.id).where(calls.c.company_id == 1, calls.c.raw.is_not(None))
                                   .order_by(calls.c.id).limit(PAYLOAD_CALLS)).scalars().all()
    engine.dispose()
    return list(found)


def run_server(arguments: argparse.Namespace, users_url: str, limits: dict[str, str]) -> tuple[Phase, Phase]:
    """Start gunicorn with these limits; run the quiet phase, then the flood; stop it."""
    port = free_port()
    prefix = f"sbflood-{uuid.uuid4().hex[:8]}:"
    environment = {**os.environ, "DATABASE_URL": arguments.url, "CACHE_REDIS_URL": arguments.redis,
                   "CACHE_KEY_PREFIX": prefix, "USERS_DATABASE_URL": users_url,
                   "SECRET_KEY": secrets.token_urlsafe(32), "SWITCHBOARD_BIND": f"127.0.0.1:{port}",
                   "SWITCHBOARD_WORKERS": str(arguments.workers), **limits}
    if arguments.through_nginx:
        environment["FORWARDED_PROXIES"] = "1"
    try:
        with running_gunicorn(environment, port, arguments.workers), ExitStack() as proxy:
            base_url = f"http://127.0.0.1:{port}"
            if arguments.through_nginx:
                nginx = proxy.enter_context(running_nginx(port, Path(tempfile.mkdtemp(prefix="sb-flood-nginx-"))))
                base_url = f"https://127.0.0.1:{nginx.port}"
            quiet = run_phase(base_url, arguments.quiet_seconds, 0)
            flooded = run_phase(base_url, arguments.seconds, arguments.threads,
                                payload_calls(arguments.url) if arguments.flood == "payloads" else ())
    finally:
        delete_redis_keys(arguments.redis, prefix)
    return quiet, flooded


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="MariaDB database to create, use and drop")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the flood")
    parser.add_argument("--quiet-seconds", type=float, default=20.0, help="length of the quiet phase")
    parser.add_argument("--threads", type=int, default=8, help="the flooding user's threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (gunicorn.conf.py's default)")
    parser.add_argument("--raw-bytes", type=int, default=16_000, help="provider JSON per call, as in production")
    parser.add_argument("--through-nginx", action="store_true",
                        help="put nginx with deploy/nginx/switchboard.conf in front, as deployed (HTTPS)")
    parser.add_argument("--flood", choices=("searches", "payloads"), default="searches",
                        help="what the support user floods: searches and exports, or payload opens")
    parser.add_argument("--compare-unlimited", action="store_true",
                        help="run again with limits too high to matter (the attack on an unguarded server)")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.seconds <= 600 or not 0 < arguments.quiet_seconds <= 600 or not 0 < arguments.threads <= 64:
        parser.error("--seconds and --quiet-seconds must be within 600, --threads within 64")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    from config import load_config

    arguments = parse_arguments(argv)
    require_local(arguments.url, arguments.redis)
    defaults = load_config(environ={})
    limit_names = ("SEARCH_RATE_LIMIT", "EXPORT_RATE_LIMIT", "PAYLOAD_RATE_LIMIT", "CALLBACK_RATE_LIMIT")
    runs = [("limited", {name: defaults[name] for name in limit_names})]
    if arguments.compare_unlimited:
        runs.append(("work limits only", {**runs[0][1], "CALLBACK_RATE_LIMIT": "none"}))
        runs.append(("unlimited", {"SEARCH_RATE_LIMIT": UNLIMITED, "EXPORT_RATE_LIMIT": UNLIMITED,
                                   "PAYLOAD_RATE_LIMIT": UNLIMITED, "CALLBACK_RATE_LIMIT": "none"}))
    recreate_and_seed(arguments.url, arguments.raw_bytes)
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="sb-flood-") as folder:
            users_url = f"sqlite:///{Path(folder) / 'users.sqlite'}"
            add_users(users_url)
            for name, limits in runs:
                results[name] = run_server(arguments, users_url, limits)
    finally:
        drop_database(arguments.url)
    what = ("opening payloads of " + str(PAYLOAD_CALLS) + " calls" if arguments.flood == "payloads"
            else "3 distinct searches to 1 export")
    print(f"\n{arguments.workers} gunicorn workers, one support user flooding with {arguments.threads} threads "
          f"for {arguments.seconds:.0f} s ({what}), the admin polling ongoing calls:")
    for name, limits in runs:
        quiet, flooded = results[name]
        print(f"{name} ({', '.join(f'{setting}={value!r}' for setting, value in limits.items())}):")
        for line in itertools.chain(phase_lines("quiet", quiet), phase_lines("flood", flooded)):
            print(line)
    p95 = percentile(results["limited"][1].admin_ms, 0.95)
    if arguments.flood == "payloads":
        quiet_p95 = percentile(results["limited"][0].admin_ms, 0.95)
        print(f"{'PASS' if p95 <= PAYLOAD_GROWTH_ALLOWED * quiet_p95 else 'FAIL'}: the admin's p95 while one user "
              f"opens payloads is {p95:.1f} ms, {p95 / quiet_p95:.1f}x the quiet {quiet_p95:.1f} ms "
              f"(target within {PAYLOAD_GROWTH_ALLOWED:g}x)")
        return 0
    print(f"{'PASS' if p95 < TARGET_P95_MS else 'FAIL'}: the admin's p95 while one user floods is {p95:.1f} ms "
          f"(target under {TARGET_P95_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
