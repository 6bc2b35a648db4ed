"""Query results cached for exactly one poll interval, computed once per key.

The cache is Flask-Caching: in-process (SimpleCache) by default, Redis when
CACHE_REDIS_URL is set, so every worker shares one result per key. A key is the
widget's query name plus its bound parameters (filters and tenant scope),
never the viewer, so a hundred people watching the same widget cost one query
per interval.

Within a process, a per-key lock makes concurrent misses wait for the one
computation in flight instead of each running the query (single flight).
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from flask_caching import Cache

from monitoring.instrumentation import CostLog, RefreshCost, measure_refresh

KEY_PREFIX = "query:"


@dataclass(frozen=True)
class CachedResult:
    """A query result and when, and at what cost, it was computed."""

    value: Any
    computed_at: float
    statements: int = 0
    rows: int = 0
    bytes_received: int = 0
    db_ms: float = 0.0
    memory_added: int = 0


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


def cache_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return Flask-Caching's settings for Switchboard's settings."""
    if config.get("CACHE_REDIS_URL"):
        # Flask-Caching prefixes every key; clearing then deletes only those keys, never the whole database.
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": config["CACHE_REDIS_URL"],
                "CACHE_KEY_PREFIX": config["CACHE_KEY_PREFIX"], "CACHE_DEFAULT_TIMEOUT": 60}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000, "CACHE_DEFAULT_TIMEOUT": 60}


class QueryCache:
    """Caches widget query results for their poll interval, one computation per key."""

    def __init__(self, cache: Cache, costs: CostLog):
        self.cache = cache
        self.costs = costs
        self.counters: dict[str, HitCounter] = {}
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._locks[key] = lock
            return lock

    def _counter(self, query: str) -> HitCounter:
        with self._locks_guard:
            return self.counters.setdefault(query, HitCounter())

    def get_or_compute(self, query: str, params: dict[str, Any], timeout: int,
                       compute: Callable[[], Any]) -> CachedResult:
        """Return the cached result for (query, params), computing it at most once per interval."""
        key = cache_key(query, params)
        cached = self.cache.get(key)
        if cached is not None:
            self._counter(query).count(hit=True)
            return cached
        lock = self._lock_for(key)
        with lock:
            cached = self.cache.get(key)
            if cached is not None:
                self._counter(query).count(hit=True)
                return cached
            self._counter(query).count(hit=False)
            with measure_refresh(query, self.costs) as cost:
                value = compute()
            result = _result(value, cost)
            self.cache.set(key, result, timeout=timeout)
            return result

    def clear(self) -> None:
        """Drop every cached query result."""
        self.cache.clear()


def _result(value: Any, cost: RefreshCost) -> CachedResult:
    return CachedResult(value=value, computed_at=time.time(), statements=cost.statement_count,
                        rows=cost.rows, bytes_received=cost.bytes_received, db_ms=cost.db_ms,
                        memory_added=cost.memory_added)
