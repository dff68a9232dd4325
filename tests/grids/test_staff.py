"""Staff lists: CSV in UTF-8 and GBK, Excel, every bad row listed; and the demo staff."""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import openpyxl  # type: ignore[import-untyped]
import pytest

from geodata.errors import FieldError, InputFileError
from grids.demo_staff import DEMO_LEADER_COUNT, SIZING_UTILISATION, huiji_demo_staff
from grids.staff import (
    LeavePeriod,
    Officer,
    StaffFileError,
    StaffRequest,
    read_staff,
    write_staff_csv,
)

SQUADS_FILE = Path(__file__).parents[2] / "geodata" / "data" / "huiji" / "squads.geojson"
SQUADS = {"HJ-S-YB": "迎宾路中队", "HJ-S-NZ": "女子中队", "HJ-S-YH": "沿黄执法中队"}
SLOTS = ("early", "morning", "midday", "afternoon", "evening", "night")

HEADER_ZH = ["工号", "姓名", "中队", "角色", "周工时", "电话", "请假", "备注"]
ROWS_ZH = [
    ["HJ-YB-001", "王建国", "迎宾路中队", "执法队员", "40", "13800000001", "", "组长"],
    [
        "HJ-YB-002",
        "李秀英",
        "HJ-S-YB",
        "劝导员",
        "",
        "",
        "2026-12-01..2026-12-03;2026-12-10 年假",
        "",
    ],
    ["HJ-NZ-001", "赵丽", "女子中队", "协管员", "32", "0371-6000 0000", "", ""],
    ["HJ-LD-001", "周志强", "", "带班领导", "40", "", "2026-12-05（调休）", ""],
]


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _check_zh_people(people: list[Officer]) -> None:
    assert [p.id for p in people] == [row[0] for row in ROWS_ZH]
    assert [p.name for p in people] == [row[1] for row in ROWS_ZH]
    assert [p.squad_id for p in people] == ["HJ-S-YB", "HJ-S-YB", "HJ-S-NZ", None]
    assert [p.role for p in people] == ["officer", "assistant", "assistant", "leader"]
    assert [p.can_enforce for p in people] == [True, False, False, True]
    assert [p.contract_hours_week for p in people] == [40.0, 40.0, 32.0, 40.0]
    assert people[0].phone == "13800000001"
    assert people[1].leave == (
        LeavePeriod(date(2026, 12, 1), date(2026, 12, 3)),
        LeavePeriod(date(2026, 12, 10), date(2026, 12, 10), "年假"),
    )
    assert people[3].leave == (LeavePeriod(date(2026, 12, 5), date(2026, 12, 5), "调休"),)
    assert people[1].on_leave(date(2026, 12, 2))
    assert not people[1].on_leave(date(2026, 12, 4))
    assert not any(p.demo for p in people)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_read_csv_in_any_encoding(tmp_path: Path, encoding: str) -> None:
    path = _write_csv(tmp_path / "人员.csv", HEADER_ZH, ROWS_ZH, encoding)
    if encoding.startswith("gb"):
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")
    _check_zh_people(read_staff(path, squads=SQUADS, slots=SLOTS))


def test_read_xlsx_with_a_title_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["惠济区城管执法人员名单（示例）"])
    sheet.append(["ID", "Name", "Squad", "Role", "Contract hours", "Phone", "Leave", "Notes"])
    for row in ROWS_ZH:
        cells: list[object] = list(row)
        cells[3] = {"执法队员": "Officer", "劝导员": "assistant", "协管员": "assistant"}.get(
            row[3], "leader"
        )
        cells[4] = int(row[4]) if row[4] else None
        cells[5] = int(row[5]) if row[5].isdigit() else row[5] or None
        if row[0] == "HJ-LD-001":
            cells[6] = datetime(2026, 12, 5)
        sheet.append(cells)
    path = tmp_path / "staff.xlsx"
    book.save(path)
    people = read_staff(path, squads=SQUADS)
    assert [p.role for p in people] == ["officer", "assistant", "assistant", "leader"]
    assert people[0].phone == "13800000001"
    assert people[2].contract_hours_week == 32.0
    assert people[3].leave == (LeavePeriod(date(2026, 12, 5), date(2026, 12, 5)),)
    assert people[1].leave[1].kind == "年假"


def test_every_bad_row_is_listed_and_nothing_returned(tmp_path: Path) -> None:
    rows = [list(row) for row in ROWS_ZH]
    rows[1][3] = "司机"  # spreadsheet row 3: no such role
    rows[2][2] = "花园中队"  # row 4: unknown squad
    rows[3][6] = "2026-12-05..2026-12-01"  # row 5: leave ending before it starts
    path = _write_csv(tmp_path / "bad.csv", HEADER_ZH, rows, "utf-8")
    with pytest.raises(StaffFileError) as caught:
        read_staff(path, squads=SQUADS)
    problems = caught.value.problems
    assert [(p.row, p.field) for p in problems] == [(3, "role"), (4, "squad"), (5, "leave")]
    assert [p.value for p in problems] == ["司机", "花园中队", "2026-12-05..2026-12-01"]
    error = caught.value
    assert isinstance(error, FieldError)
    assert (error.file, error.row, error.field) == ("bad.csv", 3, "role")
    assert "3 problems" in str(error)
    assert all(f"row {p.row}" in str(error) for p in problems)
    assert len(error.to_dict()["problems"]) == 3


def test_a_row_wider_than_its_header_is_refused(tmp_path: Path) -> None:
    # an unquoted comma in the availability cell would otherwise drop the slots after it
    path = tmp_path / "wide.csv"
    lines = [",".join(HEADER_ZH), ",".join(ROWS_ZH[0]), ",".join(ROWS_ZH[2]) + ",midday"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(StaffFileError) as caught:
        read_staff(path)
    assert [(p.row, p.field, p.value) for p in caught.value.problems] == [(3, "row", "midday")]
    assert "quote a cell" in caught.value.problems[0].message


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    rows = [*ROWS_ZH, ["HJ-YB-001", "孙伟", "迎宾路中队", "执法队员", "40", "", "", ""]]
    path = _write_csv(tmp_path / "dup.csv", HEADER_ZH, rows, "utf-8")
    with pytest.raises(StaffFileError) as caught:
        read_staff(path)
    assert [(p.row, p.field) for p in caught.value.problems] == [(len(rows) + 1, "id")]
    assert "first on row 2" in caught.value.problems[0].message


def test_unknown_squads_only_refused_when_squads_are_known(tmp_path: Path) -> None:
    rows = [["HJ-X-001", "钱进", "HJ-S-XX", "officer", "", "", "", ""]]
    path = _write_csv(tmp_path / "x.csv", HEADER_ZH, rows, "utf-8")
    assert read_staff(path)[0].squad_id == "HJ-S-XX"
    with pytest.raises(StaffFileError, match="no such squad"):
        read_staff(path, squads=list(SQUADS))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("周工时", "60"),
        ("周工时", "forty"),
        ("电话", "call me"),
        ("角色", ""),
        ("中队", ""),
        ("姓名", ""),
        ("可排时段", "mon-fri:lunch"),
        ("可排时段", "someday:early"),
        ("排班意愿", "2026-12-05:maybe"),
        ("排班意愿", "2026-13-05:off"),
        ("示例", "perhaps"),
    ],
)
def test_each_bad_cell_is_a_problem(tmp_path: Path, column: str, value: str) -> None:
    header = ["工号", "姓名", "中队", "角色", "周工时", "电话", "可排时段", "排班意愿", "示例"]
    row = ["HJ-YB-009", "吴敏", "HJ-S-YB", "执法队员", "40", "", "", "", ""]
    row[header.index(column)] = value
    path = _write_csv(tmp_path / "one.csv", header, [row], "utf-8")
    with pytest.raises(StaffFileError) as caught:
        read_staff(path, squads=SQUADS, slots=SLOTS)
    assert [p.row for p in caught.value.problems] == [2]
    assert caught.value.problems[0].value == value


def test_missing_column_and_unknown_type(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "nocol.csv", ["工号", "姓名", "中队"], [["a", "b", "c"]], "utf-8")
    with pytest.raises(FieldError) as caught:
        read_staff(path)
    assert caught.value.field == "role"
    other = tmp_path / "staff.xls"
    other.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputFileError, match=r"\.xlsx"):
        read_staff(other)
    headless = _write_csv(tmp_path / "headless.csv", ["a", "b"], [["1", "2"]], "utf-8")
    with pytest.raises(InputFileError, match="header"):
        read_staff(headless)


def _rich_people() -> list[Officer]:
    return [
        Officer(
            "HJ-YB-001",
            "王建国",
            "HJ-S-YB",
            "officer",
            37.5,
            "+86 138-0000-0001",
            availability={6: frozenset(), 1: frozenset({"early", "morning"})},
            leave=(LeavePeriod(date(2026, 12, 1), date(2026, 12, 3), "病假"),),
            requests=(
                StaffRequest(date(2026, 12, 5), None, on=False),
                StaffRequest(date(2026, 12, 6), "night", on=True, weight=2.5),
            ),
        ),
        Officer("HJ-LD-001", "周志强", None, "leader", demo=True),
        Officer("HJ-NZ-003", "赵丽", "HJ-S-NZ", "assistant"),
    ]


@pytest.mark.parametrize("headers", ["zh", "en"])
def test_write_and_read_back(tmp_path: Path, headers: Literal["zh", "en"]) -> None:
    people = _rich_people()
    path = tmp_path / "out.csv"
    write_staff_csv(people, path, headers=headers)
    back = read_staff(path, squads=SQUADS, slots=SLOTS)
    assert back == people
    assert back[0].allowed_slots(6) == frozenset()
    assert back[0].allowed_slots(3) is None
    assert back[0].can_work(date(2026, 11, 30), "morning")  # a Monday
    assert not back[0].can_work(date(2026, 11, 30), "night")
    assert not back[0].can_work(date(2026, 12, 2), "morning")  # on leave
    first_line = path.read_text("utf-8-sig").splitlines()[0]
    assert first_line.startswith("工号" if headers == "zh" else "id")


def test_officer_checks_its_values() -> None:
    with pytest.raises(FieldError, match="need a squad"):
        Officer("x", "某人", None, "officer")
    with pytest.raises(FieldError, match="contract hours"):
        Officer("x", "某人", "S", "officer", contract_hours_week=50)
    with pytest.raises(FieldError, match="weekday"):
        Officer("x", "某人", "S", "officer", availability={8: frozenset()})
    people = _rich_people()
    assert len({*people, *people}) == len(people)


# --- demo staff -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_squads() -> list[tuple[str, str]]:
    features = json.loads(SQUADS_FILE.read_text("utf-8"))["features"]
    return [(f["properties"]["id"], f["properties"]["name_zh"]) for f in features]


def test_demo_staff_for_the_bundled_squads(bundled_squads: list[tuple[str, str]]) -> None:
    staff = huiji_demo_staff(bundled_squads)
    assert all(p.demo for p in staff)
    assert all(p.phone is None for p in staff)
    ids = [p.id for p in staff]
    assert len(set(ids)) == len(ids)
    assert len({p.name for p in staff}) == len(staff)
    assert all(re.fullmatch(r"HJ-[A-Z]{2}-\d{3}", i) for i in ids)
    roles = Counter((p.squad_id, p.role) for p in staff)
    for squad_id, _ in bundled_squads:
        assert 8 <= roles[squad_id, "officer"] <= 16
        assert 4 <= roles[squad_id, "assistant"] <= 8
        code = squad_id.removeprefix("HJ-S-")
        assert all(p.id.startswith(f"HJ-{code}-") for p in staff if p.squad_id == squad_id)
    assert roles[None, "leader"] == DEMO_LEADER_COUNT == 7
    assert roles["HJ-S-YH", "officer"] >= 13
    assert {p.squad_id for p in staff} == {s for s, _ in bundled_squads} | {None}


def test_demo_staff_is_repeatable(bundled_squads: list[tuple[str, str]], tmp_path: Path) -> None:
    first = huiji_demo_staff(bundled_squads)
    assert huiji_demo_staff(bundled_squads) == first
    assert huiji_demo_staff(bundled_squads, seed=7) != first
    path = tmp_path / "demo.csv"
    write_staff_csv(first, path)
    assert read_staff(path, squads=dict(bundled_squads)) == first


def test_demo_staff_sized_by_hours(bundled_squads: list[tuple[str, str]]) -> None:
    officer_hours = {"HJ-S-YB": 410.0, "HJ-S-NZ": 10.0, "HJ-S-DH": 5000.0}
    assistant_hours = {"HJ-S-YB": 170.0}
    staff = huiji_demo_staff(
        bundled_squads, officer_hours=officer_hours, assistant_hours=assistant_hours
    )
    roles = Counter((p.squad_id, p.role) for p in staff)
    hours_each = 40 * SIZING_UTILISATION
    assert roles["HJ-S-YB", "officer"] == math.ceil(410.0 / hours_each)
    assert roles["HJ-S-NZ", "officer"] == 8  # at least the smallest squad
    # a squad sized from its demand is not capped: it gets what the week needs
    assert roles["HJ-S-DH", "officer"] == math.ceil(5000.0 / hours_each)
    assert roles["HJ-S-YB", "assistant"] == max(4, math.ceil(170.0 / hours_each))
