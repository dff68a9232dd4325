"""Travel times between the places of a roster, along the road network.

An officer who staffs one post in a slot and another in the next slot must get there in time: at a
patrol speed (an e-bike, 15 km/h by default), the move must fit in the allowance between slots
(15 minutes by default). :class:`RoadNetwork` is the graph of the ``roads`` layer in a metric CRS:
vertices shared where roads meet (coordinates equal to ``snap_m``), edges weighted by their length.
Distances are found with Dijkstra's algorithm, cut off at the distance that can be travelled within
the allowance, so that only the neighbourhood of a place is searched.

A *place* is where a requirement is served: a post (its ends), a patrol route (the ends of each of
its posts), a zone (a point inside it) or an event's point. A person at a place may be anywhere on
it, so the distance between two places is the shortest road distance between any of their points;
each point is joined to the network at the nearest point of the nearest road.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from geodata.errors import FieldError
from grids.policy import DutyPolicy

__all__ = [
    "DEFAULT_ALLOWANCE_MIN",
    "DEFAULT_SPEED_KMH",
    "METRIC_CRS",
    "RoadNetwork",
    "TravelTimes",
    "demand_places",
]

METRIC_CRS = "EPSG:4547"
DEFAULT_SPEED_KMH = 15.0
"""Patrol speed of an officer on an e-bike."""
DEFAULT_ALLOWANCE_MIN = 15.0
"""Time allowed to move between the places of two consecutive slots."""


@dataclass(frozen=True)
class _Anchor:
    """A point joined to the network: its position and the road distance to each end of its edge."""

    x: float
    y: float
    edge: int
    along_m: float
    offset_m: float
    ends: tuple[tuple[int, float], ...]


class RoadNetwork:
    """The road graph of a ``roads`` layer, for shortest road distances in metres.

    Parameters
    ----------
    roads
        The roads layer (lines, any CRS that can be projected).
    metric_crs
        The projected CRS distances are measured in.
    snap_m
        Coordinates closer than this (in a grid of this size) are one vertex: roads meet where
        they share a vertex.

    Raises
    ------
    FieldError
        If the roads have no CRS or no line.
    """

    def __init__(
        self, roads: GeoDataFrame, *, metric_crs: str = METRIC_CRS, snap_m: float = 0.5
    ) -> None:
        if roads.crs is None:
            raise FieldError("the roads have no CRS", field="geometry")
        lines = roads.geometry.to_crs(metric_crs)
        self._node_of: dict[tuple[int, int], int] = {}
        self._xy: list[tuple[float, float]] = []
        self.adjacency: list[list[tuple[int, float]]] = []
        segments: list[LineString] = []
        self._edge_ends: list[tuple[int, int, float]] = []
        for geometry in lines:
            if geometry is None or geometry.is_empty:
                continue
            parts = getattr(geometry, "geoms", [geometry])
            for part in parts:
                coords = np.asarray(part.coords)[:, :2]
                nodes = [self._node(x, y, snap_m) for x, y in coords]
                for (a, b), (p, q) in zip(
                    itertools.pairwise(nodes), itertools.pairwise(coords), strict=True
                ):
                    if a == b:
                        continue
                    length = float(math.dist(p, q))
                    self.adjacency[a].append((b, length))
                    self.adjacency[b].append((a, length))
                    segments.append(LineString([self._xy[a], self._xy[b]]))
                    self._edge_ends.append((a, b, length))
        if not segments:
            raise FieldError("the roads hold no line to travel along", field="geometry")
        self._segments = np.asarray(segments, dtype=object)
        self._tree = shapely.STRtree(self._segments)
        self._cache: dict[tuple[int, float], dict[int, float]] = {}

    def _node(self, x: float, y: float, snap_m: float) -> int:
        key = (round(x / snap_m), round(y / snap_m))
        node = self._node_of.get(key)
        if node is None:
            node = len(self._xy)
            self._node_of[key] = node
            self._xy.append((float(x), float(y)))
            self.adjacency.append([])
        return node

    @property
    def node_count(self) -> int:
        """Return the number of vertices."""
        return len(self._xy)

    @property
    def edge_count(self) -> int:
        """Return the number of edges."""
        return len(self._edge_ends)

    def anchor(self, point: Point) -> _Anchor:
        """Return ``point`` (in the metric CRS) joined to the nearest point of the nearest road."""
        edge = int(self._tree.nearest(point))
        a, b, length = self._edge_ends[edge]
        segment = self._segments[edge]
        along = float(segment.project(point))
        offset = float(segment.distance(point))
        return _Anchor(
            float(point.x),
            float(point.y),
            edge,
            along,
            offset,
            ((a, offset + along), (b, offset + max(0.0, length - along))),
        )

    def distances_from(self, node: int, limit_m: float) -> dict[int, float]:
        """Return the road distance from ``node`` to every vertex within ``limit_m`` metres."""
        key = (node, limit_m)
        found = self._cache.get(key)
        if found is not None:
            return found
        best: dict[int, float] = {node: 0.0}
        queue: list[tuple[float, int]] = [(0.0, node)]
        done: set[int] = set()
        while queue:
            distance, here = heapq.heappop(queue)
            if here in done:
                continue
            done.add(here)
            for there, length in self.adjacency[here]:
                candidate = distance + length
                if candidate <= limit_m and candidate < best.get(there, math.inf):
                    best[there] = candidate
                    heapq.heappush(queue, (candidate, there))
        self._cache[key] = best
        return best

    def distance_m(self, first: _Anchor, second: _Anchor, limit_m: float) -> float:
        """Return the road distance between two anchors, or infinity if more than ``limit_m``."""
        if math.hypot(first.x - second.x, first.y - second.y) > limit_m:
            return math.inf
        best = math.inf
        if first.edge == second.edge:
            best = abs(first.along_m - second.along_m) + first.offset_m + second.offset_m
        for node, to_node in first.ends:
            if to_node > limit_m:
                continue
            reach = self.distances_from(node, limit_m)
            for other, from_other in second.ends:
                between = reach.get(other)
                if between is not None:
                    best = min(best, to_node + between + from_other)
        return best if best <= limit_m else math.inf


class TravelTimes:
    """Minutes to move between places, at a patrol speed, along a :class:`RoadNetwork`.

    Parameters
    ----------
    network
        The road graph.
    places
        Place key → its points in the network's metric CRS.
    speed_kmh
        Travel speed.
    allowance_min
        The time a move between consecutive slots may take; longer moves are not computed
        exactly (:meth:`minutes` says infinity).

    Raises
    ------
    ValueError
        If the speed or the allowance is not positive.
    """

    def __init__(
        self,
        network: RoadNetwork,
        places: Mapping[str, Sequence[Point]],
        *,
        speed_kmh: float = DEFAULT_SPEED_KMH,
        allowance_min: float = DEFAULT_ALLOWANCE_MIN,
    ) -> None:
        if not (speed_kmh > 0 and allowance_min > 0):
            raise ValueError("the speed and the allowance must be more than 0")
        self.network = network
        self.speed_kmh = speed_kmh
        self.allowance_min = allowance_min
        self.limit_m = speed_kmh * 1000 / 60 * allowance_min
        self._anchors = {
            key: tuple(network.anchor(point) for point in points) for key, points in places.items()
        }
        self._minutes: dict[tuple[str, str], float] = {}

    def knows(self, place: str) -> bool:
        """Return whether ``place`` has a position."""
        return place in self._anchors

    def minutes(self, first: str, second: str) -> float:
        """Return the minutes from place ``first`` to ``second``.

        Zero for the same place, or when either has no position (a task anywhere in a squad);
        infinity when the move takes longer than the allowance.
        """
        if first == second or first not in self._anchors or second not in self._anchors:
            return 0.0
        key = (first, second) if first < second else (second, first)
        found = self._minutes.get(key)
        if found is None:
            metres = min(
                (
                    self.network.distance_m(a, b, self.limit_m)
                    for a in self._anchors[first]
                    for b in self._anchors[second]
                ),
                default=math.inf,
            )
            found = metres / 1000 / self.speed_kmh * 60
            self._minutes[key] = found
        return found

    def reachable(self, first: str, second: str) -> bool:
        """Return whether a move from ``first`` to ``second`` fits in the allowance."""
        return self.minutes(first, second) <= self.allowance_min


def _ends(geometry: BaseGeometry) -> list[Point]:
    if geometry.geom_type == "Point":
        return [geometry]  # type: ignore[list-item]
    parts = getattr(geometry, "geoms", [geometry])
    points: list[Point] = []
    for part in parts:
        if part.geom_type == "Point":
            points.append(part)
        elif not part.is_empty:
            points += [Point(part.coords[0]), Point(part.coords[-1])]
    return points


def _metric(frame: GeoDataFrame, metric_crs: str) -> dict[str, BaseGeometry]:
    if frame.crs is None:
        raise FieldError("a layer given for travel times has no CRS", field="geometry")
    projected = frame.geometry.to_crs(metric_crs)
    return {
        str(key): geometry
        for key, geometry in zip(frame["id"], projected, strict=True)
        if geometry is not None and not geometry.is_empty
    }


def demand_places(
    demand: pd.DataFrame,
    posts: GeoDataFrame,
    *,
    zones: GeoDataFrame | None = None,
    policy: DutyPolicy | None = None,
    metric_crs: str = METRIC_CRS,
) -> dict[str, list[Point]]:
    """Return the points of the place of each requirement's ``post_id``, in ``metric_crs``.

    A post gives its ends (a point post, its point); a patrol route or an event at a post, the
    ends of each of its ``post_ids``; an operation at a zone (``operation@zone``), a point inside
    the zone; an event at a point, its point (from ``policy``). Operations at a squad, full
    deployments and leader duty have no place: they may be served anywhere.

    Parameters
    ----------
    demand
        Requirements from :func:`grids.demand.demand_for_week`.
    posts
        The posts layer.
    zones
        The zones layer, for operations at zones.
    policy
        The duty policy, for events at points.
    metric_crs
        The CRS of the points returned.

    Raises
    ------
    FieldError
        If a layer has no CRS.
    """
    post_geometry = _metric(posts, metric_crs)
    zone_geometry = _metric(zones, metric_crs) if zones is not None else {}
    event_points: dict[str, Point] = {}
    if policy is not None:
        located = [(e.id, e.point) for e in policy.events if e.point is not None]
        if located:
            lonlat = shapely.points([point for _, point in located])
            projected = GeoDataFrame(geometry=lonlat, crs="EPSG:4326").to_crs(metric_crs)
            event_points = {key: p for (key, _), p in zip(located, projected.geometry, strict=True)}
    places: dict[str, list[Point]] = {}
    for post_id, post_ids in _unique_places(demand):
        if post_id in places:
            continue
        if post_id in post_geometry:
            places[post_id] = _ends(post_geometry[post_id])
        elif post_ids:
            points = [
                p for key in post_ids if key in post_geometry for p in _ends(post_geometry[key])
            ]
            if points:
                places[post_id] = points
        elif "@" in post_id and post_id.split("@", 1)[1] in zone_geometry:
            places[post_id] = [zone_geometry[post_id.split("@", 1)[1]].representative_point()]
        elif post_id in event_points:
            places[post_id] = [event_points[post_id]]
    return places


def _unique_places(demand: pd.DataFrame) -> Iterable[tuple[str, tuple[str, ...]]]:
    seen: set[str] = set()
    for post_id, post_ids in zip(demand["post_id"], demand["post_ids"], strict=True):
        key = str(post_id)
        if key in seen:
            continue
        seen.add(key)
        text = post_ids if isinstance(post_ids, str) else ""
        yield key, tuple(p for p in text.split(";") if p)
