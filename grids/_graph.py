"""Graph utilities: union-find over arrays, the neighbour graph of polygons, regions of a graph."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import shapely

from grids._arrays import FloatArray, GeometryArray, IndexArray

AdjacencyRule: TypeAlias = Literal["rook", "queen"]
"""``rook``: neighbours share a stretch of edge; ``queen``: they touch, if only at a corner."""

ADJACENCY_TOLERANCE_M = 0.01
"""Grids this close count as touching: edges digitised twice rarely coincide exactly."""

# A corner-to-corner touch shares at most about 2·√2 times the tolerance of boundary; a rook
# neighbour must share clearly more than that.
_ROOK_MIN_SHARED = 4.0 * ADJACENCY_TOLERANCE_M


def compress_paths(parent: IndexArray) -> IndexArray:
    """Return a parent forest with every node pointing straight at its root (pointer jumping)."""
    while True:
        grandparent = parent[parent]
        if np.array_equal(grandparent, parent):
            return parent
        parent = grandparent


def graph_components(node_count: int, sources: IndexArray, targets: IndexArray) -> IndexArray:
    """Return the connected component of every node of an undirected graph.

    Parameters
    ----------
    node_count
        The number of nodes, numbered from 0.
    sources, targets
        The two ends of every edge.

    Returns
    -------
    numpy.ndarray
        For every node, the smallest node number of its component (so labels are stable).
    """
    parent = np.arange(node_count, dtype=np.intp)
    sources = np.asarray(sources, dtype=np.intp)
    targets = np.asarray(targets, dtype=np.intp)
    while True:
        root_a, root_b = parent[sources], parent[targets]
        differ = root_a != root_b
        if not differ.any():
            return parent
        low = np.minimum(root_a[differ], root_b[differ])
        high = np.maximum(root_a[differ], root_b[differ])
        # Hooking a root under a smaller root keeps the parent forest acyclic.
        np.minimum.at(parent, high, low)
        parent = compress_paths(parent)


def neighbour_pairs(
    geoms: GeometryArray, rule: AdjacencyRule, tolerance_m: float = ADJACENCY_TOLERANCE_M
) -> tuple[IndexArray, IndexArray, FloatArray]:
    """Return the pairs of neighbouring polygons, by position.

    Parameters
    ----------
    geoms
        Polygons in a projected CRS.
    rule
        ``rook`` or ``queen`` (see :data:`AdjacencyRule`).
    tolerance_m
        Polygons this close are taken to touch.

    Returns
    -------
    tuple of numpy.ndarray
        ``(i, j, shared_m)``: the positions of the two polygons, ``i < j``, sorted, and the
        length of edge they share.
    """
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=tolerance_m)
    keep = left < right
    left, right = left[keep], right[keep]
    # The length of one grid's boundary within the tolerance of the other is the shared edge.
    grown = shapely.buffer(geoms, tolerance_m, quad_segs=1, join_style="mitre")
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[left]), grown[right]))
    shared = np.asarray(shared, dtype=np.float64)
    if rule == "rook":
        keep = shared > max(_ROOK_MIN_SHARED, 4.0 * tolerance_m)
        left, right, shared = left[keep], right[keep], shared[keep]
    # The boundary reaches the tolerance past both ends of the shared edge.
    shared = np.maximum(shared - 2.0 * tolerance_m, 0.0)
    order = np.lexsort((right, left))
    return left[order].astype(np.intp), right[order].astype(np.intp), shared[order]


@dataclass
class GridGraph:
    """Unit grids as a graph: neighbours in CSR form, and the grids' centroids."""

    indptr: IndexArray
    indices: IndexArray
    sources: IndexArray
    targets: IndexArray
    x: FloatArray
    y: FloatArray

    @property
    def size(self) -> int:
        """The number of grids."""
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


def grid_graph(geoms: GeometryArray) -> GridGraph:
    """Return the rook neighbour graph of polygons in a projected CRS."""
    left, right, _ = neighbour_pairs(geoms, "rook")
    sources = np.concatenate([left, right])
    targets = np.concatenate([right, left])
    order = np.lexsort((targets, sources))
    sources, targets = sources[order], targets[order]
    indptr = np.searchsorted(sources, np.arange(len(geoms) + 1)).astype(np.intp)
    centroids = shapely.centroid(geoms)
    return GridGraph(
        indptr=indptr,
        indices=targets,
        sources=sources,
        targets=targets,
        x=np.asarray(shapely.get_x(centroids), dtype=np.float64),
        y=np.asarray(shapely.get_y(centroids), dtype=np.float64),
    )


def region_pieces(graph: GridGraph, label: IndexArray, region_count: int) -> IndexArray:
    """Return the number of connected pieces of every region (``label``: each node's region)."""
    same = label[graph.sources] == label[graph.targets]
    pieces = graph_components(graph.size, graph.sources[same], graph.targets[same])
    firsts = np.flatnonzero(pieces == np.arange(graph.size))
    return np.bincount(label[firsts], minlength=region_count).astype(np.intp)
