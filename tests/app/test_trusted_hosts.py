"""Only trusted host names are answered: DNS rebinding cannot read the no-user demo.

A page on evil.example whose name is rebound to 127.0.0.1 makes the browser send `Host: evil.example:PORT` to
Switchboard, from a loopback address: answered, it would get the demo's page, unmasked phones and /metrics.
"""
from __future__ import annotations

import json

import pytest

from config import ConfigError, load_config
from tests.support.users import PASSWORD, add_users

REBOUND = "evil.example:8050"
PATHS = ["/", "/metrics", "/_dash-layout", "/_dash-dependencies", "/login", "/assets/switchboard.js",
         "/activity?call=1"]


@pytest.fixture
def demo_app(seeded_sqlite, make_dashboard):
    """No user: the local demo, served to loopback clients as an admin."""
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)


def _get(client, path: str, host: str, **options):
    return client.get(path, headers={"Host": host, **options.pop("headers", {})}, **options)


def test_a_rebound_host_name_gets_400_on_every_route_of_the_demo(demo_app):
    client = demo_app.server.test_client()
    answers = {path: _get(client, path, REBOUND).status_code for path in PATHS}
    callback = client.post("/_dash-update-component", headers={"Host": REBOUND}, content_type="application/json",
                           data=json.dumps({"output": "ongoing-grid.rowData", "outputs": {}, "inputs": []}))
    answers["POST /_dash-update-component"] = callback.status_code
    assert answers == {path: 400 for path in answers}
    refused = _get(client, "/_dash-layout", REBOUND)
    assert refused.get_json() == {"error": "this host name is not served here (see the TRUSTED_HOSTS setting)"}


@pytest.mark.parametrize("host", ["localhost", "localhost:8050", "127.0.0.1:8050", "127.0.0.1", "[::1]:8050", "[::1]",
                                  "[0:0:0:0:0:0:0:1]:8050"])
def test_loopback_names_are_trusted_by_default(demo_app, host):
    client = demo_app.server.test_client()
    for path in ("/", "/_dash-layout", "/metrics", "/healthz"):
        assert _get(client, path, host).status_code == 200, (host, path)


@pytest.mark.parametrize("host", [REBOUND, "10.0.0.7:8050", "localhost.evil.example", "127.0.0.1.nip.io",
                                  # werkzeug 3.1.8 trusted every bracketed IPv6 literal for "[::1]"
                                  "[::2]:8050", "[fe80::1]", "[::1"])
def test_healthz_answers_any_host_and_says_only_ok(demo_app, host):
    # Load balancers and probes send their target's address as the Host; "ok" is all a rebound page could read.
    response = _get(demo_app.server.test_client(), "/healthz", host)
    assert response.status_code == 200 and response.get_data() == b"ok\n"
    assert _get(demo_app.server.test_client(), "/", host).status_code == 400


def test_with_users_a_rebound_host_gets_400_not_the_sign_in_page(seeded_sqlite, make_dashboard, tmp_path):
    add_users(tmp_path)
    client = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False).server.test_client()
    assert {path: _get(client, path, REBOUND).status_code for path in PATHS} == {path: 400 for path in PATHS}
    assert client.post("/login", headers={"Host": REBOUND}, data={"name": "ada", "password": PASSWORD}
                       ).status_code == 400


def test_trusted_hosts_names_the_hosts_behind_a_reverse_proxy(seeded_sqlite, make_dashboard, tmp_path):
    add_users(tmp_path)
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False, FORWARDED_PROXIES=1,
                         TRUSTED_HOSTS=("switchboard.example.com", ".ops.example.com"))
    client = app.server.test_client()
    assert _get(client, "/login", "switchboard.example.com").status_code == 200
    assert _get(client, "/login", "eu.ops.example.com:443").status_code == 200
    assert _get(client, "/login", "localhost:8050").status_code == 400
    # The proxy's X-Forwarded-Host is the host that counts when FORWARDED_PROXIES trusts the proxy.
    forwarded = {"X-Forwarded-Host": "evil.example", "X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"}
    assert _get(client, "/login", "switchboard.example.com", headers=forwarded).status_code == 400
    forwarded["X-Forwarded-Host"] = "switchboard.example.com"
    assert _get(client, "/login", "127.0.0.1:8050", headers=forwarded).status_code == 200


def test_the_trusted_hosts_setting_takes_a_comma_separated_list():
    assert load_config(environ={})["TRUSTED_HOSTS"] == ("localhost", "127.0.0.1", "[::1]")
    assert load_config(environ={"TRUSTED_HOSTS": " dash.example.com, .example.org ,"})["TRUSTED_HOSTS"] \
        == ("dash.example.com", ".example.org")
    for wrong in ("*", ",", "http://dash.example.com", "a b"):
        with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
            load_config(environ={"TRUSTED_HOSTS": wrong})
