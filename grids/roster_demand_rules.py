"""The demand rule of a roster: each requirement staffed by enough eligible people.

:func:`check_demand` finds, for each requirement of the demand
(:func:`grids.demand.demand_for_week`), the parts of its time short of people of its role; an
assignment serves the requirement named in its ``requirement_id``, or else every requirement of
its post at the times it is there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from types import MappingProxyType

import pandas as pd

from geodata.errors import FieldError
from grids._cells import cell_date, cell_moment, cell_text
from grids.roster_duties import Duty, Found, clock, timed_duties
from grids.staff import Officer

__all__ = ["Requirement", "check_demand", "eligible", "read_requirements"]

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
class Requirement:
    """A row of the demand, as the demand rule reads it."""

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


def read_requirements(demand: pd.DataFrame) -> list[Requirement]:
    """Return the rows of ``demand`` that have times.

    Raises
    ------
    FieldError
        If the demand lacks a column the check needs.
    """
    for column in ("requirement_id", "date", "start", "end", "post_id", "role", "count", "kind"):
        if column not in demand.columns:
            raise FieldError(f"the demand has no {column!r} column", field=column)
    result = []
    for record in demand.to_dict("records"):
        start, end = cell_moment(record.get("start")), cell_moment(record.get("end"))
        day = cell_date(record.get("date"))
        if start is None or end is None or day is None:
            continue
        post_ids = cell_text(record.get("post_ids")) or ""
        result.append(
            Requirement(
                id=str(record["requirement_id"]),
                date=day,
                slot_id=cell_text(record.get("slot_id")),
                start=start,
                end=end,
                post_id=str(record["post_id"]),
                post_ids=frozenset(p for p in post_ids.split(";") if p),
                squad_id=cell_text(record.get("squad_id")),
                role=str(record["role"]),
                count=int(record["count"]),
                hard=bool(record.get("hard", False)),
                kind=str(record["kind"]),
                reason_zh=cell_text(record.get("reason_zh")),
            )
        )
    return result


def eligible(person: Officer, role: str | None) -> bool:
    """Return whether ``person`` counts for a requirement of ``role`` (None: any role)."""
    if role == "officer":
        return person.can_enforce
    if role == "leader":
        return person.role == "leader"
    return True


def _windows_text(windows: Sequence[tuple[datetime, datetime]]) -> str:
    return ", ".join(f"{clock(a)}–{clock(b)}" for a, b in windows)


def _short_windows(
    requirement: Requirement, people: Mapping[str, list[tuple[datetime, datetime]]]
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


def _serves(duty: Duty, requirement: Requirement, known_ids: Collection[str]) -> bool:
    if duty.requirement_id is not None and duty.requirement_id in known_ids:
        return duty.requirement_id == requirement.id
    if requirement.kind == "leader_duty":
        return duty.task == "leader_duty" or duty.post_id == requirement.post_id
    return duty.post_id is not None and (
        duty.post_id == requirement.post_id or duty.post_id in requirement.post_ids
    )


def check_demand(
    requirements: Sequence[Requirement],
    duties: Sequence[Duty],
    staff: Mapping[str, Officer],
    found: Found,
) -> None:
    """Add a violation for each requirement that is short of eligible people at some time."""
    known_ids = {r.id for r in requirements}
    by_date: dict[date, list[tuple[datetime, datetime, Duty]]] = defaultdict(list)
    for start, end, duty in timed_duties(duties):
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
            if person is None or not eligible(person, requirement.role):
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
