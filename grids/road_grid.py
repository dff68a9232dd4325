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

Most unit grids are convex (squares, hexagons); for them the lengths are computed directly from the
coordinates, by clipping each segment of the line against the polygon's edges, which is many
times faster than building the intersections. Other polygons go through GEOS.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from geodata.crs import to_metric
from geodata.errors import FieldError
from geodata.roads import LEVELS

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

# Lines with more segments than this go through GEOS: clipping them segment by segment against
# every grid they cross would cost more than intersecting them once.
_MAX_CLIPPED_SEGMENTS = 64
# Relative size below which the turn at a polygon vertex counts as straight (collinear vertices).
_COLLINEAR = 1e-12
_BOX, _CONVEX, _OTHER = 0, 1, 2
# Ends of a stretch along an edge are this many tolerances from it at most (rounding included).
_END_REACH = 1.5
# A stretch near an edge runs along it if it is longer than this many tolerances: a line crossing
# the edge at more than 30° keeps within the tolerance of it for less.
_ALONG_LENGTH = 4.0

Indices = NDArray[np.intp]
Floats = NDArray[np.float64]
Geometries = NDArray[np.object_]


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

    line: Indices
    polygon: Indices
    length: Floats
    entry: Floats


class _Pieces(NamedTuple):
    """Pieces of line parts inside polygons, possibly several per (part, polygon).

    ``start`` and ``end`` are where the piece is along its part; ``length`` is its length.
    """

    part: Indices
    polygon: Indices
    length: Floats
    start: Floats
    end: Floats


class _Stretches(NamedTuple):
    """Stretches of line parts found to run along a polygon edge, from and to along the part."""

    part: Indices
    start: Floats
    end: Floats


def _no_stretches() -> _Stretches:
    return _Stretches(np.empty(0, np.intp), np.empty(0), np.empty(0))


def _distinct(indices: Indices, size: int) -> Indices:
    """Return the distinct values of ``indices`` (all in ``range(size)``), sorted."""
    seen = np.zeros(size, dtype=bool)
    seen[indices] = True
    return np.flatnonzero(seen)


def _ragged_positions(counts: Indices) -> tuple[Indices, Indices]:
    """Return, for groups of ``counts`` items laid end to end, each item's group and rank in it."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(int(counts.sum())) - starts[group]


def _line_parts(lines: Geometries) -> tuple[Geometries, Indices, Floats]:
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


class _Segments(NamedTuple):
    """The parts' coordinates; per part its first coordinate and number of segments."""

    coords: Floats
    first: Indices
    segments: Indices
    along: Floats
    """Distance along its part of each coordinate."""
    part: Indices
    """The part of each coordinate."""


def _segments_of(parts: Geometries) -> _Segments:
    coords, part = shapely.get_coordinates(parts, return_index=True)
    coord_count = np.bincount(part, minlength=len(parts))
    first = np.cumsum(coord_count) - coord_count
    steps = np.append(np.hypot(*np.diff(coords, axis=0).T), 0.0) if len(coords) else coords[:, 0]
    walked = np.cumsum(steps) - steps
    along = walked - walked[first][part]
    return _Segments(coords, first, np.maximum(coord_count - 1, 0), along, part)


class _Polygons(NamedTuple):
    """How each polygon is clipped against, and what that takes.

    ``kind`` is ``_BOX`` for axis-aligned rectangles (clipped against their bounds), ``_CONVEX``
    for other convex polygons without holes (clipped against their edges, from the anticlockwise
    rings laid end to end in ``ring``) and ``_OTHER`` for the rest (intersected with GEOS).
    """

    kind: NDArray[np.int8]
    low: Floats
    high: Floats
    ring: Floats
    ring_start: Indices
    ring_size: Indices


def _classify_polygons(polygons: Geometries, which: Indices) -> _Polygons:
    """Sort the polygons ``which`` into boxes, other convex polygons and the rest."""
    count = len(polygons)
    kind = np.full(count, _OTHER, dtype=np.int8)
    low, high = np.zeros((count, 2)), np.zeros((count, 2))
    ring_start, ring_size = np.zeros(count, dtype=np.intp), np.zeros(count, dtype=np.intp)
    chosen = polygons[which]
    polygon_type = shapely.get_type_id(chosen)
    bounds = shapely.bounds(chosen)
    # a polygon of four corners (and no room for a hole) that fills its bounding box is that box
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    area = shapely.area(chosen)
    is_box = (polygon_type == 3) & (shapely.get_num_coordinates(chosen) == 5) & (area > 0)
    is_box &= np.abs(area - box_area) <= 1e-9 * box_area
    low[which], high[which] = bounds[:, :2], bounds[:, 2:]
    kind[which[is_box]] = _BOX
    rest = ~is_box & (polygon_type == 3)
    rest[rest] = (shapely.get_num_interior_rings(chosen[rest]) == 0) & ~shapely.is_empty(
        chosen[rest]
    )
    which, chosen = which[rest], chosen[rest]
    coords, owner = shapely.get_coordinates(chosen, return_index=True)
    if not len(coords):
        return _Polygons(kind, low, high, np.empty((0, 2)), ring_start, ring_size)
    sizes = np.bincount(owner, minlength=len(which))
    starts = np.cumsum(sizes) - sizes
    last = starts + sizes - 1
    index = np.arange(len(coords))
    # edge k runs from coordinate k to k + 1; the closing coordinate of a ring starts none
    is_edge = np.ones(len(coords), dtype=bool)
    is_edge[last] = False
    ahead = coords[np.minimum(index + 1, len(coords) - 1)]
    edge = np.where(is_edge[:, None], ahead - coords, 0.0)
    cross = coords[:, 0] * ahead[:, 1] - ahead[:, 0] * coords[:, 1]
    area2 = np.bincount(owner, weights=np.where(is_edge, cross, 0.0), minlength=len(which))
    # the turn from each edge to the next, the last edge of a ring turning into its first
    following = np.minimum(index + 1, len(coords) - 1)
    following[last - 1] = starts
    turn = edge[:, 0] * edge[following, 1] - edge[:, 1] * edge[following, 0]
    scale = np.hypot(edge[:, 0], edge[:, 1]) * np.hypot(edge[following, 0], edge[following, 1])
    bent_back = is_edge & (turn * np.sign(area2)[owner] < -_COLLINEAR * scale)
    convex = (np.bincount(owner, weights=bent_back, minlength=len(which)) == 0) & (area2 != 0)
    # turn the clockwise rings round: coordinate k of a ring becomes coordinate start + last - k
    mirrored = np.where((area2 < 0)[owner], starts[owner] + last[owner] - index, index)
    ring = coords[mirrored[convex[owner]]]
    kept = which[convex]
    kind[kept] = _CONVEX
    ring_size[kept] = sizes[convex]
    ring_start[kept] = np.cumsum(sizes[convex]) - sizes[convex]
    return _Polygons(kind, low, high, ring, ring_start, ring_size)


class _Clip(NamedTuple):
    """Where segments enter and leave polygons, as fractions of the segments.

    ``wide_in`` and ``wide_out`` are those for the polygons grown by the edge tolerance, and
    ``along`` says whether that wider piece keeps within the tolerance of one edge all along.
    """

    t_in: Floats
    t_out: Floats
    wide_in: Floats
    wide_out: Floats
    along: NDArray[np.bool_]


def _box_clip(start: Floats, end: Floats, low: Floats, high: Floats, tolerance: float) -> _Clip:
    """Clip segments against their boxes (Liang–Barsky)."""
    direction = end - start
    with np.errstate(divide="ignore", invalid="ignore"):
        step = 1.0 / direction
        to_low = (low - start) * step
        to_high = (high - start) * step
        enter = np.minimum(to_low, to_high)
        leave = np.maximum(to_low, to_high)
        # growing a box by the tolerance moves each side tolerance / |direction| along a segment
        margin = tolerance * np.abs(step)
        wide_enter, wide_leave = enter - margin, leave + margin
    flat = direction == 0
    if flat.any():
        # a segment parallel to an axis is within the box's span on that axis or wholly outside
        flat_start, flat_low, flat_high = start[flat], low[flat], high[flat]
        within = (flat_start >= flat_low) & (flat_start <= flat_high)
        near = (flat_start >= flat_low - tolerance) & (flat_start <= flat_high + tolerance)
        enter[flat] = np.where(within, -np.inf, np.inf)
        leave[flat] = np.where(within, np.inf, -np.inf)
        wide_enter[flat] = np.where(near, -np.inf, np.inf)
        wide_leave[flat] = np.where(near, np.inf, -np.inf)
    t_in = np.maximum(np.maximum(enter[:, 0], enter[:, 1]), 0.0)
    t_out = np.minimum(np.minimum(leave[:, 0], leave[:, 1]), 1.0)
    if tolerance <= 0:
        return _Clip(t_in, t_out, t_in, t_out, np.zeros(len(start), dtype=bool))
    wide_in = np.maximum(np.maximum(wide_enter[:, 0], wide_enter[:, 1]), 0.0)
    wide_out = np.minimum(np.minimum(wide_leave[:, 0], wide_leave[:, 1]), 1.0)
    # a piece along a side spans at most twice the reach across it: look closer only at those
    reach = _END_REACH * tolerance
    across = np.minimum(np.abs(direction[:, 0]), np.abs(direction[:, 1]))
    wide = np.maximum(wide_out - wide_in, 0.0)  # -inf where the segment misses the box
    rows = np.flatnonzero((wide > 0) & (across * wide <= 2 * reach))
    first = start[rows] + wide_in[rows, None] * direction[rows]
    last = start[rows] + wide_out[rows, None] * direction[rows]
    along = np.zeros(len(start), dtype=bool)
    for side in (low[rows], high[rows]):
        along[rows] |= ((np.abs(first - side) <= reach) & (np.abs(last - side) <= reach)).any(
            axis=1
        )
    return _Clip(t_in, t_out, wide_in, wide_out, along)


def _edge_span(num: Floats, den: Floats, group_starts: Indices) -> tuple[Floats, Floats]:
    """Return where segments enter and leave the intersection of half-planes num + t den >= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -num / den
    entering = np.where(den > 0, bound, -np.inf)
    leaving = np.where(den < 0, bound, np.where((den == 0) & (num < 0), -np.inf, np.inf))
    t_in = np.maximum(np.maximum.reduceat(entering, group_starts), 0.0)
    t_out = np.minimum(np.minimum.reduceat(leaving, group_starts), 1.0)
    return t_in, t_out


def _convex_clip(
    start: Floats, end: Floats, polygon: Indices, shapes: _Polygons, tolerance: float
) -> _Clip:
    """Clip segments against their convex polygons (Cyrus–Beck)."""
    if not len(start):
        empty = np.empty(0)
        return _Clip(empty, empty, empty, empty, np.empty(0, dtype=bool))
    direction = end - start
    edges = shapes.ring_size[polygon] - 1
    edge_row, edge_rank = _ragged_positions(edges)
    vertex = shapes.ring_start[polygon][edge_row] + edge_rank
    edge = shapes.ring[vertex + 1] - shapes.ring[vertex]
    offset = start[edge_row] - shapes.ring[vertex]
    # start + t * direction is on the inner side of an edge where num + t * den >= 0; num + t * den
    # is its distance from the edge's line times the edge's length
    num = edge[:, 0] * offset[:, 1] - edge[:, 1] * offset[:, 0]
    den = edge[:, 0] * direction[edge_row, 1] - edge[:, 1] * direction[edge_row, 0]
    group_starts = np.cumsum(edges) - edges
    t_in, t_out = _edge_span(num, den, group_starts)
    if tolerance <= 0:
        return _Clip(t_in, t_out, t_in, t_out, np.zeros(len(start), dtype=bool))
    edge_length = np.hypot(edge[:, 0], edge[:, 1])
    wide_in, wide_out = _edge_span(num + tolerance * edge_length, den, group_starts)
    reach = _END_REACH * tolerance * edge_length
    # a zero-length segment has an unbounded span (inf * 0 is NaN): it is along nothing
    with np.errstate(invalid="ignore"):
        near = (np.abs(num + wide_in[edge_row] * den) <= reach) & (
            np.abs(num + wide_out[edge_row] * den) <= reach
        )
    along = np.maximum.reduceat(near.astype(np.int8), group_starts).astype(bool)
    return _Clip(t_in, t_out, wide_in, wide_out, along & (wide_out > wide_in))


def _clipped_pieces(
    segments: _Segments,
    pair_part: Indices,
    pair_polygon: Indices,
    shapes: _Polygons,
    tolerance: float,
) -> tuple[_Pieces, _Stretches]:
    """Clip every segment of each part against each box or convex polygon of the pairs."""
    per_pair = segments.segments[pair_part]
    if (per_pair == 1).all():
        row_pair, row_seg = np.arange(len(pair_part)), segments.first[pair_part]
    else:
        row_pair, row_rank = _ragged_positions(per_pair)
        row_seg = segments.first[pair_part][row_pair] + row_rank
    polygon = pair_polygon[row_pair]
    start, end = segments.coords[row_seg], segments.coords[row_seg + 1]
    box = shapes.kind[polygon] == _BOX
    found: list[NDArray[Any]]
    if box.all():
        found = list(_box_clip(start, end, shapes.low[polygon], shapes.high[polygon], tolerance))
    else:
        found = [np.zeros(len(row_seg)) for _ in range(4)] + [np.zeros(len(row_seg), dtype=bool)]
        rows = np.flatnonzero(box)
        low, high = shapes.low[polygon[rows]], shapes.high[polygon[rows]]
        clips = _box_clip(start[rows], end[rows], low, high, tolerance)
        for values, clipped in zip(found, clips, strict=True):
            values[rows] = clipped
        # clip against the edges only the segments whose box comes near the polygon's
        rows = np.flatnonzero(~box)
        low, high = shapes.low[polygon[rows]], shapes.high[polygon[rows]]
        near = (np.minimum(start[rows], end[rows]) <= high + tolerance).all(axis=1)
        near &= (np.maximum(start[rows], end[rows]) >= low - tolerance).all(axis=1)
        rows = rows[near]
        clips = _convex_clip(start[rows], end[rows], polygon[rows], shapes, tolerance)
        for values, clipped in zip(found, clips, strict=True):
            values[rows] = clipped
    # a segment that misses its polygon enters it after leaving it, maybe at infinity
    t_in, wide_in = np.minimum(found[0], 1.0), np.minimum(found[2], 1.0)
    t_out, wide_out = np.maximum(found[1], 0.0), np.maximum(found[3], 0.0)
    along = found[4].astype(bool)
    seg_length = np.hypot(*(end - start).T)
    inside = np.where(along, 0.0, np.maximum(t_out - t_in, 0.0) * seg_length)
    before = segments.along[row_seg]
    start = before + t_in * seg_length
    pieces = _Pieces(pair_part[row_pair], polygon, inside, start, start + inside)
    stretches = _Stretches(
        pair_part[row_pair[along]],
        (before + wide_in * seg_length)[along],
        (before + wide_out * seg_length)[along],
    )
    return pieces, stretches


def _geos_pieces(
    parts: Geometries,
    polygons: Geometries,
    pair_part: Indices,
    pair_polygon: Indices,
    tolerance: float,
) -> tuple[_Pieces, _Stretches]:
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
    whole = _Pieces(
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
    crossing = _Pieces(
        pair_part[cut][owner[is_line]],
        pair_polygon[cut][owner[is_line]],
        shapely.length(pieces[is_line]),
        start[is_line],
        end[is_line],
    )
    stretches = _no_stretches()
    if tolerance > 0 and len(cut):
        rim = shapely.buffer(shapely.boundary(poly), tolerance, quad_segs=2)
        near, owner = shapely.get_parts(shapely.intersection(line, rim), return_index=True)
        start, end = _line_positions(line[owner], near)
        is_line = np.isfinite(start)
        near, owner, start, end = near[is_line], owner[is_line], start[is_line], end[is_line]
        middle = shapely.line_interpolate_point(near, 0.5, normalized=True)
        along = (end - start >= _ALONG_LENGTH * tolerance) & shapely.dwithin(
            shapely.boundary(poly[owner]), middle, tolerance
        )
        stretches = _Stretches(pair_part[cut][owner[along]], start[along], end[along])
    return _concat_pieces([whole, crossing]), stretches


def _covered(stretches: _Stretches) -> _Stretches:
    """Return the stretches merged: disjoint, sorted by part and along each part."""
    count = len(stretches.part)
    part = np.concatenate([stretches.part, stretches.part])
    position = np.concatenate([stretches.start, stretches.end])
    change = np.concatenate([np.ones(count, np.intp), -np.ones(count, np.intp)])
    order = np.lexsort((position, part))
    part, position, covered = part[order], position[order], np.cumsum(change[order])
    piece = np.flatnonzero(
        (part[:-1] == part[1:]) & (position[1:] > position[:-1]) & (covered[:-1] > 0)
    )
    return _Stretches(part[piece], position[piece], position[piece + 1])


def _without_stretches(pieces: _Pieces, covered: _Stretches, segments: _Segments) -> _Pieces:
    """Take off each piece's length what of it lies in the covered stretches of its part."""
    part_length = segments.along[segments.first + segments.segments]
    base = np.cumsum(part_length + 1.0) - (part_length + 1.0)
    key = base[covered.part] + covered.start
    size = covered.end - covered.start
    before = np.cumsum(size) - size

    def covered_up_to(part: Indices, at: Floats) -> Floats:
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


def _line_positions(lines: Geometries, pieces: Geometries) -> tuple[Floats, Floats]:
    """Return where along ``lines`` the line pieces start and end (in the lines' direction)."""
    is_line = (shapely.get_type_id(pieces) == 1) & ~shapely.is_empty(pieces)
    start = np.full(len(pieces), np.inf)
    end = np.full(len(pieces), -np.inf)
    first = shapely.line_locate_point(lines[is_line], shapely.get_point(pieces[is_line], 0))
    last = shapely.line_locate_point(lines[is_line], shapely.get_point(pieces[is_line], -1))
    start[is_line], end[is_line] = np.minimum(first, last), np.maximum(first, last)
    return start, end


def _concat_pieces(pieces: list[_Pieces]) -> _Pieces:
    return _Pieces(
        np.concatenate([p.part for p in pieces]),
        np.concatenate([p.polygon for p in pieces]),
        np.concatenate([p.length for p in pieces]),
        np.concatenate([p.start for p in pieces]),
        np.concatenate([p.end for p in pieces]),
    )


def _edge_shares(
    segments: _Segments,
    polygons: Geometries,
    covered: _Stretches,
    candidates: tuple[Indices, Indices],
    tolerance: float,
) -> _Pieces:
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
    # look for each side point among the polygons near its part
    pair_part, pair_polygon = candidates
    wanted = np.zeros(len(segments.first), dtype=bool)
    wanted[part] = True
    order = np.flatnonzero(wanted[pair_part])
    order = order[np.argsort(pair_part[order], kind="stable")]
    per_part = np.bincount(pair_part[order], minlength=len(segments.first))
    part_first = np.cumsum(per_part) - per_part
    side_part = np.concatenate([part, part])
    probe, rank = _ragged_positions(per_part[side_part])
    found = pair_polygon[order[part_first[side_part][probe] + rank]]
    hit = shapely.intersects(polygons[found], shapely.points(sides[probe]))
    probe, found = probe[hit], found[hit]
    nothing = len(polygons)
    side_polygon = np.full(len(sides), nothing, dtype=np.intp)
    np.minimum.at(side_polygon, probe, found)
    left, right = side_polygon[: len(part)], side_polygon[len(part) :]
    length = np.where(keep, end - start, 0.0)
    share = np.where((left != right) & (left < nothing) & (right < nothing), length / 2, length)
    to_left = left < nothing
    to_right = (right < nothing) & (right != left)
    return _concat_pieces(
        [
            _Pieces(part[to_left], left[to_left], share[to_left], start[to_left], end[to_left]),
            _Pieces(
                part[to_right], right[to_right], share[to_right], start[to_right], end[to_right]
            ),
        ]
    )


def line_polygon_lengths(
    lines: Geometries | gpd.GeoSeries,
    polygons: Geometries | gpd.GeoSeries,
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
    # near misses matter where lines run along polygon edges: look a little beyond each line
    reach = 2 * edge_tolerance
    boxes = parts
    if reach > 0:
        bounds = shapely.bounds(parts) + np.array([-reach, -reach, reach, reach])
        boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    pair_polygon, pair_part = shapely.STRtree(boxes).query(polygon_geoms)
    segments = _segments_of(parts)
    shapes = _classify_polygons(polygon_geoms, _distinct(pair_polygon, len(polygon_geoms)))
    clip = shapes.kind[pair_polygon] != _OTHER
    clip &= segments.segments[pair_part] <= _MAX_CLIPPED_SEGMENTS
    clipped, clipped_stretches = _clipped_pieces(
        segments, pair_part[clip], pair_polygon[clip], shapes, edge_tolerance
    )
    crossed, crossed_stretches = _geos_pieces(
        parts, polygon_geoms, pair_part[~clip], pair_polygon[~clip], edge_tolerance
    )
    stretches = _Stretches(
        *(np.concatenate(pair) for pair in zip(clipped_stretches, crossed_stretches, strict=True))
    )
    pieces = _concat_pieces([clipped, crossed])
    if len(stretches.part):
        covered = _covered(stretches)
        pieces = _concat_pieces(
            [
                _without_stretches(pieces, covered, segments),
                _edge_shares(
                    segments, polygon_geoms, covered, (pair_part, pair_polygon), edge_tolerance
                ),
            ]
        )
    positive = pieces.length > 0
    part, polygon = pieces.part[positive], pieces.polygon[positive]
    length, start = pieces.length[positive], pieces.start[positive]
    key = part_line[part].astype(np.int64) * len(polygon_geoms) + polygon
    keys, inverse = np.unique(key, return_inverse=True)
    entry = np.full(len(keys), np.inf)
    np.minimum.at(entry, inverse, start + part_before[part])
    return LineOverlaps(
        line=(keys // max(len(polygon_geoms), 1)).astype(np.intp),
        polygon=(keys % max(len(polygon_geoms), 1)).astype(np.intp),
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
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
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


def _text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return a column as text (the ``str`` dtype), indexed by position; all missing if absent."""
    if column not in frame.columns:
        return pd.Series(pd.array([None] * len(frame), dtype="str"))
    values = frame[column].reset_index(drop=True)
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype("str")


def _sort_ranks(values: pd.Series, rows: NDArray[np.intp]) -> NDArray[np.intp]:
    """Return the rank of ``values[rows]`` in sorted order, sorting only the values used."""
    used = _distinct(rows, len(values))
    order = values.iloc[used].argsort(kind="stable").to_numpy()
    rank = np.zeros(len(values), dtype=np.intp)
    rank[used[order]] = np.arange(len(used))
    return rank[rows]


def _pairs_frame(
    columns: dict[str, tuple[pd.Series, NDArray[np.intp]]],
    numbers: dict[str, NDArray[np.float64]],
    order: NDArray[np.intp],
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
    _require(lines, ("id",), "lines")
    _require(unit_grids, ("code",), "unit grids")
    line_geoms, grid_geoms = _metric_geometries(lines, unit_grids, metric_crs)
    found = line_polygon_lengths(line_geoms, grid_geoms, edge_tolerance=edge_tolerance_m)
    keep = found.length >= MIN_PAIR_LENGTH_M
    line_rows, grid_rows = found.line[keep], found.polygon[keep]
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
        {"length_m": found.length[keep]},
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
    _require(posts, ("id",), "posts")
    _require(unit_grids, ("code",), "unit grids")
    line_geoms, grid_geoms = _metric_geometries(posts, unit_grids, metric_crs)
    found = line_polygon_lengths(line_geoms, grid_geoms, edge_tolerance=edge_tolerance_m)
    keep = found.length >= MIN_PAIR_LENGTH_M
    post_rows, grid_rows = found.line[keep], found.polygon[keep]
    ids, codes = _text_column(posts, "id"), _text_column(unit_grids, "code")
    entry = found.entry[keep]
    order = np.lexsort((_sort_ranks(codes, grid_rows), entry, _sort_ranks(ids, post_rows)))
    return _pairs_frame(
        {"post_id": (ids, post_rows), "grid_code": (codes, grid_rows)},
        {"length_m": found.length[keep], "from_m": entry},
        order,
    )
