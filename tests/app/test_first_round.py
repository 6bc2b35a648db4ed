"""Every widget's data comes in the page's first round of callbacks.

The Dash renderer holds back a callback of the first load while any of its inputs may still be written: an
output of a server callback that is to run, or of any callback downstream of one (dash-renderer's getReadyCallbacks
and getAllSubsequentOutputsForCallback). A feed chained link → filters → pager → rows would wait three rounds,
and the call details and customer history one, behind a callback that set the filters from the link. This test
applies the renderer's rule to each role's own page, as the page's /_dash-dependencies and /_dash-layout give it.
"""
from __future__ import annotations

from collections import defaultdict

import pytest

from access.callback_guard import output_specs
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD
from widgets import registered

LOGINS = {"admin": "ada", "support": "sam", "ops": "olga", "wallboard": "wally"}
Prop = tuple[str, str]


def component_ids(node) -> set[str]:
    """Return the id of every component in a layout (as /_dash-layout serves it)."""
    ids, pending = set(), [node]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending += item
        elif isinstance(item, dict):
            props = item.get("props", {})
            if isinstance(props.get("id"), str):
                ids.add(props["id"])
            pending += [value for value in props.values() if isinstance(value, (dict, list))]
    return ids


def outputs_of(dependency: dict) -> list[Prop]:
    return [(spec["id"], spec["property"]) for spec in output_specs(dependency["output"])]


def inputs_of(dependency: dict) -> list[Prop]:
    return [(spec["id"], spec["property"]) for spec in dependency["inputs"]]


def held_back(dependencies: list[dict], on_page: set[str]) -> dict[str, list[Prop]]:
    """Return, for each callback the first load runs, the inputs that make the renderer hold it back for a
    server callback's answer."""
    page = [d for d in dependencies if all(component in on_page for component, _ in outputs_of(d))]
    first_load = [d for d in page if not d["prevent_initial_call"]
                  and all(component in on_page for component, _ in inputs_of(d))]
    by_input: dict[Prop, list[dict]] = defaultdict(list)
    for dependency in page:
        for prop in inputs_of(dependency):
            by_input[prop].append(dependency)

    def touched_after(dependency: dict) -> set[Prop]:
        touched, callbacks = set(), [dependency]
        while callbacks:
            new = {prop for callback in callbacks for prop in outputs_of(callback)} - touched
            touched |= new
            callbacks = [callback for prop in new for callback in by_input[prop]]
        return touched

    # A callback run in the browser (clientside) answers in the same turn: it holds nothing back a round trip.
    touched = set().union(*(touched_after(d) for d in first_load if not d.get("clientside_function")))
    return {d["output"]: [prop for prop in inputs_of(d) if prop in touched and prop not in outputs_of(d)]
            for d in first_load}


@pytest.fixture(scope="module")
def pages(tmp_path_factory, seeded_sqlite):
    from app import create_app
    from widgets.services import EXTENSION_KEY
    from tests.support.users import add_users

    instance = tmp_path_factory.mktemp("first-round")
    add_users(instance)
    app = create_app({"DATABASE_URL": seeded_sqlite.url, "MEMORY_SAMPLER": False}, instance_path=instance)
    clients = {role: DashClient(app.server, login=(login, PASSWORD)) for role, login in LOGINS.items()}
    yield {role: (client.dependencies, component_ids(client.client.get("/_dash-layout").get_json()))
           for role, client in clients.items()}
    app.server.extensions[EXTENSION_KEY].shutdown()


@pytest.mark.parametrize("role", sorted(LOGINS))
def test_every_widgets_data_is_asked_for_in_the_first_round(pages, role):
    dependencies, on_page = pages[role]
    waiting = held_back(dependencies, on_page)
    server = {d["output"] for d in dependencies if not d.get("clientside_function")}
    first_round = {key for key in waiting if key in server}
    # Each widget on the page that names a data callback has one in the first load ...
    data_outputs = {widget.response_output for widget in registered() if widget.response_output in on_page}
    asked = {component for key in first_round for component, _ in outputs_of({"output": key})}
    assert data_outputs <= asked
    assert role == "wallboard" or data_outputs, role
    # ... and no server callback of the first load waits for another one's answer.
    assert {key: waiting[key] for key in first_round if waiting[key]} == {}


def test_the_rule_holds_back_a_feed_chained_link_filters_pager_rows():
    """The check itself: a feed chained link → filters → pager → rows is held back twice."""
    dependencies = [
        {"output": "..url.search...activity-kind.value..", "inputs": [{"id": "url", "property": "search"},
                                                               {"id": "activity-kind", "property": "value"}],
         "prevent_initial_call": False},
        {"output": "activity-pager.data", "inputs": [{"id": "activity-kind", "property": "value"}],
         "prevent_initial_call": False},
        {"output": "activity-grid.rowData", "inputs": [{"id": "activity-pager", "property": "data"}],
         "prevent_initial_call": False},
        {"output": "call-panel.hidden", "inputs": [{"id": "url", "property": "search"}],
         "prevent_initial_call": False},
    ]
    waiting = held_back(dependencies, {"url", "activity-kind", "activity-pager", "activity-grid", "call-panel"})
    assert waiting["activity-pager.data"] == [("activity-kind", "value")]
    assert waiting["activity-grid.rowData"] == [("activity-pager", "data")]
    assert waiting["call-panel.hidden"] == [("url", "search")]
    assert waiting["..url.search...activity-kind.value.."] == []
