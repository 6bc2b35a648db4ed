"""Sessions end on the server: a copy of the cookie opens nothing once its session is over.

Signing out, `remove-user` and `add-user --replace` end sessions on every worker
and host sharing the user store, within LOOKUP_SECONDS (5 s). "Two workers" here
are two app instances built on the same instance folder (so the same secret
key), the same user store and the same Redis, as gunicorn's workers are.
"""
from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from access.users import LOOKUP_SECONDS, UserStore, default_users_url, sessions_table
from tests.support.databases import REDIS_URL, create_test_database, drop_test_database, require_redis
from tests.support.dash_client import DashClient, sign_in, sign_out
from tests.support.users import ACTIVITY_STATE, PASSWORD, SUPPORT_COMPANY, add_users

COOKIE = "switchboard_session"
FEED = ("activity-grid.rowData", {"activity-interval.n_intervals": 1},
        {**ACTIVITY_STATE, "activity-company.value": None})


def _replay(flask_app, cookie: str):
    """Return a fresh client (another browser, an attacker) holding a copy of the cookie."""
    client = flask_app.test_client()
    client.set_cookie(COOKIE, cookie, domain="localhost")
    return client


def _feed_answer(client, payload: dict):
    return client.post("/_dash-update-component", data=json.dumps(payload), content_type="application/json")


def test_a_cookie_saved_before_signing_out_opens_nothing_afterwards(tmp_path, make_dashboard, seeded_sqlite):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    support = DashClient(app.server, login=("sam", PASSWORD))
    assert support.call(*FEED)["activity-grid.rowData"], "the feed has rows for sam before signing out"
    saved = support.client.get_cookie(COOKIE).value
    payload = support.payload(*FEED)

    assert sign_out(support.client).status_code == 302
    replayed = _replay(app.server, saved)
    assert replayed.get("/_dash-layout").status_code == 401
    assert replayed.get("/_dash-dependencies").status_code == 401
    answer = _feed_answer(replayed, payload)
    assert answer.status_code == 401 and "rowData" not in answer.get_data(as_text=True)
    assert replayed.get("/").status_code == 302  # to the sign-in form


def test_signing_out_ends_only_that_session(tmp_path, make_dashboard, seeded_sqlite):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    laptop, phone = app.server.test_client(), app.server.test_client()
    sign_in(laptop, "sam", PASSWORD)
    sign_in(phone, "sam", PASSWORD)
    sign_out(laptop)
    assert laptop.get("/_dash-layout").status_code == 401
    assert phone.get("/_dash-layout").status_code == 200


def test_the_store_keeps_no_usable_key_and_ends_sessions_at_their_expiry(tmp_path, make_dashboard, seeded_sqlite,
                                                                         monkeypatch):
    import access.users
    monkeypatch.setattr(access.users, "LOOKUP_SECONDS", 0.0)  # every request reads the store
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    client = app.server.test_client()
    sign_in(client, "ada", PASSWORD)
    engine = sa.create_engine(default_users_url(tmp_path))
    with engine.begin() as connection:
        rows = connection.execute(sa.select(sessions_table)).all()
        assert len(rows) == 1
        assert rows[0].key_hash not in client.get_cookie(COOKIE).value  # the store holds the key's hash only
        assert (rows[0].expires_at - rows[0].created_at).total_seconds() == 12 * 3600  # SESSION_HOURS
        # A signed cookie replayed past its session's end on the server is refused, whatever its own expiry.
        connection.execute(sessions_table.update().values(expires_at=rows[0].created_at))
    engine.dispose()
    assert client.get("/_dash-layout").status_code == 401


# --- on every worker and host sharing the store ---------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def users_url(request, tmp_path):
    """The shared user store: the instance folder's SQLite file, or a MariaDB database as several hosts share."""
    if request.param == "sqlite":
        yield default_users_url(tmp_path)
        return
    database = create_test_database("mariadb", tmp_path)
    yield database.url
    drop_test_database(database)


@pytest.fixture
def two_workers(tmp_path, make_dashboard, seeded_sqlite, users_url, monkeypatch):
    """Two app instances on one instance folder, one user store and one Redis, with ada, sam and olga."""
    require_redis()
    store = UserStore(users_url)
    store.add("ada", "admin", (), PASSWORD)
    store.add("sam", "support", (SUPPORT_COMPANY,), PASSWORD)
    store.dispose()
    # For the CLI commands below: the same user store, and the same database to check a user's companies in.
    monkeypatch.setenv("USERS_DATABASE_URL", users_url)
    monkeypatch.setenv("DATABASE_URL", seeded_sqlite.url)
    shared = dict(MEMORY_SAMPLER=False, USERS_DATABASE_URL=users_url, CACHE_REDIS_URL=REDIS_URL,
                  CACHE_KEY_PREFIX=f"sbtest-{uuid.uuid4().hex[:10]}:")
    return make_dashboard(seeded_sqlite.url, **shared), make_dashboard(seeded_sqlite.url, **shared)


def _revoke_by_signing_out(first_worker, client) -> None:
    # The same cookie, presented to the first worker (a browser's requests reach any worker).
    signed_in = _replay(first_worker.server, client.get_cookie(COOKIE).value)
    assert sign_out(signed_in).status_code == 302


def _revoke_by_removing(_first_worker, _client) -> None:
    from cli import cli

    result = CliRunner().invoke(cli, ["remove-user", "sam"])
    assert result.exit_code == 0, result.output


def _revoke_by_replacing(_first_worker, _client) -> None:
    from cli import cli

    result = CliRunner().invoke(cli, ["add-user", "sam", "--role", "support", "--company", str(SUPPORT_COMPANY),
                                      "--replace", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output


@pytest.mark.redis
@pytest.mark.parametrize("revoke", [_revoke_by_signing_out, _revoke_by_removing, _revoke_by_replacing],
                         ids=["sign-out", "remove-user", "add-user --replace"])
def test_a_session_ended_anywhere_ends_on_every_worker_within_5_seconds(two_workers, revoke, seed_clock):
    first, second = two_workers  # both tell the time by seed_clock, which stands still until moved
    browser = second.server.test_client()
    assert sign_in(browser, "sam", PASSWORD).status_code == 302
    payload = DashClient(second.server, login=("sam", PASSWORD)).payload(*FEED)
    assert browser.get("/_dash-layout").status_code == 200  # the second worker has looked the session up
    assert first.server.test_client().get("/login").status_code == 200

    revoke(first, browser)
    seed_clock.advance(LOOKUP_SECONDS)  # the last moment the second worker may still trust what it read
    assert browser.get("/_dash-layout").status_code in (200, 401)
    seed_clock.advance(0.01)
    assert browser.get("/_dash-layout").status_code == 401, \
        f"the session outlived its end on the second worker by more than {LOOKUP_SECONDS} s"
    answer = _feed_answer(browser, payload)
    assert answer.status_code == 401 and "rowData" not in answer.get_data(as_text=True)
    # The other users' sessions are untouched.
    admin = first.server.test_client()
    assert sign_in(admin, "ada", PASSWORD).status_code == 302 and admin.get("/_dash-layout").status_code == 200
