"""Streets cut into posts: roads chained into streets, and the chains cut where posts end.

The steps 1 and 2 of :func:`grids.posts.posts_from_roads`: the roads of a street are joined into
chains through the nodes where just two of them meet (:func:`segment_posts`), each chain is cut at
crossings with other streets, and each piece into posts of about the target length whose cuts slide
to nearby crossings and unit grid edges. A post comes out as its road pieces (:data:`Part`).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from grids._arrays import BoolArray, FloatArray, GeometryArray, IndexArray

if TYPE_CHECKING:
    from grids.posts import PostPolicy

# Positions along a chain this close are the same place (rounding of the metric lengths).
_SAME_PLACE_M = 1e-6


class Roads(NamedTuple):
    """Roads sorted by id, with their coordinates in EPSG:4326 and in metres."""

    ids: NDArray[np.str_]
    names: NDArray[np.object_]
    levels: NDArray[np.str_]
    street: IndexArray
    """The street of each road: one per (name, level), one per level for unnamed roads."""
    lonlat: FloatArray
    metric: FloatArray
    first: IndexArray
    size: IndexArray
    along: FloatArray
    """Distance along its road of each coordinate, in metres."""
    length: FloatArray
    lines: GeometryArray
    """The roads in the metric CRS."""
    crs: pyproj.CRS


class _Chain(NamedTuple):
    """Roads that run on one into the next: each road's index, direction and start along it."""

    roads: IndexArray
    forward: BoolArray
    offset: FloatArray
    length: float


def _chains(roads: Roads) -> list[_Chain]:
    """Join the roads of each street into chains through the nodes where just two of them meet.

    Chains are oriented the same way whatever order the roads come in: an open chain starts at
    the end whose road has the smaller id; a ring starts at its smallest road, in its direction.
    """
    street = roads.street
    count = len(street)
    ends = np.concatenate([roads.lonlat[roads.first], roads.lonlat[roads.first + roads.size - 1]])
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    # incidence i is the start (i < count) or the end of road i % count
    key = np.concatenate([street, street]).astype(np.int64) * (node.max(initial=0) + 1) + node
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    group_start = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    group_size = np.diff(np.r_[np.flatnonzero(group_start), len(key)])
    degree = np.repeat(group_size, group_size)
    partner = np.full(2 * count, -1, dtype=np.intp)
    pairs = np.flatnonzero(group_start & (degree == 2))
    partner[order[pairs]] = order[pairs + 1]
    partner[order[pairs + 1]] = order[pairs]
    length = roads.length
    visited = length <= 0
    chains = []
    for seed in range(count):
        if visited[seed]:
            continue
        visited[seed] = True
        ahead: list[tuple[int, bool]] = []
        behind: list[tuple[int, bool]] = []
        ring = False
        leaving = seed + count
        while (joined := int(partner[leaving])) >= 0:
            road, at_start = joined % count, joined < count
            ring = road == seed
            if visited[road]:
                break
            visited[road] = True
            ahead.append((road, at_start))
            leaving = road + count if at_start else road
        leaving = seed
        while not ring and (joined := int(partner[leaving])) >= 0:
            road, at_start = joined % count, joined < count
            if visited[road]:
                break
            visited[road] = True
            behind.append((road, not at_start))
            leaving = road + count if at_start else road
        members = [*reversed(behind), (seed, True), *ahead]
        chains.append(_oriented(members, ring=ring, length=length))
    return chains


def _oriented(members: list[tuple[int, bool]], *, ring: bool, length: FloatArray) -> _Chain:
    """Return the chain of ``members``, turned and started where :func:`_chains` says."""
    reverse = [(road, not forward) for road, forward in reversed(members)]
    if ring:
        if not members[int(np.argmin([r for r, _ in members]))][1]:
            members = reverse
        start = int(np.argmin([r for r, _ in members]))
        members = members[start:] + members[:start]
    elif members[0][0] > members[-1][0]:
        members = reverse
    road_ids = np.array([r for r, _ in members], dtype=np.intp)
    # road k of the chain runs from joint k to joint k + 1, exactly these numbers
    joints = np.concatenate([[0.0], np.cumsum(length[road_ids])])
    return _Chain(
        road_ids, np.array([f for _, f in members], dtype=bool), joints[:-1], float(joints[-1])
    )


def _meeting_points(
    lines: GeometryArray, road: IndexArray, others: GeometryArray
) -> tuple[IndexArray, FloatArray]:
    """Return where each road ``lines[road]`` meets the matching ``others``: road, metres along."""
    met, owner = shapely.get_parts(shapely.intersection(lines[road], others), return_index=True)
    kind = np.where(shapely.is_empty(met), -1, shapely.get_type_id(met))
    points, stretches = kind == 0, kind == 1
    found = np.concatenate(
        [met[points], shapely.get_point(met[stretches], 0), shapely.get_point(met[stretches], -1)]
    )
    owner = road[np.concatenate([owner[points], owner[stretches], owner[stretches]])]
    return owner, shapely.line_locate_point(lines[owner], found)


def _crossings(roads: Roads, cuttable: BoolArray) -> tuple[IndexArray, FloatArray]:
    """Return where the roads of streets with a post length meet roads of other streets."""
    subject = np.flatnonzero(cuttable)
    found, other = shapely.STRtree(roads.lines).query(roads.lines[subject], predicate="intersects")
    found = subject[found]
    different = roads.street[found] != roads.street[other]
    return _meeting_points(roads.lines, found[different], roads.lines[other[different]])


def _grid_edges(
    roads: Roads, grids: GeometryArray, cuttable: BoolArray
) -> tuple[IndexArray, FloatArray]:
    """Return where the roads of streets with a post length meet unit grid edges."""
    subject = np.flatnonzero(cuttable)
    edges = shapely.boundary(grids)
    found, edge = shapely.STRtree(edges).query(roads.lines[subject], predicate="intersects")
    return _meeting_points(roads.lines, subject[found], edges[edge])


def _merge_short(bounds: list[float], min_length: float) -> list[float]:
    """Drop cuts until no piece is shorter than ``min_length``, or one piece is left.

    The shortest piece goes first, into the shorter of its neighbours.
    """
    while len(bounds) > 2:
        sizes = np.diff(bounds)
        shortest = int(np.argmin(sizes))
        if sizes[shortest] >= min_length:
            break
        if shortest == 0:
            drop = 1
        elif shortest == len(sizes) - 1 or sizes[shortest - 1] <= sizes[shortest + 1]:
            drop = shortest
        else:
            drop = shortest + 1
        del bounds[drop]
    return bounds


def _section_cuts(
    start: float, end: float, target: float, policy: PostPolicy, places: FloatArray
) -> list[float]:
    """Cut ``[start, end]`` into equal posts, sliding the cuts to nearby ``places`` where sensible.

    A cut slides at most ``snap_fraction`` of a post's length, and only so far that no post gets
    shorter than the minimum or longer than the target.
    """
    span = end - start
    count = max(1, math.ceil(span / target - 1e-9))
    if count > 1 and span / count < policy.min_length_m:
        count = max(1, math.floor(span / policy.min_length_m + 1e-9))
    piece = span / count
    longest, shortest = max(target, piece), min(policy.min_length_m, piece)
    window = policy.snap_fraction * piece
    plain = [start + i * piece for i in range(1, count)]
    cuts: list[float] = []
    for i, planned in enumerate(plain):
        previous = cuts[-1] if cuts else start
        following = plain[i + 1] if i + 1 < len(plain) else end
        low = max(planned - window, previous + shortest, following - longest)
        high = min(planned + window, following - shortest, previous + longest)
        near = places[(places >= low) & (places <= high)]
        cuts.append(float(near[np.argmin(np.abs(near - planned))]) if len(near) else planned)
    return cuts


def _chain_bounds(
    chain: _Chain,
    target: float | None,
    policy: PostPolicy,
    crossings: FloatArray,
    edges: FloatArray,
) -> list[float]:
    """Return the positions along a chain where its posts start and end."""
    if target is None:
        return [0.0, chain.length]
    crossings = crossings[(crossings > _SAME_PLACE_M) & (crossings < chain.length - _SAME_PLACE_M)]
    hard = list(crossings) if policy.cut_at_intersections else []
    sections = _merge_short([0.0, *hard, chain.length], policy.min_length_m)
    places = np.unique(np.concatenate([crossings, edges]))
    bounds = [0.0]
    for start, end in itertools.pairwise(sections):
        bounds += [*_section_cuts(start, end, target, policy, places), end]
    return bounds


class _Arrangement(NamedTuple):
    """Where each road lies in its chain: the chain, its start and stop along it, its direction."""

    chain: IndexArray
    offset: FloatArray
    stop: FloatArray
    forward: BoolArray


def _by_chain(
    found: tuple[IndexArray, FloatArray], roads: Roads, arranged: _Arrangement, chains: int
) -> list[FloatArray]:
    """Turn (road, metres along it) into the sorted positions along each chain.

    A position within rounding of a road's end is put exactly where that end is in the chain.
    """
    road, along = found
    forward, offset, stop = arranged.forward[road], arranged.offset[road], arranged.stop[road]
    position = np.where(forward, offset + along, stop - along)
    at_start, at_end = along <= _SAME_PLACE_M, along >= roads.length[road] - _SAME_PLACE_M
    position = np.where(at_start, np.where(forward, offset, stop), position)
    position = np.where(at_end, np.where(forward, stop, offset), position)
    chain = arranged.chain[road]
    order = np.lexsort((position, chain))
    chain, position = chain[order], position[order]
    edges = np.searchsorted(chain, np.arange(chains + 1))
    return [position[edges[c] : edges[c + 1]] for c in range(chains)]


Part: TypeAlias = tuple[int, float, float, bool]
"""A piece of a post: its road, from and to along it (in its own direction), forwards or not."""


def _chain_posts(chain: _Chain, bounds: list[float], length: FloatArray) -> list[list[Part]]:
    """Return the road pieces of each post of a chain, given where the posts start and end."""
    posts = []
    stops = np.append(chain.offset[1:], chain.length)
    first = 0
    for start, end in itertools.pairwise(bounds):
        while first < len(stops) and stops[first] <= start:
            first += 1
        parts = []
        k = first
        while k < len(stops) and chain.offset[k] < end:
            road, offset, size = int(chain.roads[k]), chain.offset[k], float(length[chain.roads[k]])
            # exactly 0 and the road's length where the post takes the road from or to its end
            low = 0.0 if start <= offset else min(start - offset, size)
            high = size if end >= stops[k] else min(end - offset, size)
            if high > low:
                forward = bool(chain.forward[k])
                parts.append(
                    (road, low, high, True) if forward else (road, size - high, size - low, False)
                )
            k += 1
        if parts:
            posts.append(parts)
    return posts


def segment_posts(
    roads: Roads, policy: PostPolicy, grids: GeometryArray | None
) -> list[list[Part]]:
    """Return the posts of the roads, each as its road pieces."""
    chains = _chains(roads)
    targets = [policy.length_by_level[roads.levels[chain.roads[0]]] for chain in chains]
    count = len(roads.length)
    arranged = _Arrangement(
        np.zeros(count, dtype=np.intp), np.zeros(count), np.zeros(count), np.ones(count, dtype=bool)
    )
    cuttable = np.zeros(len(roads.length), dtype=bool)
    for number, (chain, target) in enumerate(zip(chains, targets, strict=True)):
        arranged.chain[chain.roads] = number
        arranged.offset[chain.roads] = chain.offset
        arranged.stop[chain.roads] = np.append(chain.offset[1:], chain.length)
        arranged.forward[chain.roads] = chain.forward
        cuttable[chain.roads] = target is not None
    crossings = _by_chain(_crossings(roads, cuttable), roads, arranged, len(chains))
    edges = [np.empty(0)] * len(chains)
    if grids is not None and policy.cut_at_grid_boundaries and len(grids):
        edges = _by_chain(_grid_edges(roads, grids, cuttable), roads, arranged, len(chains))
    posts = []
    for chain, target, crossing, edge in zip(chains, targets, crossings, edges, strict=True):
        bounds = _chain_bounds(chain, target, policy, crossing, edge)
        posts += _chain_posts(chain, bounds, roads.length)
    return posts
