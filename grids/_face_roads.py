"""The road ↔ grid lengths of unit grids built from the roads, from the noding that built them.

Unit grids built from the road network (:func:`grids.unit_grids.unit_grid_build`) are made of
the faces of the noded roads and boundaries: long strips cut across, faces merged, large blocks
cut by a grid of cells aligned with each one. A noded edge (the stretch of linework between two
nodes) never crosses a face's boundary, so it has one face on each side all along: the faces
whose rings hold it (polygonize builds them of the edges, coordinates and all), or the face it
lies in for a dead end (none outside the district). Which grid is on a side, stretch by stretch,
follows from the build: on a strip or a split block, the piece is the one in the cell of the
strip's or block's grid the stretch lies in, found by cutting the edge where the grid's lines
cross it, straight from the coordinates; a piece, a face, is part of one grid. No road is clipped
against a polygon.

Each stretch goes to the grid on each of its sides as :func:`grids.road_grid.road_grid_table`
attributes a line along a grid's edge: half to each side where there are two (so a stretch with
the same grid on both sides counts whole in it), all of it to the one grid at the district's
edge. Beside a face thinner than the reach of that rule (roads drawn twice a hair apart) the
sides are looked for where :func:`grids.road_grid.road_grid_table` looks, just off the edge's
middle. The lengths are then summed over the roads each edge lies along (roads drawn over one
another each get it). A road whose edges do not add up to it (linework a hair from it took some
of them), and the edges whose piece is not found, are measured by
:func:`grids.road_grid.line_polygon_lengths` against the grids near them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import shapely
from numpy.typing import NDArray

from grids._arrays import (
    BoolArray,
    FloatArray,
    GeometryArray,
    IndexArray,
    geometry_array,
    ragged_positions,
)
from grids._clip import Segments, segments_of
from grids._faces import CutGrid, SplitPieces, StripCuts
from grids.road_grid import line_polygon_lengths

__all__ = ["FaceTrace", "edge_roads", "noded_road_lengths"]

# A noded edge belongs to a road whose line passes this close to the edge's middle: the noder
# moves coordinates by rounding only, and roads meeting an edge there would have been noded.
_ON_ROAD_M = 1e-5
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


class FaceTrace(NamedTuple):
    """How the unit grids were made of the faces of the noding.

    Attributes
    ----------
    faces
        The faces of the noding inside the district.
    strips
        How long strips among them were cut across; the faces that are not strips, then the
        strips' pieces, are the faces that were merged.
    labels
        The label of each face merged (:func:`grids._faces.merge_labels`).
    block_union
        For each block, the label's union (in label order) it is a part of.
    large
        Which blocks were split.
    split
        The pieces of the large blocks.
    piece_labels
        The label of each piece merged.
    cell_union
        For each cell, the label's union (in label order) it is a part of.

    The grids, in the order they are numbered in, are the blocks that are not large, then the
    cells.
    """

    faces: GeometryArray
    strips: StripCuts
    labels: IndexArray
    block_union: IndexArray
    large: BoolArray
    split: SplitPieces
    piece_labels: IndexArray
    cell_union: IndexArray


def edge_roads(
    edges: GeometryArray, middle: FloatArray, roads: GeometryArray
) -> tuple[IndexArray, IndexArray]:
    """Return the pairs ``(edge, road)`` of the noded edges lying along the roads.

    ``middle`` is the point halfway along each edge. The pairs are sorted by edge, then road.
    """
    edge, road = shapely.STRtree(roads).query(edges)
    low_x, low_y, high_x, high_y = shapely.bounds(roads).T
    x, y = middle[edge, 0], middle[edge, 1]
    boxed = (
        (x >= low_x[road] - _ON_ROAD_M)
        & (x <= high_x[road] + _ON_ROAD_M)
        & (y >= low_y[road] - _ON_ROAD_M)
        & (y <= high_y[road] + _ON_ROAD_M)
    )
    edge, road = edge[boxed].astype(np.intp), road[boxed].astype(np.intp)
    # the distance from the middle to each segment of the road, straight from the coordinates
    # (no point is made for each edge, nor each road's parts taken apart)
    coords, coord_road = shapely.get_coordinates(roads, return_index=True)
    count = np.bincount(coord_road, minlength=len(roads))
    first = np.cumsum(count) - count
    joined = np.append(coord_road[1:] == coord_road[:-1], False)
    multi = np.flatnonzero(shapely.get_type_id(roads) == 5)
    if len(multi):
        part_count = shapely.get_num_coordinates(shapely.get_parts(roads[multi]))
        part_road = np.repeat(multi, shapely.get_num_geometries(roads[multi]))
        part_last = first[part_road] + _cumulative_in_group(part_road, part_count) - 1
        joined[part_last] = False
    pair, rank = ragged_positions(np.maximum(count[road] - 1, 0))
    at = first[road[pair]] + rank
    start, step = coords[at], coords[at + 1] - coords[at]
    point = middle[edge[pair]]
    length2 = (step * step).sum(axis=1)
    along = np.clip(((point - start) * step).sum(axis=1) / np.maximum(length2, 1e-300), 0.0, 1.0)
    offset = point - (start + along[:, None] * step)
    near = joined[at] & (np.hypot(offset[:, 0], offset[:, 1]) <= _ON_ROAD_M)
    hit = np.zeros(len(edge), dtype=bool)
    hit[pair[near]] = True
    order = np.lexsort((road[hit], edge[hit]))
    return edge[hit][order], road[hit][order]


def _cumulative_in_group(group: IndexArray, size: NDArray[np.integer[Any]]) -> IndexArray:
    """Return where each item ends, items laid end to end within their group.

    The items of a group come one after another (``group`` is sorted).
    """
    end = np.cumsum(size, dtype=np.intp)
    if not len(end):
        return end
    start_of_group = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    base = np.repeat(
        end[start_of_group] - size[start_of_group], np.diff(np.r_[start_of_group, len(group)])
    )
    result: IndexArray = end - base
    return result


def _whole_of_part(labels: IndexArray, union_of_part: IndexArray) -> IndexArray:
    """Return, for each labelled item, the part its label's union became (-1: several parts)."""
    roots, item_union = np.unique(labels, return_inverse=True)
    parts = np.bincount(union_of_part, minlength=len(roots))
    part_of_union = np.full(len(roots), -1, dtype=np.intp)
    single = parts[union_of_part] == 1
    part_of_union[union_of_part[single]] = np.flatnonzero(single)
    result: IndexArray = part_of_union[item_union.reshape(-1)]
    return result


class _Stretches(NamedTuple):
    """Stretches of edges on one side each: the container (face, piece) on that side."""

    edge: IndexArray
    container: IndexArray
    start: FloatArray
    end: FloatArray
    weight: FloatArray

    def take(self, rows: IndexArray) -> _Stretches:
        return _Stretches(
            self.edge[rows],
            self.container[rows],
            self.start[rows],
            self.end[rows],
            self.weight[rows],
        )


def _crossings(
    first: FloatArray, second: FloatArray, cells: IndexArray
) -> tuple[IndexArray, FloatArray]:
    """Return where the inner grid lines (whole numbers 1 … cells-1) cross each stretch.

    ``first`` and ``second`` are the stretches' ends in cell units along one side of the grid;
    the crossings are the stretch of each and the fraction of the way along it.
    """
    low = np.maximum(np.floor(np.minimum(first, second)) + 1, 1)
    high = np.minimum(np.ceil(np.maximum(first, second)) - 1, cells - 1)
    count = np.maximum(high - low + 1, 0).astype(np.intp)
    row, rank = ragged_positions(count)
    fraction = (low[row] + rank - first[row]) / (second[row] - first[row])
    return row, fraction


def _concat(parts: list[_Stretches]) -> _Stretches:
    return _Stretches(
        np.concatenate([part.edge for part in parts]),
        np.concatenate([part.container for part in parts]),
        np.concatenate([part.start for part in parts]),
        np.concatenate([part.end for part in parts]),
        np.concatenate([part.weight for part in parts]),
    )


def _cut(stretches: _Stretches, grid: CutGrid) -> tuple[_Stretches, IndexArray]:
    """Cut stretches where the lines of their grid cross them; return the cell of each piece.

    The container of each stretch is the position of its grid in ``grid``.
    """
    which = stretches.container
    # column by column: the same sums as over the rows of (n, 2) arrays, a good deal faster
    origin_x, origin_y = grid.origin[which, 0], grid.origin[which, 1]
    start_x, start_y = stretches.start[:, 0] - origin_x, stretches.start[:, 1] - origin_y
    end_x, end_y = stretches.end[:, 0] - origin_x, stretches.end[:, 1] - origin_y
    rows, fractions = [], []
    for side, cell_count in ((grid.along, grid.cells[:, 0]), (grid.across, grid.cells[:, 1])):
        side_x, side_y = side[:, 0], side[:, 1]
        scale = (cell_count / np.maximum(side_x * side_x + side_y * side_y, 1e-300))[which]
        side_x, side_y = side_x[which], side_y[which]
        first = (start_x * side_x + start_y * side_y) * scale
        second = (end_x * side_x + end_y * side_y) * scale
        row, fraction = _crossings(first, second, cell_count[which])
        rows.append(row)
        fractions.append(np.clip(fraction, 0.0, 1.0))
    # most stretches cross no line: only the others are cut
    crossed = np.zeros(len(which), dtype=bool)
    crossed[np.concatenate(rows)] = True
    cut_rows = np.flatnonzero(crossed)
    row = np.concatenate([cut_rows, cut_rows, *rows])
    fraction = np.concatenate([np.zeros(len(cut_rows)), np.ones(len(cut_rows)), *fractions])
    order = np.lexsort((fraction, row))
    row, fraction = row[order], fraction[order]
    piece = np.flatnonzero((row[1:] == row[:-1]) & (fraction[1:] > fraction[:-1]))
    row, begin, end = row[piece], fraction[piece], fraction[piece + 1]
    step = stretches.end[row] - stretches.start[row]
    cut = _concat(
        [
            stretches.take(np.flatnonzero(~crossed)),
            _Stretches(
                stretches.edge[row],
                which[row],
                stretches.start[row] + begin[:, None] * step,
                stretches.start[row] + end[:, None] * step,
                stretches.weight[row],
            ),
        ]
    )
    return cut, grid.squares(cut.container, (cut.start + cut.end) / 2)


def _sorted_matches(keys: NDArray[Any], wanted: NDArray[Any]) -> tuple[IndexArray, IndexArray]:
    """Return where the run of each wanted key starts in sorted ``keys``, and its length."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=np.intp), np.zeros(len(wanted), dtype=np.intp)
    run_start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    run_end = np.repeat(
        np.append(run_start[1:], len(keys)), np.diff(np.append(run_start, len(keys)))
    )
    low = np.searchsorted(keys, wanted, side="left")
    at = np.minimum(low, len(keys) - 1)
    count = np.where(keys[at] == wanted, run_end[at] - low, 0)
    return low, count


def _lookup(split: SplitPieces, stretches: _Stretches, square: IndexArray) -> IndexArray:
    """Return the piece of ``split`` each stretch lies along, from the cell of its grid it is in.

    Where the cell meets the face in several pieces, the one nearest the stretch's middle; -1
    where there is none.
    """
    width = int((split.grid.cells[:, 0] * split.grid.cells[:, 1]).max(initial=1))
    keys = split.face.astype(np.int64) * width + split.square
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    wanted = stretches.container.astype(np.int64) * width + square
    low, count = _sorted_matches(keys, wanted)
    piece = np.full(len(wanted), -1, dtype=np.intp)
    one = np.flatnonzero(count == 1)
    piece[one] = order[low[one]]
    several = np.flatnonzero(count > 1)
    if len(several):
        row, rank = ragged_positions(count[several])
        candidate = order[low[several][row] + rank]
        middle = (stretches.start[several] + stretches.end[several]) / 2
        distance = shapely.distance(split.pieces[candidate], shapely.points(middle[row]))
        nearest = np.lexsort((distance, row))
        first = nearest[np.r_[True, row[nearest][1:] != row[nearest][:-1]]]
        piece[several[row[first]]] = candidate[first]
    return piece


def _middles(segments: Segments) -> tuple[FloatArray, FloatArray]:
    """Return the point halfway along each part, and the direction of the segment it is on."""
    length = segments.along[segments.first + segments.segments]
    base = np.cumsum(length + 1.0) - (length + 1.0)
    at = np.searchsorted(base[segments.part] + segments.along, base + length / 2, side="right") - 1
    at = np.clip(at, segments.first, segments.first + segments.segments - 1)
    direction = segments.coords[at + 1] - segments.coords[at]
    direction /= np.maximum(np.hypot(direction[:, 0], direction[:, 1]), 1e-300)[:, None]
    middle = segments.coords[at] + (length / 2 - segments.along[at])[:, None] * direction
    return middle, direction


def _side_faces(
    middle: FloatArray, direction: FloatArray, faces: GeometryArray, offset: float
) -> tuple[IndexArray, IndexArray]:
    """Return the face ``offset`` off each side of each middle (``len(faces)``: none).

    The points are taken across the direction.
    """
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    sides = np.concatenate([middle + offset * normal, middle - offset * normal])
    if offset == 0:
        sides = middle
    nothing = len(faces)
    points = geometry_array(shapely.points(sides))
    # faces can be large (a river bank, the farmland at the district's edge): each is prepared
    # once and asked about the points in its box, not unprepared for each point
    found, probe = shapely.STRtree(points).query(faces, predicate="intersects")
    side_face = np.full(len(sides), nothing, dtype=np.intp)
    np.minimum.at(side_face, probe, found)
    if offset == 0:
        return side_face, side_face.copy()
    return side_face[: len(middle)], side_face[len(middle) :]


def _subset(segments: Segments, parts: IndexArray) -> Segments:
    """Return the segments of some of the parts (numbered anew in that order)."""
    count = segments.segments[parts] + 1
    of_part, rank = ragged_positions(count)
    at = segments.first[parts][of_part] + rank
    first = np.cumsum(count) - count
    return Segments(
        segments.coords[at], first, segments.segments[parts], segments.along[at], of_part
    )


def _mixed(value: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Return the bits of ``value`` mixed (the finaliser of SplitMix64)."""
    value = (value ^ (value >> np.uint64(30))) * _MIX[0]
    value = (value ^ (value >> np.uint64(27))) * _MIX[1]
    result: NDArray[np.uint64] = value ^ (value >> np.uint64(31))
    return result


def _ordered_ends(first: FloatArray, second: FloatArray) -> FloatArray:
    """Return each segment's ends as ``x0, y0, x1, y1``, the lower end (by x, then y) first."""
    swap = (first[:, 0] > second[:, 0]) | (
        (first[:, 0] == second[:, 0]) & (first[:, 1] > second[:, 1])
    )
    ends: FloatArray = np.where(
        swap[:, None], np.hstack([second, first]), np.hstack([first, second])
    )
    return ends


def _segment_keys(ends: FloatArray) -> NDArray[np.uint64]:
    """Return a hash of each segment's ends (see :func:`_ordered_ends`)."""
    bits = np.ascontiguousarray(ends).view(np.uint64)
    key = np.zeros(len(ends), dtype=np.uint64)
    for column in range(4):
        key = _mixed(key ^ bits[:, column])
    return key


def _ring_sides(segments: Segments, faces: GeometryArray) -> tuple[IndexArray, IndexArray]:
    """Return the faces whose rings hold each edge's first segment (``len(faces)``: none).

    Polygonized faces are bounded by the edges themselves, coordinates and all: an edge has a
    face on each side whose ring holds it, but for dead ends and edges with the same face on
    both sides, which no ring holds (-1: to be found from the sides).
    """
    # the rings' coordinates laid end to end, face by face, without making the rings (only
    # those of the faces with holes, to know where one ring ends and the next begins)
    coords, coord_face = shapely.get_coordinates(faces, return_index=True)
    joined = np.append(coord_face[1:] == coord_face[:-1], False)
    holed = np.flatnonzero(shapely.get_num_interior_rings(faces) > 0)
    if len(holed):
        count = np.bincount(coord_face, minlength=len(faces))
        rings, ring_face = shapely.get_rings(faces[holed], return_index=True)
        ring_end = _cumulative_in_group(ring_face, shapely.get_num_coordinates(rings))
        joined[(np.cumsum(count) - count)[holed[ring_face]] + ring_end - 1] = False
    same = np.flatnonzero(joined[:-1])
    owner = coord_face[same]
    ring_ends = _ordered_ends(coords[same], coords[same + 1])
    keys = _segment_keys(ring_ends)
    order = np.argsort(keys, kind="stable")
    keys, owner, ring_ends = keys[order], owner[order], ring_ends[order]
    ends = _ordered_ends(segments.coords[segments.first], segments.coords[segments.first + 1])
    wanted = _segment_keys(ends)
    low, count = _sorted_matches(keys, wanted)
    # the rings holding the very segment (not another one of the same hash)
    edge, rank = ragged_positions(count)
    candidate = low[edge] + rank
    holds = (ring_ends[candidate] == ends[edge]).all(axis=1)
    edge, candidate = edge[holds], candidate[holds]
    count = np.bincount(edge, minlength=len(ends))
    start = np.cumsum(count) - count
    nothing = len(faces)
    first = np.full(len(ends), nothing, dtype=np.intp)
    second = np.full(len(ends), nothing, dtype=np.intp)
    held = count >= 1
    first[held] = owner[candidate[start[held]]]
    twice = count == 2
    second[twice] = owner[candidate[start[twice] + 1]]
    first[(count == 0) | (count > 2)] = -1
    return first, second


def _side_stretches(segments: Segments, faces: GeometryArray, tolerance: float) -> _Stretches:
    """Return the segments of the edges, once for each side with a face."""
    left, right = _ring_sides(segments, faces)
    # an edge no ring holds is inside a face (a dead end) or outside the district
    loose = np.flatnonzero(left < 0)
    middle, direction = _middles(_subset(segments, loose))
    left[loose], right[loose] = _side_faces(middle, direction, faces, 0.0)
    # beside a face thinner than the reach of the sides (a road drawn twice a hair apart), the
    # grid looked for is the one beyond it, where road_grid_table looks from to share a stretch
    thin = np.append(2 * shapely.area(faces) < 4 * tolerance * shapely.length(faces), False)
    beside = np.flatnonzero(thin[left] | thin[right])
    middle, direction = _middles(_subset(segments, beside))
    left[beside], right[beside] = _side_faces(middle, direction, faces, 2 * tolerance)
    nothing = len(faces)
    weight = np.where((left < nothing) & (right < nothing), 0.5, 1.0)
    count = len(segments.first)
    edge = np.concatenate([np.arange(count), np.arange(count)])
    face = np.concatenate([left, right])
    sided = np.flatnonzero(face < nothing)
    edge, face = edge[sided], face[sided]
    of_side, rank = ragged_positions(segments.segments[edge])
    at = segments.first[edge][of_side] + rank
    return _Stretches(
        edge[of_side],
        face[of_side],
        segments.coords[at],
        segments.coords[at + 1],
        np.tile(weight, 2)[sided][of_side],
    )


def _grid_stretches(stretches: _Stretches, trace: FaceTrace) -> tuple[_Stretches, IndexArray]:
    """Follow stretches from the faces of the noding to the unit grids they lie in.

    Returns the stretches cut where grid lines cross them, and the grid (in numbering order) of
    each; -1 where a face, block or piece found is not one polygon.
    """
    is_strip = trace.strips.is_strip
    position = np.cumsum(~is_strip) - 1
    strip_number = np.cumsum(is_strip) - 1
    on_strip = is_strip[stretches.container]
    beside = stretches.take(np.flatnonzero(~on_strip))
    along = stretches.take(np.flatnonzero(on_strip))
    along, square = _cut(
        along._replace(container=strip_number[along.container]), trace.strips.split.grid
    )
    piece = _lookup(trace.strips.split, along, square)
    stretches = _concat(
        [
            beside._replace(container=position[beside.container]),
            along._replace(container=np.where(piece >= 0, int((~is_strip).sum()) + piece, -1)),
        ]
    )
    face = stretches.container
    block = np.where(face >= 0, _whole_of_part(trace.labels, trace.block_union)[face], -1)
    large = np.append(trace.large, False)[block]
    small_number = np.cumsum(~trace.large) - 1
    large_number = np.cumsum(trace.large) - 1
    small_grid = np.where(block[~large] >= 0, small_number[block[~large]], -1)
    cut, square = _cut(
        stretches.take(np.flatnonzero(large))._replace(container=large_number[block[large]]),
        trace.split.grid,
    )
    piece = _lookup(trace.split, cut, square)
    cell = np.where(piece >= 0, _whole_of_part(trace.piece_labels, trace.cell_union)[piece], -1)
    cell_grid = np.where(cell >= 0, int((~trace.large).sum()) + cell, -1)
    return (
        _concat([stretches.take(np.flatnonzero(~large)), cut]),
        np.concatenate([small_grid, cell_grid]),
    )


def _near(lines: GeometryArray, polygons: GeometryArray, reach: float) -> IndexArray:
    """Return the polygons whose boxes come within ``reach`` of the lines' boxes."""
    if not len(lines):
        return np.empty(0, dtype=np.intp)
    low_x, low_y, high_x, high_y = shapely.bounds(lines).T
    boxes = shapely.box(low_x - reach, low_y - reach, high_x + reach, high_y + reach)
    polygon, _ = shapely.STRtree(boxes).query(polygons)
    return np.unique(polygon).astype(np.intp)


def noded_road_lengths(
    edges: GeometryArray,
    roads: GeometryArray,
    grids: GeometryArray,
    grid_row: IndexArray,
    trace: FaceTrace,
    *,
    tolerance: float,
) -> tuple[IndexArray, IndexArray, FloatArray]:
    """Return the length of each road inside each grid, from the noded edges grids are built of.

    Parameters
    ----------
    edges
        The noded linework the faces were polygonized from (roads, boundaries, rivers).
    roads
        The roads, in the same projected CRS (missing geometries allowed).
    grids
        The unit grids built from the faces, in row order.
    grid_row
        The row of each grid in the order they were numbered in (see :class:`FaceTrace`).
    trace
        How the grids were made of the faces.
    tolerance
        The edge tolerance of :func:`grids.road_grid.line_polygon_lengths`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(road, grid, length)``: one entry per pair sharing a positive length, sorted by road and
        grid (its row).
    """
    edges = edges[(shapely.get_type_id(edges) == 1) & (shapely.length(edges) > 0)]
    segments = segments_of(edges)
    member_edge, member_road = edge_roads(edges, _middles(segments)[0], roads)
    # A road whose edges do not add up to it lies a hair from other linework (a boundary drawn
    # along it) and took its edges too: it is measured against the grids instead.
    edge_length = segments.along[segments.first + segments.segments]
    covered = np.bincount(member_road, weights=edge_length[member_edge], minlength=len(roads))
    road_length = np.nan_to_num(shapely.length(roads))
    odd = (covered > 0) & (np.abs(covered - road_length) > 1e-6 + 1e-9 * road_length)
    odd_roads = np.flatnonzero(odd)
    plain = ~odd[member_road]
    member_edge, member_road = member_edge[plain], member_road[plain]
    used = np.flatnonzero(np.bincount(member_edge, minlength=len(edges)))
    edges, member_edge = edges[used], np.searchsorted(used, member_edge)
    segments = _subset(segments, used)
    stretches, grid = _grid_stretches(_side_stretches(segments, trace.faces, tolerance), trace)
    measured = np.zeros(len(edges), dtype=bool)
    measured[stretches.edge[grid < 0]] = True
    keep = np.flatnonzero(~measured[stretches.edge])
    stretches, grid = stretches.take(keep), grid_row[grid[keep]]
    step = stretches.end - stretches.start
    piece = np.hypot(step[:, 0], step[:, 1]) * stretches.weight
    checked = np.flatnonzero(measured)
    near = _near(edges[checked], grids, 2 * tolerance)
    found = line_polygon_lengths(edges[checked], grids[near], edge_tolerance=tolerance)
    edge = np.concatenate([stretches.edge, checked[found.line]])
    grid = np.concatenate([grid, near[found.polygon]])
    piece = np.concatenate([piece, found.length])
    # each edge's pieces go to every road it lies along
    order = np.argsort(edge, kind="stable")
    grid, piece = grid[order], piece[order]
    pieces = np.bincount(edge, minlength=len(edges))
    count = pieces[member_edge]
    member, rank = ragged_positions(count)
    row = (np.cumsum(pieces) - pieces)[member_edge][member] + rank
    size = max(len(grids), 1)
    key = member_road[member].astype(np.int64) * size + grid[row]
    keys, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=piece[row], minlength=len(keys)).astype(np.float64)
    near = _near(roads[odd_roads], grids, 2 * tolerance)
    found = line_polygon_lengths(roads[odd_roads], grids[near], edge_tolerance=tolerance)
    keys = np.concatenate(
        [keys, odd_roads[found.line].astype(np.int64) * size + near[found.polygon]]
    )
    total = np.concatenate([total, found.length])
    positive = total > 0
    order = np.argsort(keys[positive], kind="stable")
    return (
        (keys[positive][order] // size).astype(np.intp),
        (keys[positive][order] % size).astype(np.intp),
        total[positive][order],
    )
