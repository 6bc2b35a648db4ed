"""The load benchmark's two servers (Switchboard's and the naive dashboard's) under gunicorn on 127.0.0.1.

Starting, waiting for and stopping gunicorn is the tests' (tests/support/gunicorn.py): the benchmark uses the
harness the tests prove."""
from __future__ import annotations

import os
import runpy
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.error import URLError
from urllib.request import urlopen

from tests.support.gunicorn import (ROOT, SWITCHBOARD_ARGUMENTS, ServerError, free_port,  # noqa: F401 (the runner's)
                                    start_gunicorn, stop_gunicorn, wait_for_workers)


# --- the load benchmark's two servers -------------------------------------------------------------

SWITCHBOARD = "switchboard"
NAIVE = "naive"
MODES = (SWITCHBOARD, NAIVE)
SERVER_START_SECONDS = 90.0
SERVER_STOP_SECONDS = 10.0


@dataclass
class Server:
    """A gunicorn master the benchmark started, its address and its log."""

    mode: str
    process: subprocess.Popen
    base_url: str
    log_path: Path


def gunicorn_settings() -> dict[str, Any]:
    """Return the settings of gunicorn.conf.py (threads, timeouts) that the naive server copies."""
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def server_arguments(mode: str, bind: str, workers: int) -> list[str]:
    """Return the gunicorn arguments of a mode: Switchboard's production settings, or the naive dashboard
    with the same worker, thread and timeout settings."""
    if mode == SWITCHBOARD:
        return list(SWITCHBOARD_ARGUMENTS)
    settings = gunicorn_settings()
    return ["--bind", bind, "--workers", str(workers),
            "--worker-class", settings["worker_class"], "--threads", str(settings["threads"]),
            "--timeout", str(settings["timeout"]), "--graceful-timeout", str(settings["graceful_timeout"]),
            "--keep-alive", str(settings["keepalive"]), "--access-logfile", "-",
            "--access-logformat", settings["access_log_format"], "benchmarks.naive_dashboard:create_naive_app()"]


def server_environment(mode: str, bind: str, workers: int, database_url: str, redis_url: str,
                       cache_prefix: str | None) -> dict[str, str]:
    """Return the environment of a mode's server."""
    environ = {key: value for key, value in os.environ.items()
               if key not in {"CACHE_REDIS_URL", "CACHE_KEY_PREFIX", "GUNICORN_CMD_ARGS"}}
    environ.update({"DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"})
    if mode == SWITCHBOARD:
        environ.update({"CACHE_REDIS_URL": redis_url, "CACHE_KEY_PREFIX": cache_prefix or "",
                        "SWITCHBOARD_BIND": bind, "SWITCHBOARD_WORKERS": str(workers)})
    return environ


@contextmanager
def running_server(mode: str, workers: int, database_url: str, redis_url: str, log_dir: Path) -> Iterator[Server]:
    """Start a mode's gunicorn on a free 127.0.0.1 port, wait until it answers; always stop it."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    prefix = f"sb-load-{uuid.uuid4().hex[:12]}:" if mode == SWITCHBOARD else None
    log_path = log_dir / f"{mode}-{port}.log"
    with open(log_path, "wb") as log:
        process = start_gunicorn(server_environment(mode, bind, workers, database_url, redis_url, prefix),
                                 server_arguments(mode, bind, workers), stdout=log, stderr=subprocess.STDOUT,
                                 own_session=True)
    server = Server(mode, process, f"http://{bind}", log_path)
    try:
        wait_until_answering(server, port, workers)
        yield server
    finally:
        stop_gunicorn(process, SERVER_STOP_SECONDS, own_session=True)
        if prefix:
            delete_redis_keys(redis_url, prefix)


def wait_until_answering(server: Server, port: int, workers: int) -> None:
    """Wait until all the server's workers have started and it answers GET / with 200; fail with its log."""
    try:
        wait_for_workers(port, server.process, workers, SERVER_START_SECONDS)
        with urlopen(f"{server.base_url}/", timeout=30) as response:
            if response.status != 200:
                raise ServerError(f"GET / answered {response.status}")
    except (ServerError, URLError, OSError) as error:
        raise ServerError(f"{server.mode} server: {error}:\n{log_tail(server)}") from None


def log_tail(server: Server, lines: int = 30) -> str:
    """Return the last lines of a server's log."""
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def delete_redis_keys(redis_url: str, prefix: str) -> int:
    """Delete a run's keys (only those under its own prefix) from Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()
