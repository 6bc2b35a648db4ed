"""The evaluator: every worker runs one; the one holding the deployment's lease evaluates.

Every period each worker's evaluator tries to take or renew the lease (alerts/store.py). The holder reads
each rule's state from the store, observes and judges every rule that is due (the database rule first:
while the database is unreachable, the rules that read it are held, neither judged nor notified), and
writes the new states, the episodes and the outbox entries of the notifications in one fenced commit. The
lease lives 1.5 periods after its holder's last renewal, so when the evaluator dies another takes over
within two periods, from the state in the store: an open episode is neither lost nor notified again.

Started from server start (gunicorn's post_fork, `python app.py serve`), not by a page being watched.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from alerts.delivery import DeliveryWorker, Destination
from alerts.probes import OBSERVERS, Context
from alerts.rules import RuleSpec
from alerts.state import FIRING, Event, Observation, Rule, RuleState, step

log = logging.getLogger("switchboard.alerts")

LEASE_PERIODS = 1.5


def episode_record(spec: RuleSpec, episode) -> dict:
    """Return the episode as the history keeps it."""
    rule = spec.rule
    return {"id": episode.id, "rule": rule.name, "title": rule.title, "started_at": episode.started_at,
            "breached_at": episode.breached_at, "ended_at": episode.ended_at, "peak": episode.peak,
            "value": episode.value, "threshold": rule.threshold, "unit": rule.unit, "detail": episode.detail,
            "direction": rule.direction, "muted": episode.muted}


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    return f"{text}{unit}"


def _moment(at: float, timezone: str) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def message(event: Event, spec: RuleSpec, where: str, timezone: str, public_url: str) -> tuple[str, str]:
    """Return a notification's title and body: what, where, since when, the value against the threshold, a link."""
    rule, episode = spec.rule, event.episode
    link = (public_url.rstrip("/") + (rule.view or "/")) if public_url else (rule.view or "/")
    title, lines = _headline(event, rule, timezone)
    lines += [f"Where: {where}" + (f" · {episode.detail}" if episode.detail else ""),
              f"Value: {_value_text(event, spec)}", f"Dashboard: {link}", f"Rule: {rule.name} · episode {episode.id}"]
    return title, "\n".join(lines)


def _headline(event: Event, rule: Rule, timezone: str) -> tuple[str, list[str]]:
    """Return a notification's title and its first lines: what fired (since when), or what resolved (and when)."""
    episode = event.episode
    if event.kind == "resolved":
        title = f"[Switchboard] RESOLVED: {rule.resolved_title or rule.title + ' resolved'}"
        return title, [f"Resolved: {rule.resolved_title or rule.title}",
                       f"Was: {rule.title} from {_moment(episode.breached_at, timezone)} to "
                       f"{_moment(event.at, timezone)} ({(event.at - episode.breached_at) / 60:,.1f} min)"]
    prefix = "REMINDER" if event.kind == "reminder" else "FIRING"
    return f"[Switchboard] {prefix}: {rule.title}", [f"What: {rule.title}",
                                                       f"Since: {_moment(episode.breached_at, timezone)}"]


def _value_text(event: Event, spec: RuleSpec) -> str:
    """Return the episode's value against the threshold (with its peak)."""
    rule, episode = spec.rule, event.episode
    if spec.source == "database":  # a yes/no value: say for how long instead
        return f"unreachable for {event.at - episode.breached_at:,.0f} s (threshold {rule.for_seconds:g} s)"
    return f"{'now ' if event.kind == 'resolved' else ''}{_number(episode.value, rule.unit)} (threshold " \
           f"{_number(rule.threshold, rule.unit)}, peak {_number(episode.peak, rule.unit)})"


def _touched_episode(spec: RuleSpec, state: RuleState, events: list[Event]) -> list[dict]:
    """Return the record of the episode a step touched: the last one its events name, else the one still open."""
    touched = [event.episode for event in events] or ([state.episode] if state.episode else [])
    return [episode_record(spec, episode) for episode in touched[-1:]]


class AlertEvaluator:
    """Holds the lease and evaluates the rules every period (see the module docstring)."""

    def __init__(self, store, specs: list[RuleSpec], make_context: Callable[[float], Context], period: float,
                 targets: list[Destination], where: str, timezone: str = "UTC", public_url: str = "",
                 holder: str | None = None, clock: Callable[[], float] = time.time,
                 sender: Callable[[str, str, str], bool] | None = None):
        if period <= 0:
            raise ValueError(f"period must be positive, got {period}")
        self.store, self.period, self.make_context, self.clock = store, period, make_context, clock
        # The database rule first: the rules that read the database are held while it is down; the rule about
        # the rules that cannot be evaluated last, when the others' states of this round are known.
        self.specs = sorted(specs, key=lambda spec: (spec.source != "database", spec.source == "rule_errors"))
        self.targets, self.where, self.timezone, self.public_url = targets, where, timezone, public_url
        self._holder = holder
        self._token = uuid.uuid4().hex[:8]
        self._leader = False
        self._evaluated: dict[str, float] = {}  # rule -> when this process last evaluated it
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started_in = 0
        kwargs = {"sender": sender} if sender else {}
        self.delivery = DeliveryWorker(store, targets, lambda: self.holder, lambda: self._leader, clock=clock,
                                       **kwargs)

    @property
    def holder(self) -> str:
        """Return this evaluator's lease holder name (unique per process, also after a fork)."""
        return self._holder or f"{socket.gethostname()}:{os.getpid()}:{self._token}"

    @property
    def is_leader(self) -> bool:
        return self._leader

    def step(self) -> list[Event]:
        """Try to lead; when leading, evaluate the due rules and commit; return the notifications caused."""
        self._leader = self.store.try_lead(self.holder, LEASE_PERIODS * self.period)
        if not self._leader:
            self._evaluated.clear()  # a later takeover evaluates everything at once
            return []
        now = self.clock()
        states, mutes = self.store.states(), self.store.mutes()
        context = self.make_context(now)
        context.rule_states = dict(states)
        changed, episodes, outbox, events = {}, [], [], []
        for spec in self.specs:
            if not self._due(spec, context, now):
                continue
            self._evaluated[spec.name] = now
            state, new = step(spec.rule, states.get(spec.name, RuleState()), self._observe(spec, context), now)
            state, new = self._apply_mute(spec, state, new, mutes.get(spec.name), now)
            changed[spec.name] = context.rule_states[spec.name] = state
            episodes += _touched_episode(spec, state, new)
            for event in new:
                outbox += self._entries(spec, event, now)
            events += new
        if not self.store.commit(self.holder, changed, episodes, outbox):
            self._leader = False
            return []
        if outbox:
            self.delivery.wake()
        return events

    def _due(self, spec: RuleSpec, context: Context, now: float) -> bool:
        """Tell whether a rule is judged this round: not held by the database being down, nor evaluated lately."""
        if spec.needs_database and context.database_error:
            return False  # held: the database rule speaks for it
        return not (spec.every_seconds and now - self._evaluated.get(spec.name, float("-inf")) < spec.every_seconds)

    def _observe(self, spec: RuleSpec, context: Context) -> Observation:
        try:
            return OBSERVERS[spec.source](context, spec.params)
        except Exception as error:  # noqa: BLE001 - a rule that cannot be evaluated is in error, not 0
            log.warning("alert rule %s could not be evaluated: %s", spec.name, type(error).__name__)
            reason = type(getattr(error, "orig", None) or error).__name__
            return Observation(error=f"could not evaluate: {reason}")

    @staticmethod
    def _apply_mute(spec: RuleSpec, state: RuleState, events: list[Event], mute: dict | None,
                    now: float) -> tuple[RuleState, list[Event]]:
        """Mark an episode that starts while its rule is muted: neither its start nor its end is notified."""
        muted = mute is not None and float(mute.get("until", 0)) > now
        if any(event.kind == "firing" for event in events) and muted and state.episode is not None:
            episode = replace(state.episode, muted=True)
            state = replace(state, episode=episode)
            events = [replace(event, episode=episode) for event in events]
        return state, events

    def _entries(self, spec: RuleSpec, event: Event, now: float) -> list[dict]:
        """Return the outbox entries of one notification: one per destination (none when muted)."""
        title, body = message(event, spec, self.where, self.timezone, self.public_url)
        status = "muted" if event.episode.muted else "pending"
        return [{"id": f"{event.id}#{target.key}", "event": event.id, "episode": event.episode.id,
                 "rule": spec.name, "kind": event.kind, "title": title, "body": body,
                 "destination": target.key, "label": target.label, "status": status, "attempts": 0,
                 "created_at": now, "due_at": None if event.episode.muted else now} for target in self.targets]

    def start(self) -> None:
        """Run step() every period, and the delivery worker, on daemon threads."""
        self._stopped.clear()
        self._started_in = os.getpid()
        self.ensure_running()

    @property
    def started(self) -> bool:
        """Tell whether start() was called in this process (a forked child must be started on its own)."""
        return self._started_in == os.getpid()

    def ensure_running(self) -> None:
        """Start the threads again if they are not alive in this process (unless stop() was called)."""
        with self._lock:
            if self._stopped.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alert-evaluator", daemon=True)
                self._thread.start()
        self.delivery.start()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5) -> None:
        self._stopped.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.delivery.stop(timeout)
        self._leader = False

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stopped.is_set():
            try:
                self.step()
            except Exception as error:  # noqa: BLE001 - one bad step must not end evaluation
                self._leader = False
                log.warning("alert evaluation failed: %s: %s", type(error).__name__, error)
            next_at = max(next_at + self.period, time.monotonic())
            self._stopped.wait(next_at - time.monotonic())


def firing(states: dict[str, RuleState]) -> list[str]:
    """Return the names of the rules firing now."""
    return sorted(name for name, state in states.items() if state.state == FIRING)
