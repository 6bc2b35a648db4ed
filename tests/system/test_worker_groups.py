"""The installed pytest and pytest-xdist keep a group on one worker, as the suite relies on (tests/support/tiers.py):
serial tests change server-wide state, and each browser lane is one Chromium at a time. A pytest whose node ids
ignore the group pytest-xdist writes spreads them silently; this run of a small suite in another process says so."""
from __future__ import annotations

import re
import subprocess
import sys

CONFTEST = '''
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "grouped" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("together"))
'''
MODULE = '''
import pytest

@pytest.mark.parametrize("n", range(6))
def test_grouped(n):
    pass

@pytest.mark.parametrize("n", range(6))
def test_free(n):
    pass
'''


def test_tests_grouped_as_the_suite_groups_them_run_on_one_worker(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(MODULE)
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
                          "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
                          str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = {}
    for worker, test in re.findall(r"\[(gw\d)\] \[\s*\d+%\] PASSED (\S+)", run.stdout):
        workers.setdefault("grouped" if "test_grouped" in test else "free", []).append(worker)
    assert len(workers["grouped"]) == 12 and len(workers["free"]) == 12, run.stdout[-2000:]
    assert len(set(workers["grouped"])) == 1, f"the group ran on {sorted(set(workers['grouped']))}"
