"""Duty policy (值班规则): the slots of a duty day and what must be staffed in them.

A :class:`DutyPolicy` says how a day is cut into slots (值班时间段) for each day type (weekday,
weekend, holiday), what each management level of post needs (strict posts an officer in every day
slot, controlled posts a patrol at least every few hours, guidance points staffed in their
windows), which special operations, full deployments and temporary event posts there are, how the
duty leader (带班领导) rotates, the labour rules a roster must keep, and the soft weights of the
roster's objective. :mod:`grids.demand` turns a policy, the posts and a week into requirements.

Policies are read from and written to TOML (:func:`load_policy`, :func:`policy_to_toml`); every
object is frozen and checked when it is made, so a policy in hand is a valid one. A policy carries
a ``version`` that :meth:`DutyPolicy.revised` bumps on every change and a content
:meth:`~DutyPolicy.fingerprint`, so a roster can record the rules it was made under.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, NoReturn, cast, get_args

from geodata.errors import FieldError, InputFileError
from geodata.roads import LEVELS, Level

__all__ = [
    "DAY_TYPES",
    "OPERATION_KINDS",
    "DayType",
    "DutyPolicy",
    "EventPost",
    "FullDeployment",
    "GuidanceRule",
    "LabourRules",
    "LeaderDuty",
    "LevelRules",
    "LevelWeights",
    "OperationKind",
    "PatrolRule",
    "RoadWindows",
    "Slot",
    "SlotTable",
    "SoftWeights",
    "SpecialOperation",
    "StrictRule",
    "TimeWindow",
    "huiji_default_policy",
    "load_policy",
    "parse_clock",
    "parse_windows",
    "policy_as_dict",
    "policy_from_toml",
    "policy_to_toml",
]

DayType = Literal["weekday", "weekend", "holiday"]
DAY_TYPES: tuple[DayType, ...] = get_args(DayType)
SlotKind = Literal["day", "night"]
SLOT_KINDS: tuple[SlotKind, ...] = get_args(SlotKind)
OperationKind = Literal["night_check", "muck_truck", "barbecue"]
OPERATION_KINDS: tuple[OperationKind, ...] = get_args(OperationKind)
"""Special operations: night checks (夜查), muck-truck routes (渣土车), barbecue (露天烧烤)."""
GuidanceRole = Literal["any", "officer"]

MINUTES_PER_DAY = 24 * 60
HUIJI_POLICY_FILE = "huiji_duty_policy.toml"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(text: str) -> time:
    """Return the time of day written ``HH:MM`` (``24:00`` is midnight at the end of a day).

    Raises
    ------
    ValueError
        If ``text`` is not a time of day.
    """
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return time(hour, minute)


def _clock_text(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


def _span_minutes(start: time, end: time) -> int:
    """Return the minutes from ``start`` to ``end``; an end at or before the start is next day."""
    return (_minute_of_day(end) - _minute_of_day(start)) % MINUTES_PER_DAY or MINUTES_PER_DAY


@dataclass(frozen=True)
class TimeWindow:
    """A daily window of time, such as a guidance point's opening hours; may cross midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """Return the window written ``HH:MM-HH:MM``.

        Raises
        ------
        ValueError
            If ``text`` is not a window, or starts and ends at the same time.
        """
        parts = re.split(r"\s*[-–~～至]\s*", text.strip())
        if len(parts) != 2:
            raise ValueError(f"{text!r} is not a time window HH:MM-HH:MM")
        window = cls(parse_clock(parts[0]), parse_clock(parts[1]))
        if window.start == window.end:
            raise ValueError(f"{text!r} starts and ends at the same time")
        return window

    @property
    def minutes(self) -> int:
        """Return the window's length in minutes."""
        return _span_minutes(self.start, self.end)

    def on(self, day: date) -> tuple[datetime, datetime]:
        """Return the window's start and end on ``day`` (the end may be on the next day)."""
        start = datetime.combine(day, self.start)
        return start, start + timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        return f"{_clock_text(self.start)}-{_clock_text(self.end)}"


def parse_windows(text: str) -> tuple[TimeWindow, ...]:
    """Return the windows of a ``;``-separated list such as ``11:00-13:30;17:00-21:00``.

    Raises
    ------
    ValueError
        If a part is not a window.
    """
    return tuple(TimeWindow.parse(part) for part in re.split(r"[;；,，]", text) if part.strip())


@dataclass(frozen=True)
class Slot:
    """A duty slot (值班时间段): a part of the duty day, the unit a roster is made of.

    Parameters
    ----------
    id
        Short identifier, unique within a day type (``early``, ``morning``, ``night``, …).
    name_zh, name_en
        Names for planners: ``早市`` / ``Early market``.
    start, end
        Times of day; a slot whose end is not after its start ends on the next day.
    kind
        ``day`` or ``night``: strict posts and patrols are staffed in day slots only.
    """

    id: str
    name_zh: str
    name_en: str
    start: time
    end: time
    kind: SlotKind = "day"

    @property
    def minutes(self) -> int:
        """Return the slot's length in minutes."""
        return _span_minutes(self.start, self.end)

    @property
    def hours(self) -> float:
        """Return the slot's length in hours."""
        return self.minutes / 60

    @property
    def crosses_midnight(self) -> bool:
        """Return whether the slot ends on the day after it starts."""
        return _minute_of_day(self.start) + self.minutes > MINUTES_PER_DAY

    def on(self, day: date) -> tuple[datetime, datetime]:
        """Return the slot's start and end on ``day`` (a night slot ends the next morning)."""
        start = datetime.combine(day, self.start)
        return start, start + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class SlotTable:
    """The slots of each day type, in the order the policy lists them."""

    weekday: tuple[Slot, ...]
    weekend: tuple[Slot, ...]
    holiday: tuple[Slot, ...]

    def for_day_type(self, day_type: DayType) -> tuple[Slot, ...]:
        """Return the slots of ``day_type`` in time-of-day order."""
        slots: tuple[Slot, ...] = getattr(self, day_type)
        return tuple(sorted(slots, key=lambda s: _minute_of_day(s.start)))


@dataclass(frozen=True)
class StrictRule:
    """Strict posts (严管): ``officers`` enforcement officers on the post in every day slot."""

    officers: int = 1
    hard: bool = False


@dataclass(frozen=True)
class PatrolRule:
    """Controlled posts (严控): visited by a patrol at least every ``visit_every_hours``.

    The controlled posts of a squad are grouped into patrol routes of at most ``route_km`` of
    road each. A route needs ``officers_per_route`` patrolling officer in each patrol slot. Patrols
    are timed from slot starts: the patrol slots of a day are the fewest day slots such that the
    first starts within ``visit_every_hours`` of the first day slot's start, each next one within
    ``visit_every_hours`` of the one before, and the last day slot ends within
    ``visit_every_hours`` of the last patrol's start (see :meth:`DutyPolicy.patrol_slots`).
    """

    visit_every_hours: float = 4.0
    route_km: float = 8.0
    officers_per_route: int = 1
    hard: bool = False


@dataclass(frozen=True)
class RoadWindows:
    """The staffing windows of the guidance points on a road that has them (英才街 …)."""

    road_name_zh: str
    windows: tuple[TimeWindow, ...]


@dataclass(frozen=True)
class GuidanceRule:
    """Regulated posts (规范): guidance points (疏导点) staffed in their windows.

    A point post staffs its own ``windows`` when it has them; otherwise those of its road in
    ``windows_by_road``. ``count`` people of ``role`` are needed: ``any`` means an assistant
    (劝导员) or an officer.
    """

    count: int = 1
    role: GuidanceRole = "any"
    hard: bool = False
    windows_by_road: tuple[RoadWindows, ...] = ()

    def windows_for_road(self, road_name_zh: str | None) -> tuple[TimeWindow, ...]:
        """Return the windows of the guidance points on ``road_name_zh`` (none if not listed)."""
        for entry in self.windows_by_road:
            if entry.road_name_zh == road_name_zh:
                return entry.windows
        return ()


@dataclass(frozen=True)
class LevelRules:
    """What each management level of post needs."""

    strict: StrictRule = field(default_factory=StrictRule)
    controlled: PatrolRule = field(default_factory=PatrolRule)
    regulated: GuidanceRule = field(default_factory=GuidanceRule)


@dataclass(frozen=True)
class SpecialOperation:
    """A special operation: night checks (夜查), muck-truck routes (渣土车), barbecue (露天烧烤).

    The operation runs on the days that match every filter given (``day_types``, ISO
    ``weekdays`` 1 = Monday … 7 = Sunday, ``months``; none given = every day), in each of its
    ``slots``, once per target: each squad of ``squad_ids``, or each zone of ``zone_ids`` or of
    kind ``zone_kind`` (staffed by the zone's squad). Each target needs ``officers`` enforcement
    officers and ``assistants`` further people who may be assistants or officers.
    """

    id: str
    name_zh: str
    kind: OperationKind
    slots: tuple[str, ...]
    officers: int = 0
    assistants: int = 0
    name_en: str = ""
    day_types: tuple[DayType, ...] = ()
    weekdays: tuple[int, ...] = ()
    months: tuple[int, ...] = ()
    squad_ids: tuple[str, ...] = ()
    zone_ids: tuple[str, ...] = ()
    zone_kind: str | None = None
    hard: bool = True
    weight: float = 50.0

    def runs_on(self, day: date, day_type: DayType) -> bool:
        """Return whether the operation runs on ``day``, a day of type ``day_type``."""
        return (
            (not self.day_types or day_type in self.day_types)
            and (not self.weekdays or day.isoweekday() in self.weekdays)
            and (not self.months or day.month in self.months)
        )


@dataclass(frozen=True)
class FullDeployment:
    """Every available member of ``squad_id`` works a day shift on days of ``day_types``."""

    squad_id: str
    day_types: tuple[DayType, ...]
    hard: bool = True
    weight: float = 50.0


@dataclass(frozen=True)
class EventPost:
    """A temporary event post (定人、定岗、定责) staffed in ``slots`` from start to end date.

    The post is an existing post (``post_id``, whose squad staffs it unless ``squad_id`` says
    otherwise) or a point (``point``, longitude and latitude in EPSG:4326, staffed by
    ``squad_id``).
    """

    id: str
    name_zh: str
    start_date: date
    end_date: date
    slots: tuple[str, ...]
    officers: int = 1
    assistants: int = 0
    name_en: str = ""
    post_id: str | None = None
    point: tuple[float, float] | None = None
    squad_id: str | None = None
    hard: bool = True
    weight: float = 100.0

    def dates(self) -> list[date]:
        """Return the event's days, first to last."""
        count = (self.end_date - self.start_date).days + 1
        return [self.start_date + timedelta(days=n) for n in range(count)]


@dataclass(frozen=True)
class LeaderDuty:
    """The duty leader (带班领导): ``on_duty`` leaders on 24 h duty every day, in rotation.

    A leader on duty is on call for the 24 hours from ``handover`` on that day to ``handover`` the
    next day; with ``rest_day_after`` the leader has the following day off.
    """

    on_duty: int = 1
    handover: time = time(6, 0)
    rest_day_after: bool = True
    hard: bool = True
    weight: float = 1000.0

    def on(self, day: date) -> tuple[datetime, datetime]:
        """Return the start and end of the leader duty that starts on ``day``."""
        start = datetime.combine(day, self.handover)
        return start, start + timedelta(days=1)


@dataclass(frozen=True)
class LabourRules:
    """Working-time limits of a roster (PRC Labour Law 《中华人民共和国劳动法》).

    Parameters
    ----------
    hours_per_day
        Regular hours a day: 8 (art. 36).
    hours_per_week
        Regular hours a week: 40 under the State Council's Regulation on Working Hours of
        Employees (1995), which tightened the 44 of art. 36.
    max_hours_per_week
        The most any week may hold without overtime: 44 (art. 36).
    rest_days_per_week
        At least one day off a week (art. 38).
    min_rest_hours
        Least rest between two shifts of one person: a house rule (the Labour Law sets none).
    overtime_allowed
        Whether a roster may plan overtime at all; off by default.
    max_overtime_hours_per_day, max_overtime_hours_per_month
        Overtime limits when allowed: at most 3 hours a day and 36 a month (art. 41).
    """

    hours_per_day: float = 8.0
    hours_per_week: float = 40.0
    max_hours_per_week: float = 44.0
    rest_days_per_week: int = 1
    min_rest_hours: float = 11.0
    overtime_allowed: bool = False
    max_overtime_hours_per_day: float = 3.0
    max_overtime_hours_per_month: float = 36.0


@dataclass(frozen=True)
class LevelWeights:
    """Weight of a unit of unmet coverage at each management level."""

    strict: float = 100.0
    controlled: float = 30.0
    regulated: float = 10.0

    def for_level(self, level: Level) -> float:
        """Return the weight of ``level``."""
        return float(getattr(self, level))


@dataclass(frozen=True)
class SoftWeights:
    """The soft terms of a roster's objective.

    Parameters
    ----------
    coverage
        Weight of an unmet requirement by level of post; multiplied by the post's hotspot factor,
        the number in ``posts.attrs[hotspot_attr]`` (1 where absent).
    hotspot_attr
        The key of a post's ``attrs`` holding its hotspot factor.
    continuity
        Reward for the same officer on the same post as the day before (定人定岗).
    territory
        Penalty for a shift outside one's own squad's territory.
    fair_nights, fair_weekends
        Penalty for each night shift, weekend or holiday shift above an even share.
    requests
        Weight of an officer's request (multiplied by the request's own weight).
    """

    coverage: LevelWeights = field(default_factory=LevelWeights)
    hotspot_attr: str = "hotspot"
    continuity: float = 5.0
    territory: float = 20.0
    fair_nights: float = 10.0
    fair_weekends: float = 10.0
    requests: float = 1.0


@dataclass(frozen=True)
class DutyPolicy:
    """The duty policy of a bureau (see the module docstring); checked when made.

    Raises
    ------
    FieldError
        If anything is inconsistent; ``field`` is the key path as in the TOML file, e.g.
        ``slots.weekday[2].end``.
    """

    version: int
    name: str
    slots: SlotTable
    levels: LevelRules = field(default_factory=LevelRules)
    operations: tuple[SpecialOperation, ...] = ()
    full_deployment: tuple[FullDeployment, ...] = ()
    events: tuple[EventPost, ...] = ()
    leader: LeaderDuty = field(default_factory=LeaderDuty)
    labour: LabourRules = field(default_factory=LabourRules)
    weights: SoftWeights = field(default_factory=SoftWeights)
    description: str = ""

    def __post_init__(self) -> None:
        _validate(self)

    def slots_for(self, day_type: DayType) -> tuple[Slot, ...]:
        """Return the slots of ``day_type`` in time-of-day order."""
        return self.slots.for_day_type(day_type)

    def slot(self, day_type: DayType, slot_id: str) -> Slot:
        """Return the slot ``slot_id`` of ``day_type``.

        Raises
        ------
        KeyError
            If the day type has no such slot.
        """
        for slot in self.slots_for(day_type):
            if slot.id == slot_id:
                return slot
        raise KeyError(f"{day_type} has no slot {slot_id!r}")

    def day_slots(self, day_type: DayType) -> tuple[Slot, ...]:
        """Return the day slots of ``day_type`` in time-of-day order."""
        return tuple(s for s in self.slots_for(day_type) if s.kind == "day")

    def patrol_slots(self, day_type: DayType) -> tuple[Slot, ...]:
        """Return the day slots of ``day_type`` in which controlled posts are patrolled.

        See :class:`PatrolRule`; with the Huiji slots and 4 hours these are the 08–12, 12–15,
        15–18 and 18–22 slots.

        Raises
        ------
        ValueError
            If no choice of slot starts keeps visits within ``visit_every_hours`` of each other.
        """
        chosen = _patrol_slots(self.day_slots(day_type), self.levels.controlled.visit_every_hours)
        if chosen is None:
            raise ValueError(
                f"no patrol timing keeps {day_type} visits within "
                f"{self.levels.controlled.visit_every_hours:g} h"
            )
        return chosen

    def fingerprint(self) -> str:
        """Return the SHA-256 of the policy's content, its version left out.

        Two policies with the same rules have the same fingerprint whatever their versions and
        however their files are laid out.
        """
        content = _plain(dataclasses.asdict(self))
        content.pop("version")
        text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def revised(self, **changes: Any) -> DutyPolicy:
        """Return the policy with ``changes`` made and the version bumped by one.

        Raises
        ------
        FieldError
            If the changed policy is not valid.
        """
        return replace(self, version=self.version + 1, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, time):
        return _clock_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _patrol_slots(day_slots: tuple[Slot, ...], every_hours: float) -> tuple[Slot, ...] | None:
    """Return the fewest day slots whose starts keep visits ``every_hours`` apart, or None."""
    if not day_slots:
        return ()
    limit = every_hours * 60
    first = _minute_of_day(day_slots[0].start)
    starts = [_minute_of_day(s.start) - first for s in day_slots]
    period_end = starts[-1] + day_slots[-1].minutes
    chosen: list[int] = []
    last_visit = 0.0
    while not chosen or period_end - last_visit > limit:
        later = [i for i, start in enumerate(starts) if start <= last_visit + limit]
        later = [i for i in later if not chosen or i > chosen[-1]]
        if not later:
            return None
        chosen.append(later[-1])
        last_visit = starts[later[-1]]
    return tuple(day_slots[i] for i in chosen)


# --- validation ------------------------------------------------------------------------------


def _fail(path: str, message: str) -> NoReturn:
    raise FieldError(message, field=path)


def _check_id(path: str, value: str) -> None:
    if not _ID.match(value):
        _fail(path, f"{value!r} is not an id (letters, digits and _ . : - only)")


def _check_at_least(path: str, value: float, minimum: float) -> None:
    if not math.isfinite(value) or value < minimum:
        _fail(path, f"must be at least {minimum:g}, not {value:g}")


def _check_positive(path: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        _fail(path, f"must be more than 0, not {value:g}")


def _validate_slots(path: str, slots: tuple[Slot, ...]) -> None:
    if not slots:
        _fail(path, "a day type needs at least one slot")
    seen: dict[str, int] = {}
    for index, slot in enumerate(slots):
        where = f"{path}[{index}]"
        _check_id(f"{where}.id", slot.id)
        if slot.id in seen:
            _fail(f"{where}.id", f"slot id {slot.id!r} is also {path}[{seen[slot.id]}]'s id")
        seen[slot.id] = index
        if slot.kind not in SLOT_KINDS:
            _fail(f"{where}.kind", f"{slot.kind!r} is not one of {', '.join(SLOT_KINDS)}")
        if slot.start == slot.end and len(slots) > 1:
            _fail(f"{where}.end", f"slot {slot.id!r} starts and ends at {_clock_text(slot.end)}")
    if not any(s.kind == "day" for s in slots):
        _fail(path, "a day type needs at least one day slot")
    order = sorted(range(len(slots)), key=lambda i: (_minute_of_day(slots[i].start), i))
    for position, index in enumerate(order):
        slot = slots[index]
        following_index = order[(position + 1) % len(order)]
        following = slots[following_index]
        to_next = (_minute_of_day(following.start) - _minute_of_day(slot.start)) % MINUTES_PER_DAY
        if len(slots) == 1:
            to_next = MINUTES_PER_DAY
        if to_next == 0:
            _fail(
                f"{path}[{following_index}].start",
                f"slot {following.id!r} starts at {_clock_text(following.start)}, like slot "
                f"{slot.id!r}: slots must not overlap",
            )
        if slot.minutes == to_next:
            continue
        if slot.minutes < to_next:
            problem = f"a gap of {to_next - slot.minutes} min"
        else:
            problem = f"an overlap of {slot.minutes - to_next} min"
        _fail(
            f"{path}[{index}].end",
            f"slot {slot.id!r} ends at {_clock_text(slot.end)} but the next slot "
            f"{following.id!r} starts at {_clock_text(following.start)}: {problem}; the slots "
            "of a day type must cover the 24 hours without gap or overlap",
        )


def _validate_slot_refs(
    path: str, slot_ids: tuple[str, ...], slots: SlotTable, day_types: Iterable[DayType]
) -> None:
    if not slot_ids:
        _fail(path, "needs at least one slot")
    for index, slot_id in enumerate(slot_ids):
        for day_type in day_types:
            if slot_id not in {s.id for s in slots.for_day_type(day_type)}:
                _fail(f"{path}[{index}]", f"{day_type} has no slot {slot_id!r}")


def _validate_day_types(path: str, day_types: tuple[str, ...]) -> None:
    for index, day_type in enumerate(day_types):
        if day_type not in DAY_TYPES:
            _fail(f"{path}[{index}]", f"{day_type!r} is not one of {', '.join(DAY_TYPES)}")


def _validate_operation(path: str, op: SpecialOperation, slots: SlotTable) -> None:
    _check_id(f"{path}.id", op.id)
    if op.kind not in OPERATION_KINDS:
        _fail(f"{path}.kind", f"{op.kind!r} is not one of {', '.join(OPERATION_KINDS)}")
    _validate_day_types(f"{path}.day_types", op.day_types)
    for index, weekday in enumerate(op.weekdays):
        if not 1 <= weekday <= 7:
            _fail(f"{path}.weekdays[{index}]", f"{weekday} is not a weekday 1 (Mon) to 7 (Sun)")
    for index, month in enumerate(op.months):
        if not 1 <= month <= 12:
            _fail(f"{path}.months[{index}]", f"{month} is not a month 1 to 12")
    _validate_slot_refs(f"{path}.slots", op.slots, slots, op.day_types or DAY_TYPES)
    _check_at_least(f"{path}.officers", op.officers, 0)
    _check_at_least(f"{path}.assistants", op.assistants, 0)
    if op.officers + op.assistants == 0:
        _fail(f"{path}.officers", "an operation needs at least one officer or assistant")
    targets = sum(bool(t) for t in (op.squad_ids, op.zone_ids, op.zone_kind))
    if targets != 1:
        _fail(path, "give exactly one of squads, zones or zone_kind")
    for index, squad in enumerate(op.squad_ids):
        _check_id(f"{path}.squads[{index}]", squad)
    _check_at_least(f"{path}.weight", op.weight, 0)


def _validate_event(path: str, event: EventPost, slots: SlotTable) -> None:
    _check_id(f"{path}.id", event.id)
    if event.end_date < event.start_date:
        _fail(f"{path}.end_date", f"ends {event.end_date}, before it starts {event.start_date}")
    _validate_slot_refs(f"{path}.slots", event.slots, slots, DAY_TYPES)
    _check_at_least(f"{path}.officers", event.officers, 0)
    _check_at_least(f"{path}.assistants", event.assistants, 0)
    if event.officers + event.assistants == 0:
        _fail(f"{path}.officers", "an event post needs at least one officer or assistant")
    if (event.post_id is None) == (event.point is None):
        _fail(path, "give exactly one of post_id or point")
    if event.point is not None:
        lon, lat = event.point
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            _fail(f"{path}.point", f"({lon}, {lat}) is not a longitude and latitude")
        if event.squad_id is None:
            _fail(f"{path}.squad_id", "an event at a point needs the squad that staffs it")
    _check_at_least(f"{path}.weight", event.weight, 0)


def _validate(policy: DutyPolicy) -> None:
    if policy.version < 1:
        _fail("version", f"must be at least 1, not {policy.version}")
    if not policy.name.strip():
        _fail("name", "must not be empty")
    for day_type in DAY_TYPES:
        _validate_slots(f"slots.{day_type}", getattr(policy.slots, day_type))
    levels = policy.levels
    _check_at_least("levels.strict.officers", levels.strict.officers, 0)
    _check_positive("levels.controlled.visit_every_hours", levels.controlled.visit_every_hours)
    _check_positive("levels.controlled.route_km", levels.controlled.route_km)
    _check_at_least("levels.controlled.officers_per_route", levels.controlled.officers_per_route, 0)
    for day_type in DAY_TYPES:
        every = levels.controlled.visit_every_hours
        if _patrol_slots(policy.day_slots(day_type), every) is None:
            _fail(
                "levels.controlled.visit_every_hours",
                f"patrols start at slot starts, and no choice of {day_type} day slots keeps "
                f"visits within {every:g} h of each other: shorten the day slots or allow more "
                "hours",
            )
    _check_at_least("levels.regulated.count", levels.regulated.count, 0)
    if levels.regulated.role not in get_args(GuidanceRole):
        _fail("levels.regulated.role", f"{levels.regulated.role!r} is not 'any' or 'officer'")
    roads = [entry.road_name_zh for entry in levels.regulated.windows_by_road]
    for road in roads:
        if not road.strip() or roads.count(road) > 1:
            _fail(f"levels.regulated.windows_by_road.{road}", "road names must be non-empty, once")
    ids: set[str] = set()
    for index, op in enumerate(policy.operations):
        _validate_operation(f"operations[{index}]", op, policy.slots)
        if op.id in ids:
            _fail(f"operations[{index}].id", f"id {op.id!r} is used twice")
        ids.add(op.id)
    squads: set[str] = set()
    for index, deployment in enumerate(policy.full_deployment):
        path = f"full_deployment[{index}]"
        _check_id(f"{path}.squad", deployment.squad_id)
        if deployment.squad_id in squads:
            _fail(f"{path}.squad", f"squad {deployment.squad_id!r} is listed twice")
        squads.add(deployment.squad_id)
        if not deployment.day_types:
            _fail(f"{path}.day_types", "needs at least one day type")
        _validate_day_types(f"{path}.day_types", deployment.day_types)
        _check_at_least(f"{path}.weight", deployment.weight, 0)
    for index, event in enumerate(policy.events):
        _validate_event(f"events[{index}]", event, policy.slots)
        if event.id in ids:
            _fail(f"events[{index}].id", f"id {event.id!r} is used twice")
        ids.add(event.id)
    _check_at_least("leader.on_duty", policy.leader.on_duty, 0)
    _check_at_least("leader.weight", policy.leader.weight, 0)
    _validate_labour(policy.labour)
    weights = policy.weights
    for level in LEVELS:
        _check_at_least(f"weights.coverage.{level}", weights.coverage.for_level(level), 0)
    if not weights.hotspot_attr.strip():
        _fail("weights.hotspot_attr", "must not be empty")
    for name in ("continuity", "territory", "fair_nights", "fair_weekends", "requests"):
        _check_at_least(f"weights.{name}", getattr(weights, name), 0)


def _validate_labour(labour: LabourRules) -> None:
    _check_positive("labour.hours_per_day", labour.hours_per_day)
    if labour.hours_per_day > 24:
        _fail("labour.hours_per_day", "a day has 24 hours")
    _check_positive("labour.hours_per_week", labour.hours_per_week)
    if labour.max_hours_per_week < labour.hours_per_week:
        _fail(
            "labour.max_hours_per_week",
            f"{labour.max_hours_per_week:g} is less than hours_per_week {labour.hours_per_week:g}",
        )
    if not 0 <= labour.rest_days_per_week <= 7:
        _fail("labour.rest_days_per_week", "must be 0 to 7")
    _check_at_least("labour.min_rest_hours", labour.min_rest_hours, 0)
    if labour.min_rest_hours > 24:
        _fail("labour.min_rest_hours", "must be at most 24")
    _check_at_least("labour.max_overtime_hours_per_day", labour.max_overtime_hours_per_day, 0)
    _check_at_least("labour.max_overtime_hours_per_month", labour.max_overtime_hours_per_month, 0)


# --- reading ---------------------------------------------------------------------------------

_REQUIRED: Any = object()


class _Table:
    """A TOML table being read, which knows its key path and refuses unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            _fail(path, f"must be a table, not {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            _fail(self.key(name), "is required")
        return default

    def text(self, name: str, default: Any = _REQUIRED) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str):
            _fail(self.key(name), f"must be text, not {value!r}")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self.raw(name, None)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            _fail(self.key(name), f"must be non-empty text, not {value!r}")
        return value

    def integer(self, name: str, default: Any = _REQUIRED) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(self.key(name), f"must be a whole number, not {value!r}")
        return value

    def number(self, name: str, default: Any = _REQUIRED) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(self.key(name), f"must be a number, not {value!r}")
        return float(value)

    def flag(self, name: str, default: Any = _REQUIRED) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            _fail(self.key(name), f"must be true or false, not {value!r}")
        return value

    def clock(self, name: str, default: Any = _REQUIRED) -> time:
        value = self.raw(name, default)
        if isinstance(value, time):
            return value.replace(second=0, microsecond=0)
        if not isinstance(value, str):
            _fail(self.key(name), f'must be a time of day "HH:MM", not {value!r}')
        try:
            return parse_clock(value)
        except ValueError as exc:
            _fail(self.key(name), str(exc))

    def day(self, name: str) -> date:
        value = self.raw(name)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        _fail(self.key(name), f"must be a date YYYY-MM-DD, not {value!r}")

    def texts(self, name: str, default: Any = ()) -> tuple[str, ...]:
        value = self.raw(name, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            _fail(self.key(name), f"must be a list of text, not {value!r}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                _fail(f"{self.key(name)}[{index}]", f"must be non-empty text, not {item!r}")
        return tuple(value)

    def integers(self, name: str) -> tuple[int, ...]:
        value = self.raw(name, [])
        if not isinstance(value, list):
            _fail(self.key(name), f"must be a list of whole numbers, not {value!r}")
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                _fail(f"{self.key(name)}[{index}]", f"must be a whole number, not {item!r}")
        return tuple(value)

    def day_types(self, name: str, default: Any = ()) -> tuple[DayType, ...]:
        values = self.texts(name, default)
        for index, value in enumerate(values):
            if value not in DAY_TYPES:
                allowed = ", ".join(DAY_TYPES)
                _fail(f"{self.key(name)}[{index}]", f"{value!r} is not one of {allowed}")
        return cast(tuple[DayType, ...], values)

    def choice(self, name: str, allowed: tuple[str, ...], default: Any = _REQUIRED) -> str:
        value = self.text(name, default)
        if value not in allowed:
            _fail(self.key(name), f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def table(self, name: str) -> _Table:
        return _Table(self.raw(name, {}), self.key(name))

    def tables(self, name: str) -> list[_Table]:
        value = self.raw(name, [])
        if not isinstance(value, list):
            _fail(self.key(name), "must be an array of tables ([[...]])")
        return [_Table(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            _fail(self.key(unknown[0]), f"unknown key (known keys here: {known})")


def _read_slot(table: _Table) -> Slot:
    slot = Slot(
        id=table.text("id"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en", ""),
        start=table.clock("start"),
        end=table.clock("end"),
        kind=cast(SlotKind, table.choice("kind", SLOT_KINDS, "day")),
    )
    table.finish()
    return slot


def _read_slot_table(table: _Table) -> SlotTable:
    by_type: dict[str, tuple[Slot, ...]] = {}
    references: dict[str, str] = {}
    for day_type in DAY_TYPES:
        value = table.raw(day_type, None)
        if value is None:
            if day_type == "weekday":
                _fail(table.key(day_type), "the weekday slots are required")
            references[day_type] = "weekday"
        elif isinstance(value, str):
            if value not in DAY_TYPES or value == day_type:
                _fail(
                    table.key(day_type),
                    f"{value!r} names no other day type to take the slots of",
                )
            references[day_type] = value
        else:
            by_type[day_type] = tuple(_read_slot(t) for t in table.tables(day_type))
    for sharing, source in references.items():
        if source not in by_type:
            _fail(table.key(sharing), f"{source} has no slots of its own to share")
        by_type[sharing] = by_type[source]
    table.finish()
    return SlotTable(by_type["weekday"], by_type["weekend"], by_type["holiday"])


def _read_windows(table: _Table, name: str) -> tuple[TimeWindow, ...]:
    texts = table.texts(name)
    windows = []
    for index, text in enumerate(texts):
        try:
            windows.append(TimeWindow.parse(text))
        except ValueError as exc:
            _fail(f"{table.key(name)}[{index}]", str(exc))
    return tuple(windows)


def _read_levels(table: _Table) -> LevelRules:
    strict_table = table.table("strict")
    defaults = LevelRules()
    strict = StrictRule(
        officers=strict_table.integer("officers", defaults.strict.officers),
        hard=strict_table.flag("hard", defaults.strict.hard),
    )
    strict_table.finish()
    patrol_table = table.table("controlled")
    controlled = PatrolRule(
        visit_every_hours=patrol_table.number(
            "visit_every_hours", defaults.controlled.visit_every_hours
        ),
        route_km=patrol_table.number("route_km", defaults.controlled.route_km),
        officers_per_route=patrol_table.integer(
            "officers_per_route", defaults.controlled.officers_per_route
        ),
        hard=patrol_table.flag("hard", defaults.controlled.hard),
    )
    patrol_table.finish()
    guidance_table = table.table("regulated")
    roads_table = guidance_table.table("windows_by_road")
    by_road = tuple(
        RoadWindows(road, _read_windows(roads_table, road)) for road in roads_table.data
    )
    roads_table.finish()
    regulated = GuidanceRule(
        count=guidance_table.integer("count", defaults.regulated.count),
        role=cast(GuidanceRole, guidance_table.choice("role", get_args(GuidanceRole), "any")),
        hard=guidance_table.flag("hard", defaults.regulated.hard),
        windows_by_road=by_road,
    )
    guidance_table.finish()
    table.finish()
    return LevelRules(strict, controlled, regulated)


def _read_operation(table: _Table) -> SpecialOperation:
    operation = SpecialOperation(
        id=table.text("id"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en", ""),
        kind=cast(OperationKind, table.choice("kind", OPERATION_KINDS)),
        day_types=table.day_types("day_types"),
        weekdays=table.integers("weekdays"),
        months=table.integers("months"),
        slots=table.texts("slots", _REQUIRED),
        squad_ids=table.texts("squads"),
        zone_ids=table.texts("zones"),
        zone_kind=table.optional_text("zone_kind"),
        officers=table.integer("officers", 0),
        assistants=table.integer("assistants", 0),
        hard=table.flag("hard", True),
        weight=table.number("weight", SpecialOperation.weight),
    )
    table.finish()
    return operation


def _read_deployment(table: _Table) -> FullDeployment:
    deployment = FullDeployment(
        squad_id=table.text("squad"),
        day_types=table.day_types("day_types", _REQUIRED),
        hard=table.flag("hard", True),
        weight=table.number("weight", FullDeployment.weight),
    )
    table.finish()
    return deployment


def _read_event(table: _Table) -> EventPost:
    point_value = table.raw("point", None)
    point: tuple[float, float] | None = None
    if point_value is not None:
        if (
            not isinstance(point_value, list)
            or len(point_value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point_value)
        ):
            _fail(table.key("point"), f"must be [longitude, latitude], not {point_value!r}")
        point = (float(point_value[0]), float(point_value[1]))
    event = EventPost(
        id=table.text("id"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en", ""),
        start_date=table.day("start_date"),
        end_date=table.day("end_date"),
        slots=table.texts("slots", _REQUIRED),
        post_id=table.optional_text("post_id"),
        point=point,
        squad_id=table.optional_text("squad_id"),
        officers=table.integer("officers", EventPost.officers),
        assistants=table.integer("assistants", EventPost.assistants),
        hard=table.flag("hard", True),
        weight=table.number("weight", EventPost.weight),
    )
    table.finish()
    return event


def _read_leader(table: _Table) -> LeaderDuty:
    defaults = LeaderDuty()
    leader = LeaderDuty(
        on_duty=table.integer("on_duty", defaults.on_duty),
        handover=table.clock("handover", defaults.handover),
        rest_day_after=table.flag("rest_day_after", defaults.rest_day_after),
        hard=table.flag("hard", defaults.hard),
        weight=table.number("weight", defaults.weight),
    )
    table.finish()
    return leader


def _read_labour(table: _Table) -> LabourRules:
    defaults = LabourRules()
    labour = LabourRules(
        hours_per_day=table.number("hours_per_day", defaults.hours_per_day),
        hours_per_week=table.number("hours_per_week", defaults.hours_per_week),
        max_hours_per_week=table.number("max_hours_per_week", defaults.max_hours_per_week),
        rest_days_per_week=table.integer("rest_days_per_week", defaults.rest_days_per_week),
        min_rest_hours=table.number("min_rest_hours", defaults.min_rest_hours),
        overtime_allowed=table.flag("overtime_allowed", defaults.overtime_allowed),
        max_overtime_hours_per_day=table.number(
            "max_overtime_hours_per_day", defaults.max_overtime_hours_per_day
        ),
        max_overtime_hours_per_month=table.number(
            "max_overtime_hours_per_month", defaults.max_overtime_hours_per_month
        ),
    )
    table.finish()
    return labour


def _read_weights(table: _Table) -> SoftWeights:
    defaults = SoftWeights()
    coverage_table = table.table("coverage")
    coverage = LevelWeights(
        **{
            level: coverage_table.number(level, defaults.coverage.for_level(level))
            for level in LEVELS
        }
    )
    coverage_table.finish()
    weights = SoftWeights(
        coverage=coverage,
        hotspot_attr=table.text("hotspot_attr", defaults.hotspot_attr),
        continuity=table.number("continuity", defaults.continuity),
        territory=table.number("territory", defaults.territory),
        fair_nights=table.number("fair_nights", defaults.fair_nights),
        fair_weekends=table.number("fair_weekends", defaults.fair_weekends),
        requests=table.number("requests", defaults.requests),
    )
    table.finish()
    return weights


def policy_from_toml(text: str, *, file: str | None = None) -> DutyPolicy:
    """Return the policy written in the TOML ``text``.

    Parameters
    ----------
    text
        The policy, as :func:`policy_to_toml` writes it (see ``grids/data/huiji_duty_policy.toml``
        for every key, with comments).
    file
        The name of the file the text is from, for error messages.

    Raises
    ------
    InputFileError
        If the text is not valid TOML.
    FieldError
        If a key is unknown, missing or wrong, or the policy is inconsistent; ``field`` is the
        key path, e.g. ``slots.weekday[2].end``.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"not valid TOML: {exc}", file=file) from None
    try:
        root = _Table(data, "")
        policy = DutyPolicy(
            version=root.integer("version"),
            name=root.text("name"),
            description=root.text("description", ""),
            slots=_read_slot_table(root.table("slots")),
            levels=_read_levels(root.table("levels")),
            operations=tuple(_read_operation(t) for t in root.tables("operations")),
            full_deployment=tuple(_read_deployment(t) for t in root.tables("full_deployment")),
            events=tuple(_read_event(t) for t in root.tables("events")),
            leader=_read_leader(root.table("leader")),
            labour=_read_labour(root.table("labour")),
            weights=_read_weights(root.table("weights")),
        )
        root.finish()
    except FieldError as exc:
        raise FieldError(exc.message, file=file, field=exc.field) from None
    return policy


def load_policy(path: str | Path) -> DutyPolicy:
    """Return the duty policy in the TOML file at ``path``.

    Raises
    ------
    InputFileError
        If the file cannot be read or is not valid TOML.
    FieldError
        If a key is unknown, missing or wrong, or the policy is inconsistent; the error names the
        file and the key path, e.g. ``slots.weekday[2].end``.
    """
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read the policy: {exc}", file=file.name) from None
    return policy_from_toml(text, file=file.name)


def huiji_default_policy() -> DutyPolicy:
    """Return the bundled duty policy of Huiji District (``grids/data/huiji_duty_policy.toml``)."""
    resource = files("grids") / "data" / HUIJI_POLICY_FILE
    return policy_from_toml(resource.read_text("utf-8"), file=HUIJI_POLICY_FILE)


# --- writing ---------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, time):
        return json.dumps(_clock_text(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, TimeWindow):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _lines(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in pairs]


def _slot_pairs(slot: Slot) -> list[tuple[str, Any]]:
    return [
        ("id", slot.id),
        ("name_zh", slot.name_zh),
        ("name_en", slot.name_en),
        ("start", slot.start),
        ("end", slot.end),
        ("kind", slot.kind),
    ]


def _operation_pairs(op: SpecialOperation) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("id", op.id),
        ("name_zh", op.name_zh),
        ("name_en", op.name_en),
        ("kind", op.kind),
    ]
    optional: list[tuple[str, Any]] = [
        ("day_types", op.day_types),
        ("weekdays", op.weekdays),
        ("months", op.months),
    ]
    pairs += [(k, v) for k, v in optional if v]
    pairs.append(("slots", op.slots))
    targets: list[tuple[str, Any]] = [
        ("squads", op.squad_ids),
        ("zones", op.zone_ids),
        ("zone_kind", op.zone_kind),
    ]
    pairs += [(k, v) for k, v in targets if v]
    pairs += [
        ("officers", op.officers),
        ("assistants", op.assistants),
        ("hard", op.hard),
        ("weight", op.weight),
    ]
    return pairs


def _event_pairs(event: EventPost) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("id", event.id),
        ("name_zh", event.name_zh),
        ("name_en", event.name_en),
        ("start_date", event.start_date),
        ("end_date", event.end_date),
        ("slots", event.slots),
    ]
    if event.post_id is not None:
        pairs.append(("post_id", event.post_id))
    if event.point is not None:
        pairs.append(("point", event.point))
    if event.squad_id is not None:
        pairs.append(("squad_id", event.squad_id))
    pairs += [
        ("officers", event.officers),
        ("assistants", event.assistants),
        ("hard", event.hard),
        ("weight", event.weight),
    ]
    return pairs


def _fields(obj: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]


def policy_to_toml(policy: DutyPolicy) -> str:
    """Return the policy as TOML text that :func:`load_policy` reads back to an equal policy.

    Day types whose slots equal the weekday slots are written as ``weekend = "weekday"``.
    """
    out = [
        "# Duty policy (值班规则) written by dutygrid. Keys are explained in the bundled",
        "# Huiji policy (grids/data/huiji_duty_policy.toml). Bump `version` on every change.",
        "",
        *_lines([("version", policy.version), ("name", policy.name)]),
    ]
    if policy.description:
        out += _lines([("description", policy.description)])
    deployments = [
        "{"
        + ", ".join(
            f"{k} = {_value(v)}"
            for k, v in (
                ("squad", d.squad_id),
                ("day_types", d.day_types),
                ("hard", d.hard),
                ("weight", d.weight),
            )
        )
        + "}"
        for d in policy.full_deployment
    ]
    if deployments:
        out.append("full_deployment = [")
        out += [f"    {d}," for d in deployments]
        out.append("]")
    shared = [
        (day_type, "weekday")
        for day_type in ("weekend", "holiday")
        if getattr(policy.slots, day_type) == policy.slots.weekday
    ]
    out += ["", "[slots]", *_lines(shared)]
    for day_type in DAY_TYPES:
        if day_type != "weekday" and (day_type, "weekday") in shared:
            continue
        for slot in getattr(policy.slots, day_type):
            out += ["", f"[[slots.{day_type}]]", *_lines(_slot_pairs(slot))]
    levels = policy.levels
    out += ["", "[levels.strict]", *_lines(_fields(levels.strict))]
    out += ["", "[levels.controlled]", *_lines(_fields(levels.controlled))]
    regulated = [(k, v) for k, v in _fields(levels.regulated) if k != "windows_by_road"]
    out += ["", "[levels.regulated]", *_lines(regulated)]
    out += ["", "[levels.regulated.windows_by_road]"]
    out += _lines((entry.road_name_zh, entry.windows) for entry in levels.regulated.windows_by_road)
    for op in policy.operations:
        out += ["", "[[operations]]", *_lines(_operation_pairs(op))]
    for event in policy.events:
        out += ["", "[[events]]", *_lines(_event_pairs(event))]
    out += ["", "[leader]", *_lines(_fields(policy.leader))]
    out += ["", "[labour]", *_lines(_fields(policy.labour))]
    weights = [(k, v) for k, v in _fields(policy.weights) if k != "coverage"]
    out += ["", "[weights]", *_lines(weights)]
    out += ["", "[weights.coverage]", *_lines(_fields(policy.weights.coverage))]
    return "\n".join(out) + "\n"


def policy_as_dict(policy: DutyPolicy) -> dict[str, Any]:
    """Return the policy as plain JSON-ready values (times ``HH:MM``, dates ISO)."""
    plain: dict[str, Any] = _plain(dataclasses.asdict(policy))
    plain["fingerprint"] = policy.fingerprint()
    return plain
