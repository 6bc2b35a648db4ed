"""gunicorn.conf.py reads SWITCHBOARD_BIND, _WORKERS and _THREADS through config.py's settings table."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.support.gunicorn import ROOT


def gunicorn_config(**environment: str) -> subprocess.CompletedProcess:
    """Return what `gunicorn -c gunicorn.conf.py --print-config` says with these settings (no server starts)."""
    return subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config"],
                          cwd=ROOT, env={**os.environ, **environment}, capture_output=True, text=True, timeout=60)


def test_gunicorn_takes_its_settings_from_the_table():
    printed = gunicorn_config(SWITCHBOARD_BIND="127.0.0.1:8123", SWITCHBOARD_WORKERS="3", SWITCHBOARD_THREADS="2")
    assert printed.returncode == 0, printed.stderr
    lines = {line.split("=")[0].strip(): line.split("=", 1)[1].strip()
             for line in printed.stdout.splitlines() if "=" in line}
    assert lines["bind"] == "['127.0.0.1:8123']" and lines["workers"] == "3" and lines["threads"] == "2"


def test_a_bad_gunicorn_setting_is_a_clear_message():
    refused = gunicorn_config(SWITCHBOARD_WORKERS="0")
    assert refused.returncode == 1
    assert "invalid setting: SWITCHBOARD_WORKERS: expected a positive whole number, got '0'" in refused.stderr
    assert "Traceback" not in refused.stderr
