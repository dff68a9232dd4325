"""Clipping line segments against boxes (Liang–Barsky) and convex polygons (Cyrus–Beck).

How :func:`grids.road_grid.line_polygon_lengths` measures lines in polygons that are boxes or
convex (squares, hexagons, and the triangles other polygons are cut into): clipping each segment
of a line against the polygon's edges, straight from the coordinates, is many times faster than
building the intersections with GEOS. Each clip also finds the stretches of segments that run
along a polygon's edge, within a tolerance of it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import shapely
from numpy.typing import NDArray

from grids._arrays import FloatArray, GeometryArray, IndexArray, ragged_positions

# Relative size below which the turn at a polygon vertex counts as straight (collinear vertices).
_COLLINEAR = 1e-12
BOX, CONVEX, OTHER = 0, 1, 2
# Ends of a stretch along an edge are this many tolerances from it at most (rounding included).
_END_REACH = 1.5


class Pieces(NamedTuple):
    """Pieces of line parts inside polygons, possibly several per (part, polygon).

    ``start`` and ``end`` are where the piece is along its part; ``length`` is its length.
    """

    part: IndexArray
    polygon: IndexArray
    length: FloatArray
    start: FloatArray
    end: FloatArray


class Stretches(NamedTuple):
    """Stretches of line parts found to run along a polygon edge, from and to along the part."""

    part: IndexArray
    start: FloatArray
    end: FloatArray


class Segments(NamedTuple):
    """The parts' coordinates; per part its first coordinate and number of segments."""

    coords: FloatArray
    first: IndexArray
    segments: IndexArray
    along: FloatArray
    """Distance along its part of each coordinate."""
    part: IndexArray
    """The part of each coordinate."""


def segments_of(parts: GeometryArray) -> Segments:
    """Return the segments of LineStrings, with the distance along its part of each coordinate."""
    coords, part = shapely.get_coordinates(parts, return_index=True)
    coord_count = np.bincount(part, minlength=len(parts))
    first = np.cumsum(coord_count) - coord_count
    steps = np.append(np.hypot(*np.diff(coords, axis=0).T), 0.0) if len(coords) else coords[:, 0]
    walked = np.cumsum(steps) - steps
    along = walked - walked[first][part]
    return Segments(coords, first, np.maximum(coord_count - 1, 0), along, part)


class ClipPolygons(NamedTuple):
    """How each polygon is clipped against, and what that takes.

    ``kind`` is ``BOX`` for axis-aligned rectangles (clipped against their bounds), ``CONVEX``
    for other convex polygons without holes (clipped against their edges, from the anticlockwise
    rings laid end to end in ``ring``) and ``OTHER`` for the rest (intersected with GEOS).
    """

    kind: NDArray[np.int8]
    low: FloatArray
    high: FloatArray
    ring: FloatArray
    ring_start: IndexArray
    ring_size: IndexArray


def classify_polygons(polygons: GeometryArray, which: IndexArray) -> ClipPolygons:
    """Sort the polygons ``which`` into boxes, other convex polygons and the rest."""
    count = len(polygons)
    kind = np.full(count, OTHER, dtype=np.int8)
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
    kind[which[is_box]] = BOX
    rest = ~is_box & (polygon_type == 3)
    rest[rest] = (shapely.get_num_interior_rings(chosen[rest]) == 0) & ~shapely.is_empty(
        chosen[rest]
    )
    which, chosen = which[rest], chosen[rest]
    coords, owner = shapely.get_coordinates(chosen, return_index=True)
    if not len(coords):
        return ClipPolygons(kind, low, high, np.empty((0, 2)), ring_start, ring_size)
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
    kind[kept] = CONVEX
    ring_size[kept] = sizes[convex]
    ring_start[kept] = np.cumsum(sizes[convex]) - sizes[convex]
    return ClipPolygons(kind, low, high, ring, ring_start, ring_size)


def concat_shapes(first: ClipPolygons, second: ClipPolygons) -> ClipPolygons:
    """Return how to clip the polygons of ``first`` followed by those of ``second``."""
    return ClipPolygons(
        np.concatenate([first.kind, second.kind]),
        np.concatenate([first.low, second.low]),
        np.concatenate([first.high, second.high]),
        np.concatenate([first.ring, second.ring]),
        np.concatenate([first.ring_start, second.ring_start + len(first.ring)]),
        np.concatenate([first.ring_size, second.ring_size]),
    )


class _Clip(NamedTuple):
    """Where segments enter and leave polygons, as fractions of the segments.

    ``wide_in`` and ``wide_out`` are those for the polygons grown by the edge tolerance, and
    ``along`` says whether that wider piece keeps within the tolerance of one edge all along.
    """

    t_in: FloatArray
    t_out: FloatArray
    wide_in: FloatArray
    wide_out: FloatArray
    along: NDArray[np.bool_]


def _box_clip(
    start: FloatArray, end: FloatArray, low: FloatArray, high: FloatArray, tolerance: float
) -> _Clip:
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


def _edge_span(
    num: FloatArray, den: FloatArray, group_starts: IndexArray
) -> tuple[FloatArray, FloatArray]:
    """Return where segments enter and leave the intersection of half-planes num + t den >= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -num / den
    entering = np.where(den > 0, bound, -np.inf)
    leaving = np.where(den < 0, bound, np.where((den == 0) & (num < 0), -np.inf, np.inf))
    t_in = np.maximum(np.maximum.reduceat(entering, group_starts), 0.0)
    t_out = np.minimum(np.minimum.reduceat(leaving, group_starts), 1.0)
    return t_in, t_out


def _convex_clip(
    start: FloatArray, end: FloatArray, polygon: IndexArray, shapes: ClipPolygons, tolerance: float
) -> _Clip:
    """Clip segments against their convex polygons (Cyrus–Beck)."""
    if not len(start):
        empty = np.empty(0)
        return _Clip(empty, empty, empty, empty, np.empty(0, dtype=bool))
    direction = end - start
    edges = shapes.ring_size[polygon] - 1
    edge_row, edge_rank = ragged_positions(edges)
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
    # only the segments that come near their polygons can run along an edge of it
    rows = np.flatnonzero(wide_out > wide_in)
    along_in, along_out = np.full(len(start), np.inf), np.full(len(start), -np.inf)
    if len(rows):
        k = np.flatnonzero((wide_out > wide_in)[edge_row])
        row, num, den, edge_length = edge_row[k], num[k], den[k], edge_length[k]
        edge, offset = edge[k], offset[k]
        row_starts = np.cumsum(edges[rows]) - edges[rows]
        reach = _END_REACH * tolerance * edge_length
        # a zero-length segment has an unbounded span (inf * 0 is NaN): it is along nothing
        with np.errstate(invalid="ignore"):
            near = (np.abs(num + wide_in[row] * den) <= reach) & (
                np.abs(num + wide_out[row] * den) <= reach
            )
        # Grown by the tolerance, a sharp corner reaches far beyond its vertex (tolerance / sin
        # of half its angle), as a sliver triangle's does: a stretch runs along an edge only
        # beside the edge, and only as far as it keeps within the tolerance of the edge's line.
        with np.errstate(divide="ignore", invalid="ignore"):
            projected = edge[:, 0] * offset[:, 0] + edge[:, 1] * offset[:, 1]
            step = edge[:, 0] * direction[row, 0] + edge[:, 1] * direction[row, 1]
            low = (-reach - projected) / step
            high = (edge_length**2 + reach - projected) / step
            band_low = (-tolerance * edge_length - num) / den
            band_high = (tolerance * edge_length - num) / den
        parallel = den == 0
        in_band = np.abs(num) <= tolerance * edge_length
        band_low, band_high = (
            np.where(parallel, np.where(in_band, -np.inf, np.inf), np.minimum(band_low, band_high)),
            np.where(parallel, np.where(in_band, np.inf, -np.inf), np.maximum(band_low, band_high)),
        )
        beside_in = np.maximum(np.maximum(wide_in[row], np.minimum(low, high)), band_low)
        beside_out = np.minimum(np.minimum(wide_out[row], np.maximum(low, high)), band_high)
        near &= (step != 0) & (beside_out > beside_in)
        along_in[rows] = np.minimum.reduceat(np.where(near, beside_in, np.inf), row_starts)
        along_out[rows] = np.maximum.reduceat(np.where(near, beside_out, -np.inf), row_starts)
    along = along_out > along_in
    return _Clip(
        t_in, t_out, np.where(along, along_in, wide_in), np.where(along, along_out, wide_out), along
    )


def clipped_pieces(
    segments: Segments,
    row_seg: IndexArray,
    polygon: IndexArray,
    shapes: ClipPolygons,
    tolerance: float,
) -> tuple[Pieces, Stretches]:
    """Clip segments against boxes or convex polygons.

    Row ``i`` clips the segment starting at coordinate ``row_seg[i]`` against ``polygon[i]``.
    """
    row_part = segments.part[row_seg]
    start, end = segments.coords[row_seg], segments.coords[row_seg + 1]
    box = shapes.kind[polygon] == BOX
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
    inside = np.maximum(t_out - t_in, 0.0) * seg_length
    before = segments.along[row_seg]
    start = before + t_in * seg_length
    found_inside = np.flatnonzero(inside > 0)
    pieces = Pieces(
        row_part[found_inside],
        polygon[found_inside],
        inside[found_inside],
        start[found_inside],
        (start + inside)[found_inside],
    )
    stretches = Stretches(
        row_part[along],
        (before + wide_in * seg_length)[along],
        (before + wide_out * seg_length)[along],
    )
    return pieces, stretches


def concat_pieces(pieces: list[Pieces]) -> Pieces:
    """Return the pieces of all the lists, one after the other."""
    return Pieces(
        np.concatenate([p.part for p in pieces]),
        np.concatenate([p.polygon for p in pieces]),
        np.concatenate([p.length for p in pieces]),
        np.concatenate([p.start for p in pieces]),
        np.concatenate([p.end for p in pieces]),
    )
