"""The fault-injection proxy: forwarding, cut, restore, delay and stop."""
from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import MYSQL_URL, _unavailable
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    """Serve an echo server on 127.0.0.1 and yield its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    clients: list[socket.socket] = []

    def echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            clients.append(conn)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    for conn in clients:
        conn.close()


@pytest.fixture
def proxy(echo_port) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo_port) as running:
        yield running


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=3)


def _echo(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def _is_dead(sock: socket.socket) -> bool:
    """Tell whether the connection ends instead of echoing."""
    try:
        sock.sendall(b"ping")
        return sock.recv(4096) == b""
    except (ConnectionError, OSError):
        return True


def _wait_for(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_forwards_bytes_both_ways(proxy):
    payload = bytes(range(256)) * 400
    with _connect(proxy.port) as sock:
        assert _echo(sock, payload) == payload
        assert proxy.connections == 1


def test_cut_closes_open_connections_and_refuses_new_ones(proxy):
    with _connect(proxy.port) as sock:
        assert _echo(sock, b"hello") == b"hello"
        proxy.cut()
        assert _is_dead(sock)
    assert proxy.connections == 0
    with _connect(proxy.port) as sock:
        assert _is_dead(sock)


def test_restore_forwards_again(proxy):
    proxy.cut()
    proxy.restore()
    with _connect(proxy.port) as sock:
        assert _echo(sock, b"again") == b"again"


def test_delay_adds_latency_and_zero_clears_it(proxy):
    with _connect(proxy.port) as sock:
        proxy.delay(0.2)
        started = time.monotonic()
        assert _echo(sock, b"slow") == b"slow"
        # One chunk each way, each held back 0.2 s.
        assert time.monotonic() - started >= 0.4
        proxy.delay(0)
        started = time.monotonic()
        assert _echo(sock, b"fast") == b"fast"
        assert time.monotonic() - started < 0.2


def test_stop_closes_everything(echo_port):
    proxy = TcpProxy("127.0.0.1", echo_port).start()
    port = proxy.port
    sock = _connect(port)
    assert _echo(sock, b"x") == b"x"
    threads = threading.active_count()
    proxy.stop()
    assert _is_dead(sock)
    sock.close()
    assert proxy.connections == 0
    with pytest.raises(OSError):
        _connect(port).close()
    assert _wait_for(lambda: threading.active_count() <= threads - 3)


def test_unreachable_target_closes_the_client():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    with TcpProxy("127.0.0.1", dead_port) as proxy, _connect(proxy.port) as sock:
        assert _is_dead(sock)


@pytest.mark.mariadb
def test_mariadb_through_the_proxy_fails_on_cut_and_recovers():
    if not MYSQL_URL:
        _unavailable("MariaDB tests need SWITCHBOARD_TEST_MYSQL_URL (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    server = make_url(MYSQL_URL)
    with TcpProxy(server.host or "127.0.0.1", server.port or 3306) as proxy:
        engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{proxy.port}/test", pool_pre_ping=True)
        try:
            try:
                with engine.connect() as connection:
                    assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
            except sa.exc.OperationalError as error:
                _unavailable(f"MariaDB at {MYSQL_URL} is unreachable: {error.orig}")
            proxy.cut()
            with pytest.raises(sa.exc.OperationalError):
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
            proxy.restore()
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
        finally:
            engine.dispose()
