"""The posts as the demand reads them, and the patrol routes of the controlled posts.

:func:`read_posts` checks the posts layer's rows (id, level, windows, length, hotspot factor) and
:func:`patrol_routes` packs each squad's controlled posts into :class:`PatrolRoute` s, for
:mod:`grids.demand`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from geopandas import GeoDataFrame

from geodata.errors import DuplicateIdError, FieldError
from geodata.roads import LEVELS, Level
from grids._cells import cell_text, frame_records, natural_key
from grids.policy import DutyPolicy, TimeWindow, parse_windows

__all__ = ["PatrolRoute", "Post", "patrol_routes", "read_posts", "route_posts", "windows_of"]

_POST_COLUMNS = ("id", "kind", "level", "squad_id")
_POST_READ_COLUMNS = (
    *_POST_COLUMNS,
    "road_name_zh",
    "road_id",
    "length_m",
    "windows",
    "attrs",
)


@dataclass(frozen=True)
class Post:
    """A post of the posts layer, its values checked."""

    id: str
    kind: str
    level: Level
    squad_id: str | None
    road_name_zh: str | None
    road_id: str | None
    length_m: float
    windows: tuple[TimeWindow, ...]
    hotspot: float


@dataclass(frozen=True)
class PatrolRoute:
    """A patrol route: controlled posts of one squad, one officer's patrol in a slot.

    Parameters
    ----------
    id
        ``<squad>/patrol-NN``, numbered from 01 in the order of the squad's posts.
    squad_id
        The squad whose posts these are.
    post_ids
        The posts on the route, in patrol order (road by road, by id).
    length_m
        Their total length in metres.
    hotspot
        The largest hotspot factor among the posts.
    """

    id: str
    squad_id: str
    post_ids: tuple[str, ...]
    length_m: float
    hotspot: float


def _attrs(value: Any, row: int) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise FieldError("attrs is not a JSON object", row=row, field="attrs") from None
        if isinstance(parsed, dict):
            return parsed
        raise FieldError("attrs is not a JSON object", row=row, field="attrs")
    return {}


def _hotspot(attrs: Mapping[str, Any], key: str, row: int) -> float:
    value = attrs.get(key)
    if value is None:
        return 1.0
    try:
        factor = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        factor = math.nan
    if not math.isfinite(factor) or factor < 0:
        raise FieldError(
            f"the hotspot factor must be a number of at least 0, not {value!r}",
            row=row,
            field=f"attrs.{key}",
        )
    return factor


def read_posts(posts: GeoDataFrame, policy: DutyPolicy) -> list[Post]:
    """Return the posts of the layer ``posts``, each row checked.

    Raises
    ------
    FieldError
        If a required column is missing or a value is wrong (level, windows, length, hotspot
        factor); the error names the row and the field.
    DuplicateIdError
        If two posts have the same id.
    """
    for column in _POST_COLUMNS:
        if column not in posts.columns:
            raise FieldError(f"the posts have no {column!r} column", field=column)
    seen: set[str] = set()
    result = []
    records = frame_records(posts, _POST_READ_COLUMNS)
    for row, record in enumerate(records, 1):
        post_id = cell_text(record.get("id"))
        if post_id is None:
            raise FieldError("a post has no id", row=row, field="id")
        if post_id in seen:
            raise DuplicateIdError(
                f"post id {post_id!r} is used more than once", row=row, field="id"
            )
        seen.add(post_id)
        level = cell_text(record.get("level"))
        if level not in LEVELS:
            raise FieldError(
                f"post {post_id!r}: level {level!r} is not one of {', '.join(LEVELS)}",
                row=row,
                field="level",
            )
        windows_text = cell_text(record.get("windows"))
        try:
            windows = parse_windows(windows_text) if windows_text else ()
        except ValueError as exc:
            raise FieldError(f"post {post_id!r}: {exc}", row=row, field="windows") from None
        length: Any = record.get("length_m")
        try:
            length_m = float(length) if cell_text(length) is not None else 0.0
        except (TypeError, ValueError):
            length_m = math.nan
        if not math.isfinite(length_m) or length_m < 0:
            raise FieldError(f"post {post_id!r}: bad length {length!r}", row=row, field="length_m")
        attrs = _attrs(record.get("attrs"), row)
        result.append(
            Post(
                id=post_id,
                kind=cell_text(record.get("kind")) or "segment",
                level=level,
                squad_id=cell_text(record.get("squad_id")),
                road_name_zh=cell_text(record.get("road_name_zh")),
                road_id=cell_text(record.get("road_id")),
                length_m=length_m,
                windows=windows,
                hotspot=_hotspot(attrs, policy.weights.hotspot_attr, row),
            )
        )
    return result


def windows_of(post: Post, policy: DutyPolicy) -> tuple[TimeWindow, ...]:
    """Return the staffing windows of ``post``: its own, or for a guidance point its road's."""
    if post.windows:
        return post.windows
    if post.level == "regulated" and post.kind == "point":
        return policy.levels.regulated.windows_for_road(post.road_name_zh)
    return ()


def route_posts(posts: Iterable[Post], policy: DutyPolicy) -> list[PatrolRoute]:
    """Return the patrol routes of ``posts`` (see :func:`patrol_routes`)."""
    by_squad: dict[str, list[Post]] = {}
    for post in posts:
        if post.level == "controlled" and not post.windows and post.squad_id is not None:
            by_squad.setdefault(post.squad_id, []).append(post)
    limit_m = policy.levels.controlled.route_km * 1000
    routes: list[PatrolRoute] = []
    for squad in sorted(by_squad):
        ordered = sorted(
            by_squad[squad],
            key=lambda p: (p.road_name_zh or p.road_id or "", natural_key(p.id)),
        )
        groups: list[list[Post]] = []
        for post in ordered:
            if groups and sum(p.length_m for p in groups[-1]) + post.length_m <= limit_m:
                groups[-1].append(post)
            else:
                groups.append([post])
        routes += [
            PatrolRoute(
                id=f"{squad}/patrol-{n:02d}",
                squad_id=squad,
                post_ids=tuple(p.id for p in group),
                length_m=sum(p.length_m for p in group),
                hotspot=max(p.hotspot for p in group),
            )
            for n, group in enumerate(groups, 1)
        ]
    return routes


def patrol_routes(
    posts: GeoDataFrame, policy: DutyPolicy, *, squads: Iterable[str] | None = None
) -> list[PatrolRoute]:
    """Return the patrol routes of the controlled posts, by squad.

    The controlled posts of a squad (those without staffing windows) are taken road by road
    (by ``road_name_zh``, then ``road_id``) and by id (numbers in ids in numeric order), and
    packed in that order into routes of at most ``policy.levels.controlled.route_km``; a post
    longer than that is a route of its own. Posts without a squad are left out.

    Parameters
    ----------
    posts
        The posts layer (``id``, ``kind``, ``level``, ``squad_id``, ``length_m``, ``road_name_zh``,
        ``road_id``, ``windows``, ``attrs``).
    policy
        The duty policy.
    squads
        Only the routes of these squads; all when None.

    Raises
    ------
    FieldError
        If a required column is missing or a value is wrong (level, windows, hotspot factor).
    DuplicateIdError
        If two posts have the same id.
    """
    wanted = None if squads is None else set(squads)
    routes = route_posts(read_posts(posts, policy), policy)
    return [r for r in routes if wanted is None or r.squad_id in wanted]
