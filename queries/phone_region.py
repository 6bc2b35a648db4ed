"""Whether the stored phone numbers call for PHONE_REGION: read from a small sample, at start.

A search typed the national way (`030 8589…`) finds a stored `+4930 8589…` only when PHONE_REGION names the
country. A production start with the setting empty looks at a few stored numbers, never the whole table: a sample
that is all of one country, or written the national way, makes a warning that names the setting to set.
"""
from __future__ import annotations

from typing import Iterable

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.schema_map import schema_of

SAMPLE_SIZE = 200  # numbers read at start: no ORDER BY, so the server stops after as many rows


def sample_numbers(engine: Engine, size: int = SAMPLE_SIZE) -> list[str]:
    """Return up to `size` stored caller numbers (of calls; of customers where the calls hold none)."""
    schema = schema_of(engine)
    for name in ("calls.from_number", "customers.phone"):
        column = schema.field(name)
        if column is None:
            continue
        statement = sa.select(column).where(column.is_not(None), column != "").limit(size)
        with engine.connect() as connection:
            numbers = [str(number) for number in connection.execute(statement).scalars()]
        if numbers:
            return numbers
    return []


def phone_region_warning(numbers: Iterable[str]) -> str | None:
    """Return the warning for an unset PHONE_REGION that these stored numbers call for, or None: numbers written
    the national way, or all from one country."""
    regions, national = set(), 0
    for number in numbers:
        text = number.strip()
        if not text.startswith(("+", "00")):
            national += 1
            continue
        try:
            parsed = phonenumbers.parse("+" + text[2:] if text.startswith("00") else text, None)
        except phonenumbers.NumberParseException:
            continue
        regions.add(phonenumbers.region_code_for_number(parsed) or "?")
    if national:
        return (f"PHONE_REGION is not set, and {national} of the stored numbers sampled are written the national "
                "way (no +country code): set PHONE_REGION to their country (e.g. PHONE_REGION=DE) so that a search "
                "finds them typed either way")
    if len(regions) == 1 and "?" not in regions:
        region = next(iter(regions))
        return (f"PHONE_REGION is not set, and the stored numbers sampled are all from {region}: set "
                f"PHONE_REGION={region} so that a number typed the national way (a leading 0) finds them")
    return None


def check_phone_region(config: dict, engine: Engine) -> str | None:
    """Return the start's warning about PHONE_REGION, or None: set, or numbers of several countries (a database
    that cannot answer now: the plain warning, naming what the setting does)."""
    if config["PHONE_REGION"]:
        return None
    try:
        return phone_region_warning(sample_numbers(engine))
    except (sa.exc.SQLAlchemyError, OSError):
        return ("PHONE_REGION is not set (the stored numbers could not be sampled): a number typed the national "
                "way (a leading 0) finds nothing until it names the numbers' country, e.g. PHONE_REGION=DE")
