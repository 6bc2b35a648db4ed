"""A call's details and its payload on demand: the statements, the scope, the masking,
the callbacks as each role reaches them, and the link."""
from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
import sqlalchemy as sa

from queries.call_details import NotFound, check_call_id, fetch_call_details, fetch_payload
from queries.platform import platform_schema
from schema.migrate import migrate
from schema.tables import LARGE_TEXT_COLUMNS, agents, calls, companies, customers
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, SUPPORT_COMPANY
from widgets import call_details, feed_filters, feed_ids
from widgets.registry import URL

NAMES_RAW = re.compile(r"\braw\b")
RAW_200_KB = '{"id": "call_x", "blob": "' + "x" * (200 * 1024 - 27) + '"}'
PROVIDER_JSON = json.dumps({
    "call_id": "call_0f3a", "from": "+493012345678", "to": "00493098765432",
    "customer": {"name": "Anna Müller", "number": "+49 151 1234 5678", "alt": "0151 2345 6789"},
    "transcript": "user: call me back on 030 5000 0012 please, or (089) 666-36345.\nagent: noted.",
    "duration_ms": 123456, "started": "2026-03-10T11:29:00Z",
})


def statements_of(engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *args: seen.append(statement))
    return seen


@pytest.fixture
def platform(empty_database):
    """Two companies; call 1 (company 1, a 200 KB payload), call 2 (company 2), call 3 (company 1, soft-deleted)."""
    writer = empty_database.writer()
    migrate(writer)
    at = datetime(2026, 3, 10, 11, 0, 0)
    with writer.begin() as connection:
        connection.execute(companies.insert(), [{"id": 1, "name": "Acme"}, {"id": 2, "name": "Globex"}])
        connection.execute(customers.insert(), [{"id": 1, "company_id": 1, "name": "Anna", "phone": "+4930111"}])
        connection.execute(agents.insert(), [{"id": 1, "company_id": 1, "name": "Robo"}])
        row = {"customer_id": 1, "agent_id": 1, "from_number": "+493012345678", "to_number": "+493055555555",
               "direction": "inbound", "status": "completed", "call_status": "ended", "start_timestamp": at,
               "created_at": at, "duration_sec": 95, "transcript": "agent: hello", "analysis": "{}", "deleted_at": None}
        connection.execute(calls.insert(), [{**row, "id": 1, "company_id": 1, "raw": RAW_200_KB},
                                            {**row, "id": 2, "company_id": 2, "raw": "{}"},
                                            {**row, "id": 3, "company_id": 1, "raw": "{}", "deleted_at": at}])
    writer.dispose()
    reader = empty_database.reader()
    # The column facts are read once per engine, at start-up in the app; not part of what a view sends.
    platform_schema(reader)
    yield reader
    reader.dispose()


# --- the statements -------------------------------------------------------------------------------------

def test_the_details_are_one_statement_of_named_scalar_columns_with_the_names_joined_in(platform):
    seen = statements_of(platform)
    fields = fetch_call_details(platform, 1, (1,))
    calls_statements = [s for s in seen if "calls" in s]
    assert len(calls_statements) == 1, calls_statements
    assert "*" not in calls_statements[0]
    assert not any(re.search(rf"\b{column.split('.')[1]}\b", calls_statements[0])
                   for column in LARGE_TEXT_COLUMNS if column.startswith("calls."))
    assert (fields["customer_name"], fields["agent_name"], fields["company_name"]) == ("Anna", "Robo", "Acme")
    assert fields["duration_sec"] == 95 and fields["status"] == "completed"


@pytest.mark.parametrize("call_id, scope", [(2, (1,)), (3, (1,)), (3, None), (999, None)])
def test_another_companys_a_deleted_or_a_missing_call_is_not_found(platform, call_id, scope):
    with pytest.raises(NotFound):
        fetch_call_details(platform, call_id, scope)
    with pytest.raises(NotFound):
        fetch_payload(platform, call_id, "raw", 1024, scope)


def test_the_payload_is_one_statement_for_that_id_cut_at_the_database(platform):
    seen = statements_of(platform)
    payload = fetch_payload(platform, 1, "raw", 64 * 1024, (1,))
    assert len(payload.text) == 64 * 1024 and payload.total_length == len(RAW_200_KB) and payload.cut
    assert len([s for s in seen if NAMES_RAW.search(s)]) == 1
    assert re.search(r"substr", seen[-1], re.IGNORECASE) and "calls.id =" in seen[-1]


@pytest.mark.parametrize("hostile", ["1 OR 1=1", -1, 0, 10 ** 30, True, None, 1.5, [1], {"id": 1}])
def test_an_id_that_cannot_be_a_call_is_not_found(hostile):
    with pytest.raises(NotFound):
        check_call_id(hostile)


# --- masking --------------------------------------------------------------------------------------------

def test_every_phone_number_in_a_provider_payload_is_masked_as_in_the_grids():
    masked = call_details.mask_phones_in_text(PROVIDER_JSON, "DE")
    for number in ("+493012345678", "00493098765432", "+49 151 1234 5678", "0151 2345 6789", "030 5000 0012",
                   "(089) 666-36345"):
        assert number not in masked
        assert number[-3:] in masked  # the last three digits stay, as in the grids
    assert "+•••••••••678" in masked and "+•• ••• •••• •678" in masked
    # As text it fails closed (a six-digit duration may be a local number); its dates and names stay readable.
    assert '"started": "2026-03-10T11:29:00Z"' in masked and "Anna M\\u00fcller" in masked


def test_a_payload_is_shown_as_text_sections_with_its_size():
    from queries.call_details import Payload

    data = call_details.payload_data(Payload("raw", PROVIDER_JSON, len(PROVIDER_JSON)), True, "DE")
    assert [s["key"] for s in data["sections"]][:3] == ["call_id", "from", "to"]
    assert "1234 5678" not in json.dumps(data) and "12345678" not in json.dumps(data)
    # Decoded, a number too short to be a phone number stays a number.
    assert {s["key"]: s["text"] for s in data["sections"]}["duration_ms"] == "123456"
    cut = call_details.payload_data(Payload("raw", "x" * 65536, 212 * 1024), False, "")
    assert cut["note"] == "Provider payload: first 64 KB of 212 KB" and cut["sections"][0]["text"] == "x" * 65536


# --- the link -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("search, expected", [("?call=12", (12, "")), ("?kind=call&call=7", (7, "")), ("", (None, "")),
                                              ("?kind=call", (None, ""))])
def test_the_link_names_the_open_call(search, expected):
    assert call_details.call_from_query_string(search) == expected


@pytest.mark.parametrize("search", ["?call=1%20OR%201%3D1", "?call=-1", "?call=" + "9" * 31, "?call=abc", "?call=١٢"])
def test_a_call_link_that_cannot_name_a_call_says_so(search):
    call_id, message = call_details.call_from_query_string(search)
    assert call_id is None and "is not a call id" in message


def test_the_call_coexists_with_the_feeds_filters_in_the_link():
    values, notices = feed_filters.parse_query_string("?kind=call&call=42")
    assert notices == [] and values["kind"] == ["call"]
    out = feed_filters.sync_url_and_filters(URL, "?call=42&kind=call", feed_filters.filter_values())
    assert out["search"] == "?kind=call&call=42"
    out = feed_filters.sync_url_and_filters(feed_ids.SEARCH, "?call=42", feed_filters.filter_values([], ["missed"], [], [],
                                                                                                    "7d", ""))
    assert out["search"] == "?status=missed&call=42"


# --- the callbacks, as each role reaches them -----------------------------------------------------------

SHOW = "call-panel.hidden"
PAYLOAD = "call-payload.data"


def show(client, search: str) -> dict:
    return client.call(SHOW, {"url.search": search, "call-interval.n_intervals": 0, "refresh-signal.data": 0},
                       {"call-freshness.data": None})


def open_payload(client, call_id, button: str = "call-raw-button.n_clicks") -> dict:
    inputs = {f"call-{column}-button.n_clicks": None for column in ("raw", "transcript", "analysis")}
    return client.call(PAYLOAD, {**inputs, button: 1}, {"call-open.data": call_id}, changed=[button])


@pytest.fixture
def call_ids(seeded_sqlite):
    engine = sa.create_engine(seeded_sqlite.url)
    with engine.connect() as connection:
        own = connection.execute(sa.select(calls.c.id).where(calls.c.company_id == SUPPORT_COMPANY,
                                                             calls.c.raw.is_not(None)).limit(1)).scalar_one()
        other = connection.execute(sa.select(calls.c.id).where(calls.c.company_id != SUPPORT_COMPANY)
                                   .limit(1)).scalar_one()
        number = connection.execute(sa.select(calls.c.from_number).where(calls.c.id == own)).scalar_one()
    engine.dispose()
    return own, other, number


def test_opening_details_reads_no_payload_and_opening_the_payload_reads_it_once(app_on_sqlite, call_ids):
    own, _, number = call_ids
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    seen = statements_of(app_on_sqlite.server.extensions[EXTENSION_KEY].reader)
    opened = show(admin, f"?call={own}")
    assert opened[SHOW] is False and opened["call-open.data"] == own and number in json.dumps(opened)
    assert seen and not any(NAMES_RAW.search(s) for s in seen)
    before = len(seen)
    payload = open_payload(admin, own)
    reads = [s for s in seen[before:] if NAMES_RAW.search(s)]
    assert len(reads) == 1 and len(seen) == before + 1
    assert payload[PAYLOAD]["call"] == own and payload[PAYLOAD]["sections"]


def test_support_sees_its_own_calls_masked_and_anothers_as_not_found(app_on_sqlite, call_ids):
    own, other, number = call_ids
    support = DashClient(app_on_sqlite.server, login=("sam", PASSWORD))
    opened = show(support, f"?call={own}")
    assert opened[SHOW] is False and number not in json.dumps(opened) and number[-3:] in json.dumps(opened)
    payload = open_payload(support, own)
    assert number not in json.dumps(payload)
    forged = show(support, f"?call={other}")
    missing = show(support, "?call=999999999")
    assert forged["call-body.children"] == missing["call-body.children"]
    assert call_details.NOT_FOUND in json.dumps(forged) and forged["call-open.data"] is None
    assert open_payload(support, other)["call-payload-note.children"] == call_details.NOT_FOUND


def test_the_first_call_opened_asks_the_database_one_statement_not_the_inspector(app_on_sqlite, call_ids):
    """The platform's columns were read with its other facts at start-up (queries/platform.py)."""
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    seen = statements_of(app_on_sqlite.server.extensions[EXTENSION_KEY].reader)
    assert show(admin, f"?call={call_ids[0]}")[SHOW] is False
    assert len(seen) == 1 and seen[0].startswith("SELECT calls.id"), seen


def test_the_platform_schema_names_the_scalar_columns_of_each_table(platform):
    facts = platform_schema(platform)
    assert {"id", "status", "duration_sec", "created_at", "deleted_at"} <= facts.scalar_columns["calls"]
    assert not facts.scalar_columns["calls"] & {"raw", "transcript", "analysis"}
    assert "notes" not in facts.scalar_columns["customers"] and "name" in facts.scalar_columns["customers"]


@pytest.mark.parametrize("hostile", ["1 OR 1=1", -1, 10 ** 30, "abc", True, [1], {"id": 1}])
def test_a_hostile_call_id_gets_a_clear_answer_never_an_error(app_on_sqlite, hostile):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    response = admin.post(admin.payload(PAYLOAD, {"call-raw-button.n_clicks": 1, "call-transcript-button.n_clicks": None,
                                                  "call-analysis-button.n_clicks": None},
                                        {"call-open.data": hostile}, changed=["call-raw-button.n_clicks"]))
    assert response.status_code < 500
    if response.status_code == 200:
        assert call_details.NOT_FOUND in response.get_data(as_text=True)
    answered = show(admin, f"?call={hostile}")
    assert "not a call id" in json.dumps(answered) or call_details.NOT_FOUND in json.dumps(answered)


def test_ops_sees_no_details_at_all(app_on_sqlite, call_ids):
    ops = DashClient(app_on_sqlite.server, login=("olga", PASSWORD))
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    assert call_details.PANEL not in ops.client.get("/_dash-layout").get_data(as_text=True)
    assert not any("call-" in d["output"] for d in ops.dependencies)
    assert ops.post(admin.payload(SHOW, {"url.search": f"?call={call_ids[0]}", "call-interval.n_intervals": 0,
                                         "refresh-signal.data": 0}, {"call-freshness.data": None})).status_code == 403


def test_verify_judges_the_lookups_by_primary_key_bounded(seeded_database):
    from queries.call_details import plan_examples
    from queries.plans import Verdict, check_plans
    from tests.support.databases import SEED_NOW

    engine = seeded_database.reader()
    try:
        rows = check_plans(engine, SEED_NOW, [plan_examples])
    finally:
        engine.dispose()
    assert {row.query for row in rows} == {"call details", "call payload"}
    assert all(row.verdict is Verdict.PASS for row in rows), rows


def test_a_scalar_column_the_platform_added_is_shown_and_a_text_one_is_not(empty_database):
    writer = empty_database.writer()
    migrate(writer)
    with writer.begin() as connection:
        connection.execute(sa.text("ALTER TABLE calls ADD COLUMN cost DECIMAL(10, 4)"))
        connection.execute(sa.text("ALTER TABLE calls ADD COLUMN sentiment TEXT"))
        connection.execute(companies.insert(), [{"id": 1, "name": "Acme"}])
        connection.execute(sa.text("INSERT INTO calls (id, company_id, cost, sentiment) VALUES (1, 1, 0.125, 'ok')"))
    writer.dispose()
    reader = empty_database.reader()
    try:
        seen = statements_of(reader)
        fields = fetch_call_details(reader, 1, None)
    finally:
        reader.dispose()
    assert float(fields["cost"]) == 0.125 and "sentiment" not in fields
    assert not any("sentiment" in s for s in seen if s.startswith("SELECT"))


def general_log_of(server: sa.engine.Engine, path: str, database: str):
    """Return a context manager that turns MariaDB's general log on into `path`, and then the statements this
    test database's connections sent (by the threads that connected to it: CI may share the server)."""
    from contextlib import contextmanager
    from pathlib import Path

    @contextmanager
    def logging_statements():
        with server.connect() as connection:
            before = connection.execute(sa.text("SELECT @@global.general_log, @@global.general_log_file")).one()
            connection.execute(sa.text("SET GLOBAL general_log_file = :path"), {"path": path})
            connection.execute(sa.text("SET GLOBAL general_log = 1"))
        statements: list[str] = []
        try:
            yield statements
        finally:
            with server.connect() as connection:
                connection.execute(sa.text("SET GLOBAL general_log = :on"), {"on": int(before[0])})
                connection.execute(sa.text("SET GLOBAL general_log_file = :path"), {"path": before[1]})
            ours, thread = set(), None
            for line in Path(path).read_text(errors="replace").splitlines():
                match = re.match(r"^(?:\S+\s+\S+\s+)?\s*(\d+)\s+(Connect|Query|Quit|Init DB)\s?(.*)$", line.strip())
                if match:
                    thread, kind, text = match.groups()
                    if kind == "Connect" and text.rstrip().endswith(f" on {database}") or \
                            kind == "Connect" and f" on {database} " in text:
                        ours.add(thread)
                    if kind == "Query" and thread in ours:
                        statements.append(text)
                elif thread in ours and statements:
                    statements[-1] += "\n" + line  # a statement over several lines
    return logging_statements()


@pytest.mark.serial  # switches MariaDB's general log, server-wide
def test_mariadbs_general_log_sees_no_payload_read_until_the_button_and_then_one(seeded_mariadb, secured, tmp_path):
    from sqlalchemy.engine import make_url

    app = secured(seeded_mariadb.url)
    services = app.server.extensions[EXTENSION_KEY]
    with services.reader.connect() as connection:
        own = connection.execute(sa.select(calls.c.id).where(calls.c.company_id == SUPPORT_COMPANY)
                                 .limit(1)).scalar_one()
    admin = DashClient(app.server, login=("ada", PASSWORD))
    url = make_url(seeded_mariadb.url)
    server = sa.create_engine(url.set(database="mysql"))
    # The server writes the log as its own user: a folder it can reach (pytest's tmp_path is root's alone).
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="switchboard-general-log-"))
    folder.chmod(0o777)
    log_file = folder / "general.log"
    try:
        with general_log_of(server, str(log_file), url.database) as opened_details:
            services.reader.dispose()  # new connections, so the log names their database
            show(admin, f"?call={own}")
        with general_log_of(server, str(log_file.with_name("payload.log")), url.database) as opened_payload:
            services.reader.dispose()
            open_payload(admin, own)
    finally:
        server.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    assert any(re.search(rf"calls\.id = {own}\b", s) for s in opened_details), opened_details
    assert not any(NAMES_RAW.search(s) for s in opened_details)
    reads = [s for s in opened_payload if NAMES_RAW.search(s)]
    assert len(reads) == 1 and re.search(rf"calls\.id = {own}\b", reads[0]), opened_payload


@pytest.mark.parametrize("status, call_status, shown", [
    ("in_progress", "ongoing", ("In progress (in_progress)", "In progress (ongoing)")),
    ("completed", "no_answer", ("Completed", "No answer (no_answer)")),
    ("voicemail_left", None, ("Voicemail left (voicemail_left)", None)),
])
def test_statuses_read_as_in_the_grids_with_the_stored_value_beside_them(status, call_status, shown):
    data = call_details.details_data({"id": 1, "status": status, "call_status": call_status},
                                     {"DATABASE_TIMEZONE": "UTC", "DISPLAY_TIMEZONE": "UTC"}, False)
    fields = dict(data["fields"])
    assert (fields.get("Status"), fields.get("Call status")) == shown
