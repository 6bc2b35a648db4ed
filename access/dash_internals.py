"""Every use of Dash's private API, and the paths of Dash's own requests, in one place.

Dash has no public way to walk a component tree, to tell which library a component comes from, to compute an
app's layout as a request would, to read its fingerprinted file names, to change the config it writes into
the page for the renderer, or to choose how its answers are written as JSON; Switchboard needs each (each
wrapper says why).
Checked against Dash 4.4.1: tests/unit/test_dash_internals.py fails, naming the wrapper, when an upgrade
removes or changes what one relies on.

It lives in access/, the lowest of the layers (it imports no other): the widgets, the monitoring and the
serving layers all import access, so each can use it without two packages importing each other. It imports
nothing from Dash itself, so the request checks that read the paths load no Dash.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import orjson

# Dash's own request paths (under the app's requests_pathname_prefix, "/" here).
DASH_LAYOUT_PATH = "/_dash-layout"
DASH_DEPENDENCIES_PATH = "/_dash-dependencies"
DASH_UPDATE_PATH = "/_dash-update-component"
DASH_COMPONENT_SUITES_PATH = "/_dash-component-suites/"


def descendants(component) -> Iterator[Any]:
    """Yield everything under a component, depth first: components at any depth, and the strings and numbers
    of a children list as they are.

    Component._traverse: the component ids of a page (which callbacks each page may run) and the component
    types a page needs scripts for can only be read off the tree, and Dash walks it no other way
    (iterating a component yields ids only)."""
    return component._traverse()


def with_descendants(component) -> list[Any]:
    """Return the component itself, then everything under it (descendants)."""
    return [component, *descendants(component)]


def component_type(item) -> tuple[str, str] | None:
    """Return a component's (library namespace, type name), e.g. ("dash_core_components", "Graph"); None for
    anything that is not a component.

    Component._namespace and _type: which library's scripts a page needs (serving/static_assets.py) is the
    library each of its components comes from, which Dash records only there."""
    namespace, kind = getattr(item, "_namespace", None), getattr(item, "_type", None)
    return (namespace, kind) if isinstance(namespace, str) and isinstance(kind, str) else None


def split_fingerprint(path: str) -> tuple[str, bool]:
    """Return a component-suites file path without the version Dash writes into its name
    ("dash_table/bundle.v5_2_1m1700000000.js" gives "dash_table/bundle.js"), and whether it had one.

    dash.fingerprint.check_fingerprint, a module Dash does not document: which file a URL names (to serve,
    cache and compress it) must be read the way Dash wrote it."""
    from dash.fingerprint import check_fingerprint  # on call: the request checks that read the paths load no Dash

    return check_fingerprint(path)


def layout_value(dash_app):
    """Return the layout the app serves this request (its layout function called, when it is one, with Dash's
    extra components around it).

    Dash._layout_value: app.layout gives the function itself; the page needs the layout this viewer gets, to
    list only the scripts of its components, and Dash computes that nowhere public."""
    return dash_app._layout_value()


class RendererConfigHook:
    """A Dash subclass's hook on the config Dash writes into the page for the renderer: mix it in before Dash
    (`class MyDash(RendererConfigHook, Dash)`) and override renderer_config.

    Dash._config: the page's config (which validation layout the renderer checks callbacks against, where it
    asks for its layout and callbacks) is built by this private method, and changed nowhere else. The
    override keeps Dash's keys and changes only those renderer_config touches."""

    def renderer_config(self, config: dict) -> dict:
        """Return the renderer's config given Dash's: Dash's unchanged unless a subclass overrides it."""
        return config

    def _config(self) -> dict:
        return self.renderer_config(super()._config())


# Dash writes every answer, layout and callback list with plotly's to_json_plotly, which tries orjson on the
# value and, when anything in it is not JSON by itself (a single component is enough), walks the whole value in
# Python to clean it first: for a polled answer that is a table of components, or a grid's rows beside a
# component, the walk is most of the answer's CPU. Given `default`, orjson calls Python for the components
# alone and writes the rest in C. Values orjson cannot write even so (a Decimal, a pandas object) go to plotly.
ANSWER_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY  # plotly's orjson engine's options
# What plotly escapes in its text (plotly.io._json._swap_orjson, private), so that an answer is safe in <script>.
HTML_UNSAFE = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _component_json(value):
    to_plotly_json = getattr(value, "to_plotly_json", None)
    if to_plotly_json is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_plotly_json()


def answer_json(value) -> str:
    """Return the JSON text plotly's to_json_plotly gives for `value`, without its walk through every value when
    a component is among them."""
    try:
        text = orjson.dumps(value, default=_component_json, option=ANSWER_JSON_OPTIONS).decode()
    except TypeError:
        from plotly.io.json import to_json_plotly

        return to_json_plotly(value)
    for unsafe, safe in HTML_UNSAFE:
        if unsafe in text:
            text = text.replace(unsafe, safe)
    return text


def write_json_with(encode: Callable[[Any], str]) -> None:
    """Make Dash write its answers, layouts and callback lists with `encode`.

    dash._callback.to_json and dash.dash.to_json: Dash imports plotly's writer into these two modules by name
    and offers no setting for it."""
    import dash._callback
    import dash.dash

    dash._callback.to_json = encode
    dash.dash.to_json = encode
