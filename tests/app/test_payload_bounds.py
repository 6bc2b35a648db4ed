"""A payload under the cap must not grow without bound when it is prepared, nor end in a 500.

The attack: a 65 KB JSON nested 450 deep, pretty-printed as it is, comes back as 29.4 MB of JSON per open (eight
opens take up to 33 s, past gunicorn's timeout), and a 10 KB one nested 5,000 deep ends in HTTP 500 with a
RecursionError. Here both are opened through the real callbacks, as an admin and as support, on each backend: the
answer stays within about twice what the database returned, shows the text as stored with a note, and never fails.
"""
from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from queries.call_details import Payload
from schema.migrate import migrate
from schema.tables import calls, companies
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, SUPPORT_COMPANY
from widgets import call_details, payload_view

PAYLOAD = "call-payload.data"
PAYLOAD_KB = 64


def nested(depth: int, size: int) -> str:
    """Return a JSON array nested `depth` deep whose innermost array holds as many 1s as make `size` characters."""
    ones = max((size - 2 * depth + 1) // 2, 1)
    return "[" * depth + ",".join(["1"] * ones) + "]" * depth


DEEP_450 = nested(450, PAYLOAD_KB * 1024 - 100)  # laid out with indent=2: 29 MB
DEEP_5000 = nested(5_000, 10 * 1024)  # json.loads: RecursionError
PAYLOADS = {1: DEEP_450, 2: DEEP_5000, 3: json.dumps({"from": "+4915112345678", "deep": json.loads(nested(10, 200))})}


@pytest.fixture
def app_with_payloads(empty_database, secured):
    writer = empty_database.writer()
    migrate(writer)
    at = datetime(2026, 3, 10, 11, 0, 0)
    row = {"company_id": SUPPORT_COMPANY, "from_number": "+4915112345678", "to_number": "+493055555555",
           "direction": "inbound", "status": "completed", "call_status": "ended", "start_timestamp": at,
           "created_at": at, "duration_sec": 95}
    with writer.begin() as connection:
        connection.execute(companies.insert(), [{"id": SUPPORT_COMPANY, "name": "Acme"}])
        connection.execute(calls.insert(), [{**row, "id": call_id, "raw": raw} for call_id, raw in PAYLOADS.items()])
    writer.dispose()
    return secured(empty_database.url, PAYLOAD_PREVIEW_KB=PAYLOAD_KB, CALLBACK_RATE_LIMIT="none")


def open_raw(client: DashClient, call_id: int):
    inputs = {f"call-{column}-button.n_clicks": None for column in ("raw", "transcript", "analysis")}
    button = "call-raw-button.n_clicks"
    return client.post(client.payload(PAYLOAD, {**inputs, button: 1}, {"call-open.data": call_id}, changed=[button]))


@pytest.mark.parametrize("user", ["ada", "sam"])
@pytest.mark.parametrize("call_id", [1, 2])
def test_a_deeply_nested_payload_is_shown_as_stored_within_twice_its_size(app_with_payloads, user, call_id):
    client = DashClient(app_with_payloads.server, login=(user, PASSWORD))
    started = time.perf_counter()
    response = open_raw(client, call_id)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    stored = PAYLOADS[call_id]
    assert len(response.data) < 2 * len(stored) + 4096, len(response.data)
    data = response.get_json()["response"]["call-payload"]["data"]
    assert "shown as stored: nested more than" in data["note"]
    [shown] = [section["text"] for section in data["sections"]]
    # As stored: masked for support, where a long run of 1s reads as a number spoken digit by digit.
    assert shown == stored if user == "ada" else shown.replace("•", "1") == stored
    assert elapsed < 5, elapsed


def test_a_payload_within_the_depth_is_laid_out_per_key_and_masked(app_with_payloads):
    client = DashClient(app_with_payloads.server, login=("sam", PASSWORD))
    data = open_raw(client, 3).get_json()["response"]["call-payload"]["data"]
    assert [section["key"] for section in data["sections"]] == ["from", "deep"]
    assert "15112345678" not in json.dumps(data) and "678" in data["sections"][0]["text"]
    # A scalar key (read first, one line) is marked for the panel to show open; a nested one is not.
    assert [section["scalar"] for section in data["sections"]] == [True, False]


def test_a_layout_past_twice_the_size_is_given_up_early_and_the_text_shown_as_stored():
    many_levels = json.dumps([[[[[[[[[[[[[[[[[[[[[1] * 3000]]]]]]]]]]]]]]]]]]]])  # 20 deep: 40 spaces a line
    prepared = payload_view.prepare("Provider payload", many_levels, False, False, "DE")
    assert prepared.raw and "laid out it would be more than 2×" in prepared.note
    assert prepared.sections == [{"key": "Provider payload", "text": many_levels}]


def test_any_failure_while_preparing_shows_the_text_as_stored(monkeypatch):
    def broken(*_args):
        raise MemoryError("no")

    monkeypatch.setattr(payload_view, "mask_document", broken)
    data = call_details.payload_data(Payload("raw", '{"a": "x"}', 10), True, "DE")
    assert data["sections"] == [{"key": "Provider payload", "text": '{"a": "x"}'}]
    assert "it could not be laid out" in data["note"]


def test_a_text_that_cannot_be_masked_is_not_shown_at_all(monkeypatch):
    def broken(*_args):
        raise RuntimeError("no")

    monkeypatch.setattr(payload_view, "mask_text", broken)
    data = call_details.payload_data(Payload("transcript", "call me on 0151 12345678", 24), True, "DE")
    assert data["sections"] == [] and payload_view.NOT_MASKABLE in data["note"]
    shown_to_admin = call_details.payload_data(Payload("transcript", "call me on 0151 12345678", 24), False, "DE")
    assert shown_to_admin["sections"][0]["text"] == "call me on 0151 12345678"
