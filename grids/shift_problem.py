"""The problem and solution types of shift scheduling: shift types, staff, covers, requests, rules.

A :class:`ShiftProblem` asks for a roster over ``horizon_days`` days: for every staff member and
day, at most one shift (or a day off). Days are numbered from 0; a shift belongs to the duty day it
starts on and may run past midnight. Times are minutes: a shift of day ``d`` starting at
``start_min`` occupies ``[d * 1440 + start_min, d * 1440 + start_min + length_min)`` on the
horizon's clock.

Demand comes as :class:`Cover` rows, either per (day, shift type), as in the staff-scheduling
benchmark of Curtois & Qu, or per time window of a day (a duty slot), which counts every staff
member whose shift spans the whole window. Staff limits (:class:`Staff`) and the labour law
(:class:`LabourRules`) are hard rules; covers (unless made hard), requests and changes against a
previous roster are weighted penalties.

:func:`problem_errors` checks the references of a problem and :func:`cover_counts` counts the
staff a roster gives each cover; :mod:`grids.shift_checks` checks a roster against every hard rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Literal, TypeAlias

__all__ = [
    "DAY_MIN",
    "Assignments",
    "Cover",
    "LabourRules",
    "Pin",
    "Request",
    "RuleCategory",
    "RuleViolation",
    "ShiftProblem",
    "ShiftSolution",
    "ShiftType",
    "SolveStatus",
    "Staff",
    "UncoveredCover",
    "UncoveredReason",
    "cover_counts",
    "max_length",
    "problem_errors",
]

DAY_MIN = 1440
"""Minutes in a day."""

SATURDAY, SUNDAY = 5, 6

Assignments: TypeAlias = Mapping[tuple[str, int], str]
"""A roster: (staff id, day) → shift id; a missing key is a day off."""

SolveStatus = Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN", "MODEL_INVALID"]

RuleCategory = Literal["availability", "hours", "rest", "consecutive", "weekend", "cover"]
"""What kind of hard rule a :class:`RuleViolation` breaks."""

UncoveredReason = Literal[
    "no eligible staff",
    "hours exhausted",
    "rest rules",
    "consecutive rules",
    "weekend limit",
    "busy elsewhere",
    "not worth it",
]
"""Why a cover is short (see :class:`UncoveredCover`)."""


@dataclass(frozen=True)
class ShiftType:
    """A kind of shift: when it starts, how long it lasts, and what may not follow it.

    Parameters
    ----------
    id
        The shift type's id, unique in a problem.
    start_min
        Start, in minutes after 00:00 of the duty day (0–1439). Shift types without start times
        (the Curtois & Qu benchmark) get a nominal start of 0.
    length_min
        Length in minutes; a shift may run past midnight into the next day.
    forbidden_next
        Ids of the shift types that may not be worked on the day after this one.
    """

    id: str
    start_min: int
    length_min: int
    forbidden_next: frozenset[str] = frozenset()

    @property
    def end_min(self) -> int:
        """Return the end in minutes after 00:00 of the duty day (past 1440 when overnight)."""
        return self.start_min + self.length_min

    @property
    def overnight(self) -> bool:
        """Return whether the shift ends after midnight."""
        return self.end_min > DAY_MIN


@dataclass(frozen=True)
class Staff:
    """A staff member and their personal limits. Every limit may be ``None`` (no limit).

    Parameters
    ----------
    id
        The staff member's id, unique in a problem.
    skills
        What they may be counted for: a :class:`Cover` with a ``skill`` counts only staff who
        have it (e.g. ``officer`` for covers that an assistant cannot fill, or a squad's id).
    max_shifts
        Shift type id → the most shifts of that type over the horizon (0 = never that type).
        A type not listed has no limit.
    max_total_min, min_total_min
        Bounds on the minutes worked over the horizon.
    max_consecutive_shifts
        The most days worked in a row.
    min_consecutive_shifts
        The fewest days worked in a row; a run that touches the horizon's first or last day is
        exempt (it may continue outside the horizon).
    min_consecutive_days_off
        The fewest days off in a row, exempt at the horizon's ends in the same way.
    max_weekends
        The most weekends worked; a weekend counts as worked when Saturday or Sunday is.
    days_off
        Days on which they must not work.
    unavailable
        (day, shift id) pairs they cannot work (leave, training, another commitment).
    """

    id: str
    skills: frozenset[str] = frozenset()
    max_shifts: Mapping[str, int] = field(default_factory=dict)
    max_total_min: int | None = None
    min_total_min: int | None = None
    max_consecutive_shifts: int | None = None
    min_consecutive_shifts: int | None = None
    min_consecutive_days_off: int | None = None
    max_weekends: int | None = None
    days_off: frozenset[int] = frozenset()
    unavailable: frozenset[tuple[int, str]] = frozenset()


@dataclass(frozen=True)
class Cover:
    """A staffing requirement: per (day, shift type), or per time window of a day.

    Exactly one of ``shift_id`` and ``window`` is given.

    Parameters
    ----------
    day
        The day the requirement is for.
    shift_id
        Count the staff working this shift type on ``day``.
    window
        ``(start_min, end_min)``: count the staff whose shift (of any day) spans the whole window
        ``[day * 1440 + start_min, day * 1440 + end_min)``. ``end_min`` may pass 1440.
    skill
        Count only staff who have this skill.
    requirement
        How many staff are needed.
    under_weight
        Penalty per missing staff member; ``None`` makes the requirement hard.
    over_weight
        Penalty per staff member over the requirement; ``None`` or 0: no penalty.
    label
        A name for reports (a post, a duty slot).
    """

    day: int
    shift_id: str | None = None
    window: tuple[int, int] | None = None
    skill: str | None = None
    requirement: int = 1
    under_weight: int | None = None
    over_weight: int | None = None
    label: str = ""

    @property
    def hard(self) -> bool:
        """Return whether the requirement must be met."""
        return self.under_weight is None

    def describe(self) -> str:
        """Return a short human description (for reports and messages)."""
        if self.window is not None:
            what = f"{_clock(self.window[0])}–{_clock(self.window[1])}"
        else:
            what = f"shift {self.shift_id}"
        skill = f" [{self.skill}]" if self.skill else ""
        label = f"{self.label}: " if self.label else ""
        return f"{label}day {self.day} {what}{skill}"


@dataclass(frozen=True)
class Request:
    """A wish of a staff member, penalised by ``weight`` when not granted.

    Parameters
    ----------
    staff_id
        Whose wish.
    day
        The day it is about.
    shift_id
        The shift type; ``None`` means any shift (a day-off request when ``on`` is false, a wish
        to work when it is true).
    weight
        Penalty when not granted.
    on
        ``True``: wants to work that shift; ``False``: wants not to.
    """

    staff_id: str
    day: int
    shift_id: str | None
    weight: int
    on: bool


@dataclass(frozen=True)
class LabourRules:
    """Labour law as hard rules (defaults: no rule).

    A day's minutes are those of the shift that starts on it. Minutes over ``max_min_per_day`` are
    overtime: at most ``overtime_min_per_day`` a day and ``overtime_min_per_month`` a month. The
    weekly limit counts the minutes that are not overtime. Weeks are calendar weeks starting on
    ``week_start_day``; in a week cut by the horizon the weekly limit applies as it is and the
    required rest days shrink by the days outside the horizon (they may be rest days).

    Parameters
    ----------
    max_min_per_day
        Regular minutes in a day (480 in China).
    max_min_per_week
        Regular minutes in a calendar week (2400; 2640 where the 44-hour week applies).
    rest_days_per_week
        Full days off per calendar week (1): no shift starts on the day and none from the day
        before runs into it.
    min_rest_min
        Rest between the end of one shift and the start of the next (660 = 11 h).
    overtime_min_per_day
        Overtime allowed in a day (0 = none; 180 = 3 h).
    overtime_min_per_month
        Overtime allowed in a calendar month (2160 = 36 h); ``None``: no monthly limit.
    week_start_day
        Weekday a calendar week starts on (0 = Monday).
    month_start_days
        Days of the horizon on which a new calendar month begins; without any, the horizon is
        one month.
    """

    max_min_per_day: int | None = None
    max_min_per_week: int | None = None
    rest_days_per_week: int | None = None
    min_rest_min: int | None = None
    overtime_min_per_day: int = 0
    overtime_min_per_month: int | None = None
    week_start_day: int = 0
    month_start_days: tuple[int, ...] = ()

    @classmethod
    def prc_standard(cls, *, weekly_hours: int = 40, overtime: bool = False) -> LabourRules:
        """Return the working-time rules of PRC labour law.

        8 hours a day, ``weekly_hours`` a week, one rest day a week, 11 hours between duties;
        with ``overtime``, up to 3 hours a day and 36 hours a month on top.

        Parameters
        ----------
        weekly_hours
            40 (the standard) or 44 (where a unit still has the 44-hour week).
        overtime
            Whether overtime may be rostered.

        Returns
        -------
        LabourRules
            The rules.
        """
        return cls(
            max_min_per_day=480,
            max_min_per_week=weekly_hours * 60,
            rest_days_per_week=1,
            min_rest_min=660,
            overtime_min_per_day=180 if overtime else 0,
            overtime_min_per_month=36 * 60 if overtime else None,
        )

    def overtime_min(self, length_min: int) -> int:
        """Return the overtime in a day whose shift lasts ``length_min``."""
        if self.max_min_per_day is None:
            return 0
        return max(0, length_min - self.max_min_per_day)

    def allows_length(self, length_min: int) -> bool:
        """Return whether a shift of ``length_min`` fits the daily limit with its overtime."""
        return self.overtime_min(length_min) <= self.overtime_min_per_day


@dataclass(frozen=True)
class Pin:
    """A fixed assignment (``shift_id=None``: a fixed day off), e.g. for already published days."""

    staff_id: str
    day: int
    shift_id: str | None


@dataclass(frozen=True)
class ShiftProblem:
    """A shift-scheduling problem.

    Parameters
    ----------
    horizon_days
        Days to roster, numbered from 0.
    first_weekday
        Weekday of day 0 (0 = Monday).
    shift_types, staff, covers
        What can be worked, by whom, and what is needed.
    requests
        Shift-on and shift-off wishes.
    labour
        Labour law; ``None``: none (the benchmark has its own rules).
    pins
        Fixed assignments.
    previous
        A previous roster, (staff id, day) → shift id or ``None`` (day off); with
        ``change_weight`` every (staff, day) that differs from it is penalised, so that a roster
        re-planned after an absence changes as little as possible. Staff no longer in the problem
        are ignored.
    change_weight
        Penalty per changed (staff, day).
    """

    horizon_days: int
    first_weekday: int
    shift_types: tuple[ShiftType, ...]
    staff: tuple[Staff, ...]
    covers: tuple[Cover, ...]
    requests: tuple[Request, ...] = ()
    labour: LabourRules | None = None
    pins: tuple[Pin, ...] = ()
    previous: Mapping[tuple[str, int], str | None] | None = None
    change_weight: int = 0

    @cached_property
    def shift_by_id(self) -> dict[str, ShiftType]:
        """Return the shift types by id."""
        return {t.id: t for t in self.shift_types}

    @cached_property
    def staff_by_id(self) -> dict[str, Staff]:
        """Return the staff by id."""
        return {s.id: s for s in self.staff}

    def weekday(self, day: int) -> int:
        """Return the weekday of ``day`` (0 = Monday)."""
        return (self.first_weekday + day) % 7

    def weekends(self) -> list[tuple[int, ...]]:
        """Return the days of each weekend (Saturday, Sunday) that fall in the horizon."""
        groups: dict[int, list[int]] = defaultdict(list)
        for day in range(self.horizon_days):
            if self.weekday(day) in (SATURDAY, SUNDAY):
                # Saturday and the Sunday after it share the index of that Saturday's week.
                groups[(day + self.first_weekday - 5) // 7].append(day)
        return [tuple(days) for _, days in sorted(groups.items())]

    def weeks(self) -> list[range]:
        """Return the calendar weeks (per ``labour.week_start_day``) as ranges of days."""
        start_weekday = self.labour.week_start_day if self.labour else 0
        starts = [d for d in range(1, self.horizon_days) if self.weekday(d) == start_weekday]
        bounds = [0, *starts, self.horizon_days]
        return [range(a, b) for a, b in pairwise(bounds) if b > a]

    def months(self) -> list[range]:
        """Return the calendar months (per ``labour.month_start_days``) as ranges of days."""
        starts = sorted(d for d in (self.labour.month_start_days if self.labour else ()) if d > 0)
        bounds = [0, *[d for d in starts if d < self.horizon_days], self.horizon_days]
        return [range(a, b) for a, b in pairwise(bounds) if b > a]

    def successions(self) -> dict[int, dict[str, frozenset[str]]]:
        """Return the forbidden successions: gap in days → shift id → shift ids barred after it.

        Gap 1 holds the listed ``forbidden_next`` of each shift type. Every gap also bars
        shifts that would overlap and, with labour rules, shifts that would start less than
        ``min_rest_min`` after the end of the first.
        """
        min_rest = self.labour.min_rest_min if self.labour and self.labour.min_rest_min else 0
        result: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for first in self.shift_types:
            result[1][first.id].update(first.forbidden_next)
            gap = 1
            # Rest before a shift of day `gap` is at least gap * 1440 - end: past that, no bars.
            while gap == 1 or gap * DAY_MIN - first.end_min < min_rest:
                for second in self.shift_types:
                    rest = gap * DAY_MIN + second.start_min - first.end_min
                    if rest < 0 or rest < min_rest:
                        result[gap][first.id].add(second.id)
                gap += 1
        return {
            gap: {t: frozenset(barred) for t, barred in by_shift.items() if barred}
            for gap, by_shift in result.items()
            if any(by_shift.values())
        }

    def cover_options(self, cover: Cover) -> list[tuple[int, str]]:
        """Return the (day, shift id) pairs whose shift counts for ``cover``."""
        if cover.window is None:
            return [(cover.day, cover.shift_id)] if cover.shift_id is not None else []
        start = cover.day * DAY_MIN + cover.window[0]
        end = cover.day * DAY_MIN + cover.window[1]
        options = []
        for day in range(max(0, (start - max_length(self)) // DAY_MIN), self.horizon_days):
            if day * DAY_MIN > start:
                break
            for shift in self.shift_types:
                begin = day * DAY_MIN + shift.start_min
                if begin <= start and begin + shift.length_min >= end:
                    options.append((day, shift.id))
        return options


def max_length(problem: ShiftProblem) -> int:
    """Return the length of the longest shift type (0 without any)."""
    return max((t.length_min for t in problem.shift_types), default=0)


@dataclass(frozen=True)
class UncoveredCover:
    """A cover the roster leaves short, and why.

    Parameters
    ----------
    cover_index
        Index of the cover in ``problem.covers``.
    cover
        The cover.
    assigned
        Staff the roster counts for it.
    short
        How many are missing.
    reason
        The diagnosis, computed after solving by trying to add each eligible staff member:
        ``no eligible staff`` (nobody with the skill can work a shift that spans it: days off,
        leave, pins, the daily limit); ``hours exhausted`` (their daily, weekly, monthly-overtime,
        total or per-shift-type limits are reached); ``rest rules`` (rest between duties,
        forbidden successions, the weekly rest day, minimum days off); ``consecutive rules``
        (days in a row); ``weekend limit``; ``busy elsewhere`` (whoever could take it legally
        is rostered on another shift that day); ``not worth it`` (someone could take it legally
        but the penalty is cheaper than what it would cost elsewhere, or the search ran out of
        time).
    detail
        A sentence with the counts behind the reason.
    """

    cover_index: int
    cover: Cover
    assigned: int
    short: int
    reason: UncoveredReason
    detail: str


@dataclass(frozen=True)
class ShiftSolution:
    """A roster and how it was found.

    Parameters
    ----------
    assignments
        (staff id, day) → shift id; a day off has no key. Empty without a solution.
    status
        The solver's status.
    objective
        The penalty of the roster (``None`` without a solution).
    bound
        The best lower bound proven on the penalty.
    gap
        ``(objective - bound) / max(1, objective)``.
    wall_time_s
        Time of the whole call (model building, search, diagnosis).
    first_solution_s
        When the first roster was found, from the start of the call.
    penalties
        The objective broken down: ``cover_under``, ``cover_over``, ``requests``, ``changes``.
    uncovered
        The covers left short. When hard covers make the problem infeasible, the covers a
        relaxed solve could not meet (with ``assignments`` empty).
    changes
        (staff, day) pairs that differ from ``problem.previous``.
    """

    assignments: dict[tuple[str, int], str]
    status: SolveStatus
    objective: int | None
    bound: float | None
    gap: float | None
    wall_time_s: float
    first_solution_s: float | None
    penalties: dict[str, int] = field(default_factory=dict)
    uncovered: list[UncoveredCover] = field(default_factory=list)
    changes: int = 0

    @property
    def found(self) -> bool:
        """Return whether the solution holds a roster."""
        return self.status in ("OPTIMAL", "FEASIBLE")


@dataclass(frozen=True)
class RuleViolation:
    """A hard rule a roster breaks.

    Parameters
    ----------
    rule
        The rule (``max_total_min``, ``min_rest_min``, ``rest_days_per_week``, …).
    category
        Its kind, for grouping.
    staff_id
        Whose roster breaks it (``None`` for a hard cover).
    day
        The (first) day concerned.
    message
        A sentence for the user.
    """

    rule: str
    category: RuleCategory
    staff_id: str | None
    day: int | None
    message: str


def _clock(minute: int) -> str:
    days, rest = divmod(minute, DAY_MIN)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}+{days}" if days else text


def problem_errors(problem: ShiftProblem) -> list[str]:
    """Return what is wrong with the references and values of a problem (empty if nothing).

    Checks unique ids, that every staff, shift and day referred to exists, that each cover names
    exactly one of a shift and a window, and that pins agree with days off and leave.

    Parameters
    ----------
    problem
        The problem to check.

    Returns
    -------
    list[str]
        One sentence per problem found.
    """
    errors: list[str] = []
    horizon = problem.horizon_days
    if horizon <= 0:
        errors.append(f"horizon_days must be positive, not {horizon}")
    if not 0 <= problem.first_weekday <= 6:
        errors.append(f"first_weekday must be 0–6, not {problem.first_weekday}")
    shift_ids = [t.id for t in problem.shift_types]
    staff_ids = [s.id for s in problem.staff]
    for kind, ids in (("shift type", shift_ids), ("staff", staff_ids)):
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                errors.append(f"duplicate {kind} id {item!r}")
            seen.add(item)
    shifts = set(shift_ids)
    staff = set(staff_ids)

    def day_ok(day: int) -> bool:
        return 0 <= day < horizon

    for t in problem.shift_types:
        if t.length_min <= 0:
            errors.append(f"shift {t.id!r}: length must be positive")
        if not 0 <= t.start_min < DAY_MIN:
            errors.append(f"shift {t.id!r}: start must be 0–1439 minutes")
        errors.extend(
            f"shift {t.id!r}: unknown shift {u!r} in forbidden_next"
            for u in sorted(t.forbidden_next - shifts)
        )
    for s in problem.staff:
        errors.extend(
            f"staff {s.id!r}: unknown shift {u!r} in max_shifts"
            for u in sorted(set(s.max_shifts) - shifts)
        )
        errors.extend(
            f"staff {s.id!r}: day off {d} outside the horizon"
            for d in sorted(s.days_off)
            if not day_ok(d)
        )
        for d, u in sorted(s.unavailable):
            if not day_ok(d) or u not in shifts:
                errors.append(f"staff {s.id!r}: unavailable ({d}, {u!r}) is out of range")
    for i, c in enumerate(problem.covers):
        where = f"cover {i} ({c.label or 'no label'})"
        if (c.shift_id is None) == (c.window is None):
            errors.append(f"{where}: give exactly one of shift_id and window")
        if c.shift_id is not None and c.shift_id not in shifts:
            errors.append(f"{where}: unknown shift {c.shift_id!r}")
        if c.window is not None and not c.window[0] < c.window[1]:
            errors.append(f"{where}: window must end after it starts")
        if not day_ok(c.day):
            errors.append(f"{where}: day {c.day} outside the horizon")
        if c.requirement < 0:
            errors.append(f"{where}: negative requirement")
    for r in problem.requests:
        if r.staff_id not in staff:
            errors.append(f"request: unknown staff {r.staff_id!r}")
        if r.shift_id is not None and r.shift_id not in shifts:
            errors.append(f"request of {r.staff_id!r}: unknown shift {r.shift_id!r}")
        if not day_ok(r.day):
            errors.append(f"request of {r.staff_id!r}: day {r.day} outside the horizon")
    pinned: set[tuple[str, int]] = set()
    for p in problem.pins:
        if p.staff_id not in staff:
            errors.append(f"pin: unknown staff {p.staff_id!r}")
            continue
        if (p.staff_id, p.day) in pinned:
            errors.append(f"pin: {p.staff_id!r} is pinned twice on day {p.day}")
        pinned.add((p.staff_id, p.day))
        if not day_ok(p.day):
            errors.append(f"pin of {p.staff_id!r}: day {p.day} outside the horizon")
        if p.shift_id is None:
            continue
        if p.shift_id not in shifts:
            errors.append(f"pin of {p.staff_id!r}: unknown shift {p.shift_id!r}")
            continue
        member = problem.staff_by_id[p.staff_id]
        if p.day in member.days_off or (p.day, p.shift_id) in member.unavailable:
            errors.append(f"pin of {p.staff_id!r} on day {p.day}: they are off or on leave")
    for sid, day in problem.previous or {}:
        if not day_ok(day):
            errors.append(f"previous roster of {sid!r}: day {day} outside the horizon")
    for (sid, day), shift in (problem.previous or {}).items():
        if shift is not None and shift not in shifts:
            errors.append(f"previous roster of {sid!r} on day {day}: unknown shift {shift!r}")
    if problem.labour is not None and not 0 <= problem.labour.week_start_day <= 6:
        errors.append("labour.week_start_day must be 0–6")
    if problem.change_weight < 0:
        errors.append("change_weight must not be negative")
    return errors


def cover_counts(problem: ShiftProblem, assignments: Assignments) -> list[int]:
    """Return, for each cover, how many staff of the roster count for it.

    Parameters
    ----------
    problem
        The problem the roster is for.
    assignments
        The roster.

    Returns
    -------
    list[int]
        Counts in the order of ``problem.covers``.
    """
    working: dict[tuple[int, str], list[str]] = defaultdict(list)
    for (sid, day), shift in assignments.items():
        working[(day, shift)].append(sid)
    counts = []
    for cover in problem.covers:
        total = 0
        for option in problem.cover_options(cover):
            for sid in working.get(option, ()):
                member = problem.staff_by_id.get(sid)
                if member is not None and (cover.skill is None or cover.skill in member.skills):
                    total += 1
        counts.append(total)
    return counts
