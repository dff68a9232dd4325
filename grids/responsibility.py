"""Responsibility grids (责任网格): unit grids grouped into the territory of each squad.

Unit grids go to squads either by the squads' drawn territories (:func:`assign_by_territory`) or
by a balancing heuristic (:func:`balanced_assignment`) that gives every squad one contiguous region
of about the same workload. :func:`responsibility_grids` dissolves an assignment into the
``responsibility_grids`` layer and :func:`balance_report` says how even and how contiguous it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame
from numpy.typing import NDArray
from pyproj import CRS

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning
from geodata.layers import STORAGE_CRS
from grids._arrays import FloatArray, IndexArray
from grids._balance import attach_islands, balanced_growth, free_seeds, refine
from grids._frames import layer_frame, metric_geometries, with_geometry, working_crs
from grids._graph import graph_components, grid_graph, region_pieces
from grids.topology import unit_grid_codes

__all__ = [
    "assign_by_territory",
    "balance_report",
    "balanced_assignment",
    "responsibility_grids",
    "seeds_from_territories",
]


def _unique_codes(unit_grids: GeoDataFrame) -> NDArray[np.str_]:
    codes = unit_grid_codes(unit_grids)
    unique, counts = np.unique(codes, return_counts=True)
    if (counts > 1).any():
        raise DuplicateIdError(
            f"unit grid code {str(unique[counts > 1][0])!r} is used more than once", field="code"
        )
    return codes


def _territories(squads: GeoDataFrame, crs: CRS) -> tuple[NDArray[np.str_], NDArray[np.object_]]:
    drawn = with_geometry(squads)
    if len(drawn) == 0:
        raise ValueError("no squad has a territory polygon to assign unit grids by")
    ids = np.asarray(drawn["id"].astype(str).to_numpy(), dtype=np.str_)
    return ids, metric_geometries(drawn, crs)


def _squad_series(codes: NDArray[np.str_], squad_ids: Sequence[str]) -> pd.Series:
    return pd.Series(
        np.asarray(squad_ids, dtype=object),
        index=pd.Index(codes, name="code", dtype="str"),
        name="squad_id",
        dtype="str",
    )


def assign_by_territory(
    unit_grids: GeoDataFrame, squads: GeoDataFrame, *, metric_crs: CRS | str | None = None
) -> pd.Series:
    """Assign every unit grid to the squad whose territory covers most of it.

    Parameters
    ----------
    unit_grids
        The unit grids, with a ``code`` column.
    squads
        The squads, with their territory polygons; squads without one are skipped.
    metric_crs
        The projected CRS to measure in; by default the one for the grids' bounds.

    Returns
    -------
    pandas.Series
        Unit grid code → squad id, in the grids' order. A grid overlapping no territory goes to
        the nearest one; ties go to the squad listed first.

    Raises
    ------
    FieldError
        If the grids have no ``code`` column or a grid has no code.
    DuplicateIdError
        If two grids have the same code.
    ValueError
        If no squad has a territory polygon.
    """
    codes = _unique_codes(unit_grids)
    if len(codes) == 0:
        return _squad_series(codes, [])
    crs = working_crs(unit_grids, metric_crs)
    geoms = metric_geometries(unit_grids, crs)
    squad_ids, territories = _territories(squads, crs)
    tree = shapely.STRtree(territories)
    grid_index, squad_index = tree.query(geoms, predicate="intersects")
    areas = np.asarray(
        shapely.area(shapely.intersection(geoms[grid_index], territories[squad_index])),
        dtype=np.float64,
    )
    overlapping = areas > 0
    grid_index, squad_index, areas = (
        grid_index[overlapping],
        squad_index[overlapping],
        areas[overlapping],
    )
    # Per grid, the largest overlap first, then the squad listed first.
    order = np.lexsort((squad_index, -areas, grid_index))
    grid_index, squad_index = grid_index[order], squad_index[order]
    first = np.r_[True, grid_index[1:] != grid_index[:-1]]
    chosen = np.full(len(geoms), -1, dtype=np.intp)
    chosen[grid_index[first]] = squad_index[first]
    alone = np.flatnonzero(chosen < 0)
    if len(alone):
        (near_grid, near_squad), _ = tree.query_nearest(
            geoms[alone], return_distance=True, all_matches=True
        )
        nearest = np.full(len(alone), len(territories), dtype=np.intp)
        np.minimum.at(nearest, near_grid, near_squad)
        chosen[alone] = nearest
    return _squad_series(codes, list(squad_ids[chosen]))


def seeds_from_territories(
    unit_grids: GeoDataFrame, squads: GeoDataFrame, *, metric_crs: CRS | str | None = None
) -> dict[str, str]:
    """Return a starting unit grid for every squad with a territory: the grid at its centre.

    The grid chosen is, among the grids :func:`assign_by_territory` gives the squad, the one
    nearest a point inside its territory (a point on its largest part); squads that get no grid
    get none.

    Parameters
    ----------
    unit_grids
        The unit grids, with a ``code`` column.
    squads
        The squads, with their territory polygons.
    metric_crs
        The projected CRS to measure in; by default the one for the grids' bounds.

    Returns
    -------
    dict of str to str
        Squad id → unit grid code, for :func:`balanced_assignment`'s ``seeds``.

    Raises
    ------
    ValueError
        If no squad has a territory polygon.
    """
    crs = working_crs(unit_grids, metric_crs)
    assignment = assign_by_territory(unit_grids, squads, metric_crs=crs).to_numpy(dtype=str)
    codes = _unique_codes(unit_grids)
    centroids = shapely.centroid(metric_geometries(unit_grids, crs))
    squad_ids, territories = _territories(squads, crs)
    seeds: dict[str, str] = {}
    for squad_id, territory in zip(squad_ids, territories, strict=True):
        mine = np.flatnonzero(assignment == squad_id)
        if len(mine) == 0:
            continue
        parts = shapely.get_parts(territory)
        centre = shapely.point_on_surface(parts[int(np.argmax(shapely.area(parts)))])
        distances = shapely.distance(centroids[mine], centre)
        seeds[str(squad_id)] = str(codes[mine[int(np.argmin(distances))]])
    return seeds


def _at_codes(values: pd.Series, codes: NDArray[np.str_], dtype: type[Any]) -> pd.Series:
    """Return the values (by unit grid code) of ``codes``: the first of a code given twice."""
    by_code = pd.Series(values.to_numpy(dtype=dtype), index=values.index.astype(str))
    return by_code[~by_code.index.duplicated(keep="first")].reindex(codes)


def _workloads(workload: pd.Series, codes: NDArray[np.str_]) -> FloatArray:
    values = _at_codes(workload, codes, np.float64).fillna(0.0).to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("workloads must be finite and not negative")
    return values


def _fixed_and_seeds(
    codes: NDArray[np.str_],
    squads: list[str],
    fixed: Mapping[str, Collection[str]],
    seeds: Mapping[str, str],
) -> tuple[IndexArray, list[list[int]]]:
    """Return the squad each grid is fixed to (-1 if none) and each squad's start grids."""
    position_of = {str(code): i for i, code in enumerate(codes)}
    squad_of = {squad: i for i, squad in enumerate(squads)}

    def position(code: str, what: str) -> int:
        if str(code) not in position_of:
            raise FieldError(f"{what} names unit grid {code!r}, which is not among the grids")
        return position_of[str(code)]

    label = np.full(len(codes), -1, dtype=np.intp)
    starts: list[list[int]] = [[] for _ in squads]
    for squad, grid_codes in sorted(fixed.items()):
        if squad not in squad_of:
            raise FieldError(f"fixed grids are given for {squad!r}, which is not a squad")
        for code in sorted(str(c) for c in grid_codes):
            node = position(code, f"the fixed grids of {squad!r}")
            if label[node] >= 0 and label[node] != squad_of[squad]:
                raise ValueError(f"unit grid {code!r} is fixed to two squads")
            label[node] = squad_of[squad]
            starts[squad_of[squad]].append(node)
    seeded: set[int] = set()
    for squad, code in sorted(seeds.items()):
        if squad not in squad_of:
            raise FieldError(f"a seed is given for {squad!r}, which is not a squad")
        node = position(code, f"the seed of {squad!r}")
        if label[node] >= 0 and label[node] != squad_of[squad]:
            raise ValueError(f"the seed of {squad!r}, {code!r}, is fixed to another squad")
        if node in seeded:
            raise ValueError(f"unit grid {code!r} is the seed of two squads")
        seeded.add(node)
        starts[squad_of[squad]].append(node)
    return label, starts


def balanced_assignment(
    unit_grids: GeoDataFrame,
    workload: pd.Series,
    squad_ids: Sequence[str],
    *,
    fixed: Mapping[str, Collection[str]] | None = None,
    seeds: Mapping[str, str] | None = None,
    max_rounds: int = 200,
    metric_crs: CRS | str | None = None,
) -> pd.Series:
    """Assign unit grids to squads in contiguous regions of about equal workload.

    A deterministic heuristic on the rook neighbour graph of the grids (neighbours share a
    stretch of edge). Regions grow from their seeds and fixed grids all at once, each grid going
    to the region that reaches it first along the graph; the growth is repeated with a head start
    for the lighter regions until the workloads are about even. Every grid is reached through its
    own region, so regions are connected. Then boundary grids move from heavier to lighter
    neighbouring regions wherever that evens the workloads out and leaves the donor region in one
    piece. Fixed grids never move.

    Parameters
    ----------
    unit_grids
        The unit grids, with a ``code`` column.
    workload
        Unit grid code → workload (e.g. level-weighted road length); missing codes weigh 0.
    squad_ids
        The squads to share the grids between.
    fixed
        Squad id → codes of the unit grids it must own (e.g. the river-bank grids).
    seeds
        Squad id → the code of the grid its region grows from. Squads without one (and without
        fixed grids) get one by farthest-point sampling on the grids' centroids, evened out by a
        few Lloyd rounds; :func:`seeds_from_territories` gives seeds in the squads' territories.
    max_rounds
        The most refinement rounds; each moves at most one grid out of each region.
    metric_crs
        The projected CRS to measure in; by default the one for the grids' bounds.

    Returns
    -------
    pandas.Series
        Unit grid code → squad id, in the grids' order. Every region is connected, except that
        pieces of the district touching no other grid (islands) go to the squad nearest them,
        and a squad whose fixed grids are apart may stay apart; both give a
        :class:`~geodata.errors.GeodataWarning`.

    Raises
    ------
    FieldError
        If the grids have no ``code`` column, or ``fixed`` or ``seeds`` name an unknown squad or
        unit grid.
    DuplicateIdError
        If two grids have the same code.
    ValueError
        If there are no squads, repeated squads, more squads than grids, a grid fixed to two
        squads, a seed in another squad's fixed grids or two squads with one seed, or a workload
        that is negative or not a number.
    """
    codes = _unique_codes(unit_grids)
    squads = [str(s) for s in squad_ids]
    if not squads:
        raise ValueError("give at least one squad to assign unit grids to")
    if len(set(squads)) < len(squads):
        raise ValueError("the squad ids are not unique")
    if len(squads) > len(codes):
        raise ValueError(f"{len(squads)} squads cannot share {len(codes)} unit grids")
    crs = working_crs(unit_grids, metric_crs)

    # Work in code order so that the result does not depend on the order of the rows.
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    label, starts = _fixed_and_seeds(sorted_codes, squads, fixed or {}, seeds or {})
    movable = label < 0

    geoms = metric_geometries(unit_grids, crs)[order]
    weights = _workloads(workload, sorted_codes)
    graph = grid_graph(geoms)
    components = graph_components(graph.size, graph.sources, graph.targets)
    unstarted = [s for s in range(len(squads)) if not starts[s]]
    taken = np.asarray(sorted({n for start in starts for n in start}), dtype=np.intp)
    new_seeds = free_seeds(graph, components, weights, taken, len(unstarted))
    for squad_index, node in zip(unstarted, new_seeds, strict=True):
        starts[squad_index].append(node)

    start_arrays = [np.unique(np.asarray(start, dtype=np.intp)) for start in starts]
    pinned = label.copy()
    for squad_index, start in enumerate(start_arrays):
        pinned[start] = squad_index
    label = balanced_growth(
        graph,
        weights,
        start_arrays,
        pinned=pinned,
        attach=lambda grown: attach_islands(geoms, components, grown),
    )
    islands = ~np.isin(components, components[np.concatenate(start_arrays)])
    if islands.any():
        warnings.warn(
            f"{int(islands.sum())} unit grid(s) in {len(np.unique(components[islands]))} "
            "piece(s) do not touch the rest of the district and were given to the squad "
            f"nearest each piece (first: {sorted_codes[np.flatnonzero(islands)[0]]})",
            GeodataWarning,
            stacklevel=2,
        )
    refine(graph, weights, label, movable=movable, max_rounds=max_rounds)

    # Within each piece of the district, a squad's grids should be one region.
    shares = np.unique(np.column_stack([components, label]), axis=0)
    expected = np.bincount(shares[:, 1], minlength=len(squads))
    apart = np.flatnonzero(region_pieces(graph, label, len(squads)) > expected)
    if len(apart):
        warnings.warn(
            f"the regions of {', '.join(squads[s] for s in apart)} are in pieces: their fixed "
            "grids are apart and the regions did not grow together",
            GeodataWarning,
            stacklevel=2,
        )
    result = np.empty(len(codes), dtype=object)
    result[order] = [squads[s] for s in label]
    return _squad_series(codes, list(result))


def _assigned_squads(unit_grids: GeoDataFrame, assignment: pd.Series) -> NDArray[np.str_]:
    codes = _unique_codes(unit_grids)
    squads = _at_codes(assignment, codes, object)
    missing = squads.isna().to_numpy()
    if missing.any():
        raise FieldError(
            f"{int(missing.sum())} unit grid(s) have no squad in the assignment "
            f"(first: {codes[np.flatnonzero(missing)[0]]!r})",
            field="squad_id",
        )
    return np.asarray(squads.astype(str).to_numpy(), dtype=np.str_)


def responsibility_grids(
    unit_grids: GeoDataFrame,
    assignment: pd.Series,
    workload: pd.Series,
    squads: GeoDataFrame | None = None,
    *,
    metric_crs: CRS | str | None = None,
) -> GeoDataFrame:
    """Dissolve the unit grids of every squad into its responsibility grid.

    Parameters
    ----------
    unit_grids
        The unit grids, with a ``code`` column.
    assignment
        Unit grid code → squad id, e.g. from :func:`balanced_assignment`.
    workload
        Unit grid code → workload; missing codes weigh 0.
    squads
        The squads, for their Chinese names.
    metric_crs
        The projected CRS to measure areas in; by default the one for the grids' bounds.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``responsibility_grids`` layer: one feature per squad with grids, by squad id, with
        ``workload``, ``unit_grid_count`` and, in ``attrs``, ``area_m2`` and the number of
        ``parts`` of its polygon; EPSG:4326.

    Raises
    ------
    FieldError
        If the grids have no ``code`` column, or a grid has no squad in the assignment.
    DuplicateIdError
        If two grids have the same code.
    ValueError
        If a workload is negative or not a number.
    """
    squad_of = _assigned_squads(unit_grids, assignment)
    codes = _unique_codes(unit_grids)
    weights = _workloads(workload, codes)
    lonlat = np.asarray(unit_grids.to_crs(STORAGE_CRS).geometry.array, dtype=object)
    names: dict[str, str | None] = {}
    if squads is not None and "name_zh" in squads.columns:
        names = {
            str(i): (None if pd.isna(n) else str(n))
            for i, n in zip(squads["id"], squads["name_zh"], strict=True)
        }
    squad_ids = sorted(set(squad_of.tolist()))
    polygons = [shapely.union_all(lonlat[squad_of == squad]) for squad in squad_ids]
    crs = working_crs(unit_grids, metric_crs) if len(codes) else CRS.from_user_input(STORAGE_CRS)
    areas = GeoDataFrame(geometry=polygons, crs=STORAGE_CRS).to_crs(crs).area.to_numpy()
    data: dict[str, Any] = {
        "id": squad_ids,
        "squad_id": squad_ids,
        "name_zh": [names.get(squad) for squad in squad_ids],
        "workload": [float(weights[squad_of == squad].sum()) for squad in squad_ids],
        "unit_grid_count": [int((squad_of == squad).sum()) for squad in squad_ids],
        "attrs": [
            {"area_m2": round(float(area), 1), "parts": len(shapely.get_parts(polygon))}
            for polygon, area in zip(polygons, areas, strict=True)
        ],
    }
    return layer_frame("responsibility_grids", data, polygons)


def balance_report(
    assignment: pd.Series,
    workload: pd.Series,
    *,
    unit_grids: GeoDataFrame | None = None,
    metric_crs: CRS | str | None = None,
) -> dict[str, Any]:
    """Say how evenly an assignment shares the workload, and whether every region is in one piece.

    Parameters
    ----------
    assignment
        Unit grid code → squad id.
    workload
        Unit grid code → workload; missing codes weigh 0.
    unit_grids
        The unit grids, with a ``code`` column; needed for the contiguity check, which is None
        without them.
    metric_crs
        The projected CRS to measure in; by default the one for the grids' bounds.

    Returns
    -------
    dict
        JSON-ready: ``squads`` (per squad, by id: ``workload``, ``share`` of the total,
        ``unit_grid_count``, ``pieces`` and ``contiguous``), ``total_workload``,
        ``max_workload``, ``min_workload``, ``max_min_ratio`` (None when the lightest squad has
        none), ``cv`` (the coefficient of variation of the squads' workloads),
        ``district_pieces`` and ``contiguous`` (every squad). A squad counts as contiguous when
        its grids make one piece in every piece of the district it has grids in.

    Raises
    ------
    FieldError
        If ``unit_grids`` is given and a grid has no squad in the assignment.
    ValueError
        If a workload is negative or not a number.
    """
    codes = np.asarray(assignment.index.astype(str), dtype=np.str_)
    squad_of = np.asarray(assignment.astype(str).to_numpy(), dtype=np.str_)
    weights = _workloads(workload, codes)
    squad_ids = sorted(set(squad_of.tolist()))
    loads = np.array([weights[squad_of == squad].sum() for squad in squad_ids], dtype=np.float64)
    total = float(loads.sum())
    pieces: list[int | None] = [None] * len(squad_ids)
    contiguous: list[bool | None] = [None] * len(squad_ids)
    district_pieces: int | None = None
    if unit_grids is not None:
        grid_squads = _assigned_squads(unit_grids, assignment)
        graph = grid_graph(metric_geometries(unit_grids, working_crs(unit_grids, metric_crs)))
        label = np.searchsorted(np.asarray(squad_ids, dtype=np.str_), grid_squads)
        components = graph_components(graph.size, graph.sources, graph.targets)
        district_pieces = len(np.unique(components))
        shares = np.unique(np.column_stack([components, label]), axis=0)
        expected = np.bincount(shares[:, 1], minlength=len(squad_ids))
        found = region_pieces(graph, label, len(squad_ids))
        pieces = [int(p) for p in found]
        contiguous = [bool(f <= e) for f, e in zip(found, expected, strict=True)]
    mean = float(loads.mean()) if len(loads) else 0.0
    smallest = float(loads.min()) if len(loads) else 0.0
    largest = float(loads.max()) if len(loads) else 0.0
    return {
        "squad_count": len(squad_ids),
        "unit_grid_count": len(codes),
        "total_workload": round(total, 3),
        "max_workload": round(largest, 3),
        "min_workload": round(smallest, 3),
        "max_min_ratio": round(largest / smallest, 4) if smallest > 0 else None,
        "cv": round(float(loads.std()) / mean, 4) if mean > 0 else None,
        "district_pieces": district_pieces,
        "contiguous": None if unit_grids is None else all(bool(c) for c in contiguous),
        "squads": [
            {
                "squad_id": squad,
                "workload": round(float(load), 3),
                "share": round(float(load) / total, 4) if total > 0 else None,
                "unit_grid_count": int((squad_of == squad).sum()),
                "pieces": piece,
                "contiguous": connected,
            }
            for squad, load, piece, connected in zip(
                squad_ids, loads, pieces, contiguous, strict=True
            )
        ],
    }
