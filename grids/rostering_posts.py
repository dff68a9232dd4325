"""Stage 2 of rostering: the people on duty in each slot, to the posts and tasks that need them.

Stage 1 (:mod:`grids.rostering_engine`) decides who works which shift. Here, for each squad and
day, one CP-SAT model puts each person on duty in a slot on one requirement of that slot (a post,
a patrol route, a guidance window, an operation, an event) or in reserve:

- a requirement gets at most its ``count`` people, of its role: ``officer`` requirements only
  officers (执法队员); ``any`` requirements officers or assistants. An assistant may go with an
  officer on an officer's post, never in place of one: such an assistant does not count for the
  requirement (``requirement_id`` is empty) and is only there where an officer is;
- nobody is in two places at once: one requirement per person per slot;
- a person on consecutive slots must be able to move from one place to the next along the roads
  within the allowance (:class:`grids.rostering_travel.TravelTimes`);
- the weights: each person on a requirement earns its weight per person (as in stage 1); staying
  on the same post as in the slot before or the day before (定人定岗) earns the ``continuity``
  weight, the post of a previous roster (re-planning) the change weight; published days keep
  their posts.

A greedy assignment that keeps every rule is the search's hint, and the answer when the search
finds nothing in its time. Each requirement left short gets a reason: ``travel`` (someone free
was too far away), ``role`` (only assistants were free for an officer's post), or stage 1's reason
for the slot (``hours exhausted``, ``rest rules``, ``no eligible officer free``, …).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from ortools.sat.python import cp_model

from grids.policy import DayType, DutyPolicy
from grids.rostering_day import (
    DayModel,
    Key,
    Need,
    SlotKey,
    SlotWindow,
    greedy_assignment,
    improvable,
    shortfall_reason,
)
from grids.rostering_engine import SCALE, ShiftBlock, person_weight
from grids.rostering_travel import TravelTimes
from grids.staff import Officer

__all__ = ["PostsResult", "assign_posts"]

SLOT_TASKS = frozenset(
    {"strict_post", "patrol", "guidance_window", "night_check", "muck_truck", "barbecue", "event"}
)
COMPANION_WEIGHT = 1
SEARCH_MIN_S = 0.25
"""Below this time per model, the greedy assignment is kept unless it leaves a need short while
someone eligible is free (the search has a fixed cost of about a tenth of a second)."""
"""What an assistant going with an officer earns: more than reserve, less than any requirement."""


@dataclass
class PostsResult:
    """What stage 2 made of one squad's week.

    Parameters
    ----------
    rows
        Assignment rows (the columns of :mod:`grids.roster`).
    short
        Requirement id → (people assigned, reason, detail) of each requirement left short.
    models
        Models solved (one per day with people on duty).
    variables
        Assignment variables over all models.
    statuses
        CP-SAT status (``GREEDY`` when the greedy assignment was kept) → models.
    wall_time_s
        Time taken.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    short: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    models: int = 0
    variables: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0


def _slots(policy: DutyPolicy, day: date, day_type: DayType) -> list[SlotWindow]:
    return [SlotWindow(s.id, *s.on(day), s.kind) for s in policy.slots_for(day_type)]


def _intervals(
    on_duty: Mapping[tuple[str, date], ShiftBlock],
) -> dict[str, list[tuple[datetime, datetime]]]:
    found: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for (officer_id, day), block in on_duty.items():
        start = datetime.combine(day, datetime.min.time()) + timedelta(minutes=block.start_min)
        found[officer_id].append((start, start + timedelta(minutes=block.length_min)))
    return found


def _spans(intervals: Sequence[tuple[datetime, datetime]], slot: SlotWindow) -> bool:
    return any(start <= slot.start and slot.end <= end for start, end in intervals)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    columns = ["requirement_id", "date", "slot_id", "start", "end", "post_id"]
    columns += ["role", "count", "weight", "hard", "kind"]
    return [
        dict(zip(columns, values, strict=True))
        for values in zip(*(rows[c].tolist() for c in columns), strict=True)
    ]


def _needs(
    rows: Sequence[Mapping[str, Any]], slots: Sequence[SlotWindow], travel: TravelTimes | None
) -> list[list[Need]]:
    by_slot: dict[str, list[Need]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row["kind"] not in SLOT_TASKS or not isinstance(row["slot_id"], str):
            continue
        post_id = str(row["post_id"])
        by_slot[str(row["slot_id"])].append(
            Need(
                index=index,
                requirement_id=str(row["requirement_id"]),
                post_id=post_id,
                kind=str(row["kind"]),
                role=str(row["role"]),
                count=int(row["count"]),
                weight=person_weight(row),
                place=post_id if travel is not None and travel.knows(post_id) else None,
            )
        )
    return [by_slot.get(slot.id, []) for slot in slots]


def _solve(
    day_model: DayModel,
    time_limit_s: float,
    *,
    deterministic: bool,
    seed: int,
    workers: int | None,
) -> tuple[str, dict[Key, int]]:
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.random_seed = seed
    if deterministic:
        params.num_workers = 1
        params.max_deterministic_time = max(0.05, time_limit_s)
    else:
        params.num_workers = workers or 1
        params.max_time_in_seconds = max(0.05, time_limit_s)
    status = solver.solve(day_model.model)
    name = str(solver.status_name(status))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return name, {}
    values = solver.response_proto.solution
    return name, {key: int(values[var.index]) for key, var in day_model.var.items()}


@dataclass(frozen=True)
class _DayContext:
    """What the model of one squad and day is made from."""

    slots: list[SlotWindow]
    duty: list[list[str]]
    needs: list[list[Need]]
    people: Mapping[str, Officer]
    travel: TravelTimes | None
    continuity: int
    change_weight: int
    yesterday: Mapping[str, set[str]]

    def prepare(
        self,
        previous: Mapping[SlotKey, str | None],
        pinned: set[SlotKey],
        keys: Mapping[tuple[str, int], SlotKey],
        *,
        with_pins: bool,
    ) -> DayModel:
        """Return the day's choices, their weights, the pins and the greedy assignment."""
        day_model = DayModel(self.slots, self.duty, self.needs, self.people, self.travel)
        day_model.index()
        for officer_id, k, index in day_model.keys:
            need = day_model.need(index)
            companion = (officer_id, k, index) in day_model.companion
            weight = COMPANION_WEIGHT if companion else need.weight
            if need.post_id in self.yesterday.get(officer_id, set()):
                weight += self.continuity
                day_model.familiar.add((officer_id, k, index))
            slot_key = keys[(officer_id, k)]
            same = previous.get(slot_key) == (need.post_id if companion else need.requirement_id)
            if same:
                weight += self.change_weight
                day_model.wanted.add((officer_id, k, index))
            if with_pins and slot_key in pinned:
                day_model.pins[(officer_id, k, index)] = int(same)
            day_model.weights[(officer_id, k, index)] = weight
        day_model.greedy = greedy_assignment(day_model, day_model.pins)
        return day_model

    def search(self, day_model: DayModel) -> None:
        """Build the CP-SAT model of a prepared day: rules, objective, pins and hint."""
        day_model.build()
        day_model.add_continuity(self.continuity)
        day_model.terms += [(day_model.var[key], w) for key, w in day_model.weights.items()]
        for key, value in day_model.pins.items():
            day_model.model.add(day_model.var[key] == value)
        day_model.model.maximize(
            cp_model.LinearExpr.weighted_sum(
                [v for v, _ in day_model.terms], [w for _, w in day_model.terms]
            )
        )
        for key, value in day_model.greedy.items():
            day_model.model.add_hint(day_model.var[key], value)
        for stay, here, there in day_model.stays:
            day_model.model.add_hint(stay, day_model.greedy[here] * day_model.greedy[there])


def _day_rows(
    day: date,
    day_model: DayModel,
    chosen: Mapping[tuple[str, int], Need],
    deployment: Mapping[str, Any] | None,
    pinned: set[SlotKey],
) -> list[dict[str, Any]]:
    rows = []
    for k, slot in enumerate(day_model.slots):
        for officer_id in day_model.duty[k]:
            person = day_model.people[officer_id]
            need = chosen.get((officer_id, k))
            post_id: str | None
            requirement_id: str | None
            if need is not None:
                task, post_id = need.kind, need.post_id
                companion = (officer_id, k, need.index) in day_model.companion
                requirement_id = None if companion else need.requirement_id
            elif deployment is not None and slot.kind == "day":
                task = "full_deployment"
                post_id = str(deployment["post_id"])
                requirement_id = str(deployment["requirement_id"])
            else:
                task, post_id, requirement_id = "reserve", None, None
            rows.append(
                {
                    "officer_id": officer_id,
                    "role": person.role,
                    "squad_id": person.squad_id,
                    "date": day,
                    "slot_id": slot.id,
                    "start": slot.start,
                    "end": slot.end,
                    "post_id": post_id,
                    "task": task,
                    "requirement_id": requirement_id,
                    "pinned": (officer_id, day, slot.id) in pinned,
                }
            )
    return rows


def assign_posts(
    rows: pd.DataFrame,
    members: Mapping[str, Officer],
    on_duty: Mapping[tuple[str, date], ShiftBlock],
    policy: DutyPolicy,
    week: Sequence[tuple[date, DayType]],
    *,
    travel: TravelTimes | None = None,
    slot_reasons: Mapping[tuple[date, str, str | None], tuple[str, str]] | None = None,
    previous: Mapping[SlotKey, str | None] | None = None,
    pinned: set[SlotKey] | None = None,
    change_weight: int = 0,
    time_limit_s: float = 5.0,
    deterministic: bool = False,
    seed: int = 0,
    workers: int | None = None,
) -> PostsResult:
    """Return the assignments of one squad's week: who is on which requirement in each slot.

    Parameters
    ----------
    rows
        The squad's demand rows.
    members
        The squad's people, by id.
    on_duty
        (officer id, date) → the shift they work (stage 1).
    policy
        The duty policy.
    week
        The week's dates with their day types.
    travel
        Travel times between places; without them, moves are not limited.
    slot_reasons
        (date, slot id, skill) → (reason, detail) of the covers stage 1 left short.
    previous
        (officer id, date, slot id) → the requirement id of a previous roster's assignment (a
        post id for an assistant going with an officer; None in reserve).
    pinned
        (officer id, date, slot id) of ``previous`` that stay as they are (published days).
    change_weight
        Weight of keeping a previous assignment.
    time_limit_s
        Time for the whole week, shared by its days.
    deterministic, seed, workers
        As for the shift engine.

    Returns
    -------
    PostsResult
        The assignment rows, the requirements left short and why, and the models' sizes.
    """
    started = time.perf_counter()
    result = PostsResult()
    intervals = _intervals(on_duty)
    reasons = slot_reasons or {}
    previous = previous or {}
    pinned = pinned or set()
    continuity = max(1, round(policy.weights.continuity * SCALE))
    yesterday: dict[str, set[str]] = {}
    records = _records(rows)
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in records:
        by_day[row["date"]].append(row)
    deployments = {row["date"]: row for row in records if row["kind"] == "full_deployment"}
    days = [day for day, _ in week]
    for position, (day, day_type) in enumerate(week):
        slots = _slots(policy, day, day_type)
        duty = [
            sorted(o for o, spans in intervals.items() if o in members and _spans(spans, slot))
            for slot in slots
        ]
        if not any(duty):
            yesterday = {}
            continue
        needs = _needs(by_day.get(day, []), slots, travel)
        context = _DayContext(
            slots, duty, needs, members, travel, continuity, change_weight, yesterday
        )
        keys = {(o, k): (o, day, slot.id) for k, slot in enumerate(slots) for o in duty[k]}
        day_model = context.prepare(previous, pinned, keys, with_pins=True)
        if deterministic:
            share = time_limit_s / len(days)
        else:
            remaining = time_limit_s - (time.perf_counter() - started)
            share = max(0.05, remaining / (len(days) - position))
        if share < SEARCH_MIN_S and not improvable(day_model):
            status, values = "GREEDY", day_model.greedy
        else:
            context.search(day_model)
            status, values = _solve(
                day_model, share, deterministic=deterministic, seed=seed, workers=workers
            )
        if status == "INFEASIBLE" and any(key in pinned for key in keys.values()):
            # The published posts no longer fit (new leave, a changed place): place them afresh.
            day_model = context.prepare(previous, pinned, keys, with_pins=False)
            context.search(day_model)
            status, values = _solve(
                day_model, share, deterministic=deterministic, seed=seed, workers=workers
            )
        if not values:
            status, values = "GREEDY", day_model.greedy
        result.models += 1
        result.variables += len(day_model.keys)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        chosen = {(o, k): day_model.need(index) for (o, k, index), v in values.items() if v}
        counts: dict[int, int] = defaultdict(int)
        for (officer_id, k), need in chosen.items():
            if (officer_id, k, need.index) not in day_model.companion:
                counts[need.index] += 1
        day_reasons = {(s, skill): r for (d, s, skill), r in reasons.items() if d == day}
        for k, slot_needs in enumerate(needs):
            for need in slot_needs:
                if counts[need.index] < need.count:
                    reason, detail = shortfall_reason(day_model, k, need, chosen, day_reasons)
                    result.short[need.requirement_id] = (counts[need.index], reason, detail)
        result.rows += _day_rows(day, day_model, chosen, deployments.get(day), pinned)
        today: dict[str, set[str]] = defaultdict(set)
        for (officer_id, _), need in chosen.items():
            today[officer_id].add(need.post_id)
        yesterday = dict(today)
    result.wall_time_s = time.perf_counter() - started
    return result
