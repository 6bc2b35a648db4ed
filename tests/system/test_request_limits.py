"""Bodies past the callback guard's cap are refused unread, at any auth state.

The attack: one unauthenticated 150 MB POST takes a worker from 130 to 577 MB when a hook reads and parses
the body after its 401. Here a 50 MB body is streamed over a real socket to gunicorn, and no worker grows.
"""
from __future__ import annotations

import io
import json
import os
import socket

import psutil
import pytest

from access.callback_guard import MAX_BODY_BYTES
from tests.support.dash_client import DashClient
from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.memory_processes import PeakRss
from tests.support.users import PASSWORD, add_users

BODY_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
# JSON that would reach json.loads whole: one object with a 50 MB string (100 MB once decoded beside its bytes).
BODY_HEAD = b'{"output": "ongoing-grid.rowData", "pad": "'
BODY_TAIL = b'"}'
RSS_GROWTH_ALLOWED = 5 * 1024 * 1024


def _stream_body(port: int, path: str, chunked: bool) -> int:
    """POST a 50 MB body in 64 KB pieces (one piece built once), then return the answer's status."""
    piece = b"a" * CHUNK
    middle = BODY_BYTES - len(BODY_HEAD) - len(BODY_TAIL)
    framing = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_BYTES}".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n")

        def send(data: bytes) -> None:
            connection.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

        try:
            send(BODY_HEAD)
            for _ in range(middle // CHUNK):
                send(piece)
            send(piece[:middle % CHUNK] + BODY_TAIL)
            if chunked:
                connection.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent: fine
        status_line = connection.makefile("rb").readline()
    return int(status_line.split()[1])


def _get(port: int, path: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return int(connection.makefile("rb").readline().split()[1])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50_mb_body_without_a_login_grows_no_gunicorn_worker(seeded_sqlite, tmp_path, chunked):
    add_users(tmp_path)
    port = free_port()
    environment = {**os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "SWITCHBOARD_WORKERS": "2",
                   "SWITCHBOARD_THREADS": "2", "DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": "false",
                   "SECRET_KEY": "request-limit-test-secret-key-0123456789",
                   "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}"}
    environment.pop("CACHE_REDIS_URL", None)
    with running_gunicorn(environment, port, workers=2) as server:
        for _ in range(8):  # each worker's first requests (lazy imports, first-request setup) happen before
            assert _get(port, "/login") == 200
        workers = psutil.Process(server.process.pid).children()
        before = {worker.pid: worker.memory_info().rss for worker in workers}
        with PeakRss(workers) as rss:
            statuses = [_stream_body(port, "/_dash-update-component", chunked) for _ in range(2)]
        assert _get(port, "/healthz") == 200  # still serving
    growth = {pid: rss.peaks[pid] - before[pid] for pid in before}
    print(f"\npeak RSS growth per worker ({'chunked' if chunked else 'Content-Length'}): "
          + ", ".join(f"{value / 1024 / 1024:.1f} MB" for value in growth.values()))
    assert set(statuses) <= {401, 413}, statuses
    assert max(growth.values()) < RSS_GROWTH_ALLOWED, growth


# --- every auth state, through the test client ------------------------------------------------------------------

def _oversized() -> bytes:
    return BODY_HEAD + b"a" * (MAX_BODY_BYTES + 1) + BODY_TAIL


def _post_chunked(client, path: str, body: bytes):
    """Post a body without Content-Length, as a chunked request reaches the app (wsgi.input_terminated)."""
    return client.post(path, input_stream=io.BytesIO(body), content_type="application/json",
                       environ_overrides={"wsgi.input_terminated": True})


@pytest.fixture
def demo_app(seeded_sqlite, make_dashboard):
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)


@pytest.fixture
def app_with_users(seeded_sqlite, make_dashboard, tmp_path):
    add_users(tmp_path)
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)


@pytest.mark.parametrize("path", ["/_dash-update-component", "/_switchboard-batch", "/login", "/logout", "/", "/metrics"])
def test_a_body_past_the_cap_is_refused_unread_with_413_without_a_login(app_with_users, path, monkeypatch):
    from werkzeug.wrappers import Request

    def never_read(*_args, **_kwargs):
        raise AssertionError("the oversized body was read")

    monkeypatch.setattr(Request, "get_data", never_read)
    response = app_with_users.server.test_client().post(path, data=_oversized(), content_type="application/json")
    assert response.status_code == 413 and "too large" in response.get_json()["error"]


def test_a_body_past_the_cap_is_refused_signed_in_and_in_the_local_demo(app_with_users, demo_app):
    signed_in = DashClient(app_with_users.server, login=("ada", PASSWORD)).client
    for client in (signed_in, demo_app.server.test_client()):
        assert client.post("/_dash-update-component", data=_oversized(),
                           content_type="application/json").status_code == 413
        chunked = _post_chunked(client, "/_dash-update-component", _oversized())
        assert chunked.status_code == 413 and "too large" in chunked.get_json()["error"]
    assert _post_chunked(signed_in, "/login", _oversized()).status_code == 413


def test_a_body_within_the_cap_is_still_served(demo_app):
    client = DashClient(demo_app.server)
    payload = client.payload("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    body = json.dumps(payload).encode()
    assert client.post(payload).status_code == 200
    assert _post_chunked(client.client, "/_dash-update-component", body).status_code == 200
