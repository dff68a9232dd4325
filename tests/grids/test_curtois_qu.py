"""The Curtois & Qu (2014) benchmark: parser, independent objective and checker, one solve."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from geodata.errors import InputFileError
from grids.curtois_qu import curtois_qu_objective, curtois_qu_violations, read_curtois_qu
from grids.shift_model import problem_errors, roster_violations
from grids.shift_solver import solve

DATA = Path(__file__).parents[2] / "benchmarks" / "data" / "curtois_qu_2014"
with (DATA / "best_known.csv").open(newline="") as _handle:
    KNOWN = {int(row["instance"]): row for row in csv.DictReader(_handle)}


def _counts(number: int) -> dict[str, int]:
    problem = read_curtois_qu(DATA / KNOWN[number]["file"])
    return {
        "horizon_days": problem.horizon_days,
        "staff": len(problem.staff),
        "shift_types": len(problem.shift_types),
        "shift_on_requests": sum(r.on for r in problem.requests),
        "shift_off_requests": sum(not r.on for r in problem.requests),
        "cover_rows": len(problem.covers),
    }


@pytest.mark.parametrize("number", [1, 2, 8])
def test_parser_counts_match_the_published_table(number: int) -> None:
    expected = {key: int(KNOWN[number][key]) for key in _counts(number)}
    assert _counts(number) == expected


def test_instance1_reads_every_section() -> None:
    problem = read_curtois_qu(DATA / "Instance1.txt")
    assert problem_errors(problem) == []
    assert problem.first_weekday == 0
    member = problem.staff_by_id["A"]
    assert member.max_shifts == {"D": 14}
    assert (member.max_total_min, member.min_total_min) == (4320, 3360)
    assert (member.max_consecutive_shifts, member.min_consecutive_shifts) == (5, 2)
    assert (member.min_consecutive_days_off, member.max_weekends) == (2, 1)
    assert member.days_off == frozenset({0})
    assert all(c.under_weight == 100 and c.over_weight == 1 for c in problem.covers)
    assert problem.shift_types[0].length_min == 480


def test_instance1_solved_scores_the_same_independently() -> None:
    problem = read_curtois_qu(DATA / "Instance1.txt")
    solution = solve(problem, time_limit_s=10.0, workers=2)
    assert solution.found
    assert curtois_qu_violations(problem, solution.assignments) == []
    assert roster_violations(problem, solution.assignments) == []
    objective = curtois_qu_objective(problem, solution.assignments)
    assert objective == solution.objective
    assert solution.bound is not None
    assert solution.bound <= objective


def test_objective_of_the_empty_roster() -> None:
    problem = read_curtois_qu(DATA / "Instance1.txt")
    on_weights = sum(r.weight for r in problem.requests if r.on)
    shortfall = sum((c.under_weight or 0) * c.requirement for c in problem.covers)
    assert curtois_qu_objective(problem, {}) == on_weights + shortfall


def test_checker_finds_what_a_roster_breaks() -> None:
    problem = read_curtois_qu(DATA / "Instance1.txt")
    everyone_always = {(s.id, day): "D" for s in problem.staff for day in range(14)}
    found = "\n".join(curtois_qu_violations(problem, everyone_always))
    for words in ("minutes, at most", "in a row", "weekends", "day off"):
        assert words in found
    lonely = {("A", 3): "D"}
    found = "\n".join(curtois_qu_violations(problem, lonely))
    assert "1 shifts in a row from day 3, at least 2" in found
    assert "minutes, at least" in found


def test_checker_forbidden_succession() -> None:
    problem = read_curtois_qu(DATA / "Instance8.txt")
    first = next(t for t in problem.shift_types if t.forbidden_next)
    barred = sorted(first.forbidden_next)[0]
    roster = {("A", 3): first.id, ("A", 4): barred}
    assert any(f"after {first.id}" in v for v in curtois_qu_violations(problem, roster))


VALID = """SECTION_HORIZON
7
SECTION_SHIFTS
D,480,
SECTION_STAFF
A,D=7,4320,0,5,1,1,2
SECTION_DAYS_OFF
A,3
SECTION_SHIFT_ON_REQUESTS
A,1,D,2
SECTION_SHIFT_OFF_REQUESTS
SECTION_COVER
0,D,1,100,1
"""


def test_a_small_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_text(VALID.replace("\n", "\r\n"))
    problem = read_curtois_qu(path)
    assert problem.horizon_days == 7
    assert problem.staff[0].days_off == frozenset({3})
    assert len(problem.requests) == 1
    assert problem.requests[0].on


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("D,480,", "D,48x,", 4, "shift length must be an integer"),
        ("A,D=7,4320,0,5,1,1,2", "A,D=7,4320,0,5,1,1", 6, "expected 8"),
        ("A,D=7,", "A,Q=7,", 6, "unknown shift 'Q'"),
        ("A,3\n", "B,3\n", 8, "unknown staff 'B'"),
        ("A,1,D,2", "A,9,D,2", 10, "outside the horizon"),
        ("0,D,1,100,1", "0,D,1,100", 13, "expected 5"),
        ("SECTION_COVER", "SECTION_COVERS", 12, "unknown section"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    path = tmp_path / "bad.txt"
    assert old in VALID
    path.write_text(VALID.replace(old, new, 1))
    with pytest.raises(ValueError, match=words) as caught:
        read_curtois_qu(path)
    assert isinstance(caught.value, InputFileError)
    assert caught.value.row == line
    assert caught.value.file == str(path)


def test_missing_section(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text(VALID.split("SECTION_COVER", maxsplit=1)[0])
    with pytest.raises(ValueError, match="missing sections: SECTION_COVER"):
        read_curtois_qu(path)
