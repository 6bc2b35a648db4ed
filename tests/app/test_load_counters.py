"""The load benchmark's statement counts keep a worker that max_requests replaced during the window.

The runner imports Locust, which patches the standard library with gevent's on import: it runs in a process of
its own here, as it does when the benchmark runs."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

# Looked for, not imported: importing Locust here would patch the test process.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="requirements-bench.txt")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = '''
import time
from benchmarks.loadtest import probes, runner

scrapes = iter([{"101": {"ongoing_calls": 40.0}, "102": {"ongoing_calls": 10.0}}])
probes.total_pss = lambda pid: 1000
probes.scrape_statement_counters = lambda url, workers: next(scrapes, {})
peak, seen = runner.sample_until(1, time.monotonic() + 0.05, "http://127.0.0.1:1", 2)
before = {"101": {"ongoing_calls": 30.0}, "102": {"ongoing_calls": 0.0}}
after = {"102": {"ongoing_calls": 12.0}, "103": {"ongoing_calls": 5.0}}  # 101 was replaced by 103
print(peak, probes.statements_by_widget(before, {**seen, **after})["ongoing_calls"],
      probes.statements_by_widget(before, after)["ongoing_calls"])
'''


def test_a_worker_replaced_during_the_window_keeps_the_statements_it_ran():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # 101's ten statements before it went, 102's twelve, 103's five since it started; a last scrape alone saw 17.
    assert done.stdout.split() == ["1000", "27.0", "17.0"]
