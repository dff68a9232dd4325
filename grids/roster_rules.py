"""Check a roster (排班) against the duty policy, the labour law and the demand.

:func:`validate_roster` takes any assignment table with the columns of :mod:`grids.roster` (made by
the engine, edited by hand or imported; ``start`` and ``end`` may be missing and are then taken
from the policy's slots) and lists every rule it breaks as a :class:`Violation`: who, when, where,
what is wrong in plain words and, for the labour rules, the article of the law. Errors are hard
rules; warnings are soft ones (a goal missed, a risk). :data:`RULES` describes each rule.

Time is counted as the engine counts it: a duty belongs to the date of its row (a night slot to
the day it starts on), the hours of a day are the hours of that date's duties (overlaps counted
once), hours over ``labour.hours_per_day`` are overtime, and the week is the ISO calendar week.
The duty leader's 24-hour duty (带班值班) is worked under a comprehensive working-hours
arrangement (综合计算工时), as the rostering engine plans it: it counts in full toward the week's
hours, the rest days, the rest between duties and the policy's rest day after it, but not toward
the daily limit or overtime.

A full rest day (art. 38) is a date of the week on which no duty is rostered and around which the
person is free for at least 24 hours in a row (so a night duty that ends at 06:00 still leaves a
rest day when the next duty starts at 06:00 the day after).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

from geodata.errors import FieldError
from grids.calendar import HolidayCalendar
from grids.policy import DutyPolicy, Slot, parse_clock
from grids.staff import Officer

__all__ = [
    "LEADER_SLOT",
    "RULES",
    "Rule",
    "Severity",
    "Violation",
    "day_slot",
    "validate_roster",
    "violations_frame",
    "violations_summary",
]

Severity = Literal["error", "warning"]

LEADER_SLOT = "day"
"""The slot id of a 24-hour duty (the duty leader's), which is not one of the policy's slots."""

LAW_ART_36 = (
    "《中华人民共和国劳动法》第三十六条 / PRC Labour Law art. 36: no more than 8 hours a day and "
    "44 hours a week on average; 《国务院关于职工工作时间的规定》第三条 / the State Council's "
    "Regulation on Working Hours of Employees (1995) art. 3 sets 8 hours a day and 40 a week"
)
LAW_ART_38 = (
    "《中华人民共和国劳动法》第三十八条 / PRC Labour Law art. 38: at least one day off every week"
)
LAW_ART_41 = (
    "《中华人民共和国劳动法》第四十一条 / PRC Labour Law art. 41: overtime only after "
    "consultation, normally no more than 1 hour a day, for special reasons no more than 3 "
    "hours a day with the worker's health ensured, and no more than 36 hours a month"
)

_MINIMUM_REST_DAY = timedelta(hours=24)
_ENFORCEMENT_TASKS = frozenset({"strict_post", "patrol"})
_KIND_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "strict_post": "strict post (严管岗位)",
        "patrol": "patrol route (严控巡查)",
        "guidance_window": "guidance point (疏导点)",
        "night_check": "night check (夜查)",
        "muck_truck": "muck-truck check (渣土车巡查)",
        "barbecue": "barbecue control (露天烧烤整治)",
        "full_deployment": "full deployment (全员上岗)",
        "event": "event post (临时勤务)",
        "leader_duty": "duty leader (带班领导)",
    }
)
_ROLE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "officer": "enforcement officer(s) (执法队员)",
        "any": "person(s), officer or assistant (队员或协管员)",
        "leader": "duty leader(s) (带班领导)",
    }
)


@dataclass(frozen=True)
class Rule:
    """A rule a roster is checked against.

    Parameters
    ----------
    id
        The rule's id, as in :attr:`Violation.rule`.
    severity
        ``error`` for a hard rule, ``warning`` for a soft one (``demand_unmet`` is an error for
        hard requirements and a warning for soft ones).
    title_zh, title_en
        A short name for planners.
    legal_basis
        The article of the law behind a labour rule; None for the policy's own rules.
    """

    id: str
    severity: Severity
    title_zh: str
    title_en: str
    legal_basis: str | None = None


def _rules(*rules: Rule) -> Mapping[str, Rule]:
    return MappingProxyType({rule.id: rule for rule in rules})


RULES: Mapping[str, Rule] = _rules(
    Rule("bad_row", "error", "记录不完整", "Row without officer, date or slot, or with bad times"),
    Rule("unknown_officer", "error", "人员不存在", "Officer not in the staff list"),
    Rule("unknown_post", "error", "岗位不存在", "Post not among the posts"),
    Rule("unknown_slot", "error", "时段不存在", "Slot not in the policy for that day"),
    Rule("double_booked", "error", "同一时间两处上岗", "Two places at once"),
    Rule("role", "error", "人员类别不符", "Role not allowed for the duty"),
    Rule("on_leave", "error", "请假期间排班", "Rostered while on leave"),
    Rule("unavailable", "error", "不可排时段", "Rostered outside their available slots"),
    Rule("daily_hours", "error", "每日工作超过 8 小时", "Over 8 hours a day", LAW_ART_36),
    Rule("overtime_day", "error", "每日加班超过上限", "Daily overtime over the limit", LAW_ART_41),
    Rule(
        "overtime_long", "warning", "每日加班超过 1 小时", "Over 1 hour overtime a day", LAW_ART_41
    ),
    Rule(
        "overtime_month", "error", "每月加班超过上限", "Monthly overtime over the limit", LAW_ART_41
    ),
    Rule("weekly_hours", "error", "每周工作超过上限", "Over the weekly hours", LAW_ART_36),
    Rule("contract_hours", "warning", "超过合同工时", "Over the contracted weekly hours"),
    Rule("rest_day", "error", "每周没有休息日", "No full rest day in the week", LAW_ART_38),
    Rule("min_rest", "error", "两班间隔不足", "Too little rest between duties (house rule)"),
    Rule("leader_rest_day", "error", "带班后次日未休息", "No rest day after leader duty"),
    Rule("travel_time", "warning", "岗位间路程时间不足", "Not enough time to travel between posts"),
    Rule("demand_unmet", "error", "需求未满足", "Required staffing not met"),
)


@dataclass(frozen=True)
class Violation:
    """One rule broken by a roster.

    Parameters
    ----------
    rule
        The rule's id (see :data:`RULES`).
    severity
        ``error`` (a hard rule) or ``warning`` (a soft one).
    message
        What is wrong, in plain words.
    officer_id
        Whose duty breaks it (None for unmet demand).
    date
        The day concerned.
    slot_id, post_id
        The slot and post concerned, where one is.
    requirement_id
        The demand row concerned, for unmet demand.
    legal_basis
        The article of the law, for labour rules; for house rules, which policy rule it is.
    row
        The 1-based row of the assignment table to blame, where one row is.
    """

    rule: str
    severity: Severity
    message: str
    officer_id: str | None = None
    date: date | None = None
    slot_id: str | None = None
    post_id: str | None = None
    requirement_id: str | None = None
    legal_basis: str | None = None
    row: int | None = None


VIOLATION_COLUMNS: tuple[str, ...] = (
    "rule",
    "severity",
    "officer_id",
    "date",
    "slot_id",
    "post_id",
    "requirement_id",
    "message",
    "legal_basis",
    "row",
)


@dataclass(frozen=True)
class _Duty:
    """One row of a roster, with its times resolved."""

    row: int
    officer_id: str
    date: date
    slot_id: str
    start: datetime | None
    end: datetime | None
    post_id: str | None
    task: str | None
    requirement_id: str | None

    @property
    def on_call(self) -> bool:
        return self.task == "leader_duty"


@dataclass
class _Found:
    """The violations found so far, with the policy that sets the house rules."""

    policy: DutyPolicy
    items: list[Violation] = field(default_factory=list)

    def add(
        self,
        rule: str,
        message: str,
        *,
        duty: _Duty | None = None,
        officer_id: str | None = None,
        day: date | None = None,
        slot_id: str | None = None,
        post_id: str | None = None,
        requirement_id: str | None = None,
        severity: Severity | None = None,
        legal_basis: str | None = None,
    ) -> None:
        spec = RULES[rule]
        self.items.append(
            Violation(
                rule=rule,
                severity=severity or spec.severity,
                message=message,
                officer_id=officer_id if duty is None else duty.officer_id,
                date=day if duty is None else duty.date,
                slot_id=slot_id if duty is None else duty.slot_id,
                post_id=post_id if duty is None else duty.post_id,
                requirement_id=requirement_id,
                legal_basis=legal_basis or spec.legal_basis,
                row=None if duty is None else duty.row,
            )
        )


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _day(value: Any) -> date | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    moment: datetime = stamp.to_pydatetime()
    return moment.replace(tzinfo=None)


def _times_on(day: date, start: Any, end: Any) -> tuple[datetime | None, datetime | None]:
    """Return the start and end of a duty on ``day``; clock times ``HH:MM`` are on that day."""
    first, last = _clock_time(start), _clock_time(end)
    if first is not None and last is not None:
        begin = datetime.combine(day, first)
        finish = datetime.combine(day, last)
        return begin, finish if finish > begin else finish + timedelta(days=1)
    return _moment(start), _moment(end)


def _clock_time(value: Any) -> time | None:
    if isinstance(value, time):
        return value
    text = _text(value) if isinstance(value, str) else None
    if text is None:
        return None
    try:
        return parse_clock(text)
    except ValueError:
        return None


def _clock(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def _hours(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + " h"


def day_slot(
    policy: DutyPolicy, calendar: HolidayCalendar, day: date, slot_id: str
) -> tuple[datetime, datetime] | None:
    """Return the start and end of slot ``slot_id`` on ``day``, or None if the day has no such slot.

    The slot ``day`` (:data:`LEADER_SLOT`) is the duty leader's 24 hours from the handover.

    Raises
    ------
    ValueError
        If the calendar is strict and does not cover the year of ``day``.
    """
    if slot_id == LEADER_SLOT:
        return policy.leader.on(day)
    slot = _slot(policy.slots_for(calendar.day_type(day)), slot_id)
    return None if slot is None else slot.on(day)


def _slot(slots: Iterable[Slot], slot_id: str) -> Slot | None:
    return next((slot for slot in slots if slot.id == slot_id), None)


def _duties(
    frame: pd.DataFrame, policy: DutyPolicy, calendar: HolidayCalendar, found: _Found
) -> list[_Duty]:
    for column in ("officer_id", "date", "slot_id"):
        if column not in frame.columns:
            raise FieldError(f"a roster needs the column {column!r}", field=column)
    duties = []
    for number, record in enumerate(frame.to_dict("records"), 1):
        officer_id = _text(record.get("officer_id"))
        day = _day(record.get("date"))
        slot_id = _text(record.get("slot_id"))
        post_id = _text(record.get("post_id"))
        if officer_id is None or day is None or slot_id is None:
            missing = [
                name
                for name, value in (("officer_id", officer_id), ("date", day), ("slot_id", slot_id))
                if value is None
            ]
            found.add(
                "bad_row",
                f"row {number} has no {' or '.join(missing)}; it is left out of every check",
                officer_id=officer_id,
                day=day,
                slot_id=slot_id,
                post_id=post_id,
            )
            continue
        start, end = _times_on(day, record.get("start"), record.get("end"))
        times = day_slot(policy, calendar, day, slot_id)
        duty = _Duty(
            row=number,
            officer_id=officer_id,
            date=day,
            slot_id=slot_id,
            start=start,
            end=end,
            post_id=post_id,
            task=_text(record.get("task")),
            requirement_id=_text(record.get("requirement_id")),
        )
        if times is None:
            found.add(
                "unknown_slot",
                f"{officer_id}: slot {slot_id!r} is not a slot of {day:%Y-%m-%d} "
                f"({calendar.day_type(day)}) in the duty policy (值班时段不存在)",
                duty=duty,
            )
        if (start is None or end is None) and times is not None:
            start, end = times
        if start is not None and end is not None and end <= start:
            found.add(
                "bad_row",
                f"{officer_id}: the duty ends at {end:%Y-%m-%d %H:%M}, not after its start "
                f"{start:%Y-%m-%d %H:%M}; it is left out of the time checks",
                duty=duty,
            )
            start = end = None
        duties.append(replace(duty, start=start, end=end))
    return duties


def _known_posts(
    posts: pd.DataFrame | None, demand: pd.DataFrame | None, policy: DutyPolicy
) -> Callable[[str], bool] | None:
    if posts is None:
        return None
    if "id" not in posts.columns:
        raise FieldError("the posts have no 'id' column", field="id")
    known = {text for text in (_text(v) for v in posts["id"]) if text is not None}
    if demand is not None and "post_id" in demand.columns:
        known |= {text for text in (_text(v) for v in demand["post_id"]) if text is not None}
    known |= {event.id for event in policy.events}
    prefixes = (*(f"{op.id}@" for op in policy.operations), "full_deployment@")

    def is_known(post_id: str) -> bool:
        if post_id in known or post_id == "leader_duty" or post_id.startswith(prefixes):
            return True
        # Patrol routes are named after their squad: <squad>/patrol-NN.
        return "/patrol-" in post_id

    return is_known


@dataclass(frozen=True)
class _Requirement:
    id: str
    date: date
    slot_id: str | None
    start: datetime
    end: datetime
    post_id: str
    post_ids: frozenset[str]
    squad_id: str | None
    role: str
    count: int
    hard: bool
    kind: str
    reason_zh: str | None


def _requirements(demand: pd.DataFrame) -> list[_Requirement]:
    for column in ("requirement_id", "date", "start", "end", "post_id", "role", "count", "kind"):
        if column not in demand.columns:
            raise FieldError(f"the demand has no {column!r} column", field=column)
    result = []
    for record in demand.to_dict("records"):
        start, end = _moment(record.get("start")), _moment(record.get("end"))
        day = _day(record.get("date"))
        if start is None or end is None or day is None:
            continue
        post_ids = _text(record.get("post_ids")) or ""
        result.append(
            _Requirement(
                id=str(record["requirement_id"]),
                date=day,
                slot_id=_text(record.get("slot_id")),
                start=start,
                end=end,
                post_id=str(record["post_id"]),
                post_ids=frozenset(p for p in post_ids.split(";") if p),
                squad_id=_text(record.get("squad_id")),
                role=str(record["role"]),
                count=int(record["count"]),
                hard=bool(record.get("hard", False)),
                kind=str(record["kind"]),
                reason_zh=_text(record.get("reason_zh")),
            )
        )
    return result


def _required_role(duty: _Duty, by_requirement: Mapping[str, _Requirement]) -> str | None:
    requirement = by_requirement.get(duty.requirement_id or "")
    if requirement is not None:
        return requirement.role
    if duty.task in _ENFORCEMENT_TASKS:
        return "officer"
    if duty.task == "leader_duty":
        return "leader"
    return None


def _eligible(person: Officer, role: str | None) -> bool:
    if role == "officer":
        return person.can_enforce
    if role == "leader":
        return person.role == "leader"
    return True


def _row_checks(
    duties: Sequence[_Duty],
    staff: Mapping[str, Officer],
    by_requirement: Mapping[str, _Requirement],
    is_known_post: Callable[[str], bool] | None,
    found: _Found,
) -> None:
    for duty in duties:
        person = staff.get(duty.officer_id)
        where = f"on {duty.date:%Y-%m-%d} ({duty.slot_id})"
        if (
            duty.post_id is not None
            and is_known_post is not None
            and not is_known_post(duty.post_id)
        ):
            found.add(
                "unknown_post",
                f"{duty.officer_id} {where}: post {duty.post_id!r} is not among the posts "
                "(岗位不存在)",
                duty=duty,
            )
        if person is None:
            found.add(
                "unknown_officer",
                f"{duty.officer_id!r} {where} is not in the staff list (人员名单中没有此工号)",
                duty=duty,
            )
            continue
        role = _required_role(duty, by_requirement)
        if not _eligible(person, role):
            if role == "officer":
                why = (
                    f"{person.id} is an assistant (协管员), who may persuade but not enforce: "
                    f"on {duty.post_id or duty.task} an assistant does not count as an officer"
                )
            else:
                why = (
                    f"{person.id} is not a duty leader (带班领导): leader duty is for leaders only"
                )
            found.add("role", f"{why} ({where})", duty=duty)
        if person.on_leave(duty.date):
            kinds = ", ".join(p.kind for p in person.leave if p.covers(duty.date))
            found.add(
                "on_leave",
                f"{person.id} is on leave (请假: {kinds}) {where} but rostered",
                duty=duty,
            )
            continue
        allowed = person.allowed_slots(duty.date.isoweekday())
        if allowed is not None and (
            not allowed if duty.slot_id == LEADER_SLOT else duty.slot_id not in allowed
        ):
            may = f"only {', '.join(sorted(allowed))}" if allowed else "not at all"
            found.add(
                "unavailable",
                f"{person.id} may work {may} on {duty.date:%A}s (可排时段) but is rostered {where}",
                duty=duty,
            )


def _timed(duties: Iterable[_Duty]) -> list[tuple[datetime, datetime, _Duty]]:
    """Return the duties that have times as (start, end, duty), by start."""
    timed = []
    for duty in duties:
        if duty.start is not None and duty.end is not None:
            timed.append((duty.start, duty.end, duty))
    return sorted(timed, key=lambda item: (item[0], item[2].row))


def _union_hours(intervals: Iterable[tuple[datetime, datetime]]) -> float:
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return total.total_seconds() / 3600


def _daily_hours(duties: Iterable[_Duty], *, on_call: bool = False) -> dict[date, float]:
    """Return the hours of each day's duties (leader duty only, with ``on_call``; else none)."""
    by_day: dict[date, list[tuple[datetime, datetime]]] = defaultdict(list)
    for start, end, duty in _timed(duties):
        if duty.on_call == on_call:
            by_day[duty.date].append((start, end))
    return {day: _union_hours(intervals) for day, intervals in sorted(by_day.items())}


def _first_duty(duties: Sequence[_Duty], day: date) -> _Duty | None:
    on_day = [d for d in duties if d.date == day]
    return min(on_day, key=lambda d: (d.start or datetime.max, d.row)) if on_day else None


def _overlaps(duties: Sequence[_Duty], found: _Found) -> None:
    timed = _timed(duties)
    for index, (first_start, first_end, first) in enumerate(timed):
        for second_start, second_end, second in timed[index + 1 :]:
            if second_start >= first_end:
                break
            found.add(
                "double_booked",
                f"{first.officer_id} is in two places at once (同一时间两处上岗): "
                f"{first.post_id or first.task or first.slot_id} "
                f"{_clock(first_start)}–{_clock(first_end)} (row {first.row}) and "
                f"{second.post_id or second.task or second.slot_id} "
                f"{_clock(second_start)}–{_clock(second_end)} (row {second.row}) "
                f"on {second.date:%Y-%m-%d}",
                duty=second,
            )


def _hour_checks(
    person: Officer,
    duties: Sequence[_Duty],
    month_hours: Mapping[date, float],
    found: _Found,
) -> None:
    labour = found.policy.labour
    per_day = _daily_hours(duties)
    for day, hours in per_day.items():
        overtime = hours - labour.hours_per_day
        if overtime <= 1e-9:
            continue
        if overtime > labour.max_overtime_hours_per_day + 1e-9:
            found.add(
                "overtime_day",
                f"{person.id} works {_hours(hours)} on {day:%Y-%m-%d}: "
                f"{_hours(overtime)} overtime (加班), over the "
                f"{_hours(labour.max_overtime_hours_per_day)} a day allowed",
                officer_id=person.id,
                day=day,
            )
        elif not labour.overtime_allowed:
            found.add(
                "daily_hours",
                f"{person.id} works {_hours(hours)} on {day:%Y-%m-%d}, over the "
                f"{_hours(labour.hours_per_day)} working day (每日工作时间); the duty policy "
                "plans no overtime (不安排加班)",
                officer_id=person.id,
                day=day,
            )
        elif overtime > 1 + 1e-9:
            found.add(
                "overtime_long",
                f"{person.id} works {_hours(overtime)} overtime on {day:%Y-%m-%d}: more than 1 h "
                "a day is allowed only for special reasons, with the worker's health ensured",
                officer_id=person.id,
                day=day,
            )
    _month_checks(person, per_day, month_hours, found)
    cap = min(labour.hours_per_week, labour.max_hours_per_week)
    by_week: dict[tuple[int, int], list[date]] = defaultdict(list)
    on_call = _daily_hours(duties, on_call=True)
    for day in per_day.keys() | on_call.keys():
        by_week[day.isocalendar()[:2]].append(day)
    for (year, week), days in sorted(by_week.items()):
        total = 0.0
        reported: set[str] = set()
        for day in sorted(days):
            total += min(per_day.get(day, 0.0), labour.hours_per_day) + on_call.get(day, 0.0)
            if total > cap + 1e-9 and "weekly_hours" not in reported:
                reported.add("weekly_hours")
                found.add(
                    "weekly_hours",
                    f"{person.id} reaches {_hours(total)} of regular work in {year}-W{week:02d} "
                    f"by {day:%Y-%m-%d}, over the {_hours(cap)} week (每周工作时间)",
                    officer_id=person.id,
                    day=day,
                )
            elif (
                person.contract_hours_week < cap
                and total > person.contract_hours_week + 1e-9
                and not reported
            ):
                reported.add("contract_hours")
                found.add(
                    "contract_hours",
                    f"{person.id} reaches {_hours(total)} in {year}-W{week:02d} by "
                    f"{day:%Y-%m-%d}, over the contracted {_hours(person.contract_hours_week)} "
                    "a week (合同工时)",
                    officer_id=person.id,
                    day=day,
                )


def _month_checks(
    person: Officer,
    per_day: Mapping[date, float],
    month_hours: Mapping[date, float],
    found: _Found,
) -> None:
    labour = found.policy.labour
    cap = labour.max_overtime_hours_per_month
    by_month: dict[tuple[int, int], float] = defaultdict(float)
    for day, hours in month_hours.items():
        if day not in per_day:
            by_month[(day.year, day.month)] += max(0.0, hours - labour.hours_per_day)
    reported: set[tuple[int, int]] = set()
    for day, hours in per_day.items():
        month = (day.year, day.month)
        overtime = max(0.0, hours - labour.hours_per_day)
        by_month[month] += overtime
        if overtime > 1e-9 and by_month[month] > cap + 1e-9 and month not in reported:
            reported.add(month)
            found.add(
                "overtime_month",
                f"{person.id} reaches {_hours(by_month[month])} overtime (加班) in "
                f"{day:%Y-%m} by {day:%Y-%m-%d}, over the {_hours(cap)} a month allowed",
                officer_id=person.id,
                day=day,
            )


def _rest_checks(person: Officer, duties: Sequence[_Duty], found: _Found) -> None:
    policy = found.policy
    labour = policy.labour
    timed = _timed(duties)
    dates = {d.date for d in duties}
    ends: dict[date, datetime] = {}
    starts: dict[date, datetime] = {}
    for start, end, duty in timed:
        ends[duty.date] = max(ends.get(duty.date, end), end)
        starts[duty.date] = min(starts.get(duty.date, start), start)
    weeks = sorted({d.isocalendar()[:2] for d in dates})
    for year, week in weeks:
        monday = date.fromisocalendar(year, week, 1)
        rest = 0
        for offset in range(7):
            day = monday + timedelta(days=offset)
            if day in dates:
                continue
            before = [end for d, end in ends.items() if d < day]
            after = [start for d, start in starts.items() if d > day]
            free_from = max(before) if before else datetime.min
            free_to = min(after) if after else datetime.max
            if free_to - free_from >= _MINIMUM_REST_DAY:
                rest += 1
        if rest < labour.rest_days_per_week:
            found.add(
                "rest_day",
                f"{person.id} has {rest} full rest day(s) (休息日) in {year}-W{week:02d}, at "
                f"least {labour.rest_days_per_week} required",
                officer_id=person.id,
                day=monday,
            )
    # Rest between duties: between the duties of different days (split duties of one day are
    # one working day).
    blocks: list[tuple[datetime, datetime, _Duty]] = []
    for start, end, duty in timed:
        if blocks and blocks[-1][2].date == duty.date and start <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end), blocks[-1][2])
        else:
            blocks.append((start, end, duty))
    min_rest = timedelta(hours=labour.min_rest_hours)
    house = (
        f"值班规则内部规定 / house rule of the duty policy (labour.min_rest_hours = "
        f"{labour.min_rest_hours:g} h); the Labour Law itself sets no minimum rest between shifts"
    )
    for (_, first_end, first), (second_start, _, second) in pairwise(blocks):
        if first.date == second.date:
            continue
        gap = second_start - first_end
        if timedelta() <= gap < min_rest:
            found.add(
                "min_rest",
                f"{person.id} rests only {_hours(gap.total_seconds() / 3600)} between the duty "
                f"ending {first_end:%m-%d %H:%M} and the one starting {second_start:%m-%d %H:%M}, "
                f"less than {_hours(labour.min_rest_hours)} (两班间隔)",
                duty=second,
                legal_basis=house,
            )
    if policy.leader.rest_day_after:
        leader_days = sorted({d.date for d in duties if d.on_call})
        for day in leader_days:
            following = _first_duty(duties, day + timedelta(days=1))
            if following is not None:
                found.add(
                    "leader_rest_day",
                    f"{person.id} is on 24-hour leader duty on {day:%Y-%m-%d} and rostered "
                    f"again on {following.date:%Y-%m-%d}: the policy gives the next day off "
                    "(带班次日休息)",
                    duty=following,
                    legal_basis="值班规则内部规定 / house rule of the duty policy "
                    "(leader.rest_day_after)",
                )


def _travel_checks(
    duties: Sequence[_Duty],
    travel_minutes: Callable[[str, str], float],
    allowance_min: float,
    is_known_post: Callable[[str], bool] | None,
    found: _Found,
) -> None:
    by_day: dict[date, list[tuple[datetime, datetime, str, _Duty]]] = defaultdict(list)
    for start, end, duty in _timed(duties):
        if duty.post_id is not None and not duty.on_call:
            by_day[duty.date].append((start, end, duty.post_id, duty))
    for day, ordered in by_day.items():
        for (_, first_end, first_post, first), (second_start, _, second_post, second) in pairwise(
            ordered
        ):
            if first_post == second_post:
                continue
            if is_known_post is not None and not (
                is_known_post(first_post) and is_known_post(second_post)
            ):
                continue
            gap = (second_start - first_end).total_seconds() / 60
            if gap < 0:
                continue  # a double booking, reported as such
            needed = float(travel_minutes(first_post, second_post))
            if not math.isnan(needed) and needed > gap + allowance_min + 1e-9:
                takes = f"{needed:.0f} min" if math.isfinite(needed) else "too long"
                found.add(
                    "travel_time",
                    f"{first.officer_id} needs {takes} to get from {first_post} to "
                    f"{second_post} on {day:%Y-%m-%d}, but has "
                    f"{gap + allowance_min:.0f} min ({gap:.0f} min between duties + "
                    f"{allowance_min:.0f} min allowed for travel)",
                    duty=second,
                )


def _windows_text(windows: Sequence[tuple[datetime, datetime]]) -> str:
    return ", ".join(f"{_clock(a)}–{_clock(b)}" for a, b in windows)


def _short_windows(
    requirement: _Requirement, people: Mapping[str, list[tuple[datetime, datetime]]]
) -> tuple[list[tuple[datetime, datetime]], int]:
    """Return the parts of the requirement short of people, and the fewest present at once."""
    points = {requirement.start, requirement.end}
    for intervals in people.values():
        for start, end in intervals:
            points |= {t for t in (start, end) if requirement.start < t < requirement.end}
    ordered = sorted(points)
    short: list[tuple[datetime, datetime]] = []
    fewest = requirement.count
    for a, b in pairwise(ordered):
        present = sum(
            1 for intervals in people.values() if any(s <= a and e >= b for s, e in intervals)
        )
        fewest = min(fewest, present)
        if present < requirement.count:
            if short and short[-1][1] == a:
                short[-1] = (short[-1][0], b)
            else:
                short.append((a, b))
    return short, fewest


def _serves(duty: _Duty, requirement: _Requirement, known_ids: Collection[str]) -> bool:
    if duty.requirement_id is not None and duty.requirement_id in known_ids:
        return duty.requirement_id == requirement.id
    if requirement.kind == "leader_duty":
        return duty.task == "leader_duty" or duty.post_id == requirement.post_id
    return duty.post_id is not None and (
        duty.post_id == requirement.post_id or duty.post_id in requirement.post_ids
    )


def _demand_checks(
    requirements: Sequence[_Requirement],
    duties: Sequence[_Duty],
    staff: Mapping[str, Officer],
    found: _Found,
) -> None:
    known_ids = {r.id for r in requirements}
    by_date: dict[date, list[tuple[datetime, datetime, _Duty]]] = defaultdict(list)
    for start, end, duty in _timed(duties):
        by_date[duty.date].append((start, end, duty))
    for requirement in requirements:
        if requirement.count <= 0:
            continue
        candidates = [
            d
            for day in (requirement.date - timedelta(days=1), requirement.date)
            for d in by_date.get(day, ())
        ]
        people: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        not_counted: set[str] = set()
        for start, end, duty in candidates:
            if end <= requirement.start or start >= requirement.end:
                continue
            person = staff.get(duty.officer_id)
            if requirement.kind == "full_deployment":
                if person is None or person.squad_id != requirement.squad_id:
                    continue
                if person.role == "leader" or duty.date != requirement.date:
                    continue
                people[person.id].append((requirement.start, requirement.end))
                continue
            if not _serves(duty, requirement, known_ids):
                continue
            if person is None or not _eligible(person, requirement.role):
                not_counted.add(duty.officer_id)
                continue
            people[person.id].append((start, end))
        short, fewest = _short_windows(requirement, people)
        if not short:
            continue
        what = _KIND_NAMES.get(requirement.kind, requirement.kind)
        message = (
            f"{what} {requirement.post_id} uncovered {_windows_text(short)} on "
            f"{requirement.date:%m-%d}: {fewest} of {requirement.count} "
            f"{_ROLE_NAMES.get(requirement.role, requirement.role)}"
        )
        if not_counted:
            verb = "is" if len(not_counted) == 1 else "are"
            message += (
                f"; {', '.join(sorted(not_counted))} {verb} there but not counted: only "
                f"{_ROLE_NAMES.get(requirement.role, requirement.role)} count"
            )
        if requirement.reason_zh:
            message += f" ({requirement.reason_zh})"
        found.add(
            "demand_unmet",
            message,
            day=requirement.date,
            slot_id=requirement.slot_id,
            post_id=requirement.post_id,
            requirement_id=requirement.id,
            severity="error" if requirement.hard else "warning",
        )


def _month_day_hours(
    month_assignments: pd.DataFrame | None,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
) -> dict[str, dict[date, float]]:
    if month_assignments is None or month_assignments.empty:
        return {}
    ignored = _Found(policy)
    by_person: dict[str, list[_Duty]] = defaultdict(list)
    for duty in _duties(month_assignments, policy, calendar, ignored):
        by_person[duty.officer_id].append(duty)
    return {person: _daily_hours(duties) for person, duties in by_person.items()}


def validate_roster(
    assignments: pd.DataFrame,
    *,
    staff: Sequence[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    demand: pd.DataFrame | None = None,
    posts: pd.DataFrame | None = None,
    travel_minutes: Callable[[str, str], float] | None = None,
    month_assignments: pd.DataFrame | None = None,
    travel_allowance_min: float = 15.0,
) -> list[Violation]:
    """Return every rule a roster breaks (empty for a roster that keeps them all).

    Parameters
    ----------
    assignments
        The roster: one row per person, day and slot, with at least ``officer_id``, ``date`` and
        ``slot_id`` (see :mod:`grids.roster`); ``start``, ``end`` (from the policy's slots when
        missing), ``post_id``, ``task`` and ``requirement_id`` are used when present.
    staff
        The people, for their role, leave, availability and contracted hours.
    policy
        The duty policy: slots, labour rules, leader duty.
    calendar
        The holiday calendar, for each day's slots.
    demand
        The requirements (:func:`grids.demand.demand_for_week`); when given, each requirement
        short of eligible people is a ``demand_unmet`` violation. An assignment serves the
        requirement named in its ``requirement_id``; one without serves every requirement of its
        post at the times it is there.
    posts
        The posts layer; when given, unknown posts are violations. Patrol routes, operation
        targets, events and deployments of the demand and the policy are known posts too.
    travel_minutes
        Minutes to travel from one post to another (infinity: too far to say; NaN: unknown),
        such as :meth:`grids.rostering_travel.TravelTimes.minutes`; when given, two duties of a
        day at different posts without that much time between them (plus
        ``travel_allowance_min``) are warnings.
    month_assignments
        The roster of the rest of the month(s) (other days of the same months), to count the
        month's overtime; days that are in ``assignments`` are taken from there.
    travel_allowance_min
        Minutes of a duty that may go to travelling to it.

    Returns
    -------
    list of Violation
        Ordered by date, officer and rule.

    Raises
    ------
    FieldError
        If the roster has no ``officer_id``, ``date`` or ``slot_id`` column, the demand lacks a
        column, or the posts have no ``id``.
    ValueError
        If the calendar does not cover a date of the roster.
    """
    found = _Found(policy)
    duties = _duties(assignments, policy, calendar, found)
    by_id = {person.id: person for person in staff}
    requirements = _requirements(demand) if demand is not None else []
    by_requirement = {r.id: r for r in requirements}
    is_known_post = _known_posts(posts, demand, policy)
    _row_checks(duties, by_id, by_requirement, is_known_post, found)
    month_hours = _month_day_hours(month_assignments, policy, calendar)
    by_person: dict[str, list[_Duty]] = defaultdict(list)
    for duty in duties:
        by_person[duty.officer_id].append(duty)
    for officer_id, own in sorted(by_person.items()):
        _overlaps(own, found)
        person = by_id.get(officer_id)
        if person is None:
            continue
        _hour_checks(person, own, month_hours.get(officer_id, {}), found)
        _rest_checks(person, own, found)
        if travel_minutes is not None:
            _travel_checks(own, travel_minutes, travel_allowance_min, is_known_post, found)
    if requirements:
        _demand_checks(requirements, duties, by_id, found)
    order = {rule: n for n, rule in enumerate(RULES)}
    return sorted(
        found.items,
        key=lambda v: (
            v.date or date.max,
            v.officer_id or "",
            order[v.rule],
            v.slot_id or "",
            v.post_id or "",
            v.row or 0,
        ),
    )


def violations_frame(violations: Iterable[Violation]) -> pd.DataFrame:
    """Return violations as a table with the columns :data:`VIOLATION_COLUMNS`."""
    rows = [{name: getattr(v, name) for name in VIOLATION_COLUMNS} for v in violations]
    frame = pd.DataFrame(rows, columns=list(VIOLATION_COLUMNS))
    return frame.astype({"row": "Int64"})


def violations_summary(violations: Iterable[Violation]) -> pd.DataFrame:
    """Return the violations counted by rule and severity.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``severity``, ``title_zh``, ``title_en``, ``count``, ``officers``
        (distinct people concerned) and ``first_date``, in the order of :data:`RULES`.
    """
    groups: dict[tuple[str, Severity], list[Violation]] = defaultdict(list)
    for violation in violations:
        groups[(violation.rule, violation.severity)].append(violation)
    order = {rule: n for n, rule in enumerate(RULES)}
    rows = []
    for (rule, severity), items in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0])):
        dates = [v.date for v in items if v.date is not None]
        rows.append(
            {
                "rule": rule,
                "severity": severity,
                "title_zh": RULES[rule].title_zh,
                "title_en": RULES[rule].title_en,
                "count": len(items),
                "officers": len({v.officer_id for v in items if v.officer_id is not None}),
                "first_date": min(dates) if dates else None,
            }
        )
    columns = ["rule", "severity", "title_zh", "title_en", "count", "officers", "first_date"]
    return pd.DataFrame(rows, columns=columns).astype({"count": "int64", "officers": "int64"})
