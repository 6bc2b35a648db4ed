"""Phone numbers masked for viewers who may not see them whole (support), wherever a number may hide.

A number reaches the page in many shapes: E.164 with or without `+`, a JSON number, percent-encoded in a URL
(`?From=%2B49…`), inside a file name (`/rec/4915112345678_20261207.mp3`), with no-break spaces or en dashes
between its groups, as full-width digits, JSON escapes (`\\u0034\\u0039…`), digits spoken one by one in a
transcript (`0, 1, 5, 1, …`, `zero one five …`), or in another country's national format (`(415) 555-2671`).

So a text is first normalised into a shadow copy whose every character remembers where it came from: percent
escapes and JSON `\\uXXXX` escapes decoded, number words read as digits, any script's digits (full-width,
Arabic-Indic) read as ASCII digits, Unicode spaces, dashes and invisible format characters read as a space.
Two detectors run over the shadow, and every digit they cover is masked in the original text but the last
three of each number (as in the grids):
- `phonenumbers`' matcher at its most lenient (POSSIBLE), in the viewer's region: any country's format;
- a rule for long digit runs: seven or more digits with at most three separators between each two
  (spaces, dashes, dots, slashes, commas, brackets), whatever surrounds them (letters, `_`, `@`, `%2B`).

It fails closed: an id, a price or a count that only looks like a number is masked too. The one exception is an
ISO 8601 date or date-time (`2026-12-07`, `2026-12-07T10:30:00Z`), left readable: its digits are a calendar
date and a clock time, which no phone number is written as. Decoded JSON is masked value by value (strings,
keys, and numbers of seven digits or more, which become masked text); text that cannot be parsed is masked as
it is. A value that cannot be masked raises, and the caller shows nothing of it.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

import phonenumbers

from access.roles import MASK, VISIBLE_PHONE_DIGITS

FALLBACK_REGION = "DE"
MIN_RUN_DIGITS = 7  # a digit run this long is masked whatever it looks like
MIN_MATCHER_DIGITS = 5  # fewer digits in a text: no phone number in it, the matcher is not asked
NUMBER_WORDS = {word: str(digit) for digit, words in enumerate((
    ("zero", "null"), ("one", "eins"), ("two", "zwei"), ("three", "drei"), ("four", "vier"),
    ("five", "fünf", "fuenf"), ("six", "sechs"), ("seven", "sieben"), ("eight", "acht"), ("nine", "neun")))
    for word in words}
# What is decoded or read differently in the shadow copy; anything else ASCII is copied as it is.
SPECIAL = re.compile(r"%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\b(?:" + "|".join(NUMBER_WORDS) + r")\b|[^\x00-\x7f]",
                     re.IGNORECASE)
DIGIT_RUN = re.compile(r"\d(?:[\s\-./,()+]{0,3}\d){%d,}" % (MIN_RUN_DIGITS - 1))
DATE_TIME = re.compile(r"(?<![\d.])(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
                       r"(?:[T ][01]\d|[T ]2[0-3])?(?::[0-5]\d){0,2}(?:\.\d{1,9})?(?:Z|[+-][01]\d:?[0-5]\d)?"
                       r"(?![\d])")


def _shadow_character(token: str) -> str:
    """Return what one special token of a text reads as: a digit, a space, or itself."""
    if token[0] == "%":
        token = chr(int(token[1:], 16))
    elif token[0] == "\\":
        token = chr(int(token[2:], 16))
    elif len(token) > 1:
        return NUMBER_WORDS[token.lower()]
    digit = unicodedata.decimal(token, None)
    if digit is None:
        digit = unicodedata.decimal(unicodedata.normalize("NFKC", token)[:1] or " ", None)
    if digit is not None:
        return str(digit)
    if token in "+":
        return token
    category = unicodedata.category(token)
    if category in ("Zs", "Zl", "Zp", "Pd", "Cf", "Cc"):
        return " "
    return token


def shadow(text: str) -> tuple[str, list[int]]:
    """Return the text normalised for finding numbers, and where each of its characters starts in `text`
    (one more entry: the end)."""
    pieces: list[str] = []
    origin: list[int] = []
    last = 0
    for match in SPECIAL.finditer(text):
        if match.start() > last:
            pieces.append(text[last:match.start()])
            origin.extend(range(last, match.start()))
        pieces.append(_shadow_character(match.group()))
        origin.append(match.start())
        last = match.end()
    pieces.append(text[last:])
    origin.extend(range(last, len(text)))
    origin.append(len(text))
    return "".join(pieces), origin


def number_spans(normalised: str, region: str) -> list[tuple[int, int]]:
    """Return the spans of the normalised text that hold a phone number, or may."""
    searched = DATE_TIME.sub(lambda match: "_" * len(match.group()), normalised)
    spans = [match.span() for match in DIGIT_RUN.finditer(searched)]
    if sum(character.isdigit() for character in searched) >= MIN_MATCHER_DIGITS:
        spans += [(match.start, match.end) for match in phonenumbers.PhoneNumberMatcher(
            searched, region or FALLBACK_REGION, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=1_000_000)]
    return spans


def mask_text(text: str, region: str = FALLBACK_REGION) -> str:
    """Return the text with every phone number in it masked, but the last three digits of each."""
    normalised, origin = shadow(text)
    masked: set[int] = set()
    for start, end in number_spans(normalised, region):
        digits = [index for index in range(start, end) if normalised[index].isdigit()]
        masked.update(digits[:max(len(digits) - VISIBLE_PHONE_DIGITS, 0)])
    if not masked:
        return text
    pieces, last = [], 0
    for index in sorted(masked):
        pieces += [text[last:origin[index]], MASK]
        last = origin[index + 1]
    return "".join(pieces) + text[last:]


def mask_field(value: Any, region: str = FALLBACK_REGION) -> Any:
    """Return a shown value (a name, a URL, a number) with any phone number in it masked; None stays None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        # A number has no separators and no context for the matcher: it holds a phone number when it is long.
        text = repr(value)
        return mask_text(text, region) if DIGIT_RUN.search(text) else value
    return mask_text(str(value), region)


def mask_document(document: Any, region: str = FALLBACK_REGION) -> Any:
    """Return decoded JSON with every string, key and number masked (numbers that hold one become text).
    The caller bounds its depth first (the walk recurses)."""
    if isinstance(document, dict):
        return {mask_text(str(key), region): mask_document(value, region) for key, value in document.items()}
    if isinstance(document, list):
        return [mask_document(item, region) for item in document]
    if isinstance(document, str):
        return mask_text(document, region)
    return mask_field(document, region)
