"""Run Switchboard under gunicorn (`gunicorn -c gunicorn.conf.py`) on 127.0.0.1 for a test.

The load benchmark (benchmarks/loadtest/servers.py) starts, waits for and stops its servers with these too.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

import psutil

ROOT = Path(__file__).resolve().parents[2]
SWITCHBOARD_ARGUMENTS = ("-c", "gunicorn.conf.py")  # production's settings (SWITCHBOARD_BIND names the port)

__all__ = ["ROOT", "Gunicorn", "free_port", "running_gunicorn", "wait_until_serving"]


class ServerError(RuntimeError):
    """gunicorn exited, or did not serve in time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(environment: dict[str, str], arguments: Sequence[str] = SWITCHBOARD_ARGUMENTS,
                   stdout: int | IO = subprocess.DEVNULL, stderr: int | IO = subprocess.PIPE,
                   own_session: bool = False) -> subprocess.Popen:
    """Start `python -m gunicorn …` in the repository root; with `own_session`, its workers and it are a
    process group of their own, which stop_gunicorn can kill whole."""
    return subprocess.Popen([sys.executable, "-m", "gunicorn", *arguments], cwd=ROOT, env=environment,
                            stdout=stdout, stderr=stderr, text=True, start_new_session=own_session)


def wait_for_workers(port: int, process: subprocess.Popen, workers: int, seconds: float = 60.0) -> None:
    """Wait until gunicorn accepts connections on the port with all its workers started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"gunicorn exited while starting ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if len(psutil.Process(process.pid).children()) == workers:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise ServerError(f"gunicorn did not start listening with all its {workers} workers within {seconds:g} s")


def stop_gunicorn(process: subprocess.Popen, seconds: float, own_session: bool = False) -> str:
    """Ask gunicorn to stop (SIGTERM: its graceful shutdown); kill it after `seconds`, and with `own_session`
    whatever of its process group lingers. Return what it wrote to a pipe ("" when it wrote elsewhere)."""
    if process.poll() is None:
        process.terminate()
    try:
        _, errors = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        _, errors = process.communicate()
    if own_session:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return errors or ""


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
