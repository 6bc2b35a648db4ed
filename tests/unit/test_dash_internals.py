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
