"""Topology of unit grids: which grids are neighbours, and what is wrong with a grid layer.

:func:`unit_grid_adjacency` gives the neighbour graph that responsibility grids are grown on;
:func:`topology_report` checks a unit grid layer against the district it should cover: gaps,
overlaps, slivers, grids split between two communities or sub-districts, posts outside every grid,
and pieces of the road network cut off from the rest. Everything is measured in a projected CRS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries
from numpy.typing import NDArray
from pyproj import CRS

from geodata.errors import FieldError
from geodata.layers import STORAGE_CRS
from grids._arrays import GeometryArray, IndexArray
from grids._faces import isoperimetric_quotients
from grids._frames import metric_geometries, with_geometry, working_crs
from grids._graph import (
    ADJACENCY_TOLERANCE_M,
    AdjacencyRule,
    graph_components,
    neighbour_pairs,
)

__all__ = [
    "ADJACENCY_TOLERANCE_M",
    "MIN_AREA_M2",
    "MIN_LENGTH_M",
    "SNAP_DISTANCE_M",
    "AdjacencyRule",
    "RoadComponents",
    "TopologyCheck",
    "TopologyReport",
    "graph_components",
    "metric_geometries",
    "neighbour_pairs",
    "topology_report",
    "unit_grid_adjacency",
    "unit_grid_codes",
]

MIN_AREA_M2 = 1.0
"""Gaps, overlaps and parts of a grid in another community smaller than this are ignored."""

MIN_LENGTH_M = 1.0
"""Parts of a segment post outside every grid shorter than this are ignored."""

SNAP_DISTANCE_M = 1.0
"""Road ends this close to another road are taken as joined to it."""


def unit_grid_codes(unit_grids: GeoDataFrame) -> NDArray[np.str_]:
    """Return the codes of the unit grids, as text.

    Raises
    ------
    FieldError
        If the grids have no ``code`` column or a grid has no code.
    """
    if "code" not in unit_grids.columns:
        raise FieldError("the unit grids have no 'code' column", field="code")
    codes = unit_grids["code"]
    if codes.isna().any():
        raise FieldError("some unit grids have no code", field="code")
    return np.asarray(codes.astype(str).to_numpy(), dtype=np.str_)


def unit_grid_adjacency(
    unit_grids: GeoDataFrame,
    *,
    rule: AdjacencyRule = "rook",
    metric_crs: CRS | str | None = None,
    tolerance_m: float = ADJACENCY_TOLERANCE_M,
) -> pd.DataFrame:
    """Return the pairs of neighbouring unit grids and the length of edge they share.

    Parameters
    ----------
    unit_grids
        The unit grids, with a ``code`` column.
    rule
        ``rook``: grids sharing a stretch of edge are neighbours; ``queen``: grids touching at a
        corner are, too.
    metric_crs
        The projected CRS to measure in; by default the one for the grids' bounds.
    tolerance_m
        Grids this close are taken to touch.

    Returns
    -------
    pandas.DataFrame
        Columns ``code_a``, ``code_b`` (``code_a`` first in the grids' order) and ``shared_m``
        (the length of shared edge, to within the tolerance), one row per pair, in the grids'
        order.

    Raises
    ------
    FieldError
        If the grids have no ``code`` column or a grid has no code.
    """
    codes = unit_grid_codes(unit_grids)
    if len(unit_grids) == 0:
        return pd.DataFrame({"code_a": [], "code_b": [], "shared_m": []})
    crs = working_crs(unit_grids, metric_crs)
    left, right, shared = neighbour_pairs(metric_geometries(unit_grids, crs), rule, tolerance_m)
    return pd.DataFrame({"code_a": codes[left], "code_b": codes[right], "shared_m": shared})


@dataclass(frozen=True)
class TopologyCheck:
    """The result of one check: how many problems, how big in total, and the largest few.

    Parameters
    ----------
    count
        The number of problems found.
    total
        Their total size, in ``unit``.
    unit
        ``m2`` for areas, ``m`` for lengths.
    examples
        The largest problems (at most the report's ``max_examples``), each a JSON-ready mapping
        with the codes or ids involved and its size.
    """

    count: int
    total: float
    unit: str
    examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class RoadComponents:
    """The connected pieces of a road network.

    Parameters
    ----------
    component_count
        The number of connected pieces (1 for a connected network).
    road_count
        The number of roads.
    total_km
        Their total length.
    largest_km
        The length of the largest piece.
    small_km
        The total length of every other piece: the roads cut off from the main network.
    examples
        The smallest pieces, each with its length, road count and (up to ten) road ids.
    """

    component_count: int
    road_count: int
    total_km: float
    largest_km: float
    small_km: float
    examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class TopologyReport:
    """What is wrong with a unit grid layer; a check is None when its input was not given.

    Parameters
    ----------
    unit_grid_count
        The number of unit grids checked.
    metric_crs
        The projected CRS everything was measured in.
    invalid
        Unit grids whose polygons are invalid (self-intersecting, ...); the other checks use
        them repaired.
    gaps
        Parts of the district covered by no unit grid.
    outside
        Parts of unit grids outside the district.
    overlaps
        Pairs of unit grids that overlap.
    slivers
        Unit grids too small or too thin.
    community_crossings, subdistrict_crossings
        Unit grids split between two communities (sub-districts).
    posts_outside
        Posts outside every unit grid.
    roads
        The connected pieces of the road network.
    """

    unit_grid_count: int
    metric_crs: str
    invalid: TopologyCheck
    gaps: TopologyCheck
    outside: TopologyCheck
    overlaps: TopologyCheck
    slivers: TopologyCheck
    community_crossings: TopologyCheck | None = None
    subdistrict_crossings: TopologyCheck | None = None
    posts_outside: TopologyCheck | None = None
    roads: RoadComponents | None = None

    @property
    def clean(self) -> bool:
        """Whether every check that ran found nothing (and the roads are one piece)."""
        checks = (
            self.invalid,
            self.gaps,
            self.outside,
            self.overlaps,
            self.slivers,
            self.community_crossings,
            self.subdistrict_crossings,
            self.posts_outside,
        )
        roads_connected = self.roads is None or self.roads.component_count <= 1
        return roads_connected and all(check is None or check.count == 0 for check in checks)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready mapping."""
        report = asdict(self)
        report["clean"] = self.clean
        for value in report.values():
            if isinstance(value, dict) and "examples" in value:
                value["examples"] = list(value["examples"])
        return report


def _round(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def _largest_first(
    sizes: NDArray[np.floating[Any]], keys: Sequence[str] | NDArray[np.str_], max_examples: int
) -> IndexArray:
    """Return the positions of the ``max_examples`` largest sizes, ties by key."""
    order = np.lexsort((np.asarray(keys, dtype=str), -sizes))
    return order[:max_examples].astype(np.intp)


def _lonlat(points: GeometryArray, crs: CRS) -> list[tuple[float, float]]:
    lonlat = GeoSeries(points, crs=crs).to_crs(STORAGE_CRS)
    return [(_round(p.x, 6), _round(p.y, 6)) for p in lonlat]


def _invalid(
    geoms: GeometryArray, codes: NDArray[np.str_], max_examples: int
) -> tuple[TopologyCheck, GeometryArray]:
    """Find the invalid grids, and return the grids with those repaired."""
    broken = np.flatnonzero(~shapely.is_valid(geoms))
    examples = tuple(
        {"code": str(codes[i]), "reason": str(shapely.is_valid_reason(geoms[i]))}
        for i in broken[np.argsort(codes[broken], kind="stable")][:max_examples]
    )
    if len(broken):
        geoms = geoms.copy()
        geoms[broken] = shapely.make_valid(geoms[broken])
    areas = shapely.area(geoms[broken])
    return TopologyCheck(len(broken), _round(float(np.sum(areas))), "m2", examples), geoms


def _gaps_and_outside(
    geoms: GeometryArray,
    codes: NDArray[np.str_],
    tree: shapely.STRtree,
    district: shapely.Geometry,
    *,
    crs: CRS,
    max_examples: int,
) -> tuple[TopologyCheck, TopologyCheck]:
    covered = shapely.union_all(geoms)
    gap_parts = np.asarray(shapely.get_parts(shapely.difference(district, covered)), dtype=object)
    gap_parts = gap_parts[shapely.area(gap_parts) > MIN_AREA_M2]
    gap_areas = np.asarray(shapely.area(gap_parts), dtype=np.float64)
    anchors = np.asarray(shapely.point_on_surface(gap_parts), dtype=object)
    anchor_keys = [f"{p.x:.3f},{p.y:.3f}" for p in anchors]
    chosen = _largest_first(gap_areas, anchor_keys, max_examples)
    where = _lonlat(anchors[chosen], crs)
    gap_examples = []
    for position, (lon, lat) in zip(chosen, where, strict=True):
        near = np.sort(
            tree.query(gap_parts[position], predicate="dwithin", distance=SNAP_DISTANCE_M)
        )
        gap_examples.append(
            {
                "area_m2": _round(gap_areas[position]),
                "lon": lon,
                "lat": lat,
                "unit_grid_codes": [str(codes[i]) for i in near[:10]],
            }
        )
    gaps = TopologyCheck(len(gap_parts), _round(gap_areas.sum()), "m2", tuple(gap_examples))

    shapely.prepare(district)
    partly_outside = np.flatnonzero(~shapely.covered_by(geoms, district))
    outside_areas = np.asarray(
        shapely.area(geoms[partly_outside])
        - shapely.area(shapely.intersection(geoms[partly_outside], district)),
        dtype=np.float64,
    )
    keep = outside_areas > MIN_AREA_M2
    partly_outside, outside_areas = partly_outside[keep], outside_areas[keep]
    chosen = _largest_first(outside_areas, codes[partly_outside], max_examples)
    outside = TopologyCheck(
        len(partly_outside),
        _round(outside_areas.sum()),
        "m2",
        tuple(
            {"code": str(codes[partly_outside[i]]), "area_m2": _round(outside_areas[i])}
            for i in chosen
        ),
    )
    return gaps, outside


def _overlaps(
    geoms: GeometryArray, codes: NDArray[np.str_], tree: shapely.STRtree, max_examples: int
) -> TopologyCheck:
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    interiors_meet = shapely.relate_pattern(geoms[left], geoms[right], "2********")
    left, right = left[interiors_meet], right[interiors_meet]
    areas = np.asarray(shapely.area(shapely.intersection(geoms[left], geoms[right])), np.float64)
    keep = areas > MIN_AREA_M2
    left, right, areas = left[keep], right[keep], areas[keep]
    pair_keys = [f"{codes[a]}|{codes[b]}" for a, b in zip(left, right, strict=True)]
    chosen = _largest_first(areas, pair_keys, max_examples)
    examples = tuple(
        {"codes": sorted([str(codes[left[i]]), str(codes[right[i]])]), "area_m2": _round(areas[i])}
        for i in chosen
    )
    return TopologyCheck(len(areas), _round(areas.sum()), "m2", examples)


def _slivers(
    geoms: GeometryArray,
    codes: NDArray[np.str_],
    sliver_area_m2: float,
    sliver_compactness: float,
    max_examples: int,
) -> TopologyCheck:
    areas = np.asarray(shapely.area(geoms), dtype=np.float64)
    perimeters = np.asarray(shapely.length(geoms), dtype=np.float64)
    # The isoperimetric quotient: 1 for a disc, about 0.79 for a square, near 0 when thin.
    compactness = np.where(perimeters > 0, isoperimetric_quotients(geoms), 0.0)
    flagged = np.flatnonzero((areas < sliver_area_m2) | (compactness < sliver_compactness))
    # The smallest and the thinnest first.
    order = np.lexsort((codes[flagged], compactness[flagged], areas[flagged]))[:max_examples]
    examples = tuple(
        {
            "code": str(codes[flagged[i]]),
            "area_m2": _round(areas[flagged[i]]),
            "compactness": _round(compactness[flagged[i]], 4),
        }
        for i in order
    )
    return TopologyCheck(len(flagged), _round(areas[flagged].sum()), "m2", examples)


def _crossings(
    geoms: GeometryArray,
    codes: NDArray[np.str_],
    tree: shapely.STRtree,
    areas_frame: GeoDataFrame,
    *,
    crs: CRS,
    max_examples: int,
) -> TopologyCheck:
    frame = with_geometry(areas_frame)
    key_column = "code" if "code" in frame.columns else "id"
    keys = frame[key_column].astype(str).to_numpy()
    polygons = metric_geometries(frame, crs) if len(frame) else np.empty(0, dtype=object)
    polygon_index, grid_index = tree.query(polygons, predicate="intersects")
    # A grid inside one polygon is not split; only the others need their parts measured.
    inside_one = np.zeros(len(geoms), dtype=bool)
    inside_one[tree.query(polygons, predicate="covers")[1]] = True
    keep = ~inside_one[grid_index]
    polygon_index, grid_index = polygon_index[keep], grid_index[keep]
    part_areas = np.asarray(
        shapely.area(shapely.intersection(geoms[grid_index], polygons[polygon_index])), np.float64
    )
    keep = part_areas > MIN_AREA_M2
    parts = pd.DataFrame(
        {"grid": grid_index[keep], "key": keys[polygon_index[keep]], "area": part_areas[keep]}
    ).sort_values(["grid", "area", "key"], ascending=[True, False, True], kind="stable")
    split = parts.groupby("grid", sort=True)["key"].transform("size") > 1
    parts = parts[split]
    grids = parts["grid"].unique()
    # How much of each split grid lies outside its main polygon.
    stray = parts.groupby("grid", sort=True)["area"].agg(lambda a: float(a.sum() - a.max()))
    stray_areas = stray.to_numpy(dtype=np.float64)
    chosen = _largest_first(stray_areas, codes[grids], max_examples)
    by_grid = dict(list(parts.groupby("grid", sort=True)))
    examples = tuple(
        {
            "code": str(codes[grids[i]]),
            "stray_area_m2": _round(stray_areas[i]),
            "parts": [
                {key_column: str(key), "area_m2": _round(area)}
                for key, area in zip(
                    by_grid[grids[i]]["key"], by_grid[grids[i]]["area"], strict=True
                )
            ],
        }
        for i in chosen
    )
    return TopologyCheck(len(grids), _round(stray_areas.sum()), "m2", examples)


def _posts_outside(
    geoms: GeometryArray, tree: shapely.STRtree, posts: GeoDataFrame, crs: CRS, max_examples: int
) -> TopologyCheck:
    posts = with_geometry(posts)
    ids = posts["id"].astype(str).to_numpy()
    shapes = metric_geometries(posts, crs) if len(posts) else np.empty(0, dtype=object)
    is_point = shapely.get_type_id(shapes) == 0
    outside_m = np.zeros(len(shapes), dtype=np.float64)

    points = np.flatnonzero(is_point)
    covered = np.zeros(len(shapes), dtype=bool)
    near = tree.query(shapes[points], predicate="dwithin", distance=ADJACENCY_TOLERANCE_M)[0]
    covered[points[near]] = True
    lost = points[~covered[points]]
    if len(lost):
        nearest, distances = tree.query_nearest(shapes[lost], return_distance=True)
        np.maximum.at(outside_m, lost[nearest[0]], distances)

    lines = np.flatnonzero(~is_point)
    line_index, grid_index = tree.query(
        shapes[lines], predicate="dwithin", distance=ADJACENCY_TOLERANCE_M
    )
    # Grown a little, so that a post along the edge of a grid is inside it.
    grown = shapely.buffer(
        geoms[grid_index], ADJACENCY_TOLERANCE_M, quad_segs=1, join_style="mitre"
    )
    pieces = shapely.intersection(shapes[lines[line_index]], grown)
    inside_m = np.zeros(len(lines), dtype=np.float64)
    # Summing pieces counts twice where grids overlap; those posts are measured exactly below.
    np.add.at(inside_m, line_index, shapely.length(pieces))
    order = np.argsort(line_index, kind="stable")
    starts = np.searchsorted(line_index[order], np.arange(len(lines) + 1))
    for position in np.flatnonzero(np.diff(starts) > 1):
        mine = order[starts[position] : starts[position + 1]]
        inside_m[position] = shapely.length(shapely.union_all(pieces[mine]))
    outside_m[lines] = np.maximum(shapely.length(shapes[lines]) - inside_m, 0.0)

    flagged = np.flatnonzero(np.where(is_point, ~covered, outside_m > MIN_LENGTH_M))
    kinds = posts["kind"].astype(str).to_numpy() if "kind" in posts.columns else None
    chosen = _largest_first(outside_m[flagged], ids[flagged], max_examples)
    examples = tuple(
        {
            "id": str(ids[flagged[i]]),
            "kind": str(kinds[flagged[i]]) if kinds is not None else None,
            "outside_m": _round(outside_m[flagged[i]]),
        }
        for i in chosen
    )
    return TopologyCheck(len(flagged), _round(outside_m[flagged].sum()), "m", examples)


def _road_components(
    roads: GeoDataFrame, crs: CRS, *, join_crossings: bool, max_examples: int
) -> RoadComponents:
    roads = with_geometry(roads)
    ids = roads["id"].astype(str).to_numpy()
    lines = metric_geometries(roads, crs) if len(roads) else np.empty(0, dtype=object)
    lengths = np.asarray(shapely.length(lines), dtype=np.float64)
    parts = shapely.get_parts(lines, return_index=True)
    part_lines, part_of = np.asarray(parts[0], dtype=object), parts[1]
    # An end of a road joins any road within the snapping distance of it.
    ends = np.concatenate([shapely.get_point(part_lines, 0), shapely.get_point(part_lines, -1)])
    end_of = np.concatenate([part_of, part_of])
    end_index, road_index = shapely.STRtree(lines).query(
        ends, predicate="dwithin", distance=SNAP_DISTANCE_M
    )
    sources = [end_of[end_index]]
    targets = [road_index]
    # Roads crossing at a node they both have are joined there; bridges without one are not.
    coords, coord_of = shapely.get_coordinates(lines, return_index=True)
    if len(coords):
        _, node, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
        shared = counts[node] > 1
        node, coord_of = node[shared], coord_of[shared]
        order = np.argsort(node, kind="stable")
        node, coord_of = node[order], coord_of[order]
        same_node = node[1:] == node[:-1]
        sources.append(coord_of[:-1][same_node])
        targets.append(coord_of[1:][same_node])
    if join_crossings:
        crossing, crossed = shapely.STRtree(lines).query(lines, predicate="intersects")
        sources.append(crossing)
        targets.append(crossed)
    labels = graph_components(len(lines), np.concatenate(sources), np.concatenate(targets))
    component_ids, component_of = np.unique(labels, return_inverse=True)
    component_km = np.bincount(component_of, weights=lengths, minlength=len(component_ids)) / 1000
    road_counts = np.bincount(component_of, minlength=len(component_ids))
    largest = int(np.lexsort((component_ids, -component_km))[0]) if len(component_ids) else -1
    small = np.setdiff1d(np.arange(len(component_ids)), [largest])
    first_ids = ids[component_ids[small]]
    order = np.lexsort((first_ids, component_km[small]))[:max_examples]
    examples = tuple(
        {
            "length_km": _round(component_km[small[i]], 3),
            "road_count": int(road_counts[small[i]]),
            "road_ids": sorted(str(r) for r in ids[component_of == small[i]])[:10],
        }
        for i in order
    )
    return RoadComponents(
        component_count=len(component_ids),
        road_count=len(lines),
        total_km=_round(lengths.sum() / 1000, 3),
        largest_km=_round(component_km[largest], 3) if largest >= 0 else 0.0,
        small_km=_round(component_km[small].sum(), 3),
        examples=examples,
    )


def topology_report(
    unit_grids: GeoDataFrame,
    *,
    boundary: GeoDataFrame,
    communities: GeoDataFrame | None = None,
    subdistricts: GeoDataFrame | None = None,
    posts: GeoDataFrame | None = None,
    roads: GeoDataFrame | None = None,
    metric_crs: CRS | str | None = None,
    sliver_area_m2: float = 100.0,
    sliver_compactness: float = 0.05,
    join_crossings: bool = False,
    max_examples: int = 20,
) -> TopologyReport:
    """Check a unit grid layer against the district it should cover.

    Parameters
    ----------
    unit_grids
        The unit grids, with a ``code`` column.
    boundary
        The district boundary; the unit grids should cover it exactly.
    communities, subdistricts
        Areas no grid should be split between (by more than 1 m² in each); features without a
        polygon are skipped.
    posts
        Posts that should lie inside the grids: segment posts by no more than 1 m outside, point
        posts not at all.
    roads
        The road network, checked for pieces cut off from the rest: roads are joined where an end
        lies within 1 m of another road, and where two roads cross at a node they both have (not
        where one passes over the other).
    metric_crs
        The projected CRS to measure in; by default the one for the boundary's bounds.
    sliver_area_m2
        Grids smaller than this are slivers.
    sliver_compactness
        Grids with an isoperimetric quotient (4πA/P²: 1 for a disc, 0.79 for a square) below this
        are slivers.
    join_crossings
        Join roads wherever they cross, node or not: for schematic networks drawn without
        nodes at their crossings.
    max_examples
        How many examples each check gives.

    Returns
    -------
    TopologyReport
        Counts, totals and the largest examples of every problem; ``to_dict()`` is JSON-ready.

    Raises
    ------
    FieldError
        If the grids have no ``code`` column or a grid has no code.
    ValueError
        If the boundary has no polygon.
    """
    codes = unit_grid_codes(unit_grids)
    crs = working_crs(boundary, metric_crs)
    geoms = metric_geometries(unit_grids, crs)
    invalid, geoms = _invalid(geoms, codes, max_examples)
    boundary_geoms = metric_geometries(boundary, crs)
    boundary_geoms = boundary_geoms[
        ~(shapely.is_missing(boundary_geoms) | shapely.is_empty(boundary_geoms))
    ]
    if len(boundary_geoms) == 0:
        raise ValueError("the boundary has no polygon to check the unit grids against")
    district = shapely.union_all(boundary_geoms)
    tree = shapely.STRtree(geoms)
    gaps, outside = _gaps_and_outside(
        geoms, codes, tree, district, crs=crs, max_examples=max_examples
    )
    return TopologyReport(
        unit_grid_count=len(geoms),
        metric_crs=crs.to_string(),
        invalid=invalid,
        gaps=gaps,
        outside=outside,
        overlaps=_overlaps(geoms, codes, tree, max_examples),
        slivers=_slivers(geoms, codes, sliver_area_m2, sliver_compactness, max_examples),
        community_crossings=(
            None
            if communities is None
            else _crossings(geoms, codes, tree, communities, crs=crs, max_examples=max_examples)
        ),
        subdistrict_crossings=(
            None
            if subdistricts is None
            else _crossings(geoms, codes, tree, subdistricts, crs=crs, max_examples=max_examples)
        ),
        posts_outside=None
        if posts is None
        else _posts_outside(geoms, tree, posts, crs, max_examples),
        roads=(
            None
            if roads is None
            else _road_components(
                roads, crs, join_crossings=join_crossings, max_examples=max_examples
            )
        ),
    )
