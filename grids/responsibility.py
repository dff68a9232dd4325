"""Responsibility grids (责任网格): unit grids grouped into the territory of each squad.

Unit grids go to squads either by the squads' drawn territories (:func:`assign_by_territory`) or
by a balancing heuristic (:func:`balanced_assignment`) that gives every squad one contiguous region
of about the same workload. :func:`responsibility_grids` dissolves an assignment into the
``responsibility_grids`` layer and :func:`balance_report` says how even and how contiguous it is.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import warnings
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame
from numpy.typing import NDArray
from pyproj import CRS

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning
from geodata.layers import STORAGE_CRS, layer_spec
from grids.topology import (
    FloatArray,
    IntArray,
    graph_components,
    metric_crs_for,
    metric_geometries,
    neighbour_pairs,
    unit_grid_codes,
)

__all__ = [
    "assign_by_territory",
    "balance_report",
    "balanced_assignment",
    "responsibility_grids",
    "seeds_from_territories",
]

_LLOYD_ROUNDS = 10
_GROWTH_ROUNDS = 40
_GROWTH_STEP = 0.1
_GRID_SHARE = 0.05
_GROWTH_GOOD_SPREAD = 0.02


def _crs(unit_grids: GeoDataFrame, metric_crs: CRS | str | None) -> CRS:
    return CRS.from_user_input(metric_crs) if metric_crs is not None else metric_crs_for(unit_grids)


def _unique_codes(unit_grids: GeoDataFrame) -> NDArray[np.str_]:
    codes = unit_grid_codes(unit_grids)
    unique, counts = np.unique(codes, return_counts=True)
    if (counts > 1).any():
        raise DuplicateIdError(
            f"unit grid code {str(unique[counts > 1][0])!r} is used more than once", field="code"
        )
    return codes


def _territories(squads: GeoDataFrame, crs: CRS) -> tuple[NDArray[np.str_], NDArray[np.object_]]:
    present = ~(squads.geometry.isna() | squads.geometry.is_empty).to_numpy()
    drawn = squads[present]
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
    crs = _crs(unit_grids, metric_crs)
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
    crs = _crs(unit_grids, metric_crs)
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


@dataclass
class _Graph:
    """Unit grids as a graph: neighbours in CSR form, and the grids' centroids."""

    indptr: IntArray
    indices: IntArray
    sources: IntArray
    targets: IntArray
    x: FloatArray
    y: FloatArray

    @property
    def size(self) -> int:
        return len(self.x)

    def lists(self) -> tuple[list[int], list[int], list[float]]:
        """Return the CSR arrays and edge lengths as lists, which plain Python reads faster."""
        lengths = np.hypot(
            self.x[self.targets] - self.x[self.sources], self.y[self.targets] - self.y[self.sources]
        )
        return self.indptr.tolist(), self.indices.tolist(), lengths.tolist()

    @functools.cached_property
    def adjacency(self) -> list[list[int]]:
        """The neighbours of every grid, as lists."""
        indices = self.indices.tolist()
        bounds = self.indptr.tolist()
        return [indices[start:end] for start, end in itertools.pairwise(bounds)]


def _graph(geoms: NDArray[np.object_]) -> _Graph:
    left, right, _ = neighbour_pairs(geoms, "rook")
    sources = np.concatenate([left, right])
    targets = np.concatenate([right, left])
    order = np.lexsort((targets, sources))
    sources, targets = sources[order], targets[order]
    indptr = np.searchsorted(sources, np.arange(len(geoms) + 1)).astype(np.intp)
    centroids = shapely.centroid(geoms)
    return _Graph(
        indptr=indptr,
        indices=targets,
        sources=sources,
        targets=targets,
        x=np.asarray(shapely.get_x(centroids), dtype=np.float64),
        y=np.asarray(shapely.get_y(centroids), dtype=np.float64),
    )


def _workloads(workload: pd.Series, codes: NDArray[np.str_]) -> FloatArray:
    by_code = pd.Series(workload.to_numpy(dtype=np.float64), index=workload.index.astype(str))
    by_code = by_code[~by_code.index.duplicated(keep="first")]
    values = by_code.reindex(codes).fillna(0.0).to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("workloads must be finite and not negative")
    return values


def _distance_to(graph: _Graph, starts: IntArray) -> FloatArray:
    """Return every grid's distance (between centroids) to the nearest of ``starts``."""
    points = np.asarray(shapely.points(graph.x[starts], graph.y[starts]), dtype=object)
    (node, _), distances = shapely.STRtree(points).query_nearest(
        shapely.points(graph.x, graph.y), return_distance=True, all_matches=True
    )
    nearest = np.full(graph.size, np.inf)
    np.minimum.at(nearest, node, distances)
    return nearest


def _free_seeds(
    graph: _Graph, components: IntArray, weights: FloatArray, taken: IntArray, count: int
) -> list[int]:
    """Choose ``count`` starting grids, far from each other and from the ``taken`` grids.

    Seeds are drawn from components big enough to hold one region: farthest-point sampling
    first, then a few Lloyd rounds moving each seed to the workload-weighted middle of the grids
    nearest it, which pulls the seeds off the district's edge.
    """
    if count == 0:
        return []
    labels, sizes = np.unique(components, return_counts=True)
    big = labels[sizes * (count + len(taken)) >= graph.size]
    if len(big) == 0:
        big = labels[[int(np.argmax(sizes))]]
    candidate = np.isin(components, big)
    candidate[taken] = False
    candidates = np.flatnonzero(candidate)
    if len(candidates) < count:
        raise ValueError(f"there are not enough unit grids to start {count} more squads")
    cx, cy = graph.x[candidates], graph.y[candidates]
    chosen: list[int] = []
    if len(taken):
        nearest = _distance_to(graph, taken)[candidates]
    else:
        first = int(np.argmax(np.hypot(cx - cx.mean(), cy - cy.mean())))
        chosen.append(first)
        nearest = np.hypot(cx - cx[first], cy - cy[first])
    while len(chosen) < count:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.hypot(cx - cx[pick], cy - cy[pick]))
    seeds = np.asarray(chosen, dtype=np.intp)
    # Grids without work still count a little, so that empty land pulls too.
    pull = weights[candidates] + 0.1 * max(float(weights[candidates].mean()), 1e-9)
    site_x_fixed, site_y_fixed = graph.x[taken], graph.y[taken]
    for _ in range(_LLOYD_ROUNDS):
        sites = np.asarray(
            shapely.points(
                np.concatenate([cx[seeds], site_x_fixed]),
                np.concatenate([cy[seeds], site_y_fixed]),
            ),
            dtype=object,
        )
        (grid, site), _ = shapely.STRtree(sites).query_nearest(
            shapely.points(cx, cy), return_distance=True, all_matches=True
        )
        site_of = np.full(len(candidates), len(sites), dtype=np.intp)
        np.minimum.at(site_of, grid, site)
        moved = seeds.copy()
        for seed in range(count):
            mine = np.flatnonzero(site_of == seed)
            if len(mine) == 0:
                continue
            mid_x = np.average(cx[mine], weights=pull[mine])
            mid_y = np.average(cy[mine], weights=pull[mine])
            moved[seed] = mine[int(np.argmin(np.hypot(cx[mine] - mid_x, cy[mine] - mid_y)))]
        if len(np.unique(moved)) < count or np.array_equal(moved, seeds):
            break
        seeds = moved
    return [int(candidates[s]) for s in seeds]


def _grow(graph: _Graph, starts: list[IntArray], pinned: IntArray, offsets: FloatArray) -> IntArray:
    """Grow every region from its start grids at once, by distance along the grid graph.

    Each grid goes to the region whose start is nearest along the graph, counting each region's
    ``offset`` on top (a multi-source Dijkstra): every grid is reached from a grid of its own
    region, so a region whose start is connected stays connected. Grids ``pinned`` to a region
    (not -1) are only taken by it; grids no region reaches stay -1.
    """
    label = np.full(graph.size, -1, dtype=np.intp)
    best = [math.inf] * graph.size
    heap: list[tuple[float, int, int]] = []
    for squad, start in enumerate(starts):
        for node in start.tolist():
            heap.append((float(offsets[squad]), node, squad))
    heapq.heapify(heap)
    indptr, indices, lengths = graph.lists()
    pinned_to = pinned.tolist()
    settled = label.tolist()
    while heap:
        distance, node, squad = heapq.heappop(heap)
        if settled[node] >= 0:
            continue
        settled[node] = squad
        for edge in range(indptr[node], indptr[node + 1]):
            neighbour = indices[edge]
            if settled[neighbour] >= 0 or pinned_to[neighbour] not in (-1, squad):
                continue
            reach = distance + lengths[edge]
            if reach < best[neighbour]:
                best[neighbour] = reach
                heapq.heappush(heap, (reach, neighbour, squad))
    label[:] = settled
    return label


def _balance_weights(weights: FloatArray) -> FloatArray:
    """Return the weights regions are balanced by: the workload, and a little for every grid.

    Land without work then still counts, so that it is shared out rather than flooded by one
    region, and a light region can grow across it towards work.
    """
    return weights + _GRID_SHARE * max(float(weights.mean()), 1e-12)


def _balanced_growth(
    graph: _Graph,
    weights: FloatArray,
    starts: list[IntArray],
    *,
    pinned: IntArray,
    attach: Callable[[IntArray], None],
) -> IntArray:
    """Grow the regions, then regrow them with offsets until their workloads are about even.

    Heavier regions get larger offsets, which shrinks them; the most even growth is kept.
    """
    squad_count = len(starts)
    extent = float(np.ptp(graph.x) * np.ptp(graph.y)) if graph.size > 1 else 0.0
    radius = math.sqrt(extent / squad_count) if extent > 0 else 1.0
    balance_weights = _balance_weights(weights)
    offsets = np.zeros(squad_count)
    # Each region's offset moves by its own step, halved whenever it overshoots (as in Rprop):
    # where work is dense a small move of a boundary shifts a lot of it.
    steps = np.full(squad_count, _GROWTH_STEP * radius)
    last_direction = np.zeros(squad_count)
    best_label = np.empty(0, dtype=np.intp)
    best_spread = np.inf
    for _ in range(_GROWTH_ROUNDS):
        label = _grow(graph, starts, pinned, offsets)
        attach(label)
        loads = np.bincount(label, weights=balance_weights, minlength=squad_count)
        spread = float((loads.max() - loads.min()) / loads.mean())
        if spread < best_spread:
            best_label, best_spread = label, spread
        if spread < _GROWTH_GOOD_SPREAD:
            break
        direction = np.sign(loads - loads.mean())
        overshot = direction * last_direction < 0
        steps = np.where(overshot, steps * 0.5, np.minimum(steps * 1.2, radius))
        offsets = offsets + steps * direction
        offsets -= offsets.min()
        last_direction = direction
    return best_label


def _attach_islands(geoms: NDArray[np.object_], components: IntArray, label: IntArray) -> None:
    """Give every piece of the district no region reached to the region nearest it, in place."""
    free = label < 0
    if not free.any() or free.all():
        return
    taken = np.flatnonzero(~free)
    tree = shapely.STRtree(geoms[taken])
    for piece in np.unique(components[free]):
        members = np.flatnonzero(components == piece)
        (_, nearest), distances = tree.query_nearest(
            geoms[members], return_distance=True, all_matches=True
        )
        closest = np.lexsort((taken[nearest], distances))[0]
        label[members] = label[taken[nearest[closest]]]


def _stays_connected(graph: _Graph, label: IntArray, node: int) -> bool:
    """Whether the region of ``node`` keeps its pieces together without ``node``.

    Breadth-first searches from each of the node's neighbours in the region, in turn, merging
    where they meet: they meet within a step or two when the node is no cut vertex, and otherwise
    one of them runs out after exploring the smaller side only.
    """
    region = label[node]
    adjacent = graph.adjacency
    targets = [n for n in adjacent[node] if label[n] == region]
    if len(targets) <= 1:
        return True
    owner = {node: -1} | {target: k for k, target in enumerate(targets)}
    parent = list(range(len(targets)))
    queues = [deque([target]) for target in targets]
    groups = len(targets)

    def root(search: int) -> int:
        while parent[search] != search:
            parent[search] = parent[parent[search]]
            search = parent[search]
        return search

    while True:
        for search in range(len(targets)):
            if parent[search] != search:
                continue
            queue = queues[search]
            if not queue:
                return False
            for neighbour in adjacent[queue.popleft()]:
                if label[neighbour] != region:
                    continue
                found = owner.get(neighbour)
                if found is None:
                    owner[neighbour] = search
                    queue.append(neighbour)
                elif found >= 0 and (other := root(found)) != search:
                    parent[other] = search
                    queue.extend(queues[other])
                    queues[other] = deque()
                    groups -= 1
                    if groups == 1:
                        return True


def _refine(
    graph: _Graph,
    weights: FloatArray,
    label: IntArray,
    *,
    movable: NDArray[np.bool_],
    max_rounds: int,
) -> None:
    """Move boundary grids from heavier to lighter neighbouring regions, in place.

    A grid of workload w > 0 moves from a region of workload d to a neighbouring one of workload
    r only if w < d - r, which lowers the sum of the squared workloads. A grid without work
    moves likewise by the balance weights (:func:`_balance_weights`), which lets a light region
    grow across empty land towards work; the sum of squares of those falls with every such move
    while the workloads stay, so the refinement ends. Of a region's moves, the one leaving the
    heavier of the two regions lightest goes first.
    """
    squad_count = int(label.max()) + 1
    share = _GRID_SHARE * max(float(weights.mean()), 1e-12)
    loads = np.bincount(label, weights=weights, minlength=squad_count).astype(np.float64)
    counts = np.bincount(label, minlength=squad_count)
    for _ in range(max_rounds):
        moved = False
        balance = loads + share * counts
        # The edges between regions at the start of the round; moves within it are rechecked.
        cut = np.flatnonzero(
            (label[graph.sources] != label[graph.targets]) & movable[graph.sources]
        )
        cut_sources, cut_targets = graph.sources[cut], graph.targets[cut]
        for donor in np.lexsort((np.arange(squad_count), -balance)):
            if counts[donor] <= 1:
                continue
            on_edge = (label[cut_sources] == donor) & (label[cut_targets] != donor)
            nodes, receivers = cut_sources[on_edge], label[cut_targets[on_edge]]
            moving = weights[nodes]
            idle = moving == 0
            balance = loads + share * counts
            useful = np.where(
                idle,
                share < balance[donor] - balance[receivers],
                moving < loads[donor] - loads[receivers],
            )
            nodes, receivers, moving, idle = (
                nodes[useful],
                receivers[useful],
                moving[useful],
                idle[useful],
            )
            after = np.where(
                idle,
                np.maximum(balance[donor] - share, balance[receivers] + share),
                np.maximum(loads[donor] - moving, loads[receivers] + moving),
            )
            for position in np.lexsort((receivers, nodes, after, idle)):
                node, receiver = int(nodes[position]), int(receivers[position])
                if _stays_connected(graph, label, node):
                    label[node] = receiver
                    loads[donor] -= weights[node]
                    loads[receiver] += weights[node]
                    counts[donor] -= 1
                    counts[receiver] += 1
                    moved = True
                    break
        if not moved:
            return


def _region_pieces(graph: _Graph, label: IntArray, squad_count: int) -> NDArray[np.intp]:
    """Return the number of connected pieces of every region."""
    same = label[graph.sources] == label[graph.targets]
    pieces = graph_components(graph.size, graph.sources[same], graph.targets[same])
    firsts = np.flatnonzero(pieces == np.arange(graph.size))
    return np.bincount(label[firsts], minlength=squad_count).astype(np.intp)


def _fixed_and_seeds(
    codes: NDArray[np.str_],
    squads: list[str],
    fixed: Mapping[str, Collection[str]],
    seeds: Mapping[str, str],
) -> tuple[IntArray, list[list[int]]]:
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
    crs = _crs(unit_grids, metric_crs)

    # Work in code order so that the result does not depend on the order of the rows.
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    label, starts = _fixed_and_seeds(sorted_codes, squads, fixed or {}, seeds or {})
    movable = label < 0

    geoms = metric_geometries(unit_grids, crs)[order]
    weights = _workloads(workload, sorted_codes)
    graph = _graph(geoms)
    components = graph_components(graph.size, graph.sources, graph.targets)
    unstarted = [s for s in range(len(squads)) if not starts[s]]
    taken = np.asarray(sorted({n for start in starts for n in start}), dtype=np.intp)
    free_seeds = _free_seeds(graph, components, weights, taken, len(unstarted))
    for squad_index, node in zip(unstarted, free_seeds, strict=True):
        starts[squad_index].append(node)

    start_arrays = [np.unique(np.asarray(start, dtype=np.intp)) for start in starts]
    pinned = label.copy()
    for squad_index, start in enumerate(start_arrays):
        pinned[start] = squad_index
    label = _balanced_growth(
        graph,
        weights,
        start_arrays,
        pinned=pinned,
        attach=lambda grown: _attach_islands(geoms, components, grown),
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
    _refine(graph, weights, label, movable=movable, max_rounds=max_rounds)

    # Within each piece of the district, a squad's grids should be one region.
    shares = np.unique(np.column_stack([components, label]), axis=0)
    expected = np.bincount(shares[:, 1], minlength=len(squads))
    apart = np.flatnonzero(_region_pieces(graph, label, len(squads)) > expected)
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


def _layer_frame(name: str, data: dict[str, Any], geometry: Sequence[Any]) -> GeoDataFrame:
    """Return a layer with exactly the spec's columns, in its dtypes, sorted by id."""
    spec = layer_spec(name)
    columns: dict[str, Any] = {"id": pd.array(data["id"], dtype="str")}
    for column in spec.columns:
        values = data[column.name]
        if column.kind == "text":
            columns[column.name] = pd.array(values, dtype="str")
        elif column.kind == "real":
            columns[column.name] = np.asarray(values, dtype=np.float64)
        elif column.kind == "integer":
            columns[column.name] = np.asarray(values, dtype=np.int64)
        else:
            columns[column.name] = pd.array(values)
    columns["attrs"] = pd.Series(data["attrs"], dtype=object)
    frame = GeoDataFrame(columns, geometry=list(geometry), crs=STORAGE_CRS)
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def _assigned_squads(unit_grids: GeoDataFrame, assignment: pd.Series) -> NDArray[np.str_]:
    codes = _unique_codes(unit_grids)
    by_code = pd.Series(assignment.to_numpy(dtype=object), index=assignment.index.astype(str))
    squads = by_code[~by_code.index.duplicated(keep="first")].reindex(codes)
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
    crs = _crs(unit_grids, metric_crs) if len(codes) else CRS.from_user_input(STORAGE_CRS)
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
    return _layer_frame("responsibility_grids", data, polygons)


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
        graph = _graph(metric_geometries(unit_grids, _crs(unit_grids, metric_crs)))
        label = np.searchsorted(np.asarray(squad_ids, dtype=np.str_), grid_squads)
        components = graph_components(graph.size, graph.sources, graph.targets)
        district_pieces = len(np.unique(components))
        shares = np.unique(np.column_stack([components, label]), axis=0)
        expected = np.bincount(shares[:, 1], minlength=len(squad_ids))
        found = _region_pieces(graph, label, len(squad_ids))
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
