"""`python app.py inspect`: a schema map proposed from the platform's catalog, with a reason on every line.

It reads the catalog through SQLAlchemy's inspector (information_schema on MySQL/MariaDB, PRAGMAs on SQLite)
and the distinct status values (one capped statement per column), and writes nothing. Where the choice is
unambiguous (a column of the field's own name, `first_name` and `last_name` for a name, `call_time` for the
start, a provider's agent id string where there is no agents table, the large columns for the payload) the
proposed map works as it is; what it could not find is listed for a person to decide.

Where `calls` has no transcript column but a large column's JSON holds a top-level "transcript" in the newest
calls (one statement per column over the newest SAMPLE_ROWS rows by primary key, the key looked up at the
database), the payload gets an entry for that part, so the transcript button finds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from queries.platform import LARGE_DATA_TYPES
from queries.schema_map import (BUCKETS, DEFAULT_STATUSES, OPTIONAL_TABLES, REQUIRED_FIELDS, TABLES, JsonPart,
                                json_text, logical_fields)

STATUS_CAP = 50  # distinct values read per status column
SAMPLE_ROWS = 20  # the newest calls whose large columns are looked into for a transcript
TRANSCRIPT = "transcript"  # the payload entry, and the JSON key, a transcript is found under
# Other names platforms use for a field, in order of preference.
ALIASES = {
    "calls.start_timestamp": ("call_time", "started_at", "start_time", "call_started_at"),
    "calls.customer_name": ("caller_name",),
    "calls.from_number": ("from", "caller_number", "from_phone"),
    "calls.to_number": ("to", "callee_number", "to_phone"),
    "calls.duration_sec": ("duration", "duration_seconds", "call_duration"),
    "calls.called_at": ("called_at",),
    "calls.agent_name": ("provider_agent_id", "retell_agent_id", "vapi_assistant_id", "assistant_id"),
    "customers.phone": ("phone_number", "mobile"),
    "appointments.starts_at": ("start_at", "start_time", "scheduled_at"),
}
# What the map says for the agent fields where calls.agent_id holds the provider's agent id (no agents table).
PROVIDER_AGENT_ID = {
    "calls.agent_id": ('""', "not a reference to an agents table: shown as agent_name"),
    "calls.agent_name": ('"agent_id"', "the provider's agent id, kept on the call"),
}
TABLE_ALIASES = {"agents": ("voice_agents", "ai_agents", "assistants")}
# Status words and the bucket they suggest.
STATUS_WORDS = {
    "ongoing": ("ongoing", "in_progress", "in-progress", "registered", "ringing", "queued", "active", "live"),
    "answered": ("completed", "ended", "analyzed", "answered", "finished", "done"),
    "missed": ("missed", "busy", "no_answer", "no-answer", "not_connected", "voicemail", "unanswered"),
    "failed": ("failed", "error", "errored", "dial_failed", "canceled_by_error"),
}


@dataclass
class Proposal:
    """The proposed map, line by line, and what the catalog could not answer."""

    lines: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    statuses_seen: dict[str, list[str]] = field(default_factory=dict)

    def toml(self) -> str:
        return "\n".join(self.lines) + "\n"


def _is_large(column_type: sa.types.TypeEngine) -> bool:
    # MySQL's LONGTEXT and MEDIUMTEXT are Strings to SQLAlchemy, not Texts: their names tell.
    return isinstance(column_type, (sa.Text, sa.JSON, sa.LargeBinary)) or \
        type(column_type).__name__.lower() in LARGE_DATA_TYPES


def _is_integer(column_type: sa.types.TypeEngine) -> bool:
    return isinstance(column_type, sa.Integer)


def _line(key: str, value: str, why: str) -> str:
    return f"{key} = {value}  # {why}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def propose_map(engine: Engine) -> Proposal:
    """Read the catalog and the statuses; return the proposed map."""
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names()) | set(inspector.get_view_names())
    proposal = Proposal(lines=["# Switchboard schema map proposed by `python app.py inspect`: review it, then",
                               "# point SCHEMA_MAP_FILE at it. Each line says why its column was chosen."])
    columns: dict[str, dict[str, sa.types.TypeEngine]] = {}
    for logical in TABLES:
        physical = logical if logical in names else next((a for a in TABLE_ALIASES.get(logical, ()) if a in names),
                                                          None)
        proposal.lines += ["", f"[{logical}]"]
        if physical is None:
            proposal.lines.append(_line("table", '""', f"no table {logical}: its features are left out"))
            note = "optional" if logical in OPTIONAL_TABLES else "required"
            proposal.not_found.append(f"table {logical} ({note})")
            continue
        proposal.lines.append(_line("table", _quoted(physical), "same name" if physical == logical
                                    else f"no table {logical}; {physical} holds them"))
        columns[logical] = {c["name"]: c["type"] for c in inspector.get_columns(physical)}
        _propose_fields(proposal, logical, columns[logical], "agents" in columns)
        if logical == "calls":
            _propose_payload(proposal, engine, physical, columns[logical])
    _propose_statuses(proposal, engine, columns.get("calls", {}))
    return proposal


def _propose_fields(proposal: Proposal, table: str, found: dict[str, sa.types.TypeEngine], has_agents: bool) -> None:
    for key in logical_fields(table):
        name = f"{table}.{key}"
        chosen = _field_choice(name, key, found, has_agents)
        if chosen is not None:
            proposal.lines.append(_line(key, *chosen))
        elif key in TABLES[table].c or name in REQUIRED_FIELDS:
            required = name in REQUIRED_FIELDS
            proposal.lines.append(_line(key, '""', f"not found{': REQUIRED, name the column' if required else ''}"))
            proposal.not_found.append(f"{name} ({'required' if required else 'optional'})")


def _field_choice(name: str, key: str, found: dict[str, sa.types.TypeEngine], has_agents: bool
                  ) -> tuple[str, str] | None:
    """Return what the map says for a field and why: the provider's agent id, a column of the field's own name,
    a name joined from its parts or a column of another usual name (None: none of them is there)."""
    if name in PROVIDER_AGENT_ID and _holds_provider_agent_id(found, has_agents):
        return PROVIDER_AGENT_ID[name]
    if key in found:
        return _quoted(key), "same name"
    if name == "customers.name" and {"first_name", "last_name"} <= set(found):
        return '{ concat = ["first_name", "last_name"] }', "no name column: first_name and last_name, joined"
    alias = next((a for a in ALIASES.get(name, ()) if a in found), None)
    if alias is not None:
        return _quoted(alias), f"no {key}; {alias} holds it"
    return None


def _holds_provider_agent_id(found: dict[str, sa.types.TypeEngine], has_agents: bool) -> bool:
    """Tell whether calls.agent_id holds the provider's agent id rather than a reference to an agents table."""
    return "agent_id" in found and not (_is_integer(found["agent_id"]) and has_agents)


def _propose_payload(proposal: Proposal, engine: Engine, table: str, found: dict[str, sa.types.TypeEngine]) -> None:
    payload = [column for column, kind in found.items() if _is_large(kind)]
    entries = [_quoted(column) for column in payload]
    why = "every TEXT/LONGTEXT/JSON column of calls, opened one at a time"
    if TRANSCRIPT not in payload and "id" in found:
        holder = next(((column, count) for column in payload
                       if (count := _rows_with_transcript(engine, table, column))), None)
        if holder is not None:
            column, count = holder
            entries.append(f"{{ name = {_quoted(TRANSCRIPT)}, column = {_quoted(column)}, "
                           f"path = {_quoted(TRANSCRIPT)} }}")
            why += f"; the transcript inside {column}'s JSON (in {count} of the newest {SAMPLE_ROWS} calls)"
    proposal.lines.append(_line("payload", "[" + ", ".join(entries) + "]", why))


def _rows_with_transcript(engine: Engine, table: str, column: str) -> int:
    """Return how many of the newest SAMPLE_ROWS calls hold a top-level "transcript" in `column`'s JSON (0 where
    the database cannot say: no JSON functions)."""
    source = sa.table(table, sa.column("id"), sa.column(column))
    newest = sa.select(source.c[column].label("document")).order_by(source.c.id.desc()).limit(SAMPLE_ROWS).subquery()
    found = json_text(newest.c.document, JsonPart(column, TRANSCRIPT).json_path)
    statement = sa.select(sa.func.count()).select_from(newest).where(found.is_not(None))
    try:
        with engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())
    except sa.exc.SQLAlchemyError:
        return 0


def _distinct(engine: Engine, table: str, column: str) -> list[str]:
    """Return up to STATUS_CAP distinct values of one column (one statement)."""
    source = sa.table(table, sa.column(column))
    statement = sa.select(source.c[column]).where(source.c[column].is_not(None)).distinct().limit(STATUS_CAP)
    with engine.connect() as connection:
        return sorted(str(value) for (value,) in connection.execute(statement))


def _propose_statuses(proposal: Proposal, engine: Engine, calls: dict[str, sa.types.TypeEngine]) -> None:
    seen = {column: _distinct(engine, "calls", column) for column in ("status", "call_status") if column in calls}
    proposal.statuses_seen = seen
    buckets, other = _bucketed(seen)
    decides, why = _decides_ongoing(seen, set(buckets["ongoing"]))
    proposal.lines += ["", "[statuses]", _line("decides_ongoing", _quoted(decides), why)]
    for bucket in BUCKETS:
        listed = "[" + ", ".join(_quoted(v) for v in buckets[bucket]) + "]"
        proposal.lines.append(_line(bucket, listed, "the default values and the seen ones that mean " + bucket))
    shown = ", ".join(other) if other else "none"
    proposal.lines.append(f"# status values seen in no bucket (counted as \"other\"): {shown}")
    for column, found in seen.items():
        capped = f" (the first {STATUS_CAP})" if len(found) >= STATUS_CAP else ""
        proposal.lines.append(f"# distinct {column} values seen{capped}: {', '.join(found) or 'none'}")
    if proposal.not_found:
        proposal.lines += ["", "# not found: " + "; ".join(proposal.not_found)]


def _bucketed(seen: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Return the buckets (the default values, then the seen ones whose word suggests the bucket) and the seen
    values no bucket takes."""
    # Every metric reads `status`; `call_status` only ever helps decide "ongoing".
    buckets = {bucket: list(DEFAULT_STATUSES[bucket]) for bucket in BUCKETS}
    other = []
    for column, values in seen.items():
        for value in values:
            bucket = next((b for b in BUCKETS if value.lower() in STATUS_WORDS[b]), None)
            if column == "call_status" and bucket != "ongoing":
                continue
            if bucket is None:
                other.append(value)
            elif value not in buckets[bucket]:
                buckets[bucket].append(value)
    return buckets, other


def _decides_ongoing(seen: dict[str, list[str]], ongoing: set[str]) -> tuple[str, str]:
    """Return which status column decides "ongoing" and why: the one that alone holds ongoing values, else both."""
    if "call_status" not in seen or (seen.get("status") and _alone_ongoing(seen, "status", "call_status", ongoing)):
        return "status", "only status holds ongoing values"
    if _alone_ongoing(seen, "call_status", "status", ongoing):
        return "call_status", "only call_status holds ongoing values"
    return "both", "both status columns say ongoing while a call is"


def _alone_ongoing(seen: dict[str, list[str]], column: str, other: str, ongoing: set[str]) -> bool:
    """Tell whether `column` holds ongoing values while `other` holds values, none of them ongoing."""
    return bool(seen.get(column) and seen.get(other) and not ongoing & set(seen[other])
                and ongoing & set(seen[column]))
