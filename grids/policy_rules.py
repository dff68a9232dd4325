"""What the duty policy asks of the posts and the people, beyond the slots.

What each management level of post needs (:class:`LevelRules`: strict posts, patrols of controlled
posts, guidance points), how the duty leader (带班领导) rotates (:class:`LeaderDuty`), the labour
rules a roster must keep (:class:`LabourRules`) and the soft weights of the roster's objective
(:class:`SoftWeights`). :class:`grids.policy.DutyPolicy` holds one of each and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

from geodata.roads import Level
from grids.policy_slots import TimeWindow

__all__ = [
    "GuidanceRole",
    "GuidanceRule",
    "LabourRules",
    "LeaderDuty",
    "LevelRules",
    "LevelWeights",
    "PatrolRule",
    "RoadWindows",
    "SoftWeights",
    "StrictRule",
]

GuidanceRole = Literal["any", "officer"]


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
    ``visit_every_hours`` of the last patrol's start (see
    :meth:`grids.policy.DutyPolicy.patrol_slots`).
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
