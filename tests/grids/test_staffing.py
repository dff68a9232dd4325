"""Staffing need on squads small enough to work out by hand."""

from __future__ import annotations

from datetime import time
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

import grids._staffing_search as search
from grids.calendar import HolidayCalendar, china_holidays
from grids.demand import demand_for_week
from grids.policy import (
    DutyPolicy,
    LeaderDuty,
    LevelRules,
    PatrolRule,
    Slot,
    SlotTable,
    StrictRule,
)
from grids.staff import Officer
from grids.staffing import NEED_COLUMNS, check_headcount, staffing_need

WEEK = "2026-W49"
SQUAD = "SQ"
LIMIT_S = 10.0


def _policy(*, day_hours: int = 8, leaders: int = 0) -> DutyPolicy:
    """Three slots: a day slot (strict posts staffed) and two night slots nobody needs."""
    day_end = 8 + day_hours
    slots = (
        Slot("night", "夜间", "Night", time(0), time(8), "night"),
        Slot("daytime", "白天", "Day", time(8), time(day_end), "day"),
        Slot("evening", "晚间", "Evening", time(day_end), time(0), "night"),
    )
    return DutyPolicy(
        version=1,
        name="test",
        slots=SlotTable(slots, slots, slots),
        levels=LevelRules(
            strict=StrictRule(officers=1, hard=True),
            controlled=PatrolRule(visit_every_hours=float(day_hours)),
        ),
        leader=LeaderDuty(on_duty=leaders),
    )


def _posts(*, guidance: bool = False) -> gpd.GeoDataFrame:
    features = [
        {
            "id": "P1",
            "kind": "segment",
            "level": "strict",
            "squad_id": SQUAD,
            "road_name_zh": "文化路",
            "length_m": 500.0,
            "windows": None,
            "geometry": LineString([(113.65, 34.82), (113.66, 34.82)]),
        }
    ]
    if guidance:
        features.append(
            {
                "id": "G1",
                "kind": "point",
                "level": "regulated",
                "squad_id": SQUAD,
                "road_name_zh": "英才街",
                "length_m": 0.0,
                "windows": "11:00-13:00",
                "geometry": Point(113.62, 34.86),
            }
        )
    return gpd.GeoDataFrame(
        pd.DataFrame(features).drop(columns="geometry"),
        geometry=[f["geometry"] for f in features],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


def _demand(policy: DutyPolicy, calendar: HolidayCalendar, **posts: bool) -> pd.DataFrame:
    return demand_for_week(_posts(**posts), policy, calendar, WEEK, squads=[SQUAD])


def _officers(count: int, role: str = "officer") -> list[Officer]:
    return [Officer(f"{role[0].upper()}{n}", f"{role} {n}", SQUAD, role) for n in range(count)]  # type: ignore[arg-type]


def test_one_post_all_week_needs_two_officers(calendar: HolidayCalendar) -> None:
    # One officer 08:00-16:00 every day: 7 shifts × 8 h = 56 h over a 40-h week → 2 officers.
    policy = _policy()
    demand = _demand(policy, calendar)
    assert demand["hours"].sum() == 56
    need = staffing_need(demand, _officers(1), policy, calendar, time_limit_s=LIMIT_S)
    assert list(need.table.columns) == list(NEED_COLUMNS)
    row = need.table.set_index("role").loc["officer"]
    assert (row["bound_hours"], row["bound_shifts"], row["bound_peak"]) == (2, 2, 1)
    assert (row["lower_bound"], row["needed"], row["today"], row["gap"]) == (2, 2, 1, 1)
    assert row["proven"]
    assistants = need.table.set_index("role").loc["assistant"]
    assert (assistants["needed"], assistants["required_hours"]) == (0, 0)
    # One officer covers at most 40 of the 56 hours today.
    assert row["required_hours"] == 56
    assert row["covered_hours_today"] == pytest.approx(40)
    assert row["coverage_today"] == pytest.approx(40 / 56)
    strict = need.coverage[need.coverage["kind"] == "strict_post"]
    assert strict["level"].tolist() == ["strict"]
    assert strict["coverage"].iloc[0] < 1
    assert need.uncoverable.empty
    assert need.today is not None


def test_the_engine_confirms_the_need(calendar: HolidayCalendar) -> None:
    policy = _policy()
    demand = _demand(policy, calendar)
    enough = check_headcount(
        demand, policy, calendar, squad_id=SQUAD, officers=2, time_limit_s=LIMIT_S
    )
    assert enough.feasible is True
    assert enough.coverage == 1.0
    worked = [shift for (who, _), shift in enough.assignments.items() if who.startswith("needed")]
    assert len(worked) == 7  # one 8-hour shift a day, no overtime
    fewer = check_headcount(
        demand, policy, calendar, squad_id=SQUAD, officers=1, time_limit_s=LIMIT_S
    )
    assert fewer.feasible is False
    assert fewer.status == "OPTIMAL"
    assert fewer.uncovered_hours == pytest.approx(16)
    assert fewer.coverage == pytest.approx(40 / 56)


def test_guidance_windows_need_an_assistant_on_top(calendar: HolidayCalendar) -> None:
    # Every day an officer 08-16 and someone for 11-13: two people on each day shift, 14 shifts
    # of 8 h = 112 h. Two officers give 80 h; one assistant more makes 120 h ≥ 112 h.
    policy = _policy()
    demand = _demand(policy, calendar, guidance=True)
    staff = _officers(2) + _officers(1, "assistant")
    need = staffing_need(
        demand, staff, policy, calendar, time_limit_s=LIMIT_S, posts=_posts(guidance=True)
    )
    table = need.table.set_index("role")
    assert table.loc["officer", "needed"] == 2
    assert table.loc["assistant", "needed"] == 1
    assert table.loc["assistant", "proven"]
    assert table.loc["assistant", "gap"] == 0
    assert table.loc["assistant", "coverage_today"] == pytest.approx(1.0)
    short = check_headcount(
        demand, policy, calendar, squad_id=SQUAD, officers=2, time_limit_s=LIMIT_S
    )
    assert short.feasible is False
    guidance = need.coverage.set_index("kind").loc["guidance_window"]
    assert (guidance["role"], guidance["level"]) == ("any", "regulated")


def test_duty_leaders(calendar: HolidayCalendar) -> None:
    # A 24-hour duty every day; one duty fits a leader's 40-hour week: seven leaders.
    policy = _policy(leaders=1)
    demand = _demand(policy, calendar)
    leaders = [Officer(f"L{n}", f"leader {n}", None, "leader") for n in range(3)]
    need = staffing_need(demand, _officers(2) + leaders, policy, calendar, time_limit_s=LIMIT_S)
    row = need.table.set_index("role").loc["leader"]
    assert row["squad_id"] is None
    assert row["lower_bound"] <= row["needed"] == 7
    assert (row["today"], row["gap"]) == (3, 4)
    assert row["coverage_today"] == pytest.approx(3 / 7)
    for count, feasible in ((7, True), (6, False)):
        check = check_headcount(
            demand, policy, calendar, squad_id=None, leaders=count, time_limit_s=LIMIT_S
        )
        assert check.feasible is feasible


def test_slots_longer_than_a_shift_cannot_be_covered(calendar: HolidayCalendar) -> None:
    policy = _policy(day_hours=10)
    demand = _demand(policy, calendar)
    need = staffing_need(demand, _officers(1), policy, calendar, time_limit_s=LIMIT_S)
    assert len(need.uncoverable) == 7
    assert need.table.set_index("role").loc["officer", "needed"] == 0
    assert any("no shift" in note for note in need.notes)


def test_a_demand_of_two_weeks_is_refused(calendar: HolidayCalendar) -> None:
    policy = _policy()
    demand = pd.concat(
        [
            _demand(policy, calendar),
            demand_for_week(_posts(), policy, calendar, "2026-W50", squads=[SQUAD]),
        ],
        ignore_index=True,
    )
    with pytest.raises(ValueError, match="2 ISO weeks"):
        staffing_need(demand, [], policy, calendar, time_limit_s=LIMIT_S)


def test_assistants_get_an_upper_bound_when_the_officers_search_runs_out(
    calendar: HolidayCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As above: 2 officers and 1 assistant are needed. Without the officers' spare hours, the
    # daily guidance window needs someone on a day shift 7 days a week: 56 h, so 2 assistants.
    policy = _policy()
    demand = _demand(policy, calendar, guidance=True)
    staff = _officers(2) + _officers(1, "assistant")
    found = staffing_need(demand, staff, policy, calendar, time_limit_s=LIMIT_S)
    truth = found.table.set_index("role")
    assert (truth.loc["officer", "needed"], truth.loc["assistant", "needed"]) == (2, 1)
    assert truth.loc["assistant", "upper_bound"] == 1  # found: needed, as far as is known

    real = search.fewest
    calls: list[int] = []

    def officers_run_out(*args: Any, **kwargs: Any) -> tuple[int | None, bool]:
        calls.append(args[1])
        if len(calls) == 1:  # the officers' search: as if the time ran out first
            return None, False
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "fewest", officers_run_out)
    need = staffing_need(demand, staff, policy, calendar, time_limit_s=LIMIT_S)
    table = need.table.set_index("role")
    assert pd.isna(table.loc["officer", "needed"])
    assert pd.isna(table.loc["officer", "upper_bound"])
    assistants = table.loc["assistant"]
    assert pd.isna(assistants["needed"])
    assert not assistants["proven"]
    assert assistants["lower_bound"] == 0  # officers, however many, may do it all
    assert assistants["upper_bound"] == 2
    assert assistants["upper_bound"] >= truth.loc["assistant", "needed"]
    assert any("at most 2" in note for note in need.notes)
    assert not any("before the assistants" in note for note in need.notes)
    # the bound holds: the officers needed and that many assistants leave nothing short
    enough = check_headcount(
        demand, policy, calendar, squad_id=SQUAD, officers=2, assistants=2, time_limit_s=LIMIT_S
    )
    assert enough.feasible is True
