"""The memory sampler: every worker runs one, exactly one per host samples.

Each worker's sampler records a heartbeat every period and tries to take (or
renew) its host's lease in the shared store. The holder samples every worker
with a fresh heartbeat, the process groups and the host, and appends the sample.
The lease lives 1.5 periods after its holder's last renewal and the others
retry every period, so when the leader dies another takes over within two.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import replace
from typing import Callable, Mapping

from monitoring.memory import MemorySample, take_sample
from monitoring.store import MemoryStore

logger = logging.getLogger(__name__)

LEASE_PERIODS = 1.5
HEARTBEAT_PERIODS = 3


class MemorySampler:
    """Heartbeats this worker and, while it holds the host's lease, samples memory into the store.

    `clock` timestamps the samples; heartbeats and the lease always run on wall time.
    """

    def __init__(self, store: MemoryStore, period: float, groups: Mapping[str, re.Pattern],
                 host: str | None = None, holder: str | None = None, clock: Callable[[], float] = time.time):
        if period <= 0:
            raise ValueError(f"period must be positive, got {period}")
        self.store = store
        self.period = period
        self.groups = dict(groups)
        self.host = host or socket.gethostname()
        self.clock = clock
        self._holder = holder
        self._token = uuid.uuid4().hex[:8]
        self._leader = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    @property
    def holder(self) -> str:
        """Return this sampler's lease holder name (unique per process, also after a fork)."""
        return self._holder or f"{self.host}:{os.getpid()}:{self._token}"

    @property
    def is_leader(self) -> bool:
        """Return whether the last step held the lease."""
        return self._leader

    def step(self) -> MemorySample | None:
        """Heartbeat, try to lead, and when leading take and store one sample."""
        now = self.clock()
        # Heartbeats are wall time: the store ages them (and leases) against its own time.time().
        self.store.register_worker(self.host, os.getpid(), time.time())
        self._leader = self.store.try_lead(self.host, self.holder, ttl=LEASE_PERIODS * self.period)
        if not self._leader:
            return None
        pids = self.store.workers(self.host, max_age=HEARTBEAT_PERIODS * self.period)
        sample = replace(take_sample(pids, self.groups), at=now)
        self.store.append(sample)
        return sample

    def start(self) -> None:
        """Run step() every period on a daemon thread."""
        self._stopped.clear()
        self.ensure_running()

    def ensure_running(self) -> None:
        """Start the sampling thread again if it is not alive (unless stop() was called)."""
        with self._thread_lock:
            if self._stopped.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Tell whether the sampling thread is alive in this process."""
        with self._thread_lock:
            return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5) -> None:
        """Stop the sampling thread and wait up to timeout seconds for it to end."""
        self._stopped.set()
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._leader = False

    def _run(self) -> None:
        """Call step() every period until stopped; a failing step is logged and the loop goes on."""
        next_at = time.monotonic()
        while not self._stopped.is_set():
            self._safe_step()
            next_at = max(next_at + self.period, time.monotonic())
            self._stopped.wait(next_at - time.monotonic())

    def _safe_step(self) -> None:
        """Run one step, logging instead of raising when it fails."""
        try:
            self.step()
        except Exception as error:  # noqa: BLE001 - one bad step must not end sampling
            self._leader = False
            logger.warning("memory sampler step failed: %s: %s", type(error).__name__, error)
            logger.debug("memory sampler step failed", exc_info=True)
