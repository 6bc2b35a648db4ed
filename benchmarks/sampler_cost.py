"""The memory sampler's own cost: CPU per sample, share of one core, store bytes per day of retention.

Usage (from the repository root):

    python benchmarks/sampler_cost.py [--samples 200] [--workers 4] [--period 5]
                                      [--redis redis://127.0.0.1:6379/0] [--full-day]

It starts `--workers - 1` idle Python processes that heartbeat as Switchboard workers beside
this one, then runs `MemorySampler.step()` `--samples` times as the elected leader with the
default process groups: one psutil pass over every process on the host (name, command line, RSS),
USS/PSS of the workers, host memory, and one append to the store. The samples are stamped one
period apart, as the running sampler would stamp them.

Printed:
- CPU seconds of this process per sample (`time.process_time`), and the psutil pass and the store
  append measured apart; the psutil pass grows with the processes on the host, so also its cost per
  process and how many processes the budget covers;
  with Redis also the Redis server's CPU per sample (`INFO cpu`, shared with any other client);
- the share of one core at the period, with PASS/FAIL for the budget of 1 %;
- bytes the store holds per sample (SQLite: pages in use after a checkpoint; Redis: the sum of
  `MEMORY USAGE` of Switchboard's keys), extrapolated to one day of retention (17,280 samples at
  5 s). `--full-day` then stores a whole day of samples and prints the measured size as well.
  Redis keeps a sorted set of up to 128 entries in a compact encoding: measure at least 200
  samples (the default) so the extrapolation uses the encoding a day of samples has.

The SQLite file lives in a temporary folder; Redis keys get a prefix of their own and are
deleted at the end.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

CPU_BUDGET_PERCENT = 1.0
DAY_SECONDS = 86_400


class SteppingClock:
    """A clock that moves one period per tick, so samples are stamped as a running sampler stamps them."""

    def __init__(self, start: float, period: float):
        self.now, self.period = start, period

    def tick(self) -> None:
        self.now += self.period

    def __call__(self) -> float:
        return self.now


def spawn_workers(count: int) -> list[subprocess.Popen]:
    """Start idle Python processes that stand in for the other gunicorn workers."""
    return [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
            for _ in range(count)]


def store_bytes(store) -> int:
    """Return the bytes the store holds now."""
    from monitoring.store import SqliteMemoryStore

    if isinstance(store, SqliteMemoryStore):
        return sqlite_bytes(store)
    return redis_bytes(store)


def sqlite_bytes(store) -> int:
    """Return the bytes of the SQLite pages in use, after moving the WAL into the file."""
    db = store._db()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages, free, size = (db.execute(f"PRAGMA {name}").fetchone()[0]
                         for name in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * size


def redis_bytes(store) -> int:
    """Return the sum of MEMORY USAGE over the store's keys."""
    client = store._redis
    return sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(match=store.keys + "*"))


def redis_cpu(store) -> float:
    """Return the Redis server's CPU seconds so far."""
    info = store._redis.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def open_store(args, folder: Path):
    """Return (store, label): Redis under a fresh prefix with --redis, else a SQLite file in folder."""
    from monitoring.store import RedisMemoryStore, SqliteMemoryStore

    if args.redis:
        return RedisMemoryStore(args.redis, f"switchboard-bench-{uuid.uuid4().hex[:8]}:"), f"Redis {args.redis}"
    path = folder / "switchboard-memory.sqlite3"
    return SqliteMemoryStore(path), f"SQLite {path}"


def measure_steps(sampler, clock: SteppingClock, samples: int) -> tuple[float, float]:
    """Return (CPU seconds, wall seconds) of `samples` sampler steps."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(samples):
        clock.tick()
        if sampler.step() is None:
            raise SystemExit("the benchmark's sampler did not win the election")
    return time.process_time() - cpu, time.perf_counter() - wall


def measure_psutil(sampler, samples: int) -> float:
    """Return the CPU seconds of `samples` psutil passes alone (no store)."""
    from monitoring.memory import take_sample

    pids = sampler.store.workers(sampler.host, max_age=3 * sampler.period)
    cpu = time.process_time()
    for _ in range(samples):
        take_sample(pids, sampler.groups)
    return time.process_time() - cpu


def measure_store(store, clock: SteppingClock, samples: int) -> float:
    """Return the CPU seconds of `samples` appends alone (copies of the latest sample)."""
    template = store.latest()
    cpu = time.process_time()
    for _ in range(samples):
        clock.tick()
        store.append(replace(template, at=clock.now))
    return time.process_time() - cpu


def fill_day(store, clock: SteppingClock, samples_per_day: int, done: int) -> None:
    """Append copies of the latest sample, one period apart, until a whole day is stored."""
    template = store.latest()
    for _ in range(samples_per_day - done):
        clock.tick()
        store.append(replace(template, at=clock.now))


def report(args, label: str, sample, figures: dict) -> None:
    """Print the figures and the verdict."""
    samples_per_day = round(DAY_SECONDS / args.period)
    per_sample = {name: figures[name] / args.samples
                  for name in ("cpu", "psutil", "store", "wall", "bytes", "redis_cpu") if name in figures}
    percent = per_sample["cpu"] / args.period * 100
    series = len(sample.series())
    print(f"memory sampler cost, store: {label}")
    print(f"host: {figures['processes']} processes; {len(sample.workers)} workers sampled, {len(sample.groups)} "
          f"process groups, top {len(sample.top)}; {series} series a sample")
    ms = {name: f"{value * 1000:.2f} ms" for name, value in per_sample.items() if name != "bytes"}
    rows = [("samples measured", f"{args.samples}"),
            ("CPU per sample", f"{ms['cpu']}  (measured apart: psutil pass {ms['psutil']}, "
                               f"store append {ms['store']})"),
            ("wall time per sample", ms["wall"])]
    per_process = per_sample["psutil"] / figures["processes"]
    fits = (args.period * CPU_BUDGET_PERCENT / 100 - per_sample["store"]) / per_process
    rows.append(("psutil CPU per host process", f"≤ {per_process * 1e6:.0f} µs, fixed costs included  (the 1 % "
                                                f"budget covers ≥ {fits:,.0f} processes at {args.period:g} s)"))
    if "redis_cpu" in ms:
        rows.append(("Redis server CPU per sample", f"{ms['redis_cpu']}  (not in the share below)"))
    per_sample_bytes, per_day = per_sample["bytes"], per_sample["bytes"] * samples_per_day
    rows += [(f"share of one core at {args.period:g} s", f"{percent:.3f} %"),
             ("store bytes per sample", f"{per_sample_bytes:,.0f} B  ({per_sample_bytes / series:.1f} B a point)"),
             ("store per day of retention", f"{per_day / 1e6:,.1f} MB  (extrapolated to {samples_per_day:,} samples)")]
    if "day_bytes" in figures:
        rows.append(("store per day, measured",
                     f"{figures['day_bytes'] / 1e6:,.1f} MB  ({samples_per_day:,} samples stored)"))
    for name, value in rows:
        print(f"{name:<34} {value}")
    verdict = "PASS" if percent < CPU_BUDGET_PERCENT else "FAIL"
    print(f"{verdict}: the sampler uses {percent:.3f} % of one core at the {args.period:g} s period "
          f"(budget < {CPU_BUDGET_PERCENT:g} %)")


def run(args, folder: Path) -> None:
    """Measure the sampler on a store in folder (or Redis) and print the report."""
    import psutil

    from config import load_config
    from monitoring.memory import parse_group_patterns
    from monitoring.sampler import MemorySampler

    store, label = open_store(args, folder)
    clock = SteppingClock(time.time(), args.period)
    groups = parse_group_patterns(load_config(environ={})["MEMORY_PROCESS_GROUPS"])
    sampler = MemorySampler(store, args.period, groups, host=f"bench-{uuid.uuid4().hex[:6]}", holder="bench",
                            clock=clock)
    workers = spawn_workers(args.workers - 1)
    try:
        for worker in workers:
            store.register_worker(sampler.host, worker.pid, time.time())
        measure_steps(sampler, clock, 1)  # the first sample creates the series and the snapshot
        before, redis_before = store_bytes(store), (redis_cpu(store) if args.redis else 0.0)
        cpu, wall = measure_steps(sampler, clock, args.samples)
        figures = {"cpu": cpu, "wall": wall, "bytes": store_bytes(store) - before, "processes": len(psutil.pids())}
        if args.redis:
            figures["redis_cpu"] = redis_cpu(store) - redis_before
        figures["psutil"] = measure_psutil(sampler, args.samples)
        figures["store"] = measure_store(store, clock, args.samples)
        if args.full_day:
            fill_day(store, clock, round(DAY_SECONDS / args.period), 2 * args.samples + 1)
            figures["day_bytes"] = store_bytes(store)
        report(args, label, store.latest(), figures)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
        if args.redis:
            for key in store._redis.scan_iter(match=store.keys + "*"):
                store._redis.delete(key)
        store.close()


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="samples to measure (default 200)")
    parser.add_argument("--workers", type=int, default=4, help="Switchboard workers to sample (default 4)")
    parser.add_argument("--period", type=float, default=5.0, help="sampling period in seconds (default 5)")
    parser.add_argument("--redis", metavar="URL", help="measure a Redis store instead of SQLite")
    parser.add_argument("--full-day", action="store_true", help="also store a whole day of samples and measure it")
    args = parser.parse_args()
    if args.samples < 1 or args.workers < 1 or args.period <= 0:
        parser.error("--samples and --workers must be at least 1, --period positive")
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as folder:
        run(args, Path(folder))


if __name__ == "__main__":
    main()
