"""Sign-in limits: counted before the password is checked, per (account, address), per
account and per address, the same for names that do not exist, and closed while their shared store is down.

Password checks are counted by wrapping werkzeug's check_password_hash where the user store calls it: that is
the work a guess costs, and what a limit must bound.
"""
from __future__ import annotations

import re
import socket
import threading
import uuid

import pytest
import redis

import access.users
from tests.support.databases import REDIS_URL, require_redis
from tests.support.dash_client import client_at, sign_in
from tests.support.users import PASSWORD, add_users

PARALLEL = 16
PER_PAIR = 5  # LOGIN_LIMIT_PER_ACCOUNT_ADDRESS's default: 5 per minute


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Record every password check the user store makes (unknown names check a dummy hash: they count too)."""
    checks: list[str] = []
    lock = threading.Lock()
    real = access.users.check_password_hash

    def counted(password_hash: str, password: str) -> bool:
        with lock:
            checks.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(access.users, "check_password_hash", counted)
    return checks


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def build(request, tmp_path, make_dashboard, seeded_sqlite):
    """Build apps with ada, sam and olga, counting attempts in memory or in the test Redis (a prefix per test)."""
    add_users(tmp_path)
    shared = {}
    if request.param == "redis":
        require_redis()
        shared = dict(CACHE_REDIS_URL=REDIS_URL, CACHE_KEY_PREFIX=f"sbtest-{uuid.uuid4().hex[:10]}:")
    yield lambda **overrides: make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, **shared, **overrides)
    if shared:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{shared['CACHE_KEY_PREFIX']}limits*"):
            client.delete(key)
        client.close()


def _parallel_sign_ins(flask_app, attempts: list[tuple[str, str]], address: str) -> list[int]:
    """Send the sign-ins at once from one address (each its own browser, form already loaded); return statuses."""
    clients = [client_at(flask_app, address) for _ in attempts]
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
              for client in clients]
    start = threading.Barrier(len(attempts))
    statuses: list[int] = [0] * len(attempts)

    def attempt(number: int) -> None:
        name, password = attempts[number]
        start.wait()
        statuses[number] = clients[number].post(
            "/login", data={"name": name, "password": password, "csrf_token": tokens[number]}).status_code

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_parallel_wrong_passwords_are_checked_at_most_the_limit(build, password_checks):
    app = build()
    statuses = _parallel_sign_ins(app.server, [("sam", f"guess number {n}") for n in range(PARALLEL)], "10.0.0.66")
    assert len(password_checks) <= PER_PAIR, f"{len(password_checks)} of {PARALLEL} parallel guesses were checked"
    assert sorted(statuses) == [401] * len(password_checks) + [429] * (PARALLEL - len(password_checks))


def test_the_right_password_from_another_address_works_after_a_guesser_burned_its_limit(build, password_checks):
    app = build()
    guesser = client_at(app.server, "10.0.0.66")
    answers = [sign_in(guesser, "sam", f"guess number {n}").status_code for n in range(25)]
    assert answers == [401] * PER_PAIR + [429] * (25 - PER_PAIR)
    assert sign_in(guesser, "sam", PASSWORD).status_code == 429  # from the guesser's address, even the right one
    assert len(password_checks) == PER_PAIR
    sam = client_at(app.server, "10.0.0.7")
    assert sign_in(sam, "sam", PASSWORD).status_code == 302 and sam.get("/_dash-layout").status_code == 200


def test_a_successful_sign_in_clears_that_addresses_guesses(build):
    app = build()
    client = client_at(app.server, "10.0.0.7")
    for _ in range(3):  # a person who mistypes now and then is never locked out by their own success
        assert [sign_in(client, "sam", "mistyped password").status_code for _ in range(PER_PAIR - 1)] \
            == [401] * (PER_PAIR - 1)
        assert sign_in(client, "sam", PASSWORD).status_code == 302


def test_locking_an_account_out_takes_the_account_wide_limit_from_many_addresses(build, password_checks):
    app = build(LOGIN_LIMIT_PER_ACCOUNT="12 per hour")  # the default is 100 an hour; 12 keeps the test short
    answers = {address: [sign_in(client_at(app.server, address), "sam", "guess!!!!!!!").status_code
                         for _ in range(PER_PAIR)] for address in ("10.0.1.1", "10.0.1.2", "10.0.1.3")}
    assert [status for statuses in answers.values() for status in statuses] == [401] * 12 + [429] * 3
    assert len(password_checks) == 12
    assert sign_in(client_at(app.server, "10.0.2.9"), "sam", PASSWORD).status_code == 429  # now it is locked
    # Another account is not.
    assert sign_in(client_at(app.server, "10.0.2.9"), "ada", PASSWORD).status_code == 302


def test_refused_guesses_do_not_spend_the_account_wide_limit(build, password_checks):
    app = build(LOGIN_LIMIT_PER_ACCOUNT="12 per hour")
    guesser = client_at(app.server, "10.0.0.66")
    assert {sign_in(guesser, "sam", "guess!!!!!!!").status_code for _ in range(40)} == {401, 429}
    assert len(password_checks) == PER_PAIR
    assert sign_in(client_at(app.server, "10.0.0.7"), "sam", PASSWORD).status_code == 302


def _page_text(response) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True)).replace("nobody", "sam")


def test_unknown_names_get_the_same_answers_limits_and_work_as_real_ones(build, password_checks):
    app = build()
    answers = {}
    for name, address in (("sam", "10.0.3.1"), ("nobody", "10.0.3.2")):
        client = client_at(app.server, address)
        responses = [sign_in(client, name, "wrong password!!") for _ in range(PER_PAIR + 2)]
        answers[name] = ([response.status_code for response in responses], [_page_text(r) for r in responses],
                         len(password_checks))
        password_checks.clear()
    assert answers["sam"] == answers["nobody"]
    assert answers["sam"][0] == [401] * PER_PAIR + [429] * 2 and answers["sam"][2] == PER_PAIR


@pytest.mark.redis
def test_workers_sharing_redis_share_the_count(tmp_path, make_dashboard, seeded_sqlite, password_checks):
    require_redis()
    add_users(tmp_path)
    shared = dict(MEMORY_SAMPLER=False, CACHE_REDIS_URL=REDIS_URL, CACHE_KEY_PREFIX=f"sbtest-{uuid.uuid4().hex[:10]}:")
    workers = [make_dashboard(seeded_sqlite.url, **shared) for _ in range(2)]
    answers = [sign_in(client_at(workers[n % 2].server, "10.0.0.66"), "sam", "guess!!!!!!!").status_code
               for n in range(10)]
    assert answers == [401] * PER_PAIR + [429] * 5 and len(password_checks) == PER_PAIR


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe closes


def test_with_redis_unreachable_sign_in_fails_closed_with_a_clear_message(tmp_path, make_dashboard, seeded_sqlite,
                                                                         password_checks, caplog):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False,
                         CACHE_REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0")
    client = client_at(app.server, "10.0.0.7")
    assert client.get("/login").status_code == 200  # the form itself still shows
    for password in ("wrong password!!", PASSWORD):
        refused = sign_in(client, "sam", password)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
        assert "Sign-in is unavailable for a moment" in refused.get_data(as_text=True)
    assert password_checks == []  # no guess is checked while it cannot be counted
    assert client.get("/_dash-layout").status_code == 401
    assert "rate-limit" in caplog.text or "sign-in limits" in caplog.text


@pytest.mark.redis
def test_while_redis_is_cut_whoever_is_signed_in_carries_on(tmp_path, make_dashboard, seeded_sqlite):
    from sqlalchemy.engine import make_url

    from tests.support.tcp_proxy import TcpProxy

    require_redis()
    add_users(tmp_path)
    target = make_url(REDIS_URL.replace("redis://", "mysql://"))  # only to read host and port
    with TcpProxy(target.host, target.port or 6379) as proxy:
        app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, CACHE_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                             CACHE_KEY_PREFIX=f"sbtest-{uuid.uuid4().hex[:10]}:")
        signed_in = client_at(app.server, "10.0.0.7")
        assert sign_in(signed_in, "ada", PASSWORD).status_code == 302
        proxy.cut()
        assert sign_in(client_at(app.server, "10.0.0.8"), "sam", PASSWORD).status_code == 503
        assert signed_in.get("/_dash-layout").status_code == 200  # sessions live in the user store, not Redis
        proxy.restore()
        assert sign_in(client_at(app.server, "10.0.0.8"), "sam", PASSWORD).status_code == 302
