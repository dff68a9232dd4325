"""Duty days and their slots: which slot a moment falls in (a night slot belongs to its first day).

Duty times are naive local times (China Standard Time): :func:`slot_at` converts an aware moment
first. A slot that crosses midnight belongs to the day it starts on, so that 02:00 on the 10th is
in the night slot of the 9th.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from grids.calendar import HolidayCalendar
from grids.policy import DayType, DutyPolicy, Slot

__all__ = ["CHINA_STANDARD_TIME", "DutySlot", "day_type_of", "duty_slots", "now_local", "slot_at"]

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
"""Duty times are naive local times in this zone; aware moments are converted to it."""


@dataclass(frozen=True)
class DutySlot:
    """A slot of one duty day: the policy's slot, the day it belongs to, its start and end.

    Attributes
    ----------
    date
        The duty day: the day the slot starts on.
    slot
        The policy's slot.
    start, end
        Naive local datetimes; a night slot ends the next morning.
    """

    date: date
    slot: Slot
    start: datetime
    end: datetime

    @property
    def id(self) -> str:
        """Return the slot id."""
        return self.slot.id


def day_type_of(day: date, calendar: HolidayCalendar | None = None) -> DayType:
    """Return the type of ``day``: from the calendar, or else Saturday and Sunday as the weekend.

    Raises
    ------
    ValueError
        If the calendar is strict and does not cover the year of ``day``.
    """
    if calendar is not None:
        return calendar.day_type(day)
    return "weekend" if day.isoweekday() >= 6 else "weekday"


def duty_slots(
    day: date, policy: DutyPolicy, *, calendar: HolidayCalendar | None = None
) -> tuple[DutySlot, ...]:
    """Return the slots of the duty day ``day``, in time order.

    Raises
    ------
    ValueError
        If the calendar is strict and does not cover the year of ``day``.
    """
    result = []
    for slot in policy.slots_for(day_type_of(day, calendar)):
        start, end = slot.on(day)
        result.append(DutySlot(day, slot, start, end))
    return tuple(result)


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(CHINA_STANDARD_TIME).replace(tzinfo=None)


def slot_at(
    moment: datetime, policy: DutyPolicy, *, calendar: HolidayCalendar | None = None
) -> DutySlot:
    """Return the slot that ``moment`` falls in.

    A night slot crossing midnight belongs to the day it starts on: at 02:00 on the 10th the slot
    is the night slot of the 9th.

    Parameters
    ----------
    moment
        A naive local time (China Standard Time), or an aware one, converted to it.
    policy
        The duty policy.
    calendar
        The holiday calendar, for the day's type (and so its slots); None takes Saturday and
        Sunday as the weekend.

    Raises
    ------
    ValueError
        If no slot holds the moment (the slot tables of two day types leave a hole between
        them), or the calendar does not cover the year.
    """
    local = _local(moment)
    for day in (local.date() - timedelta(days=1), local.date()):
        for slot in duty_slots(day, policy, calendar=calendar):
            if slot.start <= local < slot.end:
                return slot
    raise ValueError(f"no slot of the policy holds {local:%Y-%m-%d %H:%M}")


def now_local() -> datetime:
    """Return the current time as a naive China Standard Time datetime."""
    return datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).replace(tzinfo=None)
