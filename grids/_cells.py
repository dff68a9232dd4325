"""Reading the cells of tables that users give: empty in any of pandas' ways is None."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

import pandas as pd


def cell_text(value: Any) -> str | None:
    """Return the cell as stripped text, or None if it is missing (None, NA, NaT, NaN) or blank."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Return a sort key that orders the numbers in ``text`` by value (``p2`` before ``p10``)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    )


def frame_records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Return the rows of ``frame`` as dicts of those of ``columns`` it has."""
    present = [c for c in columns if c in frame.columns]
    return cast(list[dict[str, Any]], frame[present].to_dict("records"))


def cell_date(value: Any) -> date | None:
    """Return the cell as a date (a date, a timestamp or text starting ``YYYY-MM-DD``), or None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def cell_moment(value: Any) -> datetime | None:
    """Return the cell as a naive date and time, or None if it is missing or not a time."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    moment: datetime = stamp.to_pydatetime()
    return moment.replace(tzinfo=None)
