"""What a roster costs, what it changes, and why the covers it leaves short are short."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

from grids.shift_index import ProblemIndex, StaffState, staff_states
from grids.shift_problem import (
    RuleCategory,
    ShiftProblem,
    UncoveredCover,
    UncoveredReason,
    cover_counts,
)

__all__ = ["RULE_CATEGORY", "count_changes", "diagnose_uncovered", "penalty_breakdown"]

RULE_CATEGORY: dict[str, RuleCategory] = {
    "pin": "availability",
    "days_off": "availability",
    "unavailable": "availability",
    "not_qualified": "availability",
    "max_min_per_day": "hours",
    "max_shifts": "hours",
    "max_total_min": "hours",
    "max_min_per_week": "hours",
    "overtime_min_per_month": "hours",
    "succession": "rest",
    "rest_days_per_week": "rest",
    "min_consecutive_days_off": "rest",
    "max_consecutive_shifts": "consecutive",
    "min_consecutive_shifts": "consecutive",
    "max_weekends": "weekend",
}

_REASON: dict[RuleCategory, UncoveredReason] = {
    "hours": "hours exhausted",
    "rest": "rest rules",
    "consecutive": "consecutive rules",
    "weekend": "weekend limit",
}

_PRIORITY: dict[RuleCategory, int] = {category: i for i, category in enumerate(_REASON)}


def penalty_breakdown(
    problem: ShiftProblem, assignments: Mapping[tuple[str, int], str]
) -> dict[str, int]:
    """Return the objective of a roster by part: cover_under, cover_over, requests, changes."""
    under = over = 0
    for cover, count in zip(problem.covers, cover_counts(problem, assignments), strict=True):
        if cover.under_weight and count < cover.requirement:
            under += cover.under_weight * (cover.requirement - count)
        if cover.over_weight and count > cover.requirement:
            over += cover.over_weight * (count - cover.requirement)
    requests = 0
    for request in problem.requests:
        shift = assignments.get((request.staff_id, request.day))
        granted = shift is not None if request.shift_id is None else shift == request.shift_id
        if granted != request.on:
            requests += request.weight
    return {
        "cover_under": under,
        "cover_over": over,
        "requests": requests,
        "changes": problem.change_weight * count_changes(problem, assignments),
    }


def count_changes(problem: ShiftProblem, assignments: Mapping[tuple[str, int], str]) -> int:
    """Return the (staff, day) pairs of current staff that differ from ``problem.previous``."""
    return sum(
        1
        for (sid, day), shift in (problem.previous or {}).items()
        if sid in problem.staff_by_id and assignments.get((sid, day)) != shift
    )


def diagnose_uncovered(
    problem: ShiftProblem,
    assignments: Mapping[tuple[str, int], str],
    *,
    optimal: bool = False,
) -> list[UncoveredCover]:
    """Return each cover a roster leaves short, and why.

    For every staff member with the cover's skill and every shift that would count for it, the
    roster is tried with that shift added (or swapped in): the rules it would break say why the
    cover is short. If someone could take it without breaking a rule, the shortfall is
    ``not worth it`` (or ``busy elsewhere`` when that someone is needed on another shift).

    Parameters
    ----------
    problem
        The problem.
    assignments
        The roster, (staff id, day) → shift id.
    optimal
        Whether the roster is proven optimal (the wording of ``not worth it`` says so).

    Returns
    -------
    list[UncoveredCover]
        The short covers in the order of ``problem.covers``.
    """
    ctx = ProblemIndex(problem)
    counts = cover_counts(problem, assignments)
    roster = {
        (ctx.staff_index[sid], day): ctx.shift_index[t]
        for (sid, day), t in assignments.items()
        if sid in ctx.staff_index
    }
    states: list[StaffState] | None = None
    by_skill: dict[str | None, list[int]] = defaultdict(list)
    for s, member in enumerate(ctx.staff):
        by_skill[None].append(s)
        for skill in member.skills:
            by_skill[skill].append(s)
    found = []
    for c, cover in enumerate(problem.covers):
        if counts[c] >= cover.requirement:
            continue
        if states is None:
            states = staff_states(ctx, roster)
        reason, detail = _diagnose(ctx, states, c, by_skill.get(cover.skill, []), optimal)
        found.append(
            UncoveredCover(
                cover_index=c,
                cover=cover,
                assigned=counts[c],
                short=cover.requirement - counts[c],
                reason=reason,
                detail=detail,
            )
        )
    return found


def _diagnose(
    ctx: ProblemIndex, states: list[StaffState], c: int, candidates: list[int], optimal: bool
) -> tuple[UncoveredReason, str]:
    options = ctx.cover_options[c]
    on_it = unavailable = free = busy = 0
    blocked: Counter[RuleCategory] = Counter()
    blocked_staff = 0
    for s in candidates:
        state = states[s]
        if any(state.roster[day] == t for day, t in options):
            on_it += 1
            continue
        categories: set[RuleCategory] = set()
        can_free = can_busy = any_available = False
        for day, t in options:
            rules = state.blockers(day, t, min_rules=True)
            if any(RULE_CATEGORY[r] == "availability" for r in rules):
                continue
            any_available = True
            if not rules:
                if state.roster[day] is None:
                    can_free = True
                else:
                    can_busy = True
            categories.update(RULE_CATEGORY[r] for r in rules)
        if not any_available:
            unavailable += 1
        elif can_free:
            free += 1
        elif can_busy:
            busy += 1
        else:
            blocked_staff += 1
            blocked.update(categories)
    skill = ctx.problem.covers[c].skill
    who = f"staff with skill {skill!r}" if skill else "staff"
    if not candidates:
        return "no eligible staff", f"no {who}"
    parts = [f"{len(candidates)} {who}"]
    if on_it:
        parts.append(f"{on_it} on it")
    if unavailable:
        parts.append(f"{unavailable} off, on leave, pinned or not qualified for a spanning shift")
    if free:
        cheaper = (
            "the penalty is the cheaper choice"
            if optimal
            else "the penalty was the cheaper choice, or the search ran out of time"
        )
        parts.append(f"{free} could take it within every rule: {cheaper}")
        return "not worth it", "; ".join(parts)
    if busy:
        parts.append(f"{busy} could take it within every rule but work another shift that day")
        return "busy elsewhere", "; ".join(parts)
    if not blocked_staff:
        return "no eligible staff", "; ".join(parts)
    ranked = sorted(blocked, key=lambda category: (-blocked[category], _PRIORITY[category]))
    by_rule = ", ".join(f"{blocked[category]} by {_REASON[category]}" for category in ranked)
    parts.append(f"{blocked_staff} blocked ({by_rule})")
    return _REASON[ranked[0]], "; ".join(parts)
