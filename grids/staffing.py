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
fill: the assistants needed come on top of the officers needed, whose spare hours count (when the
time runs out before the officers needed are known, the assistants that suffice without those
spare hours are given as an upper bound); and
``leader`` (带班领导) for the district's duty-leader rota.

The engine problems are those of the rostering (:func:`grids.rostering_engine.squad_problem`,
:func:`~grids.rostering_engine.leader_problem`): shifts are blocks of whole slots, so a
requirement needs someone for its whole slot, and every labour rule of the policy holds, here with
overtime switched off. A full deployment (全员上岗) asks every available member to work and sets no
headcount, so it is left out of (a) and (b) (its coverage today is reported).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from geopandas import GeoDataFrame

from grids._staffing_problem import (
    StaffRole,
    Week,
    coverage_problem,
    engine_needs,
    engine_problem,
    group_rows,
    hypothetical,
    missing_minutes,
    required_minutes,
    week_of,
    without_overtime,
)
from grids._staffing_search import (
    MIN_SOLVE_S,
    Clock,
    Group,
    GroupResult,
    Solver,
    covered,
    proven_short,
)
from grids.calendar import HolidayCalendar
from grids.policy import DutyPolicy
from grids.rostering import LEVEL_OF_KIND, RosterOptions, RosterPlan, plan_roster
from grids.staff import Officer

__all__ = [
    "COVERAGE_COLUMNS",
    "NEED_COLUMNS",
    "HeadcountCheck",
    "StaffRole",
    "StaffingNeed",
    "check_headcount",
    "staffing_need",
]

NEED_COLUMNS: tuple[str, ...] = (
    "squad_id",
    "role",
    "today",
    "bound_hours",
    "bound_shifts",
    "bound_peak",
    "lower_bound",
    "needed",
    "upper_bound",
    "gap",
    "proven",
    "required_hours",
    "covered_hours_today",
    "coverage_today",
)
"""The columns of :attr:`StaffingNeed.table`.

``bound_hours``, ``bound_shifts`` and ``bound_peak`` are the three lower bounds of (a) and
``lower_bound`` their maximum; ``needed`` the fewest people found (missing, ``<NA>``, when the
time ran out first); ``upper_bound`` as many people as are known to be enough: ``needed`` when it
was found, else for assistants whose squad's officers were not found in time the assistants that
cover the rest without the officers' spare hours (``<NA>`` when not known either); ``gap``
``needed - today``; ``proven`` whether ``needed - 1`` is proven too few. Assistants whose
officers were not found have a lower bound of 0: however many officers there turn out to be, they
may fill what assistants do. The hours are the person-hours of the role's requirements and the
share of them today's roster covers.
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
_DEMAND_ROLE = {"officer": "officer", "assistant": "any", "leader": "leader"}
_TODAY_SHARE = 0.25


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
    week = week_of(demand, calendar)
    plain = without_overtime(policy)
    people = (
        hypothetical("leader", leaders, None, plain)
        if squad_id is None
        else hypothetical("officer", officers, squad_id, plain)
        + hypothetical("assistant", assistants, squad_id, plain)
    )
    engine = engine_problem(group_rows(demand, squad_id), people, squad_id, plain, week)
    needs, _ = engine_needs(engine)
    problem = coverage_problem(engine, needs)
    required = required_minutes(needs)
    if not needs:
        return HeadcountCheck(True, "OPTIMAL", 0.0, 0.0)
    solution = Solver(deterministic, workers).run(problem, time_limit_s)
    feasible: bool | None
    if covered(solution):
        feasible = True
    elif proven_short(solution) > 0:
        feasible = False
    else:
        feasible = None
    missing = missing_minutes(problem, solution.assignments)
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
    week: Week,
    posts: GeoDataFrame | None,
    seconds: float,
    solver: Solver,
) -> RosterPlan | None:
    if not staff:
        return None
    options = RosterOptions(
        time_limit_s=max(MIN_SOLVE_S, seconds),
        deterministic=solver.deterministic,
        workers=solver.workers,
    )
    return plan_roster(demand, staff, policy, calendar, week.week, posts=posts, options=options)


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
    clock = Clock(time_limit_s)
    solver = Solver(deterministic, workers)
    week = week_of(demand, calendar)
    plain = without_overtime(policy)
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
    groups = [Group(key, group_rows(demand, key), plain, week) for key in keys]
    # Equal shares, small groups first: the time they leave goes to the larger ones.
    found: dict[str | None, GroupResult] = {}
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
    results: Sequence[GroupResult], staff: Sequence[Officer], coverage: pd.DataFrame
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
        **dict.fromkeys(("needed", "upper_bound", "gap"), "Int64"),
        **dict.fromkeys(("required_hours", "covered_hours_today", "coverage_today"), "float64"),
        "proven": "bool",
    }
    return _frame(rows, NEED_COLUMNS, dtypes)
