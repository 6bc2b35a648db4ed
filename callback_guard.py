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

from flask import Flask, Response, g, jsonify, request

DASH_UPDATE_PATH = "/_dash-update-component"
MAX_BODY_BYTES = 256 * 1024


def json_error(status: int, message: str) -> Response:
    """Return a short JSON error, never a page or a stack trace."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def callback_body(dependency: dict, inputs: Mapping[str, Any], state: Mapping[str, Any] | None = None,
                  changed: Sequence[str] = ()) -> dict[str, Any]:
    """Return the body the Dash renderer posts for a callback (an entry of /_dash-dependencies), with the
    values of its inputs and state as {"id.prop": value}: the body this module checks."""
    def specs(entries: list[dict], values: Mapping[str, Any]) -> list[dict]:
        return [{"id": entry["id"], "property": entry["property"],
                 "value": values.get(f"{entry['id']}.{entry['property']}")} for entry in entries]

    outputs = []
    for part in dependency["output"].strip(".").split("..."):
        component_id, prop = part.rsplit(".", 1)
        outputs.append({"id": component_id, "property": prop.split("@")[0]})
    multiple = dependency["output"].startswith("..")
    return {"output": dependency["output"], "outputs": outputs if multiple else outputs[0],
            "inputs": specs(dependency["inputs"], inputs), "state": specs(dependency["state"], state or {}),
            "changedPropIds": list(changed)}


class BadCallbackRequest(ValueError):
    """The request is not a callback this app has."""


def _check_entries(body: dict[str, Any], field: str, required: bool) -> None:
    entries = body.get(field)
    if entries is None and not required:
        return
    if not isinstance(entries, list):
        raise BadCallbackRequest(f"'{field}' must be a list")
    for entry in entries:
        # Pattern-matching callbacks send lists of entries; this app has none.
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                or not isinstance(entry.get("property"), str):
            raise BadCallbackRequest(f"every entry of '{field}' needs a string id and property")


def check_callback_body(raw: bytes, known_outputs: set[str]) -> dict[str, Any]:
    """Return the parsed body of a well-formed request for a known callback, else raise BadCallbackRequest."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadCallbackRequest("request too large")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadCallbackRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadCallbackRequest("the body must be a JSON object")
    if body.get("output") not in known_outputs:
        raise BadCallbackRequest("no such callback")
    if not isinstance(body.get("outputs"), (dict, list)):
        raise BadCallbackRequest("'outputs' must describe the callback's outputs")
    _check_entries(body, "inputs", required=True)
    _check_entries(body, "state", required=False)
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(item, str) for item in changed):
        raise BadCallbackRequest("'changedPropIds' must be a list of strings")
    return body


def install_callback_guard(server: Flask, dash_app, may_call: Callable[[str], bool]) -> None:
    """Check every callback request against the app's own callbacks and what the viewer may use."""

    @server.before_request
    def guard() -> Response | None:
        if request.path != DASH_UPDATE_PATH:
            return None
        if request.method != "POST":
            return None
        try:
            # Kept for the response-size log, which needs to know the callback too.
            g.callback_body = check_callback_body(request.get_data(cache=True), set(dash_app.callback_map))
        except BadCallbackRequest as error:
            return json_error(400, str(error))
        if not may_call(g.callback_body["output"]):
            return json_error(403, "this callback is not for your role")
        return None
