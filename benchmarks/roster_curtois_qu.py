"""The roster engine on the staff-scheduling benchmark of Curtois & Qu (2014).

Each instance is read, solved by the same CP-SAT engine that builds dutygrid's duty rosters
(:func:`grids.shift_solver.solve`), checked against every hard rule by an independent checker
and scored by an independent objective; the table compares the objective reached with the best
known upper bound. The goal: within 5 % of the best known on instances 1–8 at 60 s.

Run: ``python benchmarks/roster_curtois_qu.py [1 2 … 24] [--time-limit 60] [--workers 2]
[--baseline]``. ``--baseline`` also runs, on each instance and for the same time, CP-SAT's own
portfolio on the engine's model and hint (what the engine's search adds to plain CP-SAT), and
prints its objective beside the engine's.
``--synthetic-week STAFF`` instead times a dutygrid-like week (labour law, duty-slot covers by
squad and skill) for that many staff.

Instances: T. Curtois and R. Qu, Computational results on new staff scheduling benchmark
instances, University of Nottingham, 2014 (free for research use); best-known values from the
wssuite/NurseScheduler repository (MIT), ``benchmark/nrp.yml``. See
``data/curtois_qu_2014/SOURCES.md``.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

from ortools.sat.python import cp_model

from grids.curtois_qu import (
    CITATION,
    curtois_qu_objective,
    curtois_qu_violations,
    read_curtois_qu,
)
from grids.shift_cpmodel import RosterModel
from grids.shift_greedy import GREEDY_BUDGET, greedy_indexed
from grids.shift_index import ProblemIndex
from grids.shift_model import (
    Cover,
    LabourRules,
    ShiftProblem,
    ShiftType,
    Staff,
    roster_violations,
)
from grids.shift_solver import solve

DATA = Path(__file__).parent / "data" / "curtois_qu_2014"


def best_known() -> dict[int, dict[str, str]]:
    with (DATA / "best_known.csv").open(newline="") as handle:
        return {int(row["instance"]): row for row in csv.DictReader(handle)}


def portfolio_objective(problem: ShiftProblem, time_limit: float, workers: int) -> int | None:
    """Return the objective plain CP-SAT reaches on the engine's model and hint, or None."""
    started = time.perf_counter()
    index = ProblemIndex(problem)
    built = RosterModel(index)
    built.add_hint(greedy_indexed(index, built.holders, GREEDY_BUDGET))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.max_time_in_seconds = max(0.1, time_limit - (time.perf_counter() - started))
    if solver.solve(built.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    assignments = {
        (index.staff[s].id, day): index.shifts[t].id
        for (s, day, t), var in built.x.items()
        if solver.value(var)
    }
    return curtois_qu_objective(problem, assignments)


def run_instances(numbers: list[int], time_limit: float, workers: int, baseline: bool) -> int:
    known = best_known()
    header = (
        f"{'instance':>8} {'staff':>5} {'days':>4} {'objective':>9} {'best':>6} "
        f"{'gap %':>7} {'bound':>9} {'first s':>7} {'time s':>6}  status"
    )
    if baseline:
        header += "      portfolio  gap %"
    print(f"time limit {time_limit:g} s, {workers} workers\n")
    print(header)
    print("-" * len(header))
    gaps: dict[int, float] = {}
    baseline_gaps: dict[int, float] = {}
    failures = 0
    for number in numbers:
        row = known[number]
        problem = read_curtois_qu(DATA / row["file"])
        solution = solve(problem, time_limit_s=time_limit, workers=workers)
        best = int(row["best_known_objective_ub"])
        if not solution.found:
            failures += 1
            print(
                f"{number:>8} {len(problem.staff):>5} {problem.horizon_days:>4} {'—':>9} "
                f"{best:>6} {'—':>7} {'—':>9} {'—':>7} {solution.wall_time_s:>6.1f}  "
                f"{solution.status}"
            )
            continue
        objective = curtois_qu_objective(problem, solution.assignments)
        violations = curtois_qu_violations(problem, solution.assignments)
        if violations or objective != solution.objective:
            failures += 1
            print(
                f"  instance {number}: {len(violations)} hard violations, objective "
                f"{objective} (solver said {solution.objective}): {violations[:3]}"
            )
        gaps[number] = 100.0 * (objective - best) / best
        bound = f"{solution.bound:.0f}" if solution.bound is not None else "—"
        first = solution.first_solution_s or 0.0
        line = (
            f"{number:>8} {len(problem.staff):>5} {problem.horizon_days:>4} {objective:>9} "
            f"{best:>6} {gaps[number]:>7.2f} {bound:>9} {first:>7.2f} "
            f"{solution.wall_time_s:>6.1f}  {solution.status:<8}"
        )
        if baseline:
            plain = portfolio_objective(problem, time_limit, workers)
            if plain is None:
                line += f" {'—':>14} {'—':>6}"
            else:
                baseline_gaps[number] = 100.0 * (plain - best) / best
                line += f" {plain:>14} {baseline_gaps[number]:>6.2f}"
        print(line, flush=True)
    print()
    for label, wanted in (("instances 1–8", range(1, 9)), ("all 24", range(1, 25))):
        ran = [n for n in wanted if n in numbers]
        got = [gaps[n] for n in ran if n in gaps]
        if not ran:
            continue
        summary = f"{label}: {len(got)} of the {len(ran)} run solved"
        if got:
            within = sum(g <= 5.0 for g in got)
            summary += (
                f", mean gap to best known {statistics.mean(got):.2f} %, "
                f"worst {max(got):.2f} %, {within} within 5 %"
            )
        plain_gaps = [baseline_gaps[n] for n in ran if n in baseline_gaps]
        if plain_gaps:
            plain_within = sum(g <= 5.0 for g in plain_gaps)
            summary += (
                f"; plain CP-SAT portfolio: {len(plain_gaps)} solved, mean gap "
                f"{statistics.mean(plain_gaps):.2f} %, {plain_within} within 5 %"
            )
        print(summary)
    print(f"\nInstances and best-known values: {CITATION}.")
    print("Best-known values: wssuite/NurseScheduler (MIT), benchmark/nrp.yml.")
    return 1 if failures else 0


def synthetic_week(staff_count: int, seed: int = 7) -> ShiftProblem:
    """Return a dutygrid-like week: squads of ~100, officers and assistants, 2-hour duty slots."""
    rng = random.Random(seed)
    shifts = (
        ShiftType("early", 6 * 60, 8 * 60),
        ShiftType("day", 8 * 60, 8 * 60),
        ShiftType("middle", 10 * 60, 8 * 60),
        ShiftType("late", 14 * 60, 8 * 60),
        ShiftType("evening", 16 * 60, 8 * 60),
        ShiftType("night", 22 * 60, 8 * 60),
        ShiftType("long", 8 * 60, 10 * 60),
    )
    squads = max(1, round(staff_count / 100))
    staff = []
    for i in range(staff_count):
        squad = f"squad{i % squads:02d}"
        role = "officer" if (i // squads) % 10 < 7 else "assistant"
        staff.append(Staff(f"p{i:04d}", skills=frozenset({squad, f"{squad}/{role}"})))
    covers = []
    for number in range(squads):
        size = sum(1 for i in range(staff_count) if i % squads == number)
        for day in range(7):
            for start in range(0, 24 * 60, 120):
                peak = 8 * 60 <= start < 20 * 60
                for role, share in (("officer", 0.7), ("assistant", 0.3)):
                    # About 5 of 7 days at 8 h cover a 24-hour day with ~size/4.2 on duty.
                    base = size * share * (0.26 if peak else 0.09)
                    need = max(0, round(base * rng.uniform(0.85, 1.15)))
                    covers.append(
                        Cover(
                            day=day,
                            window=(start, start + 120),
                            skill=f"squad{number:02d}/{role}",
                            requirement=need,
                            under_weight=1000 if role == "officer" else 100,
                            over_weight=1,
                            label=f"squad{number:02d} {role}",
                        )
                    )
    return ShiftProblem(
        horizon_days=7,
        first_weekday=0,
        shift_types=shifts,
        staff=tuple(staff),
        covers=tuple(covers),
        labour=LabourRules.prc_standard(overtime=True),
    )


def run_synthetic(staff_count: int, time_limit: float, workers: int) -> int:
    started = time.perf_counter()
    problem = synthetic_week(staff_count)
    print(
        f"synthetic week: {len(problem.staff)} staff, {len(problem.covers)} duty-slot covers, "
        f"{len(problem.shift_types)} shift types, PRC labour rules with overtime"
    )
    solution = solve(
        problem,
        time_limit_s=time_limit,
        workers=workers,
        progress=lambda e: print(
            f"  {e.wall_time_s:7.1f} s  objective {e.objective}  bound {e.bound:.0f}", flush=True
        ),
    )
    violations = roster_violations(problem, solution.assignments)
    reasons: dict[str, int] = {}
    for item in solution.uncovered:
        reasons[item.reason] = reasons.get(item.reason, 0) + item.short
    print(
        f"{solution.status}: objective {solution.objective}, bound {solution.bound}, "
        f"first roster {solution.first_solution_s or 0:.1f} s, solve {solution.wall_time_s:.1f} s, "
        f"total with generation and checks {time.perf_counter() - started:.1f} s"
    )
    print(f"penalties {solution.penalties}; hard-rule violations {len(violations)}")
    print(f"short covers: {len(solution.uncovered)} ({reasons})")
    return 1 if violations or not solution.found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instances", nargs="*", type=int, help="instance numbers (default: all)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT search workers")
    parser.add_argument("--synthetic-week", type=int, metavar="STAFF", help="time a dutygrid week")
    parser.add_argument(
        "--baseline", action="store_true", help="also run plain CP-SAT for the same time"
    )
    args = parser.parse_args()
    if args.synthetic_week:
        sys.exit(run_synthetic(args.synthetic_week, args.time_limit, args.workers))
    numbers = args.instances or list(range(1, 25))
    unknown = [n for n in numbers if not 1 <= n <= 24]
    if unknown:
        parser.error(f"no instance {unknown}: choose from 1 to 24")
    sys.exit(run_instances(numbers, args.time_limit, args.workers, args.baseline))


if __name__ == "__main__":
    main()
