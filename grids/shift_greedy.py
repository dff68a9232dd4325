"""A quick roster that keeps every maximum rule: the solver's first hint and its fallback."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from grids.shift_index import ProblemIndex, staff_states
from grids.shift_problem import Cover, ShiftProblem

__all__ = ["GREEDY_BUDGET", "greedy_indexed", "greedy_roster"]

GREEDY_BUDGET = 2_000_000
"""Placements the greedy roster may try (a count, not a time, so that it stays deterministic)."""

GREEDY_SAMPLE = 8
"""Legal candidates the greedy roster compares before it takes the least loaded of them."""


def greedy_roster(
    problem: ShiftProblem, *, budget: int = GREEDY_BUDGET
) -> dict[tuple[str, int], str]:
    """Return a quick roster that keeps every maximum rule, for a first hint to the solver.

    Pinned and previous assignments are placed first; then each cover (hard ones first, by day
    and time) gets the least-loaded staff member who can legally take the shift that helps the
    most short covers; last, staff below their minimum minutes get the shifts they can still
    take. Minimum consecutive rules and hard covers may remain unmet.

    Parameters
    ----------
    problem
        The problem.
    budget
        Placements to try at most, so that large problems stay quick.

    Returns
    -------
    dict[tuple[str, int], str]
        (staff id, day) → shift id.
    """
    ctx = ProblemIndex(problem)
    roster = greedy_indexed(ctx, _candidates(ctx), budget)
    return {(ctx.staff[s].id, day): ctx.shifts[t].id for (s, day), t in roster.items()}


def _candidates(ctx: ProblemIndex) -> dict[tuple[int, int], dict[str | None, list[int]]]:
    """Return (day, shift) → skill (None = any) → staff who may ever work it."""
    skills = {c.skill for c in ctx.problem.covers if c.skill is not None}
    found: dict[tuple[int, int], dict[str | None, list[int]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for option in ctx.covers_of:
        day, t = option
        for s, member in enumerate(ctx.staff):
            if not ctx.fixed_out(s, day, t):
                found[option][None].append(s)
                for skill in member.skills & skills:
                    found[option][skill].append(s)
    return found


def greedy_indexed(
    ctx: ProblemIndex,
    holders: Mapping[tuple[int, int], Mapping[str | None, list[int]]],
    budget: int,
) -> dict[tuple[int, int], int]:
    """Return the greedy roster of :func:`greedy_roster` as (staff, day) → shift indexes.

    Parameters
    ----------
    ctx
        The problem in index form.
    holders
        (day, shift) → skill (``None``: any) → the staff who may be placed there.
    budget
        Placements to try at most.

    Returns
    -------
    dict[tuple[int, int], int]
        (staff index, day) → shift index.
    """
    problem = ctx.problem
    covers = problem.covers
    states = staff_states(ctx, {k: v for k, v in ctx.pins.items() if v is not None})
    count = [0] * len(covers)
    wish: dict[tuple[int, int, int | None], int] = defaultdict(int)
    for request in problem.requests:
        s = ctx.staff_index[request.staff_id]
        shift = None if request.shift_id is None else ctx.shift_index[request.shift_id]
        wish[(s, request.day, shift)] += request.weight if request.on else -request.weight
    wishers: dict[tuple[int, int], list[int]] = defaultdict(list)
    for (s, day, t), weight in wish.items():
        if weight > 0 and t is not None:
            wishers[(day, t)].append(s)
    turn: dict[tuple[tuple[int, int], str | None], int] = defaultdict(int)
    pool_sets: dict[tuple[tuple[int, int], str | None], set[int]] = {}
    for option, by_skill in holders.items():
        for skill, members in by_skill.items():
            pool_sets[(option, skill)] = set(members)
    tries = 0

    def place(s: int, day: int, t: int) -> None:
        states[s].place(day, t)
        for c in ctx.covers_of.get((day, t), ()):
            skill = covers[c].skill
            if skill is None or skill in ctx.staff[s].skills:
                count[c] += 1

    def legal(s: int, day: int, t: int) -> bool:
        nonlocal tries
        tries += 1
        state = states[s]
        return state.roster[day] is None and not state.blockers(day, t, min_rules=False)

    for (sid, day), shift_id in sorted((problem.previous or {}).items()):
        who = ctx.staff_index.get(sid)
        if who is not None and shift_id is not None and (who, day) not in ctx.pins:
            shift = ctx.shift_index[shift_id]
            if legal(who, day, shift):
                place(who, day, shift)

    def start_of(c: int) -> tuple[bool, int, int]:
        cover = covers[c]
        if cover.window is not None:
            return (not cover.hard, cover.day, cover.window[0])
        return (not cover.hard, cover.day, problem.shift_by_id[cover.shift_id or ""].start_min)

    for c in sorted(range(len(covers)), key=start_of):
        cover = covers[c]
        while count[c] < cover.requirement and tries < budget:

            def gain(option: tuple[int, int], cover: Cover = cover) -> int:
                return sum(
                    1
                    for other in ctx.covers_of[option]
                    if count[other] < covers[other].requirement
                    and covers[other].skill in (None, cover.skill)
                )

            best: tuple[tuple[int, float, int], int, int, int] | None = None
            for option in sorted(ctx.cover_options[c], key=lambda o: (-gain(o), ctx.length[o[1]])):
                day, t = option
                pool = holders.get(option, {}).get(cover.skill, [])
                if not pool:
                    continue
                # Those who asked for it first, then a round-robin sample of the rest.
                start = turn[(option, cover.skill)]
                order = [
                    *wishers.get(option, ()),
                    *(pool[(start + j) % len(pool)] for j in range(len(pool))),
                ]
                candidates = 0
                for j, s in enumerate(order):
                    state = states[s]
                    if state.roster[day] is not None or (
                        j < len(order) - len(pool) and s not in pool_sets[(option, cover.skill)]
                    ):
                        continue
                    if not legal(s, day, t):
                        continue
                    load = state.total / (state.member.max_total_min or 1)
                    key = (-wish[(s, day, t)] - wish[(s, day, None)], load, s)
                    if best is None or key < best[0]:
                        best = (key, s, day, t)
                    candidates += 1
                    if candidates >= GREEDY_SAMPLE:
                        turn[(option, cover.skill)] = (start + j + 1) % len(pool)
                        break
                if best is not None:
                    break
            if best is None:
                break
            place(best[1], best[2], best[3])

    for s, state in enumerate(states):
        minimum = state.member.min_total_min
        if not minimum:
            continue
        for day in range(ctx.horizon):
            if state.total >= minimum or tries >= budget:
                break
            if state.roster[day] is not None or (s, day) in ctx.pins:
                continue
            options = [
                t
                for t in range(len(ctx.shifts))
                if not ctx.fixed_out(s, day, t)
                and legal(s, day, t)
                and wish[(s, day, t)] >= 0
                and wish[(s, day, None)] >= 0
            ]
            if options:
                short = [
                    t
                    for t in options
                    if any(
                        count[c] < covers[c].requirement for c in ctx.covers_of.get((day, t), ())
                    )
                ]
                place(s, day, (short or options)[0])
    return {
        (s, day): t
        for s, state in enumerate(states)
        for day, t in enumerate(state.roster)
        if t is not None
    }
