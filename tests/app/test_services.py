"""What a running app holds is built complete by the factory: its user store, work limits, memory store and
sampler, and the clock it tells the time by."""
from __future__ import annotations

from datetime import timedelta

from access.users import UserStore
from access.work_limits import WorkLimits
from app import create_app
from queries.timeutil import database_now
from widgets.services import EXTENSION_KEY
from tests.support.databases import SEED_NOW


def _services(app):
    return app.server.extensions[EXTENSION_KEY]


def test_the_factory_builds_every_service_and_injects_the_clock(tmp_path, seeded_sqlite, seed_clock):
    services = _services(create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False},
                                    instance_path=tmp_path, clock=seed_clock))
    try:
        assert isinstance(services.users, UserStore) and isinstance(services.work_limits, WorkLimits)
        assert services.memory_store is not None and services.sampler is None
        assert services.now() == SEED_NOW
        # One clock for every part that stamps time: the cache, the alerts, "now".
        assert services.queries.clock is seed_clock and services.alerts.clock is seed_clock
        seed_clock.advance(90)
        assert services.now() == SEED_NOW + timedelta(seconds=90)
    finally:
        services.shutdown()


def test_the_default_clock_is_the_wall_clock_in_the_database_s_timezone(tmp_path, seeded_sqlite):
    services = _services(create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False,
                                     "DATABASE_TIMEZONE": "Asia/Tokyo"}, instance_path=tmp_path))
    try:
        assert abs(services.now() - database_now("Asia/Tokyo")) < timedelta(seconds=5)
    finally:
        services.shutdown()


def test_the_sampler_starts_on_the_first_request_not_in_the_factory(tmp_path, seeded_sqlite):
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": True}, instance_path=tmp_path)
    services = _services(app)
    try:
        assert not services.sampler.running  # gunicorn's master builds the app; only its workers sample
        assert app.server.test_client().get("/healthz").status_code == 200
        assert services.sampler.running
    finally:
        services.shutdown()
    assert not services.sampler.running
