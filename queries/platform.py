"""What the platform's database looks like: soft deletes and character sets, read once per engine.

Switchboard reads a database it did not create (DESIGN.md, Compatibility). Two
facts about its tables change the SQL that is correct for them:

- **Soft deletes.** A Laravel model with `SoftDeletes` keeps deleted rows, with
  `deleted_at` set. Where a table has that column, its deleted rows are left out
  of every read, and a deleted row's name is never joined in.
- **Character sets.** A column may be `utf8mb4` (Laravel's default, collation
  `utf8mb4_unicode_ci`), `utf8mb3` or `latin1`. Comparing a column with a value
  the server cannot convert to the column's charset is error 1267, so a search
  is only sent to a column that can hold its text (`can_hold`); the column is
  never converted, so its index stays usable. Text that several tables feed into
  one result column (a UNION, a COALESCE) is given one explicit charset and
  collation (`as_result_text`), so no statement depends on the tables agreeing
  with each other or with the connection (error 1271).

- **Case and accents.** A name search finds "Müller" for "MÜLLER" and "muller",
  and "Émile" for "Emile", on every database. A column in a
  collation that folds both (`utf8mb4_unicode_ci`, `utf8mb4_general_ci`, their
  utf8mb3 forms) is compared as it is; any other (latin1's, which is Swedish and
  reads ü as y, `_bin`, `_cs`, a national one) is compared through
  `CONVERT(… USING utf8mb4) COLLATE utf8mb4_unicode_ci` (`searchable`). SQLite
  folds nothing but ASCII case, so its connections get `switchboard_fold()`
  (`register_sqlite_functions`), which the same `searchable` calls on both sides.

One query of `information_schema.COLUMNS` answers all three on MySQL/MariaDB, and names
each table's scalar columns too (the call details select the optional ones a
platform version has); SQLite (the demo) is asked through the inspector. The answer is kept per engine, like
the server flavour in database/engines.py: a column the platform adds later is seen after a
restart.
"""
from __future__ import annotations

import codecs
import functools
import logging
import re
import unicodedata
import weakref
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from schema.tables import PLATFORM_TABLES, SOFT_DELETE_COLUMN

# The one charset and collation of text that several tables feed into one result column. Binary, so no
# collation rule of any server version decides anything: these columns are shown, never compared.
RESULT_CHARSET = "utf8mb4"
RESULT_COLLATION = "utf8mb4_bin"

# MySQL's charset names, and the Python codec that holds exactly the same characters. MySQL's `latin1` is
# Windows-1252 (the manual, "West European Character Sets"); `utf8mb3` is UTF-8 limited to the Basic
# Multilingual Plane, checked apart (no codec says that).
MYSQL_CODECS = {"latin1": "cp1252", "ascii": "ascii", "latin2": "iso8859_2", "latin5": "iso8859_9",
                "latin7": "iso8859_13", "greek": "iso8859_7", "hebrew": "iso8859_8", "cp1250": "cp1250",
                "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257", "koi8r": "koi8_r", "koi8u": "koi8_u",
                "cp850": "cp850", "cp852": "cp852", "cp866": "cp866", "macroman": "mac_roman",
                "sjis": "shift_jis", "cp932": "cp932", "ujis": "euc_jp", "eucjpms": "euc_jp", "gbk": "gbk",
                "gb2312": "gb2312", "gb18030": "gb18030", "big5": "big5", "euckr": "euc_kr", "tis620": "tis_620",
                "binary": None}
UNICODE_ALL = ("utf8mb4", "utf16", "utf16le", "utf32")
UNICODE_BMP = ("utf8mb3", "utf8", "ucs2")
# information_schema DATA_TYPEs that are not scalar: never named in a statement (MariaDB's JSON is a LONGTEXT).
LARGE_DATA_TYPES = frozenset({"tinytext", "text", "mediumtext", "longtext", "json", "tinyblob", "blob",
                              "mediumblob", "longblob"})
# Collations that already compare case- and accent-insensitively the way a person searching means it. Not
# latin1_swedish_ci (ü = y, é = e but ä <> a), nor utf8mb4_german2_ci (ü = ue), nor _bin, _cs or _as_ something.
FOLDING_COLLATION = re.compile(r"^(utf8mb4|utf8mb3|utf8)_(general|unicode|unicode_520|0900_ai|uca1400_ai)_ci$")
# What a column in any other collation is compared in (Laravel's default).
SEARCH_COLLATION = "utf8mb4_unicode_ci"
SQLITE_FOLD = "switchboard_fold"


@dataclass(frozen=True)
class PlatformSchema:
    """The facts about the platform's tables that the SQL depends on."""

    soft_deleting: frozenset[str] = frozenset()  # tables that have `deleted_at`
    charsets: dict[str, str] = field(default_factory=dict)  # "table.column" -> MySQL charset (text columns)
    # table -> its columns that are not TEXT/BLOB/JSON of any size (what a statement may name); no entry: not read
    scalar_columns: dict[str, frozenset[str]] = field(default_factory=dict)
    collations: dict[str, str] = field(default_factory=dict)  # "table.column" -> MySQL collation (text columns)
    # MySQL and MariaDB filter an index's later columns before reading a row (index condition pushdown), but not
    # for the inner table of an outer join; SQLite keeps an outer join's written order, not an inner join's.
    mysql: bool = False
    # table -> {index name: its columns in order}, read on MySQL/MariaDB: an index hint names one that exists
    indexes: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def index_leading(self, table: sa.Table, column: str, preferred: str) -> str | None:
        """Return the name of an index of `table` that leads with `column` (`preferred` where it is one), or None
        where none does or the indexes were not read."""
        found = self.indexes.get(table.name, {})
        if found.get(preferred, ())[:1] == (column,):
            return preferred
        return next((name for name, columns in sorted(found.items()) if columns[:1] == (column,)), None)

    def soft_deletes(self, table: sa.Table) -> bool:
        return table.name in self.soft_deleting

    def live(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        """Return the condition that keeps the table's rows that are not soft-deleted (none where it cannot)."""
        return [table.c[SOFT_DELETE_COLUMN].is_(None)] if self.soft_deletes(table) else []

    def joined(self, table: sa.Table, on: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """Return a join condition that never matches a soft-deleted row, so its name is not joined in."""
        return sa.and_(on, *self.live(table))

    def scalars(self, table: str, default: frozenset[str]) -> frozenset[str]:
        """Return the table's scalar columns as read from the database, or `default` where they were not read."""
        return self.scalar_columns.get(table, default)

    def can_hold(self, column: sa.ColumnElement, text: str) -> bool:
        """Tell whether the column's charset holds every character of `text` (so comparing them is safe); an
        expression over several columns (a name joined from two) holds it where each of them does."""
        return all(charset_holds(self.charsets.get(key, RESULT_CHARSET), text) for key in _column_keys(column))

    def folds(self, column: sa.ColumnElement) -> bool:
        """Tell whether MySQL/MariaDB compares the column case- and accent-insensitively as it is (SQLite's
        columns are asked for nothing: there every search goes through switchboard_fold)."""
        collations = [self.collations.get(key) for key in _column_keys(column)]
        return all(c is None or bool(FOLDING_COLLATION.match(c.lower())) for c in collations)

    def contains_text(self, column: sa.Column, text: str, escape: str) -> sa.ColumnElement[bool] | None:
        """Return `column LIKE %text%` case- and accent-insensitively (None: the column can hold no match).

        A `LIKE '%…%'` reads every row its other conditions leave (no index helps a leading wildcard), so
        converting the column costs no index: the feed's rows still come by their time index, and the search
        only filters them. A column compared as it is must hold the text (error 1267 otherwise); a converted
        one is utf8mb4 and holds anything, so "Dvořák" finds a latin1 "Dvorak"."""
        pattern = f"%{text}%"
        if self.folds(column):
            if not self.can_hold(column, text):
                return None  # a latin1 name is never 'Иван'
            return searchable(column).like(searchable(sa.literal(pattern, sa.String)), escape=escape)
        return converted_searchable(column).like(searchable(sa.literal(pattern, sa.String)), escape=escape)


def _column_keys(column: sa.ColumnElement) -> list[str]:
    """Return "table.column" of each table column an expression reads (one for a plain column)."""
    found = [column] if isinstance(column, sa.Column) else \
        [c for c in sa.sql.visitors.iterate(column) if isinstance(c, sa.Column)]
    return [f"{c.table.name}.{c.name}" for c in found if c.table is not None]


log = logging.getLogger("switchboard.platform")

# The demo's tables on SQLite (any text), and what a statement is built for when no engine is at hand.
DEFAULT_PLATFORM = PlatformSchema()


def charset_holds(charset: str, text: str) -> bool:
    """Tell whether MySQL's `charset` can store `text` unchanged."""
    if text.isascii():
        return True  # ASCII converts losslessly to every charset MySQL has
    name = charset.lower()
    if name in UNICODE_ALL:
        return True
    if name in UNICODE_BMP:
        return all(ord(character) <= 0xFFFF for character in text)
    codec = MYSQL_CODECS.get(name)
    if codec is None:
        return False  # a charset we cannot reason about gets ASCII searches only: never a server error
    try:
        codecs.encode(text, codec)
    except UnicodeEncodeError:
        return False
    return True


class as_result_text(FunctionElement):
    """Text for a result column: on MySQL/MariaDB, `CONVERT(x USING utf8mb4) COLLATE utf8mb4_bin`.

    Only in the select list: a column converted in a WHERE clause would lose its index.
    """

    type = sa.String()
    inherit_cache = True
    name = "as_result_text"


@compiles(as_result_text)
def _as_result_text_default(element, compiler, **kw):
    (expression,) = list(element.clauses)
    return compiler.process(expression, **kw)


@compiles(as_result_text, "mysql")
@compiles(as_result_text, "mariadb")
def _as_result_text_mysql(element, compiler, **kw):
    (expression,) = list(element.clauses)
    return f"CONVERT({compiler.process(expression, **kw)} USING {RESULT_CHARSET}) COLLATE {RESULT_COLLATION}"


def fold_text(text: str | None) -> str | None:
    """Return text without case or accents ('Émile MÜLLER' -> 'emile muller'), as SQLite's searches compare it.

    NFKD splits a letter from its accents (and ligatures into letters), the combining marks are dropped, and
    casefold() folds case as Unicode says (ß -> ss, final sigma -> sigma)."""
    if text is None:
        return None
    return _folded(str(text))


@functools.lru_cache(maxsize=8192)
def _folded(text: str) -> str:
    # SQLite calls this once per row and column searched: names repeat, and most are ASCII, whose fold is lower().
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def register_sqlite_functions(dbapi_connection, connection_record=None) -> None:
    """Give a SQLite connection switchboard_fold(), for case- and accent-insensitive searches.

    A function on the connection rather than a stored folded column: Switchboard never alters the platform's
    tables (DESIGN.md), and a search with a leading wildcard reads the rows its time range leaves either way,
    so a folded column's index would not be used. Deterministic, so SQLite may evaluate it once for a constant
    (the pattern) and could index it were an expression index ever wanted."""
    dbapi_connection.create_function(SQLITE_FOLD, 1, fold_text, deterministic=True)


class searchable(FunctionElement):
    """Text as a search compares it: `switchboard_fold(x)` on SQLite, `x` as it is on MySQL/MariaDB."""

    type = sa.String()
    inherit_cache = True
    name = "searchable"


class converted_searchable(FunctionElement):
    """Text in a collation that does not fold: on MySQL/MariaDB `CONVERT(x USING utf8mb4) COLLATE
    utf8mb4_unicode_ci`, on SQLite the same as `searchable`."""

    type = sa.String()
    inherit_cache = True
    name = "converted_searchable"


@compiles(searchable)
@compiles(converted_searchable)
def _searchable_sqlite(element, compiler, **kw):
    (expression,) = list(element.clauses)
    return f"{SQLITE_FOLD}({compiler.process(expression, **kw)})"


@compiles(searchable, "mysql")
@compiles(searchable, "mariadb")
def _searchable_mysql(element, compiler, **kw):
    (expression,) = list(element.clauses)
    return compiler.process(expression, **kw)


@compiles(converted_searchable, "mysql")
@compiles(converted_searchable, "mariadb")
def _converted_searchable_mysql(element, compiler, **kw):
    (expression,) = list(element.clauses)
    return f"CONVERT({compiler.process(expression, **kw)} USING {RESULT_CHARSET}) COLLATE {SEARCH_COLLATION}"


def no_text() -> sa.ColumnElement:
    """Return a NULL placeholder for a text column of a UNION branch, in the result columns' collation."""
    return as_result_text(sa.null())


_described: weakref.WeakKeyDictionary[Engine, PlatformSchema] = weakref.WeakKeyDictionary()


def platform_schema(engine: Engine) -> PlatformSchema:
    """Return the engine's platform schema facts, read from the database on the first success only.

    No lock: threads that ask at once each read the same facts once, which costs less than making them wait
    in line behind an attempt at a database that does not answer. A failure is not kept: the next ask reads."""
    found = _described.get(engine)
    if found is None:
        found = _described[engine] = describe_platform(engine)
    return found


def read_platform_schema_early(engine: Engine) -> None:
    """Read the facts when the app starts, so no widget's first refresh pays (and is measured with) the reads;
    a database that cannot answer now is asked again by the first query that needs them."""
    try:
        platform_schema(engine)
    except (sa.exc.SQLAlchemyError, OSError) as error:
        log.warning("could not read the platform's tables yet (%s); the first widget query will",
                    type(getattr(error, "orig", None) or error).__name__)


def describe_platform(engine: Engine) -> PlatformSchema:
    """Read which platform tables soft-delete, the charset and collation of each text column and each table's
    scalar columns (the call details name the ones a platform version has)."""
    from queries.schema_map import schema_of  # the map is bound to the engine before its facts are read

    names = list(dict.fromkeys([table.name for table in PLATFORM_TABLES]
                               + [table.name for table in schema_of(engine).tables.values()]))
    if engine.dialect.name == "sqlite":
        return _describe_sqlite(engine, names)
    return _describe_mysql(engine, names)


def _describe_sqlite(engine: Engine, names: list[str]) -> PlatformSchema:
    """Read the tables that soft-delete and each table's scalar columns through SQLite's inspector."""
    inspector = sa.inspect(engine)
    present = set(inspector.get_table_names())
    described = {name: inspector.get_columns(name) for name in names if name in present}
    return PlatformSchema(
        soft_deleting=frozenset(name for name, columns in described.items()
                                if any(c["name"] == SOFT_DELETE_COLUMN for c in columns)),
        scalar_columns={name: frozenset(c["name"] for c in columns
                                        if not isinstance(c["type"], (sa.Text, sa.JSON, sa.LargeBinary)))
                        for name, columns in described.items()})


def _describe_mysql(engine: Engine, names: list[str]) -> PlatformSchema:
    """Read the tables' columns and indexes from MySQL's or MariaDB's information_schema (two statements)."""
    columns = sa.table("COLUMNS", sa.column("TABLE_SCHEMA"), sa.column("TABLE_NAME"), sa.column("COLUMN_NAME"),
                       sa.column("CHARACTER_SET_NAME"), sa.column("COLLATION_NAME"), sa.column("DATA_TYPE"),
                       schema="information_schema")
    statement = (sa.select(columns.c.TABLE_NAME, columns.c.COLUMN_NAME, columns.c.CHARACTER_SET_NAME,
                           columns.c.COLLATION_NAME, columns.c.DATA_TYPE)
                 .where(columns.c.TABLE_SCHEMA == sa.func.database(), columns.c.TABLE_NAME.in_(names)))
    statistics = sa.table("STATISTICS", sa.column("TABLE_SCHEMA"), sa.column("TABLE_NAME"), sa.column("INDEX_NAME"),
                          sa.column("COLUMN_NAME"), sa.column("SEQ_IN_INDEX"), schema="information_schema")
    index_statement = (sa.select(statistics.c.TABLE_NAME, statistics.c.INDEX_NAME, statistics.c.COLUMN_NAME)
                       .where(statistics.c.TABLE_SCHEMA == sa.func.database(), statistics.c.TABLE_NAME.in_(names))
                       .order_by(statistics.c.TABLE_NAME, statistics.c.INDEX_NAME, statistics.c.SEQ_IN_INDEX))
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
        index_rows = connection.execute(index_statement).all()
    return PlatformSchema(
        soft_deleting=frozenset(str(table) for table, column, *_ in rows if str(column) == SOFT_DELETE_COLUMN),
        charsets={f"{table}.{column}": str(charset) for table, column, charset, *_ in rows if charset is not None},
        scalar_columns=_scalar_columns(rows),
        collations={f"{table}.{column}": str(collation) for table, column, _, collation, _ in rows
                    if collation is not None},
        mysql=True,
        indexes=_indexes(index_rows),
    )


def _scalar_columns(rows) -> dict[str, frozenset[str]]:
    """Return each table's columns that are not large (TEXT, BLOB or JSON of any size), from the catalog's rows."""
    scalars: dict[str, set[str]] = {}
    for table, column, _, _, data_type in rows:
        if str(data_type).lower() not in LARGE_DATA_TYPES:
            scalars.setdefault(str(table), set()).add(str(column))
    return {table: frozenset(found) for table, found in scalars.items()}


def _indexes(index_rows) -> dict[str, dict[str, tuple[str, ...]]]:
    """Return each table's indexes and their columns in order, from the catalog's rows (ordered by position)."""
    indexes: dict[str, dict[str, tuple[str, ...]]] = {}
    for table, index, column in index_rows:
        entry = indexes.setdefault(str(table), {})
        entry[str(index)] = (*entry.get(str(index), ()), str(column))
    return indexes
