"""Posts (岗位): the road sections and fixed points officers and assistants are staffed to.

Segment posts partition the road network: every metre of road belongs to exactly one post.

1. Roads of the same name and management level form a street; unnamed roads of a level are
   joined where they meet end to end and no other road of the kind meets them there. A street
   falls into chains: lines that run on without a fork.
2. A chain of a level with a post length (strict: 500 m, controlled: 1000 m) is cut where other
   streets cross or join it; pieces shorter than the minimum post length join a neighbour. Each
   piece is cut into ``n = ceil(L / target)`` equal posts, and each cut slides to a nearby
   crossing or unit grid edge where one is within a fifth of a post's length and no post gets too
   short or too long for it. A chain of a level without a post length (regulated) is one post.
3. A post's id is ``P-<road id>-<k>``: the road it starts on and the number of post starts on that
   road before it (along the road's own direction), so that importing the same roads again gives
   the same ids and a roster keeps its posts; editing one road changes only the posts of the
   stretch it is in.

Point posts are fixed points (guidance points, school gates, markets) with a radius; their id is
``P-<point id>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from geodata.crs import metric_crs_of, to_storage_crs
from geodata.errors import FieldError, InvalidGeometryError
from geodata.layers import STORAGE_CRS, layer_spec
from geodata.roads import LEVELS
from geodata.validate import check_unique_ids
from grids._arrays import FloatArray, GeometryArray, IndexArray, ragged_positions
from grids._frames import layer_frame, metric_geometries, with_geometry
from grids._streets import Part, Roads, segment_posts
from grids.road_grid import line_polygon_lengths

__all__ = ["POST_COLUMNS", "PostPolicy", "all_posts", "point_posts", "posts_from_roads"]

POST_COLUMNS = [*layer_spec("posts").column_names, "geometry"]

# A post runs through a unit grid when at least this many metres of it are inside.
_MIN_GRID_RUN_M = 1.0


@dataclass(frozen=True)
class PostPolicy:
    """How roads are cut into posts (the district's practice by default).

    Attributes
    ----------
    length_by_level
        The target post length of each management level in metres; None makes each chain of
        the level's streets one post.
    min_length_m
        No post is shorter, unless the whole chain is: a short remainder joins its neighbour.
    cut_at_intersections
        Cut streets where other streets cross or join them.
    cut_at_grid_boundaries
        Let cuts slide to nearby unit grid edges.
    snap_fraction
        How far a cut may slide to a crossing or grid edge, as a fraction of the post length.
    point_radius_m
        The radius of a point post whose point gives none.
    """

    length_by_level: Mapping[str, float | None] = field(
        default_factory=lambda: {"strict": 500.0, "controlled": 1000.0, "regulated": None}
    )
    min_length_m: float = 100.0
    cut_at_intersections: bool = True
    cut_at_grid_boundaries: bool = True
    snap_fraction: float = 0.2
    point_radius_m: float = 50.0

    def __post_init__(self) -> None:
        for level, length in self.length_by_level.items():
            if length is not None and not (math.isfinite(length) and length > 0):
                raise ValueError(f"the post length of {level!r} must be a positive number")
        if not (math.isfinite(self.min_length_m) and self.min_length_m >= 0):
            raise ValueError("min_length_m must be a number of metres, 0 or more")
        if not 0 <= self.snap_fraction < 0.5:
            raise ValueError("snap_fraction must be at least 0 and under 0.5")
        if not (math.isfinite(self.point_radius_m) and self.point_radius_m > 0):
            raise ValueError("point_radius_m must be a positive number")


def _text_values(frame: pd.DataFrame, column: str) -> NDArray[np.object_]:
    """Return a column's values with None where missing (all None if there is no such column)."""
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    values = frame[column].astype(object)
    return np.asarray(values.where(values.notna(), None).to_numpy(dtype=object), dtype=object)


def _checked_roads(
    roads: gpd.GeoDataFrame, policy: PostPolicy, metric_crs: pyproj.CRS | None
) -> Roads:
    for column in ("id", "level"):
        if column not in roads.columns:
            raise FieldError(f"the roads have no {column!r} column", field=column)
    roads = to_storage_crs(roads)
    check_unique_ids(roads["id"].astype(object), file="roads", field="id")
    levels = roads["level"].to_numpy(dtype=object)
    unknown = ~np.isin(levels, list(policy.length_by_level))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise FieldError(
            f"level {levels[row]!r} has no post length in the policy "
            f"(it has: {', '.join(policy.length_by_level)})",
            row=row + 1,
            field="level",
        )
    geoms = np.asarray(roads.geometry.array, dtype=object)
    bad = (shapely.get_type_id(geoms) != 1) | shapely.is_empty(geoms)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidGeometryError(
            "a road must be one non-empty LineString", file="roads", row=row + 1, field="geometry"
        )
    ids = roads["id"].astype(str).to_numpy()
    order = np.argsort(ids, kind="stable")
    frame = roads.iloc[order]
    names, levels = _text_values(frame, "name_zh"), frame["level"].astype(str).to_numpy()
    keys = pd.Series([(name or "", level) for name, level in zip(names, levels, strict=True)])
    street = np.asarray(pd.factorize(keys)[0], dtype=np.intp)
    geoms = geoms[order]
    lonlat, owner = shapely.get_coordinates(geoms, return_index=True)
    crs = metric_crs or metric_crs_of(roads)
    x, y = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True).transform(
        lonlat[:, 0], lonlat[:, 1]
    )
    metric = np.column_stack([x, y])
    size = np.bincount(owner, minlength=len(geoms))
    first = np.cumsum(size) - size
    # summed road by road, so that a road's numbers do not depend on the roads before it
    steps = np.hypot(*np.diff(metric, axis=0).T)
    steps = np.concatenate([[0.0], np.where(owner[1:] == owner[:-1], steps, 0.0)])
    along = pd.Series(steps).groupby(owner).cumsum().to_numpy()
    return Roads(
        ids=ids[order],
        names=names,
        levels=levels,
        street=street,
        lonlat=lonlat,
        metric=metric,
        first=first,
        size=size,
        along=along,
        length=along[first + size - 1],
        lines=np.asarray(shapely.linestrings(metric, indices=owner), dtype=object),
        crs=crs,
    )


def _post_lines(roads: Roads, posts: list[list[Part]]) -> tuple[GeometryArray, GeometryArray]:
    """Return the posts' lines, in lon/lat and in the metric CRS.

    Each road piece is its start point, the road's vertices in between and its end point; a cut
    point lies at the same fraction of its segment in both CRSs, so that the lon/lat posts run
    exactly along the roads' lines. Consecutive pieces share the node between their roads.
    """
    if not posts:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    flat = [
        (number, rank, *part)
        for number, parts in enumerate(posts)
        for rank, part in enumerate(parts)
    ]
    post, rank, road, low, high, forward = (np.array(column) for column in zip(*flat, strict=True))
    road = road.astype(np.intp)
    forward = forward.astype(bool)
    # the vertices of each road in one increasing sequence: road r's start at base[r]
    base = np.cumsum(roads.length + 1.0) - (roads.length + 1.0)
    key = np.repeat(base, roads.size) + roads.along
    last = roads.first + roads.size - 1

    def located(at: FloatArray) -> tuple[FloatArray, FloatArray]:
        vertex = np.clip(
            np.searchsorted(key, base[road] + at, side="right") - 1,
            roads.first[road],
            last[road] - 1,
        )
        fraction = (at - roads.along[vertex]) / (roads.along[vertex + 1] - roads.along[vertex])
        fraction = np.where(at >= roads.length[road], 1.0, fraction)[:, None]
        points = []
        for coords in (roads.lonlat, roads.metric):
            point = coords[vertex] + fraction * (coords[vertex + 1] - coords[vertex])
            points.append(
                np.where(at[:, None] >= roads.length[road][:, None], coords[last[road]], point)
            )
        return points[0], points[1]

    head, tail = located(low), located(high)
    inner_first = np.searchsorted(key, base[road] + low, side="right")
    inner_end = np.searchsorted(key, base[road] + high, side="left")
    count = 2 + np.maximum(inner_end - inner_first, 0)
    row, j = ragged_positions(count)
    # the j-th point of a piece, in the post's direction
    along_road = np.where(forward[row], j, count[row] - 1 - j)
    vertex = np.clip(inner_first[row] + along_road - 1, 0, len(key) - 1)
    is_head, is_tail = along_road == 0, along_road == count[row] - 1
    lines = []
    for coords, start, end in ((roads.lonlat, head[0], tail[0]), (roads.metric, head[1], tail[1])):
        points = np.where(
            is_head[:, None], start[row], np.where(is_tail[:, None], end[row], coords[vertex])
        )
        lines.append(points)
    keep = (j > 0) | (rank[row] == 0)
    return (
        np.asarray(shapely.linestrings(lines[0][keep], indices=post[row][keep]), dtype=object),
        np.asarray(shapely.linestrings(lines[1][keep], indices=post[row][keep]), dtype=object),
    )


def _post_ids(roads: Roads, posts: list[list[Part]]) -> list[str]:
    """Return ``P-<road id>-<k>``: k numbers the post starts on a road along its direction."""
    start_road = np.array([parts[0][0] for parts in posts], dtype=np.intp)
    start_at = np.array(
        [low if forward else high for _, low, high, forward in (p[0] for p in posts)]
    )
    order = np.lexsort((start_at, start_road))
    first = np.r_[True, start_road[order][1:] != start_road[order][:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.empty(len(posts), dtype=np.intp)
    rank[order] = np.arange(len(order)) - group_start
    return [f"P-{roads.ids[road]}-{k}" for road, k in zip(start_road, rank, strict=True)]


def _longest_owner(
    line: IndexArray, owner: NDArray[np.object_], length: FloatArray, count: int
) -> list[str | None]:
    """Return, for each of ``count`` lines, the owner of its longest share (ties: smallest)."""
    result: list[str | None] = [None] * count
    shares = pd.DataFrame({"line": line, "owner": owner, "length": length})
    shares = shares[shares["owner"].notna()]
    if not len(shares):
        return result
    totals = (
        shares.assign(owner=shares["owner"].astype(str))
        .groupby(["line", "owner"], as_index=False)
        .agg(length=("length", "sum"))
        .sort_values(["line", "length", "owner"], ascending=[True, False, True])
        .drop_duplicates("line")
    )
    for number, name in zip(totals["line"].to_numpy(), totals["owner"].to_numpy(), strict=True):
        result[int(number)] = str(name)
    return result


def _grids_and_squads(
    lines: GeometryArray,
    unit_grids: gpd.GeoDataFrame | None,
    grid_polygons: GeometryArray | None,
    squads: gpd.GeoDataFrame | None,
    crs: pyproj.CRS,
) -> tuple[list[str | None], list[str | None]]:
    """Return each line's unit grid codes (in order along it) and the squad holding most of it.

    ``grid_polygons`` are the unit grids in ``crs``. A squad's territory is made of the unit
    grids whose ``squad_id`` is it, where any grid the line runs through has one; else it is the
    squad's polygon.
    """
    codes: list[str | None] = [None] * len(lines)
    squad_of: list[str | None] = [None] * len(lines)
    if unit_grids is not None and grid_polygons is not None and len(unit_grids):
        if "code" not in unit_grids.columns:
            raise FieldError("the unit grids have no 'code' column", field="code")
        found = line_polygon_lengths(lines, grid_polygons)
        runs = pd.DataFrame(
            {
                "line": found.line,
                "code": unit_grids["code"].astype(str).to_numpy()[found.polygon],
                "length": found.length,
                "entry": found.entry,
            }
        )
        runs = runs[runs["length"] >= _MIN_GRID_RUN_M].sort_values(["line", "entry", "code"])
        by_line: dict[int, list[str]] = {}
        for number, code in zip(runs["line"].to_numpy(), runs["code"].to_numpy(), strict=True):
            by_line.setdefault(int(number), []).append(str(code))
        for number, line_codes in by_line.items():
            codes[number] = ";".join(line_codes)
        grid_squads = _text_values(unit_grids, "squad_id")[found.polygon]
        squad_of = _longest_owner(found.line, grid_squads, found.length, len(lines))
    if squads is not None and len(squads) and None in squad_of:
        drawn = with_geometry(squads)
        found = line_polygon_lengths(lines, metric_geometries(drawn, crs))
        owners = drawn["id"].astype(str).to_numpy(dtype=object)[found.polygon]
        by_territory = _longest_owner(found.line, owners, found.length, len(lines))
        squad_of = [
            grid if grid is not None else territory
            for grid, territory in zip(squad_of, by_territory, strict=True)
        ]
    return codes, squad_of


def posts_from_roads(
    roads: gpd.GeoDataFrame,
    *,
    unit_grids: gpd.GeoDataFrame | None = None,
    squads: gpd.GeoDataFrame | None = None,
    policy: PostPolicy | None = None,
    metric_crs: pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Cut the road network into segment posts (see the module documentation).

    Parameters
    ----------
    roads
        The roads layer: ``id``, ``level``, ``name_zh`` (optional), LineString geometries.
    unit_grids
        The unit grids (``code``, and ``squad_id`` where set): for the posts' grid codes, for
        cuts to slide to grid edges, and for the posts' squads. A post belongs to the squad whose
        grids hold the longest part of it.
    squads
        The squads and their territories, for the posts that run through no grid with a squad:
        they belong to the squad whose territory holds the longest part of them.
    policy
        How roads are cut; :class:`PostPolicy` defaults when None.
    metric_crs
        The projected CRS to measure in; chosen for the roads when None.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``posts`` layer (``kind`` "segment"), EPSG:4326, sorted by id. ``attrs`` holds the
        post's ``road_ids`` in order along it, and ``from_m`` and ``to_m``: where it starts on
        its first road and ends on its last, in metres from each road's start. The posts cover
        every road once, without overlapping (a road of no length has no post).

    Raises
    ------
    FieldError
        If the roads have no ``id`` or ``level`` column, a level has no post length in the
        policy, or the unit grids have no ``code`` column.
    DuplicateIdError
        If two roads share an id.
    InvalidGeometryError
        If a road is not one non-empty LineString.
    """
    policy = policy or PostPolicy()
    if not len(roads):
        return layer_frame("posts", {"id": []}, np.empty(0, dtype=object))
    checked = _checked_roads(roads, policy, metric_crs)
    grids = None
    if unit_grids is not None and len(unit_grids):
        grids = metric_geometries(unit_grids, checked.crs)
    posts = segment_posts(checked, policy, grids)
    lonlat, metric = _post_lines(checked, posts)
    codes, squad_of = _grids_and_squads(metric, unit_grids, grids, squads, checked.crs)
    first = [parts[0] for parts in posts]
    last = [parts[-1] for parts in posts]
    return layer_frame(
        "posts",
        {
            "id": _post_ids(checked, posts),
            "kind": ["segment"] * len(posts),
            "road_id": [checked.ids[road] for road, *_ in first],
            "road_name_zh": [checked.names[road] for road, *_ in first],
            "level": [checked.levels[road] for road, *_ in first],
            "length_m": [sum(high - low for _, low, high, _ in parts) for parts in posts],
            "unit_grid_codes": codes,
            "squad_id": squad_of,
            "attrs": [
                {
                    "road_ids": [str(checked.ids[road]) for road, *_ in parts],
                    "from_m": round(float(start[1] if start[3] else start[2]), 2),
                    "to_m": round(float(end[2] if end[3] else end[1]), 2),
                }
                for parts, start, end in zip(posts, first, last, strict=True)
            ],
        },
        lonlat,
    )


def _point_owner(
    points: GeometryArray, areas: gpd.GeoDataFrame, names: NDArray[np.object_]
) -> NDArray[np.object_]:
    """Return the name of the area each point lies in (the smallest name if several), or None."""
    found, area = shapely.STRtree(np.asarray(areas.geometry.array, dtype=object)).query(
        points, predicate="intersects"
    )
    owner = np.full(len(points), None, dtype=object)
    present = np.array([name is not None for name in names[area]], dtype=bool)
    table = pd.DataFrame({"point": found[present], "name": names[area][present].astype(str)})
    first = table.sort_values(["point", "name"]).drop_duplicates("point")
    owner[first["point"].to_numpy(dtype=np.intp)] = first["name"].to_numpy(dtype=object)
    return owner


def point_posts(
    points: gpd.GeoDataFrame,
    *,
    unit_grids: gpd.GeoDataFrame | None = None,
    squads: gpd.GeoDataFrame | None = None,
    radius_m: float | None = None,
    kind_label: str = "guidance_point",
) -> gpd.GeoDataFrame:
    """Make a point post of each fixed point: guidance points, school gates, markets.

    Parameters
    ----------
    points
        Points with an ``id``; ``radius_m``, ``windows``, ``level``, ``road_name_zh``,
        ``name_zh`` and ``name_en`` are used where there are such columns.
    unit_grids
        The unit grids: a post's grid code and squad are those of the grid it lies in.
    squads
        The squads and their territories, for posts in no grid with a squad: they belong to the
        squad whose territory they lie in.
    radius_m
        The radius of posts whose point gives none; ``PostPolicy().point_radius_m`` when None.
    kind_label
        What the points are, kept in ``attrs`` as ``point_kind``.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``posts`` layer (``kind`` "point", ``id`` ``P-<point id>``, length 0), EPSG:4326,
        sorted by id. A post is "regulated" unless its point gives another level.

    Raises
    ------
    FieldError
        If the points have no ``id``, a radius is not a positive number, or a level is unknown.
    DuplicateIdError
        If two points share an id.
    InvalidGeometryError
        If a geometry is not a non-empty Point.
    """
    if "id" not in points.columns:
        raise FieldError("the points have no 'id' column", field="id")
    if not len(points):
        return layer_frame("posts", {"id": []}, np.empty(0, dtype=object))
    points = to_storage_crs(points)
    check_unique_ids(points["id"].astype(object), file=kind_label, field="id")
    geoms = np.asarray(points.geometry.array, dtype=object)
    bad = (shapely.get_type_id(geoms) != 0) | shapely.is_empty(geoms)
    if bad.any():
        raise InvalidGeometryError(
            "a point post needs one non-empty Point",
            file=kind_label,
            row=int(np.flatnonzero(bad)[0]) + 1,
            field="geometry",
        )
    default = PostPolicy().point_radius_m if radius_m is None else radius_m
    given = pd.to_numeric(
        points["radius_m"] if "radius_m" in points.columns else pd.Series(np.nan, points.index),
        errors="coerce",
    ).to_numpy(dtype=float)
    radius = np.where(np.isnan(given), default, given)
    levels = _text_values(points, "level")
    levels = np.where(pd.isna(levels), "regulated", levels)
    for values, wrong, field_name, what in (
        (radius, ~(radius > 0) | ~np.isfinite(radius), "radius_m", "is not a positive radius"),
        (levels, ~np.isin(levels, list(LEVELS)), "level", "is not strict, controlled or regulated"),
    ):
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise FieldError(
                f"{values[row]!r} {what}", file=kind_label, row=row + 1, field=field_name
            )
    codes = np.full(len(geoms), None, dtype=object)
    squad_of = np.full(len(geoms), None, dtype=object)
    if unit_grids is not None and len(unit_grids):
        if "code" not in unit_grids.columns:
            raise FieldError("the unit grids have no 'code' column", field="code")
        grids = to_storage_crs(unit_grids)
        codes = _point_owner(geoms, grids, _text_values(grids, "code"))
        by_code = dict(
            zip(_text_values(grids, "code"), _text_values(grids, "squad_id"), strict=True)
        )
        squad_of = np.array([by_code.get(code) for code in codes], dtype=object)
    if squads is not None and len(squads) and pd.isna(squad_of).any():
        drawn = to_storage_crs(with_geometry(squads))
        in_squad = _point_owner(geoms, drawn, _text_values(drawn, "id"))
        squad_of = np.where(pd.isna(squad_of), in_squad, squad_of)
    ids = points["id"].astype(str).to_numpy()
    names = {column: _text_values(points, column) for column in ("name_zh", "name_en")}
    return layer_frame(
        "posts",
        {
            "id": [f"P-{point_id}" for point_id in ids],
            "kind": ["point"] * len(ids),
            "road_name_zh": _text_values(points, "road_name_zh"),
            "level": levels,
            "length_m": [0.0] * len(ids),
            "radius_m": radius,
            "unit_grid_codes": codes,
            "squad_id": squad_of,
            "windows": _text_values(points, "windows"),
            "attrs": [
                {
                    "point_id": str(point_id),
                    "point_kind": kind_label,
                    **{
                        column: names[column][row]
                        for column in names
                        if names[column][row] is not None
                    },
                }
                for row, point_id in enumerate(ids)
            ],
        },
        geoms,
    )


def all_posts(
    roads: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame | None = None,
    *,
    unit_grids: gpd.GeoDataFrame | None = None,
    squads: gpd.GeoDataFrame | None = None,
    policy: PostPolicy | None = None,
    metric_crs: pyproj.CRS | None = None,
    point_kind_label: str = "guidance_point",
) -> gpd.GeoDataFrame:
    """Return the segment posts of the roads and the point posts of the points, sorted by id.

    Parameters are those of :func:`posts_from_roads` and :func:`point_posts` (the points' default
    radius is the policy's).

    Raises
    ------
    DuplicateIdError
        If a point post and a segment post get the same id.
    """
    policy = policy or PostPolicy()
    frames = [
        posts_from_roads(
            roads, unit_grids=unit_grids, squads=squads, policy=policy, metric_crs=metric_crs
        )
    ]
    if points is not None:
        frames.append(
            point_posts(
                points,
                unit_grids=unit_grids,
                squads=squads,
                radius_m=policy.point_radius_m,
                kind_label=point_kind_label,
            )
        )
    posts = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    check_unique_ids(posts["id"].astype(object), file="posts", field="id")
    return gpd.GeoDataFrame(posts, crs=STORAGE_CRS).sort_values(
        "id", kind="stable", ignore_index=True
    )
