"""The roster model's sequence rules and the search around it: neighbourhoods, first rosters."""

from __future__ import annotations

import itertools
import math
import time

import pytest
from ortools.sat.python import cp_model

from grids import shift_search
from grids.shift_cpmodel import RosterModel
from grids.shift_index import ProblemIndex
from grids.shift_model import Cover, ShiftProblem, ShiftType, Staff, roster_violations
from grids.shift_solver import solve

DAY = ShiftType("D", 8 * 60, 8 * 60)
NIGHT = ShiftType("N", 20 * 60, 8 * 60)


def _problem(
    staff: tuple[Staff, ...], days: int, shifts: tuple[ShiftType, ...] = (DAY,)
) -> ShiftProblem:
    covers = tuple(
        Cover(day, shift.id, None, None, 1 + day % 2, 100, 1, label=f"{shift.id}{day}")
        for day in range(days)
        for shift in shifts
    )
    return ShiftProblem(
        horizon_days=days, first_weekday=0, shift_types=shifts, staff=staff, covers=covers
    )


def _feasible_with(built: RosterModel, worked: tuple[bool, ...]) -> bool:
    model = cp_model.CpModel()
    model.proto.copy_from(built.model.proto)
    model.proto.clear_objective()
    for day, on in enumerate(worked):
        var = built.x.get((0, day, 0))
        if var is None:
            assert not on
            continue
        model.add(var == int(on))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    return solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


@pytest.mark.parametrize(("most", "rest", "least"), [(3, 2, 1), (2, 3, 2), (4, 2, 2)])
def test_the_model_allows_exactly_the_rosters_the_checker_allows(
    most: int, rest: int, least: int
) -> None:
    # The window rule (at most ``most`` worked days in any ``most + rest``) is implied by the
    # run rules: it must cut off no legal roster.
    days = 9
    member = Staff(
        "A",
        max_consecutive_shifts=most,
        min_consecutive_days_off=rest,
        min_consecutive_shifts=least,
    )
    p = _problem((member,), days)
    built = RosterModel(ProblemIndex(p))
    legal = illegal = 0
    for worked in itertools.product((False, True), repeat=days):
        roster = {("A", day): "D" for day, on in enumerate(worked) if on}
        allowed = roster_violations(p, roster) == []
        assert _feasible_with(built, worked) == allowed, worked
        legal += allowed
        illegal += not allowed
    assert legal > 0
    assert illegal > 0


def _values(p: ShiftProblem, seed: int = 0) -> tuple[RosterModel, list[int]]:
    built = RosterModel(ProblemIndex(p))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = 5.0
    assert solver.solve(built.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return built, list(solver.response_proto.solution)


def test_neighbourhoods_free_what_their_kind_says() -> None:
    staff = (
        Staff("A", max_shifts={"N": 0}),
        Staff("B", max_shifts={"N": 0}),
        Staff("C", max_shifts={"D": 0}),
        Staff("D", max_shifts={"D": 0}),
        Staff("E"),
    )
    p = _problem(staff, 14, (DAY, NIGHT))
    built, values = _values(p)
    lns = shift_search._Neighbourhoods(built, seed=1)
    every_day = set(range(14))
    for _ in range(30):
        free = lns._pick("staff", values)
        who = {s for s, _ in free}
        assert len(who) >= 2
        assert all({d for s, d in free if s == w} == every_day for w in who)
        # Everyone freed can take a shift type of the first: day staff never pair with night
        # staff alone.
        assert not ({0, 1} & who and {2, 3} & who and 4 not in who and len(who) == 2)
        free = lns._pick("windows", values)
        days = {d for _, d in free}
        assert free == {(s, d) for s in range(5) for d in days}
        assert len(days) <= 2 * max(1, round(lns.share["windows"] * 14 / 2))
        free = lns._pick("days", values)
        days = {d for _, d in free}
        assert days == set(range(min(days), max(days) + 1))
        assert free == {(s, d) for s in range(5) for d in days}


def test_neighbourhood_kinds_that_improve_are_chosen_more() -> None:
    p = _problem((Staff("A"), Staff("B")), 7)
    built, _ = _values(p)
    lns = shift_search._Neighbourhoods(built, seed=2)
    lns.tries = dict.fromkeys(shift_search._KINDS, 20.0)
    lns.wins = dict.fromkeys(shift_search._KINDS, 0.0)
    lns.wins["windows"] = 18.0
    chosen = [lns._choose() for _ in range(400)]
    assert chosen.count("windows") > 200
    assert set(chosen) == set(shift_search._KINDS)


def test_any_roster_offers_a_legal_roster_with_its_true_penalty() -> None:
    member = Staff("A", max_consecutive_shifts=3, min_consecutive_days_off=2)
    p = _problem((member, Staff("B", min_consecutive_shifts=2)), 14)
    built = RosterModel(ProblemIndex(p))
    incumbent = shift_search._Incumbent(time.perf_counter(), None)
    status, spent = shift_search._any_roster(
        built, incumbent, 5.0, deterministic=True, seed=0, workers=1
    )
    assert status == "FEASIBLE"
    assert spent >= 0
    assert incumbent.values is not None
    assert incumbent.best is not None
    # The penalty variables are the cheapest for the roster: the objective is the roster's own.
    roster = {
        (p.staff[s].id, day): p.shift_types[t].id
        for (s, day, t), var in built.x.items()
        if incumbent.values[var.index]
    }
    assert roster_violations(p, roster) == []
    solved = solve(p, time_limit_s=2.0, workers=1)
    assert solved.objective is not None
    assert incumbent.best >= solved.objective


def test_any_roster_reports_a_problem_without_one() -> None:
    # 7 days, every one a day off, yet at least 8 hours to work.
    member = Staff("A", min_total_min=8 * 60, days_off=frozenset(range(7)))
    p = _problem((member,), 7)
    built = RosterModel(ProblemIndex(p))
    incumbent = shift_search._Incumbent(time.perf_counter(), None)
    status, _ = shift_search._any_roster(
        built, incumbent, 5.0, deterministic=True, seed=0, workers=1
    )
    assert status == "INFEASIBLE"
    assert incumbent.values is None
    assert incumbent.bound == math.inf


def test_one_thread_without_a_first_roster_from_the_whole_model_still_finds_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staff = tuple(
        Staff(name, min_consecutive_shifts=2, min_consecutive_days_off=2, min_total_min=6 * 480)
        for name in "ABCD"
    )
    p = _problem(staff, 14)
    # No time for the whole model: the roster must come from the search without the objective.
    monkeypatch.setattr(shift_search, "SINGLE_FIRST_PHASE_SHARE", 0.0)
    solution = solve(p, time_limit_s=2.0, deterministic=True, seed=1, hint={})
    assert solution.found
    assert roster_violations(p, solution.assignments) == []


def test_large_models_search_with_the_solvers_own_neighbourhoods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staff = tuple(
        Staff(name, max_consecutive_shifts=4, min_consecutive_days_off=2) for name in "ABC"
    )
    p = _problem(staff, 14, (DAY, NIGHT))
    calls: list[bool] = []
    full_solve = shift_search._full_solve

    def recording(*args: object, **kwargs: object) -> object:
        calls.append(bool(kwargs.get("lns_only")))
        return full_solve(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(shift_search, "PORTFOLIO_MAX_VARIABLES", 0)
    monkeypatch.setattr(shift_search, "_full_solve", recording)
    solution = solve(p, time_limit_s=3.0, workers=2)
    assert calls == [True]
    assert solution.found
    assert roster_violations(p, solution.assignments) == []
