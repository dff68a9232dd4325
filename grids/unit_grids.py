"""Unit grids (单元网格, GB/T 30428.2) built from the road network.

Unit grids are closed polygons that together cover the whole district with no gaps and no
overlaps, whose boundaries follow roads, the district, sub-district and community boundaries and
any extra lines (rivers) wherever there are some. They are built in a projected CRS:

1. The roads, the extra lines and the boundary rings of the district, the sub-districts and the
   communities are noded together and polygonized; the faces inside the district partition it,
   and none crosses a sub-district or community boundary.
2. Long strips (the space between the carriageways of a road: thinner than a quarter of the
   target cell side, longer than two cells) are cut across every half cell, so that each stretch
   can join the block beside it.
3. Each face gets the sub-district and community its representative point lies in.
4. Faces smaller than half the target area, and slivers (see :func:`merge_labels`), are merged
   into the neighbour with the longest shared boundary in the same sub-district and community;
   small faces prefer neighbours with which they stay within twice the target area, slivers and
   strip pieces take the longest boundary whatever its size. Faces thinner than
   :data:`ARTEFACT_WIDTH_M` (noding artefacts between boundary lines from different sources) may
   merge across those boundaries when nothing in their own division borders them.
5. Faces larger than twice the target area (blocks, farmland, river banks) are cut by a square grid
   aligned with their minimum rotated rectangle, of cells as close to the target area as divide it
   evenly; leftovers at their edges are merged into the neighbouring pieces of the same face.
6. The grids are numbered (:mod:`grids.codes`) and returned as the ``unit_grids`` layer, with
   each grid's compactness (isoperimetric quotient) and whether it was ``split`` off a larger face
   in ``attrs``; :func:`unit_grid_stats` sums them up.

Merging works on the faces' adjacency graph alone (exact, since all faces come from one noding)
and unites each group of faces once at the end; everything is vectorised over the faces.

The functions that steps 3, 4 and 6 share with :mod:`grids.regular` live here too.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from geodata.crs import projected_crs_for
from geodata.errors import GeodataWarning
from geodata.layers import STORAGE_CRS, layer_spec
from grids.codes import check_county_code, sequence_codes
from grids.errors import GridBuildError

__all__ = [
    "ARTEFACT_WIDTH_M",
    "MERGE_BELOW",
    "SLIVER_COMPACTNESS",
    "SLIVER_WIDTH",
    "SPLIT_ABOVE",
    "AdminAreas",
    "admin_areas",
    "check_target_area",
    "cut_lines",
    "cut_strips",
    "faces_of",
    "group_ids",
    "isoperimetric_quotients",
    "merge_labels",
    "metric_crs_for",
    "shared_boundaries",
    "split_faces",
    "union_by_label",
    "unit_grid_frame",
    "unit_grid_stats",
    "unit_grids_from_roads",
]

GeometryArray = NDArray[np.object_]
IndexArray = NDArray[np.intp]
FloatArray = NDArray[np.float64]

MERGE_BELOW = 0.5
"""Faces smaller than this fraction of the target area are merged into a neighbour."""

SPLIT_ABOVE = 2.0
"""Faces larger than this multiple of the target area are split."""

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
_ADMIN_PRECISION_M = 1e-6


@dataclass(frozen=True)
class AdminAreas:
    """The district, its sub-districts and its communities, as polygons in a metric CRS.

    Sub-districts and communities are in code order; those without a polygon are left out.
    """

    district: shapely.Geometry
    subdistrict_codes: tuple[str, ...]
    subdistricts: GeometryArray
    community_codes: tuple[str, ...]
    community_subdistrict_codes: tuple[str | None, ...]
    communities: GeometryArray

    def lines(self) -> GeometryArray:
        """Return the boundary rings of the district, the sub-districts and the communities.

        They are noded on a micrometre grid, so that boundaries drawn from one another (a
        sub-district cut from the district) coincide exactly where they nearly do.
        """
        areas = np.concatenate([[self.district], self.subdistricts, self.communities])
        rings = shapely.get_rings(shapely.get_parts(areas))
        return _array(shapely.get_parts(shapely.union_all(rings, grid_size=_ADMIN_PRECISION_M)))

    def check_codes(self, county_code: str) -> None:
        """Check the division codes before any grid is built.

        Raises
        ------
        GridCodeError
            If a code is malformed or a sub-district is not in the county.
        """
        subdistricts = [*self.subdistrict_codes, *self.community_subdistrict_codes]
        communities = [None] * len(self.subdistrict_codes) + list(self.community_codes)
        origin = np.zeros(len(subdistricts))
        sequence_codes(county_code, subdistricts, communities, origin, origin, band_m=1.0)

    def locate(self, points: GeometryArray) -> tuple[IndexArray, IndexArray]:
        """Return the positions of the sub-district and community each point lies in (-1: none)."""
        return _locate(self.subdistricts, points), _locate(self.communities, points)

    def codes_of(
        self, subdistrict: IndexArray, community: IndexArray
    ) -> tuple[list[str | None], list[str | None]]:
        """Return the sub-district and community codes at the given positions.

        A grid outside every sub-district polygon but inside a community takes the community's
        sub-district.
        """
        community_codes = [None if c < 0 else self.community_codes[c] for c in community.tolist()]
        subdistrict_codes = [
            self.subdistrict_codes[s]
            if s >= 0
            else (self.community_subdistrict_codes[c] if c >= 0 else None)
            for s, c in zip(subdistrict.tolist(), community.tolist(), strict=True)
        ]
        return subdistrict_codes, community_codes


def _array(geometries: Any) -> GeometryArray:
    """Return geometries as a numpy object array (what the shapely stubs cannot promise)."""
    return np.asarray(geometries, dtype=object)


def _polygonal(geometry: shapely.Geometry) -> shapely.Geometry:
    """Return the polygonal part of a geometry, repaired if invalid (dropping collapsed spikes)."""
    if not shapely.is_valid(geometry):
        geometry = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    parts = shapely.get_parts(geometry)
    polygons = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    return shapely.union_all(polygons) if len(polygons) != 1 else polygons[0]


def _division_polygons(
    frame: gpd.GeoDataFrame | None, layer: str, metric_crs: pyproj.CRS
) -> tuple[list[str], GeometryArray, list[str | None], list[str]]:
    """Return the codes, metric polygons and sub-district codes of a division layer.

    Also returns the codes of the features that have no polygon.
    """
    if frame is None or frame.empty:
        return [], np.empty(0, dtype=object), [], []
    if "code" not in frame.columns:
        raise GridBuildError(f"the {layer} need a 'code' column", layer=layer, field="code")
    frame = frame.sort_values("code", kind="stable")
    codes = [str(code) for code in frame["code"]]
    parents = (
        [None if pd.isna(code) else str(code) for code in frame["subdistrict_code"]]
        if "subdistrict_code" in frame.columns
        else [None] * len(frame)
    )
    geoms = np.asarray(frame.geometry.to_crs(metric_crs).array, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygons = np.array([_polygonal(g) for g in geoms[present]], dtype=object)
    kept = np.flatnonzero(present)
    missing = [codes[i] for i in np.flatnonzero(~present)]
    return [codes[i] for i in kept], polygons, [parents[i] for i in kept], missing


def admin_areas(
    boundary: gpd.GeoDataFrame,
    subdistricts: gpd.GeoDataFrame | None,
    communities: gpd.GeoDataFrame | None,
    metric_crs: pyproj.CRS,
) -> AdminAreas:
    """Return the district, sub-districts and communities in ``metric_crs``.

    Warns (:class:`~geodata.errors.GeodataWarning`) when some sub-districts or communities have
    no polygon: grids there are numbered within their sub-district (see :mod:`grids.codes`).

    Raises
    ------
    GridBuildError
        If the boundary has no area, or a division layer has no ``code`` column.
    """
    geoms = np.asarray(boundary.geometry.to_crs(metric_crs).array, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    district = _polygonal(shapely.union_all([_polygonal(g) for g in geoms])) if len(geoms) else None
    if district is None or shapely.is_empty(district) or shapely.area(district) <= 0:
        raise GridBuildError("the district boundary has no area", layer="boundary")
    sub_codes, sub_polygons, _, sub_missing = _division_polygons(
        subdistricts, "subdistricts", metric_crs
    )
    com_codes, com_polygons, com_parents, com_missing = _division_polygons(
        communities, "communities", metric_crs
    )
    for layer, missing, total, consequence in (
        (
            "sub-districts",
            sub_missing,
            len(sub_codes) + len(sub_missing),
            "unit grids there take the sub-district of their community, or the part 000",
        ),
        (
            "communities",
            com_missing,
            len(com_codes) + len(com_missing),
            "unit grids there have no community and are numbered within their sub-district",
        ),
    ):
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            warnings.warn(
                f"{len(missing)} of {total} {layer} have no polygon ({shown}); {consequence}",
                GeodataWarning,
                stacklevel=3,
            )
    return AdminAreas(
        district=district,
        subdistrict_codes=tuple(sub_codes),
        subdistricts=sub_polygons,
        community_codes=tuple(com_codes),
        community_subdistrict_codes=tuple(
            parent or code[:9] for parent, code in zip(com_parents, com_codes, strict=True)
        ),
        communities=com_polygons,
    )


def _locate(polygons: GeometryArray, points: GeometryArray) -> IndexArray:
    """Return the position of the first polygon each point lies in, or -1."""
    found = np.full(len(points), -1, dtype=np.intp)
    if len(polygons) == 0 or len(points) == 0:
        return found
    point_index, polygon_index = shapely.STRtree(polygons).query(points, predicate="within")
    order = np.lexsort((polygon_index, point_index))
    point_index, polygon_index = point_index[order], polygon_index[order]
    first = np.r_[True, point_index[1:] != point_index[:-1]]
    found[point_index[first]] = polygon_index[first]
    return found


def faces_of(lines: GeometryArray, district: shapely.Geometry) -> GeometryArray:
    """Node ``lines`` together, polygonize them and return the faces inside ``district``.

    ``lines`` must include the district's boundary rings, so that the faces partition it.
    """
    noded = shapely.union_all(lines)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside_points = shapely.point_on_surface(faces)
    shapely.prepare(district)
    inside = shapely.contains_xy(
        district, shapely.get_x(inside_points), shapely.get_y(inside_points)
    )
    result: GeometryArray = faces[inside]
    return result


def group_ids(*keys: NDArray[np.intp]) -> IndexArray:
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


def _compress(parent: IndexArray) -> IndexArray:
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


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
    strip_pieces: NDArray[np.bool_] | None = None,
) -> IndexArray:
    """Decide which polygons merge: small ones and slivers into a neighbour of their group.

    Works on the adjacency graph only, in rounds. In each round every component smaller than
    ``min_area``, or a sliver, picks the neighbour of its group with the longest shared boundary.
    A small component prefers neighbours it stays within ``max_area`` with; a sliver takes the
    longest boundary whatever the size, since a block grown too large is split later while chains
    of slivers would make long thin grids. Slivers are components thinner than ``sliver_width``
    (mean width ``2·area/perimeter``) and elongated (isoperimetric quotient under
    :data:`SLIVER_COMPACTNESS`), and the ``strip_pieces`` while alone. Components thinner than
    ``artefact_width`` with no neighbour in their group may pick any neighbour. A pick is carried
    out when the neighbour is not itself merging away (mutual picks merge too), and a neighbour
    takes the picks of small components, longest boundary first, while it stays within
    ``max_area`` (always at least one).

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
        allowed = in_group | ((width[source] < artefact_width) & ~has_group_neighbour[source])
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
        parent = _compress(parent)
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
    return unions, roots.astype(np.intp)


def cut_lines(faces: GeometryArray, cell_side: float) -> tuple[GeometryArray, IndexArray]:
    """Return the lines that cut faces into cells of a grid aligned with their rotated rectangle.

    Each face's minimum rotated rectangle is divided into ``round(length / cell_side)`` by
    ``round(width / cell_side)`` equal cells. The lines are clipped to the face and then reach
    :data:`SPLIT_OVERSHOOT_M` beyond it, so that noded with the face's rings they surely cut it.

    Returns
    -------
    tuple of numpy.ndarray
        The lines, and the position of the face each cuts.
    """
    rectangles = shapely.oriented_envelope(faces)
    corners = shapely.get_coordinates(shapely.get_exterior_ring(rectangles)).reshape(-1, 5, 2)
    origin = corners[:, 0]
    along, across = corners[:, 1] - origin, corners[:, 3] - origin
    clipped_lines, clipped_faces = [], []
    for side, other in ((along, across), (across, along)):
        cuts = np.maximum(1, np.rint(np.hypot(*side.T) / cell_side)).astype(np.intp)
        face_of_cut = np.repeat(np.arange(len(faces)), cuts - 1)
        if len(face_of_cut) == 0:
            continue
        step = np.arange(len(face_of_cut)) - np.repeat(np.cumsum(cuts - 1) - (cuts - 1), cuts - 1)
        start = origin[face_of_cut] + side[face_of_cut] * ((step + 1) / cuts[face_of_cut])[:, None]
        lines = _array(shapely.linestrings(np.stack([start, start + other[face_of_cut]], 1)))
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
    cuts_through = _array(shapely.linestrings(np.stack([heads - overshoot, tails + overshoot], 1)))
    return cuts_through, face_of_clipped.astype(np.intp)


def split_faces(faces: GeometryArray, cell_side: float) -> tuple[GeometryArray, IndexArray]:
    """Cut faces into cells of a grid aligned with each one's minimum rotated rectangle.

    See :func:`cut_lines`; each face's rings and cut lines are noded and polygonized on their own.

    Returns
    -------
    tuple of numpy.ndarray
        The pieces, and the position of the face each is from; the pieces of a face partition it.
    """
    lines, line_face = cut_lines(faces, cell_side)
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    linework = np.concatenate([rings, lines])
    linework_face = np.concatenate([ring_face, line_face])
    order = np.argsort(linework_face, kind="stable")
    per_face = _array(shapely.multilinestrings(linework[order], indices=linework_face[order]))
    # polygonize reduces over the last axis: one collection of pieces per face
    polygonized = shapely.polygonize(_array(shapely.node(per_face))[:, None])
    pieces, piece_face = shapely.get_parts(polygonized, return_index=True)
    points = shapely.point_on_surface(pieces)
    inside = shapely.contains_xy(faces[piece_face], shapely.get_x(points), shapely.get_y(points))
    return pieces[inside], piece_face[inside].astype(np.intp)


def _coordinate_keys(coords: FloatArray) -> NDArray[np.void]:
    return np.ascontiguousarray(coords).view(np.dtype((np.void, 16))).reshape(-1)


def _ranges(starts: IndexArray, counts: IndexArray) -> IndexArray:
    """Return ``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``."""
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    ranges: IndexArray = np.repeat(starts, counts) + np.arange(counts.sum()) - offsets
    return ranges


def cut_strips(faces: GeometryArray, cell_side: float) -> tuple[GeometryArray, NDArray[np.bool_]]:
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
    length = shapely.length(faces)
    width = 2 * shapely.area(faces) / np.maximum(length, 1e-12)
    is_strip = (width < SLIVER_WIDTH * cell_side) & (length > 2 * cell_side)
    if not is_strip.any():
        return faces, np.zeros(len(faces), dtype=bool)
    strips = faces[is_strip]
    pieces, piece_strip = split_faces(strips, cell_side / 2)
    # where the noder put a node a hair off a vertex of the strip, put it back on the vertex
    pieces = shapely.snap(pieces, strips[piece_strip], _VERTEX_PRECISION_M)
    coords, coord_piece = shapely.get_coordinates(pieces, return_index=True)
    is_node = ~np.isin(_coordinate_keys(coords), _coordinate_keys(shapely.get_coordinates(strips)))
    node_strip = piece_strip[coord_piece[is_node]]
    node_points = _array(shapely.points(coords[is_node]))
    node_count = np.bincount(node_strip, minlength=len(strips))
    node_start = np.cumsum(node_count) - node_count
    node_points = node_points[np.argsort(node_strip, kind="stable")]

    # The faces beside each strip get its nodes: found through the faces' shared edges, and for
    # strips beside strips, through the pieces the nodes touch.
    strip_number = np.cumsum(is_strip) - 1
    position = np.cumsum(~is_strip) - 1
    first, second, _ = shared_boundaries(faces)
    face, beside = np.r_[first, second], np.r_[second, first]
    by_other = is_strip[beside] & ~is_strip[face]
    face, beside = face[by_other], strip_number[beside[by_other]]
    node = _ranges(node_start[beside], node_count[beside])
    target = np.repeat(position[face], node_count[beside])
    node_index, piece_index = shapely.STRtree(pieces).query(
        node_points, predicate="dwithin", distance=_VERTEX_PRECISION_M
    )
    other_strip = piece_strip[piece_index] != np.sort(node_strip, kind="stable")[node_index]
    node = np.r_[node, node_index[other_strip]]
    target = np.r_[target, int((~is_strip).sum()) + piece_index[other_strip]]

    result: GeometryArray = np.concatenate([faces[~is_strip], pieces])
    if len(target):
        touched, dense = np.unique(target, return_inverse=True)
        order = np.argsort(dense, kind="stable")
        snap_points = shapely.multipoints(node_points[node[order]], indices=dense[order])
        result[touched] = shapely.snap(result[touched], snap_points, _VERTEX_PRECISION_M)
    return result, np.arange(len(result)) >= len(result) - len(pieces)


def isoperimetric_quotients(polygons: GeometryArray) -> FloatArray:
    """Return ``4π·area / perimeter²`` of each polygon: 1 for a disc, 0.785 for a square."""
    perimeter = shapely.length(polygons)
    quotients: FloatArray = 4 * math.pi * shapely.area(polygons) / np.maximum(perimeter, 1e-12) ** 2
    return quotients


def _clean(polygons: GeometryArray) -> GeometryArray:
    """Return valid polygons, exterior rings counter-clockwise."""
    invalid = ~shapely.is_valid(polygons)
    if invalid.any():
        polygons = polygons.copy()
        polygons[invalid] = [_polygonal(g) for g in polygons[invalid]]
    cleaned: GeometryArray = shapely.orient_polygons(polygons)
    return cleaned


def unit_grid_frame(
    polygons: GeometryArray,
    subdistrict: IndexArray,
    community: IndexArray,
    admin: AdminAreas,
    *,
    county_code: str,
    mode: str,
    band_m: float,
    metric_crs: pyproj.CRS,
    facts: Sequence[dict[str, Any]] | None = None,
) -> gpd.GeoDataFrame:
    """Return unit grids, numbered, as the ``unit_grids`` layer sorted by code.

    Parameters
    ----------
    polygons
        The grids, in ``metric_crs``.
    subdistrict, community
        The position in ``admin`` of each grid's sub-district and community (-1: none).
    admin
        The divisions.
    county_code
        The 6-digit county code.
    mode
        How the grids were built: ``roads``, ``square`` or ``hex``.
    band_m
        The height of the reading rows (:func:`grids.codes.reading_order`).
    metric_crs
        The CRS of ``polygons``.
    facts
        Extra ``attrs`` entries of each grid.

    Returns
    -------
    geopandas.GeoDataFrame
        The unit grids, EPSG:4326; ``attrs`` holds each grid's ``compactness``.

    Raises
    ------
    GridCodeError
        If the codes cannot be formed (see :func:`grids.codes.sequence_codes`).
    """
    polygons = _clean(polygons)
    # Centroids, not representative points: they move little when an outline moves little, so
    # the numbering does not jump between rows for a change in the last digits of a coordinate.
    reading_points = shapely.centroid(polygons)
    subdistrict_codes, community_codes = admin.codes_of(subdistrict, community)
    codes = sequence_codes(
        county_code,
        subdistrict_codes,
        community_codes,
        shapely.get_x(reading_points),
        shapely.get_y(reading_points),
        band_m=band_m,
    )
    quotients = isoperimetric_quotients(polygons)
    extra = facts if facts is not None else [{}] * len(polygons)
    attrs = [
        {"compactness": round(float(q), 4), **fact}
        for q, fact in zip(quotients.tolist(), extra, strict=True)
    ]
    geometry = _clean(np.asarray(gpd.GeoSeries(polygons, crs=metric_crs).to_crs(STORAGE_CRS)))
    frame = gpd.GeoDataFrame(
        {
            "id": pd.Series(codes, dtype="str"),
            "code": pd.Series(codes, dtype="str"),
            "subdistrict_code": pd.Series(subdistrict_codes, dtype="str"),
            "community_code": pd.Series(community_codes, dtype="str"),
            "area_m2": shapely.area(polygons).astype(np.float64),
            "mode": pd.Series([mode] * len(codes), dtype="str"),
            "squad_id": pd.Series([None] * len(codes), dtype="str"),
            "attrs": pd.Series(attrs, dtype=object),
        },
        geometry=geometry,
        crs=STORAGE_CRS,
    )
    frame = frame[[*layer_spec("unit_grids").column_names, "geometry"]]
    return frame.sort_values("code", kind="stable").reset_index(drop=True)


def unit_grid_stats(
    grids: gpd.GeoDataFrame, *, metric_crs: pyproj.CRS | None = None
) -> dict[str, float]:
    """Return the count, total, median, 10th and 90th percentile area and mean compactness.

    Parameters
    ----------
    grids
        A ``unit_grids`` layer.
    metric_crs
        The CRS to measure in; by default the one for the grids' extent.

    Returns
    -------
    dict of str to float
        ``count``, ``area_m2``, ``median_area_m2``, ``p10_area_m2``, ``p90_area_m2`` and
        ``mean_compactness`` (mean isoperimetric quotient, 0.785 for squares).
    """
    if grids.empty:
        return {
            "count": 0.0,
            "area_m2": 0.0,
            "median_area_m2": math.nan,
            "p10_area_m2": math.nan,
            "p90_area_m2": math.nan,
            "mean_compactness": math.nan,
        }
    crs = metric_crs or metric_crs_for(grids)
    polygons = np.asarray(grids.geometry.to_crs(crs).array, dtype=object)
    areas = shapely.area(polygons)
    p10, median, p90 = np.percentile(areas, [10, 50, 90])
    return {
        "count": float(len(grids)),
        "area_m2": float(areas.sum()),
        "median_area_m2": float(median),
        "p10_area_m2": float(p10),
        "p90_area_m2": float(p90),
        "mean_compactness": float(isoperimetric_quotients(polygons).mean()),
    }


def metric_crs_for(frame: gpd.GeoDataFrame) -> pyproj.CRS:
    """Return the projected CRS for a layer's extent (:func:`geodata.crs.projected_crs_for`)."""
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in frame.to_crs(STORAGE_CRS).total_bounds)
    return projected_crs_for((min_lon, min_lat, max_lon, max_lat))


def check_target_area(area_m2: float, name: str) -> float:
    """Return ``area_m2`` if it is a usable grid area (a positive, finite number of m²).

    Raises
    ------
    GridBuildError
        If it is not.
    """
    if not (isinstance(area_m2, int | float) and math.isfinite(area_m2) and area_m2 > 0):
        raise GridBuildError(f"{name} must be a positive number of square metres, not {area_m2!r}")
    return float(area_m2)


def _lines(frame: gpd.GeoDataFrame | None, metric_crs: pyproj.CRS) -> GeometryArray:
    if frame is None or frame.empty:
        return np.empty(0, dtype=object)
    geoms = np.asarray(frame.geometry.to_crs(metric_crs).array, dtype=object)
    kept: GeometryArray = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    return kept


def unit_grids_from_roads(
    roads: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    *,
    subdistricts: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    extra_lines: gpd.GeoDataFrame | None = None,
    county_code: str,
    target_area_m2: float = 10_000.0,
    metric_crs: pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Build the unit grids of a district from its roads (see the module documentation).

    Parameters
    ----------
    roads
        The roads layer (any CRS; lines).
    boundary
        The district boundary (polygons; several features are united).
    subdistricts, communities
        The ``subdistricts`` and ``communities`` layers; features without a polygon are left out
        (with a :class:`~geodata.errors.GeodataWarning`).
    extra_lines
        More lines grids must not cross, e.g. rivers.
    county_code
        The 6-digit county (district) code the grid codes start with.
    target_area_m2
        The area a unit grid should have, in square metres.
    metric_crs
        The projected CRS to work in; by default the one for the boundary's extent.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``unit_grids`` layer (``mode`` "roads"), EPSG:4326, sorted by code; ``attrs`` has
        each grid's ``compactness`` and whether it was ``split`` off a larger face by the grid.

    Raises
    ------
    GridBuildError
        If the boundary has no area or the target area is not a positive number.
    GridCodeError
        If the county, sub-district or community codes are malformed or inconsistent, or a
        sub-district would hold more than 999,999 grids.
    """
    check_county_code(county_code)
    target = check_target_area(target_area_m2, "target_area_m2")
    crs = metric_crs or metric_crs_for(boundary)
    admin = admin_areas(boundary, subdistricts, communities, crs)
    admin.check_codes(county_code)
    side = math.sqrt(target)
    merge = functools.partial(
        merge_labels,
        min_area=MERGE_BELOW * target,
        max_area=SPLIT_ABOVE * target,
        sliver_width=SLIVER_WIDTH * side,
    )

    lines = np.concatenate([_lines(roads, crs), _lines(extra_lines, crs)])
    shapely.prepare(admin.district)
    lines = lines[shapely.intersects(admin.district, lines)]
    faces, strip_pieces = cut_strips(
        faces_of(np.concatenate([lines, admin.lines()]), admin.district), side
    )
    face_subdistrict, face_community = admin.locate(shapely.point_on_surface(faces))
    face_group = group_ids(face_subdistrict, face_community)
    labels = merge(
        shapely.area(faces),
        shapely.length(faces),
        face_group,
        shared_boundaries(faces),
        strip_pieces=strip_pieces,
    )
    blocks, block_face = union_by_label(faces, labels, coverage=True)
    blocks, block_part = shapely.get_parts(blocks, return_index=True)
    block_face = block_face[block_part]

    large = shapely.area(blocks) > SPLIT_ABOVE * target
    pieces, piece_block = split_faces(blocks[large], side)
    first, second, shared = shared_boundaries(pieces)
    siblings = piece_block[first] == piece_block[second]
    piece_labels = merge(
        shapely.area(pieces),
        shapely.length(pieces),
        piece_block,
        (first[siblings], second[siblings], shared[siblings]),
    )
    cells, cell_piece = union_by_label(pieces, piece_labels, coverage=True)
    cells, cell_part = shapely.get_parts(cells, return_index=True)
    cell_piece = cell_piece[cell_part]
    cell_face = block_face[large][piece_block[cell_piece]]

    grid_face = np.concatenate([block_face[~large], cell_face])
    split = [False] * int((~large).sum()) + [True] * len(cells)
    return unit_grid_frame(
        np.concatenate([blocks[~large], cells]),
        face_subdistrict[grid_face],
        face_community[grid_face],
        admin,
        county_code=county_code,
        mode="roads",
        band_m=side,
        metric_crs=crs,
        facts=[{"split": s} for s in split],
    )
