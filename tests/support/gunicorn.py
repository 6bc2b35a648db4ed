"""Run Switchboard under gunicorn (`gunicorn -c gunicorn.conf.py`) on 127.0.0.1 for a test."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Gunicorn:
    process: subprocess.Popen
    errors: str = ""  # what gunicorn wrote to its error log, once it has stopped


def wait_until_serving(port: int, process: subprocess.Popen, workers: int, seconds: float = 60.0) -> None:
    """Wait until gunicorn accepts connections on the port with all its workers started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited while starting"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if len(psutil.Process(process.pid).children()) == workers:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not start listening with all its workers")


@contextmanager
def running_gunicorn(environment: dict[str, str], port: int, workers: int) -> Iterator[Gunicorn]:
    """Start gunicorn with this environment (which binds it to the port), wait until it serves, stop it after;
    a traceback in its log fails the test."""
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT,
                               env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = Gunicorn(process)
    try:
        wait_until_serving(port, process, workers)
        yield server
    finally:
        process.terminate()
        try:
            _, server.errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, server.errors = process.communicate()
    assert "Traceback" not in server.errors, server.errors[-3000:]
