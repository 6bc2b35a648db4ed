"""Switchboard's performance indexes on a database it does not own: planned from the catalog, recorded when made.

The platform may have some of the indexes already, under Switchboard's names or its own, sometimes twice. An
index is added only where no existing one leads with the same columns (an index whose first columns are the
wanted ones serves every read the wanted one would). Every index Switchboard creates is recorded, with the
batch of the `migrate` that made it, in its own table `switchboard_migrations`; `rollback` drops only what that
table names, so an index the platform had is never touched, whatever its name.

Beside the contract's indexes, two cover the time-window reads (WINDOW_INDEXES): the headline figures, the
company table, the feed's counts and searches read every column they need from the index, so a day of calls is
a few pages read in order, not a random page read per call (what a table whose ids do not follow time, an
imported or merged one, costs on a buffer pool smaller than the table). Their columns after the first are
optional: a column the platform lacks, or cannot index (TEXT, JSON), or that would pass the server's key length,
is left out, and the index still serves the columns it holds.

One plan serves both `migrate` and `migrate --sql`: the statements a plan holds are the statements that run,
so what a DBA reads is what `migrate` would do on this database. On MySQL/MariaDB each index is built online
(ALGORITHM=INPLACE, LOCK=NONE), as SQLAlchemy's Index cannot say.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schema.tables import CUSTOMER_HISTORY_INDEXES, PERFORMANCE_INDEXES, PLATFORM_TABLES, WINDOW_INDEXES

LEDGER_TABLE = "switchboard_migrations"
INDEX = "index"  # a ledger row's kind: an index Switchboard created
ADOPTED = "adopted"  # the batch that first recorded an existing platform database (undoing it removes the ledger)

ledger_metadata = sa.MetaData()
ledger = sa.Table(
    LEDGER_TABLE, ledger_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("table_name", sa.String(64), nullable=True),
    sa.Column("index_name", sa.String(64), nullable=True),
    sa.Column("columns", sa.String(255), nullable=True),  # comma-separated, in index order
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
)


@dataclass(frozen=True)
class WantedIndex:
    """An index Switchboard's reads need: by its contract name, on the platform's table and columns.

    `served_by` leading columns of an existing index suffice; by default all of them. `required` leading columns
    must exist; the others cover reads and are left out where the table cannot hold them (0: all required)."""

    table: str
    name: str
    columns: tuple[str, ...]
    served_by: int = 0
    required: int = 0

    @property
    def serving_prefix(self) -> tuple[str, ...]:
        return self.columns[:self.served_by or len(self.columns)]

    @property
    def required_columns(self) -> tuple[str, ...]:
        return self.columns[:self.required or len(self.columns)]

    def fitted(self, entry: "TableCatalog") -> "WantedIndex":
        """Return the index with the optional columns the table lacks, cannot index, or has no key room for,
        left out (the required ones are judged by the planner)."""
        if not self.required:
            return self
        kept = list(self.required_columns)
        room = MAX_KEY_BYTES - sum(entry.key_bytes.get(column) or 0 for column in kept)
        for column in self.columns[self.required:]:
            size = entry.key_bytes.get(column) if column in entry.columns else None
            if size is not None and size <= room and column not in kept:
                kept.append(column)
                room -= size
        return replace(self, columns=tuple(kept))


# A customer's appointments: an index leading with customer_id already bounds the read to one customer's rows
# (Laravel's foreign key index), and adding ours beside it would make InnoDB drop that one silently.
_SERVED_BY = {"idx_customer_appointments": 1}
# Indexes that cover reads: only their first column is required (see WantedIndex.fitted).
_COVERING = frozenset(index.name for index in WINDOW_INDEXES)


# InnoDB's largest key (DYNAMIC rows; MariaDB and MySQL alike); a text column counts 4 bytes a character.
MAX_KEY_BYTES = 3072


def default_wanted() -> tuple[WantedIndex, ...]:
    """Return the indexes of DESIGN.md, the customer history's and the time windows', on the default table and
    column names."""
    return tuple(WantedIndex(index.table.name, index.name, tuple(column.name for column in index.columns),
                             _SERVED_BY.get(index.name, 0), 1 if index.name in _COVERING else 0)
                 for index in (*PERFORMANCE_INDEXES, *CUSTOMER_HISTORY_INDEXES, *WINDOW_INDEXES))


def mapped_wanted(mapped) -> tuple[WantedIndex, ...]:
    """Return the wanted indexes on the platform's tables and columns, as the schema map (a SchemaMap) names
    them. A field the platform lacks is left out of an index (no `call_status`: the ongoing calls are found by
    status and time); an index on a field kept as an expression over several columns is not wanted, except as a
    covering column of a time-window index, which then holds each of the expression's columns."""
    wanted = []
    for index in default_wanted():
        table = mapped.tables.get(index.table)
        required = index.required_columns
        specs = [(column in required, mapped.spec(f"{index.table}.{column}")) for column in index.columns]
        found = _covering_on(index, table, specs) if index.required else _plain_on(index, table, specs)
        if found is not None:
            wanted.append(found)
    return tuple(wanted)


def _covering_on(index: WantedIndex, table: str | None, specs: list[tuple[bool, Any]]) -> WantedIndex | None:
    """Return a covering index on the platform's table, each column of an expression covered in its own right
    (None: no table, or a required field that is not one column)."""
    if not table or any(needed and not isinstance(spec, str) for needed, spec in specs):
        return None
    columns = tuple(dict.fromkeys(part for _, spec in specs if spec is not None for part in _spec_columns(spec)))
    return replace(index, table=table, columns=columns)


def _spec_columns(spec: Any) -> tuple[str, ...]:
    """Return the columns a field is kept in: its column, or those of the expression over several."""
    return (spec,) if isinstance(spec, str) else spec.columns


def _plain_on(index: WantedIndex, table: str | None, specs: list[tuple[bool, Any]]) -> WantedIndex | None:
    """Return an index on the platform's table and its present fields (None: no table, no field, or a field
    kept as an expression)."""
    columns = tuple(spec for _, spec in specs if spec is not None)
    if table and columns and all(isinstance(column, str) for column in columns):
        return WantedIndex(table, index.name, columns, index.served_by)
    return None


@dataclass(frozen=True)
class ExistingIndex:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    name: str | None
    columns: tuple[str, ...]


@dataclass
class TableCatalog:
    columns: set[str]
    indexes: list[ExistingIndex]
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    key_bytes: dict[str, int | None] = field(default_factory=dict)  # a column's largest key part; None: no key


def key_bytes(column_type: sa.types.TypeEngine) -> int | None:
    """Return the most bytes a column of this type takes in an InnoDB key (None: it cannot be one in whole)."""
    if isinstance(column_type, (sa.Text, sa.JSON, sa.LargeBinary, sa.PickleType)):
        return None
    if isinstance(column_type, sa.String):
        return None if column_type.length is None else 4 * column_type.length
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
        return 16
    if isinstance(column_type, (sa.Boolean, sa.SmallInteger)):
        return 2
    return 8  # integers, floats, dates and times: 8 bytes at most


@dataclass
class Catalog:
    """What the planner needs to know of a database: each table's columns, indexes and foreign keys."""

    flavour: str  # 'sqlite', 'mariadb' or 'mysql'
    tables: dict[str, TableCatalog]

    def index_names(self, table: str) -> set[str]:
        """Return the names a new index on `table` may not take (on SQLite, index names are database-wide)."""
        tables = self.tables.values() if self.flavour == "sqlite" else [self.tables[table]]
        return {index.name for entry in tables for index in entry.indexes if index.name}


def read_catalog(connection: Connection, flavour: str, tables: Iterable[str]) -> Catalog:
    """Read the columns, indexes (primary and unique keys included) and foreign keys of the named tables."""
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    names = present if flavour == "sqlite" else present & set(tables)
    catalog = Catalog(flavour, {})
    for table in names:
        indexes = [ExistingIndex(index["name"], tuple(index["column_names"]))
                   for index in inspector.get_indexes(table) if None not in index["column_names"]]
        indexes += [ExistingIndex(unique["name"], tuple(unique["column_names"]))
                    for unique in inspector.get_unique_constraints(table)]
        primary = inspector.get_pk_constraint(table)
        if primary.get("constrained_columns"):
            indexes.append(ExistingIndex(None, tuple(primary["constrained_columns"])))
        columns = inspector.get_columns(table)
        catalog.tables[table] = TableCatalog(
            {column["name"] for column in columns}, indexes,
            [ForeignKey(key["name"], tuple(key["constrained_columns"])) for key in inspector.get_foreign_keys(table)],
            {column["name"]: key_bytes(column["type"]) for column in columns})
    return catalog


def declared_catalog(flavour: str) -> Catalog:
    """Return the catalog the platform tables of schema/tables.py have once created, before any index."""
    return Catalog(flavour, {table.name: TableCatalog({column.name for column in table.columns},
                                                      [ExistingIndex(None, ("id",))],
                                                      key_bytes={column.name: key_bytes(column.type)
                                                                 for column in table.columns})
                             for table in PLATFORM_TABLES})


@dataclass(frozen=True)
class Decision:
    """What `migrate` does about one wanted index, and why."""

    wanted: WantedIndex
    create: bool
    reason: str
    present: bool = False  # the index is there under its own name and columns


@dataclass(frozen=True)
class Step:
    """One statement of a plan: it creates one of Switchboard's indexes, or keeps one of the platform's."""

    sql: str
    creates: WantedIndex | None = None
    keeps: tuple[str, str] | None = None  # (table, index) of the platform's that the statement adds back


@dataclass
class IndexPlan:
    """The decisions, and the statements that carry them out, in order."""

    decisions: list[Decision] = field(default_factory=list)
    statements: list[Step] = field(default_factory=list)

    @property
    def created(self) -> list[WantedIndex]:
        return [decision.wanted for decision in self.decisions if decision.create]


def _quote(dialect: sa.engine.Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


def _column_list(dialect: sa.engine.Dialect, columns: Sequence[str]) -> str:
    return ", ".join(_quote(dialect, column) for column in columns)


def describe(index: ExistingIndex | WantedIndex, table: str | None = None) -> str:
    """Return `table.name (columns)` for messages."""
    prefix = f"{table}." if table else ""
    return f"{prefix}{index.name or 'PRIMARY'} ({', '.join(index.columns)})"


def plan_indexes(catalog: Catalog, wanted: Sequence[WantedIndex], dialect: sa.engine.Dialect) -> IndexPlan:
    """Decide, for each wanted index, whether to create it, and write the statements that would."""
    plan = IndexPlan()
    for index in wanted:
        entry = catalog.tables.get(index.table)
        if entry is None:
            plan.decisions.append(Decision(index, False, f"no table {index.table}"))
            continue
        index = index.fitted(entry)
        left = _left_out(catalog, entry, index)
        if left is not None:
            plan.decisions.append(left)
            continue
        plan.decisions.append(Decision(index, True, "no index leads with " + ", ".join(index.serving_prefix)))
        plan.statements.append(Step(create_statement(catalog.flavour, dialect, index), creates=index))
        plan.statements += _foreign_key_keepers(catalog, dialect, index)
        entry.indexes.append(ExistingIndex(index.name, index.columns))
    return plan


def _left_out(catalog: Catalog, entry: TableCatalog, index: WantedIndex) -> Decision | None:
    """Return why an index is not created on its table: columns missing, an index that serves, a name taken
    (None: it is created)."""
    missing = [column for column in index.columns if column not in entry.columns]
    if missing:
        return Decision(index, False, f"{index.table} has no {', '.join(missing)}")
    served = _served(entry, index)
    if served is not None:
        return served
    if index.name in catalog.index_names(index.table):
        return Decision(index, False, f"the name {index.name} is taken by another index; "
                                      "the platform's is left as it is")
    return None


def _served(entry: TableCatalog, index: WantedIndex) -> Decision | None:
    """Return the decision to leave an index out where the table has indexes that lead with its serving prefix
    (present: one of them is the index itself), None where it has none."""
    prefix = index.serving_prefix
    serving = [existing for existing in entry.indexes if existing.columns[:len(prefix)] == prefix]
    if not serving:
        return None
    present = any(existing.name == index.name and existing.columns == index.columns for existing in serving)
    return Decision(index, False, "served by " + ", ".join(describe(existing) for existing in serving), present)


def create_statement(flavour: str, dialect: sa.engine.Dialect, index: WantedIndex) -> str:
    """Return the DDL that creates the index: online on MySQL/MariaDB."""
    if flavour == "sqlite":
        return f"CREATE INDEX {_quote(dialect, index.name)} ON {_quote(dialect, index.table)} " \
               f"({_column_list(dialect, index.columns)})"
    return f"ALTER TABLE {_quote(dialect, index.table)} ADD INDEX {_quote(dialect, index.name)} " \
           f"({_column_list(dialect, index.columns)}), ALGORITHM=INPLACE, LOCK=NONE"


def _foreign_key_keepers(catalog: Catalog, dialect: sa.engine.Dialect, index: WantedIndex) -> list[Step]:
    """Return the statements that keep a foreign key's own index once ours is added.

    InnoDB drops the index it made for a foreign key (Laravel's `calls_customer_id_foreign`) without a word once
    another index can serve the key. That would change the platform's schema, and make ours an index no rollback
    may drop (error 1553). So the key's index, named and shaped as before, is added again right after ours; on
    MariaDB `IF NOT EXISTS` makes that a no-op where the platform had made the index itself and InnoDB kept it."""
    if catalog.flavour == "sqlite":
        return []
    entry = catalog.tables[index.table]
    guard = " IF NOT EXISTS" if catalog.flavour == "mariadb" else ""
    return [Step(f"ALTER TABLE {_quote(dialect, index.table)} ADD INDEX{guard} "
                 f"{_quote(dialect, key.name)} ({_column_list(dialect, key.columns)}), "
                 "ALGORITHM=INPLACE, LOCK=NONE", keeps=(index.table, key.name))
            for key in entry.foreign_keys
            if index.columns[:len(key.columns)] == key.columns and _served_by_own_index_alone(entry, key)]


def _served_by_own_index_alone(entry: TableCatalog, key: ForeignKey) -> bool:
    """Tell whether a foreign key's own index (its name, its columns) is the only one that serves it: the one
    InnoDB drops once another can."""
    own = [existing for existing in entry.indexes if existing.name == key.name and existing.columns == key.columns]
    others = [existing for existing in entry.indexes
              if existing.columns[:len(key.columns)] == key.columns and existing not in own]
    return bool(own) and not others


def drop_statement(catalog: Catalog, dialect: sa.engine.Dialect, table: str, name: str,
                   columns: tuple[str, ...], dropping: set[str]) -> str:
    """Return the DDL that drops one of Switchboard's indexes, online on MySQL/MariaDB.

    Where a foreign key's columns lead it and no index that stays starts with them, InnoDB refuses the drop
    (error 1553) unless an index for the key is added in the same statement: it takes the key's own name, as the
    one InnoDB had made."""
    if catalog.flavour == "sqlite":
        return f"DROP INDEX {_quote(dialect, name)}"
    entry = catalog.tables[table]
    keeper = ""
    staying = [index.columns for index in entry.indexes if index.name != name and index.name not in dropping]
    for key in entry.foreign_keys:
        if columns[:len(key.columns)] != key.columns or any(kept[:len(key.columns)] == key.columns
                                                            for kept in staying):
            continue
        keeper = f"ADD INDEX {_quote(dialect, key.name or table + '_' + '_'.join(key.columns) + '_foreign')} " \
                 f"({_column_list(dialect, key.columns)}), "
        break
    return f"ALTER TABLE {_quote(dialect, table)} {keeper}DROP INDEX {_quote(dialect, name)}, " \
           "ALGORITHM=INPLACE, LOCK=NONE"


def ledger_rows(batch: int, created: Iterable[WantedIndex]) -> list[dict]:
    """Return the ledger rows that record the indexes a batch created."""
    return [{"batch": batch, "kind": INDEX, "table_name": index.table, "index_name": index.name,
             "columns": ",".join(index.columns)} for index in created]
