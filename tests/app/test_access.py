"""Who may see what: logins, roles on every route and callback, tenant scoping in SQL, masked phones.

Each test builds the real app on a seeded database with users in its own store,
signs in through the login form (CSRF token and all) and talks to it over HTTP
as a browser or a forger would.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
import json
import logging
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from access.exposure import ExposureError, check_exposure
from access.roles import mask_phone
from access.users import UserError, UserStore, default_users_url
from tests.support.dash_client import DashClient, client_at, sign_in
from tests.support.users import ACTIVITY_STATE, PASSWORD, SUPPORT_COMPANY, add_users

MASKED_PHONE = re.compile(r"^[^0-9]*(•[^0-9]*)+\d{0,3}$")
ROLE_CALLBACKS = {
    "admin": {"ongoing-grid.rowData", "activity-grid.rowData", "stats-cards.children", "memory-badge.children",
              "self-cost-table.children", "activity-download.data", "alerts-badge.children",
              "alerts-mute-status.children"},
    "support": {"ongoing-grid.rowData", "activity-grid.rowData", "activity-download.data",
                "activity-company.options"},
    "ops": {"stats-cards.children", "memory-badge.children", "self-cost-table.children", "alerts-badge.children",
            "alerts-mute-status.children"},
    "wallboard": {"wall-grid.rowData"},
}
EVERY_SERVER_CALLBACK = set().union(*ROLE_CALLBACKS.values())


def _first_outputs(client: DashClient) -> set[str]:
    return {dependency["output"].strip(".").split("...")[0] for dependency in client.dependencies}


def _company_names(database_url: str) -> dict[int, str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(sa.text("SELECT id, name FROM companies")).all())
    finally:
        engine.dispose()


# --- without a login ------------------------------------------------------------------------------------------

def test_every_route_without_a_session_is_redirected_or_refused(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    index = client.get("/")
    assert index.status_code == 302 and index.headers["Location"].startswith("/login?next=")
    script = "/_dash-component-suites/dash/dash-renderer/build/dash_renderer.min.js"
    for path in ("/_dash-layout", "/_dash-dependencies", "/_reload-hash", script, "/assets/switchboard.js"):
        response = client.get(path)
        assert response.status_code in (302, 401), (path, response.status_code)
    for path in ("/some/deep/link?kind=call", "/activity"):
        assert client.get(path).status_code == 302
    forged = client.post("/_dash-update-component", data=json.dumps({"output": "ongoing-grid.rowData"}),
                         content_type="application/json")
    assert forged.status_code == 401 and "rowData" not in forged.get_data(as_text=True)
    assert client.get("/metrics").status_code == 401
    assert client.get("/login").status_code == 200 and client.get("/healthz").status_code == 200


def test_a_wrong_password_or_a_missing_form_token_signs_nobody_in(app_on_sqlite, caplog):
    client = app_on_sqlite.server.test_client()
    with caplog.at_level(logging.WARNING):
        refused = sign_in(client, "sam", "not the password at all")
    assert refused.status_code == 401 and "Wrong name or password" in refused.get_data(as_text=True)
    assert "sam" not in caplog.text  # no names in the log
    assert sign_in(client, "nobody", PASSWORD).status_code == 401
    no_token = client.post("/login", data={"name": "sam", "password": PASSWORD})
    assert no_token.status_code == 400
    assert client.get("/_dash-layout").status_code == 401


def test_logins_are_rate_limited_per_account_even_with_the_right_password(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    answers = [sign_in(client, "sam", f"guess number {n}").status_code for n in range(5)]
    assert answers == [401] * 5
    assert sign_in(client, "sam", PASSWORD).status_code == 429
    # Another account from the same address is not locked by sam's limit.
    assert sign_in(client, "ada", PASSWORD).status_code == 302


def test_logins_are_rate_limited_per_address(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    answers = [sign_in(client, f"user{n}", "wrong password!!").status_code for n in range(21)]
    assert answers[:20] == [401] * 20 and answers[20] == 429


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(app_on_sqlite):
    plain = sign_in(app_on_sqlite.server.test_client(), "ada", PASSWORD)
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie and "Secure" not in cookie
    over_https = sign_in(app_on_sqlite.server.test_client(), "ada", PASSWORD, base_url="https://localhost")
    assert "Secure" in over_https.headers["Set-Cookie"]


# Known open-redirect bypasses of `next`, as they appear in a link's query string.
REDIRECT_BYPASSES = [
    "//evil.example", "///evil.example", "////evil.example", "/%09/evil.example", "/%0a/evil.example",
    "/%0d/evil.example", "/%0d%0a/evil.example", "%09//evil.example", "%20//evil.example", "%00//evil.example",
    "/%5Cevil.example", "/\\evil.example", "\\/evil.example", "\\\\evil.example", "/%5C/evil.example",
    "/%2F/evil.example", "%2F%2Fevil.example", "%252F%252Fevil.example", "/%252F/evil.example",
    "/%2509/evil.example", "/%255C/evil.example", "https://evil.example", "https:evil.example",
    "https:/evil.example", "//evil.example@localhost", "/@evil.example", "//user:pass@evil.example",
    "javascript:alert(1)", "JaVaScRiPt%3Aalert(1)", "%0ajavascript:alert(1)", "data:text/html,x",
    "/%E2%81%84%E2%81%84evil.example", "%EF%BC%8F%EF%BC%8Fevil.example", "/%EF%BC%8Fevil.example",
    "%E3%80%80//evil.example", "/.%0a./evil.example", "/%7F/evil.example", "evil.example", "http%3A%2F%2Fevil.example",
    "/%0a%0dSet-Cookie:%20x=1",
]


def _lands_on_this_site(location: str) -> bool:
    """Tell whether a browser following this Location stays on http://localhost (it drops controls first)."""
    from urllib.parse import urljoin, urlsplit

    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in location):
        return False
    resolved = urlsplit(urljoin("http://localhost/login", location))
    return location.startswith("/") and location[1:2] not in ("/", "\\") and resolved.netloc == "localhost" \
        and resolved.scheme == "http"


def test_signing_in_never_redirects_to_another_site(app_on_sqlite):
    answers = {}
    for number, target in enumerate(REDIRECT_BYPASSES):
        # An address per sign-in: 40 sign-ins from one would meet the per-address limit, not what is tested here.
        client = client_at(app_on_sqlite.server, f"10.0.1.{number}")
        response = sign_in(client, "ada", PASSWORD, next_path=target)
        answers[target] = (response.status_code, response.headers.get("Location"),
                           client.get("/_dash-layout").status_code)  # signed in all the same
    escaped = {target: answer for target, answer in answers.items()
               if answer[0] != 302 or not _lands_on_this_site(answer[1]) or answer[2] != 200}
    assert escaped == {}


def test_a_link_on_this_site_survives_sign_in_with_its_query(app_on_sqlite):
    links = {"/%3Fcall%3D42": "/?call=42", "/?customer=7": "/?customer=7", "/activity": "/activity", "": "/",
             "/%3Fkind%3Dcall%26q%3Dm%C3%BCller": "/?kind=call&q=m%C3%BCller", "%09/%3Fcall%3D1%0a": "/?call=1"}
    landed = {target: sign_in(app_on_sqlite.server.test_client(), "ada", PASSWORD, next_path=target).headers["Location"]
              for target in links}
    assert landed == links


def test_the_login_form_keeps_only_a_safe_next():
    from access.web import safe_next

    assert [safe_next(target) for target in ("/\t/evil.example", "/\\evil.example", None, " /?call=3 ")] \
        == ["/", "/", "/", "/?call=3"]


def test_signing_out_ends_the_session(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    sign_in(client, "ada", PASSWORD)
    tokens = list(_props_named(client.get("/_dash-layout").get_json(), "csrf_token"))
    assert len(tokens) == 1, "the page has a sign-out form"
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 302
    assert client.get("/_dash-layout").status_code == 200  # a forged sign-out does nothing
    client.post("/logout", data={"csrf_token": tokens[0]})
    assert client.get("/_dash-layout").status_code == 401


def _props_named(node, name):
    """Yield the value of every component in a layout whose `name` prop is `name`."""
    if isinstance(node, dict):
        props = node.get("props", {})
        if props.get("name") == name:
            yield props.get("value")
        for value in node.values():
            yield from _props_named(value, name)
    elif isinstance(node, list):
        for item in node:
            yield from _props_named(item, name)


def test_removing_a_user_or_replacing_its_password_ends_its_sessions(app_on_sqlite, tmp_path, monkeypatch):
    import access.users
    monkeypatch.setattr(access.users, "LOOKUP_SECONDS", 0.0)
    client = app_on_sqlite.server.test_client()
    sign_in(client, "sam", PASSWORD)
    assert client.get("/_dash-layout").status_code == 200
    store = UserStore(default_users_url(tmp_path))
    store.add("sam", "support", (SUPPORT_COMPANY,), "a brand new password", replace=True)
    assert client.get("/_dash-layout").status_code == 401
    sign_in(client, "sam", "a brand new password")
    assert client.get("/_dash-layout").status_code == 200
    store.remove("sam")
    store.dispose()
    assert client.get("/_dash-layout").status_code == 401


# --- roles ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role, name", [("admin", "ada"), ("support", "sam"), ("ops", "olga"),
                                        ("wallboard", "wally")])
def test_each_role_learns_only_its_own_callbacks_and_panels(app_on_sqlite, role, name):
    client = DashClient(app_on_sqlite.server, login=(name, PASSWORD))
    outputs = _first_outputs(client)
    allowed = ROLE_CALLBACKS[role]
    assert allowed <= outputs
    assert not (EVERY_SERVER_CALLBACK - allowed - {"activity-company.options"} if role != "admin" else set()) & outputs
    layout = client.client.get("/_dash-layout").get_data(as_text=True)
    assert ("ongoing-grid" in layout) == (role in ("admin", "support"))
    assert ("memory-badge" in layout) == (role in ("admin", "ops"))
    assert ("stats-cards" in layout) == (role in ("admin", "ops"))
    assert ("alerts-header" in layout) == ("alerts-badge" in layout) == (role in ("admin", "ops"))
    assert ("wall-grid" in layout) == (role == "wallboard")


def _server_callbacks(client: DashClient) -> set[str]:
    return _server_outputs(client.dependencies)


def _server_outputs(dependencies: list[dict]) -> set[str]:
    return {dependency["output"].strip(".").split("...")[0] for dependency in dependencies
            if not dependency.get("clientside_function")}


@pytest.mark.parametrize("role, name", [("support", "sam"), ("ops", "olga"), ("wallboard", "wally")])
def test_forged_requests_for_another_roles_callbacks_are_refused(app_on_sqlite, role, name):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    wall = DashClient(app_on_sqlite.server, login=("wally", PASSWORD))
    forger = DashClient(app_on_sqlite.server, login=(name, PASSWORD))
    # Every server callback of the app (the admin's and the wall's), not only the ones this file names.
    every = _server_callbacks(admin) | _server_callbacks(wall)
    assert EVERY_SERVER_CALLBACK <= every and {"kpi-grid.rowData", "card-ongoing.children"} <= every
    for first_output in sorted(every - _server_callbacks(forger)):
        builder = admin if first_output in _server_callbacks(admin) else wall
        payload = builder.payload(first_output, {})  # built from a view of the callbacks that has it
        response = forger.post(payload)
        assert response.status_code == 403, first_output
        assert "rowData" not in response.get_data(as_text=True)


def test_a_wallboard_lands_on_the_wall_for_weeks_and_is_refused_everything_else(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    landed = sign_in(client, "wally", PASSWORD, next_path="/?kind=call")
    assert landed.status_code == 302 and landed.headers["Location"] == "/wall"
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", landed.headers["Set-Cookie"]).group(1))
    lasts = expires - datetime.now(timezone.utc)
    assert timedelta(days=29, hours=23) < lasts <= timedelta(days=30)  # WALLBOARD_SESSION_DAYS, not SESSION_HOURS
    assert client.get("/wall").status_code == 200
    assert client.get("/metrics").status_code == 403
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "wall-grid" in layout and "Sign out" not in layout and "pause-button" not in layout
    assert "ongoing-grid" not in layout and "activity-grid" not in layout and "call-drawer" not in layout
    people = sign_in(app_on_sqlite.server.test_client(), "ada", PASSWORD)
    assert "Expires=" in people.headers["Set-Cookie"] and people.headers["Location"] == "/"


def _page(client, prefix: str = "", headers: dict | None = None) -> tuple[str, set[str]]:
    """Return the layout and the server callbacks a page's renderer learns of, asked under its prefix."""
    layout = client.get(f"{prefix}/_dash-layout", headers=headers or {}).get_data(as_text=True)
    dependencies = json.loads(client.get(f"{prefix}/_dash-dependencies", headers=headers or {}).data)
    return layout, _server_outputs(dependencies)


def _renderer_prefix(page_html: str) -> str:
    return json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page_html,
                                re.S).group(1))["requests_pathname_prefix"]


def test_an_admin_opens_the_wallboard_at_wall_and_the_dashboard_anywhere_else(app_on_sqlite):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    wall_page, desk_page = admin.client.get("/wall"), admin.client.get("/")
    assert wall_page.status_code == 200
    # The wall's renderer asks under /wall/, and the page loads no chart code: it has no chart.
    wall_html, desk_html = wall_page.get_data(as_text=True), desk_page.get_data(as_text=True)
    assert _renderer_prefix(wall_html) == "/wall/" and _renderer_prefix(desk_html) == "/"
    assert admin.client.get("/wall/").status_code == 200 and _renderer_prefix(admin.client.get("/wall/").get_data(as_text=True)) == "/wall/"
    assert "data-plotly" not in wall_html and "data-plotly" in desk_html
    layout, callbacks = _page(admin.client, "/wall")
    assert "wall-grid" in layout and "Dashboard" in layout and "ongoing-grid" not in layout
    assert "pause-button" not in layout and "Sign out" not in layout
    assert callbacks == {"wall-grid.rowData"}  # the wall's page learns of the wall's callbacks only
    # Whatever else asks, and whatever page a Referer names, the dashboard's requests get the dashboard.
    for headers in (None, {"Referer": "http://localhost/wall"}, {"Referer": "http://localhost/?call=5"}):
        layout, callbacks = _page(admin.client, "", headers)
        assert "ongoing-grid" in layout and "wall-grid" not in layout and '"href":"\\u002fwall"' in layout, headers
        assert "wall-grid.rowData" not in callbacks and "ongoing-grid.rowData" in callbacks, headers
    for prefix in ("/wall-street", "/WALL", "/wall/wall", "/x/wall"):  # not the wall's requests: Dash's index
        response = admin.client.get(f"{prefix}/_dash-layout")
        assert "wall-grid" not in response.get_data(as_text=True), prefix
    desk = admin.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})["kpi-grid.rowData"]
    shown = admin.from_page("/wall").call("wall-grid.rowData", {"wall-interval.n_intervals": 1})["wall-grid.rowData"]
    assert shown and shown == desk  # the desk's table's rows: one result


@pytest.mark.parametrize("name", ["sam", "olga"])
def test_support_and_ops_asking_for_the_wall_get_their_own_page(app_on_sqlite, name):
    viewer = DashClient(app_on_sqlite.server, login=(name, PASSWORD))
    client = viewer.client
    assert client.get("/wall").status_code == 200 and _renderer_prefix(client.get("/wall").get_data(as_text=True)) == "/"
    assert _page(client, "/wall") == _page(client)
    layout, callbacks = _page(client, "/wall")
    assert "wall-grid" not in layout and '"href":"\\u002fwall"' not in layout and "wall-grid.rowData" not in callbacks
    # Posting the wall's callback under the wall's prefix is refused as anywhere else.
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD)).from_page("/wall")
    payload = admin.payload("wall-grid.rowData", {"wall-interval.n_intervals": 1})
    for prefix in ("", "/wall"):
        response = viewer.from_page(prefix).post(payload)
        assert response.status_code == 403 and "rowData" not in response.get_data(as_text=True), prefix


def test_a_wallboard_has_the_wall_only_whatever_page_it_asks_from(app_on_sqlite):
    client = DashClient(app_on_sqlite.server, login=("wally", PASSWORD)).client
    assert _renderer_prefix(client.get("/").get_data(as_text=True)) == "/wall/"
    for prefix in ("", "/wall"):
        layout, callbacks = _page(client, prefix)
        assert "wall-grid" in layout and "Dashboard" not in layout and callbacks == {"wall-grid.rowData"}, prefix


def test_the_local_demo_opens_the_wallboard_too(make_dashboard, seeded_sqlite):
    client = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False).server.test_client()
    layout, callbacks = _page(client, "/wall")
    assert "wall-grid" in layout and "Dashboard" in layout and callbacks == {"wall-grid.rowData"}
    layout, _ = _page(client)
    assert "Local demo, no login" in layout and '"href":"\\u002fwall"' in layout


def test_the_wall_s_own_requests_are_behind_the_access_check(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    for path in ("/wall/_dash-layout", "/wall/_dash-dependencies"):
        assert client.get(path).status_code == 401, path
    assert client.post("/wall/_dash-update-component", data="{}", content_type="application/json").status_code == 401
    assert client.get("/wall").status_code == 302  # the page itself: to the sign-in form


def test_the_wallboard_shows_figures_but_no_customer_names_or_numbers(app_on_sqlite, seeded_sqlite):
    wall = DashClient(app_on_sqlite.server, login=("wally", PASSWORD))
    shown = wall.call("wall-grid.rowData", {"wall-interval.n_intervals": 1})
    text = json.dumps(shown)
    assert shown["wall-grid.rowData"] and "Ongoing now" in text and shown["wall-freshness.data"]["stale"] is False
    engine = sa.create_engine(seeded_sqlite.url)
    with engine.connect() as connection:
        people = connection.execute(sa.text("SELECT name, phone FROM customers")).all()
    engine.dispose()
    assert not [name for name, phone in people if name in text or (phone and phone in text)]
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    desk = admin.call("kpi-grid.rowData", {"kpi-interval.n_intervals": 1})["kpi-grid.rowData"]
    assert shown["wall-grid.rowData"] == desk  # the same rows as the desk's table: one result


def test_metrics_take_the_bearer_token_or_an_ops_or_admin_session(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    sign_in(client, "sam", PASSWORD)
    assert client.get("/metrics").status_code == 403
    ops = app_on_sqlite.server.test_client()
    sign_in(ops, "olga", PASSWORD)
    assert ops.get("/metrics").status_code == 200


def test_two_apps_in_one_process_keep_their_own_users_callback_roles_and_token(tmp_path, seeded_sqlite):
    """Each app's access state lives on the app: building a second one changes nothing in the first."""
    from app import create_app
    from widgets.services import EXTENSION_KEY
    from tests.support import throwaway_widget
    from widgets import registered

    add_users(tmp_path / "first")
    second_users = UserStore(default_users_url(tmp_path / "second"))
    second_users.add("olga", "support", (SUPPORT_COMPANY,), PASSWORD)  # the same name, another role
    second_users.dispose()
    # The first has a callback the second lacks: were the role table shared, the second's would hide it.
    first = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False, "METRICS_TOKEN": "first"},
                       instance_path=tmp_path / "first", widgets=(*registered(), throwaway_widget.WIDGET))
    second = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False, "METRICS_TOKEN": "second"},
                        instance_path=tmp_path / "second")
    try:
        ops_in_first = DashClient(first.server, login=("olga", PASSWORD))
        assert ROLE_CALLBACKS["ops"] | {"throwaway-count.children"} <= _first_outputs(ops_in_first)
        support_in_second = _first_outputs(DashClient(second.server, login=("olga", PASSWORD)))
        assert ROLE_CALLBACKS["support"] <= support_in_second and not ROLE_CALLBACKS["ops"] & support_in_second
        assert sign_in(second.server.test_client(), "ada", PASSWORD).status_code == 401
        for app, token, other in ((first, "first", "second"), (second, "second", "first")):
            client = app.server.test_client()
            assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            assert client.get("/metrics", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    finally:
        for app in (first, second):
            app.server.extensions[EXTENSION_KEY].shutdown()


def test_responses_carry_the_security_headers(app_on_sqlite):
    client = app_on_sqlite.server.test_client()
    for response in (client.get("/login"), client.get("/_dash-layout")):
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy and "default-src 'self'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


# --- tenant scoping and masking, on SQLite and MariaDB ----------------------------------------------------------


def _activity_rows(client: DashClient, companies, search: str = "") -> list[dict]:
    state = {**ACTIVITY_STATE, "activity-company.value": companies, "activity-search.value": search}
    updated = client.call("activity-grid.rowData", {"activity-interval.n_intervals": 1}, state)
    return updated["activity-grid.rowData"]


def test_support_sees_only_its_companies_with_masked_phones(secured, seeded_database):
    app = secured(seeded_database.url)
    names = _company_names(seeded_database.url)
    support = DashClient(app.server, login=("sam", PASSWORD))
    admin = DashClient(app.server, login=("ada", PASSWORD))

    ongoing = support.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1})["ongoing-grid.rowData"]
    everyone = admin.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1})["ongoing-grid.rowData"]
    assert ongoing and {row["co"] for row in ongoing} == {names[SUPPORT_COMPANY]}
    assert len({row["co"] for row in everyone}) > 1
    assert all(MASKED_PHONE.match(row["caller"]) for row in ongoing if "caller" in row)
    assert any(re.search(r"\d{6}", row.get("caller", "")) for row in everyone)

    feed = _activity_rows(support, None)
    assert feed and {row["co"] for row in feed} == {names[SUPPORT_COMPANY]}
    assert all(MASKED_PHONE.match(row["ph"]) for row in feed if "ph" in row)
    # A forged filter naming another company gets nothing, not that company's rows.
    other = next(company for company in names if company != SUPPORT_COMPANY)
    assert _activity_rows(support, [other]) == []
    # More companies than the user may see is refused whole (tests/app/test_browser_lists.py), never widened.
    assert _activity_rows(support, [other, SUPPORT_COMPANY]) == []
    assert {row["co"] for row in _activity_rows(support, None, search="a")} <= {names[SUPPORT_COMPANY]}

    options = support.call("activity-company.options", {"refresh-signal.data": 0, "url.pathname": "/"})
    assert [option["value"] for option in options["activity-company.options"]] == [SUPPORT_COMPANY]


def test_support_exports_only_its_companies_with_masked_phones(secured, seeded_sqlite):
    app = secured(seeded_sqlite.url)
    names = _company_names(seeded_sqlite.url)
    support = DashClient(app.server, login=("sam", PASSWORD))
    state = {**ACTIVITY_STATE, "activity-company.value": None}
    exported = support.call("activity-download.data", {"activity-export.n_clicks": 1}, state)
    rows = list(csv.DictReader(io.StringIO(exported["activity-download.data"]["content"])))
    assert rows and {row["company"] for row in rows} == {names[SUPPORT_COMPANY]}
    assert all(MASKED_PHONE.match(row["phone"]) for row in rows if row["phone"])


def test_mask_phone_keeps_only_the_last_three_digits():
    assert mask_phone("+4930123456") == "+•••••••456"
    assert mask_phone("030 1234-567") == "••• ••••-567"
    assert mask_phone("12") == "12" and mask_phone(None) is None


# --- the local demo and exposure ----------------------------------------------------------------------------------

def test_without_users_only_loopback_clients_are_served_with_a_banner(make_dashboard, seeded_sqlite):
    app = make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)
    client = app.server.test_client()
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200 and "Local demo, no login" in layout.get_data(as_text=True)
    for path in ("/", "/_dash-layout", "/metrics"):
        response = client.get(path, environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert response.status_code == 403, path


def test_a_non_loopback_address_needs_a_secret_key_and_a_user():
    check_exposure(["127.0.0.1", "::1", "localhost"], {"SECRET_KEY": None}, has_users=False)
    for config, has_users in (({"SECRET_KEY": None}, True), ({"SECRET_KEY": "k" * 40}, False),
                              ({"SECRET_KEY": None}, False)):
        with pytest.raises(ExposureError, match="refusing to listen on 0.0.0.0"):
            check_exposure(["0.0.0.0"], config, has_users)
    check_exposure(["0.0.0.0"], {"SECRET_KEY": "k" * 40}, has_users=True)


def test_serve_refuses_a_public_address_without_logins(tmp_path, monkeypatch):
    from cli import cli

    monkeypatch.setenv("USERS_DATABASE_URL", default_users_url(tmp_path))
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code != 0 and "refusing to listen on 0.0.0.0" in result.output


def test_users_are_managed_from_the_command_line(tmp_path, monkeypatch, seeded_sqlite):
    import access.users
    from cli import cli

    # The product's own method (the suite lowers it for speed): the store keeps scrypt hashes.
    monkeypatch.setattr(access.users, "PASSWORD_HASH_METHOD", "scrypt")
    monkeypatch.setenv("USERS_DATABASE_URL", default_users_url(tmp_path))
    monkeypatch.setenv("DATABASE_URL", seeded_sqlite.url)  # where add-user finds the companies it is given
    runner = CliRunner()
    added = runner.invoke(cli, ["add-user", "sam", "--role", "support", "--company", "2", "--company", "3",
                                "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert runner.invoke(cli, ["add-user", "sam", "--role", "ops", "--password-stdin"],
                         input=PASSWORD + "\n").exit_code != 0  # exists
    assert "give at least one --company" in runner.invoke(
        cli, ["add-user", "bob", "--role", "support", "--password-stdin"], input=PASSWORD + "\n").output
    assert "at least 12 characters" in runner.invoke(
        cli, ["add-user", "bob", "--role", "admin", "--password-stdin"], input="short\n").output
    prompted = runner.invoke(cli, ["add-user", "ada", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    tv = runner.invoke(cli, ["add-user", "floor-tv", "--role", "wallboard", "--password-stdin"], input=PASSWORD + "\n")
    assert tv.exit_code == 0 and "floor-tv: wallboard" in tv.output, tv.output
    listed = runner.invoke(cli, ["list-users"]).output
    assert "sam\tsupport\t2, 3" in listed and "ada\tadmin\tall companies" in listed and PASSWORD not in listed
    store = UserStore(default_users_url(tmp_path))
    assert store.authenticate("sam", PASSWORD).company_ids == (2, 3)
    assert store.users()[store.authenticate("sam", PASSWORD).id].password_hash.startswith("scrypt:")
    store.dispose()
    assert runner.invoke(cli, ["remove-user", "sam"]).exit_code == 0
    assert "no user named" in runner.invoke(cli, ["remove-user", "sam"]).output


def test_a_fresh_checkout_without_an_instance_folder_has_no_users(tmp_path):
    store = UserStore(default_users_url(tmp_path / "not" / "made" / "yet"))
    try:
        assert not store.has_users()
    finally:
        store.dispose()


def test_a_user_with_an_unusable_name_or_role_is_refused(tmp_path):
    store = UserStore(default_users_url(tmp_path))
    for name, role, companies in ((" padded", "admin", ()), ("x" * 65, "admin", ()), ("ops1", "ops", (1,)),
                                  ("r", "root", ()), ("tv", "wallboard", (1,))):
        with pytest.raises(UserError):
            store.add(name, role, companies, PASSWORD)
    store.dispose()
