"""Source attributes kept beside the normalised columns, as JSON-safe dicts."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON types (str, int, float, bool, None, list, dict).

    NaN and NaT become None; numpy scalars become Python ones; dates and times become ISO 8601 text;
    bytes become hexadecimal text; anything else its ``str``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if value is pd.NaT:
        return None
    if isinstance(value, (dt.datetime, dt.date, dt.time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def _column_values(column: pd.Series) -> list[Any]:
    kind = column.dtype.kind
    if kind in "iub":
        return column.tolist()
    if kind == "f":
        return [None if math.isnan(v) else v for v in column.tolist()]
    if isinstance(column.dtype, pd.StringDtype):
        return [v if isinstance(v, str) else None for v in column.tolist()]
    return [json_safe(v) for v in column.to_numpy(dtype=object)]


def json_safe_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return each row of ``frame`` as a dict of JSON-safe values (see :func:`json_safe`)."""
    names = [str(c) for c in frame.columns]
    columns = [_column_values(frame.iloc[:, i]) for i in range(frame.shape[1])]
    if not names:
        return [{} for _ in range(len(frame))]
    return list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))
