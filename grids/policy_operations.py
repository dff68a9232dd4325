"""The special duties of the duty policy, beyond the posts' everyday staffing.

Special operations (:class:`SpecialOperation`: night checks 夜查, muck-truck routes 渣土车,
barbecue 露天烧烤), full deployments of a squad (:class:`FullDeployment`, 全员上岗) and temporary
event posts (:class:`EventPost`, 定人、定岗、定责).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

from grids.policy_slots import DayType

__all__ = [
    "OPERATION_KINDS",
    "EventPost",
    "FullDeployment",
    "OperationKind",
    "SpecialOperation",
]

OperationKind = Literal["night_check", "muck_truck", "barbecue"]
OPERATION_KINDS: tuple[OperationKind, ...] = get_args(OperationKind)
"""Special operations: night checks (夜查), muck-truck routes (渣土车), barbecue (露天烧烤)."""


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
