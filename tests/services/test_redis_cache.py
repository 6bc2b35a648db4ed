"""The shared cache in Redis: one computation per key per interval across workers; a careful clear."""
from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from database.query_cache import latest_kept_seconds
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient

pytestmark = pytest.mark.redis


def test_two_workers_share_one_computation_per_interval(seeded_database, redis_settings, make_dashboard):
    settings, client = redis_settings
    workers = [make_dashboard(seeded_database.url, ONGOING_CALLS_POLL_SECONDS=30, **settings) for _ in range(2)]
    statements = []
    for worker in workers:
        services = worker.server.extensions[EXTENSION_KEY]
        sa.event.listen(services.reader, "before_cursor_execute",
                        lambda conn, cursor, statement, *args: statements.append(statement))
    payload = DashClient(workers[0].server).payload(
        "ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    DashClient(workers[0].server).post(payload)  # the first computation fills the shared cache
    results = []

    def poll(worker):
        local = worker.server.test_client()
        for _ in range(4):
            results.append(local.post("/_dash-update-component", json=payload).status_code)

    threads = [threading.Thread(target=poll, args=(workers[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 24
    assert len([s for s in statements if "FROM calls" in s]) == 1
    keys = [k for k in client.scan_iter(match=settings["CACHE_KEY_PREFIX"] + "*") if b":query:" in k]
    slots = [k for k in keys if not k.endswith(b":latest")]
    # One entry for the slot, which ends with it, and the key's latest result beside it, kept a few intervals
    # for waiters (database.query_cache.latest_key).
    assert len(slots) == 1 and len(keys) == 2
    assert 0 < client.ttl(slots[0]) <= 30 + 1  # the slot's time left, and a second (database.query_cache.slot_key)
    latest, = set(keys) - set(slots)
    assert 30 < client.ttl(latest) <= latest_kept_seconds(30) and client.get(latest) == client.get(slots[0])


def test_cache_clear_deletes_only_switchboards_keys(redis_settings, monkeypatch):
    settings, client = redis_settings
    foreign = f"someone-else-{uuid.uuid4().hex[:8]}"
    client.set(foreign, "keep me", ex=60)
    client.set(settings["CACHE_KEY_PREFIX"] + "query:x", "drop me", ex=60)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["cache-clear"])
    assert result.exit_code == 0 and "query cache cleared" in result.output
    assert client.get(foreign) == b"keep me"
    assert client.get(settings["CACHE_KEY_PREFIX"] + "query:x") is None
    client.delete(foreign)
