"""The app on a platform that names things its own way, through a schema map: split names, `call_time`, the
provider's agent id on the call, JSON payload columns, provider statuses; and a map the database cannot satisfy."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from queries.call_details import fetch_call_details, fetch_payload
from queries.ongoing_calls import ONGOING_WINDOW, fetch_ongoing_calls
from queries.schema_map import SchemaMapError, schema_of
from widgets.services import EXTENSION_KEY
from tests.support.databases import SEED_NOW
from tests.unit.test_schema_map import PLATFORM_MAP


def build_platform(engine) -> None:
    """A platform without agents, with first/last names, `call_time`, JSON payloads and its own statuses."""
    meta = sa.MetaData()
    companies = sa.Table("companies", meta, sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("name", sa.String(255)), sa.Column("deleted_at", sa.DateTime))
    customers = sa.Table("customers", meta, sa.Column("id", sa.Integer, primary_key=True),
                         sa.Column("company_id", sa.Integer), sa.Column("first_name", sa.String(100)),
                         sa.Column("last_name", sa.String(100)), sa.Column("phone", sa.String(32)),
                         sa.Column("deleted_at", sa.DateTime))
    calls = sa.Table("calls", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("company_id", sa.Integer), sa.Column("customer_id", sa.Integer),
                     sa.Column("agent_id", sa.String(64)), sa.Column("from_number", sa.String(32)),
                     sa.Column("to_number", sa.String(32)), sa.Column("direction", sa.String(16)),
                     sa.Column("status", sa.String(32)), sa.Column("call_status", sa.String(32)),
                     sa.Column("call_time", sa.DateTime), sa.Column("duration_sec", sa.Integer),
                     sa.Column("analysis", sa.JSON), sa.Column("transcript", sa.Text),
                     sa.Column("created_at", sa.DateTime), sa.Column("deleted_at", sa.DateTime))
    meta.create_all(engine)
    minute = timedelta(minutes=1)
    statuses = ["registered", "ongoing", "ended", "analyzed", "not_connected", "error", "transferred"]
    with engine.begin() as connection:
        connection.execute(companies.insert(), [{"id": 1, "name": "Praxis Nord"}, {"id": 2, "name": "Salon Süd"}])
        connection.execute(customers.insert(), [
            {"id": 1, "company_id": 1, "first_name": "Zoë", "last_name": "Müller", "phone": "+4915100000001"},
            {"id": 2, "company_id": 2, "first_name": "Ana", "last_name": None, "phone": None}])
        connection.execute(calls.insert(), [
            {"company_id": 1 + i % 2, "customer_id": 1 + i % 2, "agent_id": f"agent_{i % 3}",
             "from_number": "+4915100000001", "to_number": "+49305000001", "direction": "inbound",
             "status": statuses[i % len(statuses)], "call_status": "whatever", "call_time": SEED_NOW - i * minute,
             "created_at": SEED_NOW - i * minute, "duration_sec": 60, "analysis": {"summary": "x" * 100},
             "transcript": "hello", "deleted_at": SEED_NOW if i == 1 else None}
            for i in range(60)])


@pytest.fixture
def platform(empty_database, tmp_path):
    writer = empty_database.writer()
    build_platform(writer)
    writer.dispose()
    path = tmp_path / "schema-map.toml"
    path.write_text(PLATFORM_MAP)
    return empty_database.url, path


def test_the_panels_read_the_platform_through_its_map(platform, make_dashboard):
    url, path = platform
    services = make_dashboard(url, SCHEMA_MAP_FILE=str(path)).server.extensions[EXTENSION_KEY]
    reader = services.reader
    assert not schema_of(reader).source.is_default
    with reader.connect() as connection:
        expected = connection.execute(sa.text(
            "SELECT COUNT(*) FROM calls WHERE status IN ('ongoing', 'registered') AND created_at >= :since "
            "AND deleted_at IS NULL"), {"since": SEED_NOW - ONGOING_WINDOW}).scalar_one()
    ongoing = fetch_ongoing_calls(reader, SEED_NOW)
    assert ongoing.total == expected == len(ongoing.rows) > 0
    first = ongoing.rows.set_index("id").sort_index().iloc[0]
    assert first["customer_name"] == "Zoë Müller" and first["agent_name"].startswith("agent_")
    assert set(ongoing.rows["customer_name"]) == {"Zoë Müller", "Ana"}  # a missing last name leaves no space
    details = fetch_call_details(reader, 1)
    assert details["start_timestamp"] is not None and details["agent_name"] == "agent_0"
    assert details["customer_name"] == "Zoë Müller" and details["company_name"] == "Praxis Nord"
    payload = fetch_payload(reader, 1, "analysis", 20)
    assert payload.cut and len(payload.text) == 20
    with pytest.raises(ValueError, match="not a payload column"):
        fetch_payload(reader, 1, "raw", 20)


def test_a_required_column_missing_from_a_hand_edited_map_stops_the_start_with_its_name(platform, make_dashboard):
    url, path = platform
    path.write_text(PLATFORM_MAP.replace('name = { concat = ["first_name", "last_name"] }', 'name = "full_name"'))
    with pytest.raises(SchemaMapError, match="customers.name is required but customers has no column full_name: "
                                             r"name the platform's column in SCHEMA_MAP_FILE \(`python app.py "
                                             r"inspect` proposes a map\)"):
        make_dashboard(url, SCHEMA_MAP_FILE=str(path))


def test_without_a_map_the_platform_is_read_by_the_default_names(platform, make_dashboard):
    url, _ = platform
    services = make_dashboard(url).server.extensions[EXTENSION_KEY]
    assert schema_of(services.reader).source.is_default
