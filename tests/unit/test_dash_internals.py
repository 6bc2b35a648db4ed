"""What access/dash_internals.py relies on in Dash still holds: each failure names the wrapper a Dash upgrade broke,
so the fix starts in that one module instead of in a page that silently lost its scripts or its callbacks."""
from __future__ import annotations

import json
import re

import dash
from dash import Dash, dcc, html
from dash.development.base_component import Component

from access import dash_internals
from access.dash_internals import (DASH_COMPONENT_SUITES_PATH, RendererConfigHook, component_type, descendants,
                                   layout_value, split_fingerprint, with_descendants)

CHECKED = f"(access/dash_internals.py was checked against Dash 4.4.1; this is Dash {dash.__version__})"


def _private(owner, name: str, wrapper: str) -> None:
    assert callable(getattr(owner, name, None)), \
        f"{wrapper}: {owner.__name__}.{name} is gone or no longer callable {CHECKED}"


def _tree() -> html.Div:
    """A tree with components in a children list, text among them, a component as the only child, and depth."""
    return html.Div(id="root", children=[
        "text",
        html.Section(id="section", children=html.H2("Heading", id="heading")),
        dcc.Graph(id="chart"),
        html.Ul([html.Li(html.Span("deep", id="deep"))]),
    ])


def test_descendants_walks_every_nested_child():
    _private(Component, "_traverse", "descendants")
    tree = _tree()
    ids = [getattr(item, "id", None) for item in descendants(tree)]
    for wanted in ("section", "heading", "chart", "deep"):
        assert wanted in ids, f"descendants: Component._traverse no longer reaches '{wanted}' {CHECKED}"
    assert "text" in list(descendants(tree)), f"descendants: Component._traverse no longer yields text {CHECKED}"
    assert "root" not in ids, f"descendants: Component._traverse now yields the component itself {CHECKED}"
    assert with_descendants(tree)[0] is tree and len(with_descendants(tree)) == len(list(descendants(tree))) + 1


def test_component_type_names_the_library_and_type():
    graph, div = dcc.Graph(), html.Div()
    assert component_type(graph) == ("dash_core_components", "Graph"), \
        f"component_type: Component._namespace/_type of dcc.Graph changed {CHECKED}"
    assert component_type(div) == ("dash_html_components", "Div"), \
        f"component_type: Component._namespace/_type of html.Div changed {CHECKED}"
    assert component_type("text") is None and component_type(None) is None


def test_layout_value_is_the_layout_a_request_gets():
    _private(Dash, "_layout_value", "layout_value")
    app = Dash(__name__)
    built = html.Div(id="page")
    app.layout = lambda: built
    assert layout_value(app) is built, f"layout_value: Dash._layout_value no longer calls the layout function {CHECKED}"
    fixed = Dash(__name__)
    fixed.layout = built
    assert layout_value(fixed) is built, f"layout_value: Dash._layout_value no longer returns the layout {CHECKED}"


class _HookedDash(RendererConfigHook, Dash):
    def renderer_config(self, config: dict) -> dict:
        self.seen = dict(config)
        config.pop("validation_layout", None)
        config["requests_pathname_prefix"] = "/hooked/"
        return config


def test_the_renderer_config_hook_gets_dashs_config_and_its_answer_reaches_the_page():
    _private(Dash, "_config", "RendererConfigHook")
    app = _HookedDash(__name__)
    app.layout = html.Div(id="page")
    app.validation_layout = html.Div([html.Div(id="page"), html.Div(id="other")])
    page = app.server.test_client().get("/").get_data(as_text=True)
    seen = getattr(app, "seen", None)
    assert isinstance(seen, dict), f"RendererConfigHook: Dash no longer builds the page's config with _config {CHECKED}"
    for key in ("validation_layout", "requests_pathname_prefix"):  # the keys Switchboard changes
        assert key in seen, f"RendererConfigHook: Dash's _config no longer has '{key}' {CHECKED}"
    written = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
    assert written, f"RendererConfigHook: the page no longer carries Dash's config script {CHECKED}"
    config = json.loads(written.group(1))
    assert config["requests_pathname_prefix"] == "/hooked/" and "validation_layout" not in config, \
        f"RendererConfigHook: the page's config no longer comes from _config {CHECKED}"


def test_split_fingerprint_reads_dashs_file_names():
    assert split_fingerprint("dash_table/bundle.v5_2_1m1700000000.js") == ("dash_table/bundle.js", True), \
        f"split_fingerprint: dash.fingerprint.check_fingerprint reads names differently {CHECKED}"
    assert split_fingerprint("dash_table/bundle.js") == ("dash_table/bundle.js", False), \
        f"split_fingerprint: dash.fingerprint.check_fingerprint finds a version in a plain name {CHECKED}"


def test_dash_serves_its_requests_at_the_paths_named_once():
    app = Dash(__name__)
    app.layout = html.Div(id="page")
    rules = {rule.rule for rule in app.server.url_map.iter_rules()}
    for name in ("DASH_LAYOUT_PATH", "DASH_DEPENDENCIES_PATH", "DASH_UPDATE_PATH"):
        path = getattr(dash_internals, name)
        assert path in rules, f"{name}: Dash serves no {path} {CHECKED}"
    assert any(rule.startswith(DASH_COMPONENT_SUITES_PATH) for rule in rules), \
        f"DASH_COMPONENT_SUITES_PATH: Dash serves no {DASH_COMPONENT_SUITES_PATH} {CHECKED}"


def _answers() -> dict:
    """Values as Dash answers hold them: components in components, grid rows, numpy and datetime values, text
    that must not close a <script>, and a value only plotly's own walk can write."""
    import datetime
    import decimal

    import numpy as np

    return {
        "table": {"multi": True, "response": {"cost-table": {"children": html.Table([html.Tr([
            html.Td("a </script><b>", className="x"), html.Td(3, title="\u2028 line")])])}}},
        "rows": {"multi": True, "response": {"grid": {"rowData": [
            {"id": 1, "at": 1.5, "name": "Zoë", "none": None, "nan": float("nan")}] * 3},
            "badge": {"children": html.Span("3")}}},
        "numpy": {"values": np.arange(3), "one": np.int64(7), "f": np.float32(0.5)},
        "time": {"at": datetime.datetime(2026, 12, 8, 4, 0, 1)},
        "decimal": {"sum": decimal.Decimal("12.50"), "child": html.Div("x")},
        "graph": dcc.Graph(id="chart", figure={"data": [{"x": [1, 2], "y": [3, 4]}]}),
    }


def test_answers_are_written_as_plotly_writes_them():
    from plotly.io.json import to_json_plotly

    for name, value in _answers().items():
        assert dash_internals.answer_json(value) == to_json_plotly(value), name


def test_dash_writes_its_answers_with_the_writer_given():
    import dash._callback
    import dash.dash

    for module in (dash._callback, dash.dash):
        assert callable(getattr(module, "to_json", None)), \
            f"write_json_with: {module.__name__}.to_json is gone {CHECKED}"
    before = dash._callback.to_json, dash.dash.to_json
    written = []
    try:
        dash_internals.write_json_with(lambda value: written.append(value) or "{}")
        app = Dash(__name__)
        app.layout = html.Div([html.Button(id="button"), html.Div(id="out")], id="page")
        app.callback(dash.Output("out", "children"), dash.Input("button", "n_clicks"))(lambda clicks: html.B(clicks))
        client = app.server.test_client()
        client.get("/_dash-layout")
        assert written and written[0].id == "page", f"write_json_with: Dash's layout no longer goes through it {CHECKED}"
        client.post("/_dash-update-component", json={
            "output": "out.children", "outputs": {"id": "out", "property": "children"},
            "inputs": [{"id": "button", "property": "n_clicks", "value": 2}], "changedPropIds": ["button.n_clicks"]})
        assert written[-1]["response"]["out"]["children"].children == 2, \
            f"write_json_with: Dash's callback answers no longer go through it {CHECKED}"
    finally:
        dash._callback.to_json, dash.dash.to_json = before
