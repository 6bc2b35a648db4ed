"""The one way a widget query reaches the database.

`run` executes a SQLAlchemy Core statement (parameters always bound), fetches at
most `max_rows` rows, reports them to the instrumentation and returns a pandas
DataFrame with the statement's column names. The statement time limit is a
property of the reader engine (see db.py), so every query run here carries it.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitoring.instrumentation import record_rows

# A safety net behind each query's own LIMIT: no widget ever needs more.
HARD_ROW_CAP = 10_000


class QueryTooLarge(RuntimeError):
    """A statement returned more rows than its cap allows (a query bug, not user input)."""


def run(engine: Engine, statement: sa.Executable, max_rows: int = HARD_ROW_CAP) -> pd.DataFrame:
    """Run `statement` on the reader engine and return its rows as a DataFrame."""
    with engine.connect() as connection:
        result = connection.execute(statement)
        columns = list(result.keys())
        rows = result.fetchmany(max_rows + 1)
        result.close()
    record_rows(rows)
    if len(rows) > max_rows:
        raise QueryTooLarge(f"statement returned more than {max_rows} rows")
    return pd.DataFrame.from_records([tuple(row) for row in rows], columns=columns)
