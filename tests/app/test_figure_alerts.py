"""The alert rules on the company table's rates and p90: the table's own figure, judged only from JUDGE_MIN_CALLS
calls; below that the rule is idle and never fires, however bad "33 %" of three calls looks."""
from __future__ import annotations

import pytest

from alerts.probes import OBSERVERS, Context
from alerts.rules import RulesFileError, load_rules
from alerts.state import FIRING, OK, RuleState, step
from config import load_config
from tests.support.databases import SEED_NOW
from tests.support.figure_agreement import reader_of, table_rows

WALL_START = 1_900_000_000.0


@pytest.fixture(scope="module")
def app(seeded_app):
    return seeded_app


def _context(app, config) -> Context:
    return Context(config=config, wall=WALL_START, database_now=SEED_NOW, probe=lambda: "", database_label="db",
                   reader=reader_of(app), memory_store=None, alert_store=None, database_queries={})


def _rule(config, name="missed_rate"):
    return next(spec for spec in load_rules(config) if spec.name == name)


def _run(spec, context, minutes: int = 15) -> tuple[RuleState, list]:
    """Observe and judge the rule once a minute for `minutes`, as the evaluator would; return the last state and
    every notification."""
    state, events = RuleState(), []
    for minute in range(minutes + 1):
        observation = OBSERVERS[spec.source](context, spec.params)
        state, sent = step(spec.rule, state, observation, WALL_START + 60 * minute)
        events += sent
    return state, events


def test_the_missed_rate_rule_does_not_fire_below_the_minimum_volume(app):
    table = table_rows(app)
    outcomes = {company: row.get("ans", 0) + row.get("mis", 0) + row.get("fail", 0) for company, row in table.items()}
    # The seeded morning: missed rates past the 20 % alert level, each on fewer than 20 calls with an outcome.
    assert max(row["mis_r"] for row in table.values()) > 20 and max(outcomes.values()) < 20
    config = load_config({}, environ={})
    spec = _rule(config)
    observation = OBSERVERS[spec.source](_context(app, config), spec.params)
    assert observation.value is None and "no company has 20 calls" in observation.idle
    state, events = _run(spec, _context(app, config))
    assert state.state == OK and events == []


def test_from_the_minimum_the_rule_watches_the_tables_own_worst_figure_and_fires(app):
    table = table_rows(app)
    config = load_config({"JUDGE_MIN_CALLS": "5"}, environ={})
    judged = [row for row in table.values() if row.get("ans", 0) + row.get("mis", 0) + row.get("fail", 0) >= 5]
    assert judged and len(judged) < len(table)  # the minimum leaves a company out: the test can tell
    worst = max(judged, key=lambda row: row["mis_r"])
    spec = _rule(config)
    observation = OBSERVERS[spec.source](_context(app, config), spec.params)
    assert observation.value == pytest.approx(worst["mis_r"], abs=0.05)
    assert observation.detail.startswith(worst["co"])
    state, events = _run(spec, _context(app, config))
    assert state.state == FIRING and [event.kind for event in events] == ["firing"]


def test_a_rules_file_adds_a_p90_rule_that_keeps_the_minimum(app, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[rules.long_calls]\nsource = "company_figure"\nfigure = "p90_talk"\nthreshold = 60\n')
    config = load_config({"ALERT_RULES_FILE": str(path)}, environ={})
    spec = _rule(config, "long_calls")
    assert (spec.rule.threshold, spec.params) == (60, {"figure": "p90_talk", "min_calls": 20})
    state, events = _run(spec, _context(app, config))
    assert state.state == OK and events == []  # every p90 of the seeded morning stands on a handful of calls
    path.write_text('[rules.long_calls]\nsource = "company_figure"\nfigure = "talk"\nthreshold = 60\n')
    with pytest.raises(RulesFileError, match="figure = one of answered_rate"):
        load_rules(load_config({"ALERT_RULES_FILE": str(path)}, environ={}))
