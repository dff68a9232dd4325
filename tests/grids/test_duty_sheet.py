"""The duty sheet: every assignment in its cell, the leader on top, gaps marked, hours counted."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import openpyxl
import pandas as pd
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from grids.calendar import HolidayCalendar, china_holidays
from grids.demand import DEMAND_COLUMNS
from grids.duty_sheet import (
    ASSISTANT_MARK,
    SCHEMATIC_LABEL,
    SUMMARY_SHEET,
    UNCOVERED_MARK,
    duty_sheet_bytes,
    duty_sheet_workbook,
    sheet_name,
    write_duty_sheet,
)
from grids.policy import DayType, DutyPolicy, huiji_default_policy
from grids.roster import empty_assignments
from grids.roster_rules import working_time
from grids.staff import Officer

MON = date(2026, 11, 30)  # ISO week 2026-W49, no public holiday
TUE = MON + timedelta(days=1)
SAT = MON + timedelta(days=5)
SQUADS = {"S1": "一中队", "S2": "二中队:东/西"}
POSTS = pd.DataFrame(
    {
        "id": ["P1", "P2", "P3"],
        "kind": ["segment", "segment", "segment"],
        "level": ["strict", "controlled", "strict"],
        "road_name_zh": ["文化路", "英才街", "天河路"],
        "squad_id": ["S1", "S1", "S2"],
    }
)
STAFF = [
    Officer("O1", "张三", "S1", "officer"),
    Officer("O2", "李四", "S1", "officer"),
    Officer("A1", "王五", "S1", "assistant"),
    Officer("O3", "赵六", "S2", "officer"),
    Officer("L1", "刘带班", None, "leader"),
]


@pytest.fixture(scope="module")
def policy() -> DutyPolicy:
    return huiji_default_policy()


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


def _row(
    policy: DutyPolicy,
    officer: str,
    day: date,
    slot: str,
    post: str | None,
    *,
    task: str = "strict_post",
    role: str = "officer",
    squad: str | None = "S1",
    day_type: DayType = "weekday",
) -> dict[str, Any]:
    if slot == "day":
        start, end = policy.leader.on(day)
    else:
        start, end = policy.slot(day_type, slot).on(day)
    return {
        "officer_id": officer,
        "role": role,
        "squad_id": squad,
        "date": day,
        "slot_id": slot,
        "start": start,
        "end": end,
        "post_id": post,
        "task": task,
        "requirement_id": None,
        "pinned": False,
    }


@pytest.fixture(scope="module")
def roster(policy: DutyPolicy) -> pd.DataFrame:
    rows = [
        _row(policy, "O1", MON, "morning", "P1", task="strict_post"),
        _row(policy, "A1", MON, "morning", "P2", task="guidance_window", role="assistant"),
        _row(policy, "O2", MON, "morning", "P2", task="strict_post"),
        _row(policy, "O2", MON, "afternoon", "S1/patrol-01", task="patrol"),
        _row(policy, "O1", MON, "evening", None, task="reserve"),
        _row(policy, "O1", TUE, "midday", "P1", task="strict_post"),
        _row(
            policy, "L1", MON, "day", "leader_duty", task="leader_duty", role="leader", squad=None
        ),
        # 10 hours on Monday: over the 8-hour working day
        *(
            _row(policy, "O3", MON, slot, "P3", task="strict_post", squad="S2")
            for slot in ("morning", "midday", "afternoon")
        ),
    ]
    return pd.DataFrame(rows)


def _requirement(policy: DutyPolicy, post: str, slot: str, squad: str | None) -> dict[str, Any]:
    start, end = policy.slot("weekday", slot).on(MON)
    return {
        "requirement_id": f"{MON}/{slot}/strict_post/{post}",
        "date": MON,
        "day_type": "weekday",
        "slot_id": slot,
        "start": start,
        "end": end,
        "post_id": post,
        "post_ids": post,
        "squad_id": squad,
        "role": "officer",
        "count": 1,
        "hours": (end - start).total_seconds() / 3600,
        "weight": 100.0,
        "hard": True,
        "kind": "strict_post",
        "reason_zh": "严管",
    }


@pytest.fixture(scope="module")
def demand(policy: DutyPolicy) -> pd.DataFrame:
    start, end = policy.leader.on(MON)
    leader = {
        **_requirement(policy, "leader_duty", "morning", None),
        "requirement_id": f"{MON}/-/leader_duty",
        "slot_id": None,
        "start": start,
        "end": end,
        "post_ids": "",
        "role": "leader",
        "kind": "leader_duty",
    }
    rows = [
        _requirement(policy, "P1", "morning", "S1"),  # O1 is there
        _requirement(policy, "P1", "midday", "S1"),  # nobody: uncovered
        leader,
    ]
    return pd.DataFrame(rows, columns=list(DEMAND_COLUMNS))


@pytest.fixture(scope="module")
def book(
    roster: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar, demand: pd.DataFrame
) -> openpyxl.Workbook:
    made = duty_sheet_workbook(
        roster,
        officers=STAFF,
        policy=policy,
        calendar=calendar,
        posts=POSTS,
        squads=SQUADS,
        week_days=[MON + timedelta(days=n) for n in range(7)],
        demand=demand,
        title="测试区城管执法局",
        note="排班编号 2026-W49-1（草稿）",
        schematic=True,
    )
    # what is checked is what a reader of the file sees
    return openpyxl.load_workbook(io.BytesIO(duty_sheet_bytes(made)))


def _day_row(sheet: Worksheet, day: date) -> int:
    for (cell,) in sheet.iter_rows(min_col=1, max_col=1):
        if isinstance(cell.value, str) and cell.value.startswith(day.isoformat()):
            return int(cell.row)
    raise AssertionError(f"no block for {day} in {sheet.title}")


def _cell(sheet: Worksheet, day: date, post: str | None, slot_name: str) -> Any:
    """Return the cell of ``post`` (None: reserve) and the slot named ``slot_name`` on ``day``."""
    header = _day_row(sheet, day) + 1
    columns = {
        str(c.value).split("\n")[0]: c.column
        for c in sheet[header]
        if c.value is not None and c.column >= 4
    }
    for row in range(header + 1, sheet.max_row + 1):
        label = sheet.cell(row=row, column=1).value
        if label is None:
            break
        if label == (post if post is not None else "—"):
            return sheet.cell(row=row, column=columns[slot_name])
    raise AssertionError(f"no row for {post} on {day} in {sheet.title}")


def _slot_name(policy: DutyPolicy, slot_id: str) -> str:
    return policy.slot("weekday", slot_id).name_zh


def test_sheets_are_one_per_squad_then_the_hours_with_names_excel_accepts(
    book: openpyxl.Workbook,
) -> None:
    assert book.sheetnames == ["一中队", "二中队_东_西", SUMMARY_SHEET]
    for name in book.sheetnames:
        assert len(name) <= 31
        assert not set(name) & set("[]:*?/\\")


def test_every_assignment_is_in_its_cell(
    book: openpyxl.Workbook, roster: pd.DataFrame, policy: DutyPolicy
) -> None:
    names = {o.id: o.name for o in STAFF}
    sheets = {"S1": book["一中队"], "S2": book["二中队_东_西"]}
    for row in roster.to_dict("records"):
        if row["task"] == "leader_duty":
            continue
        post = row["post_id"] if isinstance(row["post_id"], str) else None
        cell = _cell(sheets[row["squad_id"]], row["date"], post, _slot_name(policy, row["slot_id"]))
        assert f"{names[row['officer_id']]} {row['officer_id']}" in str(cell.value)
    sheet = sheets["S1"]
    assert ASSISTANT_MARK in str(_cell(sheet, MON, "P2", "上午").value)
    assert "张三" not in str(_cell(sheet, MON, "P1", "下午").value or "")
    assert "李四" not in str(_cell(sheet, MON, "P1", "上午").value)


def test_rows_say_what_the_post_or_task_is(book: openpyxl.Workbook) -> None:
    sheet = book["一中队"]
    first = _day_row(sheet, MON) + 2
    rows = {}
    for row in range(first, first + 4):
        label, road, kind = (sheet.cell(row=row, column=c).value for c in (1, 2, 3))
        rows[label] = (road, kind)
    assert rows == {
        "P1": ("文化路", "严管"),
        "P2": ("英才街", "严控"),
        "S1/patrol-01": ("严控路段", "巡查"),
        "—": ("机动备勤", "备勤"),
    }


def test_the_duty_leader_heads_each_day(book: openpyxl.Workbook) -> None:
    for name in ("一中队", "二中队_东_西"):
        sheet = book[name]
        monday = sheet.cell(row=_day_row(sheet, MON), column=4).value
        assert monday.startswith("带班领导：刘带班（L1）")
        assert "06:00–次日06:00" in monday
        tuesday = sheet.cell(row=_day_row(sheet, TUE), column=4)
        assert tuesday.value == "带班领导：未排"  # not required on Tuesday by this demand
        assert not str(tuesday.fill.fgColor.rgb).endswith("FFC7CE")


def test_a_day_without_its_required_leader_is_marked(
    roster: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar, demand: pd.DataFrame
) -> None:
    made = duty_sheet_workbook(
        roster[roster["task"] != "leader_duty"],
        officers=STAFF,
        policy=policy,
        calendar=calendar,
        squads=SQUADS,
        demand=demand,
    )
    sheet = made["一中队"]
    leader = sheet.cell(row=_day_row(sheet, MON), column=4)
    assert leader.value == f"带班领导：{UNCOVERED_MARK}"
    assert leader.fill.fgColor.rgb.endswith("FFC7CE")


def test_an_uncovered_required_cell_is_marked(book: openpyxl.Workbook) -> None:
    sheet = book["一中队"]
    gap = _cell(sheet, MON, "P1", "午间")
    assert gap.value == UNCOVERED_MARK
    assert gap.fill.fgColor.rgb.endswith("FFC7CE")
    covered = _cell(sheet, MON, "P1", "上午")
    assert covered.value == "张三 O1"
    assert not str(covered.fill.fgColor.rgb).endswith("FFC7CE")
    everywhere = [
        c.value for ws in book.worksheets for r in ws.iter_rows() for c in r if c.value == "空岗"
    ]
    assert len(everywhere) == 1


def _summary_rows(book: openpyxl.Workbook) -> dict[str, dict[str, Any]]:
    sheet = book[SUMMARY_SHEET]
    headers = [str(c.value) for c in sheet[3]]
    rows = {}
    for values in sheet.iter_rows(min_row=4, values_only=True):
        if values[0] and values[1]:
            rows[str(values[0])] = dict(zip(headers, values, strict=True))
    return rows


def test_hours_per_person_are_the_sum_of_their_assignments(
    book: openpyxl.Workbook, roster: pd.DataFrame
) -> None:
    rows = _summary_rows(book)
    assert set(rows) == {o.id for o in STAFF}
    for officer_id, own in roster.groupby("officer_id"):
        hours = float(((own["end"] - own["start"]).dt.total_seconds() / 3600).sum())
        assert rows[str(officer_id)]["合计工时"] == pytest.approx(hours)
        monday = float(
            ((own["end"] - own["start"]).dt.total_seconds() / 3600)[own["date"] == MON].sum()
        )
        assert rows[str(officer_id)]["11-30\n周一"] == pytest.approx(monday)
    assert rows["O1"]["12-02\n周三"] == "休"
    assert rows["O3"]["加班工时"] == pytest.approx(2)
    assert rows["O3"]["计入周工时"] == pytest.approx(8)


def test_an_officer_over_the_legal_limits_is_flagged(book: openpyxl.Workbook) -> None:
    rows = _summary_rows(book)
    assert "每日工作超过 8 小时" in rows["O3"]["超限提示"]
    assert rows["O1"]["超限提示"] is None
    flagged = book[SUMMARY_SHEET].cell(row=4 + list(rows).index("O3"), column=1)
    assert flagged.value == "O3"
    assert flagged.fill.fgColor.rgb.endswith("FFC7CE")


def test_nights_weekends_and_rest_days_are_counted(
    policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    rows = [
        _row(policy, "O1", MON, "morning", "P1", task="strict_post"),
        _row(policy, "O1", TUE, "night", "night-check-market@Z1", task="night_check"),
        _row(policy, "O1", SAT, "morning", "P1", task="strict_post", day_type="weekend"),
    ]
    made = duty_sheet_workbook(
        pd.DataFrame(rows),
        officers=STAFF[:1],
        policy=policy,
        calendar=calendar,
        week_days=[MON + timedelta(days=n) for n in range(7)],
    )
    sheet = made[SUMMARY_SHEET]
    headers = [str(c.value) for c in sheet[3]]
    values = dict(zip(headers, next(sheet.iter_rows(min_row=4, values_only=True)), strict=True))
    assert values["夜班（天）"] == 1
    assert values["周末/节假日（天）"] == 1
    expected = working_time(pd.DataFrame(rows), policy=policy, calendar=calendar)[0]
    assert values["休息日（天）"] == expected.rest_days
    assert 1 <= expected.rest_days <= 4


def test_schematic_data_are_labelled_on_every_sheet(
    book: openpyxl.Workbook, roster: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    for sheet in book.worksheets:
        assert SCHEMATIC_LABEL in str(sheet.cell(row=2, column=1).value)
        assert "示意数据" in sheet.oddHeader.right.text
    real = duty_sheet_workbook(roster, officers=STAFF, policy=policy, calendar=calendar)
    for sheet in real.worksheets:
        texts = [str(c.value) for r in sheet.iter_rows() for c in r if c.value is not None]
        assert not any(SCHEMATIC_LABEL in t for t in texts)


def test_sheets_print_landscape_fitted_to_width_with_repeated_headers(
    book: openpyxl.Workbook,
) -> None:
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert sheet.print_title_rows == "$1:$3"
        assert sheet.freeze_panes is not None
        assert "测试区城管执法局" in str(sheet.cell(row=1, column=1).value)
        assert "2026-W49" in str(sheet.cell(row=1, column=1).value)
        assert "&P" in sheet.oddFooter.center.text
        assert sheet.cell(row=3, column=1).border.left.style == "thin"


def test_a_roster_without_demand_marks_nothing(
    roster: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    made = duty_sheet_workbook(roster, officers=STAFF, policy=policy, calendar=calendar)
    texts = [str(c.value) for ws in made.worksheets for r in ws.iter_rows() for c in r]
    assert UNCOVERED_MARK not in texts
    assert made.sheetnames == ["S1", "S2", SUMMARY_SHEET]  # no squad names given: their ids


def test_an_empty_roster_still_makes_a_sheet(policy: DutyPolicy, calendar: HolidayCalendar) -> None:
    made = duty_sheet_workbook(
        empty_assignments(),
        officers=STAFF,
        policy=policy,
        calendar=calendar,
        squads=SQUADS,
        week_days=[MON],
    )
    assert made.sheetnames == ["一中队", "二中队_东_西", SUMMARY_SHEET]
    assert "本日无岗位安排" in [c.value for r in made["一中队"].iter_rows() for c in r]


def test_written_and_read_back(book: openpyxl.Workbook, tmp_path: Any) -> None:
    path = tmp_path / "排班表.xlsx"
    write_duty_sheet(book, path)
    again = openpyxl.load_workbook(path)
    assert again.sheetnames == book.sheetnames


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("一中队", (), "一中队"),
        ("a/b:c*d?e[f]g\\h", (), "a_b_c_d_e_f_g_h"),
        ("'引号'", (), "引号"),
        ("", (), "Sheet"),
        ("中" * 40, (), "中" * 31),
        ("Squad", ("squad",), "Squad(2)"),
        ("中" * 31, ("中" * 31,), "中" * 28 + "(2)"),
    ],
)
def test_sheet_names_are_valid_for_excel(name: str, taken: tuple[str, ...], expected: str) -> None:
    assert sheet_name(name, taken) == expected


def test_a_week_over_the_legal_hours_is_counted_and_flagged_as_the_rules_count_it(
    policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    days = [MON + timedelta(days=n) for n in range(6)]  # Monday to Saturday, 7 hours a day
    rows = [
        _row(policy, "O1", day, slot, "P1", day_type=calendar.day_type(day))
        for day in days
        for slot in ("morning", "midday")
    ]
    made = duty_sheet_workbook(
        pd.DataFrame(rows),
        officers=STAFF[:1],
        policy=policy,
        calendar=calendar,
        week_days=[MON + timedelta(days=n) for n in range(7)],
    )
    sheet = made[SUMMARY_SHEET]
    headers = [str(c.value) for c in sheet[3]]
    values = dict(zip(headers, next(sheet.iter_rows(min_row=4, values_only=True)), strict=True))
    assert values["合计工时"] == 42
    assert values["计入周工时"] == 42
    assert values["加班工时"] == 0
    assert values["休息日（天）"] == 1
    assert "每周工作超过上限" in values["超限提示"]
    assert values["12-06\n周日"] == "休"
