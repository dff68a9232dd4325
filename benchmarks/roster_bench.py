"""A week's roster by the engine against the greedy roster, for Huiji and for a city.

Two weeks are rostered with :func:`grids.rostering.plan_roster`, each twice in the same run:

- **engine**: the CP-SAT shift engine, as ``dutygrid roster solve`` runs it;
- **greedy**: the same pipeline (posts stage included) with the engine's search replaced by
  :func:`grids.shift_solver.greedy_roster`, the quick roster that keeps every labour rule.

The weeks:

(a) **huiji**: the bundled Huiji data built as ``dutygrid demo`` builds it (unit grids, posts,
    DEMO staff sized for the week), week 2026-W49, roads limiting moves between posts;
(b) **city**: a SYNTHETIC city generated from ``--seed`` (110 squads, over 6,000 posts, over
    3,000 officers sized as the demo staff is, the Huiji policy with its operations spread
    over the synthetic squads), no roads.

Times are taken from the progress events of ``plan_roster``; the shift engine solves the squads
one after the other (and gives the time they leave to the unproven ones, which search again), so
the week's times add up the seconds each squad was searched:

- *first feasible*: the start of the first squad plus each squad's time to its first roster (the
  time a week's roster would exist had each squad stopped at its first);
- *to 1 % gap*: likewise, each squad's time until its roster is within 1 % of its bound (the week
  is then within 1 % too); "not reached" with the final gap otherwise. A run is within 1 % at the
  first progress event whose roster and bound (the best known at that moment: CP-SAT's, or the
  linear relaxation's computed before the search) are within 1 %, or else at its end if its
  final gap is; bounds proven between two rosters are only seen at the next event or the end,
  so the time is never early.

Objective: weight-hours of demand left uncovered, plus requests (lower is better); bound: the
engine's lower bound on it. A run whose search found no roster keeps the greedy roster, scored
by the same objective, with the search's bound (or 0); the totals count it and the table marks
it. Goals (issue #4): Huiji optimal or within 1 % in 60 s; the city feasible in 120 s.

Run: ``python benchmarks/roster_bench.py [--only huiji|city] [--time-limit S] [--workers N]
[--seed 49] [--huiji-db PATH] [--runs]``. The default time limit is 60 s for Huiji and 120 s for
the city. ``--huiji-db`` keeps the built Huiji database to reuse on the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from unittest import mock

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString, Point, box

from grids import rostering
from grids.calendar import HolidayCalendar, china_holidays
from grids.demand import demand_for_week
from grids.demo_staff import SIZING_UTILISATION
from grids.policy import DutyPolicy, huiji_default_policy
from grids.rostering import RosterOptions, RosterPlan, RosterProgress, plan_roster
from grids.shift_model import ShiftProblem, ShiftSolution
from grids.shift_solver import ProgressEvent, diagnose_uncovered, greedy_roster, penalty_breakdown
from grids.staff import DEFAULT_CONTRACT_HOURS, Officer

WEEK = "2026-W49"
GAP_TARGET = 0.01
HUIJI_LIMIT_S = 60.0
CITY_LIMIT_S = 120.0
CITY_SQUADS = 110
POSTS_PER_SQUAD = 56
LEVEL_ORDER = (
    "strict",
    "controlled",
    "regulated",
    "operations",
    "events",
    "full_deployment",
    "leader",
)


@dataclass
class Week:
    """What a week's roster is made from."""

    name: str
    label: str
    demand: pd.DataFrame
    staff: list[Officer]
    policy: DutyPolicy
    calendar: HolidayCalendar
    posts: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame | None = None
    zones: gpd.GeoDataFrame | None = None
    setup_s: float = 0.0


@dataclass
class RunTimes:
    """One shift-engine run (a squad, or the leaders) as the progress events show it.

    ``start`` and ``end`` are moments of the roster; ``first`` and ``within_target`` are seconds
    of the run's own search (``active_s`` in all) until its first roster and until it is within
    the target gap.
    """

    start: float
    end: float = math.nan
    active_s: float = 0.0
    first: float | None = None
    within_target: float | None = None


@dataclass
class Result:
    """One roster of a week: its report, and the times read from the progress events."""

    plan: RosterPlan
    wall_s: float
    runs: dict[str, RunTimes] = field(default_factory=dict)
    first_feasible_s: float | None = None
    to_target_s: float | None = None


# --- the weeks -------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def huiji_week(db: Path | None) -> Week:
    """Build (or reuse) the Huiji demo database and return its week: DEMO staff."""
    from server.cli import init_command
    from server.cli_grids import grids_build_command, posts_build_command
    from server.cli_roster import staff_demo_command
    from server.roster_store import RosterStore
    from server.storage import Store

    started = time.perf_counter()
    path = db or Path(tempfile.mkdtemp(prefix="roster-bench-")) / "huiji.sqlite"
    if not path.exists():
        print(f"building the Huiji demo database in {path} (grids, posts, demo staff) …")
        database = str(path)
        with _quiet():
            init_command(db=database, force=True, as_json=True)
            grids_build_command(db=database, as_json=True)
            posts_build_command(db=database, as_json=True)
            staff_demo_command(db=database, sized_for=WEEK, as_json=True)
    with Store.open(str(path), create=False) as store:
        rosters = RosterStore(store)
        policy, _ = rosters.current_policy()
        staff = rosters.staff()
        posts = store.read_layer("posts")
        roads = store.read_layer("roads")
        zones = store.read_layer("zones")
        squads = list(store.read_layer("squads")["id"])
    calendar = china_holidays()
    demand = demand_for_week(posts, policy, calendar, WEEK, squads=squads, zones=zones, staff=staff)
    return Week(
        "huiji",
        f"Huiji demo week {WEEK} (bundled data, DEMO staff)",
        demand,
        staff,
        policy,
        calendar,
        posts,
        roads,
        zones,
        time.perf_counter() - started,
    )


def _segment(
    post_id: str, level: str, squad: str, road: int, origin: tuple[float, float]
) -> dict[str, Any]:
    x, y = origin
    return {
        "id": post_id,
        "kind": "segment",
        "road_id": f"{squad}-R{road}",
        "road_name_zh": f"合成路{road}号",
        "level": level,
        "squad_id": squad,
        "windows": None,
        "geometry": LineString([(x, y), (x + 0.004, y)]),
    }


def _city_posts(rng: random.Random, squads: Sequence[str]) -> gpd.GeoDataFrame:
    """Return POSTS_PER_SQUAD posts a squad: strict, controlled, guidance points, other streets."""
    windows = ("07:00-09:00;17:00-19:00", "11:00-13:30;17:00-21:00", "18:00-22:00")
    features: list[dict[str, Any]] = []
    for number, squad in enumerate(squads):
        x0, y0 = 112.5 + (number % 11) * 0.06, 34.4 + (number // 11) * 0.06
        strict, controlled, points = rng.randint(7, 9), rng.randint(10, 14), rng.randint(4, 6)
        posts: list[dict[str, Any]] = []
        for n in range(strict):
            posts.append(_segment(f"{squad}-S{n:02d}", "strict", squad, 1 + n // 4, (x0, y0)))
        for n in range(controlled):
            posts.append(_segment(f"{squad}-C{n:02d}", "controlled", squad, 3 + n // 5, (x0, y0)))
        for n in range(points):
            posts.append(
                {
                    "id": f"{squad}-G{n:02d}",
                    "kind": "point",
                    "road_id": None,
                    "road_name_zh": "合成街",
                    "level": "regulated",
                    "squad_id": squad,
                    "windows": rng.choice(windows),
                    "geometry": Point(x0 + n * 0.002, y0 + 0.01),
                }
            )
        n = 0
        while len(posts) < POSTS_PER_SQUAD:  # regulated streets with no staffing windows
            posts.append(_segment(f"{squad}-R{n:02d}", "regulated", squad, 9 + n // 6, (x0, y0)))
            n += 1
        for post in posts:
            if post["kind"] == "segment":
                post["length_m"] = round(rng.uniform(250.0, 600.0), 1)
            else:
                post["length_m"] = 0.0
        features += posts
    frame = pd.DataFrame(features)
    geometry = frame.pop("geometry")
    frame["attrs"] = pd.Series([{} for _ in range(len(frame))], dtype=object)
    return gpd.GeoDataFrame(frame, geometry=list(geometry), crs="EPSG:4326")


def _city_policy(squads: Sequence[str]) -> DutyPolicy:
    """Return the Huiji policy with its squad-bound rules spread over the synthetic squads."""
    base = huiji_default_policy()
    operations = tuple(
        replace(op, squad_ids=tuple(squads[::10])) if op.squad_ids else op for op in base.operations
    )
    deployments = tuple(replace(d, squad_id=squads[0]) for d in base.full_deployment)
    return replace(
        base,
        name="SYNTHETIC city (generated for the roster benchmark)",
        operations=operations,
        full_deployment=deployments,
    )


def _city_zones(squads: Sequence[str]) -> gpd.GeoDataFrame:
    chosen = squads[3::8]
    return gpd.GeoDataFrame(
        {
            "id": [f"{s}-NM" for s in chosen],
            "name_zh": [f"合成夜市{n}" for n in range(len(chosen))],
            "name_en": [None] * len(chosen),
            "kind": ["night_market"] * len(chosen),
            "squad_id": list(chosen),
            "attrs": [{} for _ in chosen],
        },
        geometry=[box(112.5, 34.4, 112.51, 34.41) for _ in chosen],
        crs="EPSG:4326",
    )


def _sized(hours: Mapping[str, float], squad: str, low: int) -> int:
    return max(
        low, math.ceil(hours.get(squad, 0.0) / (DEFAULT_CONTRACT_HOURS * SIZING_UTILISATION))
    )


def city_week(seed: int) -> Week:
    """Return a SYNTHETIC city week: posts, zones, policy and staff generated from ``seed``."""
    started = time.perf_counter()
    rng = random.Random(seed)
    squads = [f"SYN-{n:03d}" for n in range(1, CITY_SQUADS + 1)]
    posts = _city_posts(rng, squads)
    policy = _city_policy(squads)
    zones = _city_zones(squads)
    calendar = china_holidays()
    first = demand_for_week(posts, policy, calendar, WEEK, squads=squads, zones=zones)
    hours = first.groupby(["squad_id", "role"])["hours"].sum().reset_index()
    officer_hours: dict[str, float] = {}
    any_hours: dict[str, float] = {}
    for squad_id, role, value in hours.itertuples(index=False):
        if role in ("officer", "any"):
            (officer_hours if role == "officer" else any_hours)[str(squad_id)] = float(value)
    staff: list[Officer] = []
    for squad in squads:
        officers = _sized(officer_hours, squad, 8)
        assistants = _sized(any_hours, squad, 2)
        staff += [
            Officer(f"{squad}-O{n:03d}", f"合成队员{n}", squad, "officer", demo=True)
            for n in range(1, officers + 1)
        ]
        staff += [
            Officer(f"{squad}-A{n:03d}", f"合成协管{n}", squad, "assistant", demo=True)
            for n in range(1, assistants + 1)
        ]
    staff += [Officer(f"SYN-L{n:02d}", f"合成领导{n}", None, "leader", demo=True) for n in range(7)]
    demand = demand_for_week(posts, policy, calendar, WEEK, squads=squads, zones=zones, staff=staff)
    return Week(
        "city",
        f"SYNTHETIC city week {WEEK} (seed {seed}; generated posts, staff and policy; no roads)",
        demand,
        staff,
        policy,
        calendar,
        posts,
        None,
        zones,
        time.perf_counter() - started,
    )


# --- rostering -------------------------------------------------------------------------------


def _greedy_solve(
    problem: ShiftProblem,
    *,
    time_limit_s: float = 0.0,
    deterministic: bool = False,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    hint: Mapping[tuple[str, int], str | None] | None = None,
    relaxation: bool = False,
) -> ShiftSolution:
    """Stand in for :func:`grids.shift_solver.solve`: the greedy roster, no search."""
    del time_limit_s, deterministic, seed, workers, hint, relaxation
    started = time.perf_counter()
    assignments = greedy_roster(problem)
    penalties = penalty_breakdown(problem, assignments)
    objective = sum(penalties.values())
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress(ProgressEvent(elapsed, objective, 0.0))
    return ShiftSolution(
        assignments=assignments,
        status="FEASIBLE",
        objective=objective,
        bound=None,
        gap=None,
        wall_time_s=time.perf_counter() - started,
        first_solution_s=elapsed,
        penalties=penalties,
        uncovered=diagnose_uncovered(problem, assignments),
    )


def _gap(objective: float, bound: float | None) -> float:
    if bound is None:
        return 0.0 if objective == 0 else math.inf
    return abs(objective - bound) / max(1.0, abs(objective))


def _timeline(
    events: Sequence[tuple[float, RosterProgress]], report: Mapping[str, Any]
) -> tuple[dict[str, RunTimes], float | None, float | None]:
    """Return each engine run's times, and the week's time to a first roster and to the target.

    A run may be searched more than once (the time the others leave goes to the unproven ones);
    its times count the seconds it was searched, not those of the runs in between.
    """
    runs: dict[str, RunTimes] = {}
    current: str | None = None
    since = math.nan

    def active(name: str, moment: float) -> float:
        run = runs[name]
        return run.active_s + (moment - since if name == current else 0.0)

    def close(moment: float) -> None:
        if current is not None:
            runs[current].active_s += moment - since
            runs[current].end = moment

    for moment, event in events:
        if event.stage != "shifts":
            continue
        if event.done == event.total and event.label == "done":
            close(moment)
            current = None
            continue
        if event.objective is None:  # a run (or its second search) starts
            close(moment)
            current, since = event.label, moment
            runs.setdefault(event.label, RunTimes(start=moment))
            continue
        run = runs.setdefault(event.label, RunTimes(start=moment))
        now = active(event.label, moment)
        if run.first is None:
            run.first = now
        if run.within_target is None and _gap(event.objective, event.bound) <= GAP_TARGET:
            run.within_target = now
    final = {entry["squad_id"]: entry for entry in report.get("squads", [])}
    for name, run in runs.items():
        entry = final.get(name, {})
        if entry.get("objective") is not None and run.first is None:
            run.first = run.active_s
        gap = entry.get("gap")
        if run.within_target is None and gap is not None and gap <= GAP_TARGET:
            run.within_target = run.active_s
    if not runs:
        return runs, None, None
    origin = min(run.start for run in runs.values())
    firsts = [run.first for run in runs.values()]
    targets = [run.within_target for run in runs.values()]
    first = origin + sum(t for t in firsts if t is not None) if None not in firsts else None
    target = origin + sum(t for t in targets if t is not None) if None not in targets else None
    return runs, first, target


def roster(week: Week, options: RosterOptions, *, greedy: bool = False) -> Result:
    """Return the week's roster by the engine (or the greedy roster), timed by its events."""
    events: list[tuple[float, RosterProgress]] = []
    started = time.perf_counter()

    def record(event: RosterProgress) -> None:
        events.append((time.perf_counter() - started, event))

    patch = (
        mock.patch.object(rostering, "solve", _greedy_solve) if greedy else contextlib.nullcontext()
    )
    with patch:
        plan = plan_roster(
            week.demand,
            week.staff,
            week.policy,
            week.calendar,
            WEEK,
            posts=week.posts,
            roads=week.roads,
            zones=week.zones,
            options=options,
            progress=record,
        )
    wall = time.perf_counter() - started
    runs, first, target = _timeline(events, plan.report)
    return Result(plan, wall, runs, first, target)


# --- the table -------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _ratio(engine: float | None, greedy: float | None) -> str:
    if engine is None or greedy is None or greedy == 0:
        return "—"
    return f"{engine / greedy:.3f}"


def _stage_end(result: Result) -> float | None:
    ends = [run.end for run in result.runs.values() if math.isfinite(run.end)]
    return max(ends) if ends else None


def _statuses(result: Result) -> str:
    counts: dict[str, int] = {}
    for entry in result.plan.report.get("squads", []):
        key = "greedy fallback" if entry.get("greedy_fallback") else str(entry.get("status"))
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _hours_share(entry: Mapping[str, Any]) -> float | None:
    required = float(entry.get("hours_required") or 0.0)
    return float(entry.get("hours_covered") or 0.0) / required if required else None


def print_week(week: Week, engine: Result, greedy: Result, limit: float) -> None:
    """Print the figures of a week: engine, greedy and their ratio."""
    roles = {"officer": 0, "assistant": 0, "leader": 0}
    for person in week.staff:
        roles[person.role] += 1
    print(f"\n{week.label}")
    print(
        f"  {len(week.posts):,} posts, {roles['officer']:,} officers, {roles['assistant']:,} "
        f"assistants, {roles['leader']} leaders; {len(week.demand):,} requirements; "
        f"set up in {week.setup_s:.1f} s"
    )
    report, base = engine.plan.report, greedy.plan.report
    runs = report.get("squads", [])
    # A run whose search found no roster keeps the greedy roster; the report scores it by the
    # engine's objective, with the search's bound (or 0), and names it in ``greedy_fallback``.
    fallbacks = list(report.get("greedy_fallback", []))
    missing = len(fallbacks)
    marker = f" ({missing} of {len(runs)} runs greedy)" if missing else ""
    objective: float = report["objective"]
    objective_text = f"{objective:,.1f}{marker}"
    if engine.to_target_s is not None:
        target = _seconds(engine.to_target_s)
    else:
        target = f"not reached (final {report['gap']:.2%})"
    rows: list[tuple[str, str, str, str]] = [
        ("time limit (s)", f"{limit:g}", f"{base['time_limit_s']:g}", ""),
        (
            "first feasible roster (s)",
            _seconds(engine.first_feasible_s),
            _seconds(greedy.first_feasible_s),
            "",
        ),
        (f"to {GAP_TARGET:.0%} gap (s)", target, "", ""),
        ("shift stage done (s)", _seconds(_stage_end(engine)), _seconds(_stage_end(greedy)), ""),
        ("wall time (s)", f"{engine.wall_s:.1f}", f"{greedy.wall_s:.1f}", ""),
        (
            "objective (weight-h)",
            objective_text,
            f"{base['objective']:,.1f}",
            _ratio(objective, base["objective"]),
        ),
        ("bound (weight-h)", f"{report['bound']:,.1f}{marker}", "", ""),
        (
            "gap",
            f"{report['gap']:.2%}{marker}",
            f"{_gap(base['objective'], report['bound']):.2%} *",
            "",
        ),
        ("engine runs", _statuses(engine), _statuses(greedy), ""),
        ("hard requirements short", str(report["hard_uncovered"]), str(base["hard_uncovered"]), ""),
    ]
    order = {level: n for n, level in enumerate(LEVEL_ORDER)}
    for level in sorted(report.get("coverage", {}), key=lambda lv: order.get(lv, 99)):
        mine = report["coverage"][level]
        theirs = base.get("coverage", {}).get(level, {})
        share, other = _hours_share(mine), _hours_share(theirs)
        rows.append(
            (
                f"coverage {level} (hours)",
                "—" if share is None else f"{share:.1%}",
                "—" if other is None else f"{other:.1%}",
                _ratio(share, other),
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"  {'':<{width}}  {'engine':>28}  {'greedy':>16}  {'engine/greedy':>13}")
    for name, mine, theirs, ratio in rows:
        print(f"  {name:<{width}}  {mine:>28}  {theirs:>16}  {ratio:>13}")
    print("  * the greedy roster's gap to the engine's bound")


def print_runs(result: Result) -> None:
    """Print each engine run: start, time to its first roster and to the target, final gap."""
    final = {entry["squad_id"]: entry for entry in result.plan.report.get("squads", [])}
    print(
        f"  {'run':<10} {'start s':>8} {'first s':>8} {'to 1 % s':>9} {'search s':>9} "
        f"{'end s':>8} {'gap':>8}"
    )
    for name, run in result.runs.items():
        gap = final.get(name, {}).get("gap")
        print(
            f"  {name:<10} {run.start:>8.1f} {_seconds(run.first):>8} "
            f"{_seconds(run.within_target):>9} {run.active_s:>9.1f} {run.end:>8.1f} "
            f"{'—' if gap is None else f'{gap:.2%}':>8}"
        )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("huiji", "city"), help="run one week only")
    parser.add_argument("--time-limit", type=float, help="seconds a week (60 Huiji, 120 city)")
    parser.add_argument("--workers", type=int, help="search workers (default: one per core)")
    parser.add_argument("--seed", type=int, default=49, help="seed of the synthetic city")
    parser.add_argument("--huiji-db", type=Path, help="build (or reuse) the Huiji database here")
    parser.add_argument("--runs", action="store_true", help="print each engine run's times")
    args = parser.parse_args()
    print(
        f"roster benchmark: {os.cpu_count()} cores, workers {args.workers or 'one per core'}; "
        "times on a shared machine are noisy, compare the ratios"
    )
    weeks: list[tuple[Callable[[], Week], float]] = []
    if args.only in (None, "huiji"):
        weeks.append((lambda: huiji_week(args.huiji_db), args.time_limit or HUIJI_LIMIT_S))
    if args.only in (None, "city"):
        weeks.append((lambda: city_week(args.seed), args.time_limit or CITY_LIMIT_S))
    for make, limit in weeks:
        week = make()
        options = RosterOptions(time_limit_s=limit, workers=args.workers, seed=args.seed)
        engine = roster(week, options)
        # The greedy roster needs no search: its time limit is the posts stage's share.
        greedy_options = replace(options, time_limit_s=limit * options.posts_share)
        greedy = roster(week, greedy_options, greedy=True)
        print_week(week, engine, greedy, limit)
        if args.runs:
            print_runs(engine)


if __name__ == "__main__":
    main()
