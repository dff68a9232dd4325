"""Reading and writing assignment tables: round trips, Chinese headers, row-level errors."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pandas as pd
import pytest

from geodata.errors import FieldError, InputFileError
from grids.calendar import HolidayCalendar, china_holidays
from grids.policy import DutyPolicy, huiji_default_policy
from grids.roster import ASSIGNMENT_COLUMNS, check_assignments, empty_assignments
from grids.roster_io import (
    RosterFileError,
    read_assignments,
    write_assignments_csv,
    write_assignments_xlsx,
)
from grids.staff import Officer


@pytest.fixture(scope="module")
def policy() -> DutyPolicy:
    return huiji_default_policy()


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


@pytest.fixture
def roster() -> pd.DataFrame:
    rows = [
        (
            "O1",
            "officer",
            "SQ",
            date(2026, 12, 1),
            "morning",
            "08:00",
            "12:00",
            "P1",
            "strict_post",
        ),
        (
            "A1",
            "assistant",
            "SQ",
            date(2026, 12, 1),
            "morning",
            "11:00",
            "12:00",
            "G1",
            "guidance_window",
        ),
        (
            "O2",
            "officer",
            "SQ",
            date(2026, 12, 1),
            "night",
            "22:00",
            "06:00",
            "op@Z1",
            "night_check",
        ),
        (
            "L1",
            "leader",
            None,
            date(2026, 12, 2),
            "day",
            "06:00",
            "06:00",
            "leader_duty",
            "leader_duty",
        ),
        ("O1", "officer", "SQ", date(2026, 12, 2), "afternoon", "15:00", "18:00", None, "reserve"),
    ]
    records = []
    for officer, role, squad, day, slot, start, end, post, task in rows:
        first = datetime.combine(day, datetime.strptime(start, "%H:%M").time())
        last = datetime.combine(day, datetime.strptime(end, "%H:%M").time())
        if last <= first:
            last += pd.Timedelta(days=1)
        records.append(
            {
                "officer_id": officer,
                "role": role,
                "squad_id": squad,
                "date": day,
                "slot_id": slot,
                "start": first,
                "end": last,
                "post_id": post,
                "task": task,
                "requirement_id": f"req-{officer}-{slot}" if post else None,
                "pinned": officer == "L1",
            }
        )
    dtypes = empty_assignments().dtypes
    frame = pd.DataFrame(
        {c: pd.Series([r[c] for r in records], dtype=dtypes[c]) for c in ASSIGNMENT_COLUMNS}
    )
    return check_assignments(frame)


@pytest.mark.parametrize("headers", ["zh", "en"])
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_trip(roster: pd.DataFrame, tmp_path: Path, headers: str, suffix: str) -> None:
    path = tmp_path / f"roster{suffix}"
    if suffix == ".csv":
        write_assignments_csv(roster, path, headers=headers)  # type: ignore[arg-type]
    else:
        write_assignments_xlsx(roster, path, headers=headers)  # type: ignore[arg-type]
    back = read_assignments(path)
    pd.testing.assert_frame_equal(back, roster)
    if suffix == ".csv" and headers == "zh":
        text = path.read_text("utf-8-sig")
        assert text.startswith("工号,角色,中队,日期,时段")
        assert "严管岗" in text
        assert "协管员" in text


def test_chinese_gb18030_file_with_title_rows_and_slot_names(
    tmp_path: Path, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    path = tmp_path / "排班表.csv"
    text = (
        "惠济区城管执法局 第49周排班表,,,,,\n"
        ",,,,,\n"
        "工号,姓名,日期,时段,岗位,任务,备注\n"
        "O1,张一,2026/12/1,上午,P1,严管岗,\n"
        "O2,张二,2026年12月1日,夜查,op@Z1,夜查,夜市\n"
        "L1,王一,2026-12-02,day,,,\n"
        "O1,张一,2026-12-02,afternoon,HJ-S-YB/patrol-01,,\n"
    )
    path.write_bytes(text.encode("gb18030"))
    staff = [
        Officer("O1", "张一", "SQ", "officer"),
        Officer("O2", "张二", "SQ", "officer"),
        Officer("L1", "王一", None, "leader"),
    ]
    frame = read_assignments(path, policy=policy, calendar=calendar, staff=staff)
    by_officer = {(r.officer_id, r.slot_id): r for r in frame.itertuples(index=False)}
    assert set(by_officer) == {
        ("O1", "morning"),
        ("O2", "night"),
        ("L1", "day"),
        ("O1", "afternoon"),
    }
    night = by_officer[("O2", "night")]
    assert night.start == pd.Timestamp("2026-12-01 22:00")
    assert night.end == pd.Timestamp("2026-12-02 06:00")
    assert night.task == "night_check"
    assert night.role == "officer"
    assert night.squad_id == "SQ"
    leader = by_officer[("L1", "day")]
    assert (leader.task, leader.end - leader.start) == ("leader_duty", pd.Timedelta(hours=24))
    assert leader.squad_id is None
    assert by_officer[("O1", "afternoon")].task == "patrol"
    assert by_officer[("O1", "morning")].start == pd.Timestamp("2026-12-01 08:00")


def test_every_bad_row_is_reported_and_nothing_returned(
    tmp_path: Path, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "officer_id,date,slot_id,post_id,task\n"
        "O1,2026-12-01,morning,P1,strict_post\n"
        "O2,2026-13-01,morning,P1,strict_post\n"  # no 13th month
        "O3,2026-12-01,brunch,P1,strict_post\n"  # no such slot
        "O4,2026-12-01,morning,P1,sleeping\n"  # no such task
        "O1,2026-12-02,midday,P1,strict_post\n",
        "utf-8",
    )
    with pytest.raises(RosterFileError) as caught:
        read_assignments(path, policy=policy, calendar=calendar)
    problems = caught.value.problems
    assert [(p.row, p.field) for p in problems] == [(3, "date"), (4, "slot_id"), (5, "task")]
    assert [p.value for p in problems] == ["2026-13-01", "brunch", "sleeping"]
    assert "3 problems" in str(caught.value)
    assert caught.value.to_dict()["problems"][1]["row"] == 4
    assert isinstance(caught.value, FieldError)


def test_rows_without_times_need_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "工号,日期,时段,岗位,任务,开始,结束\n"
        "O1,2026-12-01,morning,P1,strict_post,,\n"
        "O1,2026-12-01,midday,P1,strict_post,12:00,\n"
        "O1,2026-12-01,evening,P1,strict_post,2026-12-01 22:00,2026-12-01 18:00\n"
        "O1,2026-12-02,early,P1,strict_post,06:00,08:00\n"
        "O1,2026-12-02,early,P1,strict_post,06:00,08:00\n",
        "utf-8",
    )
    with pytest.raises(RosterFileError) as caught:
        read_assignments(path)
    assert [(p.row, p.field) for p in caught.value.problems] == [
        (2, "start"),
        (3, "end"),
        (4, "end"),
        (6, "officer_id"),
    ]


def test_missing_column_and_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("工号,日期,岗位\nO1,2026-12-01,P1\n", "utf-8")
    with pytest.raises(FieldError, match="slot_id"):
        read_assignments(path)
    other = tmp_path / "roster.json"
    other.write_text("{}", "utf-8")
    with pytest.raises(InputFileError, match="unknown roster file type"):
        read_assignments(other)


def test_excel_sheet_with_real_dates(tmp_path: Path, policy: DutyPolicy) -> None:
    path = tmp_path / "roster.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["工号", "日期", "时段", "岗位", "任务", "固定"])
    sheet.append(["O1", datetime(2026, 12, 1), "morning", "P1", "严管", "是"])
    sheet.append(["O1", datetime(2026, 12, 2), "上午", "P1", "strict_post", None])
    book.save(path)
    frame = read_assignments(path, policy=policy)
    assert list(frame["date"]) == [date(2026, 12, 1), date(2026, 12, 2)]
    assert list(frame["pinned"]) == [True, False]
    assert list(frame["slot_id"]) == ["morning", "morning"]
    assert frame["start"].dt.hour.tolist() == [8, 8]
