"""Child processes for the memory monitoring tests, and the stores they share with the test.

Run as `python -m tests.support.memory_processes <command> …` from the repository root:

- `hog MARKER`: allocate and touch 200 MB, print "allocated", wait for a line on stdin,
  free it, print "freed", wait for another line, exit. MARKER makes its command line unique.
- `writer KIND TARGET PREFIX RETENTION BASE FIRST LAST`: append synthetic samples n = FIRST…LAST-1
  at epoch BASE + n to the store, then exit.
- `sampler KIND TARGET PREFIX HOLDER PERIOD HOST`: run a MemorySampler on the store and print
  "step HOLDER PID LEADER EPOCH" after every step, until stdin closes.
"""
from __future__ import annotations

import gc
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPOSITORY = Path(__file__).resolve().parents[2]
HOG_BYTES = 200 * 1024 * 1024
PAGE = 4096


def synthetic_sample(at: float, n: int, worker_pid: int = 101):
    """Return a small, reproducible sample whose "host.used" is n."""
    from monitoring.memory import GroupMemory, HostMemory, MemorySample, ProcessMemory

    worker = ProcessMemory(pid=worker_pid, name="gunicorn", rss=1000 + n, uss=900 + n, pss=950 + n)
    return MemorySample(at=at, workers=(worker,),
                        groups=(GroupMemory(name="php-fpm", count=3, total_rss=3000 + n, largest_rss=1200,
                                            largest_pid=7),),
                        host=HostMemory(total=10_000_000, used=n, available=10_000_000 - n, swap_used=0),
                        top=(ProcessMemory(pid=7, name="php-fpm", rss=1200, uss=None, pss=None), worker))


@dataclass
class StoreTarget:
    """Where a test's store lives: a SQLite file or a Redis URL with a prefix of its own."""

    kind: str
    target: str
    prefix: str = field(default_factory=lambda: f"switchboard-test-{uuid.uuid4().hex[:12]}:")

    def open(self, retention_seconds: float = 86400):
        """Open the store in this process."""
        from monitoring.store import RedisMemoryStore, SqliteMemoryStore

        if self.kind == "sqlite":
            return SqliteMemoryStore(self.target, retention_seconds)
        return RedisMemoryStore(self.target, self.prefix, retention_seconds)

    def args(self) -> list[str]:
        return [self.kind, self.target, self.prefix]

    def redis_keys(self) -> list[str]:
        """Return every Redis key under this target's prefix."""
        import redis

        client = redis.Redis.from_url(self.target, decode_responses=True)
        try:
            return list(client.scan_iter(match=self.prefix + "*"))
        finally:
            client.close()

    def cleanup(self) -> None:
        """Delete the target's Redis keys (a SQLite file goes with tmp_path)."""
        import redis

        if self.kind != "redis":
            return
        client = redis.Redis.from_url(self.target)
        try:
            for key in client.scan_iter(match=self.prefix + "*"):
                client.delete(key)
        finally:
            client.close()


def make_store_target(kind: str, folder: Path) -> StoreTarget:
    """Return a SQLite file in folder, or the test Redis (skipping, or failing in CI, when it is absent)."""
    import redis

    from tests.support.databases import unavailable

    if kind == "sqlite":
        return StoreTarget("sqlite", str(folder / "memory.sqlite3"))
    url = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "")
    if not url:
        unavailable("Redis tests need SWITCHBOARD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {url} is unreachable: {error}")
    finally:
        client.close()
    return StoreTarget("redis", url)


def spawn(*args: str) -> subprocess.Popen:
    """Start `python -m tests.support.memory_processes ARGS` with pipes for stdin and stdout."""
    return subprocess.Popen([sys.executable, "-m", "tests.support.memory_processes", *args], cwd=REPOSITORY,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


def run_writer(target: StoreTarget, retention: float, base: float, first: int, last: int) -> None:
    """Append samples first…last-1 from a separate process and wait for it to finish."""
    subprocess.run([sys.executable, "-m", "tests.support.memory_processes", "writer", *target.args(),
                    str(retention), repr(base), str(first), str(last)], cwd=REPOSITORY, check=True, timeout=60)


class LineReader:
    """Collects a child's stdout lines on a thread so the test can wait for them with a bound."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def expect(self, text: str, timeout: float = 30) -> None:
        """Wait up to timeout seconds for a line equal to text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.1) == text:
                    return
            except queue.Empty:
                if not self._pump_thread.is_alive() and self.lines.empty():  # stdout closed: the child is gone
                    code = self.process.poll()
                    raise AssertionError(f"the child closed its output (exit code {code}) before {text!r}")
        raise AssertionError(f"no {text!r} from the child within {timeout} s")

    def drain(self) -> list[str]:
        """Return the lines received so far."""
        received = []
        while not self.lines.empty():
            received.append(self.lines.get_nowait())
        return received


def stop(process: subprocess.Popen) -> None:
    """End a child this test started, and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _hog(marker: str) -> None:
    """Allocate and free HOG_BYTES on cue; marker only makes the command line unique."""
    block = bytearray(HOG_BYTES)
    for offset in range(0, HOG_BYTES, PAGE):
        block[offset] = 1
    print("allocated", flush=True)
    sys.stdin.readline()
    del block
    gc.collect()
    print("freed", flush=True)
    sys.stdin.readline()


def _open(kind: str, target: str, prefix: str, retention: float):
    return StoreTarget(kind, target, prefix).open(retention)


def _writer(kind: str, target: str, prefix: str, retention: str, base: str, first: str, last: str) -> None:
    store = _open(kind, target, prefix, float(retention))
    for n in range(int(first), int(last)):
        store.append(synthetic_sample(float(base) + n, n))
    store.close()


def _sampler(kind: str, target: str, prefix: str, holder: str, period: str, host: str) -> None:
    from monitoring.sampler import MemorySampler

    class ReportingSampler(MemorySampler):
        def step(self):
            sample = super().step()
            print(f"step {self.holder} {os.getpid()} {int(self.is_leader)} {time.time():.3f}", flush=True)
            return sample

    store = _open(kind, target, prefix, 3600)
    sampler = ReportingSampler(store, float(period), {}, host=host, holder=holder)
    sampler.start()
    sys.stdin.readline()
    sampler.stop()
    store.close()


if __name__ == "__main__":
    sys.path.insert(0, str(REPOSITORY))
    commands = {"hog": _hog, "writer": _writer, "sampler": _sampler}
    commands[sys.argv[1]](*sys.argv[2:])


class PeakRss:
    """Sample the RSS of the given processes every 10 ms in a thread; keep each one's peak."""

    def __init__(self, processes: list[psutil.Process]):
        self.processes = processes
        self.peaks = {process.pid: process.memory_info().rss for process in processes}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            for process in self.processes:
                self.peaks[process.pid] = max(self.peaks[process.pid], process.memory_info().rss)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        time.sleep(0.3)  # what a worker does just after answering counts too
        self._stop.set()
        self._thread.join()
