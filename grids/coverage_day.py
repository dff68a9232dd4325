"""A duty day at a glance: slot by slot, seamless or not, and the headline figures.

See :mod:`grids.coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from grids.coverage_match import RosterCoverage
from grids.coverage_posts import (
    GapReason,
    PersonOnDuty,
    _duty_slot,
    _in_slot,
    _kept,
    _posts_of,
    _requirements_in,
    _role_counts,
    coverage_by_post,
    coverage_by_slot,
    gaps,
    people_on_duty,
)
from grids.coverage_slots import DutySlot, duty_slots

__all__ = [
    "CoverageSummary",
    "SeamBreak",
    "SeamlessCheck",
    "coverage_summary",
    "day_timeline",
    "seamless_check",
]


@dataclass(frozen=True)
class SeamBreak:
    """A strict requirement left short in a slot: a break in the seamless cover."""

    slot_id: str | None
    start: datetime
    end: datetime
    requirement_id: str
    post_ids: tuple[str, ...]
    reason: GapReason

    def to_dict(self) -> dict[str, Any]:
        """Return the break as a JSON-ready mapping."""
        return {
            "slot_id": self.slot_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "requirement_id": self.requirement_id,
            "post_ids": list(self.post_ids),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SeamlessCheck:
    """Whether the strict posts are covered in every slot of a day that needs them (全时段、无缝隙).

    Attributes
    ----------
    date
        The duty day.
    seamless
        True when no strict requirement of the day is short.
    required_slots
        The slots with strict requirements, in time order.
    broken_slots
        Those of them with a strict requirement short.
    breaks
        Every strict requirement left short, in time order.
    uncovered_minutes
        Post-minutes of strict requirements left short (a post short for a 2-hour slot counts
        120).
    """

    date: date
    seamless: bool
    required_slots: tuple[str, ...]
    broken_slots: tuple[str, ...]
    breaks: tuple[SeamBreak, ...]
    uncovered_minutes: float

    def to_dict(self) -> dict[str, Any]:
        """Return the check as a JSON-ready mapping."""
        return {
            "date": self.date.isoformat(),
            "seamless": self.seamless,
            "required_slots": list(self.required_slots),
            "broken_slots": list(self.broken_slots),
            "breaks": [b.to_dict() for b in self.breaks],
            "uncovered_minutes": self.uncovered_minutes,
        }


@dataclass(frozen=True)
class CoverageSummary:
    """The figures a duty leader reads first, for one slot or a whole day.

    Attributes
    ----------
    date, slot_id
        The day, and the slot (None for the whole day).
    strict_coverage
        Share (0-1) of the strict posts required that are covered (for a day: of the post-slots);
        None when no strict post is required.
    strict_posts_required, strict_posts_covered
        Strict posts required and covered (for a day: post-slots).
    strict_required_m, strict_covered_m
        Metres of strict road required and covered (for a day: metre-slots).
    required_m, covered_m
        The same for the posts of every level.
    gaps, strict_gaps
        Requirements left short, and those of them on strict posts.
    officers_on_duty, assistants_on_duty
        People on duty in the slot (or during the day), by role.
    leaders
        The duty leader(s) on duty.
    seamless
        No strict requirement short in the slot (or in any slot of the day).
    """

    date: date
    slot_id: str | None
    strict_coverage: float | None
    strict_posts_required: int
    strict_posts_covered: int
    strict_required_m: float
    strict_covered_m: float
    required_m: float
    covered_m: float
    gaps: int
    strict_gaps: int
    officers_on_duty: int
    assistants_on_duty: int
    leaders: tuple[PersonOnDuty, ...] = field(default_factory=tuple)
    seamless: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready mapping."""
        return {
            "date": self.date.isoformat(),
            "slot_id": self.slot_id,
            "strict_coverage": self.strict_coverage,
            "strict_posts_required": self.strict_posts_required,
            "strict_posts_covered": self.strict_posts_covered,
            "strict_required_m": self.strict_required_m,
            "strict_covered_m": self.strict_covered_m,
            "required_m": self.required_m,
            "covered_m": self.covered_m,
            "gaps": self.gaps,
            "strict_gaps": self.strict_gaps,
            "officers_on_duty": self.officers_on_duty,
            "assistants_on_duty": self.assistants_on_duty,
            "leaders": [p.to_dict() for p in self.leaders],
            "seamless": self.seamless,
        }


def _slot_figures(
    coverage: RosterCoverage, day: date, slot: DutySlot, posts: pd.DataFrame
) -> dict[str, Any]:
    requirements = _requirements_in(coverage, day, slot)
    short = requirements[~requirements["met"].to_numpy(dtype=bool)]
    strict = posts[
        posts["level"].eq("strict").to_numpy() & posts["status"].ne("not_required").to_numpy()
    ]
    required = posts[posts["status"].ne("not_required").to_numpy()]
    officers, assistants = _role_counts(people_on_duty(coverage, day, slot.id))
    return {
        "slot_id": slot.id,
        "name_zh": slot.slot.name_zh,
        "name_en": slot.slot.name_en,
        "kind": slot.slot.kind,
        "start": slot.start,
        "end": slot.end,
        "requirements": len(requirements),
        "met": int(requirements["met"].sum()),
        "gaps": len(short),
        "strict_gaps": int(short["strict"].sum()),
        "required_people": int(requirements["needed"].sum()),
        "counted_people": int(np.minimum(requirements["counted"], requirements["needed"]).sum()),
        "strict_posts_required": len(strict),
        "strict_posts_covered": int(strict["status"].eq("covered").sum()),
        "strict_required_m": float(strict["length_m"].sum()),
        "strict_covered_m": float(strict.loc[strict["status"].eq("covered"), "length_m"].sum()),
        "required_m": float(required["length_m"].sum()),
        "covered_m": float(required.loc[required["status"].eq("covered"), "length_m"].sum()),
        "officers_on_duty": officers,
        "assistants_on_duty": assistants,
        "seamless": int(short["strict"].sum()) == 0,
    }


def day_timeline(coverage: RosterCoverage, day: date) -> pd.DataFrame:
    """Return the day slot by slot: what is required, what is covered, where the gaps are.

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.

    Returns
    -------
    pandas.DataFrame
        One row per slot in time order: ``slot_id``, ``name_zh``, ``name_en``, ``kind``,
        ``start``, ``end``; ``requirements``, ``met``, ``gaps`` and ``strict_gaps`` (requirements
        in the slot, met, short, short on strict posts); ``required_people`` and
        ``counted_people``; ``strict_posts_required`` and ``strict_posts_covered``;
        ``strict_required_m``, ``strict_covered_m``, ``required_m`` and ``covered_m`` (post
        lengths); ``officers_on_duty``, ``assistants_on_duty``; ``seamless`` (no strict gap).
    """
    found: pd.DataFrame = _kept(coverage, ("timeline", day), lambda: _day_timeline(coverage, day))
    return found.copy()


def _day_timeline(coverage: RosterCoverage, day: date) -> pd.DataFrame:
    slots = duty_slots(day, coverage.policy, calendar=coverage.calendar)

    def figures(slot: DutySlot) -> dict[str, Any]:
        by_slot = coverage_by_slot(coverage, day)
        return _slot_figures(
            coverage, day, slot, by_slot[by_slot["slot_id"].eq(slot.id).to_numpy()]
        )

    # kept per slot: a roster brought up to date (grids.coverage_rematch) keeps the figures of
    # the slots its changes do not reach
    rows = [_kept(coverage, ("figures", day, slot.id), partial(figures, slot)) for slot in slots]
    return pd.DataFrame(rows)


def seamless_check(coverage: RosterCoverage, day: date) -> SeamlessCheck:
    """Check that every strict requirement of the day is met (全时段、无缝隙).

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.

    Returns
    -------
    SeamlessCheck
        Whether the day is seamless, the slots with strict requirements and those broken, and
        each strict requirement left short.
    """
    found: SeamlessCheck = _kept(
        coverage, ("seamless", day), lambda: _seamless_check(coverage, day)
    )
    return found


def _seamless_check(coverage: RosterCoverage, day: date) -> SeamlessCheck:
    slots = duty_slots(day, coverage.policy, calendar=coverage.calendar)
    requirements = _requirements_in(coverage, day, None)
    strict = requirements[requirements["strict"].to_numpy(dtype=bool)]
    required_slots: list[str] = []
    broken_slots: list[str] = []
    for slot in slots:
        in_slot = strict[_in_slot(strict, slot)]
        if len(in_slot):
            required_slots.append(slot.id)
            if not in_slot["met"].all():
                broken_slots.append(slot.id)
    short = strict[~strict["met"].to_numpy(dtype=bool)].sort_values(["start", "post_id"])
    records = short.to_dict("records")
    post_ids = _posts_of(coverage, [str(r["requirement_id"]) for r in records])
    breaks = tuple(
        SeamBreak(
            slot_id=None if pd.isna(row["slot_id"]) else str(row["slot_id"]),
            start=pd.Timestamp(row["start"]).to_pydatetime(),
            end=pd.Timestamp(row["end"]).to_pydatetime(),
            requirement_id=str(row["requirement_id"]),
            post_ids=posts,
            reason=row["reason"],
        )
        for row, posts in zip(records, post_ids, strict=True)
    )
    minutes = sum((b.end - b.start).total_seconds() / 60 * max(len(b.post_ids), 1) for b in breaks)
    return SeamlessCheck(
        date=day,
        seamless=not breaks,
        required_slots=tuple(required_slots),
        broken_slots=tuple(broken_slots),
        breaks=breaks,
        uncovered_minutes=float(minutes),
    )


def coverage_summary(
    coverage: RosterCoverage, day: date, slot_id: str | None = None
) -> CoverageSummary:
    """Return the headline figures of a slot, or of the whole day.

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.
    slot_id
        The slot; None for the day, where posts and metres count once per slot that requires
        them (post-slots, metre-slots) and people once however many slots they work.

    Returns
    -------
    CoverageSummary
        Strict coverage, gaps, people and duty leader on duty, and whether it is seamless.

    Raises
    ------
    KeyError
        If the day has no slot ``slot_id``.
    """
    found: CoverageSummary = _kept(
        coverage, ("summary", day, slot_id), lambda: _coverage_summary(coverage, day, slot_id)
    )
    return found


def _coverage_summary(coverage: RosterCoverage, day: date, slot_id: str | None) -> CoverageSummary:
    if slot_id is None:
        timeline = day_timeline(coverage, day)
        figures = {
            column: (timeline[column].sum() if len(timeline) else 0)
            for column in (
                "strict_posts_required",
                "strict_posts_covered",
                "strict_required_m",
                "strict_covered_m",
                "required_m",
                "covered_m",
            )
        }
        short = gaps(coverage, day)
        people = people_on_duty(coverage, day)
        seamless = seamless_check(coverage, day).seamless
    else:
        slot = _duty_slot(coverage, day, slot_id)
        posts = coverage_by_post(coverage, day, slot_id)
        figures = _slot_figures(coverage, day, slot, posts)
        short = gaps(coverage, day, slot_id)
        people = people_on_duty(coverage, day, slot_id)
        seamless = bool(figures["seamless"])
    required = int(figures["strict_posts_required"])
    covered = int(figures["strict_posts_covered"])
    officers, assistants = _role_counts(people)
    return CoverageSummary(
        date=day,
        slot_id=slot_id,
        strict_coverage=covered / required if required else None,
        strict_posts_required=required,
        strict_posts_covered=covered,
        strict_required_m=float(figures["strict_required_m"]),
        strict_covered_m=float(figures["strict_covered_m"]),
        required_m=float(figures["required_m"]),
        covered_m=float(figures["covered_m"]),
        gaps=len(short),
        strict_gaps=int(short["strict"].sum()) if len(short) else 0,
        officers_on_duty=officers,
        assistants_on_duty=assistants,
        leaders=tuple(p for p in people if p.role == "leader"),
        seamless=seamless,
    )
