"""The checks a duty policy passes when it is made, each failure naming its key path.

:func:`validate_policy` raises :class:`geodata.errors.FieldError` whose ``field`` is the key path
as in the policy's TOML file, e.g. ``slots.weekday[2].end``: the slots of each day type cover the
24 hours without gap or overlap, every id and reference is sound, and every number is in range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, get_args

from geodata.roads import LEVELS
from grids._clock import MINUTES_PER_DAY, clock_text, minute_of_day
from grids._toml import fail
from grids.policy_operations import OPERATION_KINDS, EventPost, SpecialOperation
from grids.policy_rules import GuidanceRole, LabourRules
from grids.policy_slots import (
    DAY_TYPES,
    LEADER_SLOT,
    SLOT_KINDS,
    DayType,
    Slot,
    SlotTable,
    patrol_slot_choice,
)

if TYPE_CHECKING:
    from grids.duty_policy import DutyPolicy

__all__ = ["validate_policy"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def _check_id(path: str, value: str) -> None:
    if not _ID.match(value):
        fail(path, f"{value!r} is not an id (letters, digits and _ . : - only)")


def _check_at_least(path: str, value: float, minimum: float) -> None:
    if not math.isfinite(value) or value < minimum:
        fail(path, f"must be at least {minimum:g}, not {value:g}")


def _check_positive(path: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        fail(path, f"must be more than 0, not {value:g}")


def _validate_slots(path: str, slots: tuple[Slot, ...]) -> None:
    if not slots:
        fail(path, "a day type needs at least one slot")
    seen: dict[str, int] = {}
    for index, slot in enumerate(slots):
        where = f"{path}[{index}]"
        _check_id(f"{where}.id", slot.id)
        if slot.id == LEADER_SLOT:
            fail(
                f"{where}.id",
                f"{LEADER_SLOT!r} is the duty leader's 24-hour duty; name the slot otherwise",
            )
        if slot.id in seen:
            fail(f"{where}.id", f"slot id {slot.id!r} is also {path}[{seen[slot.id]}]'s id")
        seen[slot.id] = index
        if slot.kind not in SLOT_KINDS:
            fail(f"{where}.kind", f"{slot.kind!r} is not one of {', '.join(SLOT_KINDS)}")
        if slot.start == slot.end and len(slots) > 1:
            fail(f"{where}.end", f"slot {slot.id!r} starts and ends at {clock_text(slot.end)}")
    if not any(s.kind == "day" for s in slots):
        fail(path, "a day type needs at least one day slot")
    order = sorted(range(len(slots)), key=lambda i: (minute_of_day(slots[i].start), i))
    for position, index in enumerate(order):
        slot = slots[index]
        following_index = order[(position + 1) % len(order)]
        following = slots[following_index]
        to_next = (minute_of_day(following.start) - minute_of_day(slot.start)) % MINUTES_PER_DAY
        if len(slots) == 1:
            to_next = MINUTES_PER_DAY
        if to_next == 0:
            fail(
                f"{path}[{following_index}].start",
                f"slot {following.id!r} starts at {clock_text(following.start)}, like slot "
                f"{slot.id!r}: slots must not overlap",
            )
        if slot.minutes == to_next:
            continue
        if slot.minutes < to_next:
            problem = f"a gap of {to_next - slot.minutes} min"
        else:
            problem = f"an overlap of {slot.minutes - to_next} min"
        fail(
            f"{path}[{index}].end",
            f"slot {slot.id!r} ends at {clock_text(slot.end)} but the next slot "
            f"{following.id!r} starts at {clock_text(following.start)}: {problem}; the slots "
            "of a day type must cover the 24 hours without gap or overlap",
        )


def _validate_slot_refs(
    path: str, slot_ids: tuple[str, ...], slots: SlotTable, day_types: Iterable[DayType]
) -> None:
    if not slot_ids:
        fail(path, "needs at least one slot")
    for index, slot_id in enumerate(slot_ids):
        for day_type in day_types:
            if slot_id not in {s.id for s in slots.for_day_type(day_type)}:
                fail(f"{path}[{index}]", f"{day_type} has no slot {slot_id!r}")


def _validate_day_types(path: str, day_types: tuple[str, ...]) -> None:
    for index, day_type in enumerate(day_types):
        if day_type not in DAY_TYPES:
            fail(f"{path}[{index}]", f"{day_type!r} is not one of {', '.join(DAY_TYPES)}")


def _validate_operation(path: str, op: SpecialOperation, slots: SlotTable) -> None:
    _check_id(f"{path}.id", op.id)
    if op.kind not in OPERATION_KINDS:
        fail(f"{path}.kind", f"{op.kind!r} is not one of {', '.join(OPERATION_KINDS)}")
    _validate_day_types(f"{path}.day_types", op.day_types)
    for index, weekday in enumerate(op.weekdays):
        if not 1 <= weekday <= 7:
            fail(f"{path}.weekdays[{index}]", f"{weekday} is not a weekday 1 (Mon) to 7 (Sun)")
    for index, month in enumerate(op.months):
        if not 1 <= month <= 12:
            fail(f"{path}.months[{index}]", f"{month} is not a month 1 to 12")
    _validate_slot_refs(f"{path}.slots", op.slots, slots, op.day_types or DAY_TYPES)
    _check_at_least(f"{path}.officers", op.officers, 0)
    _check_at_least(f"{path}.assistants", op.assistants, 0)
    if op.officers + op.assistants == 0:
        fail(f"{path}.officers", "an operation needs at least one officer or assistant")
    targets = sum(bool(t) for t in (op.squad_ids, op.zone_ids, op.zone_kind))
    if targets != 1:
        fail(path, "give exactly one of squads, zones or zone_kind")
    for index, squad in enumerate(op.squad_ids):
        _check_id(f"{path}.squads[{index}]", squad)
    _check_at_least(f"{path}.weight", op.weight, 0)


def _validate_event(path: str, event: EventPost, slots: SlotTable) -> None:
    _check_id(f"{path}.id", event.id)
    if event.end_date < event.start_date:
        fail(f"{path}.end_date", f"ends {event.end_date}, before it starts {event.start_date}")
    _validate_slot_refs(f"{path}.slots", event.slots, slots, DAY_TYPES)
    _check_at_least(f"{path}.officers", event.officers, 0)
    _check_at_least(f"{path}.assistants", event.assistants, 0)
    if event.officers + event.assistants == 0:
        fail(f"{path}.officers", "an event post needs at least one officer or assistant")
    if (event.post_id is None) == (event.point is None):
        fail(path, "give exactly one of post_id or point")
    if event.point is not None:
        lon, lat = event.point
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            fail(f"{path}.point", f"({lon}, {lat}) is not a longitude and latitude")
        if event.squad_id is None:
            fail(f"{path}.squad_id", "an event at a point needs the squad that staffs it")
    _check_at_least(f"{path}.weight", event.weight, 0)


def validate_policy(policy: DutyPolicy) -> None:
    """Check ``policy`` (see the module docstring).

    Raises
    ------
    FieldError
        If anything is inconsistent; ``field`` is the key path, e.g. ``slots.weekday[2].end``.
    """
    if policy.version < 1:
        fail("version", f"must be at least 1, not {policy.version}")
    if not policy.name.strip():
        fail("name", "must not be empty")
    for day_type in DAY_TYPES:
        _validate_slots(f"slots.{day_type}", getattr(policy.slots, day_type))
    levels = policy.levels
    _check_at_least("levels.strict.officers", levels.strict.officers, 0)
    _check_positive("levels.controlled.visit_every_hours", levels.controlled.visit_every_hours)
    _check_positive("levels.controlled.route_km", levels.controlled.route_km)
    _check_at_least("levels.controlled.officers_per_route", levels.controlled.officers_per_route, 0)
    for day_type in DAY_TYPES:
        every = levels.controlled.visit_every_hours
        if patrol_slot_choice(policy.day_slots(day_type), every) is None:
            fail(
                "levels.controlled.visit_every_hours",
                f"patrols start at slot starts, and no choice of {day_type} day slots keeps "
                f"visits within {every:g} h of each other: shorten the day slots or allow more "
                "hours",
            )
    _check_at_least("levels.regulated.count", levels.regulated.count, 0)
    if levels.regulated.role not in get_args(GuidanceRole):
        fail("levels.regulated.role", f"{levels.regulated.role!r} is not 'any' or 'officer'")
    roads = [entry.road_name_zh for entry in levels.regulated.windows_by_road]
    for road in roads:
        if not road.strip() or roads.count(road) > 1:
            fail(f"levels.regulated.windows_by_road.{road}", "road names must be non-empty, once")
    ids: set[str] = set()
    for index, op in enumerate(policy.operations):
        _validate_operation(f"operations[{index}]", op, policy.slots)
        if op.id in ids:
            fail(f"operations[{index}].id", f"id {op.id!r} is used twice")
        ids.add(op.id)
    squads: set[str] = set()
    for index, deployment in enumerate(policy.full_deployment):
        path = f"full_deployment[{index}]"
        _check_id(f"{path}.squad", deployment.squad_id)
        if deployment.squad_id in squads:
            fail(f"{path}.squad", f"squad {deployment.squad_id!r} is listed twice")
        squads.add(deployment.squad_id)
        if not deployment.day_types:
            fail(f"{path}.day_types", "needs at least one day type")
        _validate_day_types(f"{path}.day_types", deployment.day_types)
        _check_at_least(f"{path}.weight", deployment.weight, 0)
    for index, event in enumerate(policy.events):
        _validate_event(f"events[{index}]", event, policy.slots)
        if event.id in ids:
            fail(f"events[{index}].id", f"id {event.id!r} is used twice")
        ids.add(event.id)
    _check_at_least("leader.on_duty", policy.leader.on_duty, 0)
    _check_at_least("leader.weight", policy.leader.weight, 0)
    _validate_labour(policy.labour)
    weights = policy.weights
    for level in LEVELS:
        _check_at_least(f"weights.coverage.{level}", weights.coverage.for_level(level), 0)
    if not weights.hotspot_attr.strip():
        fail("weights.hotspot_attr", "must not be empty")
    for name in ("continuity", "territory", "fair_nights", "fair_weekends", "requests"):
        _check_at_least(f"weights.{name}", getattr(weights, name), 0)


def _validate_labour(labour: LabourRules) -> None:
    _check_positive("labour.hours_per_day", labour.hours_per_day)
    if labour.hours_per_day > 24:
        fail("labour.hours_per_day", "a day has 24 hours")
    _check_positive("labour.hours_per_week", labour.hours_per_week)
    if labour.max_hours_per_week < labour.hours_per_week:
        fail(
            "labour.max_hours_per_week",
            f"{labour.max_hours_per_week:g} is less than hours_per_week {labour.hours_per_week:g}",
        )
    if not 0 <= labour.rest_days_per_week <= 7:
        fail("labour.rest_days_per_week", "must be 0 to 7")
    _check_at_least("labour.min_rest_hours", labour.min_rest_hours, 0)
    if labour.min_rest_hours > 24:
        fail("labour.min_rest_hours", "must be at most 24")
    _check_at_least("labour.max_overtime_hours_per_day", labour.max_overtime_hours_per_day, 0)
    _check_at_least("labour.max_overtime_hours_per_month", labour.max_overtime_hours_per_month, 0)
