"""Staffing demand for a week, from a small synthetic posts layer and the Huiji policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning
from grids.calendar import HolidayCalendar, china_holidays
from grids.demand import (
    DEMAND_COLUMNS,
    demand_for_week,
    demand_summary,
    patrol_routes,
)
from grids.policy import DutyPolicy, EventPost, PatrolRule, huiji_default_policy
from grids.staff import LeavePeriod, Officer

WEEK = "2026-W49"
SQUADS = ["HJ-S-YB", "HJ-S-NZ", "HJ-S-YH"]
LINE = LineString([(113.65, 34.82), (113.66, 34.82)])


def _post(post_id: str, level: str, squad: str | None, **values: Any) -> dict[str, Any]:
    post = {
        "id": post_id,
        "kind": "segment",
        "road_id": None,
        "road_name_zh": None,
        "level": level,
        "length_m": 500.0,
        "radius_m": None,
        "unit_grid_codes": None,
        "squad_id": squad,
        "windows": None,
        "attrs": {},
        "geometry": LINE,
    }
    post.update(values)
    return post


def _frame(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    data = {key: [f[key] for f in features] for key in features[0] if key != "geometry"}
    return gpd.GeoDataFrame(
        data, geometry=[f["geometry"] for f in features], crs="EPSG:4326"
    ).astype({"length_m": "float64"})


@pytest.fixture
def posts() -> gpd.GeoDataFrame:
    """Strict and controlled road sections of two squads, and 英才街 guidance points."""
    return _frame(
        [
            _post("YB-wenhua-1", "strict", "HJ-S-YB", road_name_zh="文化路", attrs={"hotspot": 2}),
            _post("YB-wenhua-2", "strict", "HJ-S-YB", road_name_zh="文化路"),
            _post("NZ-kaiyuan-1", "strict", "HJ-S-NZ", road_name_zh="开元路"),
            _post("YB-huayuan-1", "controlled", "HJ-S-YB", road_name_zh="花园路", length_m=3000.0),
            _post("YB-huayuan-2", "controlled", "HJ-S-YB", road_name_zh="花园路", length_m=4000.0),
            _post("YB-huayuan-10", "controlled", "HJ-S-YB", road_name_zh="花园路", length_m=2500.0),
            _post("NZ-jiangshan-1", "controlled", "HJ-S-NZ", road_name_zh="江山路", length_m=900.0),
            _post(
                "NZ-yingcai-gp1",
                "regulated",
                "HJ-S-NZ",
                kind="point",
                road_name_zh="英才街",
                length_m=0.0,
                radius_m=50.0,
                geometry=Point(113.62, 34.86),
            ),
            _post(
                "NZ-yingcai-gp2",
                "regulated",
                "HJ-S-NZ",
                kind="point",
                road_name_zh="英才街",
                length_m=0.0,
                windows="07:00-09:00",
                geometry=Point(113.63, 34.86),
            ),
            _post("NZ-yingcai-1", "regulated", "HJ-S-NZ", road_name_zh="英才街"),
            _post("YH-dike-1", "controlled", "HJ-S-YH", road_name_zh="沿黄大堤", length_m=5000.0),
        ]
    )


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["Z-river", "Z-market-1", "Z-market-2"],
            "name_zh": ["沿黄区域", "开元路夜市", "江山路夜市"],
            "kind": ["river_bank", "night_market", "night_market"],
            "squad_id": ["HJ-S-YH", "HJ-S-NZ", "HJ-S-CX"],
        },
        geometry=[box(113.6, 34.9, 113.7, 34.95), box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def policy() -> DutyPolicy:
    return huiji_default_policy()


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


@pytest.fixture
def demand(
    posts: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> pd.DataFrame:
    return demand_for_week(posts, policy, calendar, WEEK, squads=SQUADS, zones=zones)


def _day_types(calendar: HolidayCalendar, week: str) -> Iterator[tuple[date, Any]]:
    for day in calendar.week_dates(week):
        yield day, calendar.day_type(day)


def test_columns_ids_and_order(
    demand: pd.DataFrame, posts: gpd.GeoDataFrame, zones: gpd.GeoDataFrame
) -> None:
    assert tuple(demand.columns) == DEMAND_COLUMNS
    assert demand["requirement_id"].is_unique
    keys = list(zip(demand["date"], demand["start"], demand["end"], strict=True))
    assert keys == sorted(keys)
    assert (demand["end"] > demand["start"]).all()
    assert set(demand["role"]) <= {"officer", "any", "leader"}
    # The same inputs in another order give the same demand, row for row.
    again = demand_for_week(
        posts.sample(frac=1.0, random_state=3),
        huiji_default_policy(),
        china_holidays(),
        WEEK,
        squads=SQUADS[::-1],
        zones=zones.iloc[::-1],
    )
    pd.testing.assert_frame_equal(again, demand)


def test_strict_posts_get_an_officer_in_every_day_slot(
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> None:
    strict = demand[demand["kind"] == "strict_post"]
    strict_ids = set(posts.loc[posts["level"] == "strict", "id"])
    assert set(strict["post_id"]) == strict_ids
    assert (strict["role"] == "officer").all()
    assert (strict["count"] == policy.levels.strict.officers).all()
    expected_rows = 0
    for day, day_type in _day_types(calendar, WEEK):
        day_slots = {s.id for s in policy.day_slots(day_type)}
        expected_rows += len(day_slots) * len(strict_ids)
        for post_id in strict_ids:
            rows = strict[(strict["date"] == day) & (strict["post_id"] == post_id)]
            assert set(rows["slot_id"]) == day_slots
            hours = (rows["end"] - rows["start"]).sum()
            assert hours == sum(
                (timedelta(minutes=s.minutes) for s in policy.day_slots(day_type)), timedelta()
            )
    assert len(strict) == expected_rows
    hot = strict[strict["post_id"] == "YB-wenhua-1"]["weight"]
    plain = strict[strict["post_id"] == "YB-wenhua-2"]["weight"]
    assert (hot == 2 * policy.weights.coverage.strict).all()
    assert (plain == policy.weights.coverage.strict).all()


def test_night_checks_at_night(
    demand: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> None:
    checks = demand[demand["kind"] == "night_check"]
    operation = next(op for op in policy.operations if op.kind == "night_check")
    markets = zones[(zones["kind"] == operation.zone_kind) & zones["squad_id"].isin(SQUADS)]
    assert len(markets) == 1  # the other market's squad is not asked for
    for day, day_type in _day_types(calendar, WEEK):
        rows = checks[checks["date"] == day]
        assert len(rows) == len(markets) * len(operation.slots) * (operation.officers > 0)
        for slot_id in rows["slot_id"]:
            assert policy.slot(day_type, slot_id).kind == "night"
        assert (rows["start"].dt.date == day).all()
        assert (rows["end"].dt.date == day + timedelta(days=1)).all()
    assert set(checks["squad_id"]) == set(markets["squad_id"])
    assert (checks["count"] == operation.officers).all()
    assert (checks["role"] == "officer").all()
    assert checks["hard"].all()


def test_guidance_window_straddling_two_slots_splits(
    demand: pd.DataFrame, policy: DutyPolicy
) -> None:
    guidance = demand[demand["kind"] == "guidance_window"]
    assert "NZ-yingcai-1" not in set(guidance["post_id"])  # a road section, not a point
    day = date(2026, 12, 1)
    rows = guidance[(guidance["post_id"] == "NZ-yingcai-gp1") & (guidance["date"] == day)]
    windows = policy.levels.regulated.windows_for_road("英才街")
    assert sum((rows["end"] - rows["start"]), timedelta()) == sum(
        (timedelta(minutes=w.minutes) for w in windows), timedelta()
    )
    lunch = windows[0]
    lunch_start, lunch_end = lunch.on(day)
    parts = rows[(rows["start"] >= lunch_start) & (rows["end"] <= lunch_end)]
    slots = {s.id: s for s in policy.slots_for("weekday")}
    overlapped = [
        s for s in slots.values() if s.on(day)[0] < lunch_end and s.on(day)[1] > lunch_start
    ]
    assert len(overlapped) == 2
    assert list(parts["slot_id"]) == [s.id for s in overlapped]
    assert parts["start"].iloc[0] == lunch_start
    assert parts["end"].iloc[0] == overlapped[0].on(day)[1]
    assert parts["start"].iloc[1] == overlapped[1].on(day)[0]
    assert parts["end"].iloc[-1] == lunch_end
    assert (rows["role"] == policy.levels.regulated.role).all()
    # A point's own windows win over its road's: 07:00-09:00 straddles early and morning.
    own = guidance[(guidance["post_id"] == "NZ-yingcai-gp2") & (guidance["date"] == day)]
    assert list(own["slot_id"]) == ["early", "morning"]
    assert list(own["start"].dt.hour) == [7, 8]
    assert list(own["end"].dt.hour) == [8, 9]


def test_river_bank_full_deployment_on_the_weekend_only(
    demand: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    deployment = demand[demand["kind"] == "full_deployment"]
    rule = policy.full_deployment[0]
    expected = [d for d, t in _day_types(calendar, WEEK) if t in rule.day_types]
    assert [d.isoweekday() for d in expected] == [6, 7]
    assert list(deployment["date"]) == expected
    assert set(deployment["squad_id"]) == {rule.squad_id}
    assert (deployment["count"] == 0).all()  # no staff given: every available member
    assert deployment["slot_id"].isna().all()


def test_full_deployment_counts_the_available_members(
    posts: gpd.GeoDataFrame, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    staff = [
        Officer(f"HJ-YH-{n:03d}", f"队员{n}", "HJ-S-YH", "officer" if n < 5 else "assistant")
        for n in range(1, 8)
    ]
    staff[0] = dataclasses.replace(
        staff[0], leave=(LeavePeriod(date(2026, 12, 5), date(2026, 12, 5)),)
    )
    staff[1] = dataclasses.replace(staff[1], availability={7: frozenset({"night"})})
    staff.append(Officer("HJ-LD-001", "领导", "HJ-S-YH", "leader"))
    staff.append(Officer("HJ-YB-001", "别队", "HJ-S-YB", "officer"))
    lean = dataclasses.replace(policy, operations=())
    demand = demand_for_week(posts, lean, calendar, WEEK, squads=["HJ-S-YH"], staff=staff)
    rows = demand[demand["kind"] == "full_deployment"].set_index("date")["count"]
    members = [p for p in staff if p.squad_id == "HJ-S-YH" and p.role != "leader"]
    assert rows[date(2026, 12, 5)] == len(members) - 1  # one on leave
    assert rows[date(2026, 12, 6)] == len(members) - 1  # one works only nights on Sundays
    hours = demand[demand["kind"] == "full_deployment"]["hours"]
    assert (hours == rows.to_numpy() * policy.labour.hours_per_day).all()


def test_holiday_week_deploys_on_holidays_not_on_make_up_saturday(
    posts: gpd.GeoDataFrame, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    lean = dataclasses.replace(policy, operations=())
    for week in ("2026-W40", "2026-W41"):
        demand = demand_for_week(posts, lean, calendar, week, squads=["HJ-S-YH"])
        dates = set(demand.loc[demand["kind"] == "full_deployment", "date"])
        expected = {d for d, t in _day_types(calendar, week) if t in ("weekend", "holiday")}
        assert dates == expected
    assert date(2026, 10, 1) in set(
        demand_for_week(posts, lean, calendar, "2026-W40", squads=["HJ-S-YH"])["date"]
    )
    assert calendar.day_type(date(2026, 10, 10)) == "weekday"
    assert date(2026, 10, 10) not in dates


def test_leader_duty_every_day(demand: pd.DataFrame, policy: DutyPolicy) -> None:
    leader = demand[demand["kind"] == "leader_duty"]
    days = sorted(set(demand["date"]))
    assert list(leader["date"]) == days
    assert len(days) == 7
    assert (leader["role"] == "leader").all()
    assert (leader["count"] == policy.leader.on_duty).all()
    assert ((leader["end"] - leader["start"]) == timedelta(hours=24)).all()
    assert (leader["start"].dt.time == policy.leader.handover).all()
    assert leader["squad_id"].isna().all()
    assert leader["hard"].all()


def test_patrols_cover_every_controlled_post_once(
    demand: pd.DataFrame, posts: gpd.GeoDataFrame, policy: DutyPolicy
) -> None:
    routes = patrol_routes(posts, policy, squads=SQUADS)
    controlled = posts[posts["level"] == "controlled"]
    covered = [post_id for route in routes for post_id in route.post_ids]
    assert sorted(covered) == sorted(controlled["id"])
    limit = policy.levels.controlled.route_km * 1000
    lengths = dict(zip(controlled["id"], controlled["length_m"], strict=True))
    for route in routes:
        assert route.length_m == sum(lengths[p] for p in route.post_ids)
        assert route.length_m <= limit or len(route.post_ids) == 1
    yb = [r.post_ids for r in routes if r.squad_id == "HJ-S-YB"]
    assert yb == [("YB-huayuan-1", "YB-huayuan-2"), ("YB-huayuan-10",)]  # numeric id order
    patrols = demand[demand["kind"] == "patrol"]
    day = date(2026, 12, 2)
    patrol_slots = [s.id for s in policy.patrol_slots("weekday")]
    for route in routes:
        rows = patrols[(patrols["post_id"] == route.id) & (patrols["date"] == day)]
        assert list(rows["slot_id"]) == patrol_slots
        assert (rows["post_ids"] == ";".join(route.post_ids)).all()
        assert (rows["count"] == policy.levels.controlled.officers_per_route).all()
    assert len(patrols) == 7 * len(routes) * len(patrol_slots)


def test_route_length_follows_the_policy(posts: gpd.GeoDataFrame, policy: DutyPolicy) -> None:
    short = policy.revised(
        levels=dataclasses.replace(policy.levels, controlled=PatrolRule(route_km=1.0))
    )
    routes = patrol_routes(posts, short)
    assert len(routes) == (posts["level"] == "controlled").sum()


def test_squads_filter_and_summary(
    posts: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    demand: pd.DataFrame,
) -> None:
    only_yb = demand_for_week(posts, policy, calendar, WEEK, squads=["HJ-S-YB"], zones=zones)
    assert set(only_yb["squad_id"].dropna()) == {"HJ-S-YB"}
    pd.testing.assert_frame_equal(
        only_yb.reset_index(drop=True),
        demand[demand["squad_id"].isin(["HJ-S-YB"]) | demand["squad_id"].isna()].reset_index(
            drop=True
        ),
    )
    summary = demand_summary(demand)
    assert summary["hours"].sum() == pytest.approx(demand["hours"].sum())
    assert summary["people"].sum() == demand["count"].sum()
    yb_day = summary[
        (summary["squad_id"] == "HJ-S-YB")
        & (summary["role"] == "officer")
        & (summary["date"] == date(2026, 11, 30))
    ]
    rows = demand[
        (demand["squad_id"] == "HJ-S-YB")
        & (demand["role"] == "officer")
        & (demand["date"] == date(2026, 11, 30))
    ]
    hours = ((rows["end"] - rows["start"]).dt.total_seconds() / 3600 * rows["count"]).sum()
    assert yb_day["hours"].item() == pytest.approx(hours)
    assert demand_summary(demand.iloc[0:0]).empty


def test_events_within_their_dates(
    posts: gpd.GeoDataFrame, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    event = EventPost(
        id="ev-1",
        name_zh="活动保障",
        start_date=date(2026, 12, 3),
        end_date=date(2026, 12, 4),
        slots=("morning", "midday"),
        post_id="NZ-kaiyuan-1",
        officers=2,
        assistants=1,
    )
    with_event = dataclasses.replace(policy, operations=(), events=(event,))
    demand = demand_for_week(posts, with_event, calendar, WEEK, squads=SQUADS)
    rows = demand[demand["kind"] == "event"]
    assert sorted(set(rows["date"])) == event.dates()
    assert len(rows) == len(event.dates()) * len(event.slots) * 2
    assert set(rows["squad_id"]) == {"HJ-S-NZ"}
    assert rows.groupby("role")["count"].first().to_dict() == {"any": 1, "officer": 2}
    missing = dataclasses.replace(event, post_id="nowhere")
    with pytest.raises(FieldError, match="nowhere"):
        demand_for_week(
            posts,
            dataclasses.replace(with_event, events=(missing,)),
            calendar,
            WEEK,
            squads=SQUADS,
        )


def test_barbecue_only_in_season(
    posts: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    demand: pd.DataFrame,
) -> None:
    barbecue = next(op for op in policy.operations if op.kind == "barbecue")
    assert 12 not in barbecue.months
    assert not (demand["kind"] == "barbecue").any()
    june = demand_for_week(posts, policy, calendar, "2026-W24", squads=SQUADS, zones=zones)
    rows = june[june["kind"] == "barbecue"]
    assert set(rows["slot_id"]) == set(barbecue.slots)
    assert len(rows) == 7 * len(barbecue.slots) * 2  # one market, officers and assistants


def test_bad_inputs(posts: gpd.GeoDataFrame, policy: DutyPolicy, calendar: HolidayCalendar) -> None:
    with pytest.raises(ValueError, match="zones"):
        demand_for_week(posts, policy, calendar, WEEK, squads=SQUADS)
    lean = dataclasses.replace(policy, operations=())
    doubled = pd.concat([posts, posts.iloc[:1]])
    with pytest.raises(DuplicateIdError):
        demand_for_week(doubled, lean, calendar, WEEK, squads=SQUADS)
    bad = posts.copy()
    bad.loc[0, "level"] = "severe"
    with pytest.raises(FieldError) as caught:
        demand_for_week(bad, lean, calendar, WEEK, squads=SQUADS)
    assert (caught.value.row, caught.value.field) == (1, "level")
    bad = posts.copy()
    bad["attrs"] = [{"hotspot": "very"}] + [{}] * (len(posts) - 1)
    with pytest.raises(FieldError, match="hotspot"):
        demand_for_week(bad, lean, calendar, WEEK, squads=SQUADS)
    homeless = posts.copy()
    homeless.loc[0, "squad_id"] = None
    with pytest.warns(GeodataWarning, match="no squad"):
        demand_for_week(homeless, lean, calendar, WEEK, squads=SQUADS)
    with pytest.raises(ValueError, match="2027"):
        demand_for_week(posts, lean, calendar, "2026-W53", squads=SQUADS)


def test_night_slot_ends_next_morning(demand: pd.DataFrame, policy: DutyPolicy) -> None:
    night = policy.slots_for("weekday")[-1]
    rows = demand[demand["slot_id"] == night.id]
    assert len(rows) > 0
    first = rows.iloc[0]
    day = first["date"]
    assert first["start"] == datetime.combine(day, night.start)
    assert first["end"] == datetime.combine(day + timedelta(days=1), night.end)
