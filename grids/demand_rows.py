"""The rows of a demand table: their columns and kinds, and the rules that make them.

Each function here adds the requirements of one rule on one day to a :class:`DemandRows` (see
:mod:`grids.demand` for the rules); :func:`grids.demand.demand_for_week` calls them for each day
of a week and orders the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple, get_args

from geopandas import GeoDataFrame

from geodata.errors import FieldError
from geodata.roads import Level
from grids._cells import cell_text, frame_records, natural_key
from grids.demand_posts import PatrolRoute, Post, windows_of
from grids.policy import (
    DayType,
    DutyPolicy,
    EventPost,
    FullDeployment,
    SpecialOperation,
    TimeWindow,
)
from grids.staff import Officer

__all__ = [
    "DAY_TYPE_NAMES_ZH",
    "DEMAND_COLUMNS",
    "DEMAND_KINDS",
    "LEVEL_NAMES_ZH",
    "DemandDay",
    "DemandKind",
    "DemandRole",
    "DemandRows",
    "Staffing",
    "Target",
    "deployment_rows",
    "event_rows",
    "leader_rows",
    "operation_rows",
    "post_rows",
    "zone_targets",
]

DemandKind = Literal[
    "strict_post",
    "patrol",
    "guidance_window",
    "night_check",
    "muck_truck",
    "barbecue",
    "full_deployment",
    "event",
    "leader_duty",
]
DEMAND_KINDS: tuple[DemandKind, ...] = get_args(DemandKind)
DemandRole = Literal["officer", "any", "leader"]

DEMAND_COLUMNS: tuple[str, ...] = (
    "requirement_id",
    "date",
    "day_type",
    "slot_id",
    "start",
    "end",
    "post_id",
    "post_ids",
    "squad_id",
    "role",
    "count",
    "hours",
    "weight",
    "hard",
    "kind",
    "reason_zh",
)
"""The columns of a demand frame, in order.

``post_id`` is the post, patrol route, operation target (``operation@zone`` or
``operation@squad``), event or deployment the requirement is for; ``post_ids`` the posts it
covers, ``;``-separated (empty for operations, deployments and leader duty); ``hours`` the person-
hours it needs (``count`` × its length; a full deployment's members one day shift each).
"""

LEVEL_NAMES_ZH: Mapping[Level, str] = {"strict": "严管", "controlled": "严控", "regulated": "规范"}
DAY_TYPE_NAMES_ZH: Mapping[DayType, str] = {
    "weekday": "工作日",
    "weekend": "周末",
    "holiday": "节假日",
}


class DemandDay(NamedTuple):
    """A day of the week's demand, and its type."""

    date: date
    day_type: DayType


class Target(NamedTuple):
    """What a requirement is for: its kind, its key in the requirement id, its posts and squad."""

    kind: DemandKind
    key: str
    post_id: str
    post_ids: tuple[str, ...]
    squad_id: str | None


class Staffing(NamedTuple):
    """Who a requirement needs: so many ``people`` of ``role``, at ``weight``, hard or soft."""

    role: DemandRole
    people: int
    weight: float
    hard: bool


@dataclass
class DemandRows:
    """The requirements of a week as they are made, under ``policy``."""

    policy: DutyPolicy
    rows: list[dict[str, Any]]

    def add(
        self,
        on: DemandDay,
        slot_id: str | None,
        times: tuple[datetime, datetime],
        target: Target,
        staffing: Staffing,
        *,
        reason_zh: str,
        person_hours: float | None = None,
    ) -> None:
        """Add a requirement (none for no people, but for a full deployment, 0 meaning all)."""
        if staffing.people <= 0 and target.kind != "full_deployment":
            return
        day, day_type = on
        start, end = times
        span = f"{start:%H%M}-{end:%H%M}"
        hours = (end - start).total_seconds() / 3600 if person_hours is None else person_hours
        parts = (day.isoformat(), slot_id or "-", target.kind, target.key, staffing.role, span)
        self.rows.append(
            {
                "requirement_id": "/".join(parts),
                "date": day,
                "day_type": day_type,
                "slot_id": slot_id,
                "start": start,
                "end": end,
                "post_id": target.post_id,
                "post_ids": ";".join(target.post_ids),
                "squad_id": target.squad_id,
                "role": staffing.role,
                "count": staffing.people,
                "hours": staffing.people * hours,
                "weight": staffing.weight,
                "hard": staffing.hard,
                "kind": target.kind,
                "reason_zh": reason_zh,
            }
        )


def _overlaps(
    window: TimeWindow, start: datetime, end: datetime, day: date
) -> list[tuple[datetime, datetime]]:
    """Return the parts of the window's daily occurrences that fall in [start, end)."""
    parts = []
    for offset in (-1, 0, 1):
        window_start, window_end = window.on(day + timedelta(days=offset))
        first, last = max(start, window_start), min(end, window_end)
        if first < last:
            parts.append((first, last))
    return parts


def zone_targets(
    op: SpecialOperation, zones: GeoDataFrame | None
) -> list[tuple[str, str | None, str]]:
    """Return (zone id, squad id, zone name) of each zone the operation covers, by zone id.

    Raises
    ------
    ValueError
        If no zones are given.
    FieldError
        If the zones lack a column, a zone has no squad, or the operation names an unknown zone.
    """
    if zones is None:
        raise ValueError(f"operation {op.id!r} covers zones: pass the zones layer")
    for column in ("id", "kind", "squad_id"):
        if column not in zones.columns:
            raise FieldError(f"the zones have no {column!r} column", field=column)
    targets = []
    found: set[str] = set()
    for row, record in enumerate(frame_records(zones, ("id", "kind", "squad_id", "name_zh")), 1):
        zone_id = cell_text(record.get("id")) or ""
        chosen = (
            zone_id in op.zone_ids if op.zone_ids else cell_text(record.get("kind")) == op.zone_kind
        )
        if not chosen:
            continue
        found.add(zone_id)
        squad = cell_text(record.get("squad_id"))
        if squad is None:
            raise FieldError(
                f"zone {zone_id!r} has no squad to staff operation {op.id!r}",
                row=row,
                field="squad_id",
            )
        targets.append((zone_id, squad, cell_text(record.get("name_zh")) or zone_id))
    missing = [z for z in op.zone_ids if z not in found]
    if missing:
        raise FieldError(
            f"operation {op.id!r} names zone {missing[0]!r}, which is not among the zones",
            field="id",
        )
    return sorted(targets, key=lambda t: natural_key(t[0]))


def _available_members(staff: Sequence[Officer], squad: str, day: date, slot_ids: set[str]) -> int:
    count = 0
    for person in staff:
        if person.squad_id != squad or person.role == "leader" or person.on_leave(day):
            continue
        allowed = person.allowed_slots(day.isoweekday())
        if allowed is None or allowed & slot_ids:
            count += 1
    return count


def post_rows(
    rows: DemandRows, on: DemandDay, posts: Sequence[Post], routes: Sequence[PatrolRoute]
) -> None:
    """Add the requirements of the posts' windows, the strict posts and the patrol routes."""
    policy, (day, day_type) = rows.policy, on
    levels, coverage = policy.levels, policy.weights.coverage
    for slot in policy.slots_for(day_type):
        start, end = slot.on(day)
        for post in posts:
            windows = windows_of(post, policy)
            place = post.road_name_zh or post.id
            target = Target("strict_post", post.id, post.id, (post.id,), post.squad_id)
            weight = coverage.for_level(post.level) * post.hotspot
            if windows:
                role: DemandRole = levels.regulated.role if post.level == "regulated" else "officer"
                count = {
                    "strict": levels.strict.officers,
                    "controlled": 1,
                    "regulated": levels.regulated.count,
                }[post.level]
                hard = {
                    "strict": levels.strict.hard,
                    "controlled": levels.controlled.hard,
                    "regulated": levels.regulated.hard,
                }[post.level]
                for window in windows:
                    for times in _overlaps(window, start, end, day):
                        rows.add(
                            on,
                            slot.id,
                            times,
                            target._replace(kind="guidance_window"),
                            Staffing(role, count, weight, hard),
                            reason_zh=f"{LEVEL_NAMES_ZH[post.level]}岗位 {place}（{post.id}）"
                            f"疏导时段 {window}",
                        )
            elif post.level == "strict" and slot.kind == "day":
                officers = levels.strict.officers
                rows.add(
                    on,
                    slot.id,
                    (start, end),
                    target,
                    Staffing("officer", officers, weight, levels.strict.hard),
                    reason_zh=f"严管岗位 {place}（{post.id}）：白天每个时段至少 "
                    f"{officers} 名执法队员",
                )
    patrol = levels.controlled
    for slot in policy.patrol_slots(day_type):
        for route in routes:
            rows.add(
                on,
                slot.id,
                slot.on(day),
                Target("patrol", route.id, route.id, route.post_ids, route.squad_id),
                Staffing(
                    "officer",
                    patrol.officers_per_route,
                    coverage.controlled * route.hotspot,
                    patrol.hard,
                ),
                reason_zh=f"严控路段巡查 {route.id}（{route.length_m / 1000:.1f} 公里，"
                f"{len(route.post_ids)} 个岗位）：每 {patrol.visit_every_hours:g} 小时至少巡查一次",
            )


def _people_rows(
    rows: DemandRows,
    on: DemandDay,
    slot_ids: Sequence[str],
    target: Target,
    duty: SpecialOperation | EventPost,
    *,
    reason_zh: str,
) -> None:
    """Add the officers and the further people (assistants or officers) ``duty`` needs."""
    day, day_type = on
    for slot_id in slot_ids:
        times = rows.policy.slot(day_type, slot_id).on(day)
        for role, count in (("officer", duty.officers), ("any", duty.assistants)):
            staffing = Staffing(
                "officer" if role == "officer" else "any", count, duty.weight, duty.hard
            )
            rows.add(on, slot_id, times, target, staffing, reason_zh=reason_zh)


def operation_rows(
    rows: DemandRows,
    on: DemandDay,
    op: SpecialOperation,
    targets: Sequence[tuple[str, str | None, str]],
) -> None:
    """Add the requirements of a special operation on its ``targets`` (see :func:`zone_targets`)."""
    if not op.runs_on(*on):
        return
    for target, squad, name in targets:
        key = f"{op.id}@{target}"
        where = Target(op.kind, key, key, (), squad)
        _people_rows(rows, on, op.slots, where, op, reason_zh=f"{op.name_zh}：{name}")


def event_rows(rows: DemandRows, on: DemandDay, event: EventPost, squad: str | None) -> None:
    """Add the requirements of a temporary event post, staffed by ``squad``."""
    post_ids = (event.post_id,) if event.post_id else ()
    where = Target("event", event.id, event.post_id or event.id, post_ids, squad)
    _people_rows(
        rows,
        on,
        event.slots,
        where,
        event,
        reason_zh=f"临时勤务 {event.name_zh}（定人、定岗、定责）",
    )


def deployment_rows(
    rows: DemandRows,
    on: DemandDay,
    deployment: FullDeployment,
    staff: Sequence[Officer] | None,
) -> None:
    """Add a squad's full deployment: a day shift for each available member (0: all of them)."""
    policy, (day, day_type) = rows.policy, on
    day_slots = policy.day_slots(day_type)
    start, end = day_slots[0].on(day)[0], day_slots[-1].on(day)[1]
    shift_hours = min((end - start).total_seconds() / 3600, policy.labour.hours_per_day)
    squad = deployment.squad_id
    available = (
        _available_members(staff, squad, day, {s.id for s in day_slots}) if staff is not None else 0
    )
    rows.add(
        on,
        None,
        (start, end),
        Target("full_deployment", squad, f"full_deployment@{squad}", (), squad),
        Staffing("any", available, deployment.weight, deployment.hard),
        reason_zh=f"{squad} {DAY_TYPE_NAMES_ZH[day_type]}全员上岗（每名在岗队员一个白班）",
        person_hours=shift_hours,
    )


def leader_rows(rows: DemandRows, on: DemandDay) -> None:
    """Add the duty leader's 24-hour duty, district-wide."""
    leader = rows.policy.leader
    start, end = leader.on(on.date)
    rest = "，次日休息）" if leader.rest_day_after else "）"
    rows.add(
        on,
        None,
        (start, end),
        Target("leader_duty", "district", "leader_duty", (), None),
        Staffing("leader", leader.on_duty, leader.weight, leader.hard),
        reason_zh=f"带班领导 24 小时值班（{start:%H:%M} 起{rest}",
    )
