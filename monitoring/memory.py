"""Process and host memory, sampled with psutil (never by parsing `ps`).

One sample records Switchboard's own worker processes (RSS, and USS/PSS where
the OS gives them), configured process groups matched by name pattern (the sum
and the largest member, like the old `ps aux | grep php-fpm | awk` sum but per
group), the host's memory and the largest processes on the host.

USS and PSS are read for the workers only: the kernel computes them by walking
a process's page tables (/proc/<pid>/smaps_rollup), which for a database server
with gigabytes resident costs milliseconds every sample. Groups and the largest
processes are measured by RSS, as `ps` shows it.

Processes come and go while a sample is taken; one that vanishes, turns into a
zombie or refuses access is skipped or recorded with what could be read.
"""
from __future__ import annotations

import dataclasses
import heapq
import re
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Mapping

import psutil

# A group name becomes part of a series name ("group.<name>.total_rss"), so no dots.
GROUP_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Entries are split on a comma that starts the next "name=", so a pattern may hold "{1,3}".
ENTRY_SEPARATOR = re.compile(r",(?=\s*[A-Za-z0-9_-]+\s*=)")
GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory in bytes; uss/pss are None where the OS does not give them, and `why` says why."""

    pid: int
    name: str
    rss: int
    uss: int | None = None
    pss: int | None = None
    why: str | None = None


@dataclass(frozen=True)
class GroupMemory:
    """The processes of one configured group: how many, their summed RSS and the largest."""

    name: str
    count: int
    total_rss: int
    largest_rss: int
    largest_pid: int | None


@dataclass(frozen=True)
class HostMemory:
    """The host's memory in bytes."""

    total: int
    used: int
    available: int
    swap_used: int


@dataclass(frozen=True)
class MemorySample:
    """Everything one sampling pass recorded, at epoch seconds `at`."""

    at: float
    workers: tuple[ProcessMemory, ...]
    groups: tuple[GroupMemory, ...]
    host: HostMemory
    top: tuple[ProcessMemory, ...]

    def series(self) -> dict[str, float]:
        """Return the sample flattened into named values in bytes."""
        values = {"workers.total_rss": float(sum(worker.rss for worker in self.workers))}
        for worker in self.workers:
            values.update(_worker_series(worker))
        for group in self.groups:
            values[f"group.{group.name}.total_rss"] = float(group.total_rss)
            values[f"group.{group.name}.largest_rss"] = float(group.largest_rss)
        values.update({"host.used": float(self.host.used), "host.available": float(self.host.available),
                       "host.total": float(self.host.total), "host.swap_used": float(self.host.swap_used)})
        return values


def _worker_series(worker: ProcessMemory) -> dict[str, float]:
    """Return one worker's RSS, and USS and PSS when known, by series name."""
    values = {f"worker.{worker.pid}.rss": float(worker.rss)}
    if worker.uss is not None:
        values[f"worker.{worker.pid}.uss"] = float(worker.uss)
    if worker.pss is not None:
        values[f"worker.{worker.pid}.pss"] = float(worker.pss)
    return values


def parse_group_patterns(text: str) -> dict[str, re.Pattern]:
    """Parse "name=regex,name=regex" into compiled patterns by group name."""
    groups: dict[str, re.Pattern] = {}
    for entry in ENTRY_SEPARATOR.split(text.strip()) if text.strip() else []:
        name, pattern = _split_entry(entry)
        if name in groups:
            raise ValueError(f"process group {name!r} is defined twice")
        groups[name] = _compile(name, pattern)
    return groups


@dataclass(frozen=True)
class Levels:
    """A warning level and a limit in MB (either may be None: not judged)."""

    warning_mb: int | None
    limit_mb: int | None


@dataclass(frozen=True)
class Judged:
    """One measured figure against its own levels: a worker's RSS, or a group's sum."""

    label: str
    value: float  # bytes
    levels: Levels


@dataclass(frozen=True)
class MemoryLevels:
    """The workers' levels and each group's, from the settings (MEMORY_*_MB, MEMORY_GROUP_LIMITS)."""

    workers: Levels
    groups: dict[str, Levels]

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> "MemoryLevels":
        return cls(Levels(config["MEMORY_WARNING_MB"], config["MEMORY_LIMIT_MB"]),
                   parse_group_limits(str(config.get("MEMORY_GROUP_LIMITS") or "")))


def parse_group_limits(text: str) -> dict[str, Levels]:
    """Parse "php-fpm=250:512,mysqld=none" into each group's warning and limit (MB)."""
    limits: dict[str, Levels] = {}
    for entry in (part.strip() for part in text.split(",") if part.strip()):
        name, equals, levels = (piece.strip() for piece in entry.partition("="))
        if not equals or not GROUP_NAME.fullmatch(name) or name in limits:
            raise ValueError(f"expected name=warning:limit (MB) or name=none, once per group, got {entry!r}")
        limits[name] = _levels(name, levels)
    return limits


def _levels(name: str, text: str) -> Levels:
    """Return the levels of "250:512", ":512" (a limit only) or "none"."""
    if text.lower() == "none":
        return Levels(None, None)
    numbers = _level_numbers(name, text)
    if any(number is not None and number <= 0 for number in numbers) or numbers == [None, None] or (
            None not in numbers and numbers[0] > numbers[1]):
        raise ValueError(f"process group {name!r}: expected 0 < warning <= limit (MB), got {text!r}")
    return Levels(*numbers)


def _level_numbers(name: str, text: str) -> list[int | None]:
    """Return [warning, limit] of "250:512", ":512" or "512" (a limit only), None for a level not given."""
    warning, colon, limit = text.partition(":")
    try:
        return [int(part) if part.strip() else None for part in (warning, limit)] if colon else [None, int(text)]
    except ValueError:
        raise ValueError(f"process group {name!r}: expected warning:limit in whole MB, got {text!r}") from None


def judged_figures(sample: MemorySample, levels: MemoryLevels) -> list[Judged]:
    """Return each figure judged against its own levels: every worker's RSS against the workers' levels, each
    group's sum against that group's (a group without levels is not judged). The badge and the alerts use this."""
    figures = [Judged(f"worker {worker.pid}", float(worker.rss), levels.workers) for worker in sample.workers]
    for group in sample.groups:
        group_levels = levels.groups.get(group.name)
        if group_levels is not None and (group_levels.warning_mb or group_levels.limit_mb):
            figures.append(Judged(group.name, float(group.total_rss), group_levels))
    return figures


def _split_entry(entry: str) -> tuple[str, str]:
    """Return (name, pattern) of one "name=regex" entry."""
    name, equals, pattern = entry.partition("=")
    name, pattern = name.strip(), pattern.strip()
    if not equals or not GROUP_NAME.fullmatch(name) or not pattern:
        raise ValueError(f"expected name=regex (name of letters, digits, - or _) separated by commas, "
                         f"got {entry.strip()!r}")
    return name, pattern


def _compile(name: str, pattern: str) -> re.Pattern:
    """Compile a group's pattern, naming the group when it is invalid."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"process group {name!r}: invalid regular expression {pattern!r}: {error}") from None


def take_sample(worker_pids: Iterable[int], groups: Mapping[str, re.Pattern], top_n: int = 10) -> MemorySample:
    """Sample the workers, the process groups, the host and its largest processes in one pass."""
    at = time.time()
    wanted = set(worker_pids)
    processes = list(_iter_processes())
    largest = heapq.nlargest(top_n, processes, key=lambda entry: entry[0].rss)
    workers = [_full(process, memory) for memory, _, process in processes if memory.pid in wanted]
    return MemorySample(at=at, workers=tuple(sorted(workers, key=lambda worker: worker.pid)),
                        groups=tuple(_group(name, pattern, processes) for name, pattern in groups.items()),
                        host=_host(), top=tuple(_full(process, memory) for memory, _, process in largest))


def _iter_processes() -> Iterable[tuple[ProcessMemory, str, psutil.Process]]:
    """Yield (RSS-only memory, command line joined by spaces, process) for every readable process."""
    for process in psutil.process_iter(["name", "cmdline", "memory_info"], ad_value=None):
        info = process.info
        if info["memory_info"] is None:
            continue  # a zombie, or a process whose memory this user may not read
        memory = ProcessMemory(process.pid, info["name"] or "", info["memory_info"].rss)
        yield memory, " ".join(info["cmdline"] or ()), process


NOT_READABLE = "another user's process: reading its USS/PSS needs root or CAP_SYS_PTRACE"
ENDED = "the process ended while it was sampled"


def _full(process: psutil.Process, memory: ProcessMemory) -> ProcessMemory:
    """Return the process's memory with USS and PSS (psutil's memory_full_info) where the platform and this
    user's rights allow, and otherwise why not."""
    try:
        full = process.memory_full_info()
    except psutil.AccessDenied:
        return dataclasses.replace(memory, why=NOT_READABLE)
    except GONE:
        return dataclasses.replace(memory, why=ENDED)
    uss, pss = getattr(full, "uss", None), getattr(full, "pss", None)
    why = None if uss is not None and pss is not None else f"{sys.platform} gives no {'PSS' if uss is not None else 'USS or PSS'}"
    # RSS stays the one read in the pass, so sums, groups and the top list agree with each other.
    return ProcessMemory(memory.pid, memory.name, memory.rss, uss, pss, why)


def _group(name: str, pattern: re.Pattern, processes: list[tuple[ProcessMemory, str, psutil.Process]]) -> GroupMemory:
    """Sum the RSS of the processes whose name or command line matches the pattern."""
    members = [memory for memory, cmdline, _ in processes if pattern.search(memory.name) or pattern.search(cmdline)]
    largest = max(members, key=lambda memory: memory.rss, default=None)
    return GroupMemory(name=name, count=len(members), total_rss=sum(memory.rss for memory in members),
                       largest_rss=largest.rss if largest else 0, largest_pid=largest.pid if largest else None)


def _host() -> HostMemory:
    """Return the host's memory and swap use."""
    virtual = psutil.virtual_memory()
    return HostMemory(total=virtual.total, used=virtual.used, available=virtual.available,
                      swap_used=psutil.swap_memory().used)
