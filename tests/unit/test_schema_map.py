"""The schema map as written: TOML read into fields, payload columns and status buckets; what it refuses."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.dialects import mysql, sqlite

from queries.ongoing_calls import ongoing_calls_statement
from queries.schema_map import (Concat, SchemaMap, SchemaMapError, build_mapped_schema, check_schema_map,
                                parse_schema_map)

PLATFORM_MAP = """
[customers]
name = { concat = ["first_name", "last_name"] }

[calls]
start_timestamp = "call_time"
agent_id = ""
agent_name = "agent_id"
called_at = ""
payload = ["analysis", "transcript"]

[agents]
table = ""

[statuses]
decides_ongoing = "status"
ongoing = ["ongoing", "registered"]
answered = ["ended", "analyzed"]
missed = ["not_connected"]
failed = ["error"]
"""


def test_no_file_and_a_file_that_restates_the_defaults_are_the_default_map():
    assert SchemaMap().is_default
    assert parse_schema_map('[calls]\ntable = "calls"\nstatus = "status"\n').is_default


def test_a_platform_map_is_read_field_by_field():
    mapped = parse_schema_map(PLATFORM_MAP)
    assert mapped.spec("customers.name") == Concat(("first_name", "last_name"), " ")
    assert mapped.spec("calls.start_timestamp") == "call_time"
    assert mapped.spec("calls.agent_id") is None and mapped.spec("calls.agent_name") == "agent_id"
    assert mapped.spec("calls.created_at") == "created_at"  # left out: its default column
    assert mapped.tables["agents"] is None and mapped.spec("agents.name") is None
    assert mapped.payload == ("analysis", "transcript")
    assert mapped.statuses.bucket_of("analyzed") == "answered" and mapped.statuses.bucket_of("voicemail") == "other"


def test_the_mapped_statement_names_the_platforms_columns_on_every_dialect():
    schema = build_mapped_schema(parse_schema_map(PLATFORM_MAP))
    statement = ongoing_calls_statement(datetime(2026, 3, 10, 11, 30), schema=schema)
    for dialect, joined in ((sqlite.dialect(), "||"), (mysql.dialect(), "concat(")):
        sql = str(statement.compile(dialect=dialect))
        assert "calls.call_time AS start_timestamp" in sql and "calls.agent_id AS agent_name" in sql
        assert joined in sql and "customers.first_name" in sql and "customers.last_name" in sql
        assert "agents" not in sql.replace("calls.agent_id", "")
        assert "call_status IN" not in sql  # the map says `status` alone decides


@pytest.mark.parametrize("text, message", [
    ("[calls]\nstatus = \"\"\n", "calls.status is required but the map names no column for it"),
    ("[customers]\ntable = \"\"\n", "customers.id is required"),
    ("[calls]\nstart = \"call_time\"\n", "[calls] start: unknown field"),
    ("[call]\n", "unknown section [call]"),
    ("[statuses]\ndecides_ongoing = \"sometimes\"\n", "decides_ongoing: one of both, status, call_status, either"),
    ("[statuses]\nended = [\"x\"]\n", "unknown key ended"),
    ("[customers]\nname = { concat = [] }\n", "`concat` is a list of column names"),
    ("[calls\n", "is not valid TOML"),
])
def test_a_map_that_cannot_be_used_says_why_and_how_to_fix_it(text, message):
    with pytest.raises(SchemaMapError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_schema_map(parse_schema_map(text))


def test_a_required_column_the_database_lacks_is_named_with_the_fix():
    with pytest.raises(SchemaMapError) as raised:
        check_schema_map(parse_schema_map(PLATFORM_MAP), {"companies": {"id", "name"}, "customers": {"id"},
                                                          "calls": {"id", "company_id", "status", "created_at"}})
    assert "customers.name is required but customers has no column first_name, last_name" in str(raised.value)
    assert "python app.py inspect" in str(raised.value)
