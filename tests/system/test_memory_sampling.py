"""Memory sampling: real processes measured with psutil, grouped by name pattern."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest

from config import ConfigError, load_config
from monitoring.memory import (GroupMemory, HostMemory, MemorySample, ProcessMemory, parse_group_patterns,
                               take_sample)
from tests.support.memory_processes import LineReader, spawn, stop

MB = 1024 * 1024


def wait_for_group(groups, condition, timeout: float = 15) -> GroupMemory:
    """Sample until the single group satisfies condition; return it (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        (group,) = take_sample([], groups).groups
        if condition(group) or time.monotonic() > deadline:
            return group
        time.sleep(0.2)


def test_a_process_that_allocates_shows_up_in_its_group_and_drops_when_it_frees():
    marker = f"sb-hog-{uuid.uuid4().hex[:12]}"
    groups = {"hog": re.compile(re.escape(marker))}
    hog = spawn("hog", marker)
    try:
        lines = LineReader(hog)
        lines.expect("allocated")
        group = wait_for_group(groups, lambda group: group.total_rss >= 180 * MB)
        assert (group.count, group.largest_pid) == (1, hog.pid)
        assert 180 * MB <= group.total_rss == group.largest_rss < 400 * MB
        hog.stdin.write("free\n")
        hog.stdin.flush()
        lines.expect("freed")
        assert wait_for_group(groups, lambda group: group.total_rss < 60 * MB).total_rss < 60 * MB
    finally:
        stop(hog)


def test_an_empty_group_reports_zero_and_no_largest_member():
    (group,) = take_sample([], {"none": re.compile(f"no-such-process-{uuid.uuid4().hex}")}).groups
    assert group == GroupMemory(name="none", count=0, total_rss=0, largest_rss=0, largest_pid=None)


def test_own_workers_are_sampled_with_uss_and_pss_where_the_os_gives_them():
    (worker,) = take_sample([os.getpid()], {}).workers
    assert worker.pid == os.getpid() and worker.rss > 10 * MB
    if sys.platform.startswith("linux"):
        assert 0 < worker.uss <= worker.pss <= worker.rss


def test_a_worker_that_has_exited_is_left_out():
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    sample = take_sample([int(gone.stdout), os.getpid()], {})
    assert [worker.pid for worker in sample.workers] == [os.getpid()]


def test_the_largest_processes_are_listed_largest_first():
    sample = take_sample([], {"python": re.compile("python")}, top_n=5)
    sizes = [process.rss for process in sample.top]
    assert 0 < len(sizes) <= 5 and sizes == sorted(sizes, reverse=True)
    assert sizes[0] >= sample.groups[0].largest_rss


def test_host_memory_is_consistent():
    host = take_sample([], {}).host
    assert 0 < host.used < host.total and 0 < host.available <= host.total and host.swap_used >= 0


def test_a_sample_flattens_into_named_series_in_bytes():
    sample = MemorySample(
        at=1.0, workers=(ProcessMemory(11, "gunicorn", 100, 80, 90), ProcessMemory(12, "gunicorn", 200, None, None)),
        groups=(GroupMemory("php-fpm", 2, 300, 200, 7),), host=HostMemory(1000, 600, 400, 5), top=())
    assert sample.series() == {
        "workers.total_rss": 300.0, "worker.11.rss": 100.0, "worker.11.uss": 80.0, "worker.11.pss": 90.0,
        "worker.12.rss": 200.0, "group.php-fpm.total_rss": 300.0, "group.php-fpm.largest_rss": 200.0,
        "host.used": 600.0, "host.available": 400.0, "host.total": 1000.0, "host.swap_used": 5.0}


def test_the_default_groups_parse_and_match_name_or_command_line():
    groups = parse_group_patterns(load_config(environ={})["MEMORY_PROCESS_GROUPS"])
    assert list(groups) == ["php-fpm", "mysqld", "gunicorn", "redis"]
    assert groups["mysqld"].search("mariadbd") and groups["redis"].search("/usr/bin/redis-server 127.0.0.1:6379")
    assert parse_group_patterns(" a = x{1,3} , b=y ") == {"a": re.compile("x{1,3}"), "b": re.compile("y")}
    assert parse_group_patterns("") == {}


@pytest.mark.parametrize("text, message", [
    ("php-fpm", "expected name=regex"), ("=php", "expected name=regex"), ("php=", "expected name=regex"),
    ("a.b=c", "expected name=regex"), ("x=(", "invalid regular expression"), ("a=b,a=c", "defined twice")])
def test_bad_group_patterns_are_refused_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_group_patterns(text)
    with pytest.raises(ConfigError, match="MEMORY_PROCESS_GROUPS"):
        load_config(environ={"MEMORY_PROCESS_GROUPS": text})
