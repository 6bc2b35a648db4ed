"""A wrong method or content type gets the short JSON answer every other refusal gets, not werkzeug's HTML page."""
from __future__ import annotations

import json

import pytest

from tests.support.dash_client import DashClient

ONGOING = ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})


@pytest.fixture
def demo(make_dashboard, seeded_sqlite):
    return make_dashboard(seeded_sqlite.url, MEMORY_SAMPLER=False)


@pytest.mark.parametrize("method, path", [("put", "/"), ("delete", "/_dash-layout"), ("post", "/_dash-dependencies"),
                                          ("post", "/healthz"), ("patch", "/_dash-update-component"),
                                          ("delete", "/login")])
def test_a_wrong_method_gets_405_as_json_with_the_allowed_methods(demo, method, path):
    response = getattr(demo.server.test_client(), method)(path)
    assert response.status_code == 405
    assert response.mimetype == "application/json" and "is not allowed here" in response.get_json()["error"]
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]
    assert b"<html" not in response.data.lower()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None,
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_a_callback_body_of_another_content_type_gets_415_as_json(demo, content_type):
    client = DashClient(demo.server)
    body = json.dumps(client.payload(*ONGOING))
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.client.post("/_dash-update-component", data=body, headers=headers)
    assert response.status_code == 415
    assert response.get_json() == {"error": "the body must be sent as application/json"}


def test_the_same_body_as_json_is_served(demo):
    client = DashClient(demo.server)
    response = client.client.post("/_dash-update-component", data=json.dumps(client.payload(*ONGOING)),
                                  content_type="application/json; charset=utf-8")
    assert response.status_code == 200
