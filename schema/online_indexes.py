"""Adding and dropping Switchboard's indexes as its migrations do (0002, 0003): online on MySQL/MariaDB.

On MySQL/MariaDB each index is built online (ALGORITHM=INPLACE, LOCK=NONE), so the
platform keeps writing while it builds; SQLAlchemy's Index has no such options, hence
the ALTERs. An index whose columns a table lacks is skipped, and one that already
exists under its name is left as it is.

Offline (`migrate --sql`) the caller passes the columns it found in
`config.attributes["existing_columns"]`, since nothing can be inspected then.
"""
from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import context, op

IndexSpec = tuple[str, str, tuple[str, ...]]  # (table, index, columns)


def specs(indexes: Sequence[sa.Index]) -> tuple[IndexSpec, ...]:
    """Return (table, index, columns) of indexes declared in schema/tables.py, in their order."""
    return tuple((index.table.name, index.name, tuple(column.name for column in index.columns)) for index in indexes)


def _existing(indexes: Sequence[IndexSpec]) -> tuple[dict[str, set[str] | None], dict[str, set[str]],
                                                     dict[str, set[str]]]:
    """Return the columns, the index names and the first column of every index of each table involved."""
    tables = {table for table, _, _ in indexes}
    if context.is_offline_mode():
        columns = context.config.attributes.get("existing_columns") or {}
        return {t: set(columns.get(t, ())) or None for t in tables}, {t: set() for t in tables}, {t: set() for t in tables}
    inspector = sa.inspect(op.get_bind())
    columns = {t: {c["name"] for c in inspector.get_columns(t)} for t in tables}
    found = {t: inspector.get_indexes(t) for t in tables}
    return (columns, {t: {i["name"] for i in found[t]} for t in tables},
            {t: {i["column_names"][0] for i in found[t] if i["column_names"]} for t in tables})


def _applicable(columns: dict, table: str, wanted: tuple[str, ...]) -> bool:
    present = columns.get(table)
    return present is None or set(wanted) <= present


def _is_mysql() -> bool:
    return op.get_context().dialect.name in {"mysql", "mariadb"}


def _quote(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(name)


def _indexes_of(table: str) -> dict[str, tuple[str, ...]]:
    """Return the table's indexes by name, with their columns (online only)."""
    return {index["name"]: tuple(index["column_names"]) for index in sa.inspect(op.get_bind()).get_indexes(table)
            if index["name"]}


def add_indexes(indexes: Sequence[IndexSpec], unless_led_alike: bool = False) -> None:
    """Create each index that is missing, online on MySQL/MariaDB; with `unless_led_alike`, not where the table
    has an index that starts with the same column already.

    A foreign key's index that InnoDB made implicitly (Laravel's `calls_customer_id_foreign`) is dropped without a
    word once another index can serve the key, which would change the platform's schema and make ours an index
    no rollback may drop (error 1553). So on MySQL/MariaDB every index of the platform's that vanishes while ours
    is added is created again, by its name and columns: it stays, now explicit, and the platform's schema is as
    it was."""
    columns, existing, leading = _existing(indexes)
    for table, name, wanted in indexes:
        if not _applicable(columns, table, wanted) or name in existing[table]:
            continue
        if unless_led_alike and wanted[0] in leading[table]:
            continue
        if _is_mysql():
            before = {} if context.is_offline_mode() else _indexes_of(table)
            op.execute(f"ALTER TABLE {_quote(table)} ADD INDEX {_quote(name)} ({_column_list(wanted)}), "
                       "ALGORITHM=INPLACE, LOCK=NONE")
            if before:
                after = _indexes_of(table)
                for vanished, its_columns in before.items():
                    if vanished not in after:
                        op.execute(f"ALTER TABLE {_quote(table)} ADD INDEX {_quote(vanished)} "
                                   f"({_column_list(its_columns)}), ALGORITHM=INPLACE, LOCK=NONE")
        else:
            op.create_index(name, table, list(wanted))


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(_quote(column) for column in columns)


def _foreign_key_fallback(table: str, name: str, wanted: tuple[str, ...], dropping: set[str]) -> str:
    """Return the `ADD INDEX` that must come with dropping this index, or "": where a foreign key's columns lead
    it and no other index that stays starts with them, InnoDB refuses the drop (1553) unless an index for the
    key is added in the same statement; it takes the key's own name, as the one InnoDB had made."""
    if context.is_offline_mode():
        return ""
    inspector = sa.inspect(op.get_bind())
    staying = [columns for index, columns in _indexes_of(table).items() if index != name and index not in dropping]
    for key in inspector.get_foreign_keys(table):
        key_columns = tuple(key["constrained_columns"])
        if wanted[:len(key_columns)] != key_columns or any(columns[:len(key_columns)] == key_columns
                                                           for columns in staying):
            continue
        return f"ADD INDEX {_quote(key['name'] or table + '_' + '_'.join(key_columns) + '_foreign')} " \
               f"({_column_list(key_columns)}), "
    return ""


def drop_indexes(indexes: Sequence[IndexSpec]) -> None:
    """Drop each of the indexes that exists (offline: each that applies), last first."""
    columns, existing, _ = _existing(indexes)
    offline = context.is_offline_mode()
    dropping = {name for _, name, _ in indexes}
    for table, name, wanted in reversed(indexes):
        if not _applicable(columns, table, wanted) or not (offline or name in existing[table]):
            continue
        if _is_mysql():
            fallback = _foreign_key_fallback(table, name, wanted, dropping)
            op.execute(f"ALTER TABLE {_quote(table)} {fallback}DROP INDEX {_quote(name)}, "
                       "ALGORITHM=INPLACE, LOCK=NONE")
        else:
            op.drop_index(name, table_name=table)
