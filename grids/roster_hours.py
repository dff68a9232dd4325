"""The labour-hour rules of a roster: hours a day and a week, overtime a day and a month.

The hours of a day are the hours of that date's duties (overlaps counted once), hours over
``labour.hours_per_day`` are overtime, and the week is the ISO calendar week. The duty leader's
24-hour duty counts in full toward the week's hours but not toward the daily limit or overtime.
:func:`working_time` reports each person's week as the checks count it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import pandas as pd

from grids.calendar import HolidayCalendar
from grids.policy import DutyPolicy, LabourRules
from grids.roster_duties import Duty, Found, daily_hours, hours_text, read_duties, timed_duties
from grids.roster_rest import rest_days
from grids.staff import Officer

__all__ = ["WorkingTime", "check_hours", "month_day_hours", "regular_hours", "working_time"]


def regular_hours(
    day: date, per_day: Mapping[date, float], on_call: Mapping[date, float], labour: LabourRules
) -> float:
    """Return the hours of ``day`` that count toward the week: up to a working day, plus on call."""
    return min(per_day.get(day, 0.0), labour.hours_per_day) + on_call.get(day, 0.0)


def check_hours(
    person: Officer,
    duties: Sequence[Duty],
    month_hours: Mapping[date, float],
    found: Found,
) -> None:
    """Add the violations of the daily, overtime, monthly and weekly hours of one person."""
    labour = found.policy.labour
    per_day = daily_hours(duties)
    for day, hours in per_day.items():
        overtime = hours - labour.hours_per_day
        if overtime <= 1e-9:
            continue
        if overtime > labour.max_overtime_hours_per_day + 1e-9:
            found.add(
                "overtime_day",
                f"{person.id} works {hours_text(hours)} on {day:%Y-%m-%d}: "
                f"{hours_text(overtime)} overtime (加班), over the "
                f"{hours_text(labour.max_overtime_hours_per_day)} a day allowed",
                officer_id=person.id,
                day=day,
            )
        elif not labour.overtime_allowed:
            found.add(
                "daily_hours",
                f"{person.id} works {hours_text(hours)} on {day:%Y-%m-%d}, over the "
                f"{hours_text(labour.hours_per_day)} working day (每日工作时间); the duty policy "
                "plans no overtime (不安排加班)",
                officer_id=person.id,
                day=day,
            )
        elif overtime > 1 + 1e-9:
            found.add(
                "overtime_long",
                f"{person.id} works {hours_text(overtime)} overtime on {day:%Y-%m-%d}: more "
                "than 1 h a day is allowed only for special reasons, with the worker's health "
                "ensured",
                officer_id=person.id,
                day=day,
            )
    _month_checks(person, per_day, month_hours, found)
    cap = min(labour.hours_per_week, labour.max_hours_per_week)
    by_week: dict[tuple[int, int], list[date]] = defaultdict(list)
    on_call = daily_hours(duties, on_call=True)
    for day in per_day.keys() | on_call.keys():
        by_week[day.isocalendar()[:2]].append(day)
    for (year, week), days in sorted(by_week.items()):
        total = 0.0
        reported: set[str] = set()
        for day in sorted(days):
            total += regular_hours(day, per_day, on_call, labour)
            if total > cap + 1e-9 and "weekly_hours" not in reported:
                reported.add("weekly_hours")
                found.add(
                    "weekly_hours",
                    f"{person.id} reaches {hours_text(total)} of regular work in "
                    f"{year}-W{week:02d} by {day:%Y-%m-%d}, over the {hours_text(cap)} week "
                    "(每周工作时间)",
                    officer_id=person.id,
                    day=day,
                )
            elif (
                person.contract_hours_week < cap
                and total > person.contract_hours_week + 1e-9
                and not reported
            ):
                reported.add("contract_hours")
                found.add(
                    "contract_hours",
                    f"{person.id} reaches {hours_text(total)} in {year}-W{week:02d} by "
                    f"{day:%Y-%m-%d}, over the contracted {hours_text(person.contract_hours_week)} "
                    "a week (合同工时)",
                    officer_id=person.id,
                    day=day,
                )


def _month_checks(
    person: Officer,
    per_day: Mapping[date, float],
    month_hours: Mapping[date, float],
    found: Found,
) -> None:
    labour = found.policy.labour
    cap = labour.max_overtime_hours_per_month
    by_month: dict[tuple[int, int], float] = defaultdict(float)
    for day, hours in month_hours.items():
        if day not in per_day:
            by_month[(day.year, day.month)] += max(0.0, hours - labour.hours_per_day)
    reported: set[tuple[int, int]] = set()
    for day, hours in per_day.items():
        month = (day.year, day.month)
        overtime = max(0.0, hours - labour.hours_per_day)
        by_month[month] += overtime
        if overtime > 1e-9 and by_month[month] > cap + 1e-9 and month not in reported:
            reported.add(month)
            found.add(
                "overtime_month",
                f"{person.id} reaches {hours_text(by_month[month])} overtime (加班) in "
                f"{day:%Y-%m} by {day:%Y-%m-%d}, over the {hours_text(cap)} a month allowed",
                officer_id=person.id,
                day=day,
            )


def month_day_hours(
    month_assignments: pd.DataFrame | None,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> dict[str, dict[date, float]]:
    """Return the hours of each person's days in ``month_assignments``."""
    if month_assignments is None or month_assignments.empty:
        return {}
    ignored = Found(policy)
    by_person: dict[str, list[Duty]] = defaultdict(list)
    for duty in read_duties(month_assignments, policy, calendar, ignored):
        by_person[duty.officer_id].append(duty)
    return {person: daily_hours(duties) for person, duties in by_person.items()}


@dataclass(frozen=True)
class WorkingTime:
    """One person's working time in one ISO week, counted as :func:`validate_roster` counts it.

    Parameters
    ----------
    officer_id
        The person.
    week
        The ISO week, e.g. ``2026-W49``.
    day_hours
        The hours of each day's duties (overlaps counted once), the duty leader's 24-hour duty
        left out; days without such duties are absent.
    on_call_hours
        The hours of the duty leader's 24-hour duty (带班值班), by day.
    regular_hours
        The hours that count toward the weekly limit: each day's hours up to
        ``labour.hours_per_day``, plus the leader duty in full.
    overtime_hours
        The hours over ``labour.hours_per_day`` on each day, summed (加班).
    rest_days
        The full rest days of the week (art. 38).
    """

    officer_id: str
    week: str
    day_hours: Mapping[date, float]
    on_call_hours: Mapping[date, float]
    regular_hours: float
    overtime_hours: float
    rest_days: int

    @property
    def total_hours(self) -> float:
        """Return all hours on duty in the week, leader duty included."""
        return sum(self.day_hours.values()) + sum(self.on_call_hours.values())


def working_time(
    assignments: pd.DataFrame, *, policy: DutyPolicy, calendar: HolidayCalendar
) -> list[WorkingTime]:
    """Return each person's working time in each ISO week of a roster.

    Parameters
    ----------
    assignments
        The roster, as for :func:`validate_roster` (rows without officer, date or slot are left
        out).
    policy
        The duty policy: slots (for rows without times) and labour rules.
    calendar
        The holiday calendar, for each day's slots.

    Returns
    -------
    list of WorkingTime
        By officer id, then week.

    Raises
    ------
    FieldError
        If the roster has no ``officer_id``, ``date`` or ``slot_id`` column.
    ValueError
        If the calendar does not cover a date of the roster.
    """
    labour = policy.labour
    by_person: dict[str, list[Duty]] = defaultdict(list)
    for duty in read_duties(assignments, policy, calendar, Found(policy)):
        by_person[duty.officer_id].append(duty)
    result = []
    for officer_id, duties in sorted(by_person.items()):
        timed = timed_duties(duties)
        dates = {d.date for d in duties}
        for year, week in sorted({d.isocalendar()[:2] for d in dates}):
            own = [d for d in duties if d.date.isocalendar()[:2] == (year, week)]
            per_day = daily_hours(own)
            on_call = daily_hours(own, on_call=True)
            days = per_day.keys() | on_call.keys()
            overtime = sum(max(0.0, hours - labour.hours_per_day) for hours in per_day.values())
            result.append(
                WorkingTime(
                    officer_id=officer_id,
                    week=f"{year:04d}-W{week:02d}",
                    day_hours=MappingProxyType(per_day),
                    on_call_hours=MappingProxyType(on_call),
                    regular_hours=sum(regular_hours(d, per_day, on_call, labour) for d in days),
                    overtime_hours=overtime,
                    rest_days=rest_days(timed, dates, date.fromisocalendar(year, week, 1)),
                )
            )
    return result
