"""Roster validation: every planted violation is found once, and a clean roster has none."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import pytest

from geodata.errors import FieldError
from grids.calendar import HolidayCalendar, china_holidays
from grids.demand import DEMAND_COLUMNS
from grids.policy import DutyPolicy, huiji_default_policy
from grids.roster import check_assignments
from grids.roster_rules import (
    RULES,
    Violation,
    validate_roster,
    violations_frame,
    violations_summary,
)
from grids.staff import LeavePeriod, Officer

MONDAY = date(2026, 11, 30)  # ISO week 2026-W49, no public holiday
WEEK = [MONDAY + timedelta(days=n) for n in range(7)]
MON, TUE, WED, THU, FRI, SAT, SUN = WEEK
SQUAD = "SQ"


@pytest.fixture(scope="module")
def policy() -> DutyPolicy:
    return huiji_default_policy()


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


@pytest.fixture(scope="module")
def staff() -> list[Officer]:
    return [
        Officer("O1", "张一", SQUAD, "officer"),
        Officer("O2", "张二", SQUAD, "officer", leave=(LeavePeriod(THU, THU, "病假"),)),
        Officer("O3", "张三", SQUAD, "officer", availability={6: frozenset()}),
        Officer("O4", "张四", SQUAD, "officer"),
        Officer("A1", "李一", SQUAD, "assistant"),
        Officer("L1", "王一", None, "leader"),
    ]


POSTS = pd.DataFrame({"id": ["P1", "P2", "G1"], "level": ["strict", "strict", "regulated"]})
SLOT_TIMES = {
    "early": (time(6), time(8)),
    "morning": (time(8), time(12)),
    "midday": (time(12), time(15)),
    "afternoon": (time(15), time(18)),
    "evening": (time(18), time(22)),
}


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock)


def duty(
    officer: str | None,
    day: date,
    slot: str,
    post: str | None,
    task: str = "strict_post",
    *,
    start: time | None = None,
    end: time | None = None,
    requirement: str | None = None,
) -> dict[str, Any]:
    """Return a roster row; times are the slot's unless given (none for an unknown slot)."""
    if slot == "day":
        first: datetime | None = _at(day, time(6))
        last: datetime | None = first + timedelta(days=1) if first else None
    elif slot in SLOT_TIMES:
        first = _at(day, start or SLOT_TIMES[slot][0])
        last = _at(day, end or SLOT_TIMES[slot][1])
    else:
        first = last = None
    return {
        "officer_id": officer,
        "role": None,
        "squad_id": SQUAD,
        "date": day,
        "slot_id": slot,
        "start": first,
        "end": last,
        "post_id": post,
        "task": task,
        "requirement_id": requirement,
        "pinned": False,
    }


def requirement(
    req_id: str,
    slot: str | None,
    span: tuple[datetime, datetime],
    post: str,
    role: str,
    *,
    kind: str = "strict_post",
    hard: bool = True,
) -> dict[str, Any]:
    """Return a demand row for one person from ``span[0]`` to ``span[1]``."""
    start, end = span
    return {
        "requirement_id": req_id,
        "date": start.date(),
        "day_type": "weekend" if start.isoweekday() >= 6 else "weekday",
        "slot_id": slot,
        "start": start,
        "end": end,
        "post_id": post,
        "post_ids": post,
        "squad_id": SQUAD if role != "leader" else None,
        "role": role,
        "count": 1,
        "hours": (end - start).total_seconds() / 3600,
        "weight": 100.0,
        "hard": hard,
        "kind": kind,
        "reason_zh": "",
    }


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns) if columns else None)


def _span(day: date, first: int, last: int) -> tuple[datetime, datetime]:
    return _at(day, time(first)), _at(day, time(last))


CLEAN_DEMAND = [
    *(requirement(f"P1-{d}-morning", "morning", _span(d, 8, 12), "P1", "officer") for d in WEEK),
    requirement(
        "G1-tue", "morning", _span(TUE, 11, 12), "G1", "any", kind="guidance_window", hard=False
    ),
    requirement(
        "leader-mon",
        None,
        (_at(MON, time(6)), _at(TUE, time(6))),
        "leader_duty",
        "leader",
        kind="leader_duty",
    ),
]
PLANTED_DEMAND = [
    requirement("P1-wed-afternoon", "afternoon", _span(WED, 15, 18), "P1", "officer"),
    requirement("P1-thu-midday", "midday", _span(THU, 12, 15), "P1", "officer"),
    requirement(
        "G1-thu", "afternoon", _span(THU, 17, 18), "G1", "any", kind="guidance_window", hard=False
    ),
]


def clean_rows() -> list[dict[str, Any]]:
    return [
        *(duty("O1", d, "morning", "P1", requirement=f"P1-{d}-morning") for d in WEEK[:5]),
        *(duty("O2", d, "morning", "P1", requirement=f"P1-{d}-morning") for d in (SAT, SUN)),
        duty("A1", TUE, "morning", "G1", "guidance_window", start=time(11), end=time(12)),
        duty("L1", MON, "day", "leader_duty", "leader_duty"),
    ]


def planted_rows() -> list[dict[str, Any]]:
    rows = [
        duty("X9", WED, "afternoon", "P2"),  # unknown officer
        duty("O1", MON, "afternoon", "NOPE", "patrol"),  # unknown post
        duty("O1", TUE, "brunch", "P1"),  # unknown slot
        duty("O3", WED, "morning", "P2"),  # two places at once …
        duty("O3", WED, "morning", "G1", "guidance_window", start=time(11), end=time(12)),
        duty("A1", THU, "midday", "P1", requirement="P1-thu-midday"),  # assistant alone
        duty("O2", THU, "morning", "P1"),  # on leave
        duty("O3", SAT, "morning", "P2"),  # not available on Saturdays
        duty("O1", FRI, "midday", "P1"),  # 10 h on Friday
        duty("O1", FRI, "afternoon", "P1"),
        *(duty("O3", SUN, slot, "P2") for slot in ("early", "morning", "midday", "afternoon")),
        *(duty("O3", MON, slot, "P2") for slot in ("early", "morning", "midday")),  # 9 h
        *(duty("O4", d, "morning", "P2") for d in WEEK[:6]),  # 42 h in the week
        *(duty("O4", d, "midday", "P2") for d in WEEK[1:6]),
        duty("O4", MON, "midday", "P1"),  # 45 min from P2, no time between
        *(duty("O1", d, "evening", "P2") for d in (SAT, SUN)),  # no rest day
        duty("L1", WED, "evening", "P2"),  # 8 h rest before Thursday's early duty
        duty("L1", THU, "early", "P2"),
        duty("A1", SAT, "day", "leader_duty", "leader_duty"),  # an assistant as duty leader
        duty("L1", TUE, "evening", "P2"),  # the day after leader duty
        duty(None, FRI, "morning", "P2"),  # no officer
    ]
    return rows


def month_to_date() -> pd.DataFrame:
    """O3 worked 06:00-18:00 on nine days of November: 36 h of overtime."""
    days = [date(2026, 11, n) for n in (2, 3, 4, 5, 6, 9, 10, 11, 12)]
    rows = [
        duty("O3", d, slot, "P2")
        for d in days
        for slot in ("early", "morning", "midday", "afternoon")
    ]
    return _frame(rows)


def travel(a: str, b: str) -> float:
    return 45.0 if {a, b} == {"P1", "P2"} else 5.0


EXPECTED = {
    ("unknown_officer", "X9", WED, "afternoon", "P2"),
    ("unknown_post", "O1", MON, "afternoon", "NOPE"),
    ("unknown_slot", "O1", TUE, "brunch", "P1"),
    ("double_booked", "O3", WED, "morning", "G1"),
    ("role", "A1", THU, "midday", "P1"),
    ("demand_unmet", None, THU, "midday", "P1"),
    ("on_leave", "O2", THU, "morning", "P1"),
    ("unavailable", "O3", SAT, "morning", "P2"),
    ("daily_hours", "O1", FRI, None, None),
    ("overtime_day", "O3", SUN, None, None),
    ("daily_hours", "O3", MON, None, None),
    ("overtime_month", "O3", MON, None, None),
    ("weekly_hours", "O4", SAT, None, None),
    ("travel_time", "O4", MON, "midday", "P1"),
    ("rest_day", "O1", MON, None, None),
    ("min_rest", "L1", THU, "early", "P2"),
    ("role", "A1", SAT, "day", "leader_duty"),
    ("leader_rest_day", "L1", TUE, "evening", "P2"),
    ("demand_unmet", None, WED, "afternoon", "P1"),
    ("demand_unmet", None, THU, "afternoon", "G1"),
    ("bad_row", None, FRI, "morning", "P2"),
}
LEGAL = {
    "daily_hours": "第三十六条",
    "weekly_hours": "第三十六条",
    "overtime_day": "第四十一条",
    "overtime_month": "第四十一条",
    "rest_day": "第三十八条",
    "min_rest": "house rule",
}


def _key(v: Violation) -> tuple[str, str | None, Any, str | None, str | None]:
    return (v.rule, v.officer_id, v.date, v.slot_id, v.post_id)


def _validate(
    rows: list[dict[str, Any]],
    demand: list[dict[str, Any]],
    staff: list[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    **options: Any,
) -> list[Violation]:
    return validate_roster(
        _frame(rows),
        staff=staff,
        policy=policy,
        calendar=calendar,
        demand=_frame(demand, DEMAND_COLUMNS),
        posts=POSTS,
        travel_minutes=travel,
        **options,
    )


def test_clean_roster_has_no_violation(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    found = _validate(clean_rows(), CLEAN_DEMAND, staff, policy, calendar)
    assert found == [], [v.message for v in found]


def test_clean_roster_without_times_takes_them_from_the_slots(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    rows = [{k: v for k, v in row.items() if k not in ("start", "end")} for row in clean_rows()]
    rows = [r for r in rows if r["post_id"] != "G1"]  # a window shorter than its slot needs times
    demand = [r for r in CLEAN_DEMAND if r["post_id"] != "G1"]
    assert _validate(rows, demand, staff, policy, calendar) == []
    # …and the slot's times are the ones checked: Friday 06:00-18:00 is too long a day.
    rows += [
        {k: v for k, v in duty("O1", FRI, slot, "P1").items() if k not in ("start", "end")}
        for slot in ("early", "afternoon", "midday")
    ]
    found = _validate(rows, demand, staff, policy, calendar)
    assert [_key(v) for v in found] == [("overtime_day", "O1", FRI, None, None)]


def test_an_assistant_may_go_with_an_officer_but_not_alone(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    # with O1 on P1 on Monday morning, A1 beside them (no requirement of their own) is lawful
    rows = [*clean_rows(), duty("A1", MON, "morning", "P1")]
    assert _validate(rows, CLEAN_DEMAND, staff, policy, calendar) == []
    # on P2, where no officer is that morning, the same row is an assistant enforcing alone
    rows = [*clean_rows(), duty("A1", MON, "morning", "P2")]
    found = _validate(rows, CLEAN_DEMAND, staff, policy, calendar)
    assert [_key(v) for v in found] == [("role", "A1", MON, "morning", "P2")]
    assert "no officer is there" in found[0].message


def test_every_planted_violation_is_found_once(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    found = _validate(
        clean_rows() + planted_rows(),
        CLEAN_DEMAND + PLANTED_DEMAND,
        staff,
        policy,
        calendar,
        month_assignments=month_to_date(),
    )
    keys = [_key(v) for v in found]
    assert sorted(keys, key=str) == sorted(EXPECTED, key=str), [v.message for v in found]
    assert len(keys) == len(set(keys))
    for violation in found:
        assert violation.message
        soft = violation.rule == "travel_time" or (
            violation.rule == "demand_unmet" and violation.post_id == "G1"
        )
        assert violation.severity == ("warning" if soft else "error")
        if violation.rule in LEGAL:
            assert violation.legal_basis is not None
            assert LEGAL[violation.rule] in violation.legal_basis
        elif violation.rule not in ("leader_rest_day",):
            assert violation.legal_basis is None
    unmet = {v.post_id: v for v in found if v.rule == "demand_unmet" and v.date == THU}
    assert "A1" in unmet["P1"].message  # the assistant is there but does not count
    assert "12:00–15:00" in unmet["P1"].message
    assert unmet["P1"].requirement_id == "P1-thu-midday"


def test_month_to_date_overtime_counts(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    rows = clean_rows() + [duty("O3", MON, slot, "P2") for slot in ("early", "morning", "midday")]
    without = _validate(rows, CLEAN_DEMAND, staff, policy, calendar)
    assert [_key(v) for v in without] == [("daily_hours", "O3", MON, None, None)]
    found = _validate(
        rows, CLEAN_DEMAND, staff, policy, calendar, month_assignments=month_to_date()
    )
    assert {v.rule for v in found} == {"daily_hours", "overtime_month"}
    # Days of the roster itself are taken from the roster, not from the month's table.
    month = pd.concat([month_to_date(), _frame(rows)], ignore_index=True)
    again = _validate(rows, CLEAN_DEMAND, staff, policy, calendar, month_assignments=month)
    assert [_key(v) for v in again] == [_key(v) for v in found]


@pytest.mark.parametrize(
    ("until", "rules"),
    [(time(17), []), (time(18), ["overtime_long"]), (time(20), ["overtime_day"])],
)
def test_overtime_when_the_policy_allows_it(
    staff: list[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    until: time,
    rules: list[str],
) -> None:
    allowed = policy.revised(labour=replace(policy.labour, overtime_allowed=True))
    rows = [duty("O4", MON, "morning", "P2", start=time(8), end=until)]
    found = _validate(rows, [], staff, allowed, calendar)
    assert [v.rule for v in found] == rules
    assert all(v.severity == RULES[v.rule].severity for v in found)


def test_contract_hours_and_a_44_hour_week(policy: DutyPolicy, calendar: HolidayCalendar) -> None:
    part_time = [Officer("O1", "张一", SQUAD, "officer", contract_hours_week=30)]
    rows = [duty("O1", d, "morning", "P2", start=time(8), end=time(15)) for d in WEEK[:6]]
    found = _validate(rows, [], part_time, policy, calendar)
    assert [(v.rule, v.date) for v in found] == [("contract_hours", FRI), ("weekly_hours", SAT)]
    longer = policy.revised(labour=replace(policy.labour, hours_per_week=44.0))
    found = _validate(rows, [], part_time, longer, calendar)
    assert [(v.rule, v.date) for v in found] == [("contract_hours", FRI)]


def test_check_assignments_accepts_the_planted_roster() -> None:
    frame = _frame([r for r in clean_rows() + planted_rows() if r["start"] is not None])
    frame = frame[frame["officer_id"].notna()]
    assert len(check_assignments(frame)) == len(frame)


def test_frame_and_summary(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    found = _validate(
        clean_rows() + planted_rows(), CLEAN_DEMAND + PLANTED_DEMAND, staff, policy, calendar
    )
    frame = violations_frame(found)
    assert list(frame["rule"]) == [v.rule for v in found]
    assert frame["row"].notna().sum() == sum(v.row is not None for v in found)
    summary = violations_summary(found)
    assert summary["count"].sum() == len(found)
    unmet = summary[summary["rule"] == "demand_unmet"].set_index("severity")["count"]
    assert unmet.to_dict() == {"error": 2, "warning": 1}
    assert list(summary["rule"]) == sorted(
        summary["rule"], key=lambda rule: list(RULES).index(rule)
    )


def test_roster_without_required_columns_is_refused(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    with pytest.raises(FieldError, match="slot_id"):
        validate_roster(
            _frame(clean_rows()).drop(columns="slot_id"),
            staff=staff,
            policy=policy,
            calendar=calendar,
        )


def test_leader_duty_counts_toward_the_week_not_the_day(
    staff: list[Officer], policy: DutyPolicy, calendar: HolidayCalendar
) -> None:
    rows = [duty("L1", d, "day", "leader_duty", "leader_duty") for d in (MON, WED)]
    found = _validate(rows, [], staff, policy, calendar)
    assert [_key(v) for v in found] == [("weekly_hours", "L1", WED, None, None)]
    assert "48 h" in found[0].message


@pytest.mark.parametrize(("minutes", "warned"), [(20.0, True), (math.inf, True), (math.nan, False)])
def test_travel_time_too_long_or_unknown(
    staff: list[Officer],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    minutes: float,
    warned: bool,
) -> None:
    rows = [duty("O4", MON, "morning", "P2"), duty("O4", MON, "midday", "P1")]
    found = validate_roster(
        _frame(rows),
        staff=staff,
        policy=policy,
        calendar=calendar,
        travel_minutes=lambda a, b: minutes,
        travel_allowance_min=15.0,
    )
    assert [_key(v) for v in found] == (
        [("travel_time", "O4", MON, "midday", "P1")] if warned else []
    )
