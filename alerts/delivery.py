"""Delivery of the outbox through Apprise (ALERT_NOTIFY_URLS): retried with backoff, never blocking.

The evaluator writes an outbox entry per notification and destination (alerts/store.py); this worker, on a
thread of its own in the evaluating process, sends the entries that are due. An entry is claimed for
CLAIM_SECONDS before it is sent, so a worker that dies while sending leaves it to be retried after that
(at least once: only a death between Apprise's answer and the record of it can send twice). A failing
destination is retried after 5 s, 10 s, 20 s… (at most 5 min apart), MAX_ATTEMPTS times; failures are
logged with the destination's redacted URL, never its secrets.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("switchboard.alerts")

CLAIM_SECONDS = 60.0
MAX_ATTEMPTS = 10
FIRST_RETRY_SECONDS = 5.0
MOST_RETRY_SECONDS = 300.0
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Destination:
    key: str  # stable across processes: a digest of the URL
    url: str
    label: str  # the URL with its secrets hidden, for the log and the page


def destinations(urls: tuple[str, ...] | list[str]) -> list[Destination]:
    """Return the configured destinations, each with a redacted label."""
    return [Destination(hashlib.sha256(url.encode()).hexdigest()[:12], url, redact(url)) for url in urls]


def redact(url: str) -> str:
    """Return an Apprise URL with passwords, tokens and keys hidden (Apprise's own privacy rendering)."""
    import apprise

    try:
        plugin = apprise.Apprise.instantiate(url)
    except Exception:  # noqa: BLE001 - a URL Apprise cannot read is shown by its scheme only
        plugin = None
    if plugin:
        return plugin.url(privacy=True)
    return url.split("://", 1)[0] + "://…"


def send(url: str, title: str, body: str) -> bool:
    """Send one message to one Apprise URL; True when Apprise says it was delivered."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(sender.notify(title=title, body=body))


def backoff(attempts: int) -> float:
    return min(MOST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1))


class DeliveryWorker:
    """Sends the due outbox entries while `leading()` says this process evaluates."""

    def __init__(self, store, targets: list[Destination], holder: Callable[[], str], leading: Callable[[], bool],
                 sender: Callable[[str, str, str], bool] = send, clock: Callable[[], float] = time.time):
        self.store, self.holder, self.leading, self.sender, self.clock = store, holder, leading, sender, clock
        self.targets = {target.key: target for target in targets}
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def deliver_due(self) -> int:
        """Send every due entry once; return how many were delivered."""
        delivered = 0
        for entry in self.store.due(self.clock()):
            if not self.leading():
                break
            delivered += self._deliver(entry)
        return delivered

    def _deliver(self, entry: dict) -> bool:
        target = self.targets.get(entry["destination"])
        holder = self.holder()
        if target is None:
            self.store.update_delivery(holder, {**entry, "status": "dropped",
                                                "error": "destination no longer configured"}, None)
            return False
        if not self.store.update_delivery(holder, entry, self.clock() + CLAIM_SECONDS):
            return False  # no longer leading: the next evaluator delivers it
        try:
            ok = self.sender(target.url, entry["title"], entry["body"])
            error = "" if ok else "the destination refused or did not answer"
        except Exception as failure:  # noqa: BLE001 - a sender's bug must not stop delivery to the others
            ok, error = False, type(failure).__name__
        attempts = int(entry.get("attempts", 0)) + 1
        now = self.clock()
        if ok:
            # Recorded even if the lease lapsed during the send (a busy machine): else the next leader sends it again.
            self.store.update_delivery(holder, {**entry, "status": "sent", "attempts": attempts, "sent_at": now,
                                                "error": ""}, None, sent=True)
            log.info("alert %s %s sent to %s", entry["kind"], entry["rule"], target.label)
            return True
        gave_up = attempts >= MAX_ATTEMPTS
        log.warning("alert %s %s not delivered to %s (attempt %d: %s)%s", entry["kind"], entry["rule"], target.label,
                    attempts, error, "; giving up" if gave_up else f"; retrying in {backoff(attempts):g} s")
        self.store.update_delivery(holder, {**entry, "status": "failed" if gave_up else "retrying",
                                            "attempts": attempts, "error": error},
                                   None if gave_up else now + backoff(attempts))
        return False

    def wake(self) -> None:
        """Deliver now (the evaluator wrote new entries)."""
        self._wake.set()

    def start(self) -> None:
        with self._lock:
            if self._stopped.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stopped.set()
        self._wake.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.is_set():
            if self.leading():
                try:
                    self.deliver_due()
                except Exception as error:  # noqa: BLE001 - the store may be down for a while
                    log.warning("alert delivery failed: %s", type(error).__name__)
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
