"""The engine problems behind the staffing need, and the lower bounds read off them.

A squad's week (or the duty leaders') is put to the shift engine with hypothetical people
(:func:`hypothetical`, ``needed #1`` …); :func:`engine_needs` reads the people needed through
each window off the engine's covers, and :func:`need_bounds` gives the three lower bounds of
:func:`grids.staffing.staffing_need` (person-hours, chained shifts, peak) without a solve.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import pandas as pd

from grids.calendar import HolidayCalendar, iso_week
from grids.policy import DayType, DutyPolicy
from grids.rostering_engine import CoverKey, EngineProblem, leader_problem, squad_problem
from grids.shift_model import DAY_MIN, Cover, ShiftProblem, cover_counts
from grids.staff import MAX_CONTRACT_HOURS, Officer

StaffRole = Literal["officer", "assistant", "leader"]
_HYPOTHETICAL = {"officer": "needed", "assistant": "needed assistant", "leader": "needed leader"}


@dataclass(frozen=True)
class Need:
    """People needed through a window of a day, as the engine counts them."""

    day: int
    window: tuple[int, int]
    skill: str | None
    requirement: int
    key: CoverKey

    @property
    def minutes(self) -> int:
        return self.window[1] - self.window[0]


@dataclass(frozen=True)
class Week:
    days: tuple[date, ...]
    day_types: tuple[DayType, ...]
    week: str


def week_of(demand: pd.DataFrame, calendar: HolidayCalendar) -> Week:
    dates = sorted({pd.Timestamp(d).date() for d in demand["date"]})
    weeks = {iso_week(d) for d in dates}
    if len(weeks) != 1:
        raise ValueError(
            f"the demand covers {len(weeks)} ISO weeks ({', '.join(sorted(weeks))}): give one week"
        )
    week = weeks.pop()
    days = tuple(calendar.week_dates(week))
    return Week(days, tuple(calendar.day_types(days)), week)


def without_overtime(policy: DutyPolicy) -> DutyPolicy:
    if not policy.labour.overtime_allowed:
        return policy
    return replace(policy, labour=replace(policy.labour, overtime_allowed=False))


def hypothetical(
    role: StaffRole, count: int, squad_id: str | None, policy: DutyPolicy
) -> list[Officer]:
    hours = min(policy.labour.hours_per_week, MAX_CONTRACT_HOURS)
    prefix = _HYPOTHETICAL[role]
    return [
        Officer(
            f"{prefix} #{n}",
            f"{prefix} #{n}",
            None if role == "leader" else squad_id,
            role,
            contract_hours_week=hours,
            demo=True,
        )
        for n in range(1, count + 1)
    ]


def group_rows(demand: pd.DataFrame, squad_id: str | None) -> pd.DataFrame:
    """Return the rows the engine covers: a squad's (no leader duty, no deployment) or leaders'."""
    if squad_id is None:
        return demand[demand["kind"] == "leader_duty"]
    mine = demand["squad_id"] == squad_id
    return demand[mine & ~demand["kind"].isin(["leader_duty", "full_deployment"])]


def engine_problem(
    rows: pd.DataFrame,
    people: Sequence[Officer],
    squad_id: str | None,
    policy: DutyPolicy,
    week: Week,
) -> EngineProblem:
    if squad_id is None:
        return leader_problem(rows, people, policy, week.days)
    return squad_problem(rows, people, policy, week.days, week.day_types)


def engine_needs(engine: EngineProblem) -> tuple[list[Need], list[Need]]:
    """Return the engine's covers as needs (the top of each staircase), coverable or not."""
    problem = engine.problem
    top: dict[tuple[int, tuple[int, int], str | None], tuple[int, CoverKey]] = {}
    for cover, key in zip(problem.covers, engine.cover_keys, strict=True):
        if cover.window is None:
            continue
        index = (cover.day, cover.window, cover.skill)
        if index not in top or cover.requirement > top[index][0]:
            top[index] = (cover.requirement, key)
    coverable, uncoverable = [], []
    for (day, window, skill), (requirement, key) in sorted(
        top.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")
    ):
        need = Need(day, window, skill, requirement, key)
        options = problem.cover_options(Cover(day=day, window=window))
        if any(shift in engine.blocks[d] for d, shift in options):
            coverable.append(need)
        else:
            uncoverable.append(need)
    return coverable, uncoverable


def coverage_problem(
    engine: EngineProblem, needs: Sequence[Need], *, hard_skills: frozenset[str] = frozenset()
) -> ShiftProblem:
    """Return the engine's problem asking for ``needs`` only; a missing person-minute costs 1."""
    covers = tuple(
        Cover(
            day=need.day,
            window=need.window,
            skill=need.skill,
            requirement=need.requirement,
            under_weight=None if need.skill in hard_skills else need.minutes,
            label=f"{need.key.date} {need.key.slot_id} {need.skill or 'any'}",
        )
        for need in needs
    )
    return replace(
        engine.problem, covers=covers, requests=(), pins=(), previous=None, change_weight=0
    )


def missing_minutes(problem: ShiftProblem, assignments: dict[tuple[str, int], str]) -> int:
    """Return the person-minutes short: per window, the most people short of any skill."""
    short: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    counts = cover_counts(problem, assignments) if assignments else [0] * len(problem.covers)
    for cover, count in zip(problem.covers, counts, strict=True):
        assert cover.window is not None
        key = (cover.day, cover.window)
        short[key] = max(short[key], cover.requirement - count)
    return sum(max(0, people) * (window[1] - window[0]) for (_, window), people in short.items())


def required_minutes(needs: Sequence[Need]) -> int:
    """Return the person-minutes to staff: per window, the most people any skill needs."""
    people: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    for need in needs:
        key = (need.day, need.window)
        people[key] = max(people[key], need.requirement)
    return sum(count * (window[1] - window[0]) for (_, window), count in people.items())


def shifts_bound(needs: Sequence[Need], engine: EngineProblem) -> int:
    """Return the people-shifts needed: the heaviest chain of windows no one shift spans two of.

    Windows are taken in time order, each after the end of the one before; since a shift that
    spans two windows spans every window between them, windows of which no two next to each
    other share a shift share none at all, and each needs its own people.
    """
    problem = engine.problem
    shifts = [
        (day * DAY_MIN + t.start_min, day * DAY_MIN + t.end_min)
        for day in range(problem.horizon_days)
        for t in problem.shift_types
        if t.id in engine.blocks[day]
    ]
    windows = sorted(
        (n.day * DAY_MIN + n.window[0], n.day * DAY_MIN + n.window[1], n.requirement) for n in needs
    )

    def shared(first: int, last: int) -> bool:
        return any(begin <= first and end >= last for begin, end in shifts)

    best: list[int] = []
    for start, end, requirement in windows:
        before = [
            chain
            for (other_start, other_end, _), chain in zip(windows, best, strict=False)
            if other_end <= start and not shared(other_start, end)
        ]
        best.append(requirement + max(before, default=0))
    return max(best, default=0)


@dataclass(frozen=True)
class Bounds:
    hours: int
    shifts: int
    peak: int

    @property
    def lower(self) -> int:
        return max(self.hours, self.shifts, self.peak)


def need_bounds(
    needs: Sequence[Need], engine: EngineProblem, person_min: int, policy: DutyPolicy
) -> Bounds:
    if not needs:
        return Bounds(0, 0, 0)
    minutes = sum(n.requirement * n.minutes for n in needs)
    workdays = max(1, 7 - policy.labour.rest_days_per_week)
    return Bounds(
        hours=math.ceil(minutes / person_min),
        shifts=math.ceil(shifts_bound(needs, engine) / workdays),
        peak=max(n.requirement for n in needs),
    )
