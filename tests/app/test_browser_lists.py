"""Lists from the browser: deduplicated, checked and capped before they reach SQL.

The attack: a support user sends `activity-company.value = [1] * 100000` (a 201 KB body, under the body cap);
unchecked, it becomes an IN (…) of 100,000 bound parameters in both branches of the feed's statement and its
count, +140 MB a request. Here every such list goes through the real callback path (Flask's test client, the
callback guard, Dash) while the statements that reach the database are watched: none may carry more bound
parameters than the caps allow, and a list longer than its cap gets a clear message.
"""
from __future__ import annotations

import json
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.callback_guard import MAX_LIST_ITEMS
from tests.support.clock import FakeClock
from tests.support.dash_client import DashClient
from tests.support.databases import SEED_NOW
from widgets.choices import MAX_CHOSEN_COMPANIES

FEED = "activity-grid.rowData"
EXPORT = "activity-download.data"
LINK = "url.search"
MULTI_CHOICES = ("activity-kind", "activity-status", "activity-direction", "activity-company")
# The most bound parameters one statement of the feed may carry: a few per branch beside the capped lists.
PARAMETERS_CEILING = MAX_CHOSEN_COMPANIES * 3 + 100
PASSWORD = "correct horse battery staple"


class Statements:
    """Records how many bound parameters each statement sent to the reader engine carried."""

    def __init__(self, engine):
        self.counts: list[int] = []
        self._lock = threading.Lock()
        sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _connection, _cursor, _statement, parameters, _context, _executemany) -> None:
        with self._lock:
            self.counts.append(len(parameters or ()))

    def most(self) -> int:
        with self._lock:
            return max(self.counts, default=0)


def _app(database, instance, users=()):
    from access.users import UserStore, default_users_url
    from app import create_app
    from widgets.services import EXTENSION_KEY

    store = UserStore(default_users_url(instance))
    for name, role, companies in users:
        store.add(name, role, companies, PASSWORD)
    store.dispose()
    app = create_app({"DATABASE_URL": database.url, "MEMORY_SAMPLER": False, "CALLBACK_RATE_LIMIT": "none",
                      "SEARCH_RATE_LIMIT": "10000 per minute", "EXPORT_RATE_LIMIT": "10000 per minute"},
                     instance_path=instance, clock=FakeClock(SEED_NOW))
    return app, app.server.extensions[EXTENSION_KEY]


@pytest.fixture(scope="module")
def support(seeded_sqlite, tmp_path_factory):
    """A support user of company 1, signed in, and the statements the app sends."""
    app, services = _app(seeded_sqlite, tmp_path_factory.mktemp("lists-support"), [("sam", "support", (1,))])
    yield DashClient(app.server, login=("sam", PASSWORD)), Statements(services.reader)
    services.shutdown()


@pytest.fixture(scope="module")
def admin(seeded_sqlite, tmp_path_factory):
    """The no-user local demo's admin, who may see every company, and the statements the app sends."""
    app, services = _app(seeded_sqlite, tmp_path_factory.mktemp("lists-admin"))
    yield DashClient(app.server), Statements(services.reader)
    services.shutdown()


def _filters(companies=None, kinds=None, statuses=None, directions=None) -> dict:
    return {"activity-kind.value": kinds, "activity-status.value": statuses,
            "activity-direction.value": directions, "activity-company.value": companies,
            "activity-window.value": "7d", "activity-search.value": ""}


def _feed_body(client: DashClient, filters: dict) -> dict:
    """The feed's poll with these filter controls (the link already read: the controls decide)."""
    return client.payload(FEED, {"url.search": None, "activity-interval.n_intervals": 1, "refresh-signal.data": 0,
                                 "activity-pager.data": {"cursors": [None], "page": 0}},
                          {"activity-view.data": "", **filters}, changed=["activity-interval.n_intervals"])


def _export_body(client: DashClient, filters: dict) -> dict:
    return client.payload(EXPORT, {"activity-export.n_clicks": 1}, filters)


def _notice(response) -> str:
    answer = response.get_json().get("response", {})
    return str(answer.get("activity-notice", {}).get("children", ""))


def test_the_100000_company_list_is_refused_before_any_statement_and_costs_little_memory(support):
    client, statements = support
    before = len(statements.counts)
    bodies = [json.dumps(make(client, _filters(companies=[1] * 100_000)), separators=(",", ":")).encode()
              for make in (_feed_body, _export_body)] * 4
    assert all(200_000 < len(body) < 256 * 1024 for body in bodies)  # under the body cap, as in the attack

    def post(body: bytes):
        return client.client.post("/_dash-update-component", data=body, content_type="application/json")

    tracemalloc.start()
    try:
        with ThreadPoolExecutor(8) as pool:  # eight at once, as the attacker sent them
            answers = list(pool.map(post, bodies))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [answer.status_code for answer in answers] == [400] * 8
    assert all(f"more than {MAX_LIST_ITEMS:,} items" in answer.get_json()["error"] for answer in answers)
    assert len(statements.counts) == before  # nothing reached the database
    assert peak < 25 * 1024 * 1024, f"{peak / 2 ** 20:.1f} MB at the peak"


@pytest.mark.parametrize("make", [_feed_body, _export_body], ids=["feed", "export"])
def test_a_company_list_longer_than_the_viewer_s_companies_is_refused_with_a_message(support, make):
    client, statements = support
    before = len(statements.counts)
    response = client.post(make(client, _filters(companies=[1] * 50)))
    assert response.status_code == 200
    assert "too many companies: at most 1 at once (50 were sent)" in _notice(response)
    assert len(statements.counts) == before


def test_duplicates_within_the_cap_reach_sql_once(admin):
    client, statements = admin
    statements.counts.clear()
    response = client.post(_feed_body(client, _filters(companies=[2, 1, 2, 1] * 25, kinds=["call", "call"],
                                                       directions=["inbound"] * 2)))
    assert response.status_code == 200 and "too many" not in _notice(response)
    assert statements.counts and statements.most() < 40


def test_an_admin_s_company_list_is_capped_at_a_fixed_number(admin):
    client, statements = admin
    before = len(statements.counts)
    response = client.post(_feed_body(client, _filters(companies=list(range(1, MAX_CHOSEN_COMPANIES + 2)))))
    assert f"too many companies: at most {MAX_CHOSEN_COMPANIES}" in _notice(response)
    assert len(statements.counts) == before


def test_a_link_with_a_long_company_list_is_ignored_with_a_notice():
    from widgets.feed_filters import parse_query_string

    values, notices = parse_query_string("?company=" + ",".join(str(n) for n in range(1, 40_000)) + "&kind=call")
    assert values["company"] == [] and values["kind"] == ["call"]
    assert notices == [f"ignored company: more than {MAX_CHOSEN_COMPANIES} values"]
    values, notices = parse_query_string("?company=" + ",".join(["3", "1"] * 20_000))
    assert values["company"] == [3, 1] and notices == []


def _multi_choices(client: DashClient) -> set[str]:
    """The ids of the page's multi-choice controls, read from the real layout."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("multi") is True and isinstance(props.get("id"), str):
                found.add(props["id"])
            for value in props.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(client.client.get("/_dash-layout").get_json())
    return found


ITEMS = st.one_of(st.integers(-3, 5), st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.booleans(),
                  st.none(), st.floats(allow_nan=False), st.sampled_from(["call", "appointment", "missed", "inbound",
                                                                          "1", "", "' OR 1=1 --"]))
LISTS = st.one_of(
    st.lists(ITEMS, max_size=12),  # mixed types
    st.tuples(ITEMS, st.integers(2, 3_000)).map(lambda pair: [pair[0]] * pair[1]),  # one value, many times
    st.tuples(st.lists(st.sampled_from([1, 2, 3, "call", "missed", "inbound"]), min_size=1, max_size=4),
              st.integers(1, 800)).map(lambda pair: pair[0] * pair[1]),  # a few values, repeated
    st.integers(1, 2_000).map(lambda n: list(range(1, n + 1))),  # long and distinct
)


@pytest.mark.parametrize("who", ["support", "admin"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_list_in_any_multi_choice_of_any_callback_stays_within_the_caps(request, who, data):
    client, statements = request.getfixturevalue(who)
    choices = _multi_choices(client)
    assert set(MULTI_CHOICES) <= choices
    dependencies = [dependency for dependency in client.dependencies
                    if any(entry["id"] in choices for entry in dependency["inputs"] + dependency["state"])]
    assert dependencies
    dependency = data.draw(st.sampled_from(dependencies))
    values = {f"{entry['id']}.{entry['property']}": data.draw(LISTS) if entry["id"] in choices else None
              for entry in dependency["inputs"] + dependency["state"]}
    inputs = {key: values[key] for key in (f"{e['id']}.{e['property']}" for e in dependency["inputs"])}
    state = {key: values[key] for key in (f"{e['id']}.{e['property']}" for e in dependency["state"])}
    first_output = dependency["output"].lstrip(".").split("...")[0].split("@")[0]
    statements.counts.clear()
    response = client.post(client.payload(first_output, inputs, state, changed=list(inputs)[:1]))
    assert response.status_code in (200, 204, 400), response.status_code
    longest = max((len(value) for value in values.values() if isinstance(value, list)), default=0)
    if longest > MAX_LIST_ITEMS:
        assert response.status_code == 400 and "items" in response.get_json()["error"]
    assert statements.most() <= PARAMETERS_CEILING
