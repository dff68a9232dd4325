"""Read and write a roster's assignment table as CSV or Excel (排班表导入、导出).

:func:`read_assignments` reads an assignment table (:mod:`grids.roster`) from CSV (UTF-8, with or
without BOM, or GB18030/GBK) or Excel (.xlsx) with Chinese or English headers, and checks every
row: a file with any bad row is refused whole, with one :class:`RosterFileError` that lists every
problem (row as the spreadsheet shows it, field, value and what is wrong).
:func:`write_assignments_csv` and :func:`write_assignments_xlsx` write a table that it reads back
unchanged.

=========================  ===========================================================
header (any of)            cell
=========================  ===========================================================
工号, officer_id            the person's staff number (required)
日期, date                  the duty day ``2026-12-01`` (also ``2026/12/1``, ``2026年12月1日``)
时段, slot_id               a slot id of the policy (``morning``) or, with the policy, its
                           name (``上午``); ``day`` for the duty leader's 24-hour duty
岗位, post_id               the post, patrol route or operation target; empty for reserve
任务, task                  ``strict_post``… or 严管岗, 巡查, 疏导, 夜查, 渣土车巡查, 烧烤整治,
                           全员上岗, 临时勤务, 带班, 备勤
开始, 结束 / start, end      ``2026-12-01 08:00`` or ``08:00`` (an end not after the start is
                           the next day); both empty: the slot's times from the policy
角色, role; 中队, squad_id   optional; filled from the staff list when empty
需求编号, requirement_id     optional
固定, pinned                optional: true/false, 是/否
=========================  ===========================================================

Other columns (姓名/name, remarks…) are ignored, and up to ten title rows above the header are
skipped. Whether the people, posts and hours make a lawful roster is a matter for
:func:`grids.roster_rules.validate_roster`, not for reading.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import openpyxl
import pandas as pd

from geodata.errors import CellProblem, FieldError, InputFileError, TableFileError
from grids._sheet_rows import csv_rows, xlsx_rows
from grids.calendar import HolidayCalendar
from grids.policy import DayType, DutyPolicy, parse_clock
from grids.roster import ASSIGNMENT_COLUMNS, TASKS, check_assignments, empty_assignments
from grids.roster_rules import LEADER_SLOT
from grids.staff import Officer

__all__ = [
    "RosterFileError",
    "RosterProblem",
    "read_assignments",
    "write_assignments_csv",
    "write_assignments_xlsx",
]

_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "officer_id": ("officer_id", "officer", "staff_id", "id", "工号", "人员编号", "编号"),
        "role": ("role", "角色", "人员类别", "类别"),
        "squad_id": ("squad_id", "squad", "中队", "所属中队"),
        "date": ("date", "日期", "值班日期"),
        "slot_id": ("slot_id", "slot", "时段", "值班时段", "班次"),
        "start": ("start", "开始", "开始时间"),
        "end": ("end", "结束", "结束时间"),
        "post_id": ("post_id", "post", "岗位", "岗位编号"),
        "task": ("task", "任务", "勤务", "勤务类型"),
        "requirement_id": ("requirement_id", "requirement", "需求编号", "需求"),
        "pinned": ("pinned", "固定", "锁定"),
    }
)
_HEADERS_ZH: Mapping[str, str] = MappingProxyType(
    {
        "officer_id": "工号",
        "role": "角色",
        "squad_id": "中队",
        "date": "日期",
        "slot_id": "时段",
        "start": "开始",
        "end": "结束",
        "post_id": "岗位",
        "task": "任务",
        "requirement_id": "需求编号",
        "pinned": "固定",
    }
)
_REQUIRED = ("officer_id", "date", "slot_id")
_HEADER_ROWS_SEARCHED = 10
TASK_NAMES_ZH: Mapping[str, str] = MappingProxyType(
    {
        "strict_post": "严管岗",
        "patrol": "巡查",
        "guidance_window": "疏导",
        "night_check": "夜查",
        "muck_truck": "渣土车巡查",
        "barbecue": "烧烤整治",
        "full_deployment": "全员上岗",
        "event": "临时勤务",
        "leader_duty": "带班",
        "reserve": "备勤",
    }
)
_TASK_VALUES: Mapping[str, str] = MappingProxyType(
    {
        **{task: task for task in TASKS},
        **{name: task for task, name in TASK_NAMES_ZH.items()},
        "严管": "strict_post",
        "严管岗位": "strict_post",
        "定岗": "strict_post",
        "巡逻": "patrol",
        "严控巡查": "patrol",
        "疏导点": "guidance_window",
        "劝导": "guidance_window",
        "渣土车": "muck_truck",
        "露天烧烤": "barbecue",
        "露天烧烤整治": "barbecue",
        "活动保障": "event",
        "带班领导": "leader_duty",
        "值班领导": "leader_duty",
        "带班值班": "leader_duty",
        "机动": "reserve",
    }
)
ROLE_NAMES_ZH: Mapping[str, str] = MappingProxyType(
    {"officer": "执法队员", "assistant": "协管员", "leader": "带班领导"}
)
_ROLE_VALUES: Mapping[str, str] = MappingProxyType(
    {
        "officer": "officer",
        "执法队员": "officer",
        "队员": "officer",
        "执法人员": "officer",
        "assistant": "assistant",
        "协管员": "assistant",
        "劝导员": "assistant",
        "协管": "assistant",
        "leader": "leader",
        "带班领导": "leader",
        "领导": "leader",
    }
)
_TRUE = {"true", "1", "yes", "y", "是"}
_FALSE = {"false", "0", "no", "n", "否", ""}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_MOMENT = re.compile(r"^(.+?)[T\s]+(\d{1,2}:\d{2})(?::\d{2}(?:\.\d+)?)?$")


RosterProblem = CellProblem
"""A problem in one cell of a roster file."""


class RosterFileError(TableFileError):
    """A roster file with bad rows; ``problems`` lists every one of them."""


class _CellError(ValueError):
    """A cell value that cannot be read; the message says why."""


# --- reading cells ---------------------------------------------------------------------------


def _header_key(text: str) -> str:
    text = re.sub(r"[(（].*?[)）]", "", text)
    return re.sub(r"[\s_]+", "", text).lower()


_HEADER_LOOKUP: Mapping[str, str] = MappingProxyType(
    {_header_key(alias): name for name, aliases in _HEADERS.items() for alias in aliases}
)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header(rows: list[tuple[int, list[str]]], file: str) -> tuple[int, dict[str, int]]:
    for position, (_, cells) in enumerate(rows[:_HEADER_ROWS_SEARCHED]):
        columns: dict[str, int] = {}
        for index, cell in enumerate(cells):
            name = _HEADER_LOOKUP.get(_header_key(cell))
            if name is None:
                continue
            if name in columns:
                raise InputFileError(
                    f"two columns are {name!r}: {cells[columns[name]]!r} and {cell!r}", file=file
                )
            columns[name] = index
        if "officer_id" in columns and len(columns) >= 2:
            missing = [name for name in _REQUIRED if name not in columns]
            if missing:
                raise FieldError(
                    f"no {missing[0]} column (headers: {', '.join(_HEADERS[missing[0]])})",
                    file=file,
                    field=missing[0],
                )
            return position, columns
    raise InputFileError(
        "no header row with 工号/officer_id, 日期/date and 时段/slot_id in the first "
        f"{_HEADER_ROWS_SEARCHED} rows",
        file=file,
    )


def _parse_date(text: str) -> date:
    match = _DATE.match(text.strip())
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise _CellError(f"{text!r} is not a date such as 2026-12-01")


def _parse_moment(text: str, day: date) -> tuple[datetime, bool]:
    """Return the moment of a cell and whether it was a clock time on ``day``."""
    try:
        return datetime.combine(day, parse_clock(text)), True
    except ValueError:
        pass
    match = _MOMENT.match(text.strip())
    if match:
        try:
            return datetime.combine(_parse_date(match[1]), parse_clock(match[2])), False
        except (ValueError, _CellError):
            pass
    raise _CellError(f"{text!r} is not a time such as 08:00 or 2026-12-01 08:00")


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _CellError("must be true or false (是/否)")


def _day_type(day: date, calendar: HolidayCalendar | None) -> DayType:
    if calendar is not None:
        return calendar.day_type(day)
    return "weekend" if day.isoweekday() >= 6 else "weekday"


def _slot_lookup(policy: DutyPolicy, day_type: DayType) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for slot in policy.slots_for(day_type):
        for name in (slot.name_zh, slot.name_en):
            if name:
                lookup[name.strip().lower()] = slot.id
        lookup[slot.id.lower()] = slot.id
    return lookup


def _inferred_task(post_id: str | None, slot_id: str) -> str | None:
    if post_id == "leader_duty" or slot_id == LEADER_SLOT:
        return "leader_duty"
    if post_id is None:
        return "reserve"
    if post_id.startswith("full_deployment@"):
        return "full_deployment"
    if "/patrol-" in post_id:
        return "patrol"
    return None


@dataclass
class _RowReader:
    """Turns the cells of a row into an assignment, reporting each bad cell."""

    policy: DutyPolicy | None
    calendar: HolidayCalendar | None
    staff: Mapping[str, Officer]

    def read(
        self, values: Mapping[str, str], fail: Callable[[str, str], None]
    ) -> dict[str, Any] | None:
        """Return the assignment of a row, or None after calling ``fail(field, message)``."""
        bad = False

        def problem(name: str, message: str) -> None:
            nonlocal bad
            bad = True
            fail(name, message)

        officer_id = values["officer_id"] or None
        if officer_id is None:
            problem("officer_id", "the staff number (工号) is empty")
        day: date | None = None
        try:
            day = _parse_date(values["date"])
        except _CellError as exc:
            problem("date", str(exc) if values["date"] else "the date (日期) is empty")
        slot_id = self._slot(values["slot_id"], day, problem)
        post_id = values.get("post_id") or None
        times = self._times(values, day, slot_id, problem)
        task = self._task(values.get("task", ""), post_id, slot_id, problem)
        role = values.get("role", "")
        role_id = _ROLE_VALUES.get(role.lower()) if role else None
        if role and role_id is None:
            problem("role", "not a role: 执法队员/officer, 协管员/assistant or 带班领导/leader")
        pinned = False
        try:
            pinned = _flag(values.get("pinned", ""))
        except _CellError as exc:
            problem("pinned", str(exc))
        if bad or officer_id is None or day is None or slot_id is None or times is None:
            return None
        person = self.staff.get(officer_id)
        return {
            "officer_id": officer_id,
            "role": role_id or (person.role if person else None),
            "squad_id": values.get("squad_id") or (person.squad_id if person else None),
            "date": day,
            "slot_id": slot_id,
            "start": times[0],
            "end": times[1],
            "post_id": post_id,
            "task": task,
            "requirement_id": values.get("requirement_id") or None,
            "pinned": pinned,
        }

    def _slot(self, text: str, day: date | None, problem: Callable[[str, str], None]) -> str | None:
        if not text:
            problem("slot_id", "the slot (时段) is empty")
            return None
        if self.policy is None or day is None or text == LEADER_SLOT:
            return text
        day_type = _day_type(day, self.calendar)
        slot_id = _slot_lookup(self.policy, day_type).get(text.lower())
        if slot_id is None:
            names = ", ".join(f"{s.id} ({s.name_zh})" for s in self.policy.slots_for(day_type))
            problem("slot_id", f"no such slot on a {day_type} (slots: {names}, or day)")
        return slot_id

    def _times(
        self,
        values: Mapping[str, str],
        day: date | None,
        slot_id: str | None,
        problem: Callable[[str, str], None],
    ) -> tuple[datetime, datetime] | None:
        start_text, end_text = values.get("start", ""), values.get("end", "")
        if day is None or slot_id is None:
            return None
        if not start_text and not end_text:
            if self.policy is None:
                problem("start", "no start and end: give them, or read with the duty policy")
                return None
            if slot_id == LEADER_SLOT:
                return self.policy.leader.on(day)
            slot = next(
                s for s in self.policy.slots_for(_day_type(day, self.calendar)) if s.id == slot_id
            )
            return slot.on(day)
        moments: list[tuple[datetime, bool]] = []
        for name, text in (("start", start_text), ("end", end_text)):
            if not text:
                problem(name, f"the {name} is empty while the other time is given")
                continue
            try:
                moments.append(_parse_moment(text, day))
            except _CellError as exc:
                problem(name, str(exc))
        if len(moments) != 2:
            return None
        (start, _), (end, end_is_clock) = moments
        if end <= start and end_is_clock:
            end += timedelta(days=1)
        if end <= start:
            problem("end", f"the duty ends at {end:%Y-%m-%d %H:%M}, not after its start")
            return None
        return start, end

    def _task(
        self,
        text: str,
        post_id: str | None,
        slot_id: str | None,
        problem: Callable[[str, str], None],
    ) -> str | None:
        if text:
            task = _TASK_VALUES.get(text) or _TASK_VALUES.get(text.lower())
            if task is None:
                problem(
                    "task", f"unknown task; tasks are {', '.join(TASKS)} or their Chinese names"
                )
            return task
        task = _inferred_task(post_id, slot_id or "")
        if task is None:
            problem("task", "the task (任务) is empty")
        return task


def read_assignments(
    path: str | Path,
    *,
    policy: DutyPolicy | None = None,
    calendar: HolidayCalendar | None = None,
    staff: Sequence[Officer] | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Return the assignment table in a CSV or Excel (.xlsx) file.

    Parameters
    ----------
    path
        A ``.csv`` file (UTF-8, with or without BOM, or GB18030/GBK) or a ``.xlsx`` workbook with
        the columns of the module docstring.
    policy
        The duty policy: slots may then be given by name, are checked, and give the times of rows
        without start and end. Without it, every row needs its start and end.
    calendar
        The holiday calendar, for each day's slots; without it Saturdays and Sundays are weekend
        days and every other day a weekday.
    staff
        The people, to fill in the role and squad of rows that leave them empty.
    encoding
        The CSV text encoding, when it is neither UTF-8 nor GB18030.
    sheet
        The sheet of a workbook to read; the first when None.

    Returns
    -------
    pandas.DataFrame
        The assignments, with the columns of :data:`grids.roster.ASSIGNMENT_COLUMNS`, sorted as
        :func:`grids.roster.check_assignments` sorts them.

    Raises
    ------
    InputFileError
        If the file cannot be read, is of an unknown type, or has no header row.
    FieldError
        If a required column (工号/officer_id, 日期/date, 时段/slot_id) is missing.
    RosterFileError
        If any row is bad; lists every problem, and nothing is returned. A second row for the same
        person, day, slot and post is a problem.
    ValueError
        If the calendar does not cover a date of the file.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            rows = csv_rows(file, encoding)
        elif suffix in (".xlsx", ".xlsm"):
            rows = xlsx_rows(file, sheet, _cell_text)
        else:
            raise InputFileError(
                f"unknown roster file type {suffix!r}: give a .csv or .xlsx file", file=file.name
            )
    except OSError as exc:
        raise InputFileError(f"cannot read the roster file: {exc}", file=file.name) from None
    position, columns = _header(rows, file.name)
    reader = _RowReader(policy, calendar, {person.id: person for person in staff or ()})
    problems: list[RosterProblem] = []
    records: list[dict[str, Any]] = []
    first_row: dict[tuple[Any, ...], int] = {}
    for row_number, cells in rows[position + 1 :]:
        if not any(cell.strip() for cell in cells):
            continue
        values = {
            name: cells[index].strip() if index < len(cells) else ""
            for name, index in columns.items()
        }

        def fail(name: str, message: str, row: int = row_number, cell: Any = values) -> None:
            problems.append(RosterProblem(row, name, cell.get(name, ""), message))

        record = reader.read(values, fail)
        if record is None:
            continue
        key = (record["officer_id"], record["date"], record["slot_id"], record["post_id"])
        if key in first_row:
            fail("officer_id", f"the same person, day, slot and post as row {first_row[key]}")
            continue
        first_row[key] = row_number
        records.append(record)
    if problems:
        raise RosterFileError(problems, file=file.name)
    if not records:
        return empty_assignments()
    empty = empty_assignments()
    frame = pd.DataFrame(
        {
            column: pd.Series([record[column] for record in records], dtype=empty[column].dtype)
            for column in ASSIGNMENT_COLUMNS
        }
    )
    return check_assignments(frame, file=file.name)


# --- writing ---------------------------------------------------------------------------------


def _written_values(
    assignments: pd.DataFrame, headers: Literal["zh", "en"]
) -> tuple[list[str], list[list[Any]]]:
    table = check_assignments(assignments)
    header = [_HEADERS_ZH[c] if headers == "zh" else c for c in ASSIGNMENT_COLUMNS]
    rows = []
    for record in table.to_dict("records"):
        row: list[Any] = []
        for column in ASSIGNMENT_COLUMNS:
            value = record[column]
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                row.append(None)
            elif column in ("start", "end"):
                row.append(pd.Timestamp(value).to_pydatetime().replace(second=0, microsecond=0))
            elif column == "date":
                row.append(value if isinstance(value, date) else pd.Timestamp(value).date())
            elif column == "task" and headers == "zh":
                row.append(TASK_NAMES_ZH.get(str(value), str(value)))
            elif column == "role" and headers == "zh":
                row.append(ROLE_NAMES_ZH.get(str(value), str(value)))
            elif column == "pinned":
                row.append(bool(value))
            else:
                row.append(str(value))
        rows.append(row)
    return header, rows


def write_assignments_csv(
    assignments: pd.DataFrame,
    path: str | Path,
    *,
    headers: Literal["zh", "en"] = "zh",
    encoding: str = "utf-8-sig",
) -> None:
    """Write an assignment table that :func:`read_assignments` reads back unchanged.

    Parameters
    ----------
    assignments
        The roster's assignments (the columns of :data:`grids.roster.ASSIGNMENT_COLUMNS`).
    path
        The ``.csv`` file to write.
    headers
        Chinese (``zh``: 工号, 日期, 时段, …; tasks and roles in Chinese) or English (``en``)
        headers and values.
    encoding
        ``utf-8-sig`` (UTF-8 with a BOM, which Excel recognises) by default.

    Raises
    ------
    FieldError
        If the table lacks a column or has a bad value (see
        :func:`grids.roster.check_assignments`).
    """
    header, rows = _written_values(assignments, headers)
    with Path(path).open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell_text(value) for value in row])


def write_assignments_xlsx(
    assignments: pd.DataFrame,
    path: str | Path,
    *,
    headers: Literal["zh", "en"] = "zh",
    sheet: str = "排班",
) -> None:
    """Write an assignment table to an Excel workbook that :func:`read_assignments` reads back.

    Dates and times are Excel dates and times.

    Parameters
    ----------
    assignments
        The roster's assignments.
    path
        The ``.xlsx`` file to write.
    headers
        Chinese (``zh``) or English (``en``) headers and values.
    sheet
        The name of the sheet.

    Raises
    ------
    FieldError
        If the table lacks a column or has a bad value.
    """
    header, rows = _written_values(assignments, headers)
    book = openpyxl.Workbook()
    worksheet = book.create_sheet(sheet, 0)
    book.remove(book.worksheets[1])  # the empty default sheet
    worksheet.append(header)
    for row in rows:
        worksheet.append(row)
    for column, name in zip("ABCDEFGHIJK", ASSIGNMENT_COLUMNS, strict=True):
        if name in ("start", "end"):
            for cell in worksheet[column][1:]:
                cell.number_format = "yyyy-mm-dd hh:mm"
        elif name == "date":
            for cell in worksheet[column][1:]:
                cell.number_format = "yyyy-mm-dd"
    book.save(path)
