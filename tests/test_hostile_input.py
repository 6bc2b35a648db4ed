"""Hostile input to every server callback: a clear message or an empty result, never a 5xx or a stack trace.

Hypothesis fills each callback's inputs and state with what a forged request could
carry: wrong types, huge strings, SQL fragments, unicode, negative or huge
numbers, nested lists and objects, impossible cursors.
"""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.dash_client import DashClient

SQL_FRAGMENTS = ["' OR '1'='1", "1; DROP TABLE calls; --", "%", "_", "\\", "\x00", "' UNION SELECT raw FROM calls --",
                 "../../etc/passwd", "<script>alert(1)</script>", "ＭÜЛЛΕR", "🙂" * 50, "7d", "24h", "call", "missed"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(SQL_FRAGMENTS),
    st.text(max_size=200),
    st.tuples(st.sampled_from(SQL_FRAGMENTS), st.integers(200, 2000)).map(lambda pair: pair[0] * pair[1]),
)
HOSTILE = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=6), st.dictionaries(st.sampled_from(["at", "kind", "id", "cursors", "page", "x"]),
                                                    children, max_size=5)), max_leaves=12)
SERVER_CALLBACKS = ["ongoing-grid.rowData", "activity-grid.rowData", "activity-pager.data", "url.search",
                    "activity-download.data", "activity-company.options", "stats-cards.children",
                    "memory-badge.children", "self-cost-table.children"]


@pytest.fixture(scope="module")
def client(seeded_sqlite, tmp_path_factory):
    from app import create_app
    from services import EXTENSION_KEY
    from tests.conftest import SEED_NOW

    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False},
                     instance_path=tmp_path_factory.mktemp("hostile"))
    services = app.server.extensions[EXTENSION_KEY]
    services.now = lambda: SEED_NOW
    yield DashClient(app.server)
    services.shutdown()


@pytest.mark.parametrize("first_output", SERVER_CALLBACKS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_input_gets_an_answer_not_a_server_error(client, first_output, data):
    dependency = client.dependency(first_output)
    inputs = {f"{i['id']}.{i['property']}": data.draw(HOSTILE) for i in dependency["inputs"]}
    state = {f"{s['id']}.{s['property']}": data.draw(HOSTILE) for s in dependency["state"]}
    response = client.post(client.payload(first_output, inputs, state))
    assert response.status_code in (200, 204, 400), response.status_code
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "SELECT" not in body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=500), HOSTILE.map(lambda value: json.dumps(value).encode())))
def test_malformed_or_forged_bodies_are_refused_with_400(client, body):
    response = client.client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.get_json()


SUPPORT_CALLBACKS = ["ongoing-grid.rowData", "activity-grid.rowData", "activity-download.data",
                     "activity-company.options"]


@pytest.fixture(scope="module")
def support_client(seeded_sqlite, tmp_path_factory):
    """A support user of company 1, signed in; and the name of every company."""
    import sqlalchemy as sa

    from access.users import UserStore, default_users_url
    from app import create_app
    from services import EXTENSION_KEY
    from tests.conftest import SEED_NOW

    instance = tmp_path_factory.mktemp("hostile-support")
    store = UserStore(default_users_url(instance))
    store.add("sam", "support", (1,), "correct horse battery staple")
    store.dispose()
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False}, instance_path=instance)
    services = app.server.extensions[EXTENSION_KEY]
    services.now = lambda: SEED_NOW
    with services.reader.connect() as connection:
        names = dict(connection.execute(sa.text("SELECT id, name FROM companies")).all())
    yield DashClient(app.server, login=("sam", "correct horse battery staple")), names
    services.shutdown()


def _rows_of(answer: dict) -> list[dict]:
    rows = []
    for props in answer.get("response", {}).values():
        for value in props.values():
            if isinstance(value, list):
                rows += [row for row in value if isinstance(row, dict)]
    return rows


@pytest.mark.parametrize("first_output", SUPPORT_CALLBACKS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_input_from_a_support_user_stays_within_its_companies_and_masks_phones(support_client, first_output,
                                                                                 data):
    client, names = support_client
    dependency = client.dependency(first_output)
    draw_companies = st.one_of(HOSTILE, st.lists(st.sampled_from(sorted(names)), max_size=3))
    inputs = {f"{i['id']}.{i['property']}": data.draw(HOSTILE) for i in dependency["inputs"]}
    state = {f"{s['id']}.{s['property']}": data.draw(draw_companies if s["id"] == "activity-company" else HOSTILE)
             for s in dependency["state"]}
    response = client.post(client.payload(first_output, inputs, state))
    assert response.status_code in (200, 204, 400), response.status_code
    if response.status_code != 200:
        return
    answer = response.get_json()
    for row in _rows_of(answer):
        if "co" in row:
            assert row["co"] == names[1]
        if "value" in row and "label" in row:  # a company option
            assert row["value"] == 1
        for phone_field in ("ph", "from", "to"):
            assert sum(character.isdigit() for character in row.get(phone_field, "")) <= 3
    download = answer.get("response", {}).get("activity-download", {}).get("data")
    if download:
        for cells in csv.DictReader(io.StringIO(download["content"])):
            assert cells["company"] == names[1]
            assert sum(character.isdigit() for character in cells["phone"]) <= 3
