from __future__ import annotations

import numpy as np
import shapely

from grids._arrays import geometry_array
from grids._clip import segments_of
from grids._face_roads import _ON_ROAD_M, _ring_sides, edge_roads


def test_edge_roads_match_the_roads_within_reach_of_each_middle() -> None:
    roads = np.array(
        [
            shapely.MultiLineString([[(0, 0), (10, 0)], [(10, 5), (20, 5), (20, 10)]]),
            None,
            shapely.LineString([(0, 0), (0, 10), (10, 10)]),
            shapely.LineString([(5, -1), (5, 1)]),
        ],
        dtype=object,
    )
    middles = np.array(
        [
            [5.0, 0.0],  # on the first part of road 0, and the end of road 3
            [10.0, 2.5],  # between the parts of road 0: on neither
            [20.0, 7.0],  # on the second part of road 0
            [0.0, 5.0 + _ON_ROAD_M / 2],  # a hair off road 2, within reach
            [5.0, 10.0 + 2 * _ON_ROAD_M],  # off road 2, out of reach
            [5.0, 0.5],  # on road 3 only
            [30.0, 30.0],  # far from every road
        ]
    )
    edges = geometry_array(shapely.buffer(shapely.points(middles), 1.0))
    edge, road = edge_roads(edges, middles, roads)
    expected_edge, expected_road = shapely.STRtree(roads).query(
        shapely.points(middles), predicate="dwithin", distance=_ON_ROAD_M
    )
    order = np.lexsort((expected_road, expected_edge))
    assert edge.tolist() == expected_edge[order].tolist()
    assert road.tolist() == expected_road[order].tolist()
    assert list(zip(edge.tolist(), road.tolist(), strict=True)) == [
        (0, 0),
        (0, 3),
        (2, 0),
        (3, 2),
        (5, 3),
    ]


def test_ring_sides_keep_the_rings_of_a_face_with_a_hole_apart() -> None:
    faces = np.array(
        [
            shapely.Polygon(
                [(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(4, 4), (6, 4), (6, 6), (4, 6)]]
            ),
            shapely.Polygon([(4, 4), (6, 4), (6, 6), (4, 6)]),
        ],
        dtype=object,
    )
    edges = np.array(
        [
            shapely.LineString([(0, 0), (10, 0)]),  # the outer ring only
            shapely.LineString([(6, 4), (4, 4)]),  # the hole, and the face filling it
            shapely.LineString([(0, 0), (4, 4)]),  # from the end of one ring to the next
        ],
        dtype=object,
    )
    first, second = _ring_sides(segments_of(edges), faces)
    nothing = len(faces)
    assert (first[0], second[0]) == (0, nothing)
    assert sorted((first[1], second[1])) == [0, 1]
    assert first[2] == -1
