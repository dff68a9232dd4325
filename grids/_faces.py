"""Faces of a noding, and how unit grids are made of them: merged, cut across, split.

The faces of the noded roads and boundaries are joined into unit grids through their adjacency
graph alone (:func:`shared_boundaries`, :func:`merge_labels`), then united once per grid
(:func:`union_by_label`); long strips are cut across (:func:`cut_strips`) and large blocks split
by a grid aligned with each one (:func:`split_faces`). Everything works in a projected CRS and is
vectorised over the faces.
"""

from __future__ import annotations

import math
from typing import NamedTuple

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
from grids._graph import compress_paths

SLIVER_COMPACTNESS = 0.4
"""Faces thinner than :data:`SLIVER_WIDTH` are slivers if also less compact than this
(isoperimetric quotient ``4π·area/perimeter²``: 0.785 for a square, 0.385 for a strip six
times as long as it is wide)."""

SLIVER_WIDTH = 0.25
"""Faces whose mean width ``2·area/perimeter`` is below this fraction of the target cell side are
merged (a square's mean width is half its side; a strip's is about its width)."""

ARTEFACT_WIDTH_M = 1.0
"""Faces of a smaller mean width (metres) may merge across sub-district and community lines."""

SEGMENT_PRECISION_M = 1e-3
"""Boundary segments whose ends agree to this many metres count as shared."""

SPLIT_OVERSHOOT_M = 0.01
"""How far split lines reach beyond the face they split, so that they surely cut its boundary."""

_MAX_MERGE_ROUNDS = 500
_VERTEX_PRECISION_M = 1e-6


def faces_of(lines: GeometryArray, district: shapely.Geometry) -> GeometryArray:
    """Node ``lines`` together, polygonize them and return the faces inside ``district``.

    ``lines`` must include the district's boundary rings, so that the faces partition it.
    """
    return noded_faces(lines, district)[0]


def noded_faces(
    lines: GeometryArray, district: shapely.Geometry
) -> tuple[GeometryArray, GeometryArray]:
    """Return the faces inside ``district`` (see :func:`faces_of`) and the noded edges.

    The edges are the stretches of ``lines`` between their nodes that the faces are made of
    (and dead ends, which are inside faces).
    """
    edges = geometry_array(shapely.get_parts(shapely.union_all(lines)))
    faces = shapely.get_parts(shapely.polygonize(edges))
    inside_points = shapely.point_on_surface(faces)
    shapely.prepare(district)
    inside = shapely.contains_xy(
        district, shapely.get_x(inside_points), shapely.get_y(inside_points)
    )
    result: GeometryArray = faces[inside]
    return result, edges


def group_ids(*keys: IndexArray) -> IndexArray:
    """Return one group number for each distinct combination of ``keys``."""
    _, groups = np.unique(np.column_stack(keys), axis=0, return_inverse=True)
    result: IndexArray = groups.reshape(-1).astype(np.intp)
    return result


def shared_boundaries(
    polygons: GeometryArray, *, precision: float = SEGMENT_PRECISION_M
) -> tuple[IndexArray, IndexArray, FloatArray]:
    """Return the pairs of polygons that share boundary, and the length they share.

    Segments count as shared when both their ends agree to ``precision`` metres, which is exact
    for faces polygonized from one noding and tolerant of rounding for pieces clipped apart.

    Returns
    -------
    tuple of numpy.ndarray
        ``(first, second, length)``: positions with ``first < second``, each pair once.
    """
    rings, ring_owner = shapely.get_rings(polygons, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = coord_ring[1:] == coord_ring[:-1]
    starts, ends = coords[:-1][same_ring], coords[1:][same_ring]
    owners = ring_owner[coord_ring[1:][same_ring]]
    lengths = np.hypot(*(ends - starts).T)
    start_key = np.rint(starts / precision).astype(np.int64)
    end_key = np.rint(ends / precision).astype(np.int64)
    swap = (start_key[:, 0] > end_key[:, 0]) | (
        (start_key[:, 0] == end_key[:, 0]) & (start_key[:, 1] > end_key[:, 1])
    )
    low = np.where(swap[:, None], end_key, start_key)
    high = np.where(swap[:, None], start_key, end_key)
    keys = np.column_stack([low, high])
    order = np.lexsort((owners, keys[:, 3], keys[:, 2], keys[:, 1], keys[:, 0]))
    keys, owners, lengths = keys[order], owners[order], lengths[order]
    repeated = (keys[1:] == keys[:-1]).all(axis=1) & (owners[1:] != owners[:-1])
    first = np.minimum(owners[:-1][repeated], owners[1:][repeated])
    second = np.maximum(owners[:-1][repeated], owners[1:][repeated])
    count = len(polygons)
    pair_keys, pair_of = np.unique(first.astype(np.int64) * count + second, return_inverse=True)
    shared: FloatArray = np.bincount(pair_of, weights=lengths[:-1][repeated]).astype(np.float64)
    return (pair_keys // count).astype(np.intp), (pair_keys % count).astype(np.intp), shared


def merge_labels(
    area: FloatArray,
    perimeter: FloatArray,
    groups: IndexArray,
    pairs: tuple[IndexArray, IndexArray, FloatArray],
    *,
    min_area: float,
    max_area: float,
    sliver_width: float,
    artefact_width: float = ARTEFACT_WIDTH_M,
    strip_pieces: BoolArray | None = None,
) -> IndexArray:
    """Decide which polygons merge: small ones and slivers into a neighbour of their group.

    Works on the adjacency graph only, in rounds. In each round every component smaller than
    ``min_area``, or a sliver, picks the neighbour of its group with the longest shared boundary.
    A small component prefers neighbours it stays within ``max_area`` with; a sliver takes the
    longest boundary whatever the size, since a block grown too large is split later while chains
    of slivers would make long thin grids. Slivers are components thinner than ``sliver_width``
    (mean width ``2·area/perimeter``) and elongated (isoperimetric quotient under
    :data:`SLIVER_COMPACTNESS`), and the ``strip_pieces`` while alone. Components thinner than
    ``artefact_width`` with no neighbour in their group may pick any neighbour, unless they are
    the group's only polygon and at least ``artefact_width`` squared in area (a division that
    small is still a division, not a stray). A pick is carried out when the neighbour is not
    itself merging away (mutual picks merge too), and a neighbour takes the picks of small
    components, longest boundary first, while it stays within ``max_area`` (always at least
    one).

    Parameters
    ----------
    area, perimeter
        Of each polygon, in square metres and metres.
    groups
        The group (e.g. sub-district and community) of each polygon.
    pairs
        ``(first, second, length)`` from :func:`shared_boundaries`.
    min_area, max_area, sliver_width, artefact_width
        The thresholds above.
    strip_pieces
        Which polygons are pieces of a strip (see :func:`cut_strips`).

    Returns
    -------
    numpy.ndarray
        For each polygon, the position of the polygon whose component it ends up in.
    """
    count = len(area)
    first, second, shared = pairs
    parent = np.arange(count, dtype=np.intp)
    positions = np.arange(count, dtype=np.intp)
    pieces = np.zeros(count, dtype=bool) if strip_pieces is None else strip_pieces
    group_faces = np.bincount(groups, minlength=count)
    for _ in range(_MAX_MERGE_ROUNDS):
        comp_first, comp_second = parent[first], parent[second]
        inside = comp_first == comp_second
        comp_area = np.bincount(parent, weights=area, minlength=count)
        comp_perimeter = np.bincount(parent, weights=perimeter, minlength=count) - 2 * np.bincount(
            comp_first[inside], weights=shared[inside], minlength=count
        )
        comp_perimeter = np.maximum(comp_perimeter, 1e-12)
        width = 2 * comp_area / comp_perimeter
        compactness = 4 * math.pi * comp_area / comp_perimeter**2
        alone = np.bincount(parent, minlength=count) == 1
        thin = ((width < sliver_width) & (compactness < SLIVER_COMPACTNESS)) | (pieces & alone)
        movers = (parent == positions) & ((comp_area < min_area) | thin)
        source = np.r_[comp_first[~inside], comp_second[~inside]]
        target = np.r_[comp_second[~inside], comp_first[~inside]]
        length = np.r_[shared[~inside], shared[~inside]]
        moving = movers[source]
        links, link_of = np.unique(
            source[moving].astype(np.int64) * count + target[moving], return_inverse=True
        )
        source, target = (links // count).astype(np.intp), (links % count).astype(np.intp)
        length = np.bincount(link_of, weights=length[moving])
        in_group = groups[source] == groups[target]
        has_group_neighbour = np.zeros(count, dtype=bool)
        has_group_neighbour[source[in_group]] = True
        stray = (width[source] < artefact_width) & ~has_group_neighbour[source]
        alone_in_group = (group_faces[groups[source]] == 1) & (
            comp_area[source] >= artefact_width**2
        )
        allowed = in_group | (stray & ~alone_in_group)
        source, target, length = source[allowed], target[allowed], length[allowed]
        if len(source) == 0:
            break
        fits = thin[source] | (comp_area[source] + comp_area[target] <= max_area)
        order = np.lexsort((target, -length, ~fits, source))
        source, target, length = source[order], target[order], length[order]
        best = np.r_[True, source[1:] != source[:-1]]
        source, target, length = source[best], target[best], length[best]
        picked = np.full(count, -1, dtype=np.intp)
        picked[source] = target
        # a mover that has nothing to pick stays put: it takes picks like any other neighbour
        into_mover = picked[target] >= 0
        go = ~into_mover | ((picked[target] == source) & (source > target))
        # a neighbour takes picks, longest shared boundary first, while it stays within max_area
        taking = np.flatnonzero(go & ~into_mover & ~thin[source])
        taking = taking[np.lexsort((source[taking], -length[taking], target[taking]))]
        sinks = target[taking]
        added = np.cumsum(comp_area[source[taking]])
        first_take = np.r_[True, sinks[1:] != sinks[:-1]]
        start = np.maximum.accumulate(np.where(first_take, np.arange(len(taking)), 0))
        before = added[start] - comp_area[source[taking]][start]
        go[taking[~first_take & (comp_area[sinks] + added - before > max_area)]] = False
        if not go.any():
            # only chains of small faces pointing at each other: break them where they descend
            go = source > target
        if not go.any():
            break
        parent[source[go]] = target[go]
        parent = compress_paths(parent)
    return parent


def union_by_label(
    polygons: GeometryArray, labels: IndexArray, *, coverage: bool
) -> tuple[GeometryArray, IndexArray]:
    """Union the polygons of each label.

    Parameters
    ----------
    polygons
        The polygons.
    labels
        The label of each, e.g. from :func:`merge_labels`.
    coverage
        Whether the polygons of a label share their edges exactly (faces of one noding), so that
        the faster coverage union applies.

    Returns
    -------
    tuple of numpy.ndarray
        The unions, and the label of each, in label order.
    """
    roots, member_of, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    unions = np.empty(len(roots), dtype=object)
    alone = sizes[member_of] == 1
    unions[member_of[alone]] = polygons[alone]
    by_label = np.argsort(member_of, kind="stable")
    label_start = np.r_[0, np.cumsum(sizes)[:-1]]
    column = np.empty(len(labels), dtype=np.intp)
    column[by_label] = np.arange(len(labels)) - label_start[member_of[by_label]]
    union_all = shapely.coverage_union_all if coverage else shapely.union_all
    width = 2
    while width // 2 < sizes.max(initial=1):
        bucket = np.flatnonzero((sizes > width // 2) & (sizes <= width))
        if len(bucket):
            row_of = np.full(len(roots), -1, dtype=np.intp)
            row_of[bucket] = np.arange(len(bucket))
            members = np.flatnonzero(row_of[member_of] >= 0)
            table = np.full((len(bucket), width), None, dtype=object)
            table[row_of[member_of[members]], column[members]] = polygons[members]
            try:
                unions[bucket] = union_all(table, axis=1)
            except shapely.errors.GEOSException:
                # edges that do not quite match (rounding in the noder): the full overlay copes
                unions[bucket] = shapely.union_all(table, axis=1)
        width *= 2
    if coverage:
        # Nor is a coverage union of such edges always valid: a strip a hair wide, snapped to the
        # nodes of its neighbours, can leave parts of no area that cross the rest.
        for label in np.flatnonzero((sizes > 1) & ~shapely.is_valid(unions)):
            unions[label] = shapely.union_all(polygons[member_of == label])
    return unions, roots.astype(np.intp)


class CutGrid(NamedTuple):
    """The grid each face is cut by: its rotated rectangle divided into ``cells`` equal cells.

    ``origin`` is a corner of the rectangle, ``along`` and ``across`` its two sides from there;
    ``cells`` the number of cells along each of them.
    """

    origin: FloatArray
    along: FloatArray
    across: FloatArray
    cells: IndexArray

    def squares(self, face: IndexArray, xy: FloatArray) -> IndexArray:
        """Return the cell of its face's grid each point lies in (a number in that grid)."""
        # column by column: the same sums as over the rows of (n, 2) arrays, a good deal faster
        x, y = xy[:, 0] - self.origin[face, 0], xy[:, 1] - self.origin[face, 1]
        along_x, along_y = self.along[:, 0], self.along[:, 1]
        across_x, across_y = self.across[:, 0], self.across[:, 1]
        u = (x * along_x[face] + y * along_y[face]) / np.maximum(
            along_x * along_x + along_y * along_y, 1e-300
        )[face]
        v = (x * across_x[face] + y * across_y[face]) / np.maximum(
            across_x * across_x + across_y * across_y, 1e-300
        )[face]
        cells = self.cells[face]
        i = np.clip(np.floor(u * cells[:, 0]), 0, cells[:, 0] - 1).astype(np.intp)
        j = np.clip(np.floor(v * cells[:, 1]), 0, cells[:, 1] - 1).astype(np.intp)
        squares: IndexArray = i * cells[:, 1] + j
        return squares


class SplitPieces(NamedTuple):
    """Faces cut by their grids: the pieces, the face of each and the cell of its grid."""

    pieces: GeometryArray
    face: IndexArray
    grid: CutGrid
    square: IndexArray


def cut_grid(faces: GeometryArray, cell_side: float) -> CutGrid:
    """Return the grid of cells as close to ``cell_side`` as divide each face's rectangle."""
    rectangles = shapely.oriented_envelope(faces)
    corners = shapely.get_coordinates(shapely.get_exterior_ring(rectangles)).reshape(-1, 5, 2)
    origin = corners[:, 0]
    along, across = corners[:, 1] - origin, corners[:, 3] - origin
    cells = np.stack(
        [
            np.maximum(1, np.rint(np.hypot(*side.T) / cell_side)).astype(np.intp)
            for side in (along, across)
        ],
        axis=1,
    ).reshape(-1, 2)
    return CutGrid(origin, along, across, cells)


def cut_lines(
    faces: GeometryArray, cell_side: float, grid: CutGrid | None = None
) -> tuple[GeometryArray, IndexArray]:
    """Return the lines that cut faces into cells of a grid aligned with their rotated rectangle.

    Each face's minimum rotated rectangle is divided into ``round(length / cell_side)`` by
    ``round(width / cell_side)`` equal cells. The lines are clipped to the face and then reach
    :data:`SPLIT_OVERSHOOT_M` beyond it, so that noded with the face's rings they surely cut it.
    ``grid`` is :func:`cut_grid` of the faces, if already made.

    Returns
    -------
    tuple of numpy.ndarray
        The lines, and the position of the face each cuts.
    """
    grid = cut_grid(faces, cell_side) if grid is None else grid
    origin, along, across = grid.origin, grid.along, grid.across
    clipped_lines, clipped_faces = [], []
    for side, other, cuts in ((along, across, grid.cells[:, 0]), (across, along, grid.cells[:, 1])):
        face_of_cut, step = ragged_positions(cuts - 1)
        if len(face_of_cut) == 0:
            continue
        start = origin[face_of_cut] + side[face_of_cut] * ((step + 1) / cuts[face_of_cut])[:, None]
        lines = geometry_array(
            shapely.linestrings(np.stack([start, start + other[face_of_cut]], 1))
        )
        # One overlay per face with all its parallel lines is much faster than one per line;
        # parallel lines do not cross, so each part is a whole stretch of one line.
        cut_faces, per_face = np.unique(face_of_cut, return_inverse=True)
        grouped = shapely.multilinestrings(lines, indices=per_face)
        parts, part_of = shapely.get_parts(
            shapely.intersection(grouped, faces[cut_faces]), return_index=True
        )
        is_line = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
        clipped_lines.append(parts[is_line])
        clipped_faces.append(cut_faces[part_of[is_line]])
    if not clipped_lines:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.intp)
    clipped = np.concatenate(clipped_lines)
    face_of_clipped = np.concatenate(clipped_faces)
    heads = shapely.get_coordinates(shapely.get_point(clipped, 0))
    tails = shapely.get_coordinates(shapely.get_point(clipped, -1))
    direction = (tails - heads) / np.maximum(np.hypot(*(tails - heads).T), 1e-12)[:, None]
    overshoot = direction * SPLIT_OVERSHOOT_M
    cuts_through = geometry_array(
        shapely.linestrings(np.stack([heads - overshoot, tails + overshoot], 1))
    )
    return cuts_through, face_of_clipped.astype(np.intp)


def split_faces(faces: GeometryArray, cell_side: float) -> tuple[GeometryArray, IndexArray]:
    """Cut faces into cells of a grid aligned with each one's minimum rotated rectangle.

    See :func:`cut_lines`; each face's rings and cut lines are noded and polygonized on their own.

    Returns
    -------
    tuple of numpy.ndarray
        The pieces, and the position of the face each is from; the pieces of a face partition it.
    """
    split = split_into_squares(faces, cell_side)
    return split.pieces, split.face


def split_into_squares(faces: GeometryArray, cell_side: float) -> SplitPieces:
    """Cut faces as :func:`split_faces` does; also return the grids and each piece's cell."""
    grid = cut_grid(faces, cell_side)
    lines, line_face = cut_lines(faces, cell_side, grid)
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    linework = np.concatenate([rings, lines])
    linework_face = np.concatenate([ring_face, line_face])
    order = np.argsort(linework_face, kind="stable")
    per_face = geometry_array(
        shapely.multilinestrings(linework[order], indices=linework_face[order])
    )
    # polygonize reduces over the last axis: one collection of pieces per face
    polygonized = shapely.polygonize(geometry_array(shapely.node(per_face))[:, None])
    pieces, piece_face = shapely.get_parts(polygonized, return_index=True)
    points = shapely.point_on_surface(pieces)
    # each face is asked about each of its pieces: prepared, it answers them much faster
    shapely.prepare(faces)
    x, y = shapely.get_x(points), shapely.get_y(points)
    inside = shapely.contains_xy(faces[piece_face], x, y)
    piece_face = piece_face[inside].astype(np.intp)
    square = grid.squares(piece_face, np.stack([x[inside], y[inside]], axis=1))
    return SplitPieces(pieces[inside], piece_face, grid, square)


def _coordinate_keys(coords: FloatArray) -> NDArray[np.void]:
    return np.ascontiguousarray(coords).view(np.dtype((np.void, 16))).reshape(-1)


class StripCuts(NamedTuple):
    """How :func:`cut_strips` cut the strips: which faces were strips, and how they were split.

    The pieces in ``split`` are the faces that follow the faces that are not strips.
    """

    is_strip: BoolArray
    split: SplitPieces


def cut_strips(faces: GeometryArray, cell_side: float) -> tuple[GeometryArray, BoolArray]:
    """Cut long slivers across into pieces half a cell long; return all faces.

    A strip between the carriageways of a road is one long, thin face; cut into stretches, each
    stretch can join the block beside it instead of one block taking the whole strip. The nodes
    where the cuts meet a strip's rings are added to the faces on the other side, so that the
    faces still share their edges exactly.

    Returns
    -------
    tuple of numpy.ndarray
        The faces that are not strips (in their order), then the pieces of the strips; and which
        of them are pieces of strips.
    """
    result, is_piece, _ = cut_strips_traced(faces, cell_side)
    return result, is_piece


def cut_strips_traced(
    faces: GeometryArray, cell_side: float
) -> tuple[GeometryArray, BoolArray, StripCuts]:
    """Cut strips as :func:`cut_strips` does; also return how they were cut."""
    length = shapely.length(faces)
    width = 2 * shapely.area(faces) / np.maximum(length, 1e-12)
    is_strip = (width < SLIVER_WIDTH * cell_side) & (length > 2 * cell_side)
    strips = faces[is_strip]
    split = split_into_squares(strips, cell_side / 2)
    if not is_strip.any():
        return faces, np.zeros(len(faces), dtype=bool), StripCuts(is_strip, split)
    pieces, piece_strip = split.pieces, split.face
    # where the noder put a node a hair off a vertex of the strip, put it back on the vertex
    pieces = shapely.snap(pieces, strips[piece_strip], _VERTEX_PRECISION_M)
    coords, coord_piece = shapely.get_coordinates(pieces, return_index=True)
    is_node = ~np.isin(_coordinate_keys(coords), _coordinate_keys(shapely.get_coordinates(strips)))
    node_strip = piece_strip[coord_piece[is_node]]
    node_points = geometry_array(shapely.points(coords[is_node]))
    node_count = np.bincount(node_strip, minlength=len(strips))
    node_start = np.cumsum(node_count) - node_count
    by_strip = np.argsort(node_strip, kind="stable")
    node_points = node_points[by_strip]
    node_piece = coord_piece[is_node][by_strip]
    # Two strips side by side cut their common edge at nodes a hair apart: give them one
    # coordinate, or each strip's pieces would be snapped onto the other's and the two swap.
    near, other = shapely.STRtree(node_points).query(
        node_points, predicate="dwithin", distance=_VERTEX_PRECISION_M
    )
    representative = np.arange(len(node_points))
    np.minimum.at(representative, near, other)
    node_points = node_points[representative]
    moved = np.flatnonzero(representative != np.arange(len(node_points)))

    # The faces beside each strip get its nodes: found through the faces' shared edges, and for
    # strips beside strips, through the pieces the nodes touch.
    strip_number = np.cumsum(is_strip) - 1
    position = np.cumsum(~is_strip) - 1
    first, second, _ = shared_boundaries(faces)
    face, beside = np.r_[first, second], np.r_[second, first]
    by_other = is_strip[beside] & ~is_strip[face]
    face, beside = face[by_other], strip_number[beside[by_other]]
    beside_node, rank = ragged_positions(node_count[beside])
    node = node_start[beside][beside_node] + rank
    target = np.repeat(position[face], node_count[beside])
    node_index, piece_index = shapely.STRtree(pieces).query(
        node_points, predicate="dwithin", distance=_VERTEX_PRECISION_M
    )
    other_strip = piece_strip[piece_index] != np.sort(node_strip, kind="stable")[node_index]
    node = np.r_[node, node_index[other_strip], moved]
    target = np.r_[
        target,
        int((~is_strip).sum()) + piece_index[other_strip],
        int((~is_strip).sum()) + node_piece[moved],
    ]

    result: GeometryArray = np.concatenate([faces[~is_strip], pieces])
    if len(target):
        touched, dense = np.unique(target, return_inverse=True)
        order = np.argsort(dense, kind="stable")
        snap_points = shapely.multipoints(node_points[node[order]], indices=dense[order])
        result[touched] = shapely.snap(result[touched], snap_points, _VERTEX_PRECISION_M)
    is_piece = np.arange(len(result)) >= len(result) - len(pieces)
    return result, is_piece, StripCuts(is_strip, split)


def isoperimetric_quotients(polygons: GeometryArray) -> FloatArray:
    """Return ``4π·area / perimeter²`` of each polygon: 1 for a disc, 0.785 for a square."""
    perimeter = shapely.length(polygons)
    quotients: FloatArray = 4 * math.pi * shapely.area(polygons) / np.maximum(perimeter, 1e-12) ** 2
    return quotients
