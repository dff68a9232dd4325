"""Matching a roster's assignments to the requirements they serve (see :mod:`grids.coverage`).

:func:`roster_coverage` checks the assignment table, the demand and the posts, finds who serves
each requirement and who counts toward it, and keeps what the readers of :mod:`grids.coverage`
need: the requirements with their counts, the posts each covers, and how much of each post lies
in each unit grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame
from numpy.typing import NDArray

from geodata.errors import FieldError
from grids.calendar import HolidayCalendar
from grids.policy import DutyPolicy
from grids.road_grid import post_grid_lengths
from grids.roster import check_assignments
from grids.staff import Officer

__all__ = ["RosterCoverage", "roster_coverage", "solver_reasons", "unit_grid_areas"]

_LEVEL_RANK = {"strict": 0, "controlled": 1, "regulated": 2}
_ROLE_ORDER = {"leader": 0, "officer": 1, "any": 2}
_DEMAND_NEEDS = ("requirement_id", "date", "start", "end", "post_id", "role", "count", "kind")
_POST_NEEDS = ("id", "level")
_POST_COLUMNS = ("id", "kind", "level", "road_id", "road_name_zh", "squad_id", "length_m")


@dataclass(frozen=True, eq=False)
class RosterCoverage:
    """A roster matched to its demand, ready to be read day by day (see :func:`roster_coverage`).

    Attributes
    ----------
    requirements
        The demand rows with what the roster gives each: ``needed`` (people), ``counted`` (people
        who count toward it), ``short``, ``met``, ``people`` (their ids), ``present`` (everyone
        serving its place and time), ``uncounted_assistants``, ``reason`` (a
        :data:`GapReason` where short), ``solver_reason``, ``strict`` (whether a strict post is
        among its posts) and ``level`` (the highest level among them).
    requirement_posts
        ``requirement_id`` → ``post_id``, one row per post a requirement covers, in the order of
        the requirements, with ``requirement_row`` and ``post_row`` (positions in
        ``requirements`` and ``posts``; -1 for a post that is not in the posts layer).
    requirement_post_offsets
        Where each requirement's rows start in ``requirement_posts`` (one more entry than there
        are requirements).
    place_rows
        Place id → the rows in ``posts`` of the posts it stands for: a post stands for itself, a
        patrol route, event or other place of the demand for the posts it covers.
    posts
        The posts' attributes: ``id``, ``kind``, ``level``, ``road_id``, ``road_name_zh``,
        ``squad_id``, ``length_m``.
    assignments
        The roster's assignment table, checked, with dates as :class:`datetime.date`.
    post_grids
        ``post_id``, ``grid_code``, ``length_m``: how much of each segment post lies in each unit
        grid; None without unit grids.
    grid_areas
        ``grid_code``, ``subdistrict_code``, ``responsibility_grid_id`` of each unit grid; None
        without unit grids.
    staff
        Officer id → :class:`~grids.staff.Officer`, for names and phone numbers.
    policy
        The duty policy, for the slots of each day.
    calendar
        The holiday calendar, for each day's type; None to take Saturdays and Sundays as the
        weekend and every other day as a weekday.
    cache
        What the readers have worked out already (per day and slot), kept for the next call.
    """

    requirements: pd.DataFrame
    requirement_posts: pd.DataFrame
    requirement_post_offsets: NDArray[np.intp]
    place_rows: Mapping[str, tuple[int, ...]]
    posts: pd.DataFrame
    assignments: pd.DataFrame
    post_grids: pd.DataFrame | None
    grid_areas: pd.DataFrame | None
    staff: Mapping[str, Officer]
    policy: DutyPolicy
    calendar: HolidayCalendar | None = None
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)


def _as_dates(values: pd.Series) -> pd.Series:
    return pd.Series(
        [
            v if isinstance(v, date) and not isinstance(v, datetime) else pd.Timestamp(v).date()
            for v in values
        ],
        index=values.index,
        dtype=object,
    )


def _as_times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[us]")


def _text_or_none(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _texts(values: pd.Series) -> pd.Series:
    return pd.Series([_text_or_none(v) for v in values], index=values.index, dtype=object)


def _checked_demand(demand: pd.DataFrame) -> pd.DataFrame:
    for column in _DEMAND_NEEDS:
        if column not in demand.columns:
            raise FieldError(f"the demand has no {column!r} column", file="demand", field=column)
    frame = demand.reset_index(drop=True).copy()
    if frame["requirement_id"].duplicated().any():
        first = frame["requirement_id"][frame["requirement_id"].duplicated()].iloc[0]
        raise FieldError(f"requirement {first!r} is listed twice", file="demand", field="id")
    frame["date"] = _as_dates(frame["date"])
    frame["start"] = _as_times(frame["start"])
    frame["end"] = _as_times(frame["end"])
    for column in ("slot_id", "post_id", "post_ids", "squad_id", "reason_zh"):
        frame[column] = _texts(frame[column]) if column in frame.columns else None
    frame["hard"] = frame["hard"].astype(bool) if "hard" in frame.columns else False
    frame["count"] = frame["count"].astype("int64")
    return frame


def _checked_posts(posts: pd.DataFrame) -> pd.DataFrame:
    for column in _POST_NEEDS:
        if column not in posts.columns:
            raise FieldError(f"the posts have no {column!r} column", file="posts", field=column)
    frame = pd.DataFrame(index=range(len(posts)))
    for column in _POST_COLUMNS:
        if column == "length_m":
            values = posts["length_m"] if column in posts.columns else 0.0
            frame[column] = pd.to_numeric(pd.Series(values, index=posts.index)).fillna(0.0)
            frame[column] = frame[column].to_numpy(dtype=float)
        elif column in posts.columns:
            frame[column] = _texts(posts[column]).to_numpy(dtype=object)
        else:
            frame[column] = None
    frame["kind"] = frame["kind"].fillna("segment")
    return frame


def _checked_assignments(assignments: pd.DataFrame) -> pd.DataFrame:
    table = check_assignments(assignments).copy()
    table["date"] = _as_dates(table["date"])
    table["start"] = _as_times(table["start"])
    table["end"] = _as_times(table["end"])
    for column in (
        "officer_id",
        "role",
        "squad_id",
        "slot_id",
        "post_id",
        "task",
        "requirement_id",
    ):
        table[column] = _texts(table[column])
    return table


def _requirement_posts(demand: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    row_of = {post_id: row for row, post_id in enumerate(posts["id"])}
    ids, rows, names = [], [], []
    for row, (requirement_id, joined) in enumerate(
        zip(demand["requirement_id"], demand["post_ids"], strict=True)
    ):
        for post_id in (joined or "").split(";"):
            if post_id.strip():
                ids.append(requirement_id)
                rows.append(row)
                names.append(post_id.strip())
    return pd.DataFrame(
        {
            "requirement_id": pd.Series(ids, dtype=object),
            "post_id": pd.Series(names, dtype=object),
            "requirement_row": np.asarray(rows, dtype=np.intp),
            "post_row": np.asarray([row_of.get(n, -1) for n in names], dtype=np.intp),
        }
    )


def _place_rows(posts: pd.DataFrame, demand: pd.DataFrame) -> dict[str, tuple[int, ...]]:
    row_of = {post_id: row for row, post_id in enumerate(posts["id"])}
    places: dict[str, dict[int, None]] = {p: {row: None} for p, row in row_of.items()}
    for place, joined in zip(demand["post_id"], demand["post_ids"], strict=True):
        if place is None:
            continue
        rows = places.setdefault(place, {})
        for post_id in (joined or "").split(";"):
            if post_id.strip() in row_of:
                rows[row_of[post_id.strip()]] = None
    return {place: tuple(rows) for place, rows in places.items() if rows}


def _serving(
    demand: pd.DataFrame, table: pd.DataFrame, known_ids: Set[str] | None = None
) -> pd.DataFrame:
    """Return (requirement_id, officer_id, role) of each person serving each requirement.

    ``known_ids`` are the ids of every requirement of the roster's demand, when ``demand`` is
    only some of them: an assignment naming any of those is linked by its id (and so serves
    none of ``demand`` unless it names one of them), never matched by place and time.
    """
    wanted_ids = set(demand["requirement_id"])
    known = table["requirement_id"].isin(wanted_ids if known_ids is None else known_ids)
    linked = table.loc[known, ["requirement_id", "officer_id", "role"]]
    if known_ids is not None:
        linked = linked[linked["requirement_id"].isin(wanted_ids).to_numpy()]
    loose = table.loc[
        ~known & table["post_id"].notna(),
        ["officer_id", "role", "date", "post_id", "task", "start", "end"],
    ]
    wanted = demand[["requirement_id", "date", "post_id", "kind", "start", "end"]].rename(
        columns={"kind": "task", "start": "need_start", "end": "need_end"}
    )
    matched = loose.merge(wanted, on=["date", "post_id", "task"])
    overlapping = (matched["start"] < matched["need_end"]) & (
        matched["need_start"] < matched["end"]
    )
    matched = matched.loc[overlapping, ["requirement_id", "officer_id", "role"]]
    both = pd.concat([linked, matched, _deployed(demand, table)], ignore_index=True)
    return both.drop_duplicates(["requirement_id", "officer_id"]).reset_index(drop=True)


def deployment_squads(demand: pd.DataFrame) -> pd.Series:
    """Return the squad of each full deployment of ``demand`` (its other rows left out).

    The squad is the row's ``squad_id`` where the demand has one, else the one its place names
    (``full_deployment@<squad>``).
    """
    rows = demand[demand["kind"] == "full_deployment"]
    named = pd.Series(
        [str(place).partition("@")[2] for place in rows["post_id"]], index=rows.index, dtype=object
    )
    if "squad_id" in rows.columns:
        named = rows["squad_id"].where(rows["squad_id"].notna(), named)
    return named.astype(object)


def _deployed(demand: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Return (requirement_id, officer_id, role) of the members serving each full deployment.

    A full deployment is served by every member of its squad with a duty, whatever its post
    or task, that overlaps the deployment's window on its day: the members work their day
    shift on the squad's posts and patrols, and few of their rows name the deployment itself.
    """
    squads = deployment_squads(demand)
    if squads.empty:
        return pd.DataFrame(columns=["requirement_id", "officer_id", "role"])
    rows = demand.loc[squads.index]
    wanted = pd.DataFrame(
        {
            "requirement_id": rows["requirement_id"].to_numpy(),
            "date": rows["date"].to_numpy(),
            "squad_id": squads.to_numpy(),
            "need_start": rows["start"].to_numpy(),
            "need_end": rows["end"].to_numpy(),
        }
    )
    duties = table.loc[
        table["squad_id"].notna(), ["officer_id", "role", "date", "squad_id", "start", "end"]
    ]
    matched = duties.merge(wanted, on=["date", "squad_id"])
    overlapping = (matched["start"] < matched["need_end"]) & (
        matched["need_start"] < matched["end"]
    )
    return matched.loc[overlapping, ["requirement_id", "officer_id", "role"]]


def _allocate(
    rows: list[tuple[int, str, int]], people: Mapping[str, str]
) -> tuple[dict[int, list[str]], list[str]]:
    """Fill the role rows of one place and time with its people; return who counts where.

    Returns the ids counted per row, and the assistants left uncounted.
    """
    leaders = sorted(p for p, role in people.items() if role == "leader")
    officers = sorted(p for p, role in people.items() if role == "officer")
    assistants = sorted(p for p, role in people.items() if role not in ("leader", "officer"))
    counted: dict[int, list[str]] = {}
    ordered = sorted(rows, key=lambda r: _ROLE_ORDER.get(r[1], 3))
    for index, role, count in ordered:
        if role == "leader":
            take = len(leaders) if count <= 0 else count
            counted[index] = leaders[:take]
            leaders = leaders[take:]
            continue
        enforcers = officers + leaders
        if role == "officer":
            take = len(enforcers) if count <= 0 else count
            counted[index] = enforcers[:take]
        else:
            pool = enforcers + assistants
            take = len(pool) if count <= 0 else count
            counted[index] = pool[:take]
            assistants = [a for a in assistants if a not in counted[index]]
        officers = [p for p in officers if p not in counted[index]]
        leaders = [p for p in leaders if p not in counted[index]]
    return counted, assistants


def _count(demand: pd.DataFrame, serving: pd.DataFrame) -> pd.DataFrame:
    frame = demand.copy()
    keys = ["date", "post_id", "kind", "start", "end"]
    frame["_group"] = frame.groupby(keys, sort=False, dropna=False).ngroup()
    row_of = pd.Series(frame.index, index=frame["requirement_id"])
    group_rows: dict[int, list[tuple[int, str, int]]] = {}
    for index, group, role, count in zip(
        frame.index, frame["_group"], frame["role"], frame["count"], strict=True
    ):
        group_rows.setdefault(int(group), []).append((int(index), str(role), int(count)))
    counted: list[tuple[str, ...]] = [() for _ in range(len(frame))]
    present: list[tuple[str, ...]] = [() for _ in range(len(frame))]
    spare_assistants = np.zeros(len(frame), dtype=np.int64)
    if len(serving):
        groups = frame["_group"].to_numpy()[row_of.loc[serving["requirement_id"]].to_numpy()]
        for group, members in serving.assign(_group=groups).groupby("_group", sort=False):
            people = dict(zip(members["officer_id"], members["role"].fillna(""), strict=True))
            per_row, left = _allocate(group_rows[int(cast(int, group))], people)
            everyone = tuple(sorted(people))
            for index, ids in per_row.items():
                counted[index] = tuple(ids)
                present[index] = everyone
                spare_assistants[index] = len(left)
    frame["counted"] = np.array([len(c) for c in counted], dtype=np.int64)
    frame["needed"] = np.where(frame["count"].to_numpy() > 0, frame["count"].to_numpy(), 1).astype(
        np.int64
    )
    frame["short"] = np.maximum(frame["needed"] - frame["counted"], 0).astype(np.int64)
    frame["met"] = frame["short"].eq(0)
    frame["people"] = pd.Series(counted, index=frame.index, dtype=object)
    frame["present"] = pd.Series(present, index=frame.index, dtype=object)
    frame["uncounted_assistants"] = spare_assistants
    reasons: list[str | None] = []
    for met, got, role, spare in zip(
        frame["met"], frame["counted"], frame["role"], spare_assistants, strict=True
    ):
        if met:
            reasons.append(None)
        elif got == 0 and role == "officer" and spare > 0:
            reasons.append("assistant_only")
        elif got == 0:
            reasons.append("none_assigned")
        else:
            reasons.append("short")
    frame["reason"] = pd.Series(reasons, index=frame.index, dtype=object)
    return frame.drop(columns="_group")


def _levels(
    demand: pd.DataFrame, requirement_posts: pd.DataFrame, posts: pd.DataFrame
) -> pd.DataFrame:
    level_of = dict(zip(posts["id"], posts["level"], strict=True))
    ranks = requirement_posts.assign(
        rank=[_LEVEL_RANK.get(level_of.get(p) or "", 9) for p in requirement_posts["post_id"]]
    )
    best = ranks.groupby("requirement_id")["rank"].min()
    by_rank = {rank: level for level, rank in _LEVEL_RANK.items()}
    rank = demand["requirement_id"].map(best)
    frame = demand.copy()
    frame["level"] = [by_rank.get(int(r)) if pd.notna(r) else None for r in rank]
    frame["strict"] = frame["level"].eq("strict")
    return frame


def unit_grid_areas(
    unit_grids: GeoDataFrame, responsibility_grids: GeoDataFrame | None
) -> pd.DataFrame:
    """Return the sub-district and responsibility grid of every unit grid.

    A unit grid belongs to the responsibility grid that holds a point of it (its
    :func:`shapely.point_on_surface`); failing that, to the only responsibility grid of its squad.

    Parameters
    ----------
    unit_grids
        The unit grids (``code``, and ``subdistrict_code`` and ``squad_id`` where known).
    responsibility_grids
        The responsibility grids (``id``, ``squad_id``), or None.

    Returns
    -------
    pandas.DataFrame
        ``grid_code``, ``subdistrict_code``, ``responsibility_grid_id``, one row per unit grid.

    Raises
    ------
    FieldError
        If the unit grids have no ``code`` column.
    """
    if "code" not in unit_grids.columns:
        raise FieldError("the unit grids have no 'code' column", file="unit_grids", field="code")
    codes = _texts(unit_grids["code"]).to_numpy(dtype=object)
    subdistricts = (
        _texts(unit_grids["subdistrict_code"]).to_numpy(dtype=object)
        if "subdistrict_code" in unit_grids.columns
        else np.full(len(codes), None, dtype=object)
    )
    owners = np.full(len(codes), None, dtype=object)
    if responsibility_grids is not None and len(responsibility_grids) and len(codes):
        grids = (
            responsibility_grids.to_crs(unit_grids.crs) if unit_grids.crs else responsibility_grids
        )
        polygons = np.asarray(grids.geometry.array, dtype=object)
        ids = _texts(grids["id"]).to_numpy(dtype=object)
        points = shapely.point_on_surface(np.asarray(unit_grids.geometry.array, dtype=object))
        tree = shapely.STRtree(polygons)
        point_rows, polygon_rows = tree.query(points, predicate="within")
        owners[point_rows] = ids[polygon_rows]
        if "squad_id" in unit_grids.columns and "squad_id" in grids.columns:
            squads = _texts(grids["squad_id"])
            single = squads[~squads.duplicated(keep=False)]
            by_squad = dict(zip(single, ids[single.index.to_numpy()], strict=True))
            unit_squads = _texts(unit_grids["squad_id"]).to_numpy(dtype=object)
            for row in np.flatnonzero(pd.isna(owners)):
                owners[row] = by_squad.get(unit_squads[row])
    return pd.DataFrame(
        {"grid_code": codes, "subdistrict_code": subdistricts, "responsibility_grid_id": owners},
        dtype=object,
    )


def solver_reasons(solver: Mapping[str, Any] | pd.DataFrame | None) -> dict[str, str]:
    """Return requirement id → the reason a roster solver gave for leaving it short.

    Parameters
    ----------
    solver
        A roster's solver report (see :class:`~grids.roster.RosterInfo`), whose ``uncovered``
        entries are mappings with ``requirement_id`` and a ``reason_zh``, ``reason`` or
        ``detail``; or a table of such rows (the ``uncovered`` table of a roster plan). Entries
        without them are skipped.
    """
    if solver is None:
        return {}
    if isinstance(solver, pd.DataFrame):
        entries: Iterable[Any] = solver.to_dict("records")
    else:
        entries = solver.get("uncovered") or ()
    found: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        requirement = _text_or_none(entry.get("requirement_id"))
        parts = [
            str(entry[key])
            for key in ("reason_zh", "reason", "detail")
            if _text_or_none(entry.get(key)) is not None
        ]
        if requirement and parts:
            found[requirement] = "；".join(dict.fromkeys(parts))
    return found


def roster_coverage(
    assignments: pd.DataFrame,
    demand: pd.DataFrame,
    posts: pd.DataFrame,
    policy: DutyPolicy,
    *,
    calendar: HolidayCalendar | None = None,
    staff: Iterable[Officer] = (),
    unit_grids: GeoDataFrame | None = None,
    responsibility_grids: GeoDataFrame | None = None,
    post_grids: pd.DataFrame | None = None,
    grid_areas: pd.DataFrame | None = None,
    solver_reasons: Mapping[str, str] | None = None,
) -> RosterCoverage:
    """Match a roster's assignments to the demand they serve (see the module docstring).

    Parameters
    ----------
    assignments
        The roster: an assignment table (:data:`grids.roster.ASSIGNMENT_COLUMNS`).
    demand
        The requirements (:func:`grids.demand.demand_for_week`), for the days to be read.
    posts
        The posts layer (``id``, ``level``, and ``kind``, ``road_id``, ``road_name_zh``,
        ``squad_id``, ``length_m`` where it has them).
    policy
        The duty policy: the slots of each day.
    calendar
        The holiday calendar, for each day's type.
    staff
        The people of the roster, for names and phone numbers.
    unit_grids
        The unit grids (``code``, ``subdistrict_code``), to measure coverage by unit grid and
        sub-district.
    responsibility_grids
        The responsibility grids (``id``, ``squad_id``), to measure coverage by responsibility
        grid; a unit grid belongs to the one holding a point of it.
    post_grids
        :func:`grids.road_grid.post_grid_lengths` of the posts and unit grids, if already made;
        made from ``unit_grids`` otherwise.
    grid_areas
        :func:`unit_grid_areas` of the unit grids and responsibility grids, if already made;
        made from them otherwise.
    solver_reasons
        Requirement id → why the roster's solver left it short (:func:`solver_reasons`).

    Returns
    -------
    RosterCoverage
        The matched roster, for :func:`coverage_by_post` and the other readers.

    Raises
    ------
    FieldError
        If the assignments, demand or posts lack a column or have a bad value.
    """
    need = _checked_demand(demand)
    post_table = _checked_posts(posts)
    table = _checked_assignments(assignments)
    requirement_posts = _requirement_posts(need, post_table)
    counted = _count(need, _serving(need, table))
    reasons = solver_reasons or {}
    counted["solver_reason"] = pd.Series(
        [reasons.get(r) for r in counted["requirement_id"]], index=counted.index, dtype=object
    )
    counted = _levels(counted, requirement_posts, post_table)
    if unit_grids is not None:
        if grid_areas is None:
            grid_areas = unit_grid_areas(unit_grids, responsibility_grids)
        if post_grids is None:
            segments = posts[post_table["kind"].eq("segment").to_numpy()]
            post_grids = post_grid_lengths(segments, unit_grids)
    if post_grids is not None:
        post_grids = post_grids[["post_id", "grid_code", "length_m"]].reset_index(drop=True)
    return RosterCoverage(
        requirements=counted,
        requirement_posts=requirement_posts,
        requirement_post_offsets=np.searchsorted(
            requirement_posts["requirement_row"].to_numpy(), np.arange(len(need) + 1)
        ),
        place_rows=_place_rows(post_table, need),
        posts=post_table,
        assignments=table,
        post_grids=post_grids,
        grid_areas=grid_areas,
        staff={person.id: person for person in staff},
        policy=policy,
        calendar=calendar,
    )
