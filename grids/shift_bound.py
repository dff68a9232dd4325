"""Lower bounds on a roster model's penalty: rows that tighten its relaxation, and the relaxation.

CP-SAT's own bound can stay at 0 on rosters whose penalty comes from a shortage of people, such
as a week in which everyone works the weekend of a full deployment and the weekdays are short.
The weekly rest day is modelled through one "busy" indicator per day that each shift of the day
(and an overnight one from the day before) implies; at CP-SAT's default linearization level the
relaxation leaves implications out, so the rest day, and with it the shortage, vanish from it.
:func:`add_rest_day_rows` adds, per staff member and calendar week, the row "shifts worked ≤ days
of the week − rest days needed" over the shift variables themselves: it holds for every roster
(a worked day is a busy day), and it keeps the shortage in the relaxation, so that CP-SAT's bound
rises to it.

:func:`relaxation_bound` solves the linear relaxation of a whole model — every linear
constraint, at-most-one, exactly-one and, unless told otherwise, clause and implication, with
each variable between its bounds — with GLOP, and proves a bound from the duals it returns:

for any row multipliers ``y`` and every roster ``x`` of the model,
``c·x ≥ Σ_j min(d_j·l_j, d_j·u_j) + Σ_r min(y_r·lb_r, y_r·ub_r)`` with the reduced costs
``d = c − yᵀA``. The multipliers are rounded to multiples of 2⁻³⁰ and the sum is taken in
integers, so that the bound holds exactly whatever the LP solver's tolerances; as every penalty
is an integer combination of the objective's coefficients, it is then rounded up to the next
multiple of their greatest common divisor.

:func:`restrict_objective` gives the bound to the model itself (the objective's domain), so that
the search reports it from its first roster and stops as soon as a roster meets it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from grids.shift_cpmodel import RosterModel

__all__ = ["RelaxationBound", "add_rest_day_rows", "relaxation_bound", "restrict_objective"]

_SCALE_BITS = 30
"""Duals are rounded to multiples of 2**-_SCALE_BITS before the exact sum."""

_INFINITE = 2**53
"""Bounds of this size or more count as absent (CP-SAT writes int64 limits for none)."""


@dataclass(frozen=True)
class RelaxationBound:
    """What :func:`relaxation_bound` found.

    Parameters
    ----------
    bound
        The proven lower bound on the objective (offset included), or ``None``.
    lp_value
        The LP solver's optimum of the relaxation (not itself a proof), or ``None``.
    status
        ``OPTIMAL``, or why there is no bound (``LIMIT``, ``UNSUPPORTED``, the solver's status).
    wall_time_s
        Time taken.
    rows, columns
        Size of the relaxation.
    """

    bound: int | None
    lp_value: float | None
    status: str
    wall_time_s: float
    rows: int = 0
    columns: int = 0


class _Rows:
    """The rows of the relaxation as sparse integer data."""

    def __init__(self) -> None:
        self.lower: list[int | None] = []
        self.upper: list[int | None] = []
        self.terms: list[dict[int, int]] = []

    def add(self, terms: dict[int, int], lower: int | None, upper: int | None) -> None:
        self.terms.append(terms)
        self.lower.append(lower)
        self.upper.append(upper)

    def add_literals(self, literals: list[int], lower: int | None, upper: int | None) -> None:
        """Add ``lower ≤ Σ literals ≤ upper``, a negated literal ``¬v`` being ``1 − v``."""
        terms: dict[int, int] = {}
        constant = 0
        for lit in literals:
            if lit >= 0:
                terms[lit] = terms.get(lit, 0) + 1
            else:
                terms[-lit - 1] = terms.get(-lit - 1, 0) - 1
                constant += 1
        self.add(
            terms,
            None if lower is None else lower - constant,
            None if upper is None else upper - constant,
        )


def _finite(value: int) -> int | None:
    return value if abs(value) < _INFINITE else None


def add_rest_day_rows(built: RosterModel) -> int:
    """Add "shifts worked in a calendar week ≤ its days − the rest days needed" per staff member.

    Parameters
    ----------
    built
        The model, with labour rules that ask for rest days.

    Returns
    -------
    int
        The rows added (only those that can bind: more days with a shift to choose than allowed).
    """
    ctx = built.ctx
    if ctx.labour is None or not any(ctx.rest_needed):
        return 0
    by_day: dict[tuple[int, int], list[Any]] = {}
    for (s, day, _), var in built.x.items():
        by_day.setdefault((s, day), []).append(var)
    added = 0
    for s in range(len(ctx.staff)):
        for week, needed in zip(ctx.weeks, ctx.rest_needed, strict=True):
            allowed = len(week) - needed
            days = [by_day[(s, d)] for d in week if (s, d) in by_day]
            if needed and len(days) > allowed:
                built.model.add(sum(var for shifts in days for var in shifts) <= allowed)
                added += 1
    return added


def _relaxation_rows(proto: Any, *, clauses: bool = True) -> _Rows:
    """Return the rows of the linear relaxation of a CP-SAT model proto.

    Constraints of other kinds, and linear ones that an enforcement literal switches on, are left
    out: a relaxation with fewer rows still bounds the model from below. Without ``clauses``,
    clauses and implications are left out too, as at CP-SAT's default linearization level.
    """
    rows = _Rows()
    for ct in proto.constraints:
        enforcement = [-lit - 1 for lit in ct.enforcement_literal]  # ¬e: the row holds if e fails
        if ct.has_linear():
            if enforcement:
                continue
            domain = list(ct.linear.domain)
            terms: dict[int, int] = {}
            for var, coef in zip(ct.linear.vars, ct.linear.coeffs, strict=True):
                terms[var] = terms.get(var, 0) + coef
            rows.add(terms, _finite(domain[0]), _finite(domain[-1]))
        elif ct.has_at_most_one():
            if not enforcement:
                rows.add_literals(list(ct.at_most_one.literals), None, 1)
        elif ct.has_exactly_one():
            if not enforcement:
                rows.add_literals(list(ct.exactly_one.literals), 1, 1)
        elif not clauses:
            continue
        elif ct.has_bool_or():
            rows.add_literals([*ct.bool_or.literals, *enforcement], 1, None)
        elif ct.has_bool_and():
            for lit in ct.bool_and.literals:
                rows.add_literals([lit, *enforcement], 1, None)
    return rows


def _lagrangian(
    rows: _Rows,
    duals: list[float],
    objective: dict[int, int],
    bounds: list[tuple[int, int]],
) -> tuple[int, int]:
    """Return ``(numerator, denominator)`` of the exact dual bound on ``Σ objective · x``."""
    scale = 1 << _SCALE_BITS
    reduced = {var: coef * scale for var, coef in objective.items()}
    total = 0
    for terms, lower, upper, dual in zip(rows.terms, rows.lower, rows.upper, duals, strict=True):
        y = round(dual * scale) if math.isfinite(dual) else 0
        # A multiplier whose side of the row is unbounded would make the bound -inf: drop it.
        if (y > 0 and lower is None) or (y < 0 and upper is None) or y == 0:
            continue
        total += y * (lower if y > 0 else upper)  # type: ignore[operator]
        for var, coef in terms.items():
            reduced[var] = reduced.get(var, 0) - y * coef
    for var, d in reduced.items():
        low, high = bounds[var]
        total += d * low if d > 0 else d * high
    return total, scale


def relaxation_bound(
    model: cp_model.CpModel,
    *,
    time_limit_s: float,
    max_iterations: int | None = None,
    clauses: bool = True,
) -> RelaxationBound:
    """Return a proven lower bound on the objective of ``model`` from its linear relaxation.

    Parameters
    ----------
    model
        A CP-SAT model with a linear objective to minimise.
    time_limit_s
        Wall-clock limit of the LP solve (``math.inf``: none).
    max_iterations
        Simplex iterations allowed (for a result that does not depend on the machine's load).
    clauses
        Whether clauses and implications are rows of the relaxation.

    Returns
    -------
    RelaxationBound
        The bound, or why there is none.
    """
    started = time.perf_counter()
    proto = model.proto
    objective_proto = proto.objective
    scaling = objective_proto.scaling_factor
    if proto.has_floating_point_objective() or scaling not in (0.0, 1.0):
        return RelaxationBound(None, None, "UNSUPPORTED", time.perf_counter() - started)
    objective: dict[int, int] = {}
    for var, coef in zip(objective_proto.vars, objective_proto.coeffs, strict=True):
        objective[var] = objective.get(var, 0) + coef
    offset = objective_proto.offset
    bounds = []
    for var in proto.variables:
        domain = list(var.domain)
        bounds.append((domain[0], domain[-1]))
    rows = _relaxation_rows(proto, clauses=clauses)

    solver = pywraplp.Solver.CreateSolver("GLOP")
    infinity = solver.infinity()
    columns = [solver.NumVar(low, high, "") for low, high in bounds]
    for terms, lower, upper in zip(rows.terms, rows.lower, rows.upper, strict=True):
        row = solver.RowConstraint(
            -infinity if lower is None else lower, infinity if upper is None else upper, ""
        )
        for var, coef in terms.items():
            if coef:
                row.SetCoefficient(columns[var], coef)
    goal = solver.Objective()
    for var, coef in objective.items():
        goal.SetCoefficient(columns[var], coef)
    goal.SetMinimization()
    if math.isfinite(time_limit_s):
        solver.SetTimeLimit(max(1, round(time_limit_s * 1000)))
    if max_iterations is not None:
        solver.SetSolverSpecificParametersAsString(f"max_number_of_iterations: {max_iterations}")
    status = solver.Solve()
    size = {"rows": len(rows.terms), "columns": len(columns)}
    if status != pywraplp.Solver.OPTIMAL:
        name = "LIMIT" if status == pywraplp.Solver.NOT_SOLVED else f"LP status {status}"
        return RelaxationBound(None, None, name, time.perf_counter() - started, **size)
    lp_value = goal.Value() + offset
    duals = [c.dual_value() for c in solver.constraints()]
    numerator, denominator = _lagrangian(rows, duals, objective, bounds)
    # Every roster's Σ coef·x is a multiple of the coefficients' gcd: round the bound up to one.
    step = math.gcd(*objective.values()) if objective else 1
    lowest = -((-numerator) // denominator)  # ceil
    lowest = -((-lowest) // step) * step if step else lowest
    bound = math.floor(lowest + offset)
    return RelaxationBound(
        bound, lp_value, "OPTIMAL", time.perf_counter() - started, size["rows"], size["columns"]
    )


def restrict_objective(model: cp_model.CpModel, bound: int) -> None:
    """Restrict the objective of ``model`` to values of at least ``bound`` (a proven bound).

    Rosters below a proven lower bound do not exist, so this removes none; it tells CP-SAT the
    bound from the start, so that it reports it and stops once a roster meets it.
    """
    objective = model.proto.objective
    low = math.ceil(bound - objective.offset)
    high = 0
    for var, coef in zip(objective.vars, objective.coeffs, strict=True):
        domain = list(model.proto.variables[var].domain)
        high += max(coef * domain[0], coef * domain[-1])
    current = list(objective.domain)
    if len(current) == 2:
        low, high = max(low, current[0]), min(high, current[1])
        if low <= high:
            objective.domain[0], objective.domain[1] = low, high
    elif not current and low <= high:
        objective.domain.extend([low, high])
