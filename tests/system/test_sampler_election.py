"""Sampler election: of three workers sharing a store exactly one samples, and another takes over when it dies."""
from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import pytest

from monitoring.memory import take_sample
from monitoring.sampler import MemorySampler
from tests.support.memory_processes import LineReader, make_store_target, spawn, stop

PERIOD = 0.5
# Takeover is due within two periods (1 s); the bound leaves room for a loaded machine.
TAKEOVER_BOUND = 3.0


@dataclass(frozen=True)
class Step:
    """One step a sampler process reported: who, whether it held the lease, when."""

    holder: str
    pid: int
    leader: bool
    at: float


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def target(request, tmp_path):
    store_target = make_store_target(request.param, tmp_path)
    yield store_target
    store_target.cleanup()


def wait_until(condition: Callable[[], object], timeout: float, poll: Callable[[], None] = lambda: None):
    """Poll until condition() is true or timeout seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        poll()
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class Workers:
    """Three sampler processes on one host and store, and the steps they report."""

    def __init__(self, target, host: str):
        self.processes = {f"worker-{n}": spawn("sampler", *target.args(), f"worker-{n}", str(PERIOD), host)
                          for n in range(3)}
        self.readers = [LineReader(process) for process in self.processes.values()]
        self.steps: list[Step] = []

    def collect(self) -> None:
        for reader in self.readers:
            for line in reader.drain():
                _, holder, pid, leader, at = line.split()
                self.steps.append(Step(holder, int(pid), leader == "1", float(at)))

    def leaders(self, after: float = 0) -> set[str]:
        return {step.holder for step in self.steps if step.leader and step.at > after}

    def stepped(self, times: int) -> bool:
        return all(sum(step.holder == holder for step in self.steps) >= times for holder in self.processes)

    def stop(self) -> None:
        for process in self.processes.values():
            stop(process)


def test_one_of_three_workers_samples_and_another_takes_over_when_it_dies(target):
    store = target.open()
    workers = Workers(target, host=f"host-{uuid.uuid4().hex[:8]}")
    try:
        assert wait_until(lambda: workers.stepped(4), timeout=30, poll=workers.collect)
        leaders = workers.leaders()
        assert len(leaders) == 1, workers.steps
        (leader,) = leaders
        pids = {process.pid for process in workers.processes.values()}
        assert wait_until(lambda: (sample := store.latest()) and pids <= {w.pid for w in sample.workers}, timeout=10)

        os.kill(workers.processes[leader].pid, signal.SIGKILL)
        killed_at = time.time()
        assert wait_until(lambda: workers.leaders(after=killed_at), timeout=TAKEOVER_BOUND + 2, poll=workers.collect)
        takeover = min((step for step in workers.steps if step.leader and step.at > killed_at), key=lambda s: s.at)
        assert takeover.holder != leader and takeover.at - killed_at <= TAKEOVER_BOUND

        dead = workers.processes[leader].pid
        assert wait_until(lambda: (sample := store.latest()) and sample.at > takeover.at
                          and dead not in {w.pid for w in sample.workers}, timeout=10)
        wait_until(lambda: False, timeout=4 * PERIOD, poll=workers.collect)
        assert workers.leaders(after=takeover.at) == {takeover.holder}
    finally:
        workers.stop()
        store.close()


def test_a_sampler_that_is_not_leading_only_heartbeats(target):
    store = target.open()
    try:
        assert store.try_lead("web-1", "someone-else", ttl=30)
        sampler = MemorySampler(store, PERIOD, {}, host="web-1", holder="me")
        assert sampler.step() is None and not sampler.is_leader
        assert store.workers("web-1", max_age=10) == [os.getpid()] and store.latest() is None
    finally:
        store.close()


def test_the_leader_samples_every_worker_with_a_fresh_heartbeat(target):
    store = target.open()
    try:
        sampler = MemorySampler(store, PERIOD, {}, host="web-1", holder="me", clock=lambda: 1_700_000_000.0)
        store.register_worker("web-1", 1, time.time() - 60)  # long gone
        sample = sampler.step()
        assert sampler.is_leader and sample.at == 1_700_000_000.0
        assert [worker.pid for worker in sample.workers] == [os.getpid()]
        assert store.latest() == sample and store.read("workers.total_rss", since=0)[0][0] == sample.at
    finally:
        store.close()


class FailingStore:
    """A real store whose first appends raise, as a Redis restart would (or worse, to end the thread)."""

    def __init__(self, store, failures: int, error: BaseException):
        self.store, self.failures, self.error = store, failures, error

    def __getattr__(self, name):
        return getattr(self.store, name)

    def append(self, sample) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        self.store.append(sample)


def test_a_failing_step_is_logged_and_sampling_goes_on(target, caplog):
    store = target.open()
    sampler = MemorySampler(FailingStore(store, 2, ConnectionError("store unreachable")), 0.1, {},
                            host="web-1", holder="me")
    try:
        sampler.start()
        assert wait_until(lambda: store.latest() is not None, timeout=10)
        assert "memory sampler step failed: ConnectionError: store unreachable" in caplog.text
        sampler.stop()
        assert not sampler.is_leader
        sampler.ensure_running()  # stopped on purpose: stays stopped
        assert sampler._thread is None
    finally:
        sampler.stop()
        store.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_ensure_running_restarts_a_thread_that_died(target):
    store = target.open()
    sampler = MemorySampler(FailingStore(store, 1, SystemExit()), 0.1, {}, host="web-1", holder="me")
    try:
        sampler.start()
        dead = sampler._thread
        assert wait_until(lambda: not dead.is_alive(), timeout=10) and store.latest() is None
        sampler.ensure_running()
        assert wait_until(lambda: store.latest() is not None, timeout=10)
        assert sampler._thread is not dead and sampler._thread.is_alive()
    finally:
        sampler.stop()
        store.close()


def test_take_sample_sees_the_workers_the_store_lists(target):
    store = target.open()
    try:
        store.register_worker("web-1", os.getpid(), time.time())
        sample = take_sample(store.workers("web-1", max_age=5), {})
        assert [worker.pid for worker in sample.workers] == [os.getpid()]
    finally:
        store.close()
