"""The rules a roster is checked against, the violations found, and tables of them.

:data:`RULES` describes each rule (:class:`Rule`): errors are hard rules, warnings soft ones, and
the labour rules cite the article of the law. :func:`grids.roster_rules.validate_roster` lists the
rules a roster breaks as :class:`Violation` s; :func:`violations_frame` and
:func:`violations_summary` tabulate them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Literal

import pandas as pd

__all__ = [
    "LAW_ART_36",
    "LAW_ART_38",
    "LAW_ART_41",
    "RULES",
    "VIOLATION_COLUMNS",
    "Rule",
    "Severity",
    "Violation",
    "violations_frame",
    "violations_summary",
]

Severity = Literal["error", "warning"]

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
