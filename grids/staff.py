"""The people a roster is made of: officers (执法队员), assistants (协管员/劝导员), duty leaders.

:func:`read_staff` reads a staff list from CSV (UTF-8 or GB18030/GBK) or Excel (.xlsx) with
Chinese or English headers and checks every row: a file with any bad row is refused whole, with
one :class:`StaffFileError` that lists every problem (row as the spreadsheet shows it, field,
value and what is wrong). :func:`write_staff_csv` writes a list it reads back unchanged.

Cell formats:

- ``请假`` / ``leave``: ``2026-12-01..2026-12-03;2026-12-10`` (a range or one day, ``;``-separated),
  each optionally followed by its kind: ``2026-12-01..2026-12-03 年假``;
- ``可排时段`` / ``availability``: the slots a person may work on some weekdays, e.g.
  ``mon-fri:early,morning;sat:none`` (weekdays ``mon``…``sun``, ``1``…``7`` or ``周一``…``周日``;
  ``none`` = not at all); weekdays not named are unrestricted;
- ``排班意愿`` / ``requests``: ``2026-12-05:off;2026-12-06@night:on*2`` (a day, optionally ``@``
  a slot, ``on`` or ``off``, optionally ``*`` a weight).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from geodata.errors import CellProblem, FieldError, InputFileError, TableFileError
from grids._sheet_rows import csv_rows, xlsx_rows

__all__ = [
    "ROLES",
    "LeavePeriod",
    "Officer",
    "Role",
    "StaffFileError",
    "StaffProblem",
    "StaffRequest",
    "parse_availability",
    "parse_leave",
    "parse_requests",
    "read_staff",
    "write_staff_csv",
]

Role = Literal["officer", "assistant", "leader"]
ROLES: tuple[Role, ...] = get_args(Role)
ROLE_NAMES_ZH: Mapping[Role, str] = MappingProxyType(
    {"officer": "执法队员", "assistant": "协管员", "leader": "带班领导"}
)
_ROLE_VALUES: Mapping[str, Role] = MappingProxyType(
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
DEFAULT_CONTRACT_HOURS = 40.0
MAX_CONTRACT_HOURS = 44.0
"""Contract hours above the legal weekly maximum (PRC Labour Law art. 36) are refused."""

_WEEKDAYS: Mapping[str, int] = MappingProxyType(
    {
        **{name: n for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 1)},
        **{
            name: n
            for n, name in enumerate(
                ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), 1
            )
        },
        **{str(n): n for n in range(1, 8)},
        **{
            f"{prefix}{day}": n
            for n, days in enumerate(("一", "二", "三", "四", "五", "六", "日天"), 1)
            for day in days
            for prefix in ("", "周", "星期")
        },
    }
)
_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NO_SLOTS = {"none", "off", "无", "休", "休息", "-"}
_ON = {"on": True, "上班": True, "值班": True, "班": True, "off": False, "休": False, "休息": False}

_FIELDS = ("id", "name", "squad", "role", "contract_hours", "phone", "leave")
_OPTIONAL_FIELDS = ("availability", "requests", "demo")
_REQUIRED_FIELDS = ("id", "name", "squad", "role")
_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "id": ("id", "工号", "编号", "人员编号", "staff_id"),
        "name": ("name", "姓名"),
        "squad": ("squad", "squad_id", "中队", "所属中队"),
        "role": ("role", "角色", "人员类别", "类别"),
        "contract_hours": (
            "contract_hours",
            "contract_hours_week",
            "hours",
            "周工时",
            "每周工时",
            "合同工时",
        ),
        "phone": ("phone", "电话", "手机", "联系电话", "手机号"),
        "leave": ("leave", "请假", "假期"),
        "availability": ("availability", "可排时段", "可用时段"),
        "requests": ("requests", "排班意愿", "意愿"),
        "demo": ("demo", "示例"),
    }
)
_HEADERS_ZH: Mapping[str, str] = MappingProxyType(
    {
        "id": "工号",
        "name": "姓名",
        "squad": "中队",
        "role": "角色",
        "contract_hours": "周工时",
        "phone": "电话",
        "leave": "请假",
        "availability": "可排时段",
        "requests": "排班意愿",
        "demo": "示例",
    }
)
_HEADER_ROWS_SEARCHED = 10
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_LEAVE = re.compile(
    rf"^({_DATE})(?:\s*(?:\.\.|~|～|至)\s*({_DATE}))?\s*(?:[(（]\s*(.+?)\s*[)）]|\s+(\S.*))?$"
)
_REQUEST = re.compile(
    rf"^({_DATE})(?:\s*@\s*([A-Za-z0-9_.:-]+))?\s*[:：]\s*(\S+?)"
    r"(?:\s*\*\s*([0-9.]+(?:[eE][+-]?[0-9]+)?))?$"
)
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,19}$")


@dataclass(frozen=True)
class LeavePeriod:
    """Leave from ``start`` to ``end`` (inclusive) of some ``kind`` (年假, 病假, …)."""

    start: date
    end: date
    kind: str = "leave"

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise FieldError(f"leave ends {self.end}, before it starts {self.start}", field="leave")

    def covers(self, day: date) -> bool:
        """Return whether ``day`` is a day of the leave."""
        return self.start <= day <= self.end


@dataclass(frozen=True)
class StaffRequest:
    """A person's wish to work (``on``) or not (``off``) on a day, or in one slot of it."""

    date: date
    slot_id: str | None
    on: bool
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.weight) or self.weight <= 0:
            raise FieldError(f"a request's weight must be more than 0, not {self.weight}")


@dataclass(frozen=True)
class Officer:
    """A person who can be rostered: an officer, an assistant or a duty leader.

    Parameters
    ----------
    id
        Staff number (工号), unique.
    name
        Name (姓名).
    squad_id
        The squad (中队) the person belongs to; duty leaders may belong to none (district-wide).
    role
        ``officer`` (执法队员), ``assistant`` (协管员/劝导员: may persuade, not enforce) or
        ``leader`` (带班领导).
    contract_hours_week
        Contracted hours a week.
    phone
        Phone number, if known.
    availability
        ISO weekday (1 = Monday … 7 = Sunday) → the slot ids the person may work that weekday;
        weekdays not listed are unrestricted, an empty set means not at all.
    leave
        Leave periods.
    requests
        Wishes to work or not on given days and slots.
    demo
        True for made-up people (demonstration data), never for real staff.

    Raises
    ------
    FieldError
        If a value is not allowed (unknown role, no squad for an officer, weekday out of range…).
    """

    id: str
    name: str
    squad_id: str | None
    role: Role
    contract_hours_week: float = DEFAULT_CONTRACT_HOURS
    phone: str | None = None
    availability: Mapping[int, frozenset[str]] = field(default_factory=dict)
    leave: tuple[LeavePeriod, ...] = ()
    requests: tuple[StaffRequest, ...] = ()
    demo: bool = False

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise FieldError("the id is empty", field="id")
        if not self.name.strip():
            raise FieldError(f"{self.id}: the name is empty", field="name")
        if self.role not in ROLES:
            raise FieldError(f"{self.id}: {self.role!r} is not a role", field="role")
        if self.squad_id is None and self.role != "leader":
            raise FieldError(f"{self.id}: officers and assistants need a squad", field="squad")
        hours = self.contract_hours_week
        if not (math.isfinite(hours) and 0 < hours <= MAX_CONTRACT_HOURS):
            raise FieldError(
                f"{self.id}: contract hours must be more than 0 and at most "
                f"{MAX_CONTRACT_HOURS:g}, not {hours:g}",
                field="contract_hours",
            )
        for weekday in self.availability:
            if not 1 <= weekday <= 7:
                raise FieldError(f"{self.id}: {weekday} is not a weekday 1-7", field="availability")
        normalised = {k: frozenset(self.availability[k]) for k in sorted(self.availability)}
        object.__setattr__(self, "availability", MappingProxyType(normalised))

    def __hash__(self) -> int:
        availability = tuple((k, tuple(sorted(v))) for k, v in self.availability.items())
        return hash((self.id, self.name, self.squad_id, self.role, availability, self.leave))

    @property
    def can_enforce(self) -> bool:
        """Return whether the person may enforce (officers and leaders; assistants persuade)."""
        return self.role in ("officer", "leader")

    def allowed_slots(self, weekday: int) -> frozenset[str] | None:
        """Return the slot ids allowed on ISO ``weekday``, or None if any slot is allowed."""
        return self.availability.get(weekday)

    def on_leave(self, day: date) -> bool:
        """Return whether the person is on leave on ``day``."""
        return any(period.covers(day) for period in self.leave)

    def can_work(self, day: date, slot_id: str) -> bool:
        """Return whether the person may work slot ``slot_id`` on ``day``."""
        allowed = self.allowed_slots(day.isoweekday())
        return not self.on_leave(day) and (allowed is None or slot_id in allowed)


StaffProblem = CellProblem
"""A problem in one cell of a staff file."""


class StaffFileError(TableFileError):
    """A staff file with bad rows; ``problems`` lists every one of them."""


# --- cells -----------------------------------------------------------------------------------


class _CellError(ValueError):
    """A cell value that cannot be read; the message says why."""


def _parse_date(text: str) -> date:
    try:
        year, month, day = (int(part) for part in text.split("-"))
        return date(year, month, day)
    except ValueError:
        raise _CellError(f"{text!r} is not a date YYYY-MM-DD") from None


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;；\n]", text) if part.strip()]


def parse_leave(text: str) -> tuple[LeavePeriod, ...]:
    """Return the leave periods of a cell such as ``2026-12-01..2026-12-03 年假;2026-12-10``.

    Raises
    ------
    ValueError
        If a part is not a day or a range of days, or a range ends before it starts.
    """
    periods = []
    for part in _split(text):
        match = _LEAVE.match(part)
        if not match:
            raise _CellError(f"{part!r} is not a day or range such as 2026-12-01..2026-12-03")
        start = _parse_date(match[1])
        end = _parse_date(match[2]) if match[2] else start
        if end < start:
            raise _CellError(f"{part!r} ends before it starts")
        periods.append(LeavePeriod(start, end, (match[3] or match[4] or "leave").strip()))
    return tuple(periods)


def _weekday(token: str) -> int:
    number = _WEEKDAYS.get(token.strip().lower())
    if number is None:
        raise _CellError(f"{token!r} is not a weekday (mon…sun, 1…7 or 周一…周日)")
    return number


def parse_availability(
    text: str, slots: Collection[str] | None = None
) -> dict[int, frozenset[str]]:
    """Return the availability of a cell such as ``mon-fri:early,morning;sat:none``.

    Raises
    ------
    ValueError
        If a weekday or, when ``slots`` is given, a slot id is unknown.
    """
    availability: dict[int, frozenset[str]] = {}
    for part in _split(text):
        pieces = re.split(r"\s*[:：=]\s*", part, maxsplit=1)
        if len(pieces) != 2:
            raise _CellError(f"{part!r} is not WEEKDAYS:SLOTS, e.g. mon-fri:early,morning")
        days, slot_text = pieces
        bounds = re.split(r"\s*(?:-|~|～|至)\s*", days)
        if len(bounds) > 2:
            raise _CellError(f"{days!r} is not a weekday or a range of weekdays")
        first, last = _weekday(bounds[0]), _weekday(bounds[-1])
        if last < first:
            raise _CellError(f"{days!r} runs backwards")
        tokens = [t for t in re.split(r"[,，、\s]+", slot_text) if t]
        allowed = frozenset() if set(tokens) <= _NO_SLOTS else frozenset(tokens)
        if slots is not None:
            unknown = sorted(allowed - set(slots))
            if unknown:
                raise _CellError(f"no slot {unknown[0]!r} (slots are {', '.join(slots)})")
        for weekday in range(first, last + 1):
            if weekday in availability:
                raise _CellError(f"weekday {_WEEKDAY_NAMES[weekday - 1]} is given twice")
            availability[weekday] = allowed
    return availability


def parse_requests(text: str, slots: Collection[str] | None = None) -> tuple[StaffRequest, ...]:
    """Return the requests of a cell such as ``2026-12-05:off;2026-12-06@night:on*2``.

    Raises
    ------
    ValueError
        If a part is not a request, or, when ``slots`` is given, names an unknown slot.
    """
    requests = []
    for part in _split(text):
        match = _REQUEST.match(part)
        if not match or match[3].lower() not in _ON:
            raise _CellError(f"{part!r} is not a request such as 2026-12-05:off or …@night:on*2")
        slot_id = match[2]
        if slot_id is not None and slots is not None and slot_id not in slots:
            raise _CellError(f"no slot {slot_id!r} (slots are {', '.join(slots)})")
        weight = float(match[4]) if match[4] else 1.0
        if weight <= 0:
            raise _CellError(f"{part!r}: the weight must be more than 0")
        requests.append(StaffRequest(_parse_date(match[1]), slot_id, _ON[match[3].lower()], weight))
    return tuple(requests)


def _format_leave(leave: Iterable[LeavePeriod]) -> str:
    parts = []
    for period in leave:
        text = period.start.isoformat()
        if period.end != period.start:
            text += f"..{period.end.isoformat()}"
        if period.kind != "leave":
            text += f" {period.kind}"
        parts.append(text)
    return ";".join(parts)


def _format_availability(availability: Mapping[int, frozenset[str]]) -> str:
    return ";".join(
        f"{_WEEKDAY_NAMES[day - 1]}:{','.join(sorted(slots)) or 'none'}"
        for day, slots in availability.items()
    )


def _format_requests(requests: Iterable[StaffRequest]) -> str:
    parts = []
    for request in requests:
        text = request.date.isoformat()
        if request.slot_id is not None:
            text += f"@{request.slot_id}"
        text += ":on" if request.on else ":off"
        if request.weight != 1.0:
            text += f"*{request.weight:g}"
        parts.append(text)
    return ";".join(parts)


# --- files -----------------------------------------------------------------------------------


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
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
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
        if "id" in columns and len(columns) >= 2:
            missing = [name for name in _REQUIRED_FIELDS if name not in columns]
            if missing:
                raise FieldError(
                    f"no {missing[0]} column (headers: {', '.join(_HEADERS[missing[0]])})",
                    file=file,
                    field=missing[0],
                )
            return position, columns
    raise InputFileError(
        "no header row with 工号/id, 姓名/name, 中队/squad and 角色/role in the first "
        f"{_HEADER_ROWS_SEARCHED} rows",
        file=file,
    )


def _squad_lookup(squads: Mapping[str, str] | Collection[str]) -> dict[str, str]:
    lookup = {str(squad_id): str(squad_id) for squad_id in squads}
    if isinstance(squads, Mapping):
        lookup |= {str(name): str(squad_id) for squad_id, name in squads.items() if name}
    return lookup


def _officer_from_row(
    values: Mapping[str, str],
    squads: dict[str, str] | None,
    slots: Collection[str] | None,
    problem: Any,
) -> Officer | None:
    """Return the officer of a row, or None after calling ``problem(field, message)``."""
    bad = False

    def fail(name: str, message: str) -> None:
        nonlocal bad
        bad = True
        problem(name, message)

    staff_id, name = values["id"], values["name"]
    if not staff_id:
        fail("id", "the id (工号) is empty")
    if not name:
        fail("name", "the name (姓名) is empty")
    role = _ROLE_VALUES.get(values["role"].lower())
    if role is None:
        fail("role", "not a role: 执法队员/officer, 协管员/劝导员/assistant or 带班领导/leader")
    squad: str | None = values["squad"] or None
    if squad is None and role in ("officer", "assistant"):
        fail("squad", "officers and assistants need a squad (中队)")
    elif squad is not None and squads is not None:
        if squad not in squads:
            fail("squad", f"no such squad (squads: {', '.join(sorted(set(squads.values())))})")
        squad = squads.get(squad, squad)
    hours = DEFAULT_CONTRACT_HOURS
    if values.get("contract_hours"):
        try:
            hours = float(values["contract_hours"])
        except ValueError:
            hours = math.nan
        if not (math.isfinite(hours) and 0 < hours <= MAX_CONTRACT_HOURS):
            fail(
                "contract_hours",
                f"must be a number of hours over 0 and at most {MAX_CONTRACT_HOURS:g}",
            )
    phone = values.get("phone") or None
    if phone is not None and not _PHONE.match(phone):
        fail("phone", "not a phone number")
    parsed: dict[str, Any] = {}
    for column, parse in (
        ("leave", parse_leave),
        ("availability", lambda text: parse_availability(text, slots)),
        ("requests", lambda text: parse_requests(text, slots)),
    ):
        try:
            parsed[column] = parse(values.get(column, ""))
        except _CellError as exc:
            fail(column, str(exc))
    demo_text = values.get("demo", "").lower()
    if demo_text not in {"", "true", "false", "1", "0", "yes", "no", "是", "否"}:
        fail("demo", "must be true or false (是/否)")
    if bad or role is None:
        return None
    try:
        return Officer(
            id=staff_id,
            name=name,
            squad_id=squad,
            role=role,
            contract_hours_week=hours,
            phone=phone,
            availability=parsed["availability"],
            leave=parsed["leave"],
            requests=parsed["requests"],
            demo=demo_text in {"true", "1", "yes", "是"},
        )
    except FieldError as exc:
        fail(exc.field or "id", exc.message)
        return None


def read_staff(
    path: str | Path,
    *,
    squads: Mapping[str, str] | Collection[str] | None = None,
    slots: Collection[str] | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> list[Officer]:
    """Return the people of a staff list in CSV or Excel (.xlsx).

    Headers may be Chinese or English (工号/id, 姓名/name, 中队/squad, 角色/role, 周工时/contract
    hours, 电话/phone, 请假/leave, 可排时段/availability, 排班意愿/requests, 示例/demo); other
    columns are ignored, and up to ten title rows above the header are skipped. See the module
    docstring for the leave, availability and request formats.

    Parameters
    ----------
    path
        A ``.csv`` file (UTF-8, with or without BOM, or GB18030/GBK) or a ``.xlsx`` workbook.
    squads
        The known squads: ids, or a mapping of id → name, in which case the squad column may hold
        either. Other squads are refused. None accepts any squad.
    slots
        The known slot ids, to check availability and requests against. None accepts any.
    encoding
        The CSV text encoding, when it is neither UTF-8 nor GB18030.
    sheet
        The sheet of a workbook to read; the first when None.

    Returns
    -------
    list of Officer
        In the order of the file.

    Raises
    ------
    InputFileError
        If the file cannot be read, is of an unknown type, or has no header row.
    FieldError
        If a required column is missing.
    StaffFileError
        If any row is bad; lists every problem, and nothing is returned. Duplicate ids are
        problems.
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
                f"unknown staff file type {suffix!r}: give a .csv or .xlsx file", file=file.name
            )
    except OSError as exc:
        raise InputFileError(f"cannot read the staff file: {exc}", file=file.name) from None
    position, columns = _header(rows, file.name)
    header_width = len(rows[position][1])
    lookup = _squad_lookup(squads) if squads is not None else None
    problems: list[StaffProblem] = []
    officers: list[Officer] = []
    first_row: dict[str, int] = {}
    for row_number, cells in rows[position + 1 :]:
        if not any(cell.strip() for cell in cells):
            continue
        values = {
            name: cells[index].strip() if index < len(cells) else ""
            for name, index in columns.items()
        }

        def problem(name: str, message: str, row: int = row_number, cell: Any = values) -> None:
            problems.append(StaffProblem(row, name, cell.get(name, ""), message))

        extra = [cell for cell in cells[header_width:] if cell.strip()]
        if extra:
            # usually an unquoted comma inside a cell, which would silently shift the rest
            message = (
                f"{len(cells)} cells under a header of {header_width}; "
                "quote a cell that holds a comma"
            )
            problems.append(StaffProblem(row_number, "row", extra[0], message))
            continue
        officer = _officer_from_row(values, lookup, slots, problem)
        staff_id = values["id"]
        if staff_id and staff_id in first_row:
            problem("id", f"duplicate id, first on row {first_row[staff_id]}")
            officer = None
        elif staff_id:
            first_row[staff_id] = row_number
        if officer is not None:
            officers.append(officer)
    if problems:
        raise StaffFileError(problems, file=file.name)
    if not officers and not first_row:
        raise InputFileError("the staff file lists nobody", file=file.name)
    return officers


def write_staff_csv(
    officers: Iterable[Officer],
    path: str | Path,
    *,
    headers: Literal["zh", "en"] = "zh",
    encoding: str = "utf-8-sig",
) -> None:
    """Write a staff list that :func:`read_staff` reads back to the same people.

    Parameters
    ----------
    officers
        The people.
    path
        The ``.csv`` file to write.
    headers
        Chinese (``zh``: 工号, 姓名, …) or English (``en``: id, name, …) headers.
    encoding
        ``utf-8-sig`` (UTF-8 with a BOM, which Excel recognises) by default.
    """
    names = (*_FIELDS, *_OPTIONAL_FIELDS)
    header = [_HEADERS_ZH[n] if headers == "zh" else n for n in names]
    with Path(path).open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for officer in officers:
            role = ROLE_NAMES_ZH[officer.role] if headers == "zh" else officer.role
            writer.writerow(
                [
                    officer.id,
                    officer.name,
                    officer.squad_id or "",
                    role,
                    f"{officer.contract_hours_week:g}",
                    officer.phone or "",
                    _format_leave(officer.leave),
                    _format_availability(officer.availability),
                    _format_requests(officer.requests),
                    "true" if officer.demo else "false",
                ]
            )
