"""A matched roster brought up to date after edits equals the roster matched afresh.

The district, demand and roster of :mod:`test_coverage`; random edits (rows removed, moved to
another place, task, role or slot, linked to another requirement, added, their pin flipped) are
applied one after another, and after each the roster brought up to date (:func:`rematch`) is
compared with the roster matched afresh (:func:`roster_coverage`): its tables, and every reader's
answer for the day and each slot.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_coverage import (
    DAY,
    ROUTE,
    SQUAD,
    calendar,
    coverage,
    demand,
    policy,
    posts,
    responsibility_grids,
    roster,
    staff,
    unit_grids,
)

from grids.coverage import (
    LENGTH_KEYS,
    RosterCoverage,
    coverage_by_post,
    coverage_by_slot,
    coverage_summary,
    covered_length,
    day_timeline,
    duty_slots,
    gaps,
    people_on_duty,
    roster_coverage,
    seamless_check,
)
from grids.coverage_rematch import changed_duties, rematch, rematch_changed
from grids.policy import DutyPolicy

__all__ = [  # the fixtures of test_coverage, used here too
    "calendar",
    "coverage",
    "demand",
    "policy",
    "posts",
    "responsibility_grids",
    "roster",
    "staff",
    "unit_grids",
]

PLACES = ("S1", "S2", "C1", "C2", "R1", "G1", ROUTE, "leader_duty", None)
TASKS = ("strict_post", "patrol", "guidance_window", "event", "leader_duty", "reserve")
ROLES = ("officer", "assistant", "leader")
PEOPLE = ("o1", "o2", "o3", "o9", "a1", "a4", "L1", "x1")


def _full(
    table: pd.DataFrame, base: RosterCoverage, demand: pd.DataFrame, posts: gpd.GeoDataFrame
) -> RosterCoverage:
    return roster_coverage(
        table,
        demand,
        posts,
        base.policy,
        calendar=base.calendar,
        staff=base.staff.values(),
        post_grids=base.post_grids,
        grid_areas=base.grid_areas,
        solver_reasons=dict(
            zip(
                base.requirements["requirement_id"], base.requirements["solver_reason"], strict=True
            )
        ),
    )


def _read_everything(coverage: RosterCoverage) -> list[Any]:
    """Return every reader's answer for the day and each of its slots."""
    slots = [s.id for s in duty_slots(DAY, coverage.policy, calendar=coverage.calendar)]
    found: list[Any] = [
        coverage_by_slot(coverage, DAY),
        day_timeline(coverage, DAY),
        seamless_check(coverage, DAY),
    ]
    for slot in [None, *slots]:
        found += [
            coverage_by_post(coverage, DAY, slot),
            gaps(coverage, DAY, slot),
            coverage_summary(coverage, DAY, slot),
            people_on_duty(coverage, DAY, slot),
        ]
        found += [covered_length(coverage, DAY, slot, by=key) for key in LENGTH_KEYS]
    return found


def _read_some(coverage: RosterCoverage) -> list[Any]:
    """Return the answers the others are made from: the posts by slot, gaps, people."""
    slots = [s.id for s in duty_slots(DAY, coverage.policy, calendar=coverage.calendar)]
    found: list[Any] = [coverage_by_slot(coverage, DAY), gaps(coverage, DAY)]
    return found + [people_on_duty(coverage, DAY, slot) for slot in [None, *slots]]


def assert_same(got: RosterCoverage, expected: RosterCoverage, *, read: bool = True) -> None:
    """Assert two matched rosters equal: their tables, and every reader's answer if ``read``."""
    for name in ("requirements", "requirement_posts", "posts", "assignments"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), obj=name)
    np.testing.assert_array_equal(got.requirement_post_offsets, expected.requirement_post_offsets)
    assert got.place_rows == expected.place_rows
    readers = _read_everything if read else _read_some
    for mine, theirs in zip(readers(got), readers(expected), strict=True):
        if isinstance(mine, pd.DataFrame):
            pd.testing.assert_frame_equal(mine, theirs)
        else:
            assert mine == theirs


def _times(policy: DutyPolicy, slot_id: str) -> tuple[datetime, datetime]:
    if slot_id == "day":
        start = datetime.combine(DAY, time(6))
        return start, start + timedelta(days=1)
    return policy.slot("weekday", slot_id).on(DAY)


def _edit(
    data: st.DataObject, table: pd.DataFrame, policy: DutyPolicy, requirements: list[str]
) -> pd.DataFrame:
    """Return the table with one random edit."""
    rows = table.to_dict("records")
    slots = ["early", "morning", "midday", "afternoon", "evening", "night", "day"]
    kind = data.draw(
        st.sampled_from(["remove", "place", "role", "slot", "link", "add", "pin", "twice"])
    )
    if kind == "add" or not rows:
        slot = data.draw(st.sampled_from(slots))
        start, end = _times(policy, slot)
        role = data.draw(st.sampled_from(ROLES))
        rows.append(
            {
                "officer_id": data.draw(st.sampled_from(PEOPLE)),
                "role": role,
                "squad_id": None if role == "leader" else SQUAD,
                "date": DAY,
                "slot_id": slot,
                "start": start,
                "end": end,
                "post_id": data.draw(st.sampled_from(PLACES)),
                "task": data.draw(st.sampled_from(TASKS)),
                "requirement_id": data.draw(st.sampled_from([None, *requirements])),
                "pinned": data.draw(st.booleans()),
            }
        )
        return pd.DataFrame(rows)
    at = data.draw(st.integers(0, len(rows) - 1))
    row = dict(rows[at])
    if kind == "remove":
        del rows[at]
        return pd.DataFrame(rows)
    if kind == "twice":
        rows.append(row)
        return pd.DataFrame(rows)
    if kind == "place":
        row["post_id"] = data.draw(st.sampled_from(PLACES))
        row["task"] = data.draw(st.sampled_from(TASKS))
    elif kind == "role":
        row["role"] = data.draw(st.sampled_from(ROLES))
    elif kind == "slot":
        row["slot_id"] = data.draw(st.sampled_from(slots))
        row["start"], row["end"] = _times(policy, row["slot_id"])
    elif kind == "link":
        row["requirement_id"] = data.draw(st.sampled_from([None, *requirements]))
    else:
        row["pinned"] = not row["pinned"]
    rows[at] = row
    return pd.DataFrame(rows)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_edits_rematched_equal_a_full_match(
    *,
    data: st.DataObject,
    coverage: RosterCoverage,
    roster: pd.DataFrame,
    demand: pd.DataFrame,
    posts: gpd.GeoDataFrame,
    policy: DutyPolicy,
) -> None:
    day = demand[demand["date"].eq(DAY).to_numpy()]
    requirements = list(day["requirement_id"])
    current = rematch(coverage, roster)
    _read_everything(current)  # what the readers keep must not outlive the change
    table = roster
    for _ in range(data.draw(st.integers(1, 4))):
        table = _edit(data, table, policy, requirements)
        current = rematch(current, table)
        # what the readers kept before the edit and kept through it must not be stale
        assert_same(current, _full(table, coverage, demand, posts))


def test_a_moved_officer_is_counted_where_he_went(
    coverage: RosterCoverage, roster: pd.DataFrame, demand: pd.DataFrame, posts: gpd.GeoDataFrame
) -> None:
    assert coverage_by_post(coverage, DAY, "midday").set_index("post_id").at["G1", "status"] == (
        "gap"
    )
    _read_everything(coverage)
    moved = roster.copy()
    on_route = moved["post_id"].eq(ROUTE).to_numpy() & moved["slot_id"].eq("midday").to_numpy()
    moved.loc[on_route, ["post_id", "task"]] = ["G1", "guidance_window"]
    rematched, changed = rematch_changed(coverage, moved)
    assert changed
    statuses = coverage_by_post(rematched, DAY, "midday").set_index("post_id")["status"]
    assert statuses["G1"] == "covered"
    assert statuses["C2"] == "gap"
    assert_same(rematched, _full(moved, coverage, demand, posts))


def test_a_pin_flipped_changes_no_duty_and_keeps_what_was_read(
    coverage: RosterCoverage, roster: pd.DataFrame
) -> None:
    _read_everything(coverage)
    flipped = roster.assign(pinned=~roster["pinned"].astype(bool))
    rematched, changed = rematch_changed(coverage, flipped)
    assert not changed
    removed, added = changed_duties(coverage.assignments, rematched.assignments)
    assert len(removed) == len(added) == 0
    assert rematched.requirements is coverage.requirements
    assert rematched.cache.keys() == coverage.cache.keys()
    assert rematched.assignments["pinned"].all()


def test_changed_duties_names_the_rows_on_each_side(coverage: RosterCoverage) -> None:
    before = coverage.assignments
    after = before.drop(index=[0]).reset_index(drop=True)
    after.loc[0, "post_id"] = "R1"
    removed, added = changed_duties(before, after)
    assert removed.tolist() == [0, 1]
    assert added.tolist() == [0]
