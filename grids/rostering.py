"""Rostering: a week's demand, the staff and the duty policy → a roster within the labour law.

:func:`plan_roster` works in two stages:

1. **Shifts** (:mod:`grids.rostering_engine`): one shift-engine problem per squad (officers stay
   in their squad) and one for the district's duty leaders, solved one after the other within a
   shared time limit, so that a city of thousands of officers stays solvable; the time the runs
   leave unused goes to those not proven optimal, which go on from their roster. Every labour rule
   is hard; coverage, requests, full deployments and keeping a previous roster are weighted.
2. **Posts** (:mod:`grids.rostering_posts`): within each squad and day, the people on duty go to
   the concrete requirements of each slot (posts, patrol routes, guidance windows, operations),
   within their role, in one place at a time, with time to travel between consecutive places
   along the roads (:mod:`grids.rostering_travel`).

The result is the assignment table of :mod:`grids.roster`, the requirements left short with the
reason why (:mod:`grids.rostering_report`), and a report: objective, bound and gap per squad and
overall, time to the first feasible roster, coverage by level, problem sizes and, when
re-planning, the assignments changed. Each run's bound is the best of CP-SAT's and of the linear
relaxation of its model (:mod:`grids.shift_bound`), which proves the shortage of a squad whose
full deployment leaves its weekdays short. A run whose search finds no roster in its time keeps
the greedy roster, scored by the same objective; the totals count it, and ``greedy_fallback``
names it.

Re-planning (:mod:`grids.rostering_replan`) starts from a previous roster of the week: days up to
``publish_through`` and assignments marked ``pinned`` stay as they are, and every other change
costs ``change_weight``, so that an absence (:func:`grids.rostering_replan.with_absences`) or a
new event post changes only what it must.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import pandas as pd
from geopandas import GeoDataFrame

from grids.calendar import HolidayCalendar
from grids.policy import DayType, DutyPolicy
from grids.roster import ASSIGNMENT_COLUMNS, check_assignments, empty_assignments
from grids.rostering_engine import SCALE, EngineProblem, leader_problem, squad_problem
from grids.rostering_posts import PostsResult, assign_posts
from grids.rostering_replan import (
    PreviousRoster,
    assignment_changes,
    previous_roster,
    with_absences,
)
from grids.rostering_report import (
    EngineRun,
    coverage_by_level,
    coverage_table,
    deployment_coverage,
    fairness,
    finite_numbers,
    run_summary,
    uncovered_by_reason,
    uncovered_table,
)
from grids.rostering_shifts import LEADER_SHIFT_ID, all_shift_types
from grids.rostering_travel import (
    DEFAULT_ALLOWANCE_MIN,
    DEFAULT_SPEED_KMH,
    RoadNetwork,
    TravelTimes,
    demand_places,
)
from grids.shift_model import ShiftSolution
from grids.shift_solver import (
    ProgressEvent,
    count_changes,
    diagnose_uncovered,
    greedy_roster,
    penalty_breakdown,
    solve,
)
from grids.staff import Officer

__all__ = [
    "LEVEL_OF_KIND",
    "RosterOptions",
    "RosterPlan",
    "RosterProgress",
    "assignment_changes",
    "plan_roster",
    "with_absences",
]

LEVEL_OF_KIND: dict[str, str] = {
    "strict_post": "strict",
    "patrol": "controlled",
    "guidance_window": "regulated",
    "night_check": "operations",
    "muck_truck": "operations",
    "barbecue": "operations",
    "event": "events",
    "full_deployment": "full_deployment",
    "leader_duty": "leader",
}
"""The coverage level a requirement counts under (guidance windows: their post's level)."""


PARALLEL_MIN_S = 1.0
"""Shorter engine runs use one search worker (threads would not pay for themselves)."""
FINISH_SHARE = 0.03
"""The share of the time limit kept for counting coverage and writing the report."""
MORE_TIME_MIN_S = 1.0
"""Time left over after every run is given to the unproven ones only if each gets this much."""


@dataclass(frozen=True)
class RosterOptions:
    """How :func:`plan_roster` searches.

    Parameters
    ----------
    time_limit_s
        Time for the whole week; in deterministic mode, CP-SAT's deterministic time.
    deterministic
        One search worker, a fixed seed and fixed shares of the time: the same inputs give the
        same roster.
    seed
        The random seed.
    workers
        Search workers per solve (None: one per core).
    speed_kmh, allowance_min
        Patrol speed, and the time allowed to move between consecutive slots' places.
    change_weight
        When re-planning: weight-hours each changed person-day costs (stage 1), and each kept
        post earns (stage 2).
    posts_share
        The share of the time limit kept for stage 2.
    fair_nights
        Whether to cap each person's nights at an even share plus one.
    """

    time_limit_s: float = 60.0
    deterministic: bool = False
    seed: int = 0
    workers: int | None = None
    speed_kmh: float = DEFAULT_SPEED_KMH
    allowance_min: float = DEFAULT_ALLOWANCE_MIN
    change_weight: float = 20.0
    posts_share: float = 0.2
    fair_nights: bool = True


@dataclass(frozen=True)
class RosterProgress:
    """Where :func:`plan_roster` is: a stage, a part of it, and the part's best so far."""

    stage: Literal["travel", "shifts", "posts"]
    done: int
    total: int
    label: str
    objective: float | None = None
    bound: float | None = None


@dataclass
class RosterPlan:
    """A roster and how it was made.

    Parameters
    ----------
    assignments
        One row per person on duty per slot (the columns of :mod:`grids.roster`).
    uncovered
        One row per requirement left short (:data:`grids.rostering_report.UNCOVERED_COLUMNS`).
    report
        JSON-ready: objective, bound, gap, times, coverage by level, uncovered by reason,
        problem sizes, changes.
    """

    assignments: pd.DataFrame
    uncovered: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Week:
    """What a week's roster is made from."""

    demand: pd.DataFrame
    policy: DutyPolicy
    days: list[date]
    day_types: list[DayType]
    members_of: dict[str, list[Officer]]
    leaders: list[Officer]
    options: RosterOptions
    prev: PreviousRoster | None = None
    travel: TravelTimes | None = None


def _travel(
    demand: pd.DataFrame,
    layers: Mapping[str, GeoDataFrame | None],
    policy: DutyPolicy,
    options: RosterOptions,
) -> tuple[TravelTimes | None, dict[str, Any] | None]:
    posts, roads = layers["posts"], layers["roads"]
    if roads is None or posts is None:
        return None, None
    network = RoadNetwork(roads)
    places = demand_places(demand, posts, zones=layers["zones"], policy=policy)
    travel = TravelTimes(
        network, places, speed_kmh=options.speed_kmh, allowance_min=options.allowance_min
    )
    return travel, {
        "speed_kmh": options.speed_kmh,
        "allowance_min": options.allowance_min,
        "reach_m": round(travel.limit_m, 1),
        "road_vertices": network.node_count,
        "road_edges": network.edge_count,
        "places": len(places),
    }


def _engine_runs(week: _Week) -> list[EngineRun]:
    prev, demand, options = week.prev, week.demand, week.options
    previous = prev.shifts if prev else None
    pinned = prev.pinned_shifts if prev else None
    change = round(options.change_weight * SCALE)
    runs = []
    for squad, members in week.members_of.items():
        rows = demand[demand["squad_id"] == squad]
        engine = None
        if members:
            engine = squad_problem(
                rows,
                members,
                week.policy,
                week.days,
                week.day_types,
                previous=previous,
                pinned=pinned,
                change_weight=change,
                fair_nights=options.fair_nights,
            )
        runs.append(EngineRun(squad, engine))
    leader_demand = demand[demand["kind"] == "leader_duty"]
    if not leader_demand.empty:
        engine = None
        if week.leaders:
            engine = leader_problem(
                leader_demand,
                week.leaders,
                week.policy,
                week.days,
                previous=previous,
                pinned=pinned,
                change_weight=change,
            )
        runs.append(EngineRun("leaders", engine))
    return runs


def _fallback(run: EngineRun, solution: ShiftSolution) -> ShiftSolution:
    """Return the greedy roster (which keeps every labour rule) when the search found none.

    The roster is scored by the engine's objective, so that the week's totals count it; its
    bound is the one the search proved, or 0 (no penalty is negative) without a finite one (a
    problem proven infeasible: no roster keeps every hard rule, and the greedy roster's penalty
    leaves out the hard covers it misses).
    """
    assert run.engine is not None
    problem = run.engine.problem
    assignments = greedy_roster(problem)
    penalties = penalty_breakdown(problem, assignments)
    objective = sum(penalties.values())
    proven = solution.bound
    bound = min(proven, float(objective)) if proven is not None and math.isfinite(proven) else 0.0
    return replace(
        solution,
        assignments=assignments,
        objective=objective,
        bound=bound,
        gap=abs(objective - bound) / max(1.0, abs(objective)),
        penalties=penalties,
        uncovered=diagnose_uncovered(problem, assignments),
        changes=count_changes(problem, assignments),
    )


def _solve_runs(
    runs: Sequence[EngineRun],
    options: RosterOptions,
    elapsed: Callable[[], float],
    tell: Callable[[RosterProgress], None],
) -> None:
    """Solve the runs one after the other, each with a share of the time by its size."""
    solvable = [
        r
        for r in runs
        if r.engine is not None and r.engine.problem.covers and r.engine.problem.staff
    ]
    size = {
        r.name: len(r.engine.problem.staff) * len(r.engine.problem.covers)  # type: ignore[union-attr]
        for r in solvable
    }
    # The leaders' rota is tiny: solve it first, so that it never gets only the last crumbs. Then
    # the squads from the smallest: the time a run leaves unused goes to the runs after it, so
    # the largest, which need it most, get what the small ones leave.
    solvable.sort(key=lambda r: (r.name != "leaders", size[r.name], r.name))
    start = elapsed()
    budget = options.time_limit_s * (1 - options.posts_share)
    if not options.deterministic:
        budget -= start
    left = sum(size.values())
    for n, run in enumerate(solvable):
        assert run.engine is not None
        if options.deterministic:
            limit = budget * size[run.name] / max(1, sum(size.values()))
        else:
            # Time a run leaves unused goes to the runs after it.
            limit = (budget - (elapsed() - start)) * size[run.name] / max(1, left)
        run.time_limit_s = max(0.1, limit)
        run.started_s = elapsed()
        tell(RosterProgress("shifts", n, len(solvable), run.name))

        def report(event: ProgressEvent, n: int = n, name: str = run.name) -> None:
            objective, bound = event.objective / SCALE, event.bound / SCALE
            tell(RosterProgress("shifts", n, len(solvable), name, objective, bound))

        # Below a second, one worker: starting the search threads would not pay off.
        workers = options.workers
        if options.deterministic or run.time_limit_s < PARALLEL_MIN_S:
            workers = 1

        def attempt(
            engine: EngineProblem,
            limit: float = run.time_limit_s,
            workers: int | None = workers,
            report: Callable[[ProgressEvent], None] = report,
        ) -> ShiftSolution:
            return solve(
                engine.problem,
                time_limit_s=limit,
                deterministic=options.deterministic,
                seed=options.seed,
                workers=workers,
                progress=report,
                hint=engine.hint(),
                relaxation=True,
            )

        solution = attempt(run.engine)
        if solution.status == "INFEASIBLE" and run.engine.problem.pins:
            # Published days that no longer keep the rules (new leave): re-plan them too.
            run.engine = replace(run.engine, problem=replace(run.engine.problem, pins=()))
            solution = attempt(run.engine)
        run.fallback = not solution.found
        run.solution = solution if solution.found else _fallback(run, solution)
        left -= size[run.name]
    if not options.deterministic:
        _use_time_left(solvable, size, options, lambda: budget - (elapsed() - start), tell)
    tell(RosterProgress("shifts", len(solvable), len(solvable), "done"))


def _merged(old: ShiftSolution, new: ShiftSolution) -> ShiftSolution:
    """Return the better roster of two solves of one problem, with the better bound of both."""
    better = (
        new
        if new.found
        and new.objective is not None
        and (old.objective is None or new.objective < old.objective)
        else old
    )
    bounds = [b for b in (old.bound, new.bound) if b is not None and math.isfinite(b)]
    bound = max(bounds) if bounds else better.bound
    objective = better.objective
    gap = better.gap
    status = better.status
    if objective is not None and bound is not None:
        gap = abs(objective - bound) / max(1.0, abs(objective))
        if objective <= bound:
            status = "OPTIMAL"
    return replace(
        better,
        status=status,
        bound=bound,
        gap=gap,
        wall_time_s=old.wall_time_s + new.wall_time_s,
        first_solution_s=old.first_solution_s
        if old.first_solution_s is not None
        else new.first_solution_s,
    )


def _use_time_left(
    solvable: Sequence[EngineRun],
    size: Mapping[str, int],
    options: RosterOptions,
    time_left: Callable[[], float],
    tell: Callable[[RosterProgress], None],
) -> None:
    """Give the time the runs left unused to those not proven optimal, from their roster."""
    pending = [
        r
        for r in solvable
        if r.engine is not None
        and r.solution is not None
        and r.solution.status not in ("OPTIMAL", "INFEASIBLE")
    ]
    left = sum(size[r.name] for r in pending)
    for n, run in enumerate(pending):
        assert run.engine is not None
        assert run.solution is not None
        limit = time_left() * size[run.name] / max(1, left)
        left -= size[run.name]
        if limit < MORE_TIME_MIN_S:
            continue
        tell(RosterProgress("shifts", n, len(pending), run.name))

        def report(event: ProgressEvent, n: int = n, name: str = run.name) -> None:
            objective, bound = event.objective / SCALE, event.bound / SCALE
            tell(RosterProgress("shifts", n, len(pending), name, objective, bound))

        again = solve(
            run.engine.problem,
            time_limit_s=limit,
            seed=options.seed + 1,
            workers=options.workers,
            progress=report,
            hint=run.solution.assignments,
            relaxation=True,
        )
        run.time_limit_s += limit
        merged = _merged(run.solution, again)
        if merged.assignments is again.assignments:
            run.fallback = False
        run.solution = merged


@dataclass
class _Posts:
    rows: list[dict[str, Any]] = field(default_factory=list)
    reasons: dict[str, tuple[str, str]] = field(default_factory=dict)
    deployments: dict[str, int] = field(default_factory=dict)
    models: int = 0
    variables: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def _assign(
    runs: Sequence[EngineRun],
    week: _Week,
    elapsed: Callable[[], float],
    tell: Callable[[RosterProgress], None],
) -> _Posts:
    demand, options, prev = week.demand, week.options, week.prev
    squads = [r for r in runs if r.name != "leaders" and r.solution is not None]
    found = _Posts()
    budget = options.time_limit_s * options.posts_share
    for n, run in enumerate(squads):
        tell(RosterProgress("posts", n, len(squads), run.name))
        members = {m.id: m for m in week.members_of[run.name]}
        rows = demand[demand["squad_id"] == run.name]
        on_duty = run.on_duty()
        if options.deterministic:
            limit = budget / len(squads)
        else:
            left = options.time_limit_s * (1 - FINISH_SHARE) - elapsed()
            limit = max(0.2, left / (len(squads) - n))
        result: PostsResult = assign_posts(
            rows,
            members,
            on_duty,
            week.policy,
            list(zip(week.days, week.day_types, strict=True)),
            travel=week.travel,
            slot_reasons=run.slot_reasons(),
            previous=prev.posts if prev else None,
            pinned=prev.pinned_posts if prev else None,
            change_weight=round(options.change_weight * SCALE),
            time_limit_s=limit,
            deterministic=options.deterministic,
            seed=options.seed,
            workers=1 if options.deterministic else options.workers,
        )
        found.rows += result.rows
        found.reasons.update({rid: (r, d) for rid, (_, r, d) in result.short.items()})
        for rid, (working, reason, detail) in deployment_coverage(
            rows, list(members.values()), on_duty
        ).items():
            found.deployments[rid] = working
            found.reasons[rid] = (reason, detail)
        found.models += result.models
        found.variables += result.variables
        found.statuses.update(result.statuses)
    tell(RosterProgress("posts", len(squads), len(squads), "done"))
    return found


def _leader_rows(
    run: EngineRun,
    demand: pd.DataFrame,
    staff: Mapping[str, Officer],
    policy: DutyPolicy,
    pinned: set[tuple[str, date, str]],
) -> list[dict[str, Any]]:
    if run.engine is None or run.solution is None:
        return []
    requirement = {
        row["date"]: str(row["requirement_id"])
        for row in demand[demand["kind"] == "leader_duty"].to_dict("records")
    }
    rows = []
    for (sid, i), shift in sorted(run.solution.assignments.items()):
        day = run.engine.days[i]
        start, end = policy.leader.on(day)
        rows.append(
            {
                "officer_id": sid,
                "role": staff[sid].role,
                "squad_id": staff[sid].squad_id,
                "date": day,
                "slot_id": "day",
                "start": start,
                "end": end,
                "post_id": "leader_duty",
                "task": "leader_duty",
                "requirement_id": requirement.get(day) if shift == LEADER_SHIFT_ID else None,
                "pinned": (sid, day, "day") in pinned,
            }
        )
    return rows


def _assignment_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the rows as a roster table (the dtypes of :func:`grids.roster.empty_assignments`)."""
    if not rows:
        return empty_assignments()
    columns: dict[str, Any] = {
        name: pd.Series([row[name] for row in rows], dtype=object) for name in ASSIGNMENT_COLUMNS
    }
    for name in ("start", "end"):
        columns[name] = pd.to_datetime(columns[name]).astype("datetime64[ns]")
    columns["pinned"] = columns["pinned"].astype(bool)
    return check_assignments(pd.DataFrame(columns))


def plan_roster(
    demand: pd.DataFrame,
    staff: Sequence[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    week: str,
    *,
    posts: GeoDataFrame | None = None,
    roads: GeoDataFrame | None = None,
    zones: GeoDataFrame | None = None,
    previous: pd.DataFrame | None = None,
    publish_through: date | None = None,
    options: RosterOptions | None = None,
    progress: Callable[[RosterProgress], None] | None = None,
) -> RosterPlan:
    """Return a roster of ``week`` for the demand, within the labour rules (see the module doc).

    Parameters
    ----------
    demand
        The week's requirements (:func:`grids.demand.demand_for_week`, made with the staff so
        that full deployments are counted).
    staff
        Officers, assistants and duty leaders; people of squads without demand are left out.
    policy
        The duty policy the demand was made under.
    calendar
        The holiday calendar.
    week
        The ISO week, ``2026-W49``.
    posts
        The posts layer: the level of guidance windows' posts, and places for travel times.
    roads
        The roads layer: with ``posts``, moves between consecutive slots are limited to what can
        be travelled in ``options.allowance_min``.
    zones
        The zones layer, for the places of operations at zones.
    previous
        A previous roster of the same week (its assignment table), to re-plan from.
    publish_through
        With ``previous``: the last published day; days up to it stay as they were.
    options
        Time limit, determinism, travel speed and allowance, weights.
    progress
        Called as the work goes on.

    Returns
    -------
    RosterPlan
        The assignments, the requirements left short and why, and the report.

    Raises
    ------
    ValueError
        If the week is not an ISO week or the calendar does not cover it, or
        ``publish_through`` is given without ``previous``.
    FieldError
        If a layer lacks a column or has no CRS.
    """
    options = options or RosterOptions()
    if publish_through is not None and previous is None:
        raise ValueError("publish_through needs the previous roster whose days are published")
    started = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - started

    def tell(event: RosterProgress) -> None:
        if progress is not None:
            progress(event)

    days = calendar.week_dates(week)
    day_types = calendar.day_types(days)
    tell(RosterProgress("travel", 0, 1, "road network"))
    layers = {"posts": posts, "roads": roads, "zones": zones}
    travel, travel_info = _travel(demand, layers, policy, options)
    squad_ids = sorted({str(s) for s in demand["squad_id"].dropna()})
    members_of = {
        squad: [o for o in staff if o.squad_id == squad and o.role != "leader"]
        for squad in squad_ids
    }
    leaders = [o for o in staff if o.role == "leader"]
    prev = None
    if previous is not None:
        shift_types = all_shift_types(policy, day_types)
        prev = previous_roster(previous, staff, days, shift_types, publish_through=publish_through)
    the_week = _Week(demand, policy, days, day_types, members_of, leaders, options, prev, travel)
    runs = _engine_runs(the_week)
    _solve_runs(runs, options, elapsed, tell)
    posts_start = elapsed()
    placed = _assign(runs, the_week, elapsed, tell)
    slot_reasons: dict[tuple[date, str, str | None], tuple[str, str]] = {}
    for run in runs:
        slot_reasons.update(run.slot_reasons())
        if run.name == "leaders":
            placed.rows += _leader_rows(
                run, demand, {o.id: o for o in staff}, policy, prev.pinned_posts if prev else set()
            )
    assignments = _assignment_frame(placed.rows)
    post_levels = (
        dict(zip(posts["id"].astype(str), posts["level"].astype(str), strict=True))
        if posts is not None
        else {}
    )
    levels = [
        post_levels.get(str(post), "regulated")
        if kind == "guidance_window"
        else LEVEL_OF_KIND[kind]
        for kind, post in zip(demand["kind"], demand["post_id"], strict=True)
    ]
    table = coverage_table(demand, assignments, levels, placed.deployments)
    no_staff = {r.name for r in runs if r.engine is None}
    uncovered = uncovered_table(table, placed.reasons, slot_reasons, no_staff)
    summaries = [run_summary(r) for r in runs]
    solved = [r.solution for r in runs if r.solution is not None]
    objective = sum(s.objective or 0 for s in solved) / SCALE
    bound = sum(s.bound or 0 for s in solved if s.bound is not None) / SCALE
    # Had each run stopped at its first roster, the week would have had one after this long.
    solved_runs = [r.solution for r in runs if r.solution is not None]
    first = [
        s.first_solution_s if s.first_solution_s is not None else s.wall_time_s for s in solved_runs
    ]
    begun = [r.started_s for r in runs if r.solution is not None]
    first_feasible = min(begun) + sum(first) if begun else None
    roles = Counter(o.role for o in staff)
    rostered = {o.id for members in members_of.values() for o in members} | {o.id for o in leaders}
    report: dict[str, Any] = {
        "week": week,
        "days": [d.isoformat() for d in days],
        "policy_version": policy.version,
        "policy_fingerprint": policy.fingerprint(),
        "status": ("OPTIMAL" if {s.status for s in solved} == {"OPTIMAL"} else "FEASIBLE")
        if solved
        else "NONE",
        "objective": objective,
        "bound": bound,
        "gap": abs(objective - bound) / max(1.0, abs(objective)),
        "objective_unit": "weight-hours of demand left uncovered, plus requests and changes",
        # Runs whose search found no roster: the greedy roster, its objective and the search's
        # bound (or 0) are in the totals.
        "greedy_fallback": [r.name for r in runs if r.fallback],
        "first_feasible_s": round(first_feasible, 3) if first_feasible is not None else None,
        "wall_time_s": round(elapsed(), 3),
        "time_limit_s": options.time_limit_s,
        "deterministic": options.deterministic,
        "squads": summaries,
        "posts": {
            "models": placed.models,
            "variables": placed.variables,
            "statuses": dict(placed.statuses),
            "wall_time_s": round(elapsed() - posts_start, 3),
        },
        "coverage": coverage_by_level(table),
        "uncovered_by_reason": uncovered_by_reason(uncovered, demand),
        "hard_uncovered": int(uncovered["hard"].astype(bool).sum()) if len(uncovered) else 0,
        "travel": travel_info,
        "staff": {
            "officers": roles.get("officer", 0),
            "assistants": roles.get("assistant", 0),
            "leaders": roles.get("leader", 0),
            "not_rostered": sum(1 for o in staff if o.id not in rostered),
            "demo": any(o.demo for o in staff),
        },
        "fairness": fairness(runs),
    }
    if previous is not None:
        report["changes"] = {
            "assignments": assignment_changes(previous, assignments),
            "person_days": sum(s.changes for s in solved),
        }
    return RosterPlan(assignments, uncovered, finite_numbers(report))
