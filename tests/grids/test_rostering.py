"""Rostering through the whole pipeline: policy + posts + staff → demand → roster.

Each hard rule is tempted on a small instance (more demand than the staff can legally cover) and
checked on the assignment table itself, without the engine's own checks.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString

from grids import rostering
from grids.calendar import HolidayCalendar, china_holidays, week_dates
from grids.demand import demand_for_week
from grids.policy import DutyPolicy, EventPost, FullDeployment, LeaderDuty, huiji_default_policy
from grids.roster import ASSIGNMENT_COLUMNS
from grids.rostering import RosterOptions, RosterPlan, plan_roster, with_absences
from grids.rostering_engine import SCALE, shift_blocks, squad_problem
from grids.rostering_replan import assignment_changes
from grids.rostering_travel import RoadNetwork, TravelTimes
from grids.shift_model import ShiftProblem, ShiftSolution, SolveStatus
from grids.shift_solver import greedy_roster, penalty_breakdown
from grids.staff import LeavePeriod, Officer

WEEK = "2026-W49"
DAYS = week_dates(WEEK)
SQUAD = "S1"
LAT = 34.80
STEP = 0.005  # about 457 m of longitude at this latitude
OPTIONS = RosterOptions(time_limit_s=3.0, deterministic=True, posts_share=0.3)


def _road(x0: float, x1: float) -> LineString:
    count = round((x1 - x0) / STEP)
    return LineString([(x0 + i * STEP, LAT) for i in range(count + 1)])


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    """One straight road of about 25 km, west to east."""
    return gpd.GeoDataFrame(
        {"id": ["R1"], "name_zh": ["测试路"], "level": ["strict"]},
        geometry=[_road(113.40, 113.68)],
        crs="EPSG:4326",
    )


def _post(post_id: str, x0: float, *, level: str = "strict", **values: Any) -> dict[str, Any]:
    return {
        "id": post_id,
        "kind": "segment",
        "road_id": "R1",
        "road_name_zh": "测试路",
        "level": level,
        "length_m": 457.0,
        "radius_m": None,
        "unit_grid_codes": None,
        "squad_id": SQUAD,
        "windows": None,
        "attrs": {},
        "geometry": _road(x0, x0 + STEP),
        **values,
    }


def _posts(*posts: dict[str, Any]) -> gpd.GeoDataFrame:
    data = {key: [p[key] for p in posts] for key in posts[0] if key != "geometry"}
    return gpd.GeoDataFrame(data, geometry=[p["geometry"] for p in posts], crs="EPSG:4326").astype(
        {"length_m": "float64"}
    )


def _policy(**labour: Any) -> DutyPolicy:
    base = huiji_default_policy()
    return base.revised(
        operations=(),
        full_deployment=(),
        events=(),
        leader=LeaderDuty(on_duty=0),
        labour=replace(base.labour, **labour),
    )


def _officer(number: int, role: str = "officer", **values: Any) -> Officer:
    return Officer(id=f"P{number:02d}", name=f"测试{number}", squad_id=SQUAD, role=role, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


def _plan(
    posts: gpd.GeoDataFrame,
    staff: list[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    *,
    roads: gpd.GeoDataFrame | None = None,
    keep: Any = None,
    options: RosterOptions = OPTIONS,
    **more: Any,
) -> tuple[RosterPlan, pd.DataFrame]:
    demand = demand_for_week(posts, policy, calendar, WEEK, squads=[SQUAD], staff=staff)
    if keep is not None:
        demand = demand[keep(demand)].reset_index(drop=True)
    plan = plan_roster(
        demand, staff, policy, calendar, WEEK, posts=posts, roads=roads, options=options, **more
    )
    return plan, demand


# --- checks on the assignment table ------------------------------------------------------------


def _shifts(assignments: pd.DataFrame) -> dict[str, list[tuple[datetime, datetime, float]]]:
    """Return each person's duties: (start, end, hours worked) per date, in time order."""
    found: dict[str, list[tuple[datetime, datetime, float]]] = defaultdict(list)
    for (officer, _), group in assignments.groupby(["officer_id", "date"]):
        starts = pd.to_datetime(group["start"])
        ends = pd.to_datetime(group["end"])
        worked = float(((ends - starts).dt.total_seconds() / 3600).sum())
        found[str(officer)].append(
            (starts.min().to_pydatetime(), ends.max().to_pydatetime(), worked)
        )
    return {k: sorted(v) for k, v in found.items()}


def _check_one_place_at_a_time(assignments: pd.DataFrame) -> None:
    keys = assignments[["officer_id", "date", "slot_id"]]
    assert not keys.duplicated().any()
    for _, group in assignments.groupby("officer_id"):
        ordered = group.sort_values("start")
        starts = pd.to_datetime(ordered["start"]).to_numpy()
        ends = pd.to_datetime(ordered["end"]).to_numpy()
        assert (starts[1:] >= ends[:-1]).all()


def _check_labour(assignments: pd.DataFrame, policy: DutyPolicy) -> None:
    labour = policy.labour
    daily = labour.hours_per_day + (
        labour.max_overtime_hours_per_day if labour.overtime_allowed else 0
    )
    for duties in _shifts(assignments).values():
        for start, end, worked in duties:
            length = (end - start).total_seconds() / 3600
            assert worked == pytest.approx(length)  # one shift a day, without gaps
            assert length <= daily + 1e-9
        regular = sum(min(w, labour.hours_per_day) for *_, w in duties)
        assert regular <= labour.hours_per_week + 1e-9
        for (_, end, _), (start, _, _) in itertools.pairwise(duties):
            assert (start - end).total_seconds() / 3600 >= labour.min_rest_hours - 1e-9
        busy = set()
        for start, end, _ in duties:
            day = start.date()
            while datetime.combine(day, datetime.min.time()) < end:
                busy.add(day)
                day += timedelta(days=1)
        assert sum(1 for d in DAYS if d not in busy) >= labour.rest_days_per_week
        overtime: dict[int, float] = defaultdict(float)
        for start, _, worked in duties:
            overtime[start.month] += max(0.0, worked - labour.hours_per_day)
        if labour.overtime_allowed:
            assert all(v <= labour.max_overtime_hours_per_month + 1e-9 for v in overtime.values())
        else:
            assert not any(overtime.values())


def _check_roles(assignments: pd.DataFrame, demand: pd.DataFrame) -> None:
    role_of = dict(zip(demand["requirement_id"], demand["role"], strict=True))
    counted = assignments[assignments["requirement_id"].notna()]
    for row in counted.to_dict("records"):
        if role_of.get(row["requirement_id"]) == "officer":
            assert row["role"] == "officer"
    companions = assignments[
        assignments["requirement_id"].isna() & ~assignments["task"].isin(["reserve"])
    ]
    for row in companions.to_dict("records"):
        assert row["role"] == "assistant"
        alongside = counted[
            (counted["date"] == row["date"])
            & (counted["slot_id"] == row["slot_id"])
            & (counted["post_id"] == row["post_id"])
        ]
        assert (alongside["role"] == "officer").any()


def _check_coverage(plan: RosterPlan, demand: pd.DataFrame) -> None:
    served = plan.assignments["requirement_id"].value_counts()
    short = dict(zip(plan.uncovered["requirement_id"], plan.uncovered["short"], strict=True))
    for row in demand.to_dict("records"):
        assigned = int(served.get(row["requirement_id"], 0))
        assert assigned <= row["count"]
        assert short.get(row["requirement_id"], 0) == row["count"] - assigned


# --- shift types -------------------------------------------------------------------------------


@pytest.mark.parametrize("overtime", [False, True])
def test_shift_types_are_the_blocks_of_contiguous_slots_that_fit_a_day(overtime: bool) -> None:
    policy = _policy(overtime_allowed=overtime)
    slots = policy.slots_for("weekday")
    limit = 8 * 60 + (3 * 60 if overtime else 0)
    blocks = shift_blocks(policy, "weekday")
    by_id = {b.id: b for b in blocks}
    assert len(by_id) == len(blocks)
    day = [s for s in slots if s.kind == "day"]
    expected = set()
    for first in range(len(day)):
        for last in range(first, len(day)):
            minutes = sum(s.minutes for s in day[first : last + 1])
            if minutes <= limit:
                expected.add(tuple(s.id for s in day[first : last + 1]))
    night = [s for s in slots if s.kind == "night"]
    expected |= {(s.id,) for s in night if s.minutes <= limit}
    assert {b.slot_ids for b in blocks} == expected
    for block in blocks:
        assert block.length_min <= limit
        assert sum(policy.slot("weekday", s).minutes for s in block.slot_ids) == block.length_min
    assert {"0600-1200", "0800-1500", "1200-1800", "1500-2200", "2200-0600"} <= set(by_id)
    assert ("0800-1800" in by_id) is overtime


# --- hard rules ----------------------------------------------------------------------------------


def test_labour_law_holds_when_demand_asks_for_more(calendar: HolidayCalendar) -> None:
    posts = _posts(*(_post(f"A{n}", 113.40 + n * STEP) for n in range(4)))
    staff = [_officer(n) for n in range(1, 4)]
    policy = _policy()
    plan, demand = _plan(posts, staff, policy, calendar)
    assignments = plan.assignments
    assert list(assignments.columns) == list(ASSIGNMENT_COLUMNS)
    _check_one_place_at_a_time(assignments)
    _check_labour(assignments, policy)
    _check_coverage(plan, demand)
    # Each officer works as much as the law allows; the rest of the demand is reported short.
    hours = (
        assignments.assign(h=(assignments["end"] - assignments["start"]).dt.total_seconds() / 3600)
        .groupby("officer_id")["h"]
        .sum()
    )
    assert (hours > policy.labour.hours_per_week - 8).all()
    reasons = set(plan.uncovered["reason"])
    assert reasons <= {"hours exhausted", "rest rules", "no eligible officer free"}
    assert plan.report["coverage"]["strict"]["share"] < 1.0
    assert plan.report["uncovered_by_reason"]


def test_overtime_stays_within_its_daily_and_monthly_limits(calendar: HolidayCalendar) -> None:
    posts = _posts(*(_post(f"A{n}", 113.40 + n * STEP) for n in range(3)))
    staff = [_officer(n, contract_hours_week=44) for n in range(1, 3)]
    policy = _policy(overtime_allowed=True, max_overtime_hours_per_month=4.0)
    plan, _ = _plan(posts, staff, policy, calendar)
    _check_one_place_at_a_time(plan.assignments)
    _check_labour(plan.assignments, policy)
    lengths = [
        (end - start).total_seconds() / 3600
        for duties in _shifts(plan.assignments).values()
        for start, end, _ in duties
    ]
    assert max(lengths) > policy.labour.hours_per_day  # overtime is used when it helps


def test_an_assistant_never_counts_for_an_officer_post(calendar: HolidayCalendar) -> None:
    posts = _posts(
        _post("A1", 113.40),
        _post("A2", 113.40 + STEP),
        _post("G1", 113.40 + 2 * STEP, level="regulated", kind="point", windows="08:00-22:00"),
    )
    posts.loc[posts["id"] == "G1", "geometry"] = gpd.points_from_xy([113.41], [LAT])
    staff = [_officer(1), *(_officer(n, "assistant") for n in range(2, 6))]
    policy = _policy()
    plan, demand = _plan(posts, staff, policy, calendar)
    assignments = plan.assignments
    _check_roles(assignments, demand)
    _check_labour(assignments, policy)
    strict = demand[demand["kind"] == "strict_post"]["requirement_id"]
    on_strict = assignments[assignments["requirement_id"].isin(strict)]
    assert set(on_strict["role"]) == {"officer"}
    assistants = assignments[assignments["role"] == "assistant"]
    assert len(assistants) > 0
    short_strict = plan.uncovered[plan.uncovered["kind"] == "strict_post"]
    assert len(short_strict) > 0
    assert plan.report["coverage"]["regulated"]["share"] > 0


def test_travel_time_keeps_far_posts_apart(
    calendar: HolidayCalendar, roads: gpd.GeoDataFrame
) -> None:
    posts = _posts(_post("WEST", 113.40), _post("EAST", 113.62), _post("NEAR", 113.405))
    staff = [_officer(1, availability={d: frozenset({"morning", "midday"}) for d in range(1, 8)})]
    policy = _policy()

    def keep(demand: pd.DataFrame) -> pd.Series:
        morning_west = (demand["post_id"] == "WEST") & (demand["slot_id"] == "morning")
        midday = (demand["post_id"] == far) & (demand["slot_id"] == "midday")
        return morning_west | midday

    far = "EAST"
    plan, _ = _plan(posts, staff, policy, calendar, roads=roads, keep=keep)
    network = RoadNetwork(roads)
    assert network.node_count > 2
    by_day = plan.assignments[plan.assignments["requirement_id"].notna()].groupby("date")
    for _, group in by_day:
        assert set(group["post_id"]) != {"WEST", "EAST"}
    assert "travel" in set(plan.uncovered["reason"])
    assert plan.report["travel"]["reach_m"] == pytest.approx(15 / 60 * 15_000)
    far = "NEAR"
    near_plan, _ = _plan(posts, staff, policy, calendar, roads=roads, keep=keep)
    assert "travel" not in set(near_plan.uncovered["reason"])
    duty = near_plan.assignments
    both = duty.groupby("date")["slot_id"].apply(set) == {"morning", "midday"}
    assert both.any()
    for day in both[both].index:
        assert set(duty[duty["date"] == day]["post_id"]) == {"WEST", "NEAR"}


def test_road_network_distances(roads: gpd.GeoDataFrame) -> None:
    network = RoadNetwork(roads)
    points = gpd.GeoSeries.from_xy([113.40, 113.42, 113.62], [LAT, LAT, LAT], crs=4326).to_crs(4547)
    travel = TravelTimes(
        network, {"a": [points[0]], "b": [points[1]], "c": [points[2]]}, speed_kmh=15.0
    )
    metres = points[0].distance(points[1])
    assert travel.minutes("a", "b") == pytest.approx(metres / 15_000 * 60, rel=1e-6)
    assert travel.reachable("a", "b") is (metres <= travel.limit_m)
    assert math.isinf(travel.minutes("a", "c"))
    assert not travel.reachable("a", "c")
    assert travel.minutes("a", "unknown") == 0.0


def test_leaders_take_turns_within_their_hours(calendar: HolidayCalendar) -> None:
    posts = _posts(_post("A1", 113.40))
    policy = _policy().revised(leader=LeaderDuty(on_duty=1, rest_day_after=True))
    leaders = [
        Officer(id=f"L{n}", name=f"领导{n}", squad_id=None, role="leader") for n in (1, 2, 3)
    ]
    staff = [_officer(1), *leaders]
    plan, _ = _plan(posts, staff, policy, calendar, keep=lambda d: d["kind"] == "leader_duty")
    duties = plan.assignments[plan.assignments["task"] == "leader_duty"]
    per_leader = duties.groupby("officer_id")["date"].apply(sorted)
    for dates in per_leader:
        assert len(dates) * 24 <= policy.labour.hours_per_week
        assert all((b - a).days >= 2 for a, b in itertools.pairwise(dates))
    assert duties["date"].nunique() == len(duties)
    assert len(duties) == min(len(leaders), len(DAYS))
    short = plan.uncovered[plan.uncovered["kind"] == "leader_duty"]
    assert int(short["short"].sum()) == len(DAYS) - len(duties)
    assert set(short["reason"]) <= {"hours exhausted", "rest rules"}


# --- determinism, re-planning and pins -----------------------------------------------------------


@pytest.fixture(scope="module")
def week(calendar: HolidayCalendar) -> dict[str, Any]:
    posts = _posts(*(_post(f"A{n}", 113.40 + n * STEP) for n in range(3)))
    staff = [_officer(n) for n in range(1, 7)]
    policy = _policy()
    plan, demand = _plan(posts, staff, policy, calendar)
    return {"posts": posts, "staff": staff, "policy": policy, "plan": plan, "demand": demand}


def test_deterministic_mode_gives_the_same_roster(
    week: dict[str, Any], calendar: HolidayCalendar
) -> None:
    again, _ = _plan(week["posts"], week["staff"], week["policy"], calendar)
    pd.testing.assert_frame_equal(again.assignments, week["plan"].assignments)
    assert again.report["objective"] == week["plan"].report["objective"]
    assert again.report["coverage"] == week["plan"].report["coverage"]


def test_replanning_after_an_absence_changes_only_what_it_must(
    week: dict[str, Any], calendar: HolidayCalendar
) -> None:
    first = week["plan"].assignments
    absent = first["officer_id"].value_counts().index[0]
    since = DAYS[2]
    staff = with_absences(week["staff"], [(absent, since, DAYS[-1])])
    replanned, _ = _plan(week["posts"], staff, week["policy"], calendar, previous=first)
    fresh, _ = _plan(week["posts"], staff, week["policy"], calendar)
    new = replanned.assignments
    assert new[(new["officer_id"] == absent) & (new["date"] >= since)].empty
    _check_labour(new, week["policy"])
    changes = assignment_changes(first, new)
    assert replanned.report["changes"]["assignments"] == changes
    forced = len(first[(first["officer_id"] == absent) & (first["date"] >= since)])
    assert forced <= changes <= assignment_changes(first, fresh.assignments)
    before = first[first["date"] < since]
    kept = new[new["date"] < since]
    assert assignment_changes(before, kept) <= changes - forced


def test_published_days_stay_as_published(week: dict[str, Any], calendar: HolidayCalendar) -> None:
    first = week["plan"].assignments
    published = DAYS[1]
    absent = first[first["date"] > published]["officer_id"].iloc[0]
    staff = with_absences(week["staff"], [(absent, DAYS[3], DAYS[-1])])
    replanned, _ = _plan(
        week["posts"], staff, week["policy"], calendar, previous=first, publish_through=published
    )
    new = replanned.assignments
    columns = ["officer_id", "date", "slot_id", "post_id", "task", "requirement_id"]
    old_days = first[first["date"] <= published][columns].reset_index(drop=True)
    new_days = new[new["date"] <= published]
    pd.testing.assert_frame_equal(new_days[columns].reset_index(drop=True), old_days)
    assert new_days["pinned"].all()
    assert not new[new["date"] > published]["pinned"].any()
    assert new[(new["officer_id"] == absent) & (new["date"] >= DAYS[3])].empty


def test_replanning_for_a_new_event_post(week: dict[str, Any], calendar: HolidayCalendar) -> None:
    first = week["plan"].assignments
    event = EventPost(
        id="ev-test",
        name_zh="临时活动保障",
        start_date=DAYS[4],
        end_date=DAYS[4],
        slots=("morning",),
        officers=1,
        post_id="A0",
        weight=500.0,
    )
    policy = week["policy"].revised(events=(event,))
    replanned, demand = _plan(week["posts"], week["staff"], policy, calendar, previous=first)
    served = replanned.assignments[replanned.assignments["task"] == "event"]
    assert list(served["requirement_id"]) == list(
        demand[demand["kind"] == "event"]["requirement_id"]
    )
    assert served["date"].iloc[0] == DAYS[4]
    changes = replanned.report["changes"]["assignments"]
    assert 1 <= changes <= len(first[first["date"] == DAYS[4]]) + 2


def test_publish_through_needs_a_previous_roster(
    week: dict[str, Any], calendar: HolidayCalendar
) -> None:
    with pytest.raises(ValueError, match="previous"):
        plan_roster(
            week["demand"],
            week["staff"],
            week["policy"],
            calendar,
            WEEK,
            publish_through=DAYS[1],
        )


def test_leave_is_respected(week: dict[str, Any], calendar: HolidayCalendar) -> None:
    staff = [
        replace(o, leave=(LeavePeriod(DAYS[0], DAYS[3]),)) if o.id == "P01" else o
        for o in week["staff"]
    ]
    plan, _ = _plan(week["posts"], staff, week["policy"], calendar)
    mine = plan.assignments[plan.assignments["officer_id"] == "P01"]
    assert (mine["date"] > DAYS[3]).all()


# --- a run whose search finds no roster ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "proven"), [("UNKNOWN", None), ("UNKNOWN", 30.0), ("INFEASIBLE", math.inf)]
)
def test_a_run_without_a_roster_counts_with_the_greedy_roster(
    calendar: HolidayCalendar,
    monkeypatch: pytest.MonkeyPatch,
    status: SolveStatus,
    proven: float | None,
) -> None:
    posts = _posts(*(_post(f"A{n}", 113.40 + n * STEP) for n in range(4)))
    staff = [_officer(n) for n in range(1, 4)]
    problems: list[ShiftProblem] = []

    def nothing_found(problem: ShiftProblem, **options: Any) -> ShiftSolution:
        problems.append(problem)
        return ShiftSolution({}, status, None, proven, None, 0.01, None)

    monkeypatch.setattr(rostering, "solve", nothing_found)
    plan, _ = _plan(posts, staff, _policy(), calendar)
    (problem,) = problems
    greedy = sum(penalty_breakdown(problem, greedy_roster(problem)).values())
    assert greedy > 0  # more demand than three officers can cover
    (entry,) = plan.report["squads"]
    assert entry["greedy_fallback"]
    assert plan.report["greedy_fallback"] == [SQUAD]
    assert entry["objective"] == plan.report["objective"] == greedy / SCALE
    bound = proven if proven is not None and math.isfinite(proven) else 0.0
    assert entry["bound"] == plan.report["bound"] == min(bound, greedy) / SCALE
    assert plan.report["gap"] == pytest.approx((greedy - min(bound, greedy)) / greedy)
    assert len(plan.assignments) > 0


def test_time_left_goes_to_the_runs_not_proven(
    calendar: HolidayCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first search that proves nothing: the time the run leaves is searched again from its
    roster, which ends no worse and with the better of both bounds."""
    posts = _posts(*(_post(f"A{n}", 113.40 + n * STEP) for n in range(4)))
    staff = [_officer(n) for n in range(1, 4)]
    real = rostering.solve
    calls: list[dict[str, Any]] = []

    def unproven_first(problem: ShiftProblem, **options: Any) -> ShiftSolution:
        calls.append(options)
        if len(calls) == 1:
            roster = greedy_roster(problem)
            objective = sum(penalty_breakdown(problem, roster).values())
            return ShiftSolution(roster, "FEASIBLE", objective, None, None, 0.01, 0.01)
        return real(problem, **options)

    monkeypatch.setattr(rostering, "solve", unproven_first)
    options = RosterOptions(time_limit_s=8.0, workers=1, posts_share=0.3)
    plan, _ = _plan(posts, staff, _policy(), calendar, options=options)
    assert len(calls) == 2
    assert calls[1]["hint"]  # from the first roster
    (entry,) = plan.report["squads"]
    assert entry["bound"] is not None
    assert entry["objective"] >= entry["bound"]
    assert entry["time_limit_s"] > calls[0]["time_limit_s"]


def test_two_solves_of_a_run_merge_into_the_better_roster_and_bound() -> None:
    worse = ShiftSolution({("P", 0): "x"}, "FEASIBLE", 500, 100.0, 0.8, 2.0, 0.5)
    better = ShiftSolution({("P", 1): "x"}, "FEASIBLE", 300, 50.0, 0.83, 1.0, 0.7)
    merged = rostering._merged(worse, better)
    assert merged.assignments == better.assignments
    assert (merged.objective, merged.bound) == (300, 100.0)
    assert merged.gap == pytest.approx(200 / 300)
    assert merged.first_solution_s == 0.5
    assert merged.wall_time_s == 3.0
    proven = rostering._merged(better, replace(worse, bound=300.0))
    assert proven.assignments == better.assignments
    assert proven.status == "OPTIMAL"
    assert proven.gap == 0
    nothing = ShiftSolution({}, "UNKNOWN", None, None, None, 1.0, None)
    assert rostering._merged(better, nothing).assignments == better.assignments


def test_a_full_deployment_is_served_by_a_day_shift_only(calendar: HolidayCalendar) -> None:
    """A member on the night check alone is as short of the deployment as one at rest."""
    policy = _policy().revised(full_deployment=(FullDeployment(SQUAD, ("weekend",), weight=50.0),))
    staff = [_officer(n) for n in range(1, 5)]
    posts = _posts(_post("A", 113.40))
    demand = demand_for_week(posts, policy, calendar, WEEK, squads=[SQUAD], staff=staff)
    days = calendar.week_dates(WEEK)
    engine = squad_problem(demand, staff, policy, days, calendar.day_types(days))
    saturday = 5
    blocks = engine.blocks[saturday].values()
    night = next(b.id for b in blocks if b.kind == "night")
    day = next(b.id for b in blocks if b.kind == "day")
    assert ("P01", saturday) in engine.deployments

    def requests_penalty(shift: str | None) -> int:
        roster = {("P01", saturday): shift} if shift is not None else {}
        return penalty_breakdown(engine.problem, roster)["requests"]

    assert requests_penalty(night) == requests_penalty(None) > requests_penalty(day)
