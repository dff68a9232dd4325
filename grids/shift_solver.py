"""Solve a :class:`~grids.shift_model.ShiftProblem` with OR-Tools CP-SAT.

The model (:mod:`grids.shift_cpmodel`) has one Boolean per staff member, day and shift type that
may be worked and every hard rule as a constraint; the objective adds the cover penalties, the
requests not granted and the changes against a previous roster. A greedy roster that keeps every
maximum rule (:mod:`grids.shift_greedy`) is given as a hint, or the caller's. The search
(:mod:`grids.shift_search`) runs CP-SAT's portfolio for 3 % of the time, then large
neighbourhood search on all workers but one, which keeps raising the lower bound on the whole
model while it can; deterministic mode is a single thread with a fixed seed and deterministic
time limits. Rows that tighten the relaxation of the weekly rest day
(:func:`~grids.shift_bound.add_rest_day_rows`) keep CP-SAT's bound above 0 where a shortage of
people makes a penalty unavoidable. After solving, each cover left short gets a diagnosis
(:mod:`grids.shift_diagnosis`).

With ``relaxation``, a search that has not proven its roster optimal in 30 % of the time gets a
second bound: the linear relaxation of the whole model, clauses and implications included,
proven by duality (:mod:`grids.shift_bound`). CP-SAT's own bound comes from its search workers
and may come late, or stay low. The relaxation's is given to the model as the objective's lower
limit and the search goes on from the best roster, so that it stops as soon as a roster meets
it. In deterministic mode the relaxation comes first, limited by iterations instead of time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from grids.shift_bound import add_rest_day_rows, relaxation_bound, restrict_objective
from grids.shift_cpmodel import RosterModel
from grids.shift_diagnosis import count_changes, diagnose_uncovered, penalty_breakdown
from grids.shift_greedy import GREEDY_BUDGET, greedy_indexed, greedy_roster
from grids.shift_index import ProblemIndex
from grids.shift_problem import (
    ShiftProblem,
    ShiftSolution,
    SolveStatus,
    UncoveredCover,
    problem_errors,
)
from grids.shift_search import ProgressEvent, SearchResult, search

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

RELAXATION_AFTER_SHARE = 0.3
"""With ``relaxation``: the share of the time searched before the linear relaxation is solved."""

RELAXATION_MAX_SHARE = 0.2
"""The most of the time left that the linear relaxation may take."""

RELAXATION_MIN_LIMIT_S = 2.0
"""Calls with less time skip the relaxation: the search alone has to make the most of it."""

RELAXATION_ITERATIONS = 50_000
"""Simplex iterations allowed to the relaxation in deterministic mode."""


def solve(
    problem: ShiftProblem,
    *,
    time_limit_s: float = 60.0,
    deterministic: bool = False,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    hint: Mapping[tuple[str, int], str | None] | None = None,
    relaxation: bool = False,
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
    relaxation
        Bound the penalty by the model's linear relaxation too (see the module doc); skipped
        below :data:`RELAXATION_MIN_LIMIT_S`.

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
    add_rest_day_rows(built)
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
    deadline = started + time_limit_s - reserve
    with_bound = relaxation and time_limit_s >= RELAXATION_MIN_LIMIT_S
    result = (_search_with_relaxation if with_bound else search)(
        built,
        deadline=deadline,
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


def _model_objective(built: RosterModel, values: list[int]) -> float:
    """Return the model's objective for a full assignment of its variables."""
    objective = built.model.proto.objective
    total = sum(
        coef * values[var] for var, coef in zip(objective.vars, objective.coeffs, strict=True)
    )
    return float(total + objective.offset)


def _search_with_relaxation(
    built: RosterModel,
    *,
    deadline: float,
    started: float,
    deterministic: bool,
    seed: int,
    workers: int | None,
    progress: Callable[[ProgressEvent], None] | None,
) -> SearchResult:
    """Search, with the linear relaxation's bound where the search's own does not suffice.

    Progress events carry the best bound known when they happen, the relaxation's included.
    """
    known = -math.inf

    def tell(event: ProgressEvent) -> None:
        if progress is not None:
            progress(replace(event, bound=max(event.bound, known)))

    first: SearchResult | None = None
    if deterministic:
        # Limited by iterations, not time: the same problem gives the same roster.
        found = relaxation_bound(
            built.model, time_limit_s=math.inf, max_iterations=RELAXATION_ITERATIONS
        )
    else:
        first = search(
            built,
            deadline=started + RELAXATION_AFTER_SHARE * (deadline - started),
            started=started,
            deterministic=False,
            seed=seed,
            workers=workers,
            progress=tell,
        )
        if first.status in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID"):
            return first
        if first.values is not None and first.bound >= _model_objective(built, first.values):
            return replace(first, status="OPTIMAL")
        known = first.bound
        limit = RELAXATION_MAX_SHARE * (deadline - time.perf_counter())
        found = relaxation_bound(built.model, time_limit_s=limit)
    if found.bound is not None and found.bound > known:
        known = found.bound
        restrict_objective(built.model, found.bound)
    if first is not None and first.values is not None:
        best = _model_objective(built, first.values)
        # The best roster with the bound it now has.
        tell(ProgressEvent(time.perf_counter() - started, round(best), known))
        if known >= best:
            return SearchResult("OPTIMAL", first.values, known, first.first_solution_s)
        proto = built.model.proto
        proto.clear_solution_hint()
        proto.solution_hint.vars.extend(range(len(first.values)))
        proto.solution_hint.values.extend(first.values)
    second = search(
        built,
        deadline=deadline,
        started=started,
        deterministic=deterministic,
        seed=seed + 1 if first is not None else seed,
        workers=workers,
        progress=tell,
    )
    bound = max(second.bound, known)
    if first is None or first.values is None:
        return replace(second, bound=bound)
    best = _model_objective(built, first.values)
    if second.values is None or _model_objective(built, second.values) > best:
        kept: SolveStatus = "OPTIMAL" if bound >= best else "FEASIBLE"
        return SearchResult(kept, first.values, bound, first.first_solution_s)
    return SearchResult(second.status, second.values, bound, first.first_solution_s)


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
