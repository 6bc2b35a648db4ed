"""What the schema map decides beyond names: the metrics' buckets ("other" included), the notes of features a
platform lacks, the indexes on the mapped columns, and a missing table or column named in a failure."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from queries.company_kpis import kpi_statement
from queries.schema_map import DEFAULT_SCHEMA, build_mapped_schema, parse_schema_map
from schema.indexes import default_wanted, mapped_wanted
from tests.unit.test_schema_map import PLATFORM_MAP
from widgets.common import describe_failure, missing_object

NOW = datetime(2026, 3, 10, 11, 30)


def sql(element) -> str:
    return str(element.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_other_is_every_status_no_bucket_places_and_none():
    schema = build_mapped_schema(parse_schema_map(PLATFORM_MAP))
    other = sql(schema.status_in("other"))
    assert "calls.status IS NULL" in other and "NOT IN" in other
    for value in ("registered", "ended", "analyzed", "not_connected", "error"):
        assert f"'{value}'" in other
    assert sql(schema.status_in("missed")) == "calls.status IN ('not_connected')"


def test_the_company_table_counts_other_from_the_map():
    schema = build_mapped_schema(parse_schema_map(PLATFORM_MAP))
    statement = sql(kpi_statement(NOW, NOW.replace(hour=0), schema=schema))
    assert "AS other" in statement and "'analyzed'" in statement


def test_the_default_map_lacks_nothing_and_a_platform_map_says_what_goes():
    assert DEFAULT_SCHEMA.absent() == []
    schema = build_mapped_schema(parse_schema_map(PLATFORM_MAP + '\n[services]\ntable = ""\n'),
                                 {"calls": {"id", "company_id", "status", "created_at", "agent_id", "call_time",
                                            "analysis"},
                                  "customers": {"id", "first_name", "last_name"}, "companies": {"id", "name"},
                                  "appointments": {"id", "starts_at"}})
    assert schema.offers("agent") and schema.payload == ("analysis",)
    assert schema.notes("direction", "services", "agent") == ["Direction: not in this database",
                                                             "Service: not in this database"]


def test_migrate_wants_its_indexes_on_the_mapped_columns():
    assert mapped_wanted(parse_schema_map("")) == default_wanted()
    wanted = {index.name: index for index in mapped_wanted(parse_schema_map(
        '[calls]\ntable = "voice_calls"\ncall_status = ""\ncreated_at = "inserted_at"\n'
        '[customers]\nname = { concat = ["first_name", "last_name"] }\n'))}
    assert wanted["idx_ongoing_calls"].table == "voice_calls"
    assert wanted["idx_ongoing_calls"].columns == ("status", "inserted_at")  # no call_status: status and time
    assert wanted["idx_customer_calls"].columns == ("customer_id", "inserted_at")


def test_a_missing_table_or_column_is_named_with_the_command_that_proposes_a_map():
    for message, named in (("(1146, \"Table 'platform.agents' doesn't exist\")", "table agents"),
                           ("(1054, \"Unknown column 'customers.name' in 'field list'\")", "column customers.name"),
                           ("no such column: calls.raw", "column calls.raw")):
        error = sa.exc.OperationalError("SELECT …", {}, Exception(message))
        assert missing_object(error) == named
        assert describe_failure(error, 5000).startswith(f"{named} is not in this database: `python app.py inspect`")
    assert describe_failure(sa.exc.OperationalError("SELECT …", {}, Exception("(1064) syntax")), 5000) == \
        "database error"
