"""Staffing demand: what a week's roster must cover, from the posts and the duty policy.

:func:`demand_for_week` turns the posts layer, a :class:`~grids.policy.DutyPolicy` and a
:class:`~grids.calendar.HolidayCalendar` into one row per requirement: so many people of some role
at some place from some time to some time. The rules (see the policy for their parameters):

- ``strict_post``: a strict post (严管) without windows needs ``levels.strict.officers`` officers in
  every day slot;
- ``patrol``: the controlled posts (严控) of a squad, grouped into routes of at most
  ``levels.controlled.route_km`` (:func:`patrol_routes`), need one patrolling officer per route in
  each patrol slot (:meth:`~grids.policy.DutyPolicy.patrol_slots`);
- ``guidance_window``: a point post with staffing windows (its own ``windows``, or for a regulated
  post those of its road in the policy) needs people in each window; a window that straddles two
  slots gives a row in each, with the exact times. Regulated posts are staffed by ``any`` role
  (an assistant or an officer), strict and controlled ones by officers;
- ``night_check``, ``muck_truck``, ``barbecue``: the special operations, per target;
- ``full_deployment``: every available member of a squad works a day shift; ``count`` is the
  number of members available that day when ``staff`` is given, else 0 (meaning "all");
- ``event``: temporary event posts (定人、定岗、定责);
- ``leader_duty``: the duty leader's 24-hour duty, every day.

Regulated road sections (not points) have no staffing requirement of their own.

Times are naive local times (China Standard Time). A requirement belongs to the date its slot
starts on; night slots end the next morning.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast, get_args

import pandas as pd
from geopandas import GeoDataFrame

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning
from geodata.roads import LEVELS, Level
from grids.calendar import HolidayCalendar
from grids.policy import (
    DayType,
    DutyPolicy,
    EventPost,
    SpecialOperation,
    TimeWindow,
    parse_windows,
)
from grids.staff import Officer

__all__ = [
    "DEMAND_COLUMNS",
    "DEMAND_KINDS",
    "DemandKind",
    "PatrolRoute",
    "demand_for_week",
    "demand_summary",
    "patrol_routes",
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
_KIND_ORDER = {kind: n for n, kind in enumerate(DEMAND_KINDS)}
_ROLE_ORDER = {"leader": 0, "officer": 1, "any": 2}
_POST_COLUMNS = ("id", "kind", "level", "squad_id")
_POST_READ_COLUMNS = (
    *_POST_COLUMNS,
    "road_name_zh",
    "road_id",
    "length_m",
    "windows",
    "attrs",
)


@dataclass(frozen=True)
class _Post:
    id: str
    kind: str
    level: Level
    squad_id: str | None
    road_name_zh: str | None
    road_id: str | None
    length_m: float
    windows: tuple[TimeWindow, ...]
    hotspot: float


@dataclass(frozen=True)
class PatrolRoute:
    """A patrol route: controlled posts of one squad, one officer's patrol in a slot.

    Parameters
    ----------
    id
        ``<squad>/patrol-NN``, numbered from 01 in the order of the squad's posts.
    squad_id
        The squad whose posts these are.
    post_ids
        The posts on the route, in patrol order (road by road, by id).
    length_m
        Their total length in metres.
    hotspot
        The largest hotspot factor among the posts.
    """

    id: str
    squad_id: str
    post_ids: tuple[str, ...]
    length_m: float
    hotspot: float


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    )


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Return the rows of ``frame`` as dicts of those of ``columns`` it has."""
    present = [c for c in columns if c in frame.columns]
    return cast(list[dict[str, Any]], frame[present].to_dict("records"))


def _attrs(value: Any, row: int) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise FieldError("attrs is not a JSON object", row=row, field="attrs") from None
        if isinstance(parsed, dict):
            return parsed
        raise FieldError("attrs is not a JSON object", row=row, field="attrs")
    return {}


def _hotspot(attrs: Mapping[str, Any], key: str, row: int) -> float:
    value = attrs.get(key)
    if value is None:
        return 1.0
    try:
        factor = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        factor = math.nan
    if not math.isfinite(factor) or factor < 0:
        raise FieldError(
            f"the hotspot factor must be a number of at least 0, not {value!r}",
            row=row,
            field=f"attrs.{key}",
        )
    return factor


def _read_posts(posts: GeoDataFrame, policy: DutyPolicy) -> list[_Post]:
    for column in _POST_COLUMNS:
        if column not in posts.columns:
            raise FieldError(f"the posts have no {column!r} column", field=column)
    seen: set[str] = set()
    result = []
    records = _records(posts, _POST_READ_COLUMNS)
    for row, record in enumerate(records, 1):
        post_id = _text(record.get("id"))
        if post_id is None:
            raise FieldError("a post has no id", row=row, field="id")
        if post_id in seen:
            raise DuplicateIdError(
                f"post id {post_id!r} is used more than once", row=row, field="id"
            )
        seen.add(post_id)
        level = _text(record.get("level"))
        if level not in LEVELS:
            raise FieldError(
                f"post {post_id!r}: level {level!r} is not one of {', '.join(LEVELS)}",
                row=row,
                field="level",
            )
        windows_text = _text(record.get("windows"))
        try:
            windows = parse_windows(windows_text) if windows_text else ()
        except ValueError as exc:
            raise FieldError(f"post {post_id!r}: {exc}", row=row, field="windows") from None
        length: Any = record.get("length_m")
        try:
            length_m = float(length) if _text(length) is not None else 0.0
        except (TypeError, ValueError):
            length_m = math.nan
        if not math.isfinite(length_m) or length_m < 0:
            raise FieldError(f"post {post_id!r}: bad length {length!r}", row=row, field="length_m")
        attrs = _attrs(record.get("attrs"), row)
        result.append(
            _Post(
                id=post_id,
                kind=_text(record.get("kind")) or "segment",
                level=level,
                squad_id=_text(record.get("squad_id")),
                road_name_zh=_text(record.get("road_name_zh")),
                road_id=_text(record.get("road_id")),
                length_m=length_m,
                windows=windows,
                hotspot=_hotspot(attrs, policy.weights.hotspot_attr, row),
            )
        )
    return result


def _windows_of(post: _Post, policy: DutyPolicy) -> tuple[TimeWindow, ...]:
    if post.windows:
        return post.windows
    if post.level == "regulated" and post.kind == "point":
        return policy.levels.regulated.windows_for_road(post.road_name_zh)
    return ()


def _routes(posts: Iterable[_Post], policy: DutyPolicy) -> list[PatrolRoute]:
    by_squad: dict[str, list[_Post]] = {}
    for post in posts:
        if post.level == "controlled" and not post.windows and post.squad_id is not None:
            by_squad.setdefault(post.squad_id, []).append(post)
    limit_m = policy.levels.controlled.route_km * 1000
    routes: list[PatrolRoute] = []
    for squad in sorted(by_squad):
        ordered = sorted(
            by_squad[squad],
            key=lambda p: (p.road_name_zh or p.road_id or "", _natural(p.id)),
        )
        groups: list[list[_Post]] = []
        for post in ordered:
            if groups and sum(p.length_m for p in groups[-1]) + post.length_m <= limit_m:
                groups[-1].append(post)
            else:
                groups.append([post])
        routes += [
            PatrolRoute(
                id=f"{squad}/patrol-{n:02d}",
                squad_id=squad,
                post_ids=tuple(p.id for p in group),
                length_m=sum(p.length_m for p in group),
                hotspot=max(p.hotspot for p in group),
            )
            for n, group in enumerate(groups, 1)
        ]
    return routes


def patrol_routes(
    posts: GeoDataFrame, policy: DutyPolicy, *, squads: Iterable[str] | None = None
) -> list[PatrolRoute]:
    """Return the patrol routes of the controlled posts, by squad.

    The controlled posts of a squad (those without staffing windows) are taken road by road
    (by ``road_name_zh``, then ``road_id``) and by id (numbers in ids in numeric order), and
    packed in that order into routes of at most ``policy.levels.controlled.route_km``; a post
    longer than that is a route of its own. Posts without a squad are left out.

    Parameters
    ----------
    posts
        The posts layer (``id``, ``kind``, ``level``, ``squad_id``, ``length_m``, ``road_name_zh``,
        ``road_id``, ``windows``, ``attrs``).
    policy
        The duty policy.
    squads
        Only the routes of these squads; all when None.

    Raises
    ------
    FieldError
        If a required column is missing or a value is wrong (level, windows, hotspot factor).
    DuplicateIdError
        If two posts have the same id.
    """
    wanted = None if squads is None else set(squads)
    routes = _routes(_read_posts(posts, policy), policy)
    return [r for r in routes if wanted is None or r.squad_id in wanted]


class _Day(NamedTuple):
    date: date
    day_type: DayType


@dataclass
class _Rows:
    """The requirements of a week as they are made, under ``policy``."""

    policy: DutyPolicy
    rows: list[dict[str, Any]]

    def add(
        self,
        on: _Day,
        *,
        slot_id: str | None,
        start: datetime,
        end: datetime,
        kind: DemandKind,
        key: str,
        post_id: str,
        post_ids: Sequence[str],
        squad_id: str | None,
        role: DemandRole,
        count: int,
        weight: float,
        hard: bool,
        reason_zh: str,
        person_hours: float | None = None,
    ) -> None:
        if count <= 0 and kind != "full_deployment":
            return
        day, day_type = on
        span = f"{start:%H%M}-{end:%H%M}"
        hours = (end - start).total_seconds() / 3600 if person_hours is None else person_hours
        self.rows.append(
            {
                "requirement_id": "/".join(
                    (day.isoformat(), slot_id or "-", kind, key, role, span)
                ),
                "date": day,
                "day_type": day_type,
                "slot_id": slot_id,
                "start": start,
                "end": end,
                "post_id": post_id,
                "post_ids": ";".join(post_ids),
                "squad_id": squad_id,
                "role": role,
                "count": count,
                "hours": count * hours,
                "weight": weight,
                "hard": hard,
                "kind": kind,
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


def _zone_targets(
    op: SpecialOperation, zones: GeoDataFrame | None
) -> list[tuple[str, str | None, str]]:
    """Return (zone id, squad id, zone name) of each zone the operation covers."""
    if zones is None:
        raise ValueError(f"operation {op.id!r} covers zones: pass the zones layer")
    for column in ("id", "kind", "squad_id"):
        if column not in zones.columns:
            raise FieldError(f"the zones have no {column!r} column", field=column)
    targets = []
    found: set[str] = set()
    for row, record in enumerate(_records(zones, ("id", "kind", "squad_id", "name_zh")), 1):
        zone_id = _text(record.get("id")) or ""
        chosen = (
            zone_id in op.zone_ids if op.zone_ids else _text(record.get("kind")) == op.zone_kind
        )
        if not chosen:
            continue
        found.add(zone_id)
        squad = _text(record.get("squad_id"))
        if squad is None:
            raise FieldError(
                f"zone {zone_id!r} has no squad to staff operation {op.id!r}",
                row=row,
                field="squad_id",
            )
        targets.append((zone_id, squad, _text(record.get("name_zh")) or zone_id))
    missing = [z for z in op.zone_ids if z not in found]
    if missing:
        raise FieldError(
            f"operation {op.id!r} names zone {missing[0]!r}, which is not among the zones",
            field="id",
        )
    return sorted(targets, key=lambda t: _natural(t[0]))


def _available_members(staff: Sequence[Officer], squad: str, day: date, slot_ids: set[str]) -> int:
    count = 0
    for person in staff:
        if person.squad_id != squad or person.role == "leader" or person.on_leave(day):
            continue
        allowed = person.allowed_slots(day.isoweekday())
        if allowed is None or allowed & slot_ids:
            count += 1
    return count


def _post_rows(
    rows: _Rows, on: _Day, posts: Sequence[_Post], routes: Sequence[PatrolRoute]
) -> None:
    policy, (day, day_type) = rows.policy, on
    levels, coverage = policy.levels, policy.weights.coverage
    for slot in policy.slots_for(day_type):
        start, end = slot.on(day)
        for post in posts:
            windows = _windows_of(post, policy)
            place = post.road_name_zh or post.id
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
                    for first, last in _overlaps(window, start, end, day):
                        rows.add(
                            on,
                            slot_id=slot.id,
                            start=first,
                            end=last,
                            kind="guidance_window",
                            key=post.id,
                            post_id=post.id,
                            post_ids=(post.id,),
                            squad_id=post.squad_id,
                            role=role,
                            count=count,
                            weight=coverage.for_level(post.level) * post.hotspot,
                            hard=hard,
                            reason_zh=f"{LEVEL_NAMES_ZH[post.level]}岗位 {place}（{post.id}）"
                            f"疏导时段 {window}",
                        )
            elif post.level == "strict" and slot.kind == "day":
                rows.add(
                    on,
                    slot_id=slot.id,
                    start=start,
                    end=end,
                    kind="strict_post",
                    key=post.id,
                    post_id=post.id,
                    post_ids=(post.id,),
                    squad_id=post.squad_id,
                    role="officer",
                    count=levels.strict.officers,
                    weight=coverage.strict * post.hotspot,
                    hard=levels.strict.hard,
                    reason_zh=f"严管岗位 {place}（{post.id}）：白天每个时段至少 "
                    f"{levels.strict.officers} 名执法队员",
                )
    patrol = levels.controlled
    for slot in policy.patrol_slots(day_type):
        start, end = slot.on(day)
        for route in routes:
            rows.add(
                on,
                slot_id=slot.id,
                start=start,
                end=end,
                kind="patrol",
                key=route.id,
                post_id=route.id,
                post_ids=route.post_ids,
                squad_id=route.squad_id,
                role="officer",
                count=patrol.officers_per_route,
                weight=coverage.controlled * route.hotspot,
                hard=patrol.hard,
                reason_zh=f"严控路段巡查 {route.id}（{route.length_m / 1000:.1f} 公里，"
                f"{len(route.post_ids)} 个岗位）：每 {patrol.visit_every_hours:g} 小时至少巡查一次",
            )


def _operation_rows(
    rows: _Rows, on: _Day, op: SpecialOperation, targets: Sequence[tuple[str, str | None, str]]
) -> None:
    policy, (day, day_type) = rows.policy, on
    if not op.runs_on(day, day_type):
        return
    for slot_id in op.slots:
        start, end = policy.slot(day_type, slot_id).on(day)
        for target, squad, name in targets:
            for role, count in (("officer", op.officers), ("any", op.assistants)):
                rows.add(
                    on,
                    slot_id=slot_id,
                    start=start,
                    end=end,
                    kind=op.kind,
                    key=f"{op.id}@{target}",
                    post_id=f"{op.id}@{target}",
                    post_ids=(),
                    squad_id=squad,
                    role="officer" if role == "officer" else "any",
                    count=count,
                    weight=op.weight,
                    hard=op.hard,
                    reason_zh=f"{op.name_zh}：{name}",
                )


def _event_rows(rows: _Rows, on: _Day, event: EventPost, squad: str | None) -> None:
    policy, (day, day_type) = rows.policy, on
    for slot_id in event.slots:
        start, end = policy.slot(day_type, slot_id).on(day)
        for role, count in (("officer", event.officers), ("any", event.assistants)):
            rows.add(
                on,
                slot_id=slot_id,
                start=start,
                end=end,
                kind="event",
                key=event.id,
                post_id=event.post_id or event.id,
                post_ids=(event.post_id,) if event.post_id else (),
                squad_id=squad,
                role="officer" if role == "officer" else "any",
                count=count,
                weight=event.weight,
                hard=event.hard,
                reason_zh=f"临时勤务 {event.name_zh}（定人、定岗、定责）",
            )


def _empty_demand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "requirement_id": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype=object),
            "day_type": pd.Series([], dtype="str"),
            "slot_id": pd.Series([], dtype="str"),
            "start": pd.Series([], dtype="datetime64[us]"),
            "end": pd.Series([], dtype="datetime64[us]"),
            "post_id": pd.Series([], dtype="str"),
            "post_ids": pd.Series([], dtype="str"),
            "squad_id": pd.Series([], dtype="str"),
            "role": pd.Series([], dtype="str"),
            "count": pd.Series([], dtype="int64"),
            "hours": pd.Series([], dtype="float64"),
            "weight": pd.Series([], dtype="float64"),
            "hard": pd.Series([], dtype="bool"),
            "kind": pd.Series([], dtype="str"),
            "reason_zh": pd.Series([], dtype="str"),
        }
    )


def demand_for_week(
    posts: GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    week: str,
    *,
    squads: Sequence[str],
    zones: GeoDataFrame | None = None,
    staff: Sequence[Officer] | None = None,
) -> pd.DataFrame:
    """Return the requirements of the ISO week ``week`` for ``squads`` (see the module docstring).

    Parameters
    ----------
    posts
        The posts layer.
    policy
        The duty policy.
    calendar
        The holiday calendar, for each day's type.
    week
        An ISO week, ``2026-W49``.
    squads
        The squads to make demand for; posts, routes, operation targets, deployments and events
        of other squads are left out. Leader duty is district-wide and always included.
    zones
        The zones layer (``id``, ``kind``, ``squad_id``, ``name_zh``); needed when an operation
        covers zones.
    staff
        The people, to count the members available for a full deployment; without them a full
        deployment's ``count`` is 0, meaning "every available member".

    Returns
    -------
    pandas.DataFrame
        One row per requirement with the columns :data:`DEMAND_COLUMNS`, ordered by date, start,
        end, kind, squad, post and role. ``requirement_id`` is
        ``date/slot/kind/post-or-target/role/HHMM-HHMM``, stable for the same inputs.

    Raises
    ------
    ValueError
        If ``week`` is not an ISO week, the calendar does not cover its dates, or an operation
        covers zones and no zones are given.
    FieldError
        If the posts or zones lack a column or have a bad value, or an event names an unknown
        post.
    DuplicateIdError
        If two posts have the same id.
    """
    days = calendar.week_dates(week)
    day_types = calendar.day_types(days)
    wanted = set(squads)
    all_posts = _read_posts(posts, policy)
    homeless = [p.id for p in all_posts if p.squad_id is None]
    if homeless:
        warnings.warn(
            f"{len(homeless)} post(s) have no squad and get no demand: "
            f"{', '.join(homeless[:5])}{' …' if len(homeless) > 5 else ''}",
            GeodataWarning,
            stacklevel=2,
        )
    squad_posts = [p for p in all_posts if p.squad_id in wanted]
    routes = _routes(squad_posts, policy)
    post_squads = {p.id: p.squad_id for p in all_posts}
    targets: dict[str, list[tuple[str, str | None, str]]] = {}
    for op in policy.operations:
        found = [(s, s, s) for s in op.squad_ids] if op.squad_ids else _zone_targets(op, zones)
        targets[op.id] = [t for t in found if t[1] in wanted]
    event_squads: dict[str, str | None] = {}
    for event in policy.events:
        if event.post_id is not None and event.post_id not in post_squads:
            raise FieldError(
                f"event {event.id!r} names post {event.post_id!r}, which is not among the posts",
                field="post_id",
            )
        event_squads[event.id] = event.squad_id or (
            post_squads[event.post_id] if event.post_id else None
        )
    rows = _Rows(policy, [])
    for day, day_type in zip(days, day_types, strict=True):
        on = _Day(day, day_type)
        _post_rows(rows, on, squad_posts, routes)
        for op in policy.operations:
            _operation_rows(rows, on, op, targets[op.id])
        day_slots = policy.day_slots(day_type)
        for deployment in policy.full_deployment:
            if day_type not in deployment.day_types or deployment.squad_id not in wanted:
                continue
            start, end = day_slots[0].on(day)[0], day_slots[-1].on(day)[1]
            shift_hours = min((end - start).total_seconds() / 3600, policy.labour.hours_per_day)
            available = (
                _available_members(staff, deployment.squad_id, day, {s.id for s in day_slots})
                if staff is not None
                else 0
            )
            rows.add(
                on,
                slot_id=None,
                start=start,
                end=end,
                kind="full_deployment",
                key=deployment.squad_id,
                post_id=f"full_deployment@{deployment.squad_id}",
                post_ids=(),
                squad_id=deployment.squad_id,
                role="any",
                count=available,
                weight=deployment.weight,
                hard=deployment.hard,
                reason_zh=f"{deployment.squad_id} {DAY_TYPE_NAMES_ZH[day_type]}全员上岗"
                "（每名在岗队员一个白班）",
                person_hours=shift_hours,
            )
        for event in policy.events:
            squad = event_squads[event.id]
            if event.start_date <= day <= event.end_date and squad in wanted:
                _event_rows(rows, on, event, squad)
        leader = policy.leader
        start, end = leader.on(day)
        rows.add(
            on,
            slot_id=None,
            start=start,
            end=end,
            kind="leader_duty",
            key="district",
            post_id="leader_duty",
            post_ids=(),
            squad_id=None,
            role="leader",
            count=leader.on_duty,
            weight=leader.weight,
            hard=leader.hard,
            reason_zh=f"带班领导 24 小时值班（{start:%H:%M} 起"
            + ("，次日休息）" if leader.rest_day_after else "）"),
        )
    if not rows.rows:
        return _empty_demand()
    frame = pd.DataFrame(rows.rows, columns=list(DEMAND_COLUMNS))
    order = sorted(
        range(len(frame)),
        key=lambda i: (
            rows.rows[i]["date"],
            rows.rows[i]["start"],
            rows.rows[i]["end"],
            _KIND_ORDER[rows.rows[i]["kind"]],
            _natural(rows.rows[i]["squad_id"] or ""),
            _natural(rows.rows[i]["post_id"]),
            _ROLE_ORDER[rows.rows[i]["role"]],
        ),
    )
    frame = frame.iloc[order].reset_index(drop=True)
    duplicated = frame["requirement_id"][frame["requirement_id"].duplicated()]
    if len(duplicated):
        raise DuplicateIdError(f"requirement {duplicated.iloc[0]!r} is made twice")
    empty = _empty_demand()
    return frame.astype({column: empty[column].dtype for column in DEMAND_COLUMNS})


def demand_summary(demand: pd.DataFrame) -> pd.DataFrame:
    """Return the person-hours and people needed by squad, role and day.

    Parameters
    ----------
    demand
        A frame from :func:`demand_for_week`.

    Returns
    -------
    pandas.DataFrame
        Columns ``squad_id`` (empty for district-wide leader duty), ``role``, ``date``,
        ``requirements`` (rows), ``people`` (sum of ``count``) and ``hours`` (person-hours), ordered
        by squad, role and date.
    """
    keys = ["squad_id", "role", "date"]
    if demand.empty:
        return pd.DataFrame(
            {
                "squad_id": pd.Series([], dtype="str"),
                "role": pd.Series([], dtype="str"),
                "date": pd.Series([], dtype=object),
                "requirements": pd.Series([], dtype="int64"),
                "people": pd.Series([], dtype="int64"),
                "hours": pd.Series([], dtype="float64"),
            }
        )
    table = demand.assign(squad_id=demand["squad_id"].fillna(""))
    summary = (
        table.groupby(keys, sort=True)
        .agg(
            requirements=("requirement_id", "size"),
            people=("count", "sum"),
            hours=("hours", "sum"),
        )
        .reset_index()
    )
    return summary.astype({"requirements": "int64", "people": "int64", "hours": "float64"})
