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

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date

import pandas as pd

from grids.calendar import HolidayCalendar
from grids.policy import DutyPolicy
from grids.roster_demand_rules import check_demand, read_requirements
from grids.roster_duties import LEADER_SLOT, Duty, Found, day_slot, read_duties
from grids.roster_hours import WorkingTime, check_hours, month_day_hours, working_time
from grids.roster_placement import check_overlaps, check_rows, check_travel, known_posts
from grids.roster_rest import check_rest
from grids.roster_violations import (
    LAW_ART_36,
    LAW_ART_38,
    LAW_ART_41,
    RULES,
    VIOLATION_COLUMNS,
    Rule,
    Severity,
    Violation,
    violations_frame,
    violations_summary,
)
from grids.staff import Officer

__all__ = [
    "LAW_ART_36",
    "LAW_ART_38",
    "LAW_ART_41",
    "LEADER_SLOT",
    "RULES",
    "VIOLATION_COLUMNS",
    "Rule",
    "Severity",
    "Violation",
    "WorkingTime",
    "day_slot",
    "validate_roster",
    "violations_frame",
    "violations_summary",
    "working_time",
]


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
    found = Found(policy)
    duties = read_duties(assignments, policy, calendar, found)
    by_id = {person.id: person for person in staff}
    requirements = read_requirements(demand) if demand is not None else []
    by_requirement = {r.id: r for r in requirements}
    is_known_post = known_posts(posts, demand, policy)
    check_rows(duties, by_id, by_requirement, is_known_post, found)
    month_hours = month_day_hours(month_assignments, policy, calendar)
    by_person: dict[str, list[Duty]] = defaultdict(list)
    for duty in duties:
        by_person[duty.officer_id].append(duty)
    for officer_id, own in sorted(by_person.items()):
        check_overlaps(own, found)
        person = by_id.get(officer_id)
        if person is None:
            continue
        check_hours(person, own, month_hours.get(officer_id, {}), found)
        check_rest(person, own, found)
        if travel_minutes is not None:
            check_travel(own, travel_minutes, travel_allowance_min, is_known_post, found)
    if requirements:
        check_demand(requirements, duties, by_id, found)
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
