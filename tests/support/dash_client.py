"""Call a Dash app's callbacks over HTTP, as the browser does, through Flask's test client."""
from __future__ import annotations

import json
from typing import Any


class DashClient:
    """Posts to /_dash-update-component with the payload the Dash renderer would send."""

    def __init__(self, flask_app):
        self.client = flask_app.test_client()
        self.dependencies = json.loads(self.client.get("/_dash-dependencies").data)

    def dependency(self, first_output: str) -> dict:
        """Return the callback whose outputs start with `first_output` ("id.prop")."""
        for dependency in self.dependencies:
            if dependency["output"].lstrip(".").startswith(first_output):
                return dependency
        raise KeyError(first_output)

    def payload(self, first_output: str, inputs: dict[str, Any], state: dict[str, Any] | None = None,
                changed: list[str] | None = None) -> dict:
        dependency = self.dependency(first_output)

        def values(specs, given):
            return [{"id": spec["id"], "property": spec["property"],
                     "value": given.get(f"{spec['id']}.{spec['property']}")} for spec in specs]

        outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
                   for part in dependency["output"].strip(".").split("...")]
        return {"output": dependency["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": values(dependency["inputs"], inputs), "state": values(dependency["state"], state or {}),
                "changedPropIds": changed if changed is not None else list(inputs)[:1]}

    def post(self, payload: dict, headers: dict | None = None):
        return self.client.post("/_dash-update-component", data=json.dumps(payload),
                                content_type="application/json", headers=headers or {})

    def call(self, first_output: str, inputs: dict[str, Any], state: dict[str, Any] | None = None,
             changed: list[str] | None = None) -> dict:
        """Run the callback and return {"id.prop": value} of what it updated (204 gives {})."""
        response = self.post(self.payload(first_output, inputs, state, changed))
        assert response.status_code in (200, 204), response.status_code
        if response.status_code == 204:
            return {}
        body = json.loads(response.data)["response"]
        return {f"{component}.{prop}": value for component, props in body.items() for prop, value in props.items()}
