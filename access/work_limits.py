"""Per-user limits on the work that reaches the database: searches, exports and payload opens, so that one
user cannot take the database from everyone else.

One support user with 8 threads ran 13 exports and 50 distinct searches a second,
and another user's ongoing-calls median went from 6 ms to 1 s. Cached answers
cost the database nothing, so only work that reaches it is counted:

- a search (an activity view) when it is computed, not when the cache answers it;
- every export; and a user runs at most one export at a time.

Counts use the `limits` library (which Flask-Limiter is built on) in the same
storage as the login limits: Redis when CACHE_REDIS_URL is set, so every worker
and host shares one count per user (its increments are atomic, in Lua), else this
process's memory. While Redis is unreachable, counts and export locks fall back to
this process (a user may then do up to one limit per worker), a warning is logged
once per outage, and Redis is tried again every RETRY_SHARED_SECONDS.

A refusal is `WorkRefused`, never a database error: it belongs to one user, so it
must never be cached for a time slot or shown to anyone else.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import limits
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from limits.util import WindowStats
from redis.exceptions import LockError, RedisError

from access.roles import LOCAL_DEMO_VIEWER, WARM_UP_VIEWER, Viewer

log = logging.getLogger("switchboard.limits")

RETRY_SHARED_SECONDS = 5.0
# The no-user demo serves its own machine only (one viewer for every tab, as the load benchmark's 400 watchers
# are); gunicorn's warm-up requests come from the master itself.
# Compared by identity: a user who happens to be called "local demo" is still counted.
UNCOUNTED_VIEWERS = (LOCAL_DEMO_VIEWER, WARM_UP_VIEWER)
REDIS_SOCKET_SECONDS = 1.0
# An export is one statement (cancelled at STATEMENT_TIMEOUT_MS) plus building the file: a worker killed
# mid-export leaves its lock for at most this much longer than the statement limit.
EXPORT_LOCK_MARGIN_SECONDS = 5.0
SHARED_ERRORS = (RedisError, StorageError)
MAX_REMEMBERED_REFUSALS = 10_000
TARPIT_SECONDS = 1.0
MAX_LOCAL_WINDOWS = 10_000  # past this, the windows that have ended are dropped all at once


class Tarpit:
    """Holds a refused request for a moment before its 429, so that a client sending as fast as it is answered
    slows to about one request a second per connection instead of spinning on instant refusals (on
    two cores, 600 instant refusals a second cost the other viewers more than the flood's work does).
    At most `slots` requests of this process are held at once, so a flood never holds every thread: beyond them a
    refusal is answered at once. Flask-Limiter and `limits` refuse; neither delays, hence this class."""

    def __init__(self, slots: int, seconds: float = TARPIT_SECONDS):
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self.seconds = seconds

    def hold(self, wait: int) -> None:
        """Sleep up to `seconds` (never past the client's wait) if a slot is free; return at once otherwise."""
        if not self._slots.acquire(blocking=False):
            return
        try:
            time.sleep(min(self.seconds, wait))
        finally:
            self._slots.release()


class LocalWindows:
    """Fixed-window counts in this process, as FixedWindowRateLimiter counts them in `limits`' MemoryStorage (a
    hit is counted even over the limit; the window starts at its first hit), for `hit` and `get_window_stats`.

    Not MemoryStorage itself: it expires keys on a timer thread that it starts again whenever the last one
    has finished (10 ms after it started), so with callbacks more than 10 ms apart nearly every callback
    request would start a thread and wait for it to run (on a busy machine, milliseconds). Here a window that has
    ended is dropped when its key is next counted, and every ended one once the table holds MAX_LOCAL_WINDOWS keys."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (when its window ends, time.time; hits)
        self._lock = threading.Lock()

    def hit(self, item: limits.RateLimitItem, *identifiers: str) -> bool:
        key, now = item.key_for(*identifiers), time.time()
        with self._lock:
            ends, count = self._windows.get(key, (0.0, 0))
            if ends <= now:
                if len(self._windows) >= MAX_LOCAL_WINDOWS:
                    self._windows = {k: window for k, window in self._windows.items() if window[0] > now}
                ends, count = now + item.get_expiry(), 0
            self._windows[key] = (ends, count + 1)
        return count + 1 <= item.amount

    def get_window_stats(self, item: limits.RateLimitItem, *identifiers: str) -> WindowStats:
        key, now = item.key_for(*identifiers), time.time()
        with self._lock:
            ends, count = self._windows.get(key, (now, 0))
        return WindowStats(ends, max(0, item.amount - count)) if ends > now else WindowStats(now, item.amount)


class WorkRefused(Exception):
    """A user asked for more than their limit allows; the message says what to do."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def rate_limit(text: str) -> str:
    """Check a rate such as "30 per minute" (the `limits` notation); keep the text."""
    limits.parse(text)  # ValueError names the text it could not read
    return text


def optional_rate(text: str) -> str:
    """Check a rate, or "none" (no limit), which reads as the empty text."""
    return "" if text.strip().lower() in ("", "none") else rate_limit(text)


def describe(item: limits.RateLimitItem) -> str:
    """Return a rate as a person reads it: "30 a minute", "100 in 10 minutes"."""
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount} {'an' if unit == 'hour' else 'a'} {unit}"
    return f"{item.amount} in {item.multiples} {unit}s"


def viewer_key(viewer: Viewer) -> str:
    """Return whose count a viewer's work goes to: the signed-in user (the local demo's one viewer is one key)."""
    return "user:" + viewer.name


class WorkLimits:
    """Counts each user's searches and exports against their limits, shared through Redis when given."""

    def __init__(self, search_rate: str, export_rate: str, export_lock_seconds: float,
                 redis_url: str | None = None, key_prefix: str = "switchboard:", callback_rate: str | None = None,
                 payload_rate: str = "20 per minute", tarpit_slots: int = 1):
        self.tarpit = Tarpit(tarpit_slots)
        self.search_rate = limits.parse(search_rate)
        self.payload_rate = limits.parse(payload_rate)
        callback_rate = optional_rate(callback_rate or "")
        self.callback_rate = limits.parse(callback_rate) if callback_rate else None
        self.export_rate = limits.parse(export_rate)
        self.export_lock_seconds = export_lock_seconds
        self.key_prefix = key_prefix
        self._local = LocalWindows()
        self._local_exports: set[str] = set()
        self._local_guard = threading.Lock()
        self._storage: RedisStorage | None = None
        self._shared: FixedWindowRateLimiter | None = None
        if redis_url:
            # A Redis that hangs must not hang a search: fail fast and count here instead.
            self._storage = RedisStorage(redis_url, key_prefix=key_prefix + "work-limits",
                                         socket_timeout=REDIS_SOCKET_SECONDS,
                                         socket_connect_timeout=REDIS_SOCKET_SECONDS)
            self._shared = FixedWindowRateLimiter(self._storage)
        self._shared_down_until = 0.0
        self._outage_logged = False
        self._callbacks_refused_until: dict[str, float] = {}  # user → when their refused window ends (time.time)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "WorkLimits":
        return cls(config["SEARCH_RATE_LIMIT"], config["EXPORT_RATE_LIMIT"],
                   config["STATEMENT_TIMEOUT_MS"] / 1000.0 + EXPORT_LOCK_MARGIN_SECONDS,
                   config["CACHE_REDIS_URL"], config["CACHE_KEY_PREFIX"], config["CALLBACK_RATE_LIMIT"],
                   config["PAYLOAD_RATE_LIMIT"],
                   # All of a worker's threads but one: that one stays free for everyone else.
                   tarpit_slots=config["SWITCHBOARD_THREADS"] - 1)

    # --- the two kinds of work ------------------------------------------------------------------------------

    def count_search(self, viewer: Viewer) -> None:
        """Count a search that is about to reach the database; WorkRefused when the user is over the limit."""
        self._count(self.search_rate, "search", viewer, "Too many searches")

    def count_payload(self, viewer: Viewer) -> None:
        """Count a payload about to be read and prepared (its CPU: parsing, masking, laying out); WorkRefused
        when the user is over PAYLOAD_RATE_LIMIT."""
        self._count(self.payload_rate, "payload", viewer, "Too many payloads opened")

    def callback_retry_after(self, viewer: Viewer) -> int | None:
        """Count one callback request of a signed-in user; return the seconds to wait when they are over
        CALLBACK_RATE_LIMIT, else None. The local demo's viewer (loopback only, no users) is not counted."""
        if self.callback_rate is None or any(viewer is uncounted for uncounted in UNCOUNTED_VIEWERS):
            return None
        key = viewer_key(viewer)
        # A user already refused stays refused until their window ends: this process answers without asking
        # Redis again, so a flood's surplus costs no round trip at all.
        refused_until = self._callbacks_refused_until.get(key, 0.0)
        if refused_until > time.time():
            return max(1, math.ceil(refused_until - time.time()))
        try:
            self._count(self.callback_rate, "callback", viewer, "Too many requests")
        except WorkRefused as refusal:
            if len(self._callbacks_refused_until) >= MAX_REMEMBERED_REFUSALS:
                self._callbacks_refused_until.clear()  # only a shortcut: forgetting costs one Redis call each
            self._callbacks_refused_until[key] = time.time() + refusal.retry_after
            return refusal.retry_after
        return None

    @contextmanager
    def exporting(self, viewer: Viewer) -> Iterator[None]:
        """Hold the user's one export slot and count the export for the block; WorkRefused when another of
        theirs is running or they are over the limit."""
        key = viewer_key(viewer)
        release = self._on_shared(lambda: self._lock_shared(key), lambda: self._lock_local(key))
        if release is None:
            raise WorkRefused("An export is already running for you; wait for it to finish.")
        try:
            self._count(self.export_rate, "export", viewer, "Too many exports")
            yield
        finally:
            release()

    # --- counting ---------------------------------------------------------------------------------------------

    def _count(self, rate: limits.RateLimitItem, work: str, viewer: Viewer, refusal: str) -> None:
        key = viewer_key(viewer)

        def hit(limiter: FixedWindowRateLimiter | LocalWindows) -> float | None:
            """Count one; return None when allowed, else when the user's window ends."""
            if limiter.hit(rate, work, key):
                return None
            return limiter.get_window_stats(rate, work, key).reset_time

        shared = self._shared
        resets_at = self._on_shared(lambda: hit(shared), lambda: hit(self._local))
        if resets_at is not None:
            wait = max(1, math.ceil(resets_at - time.time()))
            raise WorkRefused(f"{refusal}: at most {describe(rate)}. Try again in {wait} s.", retry_after=wait)

    # --- one export at a time -----------------------------------------------------------------------------

    def _lock_shared(self, key: str) -> Callable[[], None] | None:
        """Take the user's export lock in Redis; return its release, or None when another export holds it."""
        lock = self._storage.storage.lock(f"{self.key_prefix}export-lock:{key}", timeout=self.export_lock_seconds,
                                          blocking=False, thread_local=False)
        if not lock.acquire():
            return None

        def release() -> None:
            try:
                lock.release()
            except (LockError, RedisError):  # expired while exporting, or Redis went away: its TTL ends it
                pass
        return release

    def _lock_local(self, key: str) -> Callable[[], None] | None:
        """Take the user's export slot in this process (no Redis, or Redis down)."""
        with self._local_guard:
            if key in self._local_exports:
                return None
            self._local_exports.add(key)

        def release() -> None:
            with self._local_guard:
                self._local_exports.discard(key)
        return release

    # --- Redis, or this process while it is down --------------------------------------------------------------

    def _on_shared(self, shared: Callable[[], Any], local: Callable[[], Any]) -> Any:
        """Run `shared` against Redis, or `local` without Redis or while it is unreachable."""
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                answer = shared()
            except SHARED_ERRORS as error:
                self._shared_failed(error)
            else:
                if self._outage_logged:
                    log.warning("work limits are shared through Redis again")
                    self._outage_logged = False
                return answer
        return local()

    def _shared_failed(self, error: Exception) -> None:
        if not self._outage_logged:
            log.warning("Redis unreachable for the work limits (%s); counting searches and exports in this "
                        "process until it returns", type(error).__name__)
            self._outage_logged = True
        self._shared_down_until = time.monotonic() + RETRY_SHARED_SECONDS

    def close(self) -> None:
        """Close the connections to Redis."""
        if self._storage is not None:
            self._storage.storage.close()
