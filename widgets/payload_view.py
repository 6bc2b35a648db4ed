"""A call's payload as the panel shows it: parsed, masked, pretty-printed and split into sections, within bounds.

The database returns at most PAYLOAD_PREVIEW_KB of a column, but what is prepared from it can grow without
bound: a 65 KB JSON nested 450 deep pretty-printed into 29.4 MB (every level indents every line below it), and
one nested 5,000 deep made `json.loads` raise RecursionError, a 500. So the prepared sections are capped at
about twice the characters the database returned (GROWTH, plus SLACK_CHARACTERS for tiny payloads) and the
document at MAX_DEPTH levels; the budget is counted while the text is written, so an answer that would pass it
is given up early, not built and then measured. Anything that cannot be prepared within those bounds, or parsed
(any exception), is shown as the text the database returned, masked, capped, with a note saying why. Masking
comes before any of it is shown (access/masking.py): decoded values when the text parses, the raw text when not;
if that fails, nothing of the text is shown.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from access.masking import mask_document, mask_text

log = logging.getLogger("switchboard.widgets")

MAX_DEPTH = 40  # provider payloads nest about 6 levels; a transcript's turns a few more
GROWTH = 2
SLACK_CHARACTERS = 2048
SECTION_OVERHEAD = 32  # what a section costs beside its text in the answer ({"key": …, "text": …})
ENCODER = json.JSONEncoder(indent=2, ensure_ascii=False)
NOT_MASKABLE = "it could not be masked, so none of it is shown"


class OverBudget(ValueError):
    """The prepared text would pass its budget."""


@dataclass
class Prepared:
    """The sections shown ({"key", "text"} each) and, when the text is shown as stored, why."""

    sections: list[dict[str, str]]
    note: str = ""
    raw: bool = field(default=False)


def budget_of(text: str) -> int:
    """Return how many characters the sections prepared from this text may hold in all."""
    return GROWTH * len(text) + SLACK_CHARACTERS


def nesting_depth(document: Any, limit: int = MAX_DEPTH) -> int:
    """Return how deep a decoded document nests (a scalar: 0), counting no further than limit + 1; no recursion."""
    deepest = 0
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            pending += [(item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)]
    return deepest


def encode_within(value: Any, budget: int) -> str:
    """Return the value pretty-printed, or raise OverBudget as soon as it passes `budget` characters."""
    pieces, size = [], 0
    for chunk in ENCODER.iterencode(value):
        size += len(chunk)
        if size > budget:
            raise OverBudget(budget)
        pieces.append(chunk)
    return "".join(pieces)


def _sections(title: str, document: Any, budget: int) -> list[dict[str, Any]]:
    """Return one section per top-level key of an object (one for anything else), within the budget; a section
    whose value is a scalar (an id, a status, a number) says so, and the panel shows it open: one line each, they
    are what a person opens a payload to read first."""
    parts = document.items() if isinstance(document, dict) else [(title, document)]
    sections, left = [], budget
    for key, value in parts:
        text = encode_within(value, left - SECTION_OVERHEAD - len(str(key)))
        left -= len(text) + SECTION_OVERHEAD + len(str(key))
        sections.append({"key": str(key), "text": text, "scalar": not isinstance(value, (dict, list))})
    return sections


def as_stored(title: str, text: str, masked: bool, region: str, note: str) -> Prepared:
    """Return the text as the database returned it (masked when asked, cut at its budget), with a note."""
    try:
        shown = mask_text(text, region) if masked else text
    except Exception:  # fail closed: a text that could not be masked is not shown
        log.warning("a payload could not be masked; none of it was shown")
        return Prepared([], NOT_MASKABLE, raw=True)
    return Prepared([{"key": title, "text": shown[:budget_of(text)]}], note, raw=True)


def prepare(title: str, text: str, cut: bool, masked: bool, region: str) -> Prepared:
    """Return the sections of a column's text: per key and pretty-printed when it is whole JSON within the
    bounds, else as stored (a cut text, prose), with a note when it is shown so for being out of bounds."""
    if cut:
        return as_stored(title, text, masked, region, "")
    try:
        document = json.loads(text)
    except RecursionError:
        return as_stored(title, text, masked, region, f"shown as stored: nested more than {MAX_DEPTH} levels deep")
    except Exception:  # not JSON (a transcript, prose): shown as it is, nothing to say
        return as_stored(title, text, masked, region, "")
    try:
        if nesting_depth(document) > MAX_DEPTH:
            return as_stored(title, text, masked, region,
                             f"shown as stored: nested more than {MAX_DEPTH} levels deep")
        if masked:
            document = mask_document(document, region)
        return Prepared(_sections(title, document, budget_of(text)))
    except OverBudget:
        return as_stored(title, text, masked, region,
                         f"shown as stored: laid out it would be more than {GROWTH}× its size")
    except Exception as error:  # whatever it was, the person still sees the text
        log.warning("a payload could not be prepared: %s", type(error).__name__)
        return as_stored(title, text, masked, region, "shown as stored: it could not be laid out")
