"""Alerts under gunicorn with 2 workers and Redis, the database behind a TCP proxy that cuts it:
a cut longer than ALERT_DATABASE_DOWN_SECONDS delivers exactly one "firing" and, restored, exactly one
"resolved" to a real JSON webhook; a 2 s cut delivers nothing; killing the evaluating worker mid-episode
sends no duplicate and loses no resolution. Nobody watches the page: evaluation runs from server start."""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import redis
from sqlalchemy.engine import make_url

from tests.support.databases import REDIS_URL, require_redis
from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.receivers import JsonReceiver
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.mariadb, pytest.mark.redis, pytest.mark.timeout(120)]

WORKERS = 2
PERIOD = 0.5
DOWN_SECONDS = 3


def _leader(client: redis.Redis, prefix: str, seconds: float = 20.0) -> int:
    """Wait until an evaluator holds the lease; return its worker's pid."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        holder = client.get(prefix + "alerts:lease")
        if holder:
            return int(holder.decode().split(":")[1])
        time.sleep(0.1)
    raise AssertionError("no evaluator took the lease")


def _titles(hook: JsonReceiver) -> list[str]:
    return [message["title"] for message in hook.messages]


def _wait_for(hook: JsonReceiver, count: int, seconds: float) -> list[str]:
    hook.wait_for(count, seconds)
    return _titles(hook)


FIRING = "[Switchboard] FIRING: database unreachable"
RESOLVED = "[Switchboard] RESOLVED: database reachable again"


def test_database_outages_notify_once_each_way_even_when_the_evaluator_dies(seeded_mariadb, tmp_path):
    require_redis()
    url = make_url(seeded_mariadb.url)
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    with TcpProxy(url.host, url.port or 3306) as proxy, JsonReceiver() as hook:
        port = free_port()
        environment = {
            **os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "SWITCHBOARD_WORKERS": str(WORKERS),
            "SWITCHBOARD_THREADS": "2",
            "DATABASE_URL": url.set(port=proxy.port).render_as_string(hide_password=False),
            "CACHE_REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix, "MEMORY_SAMPLER": "false",
            "USERS_DATABASE_URL": f"sqlite:///{tmp_path / 'users.sqlite'}", "STATEMENT_TIMEOUT_MS": "2000",
            "ALERT_NOTIFY_URLS": hook.apprise_url, "ALERT_EVALUATE_SECONDS": str(PERIOD),
            "ALERT_DATABASE_DOWN_SECONDS": str(DOWN_SECONDS), "ALERT_PROBE_TIMEOUT_SECONDS": "1",
            "GUNICORN_CMD_ARGS": "--max-requests 0",
        }
        try:
            with running_gunicorn(environment, port, WORKERS) as server:
                first_leader = _leader(client, prefix)
                time.sleep(2 * PERIOD)

                # A 2 s cut, shorter than the rule's 3 s: nothing.
                proxy.cut()
                time.sleep(2.0)
                proxy.restore()
                time.sleep(DOWN_SECONDS + 1)
                assert _titles(hook) == []

                # A 6 s cut: one firing, then one resolution.
                proxy.cut()
                assert _wait_for(hook, 1, DOWN_SECONDS + 4) == [FIRING]
                time.sleep(6.0 - DOWN_SECONDS)
                proxy.restore()
                assert _wait_for(hook, 2, 5) == [FIRING, RESOLVED]
                time.sleep(2.0)
                assert _titles(hook) == [FIRING, RESOLVED]

                # Cut again; once it fired, kill the evaluating worker; restore while the other takes over.
                proxy.cut()
                assert _wait_for(hook, 3, DOWN_SECONDS + 4)[2:] == [FIRING]
                dead = _leader(client, prefix)
                os.kill(dead, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while _leader(client, prefix) == dead and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert _leader(client, prefix) != dead, "no evaluator took over"
                time.sleep(1.0)
                proxy.restore()
                assert _wait_for(hook, 4, 8)[2:] == [FIRING, RESOLVED]
                time.sleep(2.0)
                assert _titles(hook) == [FIRING, RESOLVED, FIRING, RESOLVED]
                print(f"\nfirst evaluator pid {first_leader}, killed {dead}, took over "
                      f"{_leader(client, prefix)}; messages: {len(hook.messages)}")
        finally:
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)
            client.close()
    errors = [line for line in server.errors.splitlines() if "alert" in line.lower()]
    assert not any("s3cret" in line for line in errors)
