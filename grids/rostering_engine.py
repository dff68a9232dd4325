"""Stage 1 of rostering: from a week's demand to shift-engine problems, one per squad.

The shift engine (:mod:`grids.shift_solver`) decides who works which shift on which day. This module
says what it is asked:

- **Shift types** are blocks of contiguous slots of a day type (:mod:`grids.rostering_shifts`).
- **Covers** count, per day and slot, the people on a shift that spans the slot. The requirements
  of one slot compete for the same people, so they become one cumulative staircase per slot: an
  ``officer`` cover for the officers needed (strict posts, patrols, the officers of operations and
  events) and a cover without skill for everyone needed (those officers plus guidance windows and
  other ``any`` places), which officers and assistants both count for. (When officers are short,
  that second cover also counts assistants toward the officers missing, so stage 1 may roster
  assistants whom stage 2 can only put in reserve or alongside an officer; stage 2 reports such
  shortfalls as ``role``.) Each step of a staircase
  is one weight level: the shortfall costs exactly the weights of the requirements left out, the
  lightest first. A requirement's weight per person is its demand ``weight`` (coverage weight by
  level × hotspot) × its hours; a *hard* requirement's is :data:`HARD_FACTOR` times that, so that
  a week that cannot meet it still gets a roster (and the report names it first).
- **Labour rules** are the policy's (:func:`grids.rostering_shifts.engine_labour`); contract
  hours cap each person's week.
- **Leave and availability** make days off and (day, shift) pairs unavailable; a shift that runs
  into a day of leave is unavailable too. **Requests** become engine requests, and a full
  deployment (全员上岗) asks every available member of the squad to work that day.
- **Fair nights**: nobody works more than an even share of the squad's night demand plus one.
- **Duty leaders** (带班领导) are rostered district-wide in a problem of their own, with one shift
  type: the 24-hour duty from the handover, followed by a day off when the policy says so. The
  24-hour duty is kept within the weekly hours and rest day, without the daily limit (a
  comprehensive working-hours arrangement, 综合计算工时).

Engine weights are integers: :data:`SCALE` units per weight-hour.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pandas as pd

from grids.policy import DayType, DutyPolicy
from grids.policy import LabourRules as PolicyLabour
from grids.rostering_shifts import (
    DAY_MIN,
    LEADER_SHIFT_ID,
    ShiftBlock,
    engine_labour,
    minute,
    minute_of,
    shift_blocks,
)
from grids.shift_model import Cover, LabourRules, Pin, Request, ShiftProblem, ShiftType, Staff
from grids.shift_solver import greedy_roster
from grids.staff import Officer

__all__ = [
    "HARD_FACTOR",
    "LEADER_SHIFT_ID",
    "SCALE",
    "CoverKey",
    "EngineProblem",
    "ShiftBlock",
    "engine_labour",
    "leader_problem",
    "shift_blocks",
    "squad_problem",
]

SCALE = 10
"""Engine weight units per weight-hour."""
HARD_FACTOR = 100
"""A hard requirement weighs this many times its own weight."""


@dataclass(frozen=True)
class CoverKey:
    """What an engine cover stands for: a slot of a day, for one skill (None: anyone)."""

    date: date
    slot_id: str
    skill: str | None
    hard: bool = False


@dataclass(frozen=True)
class EngineProblem:
    """An engine problem and what its parts stand for.

    Parameters
    ----------
    problem
        The shift problem.
    cover_keys
        The slot and skill of each cover, in the order of ``problem.covers``.
    blocks
        Day index → shift id → the block it is on that day.
    days
        The horizon's dates.
    """

    problem: ShiftProblem
    cover_keys: tuple[CoverKey, ...]
    blocks: tuple[Mapping[str, ShiftBlock], ...]
    days: tuple[date, ...]
    sizes: dict[str, int] = field(default_factory=dict)
    deployments: tuple[tuple[str, int], ...] = ()

    def hint(self) -> dict[tuple[str, int], str | None]:
        """Return a greedy roster that staffs the hard requirements first, as a search hint.

        The members of a full deployment get one of the longest day shifts on its days (the
        same one each day, so that they keep their rest between duties) before anything else.
        """
        problem = self.problem
        covers = tuple(
            replace(cover, under_weight=None) if key.hard else cover
            for cover, key in zip(problem.covers, self.cover_keys, strict=True)
        )
        pinned = {(p.staff_id, p.day) for p in problem.pins}
        position = {s.id: n for n, s in enumerate(problem.staff)}
        extra = []
        for sid, day in self.deployments:
            if (sid, day) in pinned:
                continue
            member = problem.staff_by_id[sid]
            longest = sorted(
                (b for b in self.blocks[day].values() if b.kind == "day"),
                key=lambda b: (-b.length_min, b.start_min),
            )[:2]
            if not longest or day in member.days_off:
                continue
            turn = position[sid] % len(longest)
            for block in longest[turn:] + longest[:turn]:
                if (day, block.id) not in member.unavailable:
                    extra.append(Pin(sid, day, block.id))
                    break
        found = greedy_roster(replace(problem, covers=covers, pins=problem.pins + tuple(extra)))
        return dict(found)


def person_weight(row: Mapping[Any, Any]) -> int:
    """Return the engine weight of one person of a demand row: weight × hours × SCALE."""
    start, end = row["start"], row["end"]
    hours = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds() / 3600
    weight = float(row["weight"]) * hours * SCALE
    if bool(row["hard"]):
        weight *= HARD_FACTOR
    return max(1, round(weight))


def _staircase(items: Iterable[tuple[int, int, bool]], base: int) -> list[tuple[int, int, bool]]:
    """Return (cumulative requirement, marginal weight, hard) steps of (weight, count, hard)s.

    The steps' penalty for ``n`` people is the sum of the weights of the people beyond ``n``,
    heaviest first: a step at each weight level, weighing what that level weighs more than the
    next one down.
    """
    by_weight: dict[int, int] = defaultdict(int)
    hard_weights: set[int] = set()
    for weight, count, hard in items:
        by_weight[weight] += count
        if hard:
            hard_weights.add(weight)
    levels = sorted(by_weight.items(), reverse=True)
    steps = []
    total = base
    for index, (weight, count) in enumerate(levels):
        total += count
        lower = levels[index + 1][0] if index + 1 < len(levels) else 0
        if weight > lower:
            steps.append((total, weight - lower, weight in hard_weights))
    return steps


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the demand rows as dicts, the columns the engine uses only."""
    columns = ["date", "slot_id", "start", "end", "role", "count", "weight", "hard", "kind"]
    return [
        dict(zip(columns, values, strict=True))
        for values in zip(*(rows[c].tolist() for c in columns), strict=True)
    ]


def _slot_covers(
    rows: Sequence[Mapping[str, Any]],
    days: Sequence[date],
    day_types: Sequence[DayType],
    policy: DutyPolicy,
) -> tuple[list[Cover], list[CoverKey]]:
    covers: list[Cover] = []
    keys: list[CoverKey] = []
    index_of = {day: i for i, day in enumerate(days)}
    groups: dict[tuple[date, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if isinstance(row["slot_id"], str) and row["date"] in index_of:
            groups[(row["date"], row["slot_id"])].append(row)
    for (day, slot_id), records in sorted(groups.items()):
        i = index_of[day]
        slot = policy.slot(day_types[i], slot_id)
        start = minute_of(slot)
        window = (start, start + slot.minutes)
        people = {
            role: [
                (person_weight(r), int(r["count"]), bool(r["hard"]))
                for r in records
                if r["role"] == role
            ]
            for role in ("officer", "any")
        }
        needed = sum(count for _, count, _ in people["officer"])
        for skill, items, base in (
            ("officer", people["officer"], 0),
            (None, people["any"], needed),
        ):
            for requirement, weight, hard in _staircase(items, base):
                covers.append(
                    Cover(
                        day=i,
                        window=window,
                        skill=skill,
                        requirement=requirement,
                        under_weight=weight,
                        label=f"{day} {slot_id} {skill or 'any'} ≥{requirement}",
                    )
                )
                keys.append(CoverKey(day, str(slot_id), skill, hard))
    return covers, keys


def _blocks_by_day(
    policy: DutyPolicy, day_types: Sequence[DayType]
) -> tuple[list[ShiftType], tuple[dict[str, ShiftBlock], ...]]:
    per_type = {t: shift_blocks(policy, t) for t in set(day_types)}
    shift_types: dict[str, ShiftType] = {}
    for blocks in per_type.values():
        for block in blocks:
            shift_types.setdefault(block.id, block.shift_type())
    ordered = sorted(shift_types.values(), key=lambda t: (t.start_min, t.length_min))
    by_day = tuple({b.id: b for b in per_type[t]} for t in day_types)
    return ordered, by_day


def _unavailable(
    officer: Officer,
    days: Sequence[date],
    blocks: Sequence[Mapping[str, ShiftBlock]],
    shift_ids: Sequence[str],
) -> frozenset[tuple[int, str]]:
    found = set()
    for i, day in enumerate(days):
        if officer.on_leave(day):
            continue
        for shift_id in shift_ids:
            block = blocks[i].get(shift_id)
            if block is None:
                found.add((i, shift_id))
                continue
            ok = True
            for slot_id, offset in zip(block.slot_ids, block.slot_offsets, strict=True):
                on = day.toordinal() + (block.start_min + offset) // DAY_MIN
                if not officer.can_work(date.fromordinal(on), slot_id):
                    ok = False
            last_day = date.fromordinal(day.toordinal() + (block.end_min - 1) // DAY_MIN)
            if last_day != day and officer.on_leave(last_day):
                ok = False
            if not ok:
                found.add((i, shift_id))
    return frozenset(found)


def _week_allowance_min(labour: PolicyLabour) -> int:
    if not labour.overtime_allowed:
        return 0
    return round(
        min(7 * labour.max_overtime_hours_per_day, labour.max_overtime_hours_per_month) * 60
    )


def _night_cap(
    rows: Sequence[Mapping[str, Any]],
    members: Sequence[Officer],
    days: Sequence[date],
    day_types: Sequence[DayType],
    policy: DutyPolicy,
    *,
    role: str,
) -> int | None:
    """Return an even share of the night demand a person of ``role`` may take, plus one."""
    night = {
        (day, slot.id)
        for day, day_type in zip(days, day_types, strict=True)
        for slot in policy.slots_for(day_type)
        if slot.kind == "night"
    }
    wanted = ("officer",) if role == "officer" else ("officer", "any")
    need = sum(
        int(row["count"])
        for row in rows
        if (row["date"], row["slot_id"]) in night and row["role"] in wanted
    )
    eligible = [
        m
        for m in members
        if (role != "officer" or m.role == "officer") and not all(m.on_leave(d) for d in days)
    ]
    if need == 0 or not eligible:
        return None
    return math.ceil(need / len(eligible)) + 1


def _requests(
    officer: Officer,
    days: Sequence[date],
    blocks: Sequence[Mapping[str, ShiftBlock]],
    policy: DutyPolicy,
) -> list[Request]:
    index_of = {day: i for i, day in enumerate(days)}
    found = []
    for wish in officer.requests:
        i = index_of.get(wish.date)
        if i is None:
            continue
        weight = max(
            1, round(wish.weight * policy.weights.requests * policy.labour.hours_per_day * SCALE)
        )
        if wish.slot_id is None:
            found.append(Request(officer.id, i, None, weight, wish.on))
            continue
        spanning = [b for b in blocks[i].values() if wish.slot_id in b.slot_ids]
        if not spanning:
            continue
        if wish.on:
            longest = max(spanning, key=lambda b: (b.length_min, -b.start_min))
            found.append(Request(officer.id, i, longest.id, weight, True))
        else:
            found += [Request(officer.id, i, b.id, weight, False) for b in spanning]
    return found


def _deployment_requests(
    rows: Sequence[Mapping[str, Any]],
    members: Sequence[Officer],
    days: Sequence[date],
    blocks: Sequence[Mapping[str, ShiftBlock]],
) -> list[Request]:
    """Return the wishes that each available member of a full deployment works a day shift.

    A deployment is served only by a shift in its window (the day slots): a member on a night
    shift alone is as short as one at rest, so besides the wish to work that day, each night
    shift of the day is a wish not granted at the same weight.
    """
    index_of = {day: i for i, day in enumerate(days)}
    found = []
    for row in (r for r in rows if r["kind"] == "full_deployment"):
        i = index_of.get(row["date"])
        if i is None:
            continue
        weight = person_weight(row)
        nights = [b.id for b in blocks[i].values() if b.kind == "night"]
        for member in members:
            allowed = member.allowed_slots(row["date"].isoweekday())
            if not member.on_leave(row["date"]) and (allowed is None or allowed):
                found.append(Request(member.id, i, None, weight, True))
                found += [Request(member.id, i, night, weight, False) for night in nights]
    return found


def _pins(
    staff_ids: Iterable[str],
    days: Sequence[date],
    pinned: Mapping[tuple[str, int], str | None],
    members: Mapping[str, Staff],
    problem_shift_ids: set[str],
) -> list[Pin]:
    found = []
    for sid in staff_ids:
        member = members[sid]
        for i in range(len(days)):
            if (sid, i) not in pinned:
                continue
            shift = pinned[(sid, i)]
            if shift is not None and (
                shift not in problem_shift_ids
                or i in member.days_off
                or (i, shift) in member.unavailable
            ):
                shift = None
            found.append(Pin(sid, i, shift))
    return found


def squad_problem(
    rows: pd.DataFrame,
    members: Sequence[Officer],
    policy: DutyPolicy,
    days: Sequence[date],
    day_types: Sequence[DayType],
    *,
    previous: Mapping[tuple[str, int], str | None] | None = None,
    pinned: Mapping[tuple[str, int], str | None] | None = None,
    change_weight: int = 0,
    fair_nights: bool = True,
) -> EngineProblem:
    """Return the engine problem of one squad's week.

    Parameters
    ----------
    rows
        The squad's demand rows (from :func:`grids.demand.demand_for_week`), leader duty left out.
    members
        The squad's officers and assistants.
    policy
        The duty policy.
    days, day_types
        The week's dates and their day types.
    previous
        A previous roster of these people, (officer id, day index) → shift id or None.
    pinned
        (officer id, day index) → shift id or None that must stay; a pinned shift the person can
        no longer work (new leave) becomes a day off.
    change_weight
        Engine weight of each (person, day) changed against ``previous``.
    fair_nights
        Whether to cap each person's night shifts at an even share plus one.
    """
    shift_types, blocks = _blocks_by_day(policy, day_types)
    shift_ids = [t.id for t in shift_types]
    records = _records(rows)
    covers, keys = _slot_covers(records, days, day_types, policy)
    allowance = _week_allowance_min(policy.labour)
    night_ids = {b.id for day in blocks for b in day.values() if b.kind == "night"}
    caps = {
        role: _night_cap(records, members, days, day_types, policy, role=role)
        for role in ("officer", "assistant")
        if fair_nights
    }
    staff: list[Staff] = []
    requests: list[Request] = []
    for officer in members:
        cap = caps.get("officer" if officer.role == "officer" else "assistant")
        staff.append(
            Staff(
                id=officer.id,
                skills=frozenset({officer.role}),
                max_shifts=dict.fromkeys(sorted(night_ids), cap) if cap is not None else {},
                max_total_min=round(officer.contract_hours_week * 60) + allowance,
                days_off=frozenset(i for i, day in enumerate(days) if officer.on_leave(day)),
                unavailable=_unavailable(officer, days, blocks, shift_ids),
            )
        )
        requests += _requests(officer, days, blocks, policy)
    deployment = _deployment_requests(records, members, days, blocks)
    requests += deployment
    by_id = {s.id: s for s in staff}
    pins = _pins(by_id, days, pinned or {}, by_id, set(shift_ids))
    kept_previous = None
    if previous is not None:
        kept_previous = {
            (sid, i): shift
            for (sid, i), shift in previous.items()
            if sid in by_id and 0 <= i < len(days) and (shift is None or shift in shift_ids)
        }
    problem = ShiftProblem(
        horizon_days=len(days),
        first_weekday=days[0].weekday(),
        shift_types=tuple(shift_types),
        staff=tuple(staff),
        covers=tuple(covers),
        requests=tuple(requests),
        labour=engine_labour(policy.labour, days),
        pins=tuple(pins),
        previous=kept_previous,
        change_weight=change_weight if kept_previous else 0,
    )
    sizes = {
        "staff": len(staff),
        "shift_types": len(shift_types),
        "covers": len(covers),
        "requests": len(requests),
        "pins": len(pins),
        "options": sum(
            (len(days) - len(s.days_off)) * len(shift_ids) - len(s.unavailable) for s in staff
        ),
    }
    return EngineProblem(
        problem,
        tuple(keys),
        blocks,
        tuple(days),
        sizes,
        tuple(sorted({(r.staff_id, r.day) for r in deployment if r.on})),
    )


def leader_problem(
    rows: pd.DataFrame,
    leaders: Sequence[Officer],
    policy: DutyPolicy,
    days: Sequence[date],
    *,
    previous: Mapping[tuple[str, int], str | None] | None = None,
    pinned: Mapping[tuple[str, int], str | None] | None = None,
    change_weight: int = 0,
) -> EngineProblem:
    """Return the engine problem of the duty leaders' rota (rows of kind ``leader_duty``)."""
    duty = policy.leader
    start = duty.handover.hour * 60 + duty.handover.minute
    shift = ShiftType(
        LEADER_SHIFT_ID,
        start,
        DAY_MIN,
        frozenset({LEADER_SHIFT_ID}) if duty.rest_day_after else frozenset(),
    )
    block = ShiftBlock(LEADER_SHIFT_ID, start, DAY_MIN, (), (), "day")
    index_of = {day: i for i, day in enumerate(days)}
    covers: list[Cover] = []
    keys: list[CoverKey] = []
    for row in rows[rows["kind"] == "leader_duty"].to_dict("records"):
        i = index_of.get(row["date"])
        if i is None:
            continue
        begin = minute(row["start"], row["date"])
        covers.append(
            Cover(
                day=i,
                window=(begin, begin + DAY_MIN),
                skill="leader",
                requirement=int(row["count"]),
                under_weight=person_weight(row),
                label=f"{row['date']} leader duty",
            )
        )
        keys.append(CoverKey(row["date"], LEADER_SHIFT_ID, "leader", bool(row["hard"])))
    staff = []
    for leader in leaders:
        off = frozenset(i for i, day in enumerate(days) if leader.on_leave(day))
        unavailable = frozenset(
            (i, LEADER_SHIFT_ID)
            for i, day in enumerate(days)
            if i not in off
            and (
                leader.on_leave(date.fromordinal(day.toordinal() + 1))
                or leader.allowed_slots(day.isoweekday()) == frozenset()
            )
        )
        staff.append(
            Staff(
                id=leader.id,
                skills=frozenset({"leader"}),
                max_total_min=round(leader.contract_hours_week * 60),
                days_off=off,
                unavailable=unavailable,
            )
        )
    labour = LabourRules(
        max_min_per_week=round(policy.labour.hours_per_week * 60),
        rest_days_per_week=policy.labour.rest_days_per_week,
        min_rest_min=round(policy.labour.min_rest_hours * 60),
        week_start_day=days[0].weekday(),
    )
    by_id = {s.id: s for s in staff}
    pins = _pins(by_id, days, pinned or {}, by_id, {LEADER_SHIFT_ID})
    kept_previous = None
    if previous is not None:
        kept_previous = {
            (sid, i): value
            for (sid, i), value in previous.items()
            if sid in by_id and 0 <= i < len(days) and value in (None, LEADER_SHIFT_ID)
        }
    problem = ShiftProblem(
        horizon_days=len(days),
        first_weekday=days[0].weekday(),
        shift_types=(shift,),
        staff=tuple(staff),
        covers=tuple(covers),
        labour=labour,
        pins=tuple(pins),
        previous=kept_previous,
        change_weight=change_weight if kept_previous else 0,
    )
    blocks = tuple({LEADER_SHIFT_ID: block} for _ in days)
    sizes = {"staff": len(staff), "shift_types": 1, "covers": len(covers), "pins": len(pins)}
    return EngineProblem(problem, tuple(keys), blocks, tuple(days), sizes)
