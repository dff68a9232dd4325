"""What a roster achieves.

Coverage of the demand by level, why requirements are left short, and how each engine run went.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from grids.rostering_engine import SCALE, EngineProblem, ShiftBlock
from grids.shift_model import ShiftSolution
from grids.staff import Officer

__all__ = [
    "UNCOVERED_COLUMNS",
    "EngineRun",
    "coverage_by_level",
    "coverage_table",
    "deployment_coverage",
    "fairness",
    "finite_numbers",
    "run_summary",
    "uncovered_by_reason",
    "uncovered_table",
]

_ENGINE_REASON = {
    "no eligible staff": "no eligible officer free",
    "busy elsewhere": "no eligible officer free",
}
"""The engine's reasons in the words of a roster: whoever could take it works another shift."""


@dataclass
class EngineRun:
    """One shift-engine problem (a squad's week, or the leaders' rota) and its solution.

    Parameters
    ----------
    name
        The squad id, or ``leaders``.
    engine
        The problem; None when there is nobody to roster.
    solution
        The solution; None when not solved.
    time_limit_s
        The time it was given.
    started_s
        When it started, from the start of the roster.
    fallback
        Whether the search found no roster in its time and the greedy roster was kept.
    """

    name: str
    engine: EngineProblem | None
    solution: ShiftSolution | None = None
    time_limit_s: float = 0.0
    started_s: float = 0.0
    fallback: bool = False

    def on_duty(self) -> dict[tuple[str, date], ShiftBlock]:
        """Return (person, date) → the shift block worked."""
        if self.engine is None or self.solution is None:
            return {}
        engine = self.engine
        return {
            (sid, engine.days[i]): engine.blocks[i][shift]
            for (sid, i), shift in self.solution.assignments.items()
            if shift in engine.blocks[i]
        }

    def slot_reasons(self) -> dict[tuple[date, str, str | None], tuple[str, str]]:
        """Return (date, slot id, skill) → (reason, detail) of each cover left short."""
        found: dict[tuple[date, str, str | None], tuple[str, str]] = {}
        if self.engine is None or self.solution is None:
            return found
        for item in self.solution.uncovered:
            key = self.engine.cover_keys[item.cover_index]
            reason = _ENGINE_REASON.get(item.reason, item.reason)
            found.setdefault((key.date, key.slot_id, key.skill), (reason, item.detail))
        return found


def run_summary(run: EngineRun) -> dict[str, Any]:
    """Return status, objective, bound, gap (weight-hours), times and sizes of a run."""
    entry: dict[str, Any] = {
        "squad_id": run.name,
        "time_limit_s": round(run.time_limit_s, 3),
        "sizes": run.engine.sizes if run.engine is not None else {},
    }
    solution = run.solution
    if solution is None:
        entry["status"] = "NOT_SOLVED"
        return entry
    first = solution.first_solution_s
    entry.update(
        status=solution.status,
        objective=solution.objective / SCALE if solution.objective is not None else None,
        bound=solution.bound / SCALE if solution.bound is not None else None,
        gap=solution.gap,
        first_solution_s=round(first, 3) if first is not None else None,
        wall_time_s=round(solution.wall_time_s, 3),
        changes=solution.changes,
        greedy_fallback=run.fallback,
    )
    return entry


def fairness(runs: Sequence[EngineRun]) -> dict[str, dict[str, float]]:
    """Return min, max and mean nights and weekend days per person of the squads' runs."""
    nights: Counter[str] = Counter()
    weekend_days: Counter[str] = Counter()
    people: set[str] = set()
    for run in runs:
        if run.engine is None or run.name == "leaders":
            continue
        people.update(s.id for s in run.engine.problem.staff)
        for (sid, day), block in run.on_duty().items():
            nights[sid] += block.kind == "night"
            weekend_days[sid] += day.isoweekday() >= 6

    def spread(counts: Counter[str]) -> dict[str, float]:
        values = [counts[p] for p in sorted(people)] or [0]
        return {
            "min": min(values),
            "max": max(values),
            "mean": round(sum(values) / len(values), 3),
        }

    return {"nights": spread(nights), "weekend_days": spread(weekend_days)}


UNCOVERED_COLUMNS: tuple[str, ...] = (
    "requirement_id",
    "date",
    "slot_id",
    "squad_id",
    "post_id",
    "kind",
    "level",
    "role",
    "count",
    "assigned",
    "short",
    "hard",
    "reason",
    "detail",
)

_LEVEL_ORDER = (
    "strict",
    "controlled",
    "regulated",
    "operations",
    "events",
    "full_deployment",
    "leader",
)


def coverage_table(
    demand: pd.DataFrame,
    assignments: pd.DataFrame,
    levels: Sequence[str],
    deployments: Mapping[str, int],
) -> pd.DataFrame:
    """Return the demand with ``level``, ``assigned`` (people counted) and ``covered``.

    An assignment counts for the requirement it names; a full deployment's people are given in
    ``deployments`` (requirement id → members on a day shift). ``covered`` is ``assigned``
    capped at ``count``; ``covered_hours`` the person-hours covered.
    """
    counted = assignments["requirement_id"].dropna().value_counts()
    # A leader or a person on a slot is one person; a requirement's slot rows are one each.
    table = demand.copy()
    table["level"] = list(levels)
    assigned = [
        deployments.get(rid, 0) if kind == "full_deployment" else int(counted.get(rid, 0))
        for rid, kind in zip(table["requirement_id"], table["kind"], strict=True)
    ]
    table["assigned"] = pd.Series(assigned, index=table.index, dtype="int64")
    table["covered"] = table[["assigned", "count"]].min(axis=1)
    per_person = (table["hours"] / table["count"].where(table["count"] > 0)).fillna(0.0)
    table["covered_hours"] = per_person * table["covered"]
    return table


def coverage_by_level(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Return, by level, people and person-hours required and covered, and the shares."""
    found: dict[str, dict[str, Any]] = {}
    for level, group in table.groupby("level", sort=False):
        required = int(group["count"].sum())
        covered = int(group["covered"].sum())
        hours = float(group["hours"].sum())
        covered_hours = float(group["covered_hours"].sum())
        found[str(level)] = {
            "requirements": len(group),
            "required": required,
            "covered": covered,
            "share": covered / required if required else 1.0,
            "hours_required": round(hours, 2),
            "hours_covered": round(covered_hours, 2),
            "hours_share": covered_hours / hours if hours else 1.0,
        }
    order = {name: n for n, name in enumerate(_LEVEL_ORDER)}
    return dict(sorted(found.items(), key=lambda item: (order.get(item[0], 99), item[0])))


def uncovered_table(
    table: pd.DataFrame,
    reasons: Mapping[str, tuple[str, str]],
    slot_reasons: Mapping[tuple[date, str, str | None], tuple[str, str]],
    squads_without_staff: set[str],
) -> pd.DataFrame:
    """Return the requirements left short, each with its reason and detail.

    The reason is stage 2's (``reasons``, by requirement id); else stage 1's for the slot and
    skill; else ``no eligible officer free``.
    """
    rows = []
    short = table[table["covered"] < table["count"]]
    for row in short.to_dict("records"):
        requirement_id = str(row["requirement_id"])
        skill = {"officer": "officer", "leader": "leader"}.get(str(row["role"]))
        found = reasons.get(requirement_id)
        if found is None and row["squad_id"] in squads_without_staff:
            found = ("no eligible officer free", "the squad has no officers or assistants")
        if found is None and row["slot_id"] is not None:
            found = slot_reasons.get((row["date"], str(row["slot_id"]), skill)) or slot_reasons.get(
                (row["date"], str(row["slot_id"]), None if skill else "officer")
            )
        if found is None and row["kind"] == "leader_duty":
            found = slot_reasons.get((row["date"], "leader", "leader"))
        if found is None:
            found = ("no eligible officer free", "nobody eligible is on duty in the slot")
        rows.append(
            {
                "requirement_id": requirement_id,
                "date": row["date"],
                "slot_id": row["slot_id"],
                "squad_id": row["squad_id"],
                "post_id": row["post_id"],
                "kind": row["kind"],
                "level": row["level"],
                "role": row["role"],
                "count": int(row["count"]),
                "assigned": int(row["assigned"]),
                "short": int(row["count"] - row["covered"]),
                "hard": bool(row["hard"]),
                "reason": found[0],
                "detail": found[1],
            }
        )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in UNCOVERED_COLUMNS})
    return pd.DataFrame(rows, columns=list(UNCOVERED_COLUMNS))


def uncovered_by_reason(uncovered: pd.DataFrame, demand: pd.DataFrame) -> dict[str, Any]:
    """Return, by reason: requirements short, people missing, person-hours missing, hard ones."""
    if uncovered.empty:
        return {}
    hours = dict(zip(demand["requirement_id"], demand["hours"] / demand["count"], strict=True))
    found: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"requirements": 0, "people": 0, "hours": 0.0, "hard": 0}
    )
    for row in uncovered.to_dict("records"):
        entry = found[str(row["reason"])]
        entry["requirements"] += 1
        entry["people"] += int(row["short"])
        entry["hours"] += float(hours.get(row["requirement_id"], 0.0)) * int(row["short"])
        entry["hard"] += int(bool(row["hard"]))
    ranked = sorted(found.items(), key=lambda item: -item[1]["hours"])
    return {reason: {**entry, "hours": round(entry["hours"], 2)} for reason, entry in ranked}


def deployment_coverage(
    rows: pd.DataFrame, members: Sequence[Officer], on_duty: Mapping[tuple[str, date], Any]
) -> dict[str, tuple[int, str, str]]:
    """Return requirement id → (members on a day shift, reason, detail) of full deployments."""
    minutes: Counter[str] = Counter()
    for (officer_id, _), block in on_duty.items():
        minutes[officer_id] += block.length_min
    found = {}
    for row in rows[rows["kind"] == "full_deployment"].to_dict("records"):
        day = row["date"]
        working = {m.id for m in members if getattr(on_duty.get((m.id, day)), "kind", "") == "day"}
        idle = [
            m
            for m in members
            if m.id not in working
            and not m.on_leave(day)
            and m.allowed_slots(day.isoweekday()) != frozenset()
        ]
        spent = [m for m in idle if minutes[m.id] + 120 > m.contract_hours_week * 60]
        reason = "hours exhausted" if spent and 2 * len(spent) >= len(idle) else "rest rules"
        detail = (
            f"{len(idle)} available member(s) work no day shift: {len(spent)} at their weekly "
            f"hours, {len(idle) - len(spent)} on a rest day or within the rest between duties"
        )
        found[str(row["requirement_id"])] = (len(working), reason, detail)
    return found


def finite_numbers(value: Any) -> Any:
    """Return ``value`` with every infinite or NaN number replaced by None (JSON has neither)."""
    if isinstance(value, dict):
        return {k: finite_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_numbers(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
