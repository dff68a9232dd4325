"""The search for the fewest people that cover a week, against a deadline.

:func:`fewest` climbs from a lower bound by the shortfalls the engine proves; a :class:`Group`
searches a squad's officers, then its assistants (or the district's duty leaders), sharing a
:class:`Clock` with the other groups.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from grids._staffing_problem import (
    Bounds,
    Need,
    StaffRole,
    Week,
    coverage_problem,
    engine_needs,
    engine_problem,
    hypothetical,
    need_bounds,
)
from grids.policy import DutyPolicy
from grids.rostering_engine import EngineProblem
from grids.shift_model import ShiftProblem, ShiftSolution
from grids.shift_solver import solve
from grids.staff import MAX_CONTRACT_HOURS

MIN_SOLVE_S = 0.2
"""The least time a solve is given, in seconds."""
SURE_NIGHT_CAP = 2
"""Night shifts a person may always take under the fair-nights rule: an even share (at least
one) plus one, however many people share the nights."""
_FIRST_SOLVE_SHARE = 0.7


class Clock:
    """A deadline, and time limits for solves within it."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def share(self, parts: int) -> Clock:
        return Clock(max(MIN_SOLVE_S, self.left() / max(1, parts)))


@dataclass(frozen=True)
class Solver:
    deterministic: bool
    workers: int | None

    def run(self, problem: ShiftProblem, seconds: float) -> ShiftSolution:
        return solve(
            problem,
            time_limit_s=max(MIN_SOLVE_S, seconds),
            deterministic=self.deterministic,
            workers=1 if self.deterministic else self.workers,
        )


def covered(solution: ShiftSolution) -> bool:
    return solution.found and solution.penalties.get("cover_under", 0) == 0


def proven_short(solution: ShiftSolution) -> float:
    """Return a proven lower bound on the person-minutes short (0 when nothing is proven)."""
    if solution.status == "INFEASIBLE":
        return math.inf
    return max(0.0, solution.bound or 0.0)


def fewest(
    build: Callable[[int], ShiftProblem],
    start: int,
    person_min: int,
    clock: Clock,
    solver: Solver,
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
        if covered(solution):
            enough = count
        else:
            proven = proven_short(solution)
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


@dataclass
class GroupResult:
    rows: list[dict[str, Any]]
    uncoverable: list[Need]
    notes: list[str]


class Group:
    """The people of one engine problem: a squad's officers and assistants, or the leaders.

    The first role (officers, or leaders) is searched for alone, against the needs only it can
    fill; the second (assistants) then against every need, with the first role's number fixed.
    When the time runs out before that number is found, the assistants are searched for alone,
    against what the officers needed do not cover: a number that is enough (an upper bound).
    """

    def __init__(
        self, squad_id: str | None, rows: pd.DataFrame, plain: DutyPolicy, week: Week
    ) -> None:
        self.squad_id = squad_id
        self.rows = rows
        self.plain = plain
        self.week = week
        self.person_min = round(min(plain.labour.hours_per_week, MAX_CONTRACT_HOURS) * 60)
        probe = self.engine(1, 1)
        needs, self.uncoverable = engine_needs(probe)
        self.first = [n for n in needs if n.skill in ("officer", "leader")]
        self.second = [n for n in needs if n.skill is None]
        self.first_bounds = need_bounds(self.first, probe, self.person_min, plain)
        self.total_bounds = need_bounds(self.second, probe, self.person_min, plain)
        people = max(self.first_bounds.lower, self.total_bounds.lower, 1)
        self.size = people * max(1, len(needs))

    def engine(self, first: int, second: int = 0) -> EngineProblem:
        if self.squad_id is None:
            people = hypothetical("leader", first, None, self.plain)
        else:
            people = hypothetical("officer", first, self.squad_id, self.plain)
            people += hypothetical("assistant", second, self.squad_id, self.plain)
        return engine_problem(self.rows, people, self.squad_id, self.plain, self.week)

    def search(self, clock: Clock, solver: Solver) -> GroupResult:
        first_role: StaffRole = "leader" if self.squad_id is None else "officer"
        first: int | None = 0
        first_proven = True
        if self.first:
            first, first_proven = fewest(
                lambda n: coverage_problem(self.engine(n), self.first),
                self.first_bounds.lower,
                self.person_min,
                clock.share(2 if self.second else 1),
                solver,
            )
        rows = [need_row(self.squad_id, first_role, self.first_bounds, first, first_proven)]
        notes = []
        if first is None:
            notes.append(self._late(f"{first_role}s"))
        if self.squad_id is None:
            return GroupResult(rows, self.uncoverable, notes)
        fixed = first or 0
        bounds = Bounds(
            max(0, self.total_bounds.hours - fixed),
            max(0, self.total_bounds.shifts - fixed),
            max(0, self.total_bounds.peak - fixed),
        )
        second: int | None = 0
        second_proven = True
        at_most: int | None = None
        if self.second and first is None:
            # Officers fill what assistants do with their spare hours, and how many officers
            # there will be is unknown: nothing above 0 bounds the assistants from below, but
            # those that cover the rest without any officer's help are enough.
            second, second_proven = None, False
            bounds = Bounds(0, 0, 0)
            at_most = self._without_officers(clock.share(1), solver)
            if at_most is not None:
                notes.append(
                    f"{self.squad_id}: the assistants needed are at most {at_most}, counted "
                    "without the officers' spare hours (the officers needed were not found)"
                )
        elif self.second:
            second, second_proven = fewest(
                lambda n: coverage_problem(
                    self.engine(fixed, n),
                    self.first + self.second,
                    hard_skills=frozenset({"officer"}),
                ),
                bounds.lower,
                self.person_min,
                clock.share(1),
                solver,
            )
        if second is None and at_most is None:
            notes.append(self._late("assistants"))
        rows.append(
            need_row(self.squad_id, "assistant", bounds, second, second_proven, at_most=at_most)
        )
        return GroupResult(rows, self.uncoverable, notes)

    def _without_officers(self, clock: Clock, solver: Solver) -> int | None:
        """Return a number of assistants that is enough whatever the officers needed, or None.

        They cover, in each window, everyone needed less the officers needed (whom the officers,
        however many, cover); their night shifts are capped at :data:`SURE_NIGHT_CAP`, which the
        fair-nights rule allows whoever the others are. With the officers' own roster beside
        theirs, nothing is short, so the assistants needed are at most this many.
        """
        officers = {(n.day, n.window): n.requirement for n in self.first}
        rest = [
            replace(n, requirement=n.requirement - officers.get((n.day, n.window), 0))
            for n in self.second
        ]
        rest = [n for n in rest if n.requirement > 0]
        if not rest:
            return 0

        def build(count: int) -> ShiftProblem:
            problem = coverage_problem(self.engine(0, count), rest)
            staff = tuple(
                replace(
                    person,
                    max_shifts={k: min(v, SURE_NIGHT_CAP) for k, v in person.max_shifts.items()},
                )
                for person in problem.staff
            )
            return replace(problem, staff=staff)

        start = need_bounds(rest, self.engine(0, 1), self.person_min, self.plain).lower
        enough, _ = fewest(build, start, self.person_min, clock, solver)
        return enough

    def _late(self, role: str) -> str:
        where = self.squad_id or "district"
        return f"{where}: the time ran out before the {role} needed were found"


def need_row(
    squad_id: str | None,
    role: StaffRole,
    bounds: Bounds,
    needed: int | None,
    proven: bool,
    *,
    at_most: int | None = None,
) -> dict[str, Any]:
    return {
        "squad_id": squad_id,
        "role": role,
        "bound_hours": bounds.hours,
        "bound_shifts": bounds.shifts,
        "bound_peak": bounds.peak,
        "lower_bound": bounds.lower,
        "needed": needed,
        "upper_bound": needed if needed is not None else at_most,
        "proven": proven and needed is not None,
    }
