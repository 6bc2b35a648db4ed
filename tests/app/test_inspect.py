"""`python app.py inspect`: the map it proposes is the default one on the demo's schema, works unedited on a
platform that names things its own way, and nothing is written."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from queries.ongoing_calls import ONGOING_WINDOW, fetch_ongoing_calls
from queries.schema_map import parse_schema_map
from widgets.services import EXTENSION_KEY
from tests.app.test_schema_map import build_platform
from tests.support.databases import SEED_NOW


def tables_and_counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in sa.inspect(connection).get_table_names()}


@pytest.fixture
def run(empty_database, cli_on):
    return cli_on(empty_database.url)


def test_on_the_demo_schema_it_proposes_exactly_the_default_map_and_writes_nothing(run, empty_database):
    assert run("seed", "--calls", "500", "--appointments", "50", "--raw-bytes", "100").exit_code == 0
    engine = empty_database.writer()
    before = tables_and_counts(engine)
    proposed = run("inspect")
    assert proposed.exit_code == 0, proposed.output
    assert parse_schema_map(proposed.output).is_default
    assert 'name = "name"  # same name' in proposed.output
    assert "# distinct status values seen: " in proposed.output
    assert tables_and_counts(engine) == before
    engine.dispose()


def test_on_a_platform_of_its_own_the_proposed_map_works_unedited(run, empty_database, make_dashboard, tmp_path):
    writer = empty_database.writer()
    build_platform(writer)
    writer.dispose()
    proposed = run("inspect")
    assert proposed.exit_code == 0, proposed.output
    text = proposed.output
    assert 'name = { concat = ["first_name", "last_name"] }  # no name column: first_name and last_name' in text
    assert 'start_timestamp = "call_time"  # no start_timestamp; call_time holds it' in text
    assert 'agent_name = "agent_id"  # the provider\'s agent id, kept on the call' in text
    assert 'table = ""  # no table agents' in text and "table agents (optional)" in text.split("# not found: ")[1]
    assert "transferred" in text.split("counted as \"other\"")[1].splitlines()[0]
    mapped = parse_schema_map(text)
    assert mapped.payload == ("analysis", "transcript")
    assert mapped.statuses.bucket_of("analyzed") == "answered" and mapped.statuses.decides_ongoing == "status"
    path = tmp_path / "proposed.toml"
    path.write_text(text)
    reader = make_dashboard(empty_database.url, SCHEMA_MAP_FILE=str(path)).server.extensions[EXTENSION_KEY].reader
    ongoing = fetch_ongoing_calls(reader, SEED_NOW)
    placeholders = ", ".join(f"'{value}'" for value in mapped.statuses.ongoing)
    with reader.connect() as connection:
        expected = connection.execute(sa.text(
            f"SELECT COUNT(*) FROM calls WHERE status IN ({placeholders}) AND created_at >= :since "
            "AND deleted_at IS NULL"), {"since": SEED_NOW - ONGOING_WINDOW}).scalar_one()
    assert ongoing.total == expected > 0


def test_a_calls_table_with_call_status_and_no_status_gets_a_proposal(run, empty_database):
    writer = empty_database.writer()
    with writer.begin() as connection:
        connection.execute(sa.text("CREATE TABLE calls (id INTEGER PRIMARY KEY, created_at DATETIME, "
                                   "call_status VARCHAR(20))"))
        connection.execute(sa.text("INSERT INTO calls (id, created_at, call_status) VALUES "
                                   "(1, '2026-12-08 03:00:00', 'in_progress'), (2, '2026-12-08 02:00:00', 'ended')"))
    writer.dispose()
    proposed = run("inspect")
    assert proposed.exit_code == 0, proposed.output
    assert "# distinct call_status values seen: ended, in_progress" in proposed.output
    assert 'decides_ongoing = "both"' in proposed.output
