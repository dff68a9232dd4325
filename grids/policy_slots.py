"""The slots of a duty day (值班时间段) and the daily time windows of the duty policy.

A :class:`SlotTable` cuts each day type (weekday, weekend, holiday) into :class:`Slot` s; a
:class:`TimeWindow` is a daily window such as a guidance point's opening hours.
:func:`patrol_slot_choice` picks the day slots in which controlled posts are patrolled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, get_args

from grids._clock import MINUTES_PER_DAY, clock_text, minute_of_day, span_minutes

__all__ = [
    "DAY_TYPES",
    "LEADER_SLOT",
    "MINUTES_PER_DAY",
    "SLOT_KINDS",
    "DayType",
    "Slot",
    "SlotKind",
    "SlotTable",
    "TimeWindow",
    "parse_clock",
    "parse_windows",
    "patrol_slot_choice",
]

LEADER_SLOT = "day"
"""The slot id of a 24-hour duty (the duty leader's), which no slot of a policy may take."""

DayType = Literal["weekday", "weekend", "holiday"]
DAY_TYPES: tuple[DayType, ...] = get_args(DayType)
SlotKind = Literal["day", "night"]
SLOT_KINDS: tuple[SlotKind, ...] = get_args(SlotKind)

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(text: str) -> time:
    """Return the time of day written ``HH:MM`` (``24:00`` is midnight at the end of a day).

    Raises
    ------
    ValueError
        If ``text`` is not a time of day.
    """
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return time(hour, minute)


@dataclass(frozen=True)
class TimeWindow:
    """A daily window of time, such as a guidance point's opening hours; may cross midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """Return the window written ``HH:MM-HH:MM``.

        Raises
        ------
        ValueError
            If ``text`` is not a window, or starts and ends at the same time.
        """
        parts = re.split(r"\s*[-–~～至]\s*", text.strip())
        if len(parts) != 2:
            raise ValueError(f"{text!r} is not a time window HH:MM-HH:MM")
        window = cls(parse_clock(parts[0]), parse_clock(parts[1]))
        if window.start == window.end:
            raise ValueError(f"{text!r} starts and ends at the same time")
        return window

    @property
    def minutes(self) -> int:
        """Return the window's length in minutes."""
        return span_minutes(self.start, self.end)

    def on(self, day: date) -> tuple[datetime, datetime]:
        """Return the window's start and end on ``day`` (the end may be on the next day)."""
        start = datetime.combine(day, self.start)
        return start, start + timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        return f"{clock_text(self.start)}-{clock_text(self.end)}"


def parse_windows(text: str) -> tuple[TimeWindow, ...]:
    """Return the windows of a ``;``-separated list such as ``11:00-13:30;17:00-21:00``.

    Raises
    ------
    ValueError
        If a part is not a window.
    """
    return tuple(TimeWindow.parse(part) for part in re.split(r"[;；,，]", text) if part.strip())


@dataclass(frozen=True)
class Slot:
    """A duty slot (值班时间段): a part of the duty day, the unit a roster is made of.

    Parameters
    ----------
    id
        Short identifier, unique within a day type (``early``, ``morning``, ``night``, …).
    name_zh, name_en
        Names for planners: ``早市`` / ``Early market``.
    start, end
        Times of day; a slot whose end is not after its start ends on the next day.
    kind
        ``day`` or ``night``: strict posts and patrols are staffed in day slots only.
    """

    id: str
    name_zh: str
    name_en: str
    start: time
    end: time
    kind: SlotKind = "day"

    @property
    def minutes(self) -> int:
        """Return the slot's length in minutes."""
        return span_minutes(self.start, self.end)

    @property
    def hours(self) -> float:
        """Return the slot's length in hours."""
        return self.minutes / 60

    @property
    def crosses_midnight(self) -> bool:
        """Return whether the slot ends on the day after it starts."""
        return minute_of_day(self.start) + self.minutes > MINUTES_PER_DAY

    def on(self, day: date) -> tuple[datetime, datetime]:
        """Return the slot's start and end on ``day`` (a night slot ends the next morning)."""
        start = datetime.combine(day, self.start)
        return start, start + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class SlotTable:
    """The slots of each day type, in the order the policy lists them."""

    weekday: tuple[Slot, ...]
    weekend: tuple[Slot, ...]
    holiday: tuple[Slot, ...]

    def for_day_type(self, day_type: DayType) -> tuple[Slot, ...]:
        """Return the slots of ``day_type`` in time-of-day order."""
        slots: tuple[Slot, ...] = getattr(self, day_type)
        return tuple(sorted(slots, key=lambda s: minute_of_day(s.start)))


def patrol_slot_choice(day_slots: tuple[Slot, ...], every_hours: float) -> tuple[Slot, ...] | None:
    """Return the fewest day slots whose starts keep patrol visits ``every_hours`` apart.

    See :class:`grids.policy.PatrolRule`: the first chosen slot starts within ``every_hours`` of
    the first day slot's start, each next one within ``every_hours`` of the one before, and the
    last day slot ends within ``every_hours`` of the last chosen start.

    Parameters
    ----------
    day_slots
        The day slots of a day type, in time-of-day order.
    every_hours
        The longest time between two visits.

    Returns
    -------
    tuple of Slot or None
        The chosen slots, or None if no choice keeps the visits close enough.
    """
    if not day_slots:
        return ()
    limit = every_hours * 60
    first = minute_of_day(day_slots[0].start)
    starts = [minute_of_day(s.start) - first for s in day_slots]
    period_end = starts[-1] + day_slots[-1].minutes
    chosen: list[int] = []
    last_visit = 0.0
    while not chosen or period_end - last_visit > limit:
        later = [i for i, start in enumerate(starts) if start <= last_visit + limit]
        later = [i for i in later if not chosen or i > chosen[-1]]
        if not later:
            return None
        chosen.append(later[-1])
        last_visit = starts[later[-1]]
    return tuple(day_slots[i] for i in chosen)
