"""The placement rules of a roster: who may be where, and when.

Each duty's officer must be on the staff list, of the role its task needs, not on leave and
available in its slot; its post must be known; no one may be in two places at once; and, given
travel times, two duties of a day must leave time to get from one post to the other.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from itertools import pairwise

import pandas as pd

from geodata.errors import FieldError
from grids._cells import cell_text
from grids.policy import DutyPolicy
from grids.roster_demand_rules import Requirement, eligible
from grids.roster_duties import LEADER_SLOT, Duty, Found, clock, timed_duties
from grids.staff import Officer

__all__ = ["check_overlaps", "check_rows", "check_travel", "known_posts"]

_ENFORCEMENT_TASKS = frozenset({"strict_post", "patrol"})


def known_posts(
    posts: pd.DataFrame | None, demand: pd.DataFrame | None, policy: DutyPolicy
) -> Callable[[str], bool] | None:
    """Return a test of whether a post id is known, or None when no posts are given."""
    if posts is None:
        return None
    if "id" not in posts.columns:
        raise FieldError("the posts have no 'id' column", field="id")
    known = {text for text in (cell_text(v) for v in posts["id"]) if text is not None}
    if demand is not None and "post_id" in demand.columns:
        known |= {text for text in (cell_text(v) for v in demand["post_id"]) if text is not None}
    known |= {event.id for event in policy.events}
    prefixes = (*(f"{op.id}@" for op in policy.operations), "full_deployment@")

    def is_known(post_id: str) -> bool:
        if post_id in known or post_id == "leader_duty" or post_id.startswith(prefixes):
            return True
        # Patrol routes are named after their squad: <squad>/patrol-NN.
        return "/patrol-" in post_id

    return is_known


def _required_role(duty: Duty, by_requirement: Mapping[str, Requirement]) -> str | None:
    requirement = by_requirement.get(duty.requirement_id or "")
    if requirement is not None:
        return requirement.role
    if duty.task in _ENFORCEMENT_TASKS:
        return "officer"
    if duty.task == "leader_duty":
        return "leader"
    return None


def check_rows(
    duties: Sequence[Duty],
    staff: Mapping[str, Officer],
    by_requirement: Mapping[str, Requirement],
    is_known_post: Callable[[str], bool] | None,
    found: Found,
) -> None:
    """Add the violations of each duty: unknown post or officer, role, leave, availability.

    An assistant on an officer's post with no requirement of their own goes with an officer
    (陪同): lawful where someone who may enforce is on the same post in the same slot.
    """
    enforced = {
        (duty.post_id, duty.date, duty.slot_id)
        for duty in duties
        if duty.post_id is not None
        and (person := staff.get(duty.officer_id)) is not None
        and eligible(person, "officer")
    }
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
        companion = (
            role == "officer"
            and not duty.requirement_id
            and (duty.post_id, duty.date, duty.slot_id) in enforced
        )
        if not companion and not eligible(person, role):
            if role == "officer":
                why = (
                    f"{person.id} is an assistant (协管员), who may persuade but not enforce: "
                    f"on {duty.post_id or duty.task} an assistant does not count as an officer"
                    + ("" if duty.requirement_id else " and no officer is there in that slot")
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


def check_overlaps(duties: Sequence[Duty], found: Found) -> None:
    """Add a violation for each two duties of one person that overlap in time."""
    timed = timed_duties(duties)
    for index, (first_start, first_end, first) in enumerate(timed):
        for second_start, second_end, second in timed[index + 1 :]:
            if second_start >= first_end:
                break
            found.add(
                "double_booked",
                f"{first.officer_id} is in two places at once (同一时间两处上岗): "
                f"{first.post_id or first.task or first.slot_id} "
                f"{clock(first_start)}–{clock(first_end)} (row {first.row}) and "
                f"{second.post_id or second.task or second.slot_id} "
                f"{clock(second_start)}–{clock(second_end)} (row {second.row}) "
                f"on {second.date:%Y-%m-%d}",
                duty=second,
            )


def check_travel(
    duties: Sequence[Duty],
    travel_minutes: Callable[[str, str], float],
    allowance_min: float,
    is_known_post: Callable[[str], bool] | None,
    found: Found,
) -> None:
    """Add a warning for each two duties of a day too close in time for the way between them."""
    by_day: dict[date, list[tuple[datetime, datetime, str, Duty]]] = defaultdict(list)
    for start, end, duty in timed_duties(duties):
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
