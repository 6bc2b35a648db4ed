"""The alert state machine on an injected clock: pending, firing, hysteresis, no data and error, reminders,
and a flapping signal that gives one episode."""
from __future__ import annotations

import random

import pytest

from alerts.state import (BELOW, ERROR, FIRING, NODATA, OK, PENDING, Observation, Rule, RuleState, step)

PERIOD = 10.0


def run(rule: Rule, values, start: float = 1_000_000.0, period: float = PERIOD):
    """Feed the values (None: no data, str: an error) one period apart; return the states and the events."""
    state, states, events = RuleState(), [], []
    for index, value in enumerate(values):
        observation = Observation(error=value) if isinstance(value, str) else Observation(value=value)
        state, new = step(rule, state, observation, start + index * period)
        states.append(state)
        events.extend(new)
    return states, events


def test_fires_once_after_its_pending_duration_and_resolves_once():
    rule = Rule("load", "load high", threshold=10, for_seconds=30)
    states, events = run(rule, [1, 11, 12, 13, 14, 15, 16, 5, 5, 5])
    assert [s.state for s in states] == [OK, PENDING, PENDING, PENDING, FIRING, FIRING, FIRING, OK, OK, OK]
    assert [e.kind for e in events] == ["firing", "resolved"]
    firing, resolved = events
    assert firing.episode.id == resolved.episode.id
    assert firing.episode.breached_at == 1_000_000.0 + PERIOD  # "since" is when the condition began
    assert resolved.episode.peak == 16 and resolved.episode.ended_at == 1_000_000.0 + 7 * PERIOD


def test_a_breach_shorter_than_the_pending_duration_notifies_nothing():
    rule = Rule("load", "load high", threshold=10, for_seconds=30)
    _, events = run(rule, [11, 12, 13, 1, 11, 12, 13, 1] * 10)
    assert events == []


def test_zero_pending_fires_at_the_first_breach():
    _, events = run(Rule("x", "x", threshold=1, for_seconds=0), [0, 1])
    assert [e.kind for e in events] == ["firing"]


def test_hysteresis_band_keeps_the_episode_open():
    rule = Rule("mem", "memory", threshold=500, clear=450, clear_seconds=20)
    states, events = run(rule, [600, 480, 499, 470, 460, 440, 440, 440])
    assert [e.kind for e in events] == ["firing", "resolved"]
    # inside the band (450..500): still firing; cleared at 440 for 20 s
    assert [s.state for s in states][:5] == [FIRING] * 5
    assert states[-2].state == FIRING and states[-1].state == OK


def test_below_rules_fire_on_low_values():
    rule = Rule("calls", "calls low", threshold=0.5, direction=BELOW, clear=0.7, for_seconds=10)
    _, events = run(rule, [1.0, 0.2, 0.3, 0.6, 0.8])
    assert [e.kind for e in events] == ["firing", "resolved"]
    assert events[-1].episode.peak == 0.2


def test_square_wave_flapping_gives_one_episode():
    # Above the threshold for 40 s, below the clear level for 40 s, for an hour: a classic flapping check.
    rule = Rule("flap", "flap", threshold=100, clear=90, for_seconds=30, clear_seconds=120)
    wave = [(150 if (i // 4) % 2 == 0 else 50) for i in range(360)]
    _, events = run(rule, wave + [50] * 20)
    assert [e.kind for e in events] == ["firing", "resolved"]


def test_noise_around_the_threshold_gives_at_most_one_episode():
    rng = random.Random(15)
    rule = Rule("noise", "noise", threshold=100, clear=95, for_seconds=20, clear_seconds=60)
    for _ in range(50):
        _, events = run(rule, [100 + rng.uniform(-6, 6) for _ in range(500)] + [0] * 10)
        assert [e.kind for e in events] in ([], ["firing", "resolved"])


def test_no_data_and_error_are_states_not_zero():
    rule = Rule("calls", "calls low", threshold=5, direction=BELOW)
    states, events = run(rule, [10, None, "database error", None, 10])
    assert [s.state for s in states] == [OK, NODATA, ERROR, NODATA, OK]
    assert events == []  # a missing value is not 0, which would have fired this "below" rule
    assert states[2].reason == "database error"


def test_an_open_episode_survives_no_data_and_is_neither_renotified_nor_lost():
    rule = Rule("x", "x", threshold=10)
    states, events = run(rule, [20, None, "boom", 20, 30, 1])
    assert [e.kind for e in events] == ["firing", "resolved"]
    assert states[2].episode is not None and states[2].state == ERROR
    assert events[-1].episode.peak == 30


def test_no_data_restarts_the_pending_duration():
    rule = Rule("x", "x", threshold=10, for_seconds=20)
    _, events = run(rule, [20, 20, None, 20, 20, 1])
    assert events == []


def test_reminders_are_off_by_default_and_repeat_when_asked():
    assert [e.kind for e in run(Rule("x", "x", threshold=1), [5] * 100 + [0])[1]] == ["firing", "resolved"]
    _, events = run(Rule("x", "x", threshold=1, repeat_seconds=300), [5] * 70 + [0])
    assert [e.kind for e in events] == ["firing", "reminder", "reminder", "resolved"]
    assert len({e.id for e in events}) == 4


def test_thresholds_are_reached_inclusively():
    _, events = run(Rule("stale", "stale", threshold=5), [4, 5, 4])
    assert [e.kind for e in events] == ["firing", "resolved"]


def test_idle_is_clear_not_no_data():
    rule = Rule("drop", "drop", threshold=30, direction=BELOW, clear_seconds=10)
    state, events = step(rule, RuleState(), Observation(idle="outside business hours"), 0)
    assert state.state == OK and state.reason == "outside business hours" and not events
    state, events = step(rule, state, Observation(value=5), 10)
    assert [e.kind for e in events] == ["firing"]
    state, events = step(rule, state, Observation(idle="outside business hours"), 20)
    assert state.state == FIRING and not events
    state, events = step(rule, state, Observation(idle="outside business hours"), 30)
    assert state.state == OK and [e.kind for e in events] == ["resolved"]


def test_state_round_trips_through_json():
    rule = Rule("x", "x", threshold=1, for_seconds=10)
    states, _ = run(rule, [5, 5, 5])
    assert RuleState.from_json(states[-1].to_json()) == states[-1]
    assert RuleState.from_json(None) == RuleState()


@pytest.mark.parametrize("bad", [dict(direction="sideways"), dict(for_seconds=-1), dict(clear=20)])
def test_invalid_rules_are_refused(bad):
    with pytest.raises(ValueError):
        Rule("x", "x", threshold=10, **bad)
