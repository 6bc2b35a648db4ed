"""Refuse malformed or unknown callback requests with a 400 before Dash sees them.

Dash trusts the body of POST /_dash-update-component: an unknown output, a list
where an object belongs or a missing field ends in a 500. Here the body must be
an object naming a registered callback by its outputs, with `inputs` (and
`state`) as lists of {id, property, value} objects. Anything else gets a short
JSON error and never reaches a callback; a callback the viewer's role may not
use gets a 403.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

from flask import Flask, Response, jsonify, request

from access.dash_internals import DASH_COMPONENT_SUITES_PATH, DASH_UPDATE_PATH, split_fingerprint
from access.request_context import this_request
from access.work_limits import Tarpit

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32  # the renderer's bodies nest 5 levels; a filter value a few more
# The longest list a callback body may hold anywhere: the feed's pager keeps up to 1,000 cursors, a filter a few
# choices. Each callback caps its own lists much lower (widgets/choices.py); this bounds what any callback is
# handed at all.
MAX_LIST_ITEMS = 1_100


def json_error(status: int, message: str) -> Response:
    """Return a short JSON error, never a page or a stack trace."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def output_specs(output_key: str) -> list[dict[str, str]]:
    """Return the {id, property} of each output a callback key ("..a.b...c.d.." or "a.b") names, as the
    renderer sends them (without a duplicate output's "@hash")."""
    specs = []
    for part in output_key.strip(".").split("..."):
        component_id, prop = part.rsplit(".", 1)
        specs.append({"id": component_id, "property": prop.split("@")[0]})
    return specs


def callback_body(dependency: dict, inputs: Mapping[str, Any], state: Mapping[str, Any] | None = None,
                  changed: Sequence[str] = ()) -> dict[str, Any]:
    """Return the body the Dash renderer posts for a callback (an entry of /_dash-dependencies), with the
    values of its inputs and state as {"id.prop": value}: the body this module checks."""
    def specs(entries: list[dict], values: Mapping[str, Any]) -> list[dict]:
        return [{"id": entry["id"], "property": entry["property"],
                 "value": values.get(f"{entry['id']}.{entry['property']}")} for entry in entries]

    outputs = output_specs(dependency["output"])
    multiple = dependency["output"].startswith("..")
    return {"output": dependency["output"], "outputs": outputs if multiple else outputs[0],
            "inputs": specs(dependency["inputs"], inputs), "state": specs(dependency["state"], state or {}),
            "changedPropIds": list(changed)}


class BadCallbackRequest(ValueError):
    """The request is not a callback this app has."""


def _pairs(entries: Any, field: str) -> list[tuple[str, str]]:
    if not isinstance(entries, list):
        raise BadCallbackRequest(f"'{field}' must be a list")
    for entry in entries:
        # Pattern-matching callbacks send lists of entries; this app has none.
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                or not isinstance(entry.get("property"), str):
            raise BadCallbackRequest(f"every entry of '{field}' needs a string id and property")
    return [(entry["id"], entry["property"]) for entry in entries]


def _check_text_and_depth(body: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH, a list longer than MAX_LIST_ITEMS and text that is not valid
    Unicode (a lone surrogate such as \\ud800, which JSON allows and UTF-8 cannot encode), walking the body
    without recursion."""
    pending = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BadCallbackRequest(f"the body is nested more than {MAX_DEPTH} levels deep")
        pending += _checked_children(value, depth)


def _checked_children(value: Any, depth: int) -> list[tuple[Any, int]]:
    """Return what a value of the body holds, each with its depth (a dict's keys at the dict's own), once
    the value itself passes: a list no longer than MAX_LIST_ITEMS, text that UTF-8 can encode."""
    if isinstance(value, dict):
        return [(key, depth) for key in value] + [(item, depth + 1) for item in value.values()]
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise BadCallbackRequest(f"a list in the body holds more than {MAX_LIST_ITEMS:,} items")
        return [(item, depth + 1) for item in value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadCallbackRequest("the body holds text that is not valid Unicode") from None
    return []


def server_callbacks(callback_map: Mapping[str, dict]) -> dict[str, dict]:
    """Return the callbacks that run on the server, by output key (clientside ones run in the browser)."""
    return {key: entry for key, entry in callback_map.items() if "callback" in entry}


def _parsed_object(raw: bytes) -> dict[str, Any]:
    """Return the body as a JSON object, refusing one too large, not JSON or not an object."""
    if len(raw) > MAX_BODY_BYTES:  # MAX_CONTENT_LENGTH refuses these first; kept where the body is parsed
        raise BadCallbackRequest("request too large")
    try:
        body = json.loads(raw or b"null")
    except RecursionError:
        raise BadCallbackRequest(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        raise BadCallbackRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadCallbackRequest("the body must be a JSON object")
    return body


def _check_outputs(body: dict[str, Any]) -> None:
    """Refuse `outputs` that are not the outputs the body's `output` key names, in order."""
    expected = output_specs(body["output"])
    outputs = body.get("outputs")
    sent = outputs if isinstance(outputs, list) and body["output"].startswith("..") else [outputs]
    # A duplicate output's "@hash" is compared without it, whether the renderer sends it or not.
    if not isinstance(outputs, (dict, list)) or [(component, prop.split("@")[0]) for component, prop in
                                                 _pairs(sent, "outputs")] != [(o["id"], o["property"]) for o in expected]:
        raise BadCallbackRequest("'outputs' must be the callback's outputs")


def _check_inputs_and_state(body: dict[str, Any], callback: dict) -> None:
    """Refuse `inputs` or `state` that are not the callback's own, in order (a missing `state` is none)."""
    for field, missing in (("inputs", None), ("state", [])):
        if _pairs(body.get(field, missing), field) != [(entry["id"], entry["property"]) for entry in callback[field]]:
            raise BadCallbackRequest(f"'{field}' must be the callback's {field}, in order")


def check_callback_body(raw: bytes, callbacks: Mapping[str, dict]) -> dict[str, Any]:
    """Return the parsed body of a well-formed request for one of these server callbacks (by output key, as
    in Dash's callback map), else raise BadCallbackRequest: its outputs, inputs and state must be exactly the
    callback's own, as the renderer sends them."""
    body = _parsed_object(raw)
    _check_text_and_depth(body)
    callback = callbacks.get(body.get("output")) if isinstance(body.get("output"), str) else None
    if callback is None:
        raise BadCallbackRequest("no such callback")
    _check_outputs(body)
    _check_inputs_and_state(body, callback)
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(item, str) for item in changed):
        raise BadCallbackRequest("'changedPropIds' must be a list of strings")
    return body


def is_registered_script(dash_app, path: str) -> bool:
    """Tell whether a /_dash-component-suites/ path names a file Dash serves; Dash itself answers any other
    with a 500 and logs every path it has."""
    package, _, fingerprinted = path[len(DASH_COMPONENT_SUITES_PATH):].partition("/")
    return package in dash_app.registered_paths \
        and split_fingerprint(fingerprinted)[0] in dash_app.registered_paths[package]


def parsed_callback_body() -> dict[str, Any] | None:
    """Return the body of this callback request as the guard parsed and accepted it, or None (not a callback
    request, or one refused before the guard or as malformed by it: such a body is never read again)."""
    return this_request().callback_body


def install_callback_guard(server: Flask, dash_app, may_call: Callable[[str], bool],
                           retry_after: Callable[[], int | None] = lambda: None, tarpit: Tarpit | None = None) -> None:
    """Check every callback request against the app's own callbacks and what the viewer may use; refuse a
    viewer over their request rate (`retry_after` counts the request and says how long to wait, or None), held a
    moment in the tarpit first."""

    @server.before_request
    def guard() -> Response | None:
        if request.path.startswith(DASH_COMPONENT_SUITES_PATH):
            return None if is_registered_script(dash_app, request.path) else json_error(404, "no such file")
        if request.path != DASH_UPDATE_PATH:
            return None
        if request.method != "POST":
            return None
        # Counted before the body is even parsed: a flood's surplus costs the least it can.
        wait = retry_after()
        if wait is not None:
            if tarpit is not None:
                tarpit.hold(wait)
            response = json_error(429, f"Too many requests: try again in {wait} s.")
            response.headers["Retry-After"] = str(wait)
            return response
        if request.mimetype != "application/json":  # what Dash reads it as; refused before the body is read
            return json_error(415, "the body must be sent as application/json")
        try:
            body = check_callback_body(request.get_data(cache=True), server_callbacks(dash_app.callback_map))
        except BadCallbackRequest as error:
            return json_error(400, str(error))
        # Read by the response-size log through parsed_callback_body (only a body the guard accepted).
        this_request().callback_body = body
        if not may_call(body["output"]):
            return json_error(403, "this callback is not for your role")
        return None
