"""A transcript inside a JSON column of an AI phone-agent platform's own MariaDB database
(tests/support/provider_platform.py: `analysis` is `json` with `CHECK (json_valid(…))`), named by the schema map
beside the columns `inspect` proposes: read at the database and cut at the cap, "none for this call" where the
key is missing, another company's call not found, and the button through the real callbacks."""
from __future__ import annotations

import json

import pytest

from queries.call_details import NotFound, fetch_payload
from widgets import call_details
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD
from tests.support.provider_platform import PAYLOAD_COLUMNS, TRANSCRIPT_TURNS, provider_platform_database

pytestmark = pytest.mark.mariadb

ENTRY = "spoken"  # the part's name: the platform's own `transcript` column keeps its button
PART = f'{{ name = "{ENTRY}", column = "analysis", path = "transcript" }}'
CAP = 64 * 1024
FIVE_MB = 5 * 1024 * 1024
WITH_TURNS, WITHOUT, OTHER_COMPANY, DELETED, LONG = 1, 7, 2, 4, 10  # call ids; 1, 7 and 10 are company 1's


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    def long_transcript(writer) -> None:
        with writer.begin() as connection:
            connection.exec_driver_sql("update calls set analysis = %s where id = %s",
                                       (json.dumps({"transcript": "ja " * (FIVE_MB // 3)}), LONG))

    with provider_platform_database(tmp_path_factory.mktemp("provider"), calls=40,
                                    prepare=long_transcript) as database:
        yield database


@pytest.fixture
def app(platform, cli_on, secured, tmp_path):
    """The app through the map `inspect` proposes, with the transcript inside `analysis` added to its payload."""
    proposed = cli_on(platform.url)("inspect")
    assert proposed.exit_code == 0, proposed.output
    assert "{ name =" not in proposed.output  # the platform has a transcript column: nothing proposed inside JSON
    text = proposed.output.replace('"cost_breakdown"]', f'"cost_breakdown", {PART}]', 1)
    assert PART in text
    path = tmp_path / "schema-map.toml"
    path.write_text(text)
    return secured(platform.url, SCHEMA_MAP_FILE=str(path), PAYLOAD_PREVIEW_KB=CAP // 1024,
                   CALLBACK_RATE_LIMIT="none")


def test_the_transcript_inside_the_json_column_is_read_where_the_map_says(app):
    reader = app.server.extensions[EXTENSION_KEY].reader
    payload = fetch_payload(reader, WITH_TURNS, ENTRY, CAP, (1,))
    assert json.loads(payload.text) == TRANSCRIPT_TURNS and not payload.cut
    missing = fetch_payload(reader, WITHOUT, ENTRY, CAP, (1,))
    assert missing.text is None
    assert call_details.payload_data(missing, False, "DE")["note"] == "Spoken: none for this call."
    long = fetch_payload(reader, LONG, ENTRY, CAP, (1,))
    assert len(long.text) == CAP and long.text.startswith("ja ja ") and long.total_length == 3 * (FIVE_MB // 3)
    for call_id, scope in ((OTHER_COMPANY, (1,)), (DELETED, None)):
        with pytest.raises(NotFound):
            fetch_payload(reader, call_id, ENTRY, CAP, scope)


def test_its_button_opens_it_beside_the_columns_and_support_cannot_open_another_companys(app):
    buttons = {f"call-{name}-button.n_clicks": None for name in ("raw", *PAYLOAD_COLUMNS, ENTRY)}

    def press(client: DashClient, call_id: int) -> dict:
        pressed = f"call-{ENTRY}-button.n_clicks"
        return client.call("call-payload.data", {**buttons, pressed: 1}, {"call-open.data": call_id},
                           changed=[pressed])

    admin = DashClient(app.server, login=("ada", PASSWORD))
    opened = press(admin, WITH_TURNS)["call-payload.data"]
    assert opened["title"] == "Spoken" and "Ich hätte gern einen Termin." in json.dumps(opened, ensure_ascii=False)
    assert press(admin, LONG)["call-payload-note.children"].startswith("Spoken: first 64 KB of 5,120 KB")
    support = DashClient(app.server, login=("sam", PASSWORD))
    assert press(support, OTHER_COMPANY)["call-payload-note.children"] == call_details.NOT_FOUND
