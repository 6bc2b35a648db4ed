"""Masking a support user cannot undo: one number in every shape found, in every place it may be shown.

The attack: a call of the user's own company is given one number in many real-world shapes and opened as
support through the real callbacks. A masking that knows only the usual formats shows it whole in 8 lines:
E.164 without `+`, a WhatsApp id, a JSON number, percent-encoded, inside a file name, JSON escapes with
no-break spaces and en dashes, digits spoken one by one, another country's format; outside the payload, a
recording URL and a caller whose name is their number (in the ongoing grid, the details and the CSV).

The oracle is independent of the masking code: it decodes what was shown as a reader would (percent escapes,
JSON escapes, any script's digits, number words), keeps the digits, and looks for the number's core.
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from access.masking import mask_document, mask_field, mask_text
from schema.migrate import migrate
from schema.tables import calls, companies, customers
from tests.support.databases import SEED_NOW
from tests.support.dash_client import DashClient
from tests.support.users import ACTIVITY_STATE, PASSWORD, SUPPORT_COMPANY

NUMBER = "4915112345678"  # +49 151 12345678
CORE = "1511234"  # seven digits in the middle: shown, the number is readable
US_CORE = "4155552"  # (415) 555-2671
WORDS = {"zero": "0", "null": "0", "one": "1", "eins": "1", "two": "2", "zwei": "2", "three": "3", "drei": "3",
         "four": "4", "vier": "4", "five": "5", "fünf": "5", "six": "6", "sechs": "6", "seven": "7",
         "sieben": "7", "eight": "8", "acht": "8", "nine": "9", "neun": "9"}

# Every shape of the attack and its kin: (name, text). Each holds +49 151 12345678 or (415) 555-2671.
SHAPES = [
    ("E.164 without +", "caller 4915112345678 rang"),
    ("E.164", "+4915112345678"),
    ("00 prefix", "0049 151 12345678"),
    ("national", "0151 12345678"),
    ("national with (0)", "+49 (0)151 1234 5678"),
    ("WhatsApp id", "4915112345678@s.whatsapp.net"),
    ("SIP URI", "sip:+4915112345678@trunk.example:5060"),
    ("tel URI", "tel:+49-151-12345678"),
    ("percent-encoded +", "https://rec.example/get?From=%2B4915112345678&To=%2B4930123"),
    ("percent-encoded digits", "From=%34%39%31%35%31%31%32%33%34%35%36%37%38"),
    ("file name", "/rec/4915112345678_20261207.mp3"),
    ("no-break spaces", "+49\u00a0151\u00a012345678"),
    ("narrow no-break spaces", "+49\u202f151\u202f1234\u202f5678"),
    ("en dashes", "0151\u20131234\u20135678"),
    ("non-breaking hyphens", "0151\u20111234\u20115678"),
    ("zero-width spaces", "0151\u200b1234\u200b5678"),
    ("full-width digits", "＋４９ １５１ １２３４５６７８"),
    ("Arabic-Indic digits", "٠١٥١١٢٣٤٥٦٧٨"),
    ("spoken digits", "my number is 0, 1, 5, 1, 1, 2, 3, 4, 5, 6, 7, 8, thanks"),
    ("spoken words", "zero one five one one two three four five six seven eight"),
    ("spoken German words", "null eins fünf eins eins zwei drei vier fünf sechs sieben acht"),
    ("dots", "0151.1234.5678"),
    ("slashes", "0151 / 123 456 78"),
    ("US national", "call (415) 555-2671 tomorrow"),
    ("US dotted", "415.555.2671"),
    ("UK", "+44 20 7946 0958 or 4915112345678"),
]


def readable_digits(shown: str) -> str:
    """Return the digits a person reads in a shown text, in order: escapes decoded, any script, spoken words."""
    text = unquote(shown)
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\b(" + "|".join(WORDS) + r")\b", lambda m: WORDS[m.group(1).lower()], text, flags=re.I)
    return "".join(str(unicodedata.decimal(ch)) for ch in unicodedata.normalize("NFKC", text)
                   if unicodedata.decimal(ch, None) is not None)


def leaks(shown: str) -> bool:
    digits = readable_digits(shown)
    return CORE in digits or US_CORE in digits or "79460" in digits


@pytest.mark.parametrize("name, text", SHAPES, ids=[name for name, _ in SHAPES])
def test_each_shape_is_masked_in_text_and_the_oracle_sees_it_unmasked(name, text):
    assert leaks(text), "the oracle must read the number in the shape as stored"
    assert not leaks(mask_text(text, "DE")), mask_text(text, "DE")
    assert not leaks(mask_text(text, "US"))


@pytest.mark.parametrize("name, text", SHAPES, ids=[name for name, _ in SHAPES])
def test_each_shape_is_masked_inside_json_as_stored_and_decoded(name, text):
    document = {"value": text, text: "as a key", "list": [{"deep": text}]}
    escaped = json.dumps(document)  # ensure_ascii: non-ASCII shapes as \\uXXXX escapes
    assert not leaks(mask_text(escaped, "DE"))
    assert not leaks(json.dumps(mask_document(json.loads(escaped), "DE"), ensure_ascii=False))


@pytest.mark.parametrize("number", [4915112345678, 4915112345678.0, -4915112345678, 14155552671])
def test_a_json_number_that_holds_a_phone_number_becomes_masked_text(number):
    masked = mask_document({"from": number})["from"]
    assert isinstance(masked, str) and not leaks(masked)


def test_what_masking_leaves_readable():
    # Dates and times, short counts and durations, names: masking is for numbers, not for everything.
    for text in ("2026-12-07T10:30:00Z", "2026-12-07 10:30:00", "took 125 s", "Anna Müller", "score 0.87"):
        assert mask_text(text) == text
    assert mask_document({"duration_ms": 123456, "ok": True, "none": None}) == \
        {"duration_ms": 123456, "ok": True, "none": None}
    assert mask_field(None) is None and mask_field(12) == 12


# --- through the real callbacks -------------------------------------------------------------------------------

PAYLOAD = {"event": "call_ended", "from": 4915112345678, "to": "4915112345678@s.whatsapp.net",
           "shapes": {name: text for name, text in SHAPES}, "recording": "/rec/4915112345678_20261207.mp3"}
TRANSCRIPT = "\n".join(f"caller: {text}" for _, text in SHAPES)
CALL_ID = 7


@pytest.fixture
def app_with_shapes(empty_database, secured):
    writer = empty_database.writer()
    migrate(writer)
    at = SEED_NOW - timedelta(minutes=3)
    with writer.begin() as connection:
        connection.execute(sa.text("ALTER TABLE calls ADD COLUMN recording_url VARCHAR(500)"))
        connection.execute(companies.insert(), [{"id": SUPPORT_COMPANY, "name": "Acme"}])
        # An unknown caller: the platform made a customer record whose name is the number.
        connection.execute(customers.insert(), [{"id": 1, "company_id": SUPPORT_COMPANY, "name": "+49 151 12345678",
                                                 "phone": "+4915112345678",
                                                 "email": "4915112345678@s.whatsapp.net"}])
        connection.execute(calls.insert(), [{
            "id": CALL_ID, "company_id": SUPPORT_COMPANY, "customer_id": 1, "customer_name": "4915112345678",
            "from_number": "4915112345678", "to_number": "+493055555555", "direction": "inbound",
            "status": "in_progress", "call_status": "in_progress", "start_timestamp": at, "created_at": at,
            "duration_sec": None, "raw": json.dumps(PAYLOAD), "transcript": TRANSCRIPT,
            "analysis": json.dumps({"summary": "Caller asked to be called back on (415) 555-2671",
                                    "caller_number": 14155552671})}])
        connection.execute(sa.text("UPDATE calls SET recording_url = :url WHERE id = :id"),
                           {"url": "https://rec.example/get?From=%2B4915112345678&CallSid=CA1", "id": CALL_ID})
    writer.dispose()
    return secured(empty_database.url, CALLBACK_RATE_LIMIT="none")


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (str(key), *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [str(value)] if value is not None else []


def _everything_shown(client: DashClient) -> dict[str, list[str]]:
    """Every text the viewer is sent about the call, by where it was shown."""
    buttons = {f"call-{column}-button.n_clicks": None for column in ("raw", "transcript", "analysis")}
    shown = {
        "ongoing grid": client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1}),
        "details": client.call("call-panel.hidden", {"url.search": f"?call={CALL_ID}", "call-interval.n_intervals": 0,
                                                     "refresh-signal.data": 0}, {"call-freshness.data": None}),
        "feed": client.call("activity-grid.rowData", {"activity-interval.n_intervals": 1},
                            {**ACTIVITY_STATE, "activity-company.value": None}),
        "history": client.call("customer-panel.hidden", {"url.search": "?customer=1", "refresh-signal.data": 0}),
    }
    for column in ("raw", "transcript", "analysis"):
        button = f"call-{column}-button.n_clicks"
        shown[f"payload {column}"] = client.call("call-payload.data", {**buttons, button: 1},
                                                 {"call-open.data": CALL_ID}, changed=[button])
    for export in ("activity-export.n_clicks", "activity-export-excel.n_clicks"):
        answer = client.call("activity-download.data", {export: 1}, {**ACTIVITY_STATE, "activity-company.value": None},
                             changed=[export])
        content = answer["activity-download.data"]["content"]
        shown[export] = [cell for row in csv.reader(io.StringIO(content.lstrip("\ufeff"))) for cell in row]
    return {place: _strings(value) for place, value in shown.items()}


def test_support_sees_no_shape_of_the_number_anywhere_and_admin_sees_them_all(app_with_shapes):
    support = _everything_shown(DashClient(app_with_shapes.server, login=("sam", PASSWORD)))
    leaked = {place: [text[:120] for text in texts if leaks(text)] for place, texts in support.items()}
    assert {place: texts for place, texts in leaked.items() if texts} == {}
    # The same places as an admin show the number: the oracle and the places are live.
    admin = _everything_shown(DashClient(app_with_shapes.server, login=("ada", PASSWORD)))
    shown_whole = {place for place, texts in admin.items() if any(leaks(text) for text in texts)}
    assert shown_whole >= {"ongoing grid", "details", "feed", "history", "payload raw", "payload transcript",
                           "payload analysis", "activity-export.n_clicks", "activity-export-excel.n_clicks"}


def test_support_keeps_the_per_key_pretty_printed_view(app_with_shapes):
    client = DashClient(app_with_shapes.server, login=("sam", PASSWORD))
    buttons = {f"call-{column}-button.n_clicks": None for column in ("raw", "transcript", "analysis")}
    data = client.call("call-payload.data", {**buttons, "call-raw-button.n_clicks": 1}, {"call-open.data": CALL_ID},
                       changed=["call-raw-button.n_clicks"])["call-payload.data"]
    assert [section["key"] for section in data["sections"]] == list(PAYLOAD)
    assert data["sections"][0]["text"] == '"call_ended"'
    assert "\n  " in next(section["text"] for section in data["sections"] if section["key"] == "shapes")
