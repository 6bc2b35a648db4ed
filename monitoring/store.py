"""Where memory samples live, shared by every worker and kept across restarts.

Redis when CACHE_REDIS_URL is set (every worker on every host sees the same
store), otherwise a SQLite file in the instance folder, shared by the workers
of one host. Both keep each series as (epoch, value) points for the retention
period and drop older points on every append, so a store never grows past
one retention's worth (24 h at 5 s is 17,280 points a series).

The store also carries the sampler election: a lease per host that only its
holder may renew, and the heartbeats of the workers the leader samples.
"""
from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Protocol

import orjson
import redis

from monitoring.downsample import downsample
from monitoring.sqlite_file import SqliteFile
from monitoring.memory import GroupMemory, HostMemory, MemorySample, ProcessMemory

log = logging.getLogger("switchboard.memory")

SQLITE_FILENAME = "switchboard-memory.sqlite3"
REDIS_TIMEOUT_SECONDS = 5
# A heartbeat is read back within a few periods; older ones only mark workers long gone.
HEARTBEAT_KEEP_SECONDS = 3600


class MemoryStore(Protocol):
    """What the sampler writes to and the memory widget reads from."""

    def append(self, sample: MemorySample) -> None: ...

    def read(self, name: str, since: float, until: float | None = None,
             max_points: int = 1000) -> list[tuple[float, float]]: ...

    def series_names(self) -> list[str]: ...

    def latest(self) -> MemorySample | None: ...

    def peak(self, name: str, since: float) -> float | None: ...

    def register_worker(self, host: str, pid: int, at: float) -> None: ...

    def workers(self, host: str, max_age: float) -> list[int]: ...

    def try_lead(self, host: str, holder: str, ttl: float) -> bool: ...

    def close(self) -> None: ...


def open_memory_store(config: dict, instance_path: str | Path) -> MemoryStore:
    """Open Redis when CACHE_REDIS_URL is set, else the SQLite file in the instance folder."""
    retention = float(config.get("MEMORY_RETENTION_HOURS") or 24) * 3600
    if config.get("CACHE_REDIS_URL"):
        return RedisMemoryStore(config["CACHE_REDIS_URL"], config.get("CACHE_KEY_PREFIX") or "switchboard:",
                                retention)
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteMemoryStore(folder / SQLITE_FILENAME, retention)


def encode_sample(sample: MemorySample) -> str:
    """Return the sample as compact JSON (never pickle: the store may be shared)."""
    return orjson.dumps(dataclasses.asdict(sample)).decode()


def decode_sample(text: str) -> MemorySample:
    """Rebuild a sample from encode_sample's JSON (ValueError, TypeError or KeyError when it is not that)."""
    data = orjson.loads(text)
    return MemorySample(at=data["at"], workers=tuple(ProcessMemory(**entry) for entry in data["workers"]),
                        groups=tuple(GroupMemory(**entry) for entry in data["groups"]),
                        host=HostMemory(**data["host"]), top=tuple(ProcessMemory(**entry) for entry in data["top"]))


_foreign_logged = threading.Event()


def stored_sample(text: str | None) -> MemorySample | None:
    """Return the snapshot a store holds, or None before the first or when it is not encode_sample's JSON
    (tampered or foreign: never evaluated; logged once per process)."""
    if not text:
        return None
    try:
        return decode_sample(text)
    except (ValueError, TypeError, KeyError, AttributeError):
        if not _foreign_logged.is_set():
            _foreign_logged.set()
            log.warning("ignored a memory snapshot Switchboard did not write; it reads as no sample yet")
        return None


# Take or renew the lease: set it when free or already ours, never over another holder's.
LEAD_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisMemoryStore:
    """Samples in Redis: a sorted set per series (score = epoch, member = "<epoch>:<value>")."""

    def __init__(self, url: str, prefix: str = "switchboard:", retention_seconds: float = 86400,
                 host: str | None = None):
        self.retention_seconds = retention_seconds
        # One namespace a host: hosts sharing a Redis each keep their own series and their own sampler.
        self.keys = f"{prefix}memory:{host or socket.gethostname()}:"
        self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                           socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        self._lead = self._redis.register_script(LEAD_SCRIPT)

    def _series_key(self, name: str) -> str:
        """Return the Redis key of a series."""
        return self.keys + "series:" + name

    def append(self, sample: MemorySample) -> None:
        """Add the sample's points and snapshot, then drop points older than the retention."""
        series = sample.series()
        pipe = self._redis.pipeline(transaction=False)
        for name, value in series.items():
            pipe.zadd(self._series_key(name), {_member(sample.at, value): sample.at})
        pipe.zadd(self.keys + "names", dict.fromkeys(series, sample.at))
        pipe.set(self.keys + "latest", encode_sample(sample))
        pipe.zrange(self.keys + "names", 0, -1, withscores=True)
        known = pipe.execute()[-1]
        self._trim(known, sample.at - self.retention_seconds)

    def _trim(self, known: list[tuple[str, float]], cutoff: float) -> None:
        """Drop points older than cutoff, and whole series last written before it."""
        pipe = self._redis.pipeline(transaction=False)
        for name, last_at in known:
            if last_at < cutoff:
                pipe.delete(self._series_key(name))
                pipe.zrem(self.keys + "names", name)
            else:
                pipe.zremrangebyscore(self._series_key(name), "-inf", f"({cutoff!r}")
        pipe.execute()

    def _range(self, name: str, since: float, until: float | None) -> list[tuple[float, float]]:
        """Return every point of the series in [since, until], oldest first."""
        rows = self._redis.zrangebyscore(self._series_key(name), since, "+inf" if until is None else until,
                                         withscores=True)
        return [(score, float(member.rpartition(":")[2])) for member, score in rows]

    def read(self, name: str, since: float, until: float | None = None,
             max_points: int = 1000) -> list[tuple[float, float]]:
        """Return the series' points in [since, until], oldest first, downsampled to max_points."""
        return downsample(self._range(name, since, until), max_points)

    def series_names(self) -> list[str]:
        """Return the names of the series that hold points."""
        return sorted(self._redis.zrange(self.keys + "names", 0, -1))

    def latest(self) -> MemorySample | None:
        """Return the newest whole sample, or None before the first."""
        try:
            text = self._redis.get(self.keys + "latest")
        except UnicodeDecodeError:  # bytes that are not even text (a pickle): read as a foreign snapshot
            text = "\0"
        return stored_sample(text)

    def peak(self, name: str, since: float) -> float | None:
        """Return the series' exact maximum since `since`, or None without points."""
        return max((value for _, value in self._range(name, since, None)), default=None)

    def register_worker(self, host: str, pid: int, at: float) -> None:
        """Record a heartbeat of worker `pid` on `host`."""
        key = self.keys + "workers:" + host
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(key, {str(pid): at})
        pipe.zremrangebyscore(key, "-inf", f"({at - HEARTBEAT_KEEP_SECONDS!r}")
        pipe.execute()

    def workers(self, host: str, max_age: float) -> list[int]:
        """Return the pids on `host` whose heartbeat is younger than max_age seconds."""
        pids = self._redis.zrangebyscore(self.keys + "workers:" + host, time.time() - max_age, "+inf")
        return sorted(int(pid) for pid in pids)

    def try_lead(self, host: str, holder: str, ttl: float) -> bool:
        """Take or renew the sampling lease of `host`; True while `holder` holds it."""
        return self._lead(keys=[self.keys + "leader:" + host], args=[holder, max(1, round(ttl * 1000))]) == 1

    def close(self) -> None:
        """Close the connections to Redis."""
        self._redis.close()


def _member(at: float, value: float) -> str:
    """Return the sorted-set member of a point: unique per time, short for whole numbers of bytes."""
    number = str(int(value)) if value.is_integer() else repr(value)
    return f"{at!r}:{number}"


SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, last_at REAL NOT NULL)",
    # WITHOUT ROWID: the (series, time) key is the table, so a point costs no second index.
    "CREATE TABLE IF NOT EXISTS points (series_id INTEGER NOT NULL, at REAL NOT NULL, value REAL NOT NULL, "
    "PRIMARY KEY (series_id, at)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL, "
    "sample TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS heartbeats (host TEXT NOT NULL, pid INTEGER NOT NULL, at REAL NOT NULL, "
    "PRIMARY KEY (host, pid)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS leases (host TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL)",
)


class SqliteMemoryStore(SqliteFile):
    """Samples in a SQLite file (WAL) shared by the workers of one host."""

    SYNCHRONOUS = "NORMAL"

    def __init__(self, path: str | Path, retention_seconds: float = 86400):
        self.retention_seconds = retention_seconds
        super().__init__(path, SQLITE_SCHEMA)

    def append(self, sample: MemorySample) -> None:
        """Add the sample's points and snapshot, then drop points older than the retention."""
        series = sample.series()
        cutoff = sample.at - self.retention_seconds
        with self._transaction() as db:
            db.executemany("INSERT INTO series (name, last_at) VALUES (?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET last_at = max(last_at, excluded.last_at)",
                           [(name, sample.at) for name in series])
            ids = dict(db.execute("SELECT name, id FROM series").fetchall())
            db.executemany("INSERT OR REPLACE INTO points (series_id, at, value) VALUES (?, ?, ?)",
                           [(ids[name], sample.at, value) for name, value in series.items()])
            db.execute("INSERT OR REPLACE INTO snapshot (id, at, sample) VALUES (1, ?, ?)",
                       (sample.at, encode_sample(sample)))
            db.execute("DELETE FROM points WHERE series_id IN (SELECT id FROM series) AND at < ?", (cutoff,))
            db.execute("DELETE FROM series WHERE last_at < ?", (cutoff,))

    def _range(self, name: str, since: float, until: float | None) -> list[tuple[float, float]]:
        """Return every point of the series in [since, until], oldest first."""
        return self._query("SELECT at, value FROM points WHERE series_id = (SELECT id FROM series WHERE name = ?) "
                           "AND at >= ? AND at <= ? ORDER BY at",
                           (name, since, float("inf") if until is None else until))

    def read(self, name: str, since: float, until: float | None = None,
             max_points: int = 1000) -> list[tuple[float, float]]:
        """Return the series' points in [since, until], oldest first, downsampled to max_points."""
        return downsample(self._range(name, since, until), max_points)

    def series_names(self) -> list[str]:
        """Return the names of the series that hold points."""
        return [name for (name,) in self._query("SELECT name FROM series ORDER BY name")]

    def latest(self) -> MemorySample | None:
        """Return the newest whole sample, or None before the first."""
        rows = self._query("SELECT sample FROM snapshot WHERE id = 1")
        return stored_sample(rows[0][0]) if rows else None

    def peak(self, name: str, since: float) -> float | None:
        """Return the series' exact maximum since `since`, or None without points."""
        rows = self._query("SELECT max(value) FROM points WHERE series_id = (SELECT id FROM series WHERE name = ?) "
                           "AND at >= ?", (name, since))
        return rows[0][0]

    def register_worker(self, host: str, pid: int, at: float) -> None:
        """Record a heartbeat of worker `pid` on `host`."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO heartbeats (host, pid, at) VALUES (?, ?, ?)", (host, pid, at))
            db.execute("DELETE FROM heartbeats WHERE host = ? AND at < ?", (host, at - HEARTBEAT_KEEP_SECONDS))

    def workers(self, host: str, max_age: float) -> list[int]:
        """Return the pids on `host` whose heartbeat is younger than max_age seconds."""
        rows = self._query("SELECT pid FROM heartbeats WHERE host = ? AND at >= ? ORDER BY pid",
                           (host, time.time() - max_age))
        return [pid for (pid,) in rows]

    def try_lead(self, host: str, holder: str, ttl: float) -> bool:
        """Take or renew the sampling lease of `host`; True while `holder` holds it."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO leases (host, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (host) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at < ?", (host, holder, now + ttl, now))
            return cursor.rowcount == 1

