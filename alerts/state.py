"""The alert state machine: pure, judged on an injected clock (`now` is passed in, never read).

A rule's condition is judged on each observation (a value, no data, or an error):

    ok --condition true--> pending --true for `for_seconds`--> firing (episode opens: notify "firing")
    firing --clear (past the clear level) for `clear_seconds`--> ok (episode closes: notify "resolved")

Hysteresis twice over, so a signal flapping around its threshold gives one episode: a firing rule clears
only past its `clear` level (below the threshold for an "above" rule), and only after staying clear for
`clear_seconds`; a dip shorter than that leaves the episode open. A pending rule whose condition goes
false again returns to ok without a word.

"No data" and "error" are states of their own, never a value of 0: they notify nothing. An open episode
stays open through them (its end is only known from data), so a resolution is never sent for a rule that
merely stopped answering. A reminder while firing is optional (`repeat_seconds`, 0 = off).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

OK, PENDING, FIRING, NODATA, ERROR = "ok", "pending", "firing", "nodata", "error"
# switchboard_alert_state{rule}: what each state exports as (firing = 1 so `== 1` alerts in Alertmanager).
STATE_NUMBERS = {OK: 0, PENDING: 0.5, FIRING: 1, NODATA: -1, ERROR: -2}
ABOVE, BELOW = "above", "below"


@dataclass(frozen=True)
class Rule:
    """What to judge: `value` against `threshold` for `for_seconds`, clearing past `clear` for `clear_seconds`."""

    name: str
    title: str  # what a person reads: "database unreachable"
    threshold: float
    direction: str = ABOVE  # fires when the value is above (or below) the threshold
    for_seconds: float = 0.0
    clear: float | None = None  # the level the value must pass back over to clear (default: the threshold)
    clear_seconds: float = 0.0
    repeat_seconds: float = 0.0  # a reminder while firing, every this long; 0: none
    unit: str = ""
    resolved_title: str = ""  # what the resolution says: "database reachable again" (default "<title> resolved")
    view: str = ""  # the dashboard view that shows it: a path with query string, such as "/?panel=memory"
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.direction not in (ABOVE, BELOW):
            raise ValueError(f"rule {self.name}: direction must be 'above' or 'below', got {self.direction!r}")
        if self.for_seconds < 0 or self.clear_seconds < 0 or self.repeat_seconds < 0:
            raise ValueError(f"rule {self.name}: durations must be 0 or more")
        level = self.clear_level
        if (self.direction == ABOVE and level > self.threshold) or (self.direction == BELOW and level < self.threshold):
            raise ValueError(f"rule {self.name}: the clear level must not be past the threshold")

    @property
    def clear_level(self) -> float:
        return self.threshold if self.clear is None else self.clear

    def breached(self, value: float) -> bool:
        """Tell whether the value has reached the threshold."""
        return value >= self.threshold if self.direction == ABOVE else value <= self.threshold

    def cleared(self, value: float) -> bool:
        """Tell whether the value is back past the clear level (not breached, and not in the hysteresis band)."""
        return value < self.clear_level if self.direction == ABOVE else value > self.clear_level

    def worse(self, a: float, b: float) -> float:
        """Return the worse of two values (the peak of an episode)."""
        return max(a, b) if self.direction == ABOVE else min(a, b)


@dataclass(frozen=True)
class Observation:
    """One evaluation's finding: a value, or none (no data), or an error (why it could not be judged)."""

    value: float | None = None
    error: str = ""
    detail: str = ""  # where: "agent Anna (company 3)", "php-fpm"
    idle: str = ""  # why the rule does not apply now ("outside business hours"): judged as cleared

    @property
    def has_data(self) -> bool:
        return (self.value is not None or bool(self.idle)) and not self.error


@dataclass(frozen=True)
class Episode:
    """One firing of a rule, from its start to its end; `id` is the notifications' idempotency key."""

    id: str
    rule: str
    started_at: float  # when it fired (its condition began `for_seconds` before)
    breached_at: float  # when the condition first held
    peak: float
    value: float
    threshold: float
    detail: str = ""
    ended_at: float | None = None
    last_notified_at: float | None = None
    muted: bool = False  # its start was not notified (the rule was muted): neither is its end


@dataclass(frozen=True)
class RuleState:
    state: str = OK
    since: float | None = None  # when this state began
    breached_at: float | None = None  # pending or firing: when the condition began to hold
    clear_since: float | None = None  # firing: when the value went back past the clear level
    value: float | None = None
    peak: float | None = None  # pending: the worst value since the condition began (the episode's peak)
    reason: str = ""  # no data / error: why
    episode: Episode | None = None  # open while firing (and through no data / error that interrupt it)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "RuleState":
        if not data:
            return cls()
        episode = data.get("episode")
        return cls(**{**data, "episode": Episode(**episode) if episode else None})


@dataclass(frozen=True)
class Event:
    """A notification to send: an episode's start ("firing"), a reminder, or its end ("resolved")."""

    kind: str  # firing | reminder | resolved
    rule: str
    episode: Episode
    at: float

    @property
    def id(self) -> str:
        """Return the idempotency key: one notification of each kind per episode (reminders by time)."""
        suffix = f":{int(self.at)}" if self.kind == "reminder" else ""
        return f"{self.episode.id}:{self.kind}{suffix}"


def episode_id(rule: str, at: float) -> str:
    return f"{rule}@{int(at * 1000)}"


def step(rule: Rule, current: RuleState, observation: Observation, now: float) -> tuple[RuleState, list[Event]]:
    """Judge one observation at `now`; return the rule's next state and the notifications it causes."""
    if not observation.has_data:
        return _without_data(current, observation, now), []
    if observation.idle:
        return _idle(rule, current, observation.idle, now)
    value = float(observation.value)
    episode = current.episode
    if episode is not None:
        return _while_open(rule, current, episode, value, observation.detail, now)
    return _while_closed(rule, current, value, observation.detail, now)


def _without_data(current: RuleState, observation: Observation, now: float) -> RuleState:
    """No data or an error: a state of its own, never a value of 0, notifying nothing."""
    state = ERROR if observation.error else NODATA
    reason = observation.error or observation.detail or "no data"
    # The episode stays open: its end is only known from data. Pending starts again when data returns.
    return RuleState(state, current.since if current.state == state else now, reason=reason,
                     episode=current.episode)


def _while_closed(rule: Rule, current: RuleState, value: float, detail: str,
                  now: float) -> tuple[RuleState, list[Event]]:
    """Judge a value while no episode is open: ok, pending until `for_seconds` have passed, or firing."""
    if not rule.breached(value):
        return RuleState(OK, current.since if current.state == OK else now, value=value), []
    pending = current.state == PENDING and current.breached_at is not None
    breached_at = current.breached_at if pending else now
    peak = rule.worse(current.peak, value) if pending and current.peak is not None else value
    if now - breached_at < rule.for_seconds:
        return RuleState(PENDING, breached_at, breached_at, value=value, peak=peak), []
    opened = Episode(id=episode_id(rule.name, now), rule=rule.name, started_at=now, breached_at=breached_at,
                     peak=peak, value=value, threshold=rule.threshold, detail=detail, last_notified_at=now)
    return RuleState(FIRING, now, breached_at, value=value, episode=opened), [Event("firing", rule.name, opened, now)]


def _idle(rule: Rule, current: RuleState, reason: str, now: float) -> tuple[RuleState, list[Event]]:
    """A rule that does not apply now is clear: ok, or an open episode resolving after `clear_seconds`."""
    episode = current.episode
    if episode is None:
        return RuleState(OK, current.since if current.state == OK else now, reason=reason), []
    clear_since = current.clear_since if current.clear_since is not None else now
    if now - clear_since >= rule.clear_seconds:
        return RuleState(OK, now, reason=reason), [Event("resolved", rule.name, replace(episode, ended_at=now), now)]
    return RuleState(FIRING, current.since, current.breached_at, clear_since, reason=reason, episode=episode), []


def _while_open(rule: Rule, current: RuleState, episode: Episode, value: float, detail: str,
                now: float) -> tuple[RuleState, list[Event]]:
    """Judge a value while an episode is open: stay firing (with its peak), remind, or resolve."""
    episode = replace(episode, peak=rule.worse(episode.peak, value), value=value, detail=detail or episode.detail)
    since = current.since if current.state == FIRING else now
    if rule.cleared(value):
        clear_since = current.clear_since if current.clear_since is not None else now
        if now - clear_since >= rule.clear_seconds:
            closed = replace(episode, ended_at=now)
            return RuleState(OK, now, value=value), [Event("resolved", rule.name, closed, now)]
        return RuleState(FIRING, since, current.breached_at, clear_since, value, episode=episode), []
    events = []
    if rule.repeat_seconds and now - (episode.last_notified_at or episode.started_at) >= rule.repeat_seconds:
        episode = replace(episode, last_notified_at=now)
        events.append(Event("reminder", rule.name, episode, now))
    return RuleState(FIRING, since, current.breached_at, None, value, episode=episode), events
