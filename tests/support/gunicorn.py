"""Run Switchboard under gunicorn (`gunicorn -c gunicorn.conf.py`) on 127.0.0.1 for a test.

Starting, waiting for and stopping gunicorn is shared with the load benchmark (benchmarks/loadtest/servers.py).
"""
from __future__ import annotations

import subprocess
import tempfile
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
    a traceback in its log fails the test.

    Its error log goes to a file, never a pipe: nobody reads a pipe until gunicorn stops, and once its 64 KB
    are full (an outage logs a line per failed refresh) every worker thread blocks in logging, which looked
    like a server that stopped answering the moment the database came back."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
        server = Gunicorn(start_gunicorn(environment, stderr=log))
        try:
            wait_until_serving(port, server.process, workers)
            yield server
        finally:
            stop_gunicorn(server.process, seconds=30)
            log.seek(0)
            server.errors = log.read()
    assert "Traceback" not in server.errors, server.errors[-3000:]
