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

One query of `information_schema.COLUMNS` answers both on MySQL/MariaDB; SQLite
(the demo) is asked through the inspector. The answer is kept per engine, like
the server flavour in db.py: a column the platform adds later is seen after a
restart.
"""
from __future__ import annotations

import codecs
import logging
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


@dataclass(frozen=True)
class PlatformSchema:
    """The facts about the platform's tables that the SQL depends on."""

    soft_deleting: frozenset[str] = frozenset()  # tables that have `deleted_at`
    charsets: dict[str, str] = field(default_factory=dict)  # "table.column" -> MySQL charset (text columns)

    def soft_deletes(self, table: sa.Table) -> bool:
        return table.name in self.soft_deleting

    def live(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        """Return the condition that keeps the table's rows that are not soft-deleted (none where it cannot)."""
        return [table.c[SOFT_DELETE_COLUMN].is_(None)] if self.soft_deletes(table) else []

    def joined(self, table: sa.Table, on: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """Return a join condition that never matches a soft-deleted row, so its name is not joined in."""
        return sa.and_(on, *self.live(table))

    def can_hold(self, column: sa.Column, text: str) -> bool:
        """Tell whether the column's charset holds every character of `text` (so comparing them is safe)."""
        charset = self.charsets.get(f"{column.table.name}.{column.name}", RESULT_CHARSET)
        return charset_holds(charset, text)


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
    """Read which platform tables soft-delete and the charset of each text column."""
    names = [table.name for table in PLATFORM_TABLES]
    if engine.dialect.name == "sqlite":
        inspector = sa.inspect(engine)
        present = set(inspector.get_table_names())
        soft = {name for name in names if name in present
                and any(c["name"] == SOFT_DELETE_COLUMN for c in inspector.get_columns(name))}
        return PlatformSchema(soft_deleting=frozenset(soft))
    columns = sa.table("COLUMNS", sa.column("TABLE_SCHEMA"), sa.column("TABLE_NAME"), sa.column("COLUMN_NAME"),
                       sa.column("CHARACTER_SET_NAME"), schema="information_schema")
    statement = (sa.select(columns.c.TABLE_NAME, columns.c.COLUMN_NAME, columns.c.CHARACTER_SET_NAME)
                 .where(columns.c.TABLE_SCHEMA == sa.func.database(), columns.c.TABLE_NAME.in_(names)))
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return PlatformSchema(
        soft_deleting=frozenset(str(table) for table, column, _ in rows if str(column) == SOFT_DELETE_COLUMN),
        charsets={f"{table}.{column}": str(charset) for table, column, charset in rows if charset is not None},
    )
