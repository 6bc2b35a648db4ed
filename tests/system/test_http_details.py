"""HEAD answers as GET, HSTS only over HTTPS that this server or a trusted proxy saw, no gunicorn control socket."""
from __future__ import annotations

import os
import socket

import psutil
import pytest

from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.users import add_users

HSTS = "Strict-Transport-Security"


@pytest.fixture
def app_with_users(seeded_sqlite, make_dashboard, tmp_path):
    add_users(tmp_path)
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)


def test_head_login_answers_as_get_does(app_with_users):
    client = app_with_users.server.test_client()
    get, head = client.get("/login"), client.head("/login")
    assert head.status_code == get.status_code == 200
    assert head.headers["Content-Type"] == get.headers["Content-Type"] and head.get_data() == b""
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize("proxies, request_options, sends_hsts", [
    (0, {}, False),
    (0, {"headers": {"X-Forwarded-Proto": "https"}}, False),  # a client's own claim, no proxy trusted
    (0, {"base_url": "https://localhost"}, True),             # HTTPS to this server itself
    (1, {"headers": {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"}}, True),
    (1, {"headers": {"X-Forwarded-Proto": "http", "X-Forwarded-For": "192.0.2.1"}}, False),
    (1, {"headers": {"X-Forwarded-Proto": "https, http"}}, False),  # a client's claim, then the proxy's own
])
def test_hsts_is_sent_only_over_https_seen_by_this_server_or_a_trusted_proxy(
        seeded_sqlite, make_dashboard, tmp_path, proxies, request_options, sends_hsts):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, FORWARDED_PROXIES=proxies)
    response = app.server.test_client().get("/login", **request_options)
    assert response.status_code == 200
    assert (HSTS in response.headers) == sends_hsts, response.headers.get(HSTS)
    if sends_hsts:
        assert response.headers[HSTS].startswith("max-age=")


def _raw_get(port: int, path: str, *headers: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers, "", ""]
        connection.sendall("\r\n".join(lines).encode())
        return b"".join(iter(lambda: connection.recv(65536), b""))


def test_gunicorn_opens_no_control_socket_and_believes_no_client_about_https(seeded_sqlite, tmp_path):
    add_users(tmp_path)
    port = free_port()
    environment = {**os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "SWITCHBOARD_WORKERS": "1",
                   "DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": "false", "HOME": str(tmp_path),
                   "SECRET_KEY": "http-details-test-secret-key-0123456789", "XDG_RUNTIME_DIR": str(tmp_path),
                   "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}"}
    environment.pop("CACHE_REDIS_URL", None)
    with running_gunicorn(environment, port, workers=1) as server:
        head = _raw_get(port, "/login").split(b"\r\n\r\n")[0]
        forged = _raw_get(port, "/login", "X-Forwarded-Proto: https").split(b"\r\n\r\n")[0]
        master = psutil.Process(server.process.pid)
        sockets = [connection.laddr for process in [master, *master.children()]
                   for connection in process.net_connections(kind="unix")]
    assert head.startswith(b"HTTP/1.1 200") and forged.startswith(b"HTTP/1.1 200")
    assert HSTS.encode() not in forged, forged
    assert [path for path in sockets if path and path.endswith(".ctl")] == []
    assert not (tmp_path / "gunicorn.ctl").exists() and not (tmp_path / ".gunicorn").exists()
