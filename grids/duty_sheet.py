"""The duty sheet (排班表): a roster as a squad leader prints it and pins it on the wall.

:func:`duty_sheet_workbook` lays a roster's assignment table (:mod:`grids.roster`) out as an Excel
workbook:

- one worksheet per squad (中队), and in it one block per day of the roster: the day's duty
  leader (带班领导) on top, then one row per post of the squad that is staffed or required that
  week (post id, road, level 严管/严控/规范), and rows for the patrol routes (巡查), event posts
  (临时勤务), special operations (夜查, 渣土车巡查, 烧烤整治), full deployment (全员上岗) and
  reserve (备勤); one column per slot of that day (its times as the header); in each cell the
  people on that post in that slot (name and staff number, assistants marked 协管员). A required
  cell left short (given the demand) says 空岗, or 缺员 under the names, on a red fill;
- a summary sheet :data:`SUMMARY_SHEET` (工时统计): each person's hours on each day, the week's
  total, the hours counted toward the weekly limit, overtime, nights, weekend and holiday days,
  full rest days and the labour rules broken, counted by :func:`grids.roster_rules.working_time`
  and :func:`grids.roster_rules.validate_roster` — the same counting as every other check.

Every sheet has a title row, a note row (and the :data:`SCHEMATIC_LABEL` when the data are
schematic or made up), frozen header rows that repeat on every printed page, borders, column
widths, landscape A4 fitted to the page width and a footer.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Final

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from grids.calendar import HolidayCalendar, iso_week
from grids.demand import DAY_TYPE_NAMES_ZH, LEVEL_NAMES_ZH
from grids.policy import DutyPolicy, Slot
from grids.roster import check_assignments
from grids.roster_io import ROLE_NAMES_ZH, TASK_NAMES_ZH
from grids.roster_rules import RULES, Violation, validate_roster, working_time
from grids.staff import Officer

__all__ = [
    "SCHEMATIC_LABEL",
    "SUMMARY_SHEET",
    "UNCOVERED_MARK",
    "duty_sheet_bytes",
    "duty_sheet_workbook",
    "sheet_name",
    "write_duty_sheet",
]

SUMMARY_SHEET: Final = "工时统计"
"""The name of the summary sheet of hours."""
SCHEMATIC_LABEL: Final = "示意数据/演示数据：人员为虚构，路网为示意，不得用于实际勤务"
"""Shown on every sheet whose data are schematic or made up."""
UNCOVERED_MARK: Final = "空岗"
"""The text of a required cell with nobody on it."""
SHORT_MARK: Final = "缺员"
"""Added under the names of a required cell with too few people."""
ASSISTANT_MARK: Final = "（协管员）"
LEADER_DUTY_POST: Final = "leader_duty"

_SHEET_NAME_LENGTH: Final = 31
_BAD_SHEET_CHARACTERS = re.compile(r"[\[\]:*?/\\]")
_WEEKDAYS_ZH: Final = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_HEADER_ROWS: Final = 3
_FIRST_SLOT_COLUMN: Final = 4
_LABOUR_RULES: Final = (
    "daily_hours",
    "overtime_day",
    "overtime_long",
    "overtime_month",
    "weekly_hours",
    "contract_hours",
    "rest_day",
    "min_rest",
    "leader_rest_day",
)
_ROLE_ORDER: Final = {"leader": 0, "officer": 1, "assistant": 2}

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _fill(colour: str) -> PatternFill:
    return PatternFill(fill_type="solid", start_color=colour, end_color=colour)


_FILL_UNCOVERED = _fill("FFC7CE")
_FILL_SCHEMATIC = _fill("FCE4D6")


_STYLE_NAMES: Final = {
    "cell": "排班表-单元格",
    "centre": "排班表-居中",
    "header": "排班表-表头",
    "day": "排班表-日期",
    "uncovered": "排班表-空岗",
    "short": "排班表-缺员",
    "on_call": "排班表-带班",
    "over_limit": "排班表-超限",
    "warning": "排班表-提醒",
}


def _named_styles() -> list[NamedStyle]:
    """Return the cell styles of a duty sheet, new for each workbook (a style binds to one).

    Named styles are cheap to set on many cells, and show in Excel's list of styles.
    """
    parts: dict[str, dict[str, Any]] = {
        "cell": {},
        "centre": {"alignment": _CENTRE},
        "header": {"fill": _fill("D9E1F2"), "font": Font(bold=True), "alignment": _CENTRE},
        "day": {"fill": _fill("BDD7EE"), "font": Font(bold=True)},
        "uncovered": {"fill": _FILL_UNCOVERED, "font": Font(bold=True, color="9C0006")},
        "short": {"fill": _FILL_UNCOVERED},
        "on_call": {"fill": _fill("E2EFDA"), "alignment": _CENTRE},
        "over_limit": {"fill": _FILL_UNCOVERED},
        "warning": {"fill": _fill("FFEB9C")},
    }
    return [
        NamedStyle(name=_STYLE_NAMES[key], border=_BORDER, **{"alignment": _WRAP, **extra})
        for key, extra in parts.items()
    ]


_Record = dict[Any, Any]
"""A row of a table, as ``DataFrame.to_dict("records")`` gives it."""


# --- what the sheet shows --------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One row of a day block: a post, route, operation target, deployment or the reserve."""

    squad_id: str | None
    post_id: str | None
    order: tuple[Any, ...]
    place: str
    kind: str


@dataclass
class _Sheet:
    """The resolved inputs of a duty sheet."""

    policy: DutyPolicy
    calendar: HolidayCalendar
    days: list[date]
    people: dict[str, Officer]
    posts: dict[str, _Record]
    demand: dict[str, _Record]
    squads: dict[str, str]
    cells: dict[tuple[str | None, str | None, date, str], list[_Record]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rows: dict[tuple[str | None, str | None], _Row] = field(default_factory=dict)
    leaders: dict[date, list[_Record]] = field(default_factory=lambda: defaultdict(list))
    short: set[tuple[str | None, date, str | None]] = field(default_factory=set)


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def sheet_name(name: str, taken: Iterable[str] = ()) -> str:
    r"""Return ``name`` as a worksheet name Excel accepts, unlike any of ``taken``.

    Excel refuses ``[]:*?/\\``, names longer than 31 characters, empty names, names that begin
    or end with an apostrophe, and two sheets whose names differ only in case.
    """
    text = _BAD_SHEET_CHARACTERS.sub("_", name).strip().strip("'").strip() or "Sheet"
    text = text[:_SHEET_NAME_LENGTH]
    used = {t.lower() for t in taken}
    candidate, number = text, 1
    while candidate.lower() in used:
        number += 1
        suffix = f"({number})"
        candidate = text[: _SHEET_NAME_LENGTH - len(suffix)] + suffix
    return candidate


def _posts(posts: pd.DataFrame | None) -> dict[str, _Record]:
    if posts is None or posts.empty:
        return {}
    columns = [c for c in ("id", "kind", "level", "road_name_zh", "squad_id") if c in posts]
    return {str(r["id"]): r for r in posts[columns].to_dict("records")}


def _demand(demand: pd.DataFrame | None) -> dict[str, _Record]:
    """Return the first requirement of each post id of the demand."""
    found: dict[str, _Record] = {}
    if demand is None:
        return found
    for record in demand.to_dict("records"):
        found.setdefault(str(record["post_id"]), record)
    return found


def _road_names(sheet: _Sheet, post_ids: str | None) -> str:
    names: list[str] = []
    for post_id in (post_ids or "").split(";"):
        name = _text(sheet.posts.get(post_id, {}).get("road_name_zh"))
        if name and name not in names:
            names.append(name)
    if len(names) > 3:
        return "、".join(names[:3]) + "等"
    return "、".join(names)


def _row_of(sheet: _Sheet, post_id: str | None, task: str, squad_id: str | None) -> _Row:
    """Return the row of ``post_id`` (None: the reserve of ``squad_id``)."""
    if post_id is None or task == "reserve":
        return _Row(squad_id, None, (7,), "机动备勤", TASK_NAMES_ZH["reserve"])
    post = sheet.posts.get(post_id)
    need = sheet.demand.get(post_id, {})
    if post is not None:
        level = str(post.get("level") or "")
        rank = ("strict", "controlled", "regulated").index(level) if level in LEVEL_NAMES_ZH else 3
        return _Row(
            _text(post.get("squad_id")) or squad_id,
            post_id,
            (rank, _natural(post_id)),
            _text(post.get("road_name_zh")) or "",
            LEVEL_NAMES_ZH.get(level, level),  # type: ignore[call-overload]
        )
    owner = _text(need.get("squad_id")) or squad_id
    if "/patrol-" in post_id or task == "patrol":
        owner = _text(need.get("squad_id")) or post_id.split("/patrol-")[0]
        place = _road_names(sheet, need.get("post_ids")) or "严控路段"
        return _Row(owner, post_id, (3, _natural(post_id)), place, TASK_NAMES_ZH["patrol"])
    events = {e.id: e for e in sheet.policy.events}
    if post_id in events:
        event = events[post_id]
        owner = event.squad_id or owner
        return _Row(owner, post_id, (4, _natural(post_id)), event.name_zh, TASK_NAMES_ZH["event"])
    if post_id.startswith("full_deployment@"):
        owner = post_id.split("@", 1)[1] or owner
        return _Row(owner, post_id, (6,), "全体在岗队员", TASK_NAMES_ZH["full_deployment"])
    operations = {op.id: op for op in sheet.policy.operations}
    operation = operations.get(post_id.split("@", 1)[0]) if "@" in post_id else None
    if operation is not None:
        target = post_id.split("@", 1)[1]
        place = _text(need.get("reason_zh")) or f"{operation.name_zh}：{target}"
        kind = TASK_NAMES_ZH.get(operation.kind, operation.name_zh)
        return _Row(owner, post_id, (5, _natural(post_id)), place, kind)
    return _Row(owner, post_id, (8, _natural(post_id)), "", TASK_NAMES_ZH.get(task, task))


def _gather(sheet: _Sheet, table: pd.DataFrame, violations: Sequence[Violation]) -> None:
    """Sort the assignments into cells and rows; note the required cells left short."""
    for record in table.to_dict("records"):
        day = record["date"]
        if day not in sheet.days:
            continue
        task = str(record["task"])
        if task == "leader_duty":
            sheet.leaders[day].append(record)
            continue
        row = _row_of(sheet, _text(record["post_id"]), task, _text(record["squad_id"]))
        sheet.rows.setdefault((row.squad_id, row.post_id), row)
        key = (row.squad_id, row.post_id, day, str(record["slot_id"]))
        sheet.cells[key].append(record)
    for post_id, need in sheet.demand.items():
        if need["kind"] != "leader_duty":
            row = _row_of(sheet, post_id, str(need["kind"]), _text(need.get("squad_id")))
            sheet.rows.setdefault((row.squad_id, row.post_id), row)
    for violation in violations:
        if violation.rule == "demand_unmet" and violation.date is not None:
            sheet.short.add((violation.post_id, violation.date, violation.slot_id))


def _person_text(sheet: _Sheet, record: Mapping[str, Any], slot: tuple[datetime, datetime]) -> str:
    officer_id = str(record["officer_id"])
    person = sheet.people.get(officer_id)
    text = f"{person.name} {officer_id}" if person is not None else officer_id
    role = _text(record.get("role")) or (person.role if person is not None else None)
    if role == "assistant":
        text += ASSISTANT_MARK
    start, end = pd.Timestamp(record["start"]), pd.Timestamp(record["end"])
    if (start.to_pydatetime(), end.to_pydatetime()) != slot:
        text += f" {start:%H:%M}–{end:%H:%M}"
    return text


def _slot_text(slot: Slot) -> str:
    return f"{slot.name_zh}\n{slot.start:%H:%M}–{slot.end:%H:%M}"


def _day_slots(sheet: _Sheet, day: date) -> list[Slot]:
    return list(sheet.policy.slots_for(sheet.calendar.day_type(day)))


def _extra_slots(sheet: _Sheet, squad_id: str | None, day: date, known: set[str]) -> list[str]:
    """Return slot ids of the squad's assignments on ``day`` that the policy does not know."""
    extra = {
        slot_id
        for (squad, _, on, slot_id) in sheet.cells
        if squad == squad_id and on == day and slot_id not in known
    }
    return sorted(extra)


# --- writing cells ---------------------------------------------------------------------------


def _put(worksheet: Worksheet, row: int, column: int, value: Any, style: str = "cell") -> None:
    worksheet.cell(row=row, column=column, value=value).style = _STYLE_NAMES[style]


def _banner(
    worksheet: Worksheet, row: int, width: int, text: str, fill: PatternFill | None = None
) -> None:
    """Write ``text`` across ``width`` columns of ``row``."""
    worksheet.cell(row=row, column=1, value=text)
    worksheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    cell = worksheet.cell(row=row, column=1)
    cell.alignment = Alignment(vertical="center", wrap_text=False)
    if fill is not None:
        cell.fill = fill


def _page_setup(
    worksheet: Worksheet, *, header_rows: int, freeze: str, note: str, schematic: bool
) -> None:
    worksheet.page_setup.orientation = "landscape"
    worksheet.page_setup.paperSize = worksheet.PAPERSIZE_A4
    worksheet.page_setup.fitToWidth = 1
    worksheet.page_setup.fitToHeight = 0
    worksheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    worksheet.print_options.horizontalCentered = True
    worksheet.page_margins.left = worksheet.page_margins.right = 0.4
    worksheet.page_margins.top = worksheet.page_margins.bottom = 0.6
    worksheet.print_title_rows = f"1:{header_rows}"
    worksheet.freeze_panes = freeze
    footer, header = worksheet.oddFooter, worksheet.oddHeader
    if footer is not None:
        footer.left.text = note.replace("&", "&&")  # & starts a code in Excel headers
        footer.left.size = 8
        footer.center.text = "第 &P 页，共 &N 页"
        footer.center.size = 8
    if schematic and header is not None:
        header.right.text = "示意数据/演示数据"
        header.right.size = 8


def _top_rows(worksheet: Worksheet, width: int, title: str, note: str, schematic: bool) -> None:
    _banner(worksheet, 1, width, title)
    worksheet.cell(row=1, column=1).font = Font(bold=True, size=14)
    worksheet.row_dimensions[1].height = 24
    second = f"【{SCHEMATIC_LABEL}】 {note}".strip() if schematic else note
    _banner(worksheet, 2, width, second, _FILL_SCHEMATIC if schematic else None)
    if schematic:
        worksheet.cell(row=2, column=1).font = Font(bold=True, color="C00000")


def _line_height(values: Iterable[Any]) -> float:
    lines = max((str(v).count("\n") + 1 for v in values if v is not None), default=1)
    return max(15.0, 14.0 * lines + 2)


# --- the squad sheets ------------------------------------------------------------------------


def _day_title(sheet: _Sheet, day: date) -> str:
    day_type = sheet.calendar.day_type(day)
    holiday = sheet.calendar.holiday(day)
    name = f" {holiday.name_zh}" if holiday is not None and day_type == "holiday" else ""
    return f"{day:%Y-%m-%d} {_WEEKDAYS_ZH[day.weekday()]}（{DAY_TYPE_NAMES_ZH[day_type]}{name}）"


def _leader_text(sheet: _Sheet, day: date) -> tuple[str, bool]:
    """Return the day's duty leader line and whether the leader duty is left short."""
    names = []
    for record in sheet.leaders.get(day, []):
        officer_id = str(record["officer_id"])
        person = sheet.people.get(officer_id)
        start, end = pd.Timestamp(record["start"]), pd.Timestamp(record["end"])
        until = f"次日{end:%H:%M}" if end.date() > start.date() else f"{end:%H:%M}"
        who = f"{person.name}（{officer_id}）" if person is not None else officer_id
        names.append(f"{who} {start:%H:%M}–{until}")
    short = (LEADER_DUTY_POST, day, None) in sheet.short
    if names:
        text = "、".join(names) + (f" {SHORT_MARK}" if short else "")
    else:
        text = UNCOVERED_MARK if short else "未排"
    return f"带班领导：{text}", short


def _write_day(
    worksheet: Worksheet, sheet: _Sheet, squad_id: str | None, day: date, *, row: int, width: int
) -> int:
    """Write the block of ``day``; return the row after it."""
    slots = _day_slots(sheet, day)
    slot_ids = [s.id for s in slots]
    extra = _extra_slots(sheet, squad_id, day, set(slot_ids))
    leader, leader_short = _leader_text(sheet, day)
    _put(worksheet, row, 1, _day_title(sheet, day), "day")
    worksheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=3)
    _put(worksheet, row, _FIRST_SLOT_COLUMN, leader, "uncovered" if leader_short else "day")
    worksheet.merge_cells(
        start_row=row, start_column=_FIRST_SLOT_COLUMN, end_row=row, end_column=width
    )
    row += 1
    headers = ["岗位/任务编号", "道路/目标", "等级/勤务", *map(_slot_text, slots), *extra]
    for column, text in enumerate(headers, 1):
        _put(worksheet, row, column, text, "header")
    worksheet.row_dimensions[row].height = _line_height(headers)
    row += 1
    times = {s.id: s.on(day) for s in slots}
    rows = sorted(
        (r for r in sheet.rows.values() if r.squad_id == squad_id),
        key=lambda r: r.order,
    )
    for line in rows:
        whole_day_short = (line.post_id, day, None) in sheet.short
        kind = f"{line.kind} {SHORT_MARK}" if whole_day_short else line.kind
        label = "short" if whole_day_short else "cell"
        _put(worksheet, row, 1, line.post_id or "—", label)
        _put(worksheet, row, 2, line.place, label)
        _put(worksheet, row, 3, kind, label)
        values: list[Any] = []
        for column, slot_id in enumerate([*slot_ids, *extra], _FIRST_SLOT_COLUMN):
            people = sheet.cells.get((squad_id, line.post_id, day, slot_id), [])
            slot_times = times.get(slot_id, (datetime.min, datetime.min))
            text = "\n".join(_person_text(sheet, p, slot_times) for p in people)
            short = (line.post_id, day, slot_id) in sheet.short
            if short:
                text = f"{text}\n{SHORT_MARK}" if text else UNCOVERED_MARK
            style = ("short" if people else "uncovered") if short else "cell"
            _put(worksheet, row, column, text or None, style)
            values.append(text)
        worksheet.row_dimensions[row].height = _line_height(values)
        row += 1
    if not rows:
        _put(worksheet, row, 1, "本日无岗位安排")
        worksheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
        row += 1
    return row + 1


def _squad_sheet(
    worksheet: Worksheet,
    sheet: _Sheet,
    squad_id: str | None,
    *,
    title: str,
    note: str,
    schematic: bool,
) -> None:
    known = max((len(_day_slots(sheet, day)) for day in sheet.days), default=0)
    extra = max(
        (
            len(_extra_slots(sheet, squad_id, day, {s.id for s in _day_slots(sheet, day)}))
            for day in sheet.days
        ),
        default=0,
    )
    width = _FIRST_SLOT_COLUMN - 1 + max(1, known + extra)
    _top_rows(worksheet, width, title, note, schematic)
    headers = ["岗位/任务编号", "道路/目标", "等级/勤务", "各时段在岗人员（姓名 工号）"]
    for column, text in enumerate(headers, 1):
        _put(worksheet, 3, column, text, "header")
    if width > _FIRST_SLOT_COLUMN:
        worksheet.merge_cells(
            start_row=3, start_column=_FIRST_SLOT_COLUMN, end_row=3, end_column=width
        )
    row = _HEADER_ROWS + 1
    for day in sheet.days:
        row = _write_day(worksheet, sheet, squad_id, day, row=row, width=width)
    notes = [
        "说明：每格为该时段在岗人员（姓名 工号）；“（协管员）”只劝导、不执法，不计为执法队员；"
        f"“{UNCOVERED_MARK}”为值班规则要求而无人在岗，“{SHORT_MARK}”为在岗人数不足；"
        "带班领导 24 小时值班。",
    ]
    if schematic:
        notes.append(SCHEMATIC_LABEL)
    for text in notes:
        _banner(worksheet, row, width, text)
        worksheet.cell(row=row, column=1).font = Font(size=9, italic=True)
        row += 1
    for column, size in enumerate((16, 18, 10), 1):
        worksheet.column_dimensions[get_column_letter(column)].width = size
    for column in range(_FIRST_SLOT_COLUMN, width + 1):
        worksheet.column_dimensions[get_column_letter(column)].width = 20
    _page_setup(
        worksheet,
        header_rows=_HEADER_ROWS,
        freeze=f"{get_column_letter(_FIRST_SLOT_COLUMN)}{_HEADER_ROWS + 1}",
        note=note,
        schematic=schematic,
    )


# --- the summary of hours --------------------------------------------------------------------


def _round(value: float) -> float | int:
    rounded = round(float(value), 2)
    return int(rounded) if rounded.is_integer() else rounded


def _night_and_weekend_days(sheet: _Sheet, table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Return each person's days with a night slot, and weekend or holiday days worked."""
    nights: dict[str, set[date]] = defaultdict(set)
    weekends: dict[str, set[date]] = defaultdict(set)
    for officer_id, day, slot_id in zip(
        table["officer_id"], table["date"], table["slot_id"], strict=True
    ):
        if day not in sheet.days:
            continue
        day_type = sheet.calendar.day_type(day)
        slot = next((s for s in sheet.policy.slots_for(day_type) if s.id == slot_id), None)
        if slot is not None and slot.kind == "night":
            nights[str(officer_id)].add(day)
        if day_type != "weekday":
            weekends[str(officer_id)].add(day)
    return {
        officer_id: (len(nights.get(officer_id, ())), len(weekends.get(officer_id, ())))
        for officer_id in nights.keys() | weekends.keys()
    }


def _flags(violations: Sequence[Violation]) -> dict[str, tuple[str, bool]]:
    """Return each person's labour rules broken, as text, and whether any is a hard rule."""
    found: dict[str, dict[str, bool]] = defaultdict(dict)
    for violation in violations:
        if violation.rule in _LABOUR_RULES and violation.officer_id is not None:
            rules = found[violation.officer_id]
            rules[violation.rule] = rules.get(violation.rule, False) or (
                violation.severity == "error"
            )
    order = {rule: n for n, rule in enumerate(RULES)}
    return {
        officer_id: (
            "；".join(RULES[r].title_zh for r in sorted(rules, key=order.__getitem__)),
            any(rules.values()),
        )
        for officer_id, rules in found.items()
    }


def _people_order(sheet: _Sheet, officer_ids: Iterable[str]) -> list[str]:
    squads = {squad_id: n for n, squad_id in enumerate(sheet.squads)}

    def key(officer_id: str) -> tuple[Any, ...]:
        person = sheet.people.get(officer_id)
        if person is None:
            return (len(squads) + 1, 9, _natural(officer_id))
        squad = squads.get(person.squad_id or "", len(squads))
        return (squad, _ROLE_ORDER.get(person.role, 9), _natural(officer_id))

    return sorted(officer_ids, key=key)


def _summary_sheet(
    worksheet: Worksheet,
    sheet: _Sheet,
    table: pd.DataFrame,
    violations: Sequence[Violation],
    *,
    title: str,
    note: str,
    schematic: bool,
) -> None:
    in_days = table[table["date"].isin(sheet.days).to_numpy()] if len(table) else table
    times = working_time(in_days, policy=sheet.policy, calendar=sheet.calendar)
    by_person: dict[str, list[Any]] = defaultdict(list)
    for entry in times:
        by_person[entry.officer_id].append(entry)
    counts = _night_and_weekend_days(sheet, in_days)
    flags = _flags(violations)
    day_headers = [f"{d:%m-%d}\n{_WEEKDAYS_ZH[d.weekday()]}" for d in sheet.days]
    headers = [
        "工号",
        "姓名",
        "中队",
        "类别",
        *day_headers,
        "合计工时",
        "计入周工时",
        "加班工时",
        "夜班（天）",
        "周末/节假日（天）",
        "休息日（天）",
        "超限提示",
    ]
    width = len(headers)
    _top_rows(worksheet, width, title, note, schematic)
    for column, text in enumerate(headers, 1):
        _put(worksheet, 3, column, text, "header")
    worksheet.row_dimensions[3].height = 32
    row = _HEADER_ROWS + 1
    first_day = 5
    for officer_id in _people_order(sheet, sheet.people.keys() | by_person.keys()):
        person = sheet.people.get(officer_id)
        entries = by_person.get(officer_id, [])
        day_hours: dict[date, float] = {}
        on_call: dict[date, float] = {}
        for entry in entries:
            day_hours.update(entry.day_hours)
            on_call.update(entry.on_call_hours)
        squad = person.squad_id if person is not None else None
        values: list[Any] = [
            officer_id,
            person.name if person is not None else "（不在人员名单）",
            sheet.squads.get(squad or "", squad or "区局"),
            ROLE_NAMES_ZH.get(person.role, person.role) if person is not None else "",
        ]
        for column, text in enumerate(values, 1):
            _put(worksheet, row, column, text)
        for offset, day in enumerate(sheet.days):
            hours = day_hours.get(day, 0.0) + on_call.get(day, 0.0)
            value = _round(hours) if hours else "休"
            _put(
                worksheet, row, first_day + offset, value, "on_call" if day in on_call else "centre"
            )
        nights, weekend_days = counts.get(officer_id, (0, 0))
        rest_days = sum(e.rest_days for e in entries) if entries else len(sheet.days)
        flag, hard = flags.get(officer_id, ("", False))
        totals = [
            _round(sum(e.total_hours for e in entries)),
            _round(sum(e.regular_hours for e in entries)),
            _round(sum(e.overtime_hours for e in entries)),
            nights,
            weekend_days,
            rest_days,
        ]
        column = first_day + len(sheet.days)
        for value in totals:
            _put(worksheet, row, column, value, "centre")
            column += 1
        flag_style = "over_limit" if hard else "warning"
        _put(worksheet, row, column, flag or None, flag_style if flag else "cell")
        if flag:
            _put(worksheet, row, 1, officer_id, flag_style)
        row += 1
    labour = sheet.policy.labour
    overtime = (
        f"加班每日不超过 {labour.max_overtime_hours_per_day:g} 小时、每月不超过 "
        f"{labour.max_overtime_hours_per_month:g} 小时"
        if labour.overtime_allowed
        else "值班规则不安排加班"
    )
    notes = [
        f"工时标准：每日 {labour.hours_per_day:g} 小时，每周 {labour.hours_per_week:g} 小时（最多 "
        f"{labour.max_hours_per_week:g} 小时），每周至少休息 {labour.rest_days_per_week} 日；"
        f"{overtime}（《中华人民共和国劳动法》第三十六、三十八、四十一条）。",
        "“计入周工时”为每日不超过标准工时的部分加带班值班；绿色为带班领导 24 小时值班"
        "（综合计算工时）；红色提示为违反工时规定，黄色为提醒。",
    ]
    if schematic:
        notes.append(SCHEMATIC_LABEL)
    row += 1
    for text in notes:
        _banner(worksheet, row, width, text)
        worksheet.cell(row=row, column=1).font = Font(size=9, italic=True)
        row += 1
    sizes = [14, 10, 12, 9, *([7] * len(sheet.days)), 9, 10, 9, 9, 11, 10, 36]
    for column, size in enumerate(sizes, 1):
        worksheet.column_dimensions[get_column_letter(column)].width = size
    _page_setup(worksheet, header_rows=_HEADER_ROWS, freeze="C4", note=note, schematic=schematic)


# --- the workbook ----------------------------------------------------------------------------


def _week_text(days: Sequence[date]) -> str:
    if not days:
        return ""
    weeks = sorted({iso_week(d) for d in days})
    span = f"{days[0]:%Y年%m月%d日}至{days[-1]:%m月%d日}"
    return f"{'、'.join(weeks)}，{span}"


def duty_sheet_workbook(
    assignments: pd.DataFrame,
    *,
    officers: Sequence[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    posts: pd.DataFrame | None = None,
    squads: Mapping[str, str] | None = None,
    week_days: Sequence[date] | None = None,
    demand: pd.DataFrame | None = None,
    title: str = "",
    note: str = "",
    schematic: bool = False,
) -> Workbook:
    """Return the duty sheet of a roster: one worksheet per squad and a summary of hours.

    Parameters
    ----------
    assignments
        The roster (the columns of :data:`grids.roster.ASSIGNMENT_COLUMNS`).
    officers
        The people, for their names, roles and squads; people of the roster who are not listed
        are shown by staff number.
    policy
        The duty policy the roster was made under: each day's slots, the labour rules.
    calendar
        The holiday calendar, for each day's type and so its slots.
    posts
        The posts layer (``id``, ``level``, ``road_name_zh``, ``squad_id``), for the rows' roads,
        levels and squads.
    squads
        Squad id → name (中队名称), in the order of the sheets; squads of the roster that are not
        listed follow, named by id.
    week_days
        The days to show (a whole week, say, even with days nobody works); by default the days
        of the assignments.
    demand
        The requirements (:func:`grids.demand.demand_for_week`): their posts get rows even when
        nobody is on them, and cells left short are marked. Without it nothing is marked.
    title
        The bureau's name, at the head of every sheet (e.g. ``惠济区城市管理执法局``).
    note
        A line under the title: the roster id, its status, the policy version.
    schematic
        True when the data are schematic or made up (demo staff, a schematic road network):
        every sheet then says so (:data:`SCHEMATIC_LABEL`).

    Returns
    -------
    openpyxl.Workbook
        The squads' sheets in the order of ``squads``, then :data:`SUMMARY_SHEET`.

    Raises
    ------
    FieldError
        If the assignment table lacks a column or has a bad value.
    ValueError
        If the calendar does not cover a day of the roster.
    """
    table = check_assignments(assignments)
    days = sorted(set(week_days) if week_days is not None else set(table["date"]))
    sheet = _Sheet(
        policy=policy,
        calendar=calendar,
        days=days,
        people={o.id: o for o in officers},
        posts=_posts(posts),
        demand=_demand(demand),
        squads=dict(squads or {}),
    )
    violations = validate_roster(
        table, staff=officers, policy=policy, calendar=calendar, demand=demand
    )
    _gather(sheet, table, violations)
    squad_ids: list[str | None] = list(sheet.squads)
    others = {r.squad_id for r in sheet.rows.values()} - set(squad_ids)
    named: list[str] = sorted((s for s in others if s is not None), key=_natural)
    squad_ids += named
    if None in others:
        squad_ids.append(None)
    week = _week_text(days)
    book = Workbook()
    book.remove(book.worksheets[0])
    for style in _named_styles():
        book.add_named_style(style)
    for squad_id in squad_ids:
        name = sheet.squads.get(squad_id, squad_id) if squad_id is not None else "区局"
        worksheet = book.create_sheet(sheet_name(name, book.sheetnames))
        heading = f"{title} {name}排班表（{week}）".strip()
        _squad_sheet(worksheet, sheet, squad_id, title=heading, note=note, schematic=schematic)
    worksheet = book.create_sheet(sheet_name(SUMMARY_SHEET, book.sheetnames))
    heading = f"{title} 工时统计（{week}）".strip()
    _summary_sheet(
        worksheet, sheet, table, violations, title=heading, note=note, schematic=schematic
    )
    return book


def write_duty_sheet(book: Workbook, file: str | Path | IO[bytes]) -> None:
    """Write a duty sheet workbook to a ``.xlsx`` file or a binary stream."""
    book.save(file)


def duty_sheet_bytes(book: Workbook) -> bytes:
    """Return a duty sheet workbook as the bytes of a ``.xlsx`` file."""
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
