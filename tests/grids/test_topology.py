"""The topology report of unit grids, and the neighbour graph of unit grids."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import HANKOU, METRIC, X0, Y0
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from geodata.errors import FieldError
from geodata.imports import import_layer
from grids.topology import (
    TopologyReport,
    graph_components,
    topology_report,
    unit_grid_adjacency,
)

CELL = 100.0


def _code(i: int, j: int) -> str:
    return f"410108001{j + 1:03d}{i + 1:03d}"


def _frame(features: list[tuple[str, shapely.Geometry]], **columns: list[Any]) -> gpd.GeoDataFrame:
    """Return a lon/lat frame of metric geometries with ids (and codes, for polygons)."""
    ids = [key for key, _ in features]
    data: dict[str, Any] = {"id": ids, **columns}
    geoms = [geom for _, geom in features]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=METRIC).to_crs("EPSG:4326")


def grids_frame(cells: dict[str, shapely.Geometry]) -> gpd.GeoDataFrame:
    codes = list(cells)
    return _frame(list(cells.items()), code=codes, mode=["square"] * len(codes))


def cell(i: float, j: float, width: float = CELL, height: float = CELL) -> shapely.Geometry:
    return box(X0 + i * CELL, Y0 + j * CELL, X0 + i * CELL + width, Y0 + j * CELL + height)


def square_cells(nx: int, ny: int) -> dict[str, shapely.Geometry]:
    return {_code(i, j): cell(i, j) for j in range(ny) for i in range(nx)}


def district(nx: int, ny: int) -> gpd.GeoDataFrame:
    return _frame([("410108", box(X0, Y0, X0 + nx * CELL, Y0 + ny * CELL))])


def _xy(x: float, y: float) -> tuple[float, float]:
    return (X0 + x, Y0 + y)


@pytest.fixture
def clean_inputs() -> dict[str, gpd.GeoDataFrame]:
    """A 5×5 partition, two communities along cell edges, posts inside, connected roads."""
    communities = _frame(
        [
            ("410108001001", box(*_xy(0, 0), *_xy(200, 500))),
            ("410108001002", box(*_xy(200, 0), *_xy(500, 500))),
        ],
        code=["410108001001", "410108001002"],
    )
    subdistricts = _frame([("410108001", box(*_xy(0, 0), *_xy(500, 500)))], code=["410108001"])
    posts = _frame(
        [
            ("P-1", LineString([_xy(50, 50), _xy(450, 50)])),
            ("P-2", Point(_xy(250, 250))),
            ("P-3", LineString([_xy(0, 100), _xy(0, 400)])),
        ],
        kind=["segment", "point", "segment"],
    )
    roads = _frame(
        [
            ("R-1", LineString([_xy(10, 250), _xy(250, 250), _xy(490, 250)])),
            ("R-2", LineString([_xy(250, 10), _xy(250, 250), _xy(250, 490)])),
            ("R-3", LineString([_xy(490, 250), _xy(490, 490)])),
        ]
    )
    return {
        "unit_grids": grids_frame(square_cells(5, 5)),
        "boundary": district(5, 5),
        "communities": communities,
        "subdistricts": subdistricts,
        "posts": posts,
        "roads": roads,
    }


def _report(inputs: dict[str, gpd.GeoDataFrame], **changes: Any) -> TopologyReport:
    arguments = {**inputs, **changes}
    unit_grids = arguments.pop("unit_grids")
    return topology_report(unit_grids, metric_crs=METRIC, **arguments)


def test_clean_partition_reports_nothing(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    report = _report(clean_inputs)
    assert report.clean
    for check in (
        report.invalid,
        report.gaps,
        report.outside,
        report.overlaps,
        report.slivers,
        report.community_crossings,
        report.subdistrict_crossings,
        report.posts_outside,
    ):
        assert check is not None
        assert check.count == 0
        assert check.total == 0
        assert check.examples == ()
    assert report.roads is not None
    assert report.roads.component_count == 1
    assert report.roads.small_km == 0
    assert report.roads.total_km == pytest.approx(0.48 + 0.48 + 0.24, rel=1e-6)
    assert report.unit_grid_count == 25
    assert report.metric_crs == METRIC


def test_default_metric_crs_is_the_gauss_kruger_zone(
    clean_inputs: dict[str, gpd.GeoDataFrame],
) -> None:
    inputs = dict(clean_inputs)
    report = topology_report(inputs.pop("unit_grids"), **inputs)
    assert report.metric_crs == "EPSG:4547"
    assert report.clean


def test_to_dict_is_json_and_stable(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    cells = square_cells(5, 5)
    del cells[_code(2, 2)]
    first = _report(clean_inputs, unit_grids=grids_frame(cells)).to_dict()
    second = _report(clean_inputs, unit_grids=grids_frame(cells)).to_dict()
    text = json.dumps(first, ensure_ascii=False, sort_keys=True)
    assert text == json.dumps(second, ensure_ascii=False, sort_keys=True)
    assert json.loads(text)["gaps"]["count"] == 1
    assert first["clean"] is False


def test_planted_gap_is_found_with_its_area_and_neighbours(
    clean_inputs: dict[str, gpd.GeoDataFrame],
) -> None:
    cells = square_cells(5, 5)
    del cells[_code(2, 2)]
    # A thin slit well under a square metre is not a gap.
    cells[_code(4, 4)] = cell(4, 4, width=CELL - 0.001)
    report = _report(clean_inputs, unit_grids=grids_frame(cells))
    assert report.gaps.count == 1
    assert report.gaps.total == pytest.approx(CELL * CELL, rel=1e-6)
    (example,) = report.gaps.examples
    assert example["area_m2"] == pytest.approx(CELL * CELL, rel=1e-6)
    neighbours = {_code(i, j) for i in (1, 2, 3) for j in (1, 2, 3)} - {_code(2, 2)}
    assert set(example["unit_grid_codes"]) == neighbours
    hole_centre = gpd.GeoSeries([Point(_xy(250, 250))], crs=METRIC).to_crs("EPSG:4326")[0]
    assert example["lon"] == pytest.approx(hole_centre.x, abs=0.001)
    assert example["lat"] == pytest.approx(hole_centre.y, abs=0.001)
    assert not report.clean


def test_planted_overlap_and_outside_part(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    cells = square_cells(5, 5)
    # Cell (1, 1) reaches 30 m into cell (2, 1); cell (4, 0) reaches 20 m outside the district.
    cells[_code(1, 1)] = cell(1, 1, width=CELL + 30)
    cells[_code(4, 0)] = cell(4, 0, width=CELL + 20)
    report = _report(clean_inputs, unit_grids=grids_frame(cells))
    assert report.overlaps.count == 1
    (overlap,) = report.overlaps.examples
    assert overlap["codes"] == sorted([_code(1, 1), _code(2, 1)])
    assert overlap["area_m2"] == pytest.approx(30 * CELL, rel=1e-6)
    assert report.outside.count == 1
    assert report.outside.examples[0]["code"] == _code(4, 0)
    assert report.outside.total == pytest.approx(20 * CELL, rel=1e-6)
    assert report.gaps.count == 0


def test_slivers_by_area_and_by_shape(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    cells = square_cells(5, 5)
    tiny, thin = "410108001099001", "410108001099002"
    # Thin: 2 m × 400 m; tiny: 5 m × 5 m, both outside the district and overlapping nothing.
    cells[thin] = box(X0 - 10, Y0, X0 - 8, Y0 + 400)
    cells[tiny] = box(X0 - 30, Y0, X0 - 25, Y0 + 5)
    report = _report(clean_inputs, unit_grids=grids_frame(cells))
    assert report.slivers.count == 2
    by_code = {example["code"]: example for example in report.slivers.examples}
    assert by_code[tiny]["area_m2"] == pytest.approx(25, rel=1e-6)
    assert by_code[thin]["area_m2"] == pytest.approx(800, rel=1e-6)
    assert by_code[thin]["compactness"] == pytest.approx(4 * np.pi * 800 / 804**2, abs=1e-4)
    assert report.slivers.total == pytest.approx(825, rel=1e-6)
    # Thresholds are the caller's: with a lower compactness bound only the tiny one is left.
    looser = _report(clean_inputs, unit_grids=grids_frame(cells), sliver_compactness=0.01)
    assert [example["code"] for example in looser.slivers.examples] == [tiny]


def test_grid_crossing_a_community_line(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    # Community 2 takes the right 40 m of cell (2, 2), and a speck of 0.5 m² of cell (0, 0).
    right = box(*_xy(260, 200), *_xy(300, 300))
    speck = box(*_xy(50, 50), *_xy(50.5, 51))
    whole = box(*_xy(0, 0), *_xy(500, 500))
    communities = _frame(
        [
            ("410108001001", whole.difference(right).difference(speck)),
            ("410108001002", shapely.union(right, speck)),
        ],
        code=["410108001001", "410108001002"],
    )
    report = _report(clean_inputs, communities=communities)
    crossings = report.community_crossings
    assert crossings is not None
    assert crossings.count == 1
    (example,) = crossings.examples
    assert example["code"] == _code(2, 2)
    assert example["stray_area_m2"] == pytest.approx(40 * CELL, rel=1e-6)
    assert [part["code"] for part in example["parts"]] == ["410108001001", "410108001002"]
    assert [part["area_m2"] for part in example["parts"]] == pytest.approx([6000, 4000], rel=1e-6)
    assert report.subdistrict_crossings is not None
    assert report.subdistrict_crossings.count == 0


def test_grid_crossing_a_subdistrict_line(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    subdistricts = _frame(
        [
            ("410108001", box(*_xy(0, 0), *_xy(500, 150))),
            ("410108002", box(*_xy(0, 150), *_xy(500, 500))),
            ("410108003", None),
        ],
        code=["410108001", "410108002", "410108003"],
    )
    report = _report(clean_inputs, subdistricts=subdistricts)
    crossings = report.subdistrict_crossings
    assert crossings is not None
    assert crossings.count == 5
    assert {example["code"] for example in crossings.examples} == {_code(i, 1) for i in range(5)}
    assert crossings.total == pytest.approx(5 * 50 * CELL, rel=1e-6)


def test_posts_outside_every_grid(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    posts = _frame(
        [
            ("P-in", LineString([_xy(50, 50), _xy(450, 50)])),
            ("P-out-20", LineString([_xy(400, 300), _xy(520, 300)])),
            ("P-edge", LineString([_xy(400, 350), _xy(500.5, 350)])),
            ("P-point-out", Point(_xy(250, 530))),
            ("P-point-edge", Point(_xy(500, 100))),
        ],
        kind=["segment", "segment", "segment", "point", "point"],
    )
    # A gap under part of a segment post counts as outside, too.
    cells = square_cells(5, 5)
    del cells[_code(1, 0)]
    report = _report(clean_inputs, posts=posts, unit_grids=grids_frame(cells))
    check = report.posts_outside
    assert check is not None
    by_id = {example["id"]: example for example in check.examples}
    assert set(by_id) == {"P-in", "P-out-20", "P-point-out"}
    assert by_id["P-out-20"]["outside_m"] == pytest.approx(20, abs=0.05)
    assert by_id["P-in"]["outside_m"] == pytest.approx(CELL, abs=0.05)
    assert by_id["P-point-out"]["outside_m"] == pytest.approx(30, rel=1e-6)
    assert by_id["P-point-out"]["kind"] == "point"
    assert check.count == 3


def test_disconnected_road_pieces(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    roads = _frame(
        [
            ("R-1", LineString([_xy(10, 250), _xy(250, 250), _xy(490, 250)])),
            # Crosses R-1 at a node both have: joined.
            ("R-2", LineString([_xy(250, 10), _xy(250, 250), _xy(250, 490)])),
            # Ends 0.5 m from R-1: snapped on.
            ("R-3", LineString([_xy(100, 250.5), _xy(100, 400)])),
            # Crosses R-1 without a shared node (a bridge): a piece of its own.
            ("R-bridge", LineString([_xy(400, 100), _xy(400, 400)])),
            # Ends 3 m from R-2: a piece of its own with R-5.
            ("R-4", LineString([_xy(253, 100), _xy(350, 100)])),
            ("R-5", LineString([_xy(350, 100), _xy(350, 150)])),
        ]
    )
    report = _report(clean_inputs, roads=roads)
    pieces = report.roads
    assert pieces is not None
    assert pieces.component_count == 3
    assert pieces.road_count == 6
    assert pieces.largest_km == pytest.approx((480 + 480 + 149.5) / 1000, abs=1e-3)
    assert pieces.small_km == pytest.approx((300 + 97 + 50) / 1000, abs=1e-3)
    assert [example["road_ids"] for example in pieces.examples] == [["R-4", "R-5"], ["R-bridge"]]
    assert [example["road_count"] for example in pieces.examples] == [2, 1]
    assert not report.clean
    # Joined wherever they cross, the bridge joins the main network.
    joined = _report(clean_inputs, roads=roads, join_crossings=True).roads
    assert joined is not None
    assert joined.component_count == 2
    assert [example["road_ids"] for example in joined.examples] == [["R-4", "R-5"]]


def test_missing_inputs_are_not_checked(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    report = topology_report(
        clean_inputs["unit_grids"], boundary=clean_inputs["boundary"], metric_crs=METRIC
    )
    assert report.community_crossings is None
    assert report.posts_outside is None
    assert report.roads is None
    assert report.to_dict()["roads"] is None
    assert report.clean


def test_examples_are_capped_and_largest_first(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    cells = square_cells(5, 5)
    # Gaps of growing size, apart from each other.
    for size, (i, j) in enumerate([(0, 0), (2, 0), (4, 0), (1, 2), (3, 2)], start=1):
        cells[_code(i, j)] = cell(i, j, height=CELL - 10 * size)
    report = _report(clean_inputs, unit_grids=grids_frame(cells), max_examples=2)
    assert report.gaps.count == 5
    assert len(report.gaps.examples) == 2
    assert [e["area_m2"] for e in report.gaps.examples] == pytest.approx([5000, 4000], rel=1e-6)
    assert report.gaps.total == pytest.approx(1000 * (1 + 2 + 3 + 4 + 5), rel=1e-6)


def test_invalid_grid_is_reported_and_repaired(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    cells = square_cells(5, 5)
    # A bow tie over cell (2, 2): two triangles of a quarter cell each, crossing in the middle.
    corners = [_xy(200, 200), _xy(300, 300), _xy(300, 200), _xy(200, 300), _xy(200, 200)]
    cells[_code(2, 2)] = shapely.Polygon(corners)
    report = _report(clean_inputs, unit_grids=grids_frame(cells))
    assert report.invalid.count == 1
    assert report.invalid.examples[0]["code"] == _code(2, 2)
    assert "Self-intersection" in report.invalid.examples[0]["reason"]
    assert report.invalid.total == pytest.approx(CELL * CELL / 2, rel=1e-6)
    # Repaired, the bow tie leaves the two other quarters of its cell uncovered.
    assert report.gaps.total == pytest.approx(CELL * CELL / 2, rel=1e-6)


def test_errors(clean_inputs: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(FieldError, match="code"):
        _report(clean_inputs, unit_grids=clean_inputs["unit_grids"].drop(columns="code"))
    empty_boundary = clean_inputs["boundary"].iloc[:0]
    with pytest.raises(ValueError, match="boundary"):
        _report(clean_inputs, boundary=empty_boundary)


@settings(max_examples=25, deadline=None)
@given(
    nx=st.integers(2, 7),
    ny=st.integers(2, 7),
    holes=st.sets(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=10),
)
def test_gaps_add_up_to_the_missing_cells(nx: int, ny: int, holes: set[tuple[int, int]]) -> None:
    holes = {(i, j) for i, j in holes if i < nx and j < ny}
    cells = square_cells(nx, ny)
    for i, j in holes:
        del cells[_code(i, j)]
    if not cells:
        return
    report = topology_report(grids_frame(cells), boundary=district(nx, ny), metric_crs=METRIC)
    assert report.gaps.total == pytest.approx(len(holes) * CELL * CELL, rel=1e-6)
    assert (report.gaps.count == 0) == (not holes)
    assert report.gaps.count <= len(holes)
    assert report.overlaps.count == 0
    assert report.slivers.count == 0


def test_adjacency_rook_and_queen() -> None:
    grids = grids_frame(square_cells(3, 3))
    rook = unit_grid_adjacency(grids, metric_crs=METRIC)
    queen = unit_grid_adjacency(grids, rule="queen", metric_crs=METRIC)
    assert len(rook) == 12
    assert len(queen) == 20
    assert rook["shared_m"].to_numpy() == pytest.approx(np.full(12, CELL), abs=1e-6)
    assert queen["shared_m"].max() == pytest.approx(CELL, abs=1e-6)
    assert queen["shared_m"].min() == pytest.approx(0, abs=1e-6)
    pairs = set(zip(rook["code_a"], rook["code_b"], strict=True))
    assert (_code(0, 0), _code(1, 0)) in pairs
    assert (_code(0, 0), _code(1, 1)) not in pairs


def test_adjacency_tolerates_edges_that_do_not_quite_meet() -> None:
    cells = {_code(0, 0): cell(0, 0), _code(1, 0): box(X0 + CELL + 0.004, Y0, X0 + 200, Y0 + CELL)}
    adjacency = unit_grid_adjacency(grids_frame(cells), metric_crs=METRIC)
    assert len(adjacency) == 1
    apart = {_code(0, 0): cell(0, 0), _code(1, 0): box(X0 + CELL + 0.5, Y0, X0 + 200, Y0 + CELL)}
    assert len(unit_grid_adjacency(grids_frame(apart), metric_crs=METRIC)) == 0


def test_graph_components() -> None:
    labels = graph_components(6, np.array([4, 1, 3]), np.array([2, 2, 5]))
    assert labels.tolist() == [0, 1, 1, 3, 1, 3]
    assert graph_components(
        3, np.array([], dtype=np.intp), np.array([], dtype=np.intp)
    ).tolist() == [
        0,
        1,
        2,
    ]


@pytest.mark.slow
def test_hankou_roads_and_square_grids() -> None:
    roads = import_layer(HANKOU, "roads").frame
    metric = roads.to_crs(METRIC)
    min_x, min_y, max_x, max_y = metric.total_bounds
    size = 250.0
    xs = np.arange(min_x, max_x, size)
    ys = np.arange(min_y, max_y, size)
    cells = {
        f"420102001{j + 1:03d}{i + 1:03d}": box(x, y, x + size, y + size)
        for j, y in enumerate(ys)
        for i, x in enumerate(xs)
    }
    grids = grids_frame(cells)
    boundary = gpd.GeoDataFrame(
        {"id": ["hankou"]}, geometry=[shapely.union_all(list(cells.values()))], crs=METRIC
    ).to_crs("EPSG:4326")
    report = topology_report(grids, boundary=boundary, roads=roads)
    assert report.gaps.count == 0
    assert report.overlaps.count == 0
    assert report.roads is not None
    assert report.roads.road_count == len(roads)
    assert report.roads.total_km == pytest.approx(roads["length_m"].sum() / 1000, rel=1e-3)
    assert report.roads.component_count >= 1
    assert report.roads.largest_km + report.roads.small_km == pytest.approx(
        report.roads.total_km, abs=0.01
    )
    # A clip of a city network is mostly one piece.
    assert report.roads.largest_km > 0.8 * report.roads.total_km
