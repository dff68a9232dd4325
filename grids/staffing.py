"""Staffing need (人员需求测算): how many people each squad needs, and how far today's go.

:func:`staffing_need` answers, per squad and role, for a week's demand:

(a) **a lower bound** that needs no solver: the person-hours of the slots to staff over the
    weekly hours one person may work; the shifts needed (a chain of slots so far apart that no one
    shift spans two of them, weighted by the people each needs) over the days one person may work
    in a week with its rest days; and the most people needed at once;
(b) **the fewest people** that cover the whole demand with no overtime, found with the shift
    engine: starting at the lower bound, hypothetical people (``needed #1``, ``needed #2``, …) of
    the squad and role are added until the engine finds a roster that leaves nothing short. A solve
    that proves a shortfall of *S* person-minutes shows that at least *S* / (one person's weekly
    minutes) more people are needed, so the search may jump ahead;
(c) **the coverage today's staff reach**: the roster the district would get now
    (:func:`grids.rostering.plan_roster` with the given staff), as a share of the required
    person-hours by squad, role, level and kind — the question the district actually faces.

Roles: ``officer`` (执法队员) for the requirements only officers may fill (strict posts, patrols,
the officers of operations and events); ``assistant`` (协管员/劝导员) for the ``any`` requirements
(guidance windows, the extra people of operations and events), which assistants or officers
fill: the assistants needed come on top of the officers needed, whose spare hours count; and
``leader`` (带班领导) for the district's duty-leader rota.

The engine problems are those of the rostering (:func:`grids.rostering_engine.squad_problem`,
:func:`~grids.rostering_engine.leader_problem`): shifts are blocks of whole slots, so a
requirement needs someone for its whole slot, and every labour rule of the policy holds, here with
overtime switched off. A full deployment (全员上岗) asks every available member to work and sets no
headcount, so it is left out of (a) and (b) (its coverage today is reported).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import pandas as pd
from geopandas import GeoDataFrame

from grids.calendar import HolidayCalendar, iso_week
from grids.policy import DayType, DutyPolicy
from grids.rostering import LEVEL_OF_KIND, RosterOptions, RosterPlan, plan_roster
from grids.rostering_engine import CoverKey, EngineProblem, leader_problem, squad_problem
from grids.shift_model import DAY_MIN, Cover, ShiftProblem, ShiftSolution, cover_counts
from grids.shift_solver import solve
from grids.staff import MAX_CONTRACT_HOURS, Officer

__all__ = [
    "COVERAGE_COLUMNS",
    "NEED_COLUMNS",
    "HeadcountCheck",
    "StaffingNeed",
    "check_headcount",
    "staffing_need",
]

StaffRole = Literal["officer", "assistant", "leader"]

NEED_COLUMNS: tuple[str, ...] = (
    "squad_id",
    "role",
    "today",
    "bound_hours",
    "bound_shifts",
    "bound_peak",
    "lower_bound",
    "needed",
    "gap",
    "proven",
    "required_hours",
    "covered_hours_today",
    "coverage_today",
)
"""The columns of :attr:`StaffingNeed.table`.

``bound_hours``, ``bound_shifts`` and ``bound_peak`` are the three lower bounds of (a) and
``lower_bound`` their maximum; ``needed`` the fewest people found (missing, ``<NA>``, when the
time ran out first); ``gap`` ``needed - today``; ``proven`` whether ``needed - 1`` is proven too
few. The hours are the person-hours of the role's requirements and the share of them today's
roster covers.
"""

COVERAGE_COLUMNS: tuple[str, ...] = (
    "squad_id",
    "role",
    "level",
    "kind",
    "requirements",
    "required_hours",
    "covered_hours",
    "coverage",
)
"""The columns of :attr:`StaffingNeed.coverage`: required and covered person-hours, and their
share, by squad (None for leader duty), requirement role, level and kind."""
_HYPOTHETICAL = {"officer": "needed", "assistant": "needed assistant", "leader": "needed leader"}
_DEMAND_ROLE = {"officer": "officer", "assistant": "any", "leader": "leader"}
_MIN_SOLVE_S = 0.2
_FIRST_SOLVE_SHARE = 0.7
_TODAY_SHARE = 0.25


@dataclass(frozen=True)
class _Need:
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
class HeadcountCheck:
    """Whether a number of people covers a squad's (or the leaders') week.

    Parameters
    ----------
    feasible
        True if the engine found a roster that leaves nothing short, False if it proved that none
        exists, None if it ran out of time before knowing.
    status
        The engine's status.
    required_hours
        The person-hours of the slots to staff.
    uncovered_hours
        The person-hours left short by the best roster found (all of them without one).
    assignments
        That roster: (person id, day index) → shift id.
    """

    feasible: bool | None
    status: str
    required_hours: float
    uncovered_hours: float
    assignments: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        """Return the share of the required person-hours covered (1.0 when none are required)."""
        if self.required_hours <= 0:
            return 1.0
        return max(0.0, 1.0 - self.uncovered_hours / self.required_hours)


@dataclass(frozen=True)
class StaffingNeed:
    """The staffing need of a week's demand (see the module docstring).

    Parameters
    ----------
    table
        One row per squad and role (and one for the district's duty leaders, ``squad_id`` None)
        with the columns :data:`NEED_COLUMNS`.
    coverage
        Today's coverage by squad, requirement role (``officer``, ``any``, ``leader``), level and
        kind, with the columns :data:`COVERAGE_COLUMNS`.
    uncoverable
        The demand rows no shift can span (a slot longer than a working day); they are left out of
        the need.
    notes
        What else the reader should know (rows left out, searches cut short by the time limit).
    today
        The roster today's staff would get.
    """

    table: pd.DataFrame
    coverage: pd.DataFrame
    uncoverable: pd.DataFrame
    notes: tuple[str, ...] = ()
    today: RosterPlan | None = None


@dataclass(frozen=True)
class _Week:
    days: tuple[date, ...]
    day_types: tuple[DayType, ...]
    week: str


def _week(demand: pd.DataFrame, calendar: HolidayCalendar) -> _Week:
    dates = sorted({pd.Timestamp(d).date() for d in demand["date"]})
    weeks = {iso_week(d) for d in dates}
    if len(weeks) != 1:
        raise ValueError(
            f"the demand covers {len(weeks)} ISO weeks ({', '.join(sorted(weeks))}): give one week"
        )
    week = weeks.pop()
    days = tuple(calendar.week_dates(week))
    return _Week(days, tuple(calendar.day_types(days)), week)


def _without_overtime(policy: DutyPolicy) -> DutyPolicy:
    if not policy.labour.overtime_allowed:
        return policy
    return replace(policy, labour=replace(policy.labour, overtime_allowed=False))


def _hypothetical(
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


def _group_rows(demand: pd.DataFrame, squad_id: str | None) -> pd.DataFrame:
    """Return the rows the engine covers: a squad's (no leader duty, no deployment) or leaders'."""
    if squad_id is None:
        return demand[demand["kind"] == "leader_duty"]
    mine = demand["squad_id"] == squad_id
    return demand[mine & ~demand["kind"].isin(["leader_duty", "full_deployment"])]


def _engine(
    rows: pd.DataFrame,
    people: Sequence[Officer],
    squad_id: str | None,
    policy: DutyPolicy,
    week: _Week,
) -> EngineProblem:
    if squad_id is None:
        return leader_problem(rows, people, policy, week.days)
    return squad_problem(rows, people, policy, week.days, week.day_types)


def _needs(engine: EngineProblem) -> tuple[list[_Need], list[_Need]]:
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
        need = _Need(day, window, skill, requirement, key)
        options = problem.cover_options(Cover(day=day, window=window))
        if any(shift in engine.blocks[d] for d, shift in options):
            coverable.append(need)
        else:
            uncoverable.append(need)
    return coverable, uncoverable


def _coverage_problem(
    engine: EngineProblem, needs: Sequence[_Need], *, hard_skills: frozenset[str] = frozenset()
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


def _missing_minutes(problem: ShiftProblem, assignments: dict[tuple[str, int], str]) -> int:
    """Return the person-minutes short: per window, the most people short of any skill."""
    short: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    counts = cover_counts(problem, assignments) if assignments else [0] * len(problem.covers)
    for cover, count in zip(problem.covers, counts, strict=True):
        assert cover.window is not None
        key = (cover.day, cover.window)
        short[key] = max(short[key], cover.requirement - count)
    return sum(max(0, people) * (window[1] - window[0]) for (_, window), people in short.items())


def _required_minutes(needs: Sequence[_Need]) -> int:
    """Return the person-minutes to staff: per window, the most people any skill needs."""
    people: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    for need in needs:
        key = (need.day, need.window)
        people[key] = max(people[key], need.requirement)
    return sum(count * (window[1] - window[0]) for (_, window), count in people.items())


def _shifts_bound(needs: Sequence[_Need], engine: EngineProblem) -> int:
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
class _Bounds:
    hours: int
    shifts: int
    peak: int

    @property
    def lower(self) -> int:
        return max(self.hours, self.shifts, self.peak)


def _bounds(
    needs: Sequence[_Need], engine: EngineProblem, person_min: int, policy: DutyPolicy
) -> _Bounds:
    if not needs:
        return _Bounds(0, 0, 0)
    minutes = sum(n.requirement * n.minutes for n in needs)
    workdays = max(1, 7 - policy.labour.rest_days_per_week)
    return _Bounds(
        hours=math.ceil(minutes / person_min),
        shifts=math.ceil(_shifts_bound(needs, engine) / workdays),
        peak=max(n.requirement for n in needs),
    )


class _Clock:
    """A deadline, and time limits for solves within it."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def share(self, parts: int) -> _Clock:
        return _Clock(max(_MIN_SOLVE_S, self.left() / max(1, parts)))


@dataclass(frozen=True)
class _Solver:
    deterministic: bool
    workers: int | None

    def run(self, problem: ShiftProblem, seconds: float) -> ShiftSolution:
        return solve(
            problem,
            time_limit_s=max(_MIN_SOLVE_S, seconds),
            deterministic=self.deterministic,
            workers=1 if self.deterministic else self.workers,
        )


def _covered(solution: ShiftSolution) -> bool:
    return solution.found and solution.penalties.get("cover_under", 0) == 0


def _proven_short(solution: ShiftSolution) -> float:
    """Return a proven lower bound on the person-minutes short (0 when nothing is proven)."""
    if solution.status == "INFEASIBLE":
        return math.inf
    return max(0.0, solution.bound or 0.0)


def _fewest(
    build: Callable[[int], ShiftProblem],
    start: int,
    person_min: int,
    clock: _Clock,
    solver: _Solver,
) -> tuple[int | None, bool]:
    """Return the fewest people for which ``build(n)`` leaves nothing short, and if it is proven.

    ``start`` must be a lower bound. The search climbs from it by the shortfall of the best roster
    found (each missing person-week of minutes one more person) until a count leaves nothing
    short, then halves the gap to the largest count that fell short. Every person adds at most
    ``person_min`` covered minutes, so a solve that proves a shortfall of *S* at *n* people shows
    that *n* + ⌈*S* / ``person_min``⌉ − 1 are too few; the need is proven when the count below it
    is proven too few in this way (or is below ``start``).
    """
    short_below = proven_below = start - 1
    enough: int | None = None
    count = start
    share = _FIRST_SOLVE_SHARE  # the lower bound is often the answer: give it the most time
    while clock.left() > 0:
        solution = solver.run(build(count), clock.left() * share)
        share = 0.5
        if _covered(solution):
            enough = count
        else:
            proven = _proven_short(solution)
            if proven > 0:
                reach = count if math.isinf(proven) else count + math.ceil(proven / person_min) - 1
                proven_below = max(proven_below, reach)
            short_below = max(short_below, proven_below, count)
        if enough is not None and enough - short_below <= 1:
            return enough, proven_below >= enough - 1
        if enough is not None:
            count = (short_below + enough) // 2
        elif solution.found and solution.objective:
            count = max(short_below + 1, count + math.ceil(solution.objective / person_min))
        else:
            count = max(short_below + 1, count + max(1, count // 4))
    return enough, enough is not None and proven_below >= enough - 1


def check_headcount(
    demand: pd.DataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    *,
    squad_id: str | None,
    officers: int = 0,
    assistants: int = 0,
    leaders: int = 0,
    time_limit_s: float = 10.0,
    deterministic: bool = False,
    workers: int | None = None,
) -> HeadcountCheck:
    """Return whether so many hypothetical people cover a squad's week with no overtime.

    Parameters
    ----------
    demand
        A week's demand (:func:`grids.demand.demand_for_week`).
    policy
        The duty policy (its overtime is switched off).
    calendar
        The holiday calendar.
    squad_id
        The squad; None for the district's duty-leader rota.
    officers, assistants
        Hypothetical officers and assistants of the squad, fully available.
    leaders
        Hypothetical duty leaders, for ``squad_id`` None.
    time_limit_s
        Time for the engine.
    deterministic, workers
        The engine's search: one worker and a fixed seed, or ``workers`` workers.

    Returns
    -------
    HeadcountCheck
        Whether they suffice, and the share of the required person-hours they cover.

    Raises
    ------
    ValueError
        If the demand covers more than one ISO week, or the calendar does not cover it.
    """
    week = _week(demand, calendar)
    plain = _without_overtime(policy)
    people = (
        _hypothetical("leader", leaders, None, plain)
        if squad_id is None
        else _hypothetical("officer", officers, squad_id, plain)
        + _hypothetical("assistant", assistants, squad_id, plain)
    )
    engine = _engine(_group_rows(demand, squad_id), people, squad_id, plain, week)
    needs, _ = _needs(engine)
    problem = _coverage_problem(engine, needs)
    required = _required_minutes(needs)
    if not needs:
        return HeadcountCheck(True, "OPTIMAL", 0.0, 0.0)
    solution = _Solver(deterministic, workers).run(problem, time_limit_s)
    feasible: bool | None
    if _covered(solution):
        feasible = True
    elif _proven_short(solution) > 0:
        feasible = False
    else:
        feasible = None
    missing = _missing_minutes(problem, solution.assignments)
    return HeadcountCheck(
        feasible, solution.status, required / 60, missing / 60, dict(solution.assignments)
    )


def _frame(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], dtypes: Mapping[str, str]
) -> pd.DataFrame:
    """Return a table whose text columns keep None for missing values."""
    return pd.DataFrame(
        {
            column: pd.Series([row[column] for row in rows], dtype=dtypes.get(column, object))
            for column in columns
        }
    )


def _level(row: Mapping[Any, Any], post_levels: Mapping[str, str]) -> str:
    if row["kind"] == "guidance_window" and str(row["post_id"]) in post_levels:
        return post_levels[str(row["post_id"])]
    return LEVEL_OF_KIND.get(str(row["kind"]), str(row["kind"]))


def _coverage_today(
    demand: pd.DataFrame, plan: RosterPlan | None, post_levels: dict[str, str]
) -> pd.DataFrame:
    short: dict[str, int] = {}
    if plan is not None and len(plan.uncovered):
        short = {
            str(rid): int(n)
            for rid, n in zip(
                plan.uncovered["requirement_id"], plan.uncovered["short"], strict=True
            )
        }
    totals: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for row in demand.to_dict("records"):
        count = int(row["count"])
        hours = float(row["hours"])
        rid = str(row["requirement_id"])
        covered = 0 if plan is None else max(0, count - short.get(rid, 0))
        squad = "" if pd.isna(row["squad_id"]) else str(row["squad_id"])
        key = (squad, str(row["role"]), _level(row, post_levels), str(row["kind"]))
        entry = totals[key]
        entry[0] += 1
        entry[1] += hours
        entry[2] += hours / count * covered if count else 0.0
    rows = [
        {
            "squad_id": squad or None,
            "role": role,
            "level": level,
            "kind": kind,
            "requirements": int(entry[0]),
            "required_hours": round(entry[1], 3),
            "covered_hours": round(entry[2], 3),
            "coverage": entry[2] / entry[1] if entry[1] else 1.0,
        }
        for (squad, role, level, kind), entry in sorted(totals.items())
    ]
    dtypes = {
        "requirements": "int64",
        **dict.fromkeys(("required_hours", "covered_hours", "coverage"), "float64"),
    }
    return _frame(rows, COVERAGE_COLUMNS, dtypes)


def _today_plan(
    demand: pd.DataFrame,
    staff: Sequence[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    *,
    week: _Week,
    posts: GeoDataFrame | None,
    seconds: float,
    solver: _Solver,
) -> RosterPlan | None:
    if not staff:
        return None
    options = RosterOptions(
        time_limit_s=max(_MIN_SOLVE_S, seconds),
        deterministic=solver.deterministic,
        workers=solver.workers,
    )
    return plan_roster(demand, staff, policy, calendar, week.week, posts=posts, options=options)


@dataclass
class _GroupResult:
    rows: list[dict[str, Any]]
    uncoverable: list[_Need]
    notes: list[str]


class _Group:
    """The people of one engine problem: a squad's officers and assistants, or the leaders.

    The first role (officers, or leaders) is searched for alone, against the needs only it can
    fill; the second (assistants) then against every need, with the first role's number fixed.
    """

    def __init__(
        self, squad_id: str | None, rows: pd.DataFrame, plain: DutyPolicy, week: _Week
    ) -> None:
        self.squad_id = squad_id
        self.rows = rows
        self.plain = plain
        self.week = week
        self.person_min = round(min(plain.labour.hours_per_week, MAX_CONTRACT_HOURS) * 60)
        probe = self.engine(1, 1)
        needs, self.uncoverable = _needs(probe)
        self.first = [n for n in needs if n.skill in ("officer", "leader")]
        self.second = [n for n in needs if n.skill is None]
        self.first_bounds = _bounds(self.first, probe, self.person_min, plain)
        self.total_bounds = _bounds(self.second, probe, self.person_min, plain)
        people = max(self.first_bounds.lower, self.total_bounds.lower, 1)
        self.size = people * max(1, len(needs))

    def engine(self, first: int, second: int = 0) -> EngineProblem:
        if self.squad_id is None:
            people = _hypothetical("leader", first, None, self.plain)
        else:
            people = _hypothetical("officer", first, self.squad_id, self.plain)
            people += _hypothetical("assistant", second, self.squad_id, self.plain)
        return _engine(self.rows, people, self.squad_id, self.plain, self.week)

    def search(self, clock: _Clock, solver: _Solver) -> _GroupResult:
        first_role: StaffRole = "leader" if self.squad_id is None else "officer"
        first: int | None = 0
        first_proven = True
        if self.first:
            first, first_proven = _fewest(
                lambda n: _coverage_problem(self.engine(n), self.first),
                self.first_bounds.lower,
                self.person_min,
                clock.share(2 if self.second else 1),
                solver,
            )
        rows = [_need_row(self.squad_id, first_role, self.first_bounds, first, first_proven)]
        notes = []
        if first is None:
            notes.append(self._late(f"{first_role}s"))
        if self.squad_id is None:
            return _GroupResult(rows, self.uncoverable, notes)
        fixed = first or 0
        bounds = _Bounds(
            max(0, self.total_bounds.hours - fixed),
            max(0, self.total_bounds.shifts - fixed),
            max(0, self.total_bounds.peak - fixed),
        )
        second: int | None = 0
        second_proven = True
        if self.second and first is None:
            second, second_proven = None, False
        elif self.second:
            second, second_proven = _fewest(
                lambda n: _coverage_problem(
                    self.engine(fixed, n),
                    self.first + self.second,
                    hard_skills=frozenset({"officer"}),
                ),
                bounds.lower,
                self.person_min,
                clock.share(1),
                solver,
            )
        if second is None:
            notes.append(self._late("assistants"))
        rows.append(_need_row(self.squad_id, "assistant", bounds, second, second_proven))
        return _GroupResult(rows, self.uncoverable, notes)

    def _late(self, role: str) -> str:
        where = self.squad_id or "district"
        return f"{where}: the time ran out before the {role} needed were found"


def _need_row(
    squad_id: str | None, role: StaffRole, bounds: _Bounds, needed: int | None, proven: bool
) -> dict[str, Any]:
    return {
        "squad_id": squad_id,
        "role": role,
        "bound_hours": bounds.hours,
        "bound_shifts": bounds.shifts,
        "bound_peak": bounds.peak,
        "lower_bound": bounds.lower,
        "needed": needed,
        "proven": proven and needed is not None,
    }


def staffing_need(
    demand: pd.DataFrame,
    staff: Sequence[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    *,
    time_limit_s: float = 60.0,
    posts: GeoDataFrame | None = None,
    deterministic: bool = False,
    workers: int | None = None,
) -> StaffingNeed:
    """Return the people each squad needs for a week's demand, and the coverage today's reach.

    Parameters
    ----------
    demand
        One ISO week's demand (:func:`grids.demand.demand_for_week`, made with the staff so that
        full deployments are counted).
    staff
        Today's officers, assistants and duty leaders.
    policy
        The duty policy: slots, labour rules. The need is reckoned with no overtime; today's
        roster keeps the policy as it is.
    calendar
        The holiday calendar.
    time_limit_s
        Time for the whole reckoning: a quarter for today's roster, the rest shared by the
        squads' searches, smaller squads first. In deterministic mode the engine's deterministic
        time.
    posts
        The posts layer, for the level of guidance points' posts in the coverage table.
    deterministic, workers
        The engine's search: one worker and a fixed seed, or ``workers`` workers.

    Returns
    -------
    StaffingNeed
        Per squad and role: today's headcount, the lower bounds, the people needed, the gap, and
        the coverage today's staff reach; today's coverage by level and kind; what cannot be
        covered at all.

    Raises
    ------
    ValueError
        If the demand covers more than one ISO week, or the calendar does not cover it.
    FieldError
        If the demand lacks a column.
    """
    clock = _Clock(time_limit_s)
    solver = _Solver(deterministic, workers)
    week = _week(demand, calendar)
    plain = _without_overtime(policy)
    post_levels: dict[str, str] = {}
    if posts is not None and {"id", "level"} <= set(posts.columns):
        post_levels = dict(zip(posts["id"].astype(str), posts["level"].astype(str), strict=True))
    plan = _today_plan(
        demand,
        staff,
        policy,
        calendar,
        week=week,
        posts=posts,
        seconds=time_limit_s * _TODAY_SHARE,
        solver=solver,
    )
    coverage = _coverage_today(demand, plan, post_levels)

    squads = sorted({str(s) for s in demand["squad_id"].dropna()})
    keys: list[str | None] = [*squads]
    if (demand["kind"] == "leader_duty").any():
        keys.append(None)
    groups = [_Group(key, _group_rows(demand, key), plain, week) for key in keys]
    # Equal shares, small groups first: the time they leave goes to the larger ones.
    found: dict[str | None, _GroupResult] = {}
    for index, group in enumerate(sorted(groups, key=lambda g: g.size)):
        found[group.squad_id] = group.search(clock.share(len(groups) - index), solver)
    results = [found[key] for key in keys]
    table = _need_table(results, staff, coverage)
    uncoverable_keys = {
        (n.key.date, n.key.slot_id) for result in results for n in result.uncoverable
    }
    uncoverable = demand[
        [
            (pd.Timestamp(d).date(), str(s)) in uncoverable_keys
            for d, s in zip(demand["date"], demand["slot_id"], strict=True)
        ]
    ].reset_index(drop=True)
    notes = [note for result in results for note in result.notes]
    if len(uncoverable):
        limit = plain.labour.hours_per_day
        notes.append(
            f"{len(uncoverable)} requirement(s) fall in slots that no shift of at most "
            f"{limit:g} h spans; they are left out of the need"
        )
    deployments = int((demand["kind"] == "full_deployment").sum())
    if deployments:
        notes.append(
            f"{deployments} full-deployment (全员上岗) row(s) ask every available member to work "
            "and set no headcount; they are left out of the need"
        )
    return StaffingNeed(table, coverage, uncoverable, tuple(notes), plan)


def _need_table(
    results: Sequence[_GroupResult], staff: Sequence[Officer], coverage: pd.DataFrame
) -> pd.DataFrame:
    rows = []
    for result in results:
        for row in result.rows:
            squad_id, role = row["squad_id"], row["role"]
            today = sum(
                1
                for person in staff
                if person.role == role and (role == "leader" or person.squad_id == squad_id)
            )
            mine = coverage[
                (coverage["role"] == _DEMAND_ROLE[role])
                & (coverage["kind"] != "full_deployment")
                & (
                    coverage["squad_id"].isna()
                    if squad_id is None
                    else coverage["squad_id"] == squad_id
                )
            ]
            required = float(mine["required_hours"].sum())
            covered = float(mine["covered_hours"].sum())
            needed = row["needed"]
            rows.append(
                {
                    **row,
                    "today": today,
                    "gap": None if needed is None else needed - today,
                    "required_hours": round(required, 3),
                    "covered_hours_today": round(covered, 3),
                    "coverage_today": covered / required if required else 1.0,
                }
            )
    dtypes = {
        **dict.fromkeys(
            ("today", "bound_hours", "bound_shifts", "bound_peak", "lower_bound"), "int64"
        ),
        **dict.fromkeys(("needed", "gap"), "Int64"),
        **dict.fromkeys(("required_hours", "covered_hours_today", "coverage_today"), "float64"),
        "proven": "bool",
    }
    return _frame(rows, NEED_COLUMNS, dtypes)
