"""The schema map: which of the platform's tables and columns (or expressions over them) hold each field
Switchboard reads, which columns hold a call's payload, and which status values mean what.

A platform names things its own way (DESIGN.md, Schema), and its engineers cannot rename production tables.
So the query layer never names a platform column itself: it asks the map. `SCHEMA_MAP_FILE` names a TOML file;
without one the map is the default contract, and the statements are exactly the ones built on schema/tables.py.

The file (`python app.py inspect` proposes one):

    [calls]
    table = "calls"
    start_timestamp = "call_time"           # a field: the platform's column
    agent_id = ""                           # an optional field the platform does not have
    agent_name = "agent_id"                 # the provider's agent id string, shown as the agent
    payload = ["analysis", "transcript"]    # the large columns a person may open, one button each

    [customers]
    name = { concat = ["first_name", "last_name"] }   # an expression over named columns

    [statuses]
    decides_ongoing = "both"                # "status", "call_status", "both" or "either"
    ongoing = ["ongoing", "in_progress"]
    answered = ["completed"]
    missed = ["missed", "busy", "no_answer"]
    failed = ["failed"]

A payload entry is a column, read whole, or a part of a JSON column, read at the database: in place of a column
name, `{ name = "transcript", column = "raw", path = "transcript" }` is the value at `path` inside `raw`, shown
under the button `name`. A path is keys of letters, digits and `_` joined by dots, each key optionally followed
by `[n]` array indexes (`transcript`, `call.turns[0].text`); anything else stops the start, so a path never
carries SQL, quotes or JSONPath wildcards. A row whose JSON lacks the key, holds null there, or is not JSON has
no such entry ("none for this call").

A section's fields are keyed by their default column names; `table` names the platform's table ("" when the
platform has none, for an optional table). A field left out keeps its default column. A required field the
platform lacks stops the start with a message that names it and the fix; an optional one removes its feature.

Plain fields become columns of a Table built with the platform's names and keyed by the default ones
(`sa.Column("call_time", key="start_timestamp")`), so a statement written as `calls.c.start_timestamp`
renders `calls.call_time` and nothing above the query layer changes.
"""
from __future__ import annotations

import re
import tomllib
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from config import ConfigError
from schema.tables import LARGE_TEXT_COLUMNS, PLATFORM_TABLES, SOFT_DELETE_COLUMN

TABLES = {table.name: table for table in PLATFORM_TABLES}
# Tables a platform may lack: their features go, the app stays.
OPTIONAL_TABLES = frozenset({"agents", "services", "appointments"})
# Fields without which no panel can be right: the app does not start without them.
REQUIRED_FIELDS = frozenset({
    "companies.id", "companies.name", "customers.id", "customers.name",
    "calls.id", "calls.company_id", "calls.status", "calls.created_at",
})
# Fields beyond the default schema's columns that a platform may name (no default column).
EXTRA_FIELDS = {"calls": {"agent_name": sa.String(255)}}
DEFAULT_PAYLOAD = tuple(name.split(".", 1)[1] for name in LARGE_TEXT_COLUMNS if name.startswith("calls."))
BUCKETS = ("ongoing", "answered", "missed", "failed")
DECIDES_ONGOING = ("both", "status", "call_status", "either")
DEFAULT_STATUSES = {"ongoing": ("ongoing", "in_progress"), "answered": ("completed",),
                    "missed": ("missed", "busy", "no_answer"), "failed": ("failed",)}
# The optional features a panel, an export or `verify` leaves out, with a note, where the platform lacks them.
FEATURES = {"agent": "Agent", "start": "Start time", "direction": "Direction", "duration": "Duration",
            "services": "Service", "appointments": "Appointments", "payload": "Call payload",
            "customer_phone": "Customer phone"}
FEATURE_FIELDS = {"start": "calls.start_timestamp", "direction": "calls.direction", "duration": "calls.duration_sec",
                  "customer_phone": "customers.phone"}
# A payload entry's JSON path, as the map writes it: keys joined by dots, each with optional [n] indexes.
JSON_PATH = re.compile(r"[A-Za-z0-9_]+(\[[0-9]{1,9}\])*(\.[A-Za-z0-9_]+(\[[0-9]{1,9}\])*)*")
JSON_PATH_LIMIT = 200  # characters
ENTRY_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
JSON_PATH_HELP = ("keys of letters, digits and _ joined by dots, each optionally followed by [n] indexes "
                  "(\"transcript\", \"call.turns[0].text\")")
FIX = "name the platform's column in SCHEMA_MAP_FILE (`python app.py inspect` proposes a map)"


class SchemaMapError(ConfigError):
    """The map cannot be used: a required field is missing, or the file says something it cannot mean."""


@dataclass(frozen=True)
class Concat:
    """A text field made of several columns, joined by `separator` (empty parts left out)."""

    columns: tuple[str, ...]
    separator: str = " "


FieldSpec = str | Concat | None  # a column, an expression, or absent


@dataclass(frozen=True)
class JsonPart:
    """A payload entry kept inside a JSON column: the value at `path` (as the map writes it) within `column`."""

    column: str
    path: str

    @property
    def json_path(self) -> str:
        """Return the path as SQL's JSON functions read it, every key quoted: `$."call"."turns"[0]`."""
        return "$" + "".join(f'."{key}"' + rest for key, rest in
                             (re.fullmatch(r"([A-Za-z0-9_]+)(.*)", step).groups() for step in self.path.split(".")))


@dataclass(frozen=True)
class StatusBuckets:
    """Which status values mean ongoing, answered, missed or failed; any other value is "other"."""

    ongoing: tuple[str, ...] = DEFAULT_STATUSES["ongoing"]
    answered: tuple[str, ...] = DEFAULT_STATUSES["answered"]
    missed: tuple[str, ...] = DEFAULT_STATUSES["missed"]
    failed: tuple[str, ...] = DEFAULT_STATUSES["failed"]
    decides_ongoing: str = "both"

    def values(self, bucket: str) -> tuple[str, ...]:
        return getattr(self, bucket)

    def bucket_of(self, status: str | None) -> str:
        """Return the bucket a status value is in: "other" when the map places it nowhere."""
        return next((bucket for bucket in BUCKETS if status in self.values(bucket)), "other")


@dataclass
class SchemaMap:
    """The map as written: per logical table its platform table and fields, the payload, the statuses."""

    tables: dict[str, str | None] = field(default_factory=lambda: {name: name for name in TABLES})
    fields: dict[str, FieldSpec] = field(default_factory=dict)  # "calls.start_timestamp" -> spec (only overrides)
    payload: tuple[str, ...] = DEFAULT_PAYLOAD  # the entries' names, one button each
    payload_parts: dict[str, JsonPart] = field(default_factory=dict)  # the entries kept inside a JSON column
    statuses: StatusBuckets = field(default_factory=StatusBuckets)

    def payload_column(self, name: str) -> str:
        """Return the column that holds a payload entry: its own, or the JSON column it is a part of."""
        part = self.payload_parts.get(name)
        return part.column if part is not None else name

    def spec(self, name: str) -> FieldSpec:
        """Return what holds a logical field: its mapped spec, else its default column (None: absent)."""
        table, column = name.split(".", 1)
        if self.tables.get(table) is None:
            return None
        if name in self.fields:
            return self.fields[name]
        return column if column in TABLES[table].c else None

    @property
    def is_default(self) -> bool:
        """Tell whether the map says no more than the default one (a field may restate its default column)."""
        default = SchemaMap()
        restated = all(spec == name.split(".", 1)[1] and spec in TABLES[name.split(".", 1)[0]].c
                       for name, spec in self.fields.items())
        return restated and (self.tables, self.payload, self.payload_parts, self.statuses) == (
            default.tables, default.payload, default.payload_parts, default.statuses)


def logical_fields(table: str) -> list[str]:
    """Return a logical table's fields: its default schema's scalar columns, then the extra ones."""
    scalar = [column.name for column in TABLES[table].columns
              if f"{table}.{column.name}" not in LARGE_TEXT_COLUMNS and column.name != SOFT_DELETE_COLUMN]
    return scalar + list(EXTRA_FIELDS.get(table, {}))


def _spec(value: Any, where: str) -> FieldSpec:
    if value is False or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) <= {"concat", "separator"} and "concat" in value:
        return _concat_spec(value, where)
    raise SchemaMapError(f"{where}: expected a column name, \"\" (absent) or {{ concat = [columns…] }}")


def _concat_spec(value: Mapping[str, Any], where: str) -> Concat:
    columns = value["concat"]
    if not (isinstance(columns, list) and columns and all(isinstance(c, str) and c for c in columns)):
        raise SchemaMapError(f"{where}: `concat` is a list of column names")
    return Concat(tuple(columns), str(value.get("separator", " ")))


def parse_schema_map(text: str, source: str = "the schema map") -> SchemaMap:
    """Read a map from TOML; raise SchemaMapError naming what is wrong and where."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SchemaMapError(f"{source} is not valid TOML: {error}") from None
    mapped = SchemaMap()
    for section, values in document.items():
        if section == "statuses":
            mapped.statuses = _statuses(values, source)
        else:
            _read_table_section(mapped, section, values, source)
    return mapped


def _read_table_section(mapped: SchemaMap, section: str, values: Any, source: str) -> None:
    """Read one table's section into the map: its platform table, its fields and (of calls) the payload."""
    if section not in TABLES or not isinstance(values, Mapping):
        raise SchemaMapError(f"{source}: unknown section [{section}]; the sections are "
                             f"{', '.join(f'[{name}]' for name in (*TABLES, 'statuses'))}")
    known = set(logical_fields(section)) | {"table"} | ({"payload"} if section == "calls" else set())
    for key, value in values.items():
        where = f"{source}, [{section}] {key}"
        if key not in known:
            raise SchemaMapError(f"{where}: unknown field; [{section}] has {', '.join(sorted(known))}")
        if key == "table":
            mapped.tables[section] = _spec(value, where) if not isinstance(value, Mapping) else None
        elif key == "payload":
            mapped.payload, mapped.payload_parts = _payload(value, where)
        else:
            mapped.fields[f"{section}.{key}"] = _spec(value, where)


def _payload(value: Any, where: str) -> tuple[tuple[str, ...], dict[str, JsonPart]]:
    """Return the payload entries' names and the parts of JSON columns among them."""
    entry_help = 'a column name, or { name = "…", column = "…", path = "…" } for a part of a JSON column'
    if not isinstance(value, list):
        raise SchemaMapError(f"{where}: a list of entries, each {entry_help}")
    names: list[str] = []
    parts: dict[str, JsonPart] = {}
    for entry in value:
        if isinstance(entry, str) and entry:
            name = entry
        elif isinstance(entry, Mapping) and set(entry) == {"name", "column", "path"}:
            name, part = _json_part(entry, where)
            parts[name] = part
        else:
            raise SchemaMapError(f"{where}: each entry is {entry_help}")
        if name in names:
            raise SchemaMapError(f"{where}: {name!r} is listed twice; each entry names one button")
        names.append(name)
    return tuple(names), parts


def _json_part(entry: Mapping[str, Any], where: str) -> tuple[str, JsonPart]:
    name, column, path = entry["name"], entry["column"], entry["path"]
    if not (isinstance(name, str) and ENTRY_NAME.fullmatch(name)):
        raise SchemaMapError(f"{where}: an entry's name is 1 to 64 letters, digits or _, not {name!r}")
    if not (isinstance(column, str) and column):
        raise SchemaMapError(f"{where}, entry {name!r}: `column` names the JSON column that holds it")
    if not (isinstance(path, str) and len(path) <= JSON_PATH_LIMIT and JSON_PATH.fullmatch(path)):
        raise SchemaMapError(f"{where}, entry {name!r}: `path` {str(path)[:JSON_PATH_LIMIT]!r} is not a path; "
                             f"a path is {JSON_PATH_HELP}, at most {JSON_PATH_LIMIT} characters")
    return name, JsonPart(column, path)


def _statuses(values: Any, source: str) -> StatusBuckets:
    if not isinstance(values, Mapping):
        raise SchemaMapError(f"{source}: [statuses] is a table of buckets")
    unknown = set(values) - {*BUCKETS, "decides_ongoing", "other"}
    if unknown:
        raise SchemaMapError(f"{source}, [statuses]: unknown key {', '.join(sorted(unknown))}; the buckets are "
                             f"{', '.join(BUCKETS)} (any other value is \"other\"), and decides_ongoing")
    decides = values.get("decides_ongoing", "both")
    if decides not in DECIDES_ONGOING:
        raise SchemaMapError(f"{source}, [statuses] decides_ongoing: one of {', '.join(DECIDES_ONGOING)}")
    buckets = {}
    for bucket in BUCKETS:
        listed = values.get(bucket, list(DEFAULT_STATUSES[bucket]))
        if not (isinstance(listed, list) and all(isinstance(v, str) for v in listed)):
            raise SchemaMapError(f"{source}, [statuses] {bucket}: a list of status values")
        buckets[bucket] = tuple(listed)
    return StatusBuckets(**buckets, decides_ongoing=decides)


def load_schema_map(path: str | Path | None) -> SchemaMap:
    """Return the map SCHEMA_MAP_FILE names, or the default map when it names none."""
    if not path:
        return SchemaMap()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SchemaMapError(f"SCHEMA_MAP_FILE: cannot read {path}: {error.strerror}") from None
    return parse_schema_map(text, f"SCHEMA_MAP_FILE {path}")


def missing_required(mapped: SchemaMap, columns: Mapping[str, set[str]] | None = None) -> list[str]:
    """Return a message for each required field the map leaves out or the database lacks (`columns`: each
    platform table's columns, when the database was read)."""
    problems = []
    for name in sorted(REQUIRED_FIELDS):
        table, column = name.split(".", 1)
        physical = mapped.tables.get(table)
        spec = mapped.spec(name)
        if spec is None:
            problems.append(f"{name} is required but the map names no column for it: {FIX}")
            continue
        if columns is None:
            continue
        if physical not in columns:
            problems.append(f"{name} is required but the database has no table {physical}: {FIX}")
            continue
        needed = spec.columns if isinstance(spec, Concat) else (spec,)
        absent = [c for c in needed if c not in columns[physical]]
        if absent:
            problems.append(f"{name} is required but {physical} has no column {', '.join(absent)}: {FIX}")
    return problems


def check_schema_map(mapped: SchemaMap, columns: Mapping[str, set[str]] | None = None) -> None:
    """Raise SchemaMapError listing every required field the map or the database lacks."""
    problems = missing_required(mapped, columns)
    if problems:
        raise SchemaMapError("the schema map cannot be used:\n  " + "\n  ".join(problems))


def read_columns(engine: Engine, tables: Iterable[str]) -> dict[str, set[str]]:
    """Return the columns of each of the named tables the database has (the inspector: information_schema on
    MySQL/MariaDB)."""
    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names()) | set(inspector.get_view_names())
    return {table: {column["name"] for column in inspector.get_columns(table)} for table in tables if table in present}


@dataclass
class MappedSchema:
    """The map made into SQLAlchemy: the platform's tables, keyed by logical names, and its field expressions."""

    source: SchemaMap
    tables: dict[str, sa.Table]  # logical table -> the platform's table (absent: the platform has none)
    present: dict[str, set[str]] | None = None  # the columns read from the database, if it was read

    @property
    def statuses(self) -> StatusBuckets:
        return self.source.statuses

    @property
    def payload(self) -> tuple[str, ...]:
        """The payload entries whose column the platform has (all the map names, where the database was not
        read)."""
        calls = self.source.tables.get("calls")
        if self.present is None or calls not in self.present:
            return self.source.payload
        return tuple(name for name in self.source.payload
                     if self.source.payload_column(name) in self.present[calls])

    @property
    def payload_columns(self) -> frozenset[str]:
        """The columns that hold the payload entries: never selected but by the payload statement."""
        return frozenset(self.source.payload_column(name) for name in self.source.payload)

    def payload_source(self, name: str) -> sa.ColumnElement:
        """Return the expression that reads a payload entry: its column, or the part of its JSON column (NULL
        where the key is missing, holds null or the column is not JSON)."""
        column = self.tables["calls"].c[self.source.payload_column(name)]
        part = self.source.payload_parts.get(name)
        return column if part is None else json_text(column, part.json_path)

    def table(self, name: str) -> sa.Table | None:
        return self.tables.get(name)

    def has(self, name: str) -> bool:
        """Tell whether the platform holds a logical field ("calls.agent_id")."""
        return self.field(name) is not None

    def field(self, name: str) -> sa.ColumnElement | None:
        """Return the expression that reads a logical field, or None where the platform does not hold it."""
        table_name, key = name.split(".", 1)
        table = self.tables.get(table_name)
        spec = self.source.spec(name)
        if table is None or spec is None:
            return None
        if isinstance(spec, Concat):
            if not all(self._exists(table_name, column) for column in spec.columns):
                return None
            return _concat([table.c[column] for column in spec.columns], spec.separator)
        if key not in table.c or not self._exists(table_name, spec):
            return None
        return table.c[key]

    def shown(self, name: str, label: str | None = None) -> sa.ColumnElement:
        """Return a logical field for a select list, labelled; NULL where the platform does not hold it."""
        found, label = self.field(name), label or name.split(".", 1)[1]
        if isinstance(found, sa.Column) and found.name == label:
            return found  # the default schema's statements stay as they were written
        return (found if found is not None else sa.null()).label(label)

    def ongoing_statuses(self) -> sa.ColumnElement[bool]:
        """Return the condition on the status columns that means "ongoing", as the map's buckets say."""
        values = list(self.statuses.ongoing)
        status, call_status = self.field("calls.status"), self.field("calls.call_status")
        decides = self.statuses.decides_ongoing
        if call_status is None or decides == "status":
            return status.in_(values)
        if decides == "call_status":
            return call_status.in_(values)
        if decides == "either":
            return sa.or_(status.in_(values), call_status.in_(values))
        return sa.and_(status.in_(values), call_status.in_(values))

    def status_in(self, bucket: str, status: sa.ColumnElement | None = None) -> sa.ColumnElement[bool]:
        """Return the condition "the call's status is in this bucket" (`status`: the status column as a derived
        table carries it; by default the calls table's). "other" is every value no bucket places, and NULL:
        a status nobody told Switchboard about is counted there, never dropped."""
        status = self.field("calls.status") if status is None else status
        if bucket == "other":
            placed = [value for name in BUCKETS for value in self.statuses.values(name)]
            return sa.or_(status.is_(None), status.not_in(placed))
        return status.in_(list(self.statuses.values(bucket)))

    def absent(self) -> list[str]:
        """Return the notes of the optional features this database lacks ("Agent: not in this database"), in
        the order FEATURES lists them."""
        return [f"{label}: not in this database" for feature, label in FEATURES.items() if not self.offers(feature)]

    def notes(self, *features: str) -> list[str]:
        """Return the notes of these features (FEATURES' keys) that the platform lacks."""
        return [f"{FEATURES[feature]}: not in this database" for feature in features if not self.offers(feature)]

    def offers(self, feature: str) -> bool:
        """Tell whether the platform holds what a feature shows (FEATURES names them)."""
        if feature == "agent":
            return self.has("calls.agent_name") or (self.has("calls.agent_id") and self.has("agents.name"))
        if feature == "payload":
            return bool(self.payload)
        if feature in ("appointments", "services"):
            return self.table(feature) is not None
        return self.has(FEATURE_FIELDS[feature])

    def _exists(self, table: str, column: str) -> bool:
        physical = self.source.tables.get(table)
        return self.present is None or column in self.present.get(physical, set())


def _concat(parts: list[sa.ColumnElement], separator: str) -> sa.ColumnElement:
    """Return the parts joined by the separator, NULL parts left out, NULL when all are: on every dialect
    (SQLAlchemy's `+` on strings is `||` on SQLite and CONCAT() on MySQL/MariaDB)."""
    joined = sa.func.coalesce(parts[0], "")
    for part in parts[1:]:
        joined = joined + sa.case((sa.func.coalesce(part, "") == "", ""), else_=separator + part)
    return sa.func.nullif(sa.func.trim(joined), "")


class json_text(FunctionElement):
    """The value at a JSON path inside a text column, as text: a string unquoted, an array or object as JSON; NULL
    where the path is missing, holds null, or the column is not valid JSON (the path goes as a bound parameter).

    SQLite: `CASE WHEN json_valid(c) THEN json_extract(c, :path) END`. MySQL/MariaDB: JSON_VALID first (MySQL
    refuses a statement whose JSON_EXTRACT meets text that is not JSON), then JSON_TYPE for null: MariaDB compares
    JSON_EXTRACT's result to 'null' as JSON, so the string "null" would read as none too."""

    type = sa.Text()
    inherit_cache = True
    name = "json_text"

    def __init__(self, column: sa.ColumnElement, path: str):
        super().__init__(column, sa.bindparam("json_path", path, type_=sa.String, unique=True))


@compiles(json_text)
def _json_text_sqlite(element, compiler, **kw):
    column, path = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CASE WHEN json_valid({column}) THEN json_extract({column}, {path}) END"


@compiles(json_text, "mysql")
@compiles(json_text, "mariadb")
def _json_text_mysql(element, compiler, **kw):
    column, path = (compiler.process(clause, **kw) for clause in element.clauses)
    found = f"JSON_EXTRACT({column}, {path})"
    return (f"CASE WHEN NOT JSON_VALID({column}) THEN NULL WHEN JSON_TYPE({found}) = 'NULL' THEN NULL "
            f"ELSE JSON_UNQUOTE({found}) END")


def build_mapped_schema(mapped: SchemaMap, present: dict[str, set[str]] | None = None) -> MappedSchema:
    """Make the map into tables; with the default map, schema/tables.py's own tables."""
    if mapped.is_default:
        return MappedSchema(mapped, dict(TABLES), present)
    metadata = sa.MetaData()
    tables = {name: sa.Table(mapped.tables[name], metadata, *_mapped_columns(mapped, name).values())
              for name in TABLES if mapped.tables.get(name) is not None}
    return MappedSchema(mapped, tables, present)


def _mapped_columns(mapped: SchemaMap, name: str) -> dict[str, sa.Column]:
    """Return a logical table's columns as the map names them: its fields (keyed by their logical names), the
    columns its joined fields are made of, the payload's columns and the soft-delete column."""
    specs = {key: mapped.spec(f"{name}.{key}") for key in logical_fields(name)}
    columns = {key: sa.Column(spec, _field_type(name, key), key=key, primary_key=(key == "id"))
               for key, spec in specs.items() if isinstance(spec, str)}
    for column in _joined_parts(specs.values()):
        columns.setdefault(column, sa.Column(column, sa.String(255)))
    payload = [mapped.payload_column(entry) for entry in mapped.payload] if name == "calls" else []
    for column in (*payload, SOFT_DELETE_COLUMN):
        columns.setdefault(column, sa.Column(column, sa.Text if column != SOFT_DELETE_COLUMN else sa.DateTime))
    return columns


def _joined_parts(specs: Iterable[FieldSpec]) -> list[str]:
    """Return the columns the joined fields among these are made of, in order."""
    return [column for spec in specs if isinstance(spec, Concat) for column in spec.columns]


def _field_type(table: str, key: str) -> sa.types.TypeEngine:
    """Return a field's type: its default column's, or the one an extra field is declared with."""
    default = TABLES[table]
    return default.c[key].type if key in default.c else EXTRA_FIELDS[table][key]


DEFAULT_SCHEMA = build_mapped_schema(SchemaMap())
_bound: weakref.WeakKeyDictionary[Engine, MappedSchema] = weakref.WeakKeyDictionary()


def bind_schema_map(engine: Engine, mapped: MappedSchema) -> None:
    """Make `mapped` the schema every query on this engine is built from (create_app does, once)."""
    _bound[engine] = mapped


def schema_of(engine: Engine | None) -> MappedSchema:
    """Return the schema bound to the engine: the default one where none was."""
    return _bound.get(engine, DEFAULT_SCHEMA) if engine is not None else DEFAULT_SCHEMA


def prepare_schema_map(config: Mapping[str, Any], engine: Engine) -> MappedSchema:
    """Load SCHEMA_MAP_FILE, check it against the database (when it answers) and bind it to the engine.

    Raise SchemaMapError when a required field is missing, in the map or in the database: the app would show
    database errors in every panel instead."""
    mapped = load_schema_map(config.get("SCHEMA_MAP_FILE"))
    check_schema_map(mapped)
    if mapped.is_default:
        schema = DEFAULT_SCHEMA
    else:
        try:
            present = read_columns(engine, [t for t in mapped.tables.values() if t])
        except (sa.exc.SQLAlchemyError, OSError):
            present = None  # checked by `verify`, and on the next start; the queries name their failures
        check_schema_map(mapped, present)
        schema = build_mapped_schema(mapped, present)
    bind_schema_map(engine, schema)
    return schema
