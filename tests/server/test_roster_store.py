"""Duty policies, staff and rosters written and read back, on SQLite and PostGIS."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from grids.policy import huiji_default_policy, policy_to_toml
from grids.roster import ASSIGNMENT_COLUMNS, check_assignments
from grids.staff import LeavePeriod, Officer, StaffRequest
from server.migrations import latest_version
from server.roster_head import roster_day
from server.roster_store import (
    PolicyConflictError,
    RosterConflictError,
    RosterStore,
    officer_from_dict,
    officer_to_dict,
)
from server.storage import Store

WEEK = "2026-W49"
MONDAY = date(2026, 11, 30)


def _officers() -> list[Officer]:
    return [
        Officer(
            id="HJ-YB-001",
            name="王伟",
            squad_id="HJ-S-YB",
            role="officer",
            contract_hours_week=36.5,
            phone="13800000000",
            availability={1: frozenset({"early", "morning"}), 6: frozenset()},
            leave=(LeavePeriod(date(2026, 12, 1), date(2026, 12, 3), "年假"),),
            requests=(StaffRequest(date(2026, 12, 5), "night", False, 2.0),),
            demo=True,
        ),
        Officer(id="HJ-YB-002", name="李娜", squad_id="HJ-S-YB", role="assistant"),
        Officer(id="HJ-LD-001", name="张强", squad_id=None, role="leader"),
    ]


def _assignments() -> pd.DataFrame:
    rows = []
    for n, (officer, role, squad) in enumerate(
        [("HJ-YB-001", "officer", "HJ-S-YB"), ("HJ-YB-002", "assistant", "HJ-S-YB")]
    ):
        for slot, hour, length in (("morning", 8, 4), ("midday", 12, 3)):
            start = datetime.combine(MONDAY, datetime.min.time()) + timedelta(hours=hour)
            rows.append(
                {
                    "officer_id": officer,
                    "role": role,
                    "squad_id": squad,
                    "date": MONDAY,
                    "slot_id": slot,
                    "start": start,
                    "end": start + timedelta(hours=length),
                    "post_id": "P-1" if n == 0 else None,
                    "task": "strict_post" if n == 0 else "reserve",
                    "requirement_id": f"{MONDAY}/{slot}/strict_post/P-1" if n == 0 else None,
                    "pinned": slot == "morning",
                }
            )
    start = datetime.combine(MONDAY, datetime.min.time()) + timedelta(hours=6)
    rows.append(
        {
            "officer_id": "HJ-LD-001",
            "role": "leader",
            "squad_id": None,
            "date": MONDAY,
            "slot_id": "day",
            "start": start,
            "end": start + timedelta(days=1),
            "post_id": "leader_duty",
            "task": "leader_duty",
            "requirement_id": "leader",
            "pinned": False,
        }
    )
    frame = pd.DataFrame(
        {name: pd.Series([row[name] for row in rows], dtype=object) for name in ASSIGNMENT_COLUMNS}
    ).astype({"start": "datetime64[ns]", "end": "datetime64[ns]", "pinned": bool})
    return check_assignments(frame)


@pytest.fixture
def rosters(store: Store) -> RosterStore:
    return RosterStore(store)


def test_the_schema_has_the_roster_tables(store: Store) -> None:
    assert store.schema_version() == latest_version()
    with store.connection() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    assert {"duty_policies", "staff", "rosters", "roster_assignments"} <= tables


def test_officer_as_json_round_trip() -> None:
    for officer in _officers():
        assert officer_from_dict(officer_to_dict(officer)) == officer


def test_policy_round_trip_and_versions(rosters: RosterStore) -> None:
    policy = huiji_default_policy()
    assert rosters.policy() is None
    text = policy_to_toml(policy)
    assert rosters.save_policy(policy, text=text, source="huiji.toml") is True
    assert rosters.save_policy(policy) is False
    assert rosters.policy() == policy
    assert rosters.policy_text(policy.version) == text
    changed = policy.revised(description="changed")
    with pytest.raises(PolicyConflictError, match="bump"):
        rosters.save_policy(replace(changed, version=policy.version))
    assert rosters.save_policy(changed) is True
    latest = rosters.policy()
    assert latest is not None
    assert latest.version == policy.version + 1
    assert latest.fingerprint() == changed.fingerprint()
    versions = rosters.policy_versions()
    assert [v["version"] for v in versions] == [policy.version, policy.version + 1]
    assert versions[0]["source"] == "huiji.toml"


def test_staff_round_trip_replaces_the_list(rosters: RosterStore) -> None:
    officers = _officers()
    assert rosters.replace_staff(officers, source="staff.csv") == len(officers)
    assert rosters.staff() == sorted(officers, key=lambda o: o.id)
    assert rosters.staff_source() == "staff.csv"
    assert rosters.replace_staff(officers[:1], source="demo") == 1
    assert rosters.staff() == officers[:1]


def test_roster_round_trip(rosters: RosterStore) -> None:
    policy = huiji_default_policy()
    frame = _assignments()
    report = {"objective": 12.5, "coverage": {"strict": {"share": 0.5}}, "note": "排班"}
    first = rosters.save_roster(WEEK, frame, report, policy=policy)
    second = rosters.save_roster(WEEK, frame, report, policy=policy, based_on=first.info.roster_id)
    assert first.info.roster_id != second.info.roster_id
    stored = rosters.roster(first.info.roster_id)
    pd.testing.assert_frame_equal(stored.assignments, frame)
    assert stored.info.solver == report
    assert stored.info.policy_version == policy.version
    assert stored.info.policy_fingerprint == policy.fingerprint()
    assert stored.info.status == "draft"
    assert stored.version == 1
    latest = rosters.roster(week=WEEK)
    assert latest.info.roster_id == second.info.roster_id
    assert latest.based_on == first.info.roster_id
    assert [r.info.roster_id for r in rosters.rosters(WEEK)] == [
        first.info.roster_id,
        second.info.roster_id,
    ]
    with pytest.raises(KeyError):
        rosters.roster("2026-W01-1")


def test_publishing_bumps_the_version_and_checks_it(rosters: RosterStore) -> None:
    stored = rosters.save_roster(WEEK, _assignments(), {}, policy=huiji_default_policy())
    published = rosters.set_status(stored.info.roster_id, "published", expected_version=1)
    assert published.info.status == "published"
    assert published.version == 2
    with pytest.raises(RosterConflictError):
        rosters.set_status(stored.info.roster_id, "draft", expected_version=1)
    assert rosters.roster(stored.info.roster_id).version == 2


def test_a_failed_roster_write_leaves_nothing(rosters: RosterStore) -> None:
    frame = _assignments()
    doubled = pd.concat([frame, frame.iloc[:1]], ignore_index=True)
    with pytest.raises(sa.exc.IntegrityError):
        rosters.save_roster(WEEK, doubled, {}, policy=huiji_default_policy())
    assert rosters.rosters() == []
    with pytest.raises(KeyError):
        rosters.roster(week=WEEK)


def test_a_roster_is_read_without_its_rows_or_report_when_asked(rosters: RosterStore) -> None:
    report = {"objective": 12.5, "uncovered": [{"requirement_id": "x", "reason": "无人"}]}
    saved = rosters.save_roster(WEEK, _assignments(), report, policy=huiji_default_policy())
    roster_id = saved.info.roster_id
    whole = rosters.roster(roster_id)
    head = rosters.roster(roster_id, rows=False)
    assert head.assignments.empty
    assert head.info == whole.info
    assert head.info.solver == report
    bare = rosters.roster(roster_id, report=False)
    pd.testing.assert_frame_equal(bare.assignments, whole.assignments)
    assert bare.info.solver == {}
    assert bare.info.created_at == whole.info.created_at
    assert bare.version == whole.version
    with pytest.raises(KeyError):
        rosters.roster("2026-W01-1", rows=False, report=False)


def test_rosters_are_counted_in_the_statement_that_reads_them(
    rosters: RosterStore, store: Store
) -> None:
    saved = rosters.save_roster(WEEK, _assignments(), {}, policy=huiji_default_policy())
    roster_id = saved.info.roster_id
    empty = rosters.save_roster(WEEK, _assignments().iloc[:0], {}, policy=huiji_default_policy())
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(store._engine, "before_cursor_execute", record)
    try:
        head = rosters.roster(roster_id, rows=False, report=False, counted=True)
        listed = rosters.rosters(WEEK, counted=True)
    finally:
        sa.event.remove(store._engine, "before_cursor_execute", record)
    assert head.assignment_count == len(_assignments()) == rosters.assignment_count(roster_id)
    assert {r.info.roster_id: r.assignment_count for r in listed} == {
        roster_id: len(_assignments()),
        empty.info.roster_id: 0,
    }
    # One statement each, one snapshot: a count belongs to the version read with it.
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2
    assert rosters.roster(roster_id, rows=False).assignment_count is None
    assert {r.assignment_count for r in rosters.rosters(WEEK)} == {None}


def test_a_day_of_a_roster_is_read_with_its_version(rosters: RosterStore, store: Store) -> None:
    frame = _assignments()
    later = frame.iloc[[0]].assign(
        date=MONDAY + timedelta(days=1),
        start=frame["start"].iloc[0] + timedelta(days=1),
        end=frame["end"].iloc[0] + timedelta(days=1),
    )
    week = check_assignments(pd.concat([frame, later], ignore_index=True))
    saved = rosters.save_roster(WEEK, week, {"big": "report"}, policy=huiji_default_policy())
    roster_id = saved.info.roster_id
    rosters.set_status(roster_id, "published", expected_version=1)
    head, rows = roster_day(store, roster_id, MONDAY)
    assert (head.version, head.info.status, head.info.solver) == (2, "published", {})
    whole = rosters.roster(roster_id).assignments
    monday = whole[whole["date"].eq(MONDAY).to_numpy()].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, monday)
    assert len(rows) == len(frame)
    _, tuesday = roster_day(store, roster_id, MONDAY + timedelta(days=1))
    assert tuesday["officer_id"].tolist() == [frame["officer_id"].iloc[0]]
    head, none = roster_day(store, roster_id, MONDAY - timedelta(days=1))
    assert none.empty
    assert head.version == 2
    with pytest.raises(KeyError):
        roster_day(store, "2026-W01-1", MONDAY)
