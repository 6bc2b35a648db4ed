"""Run Switchboard under gunicorn (`gunicorn -c gunicorn.conf.py`) on 127.0.0.1 for a test.

Starting, waiting for and stopping gunicorn is shared with the load benchmark (benchmarks/loadtest/servers.py).
"""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from benchmarks.loadtest.servers import ROOT, ServerError, free_port, start_gunicorn, stop_gunicorn
from benchmarks.loadtest.servers import wait_until_serving as wait_for_workers

__all__ = ["ROOT", "Gunicorn", "free_port", "running_gunicorn", "wait_until_serving"]


@dataclass
class Gunicorn:
    process: subprocess.Popen
    errors: str = ""  # what gunicorn wrote to its error log, once it has stopped


def wait_until_serving(port: int, process: subprocess.Popen, workers: int, seconds: float = 60.0) -> None:
    """Wait until gunicorn accepts connections on the port with all its workers started; fail the test if not."""
    try:
        wait_for_workers(port, process, workers, seconds)
    except ServerError as error:
        raise AssertionError(str(error)) from None


@contextmanager
def running_gunicorn(environment: dict[str, str], port: int, workers: int) -> Iterator[Gunicorn]:
    """Start gunicorn with this environment (which binds it to the port), wait until it serves, stop it after;
    a traceback in its log fails the test."""
    server = Gunicorn(start_gunicorn(environment))
    try:
        wait_until_serving(port, server.process, workers)
        yield server
    finally:
        server.errors = stop_gunicorn(server.process, seconds=30)
    assert "Traceback" not in server.errors, server.errors[-3000:]
