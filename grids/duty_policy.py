"""The duty policy (值班规则) itself: slots, level rules, special duties, leader, labour, weights.

:class:`DutyPolicy` is checked when it is made (:mod:`grids.policy_checks`), carries a ``version``
that :meth:`DutyPolicy.revised` bumps on every change and a content
:meth:`~DutyPolicy.fingerprint`, so a roster can record the rules it was made under. The package
reads and writes policies through :mod:`grids.policy`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, time
from typing import Any

from grids._clock import clock_text
from grids.policy_checks import validate_policy
from grids.policy_operations import EventPost, FullDeployment, SpecialOperation
from grids.policy_rules import LabourRules, LeaderDuty, LevelRules, SoftWeights
from grids.policy_slots import DayType, Slot, SlotTable, patrol_slot_choice

__all__ = ["DutyPolicy", "policy_as_dict"]


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
        validate_policy(self)

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

        See :class:`~grids.policy_rules.PatrolRule`; with the Huiji slots and 4 hours these are
        the 08–12, 12–15, 15–18 and 18–22 slots.

        Raises
        ------
        ValueError
            If no choice of slot starts keeps visits within ``visit_every_hours`` of each other.
        """
        chosen = patrol_slot_choice(
            self.day_slots(day_type), self.levels.controlled.visit_every_hours
        )
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
        return clock_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def policy_as_dict(policy: DutyPolicy) -> dict[str, Any]:
    """Return the policy as plain JSON-ready values (times ``HH:MM``, dates ISO)."""
    plain: dict[str, Any] = _plain(dataclasses.asdict(policy))
    plain["fingerprint"] = policy.fingerprint()
    return plain
