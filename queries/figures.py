"""What each number on the dashboard counts: every figure and status bucket defined once.

The statements (queries/*.py) count a figure by the schema map's buckets (queries/schema_map.py); this module
says, in words, what each of those counts is. The panels take their labels and tooltips from here, the
activity feed its status choices, the alert rules the volume a rate needs before it is judged, and
docs/numbers.md is written from here (`python -m queries.figures > docs/numbers.md`; a test keeps the two in
step). A figure's words name the bucket's status values as the schema map in force places them, so a platform
with its own vocabulary reads its own statuses in the tooltips.

A rate or a p90 is judged against its levels (KPI_*_LEVELS) only when it stands on at least JUDGE_MIN_CALLS
calls: "0 %" of 3 calls is one bad morning, not a trend. Below that it is shown neutral, with its count
("0 % · n=3"), and no alert rule fires on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from queries.schema_map import BUCKETS, StatusBuckets

DEFAULT_JUDGE_MIN_CALLS = 20
ONGOING_HOURS = 2  # a call "ongoing" for longer was never closed by the provider: it is not counted ongoing

# What a call in each bucket is, to people.
BUCKET_MEANINGS = {
    "ongoing": "the call is still going on",
    "answered": "the call was answered and talked through",
    "missed": "nobody answered: missed, busy or unanswered",
    "failed": "the call failed (a technical error)",
    "other": "a status the schema map puts in no bucket, or none",
}
BUCKET_LABELS = {"ongoing": "Ongoing", "answered": "Answered", "missed": "Missed", "failed": "Failed",
                 "other": "Other"}
OUTCOME_BUCKETS = ("answered", "missed", "failed")  # a call in one of these has an outcome; rates are of these


@dataclass(frozen=True)
class Figure:
    """One number the dashboard shows: its label, what it counts, where it is shown, and how it is judged.

    `meaning` may name a bucket's status values as {answered}, {missed}, {failed}, {ongoing} or {placed}
    (every value some bucket holds). A judged figure (`levels`: its setting) has a volume: the count it is a
    share or a percentile of (`volume` names it in words)."""

    key: str
    label: str
    meaning: str
    shown_on: tuple[str, ...]
    levels: str = ""
    volume: str = ""

    @property
    def judged(self) -> bool:
        return bool(self.levels)


TABLE, WALL, HEADLINE, FEED, HISTORY, EXPORT, ALERTS = ("company table", "wallboard", "headline cards",
                                                        "activity feed", "customer history", "CSV export",
                                                        "alert rules")
TODAY = "since midnight (DISPLAY_TIMEZONE)"

FIGURES: tuple[Figure, ...] = (
    Figure("ongoing", "Ongoing now",
           f"Calls going on now: status {{ongoing}}, created within the last {ONGOING_HOURS} hours (a call the "
           "provider never closed stops counting).", (TABLE, WALL, HEADLINE, ALERTS)),
    Figure("calls", "Calls today", f"Calls created {TODAY}, whatever their status.", (TABLE, WALL, HEADLINE)),
    Figure("inbound", "In", f"Inbound calls created {TODAY}.", (TABLE,)),
    Figure("outbound", "Out", f"Outbound calls created {TODAY}.", (TABLE,)),
    Figure("answered", "Answered", f"Calls created {TODAY} with an answered status ({{answered}}).",
           (TABLE, FEED, EXPORT)),
    Figure("answered_rate", "Answered %",
           "Answered calls today, of today's calls with an outcome (answered, missed or failed).", (TABLE, WALL),
           levels="KPI_ANSWERED_RATE_LEVELS", volume="today's calls with an outcome"),
    Figure("missed", "Missed", f"Calls created {TODAY} with a missed status ({{missed}}).",
           (TABLE, FEED, EXPORT, ALERTS)),
    Figure("missed_rate", "Missed %",
           "Missed calls today, of today's calls with an outcome (answered, missed or failed).",
           (TABLE, WALL, ALERTS), levels="KPI_MISSED_RATE_LEVELS", volume="today's calls with an outcome"),
    Figure("failed", "Failed", f"Calls created {TODAY} with a failed status ({{failed}}).", (TABLE, FEED, EXPORT)),
    Figure("failed_rate", "Failed %",
           "Failed calls today, of today's calls with an outcome (answered, missed or failed).", (TABLE, WALL),
           levels="KPI_FAILED_RATE_LEVELS", volume="today's calls with an outcome"),
    Figure("other", "Other",
           f"Calls created {TODAY} whose status no bucket holds (none of {{placed}}), or that have none: "
           "counted so that no call is dropped silently.", (TABLE,)),
    Figure("average_talk", "Avg. talk", "Average length of today's answered calls that have a length.", (TABLE,)),
    Figure("p90_talk", "p90 talk",
           "90 % of today's answered calls were at most this long (nearest rank: the ceil(0.9 n)-th shortest).",
           (TABLE, WALL), levels="KPI_P90_TALK_LEVELS", volume="today's answered calls with a length"),
    Figure("booked_today", "Booked today",
           f"Appointments created (booked) {TODAY} for a slot from today on, whatever their status since; "
           "an appointment entered for a slot already past is a record, not a booking.", (TABLE, WALL)),
    Figure("booking_rate", "Booking %",
           "Today's answered calls whose customer booked an appointment within BOOKING_WINDOW_HOURS after the "
           "call began, of today's answered calls.", (TABLE, WALL), levels="KPI_BOOKING_RATE_LEVELS",
           volume="today's answered calls"),
    Figure("last_call", "Last call", f"When the newest call created {TODAY} began.", (TABLE, WALL)),
    Figure("appointments_starting_today", "Appointments starting today",
           "Appointments whose slot starts today (local day), whenever they were booked and whatever their "
           "status: the day's schedule. Not the same as Booked today, which counts bookings made today.",
           (HEADLINE,)),
    Figure("average_call_today", "Avg. call today",
           f"Average length of every call created {TODAY} that has a length (answered or not), compared up "
           "to the same time of day.", (HEADLINE,)),
    Figure("history_calls", "Calls", "All the customer's calls, ever.", (HISTORY,)),
    Figure("history_missed", "Missed calls", "The customer's calls, ever, with a missed status ({missed}).",
           (HISTORY,)),
    Figure("history_booked", "Appointments booked", "All the customer's appointments, ever, whatever their status.",
           (HISTORY,)),
)
BY_KEY: dict[str, Figure] = {figure.key: figure for figure in FIGURES}


def _values(statuses: StatusBuckets) -> dict[str, str]:
    words = {bucket: ", ".join(statuses.values(bucket)) or "no status" for bucket in BUCKETS}
    words["placed"] = ", ".join(value for bucket in BUCKETS for value in statuses.values(bucket))
    return words


def meaning(key: str, statuses: StatusBuckets | None = None) -> str:
    """Return what a figure counts, in words, with its buckets' status values as the map places them."""
    return BY_KEY[key].meaning.format(**_values(statuses or StatusBuckets()))


def label(key: str) -> str:
    return BY_KEY[key].label


def tooltip(key: str, statuses: StatusBuckets | None = None, min_calls: int = DEFAULT_JUDGE_MIN_CALLS) -> str:
    """Return a figure's title text: what it counts, and for a judged one when it is judged."""
    figure = BY_KEY[key]
    text = meaning(key, statuses)
    if figure.judged:
        text += f" Judged against {figure.levels} only from {min_calls} {figure.volume}; below that it is shown " \
                "neutral, with its count (n)."
    return text


def bucket_meaning(bucket: str, statuses: StatusBuckets | None = None) -> str:
    """Return what a status bucket holds: its meaning and the status values the map puts in it."""
    values = _values(statuses or StatusBuckets())
    held = f"any status but {values['placed']}, or none" if bucket == "other" else values[bucket]
    return f"{BUCKET_MEANINGS[bucket]} ({held})"


def counted_as(kind: str, status: str | None, statuses: StatusBuckets | None = None) -> str | None:
    """Return the bucket a feed or export row is counted in, as people read it ("Missed"): calls only (an
    appointment's status is its own)."""
    if kind != "call":
        return None
    return BUCKET_LABELS[(statuses or StatusBuckets()).bucket_of(status)]


def judged_enough(volume: int | None, min_calls: int) -> bool:
    """Tell whether a rate or p90 standing on `volume` calls may be judged against its levels."""
    return volume is not None and volume >= min_calls


def numbers_markdown(statuses: StatusBuckets | None = None, min_calls: int = DEFAULT_JUDGE_MIN_CALLS) -> str:
    """Return docs/numbers.md: the buckets, then every figure's label, meaning and where it is shown."""
    statuses = statuses or StatusBuckets()
    lines = [
        "# What the numbers mean",
        "",
        "Every figure is defined once (`queries/figures.py`) and counted from the schema map's status buckets, "
        "so the company table, the wallboard, the headline cards, the activity feed's filters, a customer's "
        "history, the CSV export and the alert rules agree. The same words are each header's and card's "
        "tooltip. This page is written from those definitions (`python -m queries.figures > docs/numbers.md`) "
        "with the default schema map; a platform's own map puts its own status values in the buckets.",
        "",
        "## Status buckets",
        "",
        "| bucket | a call in it | statuses (default map) |",
        "| --- | --- | --- |",
    ]
    values = _values(statuses)
    for bucket in (*BUCKETS, "other"):
        held = "any other, or none" if bucket == "other" else values[bucket]
        lines.append(f"| {BUCKET_LABELS[bucket]} | {BUCKET_MEANINGS[bucket]} | {held} |")
    lines += [
        "",
        "The activity feed's status filter offers the buckets: its *Missed* selects exactly the calls the "
        "company table counts as missed (a link's `status=busy` or `status=no_answer` is read as *Missed*). "
        "Ongoing also needs the call's `call_status` to agree (the map's `decides_ongoing`).",
        "",
        "## Figures",
        "",
        "| figure | what it counts | shown on |",
        "| --- | --- | --- |",
    ]
    for figure in FIGURES:
        lines.append(f"| {figure.label} | {meaning(figure.key, statuses)} | {', '.join(figure.shown_on)} |")
    lines += [
        "",
        "## When a rate or p90 is judged",
        "",
        f"A judged figure carries a level (ok, watch, alert) from its setting, but only when it stands on at "
        f"least `JUDGE_MIN_CALLS` calls (default {min_calls}). Below that it is shown neutral with its count, "
        "such as `0 % · n=3`, and the alert rules on it do not fire.",
        "",
        "| figure | levels | counted over |",
        "| --- | --- | --- |",
    ]
    for figure in FIGURES:
        if figure.judged:
            lines.append(f"| {figure.label} | `{figure.levels}` | {figure.volume} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(numbers_markdown(), end="")
