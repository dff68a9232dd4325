"""Assignment rows sent to the API: filled in, checked, and compared by their key.

A row names at least the officer, date and slot; the rest is filled in as a roster file's would be
(:func:`grids.roster_io.read_assignments`): the times from the policy's slot, role and squad from
the staff list, the task from the post (reserve without one, leader duty in the ``day`` slot).
Times given with a zone are taken in China Standard Time. Every bad row is reported at once, in
one :class:`~grids.roster_io.RosterFileError` (422), and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from geodata.errors import CellProblem
from grids.calendar import HolidayCalendar, china_holidays, week_dates
from grids.coverage_slots import CHINA_STANDARD_TIME
from grids.policy import DutyPolicy
from grids.roster import ASSIGNMENT_COLUMNS, TASKS, check_assignments, empty_assignments
from grids.roster_io import RosterFileError
from grids.roster_rules import LEADER_SLOT, day_slot
from grids.staff import Officer
from server.roster_store import RosterStore, StoredRoster
from server.storage import Store

__all__ = [
    "Key",
    "RowContext",
    "assignment_frame",
    "checked_records",
    "json_row",
    "row_context",
    "rows_by_key",
]

Key = tuple[str, date, str]
"""An assignment's key: officer, date, slot."""


@dataclass(frozen=True)
class RowContext:
    """What rows are filled in and checked with: the roster's week, its policy, the staff."""

    week: str
    days: tuple[date, ...]
    policy: DutyPolicy
    calendar: HolidayCalendar
    staff: Mapping[str, Officer]


def row_context(
    store: Store, stored: StoredRoster, officers: Iterable[str] | None = None
) -> RowContext:
    """Return what the rows of a stored roster are checked with: its policy and the staff.

    Parameters
    ----------
    store
        The store.
    stored
        The roster (its rows are not needed).
    officers
        The staff numbers of the rows to check: only they are read from the staff list; the
        whole list if None.
    """
    rosters = RosterStore(store)
    policy = rosters.policy(stored.info.policy_version) or rosters.current_policy()[0]
    return RowContext(
        week=stored.info.week,
        days=tuple(week_dates(stored.info.week)),
        policy=policy,
        calendar=china_holidays(),
        staff={person.id: person for person in rosters.staff(officers)},
    )


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(CHINA_STANDARD_TIME).replace(tzinfo=None)


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _record(
    values: Mapping[str, Any], context: RowContext, fail: Any, *, pinned: bool
) -> dict[str, Any] | None:
    """Return the assignment of a row, filled in, or None after ``fail(field, value, message)``."""
    bad = False

    def problem(field: str, message: str) -> None:
        nonlocal bad
        bad = True
        value = values.get(field)
        fail(field, "" if value is None else str(value), message)

    officer_id = str(values["officer_id"]).strip()
    day: date = values["date"]
    slot_id = str(values["slot_id"]).strip()
    if day not in context.days:
        first, last = context.days[0], context.days[-1]
        problem("date", f"the roster covers {context.week}, {first} to {last}")
    times: tuple[datetime, datetime] | None = None
    start, end = values.get("start"), values.get("end")
    if start is None and end is None:
        try:
            times = day_slot(context.policy, context.calendar, day, slot_id)
        except ValueError as exc:
            problem("date", str(exc))
        else:
            if times is None:
                slots = context.policy.slots_for(context.calendar.day_type(day))
                names = ", ".join(s.id for s in slots)
                problem("slot_id", f"no such slot on {day} (slots: {names}, or {LEADER_SLOT})")
    elif start is None or end is None:
        problem("start" if start is None else "end", "give both start and end, or neither")
    else:
        times = (
            _local(pd.Timestamp(start).to_pydatetime()),
            _local(pd.Timestamp(end).to_pydatetime()),
        )
        if times[1] <= times[0]:
            problem("end", f"the duty ends at {times[1]:%Y-%m-%d %H:%M}, not after its start")
    post_id = _text(values.get("post_id"))
    task = _text(values.get("task"))
    if task is None:
        if slot_id == LEADER_SLOT:
            task = "leader_duty"
        elif post_id is None:
            task = "reserve"
        else:
            problem("task", f"give the task of the post: {', '.join(TASKS)}")
    person = context.staff.get(officer_id)
    role = _text(values.get("role")) or (person.role if person else None)
    if role is None:
        problem("role", f"{officer_id} is not in the staff list: give the role")
    squad_id = _text(values.get("squad_id"))
    if squad_id is None and person is not None:
        squad_id = person.squad_id
    given_pin = values.get("pinned")
    if bad or times is None:
        return None
    return {
        "officer_id": officer_id,
        "role": role,
        "squad_id": squad_id,
        "date": day,
        "slot_id": slot_id,
        "start": times[0],
        "end": times[1],
        "post_id": post_id,
        "task": task,
        "requirement_id": _text(values.get("requirement_id")),
        "pinned": pinned if given_pin is None else bool(given_pin),
    }


def checked_records(
    rows: Sequence[Mapping[str, Any]], context: RowContext, *, pinned: bool, source: str
) -> list[dict[str, Any]]:
    """Return the rows filled in and checked; one :class:`RosterFileError` lists every problem.

    Rows are numbered from 1 in the order given.
    """
    problems: list[CellProblem] = []
    records: list[dict[str, Any]] = []
    first_row: dict[Key, int] = {}
    for number, values in enumerate(rows, 1):

        def fail(field: str, value: str, message: str, row: int = number) -> None:
            problems.append(CellProblem(row, field, value, message))

        found = _record(values, context, fail, pinned=pinned)
        if found is None:
            continue
        key = (found["officer_id"], found["date"], found["slot_id"])
        if key in first_row:
            fail(
                "slot_id",
                found["slot_id"],
                f"the same person, day and slot as row {first_row[key]}: one assignment a slot",
            )
            continue
        first_row[key] = number
        records.append(found)
    if problems:
        raise RosterFileError(problems, file=source)
    return records


def assignment_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Return the assignment table (:mod:`grids.roster`) of records, sorted."""
    rows = list(records)
    if not rows:
        return empty_assignments()
    empty = empty_assignments()
    frame = pd.DataFrame(
        {
            column: pd.Series([row[column] for row in rows], dtype=empty[column].dtype)
            for column in ASSIGNMENT_COLUMNS
        }
    )
    return check_assignments(frame)


def rows_by_key(frame: pd.DataFrame) -> dict[Key, dict[str, Any]]:
    """Return a table's rows as plain values, by key."""
    found: dict[Key, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        values: dict[str, Any] = {
            "officer_id": str(row["officer_id"]),
            "role": str(row["role"]),
            "squad_id": _text(row["squad_id"]),
            "date": row["date"]
            if isinstance(row["date"], date)
            else pd.Timestamp(row["date"]).date(),
            "slot_id": str(row["slot_id"]),
            "start": pd.Timestamp(row["start"]).to_pydatetime(),
            "end": pd.Timestamp(row["end"]).to_pydatetime(),
            "post_id": _text(row["post_id"]),
            "task": str(row["task"]),
            "requirement_id": _text(row["requirement_id"]),
            "pinned": bool(row["pinned"]),
        }
        found[(values["officer_id"], values["date"], values["slot_id"])] = values
    return found


def json_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a row with its dates and times as ISO 8601 text."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in values.items()}
