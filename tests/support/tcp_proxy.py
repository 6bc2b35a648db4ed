"""A TCP proxy for fault-injection tests: cut, restore and slow down a connection to a server.

    with TcpProxy("127.0.0.1", 3306) as proxy:     # listens on 127.0.0.1:proxy.port
        engine = sa.create_engine(f"mysql+pymysql://root@127.0.0.1:{proxy.port}/test")
        proxy.cut()        # drop every open connection, close new ones at once
        proxy.restore()    # forward again
        proxy.delay(0.2)   # sleep 0.2 s before forwarding each chunk (0 clears)

Stdlib only: one daemon thread accepts, two daemon threads pump each connection.
"""
from __future__ import annotations

import selectors
import socket
import threading
import time

CHUNK_BYTES = 65_536
JOIN_SECONDS = 2.0


def _close(sock: socket.socket) -> None:
    """Shut a socket down (waking any thread blocked on it) and close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class _Link:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, proxy: "TcpProxy", client: socket.socket, upstream: socket.socket):
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.closed = threading.Event()
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
                if self.proxy.latency:
                    time.sleep(self.proxy.latency)
                if self.closed.is_set():
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        """Close both sockets once."""
        if self.closed.is_set():
            return
        self.closed.set()
        _close(self.client)
        _close(self.upstream)
        self.proxy._forget(self)


class TcpProxy:
    """Forward 127.0.0.1:port to target_host:target_port, with faults on demand."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.latency = 0.0
        self.port = 0
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
        if self._cut.is_set():
            _close(client)
            return
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

    def restore(self) -> None:
        """Forward new connections again."""
        self._cut.clear()

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
