"""A transcript kept inside a JSON column, where the schema map says it lives, on each backend: read at the
database and cut at the cap, "none for this call" where the key is missing or null, another company's call not
found, the button wired through the real callbacks, and `inspect` proposing the entry."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from queries.call_details import NotFound, fetch_payload
from queries.schema_map import parse_schema_map
from schema.migrate import migrate
from schema.tables import calls, companies
from widgets import call_details
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, SUPPORT_COMPANY

PART_MAP = """
[calls]
payload = ["analysis", { name = "transcript", column = "raw", path = "transcript" },
           { name = "second_turn", column = "raw", path = "call.turns[1].text" }]
"""
TURNS = [{"role": "agent", "text": "Guten Tag, Praxis Weiß."}, {"role": "user", "text": "Einen Termin, bitte."}]
FIVE_MB = 5 * 1024 * 1024
CAP = 64 * 1024
OTHER_COMPANY = SUPPORT_COMPANY + 1
RAWS = {  # call id -> (company, raw)
    1: (SUPPORT_COMPANY, json.dumps({"id": "call_1", "transcript": TURNS,
                                     "call": {"turns": [{"text": "hallo"}, {"text": "zweite"}]}})),
    2: (OTHER_COMPANY, json.dumps({"transcript": "the other company's words"})),
    3: (SUPPORT_COMPANY, json.dumps({"id": "call_3"})),
    4: (SUPPORT_COMPANY, json.dumps({"transcript": None})),
    5: (SUPPORT_COMPANY, "not JSON at all"),
    6: (SUPPORT_COMPANY, json.dumps({"transcript": "x" * FIVE_MB})),
    7: (SUPPORT_COMPANY, json.dumps({"transcript": "null"})),
    8: (SUPPORT_COMPANY, None),
}
DELETED = 9


@pytest.fixture
def platform(empty_database, tmp_path, secured):
    """The default schema, the transcript kept inside `raw`, a map that says so; and the app on it."""
    writer = empty_database.writer()
    migrate(writer)
    at = datetime(2026, 3, 10, 11, 0, 0)
    row = {"from_number": "+4915112345678", "to_number": "+493055555555", "direction": "inbound",
           "status": "completed", "call_status": "ended", "start_timestamp": at, "created_at": at, "duration_sec": 95,
           "transcript": None, "deleted_at": None}
    with writer.begin() as connection:
        connection.execute(companies.insert(), [{"id": SUPPORT_COMPANY, "name": "Acme"},
                                                {"id": OTHER_COMPANY, "name": "Globex"}])
        connection.execute(calls.insert(), [{**row, "id": call_id, "company_id": company, "raw": raw}
                                            for call_id, (company, raw) in RAWS.items()])
        connection.execute(calls.insert(), [{**row, "id": DELETED, "company_id": SUPPORT_COMPANY, "deleted_at": at,
                                             "raw": json.dumps({"transcript": "deleted"})}])
    writer.dispose()
    path = tmp_path / "schema-map.toml"
    path.write_text(PART_MAP)
    app = secured(empty_database.url, SCHEMA_MAP_FILE=str(path), PAYLOAD_PREVIEW_KB=CAP // 1024,
                  CALLBACK_RATE_LIMIT="none")
    return app, app.server.extensions[EXTENSION_KEY].reader


def test_the_transcript_is_read_from_inside_the_json_column(platform):
    _, reader = platform
    payload = fetch_payload(reader, 1, "transcript", CAP, (SUPPORT_COMPANY,))
    assert json.loads(payload.text) == TURNS and not payload.cut
    assert fetch_payload(reader, 1, "second_turn", CAP).text == "zweite"
    assert fetch_payload(reader, 7, "transcript", CAP).text == "null"  # a string, not JSON's null


@pytest.mark.parametrize("call_id", [3, 4, 5, 8], ids=["missing key", "null", "not JSON", "NULL column"])
def test_a_call_without_it_reads_none_for_this_call(platform, call_id):
    _, reader = platform
    payload = fetch_payload(reader, call_id, "transcript", CAP, (SUPPORT_COMPANY,))
    assert payload.text is None and payload.total_length == 0
    assert call_details.payload_data(payload, False, "DE")["note"] == "Transcript: none for this call."


def test_a_5_mb_transcript_is_cut_at_the_cap_by_the_database(platform):
    _, reader = platform
    seen: list[tuple[str, object]] = []
    sa.event.listen(reader, "before_cursor_execute", lambda conn, cursor, statement, parameters, *args:
                    seen.append((statement, parameters)))
    payload = fetch_payload(reader, 6, "transcript", CAP, (SUPPORT_COMPANY,))
    assert payload.text == "x" * CAP and payload.total_length == FIVE_MB and payload.cut
    (statement, parameters), = seen
    values = parameters.values() if isinstance(parameters, dict) else parameters
    assert "transcript" not in statement and '$."transcript"' in values  # the path is bound, never in the text


@pytest.mark.parametrize("call_id, scope", [(2, (SUPPORT_COMPANY,)), (DELETED, None), (999, None)])
def test_another_companys_a_deleted_or_a_missing_call_is_not_found(platform, call_id, scope):
    _, reader = platform
    with pytest.raises(NotFound):
        fetch_payload(reader, call_id, "transcript", CAP, scope)


def press(client: DashClient, button: str, call_id: int) -> dict:
    inputs = {f"call-{name}-button.n_clicks": None for name in ("raw", "transcript", "analysis", "second_turn")}
    pressed = f"call-{button}-button.n_clicks"
    return client.call("call-payload.data", {**inputs, pressed: 1}, {"call-open.data": call_id}, changed=[pressed])


def test_the_transcript_button_opens_it_and_support_cannot_open_another_companys(platform):
    app, _ = platform
    admin = DashClient(app.server, login=("ada", PASSWORD))
    opened = press(admin, "transcript", 1)["call-payload.data"]
    assert opened["title"] == "Transcript" and "Einen Termin, bitte." in json.dumps(opened, ensure_ascii=False)
    assert press(admin, "transcript", 3)["call-payload-note.children"] == "Transcript: none for this call."
    cut = press(admin, "transcript", 6)
    assert cut["call-payload-note.children"].startswith("Transcript: first 64 KB of 5,120 KB")
    support = DashClient(app.server, login=("sam", PASSWORD))
    assert press(support, "transcript", 2)["call-payload-note.children"] == call_details.NOT_FOUND


def test_inspect_proposes_the_transcript_inside_a_json_column(empty_database, cli_on):
    writer = empty_database.writer()
    meta = sa.MetaData()
    companies_table = sa.Table("companies", meta, sa.Column("id", sa.Integer, primary_key=True),
                               sa.Column("name", sa.String(255)))
    calls_table = sa.Table("calls", meta, sa.Column("id", sa.Integer, primary_key=True),
                           sa.Column("company_id", sa.Integer), sa.Column("status", sa.String(32)),
                           sa.Column("created_at", sa.DateTime), sa.Column("summary", sa.Text),
                           sa.Column("payload_json", sa.Text))
    meta.create_all(writer)
    with writer.begin() as connection:
        connection.execute(companies_table.insert(), [{"id": 1, "name": "Acme"}])
        connection.execute(calls_table.insert(), [
            {"company_id": 1, "status": "ended", "created_at": datetime(2026, 3, 10), "summary": "kurz",
             "payload_json": json.dumps({"transcript": "hallo"} if i % 4 else {"id": i})} for i in range(30)])
    writer.dispose()
    proposed = cli_on(empty_database.url)("inspect")
    assert proposed.exit_code == 0, proposed.output
    assert ('{ name = "transcript", column = "payload_json", path = "transcript" }]  # every TEXT/LONGTEXT/JSON '
            "column of calls, opened one at a time; the transcript inside payload_json's JSON (in 15 of the newest "
            "20 calls)") in proposed.output
    mapped = parse_schema_map(proposed.output)
    assert mapped.payload == ("summary", "payload_json", "transcript")
