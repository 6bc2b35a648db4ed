"""A widget whose statement names a table or column the database lacks says which one and how to find the
platform's own names (admins and ops); support reads only that it could not load; the log says it once."""
from __future__ import annotations

import logging

import pytest

from schema.tables import metadata
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD
from widgets import common

ONGOING = ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
HEADLINE = ("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})


@pytest.fixture
def without_agents(empty_database, secured, monkeypatch):
    """The platform's tables but `agents` and `appointments`, with the default map: the ongoing calls' statement
    joins agents, the headline counts appointments."""
    engine = empty_database.writer()
    metadata.create_all(engine, tables=[table for name, table in metadata.tables.items()
                                        if name not in ("agents", "appointments")])
    engine.dispose()
    monkeypatch.setattr(common, "_logged_causes", set())
    return secured(empty_database.url)


DETAILS = ("call-panel.hidden", {"url.search": "?call=1", "call-interval.n_intervals": 0, "refresh-signal.data": 0},
           {"call-freshness.data": None})
NAMED = "table agents is not in this database: `python app.py inspect`"


@pytest.mark.parametrize("name, ask, freshness, shown", [
    ("ada", ONGOING, "ongoing-freshness.data", NAMED),
    ("olga", HEADLINE, "stats-freshness.data", NAMED.replace("agents", "appointments")),
    ("ada", DETAILS, "call-freshness.data", NAMED), ("sam", DETAILS, "call-freshness.data", "database error")])
def test_the_missing_table_is_named_for_admins_and_ops_only(without_agents, name, ask, freshness, shown):
    client = DashClient(without_agents.server, login=(name, PASSWORD))
    answer = client.call(*ask)
    reason = answer[freshness]["reason"]
    assert answer[freshness]["stale"] is True and reason.startswith(shown)
    if name == "sam":
        assert "agents" not in reason and "inspect" not in reason


def test_each_cause_is_logged_once(without_agents, caplog):
    client = DashClient(without_agents.server, login=("ada", PASSWORD))
    with caplog.at_level(logging.WARNING, logger="switchboard.widgets"):
        for tick in range(3):
            client.call(ONGOING[0], {**ONGOING[1], "ongoing-interval.n_intervals": tick + 1})
    logged = [record.getMessage() for record in caplog.records if "table agents" in record.getMessage()]
    assert len(logged) == 1 and "python app.py inspect" in logged[0]
