"""How much of each road (or post) runs through each unit grid.

The road ↔ grid table holds, for every pair of a unit grid and a line, the length of the line
inside the grid, measured in a projected CRS. It is what the workload of a grid is made of
(:func:`workload_by_grid`) and what the posts' grid codes come from.

A line crossing a grid counts with the length of its :func:`shapely.intersection` with the grid.
A line running along a grid's edge (within ``edge_tolerance_m``) is shared instead: half of that
stretch counts in the grid on each side, or all of it in the one grid where there is only one (at
the district's edge). This matters for unit grids built from the road network, whose edges *are*
the roads: taken literally, a road on the edge between two grids lies in both, or, after a round
trip through longitude/latitude, in one of them or neither as rounding has it.

The lengths are computed directly from the coordinates, by clipping each segment of the line
against the edges of each convex polygon its box meets (:mod:`grids._clip`), which is many times
faster than building the intersections. Polygons that are not convex (most unit grids built from
roads are not) are cut into triangles first; a stretch of line along the diagonal between two
triangles of a polygon is shared between them like any other edge and comes back whole to the
polygon. With ``edge_tolerance`` 0 (edges taken literally) they are intersected with GEOS.

Unit grids built from the roads come with a faster way to the same table:
:meth:`grids.unit_grids.UnitGridBuild.road_table` reads it off the noding the grids were built
from (:mod:`grids._face_roads`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geodata.crs import to_metric
from geodata.errors import FieldError
from geodata.roads import LEVELS
from grids._arrays import FloatArray, GeometryArray, IndexArray
from grids._clip import (
    OTHER,
    ClipPolygons,
    Pieces,
    Segments,
    Stretches,
    classify_polygons,
    clipped_pieces,
    concat_pieces,
    concat_shapes,
    segments_of,
)

__all__ = [
    "EDGE_TOLERANCE_M",
    "MIN_PAIR_LENGTH_M",
    "TABLE_COLUMNS",
    "WORKLOAD_WEIGHTS",
    "LineOverlaps",
    "grid_road_summary",
    "line_polygon_lengths",
    "post_grid_lengths",
    "road_grid_table",
    "table_of_lengths",
    "workload_by_grid",
]

MIN_PAIR_LENGTH_M = 0.01
"""Pairs of a line and a grid sharing less than this many metres are left out of the tables."""

EDGE_TOLERANCE_M = 0.01
"""A line this close to a grid's edge, all along a stretch, runs along the edge."""

TABLE_COLUMNS = ["grid_code", "line_id", "name_zh", "level", "length_m"]
"""The columns of :func:`road_grid_table`."""

WORKLOAD_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"strict": 3.0, "controlled": 2.0, "regulated": 1.0}
)
"""How much a metre of road of each management level weighs in a grid's workload."""

# A stretch near an edge runs along it if it is longer than this many tolerances: a line crossing
# the edge at more than 30° keeps within the tolerance of it for less.
_ALONG_LENGTH = 4.0


class LineOverlaps(NamedTuple):
    """The lengths of lines inside polygons: one entry per (line, polygon) pair sharing some.

    Attributes
    ----------
    line
        Index of the line.
    polygon
        Index of the polygon.
    length
        Length of the line inside the polygon, in the units of the coordinates.
    entry
        Where along the line it first enters the polygon.
    """

    line: IndexArray
    polygon: IndexArray
    length: FloatArray
    entry: FloatArray


def _no_stretches() -> Stretches:
    return Stretches(np.empty(0, np.intp), np.empty(0), np.empty(0))


def _distinct(indices: IndexArray, size: int) -> IndexArray:
    """Return the distinct values of ``indices`` (all in ``range(size)``), sorted."""
    seen = np.zeros(size, dtype=bool)
    seen[indices] = True
    return np.flatnonzero(seen)


def _line_parts(lines: GeometryArray) -> tuple[GeometryArray, IndexArray, FloatArray]:
    """Return the LineString parts of the lines, the line of each, and where each part starts.

    Points, polygons and missing geometries have no parts. The start of a part is the length of
    the parts before it in the same line.
    """
    types = shapely.get_type_id(lines)
    if ((types == 1) | (types == -1)).all():
        present = np.flatnonzero(types == 1)
        return lines[present], present, np.zeros(len(present))
    parts, part_line = shapely.get_parts(lines, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
    parts, part_line = parts[keep], part_line[keep]
    lengths = shapely.length(parts)
    before = np.cumsum(lengths) - lengths
    first_of_line = np.r_[True, part_line[1:] != part_line[:-1]]
    line_start = np.maximum.accumulate(np.where(first_of_line, before, 0.0))
    return parts, part_line, before - line_start


def _geos_pieces(
    parts: GeometryArray,
    polygons: GeometryArray,
    pair_part: IndexArray,
    pair_polygon: IndexArray,
    tolerance: float,
) -> tuple[Pieces, Stretches]:
    """Intersect parts and polygons with GEOS; a part inside a polygon needs no intersection.

    Where the edge tolerance is positive, the stretches of each part within it of the polygon's
    boundary, longer than a line crossing the boundary at a fair angle would keep near it, run
    along the boundary: they are left to :func:`_edge_shares`.
    """
    line, poly = parts[pair_part], polygons[pair_polygon]
    shapely.prepare(poly)
    inside = shapely.contains_properly(poly, line)
    if tolerance > 0 and inside.any():
        inside[inside] = ~shapely.dwithin(line[inside], shapely.boundary(poly[inside]), tolerance)
    whole = Pieces(
        pair_part[inside],
        pair_polygon[inside],
        shapely.length(line[inside]),
        np.zeros(inside.sum()),
        shapely.length(line[inside]),
    )
    cut = np.flatnonzero(~inside)
    line, poly = line[cut], poly[cut]
    pieces, owner = shapely.get_parts(shapely.intersection(line, poly), return_index=True)
    start, end = _line_positions(line[owner], pieces)
    is_line = np.isfinite(start)
    crossing = Pieces(
        pair_part[cut][owner[is_line]],
        pair_polygon[cut][owner[is_line]],
        shapely.length(pieces[is_line]),
        start[is_line],
        end[is_line],
    )
    stretches = _no_stretches()
    if tolerance > 0 and len(cut):
        # each polygon's rim is built once, however many parts cross it
        used, of_used = np.unique(pair_polygon[cut], return_inverse=True)
        boundaries = shapely.boundary(polygons[used])
        rim = shapely.buffer(boundaries, tolerance, quad_segs=2)[of_used]
        near, owner = shapely.get_parts(shapely.intersection(line, rim), return_index=True)
        start, end = _line_positions(line[owner], near)
        is_line = np.isfinite(start)
        near, owner, start, end = near[is_line], owner[is_line], start[is_line], end[is_line]
        middle = shapely.line_interpolate_point(near, 0.5, normalized=True)
        along = (end - start >= _ALONG_LENGTH * tolerance) & shapely.dwithin(
            boundaries[of_used[owner]], middle, tolerance
        )
        stretches = Stretches(pair_part[cut][owner[along]], start[along], end[along])
    return concat_pieces([whole, crossing]), stretches


def _covered(stretches: Stretches, shortest: float) -> Stretches:
    """Return the stretches merged: disjoint, sorted by part and along each part.

    They are cut at the ends of all the stretches, but for pieces shorter than ``shortest``
    (where the stretches along the edges of two polygons end a hair apart), which stay with the
    piece before them.
    """
    count = len(stretches.part)
    part = np.concatenate([stretches.part, stretches.part])
    position = np.concatenate([stretches.start, stretches.end])
    change = np.concatenate([np.ones(count, np.intp), -np.ones(count, np.intp)])
    order = np.lexsort((position, part))
    part, position, covered = part[order], position[order], np.cumsum(change[order])
    piece = np.flatnonzero(
        (part[:-1] == part[1:]) & (position[1:] > position[:-1]) & (covered[:-1] > 0)
    )
    part, start, end = part[piece], position[piece], position[piece + 1]
    follows = np.r_[False, (part[1:] == part[:-1]) & (start[1:] == end[:-1])]
    first = np.flatnonzero(~(follows & (end - start < shortest)))
    return Stretches(
        part[first], start[first], np.maximum.reduceat(end, first) if len(first) else end
    )


def _without_stretches(pieces: Pieces, covered: Stretches, segments: Segments) -> Pieces:
    """Take off each piece's length what of it lies in the covered stretches of its part."""
    part_length = segments.along[segments.first + segments.segments]
    base = np.cumsum(part_length + 1.0) - (part_length + 1.0)
    key = base[covered.part] + covered.start
    size = covered.end - covered.start
    before = np.cumsum(size) - size

    def covered_up_to(part: IndexArray, at: FloatArray) -> FloatArray:
        k = np.searchsorted(key, base[part] + at, side="right") - 1
        inside = k >= 0
        k = np.maximum(k, 0)
        reached = before[k] + np.clip(at - covered.start[k], 0.0, size[k])
        return np.where(
            inside & (covered.part[k] == part), reached, np.where(inside, before[k] + size[k], 0.0)
        )

    touched = np.zeros(len(part_length), dtype=bool)
    touched[covered.part] = True
    rows = np.flatnonzero(touched[pieces.part])
    part, start, end = pieces.part[rows], pieces.start[rows], pieces.end[rows]
    shared = covered_up_to(part, end) - covered_up_to(part, start)
    length = pieces.length.copy()
    length[rows] = np.maximum(length[rows] - np.maximum(shared, 0.0), 0.0)
    return pieces._replace(length=length)


def _line_positions(lines: GeometryArray, pieces: GeometryArray) -> tuple[FloatArray, FloatArray]:
    """Return where along ``lines`` the line pieces start and end (in the lines' direction)."""
    is_line = (shapely.get_type_id(pieces) == 1) & ~shapely.is_empty(pieces)
    start = np.full(len(pieces), np.inf)
    end = np.full(len(pieces), -np.inf)
    first = shapely.line_locate_point(lines[is_line], shapely.get_point(pieces[is_line], 0))
    last = shapely.line_locate_point(lines[is_line], shapely.get_point(pieces[is_line], -1))
    start[is_line], end[is_line] = np.minimum(first, last), np.maximum(first, last)
    return start, end


def _edge_shares(
    segments: Segments,
    polygons: GeometryArray,
    covered: Stretches,
    tolerance: float,
) -> Pieces:
    """Share the stretches that run along polygon edges between the polygons on either side.

    The stretches found for different polygons overlap (the same stretch of road along the edge
    of both grids it divides); ``covered`` has them cut into the pieces between all their ends,
    and each piece is looked at once, from a point just off each side of it.
    """
    part, start, end = covered
    middle = (start + end) / 2
    # the segment each piece's middle is on: the last one of its part starting before it
    part_length = segments.along[segments.first + segments.segments]
    base = np.cumsum(part_length + 1.0) - (part_length + 1.0)
    key = base[segments.part] + segments.along
    segment = np.searchsorted(key, base[part] + middle, side="right") - 1
    segment = np.clip(
        segment, segments.first[part], segments.first[part] + segments.segments[part] - 1
    )
    direction = segments.coords[segment + 1] - segments.coords[segment]
    size = np.hypot(direction[:, 0], direction[:, 1])
    keep = size > 0
    direction = direction / np.where(keep, size, 1.0)[:, None]
    centre = segments.coords[segment] + (middle - segments.along[segment])[:, None] * direction
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    sides = np.concatenate([centre + 2 * tolerance * normal, centre - 2 * tolerance * normal])
    # the polygons each side point lies in
    nothing = len(polygons)
    probe, found = shapely.STRtree(polygons).query(shapely.points(sides), predicate="intersects")
    side_polygon = np.full(len(sides), nothing, dtype=np.intp)
    np.minimum.at(side_polygon, probe, found)
    left, right = side_polygon[: len(part)], side_polygon[len(part) :]
    length = np.where(keep, end - start, 0.0)
    share = np.where((left != right) & (left < nothing) & (right < nothing), length / 2, length)
    to_left = left < nothing
    to_right = (right < nothing) & (right != left)
    return concat_pieces(
        [
            Pieces(part[to_left], left[to_left], share[to_left], start[to_left], end[to_left]),
            Pieces(
                part[to_right], right[to_right], share[to_right], start[to_right], end[to_right]
            ),
        ]
    )


def _triangulated(
    polygons: GeometryArray,
    shapes: ClipPolygons,
    tree: shapely.STRtree,
    pairs: tuple[IndexArray, IndexArray],
) -> tuple[GeometryArray, IndexArray, ClipPolygons, tuple[IndexArray, IndexArray]]:
    """Put the triangles of the polygons that are not convex in their place.

    Triangles are convex, so the lines in them are clipped instead of intersected with GEOS. A
    stretch of line along the diagonal between two triangles of a polygon is shared between
    them like any other edge, and both halves come back to the polygon: the lengths are those
    of the polygon. Invalid polygons are left to GEOS.

    Returns the polygons followed by the triangles (a polygon replaced by its triangles left
    empty), the polygon each of them belongs to, how each is clipped, and the pairs of a polygon
    or triangle and an item of ``tree`` whose boxes meet (``pairs`` are those of the polygons).
    """
    pair_polygon, pair_item = pairs
    other = _distinct(pair_polygon, len(polygons))
    other = other[shapes.kind[other] == OTHER]
    other = other[np.isin(shapely.get_type_id(polygons[other]), (3, 6))]
    other = other[shapely.is_valid(polygons[other])]
    if not len(other):
        return polygons, np.arange(len(polygons)), shapes, pairs
    triangles, triangle_of = shapely.get_parts(
        shapely.constrained_delaunay_triangles(polygons[other]), return_index=True
    )
    kept = shapely.area(triangles) > 0
    triangles, triangle_owner = triangles[kept], other[triangle_of[kept]]
    count = len(polygons)
    extended = np.concatenate([polygons, triangles])
    extended[other] = None
    owner = np.concatenate([np.arange(count), triangle_owner])
    found_triangle, found_item = tree.query(triangles)
    replaced = np.zeros(count, dtype=bool)
    replaced[other] = True
    keep = ~replaced[pair_polygon]
    pair_polygon = np.concatenate([pair_polygon[keep], count + found_triangle])
    pair_item = np.concatenate([pair_item[keep], found_item])
    triangle_shapes = classify_polygons(triangles, np.arange(len(triangles)))
    return extended, owner, concat_shapes(shapes, triangle_shapes), (pair_polygon, pair_item)


def line_polygon_lengths(
    lines: GeometryArray | gpd.GeoSeries,
    polygons: GeometryArray | gpd.GeoSeries,
    *,
    edge_tolerance: float = EDGE_TOLERANCE_M,
) -> LineOverlaps:
    """Return the length of each line inside each polygon it runs through.

    Both are taken in the same projected CRS; lengths are in its units. Parts of lines that are
    not lines (points of a collection) and missing geometries are ignored.

    Parameters
    ----------
    lines
        LineStrings or MultiLineStrings (other geometries are skipped).
    polygons
        Polygons or MultiPolygons.
    edge_tolerance
        How close to a polygon's edge a stretch of line must keep to run along it and be shared
        with the polygon on its other side (see the module documentation); 0 counts every line
        with the length of its intersection with each polygon, even along common edges.

    Returns
    -------
    LineOverlaps
        One entry per (line, polygon) pair sharing a positive length, in no particular order,
        with where along the line it first enters the polygon.
    """
    line_geoms = np.asarray(lines, dtype=object)
    polygon_geoms = np.asarray(polygons, dtype=object)
    parts, part_line, part_before = _line_parts(line_geoms)
    segments = segments_of(parts)
    # each segment of a line is paired with the polygons its box meets, and near misses matter
    # where lines run along polygon edges: look a little beyond each segment
    seg: IndexArray = np.flatnonzero(segments.part[1:] == segments.part[:-1])
    reach = 2 * edge_tolerance
    low = np.minimum(segments.coords[seg], segments.coords[seg + 1]) - reach
    high = np.maximum(segments.coords[seg], segments.coords[seg + 1]) + reach
    tree = shapely.STRtree(shapely.box(low[:, 0], low[:, 1], high[:, 0], high[:, 1]))
    pair_polygon, pair_row = tree.query(polygon_geoms)
    shapes = classify_polygons(polygon_geoms, _distinct(pair_polygon, len(polygon_geoms)))
    polygon_count = len(polygon_geoms)
    owner = np.arange(polygon_count)
    if edge_tolerance > 0:
        polygon_geoms, owner, shapes, (pair_polygon, pair_row) = _triangulated(
            polygon_geoms, shapes, tree, (pair_polygon, pair_row)
        )
    pair_seg = seg[pair_row]
    clip = shapes.kind[pair_polygon] != OTHER
    clipped, clipped_stretches = clipped_pieces(
        segments, pair_seg[clip], pair_polygon[clip], shapes, edge_tolerance
    )
    # the other polygons are intersected with whole parts
    crossing = np.unique(
        segments.part[pair_seg[~clip]].astype(np.int64) * max(len(polygon_geoms), 1)
        + pair_polygon[~clip]
    )
    crossed, crossed_stretches = _geos_pieces(
        parts,
        polygon_geoms,
        (crossing // max(len(polygon_geoms), 1)).astype(np.intp),
        (crossing % max(len(polygon_geoms), 1)).astype(np.intp),
        edge_tolerance,
    )
    stretches = Stretches(
        *(np.concatenate(pair) for pair in zip(clipped_stretches, crossed_stretches, strict=True))
    )
    pieces = concat_pieces([clipped, crossed])
    if len(stretches.part):
        covered = _covered(stretches, edge_tolerance)
        pieces = concat_pieces(
            [
                _without_stretches(pieces, covered, segments),
                _edge_shares(segments, polygon_geoms, covered, edge_tolerance),
            ]
        )
    positive = pieces.length > 0
    part, polygon = pieces.part[positive], owner[pieces.polygon[positive]]
    length, start = pieces.length[positive], pieces.start[positive]
    count = max(polygon_count, 1)
    key = part_line[part].astype(np.int64) * count + polygon
    keys, inverse = np.unique(key, return_inverse=True)
    entry = np.full(len(keys), np.inf)
    np.minimum.at(entry, inverse, start + part_before[part])
    return LineOverlaps(
        line=(keys // count).astype(np.intp),
        polygon=(keys % count).astype(np.intp),
        length=np.bincount(inverse, weights=length, minlength=len(keys)).astype(np.float64),
        entry=entry,
    )


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FieldError(
            f"{what} need a {missing[0]!r} column; "
            f"the columns are: {', '.join(map(str, frame.columns))}",
            field=missing[0],
        )


def _metric_geometries(
    lines: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame, metric_crs: pyproj.CRS | str | None
) -> tuple[GeometryArray, GeometryArray]:
    """Return both layers' geometries in one projected CRS (chosen for the lines when None)."""
    if metric_crs is None and not len(lines):
        polygons_m = to_metric(polygons) if len(polygons) else polygons
        return np.empty(0, dtype=object), np.asarray(polygons_m.geometry.array, dtype=object)
    lines_m = to_metric(lines, metric_crs)
    polygons_m = to_metric(polygons, lines_m.crs)
    return (
        np.asarray(lines_m.geometry.array, dtype=object),
        np.asarray(polygons_m.geometry.array, dtype=object),
    )


def _grid_pairs(
    lines: gpd.GeoDataFrame,
    what: str,
    unit_grids: gpd.GeoDataFrame,
    metric_crs: pyproj.CRS | str | None,
    edge_tolerance_m: float,
) -> LineOverlaps:
    """Return the (line, unit grid) pairs sharing at least :data:`MIN_PAIR_LENGTH_M`.

    Raises
    ------
    FieldError
        If ``lines`` has no ``id`` column or ``unit_grids`` no ``code`` column.
    """
    _require(lines, ("id",), what)
    _require(unit_grids, ("code",), "unit grids")
    line_geoms, grid_geoms = _metric_geometries(lines, unit_grids, metric_crs)
    found = line_polygon_lengths(line_geoms, grid_geoms, edge_tolerance=edge_tolerance_m)
    keep = found.length >= MIN_PAIR_LENGTH_M
    return LineOverlaps(
        found.line[keep], found.polygon[keep], found.length[keep], found.entry[keep]
    )


def _text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return a column as text (the ``str`` dtype), indexed by position; all missing if absent."""
    if column not in frame.columns:
        return pd.Series(pd.array([None] * len(frame), dtype="str"))
    values = frame[column].reset_index(drop=True)
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype("str")


def _sort_ranks(values: pd.Series, rows: IndexArray) -> IndexArray:
    """Return the rank of ``values[rows]`` in sorted order, sorting only the values used."""
    used = _distinct(rows, len(values))
    order = values.iloc[used].argsort(kind="stable").to_numpy()
    rank = np.zeros(len(values), dtype=np.intp)
    rank[used[order]] = np.arange(len(used))
    return rank[rows]


def _pairs_frame(
    columns: dict[str, tuple[pd.Series, IndexArray]],
    numbers: dict[str, FloatArray],
    order: IndexArray,
) -> pd.DataFrame:
    """Build a table from text columns taken at rows, and number columns, in ``order``."""
    data: dict[str, object] = {
        name: values.take(rows[order]).reset_index(drop=True)
        for name, (values, rows) in columns.items()
    }
    data.update({name: values[order] for name, values in numbers.items()})
    return pd.DataFrame(data)


def road_grid_table(
    lines: gpd.GeoDataFrame,
    unit_grids: gpd.GeoDataFrame,
    *,
    metric_crs: pyproj.CRS | str | None = None,
    edge_tolerance_m: float = EDGE_TOLERANCE_M,
) -> pd.DataFrame:
    """Return the length of every line inside every unit grid it runs through.

    Parameters
    ----------
    lines
        Roads (or segment posts): an ``id`` column, and ``name_zh`` (or ``road_name_zh``) and
        ``level`` where there are; LineString or MultiLineString geometries.
    unit_grids
        Unit grids with a ``code`` column.
    metric_crs
        The projected CRS to measure in; chosen for the lines when None.
    edge_tolerance_m
        How close a line must keep to a grid's edge to run along it and be shared with the grid
        on the other side; 0 counts the plain intersection with each grid.

    Returns
    -------
    pandas.DataFrame
        Columns ``grid_code``, ``line_id``, ``name_zh``, ``level``, ``length_m``, one row per
        (grid, line) pair sharing at least :data:`MIN_PAIR_LENGTH_M`, sorted by grid code then
        line id. A line running along the edge between two grids counts half in each.

    Raises
    ------
    FieldError
        If ``lines`` has no ``id`` column or ``unit_grids`` no ``code`` column.
    MissingCRSError
        If either has no CRS.
    """
    found = _grid_pairs(lines, "lines", unit_grids, metric_crs, edge_tolerance_m)
    return table_of_lengths(lines, unit_grids, found.line, found.polygon, found.length)


def table_of_lengths(
    lines: gpd.GeoDataFrame,
    unit_grids: gpd.GeoDataFrame,
    line_rows: IndexArray,
    grid_rows: IndexArray,
    length_m: FloatArray,
) -> pd.DataFrame:
    """Return a :func:`road_grid_table` of the lengths of lines (by row) in grids (by row).

    Pairs sharing less than :data:`MIN_PAIR_LENGTH_M` are left out.

    Raises
    ------
    FieldError
        If ``lines`` has no ``id`` column or ``unit_grids`` no ``code`` column.
    """
    _require(lines, ("id",), "lines")
    _require(unit_grids, ("code",), "unit grids")
    keep = length_m >= MIN_PAIR_LENGTH_M
    line_rows, grid_rows, length_m = line_rows[keep], grid_rows[keep], length_m[keep]
    name_column = "name_zh" if "name_zh" in lines.columns else "road_name_zh"
    codes, ids = _text_column(unit_grids, "code"), _text_column(lines, "id")
    order = np.lexsort((_sort_ranks(ids, line_rows), _sort_ranks(codes, grid_rows)))
    return _pairs_frame(
        {
            "grid_code": (codes, grid_rows),
            "line_id": (ids, line_rows),
            "name_zh": (_text_column(lines, name_column), line_rows),
            "level": (_text_column(lines, "level"), line_rows),
        },
        {"length_m": length_m},
        order,
    )


def grid_road_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Return the road length in each unit grid, by management level and in total.

    Parameters
    ----------
    table
        A :func:`road_grid_table`.

    Returns
    -------
    pandas.DataFrame
        One row per grid code in the table, sorted: ``grid_code``, ``strict_m``,
        ``controlled_m``, ``regulated_m`` and ``total_m`` (which also counts lines of no or
        another level).
    """
    by_level = table.pivot_table(
        index="grid_code", columns="level", values="length_m", aggfunc="sum", fill_value=0.0
    )
    summary = pd.DataFrame(index=pd.Index(sorted(table["grid_code"].unique()), name="grid_code"))
    for level in LEVELS:
        values = by_level[level] if level in by_level.columns else 0.0
        summary[f"{level}_m"] = pd.Series(values, index=by_level.index).reindex(
            summary.index, fill_value=0.0
        )
    summary["total_m"] = table.groupby("grid_code")["length_m"].sum().reindex(summary.index)
    return summary.astype("float64").reset_index().astype({"grid_code": "str"})


def workload_by_grid(table: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.Series:
    """Return each unit grid's workload: its road length weighted by management level.

    Parameters
    ----------
    table
        A :func:`road_grid_table`.
    weights
        Weight of a metre of each level; :data:`WORKLOAD_WEIGHTS` when None.

    Returns
    -------
    pandas.Series
        ``workload`` in weighted metres, indexed by ``grid_code``, sorted.

    Raises
    ------
    FieldError
        If a line has no level, or one that ``weights`` does not weigh.
    """
    weights = WORKLOAD_WEIGHTS if weights is None else weights
    weight = table["level"].map(
        lambda level: weights.get(level) if isinstance(level, str) else None
    )
    unweighted = weight.isna().to_numpy()
    if unweighted.any():
        row = int(np.flatnonzero(unweighted)[0])
        level = table["level"].iloc[row]
        what = f"level {level!r}, which has" if isinstance(level, str) else "no level, so"
        raise FieldError(
            f"line {table['line_id'].iloc[row]!r} has {what} no workload weight "
            f"(weights are given for: {', '.join(weights)})",
            row=row + 1,
            field="level",
        )
    weighted = table["length_m"].to_numpy() * weight.to_numpy(dtype=float)
    workload = pd.Series(weighted, index=pd.Index(table["grid_code"], name="grid_code"))
    return workload.groupby(level=0).sum().sort_index().rename("workload")


def post_grid_lengths(
    posts: gpd.GeoDataFrame,
    unit_grids: gpd.GeoDataFrame,
    *,
    metric_crs: pyproj.CRS | str | None = None,
    edge_tolerance_m: float = EDGE_TOLERANCE_M,
) -> pd.DataFrame:
    """Return the unit grids each segment post runs through, in order along the post.

    Parameters
    ----------
    posts
        Posts with an ``id`` column; point posts are left out.
    unit_grids
        Unit grids with a ``code`` column.
    metric_crs
        The projected CRS to measure in; chosen for the posts when None.
    edge_tolerance_m
        As for :func:`road_grid_table`.

    Returns
    -------
    pandas.DataFrame
        Columns ``post_id``, ``grid_code``, ``length_m`` and ``from_m`` (where along the post it
        enters the grid), one row per (post, grid) pair sharing at least
        :data:`MIN_PAIR_LENGTH_M`, sorted by post id and then along the post.

    Raises
    ------
    FieldError
        If ``posts`` has no ``id`` column or ``unit_grids`` no ``code`` column.
    """
    found = _grid_pairs(posts, "posts", unit_grids, metric_crs, edge_tolerance_m)
    post_rows, grid_rows = found.line, found.polygon
    ids, codes = _text_column(posts, "id"), _text_column(unit_grids, "code")
    entry = found.entry
    order = np.lexsort((_sort_ranks(codes, grid_rows), entry, _sort_ranks(ids, post_rows)))
    return _pairs_frame(
        {"post_id": (ids, post_rows), "grid_code": (codes, grid_rows)},
        {"length_m": found.length, "from_m": entry},
        order,
    )
