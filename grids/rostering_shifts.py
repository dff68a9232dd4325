"""Shift types and labour rules for rostering, from the duty policy.

- **Shift types** are blocks of contiguous slots of a day type, of one kind (day or night), at most
  ``hours_per_day`` long (plus ``max_overtime_hours_per_day`` when overtime is allowed)
  (:func:`shift_blocks`). With the Huiji slots: 06–08, 06–12, 08–12, 08–15, 12–15, 12–18, 15–18,
  15–22, 18–22 and the 22–06 night. A duty leader's 24-hour duty is a shift type of its own
  (:data:`LEADER_SHIFT_ID`).
- **Labour rules** (:func:`engine_labour`) map the policy's (8 h a day, ``hours_per_week``, a rest
  day, 11 h between duties, overtime limits) to :class:`grids.shift_model.LabourRules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from grids.policy import DayType, DutyPolicy, Slot, SlotKind
from grids.policy import LabourRules as PolicyLabour
from grids.shift_model import LabourRules, ShiftType

__all__ = [
    "DAY_MIN",
    "LEADER_SHIFT_ID",
    "ShiftBlock",
    "all_shift_types",
    "engine_labour",
    "minute",
    "minute_of",
    "shift_blocks",
]

LEADER_SHIFT_ID = "leader"
"""The id of the duty leader's 24-hour duty."""
DAY_MIN = 1440


def minute(value: datetime | date, day: date) -> int:
    """Return the minutes from 00:00 of ``day`` to ``value``."""
    moment = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())
    return round((moment - datetime.combine(day, datetime.min.time())).total_seconds() / 60)


def _clock(minutes: int) -> str:
    minutes %= DAY_MIN
    return f"{minutes // 60:02d}{minutes % 60:02d}"


@dataclass(frozen=True)
class ShiftBlock:
    """A shift type: contiguous slots of one kind of a day type.

    Parameters
    ----------
    id
        ``HHMM-HHMM``, e.g. ``0800-1500``.
    start_min, length_min
        Start (minutes after 00:00 of the duty day) and length.
    slot_ids
        The slots it spans, in order.
    slot_offsets
        Minutes from the block's start to each slot's start.
    kind
        ``day`` or ``night``.
    """

    id: str
    start_min: int
    length_min: int
    slot_ids: tuple[str, ...]
    slot_offsets: tuple[int, ...]
    kind: SlotKind

    @property
    def end_min(self) -> int:
        """Return the end, in minutes after 00:00 of the duty day (past 1440 overnight)."""
        return self.start_min + self.length_min

    def shift_type(self) -> ShiftType:
        """Return the engine's shift type."""
        return ShiftType(self.id, self.start_min, self.length_min)


def minute_of(slot: Slot) -> int:
    """Return the minute of the day a slot starts at."""
    return slot.start.hour * 60 + slot.start.minute


def shift_blocks(policy: DutyPolicy, day_type: DayType) -> tuple[ShiftBlock, ...]:
    """Return the shift types of ``day_type``: every block of contiguous slots that fits a day.

    Slots are taken in time-of-day order, in runs of one kind (day slots, night slots); a block
    is any stretch of a run whose length is at most ``hours_per_day`` (plus the daily overtime
    when the policy allows overtime).

    Returns
    -------
    tuple of ShiftBlock
        By start, then length.
    """
    labour = policy.labour
    limit = labour.hours_per_day * 60
    if labour.overtime_allowed:
        limit += labour.max_overtime_hours_per_day * 60
    slots = list(policy.slots_for(day_type))
    # Start at a change of kind, so that a run of night slots across midnight stays one run.
    changes = [i for i in range(len(slots)) if slots[i].kind != slots[i - 1].kind]
    if changes:
        slots = slots[changes[0] :] + slots[: changes[0]]
    runs: list[list[Slot]] = []
    for slot in slots:
        if runs and runs[-1][-1].kind == slot.kind:
            runs[-1].append(slot)
        else:
            runs.append([slot])
    blocks: dict[str, ShiftBlock] = {}
    for run in runs:
        for first in range(len(run)):
            length = 0
            for last in range(first, len(run)):
                length += run[last].minutes
                if length > limit + 1e-9:
                    break
                start = minute_of(run[first])
                offsets = tuple(
                    sum(s.minutes for s in run[first:i]) for i in range(first, last + 1)
                )
                block_id = f"{_clock(start)}-{_clock(start + length)}"
                blocks[block_id] = ShiftBlock(
                    block_id,
                    start,
                    length,
                    tuple(s.id for s in run[first : last + 1]),
                    offsets,
                    run[first].kind,
                )
    return tuple(sorted(blocks.values(), key=lambda b: (b.start_min, b.length_min)))


def engine_labour(rules: PolicyLabour, days: Sequence[date]) -> LabourRules:
    """Return the policy's labour rules as the engine's, for the horizon ``days``.

    The weekly limit is ``hours_per_week`` (set it to 44 in the policy where the 44-hour week
    applies); overtime is allowed only when the policy allows it. A new month starting inside the
    horizon starts a new monthly overtime count.
    """
    overtime = rules.overtime_allowed
    return LabourRules(
        max_min_per_day=round(rules.hours_per_day * 60),
        max_min_per_week=round(rules.hours_per_week * 60),
        rest_days_per_week=rules.rest_days_per_week,
        min_rest_min=round(rules.min_rest_hours * 60),
        overtime_min_per_day=round(rules.max_overtime_hours_per_day * 60) if overtime else 0,
        overtime_min_per_month=round(rules.max_overtime_hours_per_month * 60) if overtime else None,
        week_start_day=days[0].weekday() if days else 0,
        month_start_days=tuple(i for i, day in enumerate(days) if i > 0 and day.day == 1),
    )


def all_shift_types(policy: DutyPolicy, day_types: Sequence[DayType]) -> list[ShiftType]:
    """Return the shift types of every day type of ``day_types``, and the leader's duty."""
    found: dict[str, ShiftType] = {}
    for day_type in sorted(set(day_types)):
        for block in shift_blocks(policy, day_type):
            found.setdefault(block.id, block.shift_type())
    handover = policy.leader.handover
    found[LEADER_SHIFT_ID] = ShiftType(
        LEADER_SHIFT_ID, handover.hour * 60 + handover.minute, DAY_MIN
    )
    return list(found.values())
