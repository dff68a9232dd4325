"""Solve a :class:`~grids.shift_model.ShiftProblem` with OR-Tools CP-SAT.

The model (:mod:`grids.shift_cpmodel`) has one Boolean per staff member, day and shift type that
may be worked and every hard rule as a constraint; the objective adds the cover penalties, the
requests not granted and the changes against a previous roster. A greedy roster that keeps every
maximum rule (:mod:`grids.shift_greedy`) is given as a hint, or the caller's. The search
(:mod:`grids.shift_search`) runs CP-SAT's portfolio for a tenth of the time, then large
neighbourhood search on all workers but one, which keeps raising the lower bound on the whole
model; deterministic mode is a single thread with a fixed seed and deterministic time limits.
After solving, each cover left short gets a diagnosis (:mod:`grids.shift_diagnosis`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from grids.shift_cpmodel import RosterModel
from grids.shift_diagnosis import count_changes, diagnose_uncovered, penalty_breakdown
from grids.shift_greedy import GREEDY_BUDGET, greedy_indexed, greedy_roster
from grids.shift_index import ProblemIndex
from grids.shift_problem import ShiftProblem, ShiftSolution, UncoveredCover, problem_errors
from grids.shift_search import ProgressEvent, search

__all__ = [
    "ProgressEvent",
    "count_changes",
    "diagnose_uncovered",
    "greedy_roster",
    "penalty_breakdown",
    "solve",
]

RELAXED_UNDER_WEIGHT = 1_000_000
"""Weight given to hard covers when an infeasible problem is re-solved to find the short ones."""


def solve(
    problem: ShiftProblem,
    *,
    time_limit_s: float = 60.0,
    deterministic: bool = False,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    hint: Mapping[tuple[str, int], str | None] | None = None,
) -> ShiftSolution:
    """Return the best roster CP-SAT finds for ``problem`` within the time limit.

    Parameters
    ----------
    problem
        The problem.
    time_limit_s
        Limit for the whole call, model building included. In deterministic mode it is CP-SAT's
        deterministic time (about seconds, but independent of the machine's load), so that the
        same problem gives the same roster on every run.
    deterministic
        One search worker, fixed seed, no interleaved search.
    seed
        The random seed.
    workers
        Search workers (``None``: one per core).
    progress
        Called with every improving roster.
    hint
        A roster to start from, (staff id, day) → shift id or ``None``; without it a greedy
        roster is used (:func:`greedy_roster`).

    Returns
    -------
    ShiftSolution
        The roster, its penalties and the covers it leaves short, with reasons.

    Raises
    ------
    ValueError
        If the problem refers to unknown staff, shifts or days (see
        :func:`~grids.shift_model.problem_errors`).
    """
    started = time.perf_counter()
    errors = problem_errors(problem)
    if errors:
        raise ValueError("invalid shift problem: " + "; ".join(errors))
    ctx = ProblemIndex(problem)
    built = RosterModel(ctx)
    if hint is None:
        roster = greedy_indexed(ctx, built.holders, GREEDY_BUDGET)
    else:
        roster = {
            (ctx.staff_index[sid], day): ctx.shift_index[t]
            for (sid, day), t in hint.items()
            if t is not None and sid in ctx.staff_index and t in ctx.shift_index
        }
    built.add_hint(roster)

    # Leave time to read the roster back and diagnose it within the limit.
    reserve = min(0.1 * time_limit_s, 0.5 + 2e-5 * len(built.x))
    result = search(
        built,
        deadline=started + time_limit_s - reserve,
        started=started,
        deterministic=deterministic,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    status, values, bound = result.status, result.values, result.bound
    assignments: dict[tuple[str, int], str] = {}
    objective = gap = None
    if values is not None:
        for (s, day, t), var in built.x.items():
            if values[var.index]:
                assignments[(ctx.staff[s].id, day)] = ctx.shifts[t].id
        # The roster's own penalty: a roster found by local search may carry slack in the
        # shortfall variables, so CP-SAT's objective can be a little above it.
        objective = sum(penalty_breakdown(problem, assignments).values())
        if math.isfinite(bound):
            gap = abs(objective - bound) / max(1.0, abs(objective))
            if objective <= bound:
                status = "OPTIMAL"
    uncovered: list[UncoveredCover] = []
    if status in ("OPTIMAL", "FEASIBLE"):
        uncovered = diagnose_uncovered(problem, assignments, optimal=status == "OPTIMAL")
    elif status == "INFEASIBLE" and built.has_hard_covers:
        uncovered = _relaxed_diagnosis(problem, time_limit_s, deterministic, seed, workers)
    found = status in ("OPTIMAL", "FEASIBLE")
    penalties = penalty_breakdown(problem, assignments) if found else {}
    return ShiftSolution(
        assignments=assignments,
        status=status,
        objective=objective,
        bound=bound if math.isfinite(bound) else None,
        gap=gap,
        wall_time_s=time.perf_counter() - started,
        first_solution_s=result.first_solution_s,
        penalties=penalties,
        uncovered=uncovered,
        changes=count_changes(problem, assignments) if found else 0,
    )


def _relaxed_diagnosis(
    problem: ShiftProblem,
    time_limit_s: float,
    deterministic: bool,
    seed: int,
    workers: int | None,
) -> list[UncoveredCover]:
    """Return the hard covers a roster cannot meet, from a solve with them made soft."""
    relaxed = replace(
        problem,
        covers=tuple(
            replace(c, under_weight=RELAXED_UNDER_WEIGHT) if c.hard else c for c in problem.covers
        ),
    )
    result = solve(
        relaxed,
        time_limit_s=max(1.0, time_limit_s / 4),
        deterministic=deterministic,
        seed=seed,
        workers=workers,
    )
    return [u for u in result.uncovered if problem.covers[u.cover_index].hard]
