"""A DataFrame as plain JSON data and back, for the few query results cached before they are built.

The query cache stores JSON only (database/query_cache.py). Most widgets cache
the payload they send, but one result feeds many views (the activity feed's newest
rows, see queries.activity.RecentFeed) and is cached as rows. Columns are kept as
lists with their dtype, so the frame read back compares equal to the one fetched:
times as integers in their dtype's unit (numpy's NaT is the smallest int64), missing
values as null. About 2,000 rows in a few milliseconds each way (benchmarks/cache_codec.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NAT = np.iinfo(np.int64).min  # how numpy's datetime64 holds NaT


def frame_to_data(frame: pd.DataFrame) -> dict[str, Any]:
    """Return the frame as {"columns", "dtypes", "values"} (one list a column) of JSON values."""
    values = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "M":
            ticks = column.to_numpy().view("int64").tolist()
            values.append([None if tick == NAT else tick for tick in ticks] if column.hasnans else ticks)
        else:
            # Missing text and numbers come out as NaN, which orjson writes as null; anything JSON has no
            # form for (pd.NA, a Decimal) makes the cache refuse the value, loudly.
            values.append(column.tolist())
    return {"columns": [str(name) for name in frame.columns], "dtypes": [str(frame[name].dtype) for name in
                                                                        frame.columns], "values": values}


def frame_from_data(data: dict[str, Any]) -> pd.DataFrame:
    """Rebuild the frame frame_to_data described."""
    columns = {}
    for name, dtype, values in zip(data["columns"], data["dtypes"], data["values"]):
        if dtype.startswith("datetime64"):
            ticks = np.array([NAT if tick is None else tick for tick in values], dtype="int64")
            columns[name] = pd.Series(ticks.view(dtype))
        else:
            columns[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns, columns=data["columns"])
