"""A TCP proxy for fault-injection tests: cut, restore and slow down a connection to a server.

    with TcpProxy("127.0.0.1", 3306) as proxy:     # listens on 127.0.0.1:proxy.port
        engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{proxy.port}/test")
        proxy.cut()        # drop every open connection, close new ones at once
        proxy.restore()    # forward again
        proxy.delay(0.2)   # sleep 0.2 s before forwarding each chunk (0 clears)
        proxy.black_hole() # a dropped network: accept, read and discard, never answer (open ones go silent too)
        proxy.accepted, proxy.mysql_commands   # connections accepted, MySQL commands sent by clients, so far

Stdlib only: one daemon thread accepts, two daemon threads pump each connection
(one reads and discards each black-holed connection).
"""
from __future__ import annotations

import selectors
import socket
import threading
import time

CHUNK_BYTES = 65_536
JOIN_SECONDS = 2.0
MYSQL_HEADER_BYTES = 4  # 3 bytes of payload length (little-endian), 1 byte of sequence number


class MysqlCommandCounter:
    """Count the commands in a client's stream of the MySQL protocol: every packet whose sequence number is 0
    (COM_QUERY, COM_PING…; the handshake's answer is packet 1). Meaningless for other protocols."""

    def __init__(self):
        self.commands = 0
        self._header = b""
        self._left = 0  # payload bytes of the current packet still to come

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left:
                taken = min(self._left, len(view))
                self._left -= taken
                view = view[taken:]
                continue
            needed = MYSQL_HEADER_BYTES - len(self._header)
            self._header += bytes(view[:needed])
            view = view[needed:]
            if len(self._header) == MYSQL_HEADER_BYTES:
                self._left = int.from_bytes(self._header[:3], "little")
                self.commands += self._header[3] == 0
                self._header = b""


def _close(sock: socket.socket) -> None:
    """Shut a socket down (waking any thread blocked on it) and close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class _Link:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, proxy: "TcpProxy", client: socket.socket, upstream: socket.socket | None):
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.closed = threading.Event()
        self.commands = MysqlCommandCounter()
        if upstream is None:  # black-holed from the start: nothing to forward to
            self.threads = [threading.Thread(target=self._discard, daemon=True)]
            return
        self.threads = [
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True),
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy chunks from source to sink until either side ends, then close both."""
        try:
            while chunk := source.recv(CHUNK_BYTES):
                if source is self.client:
                    self.proxy._count_commands(self.commands, chunk)
                if self.proxy.latency:
                    time.sleep(self.proxy.latency)
                if self.closed.is_set():
                    break
                if not self.proxy.black_holed:  # a dropped network: what was sent is lost
                    sink.sendall(chunk)
        except OSError:
            pass
        self.close()

    def _discard(self) -> None:
        """Read what the client sends and answer nothing, until either side closes."""
        try:
            while chunk := self.client.recv(CHUNK_BYTES):
                self.proxy._count_commands(self.commands, chunk)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        """Close both sockets once."""
        if self.closed.is_set():
            return
        self.closed.set()
        _close(self.client)
        if self.upstream is not None:
            _close(self.upstream)
        self.proxy._forget(self)


class TcpProxy:
    """Forward 127.0.0.1:port to target_host:target_port, with faults on demand."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.latency = 0.0
        self.port = 0
        self.accepted = 0  # connections accepted since start (forwarded, closed at once or black-holed)
        self.mysql_commands = 0  # MySQL commands clients sent since start (see MysqlCommandCounter)
        self._black_hole = threading.Event()
        self._cut = threading.Event()
        self._stopping = threading.Event()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "TcpProxy":
        """Listen on an OS-chosen port and start accepting."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._accept_loop, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._listener and not self._stopping.is_set():
                        self._accept()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        with self._lock:
            self.accepted += 1
        if self._cut.is_set():
            _close(client)
            return
        if self._black_hole.is_set():
            upstream = None
        else:
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                return
            upstream.settimeout(None)
        link = _Link(self, client, upstream)
        with self._lock:
            # Checked under the lock so a concurrent cut() or stop() sees this link.
            refused = self._cut.is_set() or self._stopping.is_set()
            if not refused:
                self._links.add(link)
        if refused:
            link.close()
        else:
            link.start()

    def _count_commands(self, counter: MysqlCommandCounter, chunk: bytes) -> None:
        with self._lock:
            before = counter.commands
            counter.feed(chunk)
            self.mysql_commands += counter.commands - before

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _close_links(self) -> list[_Link]:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        return links

    @property
    def connections(self) -> int:
        """Return how many forwarded connections are open."""
        with self._lock:
            return len(self._links)

    def cut(self) -> None:
        """Close every open connection and close new ones at once, until restore()."""
        self._cut.set()
        self._close_links()

    @property
    def black_holed(self) -> bool:
        return self._black_hole.is_set()

    def black_hole(self) -> None:
        """Act as a dropped network until restore(): accept new connections, read and discard what every
        connection sends, answer nothing (a server that is up but unreachable, not a refused port)."""
        self._black_hole.set()

    def restore(self) -> None:
        """Forward new connections again; the connections a black hole swallowed data of are closed (their
        streams lost bytes: a real network's would be reset)."""
        was_black_holed = self._black_hole.is_set()
        self._black_hole.clear()
        self._cut.clear()
        if was_black_holed:
            self._close_links()

    def delay(self, seconds: float) -> None:
        """Sleep this long before forwarding each chunk, both ways (0 clears)."""
        self.latency = max(0.0, float(seconds))

    def stop(self) -> None:
        """Stop accepting, close every socket and join the threads."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake_w.send(b"x")
        self._thread.join(JOIN_SECONDS)
        for link in self._close_links():
            for thread in link.threads:
                thread.join(JOIN_SECONDS)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._thread = None

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
