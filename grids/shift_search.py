"""The search for a roster: CP-SAT's portfolio, then neighbourhood search beside a bound search.

:func:`search` runs in two phases.

1. **Portfolio.** CP-SAT's full portfolio on every worker for a share of the time, from the
   hinted roster. Small problems are often proven optimal here; the others get a first roster.
   Models too large for its presolve to pay off skip both phases: CP-SAT's own neighbourhood
   search, which builds each neighbourhood inside the solver, gets all workers and all the time.
2. **Neighbourhoods and bound.** One worker solves the whole model, hinted with the best roster,
   for half of the remaining time (longer while no roster exists): it raises the lower bound
   beyond what the short portfolio phase proved, and finds rosters of its own. Every other
   worker, and that one afterwards, runs large neighbourhood search: it frees a part of the best
   roster, fixes the rest, and re-solves that part with CP-SAT for at most a second; a better or
   equal roster replaces the best. The parts: a staff member and others who share a shift type
   with them, over the whole horizon; every staff member over a window of days; every staff
   member over two windows (one around a cover that is short or over), so that a shift or a
   weekend can move from one to the other; every staff member around such a cover, with one
   staff member over the whole horizon. A kind that improves the roster more often is chosen
   more often. A neighbourhood that improves the roster or is solved to optimality grows the
   next ones of its kind; one that runs out of time without improving shrinks them. The search
   stops early when the best roster meets the bound.

A problem with no roster after the first phase gets one from a search without the objective
(the hard rules only, which CP-SAT meets far sooner on tightly bounded problems), priced and
then improved by the neighbourhoods. With one worker the whole model gets the first 30 % of the
time, then neighbourhoods. In deterministic mode that one worker has a fixed seed and every step
is limited by CP-SAT's deterministic time, so that the same problem gives the same roster on
every run.
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

FIRST_PHASE_SHARE = 0.1
"""Share of the time given to the full CP-SAT portfolio before neighbourhood search."""

SINGLE_FIRST_PHASE_SHARE = 0.3
"""The same share with one worker (and in deterministic mode), where it also gives the bound."""

PORTFOLIO_MAX_VARIABLES = 20_000
"""Models with more shift variables skip both phases for CP-SAT's own neighbourhood search."""

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

KIND_DECAY = 0.98
"""Per step, the factor by which past tries and improvements of each kind fade."""

BOUND_SHARE = 0.5
"""Share of the neighbourhood phase for which one worker solves the whole model for the bound
(and longer while there is no roster yet); then it searches neighbourhoods too."""

_KINDS = ("staff", "days", "windows", "cover")

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


class _Recorder(cp_model.CpSolverSolutionCallback):
    """Pass each roster a full-model solve finds to the incumbent."""

    def __init__(self, incumbent: _Incumbent) -> None:
        super().__init__()
        self.incumbent = incumbent

    def on_solution_callback(self) -> None:
        self.incumbent.raise_bound(self.best_objective_bound)
        self.incumbent.offer(round(self.objective_value), list(self.response_proto.solution))


def _with_hint(model: cp_model.CpModel, values: list[int] | None) -> cp_model.CpModel:
    """Return a copy of the model hinted with a full assignment (or the model's own hint)."""
    copy = cp_model.CpModel()
    copy.proto.copy_from(model.proto)
    if values is not None:
        copy.proto.clear_solution_hint()
        copy.proto.solution_hint.vars.extend(range(len(values)))
        copy.proto.solution_hint.values.extend(values)
    return copy


def _solver(limit: float, *, deterministic: bool, seed: int, workers: int) -> cp_model.CpSolver:
    """Return a CP-SAT solver limited to ``limit`` seconds (deterministic time if asked)."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.random_seed = seed
    params.num_workers = workers
    if deterministic:
        params.interleave_search = False
        params.max_deterministic_time = max(0.01, limit)
    else:
        params.max_time_in_seconds = max(0.01, limit)
    return solver


def _full_solve(
    model: cp_model.CpModel,
    incumbent: _Incumbent,
    limit: float,
    *,
    deterministic: bool,
    seed: int,
    workers: int,
    register: bool = False,
    lns_only: bool = False,
) -> SolveStatus:
    """Solve the whole model, passing rosters and the bound to the incumbent.

    ``register`` lets the neighbourhood search stop the solve once the best roster meets the
    bound; ``lns_only`` runs CP-SAT's own neighbourhood search only.
    """
    solver = _solver(limit, deterministic=deterministic, seed=seed, workers=workers)
    solver.parameters.use_lns_only = lns_only
    if register:
        solver.best_bound_callback = incumbent.raise_bound
        incumbent.bound_solver = solver
        if incumbent.stop.is_set():
            return "UNKNOWN"
    try:
        status = _STATUS.get(solver.solve(model, _Recorder(incumbent)), "UNKNOWN")
    finally:
        incumbent.bound_solver = None
    if status == "INFEASIBLE":
        incumbent.raise_bound(math.inf)
    elif status in ("OPTIMAL", "FEASIBLE"):
        incumbent.raise_bound(solver.best_objective_bound)
    return status


def _any_roster(
    built: RosterModel,
    incumbent: _Incumbent,
    limit: float,
    *,
    deterministic: bool,
    seed: int,
    workers: int,
) -> tuple[SolveStatus, float]:
    """Look for any roster that keeps the hard rules, ignoring the objective.

    Returns the status and the (deterministic) time spent. Without the objective to follow,
    CP-SAT meets the staff rules far sooner on large or tightly bounded problems; the roster
    found is then given its cheapest penalty variables and offered.
    """
    model = cp_model.CpModel()
    model.proto.copy_from(built.model.proto)
    model.proto.clear_objective()
    solver = _solver(limit, deterministic=deterministic, seed=seed, workers=workers)
    status = _STATUS.get(solver.solve(model), "UNKNOWN")
    spent = solver.deterministic_time if deterministic else solver.wall_time
    if status == "INFEASIBLE":
        incumbent.raise_bound(math.inf)
    if status not in ("OPTIMAL", "FEASIBLE"):
        return status, spent
    lns = _Neighbourhoods(built, seed)
    objective, values = lns.solve_around(
        list(solver.response_proto.solution), set(), limit, deterministic=deterministic
    )
    if values is not None:
        incumbent.offer(objective, values)
    return "FEASIBLE", spent


class _Neighbourhoods:
    """Large neighbourhood search over the (staff, day) cells of a roster model."""

    def __init__(self, built: RosterModel, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cells = built.cells()
        self.staff_count = len(built.ctx.staff)
        self.horizon = built.ctx.horizon
        self.penalties = [(var.index, day) for var, day in built.cover_penalties]
        self.share = dict.fromkeys(_KINDS, NEIGHBOURHOOD_START)
        # Decayed counts of tries and improvements per kind: kinds that improve more often are
        # chosen more often.
        self.tries = dict.fromkeys(_KINDS, 0.0)
        self.wins = dict.fromkeys(_KINDS, 0.0)
        types: list[set[int]] = [set() for _ in range(self.staff_count)]
        for s, _, t in built.x:
            types[s].add(t)
        # Staff who share a shift type with each staff member: who can take over their shifts.
        self.partners = [
            [o for o in range(self.staff_count) if o != s and types[s] & types[o]]
            for s in range(self.staff_count)
        ]
        self.model = cp_model.CpModel()
        self.model.proto.copy_from(built.model.proto)
        self.model.proto.clear_solution_hint()

    def _choose(self) -> str:
        weights = [(self.wins[k] + 1) / (self.tries[k] + 2) for k in _KINDS]
        return self.rng.choices(_KINDS, weights)[0]

    def _window(self, width: int, centre: int | None = None) -> range:
        horizon = self.horizon
        width = max(1, min(horizon, width))
        if centre is None:
            first = self.rng.randrange(horizon - width + 1)
        else:
            first = min(max(0, centre - width // 2), horizon - width)
        return range(first, first + width)

    def _pick(self, kind: str, values: list[int]) -> set[tuple[int, int]]:
        rng, staff, horizon = self.rng, self.staff_count, self.horizon
        share = self.share[kind]
        everyone = range(staff)
        if kind == "staff":
            # A staff member and others who share a shift type with them, over the horizon.
            first = rng.randrange(staff)
            count = max(2, round(share * staff)) - 1
            others = self.partners[first] or [o for o in everyone if o != first]
            who = [first, *rng.sample(others, min(len(others), count))]
            return {(s, d) for s in who for d in range(horizon)}
        if kind == "days":
            days = self._window(round(share * horizon))
            return {(s, d) for s in everyone for d in days}
        penalised = [day for index, day in self.penalties if values[index] > 0]
        centre = rng.choice(penalised) if penalised else None
        if kind == "windows":
            # Two separate windows for everyone: staff can move a shift or a weekend between them.
            width = max(1, round(share * horizon / 2))
            other = rng.choice(penalised) if penalised and rng.random() < 0.5 else None
            spread = {*self._window(width, centre), *self._window(width, other)}
            return {(s, d) for s in everyone for d in spread}
        # "cover": everyone around a penalised cover, and one staff member over the horizon.
        free = {(s, d) for s in everyone for d in self._window(round(share * horizon), centre)}
        one = rng.randrange(staff)
        free.update((one, d) for d in range(horizon))
        return free

    def _solve_free(
        self, values: list[int], free: set[tuple[int, int]], limit: float, *, deterministic: bool
    ) -> tuple[cp_model.CpSolver, SolveStatus]:
        """Solve the model with every cell outside ``free`` fixed as in ``values``."""
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
        return solver, _STATUS.get(solver.solve(self.model), "UNKNOWN")

    def solve_around(
        self, values: list[int], free: set[tuple[int, int]], limit: float, *, deterministic: bool
    ) -> tuple[int, list[int] | None]:
        """Return the best objective and values with the cells outside ``free`` kept."""
        solver, status = self._solve_free(values, free, limit, deterministic=deterministic)
        if status not in ("OPTIMAL", "FEASIBLE"):
            return 0, None
        return round(solver.objective_value), list(solver.response_proto.solution)

    def step(
        self, incumbent: _Incumbent, limit: float, *, deterministic: bool
    ) -> tuple[float, bool]:
        """Re-solve a neighbourhood of the best roster; return the time taken and if it improved."""
        best, values, version = incumbent.snapshot()
        if values is None or best is None:
            return 0.0, False
        kind = self._choose()
        free = self._pick(kind, values)
        solver, status = self._solve_free(values, free, limit, deterministic=deterministic)
        if deterministic:
            spent = max(DETERMINISTIC_STEP_MIN, solver.deterministic_time)
        else:
            spent = solver.wall_time
        improved = False
        if status in ("OPTIMAL", "FEASIBLE"):
            objective = round(solver.objective_value)
            improved = objective < best
            incumbent.offer(objective, list(solver.response_proto.solution), version=version)
            if status == "OPTIMAL" and self.cells.keys() <= free:
                incumbent.raise_bound(objective)  # nothing was fixed: the whole problem
        for k in _KINDS:
            self.tries[k] *= KIND_DECAY
            self.wins[k] *= KIND_DECAY
        self.tries[kind] += 1
        self.wins[kind] += improved
        # Grow after an improvement or a proof (more to gain, or nothing left at this size);
        # shrink after a neighbourhood that ran out of time without improving. Growing only on
        # proofs left duty-week neighbourhoods too small to reach their zero-shortfall rosters.
        factor = NEIGHBOURHOOD_STEP if improved or status == "OPTIMAL" else 1 / NEIGHBOURHOOD_STEP
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
    used = first
    if incumbent.values is None:
        # No roster yet to search around: look for any roster, without the objective.
        rest = budget - first if deterministic else deadline - time.perf_counter()
        status, spent = _any_roster(
            built, incumbent, rest, deterministic=deterministic, seed=seed, workers=1
        )
        used += spent
        if incumbent.values is None:
            return _finish(incumbent, status)
    if deterministic:
        _neighbourhood_loop(built, incumbent, seed, budget=budget - used)
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
        # No roster yet: every worker looks for any roster, without the objective.
        status, _ = _any_roster(
            built, incumbent, left, deterministic=False, seed=seed, workers=threads
        )
        if incumbent.values is None:
            return _finish(incumbent, status)
        hinted = _with_hint(model, incumbent.values)
    outcome: list[SolveStatus] = []

    def whole_model(limit: float) -> SolveStatus:
        found = _full_solve(
            hinted,
            incumbent,
            limit,
            deterministic=False,
            seed=seed,
            workers=1,
            register=True,
        )
        outcome.append(found)
        if found in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID"):
            incumbent.stop.set()
        return found

    def bound_worker() -> None:
        whole_model(BOUND_SHARE * (deadline - time.perf_counter()))
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
