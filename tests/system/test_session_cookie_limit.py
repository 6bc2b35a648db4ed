"""nginx keys its per-session callback limit on exactly the cookie the app reads as the session.

The attack: nginx's `$cookie_switchboard_session` matches the name whatever its case, werkzeug does not. With
`Cookie: SWITCHBOARD_SESSION=<random>; switchboard_session=<real>` every request has a key of its own, and a limit
keyed on that variable refuses 0 of 250 surplus callbacks instead of 249. Here the shipped
deploy/nginx/switchboard.conf runs in front of gunicorn and the decoys are sent again: the surplus is refused by
nginx, and another session is not.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.databases import unavailable
from tests.support.gunicorn import free_port, running_gunicorn
from tests.support.nginx import NGINX, SERVER_NAME, SITE_CONF, Nginx, NginxDashClient, running_nginx

ONGOING = ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
WORKERS = 2
BURST = int(re.search(r"limit_req zone=switchboard_callbacks burst=(\d+)", SITE_CONF.read_text()).group(1))
SURPLUS = 150


@pytest.fixture(scope="module")
def proxy(seeded_sqlite, tmp_path_factory) -> Iterator[tuple[Nginx, bytes]]:
    if not Path(NGINX).exists():
        unavailable(f"reverse-proxy tests need nginx at {NGINX} (apt-get install -y nginx)")
    directory = tmp_path_factory.mktemp("session-cookie")
    port = free_port()
    environment = {**os.environ, "SWITCHBOARD_BIND": f"127.0.0.1:{port}", "DATABASE_URL": seeded_sqlite.url,
                   "MEMORY_SAMPLER": "false", "FORWARDED_PROXIES": "1", "SWITCHBOARD_WORKERS": str(WORKERS),
                   "TRUSTED_HOSTS": f"{SERVER_NAME},localhost,127.0.0.1", "CALLBACK_RATE_LIMIT": "none",
                   "USERS_DATABASE_URL": f"sqlite:///{directory / 'users.sqlite'}"}
    environment.pop("CACHE_REDIS_URL", None)
    with running_gunicorn(environment, port, WORKERS):
        with running_nginx(port, directory / "nginx") as nginx:
            client = NginxDashClient(nginx)
            body = json.dumps(client.payload(*ONGOING)).encode()
            client.connection.close()
            yield nginx, body


def callback(proxy: tuple[Nginx, bytes], cookie: str) -> int:
    nginx, body = proxy
    connection = nginx.connection()
    try:
        connection.request("POST", "/_dash-update-component", body=body,
                           headers={"Content-Type": "application/json", "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def flood(proxy, cookie_of) -> list[int]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda n: callback(proxy, cookie_of(n)), range(BURST + SURPLUS)))


@pytest.mark.parametrize("decoy", [
    "SWITCHBOARD_SESSION={random}; switchboard_session={real}",  # the reported decoy: another case first
    'a="x; switchboard_session={random}"; switchboard_session={real}',  # inside another cookie's quoted value
    "switchboard_session={random} x; switchboard_session={real}",  # a malformed pair werkzeug skips
    "Switchboard_Session={random};switchboard_session={real}; switchboard_session={random}",  # a later duplicate
], ids=["case", "quoted", "malformed", "duplicate"])
def test_a_decoy_cookie_does_not_spread_one_session_over_many_keys(proxy, decoy):
    real = uuid.uuid4().hex
    statuses = flood(proxy, lambda n: decoy.format(random=uuid.uuid4().hex, real=real))
    assert set(statuses) <= {200, 429}, statuses
    # At 20 a second after a burst of 100, a few seconds of flooding let through at most ~100 more.
    assert statuses.count(429) >= SURPLUS // 3, statuses.count(429)
    assert callback(proxy, f"switchboard_session={uuid.uuid4().hex}") == 200  # another session is not held


def test_the_key_is_the_session_cookie_alone_whatever_comes_around_it(proxy):
    real = uuid.uuid4().hex
    shapes = [f"switchboard_session={real}", f"theme=dark; switchboard_session={real}",
              f" switchboard_session = {real} ; x=1", f"x=1;switchboard_session={real}"]
    statuses = flood(proxy, lambda n: shapes[n % len(shapes)])
    assert statuses.count(429) >= SURPLUS // 3, statuses.count(429)


def test_requests_without_the_session_cookie_are_left_to_the_app(proxy):
    statuses = flood(proxy, lambda n: f"SWITCHBOARD_SESSION={uuid.uuid4().hex}; xswitchboard_session=1")
    assert statuses.count(429) == 0
