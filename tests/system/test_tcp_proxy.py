"""The fault-injection proxy: forwarding, cut, restore, delay and stop."""
from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.databases import MYSQL_URL, unavailable
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for


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
    assert wait_for(lambda: threading.active_count() <= threads - 3)


def test_unreachable_target_closes_the_client():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    with TcpProxy("127.0.0.1", dead_port) as proxy, _connect(proxy.port) as sock:
        assert _is_dead(sock)


@pytest.fixture
def mariadb_proxy() -> Iterator[TcpProxy]:
    """A proxy in front of the test MariaDB."""
    if not MYSQL_URL:
        unavailable("MariaDB tests need SWITCHBOARD_TEST_MYSQL_URL (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    server = make_url(MYSQL_URL)
    with TcpProxy(server.host or "127.0.0.1", server.port or 3306) as running:
        yield running


@pytest.mark.mariadb
def test_mariadb_through_the_proxy_fails_on_cut_and_recovers(mariadb_proxy):
    proxy = mariadb_proxy
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{proxy.port}/test", pool_pre_ping=True)
    try:
        try:
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
        except sa.exc.OperationalError as error:
            unavailable(f"MariaDB at {MYSQL_URL} is unreachable: {error.orig}")
        proxy.cut()
        with pytest.raises(sa.exc.OperationalError):
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        proxy.restore()
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_black_hole_accepts_reads_and_never_answers_until_restored(proxy):
    with _connect(proxy.port) as open_before:
        assert _echo(open_before, b"hello") == b"hello"
        accepted = proxy.accepted
        proxy.black_hole()
        open_before.settimeout(0.3)
        open_before.sendall(b"lost")
        with pytest.raises(socket.timeout):  # the open connection went silent: no echo, no close
            open_before.recv(4096)
        with _connect(proxy.port) as during:  # a new one is accepted, and swallowed
            during.settimeout(0.3)
            during.sendall(b"anyone?")
            with pytest.raises(socket.timeout):
                during.recv(4096)
            assert proxy.accepted == accepted + 1
            proxy.restore()
            assert wait_for(lambda: _is_dead(during))  # their streams lost bytes: closed on restore
        assert wait_for(lambda: _is_dead(open_before))
    with _connect(proxy.port) as after:
        assert _echo(after, b"back") == b"back"


def test_the_command_counter_counts_packets_that_start_a_command_across_chunk_boundaries():
    from tests.support.tcp_proxy import MysqlCommandCounter

    def packet(sequence: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload

    stream = packet(1, b"handshake answer") + packet(0, b"\x03SELECT 1") + packet(0, b"\x0e") \
        + packet(0, b"\x03" + b"x" * 70_000)
    counter = MysqlCommandCounter()
    for start in range(0, len(stream), 3):  # chunks that split headers and payloads
        counter.feed(stream[start:start + 3])
    assert counter.commands == 3


@pytest.mark.mariadb
def test_the_proxy_counts_the_statements_a_mariadb_client_sends(mariadb_proxy):
    proxy = mariadb_proxy
    engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{proxy.port}/test", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            before = proxy.mysql_commands
            for value in range(3):
                assert connection.execute(sa.text("SELECT :v"), {"v": value}).scalar_one() == value
            assert wait_for(lambda: proxy.mysql_commands - before == 3)
        assert proxy.accepted == 1
    finally:
        engine.dispose()
