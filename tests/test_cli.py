"""The commands of `python app.py`, run through Click's test runner on real databases."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app import cli
from tests.test_migrations import SWITCHBOARD_INDEXES, switchboard_indexes


@pytest.fixture
def run(empty_database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_database.url)

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return invoke


def test_seed_then_verify_fails_without_indexes_and_passes_with_them(run, empty_database):
    seeded = run("seed", "--calls", "3000", "--appointments", "800", "--raw-bytes", "2000")
    assert seeded.exit_code == 0, seeded.output
    assert "seeded 5 companies" in seeded.output and "3,000 calls (125 ongoing)" in seeded.output

    assert run("rollback").output.strip() == "rolled back 0002"
    failing = run("verify")
    assert failing.exit_code == 1
    assert "do not use their index" in failing.output and "python app.py migrate" in failing.output
    assert "FAIL ongoing calls: index idx_ongoing_calls does not exist" in failing.output

    migrated = run("migrate")
    assert migrated.exit_code == 0 and "applied 0002" in migrated.output
    passing = run("verify")
    assert passing.exit_code == 0, passing.output
    assert "all 9 widget query plans use their indexes" in passing.output
    for name in ("idx_ongoing_calls", "idx_calls_created_date", "idx_customer_calls",
                 "idx_appointments_starts_date", "idx_appointments_status_date"):
        assert name in passing.output


def test_verify_names_an_index_that_exists_but_is_not_used(run, empty_database):
    assert run("seed", "--calls", "2000", "--appointments", "500", "--raw-bytes", "500").exit_code == 0
    engine = empty_database.writer()
    with engine.begin() as connection:
        # Keep the name, lose the use: an index on the wrong column.
        connection.execute(sa.text("DROP INDEX idx_appointments_status_date" +
                                   (" ON appointments" if empty_database.backend == "mariadb" else "")))
        connection.execute(sa.text("CREATE INDEX idx_appointments_status_date ON appointments (ends_at)"))
    engine.dispose()
    failing = run("verify")
    assert failing.exit_code == 1
    assert "FAIL activity feed, by status: the plan reads appointments by" in failing.output


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
    assert first.exit_code == 0 and "applied 0001" in first.output and "applied 0002" in first.output
    assert "nothing to apply" in run("migrate").output
    assert run("rollback").output.strip() == "rolled back 0002"
    assert "nothing to roll back" in run("rollback").output
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
