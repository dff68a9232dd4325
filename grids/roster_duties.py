"""A roster's rows as duties, their times resolved, and the violations found in them.

:func:`read_duties` reads an assignment table (``officer_id``, ``date``, ``slot_id`` and, when
present, ``start``, ``end``, ``post_id``, ``task``, ``requirement_id``) into :class:`Duty` s, taking
missing times from the policy's slots (:func:`day_slot`); a :class:`Found` collects the
:class:`~grids.roster_violations.Violation` s of the checks in :mod:`grids.roster_rules`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from geodata.errors import FieldError
from grids._cells import cell_date, cell_moment, cell_text
from grids.calendar import HolidayCalendar
from grids.policy import DutyPolicy, Slot, parse_clock
from grids.policy_slots import LEADER_SLOT
from grids.roster_violations import RULES, Severity, Violation

__all__ = [
    "LEADER_SLOT",
    "Duty",
    "Found",
    "clock",
    "daily_hours",
    "day_slot",
    "first_duty",
    "hours_text",
    "read_duties",
    "timed_duties",
]


@dataclass(frozen=True)
class Duty:
    """One row of a roster, with its times resolved."""

    row: int
    officer_id: str
    date: date
    slot_id: str
    start: datetime | None
    end: datetime | None
    post_id: str | None
    task: str | None
    requirement_id: str | None

    @property
    def on_call(self) -> bool:
        """Return whether the duty is the duty leader's 24-hour duty."""
        return self.task == "leader_duty"


@dataclass
class Found:
    """The violations found so far, with the policy that sets the house rules."""

    policy: DutyPolicy
    items: list[Violation] = field(default_factory=list)

    def add(
        self,
        rule: str,
        message: str,
        *,
        duty: Duty | None = None,
        officer_id: str | None = None,
        day: date | None = None,
        slot_id: str | None = None,
        post_id: str | None = None,
        requirement_id: str | None = None,
        severity: Severity | None = None,
        legal_basis: str | None = None,
    ) -> None:
        """Add a violation of ``rule``, placed at ``duty`` or at the places given."""
        spec = RULES[rule]
        self.items.append(
            Violation(
                rule=rule,
                severity=severity or spec.severity,
                message=message,
                officer_id=officer_id if duty is None else duty.officer_id,
                date=day if duty is None else duty.date,
                slot_id=slot_id if duty is None else duty.slot_id,
                post_id=post_id if duty is None else duty.post_id,
                requirement_id=requirement_id,
                legal_basis=legal_basis or spec.legal_basis,
                row=None if duty is None else duty.row,
            )
        )


def _times_on(day: date, start: Any, end: Any) -> tuple[datetime | None, datetime | None]:
    """Return the start and end of a duty on ``day``; clock times ``HH:MM`` are on that day."""
    first, last = _clock_time(start), _clock_time(end)
    if first is not None and last is not None:
        begin = datetime.combine(day, first)
        finish = datetime.combine(day, last)
        return begin, finish if finish > begin else finish + timedelta(days=1)
    return cell_moment(start), cell_moment(end)


def _clock_time(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    text = cell_text(value) if isinstance(value, str) else None
    if text is None:
        return None
    try:
        return parse_clock(text)
    except ValueError:
        return None


def clock(moment: datetime) -> str:
    """Return the time of day of ``moment``, ``HH:MM``."""
    return f"{moment:%H:%M}"


def hours_text(value: float) -> str:
    """Return hours for a message: ``7.5 h``, ``8 h``."""
    return f"{value:.1f}".rstrip("0").rstrip(".") + " h"


def day_slot(
    policy: DutyPolicy, calendar: HolidayCalendar, day: date, slot_id: str
) -> tuple[datetime, datetime] | None:
    """Return the start and end of slot ``slot_id`` on ``day``, or None if the day has no such slot.

    The slot ``day`` (:data:`LEADER_SLOT`) is the duty leader's 24 hours from the handover.

    Raises
    ------
    ValueError
        If the calendar is strict and does not cover the year of ``day``.
    """
    if slot_id == LEADER_SLOT:
        return policy.leader.on(day)
    slot = _slot(policy.slots_for(calendar.day_type(day)), slot_id)
    return None if slot is None else slot.on(day)


def _slot(slots: Iterable[Slot], slot_id: str) -> Slot | None:
    return next((slot for slot in slots if slot.id == slot_id), None)


def read_duties(
    frame: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar, found: Found
) -> list[Duty]:
    """Return the rows of a roster as duties; bad rows and unknown slots go to ``found``.

    Raises
    ------
    FieldError
        If the roster has no ``officer_id``, ``date`` or ``slot_id`` column.
    """
    for column in ("officer_id", "date", "slot_id"):
        if column not in frame.columns:
            raise FieldError(f"a roster needs the column {column!r}", field=column)
    duties = []
    for number, record in enumerate(frame.to_dict("records"), 1):
        officer_id = cell_text(record.get("officer_id"))
        day = cell_date(record.get("date"))
        slot_id = cell_text(record.get("slot_id"))
        post_id = cell_text(record.get("post_id"))
        if officer_id is None or day is None or slot_id is None:
            missing = [
                name
                for name, value in (("officer_id", officer_id), ("date", day), ("slot_id", slot_id))
                if value is None
            ]
            found.add(
                "bad_row",
                f"row {number} has no {' or '.join(missing)}; it is left out of every check",
                officer_id=officer_id,
                day=day,
                slot_id=slot_id,
                post_id=post_id,
            )
            continue
        start, end = _times_on(day, record.get("start"), record.get("end"))
        times = day_slot(policy, calendar, day, slot_id)
        duty = Duty(
            row=number,
            officer_id=officer_id,
            date=day,
            slot_id=slot_id,
            start=start,
            end=end,
            post_id=post_id,
            task=cell_text(record.get("task")),
            requirement_id=cell_text(record.get("requirement_id")),
        )
        if times is None:
            found.add(
                "unknown_slot",
                f"{officer_id}: slot {slot_id!r} is not a slot of {day:%Y-%m-%d} "
                f"({calendar.day_type(day)}) in the duty policy (值班时段不存在)",
                duty=duty,
            )
        if (start is None or end is None) and times is not None:
            start, end = times
        if start is not None and end is not None and end <= start:
            found.add(
                "bad_row",
                f"{officer_id}: the duty ends at {end:%Y-%m-%d %H:%M}, not after its start "
                f"{start:%Y-%m-%d %H:%M}; it is left out of the time checks",
                duty=duty,
            )
            start = end = None
        duties.append(replace(duty, start=start, end=end))
    return duties


def timed_duties(duties: Iterable[Duty]) -> list[tuple[datetime, datetime, Duty]]:
    """Return the duties that have times as (start, end, duty), by start."""
    timed = []
    for duty in duties:
        if duty.start is not None and duty.end is not None:
            timed.append((duty.start, duty.end, duty))
    return sorted(timed, key=lambda item: (item[0], item[2].row))


def _union_hours(intervals: Iterable[tuple[datetime, datetime]]) -> float:
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return total.total_seconds() / 3600


def daily_hours(duties: Iterable[Duty], *, on_call: bool = False) -> dict[date, float]:
    """Return the hours of each day's duties (leader duty only, with ``on_call``; else none)."""
    by_day: dict[date, list[tuple[datetime, datetime]]] = defaultdict(list)
    for start, end, duty in timed_duties(duties):
        if duty.on_call == on_call:
            by_day[duty.date].append((start, end))
    return {day: _union_hours(intervals) for day, intervals in sorted(by_day.items())}


def first_duty(duties: Sequence[Duty], day: date) -> Duty | None:
    """Return the earliest duty of ``day``, or None."""
    on_day = [d for d in duties if d.date == day]
    return min(on_day, key=lambda d: (d.start or datetime.max, d.row)) if on_day else None
