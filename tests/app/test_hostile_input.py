"""Hostile input to every server callback: a clear message or an empty result, never a 5xx or a stack trace.

Hypothesis fills each callback's inputs and state with what a forged request could
carry: wrong types, huge strings, SQL fragments, unicode, negative or huge
numbers, nested lists and objects, impossible cursors; and, starting from the
real /_dash-dependencies, bodies of the wrong shape: fields dropped, inputs
missing, extra or renamed, outputs short, another callback's outputs.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clock import FakeClock
from tests.support.databases import SEED_NOW
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
    from widgets.services import EXTENSION_KEY

    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False},
                     instance_path=tmp_path_factory.mktemp("hostile"), clock=FakeClock(SEED_NOW))
    services = app.server.extensions[EXTENSION_KEY]
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
    assert response.status_code in (200, 204, 400, 413), response.status_code
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "SELECT" not in body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=500), HOSTILE.map(lambda value: json.dumps(value).encode())))
def test_malformed_or_forged_bodies_are_refused_with_400(client, body):
    response = client.client.post("/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert "error" in response.get_json()


def _server_errors(records: list[logging.LogRecord]) -> list[str]:
    """The log lines a request must never cause: errors, tracebacks, Dash's list of registered scripts."""
    return [record.getMessage()[:300] for record in records
            if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in record.getMessage()
            or "registered" in record.getMessage()]


ONGOING = ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})


def _forged_bodies(client: DashClient) -> dict[str, bytes]:
    """Forged bodies that Dash on its own answers with a 500 and a traceback."""
    def body(first_output, inputs, state=None, edit=lambda payload: None) -> bytes:
        payload = client.payload(first_output, inputs, state)
        edit(payload)
        return json.dumps(payload).encode()

    surrogate = "\ud800"
    return {
        "10,000 [": b"[" * 10_000,
        "nested 100 deep in a value": body("url.search", {"activity-search.value": json.loads("[" * 100 + "]" * 100)}),
        "lone surrogate in the search": body("url.search", {"activity-search.value": surrogate}),
        "lone surrogate in url.search": body("activity-grid.rowData", {"url.search": "?q=" + surrogate}),
        "lone surrogate in the export": body("activity-download.data", {"activity-export.n_clicks": 1},
                                             {"activity-search.value": surrogate + "x"}),
        "lone surrogate in a key": body(*ONGOING, edit=lambda p: p.update({surrogate: 1})),
        "inputs: []": body(*ONGOING, edit=lambda p: p.update(inputs=[])),
        "an extra input": body(*ONGOING, edit=lambda p: p["inputs"].append(
            {"id": "activity-search", "property": "value", "value": "x"})),
        "an input renamed": body(*ONGOING, edit=lambda p: p["inputs"][0].update(property="disabled")),
        "no outputs": body(*ONGOING, edit=lambda p: p.pop("outputs")),
        "short outputs": body(*ONGOING, edit=lambda p: p.update(outputs=p["outputs"][:1])),
        "outputs of one output": body(*ONGOING, edit=lambda p: p.update(outputs=p["outputs"][0])),
        "state missing": body("activity-pager.data", {"activity-older.n_clicks": 1}, edit=lambda p: p.pop("state")),
        "a clientside output": json.dumps({
            "output": "ongoing-interval.disabled", "outputs": {"id": "ongoing-interval", "property": "disabled"},
            "inputs": [{"id": "polling-paused", "property": "data", "value": True},
                       {"id": "page-visibility", "property": "data", "value": "visible"}],
            "changedPropIds": ["polling-paused.data"]}).encode(),
    }


def test_each_forged_body_of_the_issue_gets_400_and_leaves_no_traceback(client, caplog):
    answers = {}
    with caplog.at_level(logging.INFO):
        for name, body in _forged_bodies(client).items():
            response = client.client.post("/_dash-update-component", data=body, content_type="application/json")
            answers[name] = (response.status_code, "error" in (response.get_json(silent=True) or {}))
    assert answers == {name: (400, True) for name in answers}
    assert _server_errors(caplog.records) == []


@pytest.mark.parametrize("path", [
    "/_dash-component-suites/no_such_package/x.js", "/_dash-component-suites/dash/no/such/file.js",
    "/_dash-component-suites/dash/dash-renderer/build/no_such_renderer.v9_9_9m123.min.js",
    "/_dash-component-suites/dash/../../../etc/passwd", "/_dash-component-suites/os/__init__.py",
    "/_dash-component-suites/dash/", "/_dash-component-suites/%00/x.js"])
def test_an_unknown_script_path_gets_404_without_listing_the_registered_ones(client, caplog, path):
    with caplog.at_level(logging.INFO):
        response = client.client.get(path)
    assert response.status_code == 404 and response.get_json() == {"error": "no such file"}
    assert _server_errors(caplog.records) == []


def test_the_page_s_own_scripts_are_still_served(client):
    index = client.client.get("/").get_data(as_text=True)
    scripts = [src for src in __import__("re").findall(r'src="([^"]+)"', index) if "_dash-component-suites" in src]
    assert scripts and all(client.client.get(src).status_code == 200 for src in scripts)


def _shape(payload) -> tuple | None:
    """The parts of a body that name the callback: output key, outputs, inputs and state (ids and properties)."""
    def pairs(entries) -> tuple:
        return tuple((entry["id"], entry["property"]) for entry in entries)

    try:
        outputs = payload["outputs"]
        return (payload["output"], type(outputs), pairs(outputs if isinstance(outputs, list) else [outputs]),
                pairs(payload["inputs"]), pairs(payload.get("state", [])))
    except (KeyError, TypeError, AttributeError):
        return None


@st.composite
def structurally_wrong(draw, payload: dict, other_outputs: list[str]) -> dict:
    """Change the shape of a real callback body the way a forger would, one to three times."""
    forged = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(["output", "outputs", "inputs", "state", "changedPropIds"]))
        action = draw(st.sampled_from(["drop", "replace", "truncate", "extend", "rename", "reorder", "swap"]))
        value = forged.get(field)
        if action == "drop":
            forged.pop(field, None)
        elif action == "replace":
            forged[field] = draw(HOSTILE)
        elif action == "swap":
            forged["output"] = draw(st.sampled_from(other_outputs))
        elif isinstance(value, list) and action == "truncate":
            forged[field] = value[:draw(st.integers(0, max(len(value) - 1, 0)))]
        elif isinstance(value, list) and action == "extend":
            forged[field] = value + draw(st.lists(st.one_of(HOSTILE, st.builds(dict, id=st.text(max_size=20),
                                                                               property=st.text(max_size=20))),
                                                  min_size=1, max_size=3))
        elif isinstance(value, list) and value and action == "reorder":
            forged[field] = list(reversed(value))
        elif action == "rename" and isinstance(value, (list, dict)) and value:
            entry = value[draw(st.integers(0, len(value) - 1))] if isinstance(value, list) else value
            if isinstance(entry, dict):
                entry[draw(st.sampled_from(["id", "property"]))] = draw(st.one_of(st.text(max_size=30), HOSTILE))
    return forged


@pytest.mark.parametrize("first_output", SERVER_CALLBACKS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_structurally_wrong_bodies_from_the_real_dependencies_get_4xx_and_no_traceback(client, first_output,
                                                                                      data, caplog):
    dependency = client.dependency(first_output)
    values = {f"{entry['id']}.{entry['property']}": None for entry in dependency["inputs"] + dependency["state"]}
    payload = client.payload(first_output, values, values)
    other_outputs = [d["output"] for d in client.dependencies if d["output"] != dependency["output"]] \
        + ["ongoing-interval.disabled", "..theme.data...theme-button.children.."]
    forged = data.draw(structurally_wrong(payload, other_outputs))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = client.client.post("/_dash-update-component", data=json.dumps(forged),
                                      content_type="application/json")
    if _shape(forged) != _shape(payload):
        assert response.status_code in (400, 413), (response.status_code, forged)
    else:
        assert response.status_code in (200, 204, 400, 413), response.status_code
    assert _server_errors(caplog.records) == []


SUPPORT_CALLBACKS = ["ongoing-grid.rowData", "activity-grid.rowData", "activity-download.data",
                     "activity-company.options"]


@pytest.fixture(scope="module")
def support_client(seeded_sqlite, tmp_path_factory):
    """A support user of company 1, signed in; and the name of every company."""
    import sqlalchemy as sa

    from access.users import UserStore, default_users_url
    from app import create_app
    from widgets.services import EXTENSION_KEY
    from tests.support.databases import SEED_NOW

    instance = tmp_path_factory.mktemp("hostile-support")
    store = UserStore(default_users_url(instance))
    store.add("sam", "support", (1,), "correct horse battery staple")
    store.dispose()
    # Hundreds of forged bodies in a few seconds: this test is about their shapes, not their rate.
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False, "CALLBACK_RATE_LIMIT": "none"},
                     instance_path=instance, clock=FakeClock(SEED_NOW))
    services = app.server.extensions[EXTENSION_KEY]
    with services.reader.connect() as connection:
        names = dict(connection.execute(sa.text("SELECT id, name FROM companies")).all())
    yield DashClient(app.server, login=("sam", "correct horse battery staple")), names
    services.shutdown()


def _rows_of(answer: dict) -> list[dict]:
    """Every row-like dict of the answer: grid rows and the company choices (not the statuses to choose from)."""
    rows = []
    for component, props in answer.get("response", {}).items():
        for prop, value in props.items():
            if isinstance(value, list) and (prop, component) != ("options", "activity-status"):
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
    assert response.status_code in (200, 204, 400, 413), response.status_code
    if response.status_code != 200:
        return
    answer = response.get_json()
    for row in _rows_of(answer):
        if "co" in row:
            assert row["co"] == names[1]
        if "value" in row and "label" in row:  # a company option
            assert row["value"] == 1
        for phone_field in ("ph", "caller"):
            assert sum(character.isdigit() for character in row.get(phone_field, "")) <= 3
    download = answer.get("response", {}).get("activity-download", {}).get("data")
    if download:
        for cells in csv.DictReader(io.StringIO(download["content"])):
            assert cells["company"] == names[1]
            assert sum(character.isdigit() for character in cells["phone"]) <= 3


def test_a_duplicate_output_is_accepted_with_or_without_its_hash(client):
    dependency = client.dependency("activity-grid.rowData")
    payload = client.payload("activity-grid.rowData", {"activity-interval.n_intervals": 1})
    with_hash = [part.rsplit(".", 1)[1] for part in dependency["output"].strip(".").split("...")]
    assert any("@" in prop for prop in with_hash)
    for output, prop in zip(payload["outputs"], with_hash):
        output["property"] = prop
    assert client.post(payload).status_code in (200, 204)
