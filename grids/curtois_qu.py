"""The staff-scheduling benchmark of Curtois & Qu (2014) on the shift-scheduling model.

T. Curtois and R. Qu, *Computational results on new staff scheduling benchmark instances*,
University of Nottingham, 2014. Each instance is a text file of sections (``SECTION_HORIZON``,
``SECTION_SHIFTS``, ``SECTION_STAFF``, ``SECTION_DAYS_OFF``, ``SECTION_SHIFT_ON_REQUESTS``,
``SECTION_SHIFT_OFF_REQUESTS``, ``SECTION_COVER``) of comma-separated rows; ``#`` starts a
comment. All instances start on a Monday.

:func:`read_curtois_qu` turns a file into a :class:`~grids.shift_model.ShiftProblem` (shift types
get the nominal start 00:00: the benchmark has no start times, and with starts at midnight no two
shifts of consecutive days overlap, so only the listed successions are barred).
:func:`curtois_qu_objective` and :func:`curtois_qu_violations` score and check a roster directly
from the benchmark's definitions, independently of the solver.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from geodata.errors import InputFileError
from grids.shift_model import Cover, Request, ShiftProblem, ShiftType, Staff

__all__ = [
    "CITATION",
    "curtois_qu_objective",
    "curtois_qu_violations",
    "read_curtois_qu",
]

CITATION = (
    "T. Curtois and R. Qu, Computational results on new staff scheduling benchmark instances, "
    "University of Nottingham, 2014"
)

_SECTIONS = (
    "SECTION_HORIZON",
    "SECTION_SHIFTS",
    "SECTION_STAFF",
    "SECTION_DAYS_OFF",
    "SECTION_SHIFT_ON_REQUESTS",
    "SECTION_SHIFT_OFF_REQUESTS",
    "SECTION_COVER",
)


class _Reader:
    """Parse one instance file, raising errors that name the file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def fail(self, message: str) -> InputFileError:
        return InputFileError(message, file=str(self.path), row=self.line or None)

    def integer(self, text: str, what: str, *, minimum: int = 0) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise self.fail(f"{what} must be an integer, not {text.strip()!r}") from None
        if value < minimum:
            raise self.fail(f"{what} must be at least {minimum}, not {value}")
        return value

    def fields(self, text: str, count: int, what: str) -> list[str]:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != count:
            raise self.fail(f"{what}: expected {count} comma-separated fields, got {len(parts)}")
        return parts

    def rows(self) -> dict[str, list[tuple[int, str]]]:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InputFileError(f"cannot read: {error}", file=str(self.path)) from error
        sections: dict[str, list[tuple[int, str]]] = {}
        current: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            self.line = number
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("SECTION_"):
                if line not in _SECTIONS:
                    raise self.fail(f"unknown section {line!r}")
                if line in sections:
                    raise self.fail(f"section {line} given twice")
                current = line
                sections[current] = []
            elif current is None:
                raise self.fail("data before the first SECTION_ line")
            else:
                sections[current].append((number, line))
        self.line = 0
        missing = [name for name in _SECTIONS if name not in sections]
        if missing:
            raise self.fail(f"missing sections: {', '.join(missing)}")
        return sections


def read_curtois_qu(path: str | Path) -> ShiftProblem:
    """Read an instance of the Curtois & Qu benchmark.

    Parameters
    ----------
    path
        The instance file (``Instance1.txt`` …).

    Returns
    -------
    ShiftProblem
        The problem, starting on a Monday, without labour rules; covers and requests are soft
        with the file's weights.

    Raises
    ------
    geodata.errors.InputFileError
        A ``ValueError`` naming the file and line: unreadable file, missing or unknown section,
        wrong field count, a value that is not a non-negative integer, an unknown shift or staff
        id, a day outside the horizon.
    """
    reader = _Reader(Path(path))
    sections = reader.rows()

    horizon_rows = sections["SECTION_HORIZON"]
    if len(horizon_rows) != 1:
        reader.line = horizon_rows[1][0] if horizon_rows[1:] else 0
        raise reader.fail("SECTION_HORIZON must hold exactly one number")
    reader.line = horizon_rows[0][0]
    horizon = reader.integer(horizon_rows[0][1], "horizon", minimum=1)

    def day(text: str) -> int:
        value = reader.integer(text, "day")
        if value >= horizon:
            raise reader.fail(f"day {value} outside the horizon of {horizon} days")
        return value

    raw_shifts: list[tuple[int, str, int, list[str]]] = []
    for reader.line, row in sections["SECTION_SHIFTS"]:
        name, length, barred = reader.fields(row, 3, "shift")
        minutes = reader.integer(length, "shift length", minimum=1)
        raw_shifts.append((reader.line, name, minutes, _split(barred, "|")))
    shift_ids = {name for _, name, _, _ in raw_shifts}
    shift_types = []
    for reader.line, name, minutes, following in raw_shifts:
        unknown = sorted(set(following) - shift_ids)
        if unknown:
            raise reader.fail(f"shift {name}: unknown shifts {unknown} that cannot follow")
        shift_types.append(ShiftType(name, 0, minutes, frozenset(following)))

    def shift(text: str) -> str:
        if text not in shift_ids:
            raise reader.fail(f"unknown shift {text!r}")
        return text

    parsed_staff: list[Staff] = []
    for reader.line, row in sections["SECTION_STAFF"]:
        parts = reader.fields(row, 8, "staff")
        max_shifts = {}
        for item in _split(parts[1], "|"):
            name, sep, value = item.partition("=")
            if not sep:
                raise reader.fail(f"max shifts entry {item!r} is not ShiftID=number")
            max_shifts[shift(name.strip())] = reader.integer(value, f"max shifts of {name}")
        parsed_staff.append(
            Staff(
                parts[0],
                max_shifts=max_shifts,
                max_total_min=reader.integer(parts[2], "MaxTotalMinutes"),
                min_total_min=reader.integer(parts[3], "MinTotalMinutes"),
                max_consecutive_shifts=reader.integer(parts[4], "MaxConsecutiveShifts"),
                min_consecutive_shifts=reader.integer(parts[5], "MinConsecutiveShifts"),
                min_consecutive_days_off=reader.integer(parts[6], "MinConsecutiveDaysOff"),
                max_weekends=reader.integer(parts[7], "MaxWeekends"),
            )
        )
        if parsed_staff[-1].id in {s.id for s in parsed_staff[:-1]}:
            raise reader.fail(f"staff {parts[0]!r} given twice")
    staff_ids = {s.id for s in parsed_staff}

    def staff_id(text: str) -> str:
        if text not in staff_ids:
            raise reader.fail(f"unknown staff {text!r}")
        return text

    days_off: dict[str, set[int]] = defaultdict(set)
    for reader.line, row in sections["SECTION_DAYS_OFF"]:
        parts = [p.strip() for p in row.split(",")]
        days_off[staff_id(parts[0])].update(day(p) for p in parts[1:] if p)

    requests = []
    for section, on in (("SECTION_SHIFT_ON_REQUESTS", True), ("SECTION_SHIFT_OFF_REQUESTS", False)):
        for reader.line, row in sections[section]:
            who, when, what, weight = reader.fields(row, 4, "request")
            requests.append(
                Request(
                    staff_id(who),
                    day(when),
                    shift(what),
                    reader.integer(weight, "request weight"),
                    on,
                )
            )

    covers = []
    for reader.line, row in sections["SECTION_COVER"]:
        when, what, requirement, under, over = reader.fields(row, 5, "cover")
        covers.append(
            Cover(
                day=day(when),
                shift_id=shift(what),
                requirement=reader.integer(requirement, "requirement"),
                under_weight=reader.integer(under, "weight for under"),
                over_weight=reader.integer(over, "weight for over"),
            )
        )

    staff = tuple(
        replace(member, days_off=frozenset(days_off.get(member.id, ()))) for member in parsed_staff
    )
    return ShiftProblem(
        horizon_days=horizon,
        first_weekday=0,
        shift_types=tuple(shift_types),
        staff=staff,
        covers=tuple(covers),
        requests=tuple(requests),
    )


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def curtois_qu_objective(problem: ShiftProblem, assignments: Mapping[tuple[str, int], str]) -> int:
    """Return the benchmark's objective of a roster.

    The sum of the weights of shift-on requests not granted and shift-off requests not
    granted, plus, for each cover row, ``under weight × missing`` and ``over weight × extra``.

    Parameters
    ----------
    problem
        A problem read by :func:`read_curtois_qu`.
    assignments
        (staff id, day) → shift id.

    Returns
    -------
    int
        The penalty.
    """
    total = 0
    for request in problem.requests:
        worked = assignments.get((request.staff_id, request.day)) == request.shift_id
        if worked != request.on:
            total += request.weight
    working: dict[tuple[int, str | None], int] = defaultdict(int)
    for (_, day), shift_id in assignments.items():
        working[(day, shift_id)] += 1
    for cover in problem.covers:
        count = working[(cover.day, cover.shift_id)]
        total += (cover.under_weight or 0) * max(0, cover.requirement - count)
        total += (cover.over_weight or 0) * max(0, count - cover.requirement)
    return total


def curtois_qu_violations(
    problem: ShiftProblem, assignments: Mapping[tuple[str, int], str]
) -> list[str]:
    """Return every hard rule of the benchmark a roster breaks (empty for a feasible roster).

    The rules: known staff, shifts and days; shift types the staff member may not work
    (maximum 0) or works too often; minutes worked outside [min, max]; more consecutive shifts
    than allowed; fewer consecutive shifts or days off than required (runs that touch the first
    or last day of the horizon exempt); more weekends worked than allowed (Saturday or Sunday);
    work on a day off; a shift followed the next day by one that may not follow it.

    Parameters
    ----------
    problem
        A problem read by :func:`read_curtois_qu`.
    assignments
        (staff id, day) → shift id (one shift per staff member and day by construction).

    Returns
    -------
    list[str]
        One sentence per violation.
    """
    found: list[str] = []
    horizon = problem.horizon_days
    lengths = {t.id: t.length_min for t in problem.shift_types}
    barred = {t.id: t.forbidden_next for t in problem.shift_types}
    staff_ids = {s.id for s in problem.staff}
    for (sid, day), shift_id in sorted(assignments.items()):
        if sid not in staff_ids:
            found.append(f"unknown staff {sid!r}")
        if shift_id not in lengths:
            found.append(f"{sid}: unknown shift {shift_id!r} on day {day}")
        if not 0 <= day < horizon:
            found.append(f"{sid}: day {day} outside the horizon")
    for member in problem.staff:
        roster = {
            day: shift_id
            for (sid, day), shift_id in assignments.items()
            if sid == member.id and shift_id in lengths and 0 <= day < horizon
        }
        sid = member.id
        for shift_id in sorted(set(roster.values())):
            count = sum(1 for s in roster.values() if s == shift_id)
            limit = member.max_shifts.get(shift_id)
            if limit is not None and count > limit:
                found.append(f"{sid}: {count} shifts {shift_id}, at most {limit}")
        minutes = sum(lengths[s] for s in roster.values())
        if member.max_total_min is not None and minutes > member.max_total_min:
            found.append(f"{sid}: {minutes} minutes, at most {member.max_total_min}")
        if member.min_total_min is not None and minutes < member.min_total_min:
            found.append(f"{sid}: {minutes} minutes, at least {member.min_total_min}")
        found.extend(
            f"{sid}: works on day off {day}" for day in sorted(member.days_off) if day in roster
        )
        for day, shift_id in roster.items():
            following = roster.get(day + 1)
            if following is not None and following in barred[shift_id]:
                found.append(f"{sid}: {following} on day {day + 1} after {shift_id}")
        day = 0
        while day < horizon:
            worked = day in roster
            end = day
            while end + 1 < horizon and (end + 1 in roster) == worked:
                end += 1
            length = end - day + 1
            inner = day > 0 and end < horizon - 1
            if worked:
                most = member.max_consecutive_shifts
                if most is not None and length > most:
                    found.append(f"{sid}: {length} shifts in a row from day {day}, at most {most}")
                least = member.min_consecutive_shifts
                if least is not None and inner and length < least:
                    found.append(
                        f"{sid}: {length} shifts in a row from day {day}, at least {least}"
                    )
            else:
                least = member.min_consecutive_days_off
                if least is not None and inner and length < least:
                    found.append(f"{sid}: {length} days off from day {day}, at least {least}")
            day = end + 1
        if member.max_weekends is not None:
            weekends = {
                (problem.first_weekday + day - 5) // 7
                for day in roster
                if (problem.first_weekday + day) % 7 in (5, 6)
            }
            if len(weekends) > member.max_weekends:
                found.append(f"{sid}: {len(weekends)} weekends, at most {member.max_weekends}")
    return found
