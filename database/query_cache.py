"""Query results cached for exactly one poll interval, computed once per key.

The cache is Flask-Caching: in-process (SimpleCache) by default, Redis when
CACHE_REDIS_URL is set, so every worker shares one result per key. A key is the
widget's query name plus its bound parameters (filters and tenant scope),
never the viewer, so a hundred people watching the same widget cost one query
per interval.

Entries live in time slots of one poll interval, counted from the epoch
(slot = now // interval): a result computed in a slot serves the rest of that
slot and expires at its end. So the database sees exactly one query per key per
interval however many people poll, and one person polling every interval gets a
fresh result each time (an entry that lived a full interval from when it was
computed would answer every other poll of a lone watcher with data a whole
interval old). Hosts agree on slots as far as their clocks agree (NTP).

Within a process, a per-key lock makes concurrent misses wait for the one
computation in flight instead of each running the query (single flight); with
Redis, a shared lock does the same across workers. The locks are per key, not per
slot, so a computation that outlives its slot (a database that never answers) is
still the only one in flight. A waiter waits at most `wait_seconds` and then
answers with the key's latest result, when one is kept (see `latest_key`), else
"waiting for the database" (or the key's failure of the slot before): it never
runs the query itself, and never holds a server thread for long. The latest
result counts as fresh while it is at most an interval old, as a cached one
may be; older, it is served marked stale, so a panel opened while the database
is slow shows its last rows and says why they are not newer. Without it, a
database slower than a key's interval would leave every asker waiting: each
result is stored for the slot its computation began in, which has ended.

A failure is remembered like a result: a query that fails with one of
the `remember` errors stores a failure record (plain data: the error's kind and
the reason the widgets show) for the rest of the slot in which it failed, in the
shared cache like a result. Every asker in that slot gets `KnownFailure` with the
same reason, so a failing key costs the database one attempt per slot however many
people watch it, exactly when it is least able to bear more.

A result that is expensive and read by many (the activity feed's newest rows) may
be computed ahead: when a key is in demand near the end of its slot, a background
thread computes the next slot's entry, so nobody's request waits for it when the
slot turns (`prefetch_next_slot`). A lone watcher never triggers it, so their
results stay as fresh as without it.

Entries are stored as JSON (orjson), never as pickles: whoever
can write to a shared Redis could otherwise run code in every worker. The cache
backends store the bytes this module encodes as they are (`StoredAsIs`); an entry
that is not this version's JSON (a pickle, a tampered or foreign value) is a miss,
logged once. A value that JSON cannot carry as it is (a DataFrame, a dataclass, a
datetime, a tuple key) raises `NotCacheable` where it is cached. A computed result
is served decoded from its own bytes, exactly as a hit serves it, so what cannot
make the trip through Redis fails on the first ask, with or without Redis.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import orjson
import redis
from cachelib.serializers import BaseSerializer
from flask_caching import Cache
from flask_caching.backends import RedisCache, SimpleCache
from redis.exceptions import LockError, RedisError

from database.engines import network_timeout_seconds
from monitoring.instrumentation import CostLog, measure_refresh

FAILURE_REMEMBERED_MOST_SECONDS = 60  # the longest a failure stands for a key, whatever its interval
log = logging.getLogger("switchboard.cache")

KEY_PREFIX = "query:"
LOCK_POLL_SECONDS = 0.02
RETRY_SHARED_SECONDS = 5.0
LOCAL_FALLBACK_ENTRIES = 2000
REDIS_SOCKET_SECONDS = 1.0
PREFETCH_MIN_REQUESTS = 4  # asks for a key in one slot, in this process, before its next slot is computed ahead
PREFETCH_KEYS_COUNTED = 256
WAIT_SECONDS = 0.5  # a waiter's default patience for the computation in flight (QUERY_WAIT_MS sets it)
WAITING_REASON = "waiting for the database"
WAITING_KIND = "Waiting"  # the kind of KnownFailure a waiter whose wait ran out gets: nothing has failed
LATEST_KEPT_INTERVALS = 3
LATEST_KEPT_LEAST_SECONDS = 10
FAILURE_FIELD = "failure"
FORMAT_VERSION = 1  # the "v" of every stored entry: an entry of another version is a miss
# orjson writes dataclasses, datetimes and subclasses of str, int, dict and list on its own terms (a dataclass
# comes back as a dict, a datetime as text); passed through to no `default`, they raise instead.
ENCODE_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


class NotCacheable(TypeError):
    """A value the query cache cannot store as JSON: a bug in what a widget caches, never user input."""


class StoredAsIs(BaseSerializer):
    """The cache backends' serializer: store the bytes QueryCache encoded, and read them back, as they are.

    Flask-Caching's own serializers pickle (cachelib's Redis one unpickles whatever starts with "!"); this one
    never does, and refuses anything but bytes, so no other path can put a pickle in the cache.
    """

    def dumps(self, value: Any, protocol: int | None = None) -> bytes:
        if not isinstance(value, bytes):
            raise NotCacheable(f"the query cache stores encoded bytes only, not {type(value).__name__}")
        return value

    def loads(self, value: Any) -> Any:
        return value


class StoredAsIsRedisCache(RedisCache):
    """Flask-Caching's Redis backend, storing entries as encoded (cache_config names it)."""

    serializer = StoredAsIs()


class StoredAsIsSimpleCache(SimpleCache):
    """Flask-Caching's in-process backend, storing entries as encoded: the same bytes as Redis would hold."""

    serializer = StoredAsIs()


def encode_entry(entry: dict[str, Any]) -> bytes:
    """Return a cache entry as versioned JSON; raise NotCacheable when JSON cannot carry it as it is."""
    try:
        return orjson.dumps({"v": FORMAT_VERSION, **entry}, option=ENCODE_OPTIONS)
    except orjson.JSONEncodeError as error:
        raise NotCacheable(f"a cached value must be plain JSON data: {error}") from None


def decode_entry(stored: Any) -> dict[str, Any] | None:
    """Return the entry encode_entry wrote, or None for anything else (missing, foreign, tampered); nothing
    stored is ever unpickled or evaluated."""
    if not isinstance(stored, (bytes, str)):
        return None
    try:
        entry = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) and entry.get("v") == FORMAT_VERSION else None


@dataclass(frozen=True)
class CachedResult:
    """A widget's built result and when its data was read (its cost is in the CostLog). `behind` is empty for
    a result at most an interval old; else the reason an older result is served. `waited` is the wait a
    waiter's wait ran out on, when it was given the key's latest result instead of its slot's own."""

    value: Any
    computed_at: float
    behind: str = ""
    waited: "KnownFailure | None" = None

    def current(self) -> "CachedResult":
        """Return this result when it is its slot's own; else raise the wait it stands in for. A result built
        from another key's (the feed's page from its newest rows) is remembered for its own slot: built from a
        waiter's stand-in, it would pass old rows off as its slot's, so it waits with that key's waiters."""
        if self.waited is not None:
            raise self.waited
        return self


@dataclass(frozen=True)
class AsOf:
    """What a computation returns when its data is older than the computation: a result built from other
    cached results is as old as the oldest of them, and its entry says so (`computed_at`)."""

    value: Any
    read_at: float


class KnownFailure(RuntimeError):
    """A query's failure known without running it: remembered from earlier in its slot, or a wait for the
    computation in flight that ran out. `reason` is what the widget shows."""

    def __init__(self, kind: str, reason: str, failed_at: float):
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason, self.failed_at = kind, reason, failed_at

    @property
    def is_wait(self) -> bool:
        """Tell whether this is a waiter's wait that ran out: nothing has failed."""
        return self.kind == WAITING_KIND

    def record(self) -> dict[str, Any]:
        """Return the failure as the plain data the cache stores (never a pickled exception)."""
        return {FAILURE_FIELD: {"kind": self.kind, "reason": self.reason, "at": self.failed_at}}

    @classmethod
    def from_record(cls, stored: Any) -> "KnownFailure | None":
        """Return the failure a cache entry records, or None when the entry is a result."""
        if not isinstance(stored, dict) or not isinstance(stored.get(FAILURE_FIELD), dict):
            return None
        failure = stored[FAILURE_FIELD]
        at = failure.get("at")
        return cls(str(failure.get("kind")), str(failure.get("reason")),
                   float(at) if isinstance(at, (int, float)) else 0.0)


class HitCounter:
    """Cache hits and misses of one query, per minute, over the last hour."""

    def __init__(self, minutes: int = 60, clock: Callable[[], float] = time.time):
        self._minutes = minutes
        self._clock = clock
        self._buckets: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def count(self, hit: bool) -> None:
        minute = int(self._clock() // 60)
        with self._lock:
            bucket = self._buckets.setdefault(minute, [0, 0])
            bucket[0 if hit else 1] += 1
            for old in [m for m in self._buckets if m <= minute - self._minutes]:
                del self._buckets[old]

    def totals(self) -> tuple[int, int]:
        """Return (hits, misses) over the last hour."""
        oldest = int(self._clock() // 60) - self._minutes
        with self._lock:
            kept = [b for m, b in self._buckets.items() if m > oldest]
        return sum(b[0] for b in kept), sum(b[1] for b in kept)

    @property
    def hits(self) -> int:
        return self.totals()[0]

    @property
    def misses(self) -> int:
        return self.totals()[1]

    def hit_ratio(self) -> float | None:
        hits, misses = self.totals()
        return None if hits + misses == 0 else hits / (hits + misses)


def cache_key(query: str, params: dict[str, Any]) -> str:
    """Return the cache key of a query with these bound parameters."""
    canonical = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return KEY_PREFIX + query + ":" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def slot_key(query: str, params: dict[str, Any], interval: int, now: float) -> tuple[str, int]:
    """Return the key of (query, params) in the time slot holding `now`, and a lifetime in whole seconds
    that keeps its entry to the slot's end.

    Caches count lifetimes in whole seconds, and the in-process cache (cachelib's SimpleCache) counts them from
    the start of the current second: one second more than the time left keeps an entry to its slot's end in
    both, and it outlives its slot by under two seconds, never read (the next slot has another key).
    """
    key = f"{cache_key(query, params)}:{interval}:{slot_of(interval, now)}"
    return key, math.ceil(slot_end(interval, now) - now) + 1


def latest_key(query: str, params: dict[str, Any], interval: int) -> str:
    """Return the key under which the newest result of (query, params) is kept beside its slots."""
    return f"{cache_key(query, params)}:{interval}:latest"


def latest_kept_seconds(interval: int) -> int:
    """How long the newest result is kept for waiters: a few intervals, so a database that takes longer than
    an interval still gets its results read."""
    return max(LATEST_KEPT_INTERVALS * interval, LATEST_KEPT_LEAST_SECONDS)


def slot_of(interval: int, now: float) -> int:
    """Return the number of the time slot of `interval` seconds holding `now` (slots start at the epoch)."""
    return math.floor(now / interval)


def slot_end(interval: int, now: float) -> float:
    """Return when the time slot of `interval` seconds holding `now` ends."""
    return (slot_of(interval, now) + 1) * interval


def cache_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return Flask-Caching's settings for Switchboard's settings."""
    if config.get("CACHE_REDIS_URL"):
        # Flask-Caching prefixes every key; clearing then deletes only those keys, never the whole database.
        return {"CACHE_TYPE": "database.query_cache.StoredAsIsRedisCache", "CACHE_REDIS_URL": config["CACHE_REDIS_URL"],
                "CACHE_KEY_PREFIX": config["CACHE_KEY_PREFIX"], "CACHE_DEFAULT_TIMEOUT": 60,
                # A Redis that hangs must not hang the dashboard: fail fast and fall back.
                "CACHE_OPTIONS": {"socket_timeout": REDIS_SOCKET_SECONDS,
                                  "socket_connect_timeout": REDIS_SOCKET_SECONDS}}
    return {"CACHE_TYPE": "database.query_cache.StoredAsIsSimpleCache", "CACHE_THRESHOLD": 2000, "CACHE_DEFAULT_TIMEOUT": 60}


class SharedLocks:
    """Per-key locks in Redis, so one worker of all computes a key while the others wait for its result.

    A holder that dies leaves its lock to expire after `ttl` seconds; a waiter gives up after the wait it
    asks for, so nobody waits forever.
    """

    def __init__(self, client: redis.Redis, prefix: str, ttl: float):
        self.client, self.prefix, self.ttl = client, prefix, ttl

    @contextmanager
    def hold(self, key: str, wait: float) -> Iterator[bool | None]:
        """Hold the key's lock for the block; yield True when held, False when `wait` seconds ran out,
        None when Redis could not be asked."""
        lock = self.client.lock(self.prefix + "lock:" + key, timeout=self.ttl, blocking_timeout=max(0.0, wait),
                                sleep=LOCK_POLL_SECONDS, thread_local=False)
        try:
            acquired = lock.acquire()
        except RedisError:
            acquired = None
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    lock.release()
                except (LockError, RedisError):  # expired while we computed, or Redis went away: it expires
                    pass


class QueryCache:
    """Caches widget query results, and the failures in `remember`, for their slot, one computation per key.

    With Redis: one computation per key across every worker (a shared lock). While
    Redis is unreachable, results fall back to an in-process cache (still one
    computation per key per process); a warning is logged once, and the shared
    cache is tried again every RETRY_SHARED_SECONDS.
    """

    def __init__(self, cache: Cache, costs: CostLog, shared_locks: SharedLocks | None = None,
                 clock: Callable[[], float] = time.time, remember: tuple[type[BaseException], ...] = (),
                 describe: Callable[[BaseException], str] = lambda error: type(error).__name__,
                 wait_seconds: float = WAIT_SECONDS):
        self.clock = clock
        self.cache = cache
        self.costs = costs
        self.shared_locks = shared_locks
        self.remember, self.describe, self.wait_seconds = remember, describe, wait_seconds
        self.local = StoredAsIsSimpleCache(threshold=LOCAL_FALLBACK_ENTRIES)
        self.counters: dict[str, HitCounter] = {}
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self._shared_down_until = 0.0
        self._shared_down = False  # an outage of the shared cache is under way (logged at its start)
        self._foreign_seen = False
        self._demand: dict[str, int] = {}  # slot key -> asks in this process (the current slots only)
        self._prefetched: set[str] = set()  # next-slot keys whose computation ahead was started (once each)
        self.start_background: Callable[[Callable[[], None]], None] = _start_daemon_thread
        # Told of each computation's outcome: (query, None) on success, (query, reason) on a remembered failure.
        # The alerts' failure memory listens here; it must not raise.
        self.on_outcome: Callable[[str, str | None], None] | None = None

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._locks[key] = lock
            return lock

    def hit_counters(self) -> dict[str, HitCounter]:
        """Return each query's hit counter, as a copy: safe to iterate while requests add queries."""
        with self._locks_guard:
            return dict(self.counters)

    def _counter(self, query: str) -> HitCounter:
        with self._locks_guard:
            return self.counters.setdefault(query, HitCounter())

    @property
    def shared_available(self) -> bool:
        return time.monotonic() >= self._shared_down_until

    def _shared_failed(self, error: Exception) -> None:
        # Once an outage, not once a failed retry: how often retries fail depends on how busy the process is.
        if not self._shared_down:
            self._shared_down = True
            log.warning("shared cache unreachable (%s); caching in this process until it returns",
                        type(error).__name__)
        self._shared_down_until = time.monotonic() + RETRY_SHARED_SECONDS

    def _on_cache(self, operation: Callable[[Any], Any]) -> Any:
        """Run a cache operation on the shared cache, or on this process's while the shared one is down."""
        if self.shared_available:
            try:
                result = operation(self.cache)
            except RedisError as error:
                self._shared_failed(error)
            else:
                if self._shared_down:
                    self._shared_down = False
                    log.warning("shared cache reachable again; caching there")
                return result
        return operation(self.local)

    def _read(self, key: str) -> dict[str, Any] | None:
        """Return the decoded entry under `key`, or None: a foreign or tampered entry is a miss, logged once."""
        stored = self._on_cache(lambda cache: cache.get(key))
        entry = decode_entry(stored)
        if entry is None and stored is not None:
            self._ignore_foreign()
        return entry

    def _ignore_foreign(self) -> None:
        # Once per process: a tampered Redis must not flood the log either.
        if not self._foreign_seen:
            self._foreign_seen = True
            log.warning("ignored a cache entry Switchboard did not write (not its JSON, version %d); "
                        "it counts as a miss", FORMAT_VERSION)

    def _get(self, key: str) -> dict[str, Any] | None:
        """Return the result or failure record under `key`, or None."""
        entry = self._read(key)
        if entry is None or FAILURE_FIELD in entry:
            return entry
        if "value" not in entry or not isinstance(entry.get("computed_at"), (int, float)):
            self._ignore_foreign()  # this version's tag without a result's fields: tampered
            return None
        return entry

    def _has(self, key: str) -> bool:
        return bool(self._on_cache(lambda cache: cache.has(key)))

    def _set(self, key: str, entry: dict[str, Any], timeout: int) -> bytes:
        """Store an entry (a result's value and time, or a failure record); return its bytes."""
        return self._store(key, encode_entry(entry), timeout)

    def _store(self, key: str, stored: bytes, timeout: int) -> bytes:
        """Store an entry's bytes as they are; return them."""
        self._on_cache(lambda cache: cache.set(key, stored, timeout=timeout))
        return stored

    @contextmanager
    def _single_flight(self, key: str) -> Iterator[bool]:
        """Hold the key's locks (this process's, then the workers' shared one) for the block; yield False
        when the computation in flight did not end within `wait_seconds`."""
        started = time.monotonic()
        local = self._lock_for(key)
        if not local.acquire(timeout=self.wait_seconds):
            yield False
            return
        try:
            if self.shared_locks is None or not self.shared_available:
                yield True
                return
            with self.shared_locks.hold(key, self.wait_seconds - (time.monotonic() - started)) as held:
                if held is None:
                    self._shared_failed(RedisError("the lock could not be taken"))
                yield held is not False
        finally:
            local.release()

    def get_or_compute(self, query: str, params: dict[str, Any], interval: int,
                       compute: Callable[[], Any]) -> CachedResult:
        """Return the result for (query, params) in the current slot of `interval` seconds, computing it at
        most once per slot; raise KnownFailure when it failed earlier in the slot or the wait for the
        computation in flight ran out."""
        now = self.clock()
        key, lifetime = slot_key(query, params, interval, now)
        counter = self._counter(query)
        cached = self._get(key)
        if cached is None:
            with self._single_flight(cache_key(query, params)) as ours:
                if not ours:
                    return self._waited_out(query, params, interval)
                # Whoever held the lock before us may have just computed it.
                cached = self._get(key)
                if cached is None:
                    try:
                        return self._compute(query, params, interval, compute, lifetime, slot_at=now)
                    except KnownFailure as failure:
                        if not failure.is_wait:
                            raise
                        # A result built from another key whose computation is in flight (the feed's page from
                        # its newest rows) waits with that key's waiters: this key is served as they are.
                        return self._waited_out(query, params, interval)
        counter.count(hit=True)
        return _served(cached)

    def _compute(self, query: str, params: dict[str, Any], interval: int, compute: Callable[[], Any],
                 lifetime: int, slot_at: float, remember: bool = True) -> CachedResult:
        """Compute a key's result (counted as a miss, its cost measured) and cache it for the slot holding
        `slot_at`; a failure in `remember` is cached too. The caller holds the key's locks."""
        self._counter(query).count(hit=False)
        key, _ = slot_key(query, params, interval, slot_at)
        try:
            with measure_refresh(query, self.costs):
                value = compute()
        except self.remember as error:
            if isinstance(error, KnownFailure) and error.is_wait:
                # A key read inside this computation was in flight elsewhere: nothing failed, and the next ask
                # computes this key again instead of reading a failure for the rest of the slot.
                raise
            if remember:
                self._remember_failure(query, params, interval, error)
            if self.on_outcome is not None:
                self.on_outcome(query, self.describe(error))
            raise
        if self.on_outcome is not None:
            self.on_outcome(query, None)
        value, read_at = (value.value, value.read_at) if isinstance(value, AsOf) else (value, self.clock())
        stored = self._set(key, {"value": value, "computed_at": read_at}, lifetime)
        self._store(latest_key(query, params, interval), stored, latest_kept_seconds(interval))
        # Served as a hit will be: a value that does not survive JSON unchanged shows on the first ask.
        return _served(decode_entry(stored))

    def _remember_failure(self, query: str, params: dict[str, Any], interval: int, error: BaseException) -> None:
        """Cache a failure for the rest of the slot in which it happened (an attempt at a database that
        never answers may end slots after it began)."""
        known = error if isinstance(error, KnownFailure) else KnownFailure(
            type(getattr(error, "orig", None) or error).__name__, self.describe(error), self.clock())
        key, left = slot_key(query, params, interval, self.clock())
        # Kept one slot longer than it serves, so the next slot's waiters can tell why (see _waited_out); but a
        # key refreshed rarely (the feed's shared window counts: once in 50 minutes) is tried again within
        # FAILURE_REMEMBERED_MOST_SECONDS, not at the end of its slot, long after the database is back.
        self._set(key, known.record(), left + interval if interval <= FAILURE_REMEMBERED_MOST_SECONDS
                  else min(left, FAILURE_REMEMBERED_MOST_SECONDS))

    def _waited_out(self, query: str, params: dict[str, Any], interval: int) -> CachedResult:
        """Return what a waiter whose wait ran out is given: the key's latest result (marked behind when it is
        more than an interval old); else raise the key's failure in the slot before, when it failed then (the
        database is still down, most likely, and every watcher reads the same reason), else that the
        database has not answered yet."""
        now = self.clock()
        latest = self._get(latest_key(query, params, interval))
        if latest is not None and KnownFailure.from_record(latest) is None:
            behind = "" if now - latest["computed_at"] <= interval else WAITING_REASON
            return CachedResult(value=latest["value"], computed_at=latest["computed_at"], behind=behind,
                                waited=KnownFailure(WAITING_KIND, WAITING_REASON, now))
        before, _ = slot_key(query, params, interval, now - interval)
        raise KnownFailure.from_record(self._get(before)) or KnownFailure(WAITING_KIND, WAITING_REASON, now)

    def prefetch_next_slot(self, query: str, params: dict[str, Any], interval: int, compute: Callable[[], Any],
                           ahead: float) -> bool:
        """Count an ask for (query, params); when the current slot ends within `ahead` seconds and the key
        was asked for at least PREFETCH_MIN_REQUESTS times in it, compute the next slot's entry in the
        background (once per key across workers). Return whether a computation was started.

        The entry computed ahead serves the whole next slot, so its data may be up to `ahead` seconds older
        than the slot's start.
        """
        now = self.clock()
        key, _ = slot_key(query, params, interval, now)
        ends = slot_end(interval, now)
        with self._locks_guard:
            self._demand[key] = asks = self._demand.get(key, 0) + 1
            if len(self._demand) > PREFETCH_KEYS_COUNTED:  # forget the asks of past slots
                self._demand = {key: asks}
            if ends - now > ahead or asks < PREFETCH_MIN_REQUESTS:
                return False
            next_key, _ = slot_key(query, params, interval, ends)
            if next_key in self._prefetched:
                return False
            if len(self._prefetched) > PREFETCH_KEYS_COUNTED:  # keys of past slots
                self._prefetched.clear()
            self._prefetched.add(next_key)
        lifetime = max(1, math.ceil(ends + interval - now))
        self.start_background(lambda: self._fill_ahead(query, params, interval, key, ends, lifetime, compute))
        return True

    def _fill_ahead(self, query: str, params: dict[str, Any], interval: int, current_key: str, ends: float,
                    lifetime: int, compute: Callable[[], Any]) -> None:
        next_key, _ = slot_key(query, params, interval, ends)
        try:
            # While the key fails, computing ahead would only add attempts: the next slot's first ask tries.
            if self._has(next_key) or KnownFailure.from_record(self._get(current_key)) is not None:
                return
            with self._single_flight(cache_key(query, params)) as ours:
                # Else another worker computed it while we waited, or is still computing it.
                if ours and not self._has(next_key):
                    # A failure ahead is not remembered: the next slot's first ask tries again.
                    self._compute(query, params, interval, compute, lifetime, slot_at=ends, remember=False)
        except Exception as error:  # the next slot's first ask computes it, as without prefetching
            log.warning("computing %s ahead failed (%s); it will be computed when asked", query,
                        type(error).__name__)

    def notes(self) -> "SharedNotes":
        """Return a small key-value store beside the results: shared by the workers, in-process while the
        shared cache is down (db.ConnectionGate keeps its "connecting fails" note there)."""
        return SharedNotes(self)

    def forget_counts(self) -> None:
        """Forget the hits, misses and asks counted so far."""
        with self._locks_guard:
            self.counters.clear()
            self._demand.clear()
            self._prefetched.clear()

    def clear(self) -> None:
        """Drop every cached query result."""
        self.local.clear()
        self.cache.clear()


class SharedNotes:
    """Flask-Caching's get/set/add/delete on a QueryCache's shared cache, or its fallback while Redis is down."""

    def __init__(self, queries: QueryCache):
        self._on_cache, self._read = queries._on_cache, queries._read

    def get(self, key: str) -> Any:
        entry = self._read(key)
        return None if entry is None else entry.get("note")

    def set(self, key: str, value: Any, timeout: int) -> None:
        stored = encode_entry({"note": value})
        self._on_cache(lambda cache: cache.set(key, stored, timeout=timeout))

    def add(self, key: str, value: Any, timeout: int) -> bool:
        stored = encode_entry({"note": value})
        return bool(self._on_cache(lambda cache: cache.add(key, stored, timeout=timeout)))

    def delete(self, key: str) -> None:
        self._on_cache(lambda cache: cache.delete(key))


def _served(entry: dict[str, Any]) -> CachedResult:
    """Return a cached entry's result, or raise the failure the entry records."""
    failure = KnownFailure.from_record(entry)
    if failure is not None:
        raise failure
    return CachedResult(value=entry["value"], computed_at=entry["computed_at"])


def _start_daemon_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="cache-prefetch", daemon=True).start()


def shared_locks_for(config: dict[str, Any]) -> SharedLocks | None:
    """Return Redis locks for the query cache, or None without Redis."""
    if not config.get("CACHE_REDIS_URL"):
        return None
    client = redis.Redis.from_url(config["CACHE_REDIS_URL"], socket_timeout=REDIS_SOCKET_SECONDS,
                                  socket_connect_timeout=REDIS_SOCKET_SECONDS)
    # A computation outlives its database waits (a ping, a connection, the statement; each bounded, see
    # db.network_timeout_seconds) only by the Python work around them.
    statement_seconds = config["STATEMENT_TIMEOUT_MS"] / 1000.0
    return SharedLocks(client, config["CACHE_KEY_PREFIX"],
                       ttl=2 * network_timeout_seconds(config["STATEMENT_TIMEOUT_MS"]) + statement_seconds + 5.0)
