"""The linear-relaxation bound: never above the optimum, above 0 where a shortage costs."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest
from ortools.sat.python import cp_model

from grids import shift_solver
from grids.shift_bound import (
    RelaxationBound,
    _lagrangian,
    _relaxation_rows,
    add_rest_day_rows,
    relaxation_bound,
    restrict_objective,
)
from grids.shift_cpmodel import RosterModel
from grids.shift_index import ProblemIndex
from grids.shift_model import Cover, LabourRules, Request, ShiftProblem, ShiftType, Staff
from grids.shift_search import SearchResult
from grids.shift_solver import ProgressEvent, solve

H = 60
EARLY = ShiftType("E", 6 * H, 6 * H)
LATE = ShiftType("L", 12 * H, 6 * H)
NIGHT = ShiftType("N", 22 * H, 8 * H)
REST = LabourRules(max_min_per_day=8 * H, rest_days_per_week=1, min_rest_min=11 * H)


def _model(problem: ShiftProblem, *, rows: bool = False) -> cp_model.CpModel:
    built = RosterModel(ProblemIndex(problem))
    if rows:
        add_rest_day_rows(built)
    return built.model


def _optimum(problem: ShiftProblem, *, rows: bool = False) -> int:
    """Return the optimum of the problem's model, proven by CP-SAT (searching, level-2 LP)."""
    model = _model(problem, rows=rows)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.linearization_level = 2
    solver.parameters.max_time_in_seconds = 30.0
    assert solver.solve(model) == cp_model.OPTIMAL
    return round(solver.objective_value)


def _bound(problem: ShiftProblem, *, rows: bool = False, clauses: bool = True) -> int:
    found = relaxation_bound(_model(problem, rows=rows), time_limit_s=10.0, clauses=clauses)
    assert found.status == "OPTIMAL"
    assert found.bound is not None
    return found.bound


def _full_deployment_week(staff: int = 3) -> ShiftProblem:
    """A week in which everyone is asked to work the weekend (a full deployment, heavily
    weighted) and each weekday needs everyone early: with one rest day a week, each weekday
    but four per person is short, whatever the roster. The night shift, open on the weekend
    days asked for, gives Sunday's rest day an indicator of its own (busy after Saturday's
    night), as in a real squad's week."""
    covers = [Cover(day, EARLY.id, requirement=staff, under_weight=70) for day in range(5)]
    requests = [Request(f"P{n}", day, None, 10_000, True) for n in range(staff) for day in (5, 6)]
    return ShiftProblem(
        horizon_days=7,
        first_weekday=0,
        shift_types=(EARLY, LATE, NIGHT),
        staff=tuple(Staff(f"P{n}") for n in range(staff)),
        covers=tuple(covers),
        requests=tuple(requests),
        labour=REST,
    )


def test_shortage_under_a_full_deployment_is_bounded_exactly() -> None:
    problem = _full_deployment_week()
    optimum = _optimum(problem)
    bound = _bound(problem)
    # Weekdays need 3 × 5 = 15 person-shifts; 3 people can give 3 × 4 = 12 of them.
    assert optimum == 3 * 70
    assert 0 < bound <= optimum
    assert bound == optimum  # the relaxation is exact here


def test_rest_day_shortage_without_requests() -> None:
    covers = [Cover(day, EARLY.id, requirement=3, under_weight=50) for day in range(7)]
    problem = ShiftProblem(
        horizon_days=7,
        first_weekday=0,
        shift_types=(EARLY,),
        staff=(Staff("A"), Staff("B"), Staff("C")),
        covers=tuple(covers),
        labour=REST,
    )
    optimum = _optimum(problem)
    assert optimum == 3 * 50  # one rest day each
    assert _bound(problem) == optimum


def test_rest_day_rows_keep_the_shortage_in_the_relaxation_cp_sat_builds() -> None:
    """Without clauses and implications (CP-SAT's default relaxation) the rest day is lost, and
    the bound with it; the rows bring it back, and cut off no roster."""
    problem = _full_deployment_week()
    optimum = _optimum(problem)
    assert _bound(problem, clauses=False) == 0
    assert _bound(problem, rows=True, clauses=False) == optimum > 0
    assert _optimum(problem, rows=True) == optimum


def test_rest_day_rows_only_where_they_can_bind() -> None:
    problem = _full_deployment_week()
    built = RosterModel(ProblemIndex(problem))
    assert add_rest_day_rows(built) == len(problem.staff)  # one week, one row per person
    week_off = replace(
        problem, staff=tuple(replace(s, days_off=frozenset({0})) for s in problem.staff)
    )
    assert add_rest_day_rows(RosterModel(ProblemIndex(week_off))) == 0
    no_law = replace(problem, labour=None)
    assert add_rest_day_rows(RosterModel(ProblemIndex(no_law))) == 0


def _random_problem(rng: random.Random) -> ShiftProblem:
    shifts = (EARLY, LATE, NIGHT)
    days = rng.randint(4, 8)
    staff = []
    for n in range(rng.randint(2, 4)):
        staff.append(
            Staff(
                f"P{n}",
                skills=frozenset({"officer"}) if rng.random() < 0.6 else frozenset(),
                max_total_min=rng.choice([None, 18 * H, 30 * H]),
                max_consecutive_shifts=rng.choice([None, 2, 3]),
                min_consecutive_shifts=rng.choice([None, 2]),
                max_weekends=rng.choice([None, 0, 1]),
                max_shifts={NIGHT.id: rng.randint(0, 2)} if rng.random() < 0.5 else {},
                days_off=frozenset(d for d in range(days) if rng.random() < 0.15),
            )
        )
    covers = []
    for day in range(days):
        for shift in shifts:
            if rng.random() < 0.7:
                covers.append(
                    Cover(
                        day,
                        shift.id,
                        skill=rng.choice([None, "officer"]),
                        requirement=rng.randint(1, 3),
                        under_weight=rng.randint(1, 9) * 10,
                        over_weight=rng.choice([None, 0, 7]),
                    )
                )
        if rng.random() < 0.4:
            covers.append(
                Cover(day, window=(13 * H, 17 * H), requirement=2, under_weight=rng.randint(1, 50))
            )
    requests = [
        Request(
            s.id,
            rng.randrange(days),
            rng.choice([None, EARLY.id]),
            rng.randint(1, 40),
            rng.random() < 0.5,
        )
        for s in staff
        for _ in range(rng.randint(0, 2))
    ]
    return ShiftProblem(
        horizon_days=days,
        first_weekday=rng.randrange(7),
        shift_types=shifts,
        staff=tuple(staff),
        covers=tuple(covers),
        requests=tuple(requests),
        labour=rng.choice([None, REST, LabourRules(max_min_per_week=24 * H, min_rest_min=12 * H)]),
    )


@pytest.mark.parametrize("seed", range(12))
def test_the_bound_never_exceeds_the_optimum(seed: int) -> None:
    problem = _random_problem(random.Random(seed))
    optimum = _optimum(problem)
    assert _optimum(problem, rows=True) == optimum  # the rows cut off no roster
    assert _bound(problem) <= optimum
    assert _bound(problem, rows=True) <= optimum


@pytest.mark.parametrize("seed", range(4))
def test_any_multipliers_give_a_valid_bound(seed: int) -> None:
    """The bound is proven for any duals, not only the LP solver's: random ones stay below."""
    rng = random.Random(seed)
    problem = _full_deployment_week()
    model = RosterModel(ProblemIndex(problem)).model
    proto = model.proto
    rows = _relaxation_rows(proto)
    objective = dict(zip(proto.objective.vars, proto.objective.coeffs, strict=True))
    bounds = [(min(v.domain), max(v.domain)) for v in proto.variables]
    duals = [rng.uniform(-50.0, 50.0) for _ in rows.terms]
    numerator, denominator = _lagrangian(rows, duals, objective, bounds)
    assert numerator / denominator + proto.objective.offset <= _optimum(problem)


def test_restricting_the_objective_keeps_the_optimum_and_reports_the_bound() -> None:
    problem = _full_deployment_week()
    optimum = _optimum(problem)
    model = RosterModel(ProblemIndex(problem)).model
    found = relaxation_bound(model, time_limit_s=10.0)
    assert found.bound is not None
    restrict_objective(model, found.bound)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.stop_after_first_solution = True
    assert solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assert solver.best_objective_bound >= found.bound
    assert solver.objective_value >= optimum


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[RelaxationBound]:
    found: list[RelaxationBound] = []

    def spy(model: cp_model.CpModel, **options: Any) -> RelaxationBound:
        result = relaxation_bound(model, **options)
        found.append(result)
        return result

    monkeypatch.setattr(shift_solver, "relaxation_bound", spy)
    return found


def test_solve_with_the_relaxation_proves_the_shortage(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = _full_deployment_week(staff=4)
    optimum = _optimum(problem)
    found = _spy(monkeypatch)
    events: list[ProgressEvent] = []
    solution = solve(problem, time_limit_s=4.0, workers=2, relaxation=True, progress=events.append)
    assert solution.objective == optimum > 0
    assert solution.status == "OPTIMAL"
    assert solution.bound == solution.objective
    assert events
    assert all(event.bound <= solution.objective for event in events)
    # Solved after the search's first share of the time, if that did not prove it already.
    assert len(found) <= 1
    assert all(r.bound == optimum for r in found)

    found.clear()
    steady = solve(problem, time_limit_s=4.0, deterministic=True, relaxation=True)
    assert [r.bound for r in found] == [optimum]  # deterministic mode: the relaxation first
    assert steady.bound == steady.objective == optimum
    assert (
        steady.assignments
        == solve(problem, time_limit_s=4.0, deterministic=True, relaxation=True).assignments
    )


def test_the_relaxation_comes_after_a_search_that_proves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first search that proves nothing: the relaxation proves the shortage, and the events
    from then on carry its bound."""
    problem = _full_deployment_week(staff=4)
    optimum = _optimum(problem)
    found = _spy(monkeypatch)
    real = shift_solver.search
    calls: list[int] = []

    def unproven_first(built: RosterModel, **options: Any) -> SearchResult:
        calls.append(1)
        if len(calls) == 1:  # the greedy roster, unproven
            options["deadline"] = options["started"]
            return replace(real(built, **options), status="FEASIBLE", bound=-math.inf)
        return real(built, **options)

    monkeypatch.setattr(shift_solver, "search", unproven_first)
    events: list[ProgressEvent] = []
    solution = solve(problem, time_limit_s=4.0, workers=2, relaxation=True, progress=events.append)
    assert [r.bound for r in found] == [optimum]
    assert solution.status == "OPTIMAL"
    assert solution.bound == solution.objective == optimum
    assert events[-1].bound == optimum
    assert all(event.bound <= event.objective for event in events)


def test_short_calls_skip_the_relaxation(monkeypatch: pytest.MonkeyPatch) -> None:
    found = _spy(monkeypatch)
    solution = solve(_full_deployment_week(), time_limit_s=1.0, workers=1, relaxation=True)
    assert found == []
    assert solution.found
