"""Coverage of small hand-built rosters whose coverage is known from how they were built."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from geodata.errors import FieldError
from grids.calendar import HolidayCalendar, china_holidays
from grids.coverage import (
    STATUSES,
    RosterCoverage,
    coverage_by_post,
    coverage_by_slot,
    coverage_summary,
    covered_length,
    day_timeline,
    duty_slots,
    gaps,
    people_on_duty,
    rematch,
    roster_coverage,
    seamless_check,
    slot_at,
    solver_reasons,
)
from grids.demand import demand_for_week
from grids.policy import DutyPolicy, EventPost, huiji_default_policy
from grids.staff import Officer

WEEK = "2026-W49"
DAY = date(2026, 12, 1)  # a Tuesday: a weekday
METRIC = "EPSG:4547"
SQUAD = "A"
ROUTE = f"{SQUAD}/patrol-01"

LINES = {
    "S1": LineString([(113.650, 34.820), (113.655, 34.820)]),
    "S2": LineString([(113.655, 34.820), (113.658, 34.821)]),
    "C1": LineString([(113.650, 34.830), (113.654, 34.830)]),
    "C2": LineString([(113.654, 34.830), (113.659, 34.830)]),
    "R1": LineString([(113.650, 34.825), (113.657, 34.825)]),
}
LEVELS = {"S1": "strict", "S2": "strict", "C1": "controlled", "C2": "controlled", "R1": "regulated"}
ROADS = {"S1": "文化路", "S2": "文化路", "C1": "开元路", "C2": "开元路", "R1": "英才街"}
GRIDS = {
    "410108001001001": box(113.645, 34.815, 113.6535, 34.835),
    "410108002001001": box(113.6535, 34.815, 113.660, 34.835),
}


def _metres(geometry: Any) -> float:
    return float(gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(METRIC).length.iloc[0])


@pytest.fixture(scope="module")
def posts() -> gpd.GeoDataFrame:
    """Two strict and two controlled sections, a regulated one, and a guidance point (G1)."""
    rows: list[dict[str, Any]] = [
        {
            "id": post_id,
            "kind": "segment",
            "road_id": f"R-{ROADS[post_id]}",
            "road_name_zh": ROADS[post_id],
            "level": LEVELS[post_id],
            "length_m": _metres(line),
            "squad_id": SQUAD,
            "windows": None,
            "attrs": {},
            "geometry": line,
        }
        for post_id, line in LINES.items()
    ]
    rows.append(
        {
            "id": "G1",
            "kind": "point",
            "road_id": None,
            "road_name_zh": "英才街",
            "level": "regulated",
            "length_m": 0.0,
            "squad_id": SQUAD,
            "windows": "11:00-13:30",
            "attrs": {},
            "geometry": Point(113.656, 34.825),
        }
    )
    data = {key: [row[key] for row in rows] for key in rows[0] if key != "geometry"}
    return gpd.GeoDataFrame(data, geometry=[r["geometry"] for r in rows], crs="EPSG:4326")


@pytest.fixture(scope="module")
def unit_grids() -> gpd.GeoDataFrame:
    codes = list(GRIDS)
    return gpd.GeoDataFrame(
        {"id": codes, "code": codes, "subdistrict_code": [c[:9] for c in codes], "squad_id": SQUAD},
        geometry=list(GRIDS.values()),
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def responsibility_grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["RG-A"], "squad_id": [SQUAD]},
        geometry=[box(113.64, 34.81, 113.67, 34.84)],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


@pytest.fixture(scope="module")
def policy() -> DutyPolicy:
    """The Huiji slots and levels; no special operations; an event on S1 in the evening."""
    event = EventPost(
        id="ev-1",
        name_zh="活动保障",
        start_date=DAY,
        end_date=DAY,
        slots=("evening",),
        post_id="S1",
        officers=1,
        assistants=1,
    )
    return dataclasses.replace(
        huiji_default_policy(), operations=(), full_deployment=(), events=(event,)
    )


@pytest.fixture(scope="module")
def demand(posts: gpd.GeoDataFrame, policy: DutyPolicy, calendar: HolidayCalendar) -> pd.DataFrame:
    return demand_for_week(posts, policy, calendar, WEEK, squads=[SQUAD])


@pytest.fixture(scope="module")
def staff() -> list[Officer]:
    people = [Officer(f"o{n}", f"队员{n}", SQUAD, "officer") for n in range(1, 9)]
    people += [Officer(f"a{n}", f"协管员{n}", SQUAD, "assistant") for n in range(1, 4)]
    people.append(Officer("L1", "王带班", None, "leader", phone="13800000001"))
    return people


def _requirement(demand: pd.DataFrame, slot_id: str, post_id: str, kind: str, role: str) -> str:
    chosen = demand[
        demand["date"].eq(DAY)
        & demand["slot_id"].eq(slot_id)
        & demand["post_id"].eq(post_id)
        & demand["kind"].eq(kind)
        & demand["role"].eq(role)
    ]
    assert len(chosen) == 1, (slot_id, post_id, kind, role)
    return str(chosen["requirement_id"].iloc[0])


def _row(  # noqa: PLR0917 - one assignment, in the order of its columns
    policy: DutyPolicy,
    officer_id: str,
    role: str,
    slot_id: str,
    post_id: str,
    task: str,
    requirement_id: str | None = None,
) -> dict[str, Any]:
    if slot_id == "day":
        start = datetime.combine(DAY, time(6))
        end = start + timedelta(days=1)
    else:
        start, end = policy.slot("weekday", slot_id).on(DAY)
    return {
        "officer_id": officer_id,
        "role": role,
        "squad_id": SQUAD if role != "leader" else None,
        "date": DAY,
        "slot_id": slot_id,
        "start": start,
        "end": end,
        "post_id": post_id,
        "task": task,
        "requirement_id": requirement_id,
        "pinned": False,
    }


@pytest.fixture(scope="module")
def roster(policy: DutyPolicy, demand: pd.DataFrame) -> pd.DataFrame:
    """The day: S2 open early, only an assistant on S2 in the morning, G1 open at midday."""
    linked = _requirement(demand, "early", "S1", "strict_post", "officer")
    rows = [
        _row(policy, "L1", "leader", "day", "leader_duty", "leader_duty"),
        _row(policy, "o1", "officer", "early", "S1", "strict_post", linked),
        _row(policy, "o1", "officer", "morning", "S1", "strict_post"),
        _row(policy, "a1", "assistant", "morning", "S2", "strict_post"),
        _row(policy, "o2", "officer", "morning", ROUTE, "patrol"),
        _row(policy, "a2", "assistant", "morning", "G1", "guidance_window"),
        _row(policy, "o3", "officer", "midday", "S1", "strict_post"),
        _row(policy, "o4", "officer", "midday", "S2", "strict_post"),
        _row(policy, "o2", "officer", "midday", ROUTE, "patrol"),
        _row(policy, "o3", "officer", "afternoon", "S1", "strict_post"),
        _row(policy, "o4", "officer", "afternoon", "S2", "strict_post"),
        _row(policy, "o5", "officer", "afternoon", ROUTE, "patrol"),
        _row(policy, "o6", "officer", "evening", "S1", "strict_post"),
        _row(policy, "o7", "officer", "evening", "S2", "strict_post"),
        _row(policy, "o5", "officer", "evening", ROUTE, "patrol"),
        _row(policy, "o8", "officer", "evening", "S1", "event"),
        _row(policy, "a3", "assistant", "evening", "S1", "event"),
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def coverage(
    *,
    roster: pd.DataFrame,
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    staff: list[Officer],
    unit_grids: gpd.GeoDataFrame,
    responsibility_grids: gpd.GeoDataFrame,
) -> RosterCoverage:
    return roster_coverage(
        roster,
        demand,
        posts,
        policy,
        calendar=calendar,
        staff=staff,
        unit_grids=unit_grids,
        responsibility_grids=responsibility_grids,
    )


def _statuses(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["post_id"], frame["status"], strict=True))


EXPECTED = {
    "early": {"S1": "covered", "S2": "gap", "C1": "not_required", "G1": "not_required"},
    "morning": {"S1": "covered", "S2": "gap", "C1": "covered", "C2": "covered", "G1": "covered"},
    "midday": {"S1": "covered", "S2": "covered", "C2": "covered", "G1": "gap"},
    "afternoon": {"S1": "covered", "S2": "covered", "C1": "covered", "G1": "not_required"},
    "evening": {"S1": "covered", "S2": "covered", "C1": "covered"},
    "night": {"S1": "not_required", "S2": "not_required", "C1": "not_required"},
}


@pytest.mark.parametrize("slot_id", list(EXPECTED))
def test_each_post_status_in_each_slot(coverage: RosterCoverage, slot_id: str) -> None:
    statuses = _statuses(coverage_by_post(coverage, DAY, slot_id))
    for post_id, status in EXPECTED[slot_id].items():
        assert statuses[post_id] == status, (slot_id, post_id)
    assert statuses["R1"] == "not_required"  # regulated sections have no requirement
    assert set(statuses.values()) <= set(STATUSES)


def test_an_assistant_does_not_hold_a_strict_post(coverage: RosterCoverage) -> None:
    posts = coverage_by_post(coverage, DAY, "morning").set_index("post_id")
    s2 = posts.loc["S2"]
    assert (s2["required_officers"], s2["counted_officers"]) == (1, 0)
    assert (s2["officers"], s2["assistants"], s2["people"]) == (0, 1, ("a1",))
    # the same assistant counts on a guidance point, which anyone may staff
    g1 = posts.loc["G1"]
    assert (g1["required_any"], g1["counted"], g1["status"]) == (1, 1, "covered")
    # a patrol officer stands on every post of the route
    people = posts["people"].to_dict()
    assert people["C1"] == people["C2"] == ("o2",)


def test_gaps_and_their_reasons(coverage: RosterCoverage, demand: pd.DataFrame) -> None:
    found = gaps(coverage, DAY)
    expected = {
        _requirement(demand, "early", "S2", "strict_post", "officer"): "none_assigned",
        _requirement(demand, "morning", "S2", "strict_post", "officer"): "assistant_only",
        _requirement(demand, "midday", "G1", "guidance_window", "any"): "none_assigned",
    }
    assert dict(zip(found["requirement_id"], found["reason"], strict=True)) == expected
    assert found["strict"].tolist() == [True, True, False]  # strict gaps first
    morning = found.set_index("requirement_id").loc[list(expected)[1]]
    assert morning["people"] == ("a1",)
    assert "协管员" in morning["reason_zh"]
    assert "assistant" in morning["reason_en"]
    assert list(gaps(coverage, DAY, "afternoon")["requirement_id"]) == []
    assert len(gaps(coverage, DAY, "morning")) == 1


def test_officer_and_anyone_of_one_place_are_pooled(
    *,
    coverage: RosterCoverage,
    roster: pd.DataFrame,
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> None:
    officer_row = _requirement(demand, "evening", "S1", "event", "officer")
    any_row = _requirement(demand, "evening", "S1", "event", "any")
    table = coverage.requirements.set_index("requirement_id")
    assert table.loc[officer_row, "people"] == ("o8",)
    assert table.loc[any_row, "people"] == ("a3",)
    # two assistants: the officer place stays open, the "any" place is filled
    swapped = roster.copy()
    swapped.loc[swapped["officer_id"].eq("o8"), ["officer_id", "role"]] = ["a1", "assistant"]
    again = roster_coverage(swapped, demand, posts, policy, calendar=calendar)
    table = again.requirements.set_index("requirement_id")
    assert table.loc[officer_row, "reason"] == "assistant_only"
    assert bool(table.loc[any_row, "met"])
    assert _statuses(coverage_by_post(again, DAY, "evening"))["S1"] == "partly"


def test_covered_length_by_level_road_and_area(
    coverage: RosterCoverage, unit_grids: gpd.GeoDataFrame
) -> None:
    lengths = {k: _metres(v) for k, v in LINES.items()}
    by_level = covered_length(coverage, DAY, "morning", by="level").set_index("level")
    assert by_level.loc["strict", "required_m"] == pytest.approx(lengths["S1"] + lengths["S2"])
    assert by_level.loc["strict", "covered_m"] == pytest.approx(lengths["S1"])
    assert by_level.loc["strict", "gap_m"] == pytest.approx(lengths["S2"])
    assert by_level.loc["strict", "coverage"] == pytest.approx(
        lengths["S1"] / (lengths["S1"] + lengths["S2"])
    )
    assert by_level.loc["controlled", "covered_m"] == pytest.approx(lengths["C1"] + lengths["C2"])
    assert by_level.loc["regulated", "not_required_m"] == pytest.approx(lengths["R1"])
    assert by_level["coverage"].isna().to_dict() == {
        "controlled": False,
        "regulated": True,
        "strict": False,
    }

    by_road = covered_length(coverage, DAY, "morning", by="road").set_index("road")
    assert by_road.loc["文化路", "covered_m"] == pytest.approx(lengths["S1"])

    by_grid = covered_length(coverage, DAY, "morning", by="unit_grid").set_index("unit_grid")
    metric_grids = unit_grids.to_crs(METRIC).set_index("code").geometry
    metric_lines = gpd.GeoSeries(LINES, crs="EPSG:4326").to_crs(METRIC)
    for code, grid in metric_grids.items():
        inside = {k: float(line.intersection(grid).length) for k, line in metric_lines.items()}
        assert by_grid.loc[code, "covered_m"] == pytest.approx(
            inside["S1"] + inside["C1"] + inside["C2"], abs=0.05
        )
        assert by_grid.loc[code, "gap_m"] == pytest.approx(inside["S2"], abs=0.05)
    by_subdistrict = covered_length(coverage, DAY, "morning", by="subdistrict")
    assert sorted(by_subdistrict["subdistrict"]) == sorted(c[:9] for c in GRIDS)
    by_area = covered_length(coverage, DAY, "morning", by="responsibility_grid")
    assert by_area["responsibility_grid"].tolist() == ["RG-A"]
    assert by_area["required_m"].iloc[0] == pytest.approx(by_grid["required_m"].sum())


def test_whole_day_posts_and_metre_slots(coverage: RosterCoverage) -> None:
    day = _statuses(coverage_by_post(coverage, DAY))
    assert day["S1"] == "covered"
    assert day["S2"] == "partly"  # open early and in the morning, held afterwards
    assert day["G1"] == "partly"
    assert day["R1"] == "not_required"
    slots = coverage_by_slot(coverage, DAY)
    assert slots["slot_id"].unique().tolist() == [s.id for s in duty_slots(DAY, coverage.policy)]
    whole = covered_length(coverage, DAY, by="level").set_index("level")
    per_slot = pd.concat(
        [
            covered_length(coverage, DAY, s.id, by="level").set_index("level")["required_m"]
            for s in duty_slots(DAY, coverage.policy)
        ],
        axis=1,
    ).sum(axis=1)
    assert whole["required_m"].to_dict() == pytest.approx(per_slot.to_dict())


def test_timeline_and_seamless_check(coverage: RosterCoverage) -> None:
    timeline = day_timeline(coverage, DAY).set_index("slot_id")
    assert list(timeline.index) == list(EXPECTED)
    all_gaps = gaps(coverage, DAY)
    for slot_id, row in timeline.iterrows():
        in_slot = gaps(coverage, DAY, str(slot_id))
        assert row["gaps"] == len(in_slot)
        assert row["strict_gaps"] == int(in_slot["strict"].sum())
        assert row["seamless"] == (row["strict_gaps"] == 0)
    assert timeline["strict_posts_required"].to_dict() == {
        "early": 2, "morning": 2, "midday": 2, "afternoon": 2, "evening": 2, "night": 0
    }  # fmt: skip
    check = seamless_check(coverage, DAY)
    assert not check.seamless
    assert check.required_slots == ("early", "morning", "midday", "afternoon", "evening")
    assert check.broken_slots == ("early", "morning")
    assert [b.post_ids for b in check.breaks] == [("S2",), ("S2",)]
    early, morning = (duty_slots(DAY, coverage.policy)[i] for i in (0, 1))
    expected_minutes = ((early.end - early.start) + (morning.end - morning.start)).seconds / 60
    assert check.uncovered_minutes == pytest.approx(expected_minutes)
    assert len(check.breaks) == int(all_gaps["strict"].sum())


def test_summary_headline_figures(coverage: RosterCoverage, roster: pd.DataFrame) -> None:
    summary = coverage_summary(coverage, DAY, "morning")
    posts = coverage_by_post(coverage, DAY, "morning")
    strict = posts[posts["level"].eq("strict")]
    assert summary.strict_coverage == pytest.approx(
        strict["status"].eq("covered").sum() / len(strict)
    )
    morning = roster[roster["slot_id"].isin(["morning", "day"])]
    assert summary.officers_on_duty == morning["role"].eq("officer").sum()
    assert summary.assistants_on_duty == morning["role"].eq("assistant").sum()
    assert [(p.name, p.phone) for p in summary.leaders] == [("王带班", "13800000001")]
    assert summary.gaps == 1
    assert not summary.seamless
    day = coverage_summary(coverage, DAY)
    assert day.officers_on_duty == roster.loc[roster["role"].eq("officer"), "officer_id"].nunique()
    assert day.strict_posts_required == 10  # two strict posts in each of five day slots
    assert day.strict_posts_covered == 8
    assert day.to_dict()["leaders"][0]["officer_id"] == "L1"
    night = coverage_summary(coverage, DAY, "night")
    assert night.strict_coverage is None
    assert night.seamless


def test_people_on_duty_leaders_first(coverage: RosterCoverage) -> None:
    people = people_on_duty(coverage, DAY, "evening")
    assert people[0].role == "leader"
    evening = {p.officer_id: p for p in people}
    assert evening["o8"].tasks == ("event",)
    assert evening["o5"].post_ids == (ROUTE,)
    assert set(evening) == {"L1", "o5", "o6", "o7", "o8", "a3"}


def test_slot_at_night_slots_belong_to_the_day_they_start(policy: DutyPolicy) -> None:
    night = slot_at(datetime(2026, 12, 2, 2, 30), policy)
    assert (night.date, night.id) == (DAY, "night")
    assert night.start == datetime(2026, 12, 1, 22)
    assert night.end == datetime(2026, 12, 2, 6)
    early = slot_at(datetime(2026, 12, 2, 6, 0), policy)
    assert (early.date, early.id) == (date(2026, 12, 2), "early")
    assert slot_at(datetime(2026, 12, 1, 21, 59), policy).id == "evening"
    # an aware moment is read in China Standard Time: 18:30 UTC is 02:30 the next morning
    aware = slot_at(datetime(2026, 12, 1, 18, 30, tzinfo=UTC), policy)
    assert (aware.date, aware.id) == (DAY, "night")
    for slot in duty_slots(DAY, policy):
        assert slot_at(slot.start, policy) == slot
        assert slot_at(slot.end - timedelta(minutes=1), policy) == slot


def test_solver_reasons_reach_the_gaps(
    roster: pd.DataFrame,
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> None:
    target = _requirement(demand, "early", "S2", "strict_post", "officer")
    solver = {
        "uncovered": [
            {"requirement_id": target, "reason": "hours exhausted", "detail": "6 of 6 busy"},
            {"requirement_id": None, "reason": "ignored"},
            "not a mapping",
        ]
    }
    reasons = solver_reasons(solver)
    assert reasons == {target: "hours exhausted；6 of 6 busy"}
    again = roster_coverage(
        roster, demand, posts, policy, calendar=calendar, solver_reasons=reasons
    )
    found = gaps(again, DAY).set_index("requirement_id")["solver_reason"]
    assert found[target] == reasons[target]
    assert found.drop(target).isna().all()


def test_bad_inputs(
    roster: pd.DataFrame,
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
    coverage: RosterCoverage,
) -> None:
    with pytest.raises(FieldError, match="kind"):
        roster_coverage(roster, demand.drop(columns="kind"), posts, policy)
    with pytest.raises(FieldError, match="level"):
        roster_coverage(roster, demand, posts.drop(columns="level"), policy)
    with pytest.raises(FieldError) as caught:
        roster_coverage(roster.drop(columns="task"), demand, posts, policy)
    assert caught.value.field == "task"
    with pytest.raises(KeyError, match="lunch"):
        coverage_by_post(coverage, DAY, "lunch")
    plain = roster_coverage(roster, demand, posts, policy)
    with pytest.raises(ValueError, match="unit grids"):
        covered_length(plain, DAY, "morning", by="unit_grid")
    with pytest.raises(ValueError, match="by must be"):
        covered_length(plain, DAY, "morning", by="street")  # type: ignore[arg-type]


def test_an_empty_roster_leaves_every_requirement_open(
    demand: pd.DataFrame, posts: gpd.GeoDataFrame, policy: DutyPolicy
) -> None:
    empty = roster_coverage(pd.DataFrame(columns=list(_row_columns())), demand, posts, policy)
    day = demand[demand["date"].eq(DAY)]
    found = gaps(empty, DAY)
    assert len(found) == len(day)
    assert set(found["reason"]) == {"none_assigned"}
    statuses = coverage_by_post(empty, DAY, "morning")["status"]
    assert set(statuses) == {"gap", "not_required"}


def _row_columns() -> Iterator[str]:
    yield from (
        "officer_id",
        "role",
        "squad_id",
        "date",
        "slot_id",
        "start",
        "end",
        "post_id",
        "task",
        "requirement_id",
        "pinned",
    )


CHOICES = ("none", "officer", "assistant", "two officers")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_rosters_keep_the_books(
    data: st.DataObject,
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
) -> None:
    """Met requirements are exactly those staffed by someone who counts; lengths add up."""
    day = demand[
        demand["date"].eq(DAY) & demand["kind"].isin(["strict_post", "patrol", "guidance_window"])
    ]
    choices = data.draw(st.lists(st.sampled_from(CHOICES), min_size=len(day), max_size=len(day)))
    rows = []
    expected_met = {}
    for (_, need), choice in zip(day.iterrows(), choices, strict=True):
        people = {
            "none": [],
            "officer": [("officer", "x")],
            "assistant": [("assistant", "y")],
            "two officers": [("officer", "x"), ("officer", "z")],
        }[choice]
        for role, name in people:
            rows.append(
                {
                    **_row(policy, f"{name}-{need['requirement_id']}", role, need["slot_id"],
                           need["post_id"], need["kind"]),
                    "start": need["start"],
                    "end": need["end"],
                }
            )  # fmt: skip
        counts = need["role"] == "any" or choice in ("officer", "two officers")
        expected_met[need["requirement_id"]] = choice != "none" and counts
    table = pd.DataFrame(rows, columns=list(_row_columns()))
    matched = roster_coverage(table, day, posts, policy)
    met = matched.requirements.set_index("requirement_id")["met"].to_dict()
    assert met == expected_met
    assert set(gaps(matched, DAY)["requirement_id"]) == {
        k for k, v in expected_met.items() if not v
    }
    lengths = covered_length(matched, DAY, by="level")
    assert (lengths["covered_m"] + lengths["partly_m"] + lengths["gap_m"]).to_numpy() == (
        pytest.approx(lengths["required_m"].to_numpy())
    )
    slots = coverage_by_slot(matched, DAY)
    covered = slots["status"].eq("covered")
    assert (slots.loc[covered, "counted"] >= slots.loc[covered, "required"]).all()
    assert (slots.loc[slots["status"].eq("gap"), "counted"] == 0).all()


def test_a_full_deployment_counts_every_member_on_duty_in_its_window(
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> None:
    start = datetime.combine(DAY, time(6))
    deployment = demand.iloc[[0]].assign(
        requirement_id="full-deployment",
        date=DAY,
        slot_id=None,
        kind="full_deployment",
        post_id=f"full_deployment@{SQUAD}",
        post_ids=[()],
        squad_id=SQUAD,
        role="any",
        count=4,
        start=start,
        end=start + timedelta(hours=16),
    )
    with_deployment = pd.concat([demand, deployment], ignore_index=True)
    night = _row(policy, "o3", "officer", "night", "S1", "night_check")
    other_squad = {**_row(policy, "x1", "officer", "morning", "S2", "strict_post"), "squad_id": "B"}
    rows = [
        _row(policy, "o1", "officer", "morning", "S1", "strict_post"),  # on a post of the squad
        _row(policy, "o2", "officer", "evening", ROUTE, "patrol"),  # on its patrol
        _row(
            policy, "o4", "officer", "day", "full_deployment", "full_deployment", "full-deployment"
        ),
        night,  # from 22:00: not within the deployment's window
        other_squad,  # not of the squad
    ]

    def deployed(table: pd.DataFrame) -> pd.Series:
        matched = roster_coverage(table, with_deployment, posts, policy, calendar=calendar)
        frame = matched.requirements.set_index("requirement_id")
        return frame.loc["full-deployment"]

    found = deployed(pd.DataFrame(rows))
    assert (found["needed"], found["counted"], found["short"]) == (4, 3, 1)
    assert set(found["people"]) == {"o1", "o2", "o4"}
    found = deployed(
        pd.DataFrame([*rows, _row(policy, "o3", "officer", "afternoon", "S2", "reserve")])
    )
    assert found["counted"] == 4
    assert bool(found["met"])
    # moved out of the window: a rematch from the day as it was agrees with a full match
    before = roster_coverage(pd.DataFrame(rows), with_deployment, posts, policy, calendar=calendar)
    edited = pd.DataFrame(
        [rows[0], _row(policy, "o2", "officer", "night", "S1", "night_check"), *rows[2:]]
    )
    again = roster_coverage(edited, with_deployment, posts, policy, calendar=calendar)
    pd.testing.assert_frame_equal(rematch(before, edited).requirements, again.requirements)
    assert again.requirements.set_index("requirement_id").loc["full-deployment", "counted"] == 2
