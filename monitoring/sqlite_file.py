"""A SQLite file (WAL) that the workers of one host share: the memory store's and the alert store's.

Each process opens its own connection (a connection must not cross a fork), writes
take the write lock up front, and a busy file is waited for instead of failing.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

BUSY_TIMEOUT_MS = 10_000


class SqliteFile:
    """One SQLite file with its schema, reached through this process's own connection."""

    SYNCHRONOUS: str | None = None  # PRAGMA synchronous, where a store trades durability for speed

    def __init__(self, path: str | Path, schema: Iterable[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._inherited: sqlite3.Connection | None = None
        with self._transaction() as db:
            for statement in schema:
                db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        """Open a connection in WAL mode that waits for other writers instead of failing."""
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                     check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        if self.SYNCHRONOUS:
            connection.execute(f"PRAGMA synchronous = {self.SYNCHRONOUS}")
        return connection

    def _db(self) -> sqlite3.Connection:
        """Return this process's connection (a forked child opens its own; call with the lock held)."""
        if self._connection is None or self._pid != os.getpid():
            # A connection must not cross a fork; keep the parent's unclosed so the child never touches it.
            self._inherited = self._connection if self._pid != os.getpid() else None
            self._connection, self._pid = self._connect(), os.getpid()
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one write transaction, taking the write lock up front."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one read and return its rows."""
        with self._lock:
            return self._db().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None
