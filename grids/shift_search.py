"""The search for a roster: CP-SAT's portfolio, then neighbourhood search beside a bound search.

:func:`search` runs in two phases.

1. **Portfolio.** CP-SAT's full portfolio on every worker for a share of the time, from the
   hinted roster. Small problems are often proven optimal here; the others get a first roster.
   Models too large for the neighbourhoods below to pay off (over
   :data:`PORTFOLIO_MAX_VARIABLES` shift variables: rebuilding and presolving each one costs
   more than its search) skip both phases: CP-SAT's own neighbourhood search, which builds each
   neighbourhood inside the solver, gets all workers and all the time.
2. **Neighbourhoods and bound.** One worker solves the whole model, hinted with the best roster,
   for half of the remaining time (longer while no roster exists): it raises the lower bound beyond
   what the short portfolio phase proved, and finds rosters of its own. It leaves the whole model
   early once it has gone a tenth of the time without raising the bound or beating the best roster:
   on problems whose bound the portfolio already gave, it would only take a core from the
   neighbourhoods. Every other worker, and that one afterwards, runs large neighbourhood search: it
   frees a part of the best roster (a few staff over the whole horizon, every staff member over a
   few days, a block of both, or a block around a cover that is short or over), fixes the rest, and
   re-solves that part with CP-SAT for at most a second; a better or equal roster replaces the
   best. Where a limit on weekends worked binds, a fifth kind frees some staff around two weekends,
   one of them short if any is, half of those staff chosen among the ones off that weekend: it lets
   them trade the weekends they work, which the other kinds rarely free together (grown past every
   staff member, it takes in a further weekend or wider margins). A neighbourhood that improves the
   roster or is solved to optimality grows the next ones of its kind; one that runs out of time
   without finding anything shrinks them. The search stops early when the best roster meets the
   bound.

With one worker the whole model gets the first 30 % of the time, then neighbourhoods. In
deterministic mode that one worker has a fixed seed and every step is limited by CP-SAT's
deterministic time, so that the same problem gives the same roster on every run.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from grids.shift_cpmodel import RosterModel
from grids.shift_problem import SolveStatus

__all__ = ["ProgressEvent", "SearchResult", "search"]

FIRST_PHASE_SHARE = 0.03
"""Share of the time given to the full CP-SAT portfolio before neighbourhood search (small
problems are proven within it; on the others, neighbourhoods improve the roster faster)."""

SINGLE_FIRST_PHASE_SHARE = 0.3
"""The same share with one worker (and in deterministic mode), where it also gives the bound."""

PORTFOLIO_MAX_VARIABLES = 20_000
"""Models with more shift variables go to CP-SAT's own neighbourhood search alone."""

NEIGHBOURHOOD_LIMIT_S = 1.0
"""Most time (or deterministic time) one neighbourhood may take."""

NEIGHBOURHOOD_START = 0.1
"""Share of the (staff, day) cells the first neighbourhoods of each kind free."""

NEIGHBOURHOOD_MIN, NEIGHBOURHOOD_MAX = 0.01, 0.7
"""Bounds of that share."""

NEIGHBOURHOOD_LINEARIZATION = 2
"""CP-SAT's linearization level in neighbourhoods: the cuts of level 2 prove them optimal sooner."""

DETERMINISTIC_STEP_MIN = 0.01
"""Deterministic time charged at least for one neighbourhood, so that tiny ones end too."""

NEIGHBOURHOOD_STEP = 1.15
"""Factor by which a neighbourhood kind grows (after an improvement or a proof) or shrinks."""

BOUND_SHARE = 0.5
"""Share of the neighbourhood phase for which one worker solves the whole model for the bound
(and longer while there is no roster yet); then it searches neighbourhoods too."""

BOUND_STALL_SHARE = 0.1
"""Share of the search's time after which that worker, if it has neither raised the bound nor
found a roster better than the best in it, leaves the whole model for neighbourhoods."""

WEEKEND_MARGIN_DAYS = 2
"""Days on each side of a weekend that a weekend neighbourhood frees with it (to move runs)."""

_KINDS = ("staff", "days", "block", "cover")

_STATUS: dict[Any, SolveStatus] = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.UNKNOWN: "UNKNOWN",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
}


@dataclass(frozen=True)
class ProgressEvent:
    """An improving roster found during the search.

    Parameters
    ----------
    wall_time_s
        Seconds since :func:`~grids.shift_solver.solve` was called.
    objective
        Its penalty.
    bound
        The best lower bound proven so far.
    """

    wall_time_s: float
    objective: int
    bound: float


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found.

    Parameters
    ----------
    status
        ``OPTIMAL`` when the best roster meets the bound, ``FEASIBLE`` with a roster, else
        CP-SAT's status (``INFEASIBLE``, ``UNKNOWN``, ``MODEL_INVALID``).
    values
        The best roster as values of the model's variables (by index), or ``None``.
    bound
        The best lower bound proven (``-inf`` without one, ``inf`` when infeasible).
    first_solution_s
        When the first roster was found, from ``started``.
    """

    status: SolveStatus
    values: list[int] | None
    bound: float
    first_solution_s: float | None


class _Incumbent:
    """The best roster so far and the best bound, shared by the search threads."""

    def __init__(self, started: float, report: Callable[[ProgressEvent], None] | None) -> None:
        self.lock = threading.Lock()
        self.started = started
        self.report = report
        self.best: int | None = None
        self.values: list[int] | None = None
        self.version = 0
        self.bound = -math.inf
        self.first_s: float | None = None
        self.stop = threading.Event()
        self.bound_solver: cp_model.CpSolver | None = None

    def snapshot(self) -> tuple[int | None, list[int] | None, int]:
        with self.lock:
            return self.best, self.values, self.version

    def offer(self, objective: int, values: list[int], *, version: int | None = None) -> bool:
        """Take a roster if it is better, or as good and found from the current best."""
        with self.lock:
            better = self.best is None or objective < self.best
            sideways = objective == self.best and version == self.version
            if not (better or sideways):
                return False
            self.values = values
            self.version += 1
            if not better:
                return True
            self.best = objective
            now = time.perf_counter() - self.started
            if self.first_s is None:
                self.first_s = now
            if self.report is not None:
                self.report(ProgressEvent(now, objective, self.bound))
        self._check_proven()
        return True

    def raise_bound(self, bound: float) -> None:
        with self.lock:
            self.bound = max(self.bound, bound)
        self._check_proven()

    def proven(self) -> bool:
        with self.lock:
            return self.best is not None and self.best <= self.bound

    def _check_proven(self) -> None:
        if self.proven():
            self.stop.set()
            solver = self.bound_solver
            if solver is not None:
                solver.stop_search()


class _Stall:
    """When a whole-model solve last improved the best roster or the bound itself."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def mark(self) -> None:
        self.last = time.perf_counter()


class _Recorder(cp_model.CpSolverSolutionCallback):
    """Pass each roster a full-model solve finds to the incumbent."""

    def __init__(self, incumbent: _Incumbent, stall: _Stall | None = None) -> None:
        super().__init__()
        self.incumbent = incumbent
        self.stall = stall

    def on_solution_callback(self) -> None:
        self.incumbent.raise_bound(self.best_objective_bound)
        # Without a version, a roster is taken only if it is better than the best.
        taken = self.incumbent.offer(
            round(self.objective_value), list(self.response_proto.solution)
        )
        if taken and self.stall is not None:
            self.stall.mark()


def _watch(solver: cp_model.CpSolver, stall: _Stall, limit: float, done: threading.Event) -> None:
    """Stop ``solver`` once it has gone ``limit`` seconds without progress of its own."""
    while not done.wait(min(0.1, limit)):
        if time.perf_counter() - stall.last > limit:
            solver.stop_search()
            return


def _with_hint(model: cp_model.CpModel, values: list[int] | None) -> cp_model.CpModel:
    """Return a copy of the model hinted with a full assignment (or the model's own hint)."""
    copy = cp_model.CpModel()
    copy.proto.copy_from(model.proto)
    if values is not None:
        copy.proto.clear_solution_hint()
        copy.proto.solution_hint.vars.extend(range(len(values)))
        copy.proto.solution_hint.values.extend(values)
    return copy


def _full_solve(
    model: cp_model.CpModel,
    incumbent: _Incumbent,
    limit: float,
    *,
    deterministic: bool,
    seed: int,
    workers: int,
    register: bool = False,
    first_only: bool = False,
    lns_only: bool = False,
    stall_s: float | None = None,
) -> SolveStatus:
    """Solve the whole model, passing rosters and the bound to the incumbent.

    ``register`` lets the neighbourhood search stop the solve once the best roster meets the
    bound; ``first_only`` stops it at its first roster; ``lns_only`` runs CP-SAT's own
    neighbourhood search only; ``stall_s`` stops it once it has gone that long without
    raising the bound or finding a roster better than the best.
    """
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.random_seed = seed
    params.num_workers = workers
    if deterministic:
        params.interleave_search = False
        params.max_deterministic_time = max(0.01, limit)
    else:
        params.max_time_in_seconds = max(0.01, limit)
    params.stop_after_first_solution = first_only
    params.use_lns_only = lns_only
    stall = _Stall() if stall_s is not None else None

    def raise_bound(bound: float) -> None:
        if stall is not None and bound > incumbent.bound:
            stall.mark()
        incumbent.raise_bound(bound)

    if register:
        solver.best_bound_callback = raise_bound
        incumbent.bound_solver = solver
        if incumbent.stop.is_set():
            return "UNKNOWN"
    done = threading.Event()
    if stall_s is not None:
        threading.Thread(target=_watch, args=(solver, stall, stall_s, done), daemon=True).start()
    try:
        status = _STATUS.get(solver.solve(model, _Recorder(incumbent, stall)), "UNKNOWN")
    finally:
        done.set()
        incumbent.bound_solver = None
    if status == "INFEASIBLE":
        incumbent.raise_bound(math.inf)
    elif status in ("OPTIMAL", "FEASIBLE"):
        incumbent.raise_bound(solver.best_objective_bound)
    return status


class _Neighbourhoods:
    """Large neighbourhood search over the (staff, day) cells of a roster model."""

    def __init__(self, built: RosterModel, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cells = built.cells()
        self.staff_count = len(built.ctx.staff)
        self.horizon = built.ctx.horizon
        self.penalties = [(var.index, day) for var, day in built.cover_penalties]
        weekends = built.ctx.weekends
        binding = any(
            member.max_weekends is not None and member.max_weekends < len(weekends)
            for member in built.ctx.staff
        )
        self.weekends = weekends if binding and len(weekends) > 1 else []
        self.kinds = (*_KINDS, "weekend") if self.weekends else _KINDS
        self.share = dict.fromkeys(self.kinds, NEIGHBOURHOOD_START)
        self.model = cp_model.CpModel()
        self.model.proto.copy_from(built.model.proto)
        self.model.proto.clear_solution_hint()
        self.x_indexes = [i for indexes in self.cells.values() for i in indexes]

    def _weekend_days(self, chosen: list[int], margin: int) -> list[int]:
        weekends = self.weekends
        return sorted(
            {
                day
                for w in chosen
                for day in range(
                    max(0, weekends[w][0] - margin),
                    min(self.horizon, weekends[w][-1] + margin + 1),
                )
            }
        )

    def _weekend(self, values: list[int]) -> set[tuple[int, int]]:
        """Free some staff around two weekends, the first one short if any is.

        Once the share asks for more than every staff member over those days, the days grow
        instead, by a further weekend or a wider margin at random: moving a weekend worked can
        take a whole run of work with it, and a chain of such moves several weekends.
        """
        rng, staff, weekends = self.rng, self.staff_count, self.weekends
        short_days = {day for index, day in self.penalties if values[index] > 0}
        short = [w for w, days in enumerate(weekends) if short_days.intersection(days)]
        first = rng.choice(short) if short else rng.randrange(len(weekends))
        rest = [w for w in range(len(weekends)) if w != first]
        rng.shuffle(rest)
        chosen, margin = [first, rest.pop()], WEEKEND_MARGIN_DAYS
        days = self._weekend_days(chosen, margin)
        wanted = self.share["weekend"] * staff * self.horizon
        while staff * len(days) < wanted and len(days) < self.horizon:
            if rest and rng.random() < 0.5:
                chosen.append(rest.pop())
            else:
                margin += 1
            days = self._weekend_days(chosen, margin)
        count = max(2, min(staff, round(wanted / len(days))))
        # Half of them off the first weekend, who could take it over from the others.
        off = [
            s
            for s in range(staff)
            if not any(values[i] for d in weekends[first] for i in self.cells.get((s, d), ()))
        ]
        rng.shuffle(off)
        who = set(off[: (count + 1) // 2])
        others = [s for s in range(staff) if s not in who]
        who.update(rng.sample(others, min(len(others), count - len(who))))
        return {(s, d) for s in who for d in days}

    def _pick(self, kind: str, values: list[int]) -> set[tuple[int, int]]:
        rng, staff, horizon = self.rng, self.staff_count, self.horizon
        if kind == "weekend":
            return self._weekend(values)
        share = self.share[kind]
        side = math.sqrt(share)
        if kind == "cover":
            penalised = [day for index, day in self.penalties if values[index] > 0]
            if penalised:
                centre = rng.choice(penalised)
                width = max(1, round(side * horizon))
                first = min(max(0, centre - width // 2), horizon - width)
                days = range(first, first + width)
                who = rng.sample(range(staff), max(1, round(side * staff)))
                return {(s, d) for s in who for d in days}
            kind, share, side = "block", self.share["block"], math.sqrt(self.share["block"])
        if kind == "staff":
            who = rng.sample(range(staff), max(1, min(staff, round(share * staff))))
            return {(s, d) for s in who for d in range(horizon)}
        if kind == "days":
            width = max(1, min(horizon, round(share * horizon)))
            first = rng.randrange(horizon - width + 1)
            return {(s, d) for s in range(staff) for d in range(first, first + width)}
        width = max(1, min(horizon, round(side * horizon)))
        first = rng.randrange(horizon - width + 1)
        who = rng.sample(range(staff), max(1, min(staff, round(side * staff))))
        return {(s, d) for s in who for d in range(first, first + width)}

    def step(
        self, incumbent: _Incumbent, limit: float, *, deterministic: bool
    ) -> tuple[float, bool]:
        """Re-solve a neighbourhood of the best roster; return the time taken and if it improved."""
        best, values, version = incumbent.snapshot()
        if values is None or best is None:
            return 0.0, False
        kind = self.rng.choice(self.kinds)
        free = self._pick(kind, values)
        variables = self.model.proto.variables
        for (s, day), indexes in self.cells.items():
            keep = (s, day) not in free
            for i in indexes:
                domain = variables[i].domain
                domain[0] = values[i] if keep else 0
                domain[1] = values[i] if keep else 1
        self.model.proto.clear_solution_hint()
        hint = self.model.proto.solution_hint
        hint.vars.extend(range(len(values)))
        hint.values.extend(values)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.num_workers = 1
        params.random_seed = self.rng.randrange(1 << 30)
        params.linearization_level = NEIGHBOURHOOD_LINEARIZATION
        if deterministic:
            params.max_deterministic_time = limit
        else:
            params.max_time_in_seconds = limit
        status = solver.solve(self.model)
        if deterministic:
            spent = max(DETERMINISTIC_STEP_MIN, solver.deterministic_time)
        else:
            spent = solver.wall_time
        improved = False
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            objective = round(solver.objective_value)
            improved = objective < best
            incumbent.offer(objective, list(solver.response_proto.solution), version=version)
            if status == cp_model.OPTIMAL and self.cells.keys() <= free:
                incumbent.raise_bound(objective)  # nothing was fixed: the whole problem
        # Grow after an improvement or a proof (more to gain, or nothing left here); shrink
        # after a neighbourhood that ran out of time without finding anything.
        grow = improved or status == cp_model.OPTIMAL
        factor = NEIGHBOURHOOD_STEP if grow else 1 / NEIGHBOURHOOD_STEP
        self.share[kind] = min(NEIGHBOURHOOD_MAX, max(NEIGHBOURHOOD_MIN, self.share[kind] * factor))
        return spent, improved


def _neighbourhood_loop(
    built: RosterModel,
    incumbent: _Incumbent,
    seed: int,
    *,
    deadline: float | None = None,
    budget: float | None = None,
) -> None:
    """Run neighbourhood search until the wall-clock deadline or the deterministic budget."""
    lns = _Neighbourhoods(built, seed)
    used = 0.0
    while not incumbent.stop.is_set():
        if budget is not None:
            left = budget - used
        else:
            assert deadline is not None
            left = deadline - time.perf_counter()
        if left < 0.02:
            return
        if incumbent.values is None:
            if budget is not None:
                return
            time.sleep(0.02)
            continue
        spent, _ = lns.step(
            incumbent, min(NEIGHBOURHOOD_LIMIT_S, left), deterministic=budget is not None
        )
        used += spent


def _finish(incumbent: _Incumbent, status: SolveStatus) -> SearchResult:
    if incumbent.values is None:
        return SearchResult(status, None, incumbent.bound, None)
    final: SolveStatus = "OPTIMAL" if incumbent.proven() else "FEASIBLE"
    return SearchResult(final, incumbent.values, incumbent.bound, incumbent.first_s)


def _one_thread(
    built: RosterModel,
    incumbent: _Incumbent,
    *,
    deadline: float,
    started: float,
    deterministic: bool,
    seed: int,
) -> SearchResult:
    """Search on one thread: the whole model for a share of the time, then neighbourhoods."""
    # Deterministic time does not depend on the machine's load; model building is not in it.
    budget = max(0.1, (deadline - started) if deterministic else (deadline - time.perf_counter()))
    first = SINGLE_FIRST_PHASE_SHARE * budget
    status = _full_solve(
        built.model, incumbent, first, deterministic=deterministic, seed=seed, workers=1
    )
    if status in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID") or incumbent.proven():
        return _finish(incumbent, status)
    if incumbent.values is None:
        # No roster yet to search around: the whole model gets the rest of the time.
        rest = budget - first if deterministic else deadline - time.perf_counter()
        status = _full_solve(
            built.model, incumbent, rest, deterministic=deterministic, seed=seed, workers=1
        )
        return _finish(incumbent, status)
    if deterministic:
        _neighbourhood_loop(built, incumbent, seed, budget=budget - first)
    else:
        _neighbourhood_loop(built, incumbent, seed, deadline=deadline)
    return _finish(incumbent, status)


def search(
    built: RosterModel,
    *,
    deadline: float,
    started: float,
    deterministic: bool,
    seed: int,
    workers: int | None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> SearchResult:
    """Search for the best roster of a model (see the module doc).

    Parameters
    ----------
    built
        The model, hinted with a first roster.
    deadline
        ``time.perf_counter()`` value to stop at. In deterministic mode, ``deadline - started``
        is the deterministic time of the whole search instead.
    started
        When the call began (progress times count from it).
    deterministic
        One thread, deterministic time limits, fixed seed.
    seed
        The random seed.
    workers
        Threads (``None``: one per core).
    progress
        Called with every improving roster.

    Returns
    -------
    SearchResult
        The status, the best roster's values, the bound and when the first roster came.
    """
    incumbent = _Incumbent(started, progress)
    threads = 1 if deterministic else max(1, workers or os.cpu_count() or 1)
    if threads == 1:
        return _one_thread(
            built,
            incumbent,
            deadline=deadline,
            started=started,
            deterministic=deterministic,
            seed=seed,
        )
    model = built.model
    total = max(0.1, deadline - time.perf_counter())
    if len(built.x) > PORTFOLIO_MAX_VARIABLES:
        # CP-SAT's own neighbourhood search builds each neighbourhood inside the solver: for
        # models this large, sending the whole model again for every neighbourhood costs more
        # than the neighbourhood's search.
        status = _full_solve(
            model, incumbent, total, deterministic=False, seed=seed, workers=threads, lns_only=True
        )
        return _finish(incumbent, status)
    first = min(total, FIRST_PHASE_SHARE * total)
    status = _full_solve(model, incumbent, first, deterministic=False, seed=seed, workers=threads)
    if status in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID") or incumbent.proven():
        return _finish(incumbent, status)
    left = deadline - time.perf_counter()
    if left < 0.05:
        return _finish(incumbent, status)
    hinted = _with_hint(model, incumbent.values)
    if incumbent.values is None:
        # No roster yet: every worker on the whole model until the first one comes.
        status = _full_solve(
            hinted,
            incumbent,
            left,
            deterministic=False,
            seed=seed,
            workers=threads,
            register=True,
            first_only=True,
        )
        if status in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID") or incumbent.values is None:
            return _finish(incumbent, status)
        hinted = _with_hint(model, incumbent.values)
    outcome: list[SolveStatus] = []

    def whole_model(limit: float, stall_s: float | None = None) -> SolveStatus:
        found = _full_solve(
            hinted,
            incumbent,
            limit,
            deterministic=False,
            seed=seed,
            workers=1,
            register=True,
            stall_s=stall_s,
        )
        outcome.append(found)
        if found in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID"):
            incumbent.stop.set()
        return found

    def bound_worker() -> None:
        whole_model(BOUND_SHARE * (deadline - time.perf_counter()), BOUND_STALL_SHARE * total)
        if incumbent.stop.is_set():
            return
        if incumbent.values is None:
            # Nothing to search around yet: keep at the whole model until a roster comes.
            whole_model(deadline - time.perf_counter())
            return
        _neighbourhood_loop(built, incumbent, seed + threads, deadline=deadline)

    runners = [threading.Thread(target=bound_worker, daemon=True)]
    runners += [
        threading.Thread(
            target=_neighbourhood_loop,
            args=(built, incumbent, seed + 1 + n),
            kwargs={"deadline": deadline},
            daemon=True,
        )
        for n in range(threads - 1)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    final = next((o for o in outcome if o in ("INFEASIBLE", "MODEL_INVALID")), None)
    if final is not None and incumbent.values is None:
        return _finish(incumbent, final)
    return _finish(incumbent, outcome[0] if outcome else status)
