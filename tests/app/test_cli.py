"""The commands of `python app.py`, run through Click's test runner on real databases."""
from __future__ import annotations

import re
from datetime import datetime
import socket

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from sqlalchemy.dialects import sqlite

from cli import cli
from widgets import registered
from tests.support.indexes import SWITCHBOARD_INDEXES, switchboard_indexes

# The registered widgets' plan examples: all of them are judged; those naming an index fail without it (a lookup
# by primary key needs none).
PLAN_EXAMPLES = [example for widget in registered() if widget.plan_examples
                 for example in widget.plan_examples(datetime(2026, 3, 10, 11, 30))]
WIDGET_QUERIES = {name for name, _, _ in PLAN_EXAMPLES}
INDEXED_QUERIES = {name for name, _, expected in PLAN_EXAMPLES if any(expected.values())}
# The queries that read appointments by status (a wrong index of that name warns each), and those that join services
# (none of them can be planned without the table).
BY_STATUS_QUERIES = {name for name, _, expected in PLAN_EXAMPLES
                     if "idx_appointments_status_date" in expected.get("appointments", ())}
SERVICES_QUERIES = {name for name, statement, _ in PLAN_EXAMPLES
                    if re.search(r"\bservices\b", str(statement.compile(dialect=sqlite.dialect())))}
VERIFY_COLUMNS = ("query", "table", "expected index", "index used", "access", "rows (est.)", "per week of data",
                  "verdict", "why")


def verify_rows(output: str) -> list[dict[str, str]]:
    """Read verify's table back: its columns are cut where the dashes under the header leave gaps."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("query "))
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[start + 1])]
    spans[-1] = (spans[-1][0], None)
    rows = []
    for line in lines[start + 2:]:
        if not line.strip() or line.startswith(("Error:", "all ")):
            break
        rows.append({name: line[a:b].strip() for name, (a, b) in zip(VERIFY_COLUMNS, spans)})
    return rows


def verify_row(output: str, query: str, table: str) -> dict[str, str]:
    return next(row for row in verify_rows(output) if row["query"] == query and row["table"] == table)


@pytest.fixture
def run(empty_database, cli_on):
    return cli_on(empty_database.url)


def test_seed_then_verify_fails_without_indexes_and_passes_with_them(run, empty_database):
    seeded = run("seed", "--calls", "3000", "--appointments", "800", "--raw-bytes", "2000")
    assert seeded.exit_code == 0, seeded.output
    assert "seeded 5 companies" in seeded.output and "3,000 calls (125 ongoing)" in seeded.output

    assert run("rollback").output.strip().endswith("rolled back batch 1")
    failing = run("verify")
    assert failing.exit_code == 1, failing.output
    # Every query that names an index fails without it; so do those it alone bounded (a customer's appointments).
    failed = {row["query"] for row in verify_rows(failing.output) if row["verdict"] == "FAIL"}
    assert INDEXED_QUERIES <= failed and failed - INDEXED_QUERIES <= {"customer history, upcoming"}
    assert f"{len(failed)} of {len(WIDGET_QUERIES)} widget query plans fail" in failing.output and "python app.py migrate" in failing.output
    ongoing = verify_row(failing.output, "ongoing calls", "calls")
    assert ongoing["verdict"] == "FAIL" and "idx_ongoing_calls" in ongoing["why"] and "not exist" in ongoing["why"]
    assert "full scan of calls" in ongoing["why"] and ongoing["index used"] == "(none)"
    assert "Traceback" not in failing.output

    migrated = run("migrate")
    assert migrated.exit_code == 0 and "created calls.idx_ongoing_calls (status, call_status, created_at) in " \
                                       "batch 1" in migrated.output
    passing = run("verify")
    assert passing.exit_code == 0, passing.output
    assert f"all {len(WIDGET_QUERIES)} widget query plans are bounded" in passing.output and "with a warning" not in passing.output
    for name in ("idx_ongoing_calls", "idx_calls_created_date", "idx_customer_calls",
                 "idx_appointments_starts_date", "idx_appointments_status_date"):
        assert name in passing.output
    assert {row["verdict"] for row in verify_rows(passing.output)} == {"PASS"}


def test_verify_warns_when_a_bounded_plan_uses_another_index(run, empty_database):
    assert run("seed", "--calls", "2000", "--appointments", "500", "--raw-bytes", "500").exit_code == 0
    engine = empty_database.writer()
    with engine.begin() as connection:
        # Keep the name, lose the use: an index on the wrong column. The starts_at index bounds the read.
        connection.execute(sa.text("DROP INDEX idx_appointments_status_date" +
                                   (" ON appointments" if empty_database.backend == "mariadb" else "")))
        connection.execute(sa.text("CREATE INDEX idx_appointments_status_date ON appointments (ends_at)"))
    engine.dispose()
    warned = run("verify")
    assert warned.exit_code == 0, warned.output
    row = verify_row(warned.output, "activity feed, by status", "appointments")
    # Another index that leads with the time bounds the read: the starts_at one, or the covering one.
    assert row["verdict"] == "WARN" and row["index used"] in {"idx_appointments_starts_date", "idx_appointments_window"}
    assert f"reads appointments by {row['index used']}" in row["why"]
    # Only the reads by status warn; one whose plan takes the covering index (also expected) passes.
    warning = {row["query"] for row in verify_rows(warned.output) if row["verdict"] == "WARN"}
    assert "activity feed, by status" in warning and warning <= BY_STATUS_QUERIES
    assert f"bounded; {len(warning)} with a warning" in warned.output


def test_verify_reports_a_query_that_cannot_be_planned_as_a_row(run, empty_database):
    assert run("seed", "--calls", "1000", "--appointments", "300", "--raw-bytes", "100").exit_code == 0
    engine = empty_database.writer()
    with engine.begin() as connection:
        # The feed joins services for its names: without the table the server cannot plan it.
        connection.execute(sa.text("DROP TABLE services"))
    engine.dispose()
    failing = run("verify")
    assert failing.exit_code == 1 and "Traceback" not in failing.output
    feed = verify_row(failing.output, "activity feed", "calls, appointments")
    assert feed["verdict"] == "FAIL" and feed["why"].startswith("could not be planned: ")
    assert "services" in feed["why"]
    # The other widgets are judged as usual, and nothing asks for a migration that would not help.
    assert verify_row(failing.output, "ongoing calls", "calls")["verdict"] == "PASS"
    assert f"{len(SERVICES_QUERIES)} of {len(WIDGET_QUERIES)} widget query plans fail" in failing.output
    assert "migrate" not in failing.output


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("url", [
    pytest.param("sqlite:////nonexistent-folder/switchboard.sqlite3", id="sqlite"),
    pytest.param(f"mysql+pymysql://root@127.0.0.1:{_closed_port()}/platform", id="mariadb"),
])
def test_verify_on_an_unreachable_database_is_a_clear_message(url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["verify"], catch_exceptions=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot reach the database at {url}: " in result.output
    assert ("unable to open database file" in result.output if url.startswith("sqlite")
            else "(2003) Can't connect" in result.output)


def test_verify_with_a_database_url_it_cannot_use_is_a_clear_message(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql+nodriver://root@127.0.0.1/platform")
    result = CliRunner().invoke(cli, ["verify"], catch_exceptions=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot use DATABASE_URL: Can't load plugin: sqlalchemy.dialects:mysql.nodriver" in result.output


def test_seed_refuses_a_database_that_already_has_data(run):
    assert run("seed", "--calls", "500", "--appointments", "10", "--raw-bytes", "100").exit_code == 0
    again = run("seed", "--calls", "500")
    assert again.exit_code == 1 and "already holds data" in again.output and "--force" in again.output


def test_migrate_sql_prints_and_changes_nothing(run, empty_database):
    printed = run("migrate", "--sql")
    assert printed.exit_code == 0 and "CREATE TABLE calls" in printed.output and "idx_ongoing_calls" in printed.output
    engine = empty_database.writer()
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_migrate_and_rollback_commands(run, empty_database):
    first = run("migrate")
    assert first.exit_code == 0 and "applied 0001" in first.output and "applied 0004" in first.output
    assert first.output.count(" in batch 1") == len(SWITCHBOARD_INDEXES)
    assert "nothing to apply" in run("migrate").output
    undone = run("rollback")
    assert "dropped calls.idx_ongoing_calls (status, call_status, created_at)" in undone.output
    assert undone.output.strip().endswith("rolled back batch 1")
    assert "nothing to roll back" in run("rollback").output
    assert "nothing to roll back" in run("rollback", "--all").output
    engine = empty_database.writer()
    assert switchboard_indexes(engine) == {}
    engine.dispose()
    run("migrate")
    engine = empty_database.writer()
    assert switchboard_indexes(engine) == SWITCHBOARD_INDEXES
    engine.dispose()


def test_a_bad_setting_is_a_clear_message(monkeypatch):
    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "soon")
    result = CliRunner().invoke(cli, ["verify"])
    assert result.exit_code == 1 and "invalid setting: STATEMENT_TIMEOUT_MS" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def opened_engines(monkeypatch) -> list:
    """Record every engine a command opens, its dispose() watched."""
    from unittest import mock

    from database import engines as db

    engines = []

    def watched(factory):
        def create(*args, **kwargs):
            engine = factory(*args, **kwargs)
            engine.dispose = mock.Mock(wraps=engine.dispose)
            engines.append(engine)
            return engine
        return create

    monkeypatch.setattr(db, "create_writer_engine", watched(db.create_writer_engine))
    monkeypatch.setattr(db, "create_reader_engine", watched(db.create_reader_engine))
    return engines


def test_every_command_disposes_of_the_engines_it_opens(run, opened_engines):
    assert run("migrate", "--sql").exit_code == 0
    assert run("seed", "--calls", "500", "--appointments", "10", "--raw-bytes", "100").exit_code == 0
    assert run("seed", "--calls", "500").exit_code == 1  # refused inside the engine's block
    for command in ("rollback", "verify", "migrate"):
        run(command)
    assert len(opened_engines) == 6
    assert [engine.dispose.call_count for engine in opened_engines] == [1] * 6


def test_a_failing_verify_disposes_of_its_engine(opened_engines, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-folder/switchboard.sqlite3")
    assert CliRunner().invoke(cli, ["verify"]).exit_code == 1
    assert [engine.dispose.call_count for engine in opened_engines] == [1]


def test_the_commands_are_the_same_group_from_app_and_cli():
    import cli as commands

    assert cli is commands.cli
    assert {"serve", "migrate", "rollback", "verify", "seed", "cache-clear", "add-user", "remove-user",
            "list-users"} <= set(cli.commands)
