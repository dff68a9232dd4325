"""Regions of about equal workload grown on the unit grid graph, and evened out.

The steps of :func:`grids.responsibility.balanced_assignment`: seeds far apart
(:func:`free_seeds`); regions grown from them all at once, and regrown until their workloads are
about even (:func:`balanced_growth`); pieces of the district that no region reaches given to the
region nearest them (:func:`attach_islands`); then boundary grids moved from heavier to lighter
regions (:func:`refine`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable

import numpy as np
import shapely

from grids._arrays import BoolArray, FloatArray, GeometryArray, IndexArray
from grids._graph import GridGraph

_LLOYD_ROUNDS = 10
_GROWTH_ROUNDS = 40
_GROWTH_STEP = 0.1
_GRID_SHARE = 0.05
_GROWTH_GOOD_SPREAD = 0.02


def _distance_to(graph: GridGraph, starts: IndexArray) -> FloatArray:
    """Return every grid's distance (between centroids) to the nearest of ``starts``."""
    points = np.asarray(shapely.points(graph.x[starts], graph.y[starts]), dtype=object)
    (node, _), distances = shapely.STRtree(points).query_nearest(
        shapely.points(graph.x, graph.y), return_distance=True, all_matches=True
    )
    nearest = np.full(graph.size, np.inf)
    np.minimum.at(nearest, node, distances)
    return nearest


def free_seeds(
    graph: GridGraph, components: IndexArray, weights: FloatArray, taken: IndexArray, count: int
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


def _grow(
    graph: GridGraph, starts: list[IndexArray], pinned: IndexArray, offsets: FloatArray
) -> IndexArray:
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


def balanced_growth(
    graph: GridGraph,
    weights: FloatArray,
    starts: list[IndexArray],
    *,
    pinned: IndexArray,
    attach: Callable[[IndexArray], None],
) -> IndexArray:
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


def attach_islands(geoms: GeometryArray, components: IndexArray, label: IndexArray) -> None:
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


def _stays_connected(graph: GridGraph, label: IndexArray, node: int) -> bool:
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


def refine(
    graph: GridGraph,
    weights: FloatArray,
    label: IndexArray,
    *,
    movable: BoolArray,
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
