"""Payload entries inside a JSON column, as the schema map writes them: read into names and parts, the path
refused at load unless it is keys and indexes, and the statement reading the part with the path bound."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from queries.call_details import payload_statement
from queries.schema_map import JsonPart, SchemaMapError, build_mapped_schema, parse_schema_map

PART_MAP = """
[calls]
payload = ["analysis", { name = "transcript", column = "raw", path = "transcript" },
           { name = "second_turn", column = "raw", path = "call.turns[1].text" }]
"""


def payload_map(entry: str) -> str:
    return f"[calls]\npayload = [{entry}]\n"


def test_a_part_of_a_json_column_is_an_entry_beside_the_whole_columns():
    mapped = parse_schema_map(PART_MAP)
    assert mapped.payload == ("analysis", "transcript", "second_turn")
    assert mapped.payload_parts == {"transcript": JsonPart("raw", "transcript"),
                                    "second_turn": JsonPart("raw", "call.turns[1].text")}
    assert mapped.payload_column("transcript") == "raw" and mapped.payload_column("analysis") == "analysis"
    assert not mapped.is_default
    assert JsonPart("raw", "call.turns[1].text").json_path == '$."call"."turns"[1]."text"'
    assert JsonPart("raw", "0a[0][12]").json_path == '$."0a"[0][12]'


@pytest.mark.parametrize("dialect", [sqlite.dialect(), mysql.dialect()], ids=["sqlite", "mysql"])
def test_the_statement_reads_the_part_at_the_database_with_the_path_bound(dialect):
    schema = build_mapped_schema(parse_schema_map(PART_MAP))
    statement = payload_statement(7, "second_turn", 65_536, (1, 2), schema=schema)
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    assert "json_extract(calls.raw" in sql.lower() and "json_valid(calls.raw)" in sql.lower()
    assert "turns" not in sql and "$" not in sql  # the path goes as a parameter, never in the text
    assert '$."call"."turns"[1]."text"' in compiled.params.values()
    assert "calls.company_id IN" in sql and "calls.id =" in sql  # scoped and by primary key, as whole columns
    assert sql.lower().count("substr") == 1 and "length(" in sql.lower()


def test_a_part_named_by_the_map_reads_only_its_column_in_the_details():
    schema = build_mapped_schema(parse_schema_map(PART_MAP))
    assert schema.payload_columns == frozenset({"analysis", "raw"})
    assert isinstance(schema.payload_source("analysis"), sa.Column)


@pytest.mark.parametrize("path", [
    "transcript'", 'transcript"', "$.transcript", "$", "a..b", ".a", "a.", "", "a b", "a.*", "a[*]", "a[-1]",
    "a[0x1]", "a[1", "a]", "**.transcript", "transcript') OR 1=1 --", "a'); DROP TABLE calls; --",
    "a\\u0027", "transcript\n", "tränscript", "a[\u0663]", "a" * 201, "a[1234567890]", "a;b", "a/*x*/",
])
def test_a_hostile_path_is_refused_at_load_with_what_a_path_is(path):
    entry = '{ name = "transcript", column = "raw", path = ' + _toml_string(path) + " }"
    with pytest.raises(SchemaMapError, match=r"entry 'transcript': `path` .* is not a path; a path is keys of "
                                             r"letters, digits and _ joined by dots"):
        parse_schema_map(payload_map(entry))


@pytest.mark.parametrize("entry, message", [
    ('{ name = "trans-cript", column = "raw", path = "t" }', "an entry's name is 1 to 64 letters, digits or _"),
    ('{ name = "t\'; --", column = "raw", path = "t" }', "an entry's name is 1 to 64 letters, digits or _"),
    ('{ name = "transcript", column = "", path = "t" }', "`column` names the JSON column that holds it"),
    ('{ name = "transcript", column = "raw" }', "each entry is a column name, or { name"),
    ('{ name = "transcript", column = "raw", path = "t", cast = "x" }', "each entry is a column name, or { name"),
    ('{ name = "transcript", column = "raw", path = 7 }', "is not a path"),
    ('"transcript", { name = "transcript", column = "raw", path = "t" }', "'transcript' is listed twice"),
    ('""', "each entry is a column name"),
])
def test_a_payload_entry_that_cannot_be_used_says_why(entry, message):
    with pytest.raises(SchemaMapError, match=re.escape(message)):
        parse_schema_map(payload_map(entry))


def test_a_payload_that_is_not_a_list_says_what_it_is():
    with pytest.raises(SchemaMapError, match="a list of entries"):
        parse_schema_map('[calls]\npayload = "raw"\n')


def _toml_string(text: str) -> str:
    return '"' + "".join(f"\\u{ord(c):04x}" if c in '"\\\n' or ord(c) < 32 else c for c in text) + '"'
