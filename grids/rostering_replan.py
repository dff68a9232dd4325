"""Re-planning a roster: what a previous roster fixes, absences, and the changes made.

A roster re-planned after an absence or a new event post starts from the roster it replaces:

- :func:`previous_roster` reads that roster's assignment table as the shift each person worked
  each day (for the shift engine's ``previous`` and pins) and the requirement each person served in
  each slot (for stage 2). Days up to the last published one, and assignments marked ``pinned``,
  are pinned: they stay as they are;
- :func:`with_absences` adds leave for the people who are absent;
- :func:`assignment_changes` counts the (person, date, slot) that differ between two rosters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import pandas as pd

from geodata.errors import FieldError
from grids.rostering_shifts import LEADER_SHIFT_ID
from grids.shift_model import ShiftType
from grids.staff import LeavePeriod, Officer

__all__ = [
    "PreviousRoster",
    "assignment_changes",
    "previous_roster",
    "roster_shifts",
    "with_absences",
]

SlotKey = tuple[str, date, str]


def _minute(value: datetime, day: date) -> int:
    return round((value - datetime.combine(day, datetime.min.time())).total_seconds() / 60)


def roster_shifts(
    assignments: pd.DataFrame, days: Sequence[date], shift_types: Iterable[ShiftType]
) -> dict[tuple[str, int], str]:
    """Return the shift each person works each day of a roster.

    A person's slots of a day make one shift, from the start of the first to the end of the
    last; leader duty is the leader shift. Days whose shift is not among ``shift_types`` (the
    policy has changed since) are left out.

    Parameters
    ----------
    assignments
        A roster's assignment table (:mod:`grids.roster`).
    days
        The week's dates.
    shift_types
        The shift types of the new problems.

    Returns
    -------
    dict
        (officer id, day index) → shift id.
    """
    index_of = {day: i for i, day in enumerate(days)}
    by_times = {(t.start_min, t.length_min): t.id for t in shift_types}
    found: dict[tuple[str, int], str] = {}
    if assignments.empty:
        return found
    frame = assignments.assign(
        start=pd.to_datetime(assignments["start"]), end=pd.to_datetime(assignments["end"])
    )
    for (officer_id, day), group in frame.groupby(["officer_id", "date"], sort=True):
        i = index_of.get(day)  # type: ignore[call-overload]
        if i is None:
            continue
        if (group["task"] == "leader_duty").any():
            found[(str(officer_id), i)] = LEADER_SHIFT_ID
            continue
        begin = group["start"].min().to_pydatetime()
        end = group["end"].max().to_pydatetime()
        shift_id = by_times.get((_minute(begin, day), _minute(end, day) - _minute(begin, day)))  # type: ignore[arg-type]
        if shift_id is not None:
            found[(str(officer_id), i)] = shift_id
    return found


@dataclass(frozen=True)
class PreviousRoster:
    """A previous roster, as the two stages use it.

    Parameters
    ----------
    shifts
        (officer id, day index) → shift id or None (a day off), for every person and day.
    pinned_shifts
        The part of ``shifts`` that must stay.
    posts
        (officer id, date, slot id) → the requirement id served (an accompanied post's id for an
        assistant going with an officer; None in reserve).
    pinned_posts
        The keys of ``posts`` that must stay.
    """

    shifts: dict[tuple[str, int], str | None]
    pinned_shifts: dict[tuple[str, int], str | None]
    posts: dict[SlotKey, str | None]
    pinned_posts: set[SlotKey]


def previous_roster(
    assignments: pd.DataFrame,
    staff: Sequence[Officer],
    days: Sequence[date],
    shift_types: Sequence[ShiftType],
    *,
    publish_through: date | None = None,
) -> PreviousRoster:
    """Return what a previous roster of the week fixes and suggests for re-planning it.

    Parameters
    ----------
    assignments
        The previous roster's assignment table.
    staff
        The people of the new roster.
    days
        The week's dates.
    shift_types
        The shift types of the new problems.
    publish_through
        The last published day: days up to it are pinned, as are rows marked ``pinned``.
    """
    worked = roster_shifts(assignments, days, shift_types)
    shifts: dict[tuple[str, int], str | None] = {
        (o.id, i): worked.get((o.id, i)) for o in staff for i in range(len(days))
    }
    index_of = {day: i for i, day in enumerate(days)}
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in assignments.to_dict("records")
    ]
    pinned_days = {
        (sid, i): shift
        for (sid, i), shift in shifts.items()
        if publish_through is not None and days[i] <= publish_through
    }
    posts: dict[SlotKey, str | None] = {}
    pinned_posts: set[SlotKey] = set()
    for row in records:
        key = (str(row["officer_id"]), row["date"], str(row["slot_id"]))
        requirement = row["requirement_id"]
        if isinstance(requirement, str):
            posts[key] = requirement
        elif row["task"] not in ("reserve", "full_deployment") and isinstance(row["post_id"], str):
            posts[key] = row["post_id"]
        else:
            posts[key] = None
        published = publish_through is not None and row["date"] <= publish_through
        if published or bool(row["pinned"]):
            pinned_posts.add(key)
            i = index_of.get(row["date"])
            if i is not None:
                pinned_days[(key[0], i)] = shifts.get((key[0], i))
    return PreviousRoster(shifts, pinned_days, posts, pinned_posts)


def with_absences(
    staff: Sequence[Officer], absences: Iterable[tuple[str, date, date]], *, kind: str = "absent"
) -> list[Officer]:
    """Return the staff with leave added for each (officer id, first day, last day) absence.

    Raises
    ------
    FieldError
        If an officer id is unknown, or an absence ends before it starts.
    """
    by_id = {o.id: o for o in staff}
    added: dict[str, list[LeavePeriod]] = defaultdict(list)
    for officer_id, first, last in absences:
        if officer_id not in by_id:
            raise FieldError(f"no officer {officer_id!r} in the staff", field="absent")
        added[officer_id].append(LeavePeriod(first, last, kind))
    return [replace(o, leave=(*o.leave, *added[o.id])) if o.id in added else o for o in staff]


def _keyed(frame: pd.DataFrame) -> Mapping[SlotKey, tuple[Any, ...]]:
    return {
        (str(officer), day, str(slot)): (post, task, requirement)
        for officer, day, slot, post, task, requirement in zip(
            frame["officer_id"],
            frame["date"],
            frame["slot_id"],
            frame["post_id"].where(frame["post_id"].notna(), None),
            frame["task"],
            frame["requirement_id"].where(frame["requirement_id"].notna(), None),
            strict=True,
        )
    }


def assignment_changes(previous: pd.DataFrame, current: pd.DataFrame) -> int:
    """Return how many (person, date, slot) differ between two rosters: added, removed or moved."""
    before, after = _keyed(previous), _keyed(current)
    return sum(1 for key in before.keys() | after.keys() if before.get(key) != after.get(key))
