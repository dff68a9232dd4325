"""The stage-2 model of one squad's day: who may go where, the rules, a greedy assignment.

Used by :mod:`grids.rostering_posts`. A :class:`DayModel` lists, for each slot of the day, the
people on duty and the requirements (:class:`Need`); :meth:`DayModel.index` the choices each person
has, :meth:`DayModel.build` the CP-SAT variables and rules. :func:`greedy_assignment` keeps every
rule without a search, and :func:`shortfall_reason` says why a requirement is left short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ortools.sat.python import cp_model

from grids.rostering_travel import TravelTimes
from grids.staff import Officer

__all__ = [
    "DayModel",
    "Key",
    "Need",
    "SlotKey",
    "SlotWindow",
    "greedy_assignment",
    "improvable",
    "shortfall_reason",
]

Key = tuple[str, int, int]
"""(person, slot index, requirement index) of a day's model."""
SlotKey = tuple[str, date, str]
"""(person, date, slot id)."""


@dataclass(frozen=True)
class Need:
    """A requirement of a slot: ``count`` people of ``role`` at a place, each worth ``weight``.

    ``index`` is its row in the day's demand; ``place`` the travel-time key of where it is served
    (None: anywhere).
    """

    index: int
    requirement_id: str
    post_id: str
    kind: str
    role: str
    count: int
    weight: int
    place: str | None


@dataclass(frozen=True)
class SlotWindow:
    """A slot of a day: its id, start, end and kind (``day`` or ``night``)."""

    id: str
    start: datetime
    end: datetime
    kind: str


@dataclass
class DayModel:
    """The stage-2 model of one squad and day.

    ``duty[k]`` lists the people on duty in slot ``k`` and ``needs[k]`` its requirements.
    """

    slots: list[SlotWindow]
    duty: list[list[str]]
    needs: list[list[Need]]
    people: Mapping[str, Officer]
    travel: TravelTimes | None
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    var: dict[Key, Any] = field(default_factory=dict)
    companion: set[Key] = field(default_factory=set)
    terms: list[tuple[Any, int]] = field(default_factory=list)
    by_index: dict[int, Need] = field(default_factory=dict)
    greedy: dict[Key, int] = field(default_factory=dict)
    stays: list[tuple[Any, Key, Key]] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    known: set[Key] = field(default_factory=set)
    weights: dict[Key, int] = field(default_factory=dict)
    pins: dict[Key, int] = field(default_factory=dict)
    wanted: set[Key] = field(default_factory=set)
    familiar: set[Key] = field(default_factory=set)

    def need(self, index: int) -> Need:
        """Return the requirement ``index``."""
        return self.by_index[index]

    def reachable(self, first: Need, second: Need) -> bool:
        """Return whether a move from ``first``'s place to ``second``'s fits the allowance."""
        if self.travel is None or first.place is None or second.place is None:
            return True
        return self.travel.reachable(first.place, second.place)

    def consecutive(self, k: int) -> bool:
        """Return whether slot ``k + 1`` starts when slot ``k`` ends."""
        return k >= 0 and k + 1 < len(self.slots) and self.slots[k].end == self.slots[k + 1].start

    def index(self) -> None:
        """List who may go where.

        Officers may take any need of their slot; assistants ``any`` needs and, as companions,
        officers' needs.
        """
        self.by_index = {n.index: n for needs in self.needs for n in needs}
        for k, people in enumerate(self.duty):
            for officer_id in people:
                role = self.people[officer_id].role
                for need in self.needs[k]:
                    counted = role == "officer" or need.role == "any"
                    if not counted and need.role != "officer":
                        continue
                    key = (officer_id, k, need.index)
                    self.keys.append(key)
                    if not counted:
                        self.companion.add(key)
        self.known = set(self.keys)

    def build(self) -> None:
        """Add the variables and the rules: roles, counts, one place at a time, travel."""
        model = self.model
        for key in self.keys:
            self.var[key] = model.new_bool_var(f"x[{key[0]},{key[1]},{key[2]}]")
        for k, people in enumerate(self.duty):
            for officer_id in people:
                mine = [
                    self.var[(officer_id, k, n.index)]
                    for n in self.needs[k]
                    if (officer_id, k, n.index) in self.var
                ]
                if len(mine) > 1:
                    model.add_at_most_one(mine)
            for need in self.needs[k]:
                counted = [
                    self.var[(o, k, need.index)]
                    for o in people
                    if (o, k, need.index) in self.var and (o, k, need.index) not in self.companion
                ]
                if len(counted) > need.count:
                    model.add(cp_model.LinearExpr.sum(counted) <= need.count)
                for o in people:
                    key = (o, k, need.index)
                    if key in self.companion:
                        model.add(self.var[key] <= cp_model.LinearExpr.sum(counted))
        for k in range(len(self.slots) - 1):
            if not self.consecutive(k):
                continue
            later = set(self.duty[k + 1])
            for officer_id in (o for o in self.duty[k] if o in later):
                for need in self.needs[k]:
                    here = self.var.get((officer_id, k, need.index))
                    far = [
                        self.var[(officer_id, k + 1, m.index)]
                        for m in self.needs[k + 1]
                        if (officer_id, k + 1, m.index) in self.var and not self.reachable(need, m)
                    ]
                    if here is not None and far:
                        model.add_at_most_one([here, *far])

    def add_continuity(self, weight: int) -> None:
        """Reward a person staying on the same post from one slot to the next."""
        for k in range(len(self.slots) - 1):
            if not self.consecutive(k):
                continue
            for officer_id in sorted(set(self.duty[k]) & set(self.duty[k + 1])):
                for need in self.needs[k]:
                    here = self.var.get((officer_id, k, need.index))
                    if here is None:
                        continue
                    for other in self.needs[k + 1]:
                        there = self.var.get((officer_id, k + 1, other.index))
                        if there is not None and other.post_id == need.post_id:
                            stay = self.model.new_bool_var("")
                            self.model.add_implication(stay, here)
                            self.model.add_implication(stay, there)
                            self.terms.append((stay, weight))
                            self.stays.append(
                                (
                                    stay,
                                    (officer_id, k, need.index),
                                    (officer_id, k + 1, other.index),
                                )
                            )


def greedy_assignment(day_model: DayModel, pins: Mapping[Key, int]) -> dict[Key, int]:
    """Return a legal assignment, slot by slot.

    The pins that fit go first; then, in each slot, the heaviest needs first, each to whoever
    served it in the previous roster, else to someone free of other previous duties, on the same
    post the slot before or the day before if possible.
    """
    chosen: dict[tuple[str, int], Need] = {}
    locked = {(officer_id, k) for officer_id, k, _ in pins}
    wanted, familiar = day_model.wanted, day_model.familiar

    def before(officer_id: str, k: int) -> Need | None:
        return chosen.get((officer_id, k - 1)) if day_model.consecutive(k - 1) else None

    def free(key: Key) -> bool:
        officer_id, k, index = key
        earlier = before(officer_id, k)
        return (
            key in day_model.known
            and (officer_id, k) not in chosen
            and (officer_id, k) not in locked
            and (earlier is None or day_model.reachable(earlier, day_model.need(index)))
        )

    for (officer_id, k, index), value in sorted(pins.items(), key=lambda item: item[0][1]):
        need = day_model.need(index)
        earlier = before(officer_id, k)
        if value and (earlier is None or day_model.reachable(earlier, need)):
            chosen[(officer_id, k)] = need
    for k, needs in enumerate(day_model.needs):
        filled: dict[int, int] = defaultdict(int)
        for (officer_id, slot), need in chosen.items():
            if slot == k and (officer_id, k, need.index) not in day_model.companion:
                filled[need.index] += 1
        claimed = {w[0] for w in wanted if w[1] == k}
        for need in sorted(needs, key=lambda n: (-n.weight, n.index)):

            def rank(
                officer_id: str, need: Need = need, k: int = k, claimed: set[str] = claimed
            ) -> tuple[bool, bool, bool, bool, str]:
                key = (officer_id, k, need.index)
                stays = getattr(before(officer_id, k), "post_id", None) == need.post_id
                return (
                    key not in wanted,
                    officer_id in claimed,
                    not stays,
                    key not in familiar,
                    officer_id,
                )

            for officer_id in sorted(day_model.duty[k], key=rank):
                if filled[need.index] >= need.count:
                    break
                key = (officer_id, k, need.index)
                if key not in day_model.companion and free(key):
                    chosen[(officer_id, k)] = need
                    filled[need.index] += 1
        staffed = [n for n in needs if n.role == "officer" and filled[n.index]]
        for officer_id in day_model.duty[k]:
            options = [(officer_id, k, n.index) for n in staffed]
            options = [o for o in options if o in day_model.companion and free(o)]
            if options:
                key = min(options, key=lambda o: (o not in wanted, o[2]))
                chosen[(officer_id, k)] = day_model.need(key[2])
    return {
        key: int(getattr(chosen.get(key[:2]), "index", None) == key[2]) for key in day_model.keys
    }


def improvable(day_model: DayModel) -> bool:
    """Return whether the greedy assignment leaves a need short while someone eligible is free."""
    busy = {(o, k) for (o, k, _), v in day_model.greedy.items() if v}
    for k, needs in enumerate(day_model.needs):
        for need in needs:
            counted = [
                (o, k, need.index)
                for o in day_model.duty[k]
                if (o, k, need.index) in day_model.known
                and (o, k, need.index) not in day_model.companion
            ]
            filled = sum(day_model.greedy[key] for key in counted)
            if filled < need.count and any(key[:2] not in busy for key in counted):
                return True
    return False


def shortfall_reason(
    day_model: DayModel,
    k: int,
    need: Need,
    chosen: Mapping[tuple[str, int], Need],
    slot_reasons: Mapping[tuple[str, str | None], tuple[str, str]],
) -> tuple[str, str]:
    """Return why ``need`` in slot ``k`` is short, and the counts behind the reason."""
    roles = ("officer",) if need.role == "officer" else ("officer", "assistant")
    free = [
        o
        for o in day_model.duty[k]
        if (o, k) not in chosen or (o, k, chosen[(o, k)].index) in day_model.companion
    ]
    eligible = [o for o in free if day_model.people[o].role in roles]
    if eligible:
        blocked = 0
        for o in eligible:
            earlier = chosen.get((o, k - 1)) if day_model.consecutive(k - 1) else None
            later = chosen.get((o, k + 1)) if day_model.consecutive(k) else None
            if (earlier is not None and not day_model.reachable(earlier, need)) or (
                later is not None and not day_model.reachable(need, later)
            ):
                blocked += 1
        if blocked == len(eligible):
            allowance = day_model.travel.allowance_min if day_model.travel else 0.0
            return (
                "travel",
                f"{blocked} free on duty, each more than {allowance:g} min along the roads from "
                "their place in the slot before or after",
            )
        return "not worth it", f"{len(eligible) - blocked} free on duty could take it"
    if need.role == "officer" and free:
        return (
            "role",
            f"only {len(free)} assistant(s) free: an assistant never counts for an officer's post",
        )
    slot_id = day_model.slots[k].id
    skill = "officer" if need.role == "officer" else None
    found = slot_reasons.get((slot_id, skill)) or slot_reasons.get(
        (slot_id, None if skill else "officer")
    )
    if found is not None:
        return found
    return (
        "no eligible officer free",
        f"all {len(day_model.duty[k])} on duty in the slot are on other requirements",
    )
