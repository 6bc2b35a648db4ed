"""Call a Dash app's callbacks over HTTP, as the browser does, through Flask's test client."""
from __future__ import annotations

import http.client
import json
import re
from typing import Any

from access.callback_guard import callback_body


class CallbackPayloads:
    """Builds the payload the Dash renderer would send for a callback, from the app's dependencies."""

    dependencies: list[dict]

    def dependency(self, first_output: str) -> dict:
        """Return the callback whose outputs start with `first_output` ("id.prop")."""
        for dependency in self.dependencies:
            if dependency["output"].lstrip(".").startswith(first_output):
                return dependency
        raise KeyError(first_output)

    def payload(self, first_output: str, inputs: dict[str, Any], state: dict[str, Any] | None = None,
                changed: list[str] | None = None) -> dict:
        return callback_body(self.dependency(first_output), inputs, state,
                             changed if changed is not None else list(inputs)[:1])


class DashClient(CallbackPayloads):
    """Posts to /_dash-update-component through Flask's test client, as the browser would."""

    def __init__(self, flask_app, login: tuple[str, str] | None = None):
        self.client = flask_app.test_client()
        if login is not None:
            response = sign_in(self.client, *login)
            assert response.status_code == 302, response.status_code
        self.from_page("")

    def from_page(self, prefix: str) -> "DashClient":
        """Ask as the renderer of the page whose requests come under this prefix does ("/wall": the wallboard's
        page), from now on: its callbacks, posted there."""
        self.prefix = prefix
        self.dependencies = json.loads(self.client.get(f"{prefix}/_dash-dependencies").data)
        return self

    def post(self, payload: dict, headers: dict | None = None):
        return self.client.post(f"{self.prefix}/_dash-update-component", data=json.dumps(payload),
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


def client_at(flask_app, address: str):
    """Return a test client whose requests come from this client address (for per-address limits)."""
    client = flask_app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, name: str, password: str, next_path: str = "/", **request_options):
    """Fill and send the login form with the client (its CSRF token included); return the response."""
    page = client.get("/login", **request_options)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post(f"/login?next={next_path}", data={"name": name, "password": password, "csrf_token": token},
                       **request_options)


def sign_out(client):
    """Press the page's sign-out button: post its form with the token the layout carries; return the response."""
    def tokens(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("name") == "csrf_token":
                yield node["props"]["value"]
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                yield from tokens(item)

    token = next(tokens(client.get("/_dash-layout").get_json()))
    return client.post("/logout", data={"csrf_token": token})


class HttpDashClient(CallbackPayloads):
    """Posts callbacks to a server listening on this machine, over real HTTP (one keep-alive connection)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.connection = http.client.HTTPConnection(host, port, timeout=timeout)
        status, body = self.request("GET", "/_dash-dependencies")
        assert status == 200, status
        self.dependencies = json.loads(body)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()  # a fresh connection next time, as a browser would open
            raise

    def call(self, first_output: str, inputs: dict[str, Any], state: dict[str, Any] | None = None) -> tuple[int, dict]:
        """Return the status and {"id.prop": value} of what the callback updated."""
        status, body = self.request("POST", "/_dash-update-component",
                                    json.dumps(self.payload(first_output, inputs, state)).encode())
        if status != 200:
            return status, {}
        answer = json.loads(body)["response"]
        return status, {f"{component}.{prop}": value for component, props in answer.items()
                        for prop, value in props.items()}
