"""nginx in front of gunicorn, with the shipped deploy/nginx/switchboard.conf: slow clients and floods
meet nginx, not gunicorn.

Slow clients (sockets that send one header line every 3 s and never finish) hold gunicorn's gthread
threads, since each thread reads its request itself. Behind nginx they never reach gunicorn: /healthz and a
callback keep answering in under a second throughout, nginx drops them at its header timeout, refuses a body
over the app's cap with 413 and more requests in progress from one address than its limit with 429.

One real gunicorn (gunicorn.conf.py's production workers and threads, the seeded SQLite demo) and one nginx
serve the whole module. Traffic goes to 127.0.0.1 only; the name in Host and TLS is SERVER_NAME.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import select
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from access.callback_guard import MAX_BODY_BYTES
from access.pages import BATCH_PATH, WALL_PATH
from tests.support.databases import unavailable
from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.nginx import NGINX, SERVER_NAME, SITE_CONF, Nginx, NginxDashClient, running_nginx, site_setting, size_bytes

ROOT = Path(__file__).resolve().parents[2]
ONGOING = ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
SLOW_CLIENTS = 40  # two and a half times gunicorn's 16 threads: every worker gets its share
LINE_SECONDS = 3.0  # the slow-header attack: one header line every 3 s
ATTACK_SECONDS = 12.0  # longer than nginx's client_header_timeout (10 s), so its drop is seen
DIRECT_SECONDS = 8.0
SAMPLE_EVERY_SECONDS = 0.4
SAMPLE_TIMEOUT_SECONDS = 3.0
ANSWER_WITHIN_SECONDS = 1.0  # /healthz must still answer this fast during the attack


def production_default(name: str) -> int:
    """Return the default of SWITCHBOARD_WORKERS or SWITCHBOARD_THREADS, which gunicorn.conf.py reads (the
    production size)."""
    from config import SETTINGS_BY_NAME

    return int(SETTINGS_BY_NAME[name].default)


@dataclass
class Stack:
    nginx: Nginx
    gunicorn_port: int
    gunicorn_log: Path
    callback_body: bytes
    threads: int

    def gunicorn_requests(self) -> list[str]:
        """Return the lines of gunicorn's access log so far: every request that reached the app."""
        return self.gunicorn_log.read_text().splitlines() if self.gunicorn_log.exists() else []

    def gunicorn_requests_since(self, mark: int, at_least: int) -> list[str]:
        """Return the access-log lines after the first `mark`, once there are `at_least` of them (bounded)."""
        # gunicorn writes a line just after sending its answer, so the line may trail the answer a little;
        # a moment more lets a request that should not be there show up too.
        deadline = time.monotonic() + 5
        while len(self.gunicorn_requests()) - mark < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return self.gunicorn_requests()[mark:]


@pytest.fixture(scope="module")
def stack(seeded_sqlite, tmp_path_factory) -> Iterator[Stack]:
    if not Path(NGINX).exists():
        unavailable(f"reverse-proxy tests need nginx at {NGINX} (apt-get install -y nginx)")
    directory = tmp_path_factory.mktemp("reverse-proxy")
    port = free_port()
    workers, threads = production_default("SWITCHBOARD_WORKERS"), production_default("SWITCHBOARD_THREADS")
    log = directory / "gunicorn-access.log"
    environment = {**os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "DATABASE_URL": seeded_sqlite.url,
                   "MEMORY_SAMPLER": "false", "FORWARDED_PROXIES": "1",
                   # The public name, as the README tells.
                   "TRUSTED_HOSTS": f"{SERVER_NAME},localhost,127.0.0.1",
                   "USERS_DATABASE_URL": f"sqlite:///{directory / 'users.sqlite'}",
                   "GUNICORN_CMD_ARGS": f"--access-logfile {log}"}
    for name in ("CACHE_REDIS_URL", "SWITCHBOARD_WORKERS", "SWITCHBOARD_THREADS"):
        environment.pop(name, None)
    with running_gunicorn(environment, port, workers):
        with running_nginx(port, directory / "nginx") as nginx:
            client = NginxDashClient(nginx)
            body = json.dumps(client.payload(*ONGOING)).encode()
            client.connection.close()
            built = Stack(nginx, port, log, body, workers * threads)
            # gunicorn logs a request just after answering it: the set-up's own requests are in the log before a
            # test counts what reaches gunicorn from its mark on.
            built.gunicorn_requests_since(0, 1)
            yield built


# --- the attack and the measurements -------------------------------------------------------------------------

class SlowClients:
    """Sockets that each send a request's header one line every LINE_SECONDS and never finish it."""

    def __init__(self, open_socket: Callable[[], socket.socket], count: int):
        self.sockets = [open_socket() for _ in range(count)]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def _send_to_all(self, data: bytes) -> None:
        for sock in self.sockets:
            try:
                sock.sendall(data)
            except OSError:  # nginx dropped it (ssl.SSLError is an OSError): that is the point
                pass

    def _trickle(self) -> None:
        self._send_to_all(f"GET /healthz HTTP/1.1\r\nHost: {SERVER_NAME}\r\n".encode())
        line = 0
        while not self.stop.wait(LINE_SECONDS):
            line += 1
            self._send_to_all(f"X-Slow-{line}: {'x' * 20}\r\n".encode())

    def __enter__(self) -> SlowClients:
        self.thread.start()
        return self

    def closed_by_the_server(self, seconds: float = 2.0) -> int:
        """Return how many sockets the server has closed (readable with nothing sent means its end hung up)."""
        waiting = {sock.fileno(): sock for sock in self.sockets}
        closed = 0
        deadline = time.monotonic() + seconds
        while waiting and time.monotonic() < deadline:
            readable, _, _ = select.select(list(waiting), [], [], 0.2)
            closed += len(readable)
            for fd in readable:
                del waiting[fd]
        return closed

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(LINE_SECONDS + 5)
        for sock in self.sockets:
            sock.close()


@dataclass
class Samples:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"healthz": [], "callback": []})
    statuses: dict[str, list[int | None]] = field(default_factory=lambda: {"healthz": [], "callback": []})

    def worst(self, name: str) -> float:
        return max(self.seconds[name])

    def summary(self) -> str:
        return "; ".join(f"{name}: {len(values)} samples, median {sorted(values)[len(values) // 2]:.3f} s, "
                         f"max {max(values):.3f} s, {self.statuses[name].count(None)} timed out "
                         f"(>{SAMPLE_TIMEOUT_SECONDS:.0f} s)" for name, values in self.seconds.items())


def sample_while(open_connection: Callable[[], http.client.HTTPConnection], body: bytes, seconds: float) -> Samples:
    """Ask /healthz and the callback, each on a fresh connection as a new visitor would, every
    SAMPLE_EVERY_SECONDS for `seconds`, both at once; a request that fails or times out counts as
    SAMPLE_TIMEOUT_SECONDS with status None."""
    samples = Samples()
    requests = {"healthz": ("GET", "/healthz", None), "callback": ("POST", "/_dash-update-component", body)}

    def sample(name: str) -> None:
        method, path, payload = requests[name]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            connection = open_connection()
            try:
                connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status, elapsed = response.status, time.monotonic() - started
            except OSError:  # socket.timeout included
                status, elapsed = None, SAMPLE_TIMEOUT_SECONDS
            finally:
                connection.close()
            samples.seconds[name].append(elapsed)
            samples.statuses[name].append(status)
            time.sleep(max(0.0, SAMPLE_EVERY_SECONDS - elapsed))

    threads = [threading.Thread(target=sample, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + SAMPLE_TIMEOUT_SECONDS + 5)
    return samples


def direct_connection(stack: Stack) -> Callable[[], http.client.HTTPConnection]:
    return lambda: http.client.HTTPConnection("127.0.0.1", stack.gunicorn_port, timeout=SAMPLE_TIMEOUT_SECONDS)


def plain_socket(port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=5)


def wait_until_healthy(stack: Stack, seconds: float = 15.0) -> None:
    """Wait until gunicorn answers /healthz at once again (its threads freed after an attack)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples = sample_while(direct_connection(stack), stack.callback_body, 0.1)
        if samples.worst("healthz") < ANSWER_WITHIN_SECONDS and samples.statuses["healthz"] == [200]:
            return
    raise AssertionError("gunicorn did not recover after the slow clients left")


# --- the tests -----------------------------------------------------------------------------------------------

def test_slow_clients_stall_gunicorn_when_it_faces_them_itself(stack):
    """The attack is real: without nginx, the slowest /healthz or callback answer takes a second or more
    (each thread is held reading a header that never ends). This makes the next test mean something."""
    wait_until_healthy(stack)
    with SlowClients(plain_socket(stack.gunicorn_port), SLOW_CLIENTS):
        time.sleep(1.0)  # every slow client has sent its first line and holds a thread
        direct = sample_while(direct_connection(stack), stack.callback_body, DIRECT_SECONDS)
    print(f"\ngunicorn alone, {SLOW_CLIENTS} slow clients: {direct.summary()}")
    assert max(direct.worst("healthz"), direct.worst("callback")) >= ANSWER_WITHIN_SECONDS, direct.summary()
    wait_until_healthy(stack)


def test_behind_nginx_slow_clients_leave_healthz_and_a_callback_under_a_second(stack):
    assert ATTACK_SECONDS > float(site_setting("client_header_timeout").rstrip("s"))
    reached_gunicorn = len(stack.gunicorn_requests())
    with SlowClients(stack.nginx.connect, SLOW_CLIENTS) as attack:
        behind = sample_while(stack.nginx.connection, stack.callback_body, ATTACK_SECONDS)
        dropped = attack.closed_by_the_server()
    print(f"\nbehind nginx, {SLOW_CLIENTS} slow clients: {behind.summary()}")
    assert set(behind.statuses["healthz"]) == {200} and set(behind.statuses["callback"]) == {200}, behind.summary()
    assert len(behind.seconds["healthz"]) >= 10 and len(behind.seconds["callback"]) >= 10, behind.summary()
    assert behind.worst("healthz") < ANSWER_WITHIN_SECONDS, behind.summary()
    assert behind.worst("callback") < ANSWER_WITHIN_SECONDS, behind.summary()
    # nginx hung up on every slow client at its header timeout; none of them ever reached gunicorn.
    assert dropped == SLOW_CLIENTS
    answered = len(behind.seconds["healthz"]) + len(behind.seconds["callback"])
    assert len(stack.gunicorn_requests_since(reached_gunicorn, answered)) == answered


def test_nginx_s_body_limit_is_the_app_s_callback_cap():
    assert size_bytes(site_setting("client_max_body_size")) <= MAX_BODY_BYTES
    assert size_bytes(site_setting("client_body_buffer_size")) >= size_bytes(site_setting("client_max_body_size"))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_gets_413_from_nginx_and_never_reaches_gunicorn(stack, chunked):
    reached_gunicorn = len(stack.gunicorn_requests())
    body = b"[" * (MAX_BODY_BYTES + 1)
    connection = stack.nginx.connection(timeout=10)
    try:
        if chunked:  # no Content-Length: nginx counts the bytes as they come
            connection.request("POST", "/_dash-update-component", body=iter([body[:65536], body[65536:]]),
                               headers={"Content-Type": "application/json"}, encode_chunked=True)
        else:
            connection.request("POST", "/_dash-update-component", body=body,
                               headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"error": "request too large"}
    finally:
        connection.close()
    assert https_status(stack.nginx, "GET", "/healthz") == 200  # a marker: gunicorn's log is written to here
    new_requests = stack.gunicorn_requests_since(reached_gunicorn, 1)
    assert len(new_requests) == 1 and '"GET /healthz"' in new_requests[0], new_requests


def test_a_body_at_the_cap_passes_to_the_app(stack):
    """The limit is not lower than the app needs: a body of exactly the cap reaches the app's own check."""
    reached_gunicorn = len(stack.gunicorn_requests())
    body = b" " * (MAX_BODY_BYTES - 2) + b"[]"  # JSON, but not a callback: the app refuses it with 400
    assert https_status(stack.nginx, "POST", "/_dash-update-component", body) == 400
    new_requests = stack.gunicorn_requests_since(reached_gunicorn, 1)
    assert len(new_requests) == 1 and '"POST /_dash-update-component" 400' in new_requests[0], new_requests


@contextmanager
def held_requests(proxy: Nginx, count: int) -> Iterator[list[ssl.SSLSocket]]:
    """Keep `count` requests in progress at nginx: each has sent its header and only part of its body."""
    sockets = []
    try:
        for _ in range(count):
            sock = proxy.connect()
            sockets.append(sock)
            sock.sendall(f"POST /_dash-update-component HTTP/1.1\r\nHost: {SERVER_NAME}\r\n"
                         "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode())
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def https_status(proxy: Nginx, method: str, path: str, body: bytes | None = None) -> int:
    connection = proxy.connection()
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_more_requests_in_progress_from_one_address_than_the_limit_get_429(stack):
    limit = int(site_setting("limit_conn").split()[-1])
    reached_gunicorn = len(stack.gunicorn_requests())
    with held_requests(stack.nginx, limit - 1):
        assert https_status(stack.nginx, "GET", "/healthz") == 200  # the limit-th request still passes
        with held_requests(stack.nginx, 1):
            # nginx counts a request once its header is read; the held ones are read within moments.
            statuses = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and 429 not in statuses:
                statuses.append(https_status(stack.nginx, "GET", "/healthz"))
                time.sleep(0.05)
            assert statuses[-1] == 429, statuses
    assert https_status(stack.nginx, "GET", "/healthz") == 200
    # The held requests never reached gunicorn (nginx waits for their whole body); only the probes that passed.
    passed = 1 + statuses.count(200) + 1
    new_requests = stack.gunicorn_requests_since(reached_gunicorn, passed)
    assert len(new_requests) == passed and all('"GET /healthz" 200' in line for line in new_requests), new_requests


def test_nginx_replaces_forwarded_headers_a_client_forges(stack):
    """Through nginx a forged X-Forwarded-For is replaced (the no-user demo still sees 127.0.0.1) and the app
    knows the request came over HTTPS (HSTS sent); straight to gunicorn, which trusts one proxy, the same
    forged header is believed. Hence gunicorn listens on loopback only."""
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
    connection = stack.nginx.connection()
    try:
        connection.request("GET", "/_dash-layout", headers=forged)
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert "max-age" in response.getheader("Strict-Transport-Security", "")
    finally:
        connection.close()
    direct = direct_connection(stack)()
    try:
        direct.request("GET", "/_dash-layout", headers=forged)
        response = direct.getresponse()
        response.read()
        assert response.status == 403  # the demo serves its own machine only, and believed the forged address
    finally:
        direct.close()


def test_plain_http_is_sent_to_https(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack.nginx.http_port, timeout=5)
    try:
        connection.request("GET", "/?call=7", headers={"Host": SERVER_NAME})
        response = connection.getresponse()
        response.read()
        assert response.status == 301
        assert response.getheader("Location") == f"https://{SERVER_NAME}/?call=7"
    finally:
        connection.close()


WALL_CALLBACK = "/wall/_dash-update-component"


def test_a_session_flooding_callbacks_is_answered_429_by_nginx_and_other_sessions_are_not(stack):
    """Beyond its burst, one session's callbacks are refused by nginx itself (they never
    reach gunicorn), while another session's and the page's other requests pass."""
    burst = int(re.search(r"limit_req zone=switchboard_callbacks burst=(\d+)", SITE_CONF.read_text()).group(1))

    batch = json.dumps({"parts": [json.loads(stack.callback_body)]}).encode()

    def callback(cookie: str, path: str = "/_dash-update-component") -> tuple[int, str]:
        connection = stack.nginx.connection()
        try:
            connection.request("POST", path, body=batch if path.endswith(BATCH_PATH) else stack.callback_body,
                               headers={"Content-Type": "application/json",
                                        "Cookie": f"switchboard_session={cookie}"})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    rate = int(re.search(r"zone=switchboard_callbacks:\S+ rate=(\d+)r/s", SITE_CONF.read_text()).group(1))
    reached_gunicorn = len(stack.gunicorn_requests())
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:  # as fast as 8 connections go: far over the rate
        # A third each the wallboard page's (under /wall/) and batches: one limit for the session's callbacks,
        # whichever page and however sent.
        paths = ("/_dash-update-component", WALL_CALLBACK, BATCH_PATH)
        flooding = list(pool.map(lambda n: callback("flooding-session", paths[n % 3]), range(burst + 200)))
    elapsed = time.monotonic() - started
    statuses = [status for status, _ in flooding]
    assert set(statuses) == {200, 429}, statuses
    # What nginx let through: the burst, then the rate (one more for the token of the moment it started).
    assert burst <= statuses.count(200) <= burst + rate * elapsed + 1, (statuses.count(200), elapsed)
    refused = [answer for status, answer in flooding if status == 429]
    assert all(json.loads(answer) == {"error": "too many requests: try again in a few seconds"} for answer in refused)
    assert callback("another-session")[0] == 200
    assert https_status(stack.nginx, "GET", "/healthz") == 200
    passed = statuses.count(200) + 1
    callbacks = [line for line in stack.gunicorn_requests_since(reached_gunicorn, passed)
                 if any(f'"POST {path}"' in line for path in paths)]
    assert len(callbacks) == passed, (len(callbacks), passed)
    assert any(WALL_CALLBACK in line for line in callbacks) and any(BATCH_PATH in line for line in callbacks)


def test_a_tick_s_batch_passes_nginx_on_both_pages_and_each_part_is_answered(stack):
    """The site's config passes the batch path (serving/batch.py), the main page's and the wall's, to the
    application, and each part is answered (the local demo's viewer has no wall page: its own page answers)."""
    batch = json.dumps({"parts": [json.loads(stack.callback_body)] * 3}).encode()
    for path, status in ((BATCH_PATH, 200), (WALL_PATH + BATCH_PATH, 200)):
        connection = stack.nginx.connection()
        try:
            connection.request("POST", path, body=batch, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answers = json.loads(response.read())["answers"]
        finally:
            connection.close()
        assert response.status == 200 and [answer["status"] for answer in answers] == [status] * 3, (path, answers)
