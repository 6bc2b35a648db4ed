"""The one way a widget query reaches the database.

`run` executes a SQLAlchemy Core statement (parameters always bound), fetches at
most `max_rows` rows, hands them to the engine's row observers and returns a pandas
DataFrame with the statement's column names. The statement time limit is a
property of the reader engine (see database/engines.py), so every query run here carries it.

The runner knows nothing of monitoring: whoever wants the rows
an engine fetched says so where the engine is built (`observe_rows`; create_app
attaches the instrumentation with monitoring.instrumentation.instrument_engine).
"""
from __future__ import annotations

import weakref
from typing import Callable, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

RowsObserver = Callable[[Sequence[Sequence[object]]], None]

# A safety net behind each query's own LIMIT: no widget ever needs more.
HARD_ROW_CAP = 10_000


# Per engine, as SQLAlchemy keeps an engine's event listeners: gone with the engine.
_observers: "weakref.WeakKeyDictionary[Engine, list[RowsObserver]]" = weakref.WeakKeyDictionary()


class QueryTooLarge(RuntimeError):
    """A statement returned more rows than its cap allows (a query bug, not user input)."""


def observe_rows(engine: Engine, observer: RowsObserver) -> None:
    """Hand the rows of every statement `run` fetches on `engine` to `observer` (set up once, with the engine)."""
    _observers.setdefault(engine, []).append(observer)


def run(engine: Engine, statement: sa.Executable, max_rows: int = HARD_ROW_CAP) -> pd.DataFrame:
    """Run `statement` on the reader engine and return its rows as a DataFrame."""
    with engine.connect() as connection:
        result = connection.execute(statement)
        columns = list(result.keys())
        rows = result.fetchmany(max_rows + 1)
        result.close()
    for observer in _observers.get(engine, ()):
        observer(rows)
    if len(rows) > max_rows:
        raise QueryTooLarge(f"statement returned more than {max_rows} rows")
    return pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
