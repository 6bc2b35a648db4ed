"""The benchmark database: on this machine only, fresh enough for "ongoing" and "today", with or without
Switchboard's indexes."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlparse

BENCH_CALLS = 200_000
STALE_AFTER_MINUTES = 90
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class BenchmarkError(RuntimeError):
    """The benchmark cannot run."""


def require_local(url: str, redis_url: str) -> None:
    """Refuse a database or a Redis that is not on this machine."""
    from benchmarks.naive_vs_switchboard import require_local_server

    require_local_server(url)
    if (urlparse(redis_url).hostname or "") not in LOCAL_HOSTS:
        raise BenchmarkError(f"only a Redis on {', '.join(LOCAL_HOSTS)} is accepted, not {redis_url}")


def newest_call_age_minutes(url: str) -> float | None:
    """Return how many minutes ago the newest call was created (None: no database or no calls)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from benchmarks.naive_vs_switchboard import database_exists
    from queries.timeutil import database_now

    server = sa.create_engine(make_url(url).set(database=""))
    try:
        if not database_exists(server, make_url(url).database):
            return None
    finally:
        server.dispose()
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("calls"):
            return None
        with engine.connect() as connection:
            newest = connection.execute(sa.text("SELECT MAX(created_at) FROM calls")).scalar_one()
    finally:
        engine.dispose()
    return None if newest is None else (database_now() - newest).total_seconds() / 60


def ensure_fresh_data(url: str) -> None:
    """Reseed the benchmark database when it is missing, too small, or older than 90 minutes."""
    from benchmarks.naive_vs_switchboard import prepare_database

    age = newest_call_age_minutes(url)
    stale = age is None or age > STALE_AFTER_MINUTES
    described = "no calls" if age is None else f"newest call {age:.0f} min old"
    print(f"benchmark data: {described}; {'reseeding' if stale else 'fresh enough'} "
          f"(reseeded when older than {STALE_AFTER_MINUTES} min)", flush=True)
    prepare_database(url, BENCH_CALLS, reseed=stale)


@contextmanager
def indexes_removed(url: str) -> Iterator[None]:
    """Run the block without Switchboard's indexes; always migrate them back."""
    from benchmarks.naive_vs_switchboard import indexes_removed as removed
    from cli import writer_engine
    from schema.migrate import migrate

    with writer_engine(url) as writer:
        try:
            with removed(writer):
                yield
        finally:
            # Again, quietly: the reused block prints before it migrates, and a print can fail (a closed pipe).
            migrate(writer)


def ensure_indexes(url: str) -> None:
    """Apply Switchboard's migrations (a no-op when its indexes are in place)."""
    from cli import writer_engine
    from schema.migrate import migrate

    with writer_engine(url) as writer:
        migrate(writer)
