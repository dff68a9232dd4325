"""Staffing demand: what a week's roster must cover, from the posts and the duty policy.

:func:`demand_for_week` turns the posts layer, a :class:`~grids.policy.DutyPolicy` and a
:class:`~grids.calendar.HolidayCalendar` into one row per requirement: so many people of some role
at some place from some time to some time. The rules (see the policy for their parameters):

- ``strict_post``: a strict post (严管) without windows needs ``levels.strict.officers`` officers in
  every day slot;
- ``patrol``: the controlled posts (严控) of a squad, grouped into routes of at most
  ``levels.controlled.route_km`` (:func:`patrol_routes`), need one patrolling officer per route in
  each patrol slot (:meth:`~grids.policy.DutyPolicy.patrol_slots`);
- ``guidance_window``: a point post with staffing windows (its own ``windows``, or for a regulated
  post those of its road in the policy) needs people in each window; a window that straddles two
  slots gives a row in each, with the exact times. Regulated posts are staffed by ``any`` role
  (an assistant or an officer), strict and controlled ones by officers;
- ``night_check``, ``muck_truck``, ``barbecue``: the special operations, per target;
- ``full_deployment``: every available member of a squad works a day shift; ``count`` is the
  number of members available that day when ``staff`` is given, else 0 (meaning "all");
- ``event``: temporary event posts (定人、定岗、定责);
- ``leader_duty``: the duty leader's 24-hour duty, every day.

Regulated road sections (not points) have no staffing requirement of their own.

Times are naive local times (China Standard Time). A requirement belongs to the date its slot
starts on; night slots end the next morning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd
from geopandas import GeoDataFrame

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning
from grids._cells import natural_key
from grids.calendar import HolidayCalendar
from grids.demand_posts import PatrolRoute, patrol_routes, read_posts, route_posts
from grids.demand_rows import (
    DAY_TYPE_NAMES_ZH,
    DEMAND_COLUMNS,
    DEMAND_KINDS,
    LEVEL_NAMES_ZH,
    DemandDay,
    DemandKind,
    DemandRole,
    DemandRows,
    deployment_rows,
    event_rows,
    leader_rows,
    operation_rows,
    post_rows,
    zone_targets,
)
from grids.policy import DutyPolicy
from grids.staff import Officer

__all__ = [
    "DAY_TYPE_NAMES_ZH",
    "DEMAND_COLUMNS",
    "DEMAND_KINDS",
    "LEVEL_NAMES_ZH",
    "DemandKind",
    "DemandRole",
    "PatrolRoute",
    "demand_for_week",
    "demand_summary",
    "patrol_routes",
]

_KIND_ORDER = {kind: n for n, kind in enumerate(DEMAND_KINDS)}
_ROLE_ORDER = {"leader": 0, "officer": 1, "any": 2}


def _empty_demand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "requirement_id": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype=object),
            "day_type": pd.Series([], dtype="str"),
            "slot_id": pd.Series([], dtype="str"),
            "start": pd.Series([], dtype="datetime64[us]"),
            "end": pd.Series([], dtype="datetime64[us]"),
            "post_id": pd.Series([], dtype="str"),
            "post_ids": pd.Series([], dtype="str"),
            "squad_id": pd.Series([], dtype="str"),
            "role": pd.Series([], dtype="str"),
            "count": pd.Series([], dtype="int64"),
            "hours": pd.Series([], dtype="float64"),
            "weight": pd.Series([], dtype="float64"),
            "hard": pd.Series([], dtype="bool"),
            "kind": pd.Series([], dtype="str"),
            "reason_zh": pd.Series([], dtype="str"),
        }
    )


def demand_for_week(
    posts: GeoDataFrame,
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    week: str,
    *,
    squads: Sequence[str],
    zones: GeoDataFrame | None = None,
    staff: Sequence[Officer] | None = None,
) -> pd.DataFrame:
    """Return the requirements of the ISO week ``week`` for ``squads`` (see the module docstring).

    Parameters
    ----------
    posts
        The posts layer.
    policy
        The duty policy.
    calendar
        The holiday calendar, for each day's type.
    week
        An ISO week, ``2026-W49``.
    squads
        The squads to make demand for; posts, routes, operation targets, deployments and events
        of other squads are left out. Leader duty is district-wide and always included.
    zones
        The zones layer (``id``, ``kind``, ``squad_id``, ``name_zh``); needed when an operation
        covers zones.
    staff
        The people, to count the members available for a full deployment; without them a full
        deployment's ``count`` is 0, meaning "every available member".

    Returns
    -------
    pandas.DataFrame
        One row per requirement with the columns :data:`DEMAND_COLUMNS`, ordered by date, start,
        end, kind, squad, post and role. ``requirement_id`` is
        ``date/slot/kind/post-or-target/role/HHMM-HHMM``, stable for the same inputs.

    Raises
    ------
    ValueError
        If ``week`` is not an ISO week, the calendar does not cover its dates, or an operation
        covers zones and no zones are given.
    FieldError
        If the posts or zones lack a column or have a bad value, or an event names an unknown
        post.
    DuplicateIdError
        If two posts have the same id.
    """
    days = calendar.week_dates(week)
    day_types = calendar.day_types(days)
    wanted = set(squads)
    all_posts = read_posts(posts, policy)
    homeless = [p.id for p in all_posts if p.squad_id is None]
    if homeless:
        warnings.warn(
            f"{len(homeless)} post(s) have no squad and get no demand: "
            f"{', '.join(homeless[:5])}{' …' if len(homeless) > 5 else ''}",
            GeodataWarning,
            stacklevel=2,
        )
    squad_posts = [p for p in all_posts if p.squad_id in wanted]
    routes = route_posts(squad_posts, policy)
    post_squads = {p.id: p.squad_id for p in all_posts}
    targets: dict[str, list[tuple[str, str | None, str]]] = {}
    for op in policy.operations:
        found = [(s, s, s) for s in op.squad_ids] if op.squad_ids else zone_targets(op, zones)
        targets[op.id] = [t for t in found if t[1] in wanted]
    event_squads: dict[str, str | None] = {}
    for event in policy.events:
        if event.post_id is not None and event.post_id not in post_squads:
            raise FieldError(
                f"event {event.id!r} names post {event.post_id!r}, which is not among the posts",
                field="post_id",
            )
        event_squads[event.id] = event.squad_id or (
            post_squads[event.post_id] if event.post_id else None
        )
    rows = DemandRows(policy, [])
    for day, day_type in zip(days, day_types, strict=True):
        on = DemandDay(day, day_type)
        post_rows(rows, on, squad_posts, routes)
        for op in policy.operations:
            operation_rows(rows, on, op, targets[op.id])
        for deployment in policy.full_deployment:
            if day_type in deployment.day_types and deployment.squad_id in wanted:
                deployment_rows(rows, on, deployment, staff)
        for event in policy.events:
            squad = event_squads[event.id]
            if event.start_date <= day <= event.end_date and squad in wanted:
                event_rows(rows, on, event, squad)
        leader_rows(rows, on)
    if not rows.rows:
        return _empty_demand()
    frame = pd.DataFrame(rows.rows, columns=list(DEMAND_COLUMNS))
    order = sorted(
        range(len(frame)),
        key=lambda i: (
            rows.rows[i]["date"],
            rows.rows[i]["start"],
            rows.rows[i]["end"],
            _KIND_ORDER[rows.rows[i]["kind"]],
            natural_key(rows.rows[i]["squad_id"] or ""),
            natural_key(rows.rows[i]["post_id"]),
            _ROLE_ORDER[rows.rows[i]["role"]],
        ),
    )
    frame = frame.iloc[order].reset_index(drop=True)
    duplicated = frame["requirement_id"][frame["requirement_id"].duplicated()]
    if len(duplicated):
        raise DuplicateIdError(f"requirement {duplicated.iloc[0]!r} is made twice")
    empty = _empty_demand()
    return frame.astype({column: empty[column].dtype for column in DEMAND_COLUMNS})


def demand_summary(demand: pd.DataFrame) -> pd.DataFrame:
    """Return the person-hours and people needed by squad, role and day.

    Parameters
    ----------
    demand
        A frame from :func:`demand_for_week`.

    Returns
    -------
    pandas.DataFrame
        Columns ``squad_id`` (empty for district-wide leader duty), ``role``, ``date``,
        ``requirements`` (rows), ``people`` (sum of ``count``) and ``hours`` (person-hours), ordered
        by squad, role and date.
    """
    keys = ["squad_id", "role", "date"]
    if demand.empty:
        return pd.DataFrame(
            {
                "squad_id": pd.Series([], dtype="str"),
                "role": pd.Series([], dtype="str"),
                "date": pd.Series([], dtype=object),
                "requirements": pd.Series([], dtype="int64"),
                "people": pd.Series([], dtype="int64"),
                "hours": pd.Series([], dtype="float64"),
            }
        )
    table = demand.assign(squad_id=demand["squad_id"].fillna(""))
    summary = (
        table.groupby(keys, sort=True)
        .agg(
            requirements=("requirement_id", "size"),
            people=("count", "sum"),
            hours=("hours", "sum"),
        )
        .reset_index()
    )
    return summary.astype({"requirements": "int64", "people": "int64", "hours": "float64"})
