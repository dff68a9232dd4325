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
   merge across those boundaries when nothing in their own division borders them, but a division
   of a single face of a square metre or more keeps it.
5. Faces larger than twice the target area (blocks, farmland, river banks) are cut by a square grid
   aligned with their minimum rotated rectangle, of cells as close to the target area as divide it
   evenly; leftovers at their edges are merged into the neighbouring pieces of the same face.
6. The grids are numbered (:mod:`grids.codes`) and returned as the ``unit_grids`` layer, with
   each grid's compactness (isoperimetric quotient) and whether it was ``split`` off a larger face
   in ``attrs``; :func:`unit_grid_stats` sums them up.

:func:`unit_grid_build` also keeps how the grids were made of the faces, from which
:meth:`UnitGridBuild.road_table` reads the road ↔ grid table without clipping the roads.

Merging works on the faces' adjacency graph alone (exact, since all faces come from one noding)
and unites each group of faces once at the end; everything is vectorised over the faces. The
noding, merging, cutting and splitting of faces live in :mod:`grids._faces` and are re-exported
here; the divisions and the layer building that steps 3, 4 and 6 share with :mod:`grids.regular`
live here.
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

from geodata.errors import GeodataWarning
from geodata.layers import STORAGE_CRS
from grids._arrays import FloatArray, GeometryArray, IndexArray, geometry_array
from grids._face_roads import FaceTrace, noded_road_lengths
from grids._faces import (
    ARTEFACT_WIDTH_M,
    SEGMENT_PRECISION_M,
    SLIVER_COMPACTNESS,
    SLIVER_WIDTH,
    SPLIT_OVERSHOOT_M,
    cut_lines,
    cut_strips,
    cut_strips_traced,
    faces_of,
    group_ids,
    isoperimetric_quotients,
    merge_labels,
    noded_faces,
    shared_boundaries,
    split_faces,
    split_into_squares,
    union_by_label,
)
from grids._frames import layer_frame, working_crs
from grids.codes import check_county_code, sequence_codes
from grids.errors import GridBuildError
from grids.road_grid import EDGE_TOLERANCE_M, table_of_lengths

__all__ = [
    "ARTEFACT_WIDTH_M",
    "MERGE_BELOW",
    "OUTLINE_PRECISION_M",
    "SEGMENT_PRECISION_M",
    "SLIVER_COMPACTNESS",
    "SLIVER_WIDTH",
    "SPLIT_ABOVE",
    "SPLIT_OVERSHOOT_M",
    "AdminAreas",
    "UnitGridBuild",
    "admin_areas",
    "check_target_area",
    "cut_lines",
    "cut_strips",
    "faces_of",
    "group_ids",
    "isoperimetric_quotients",
    "merge_labels",
    "shared_boundaries",
    "split_faces",
    "union_by_label",
    "unit_grid_build",
    "unit_grid_frame",
    "unit_grid_stats",
    "unit_grids_from_roads",
]

MERGE_BELOW = 0.5
"""Faces smaller than this fraction of the target area are merged into a neighbour."""

SPLIT_ABOVE = 2.0
"""Faces larger than this multiple of the target area are split."""

_ADMIN_PRECISION_M = 1e-6

OUTLINE_PRECISION_M = 1e-6
"""Grids with vertices closer than this (metres) to another vertex or edge are snap-rounded to a
grid of this size before they are stored."""


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
        return geometry_array(
            shapely.get_parts(shapely.union_all(rings, grid_size=_ADMIN_PRECISION_M))
        )

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


@dataclass(frozen=True)
class UnitGridBuild:
    """Unit grids built from roads, and the noding they were built from.

    The build only keeps what it made on the way; :meth:`road_table` does all the work of the
    table.

    Attributes
    ----------
    grids
        The ``unit_grids`` layer (see :func:`unit_grids_from_roads`).
    roads
        The roads they were built from.
    road_geometries
        The roads' geometries in ``metric_crs``, row by row.
    edges
        The noded linework (roads, boundaries, extra lines) the faces are polygonized from.
    trace
        How the grids were made of the faces of the noding.
    polygons
        The grids in ``metric_crs``, in the order they were numbered in.
    codes
        Their codes, in that order.
    metric_crs
        The projected CRS the grids were built in.
    """

    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    road_geometries: GeometryArray
    edges: GeometryArray
    trace: FaceTrace
    polygons: GeometryArray
    codes: Sequence[str]
    metric_crs: pyproj.CRS

    def road_lengths(
        self, *, edge_tolerance_m: float = EDGE_TOLERANCE_M
    ) -> tuple[IndexArray, IndexArray, FloatArray]:
        """Return the length of each road inside each grid, from the noding.

        Returns
        -------
        tuple of numpy.ndarray
            ``(road, grid, length)``: the rows of the road and the grid and the length in
            metres, for every pair sharing a positive length (however short).
        """
        # layer_frame sorts by id (the code) stably: the same sort puts the polygons in row order
        rows = np.argsort(np.asarray(self.codes, dtype=str), kind="stable")
        grid_row = np.empty(len(rows), dtype=np.intp)
        grid_row[rows] = np.arange(len(rows))
        return noded_road_lengths(
            self.edges,
            _lines_only(self.road_geometries),
            self.polygons[rows],
            grid_row,
            self.trace,
            tolerance=edge_tolerance_m,
        )

    def road_table(self, *, edge_tolerance_m: float = EDGE_TOLERANCE_M) -> pd.DataFrame:
        """Return the road ↔ grid table of the roads and the grids, from the noding.

        The table :func:`grids.road_grid.road_grid_table` makes of the roads and the grids in
        ``metric_crs``, measured from the noded edges (see :mod:`grids._face_roads`) instead of
        clipping every road against the grids. They differ only where a road runs along a grid's
        edge: a stretch of road within ``edge_tolerance_m`` of an edge it is not on (a road drawn
        twice a hair apart) is shared as the noding has it, and where a road along an edge
        meets a line that cuts the grids, the shares change right there rather than within the
        tolerance of it.

        Raises
        ------
        FieldError
            If the roads have no ``id`` column.
        """
        road, grid, length = self.road_lengths(edge_tolerance_m=edge_tolerance_m)
        return table_of_lengths(self.roads, self.grids, road, grid, length)


def _lines_only(geoms: GeometryArray) -> GeometryArray:
    """Return the geometries that are lines, and None in place of the others."""
    lines = geoms.copy()
    lines[~np.isin(shapely.get_type_id(geoms), (1, 5)) | shapely.is_empty(geoms)] = None
    return lines


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


def _metric_rows(frame: gpd.GeoDataFrame | None, metric_crs: pyproj.CRS) -> GeometryArray:
    """Return the geometries of a layer in ``metric_crs``, row by row."""
    if frame is None or frame.empty:
        return np.empty(0, dtype=object)
    return np.asarray(frame.geometry.to_crs(metric_crs).array, dtype=object)


def _present(geoms: GeometryArray) -> GeometryArray:
    """Return the geometries but for missing and empty ones."""
    kept: GeometryArray = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    return kept


def _present_geometries(frame: gpd.GeoDataFrame | None, metric_crs: pyproj.CRS) -> GeometryArray:
    """Return the geometries of a layer in ``metric_crs``, but for missing and empty ones."""
    return _present(_metric_rows(frame, metric_crs))


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
    geoms = _present_geometries(boundary, metric_crs)
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


def _snap_rounded(polygons: GeometryArray) -> GeometryArray:
    """Return metric polygons, those with features under a micrometre snap-rounded.

    Noding, cutting and uniting can leave vertices a fraction of a nanometre apart (where cut
    lines cross at a corner of the face they cut, say): zigzags, spikes and needle holes that are
    valid as computed but not once the outline has gone through EPSG:4326 and back, which moves
    vertices by about a nanometre. Polygons whose minimum clearance (how far a vertex must move
    to make them invalid) is under :data:`OUTLINE_PRECISION_M` are snap-rounded to a grid of that
    size, which leaves no vertex within half of it of another vertex or of an edge it is not on;
    their neighbours still share their edges to that precision. One that snap-rounding would
    break into pieces, or collapse, keeps its outline.
    """
    fragile = np.flatnonzero(shapely.minimum_clearance(polygons) < OUTLINE_PRECISION_M)
    if len(fragile) == 0:
        return polygons
    snapped = shapely.set_precision(polygons[fragile], OUTLINE_PRECISION_M)
    whole = (shapely.get_type_id(snapped) == 3) & ~shapely.is_empty(snapped)
    kept = polygons.copy()
    # set_precision gives valid output; only the rings' orientation may need setting again
    kept[fragile[whole]] = shapely.orient_polygons(snapped[whole])
    return kept


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
    frame, _, _ = _numbered_grids(
        polygons,
        subdistrict,
        community,
        admin,
        county_code=county_code,
        mode=mode,
        band_m=band_m,
        metric_crs=metric_crs,
        facts=facts,
    )
    return frame


def _numbered_grids(
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
) -> tuple[gpd.GeoDataFrame, GeometryArray, list[str]]:
    """Return the :func:`unit_grid_frame`, and the cleaned ``polygons`` and their codes."""
    polygons = _snap_rounded(_clean(polygons))
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
    # the codes are the ids, so sorted by id the grids are sorted by code
    frame = layer_frame(
        "unit_grids",
        {
            "id": codes,
            "code": codes,
            "subdistrict_code": subdistrict_codes,
            "community_code": community_codes,
            "area_m2": shapely.area(polygons),
            "mode": [mode] * len(codes),
            "attrs": attrs,
        },
        geometry,
    )
    return frame, polygons, codes


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
    crs = working_crs(grids, metric_crs)
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

    :func:`unit_grid_build` builds them along with what their road ↔ grid table is made of.

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
    return unit_grid_build(
        roads,
        boundary,
        subdistricts=subdistricts,
        communities=communities,
        extra_lines=extra_lines,
        county_code=county_code,
        target_area_m2=target_area_m2,
        metric_crs=metric_crs,
    ).grids


def unit_grid_build(
    roads: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    *,
    subdistricts: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    extra_lines: gpd.GeoDataFrame | None = None,
    county_code: str,
    target_area_m2: float = 10_000.0,
    metric_crs: pyproj.CRS | None = None,
) -> UnitGridBuild:
    """Build the unit grids of a district from its roads, keeping the noding they come from.

    Takes the arguments of :func:`unit_grids_from_roads`; the result's
    :meth:`UnitGridBuild.road_table` is the road ↔ grid table of the roads and the grids.

    Raises
    ------
    GridBuildError, GridCodeError
        As :func:`unit_grids_from_roads`.
    """
    check_county_code(county_code)
    target = check_target_area(target_area_m2, "target_area_m2")
    crs = working_crs(boundary, metric_crs)
    admin = admin_areas(boundary, subdistricts, communities, crs)
    admin.check_codes(county_code)
    side = math.sqrt(target)
    merge = functools.partial(
        merge_labels,
        min_area=MERGE_BELOW * target,
        max_area=SPLIT_ABOVE * target,
        sliver_width=SLIVER_WIDTH * side,
    )

    road_geoms = _metric_rows(roads, crs)
    lines = np.concatenate([_present(road_geoms), _present_geometries(extra_lines, crs)])
    shapely.prepare(admin.district)
    lines = lines[shapely.intersects(admin.district, lines)]
    noded, edges = noded_faces(np.concatenate([lines, admin.lines()]), admin.district)
    faces, strip_pieces, strip_cuts = cut_strips_traced(noded, side)
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
    split_blocks = split_into_squares(blocks[large], side)
    pieces, piece_block = split_blocks.pieces, split_blocks.face
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
    grids, polygons, codes = _numbered_grids(
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
    trace = FaceTrace(
        noded, strip_cuts, labels, block_part, large, split_blocks, piece_labels, cell_part
    )
    return UnitGridBuild(grids, roads, road_geoms, edges, trace, polygons, codes, crs)
