"""A matched roster brought up to date with a changed assignment table, not matched again whole.

:func:`rematch` takes a roster already matched to its demand
(:func:`grids.coverage.roster_coverage`) and the roster's assignment table after a change (a few
rows edited), and gives what matching the new table afresh gives, exactly. Only the requirements
a changed row served before or serves now are counted again, with the others of their place and
time (people there are pooled across roles, :mod:`grids.coverage`); every other requirement
keeps its count.

A row counts as changed when any of its values other than its ``pinned`` mark differs: coverage
does not read the mark. When no row changed, what the readers worked out already
(:attr:`~grids.coverage.RosterCoverage.cache`) is kept too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import replace
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grids.coverage_match import (
    RosterCoverage,
    _checked_assignments,
    _count,
    _serving,
    deployment_squads,
)
from grids.coverage_posts import _in_slot, _overlapping
from grids.coverage_slots import duty_slots
from grids.roster import ASSIGNMENT_COLUMNS

__all__ = ["DUTY_COLUMNS", "changed_duties", "rematch", "rematch_changed"]

DUTY_COLUMNS: Final = tuple(c for c in ASSIGNMENT_COLUMNS if c != "pinned")
"""The columns of an assignment that coverage reads (all but ``pinned``)."""

_GROUP_KEYS: Final = ["date", "post_id", "kind", "start", "end"]
"""A place and time: the requirements whose people are pooled (as :func:`_count` groups them)."""

_COUNT_COLUMNS: Final = (
    "counted",
    "needed",
    "short",
    "met",
    "people",
    "present",
    "uncounted_assistants",
    "reason",
)
"""The columns of the requirements that the assignments decide."""

_KEPT_ON_CHANGE: Final = frozenset({"requirement_rows"})
"""What the readers keep that depends on the requirements' order only, not on who serves."""

_SLOT_READERS: Final = frozenset(
    {
        "cells",
        "people",
        "by_post",
        "lengths",
        "segments",
        "segment_grids",
        "gaps",
        "summary",
        "figures",
    }
)
"""The readers (:mod:`grids.coverage_posts`, :mod:`grids.coverage_day`) that keep answers of one
slot under ``(reader, day, slot id, ...)`` (the cells under ``("cells", day, (slot id,))``):
answers of a slot no change reaches are kept."""


def _duty_rows(table: pd.DataFrame) -> list[tuple[Hashable, ...]]:
    columns = [table[c].tolist() for c in DUTY_COLUMNS]
    return list(zip(*columns, strict=True))


def changed_duties(
    before: pd.DataFrame, after: pd.DataFrame
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Return which rows of two checked assignment tables differ in what coverage reads.

    Parameters
    ----------
    before, after
        Assignment tables as :func:`grids.coverage.roster_coverage` keeps them
        (:attr:`~grids.coverage.RosterCoverage.assignments`).

    Returns
    -------
    tuple of numpy.ndarray
        The positions of the rows of ``before`` that are not in ``after``, and of the rows of
        ``after`` that are not in ``before``, comparing :data:`DUTY_COLUMNS` (a row twice
        counts twice).
    """
    old, new = _duty_rows(before), _duty_rows(after)
    gone = Counter(old) - Counter(new)
    came = Counter(new) - Counter(old)

    def positions(rows: list[tuple[Hashable, ...]], extra: Counter[Any]) -> NDArray[np.intp]:
        found = []
        for position, row in enumerate(rows):
            if extra[row] > 0:
                extra[row] -= 1
                found.append(position)
        return np.asarray(found, dtype=np.intp)

    return positions(old, gone), positions(new, came)


def _column(values: NDArray[Any], like: pd.Series) -> pd.Series:
    return pd.Series(values, index=like.index, dtype=like.dtype)


def rematch(previous: RosterCoverage, assignments: pd.DataFrame) -> RosterCoverage:
    """Return ``previous`` matched again with a changed assignment table, as a full match would.

    Parameters
    ----------
    previous
        The roster matched to its demand (:func:`grids.coverage.roster_coverage`), before the
        change.
    assignments
        The whole assignment table after the change (:data:`grids.roster.ASSIGNMENT_COLUMNS`),
        of the days ``previous`` was matched for.

    Returns
    -------
    RosterCoverage
        Equal, field by field, to :func:`grids.coverage.roster_coverage` of ``assignments`` with
        the demand, posts, staff, policy and unit grids of ``previous``.

    Raises
    ------
    geodata.errors.FieldError
        If the table lacks a column or has a bad value.
    """
    return rematch_changed(previous, assignments)[0]


def rematch_changed(
    previous: RosterCoverage, assignments: pd.DataFrame
) -> tuple[RosterCoverage, bool]:
    """Return :func:`rematch` of ``previous`` and ``assignments``, and whether a row changed.

    A row changed when it differs in what coverage reads (:data:`DUTY_COLUMNS`): when none did,
    every answer of ``previous`` stands for the new table too.

    Raises
    ------
    geodata.errors.FieldError
        If the table lacks a column or has a bad value.
    """
    table = _checked_assignments(assignments)
    removed, added = changed_duties(previous.assignments, table)
    if not len(removed) and not len(added):
        return replace(previous, assignments=table, cache=dict(previous.cache)), False
    need = previous.requirements
    ids = set(need["requirement_id"])
    changed = pd.concat([previous.assignments.iloc[removed], table.iloc[added]], ignore_index=True)
    # only requirements a changed row names, or of a place it stands on, may be served by it
    near = (
        need["requirement_id"].isin(set(changed["requirement_id"].dropna())).to_numpy()
        | need["post_id"].isin(set(changed["post_id"].dropna())).to_numpy()
        | (need["kind"] == "full_deployment").to_numpy()  # served by any duty of its squad
    )
    served = set(_serving(need[near], changed, ids)["requirement_id"])
    if not served:
        cache = _kept_answers(previous, np.zeros(0, dtype=np.intp), changed)
        return replace(previous, assignments=table, cache=cache), True
    groups = need.groupby(_GROUP_KEYS, sort=False, dropna=False).ngroup().to_numpy()
    touched = np.unique(groups[need["requirement_id"].isin(served).to_numpy()])
    rows = np.flatnonzero(np.isin(groups, touched))
    part = need.iloc[rows].reset_index(drop=True)
    # the rows that may serve them: naming one of them, or standing on one of their places
    near = (
        table["requirement_id"].isin(set(part["requirement_id"])).to_numpy()
        | table["post_id"].isin(set(part["post_id"].dropna())).to_numpy()
        | table["squad_id"].isin(set(deployment_squads(part).dropna())).to_numpy()
    )
    counted = _count(part, _serving(part, table[near], ids))
    requirements = need.copy()
    for name in _COUNT_COLUMNS:
        values = need[name].to_numpy(dtype=object if need[name].dtype == object else None)
        values = values.copy()
        values[rows] = counted[name].to_numpy(dtype=values.dtype)
        requirements[name] = _column(values, need[name])
    cache = _kept_answers(previous, rows, changed)
    return replace(previous, requirements=requirements, assignments=table, cache=cache), True


def _slot_of(key: Hashable) -> tuple[date, str] | None:
    """Return the day and slot of an answer a reader keeps, None if not of one slot."""
    if not isinstance(key, tuple) or len(key) < 3 or key[0] not in _SLOT_READERS:
        return None
    day, slot = key[1], key[2]
    if key[0] == "cells":
        slot = slot[0] if isinstance(slot, tuple) and len(slot) == 1 else None
    if not isinstance(day, date) or not isinstance(slot, str):
        return None
    return day, slot


def _reached(
    coverage: RosterCoverage, day: date, rows: NDArray[np.intp], changed: pd.DataFrame
) -> set[str]:
    """Return the slots of ``day`` a change reaches: a recounted requirement or a changed row in it.

    A slot id the day does not have counts as reached.
    """
    recounted = coverage.requirements.iloc[rows]
    recounted = recounted[recounted["date"].eq(day).to_numpy(dtype=bool)]
    on_day = changed[changed["date"].eq(day).to_numpy(dtype=bool)]
    starts, ends = on_day["start"].to_numpy(), on_day["end"].to_numpy()
    return {
        slot.id
        for slot in duty_slots(day, coverage.policy, calendar=coverage.calendar)
        if _in_slot(recounted, slot).any() or _overlapping(starts, ends, slot).any()
    }


def _kept_answers(
    previous: RosterCoverage, rows: NDArray[np.intp], changed: pd.DataFrame
) -> dict[Any, Any]:
    """Return what the readers of ``previous`` worked out that a change leaves as it was.

    ``rows`` are the requirements recounted, ``changed`` the assignment rows changed (before and
    after). A slot's answers read the requirements in the slot and the rows overlapping it, and
    nothing else that a change of rows can change; a day's answers read every slot.
    """
    cache = dict(previous.cache)  # one step: other threads may be adding to it
    reached: dict[date, set[str]] = {}
    known: dict[date, set[str]] = {}
    kept: dict[Any, Any] = {}
    for key, value in cache.items():
        slot = _slot_of(key)
        if slot is not None:
            day, slot_id = slot
            if day not in reached:
                reached[day] = _reached(previous, day, rows, changed)
                slots = duty_slots(day, previous.policy, calendar=previous.calendar)
                known[day] = {s.id for s in slots}
            if slot_id in known[day] and slot_id not in reached[day]:
                kept[key] = value
        elif key in _KEPT_ON_CHANGE:
            kept[key] = value
    return kept
