"""Coverage of posts, road length and requirements in a slot or a day (:mod:`grids.coverage`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grids.coverage_match import RosterCoverage
from grids.coverage_slots import DutySlot, duty_slots

__all__ = [
    "GAP_REASONS",
    "LENGTH_KEYS",
    "STATUSES",
    "CoverageStatus",
    "GapReason",
    "LengthKey",
    "PersonOnDuty",
    "coverage_by_post",
    "coverage_by_slot",
    "covered_length",
    "gaps",
    "people_on_duty",
]

CoverageStatus = Literal["covered", "partly", "gap", "not_required"]
STATUSES: tuple[CoverageStatus, ...] = get_args(CoverageStatus)
GapReason = Literal["none_assigned", "assistant_only", "short"]
GAP_REASONS: tuple[GapReason, ...] = get_args(GapReason)
LengthKey = Literal["road", "level", "squad", "unit_grid", "responsibility_grid", "subdistrict"]
LENGTH_KEYS: tuple[LengthKey, ...] = get_args(LengthKey)
_ROLE_ORDER = {"leader": 0, "officer": 1, "any": 2}
_REASONS_ZH: Mapping[GapReason, str] = {
    "none_assigned": "无人值守",
    "assistant_only": "仅有协管员，需执法队员",
    "short": "缺 {short} 人",
}
_REASONS_EN: Mapping[GapReason, str] = {
    "none_assigned": "no one assigned",
    "assistant_only": "only an assistant; an officer is required",
    "short": "short by {short}",
}


@dataclass(frozen=True)
class PersonOnDuty:
    """Someone on duty: who, in which role, where and how to reach them."""

    officer_id: str
    name: str
    role: str
    squad_id: str | None
    phone: str | None
    post_ids: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the person as a JSON-ready mapping."""
        return {
            "officer_id": self.officer_id,
            "name": self.name,
            "role": self.role,
            "squad_id": self.squad_id,
            "phone": self.phone,
            "post_ids": list(self.post_ids),
            "tasks": list(self.tasks),
        }


Kept = TypeVar("Kept")


def _kept(coverage: RosterCoverage, key: Hashable, make: Callable[[], Kept]) -> Kept:
    """Return what ``coverage`` keeps under ``key``, made by ``make`` the first time.

    A reader's answer is kept with the matched roster: a coverage answer reads the same tables
    several times (the day's timeline for its summary and its own, the posts by slot for every
    length). Tables are given as copies, so that a caller's change does not reach the next.
    """
    if key not in coverage.cache:
        coverage.cache[key] = make()
    found: Kept = coverage.cache[key]
    return found


def _duty_slot(coverage: RosterCoverage, day: date, slot_id: str) -> DutySlot:
    slots = duty_slots(day, coverage.policy, calendar=coverage.calendar)
    for slot in slots:
        if slot.id == slot_id:
            return slot
    known = ", ".join(s.id for s in slots)
    raise KeyError(f"{day} has no slot {slot_id!r}; its slots are {known}")


def _overlapping(starts: NDArray[Any], ends: NDArray[Any], slot: DutySlot) -> NDArray[np.bool_]:
    """Return whether each span from ``starts`` to ``ends`` overlaps the slot."""
    overlapping: NDArray[np.bool_] = (starts < np.datetime64(slot.end)) & (
        ends > np.datetime64(slot.start)
    )
    return overlapping


def _in_slot(frame: pd.DataFrame, slot: DutySlot) -> NDArray[np.bool_]:
    """Return whether each requirement belongs to the slot: its own, or one it overlaps.

    A requirement with a slot belongs to that slot only; one without (duty leader, full
    deployment) to every slot it overlaps.
    """
    slot_ids = frame["slot_id"].to_numpy(dtype=object)
    inside: NDArray[np.bool_] = (slot_ids == slot.id) | (
        pd.isna(slot_ids) & _overlapping(frame["start"].to_numpy(), frame["end"].to_numpy(), slot)
    )
    return inside


def _requirements_in(coverage: RosterCoverage, day: date, slot: DutySlot | None) -> pd.DataFrame:
    frame = coverage.requirements
    frame = frame[frame["date"].eq(day).to_numpy()]
    return frame if slot is None else frame[_in_slot(frame, slot)]


def _assignments_in(coverage: RosterCoverage, day: date, slot: DutySlot | None) -> pd.DataFrame:
    table = coverage.assignments
    table = table[table["date"].eq(day).to_numpy()]
    if slot is None:
        return table
    return table[_overlapping(table["start"].to_numpy(), table["end"].to_numpy(), slot)]


def _role_counts(people: Sequence[PersonOnDuty]) -> tuple[int, int]:
    """Return how many of the people on duty are officers, and how many assistants."""
    return (
        sum(1 for p in people if p.role == "officer"),
        sum(1 for p in people if p.role == "assistant"),
    )


_COUNTS = ("required", "required_officers", "required_any", "counted", "counted_officers", "gaps")
_STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
_COVERED, _PARTLY, _GAP, _NOT_REQUIRED = (_STATUS_CODE[s] for s in STATUSES)


@dataclass(frozen=True)
class _SlotCells:
    """What every (slot, post) cell of a day needs and gets; arrays of shape (slots, posts)."""

    slots: tuple[DutySlot, ...]
    counts: dict[str, NDArray[np.int64]]
    requirements: NDArray[np.int64]
    status: NDArray[np.int64]
    requirement_ids: dict[int, tuple[str, ...]]
    people: dict[int, tuple[str, ...]]
    officers: NDArray[np.int64]
    assistants: NDArray[np.int64]


def _ranges(starts: NDArray[np.intp], counts: NDArray[np.intp]) -> NDArray[np.intp]:
    """Return the concatenated ranges ``starts[i] .. starts[i] + counts[i]``."""
    total = int(counts.sum())
    firsts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - firsts)


def _requirement_slots(
    coverage: RosterCoverage, day: date, slots: Sequence[DutySlot]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Return (requirement row, slot number) of every requirement of the day in each slot."""
    table = coverage.requirements
    rows = np.flatnonzero(table["date"].eq(day).to_numpy(dtype=bool))
    of_day = table.iloc[rows]
    found_rows, found_slots = [], []
    for number, slot in enumerate(slots):
        inside = _in_slot(of_day, slot)
        found_rows.append(rows[inside])
        found_slots.append(np.full(int(inside.sum()), number, dtype=np.intp))
    if not found_rows:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(found_rows), np.concatenate(found_slots)


def _tuples_by_key(
    keys: NDArray[np.intp], values: NDArray[np.object_]
) -> dict[int, tuple[str, ...]]:
    """Return key → the distinct values with that key, in their order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order].tolist()
    sorted_values = values[order].tolist()
    bounds = [0, *(np.flatnonzero(np.diff(keys[order])) + 1).tolist(), len(sorted_keys)]
    return {
        int(sorted_keys[first]): tuple(dict.fromkeys(str(v) for v in sorted_values[first:last]))
        for first, last in itertools.pairwise(bounds)
        if last > first
    }


def _slot_cells(coverage: RosterCoverage, day: date, slots: Sequence[DutySlot]) -> _SlotCells:
    key = ("cells", day, tuple(s.id for s in slots))
    if key not in coverage.cache:
        coverage.cache[key] = _new_slot_cells(coverage, day, slots)
    cells: _SlotCells = coverage.cache[key]
    return cells


def _new_slot_cells(coverage: RosterCoverage, day: date, slots: Sequence[DutySlot]) -> _SlotCells:
    n_posts, n_slots = len(coverage.posts), len(slots)
    size = n_posts * n_slots
    table = coverage.requirements
    rows, numbers = _requirement_slots(coverage, day, slots)
    offsets = coverage.requirement_post_offsets
    counts = offsets[rows + 1] - offsets[rows]
    links = _ranges(offsets[rows], counts)
    post_rows = coverage.requirement_posts["post_row"].to_numpy()[links]
    requirement_rows = np.repeat(rows, counts)
    known = post_rows >= 0
    keys = (np.repeat(numbers, counts) * n_posts + post_rows)[known]
    requirement_rows = requirement_rows[known]
    role = table["role"].to_numpy(dtype=object)[requirement_rows]
    needed = table["needed"].to_numpy(dtype=np.int64)[requirement_rows]
    got = np.minimum(table["counted"].to_numpy(dtype=np.int64)[requirement_rows], needed)
    unmet = ~table["met"].to_numpy(dtype=bool)[requirement_rows]
    is_officer, is_any = role == "officer", role == "any"

    def summed(weights: NDArray[Any]) -> NDArray[np.int64]:
        total = np.bincount(keys, weights=weights.astype(float), minlength=size)
        return np.rint(total).astype(np.int64).reshape(n_slots, n_posts)

    cell_counts = {
        "required": summed(needed),
        "required_officers": summed(np.where(is_officer, needed, 0)),
        "required_any": summed(np.where(is_any, needed, 0)),
        "counted": summed(got),
        "counted_officers": summed(np.where(is_officer, got, 0)),
        "gaps": summed(unmet),
    }
    requirements = summed(np.ones(len(keys)))
    status = np.where(
        requirements == 0,
        _NOT_REQUIRED,
        np.where(
            cell_counts["gaps"] == 0,
            _COVERED,
            np.where(cell_counts["counted"] == 0, _GAP, _PARTLY),
        ),
    ).astype(np.int64)
    ids = table["requirement_id"].to_numpy(dtype=object)[requirement_rows]
    present_keys, officers, roles = _present(coverage, day, slots)
    enforcing = np.isin(roles, ("officer", "leader"))
    helping = roles == "assistant"
    return _SlotCells(
        slots=tuple(slots),
        counts=cell_counts,
        requirements=requirements,
        status=status,
        requirement_ids=_tuples_by_key(keys, ids),
        people=_tuples_by_key(present_keys, officers),
        officers=np.bincount(present_keys[enforcing], minlength=size).reshape(n_slots, n_posts),
        assistants=np.bincount(present_keys[helping], minlength=size).reshape(n_slots, n_posts),
    )


def _present(
    coverage: RosterCoverage, day: date, slots: Sequence[DutySlot]
) -> tuple[NDArray[np.intp], NDArray[np.object_], NDArray[np.object_]]:
    """Return (cell key, officer id, role) of everyone on a post in a slot, once per cell.

    Someone on a patrol route or other place stands on each of its posts.
    """
    table = coverage.assignments
    table = table[table["date"].eq(day).to_numpy(dtype=bool)]
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    places = table["post_id"].to_numpy(dtype=object)
    people = table["officer_id"].to_numpy(dtype=object)
    roles = table["role"].to_numpy(dtype=object)
    n_posts = len(coverage.posts)
    found: dict[tuple[int, str], str] = {}
    for number, slot in enumerate(slots):
        for row in np.flatnonzero(_overlapping(starts, ends, slot)):
            for post_row in coverage.place_rows.get(places[row], ()) if places[row] else ():
                found.setdefault((number * n_posts + post_row, str(people[row])), str(roles[row]))
    ordered = sorted(found.items())
    return (
        np.asarray([key for (key, _), _ in ordered], dtype=np.intp),
        np.asarray([person for (_, person), _ in ordered], dtype=object),
        np.asarray([role for _, role in ordered], dtype=object),
    )


def _slot_frame(coverage: RosterCoverage, cells: _SlotCells) -> pd.DataFrame:
    """Return the cells as one row per post and slot, slot by slot."""
    n_posts, n_slots = len(coverage.posts), len(cells.slots)
    posts = coverage.posts.rename(columns={"id": "post_id"})
    frame = pd.DataFrame(
        {
            "slot_id": np.repeat(np.asarray([s.id for s in cells.slots], dtype=object), n_posts),
            **{c: np.tile(posts[c].to_numpy(), n_slots) for c in posts.columns},
            **{c: cells.counts[c].ravel() for c in _COUNTS[:5]},
            "requirement_ids": [cells.requirement_ids.get(k, ()) for k in range(n_posts * n_slots)],
            "gaps": cells.counts["gaps"].ravel(),
            "status": np.asarray(STATUSES, dtype=object)[cells.status.ravel()],
            "officers": cells.officers.ravel().astype(np.int64),
            "assistants": cells.assistants.ravel().astype(np.int64),
            "people": [cells.people.get(k, ()) for k in range(n_posts * n_slots)],
        }
    )
    return frame


def coverage_by_slot(coverage: RosterCoverage, day: date) -> pd.DataFrame:
    """Return the coverage of every post in every slot of ``day``, slot by slot.

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`coverage_by_post` for each slot of the day in time order, with a
        ``slot_id`` column first.

    Raises
    ------
    ValueError
        If the calendar does not cover the year of ``day``.
    """
    found: pd.DataFrame = _kept(
        coverage, ("by_slot", day), lambda: _coverage_by_slot(coverage, day)
    )
    return found.copy()


def _coverage_by_slot(coverage: RosterCoverage, day: date) -> pd.DataFrame:
    slots = duty_slots(day, coverage.policy, calendar=coverage.calendar)
    return _slot_frame(coverage, _slot_cells(coverage, day, slots))


def coverage_by_post(
    coverage: RosterCoverage, day: date, slot_id: str | None = None
) -> pd.DataFrame:
    """Return each post's required and assigned staff, and its coverage status.

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.
    slot_id
        The slot; None for the whole day, where counts are summed over the slots (person-slots),
        the people are everyone on the post in any slot, and the status is ``covered`` when every
        slot that requires the post is covered, ``gap`` when none is, ``partly`` otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per post, in the posts' order: ``post_id``, ``kind``, ``level``, ``road_id``,
        ``road_name_zh``, ``squad_id``, ``length_m``; ``required`` (people its requirements need:
        ``required_officers`` of them officers, ``required_any`` anyone), ``counted`` (people who
        count toward them, ``counted_officers`` toward the officer requirements),
        ``requirement_ids``, ``gaps`` (requirements short); ``status`` (:data:`STATUSES`);
        ``officers`` and ``assistants`` on the post (officers counting duty leaders) and
        ``people`` (their ids), whether they count or not.

    Raises
    ------
    KeyError
        If the day has no slot ``slot_id``.
    """
    found: pd.DataFrame = _kept(
        coverage, ("by_post", day, slot_id), lambda: _coverage_by_post(coverage, day, slot_id)
    )
    return found.copy()


def _coverage_by_post(coverage: RosterCoverage, day: date, slot_id: str | None) -> pd.DataFrame:
    if slot_id is not None:
        slot = _duty_slot(coverage, day, slot_id)
        return _slot_frame(coverage, _slot_cells(coverage, day, [slot])).drop(columns="slot_id")
    slots = duty_slots(day, coverage.policy, calendar=coverage.calendar)
    cells = _slot_cells(coverage, day, slots)
    n_posts = len(coverage.posts)
    frame = coverage.posts.rename(columns={"id": "post_id"})
    for column in _COUNTS:
        frame[column] = cells.counts[column].sum(axis=0)
    required = cells.status != _NOT_REQUIRED
    any_required = required.any(axis=0)
    all_covered = ((cells.status == _COVERED) | ~required).all(axis=0)
    all_open = ((cells.status == _GAP) | ~required).all(axis=0)
    status = np.where(
        ~any_required,
        _NOT_REQUIRED,
        np.where(all_covered, _COVERED, np.where(all_open, _GAP, _PARTLY)),
    )
    frame["requirement_ids"] = [
        tuple(
            i for n in range(len(slots)) for i in cells.requirement_ids.get(n * n_posts + row, ())
        )
        for row in range(n_posts)
    ]
    frame["status"] = np.asarray(STATUSES, dtype=object)[status]
    people = [
        tuple(
            sorted({p for n in range(len(slots)) for p in cells.people.get(n * n_posts + row, ())})
        )
        for row in range(n_posts)
    ]
    roles = _roles(coverage, coverage.assignments[coverage.assignments["date"].eq(day).to_numpy()])
    frame["officers"] = np.asarray(
        [sum(1 for p in ids if roles.get(p) in ("officer", "leader")) for ids in people],
        dtype=np.int64,
    )
    frame["assistants"] = np.asarray(
        [sum(1 for p in ids if roles.get(p) == "assistant") for ids in people], dtype=np.int64
    )
    frame["people"] = people
    return frame.reset_index(drop=True)


def _roles(coverage: RosterCoverage, table: pd.DataFrame) -> dict[str, str]:
    roles: dict[str, str] = {person: officer.role for person, officer in coverage.staff.items()}
    roles.update(
        {str(p): str(r) for p, r in zip(table["officer_id"], table["role"], strict=True) if r}
    )
    return roles


def _empty_lengths(key: str) -> pd.DataFrame:
    columns: dict[str, Any] = {key: pd.Series([], dtype=object)}
    for column in ("required_m", "covered_m", "partly_m", "gap_m", "not_required_m", "coverage"):
        columns[column] = pd.Series([], dtype="float64")
    return pd.DataFrame(columns)


def covered_length(
    coverage: RosterCoverage, day: date, slot_id: str | None = None, *, by: LengthKey = "level"
) -> pd.DataFrame:
    """Return the road length required and covered, by road, level, squad or area.

    Lengths are those of the segment posts (``length_m``, measured in a projected CRS when the
    posts were made; for unit grids, responsibility grids and sub-districts, the post lengths
    inside each unit grid).

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.
    slot_id
        The slot; None sums over the slots of the day (metre-slots).
    by
        ``road`` (the road name, or the road id where a post has no name), ``level``, ``squad``,
        ``unit_grid``, ``responsibility_grid`` or ``subdistrict``.

    Returns
    -------
    pandas.DataFrame
        One row per key value, sorted: the key column (named ``by``), ``required_m``,
        ``covered_m``, ``partly_m``, ``gap_m`` (of the required length, by status),
        ``not_required_m`` and ``coverage`` (``covered_m / required_m``, NaN where nothing is
        required).

    Raises
    ------
    ValueError
        If ``by`` is an area and the coverage was made without unit grids, or ``by`` is unknown.
    KeyError
        If the day has no slot ``slot_id``.
    """
    found: pd.DataFrame = _kept(
        coverage, ("lengths", day, slot_id, by), lambda: _covered_length(coverage, day, slot_id, by)
    )
    return found.copy()


def _covered_length(
    coverage: RosterCoverage, day: date, slot_id: str | None, by: LengthKey
) -> pd.DataFrame:
    if by not in LENGTH_KEYS:
        raise ValueError(f"by must be one of {', '.join(LENGTH_KEYS)}, not {by!r}")
    # the segment rows, and their pieces in each unit grid, are kept for the other keys
    frame = _kept(coverage, ("segments", day, slot_id), lambda: _segments(coverage, day, slot_id))
    if by in ("unit_grid", "responsibility_grid", "subdistrict"):
        post_grids, grid_areas = coverage.post_grids, coverage.grid_areas
        if post_grids is None or grid_areas is None:
            raise ValueError(f"coverage by {by} needs the unit grids: pass them to roster_coverage")
        areas = by != "unit_grid"
        segments = frame
        frame = _kept(
            coverage,
            ("segment_grids", day, slot_id, areas),
            lambda: _segment_grids(segments, post_grids, grid_areas if areas else None),
        )
        area_column = {
            "unit_grid": "grid_code",
            "responsibility_grid": "responsibility_grid_id",
            "subdistrict": "subdistrict_code",
        }[by]
        keys = frame[area_column]
    elif by == "road":
        keys = frame["road_name_zh"].fillna(frame["road_id"])
    elif by == "level":
        keys = frame["level"]
    else:
        keys = frame["squad_id"]
    if frame.empty:
        return _empty_lengths(by)
    lengths = frame["length_m"].to_numpy(dtype=float)
    status = frame["status"].to_numpy(dtype=object)
    table = pd.DataFrame(
        {
            by: keys.to_numpy(dtype=object),
            "required_m": np.where(status != "not_required", lengths, 0.0),
            "covered_m": np.where(status == "covered", lengths, 0.0),
            "partly_m": np.where(status == "partly", lengths, 0.0),
            "gap_m": np.where(status == "gap", lengths, 0.0),
            "not_required_m": np.where(status == "not_required", lengths, 0.0),
        }
    )
    table = table[table[by].notna().to_numpy()]
    if table.empty:
        return _empty_lengths(by)
    summed = table.groupby(by, sort=True).sum().reset_index()
    required = summed["required_m"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        summed["coverage"] = np.where(
            required > 0, summed["covered_m"].to_numpy() / required, np.nan
        )
    return summed.astype({by: object})


def _segments(coverage: RosterCoverage, day: date, slot_id: str | None) -> pd.DataFrame:
    """Return the segment posts' rows of a slot (of every slot of the day, if None)."""
    if slot_id is None:
        frame = coverage_by_slot(coverage, day)
    else:
        frame = coverage_by_post(coverage, day, slot_id)
    frame = frame[frame["kind"].eq("segment").to_numpy()]
    columns = ["post_id", "status", "length_m", "level", "squad_id", "road_name_zh", "road_id"]
    return frame[columns]


def _segment_grids(
    segments: pd.DataFrame, post_grids: pd.DataFrame, grid_areas: pd.DataFrame | None
) -> pd.DataFrame:
    """Return the segment rows cut by unit grid (with their areas, if ``grid_areas``)."""
    frame = segments.drop(columns="length_m").merge(post_grids, on="post_id")
    if grid_areas is not None:
        frame = frame.merge(grid_areas, on="grid_code", how="left")
    return frame


def _posts_of(coverage: RosterCoverage, requirement_ids: Sequence[str]) -> list[tuple[str, ...]]:
    """Return the posts of each requirement, in the demand's order."""
    rows = coverage.cache.get("requirement_rows")
    if rows is None:
        rows = {r: n for n, r in enumerate(coverage.requirements["requirement_id"])}
        coverage.cache["requirement_rows"] = rows
    offsets = coverage.requirement_post_offsets
    names = coverage.requirement_posts["post_id"].to_numpy(dtype=object)
    found = []
    for requirement_id in requirement_ids:
        row = rows[requirement_id]
        found.append(tuple(str(p) for p in names[offsets[row] : offsets[row + 1]]))
    return found


def _gap_text(reason: str, short: int, table: Mapping[GapReason, str]) -> str:
    return table[reason].format(short=short)  # type: ignore[index]


def gaps(coverage: RosterCoverage, day: date, slot_id: str | None = None) -> pd.DataFrame:
    """Return the requirements of a day (or slot) left short, and why.

    Parameters
    ----------
    coverage
        The roster matched to its demand (:func:`roster_coverage`).
    day
        The duty day.
    slot_id
        The slot; None for every requirement of the day. Requirements without a slot (duty
        leader, full deployment) belong to every slot they overlap.

    Returns
    -------
    pandas.DataFrame
        One row per short requirement, strict ones first, then by start, kind and place:
        ``requirement_id``, ``date``, ``slot_id``, ``start``, ``end``, ``kind``, ``post_id``
        (the place), ``post_ids`` (tuple), ``squad_id``, ``role``, ``level``, ``strict``,
        ``hard``, ``needed``, ``counted``, ``short``, ``people`` (who is there), ``reason``
        (:data:`GAP_REASONS`), ``reason_zh`` and ``reason_en`` (the reason in words),
        ``requirement_zh`` (what the demand asks) and ``solver_reason`` (the roster solver's
        reason, where it gave one).

    Raises
    ------
    KeyError
        If the day has no slot ``slot_id``.
    """
    found: pd.DataFrame = _kept(
        coverage, ("gaps", day, slot_id), lambda: _gaps(coverage, day, slot_id)
    )
    return found.copy()


def _gaps(coverage: RosterCoverage, day: date, slot_id: str | None) -> pd.DataFrame:
    slot = None if slot_id is None else _duty_slot(coverage, day, slot_id)
    frame = _requirements_in(coverage, day, slot)
    frame = frame[~frame["met"].to_numpy(dtype=bool)]
    result = pd.DataFrame(
        {
            "requirement_id": frame["requirement_id"].to_numpy(dtype=object),
            "date": frame["date"].to_numpy(dtype=object),
            "slot_id": frame["slot_id"].to_numpy(dtype=object),
            "start": frame["start"].to_numpy(),
            "end": frame["end"].to_numpy(),
            "kind": frame["kind"].to_numpy(dtype=object),
            "post_id": frame["post_id"].to_numpy(dtype=object),
            "post_ids": _posts_of(coverage, frame["requirement_id"].tolist()),
            "squad_id": frame["squad_id"].to_numpy(dtype=object),
            "role": frame["role"].to_numpy(dtype=object),
            "level": frame["level"].to_numpy(dtype=object),
            "strict": frame["strict"].to_numpy(dtype=bool),
            "hard": frame["hard"].to_numpy(dtype=bool),
            "needed": frame["needed"].to_numpy(dtype=np.int64),
            "counted": frame["counted"].to_numpy(dtype=np.int64),
            "short": frame["short"].to_numpy(dtype=np.int64),
            "people": frame["present"].to_numpy(dtype=object),
            "reason": frame["reason"].to_numpy(dtype=object),
            "reason_zh": [
                _gap_text(r, s, _REASONS_ZH)
                for r, s in zip(frame["reason"], frame["short"], strict=True)
            ],
            "reason_en": [
                _gap_text(r, s, _REASONS_EN)
                for r, s in zip(frame["reason"], frame["short"], strict=True)
            ],
            "requirement_zh": frame["reason_zh"].to_numpy(dtype=object)
            if "reason_zh" in frame.columns
            else None,
            "solver_reason": frame["solver_reason"].to_numpy(dtype=object),
        }
    )
    if result.empty:
        return result
    keys = zip(
        ~result["strict"].to_numpy(dtype=bool),
        result["start"].to_numpy(),
        result["kind"].astype(str),
        result["post_id"].fillna("").astype(str),
        [_ROLE_ORDER.get(str(r), 3) for r in result["role"]],
        strict=True,
    )
    order = [i for _, i in sorted((key, i) for i, key in enumerate(keys))]
    return result.iloc[order].reset_index(drop=True)


def people_on_duty(
    coverage: RosterCoverage, day: date, slot_id: str | None = None
) -> list[PersonOnDuty]:
    """Return everyone on duty in a slot (or during the day), leaders first, then by id.

    Raises
    ------
    KeyError
        If the day has no slot ``slot_id``.
    """
    key = ("people", day, slot_id)
    if key not in coverage.cache:
        coverage.cache[key] = _people_on_duty(coverage, day, slot_id)
    people: list[PersonOnDuty] = coverage.cache[key]
    return list(people)


def _people_on_duty(coverage: RosterCoverage, day: date, slot_id: str | None) -> list[PersonOnDuty]:
    slot = None if slot_id is None else _duty_slot(coverage, day, slot_id)
    table = _assignments_in(coverage, day, slot)
    found: dict[str, dict[str, Any]] = {}
    for officer_id, role, squad_id, post_id, task in zip(
        table["officer_id"],
        table["role"],
        table["squad_id"],
        table["post_id"],
        table["task"],
        strict=True,
    ):
        entry = found.setdefault(
            str(officer_id), {"role": None, "squad": None, "posts": {}, "tasks": {}}
        )
        entry["role"] = entry["role"] or role
        entry["squad"] = entry["squad"] or squad_id
        if post_id:
            entry["posts"][post_id] = None
        if task:
            entry["tasks"][task] = None
    people = []
    for officer_id, entry in found.items():
        person = coverage.staff.get(officer_id)
        people.append(
            PersonOnDuty(
                officer_id=officer_id,
                name=person.name if person else officer_id,
                role=str(entry["role"] or (person.role if person else "officer")),
                squad_id=entry["squad"] or (person.squad_id if person else None),
                phone=person.phone if person else None,
                post_ids=tuple(entry["posts"]),
                tasks=tuple(entry["tasks"]),
            )
        )
    rank = {"leader": 0, "officer": 1, "assistant": 2}
    return sorted(people, key=lambda p: (rank.get(p.role, 3), p.officer_id))
