"""Check a roster against every hard rule of a :class:`~grids.shift_problem.ShiftProblem`.

The checks read the roster directly, without any solver, so that they can vouch for the rosters
the solver returns: availability (days off, leave, pins), hours (per shift type, total, daily,
weekly, monthly overtime), rest (successions, minimum rest, weekly rest day, days off in a row),
consecutive days and weekends, and hard covers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from grids.shift_problem import (
    DAY_MIN,
    Assignments,
    LabourRules,
    RuleCategory,
    RuleViolation,
    ShiftProblem,
    Staff,
    cover_counts,
)

__all__ = ["roster_violations"]


def roster_violations(
    problem: ShiftProblem,
    assignments: Assignments,
    *,
    staff_ids: set[str] | None = None,
    covers: bool = True,
) -> list[RuleViolation]:
    """Return every hard rule a roster breaks, checked directly (no solver involved).

    Parameters
    ----------
    problem
        The problem the roster is for.
    assignments
        The roster.
    staff_ids
        Check only these staff members' rules.
    covers
        Whether to check hard covers too.

    Returns
    -------
    list[RuleViolation]
        The violations, empty for a legal roster.
    """
    by_staff: dict[str, dict[int, str]] = defaultdict(dict)
    for (sid, day), shift in assignments.items():
        by_staff[sid][day] = shift
    violations: list[RuleViolation] = []
    pins = {(p.staff_id, p.day): p.shift_id for p in problem.pins}
    for sid, day in assignments:
        if sid not in problem.staff_by_id:
            violations.append(
                RuleViolation("unknown_staff", "availability", sid, day, f"unknown staff {sid!r}")
            )
    for member in problem.staff:
        if staff_ids is not None and member.id not in staff_ids:
            continue
        roster = by_staff.get(member.id, {})
        violations.extend(_staff_violations(problem, member, roster, pins))
    if covers:
        for cover, count in zip(problem.covers, cover_counts(problem, assignments), strict=True):
            if cover.hard and count < cover.requirement:
                violations.append(
                    RuleViolation(
                        "hard_cover",
                        "cover",
                        None,
                        cover.day,
                        f"{cover.describe()}: {count} of {cover.requirement} required",
                    )
                )
    return violations


def _staff_violations(
    problem: ShiftProblem,
    member: Staff,
    roster: Mapping[int, str],
    pins: Mapping[tuple[str, int], str | None],
) -> list[RuleViolation]:
    """Return the hard rules one staff member's roster (day → shift id) breaks."""
    found: list[RuleViolation] = []
    sid = member.id
    horizon = problem.horizon_days
    shifts = problem.shift_by_id

    def add(rule: str, category: RuleCategory, day: int | None, message: str) -> None:
        found.append(RuleViolation(rule, category, sid, day, f"{sid}: {message}"))

    for day, shift in sorted(roster.items()):
        if shift not in shifts or not 0 <= day < horizon:
            add("unknown_shift", "availability", day, f"unknown shift {shift!r} or day {day}")
    roster = {d: t for d, t in roster.items() if t in shifts and 0 <= d < horizon}
    for day in range(horizon):
        pinned = pins.get((sid, day), roster.get(day))
        if (sid, day) in pins and pinned != roster.get(day):
            add("pin", "availability", day, f"day {day} is pinned to {pinned or 'off'}")
    for day, shift in sorted(roster.items()):
        if day in member.days_off:
            add("days_off", "availability", day, f"works on day off {day}")
        if (day, shift) in member.unavailable:
            add("unavailable", "availability", day, f"unavailable for {shift} on day {day}")
    counts: dict[str, int] = defaultdict(int)
    for shift in roster.values():
        counts[shift] += 1
    for shift, count in sorted(counts.items()):
        limit = member.max_shifts.get(shift)
        if limit is not None and count > limit:
            add("max_shifts", "hours", None, f"{count} {shift} shifts, at most {limit}")
    total = sum(shifts[t].length_min for t in roster.values())
    if member.max_total_min is not None and total > member.max_total_min:
        add("max_total_min", "hours", None, f"{total} min worked, at most {member.max_total_min}")
    if member.min_total_min is not None and total < member.min_total_min:
        add("min_total_min", "hours", None, f"{total} min worked, at least {member.min_total_min}")

    worked = [day in roster for day in range(horizon)]
    runs = _runs(worked)
    for value, start, length in runs:
        touches_edge = start == 0 or start + length == horizon
        if (
            value
            and member.max_consecutive_shifts is not None
            and length > member.max_consecutive_shifts
        ):
            add(
                "max_consecutive_shifts",
                "consecutive",
                start,
                f"{length} days in a row from day {start}, at most {member.max_consecutive_shifts}",
            )
        if (
            value
            and member.min_consecutive_shifts is not None
            and not touches_edge
            and length < member.min_consecutive_shifts
        ):
            add(
                "min_consecutive_shifts",
                "consecutive",
                start,
                f"{length} days in a row from day {start}, "
                f"at least {member.min_consecutive_shifts}",
            )
        if (
            not value
            and member.min_consecutive_days_off is not None
            and not touches_edge
            and length < member.min_consecutive_days_off
        ):
            add(
                "min_consecutive_days_off",
                "rest",
                start,
                f"{length} days off from day {start}, at least {member.min_consecutive_days_off}",
            )
    if member.max_weekends is not None:
        count = sum(any(d in roster for d in days) for days in problem.weekends())
        if count > member.max_weekends:
            add("max_weekends", "weekend", None, f"{count} weekends, at most {member.max_weekends}")

    min_rest = problem.labour.min_rest_min if problem.labour else None
    for day, shift in sorted(roster.items()):
        first = shifts[shift]
        nxt = roster.get(day + 1)
        if nxt is not None and nxt in first.forbidden_next:
            add("forbidden_succession", "rest", day, f"{nxt} may not follow {shift} (day {day})")
        for later in range(day + 1, horizon):
            second_id = roster.get(later)
            gap_days = later - day
            if gap_days * DAY_MIN - first.end_min >= (min_rest or 0):
                break
            if second_id is None:
                continue
            rest = gap_days * DAY_MIN + shifts[second_id].start_min - first.end_min
            if rest < 0:
                add("overlap", "rest", day, f"{second_id} on day {later} overlaps {shift}")
            elif min_rest is not None and rest < min_rest:
                add(
                    "min_rest_min",
                    "rest",
                    day,
                    f"{rest} min rest between {shift} (day {day}) and {second_id} (day {later}), "
                    f"at least {min_rest}",
                )
    labour = problem.labour
    if labour is not None:
        found.extend(_labour_violations(problem, labour, member, roster))
    return found


def _labour_violations(
    problem: ShiftProblem, labour: LabourRules, member: Staff, roster: Mapping[int, str]
) -> list[RuleViolation]:
    found: list[RuleViolation] = []
    shifts = problem.shift_by_id

    def add(rule: str, category: RuleCategory, day: int | None, message: str) -> None:
        found.append(RuleViolation(rule, category, member.id, day, f"{member.id}: {message}"))

    def regular(length: int) -> int:
        return length - labour.overtime_min(length)

    for day, shift in sorted(roster.items()):
        length = shifts[shift].length_min
        if not labour.allows_length(length):
            add(
                "max_min_per_day",
                "hours",
                day,
                f"{length} min on day {day}: over {labour.max_min_per_day} min "
                f"+ {labour.overtime_min_per_day} min overtime",
            )
    for week in problem.weeks():
        if labour.max_min_per_week is not None:
            minutes = sum(regular(shifts[roster[d]].length_min) for d in week if d in roster)
            if minutes > labour.max_min_per_week:
                add(
                    "max_min_per_week",
                    "hours",
                    week.start,
                    f"{minutes} regular min in the week from day {week.start}, "
                    f"at most {labour.max_min_per_week}",
                )
        if labour.rest_days_per_week:
            needed = labour.rest_days_per_week - (7 - len(week))
            rest = sum(_full_rest_day(problem, roster, d) for d in week)
            if needed > 0 and rest < needed:
                add(
                    "rest_days_per_week",
                    "rest",
                    week.start,
                    f"{rest} full rest days in the week from day {week.start}, at least {needed}",
                )
    if labour.overtime_min_per_month is not None:
        for month in problem.months():
            overtime = sum(
                labour.overtime_min(shifts[roster[d]].length_min) for d in month if d in roster
            )
            if overtime > labour.overtime_min_per_month:
                add(
                    "overtime_min_per_month",
                    "hours",
                    month.start,
                    f"{overtime} min overtime in the month from day {month.start}, "
                    f"at most {labour.overtime_min_per_month}",
                )
    return found


def _full_rest_day(problem: ShiftProblem, roster: Mapping[int, str], day: int) -> bool:
    if day in roster:
        return False
    before = roster.get(day - 1)
    return before is None or not problem.shift_by_id[before].overnight


def _runs(values: list[bool]) -> list[tuple[bool, int, int]]:
    """Return (value, start, length) of each maximal run of equal values."""
    runs: list[tuple[bool, int, int]] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append((values[start], start, i - start))
            start = i
    return runs
