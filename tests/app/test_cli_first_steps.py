"""The commands a newcomer types first catch their mistakes before anything starts: a busy port, a company that
does not exist; `companies` lists the ids `add-user --company` takes; the demo knows its numbers' country."""
from __future__ import annotations

import socket
from datetime import datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import cli as commands
from access.users import default_users_url
from config import ConfigError
from demo.generator import SeedPlan, company_trade, seed_database
from queries.phone_region import check_phone_region, sample_numbers
from schema.migrate import migrate
from schema.tables import companies
from tests.support.databases import SEED_NOW
from tests.support.users import PASSWORD

PLAN = SeedPlan(calls=300, appointments=30, companies=3, customers_per_company=10, agents_per_company=1,
                services_per_company=1, ongoing=2, raw_bytes=100)
DELETED_COMPANY = 2


@pytest.fixture
def listening_port():
    """A port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def nothing_may_start(monkeypatch, tmp_path):
    """Make preparing the demo or building the app fail the test; no users, in a folder of the test's own."""
    started = []
    monkeypatch.setenv("USERS_DATABASE_URL", default_users_url(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DISPLAY_TIMEZONE", raising=False)
    monkeypatch.setattr(commands, "prepare_demo", lambda url: started.append(("demo", url)))

    def create_app(overrides=None):
        started.append(("app", overrides))
        raise ConfigError("stopped by the test before serving")

    monkeypatch.setattr("serving.factory.create_app", create_app)
    return started


@pytest.mark.parametrize("args", [["--port", "{port}"], ["serve", "--port", "{port}"], ["--port", "{port}", "serve"]],
                         ids=["top level", "serve", "top level before serve"])
def test_a_busy_port_stops_serve_before_anything_starts(args, listening_port, nothing_may_start):
    result = CliRunner().invoke(commands.cli, [arg.format(port=listening_port) for arg in args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"port {listening_port} is in use by another program (on 127.0.0.1)" in result.output
    assert f"python app.py --port {listening_port + 1}" in result.output
    assert nothing_may_start == []


def test_a_free_port_given_at_the_top_level_reaches_serve_and_the_demo_knows_its_country(nothing_may_start):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(commands.cli, ["--port", str(port)])
    assert result.exit_code == 1 and "stopped by the test before serving" in result.output
    assert [kind for kind, _ in nothing_may_start] == ["demo", "app"]
    # The demo's companies are German: their numbers' country and their clock, unless configured otherwise.
    assert nothing_may_start[1][1] == {"PHONE_REGION": "DE", "DISPLAY_TIMEZONE": "Europe/Berlin"}


def test_a_configured_phone_region_or_database_is_the_demos_no_longer(nothing_may_start, monkeypatch,
                                                                       tmp_path):
    assert commands.demo_settings({"PHONE_REGION": "AT", "DISPLAY_TIMEZONE": "Asia/Tokyo"}) == {}
    assert commands.demo_settings({"PHONE_REGION": "", "DISPLAY_TIMEZONE": "UTC"}) == {
        "PHONE_REGION": "DE", "DISPLAY_TIMEZONE": "Europe/Berlin"}
    monkeypatch.setenv("DISPLAY_TIMEZONE", "UTC")  # set on purpose, even to the default: the viewer's choice
    assert commands.demo_settings({"PHONE_REGION": "", "DISPLAY_TIMEZONE": "UTC"}) == {"PHONE_REGION": "DE"}
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'platform.sqlite3'}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    CliRunner().invoke(commands.cli, ["serve", "--port", str(port)])
    assert nothing_may_start[-1] == ("app", None)  # a platform's database: no demo settings, no demo seeded


@pytest.mark.parametrize("args", [["--port", "8061", "migrate"], ["--host", "0.0.0.0", "companies"],
                                  ["--no-simulate", "verify"]])
def test_serves_options_before_another_command_are_refused(args, nothing_may_start):
    result = CliRunner().invoke(commands.cli, args)
    assert result.exit_code == 2 and f"goes with serve, not with {args[-1]}" in result.output
    assert nothing_may_start == []


@pytest.fixture
def platform(empty_database):
    """A seeded database with a deleted company (DELETED_COMPANY) and a later one whose name sorts first."""
    writer = empty_database.writer()
    migrate(writer)
    seed_database(writer, PLAN, SEED_NOW)
    with writer.begin() as connection:
        connection.execute(companies.update().where(companies.c.id == DELETED_COMPANY)
                           .values(deleted_at=datetime(2026, 1, 5)))
        connection.execute(companies.insert().values(id=40, name="Ärztehaus Am Markt"))
    writer.dispose()
    return empty_database


def test_companies_lists_the_ids_and_names_the_dashboard_shows(platform, cli_on):
    listed = cli_on(platform.url)("companies")
    assert listed.exit_code == 0, listed.output
    rows = [tuple(line.split("\t")) for line in listed.output.splitlines()]
    # By name, in the database's collation (where Ä may sort as A): the set is what is asserted.
    assert len(rows) == 3 and set(rows) == {("1", company_trade(1)[0]), ("3", company_trade(3)[0]),
                                            ("40", "Ärztehaus Am Markt")}
    assert str(DELETED_COMPANY) not in [row[0] for row in rows]


def test_companies_on_an_unreachable_database_is_a_clear_message(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-folder/switchboard.sqlite3")
    result = CliRunner().invoke(commands.cli, ["companies"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot read the companies at sqlite:////nonexistent-folder/switchboard.sqlite3: " in result.output


def test_add_user_refuses_a_company_that_does_not_exist_and_writes_nothing(platform, cli_on, monkeypatch, tmp_path):
    monkeypatch.setenv("USERS_DATABASE_URL", default_users_url(tmp_path))
    run = cli_on(platform.url)
    runner = CliRunner()
    for missing in ("99", str(DELETED_COMPANY)):
        refused = runner.invoke(commands.cli, ["add-user", "sam", "--role", "support", "--company", "1",
                                               "--company", missing, "--password-stdin"], input=PASSWORD + "\n")
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert f"no company {missing} in the database" in refused.output
        assert "python app.py companies" in refused.output
    assert run("list-users").output.startswith("no users")
    added = runner.invoke(commands.cli, ["add-user", "sam", "--role", "support", "--company", "1", "--company", "40",
                                         "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0 and "added sam: support (companies 1, 40)" in added.output, added.output
    # A role without companies needs no database.
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-folder/switchboard.sqlite3")
    assert runner.invoke(commands.cli, ["add-user", "ada", "--role", "admin", "--password-stdin"],
                         input=PASSWORD + "\n").exit_code == 0


def test_a_start_with_german_numbers_and_no_phone_region_names_the_setting(platform):
    engine = platform.reader()
    try:
        numbers = sample_numbers(engine, size=50)
        assert 0 < len(numbers) <= 50 and all(number.startswith("+49") for number in numbers)
        warning = check_phone_region({"PHONE_REGION": ""}, engine)
        assert warning and "PHONE_REGION=DE" in warning
        assert check_phone_region({"PHONE_REGION": "DE"}, engine) is None
        with engine.connect() as connection:  # the sample never reads past its cap
            assert connection.execute(sa.select(sa.func.count()).select_from(sa.table("calls"))).scalar() > 50
    finally:
        engine.dispose()
