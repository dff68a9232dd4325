"""The roster (排班): who is on duty where, in which slot, on which day.

A roster is a table of assignments plus what it was made from. One row is one officer on duty in
one slot of one day, on one post or task:

================  ==========================================================================
column            meaning
================  ==========================================================================
officer_id        the officer, assistant or duty leader (``Officer.id``)
role              their role: ``officer`` (执法队员), ``assistant`` (协管员/劝导员), ``leader``
squad_id          the squad they belong to
date              the duty day (a night slot belongs to the day it starts on)
slot_id           the duty slot (``Slot.id`` of the policy), or ``"day"`` for 24 h duty
start, end        the slot's start and end as naive local datetimes (a night slot ends the
                  next morning)
post_id           the post staffed (``posts.id``), a patrol route or operation id, or None
task              ``strict_post``, ``patrol``, ``guidance_window``, ``night_check``,
                  ``full_deployment``, ``event``, ``leader_duty`` (the demand ``kind``) or
                  ``reserve``
requirement_id    the demand row this assignment serves (:mod:`grids.demand`), or None
pinned            True for assignments fixed by the planner (published days, hand edits)
================  ==========================================================================

Rows are sorted by date, start, post_id, officer_id. :func:`empty_assignments` gives the frame
with these columns and dtypes, :func:`check_assignments` checks a frame from elsewhere (an
import, a hand edit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from geodata.errors import FieldError

ASSIGNMENT_COLUMNS: tuple[str, ...] = (
    "officer_id",
    "role",
    "squad_id",
    "date",
    "slot_id",
    "start",
    "end",
    "post_id",
    "task",
    "requirement_id",
    "pinned",
)
TASKS: tuple[str, ...] = (
    "strict_post",
    "patrol",
    "guidance_window",
    "night_check",
    "muck_truck",
    "barbecue",
    "full_deployment",
    "event",
    "leader_duty",
    "reserve",
)
RosterStatus = Literal["draft", "published"]


@dataclass(frozen=True)
class RosterInfo:
    """What a roster was made from and how well it did.

    Attributes
    ----------
    roster_id
        The roster's id.
    week
        The ISO week it covers, e.g. ``2026-W49``.
    policy_version, policy_fingerprint
        The duty policy it was made under.
    status
        ``draft`` or ``published``.
    created_at
        When it was made (UTC, ISO 8601).
    solver
        The solver's report: status, objective, bound, gap, times, uncovered demand with reasons.
    """

    roster_id: str
    week: str
    policy_version: int
    policy_fingerprint: str
    status: RosterStatus = "draft"
    created_at: str = ""
    solver: dict[str, Any] = field(default_factory=dict)


def empty_assignments() -> pd.DataFrame:
    """Return an assignment table with no rows, with the columns and dtypes of a roster."""
    return pd.DataFrame(
        {
            "officer_id": pd.Series(dtype=object),
            "role": pd.Series(dtype=object),
            "squad_id": pd.Series(dtype=object),
            "date": pd.Series(dtype=object),
            "slot_id": pd.Series(dtype=object),
            "start": pd.Series(dtype="datetime64[ns]"),
            "end": pd.Series(dtype="datetime64[ns]"),
            "post_id": pd.Series(dtype=object),
            "task": pd.Series(dtype=object),
            "requirement_id": pd.Series(dtype=object),
            "pinned": pd.Series(dtype=bool),
        }
    )


def check_assignments(frame: pd.DataFrame, *, file: str = "roster") -> pd.DataFrame:
    """Check that a table has the roster's columns and sensible values; return it sorted.

    Raises
    ------
    FieldError
        If a column is missing, a required value is empty, a task is unknown, or a slot ends
        before it starts; the message names the row (1-based) and field.
    """
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise FieldError(
            f"a roster needs the columns {', '.join(missing)}", file=file, field=missing[0]
        )
    for column in ("officer_id", "date", "slot_id", "start", "end", "task"):
        empty = frame[column].isna().to_numpy()
        if empty.any():
            row = int(empty.nonzero()[0][0]) + 1
            raise FieldError("a value is required here", file=file, row=row, field=column)
    unknown = ~frame["task"].isin(TASKS).to_numpy()
    if unknown.any():
        row = int(unknown.nonzero()[0][0])
        raise FieldError(
            f"unknown task {frame['task'].iloc[row]!r}; tasks are {', '.join(TASKS)}",
            file=file,
            row=row + 1,
            field="task",
        )
    backwards = (pd.to_datetime(frame["end"]) <= pd.to_datetime(frame["start"])).to_numpy()
    if backwards.any():
        row = int(backwards.nonzero()[0][0]) + 1
        raise FieldError("the slot ends before it starts", file=file, row=row, field="end")
    return frame.sort_values(["date", "start", "post_id", "officer_id"], na_position="last")[
        list(ASSIGNMENT_COLUMNS)
    ].reset_index(drop=True)
