"""The CP-SAT roster engine: every hard rule holds even when covers tempt it to break one."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from grids import shift_checks, shift_model, shift_problem, shift_search
from grids.shift_model import (
    Cover,
    LabourRules,
    Pin,
    Request,
    ShiftProblem,
    ShiftSolution,
    ShiftType,
    Staff,
    cover_counts,
    problem_errors,
    roster_violations,
)
from grids.shift_solver import ProgressEvent, diagnose_uncovered, greedy_roster, solve

H = 60
EARLY = ShiftType("E", 6 * H, 8 * H)
DAY = ShiftType("D", 8 * H, 8 * H)
LATE = ShiftType("L", 14 * H, 8 * H)
NIGHT = ShiftType("N", 22 * H, 8 * H)
HALF = ShiftType("H", 8 * H, 4 * H)
TEN = ShiftType("X10", 8 * H, 10 * H)
ELEVEN = ShiftType("X11", 8 * H, 11 * H)
TWELVE = ShiftType("X12", 8 * H, 12 * H)
LIMIT = 5.0


def problem(
    shifts: tuple[ShiftType, ...],
    covers: list[Cover],
    *,
    staff: tuple[Staff, ...] = (Staff("A"),),
    days: int = 7,
    **more: object,
) -> ShiftProblem:
    return ShiftProblem(
        horizon_days=days,
        first_weekday=0,
        shift_types=shifts,
        staff=staff,
        covers=tuple(covers),
        **more,  # type: ignore[arg-type]
    )


def need(
    day: int,
    shift: str | None = None,
    *,
    window: tuple[int, int] | None = None,
    requirement: int = 1,
    weight: int = 100,
    over: int | None = None,
    skill: str | None = None,
) -> Cover:
    return Cover(day, shift, window, skill, requirement, weight, over, label=f"c{day}")


def solved(p: ShiftProblem, **options: object) -> ShiftSolution:
    solution = solve(p, time_limit_s=LIMIT, workers=1, **options)  # type: ignore[arg-type]
    assert solution.status == "OPTIMAL"
    assert roster_violations(p, solution.assignments) == []
    assert solution.objective == sum(solution.penalties.values())
    return solution


def short(solution: ShiftSolution) -> dict[int, tuple[int, str]]:
    """Return cover index → (missing staff, reason)."""
    return {u.cover_index: (u.short, u.reason) for u in solution.uncovered}


def test_one_shift_per_day() -> None:
    p = problem((EARLY, LATE), [need(0, "E"), need(0, "L")])
    solution = solved(p)
    assert len(solution.assignments) == 1
    ((index, (missing, reason)),) = short(solution).items()
    assert missing == 1
    assert reason == "busy elsewhere"
    assert p.covers[index].shift_id != solution.assignments[("A", 0)]


@pytest.mark.parametrize(
    ("overtime_min", "covered"),
    [(0, {"8h"}), (180, {"8h", "10h", "11h"})],
)
def test_daily_hours_and_overtime(overtime_min: int, covered: set[str]) -> None:
    windows = {
        "8h": (8 * H, 16 * H),
        "10h": (8 * H, 18 * H),
        "11h": (8 * H, 19 * H),
        "12h": (8 * H, 20 * H),
    }
    staff = tuple(Staff(name) for name in windows)
    covers = [replace(need(0, window=window), label=name) for name, window in windows.items()]
    labour = LabourRules(max_min_per_day=8 * H, overtime_min_per_day=overtime_min)
    p = problem((DAY, TEN, ELEVEN, TWELVE), covers, staff=staff, labour=labour)
    solution = solved(p)
    lengths = {p.shift_by_id[t].length_min for t in solution.assignments.values()}
    assert max(lengths) <= 8 * H + overtime_min
    missing = short(solution)
    assert {c.label for i, c in enumerate(p.covers) if i not in missing} == covered
    assert {reason for _, reason in missing.values()} == {"hours exhausted"}


def test_monthly_overtime_limit() -> None:
    labour = LabourRules(
        max_min_per_day=8 * H, overtime_min_per_day=3 * H, overtime_min_per_month=5 * H
    )
    covers = [need(day, window=(8 * H, 18 * H)) for day in range(4)]
    p = problem((DAY, TEN), covers, labour=labour, days=4)
    solution = solved(p)
    # Each 10-hour shift is 2 h of overtime: two fit in 5 h, a third does not.
    assert sorted(solution.assignments.values()) == ["X10", "X10"]
    assert [reason for _, reason in short(solution).values()] == ["hours exhausted"] * 2


@pytest.mark.parametrize(("weekly_hours", "saturday_covered"), [(40, False), (44, True)])
def test_weekly_hours(weekly_hours: int, saturday_covered: bool) -> None:
    labour = LabourRules(max_min_per_day=8 * H, max_min_per_week=weekly_hours * H)
    covers = [need(day, "D", weight=200) for day in range(5)]
    covers.append(need(5, window=(8 * H, 12 * H)))
    p = problem((DAY, HALF), covers, labour=labour)
    solution = solved(p)
    minutes = sum(p.shift_by_id[t].length_min for t in solution.assignments.values())
    assert minutes <= weekly_hours * H
    assert (("A", 5) in solution.assignments) is saturday_covered
    if not saturday_covered:
        assert short(solution) == {5: (1, "hours exhausted")}
    else:
        assert solution.assignments[("A", 5)] == "H"


def test_one_rest_day_per_week() -> None:
    labour = LabourRules(rest_days_per_week=1)
    p = problem((HALF,), [need(day, "H") for day in range(7)], labour=labour)
    solution = solved(p)
    assert len(solution.assignments) == 6
    assert [reason for _, reason in short(solution).values()] == ["rest rules"]


def test_night_shift_runs_into_the_rest_day() -> None:
    """A night shift on Saturday takes Sunday's rest: Sunday is then not a full day off."""
    labour = LabourRules(rest_days_per_week=1)
    covers = [need(day, "H") for day in range(5)] + [need(5, "N", weight=1000)]
    p = problem((HALF, NIGHT), covers, labour=labour)
    solution = solved(p)
    assert solution.assignments[("A", 5)] == "N"
    assert len(solution.assignments) == 5
    assert [reason for _, reason in short(solution).values()] == ["rest rules"]


def test_eleven_hours_rest_after_a_night_shift() -> None:
    labour = LabourRules(min_rest_min=11 * H)
    p = problem((NIGHT, EARLY), [need(0, "N"), need(1, "E")], labour=labour, days=2)
    solution = solved(p)
    assert len(solution.assignments) == 1
    assert [reason for _, reason in short(solution).values()] == ["rest rules"]
    # Without the rule the same staff member takes both.
    assert len(solved(replace(p, labour=None)).assignments) == 2


def test_listed_forbidden_succession() -> None:
    late = replace(LATE, forbidden_next=frozenset({"E"}))
    p = problem((late, EARLY), [need(0, "L"), need(1, "E")], days=2)
    solution = solved(p)
    assert len(solution.assignments) == 1
    assert [reason for _, reason in short(solution).values()] == ["rest rules"]


def test_max_consecutive_shifts() -> None:
    staff = (Staff("A", max_consecutive_shifts=3),)
    p = problem((DAY,), [need(day, "D") for day in range(5)], staff=staff, days=5)
    solution = solved(p)
    assert len(solution.assignments) == 4
    assert [reason for _, reason in short(solution).values()] == ["consecutive rules"]


def test_min_consecutive_shifts() -> None:
    """One isolated shift would break the minimum of two; its neighbours are costly extras."""
    staff = (Staff("A", min_consecutive_shifts=2),)
    covers = [need(2, "D", weight=10)] + [need(day, "D", requirement=0, over=100) for day in (1, 3)]
    p = problem((DAY,), covers, staff=staff, days=5)
    solution = solved(p)
    assert ("A", 2) not in solution.assignments
    assert short(solution) == {0: (1, "consecutive rules")}
    # At the horizon's edge a single shift is allowed (the run may continue outside it).
    edge = replace(p, covers=(need(0, "D", weight=10), need(1, "D", requirement=0, over=100)))
    at_edge = solved(edge).assignments
    assert ("A", 0) in at_edge
    assert ("A", 1) not in at_edge


def test_min_consecutive_days_off() -> None:
    staff = (Staff("A", min_consecutive_days_off=2),)
    covers = [need(day, "D", weight=10) for day in (0, 1, 3, 4)]
    covers.append(need(2, "D", requirement=0, over=100))
    p = problem((DAY,), covers, staff=staff, days=5)
    solution = solved(p)
    # A single day off between two worked days is too short: one cover must go.
    assert len(solution.assignments) == 3
    assert [reason for _, reason in short(solution).values()] == ["rest rules"]


def test_max_weekends() -> None:
    staff = (Staff("A", max_weekends=1),)
    covers = [need(5, "D"), need(13, "D")]
    p = problem((DAY,), covers, staff=staff, days=14)
    solution = solved(p)
    assert len(solution.assignments) == 1
    assert [reason for _, reason in short(solution).values()] == ["weekend limit"]


def test_days_off_and_leave() -> None:
    staff = (Staff("A", days_off=frozenset({2}), unavailable=frozenset({(3, "D")})),)
    p = problem((DAY,), [need(day, "D") for day in range(5)], staff=staff, days=5)
    solution = solved(p)
    assert sorted(day for _, day in solution.assignments) == [0, 1, 4]
    assert short(solution) == {2: (1, "no eligible staff"), 3: (1, "no eligible staff")}


def test_pins_are_kept() -> None:
    staff = (Staff("A"), Staff("B"))
    covers = [need(0, "D"), need(1, "D", requirement=0, over=50)]
    pins = (Pin("A", 0, "L"), Pin("B", 0, None), Pin("B", 1, "D"))
    p = problem((DAY, LATE), covers, staff=staff, pins=pins, days=2)
    solution = solved(p)
    assert solution.assignments[("A", 0)] == "L"
    assert ("B", 0) not in solution.assignments
    assert solution.assignments[("B", 1)] == "D"
    assert short(solution) == {0: (1, "no eligible staff")}
    assert solution.penalties["cover_over"] == 50


def test_skills_decide_who_counts() -> None:
    staff = (Staff("assistant", skills=frozenset({"assistant"})),)
    covers = [need(0, "D", skill="officer"), need(1, "D", skill="assistant")]
    p = problem((DAY,), covers, staff=staff, days=2)
    solution = solved(p)
    assert solution.assignments == {("assistant", 1): "D"}
    (missing,) = solution.uncovered
    assert (missing.cover.skill, missing.reason) == ("officer", "no eligible staff")


def test_window_covers_count_shifts_that_span_them() -> None:
    """Duty slots: a night shift of day 0 covers day 1 from midnight; a day shift doesn't."""
    covers = [need(1, window=(0, 2 * H)), need(1, window=(9 * H, 11 * H), requirement=2)]
    staff = (Staff("A"), Staff("B"), Staff("C"))
    p = problem((DAY, NIGHT), covers, staff=staff, days=2)
    assert p.cover_options(covers[0]) == [(0, "N")]
    solution = solved(p)
    assert list(solution.assignments.values()).count("N") == 1
    assert cover_counts(p, solution.assignments) == [1, 2]
    assert solution.uncovered == []


def test_covers_that_nobody_should_take_are_not_worth_it() -> None:
    covers = [need(0, "D", weight=1)]
    requests = (Request("A", 0, None, 5, on=False),)
    p = problem((DAY,), covers, requests=requests, days=1)
    solution = solved(p)
    assert solution.assignments == {}
    assert short(solution) == {0: (1, "not worth it")}
    assert solution.penalties == {"cover_under": 1, "cover_over": 0, "requests": 0, "changes": 0}


def test_hard_cover_that_cannot_be_met_is_infeasible_and_explained() -> None:
    covers = [Cover(0, "D", requirement=2, label="post 1")]
    p = problem((DAY,), covers, days=1)
    solution = solve(p, time_limit_s=LIMIT, workers=1)
    assert solution.status == "INFEASIBLE"
    assert solution.assignments == {}
    (missing,) = solution.uncovered
    assert (missing.cover.label, missing.short) == ("post 1", 1)


def _random_problem(seed: int, staff_count: int = 12, days: int = 14) -> ShiftProblem:
    rng = random.Random(seed)
    shifts = (EARLY, LATE, replace(NIGHT, forbidden_next=frozenset({"E", "L"})))
    staff = tuple(
        Staff(
            f"s{i}",
            max_total_min=rng.choice([60, 70, 80]) * H,
            max_consecutive_shifts=5,
            min_consecutive_days_off=2,
            max_weekends=1,
            days_off=frozenset(rng.sample(range(days), 2)),
        )
        for i in range(staff_count)
    )
    covers = [
        need(day, t.id, requirement=rng.randint(1, 3), over=1)
        for day in range(days)
        for t in shifts
    ]
    requests = tuple(
        Request(
            f"s{rng.randrange(staff_count)}",
            rng.randrange(days),
            rng.choice(shifts).id,
            rng.randint(1, 3),
            on=rng.random() < 0.5,
        )
        for _ in range(20)
    )
    return problem(shifts, covers, staff=staff, days=days, requests=requests)


def test_deterministic_mode_gives_the_same_roster_twice() -> None:
    p = _random_problem(3)
    first = solve(p, time_limit_s=1.0, deterministic=True, seed=5)
    second = solve(p, time_limit_s=1.0, deterministic=True, seed=5)
    assert first.found
    assert first.assignments == second.assignments
    assert (first.objective, first.bound) == (second.objective, second.bound)
    assert roster_violations(p, first.assignments) == []


def test_progress_reports_improving_rosters() -> None:
    p = _random_problem(4)
    events: list[ProgressEvent] = []
    solution = solve(p, time_limit_s=2.0, workers=1, progress=events.append)
    assert events
    objectives = [e.objective for e in events]
    assert objectives == sorted(objectives, reverse=True)
    assert solution.objective is not None
    assert solution.objective <= objectives[-1]
    assert all(e.bound <= e.objective for e in events)
    assert solution.first_solution_s is not None
    assert solution.first_solution_s <= solution.wall_time_s
    assert solution.objective == sum(solution.penalties.values())
    assert solution.gap is not None
    assert 0 <= solution.gap <= 1


def test_replanning_after_an_absence_changes_only_what_it_must() -> None:
    staff = tuple(Staff(f"s{i}", max_consecutive_shifts=5) for i in range(6))
    covers = [need(day, "D", requirement=3) for day in range(7)]
    before = solved(problem((DAY,), covers, staff=staff))
    previous: dict[tuple[str, int], str | None] = {
        (s.id, day): before.assignments.get((s.id, day)) for s in staff for day in range(7)
    }
    absent_days = sorted(day for (sid, day) in before.assignments if sid == "s0")
    assert absent_days
    absent = replace(staff[0], days_off=frozenset(range(7)))
    p = problem((DAY,), covers, staff=(absent, *staff[1:]), previous=previous, change_weight=1)
    after = solved(p)
    assert after.uncovered == []
    # Every shift of the absent officer changes, and each is taken over by one other officer.
    assert after.changes == 2 * len(absent_days)
    changed = {key for key, shift in previous.items() if after.assignments.get(key) != shift}
    assert {day for _, day in changed} == set(absent_days)
    assert after.penalties["changes"] == after.changes


def test_greedy_roster_keeps_the_maximum_rules() -> None:
    p = _random_problem(7)
    roster = greedy_roster(p)
    assert roster
    broken = {v.rule for v in roster_violations(p, roster, covers=False)}
    assert broken <= {"min_consecutive_days_off", "min_total_min"}


def test_a_hint_is_used() -> None:
    p = _random_problem(8, staff_count=6, days=7)
    first = solved(p, deterministic=True)
    # deterministic time: the hinted roster is reached however loaded the machine is
    again = solve(p, time_limit_s=LIMIT, deterministic=True, hint=first.assignments)
    assert again.objective == first.objective


def test_checker_finds_broken_rules() -> None:
    labour = LabourRules.prc_standard()
    staff = (Staff("A", max_consecutive_shifts=3, days_off=frozenset({6})),)
    p = problem((NIGHT, EARLY), [], staff=staff, labour=labour)
    roster = {("A", 0): "N", ("A", 1): "E", **{("A", d): "E" for d in range(2, 7)}}
    rules = {v.rule for v in roster_violations(p, roster)}
    assert {
        "min_rest_min",
        "max_consecutive_shifts",
        "days_off",
        "rest_days_per_week",
        "max_min_per_week",
    } <= rules
    assert diagnose_uncovered(p, roster) == []


def test_problem_errors_name_bad_references() -> None:
    p = problem(
        (DAY,),
        [Cover(9, "Q", requirement=1), Cover(0, "D", (0, 60))],
        requests=(Request("Z", 0, "D", 1, on=True),),
        pins=(Pin("A", 0, "Q"),),
    )
    errors = problem_errors(p)
    assert any("unknown shift 'Q'" in e for e in errors)
    assert any("day 9 outside" in e for e in errors)
    assert any("exactly one of shift_id and window" in e for e in errors)
    assert any("unknown staff 'Z'" in e for e in errors)
    with pytest.raises(ValueError, match="invalid shift problem"):
        solve(p)
    assert problem_errors(problem((DAY,), [need(0, "D")])) == []


def test_neighbourhood_search_improves_on_the_whole_model(monkeypatch: pytest.MonkeyPatch) -> None:
    p = _random_problem(13, staff_count=12, days=14)
    empty: dict[tuple[str, int], str | None] = {}
    # A whole-model phase too short to get far: what follows is the neighbourhoods' work.
    monkeypatch.setattr(shift_search, "SINGLE_FIRST_PHASE_SHARE", 0.0)
    searched = solve(p, time_limit_s=1.0, deterministic=True, seed=3, hint=empty)
    monkeypatch.setattr(shift_search, "_neighbourhood_loop", lambda *_, **__: None)
    whole_only = solve(p, time_limit_s=1.0, deterministic=True, seed=3, hint=empty)
    assert searched.found
    assert whole_only.found
    assert roster_violations(p, searched.assignments) == []
    assert searched.objective is not None
    assert whole_only.objective is not None
    assert searched.objective < whole_only.objective


def test_parallel_search_reports_a_bound_below_its_roster() -> None:
    p = _random_problem(12, staff_count=8, days=14)
    solution = solve(p, time_limit_s=3.0, workers=2)
    assert solution.found
    assert roster_violations(p, solution.assignments) == []
    assert solution.bound is not None
    assert solution.objective is not None
    assert solution.bound <= solution.objective
    if solution.status == "OPTIMAL":
        assert solution.bound == solution.objective


def test_min_runs_hold_against_covers_that_tempt_short_runs() -> None:
    # Covers on alternate days tempt one-day runs of work and of rest; both minima forbid them.
    member = Staff(
        "A", max_consecutive_shifts=4, min_consecutive_shifts=3, min_consecutive_days_off=2
    )
    covers = [need(day, "D", weight=100 if day % 2 else 1) for day in range(10)]
    solution = solved(problem((DAY,), covers, staff=(member,), days=10))
    worked = [("A", day) in solution.assignments for day in range(10)]
    runs = []
    start = 0
    for day in range(1, 11):
        if day == 10 or worked[day] != worked[start]:
            runs.append((worked[start], start, day - start))
            start = day
    inner = [(on, length) for on, first, length in runs if first > 0 and first + length < 10]
    assert inner
    assert all(length >= (3 if on else 2) for on, length in inner)


def test_the_model_module_still_names_every_type_and_check() -> None:
    for name in shift_model.__all__:
        assert getattr(shift_model, name) is getattr(
            shift_problem if hasattr(shift_problem, name) else shift_checks, name
        )
    assert shift_model.roster_violations is shift_checks.roster_violations
