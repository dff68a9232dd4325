"""The road ↔ unit grid table: lengths of lines inside grids, their sums and workloads."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import HANKOU, METRIC, metric_polygons
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon, box

from geodata.crs import projected_crs_for
from geodata.errors import FieldError, MissingCRSError
from geodata.imports import import_layer
from grids.road_grid import (
    EDGE_TOLERANCE_M,
    MIN_PAIR_LENGTH_M,
    TABLE_COLUMNS,
    WORKLOAD_WEIGHTS,
    grid_road_summary,
    line_polygon_lengths,
    post_grid_lengths,
    road_grid_table,
    workload_by_grid,
)
from grids.unit_grids import unit_grid_build, unit_grids_from_roads
from server.cli import boundary_from_roads

X0, Y0 = 460_000.0, 3_850_000.0
LEVELS = ("strict", "controlled", "regulated")


def grid_frame(polygons: list[shapely.Geometry], crs: str = METRIC) -> gpd.GeoDataFrame:
    """Unit grids with the layer's columns and 15-digit codes, numbered in the given order."""
    codes = [f"410108001001{i + 1:03d}" for i in range(len(polygons))]
    return gpd.GeoDataFrame(
        {
            "id": codes,
            "code": codes,
            "subdistrict_code": "410108001",
            "community_code": "410108001001",
            "area_m2": [p.area for p in polygons],
            "mode": "square",
            "squad_id": None,
            "attrs": [{} for _ in polygons],
        },
        geometry=polygons,
        crs=crs,
    )


def square_grids(
    columns: int, rows: int, side: float, x0: float = X0, y0: float = Y0
) -> gpd.GeoDataFrame:
    cells = [
        box(x0 + i * side, y0 + j * side, x0 + (i + 1) * side, y0 + (j + 1) * side)
        for j in range(rows)
        for i in range(columns)
    ]
    return grid_frame(cells)


def line_frame(lines: list[shapely.Geometry], levels: list[str] | None = None) -> gpd.GeoDataFrame:
    levels = levels or [LEVELS[i % 3] for i in range(len(lines))]
    return gpd.GeoDataFrame(
        {
            "id": [f"L{i:03d}" for i in range(len(lines))],
            "name_zh": [f"路{i}" for i in range(len(lines))],
            "level": levels,
        },
        geometry=lines,
        crs=METRIC,
    )


def overlay_baseline(
    lines: gpd.GeoDataFrame, grids: gpd.GeoDataFrame
) -> dict[tuple[str, str], float]:
    pieces = gpd.overlay(
        lines[["id", "geometry"]],
        grids[["code", "geometry"]],
        how="intersection",
        keep_geom_type=True,
    )
    return {
        (code, line_id): float(length)
        for code, line_id, length in zip(pieces["code"], pieces["id"], pieces.length, strict=True)
        if length >= MIN_PAIR_LENGTH_M
    }


def as_dict(table: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {
        (code, line_id): float(length)
        for code, line_id, length in zip(
            table["grid_code"], table["line_id"], table["length_m"], strict=True
        )
    }


def assert_same_pairs(
    got: dict[tuple[str, str], float], expected: dict[tuple[str, str], float]
) -> None:
    for key in got.keys() | expected.keys():
        if key in got and key in expected:
            assert got[key] == pytest.approx(expected[key], abs=1e-6), key
        else:
            # only a pair right at the threshold may fall on either side of it
            present = got.get(key, expected.get(key))
            assert present == pytest.approx(MIN_PAIR_LENGTH_M, abs=1e-6), key


coordinate = st.floats(0.0, 300.0, allow_nan=False, allow_infinity=False)
point = st.tuples(coordinate, coordinate)


@st.composite
def simple_lines(draw: st.DrawFn) -> LineString:
    coords = draw(st.lists(point, min_size=2, max_size=5))
    line = LineString([(X0 + x, Y0 + y) for x, y in coords])
    assume(line.length > 0.1 and line.is_simple)
    return line


@st.composite
def grid_polygons(draw: st.DrawFn) -> Polygon:
    kind = draw(st.sampled_from(["box", "convex", "ell", "holed"]))
    x, y = draw(point)
    w, h = draw(st.floats(5.0, 150.0)), draw(st.floats(5.0, 150.0))
    outer = box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)
    if kind == "box":
        return outer
    if kind == "convex":
        corners = draw(st.lists(point, min_size=3, max_size=7))
        hull = shapely.MultiPoint([(X0 + a, Y0 + b) for a, b in corners]).convex_hull
        assume(hull.geom_type == "Polygon" and hull.area > 1.0)
        return hull
    if kind == "ell":
        return outer.difference(box(X0 + x + w / 2, Y0 + y + h / 2, X0 + x + w, Y0 + y + h))
    return outer.difference(box(X0 + x + w / 4, Y0 + y + h / 4, X0 + x + w / 2, Y0 + y + h / 2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(simple_lines(), min_size=1, max_size=6),
    st.lists(grid_polygons(), min_size=1, max_size=5),
)
def test_table_equals_overlay_baseline(lines: list[LineString], polygons: list[Polygon]) -> None:
    grids = grid_frame(polygons)
    frame = line_frame(lines)
    table = road_grid_table(frame, grids, metric_crs=METRIC, edge_tolerance_m=0.0)
    assert_same_pairs(as_dict(table), overlay_baseline(frame, grids))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(0.1, 29.9), st.floats(0.1, 29.9)), min_size=2, max_size=5),
        min_size=1,
        max_size=5,
    ),
    st.lists(
        st.tuples(
            st.sampled_from("xy"), st.integers(1, 5), st.floats(0.1, 29.9), st.floats(0.1, 29.9)
        ),
        max_size=3,
    ),
    st.floats(3.0, 10.0),
)
def test_lengths_per_line_sum_to_the_line_length(
    paths: list[list[tuple[float, float]]],
    along_edges: list[tuple[str, int, float, float]],
    side: float,
) -> None:
    # a square tiling of side `side`, 6 by 6, and lines inside it: some anywhere, some exactly
    # along a grid line between two rows or columns of grids
    scale = 6 * side / 30.0
    lines = [LineString([(X0 + x * scale, Y0 + y * scale) for x, y in path]) for path in paths]
    for axis, k, one, other in along_edges:
        at, (a, b) = k * side, sorted((one * scale, other * scale))
        assume(b - a > 0.1)
        ends = [(at, a), (at, b)] if axis == "x" else [(a, at), (b, at)]
        lines.append(LineString([(X0 + p, Y0 + q) for p, q in ends]))
    lines = [line for line in lines if line.length > 0]
    assume(lines)
    table = road_grid_table(line_frame(lines), square_grids(6, 6, side), metric_crs=METRIC)
    totals = table.groupby("line_id")["length_m"].sum()
    for number, line in enumerate(lines):
        # pairs under the threshold are left out of the table: one per grid a line touches
        assert totals.get(f"L{number:03d}", 0.0) == pytest.approx(
            line.length, abs=36 * MIN_PAIR_LENGTH_M
        )
    exact = line_polygon_lengths(
        np.array(lines, dtype=object), np.asarray(square_grids(6, 6, side).geometry.array)
    )
    sums = np.bincount(exact.line, weights=exact.length, minlength=len(lines))
    np.testing.assert_allclose(sums, [line.length for line in lines], rtol=1e-9, atol=1e-6)


def test_a_line_along_the_edge_between_two_grids_counts_half_in_each() -> None:
    grids = square_grids(2, 1, 100.0)
    along = LineString([(X0 + 100.0, Y0 + 10.0), (X0 + 100.0, Y0 + 90.0)])
    near = LineString([(X0 + 10.0, Y0 + 100.0 + 0.004), (X0 + 90.0, Y0 + 100.0 - 0.003)])
    table = road_grid_table(line_frame([along, near]), grids, metric_crs=METRIC)
    halves = table[table["line_id"] == "L000"]
    assert list(halves["grid_code"]) == ["410108001001001", "410108001001002"]
    np.testing.assert_allclose(halves["length_m"], [40.0, 40.0])
    # along the outer edge of the grids there is one grid to give it to
    outer = table[table["line_id"] == "L001"]
    assert list(outer["grid_code"]) == ["410108001001001"]
    assert outer["length_m"].iloc[0] == pytest.approx(near.length)
    # taken literally, the line on the common edge lies in both grids
    literal = road_grid_table(line_frame([along]), grids, metric_crs=METRIC, edge_tolerance_m=0.0)
    np.testing.assert_allclose(literal["length_m"], [80.0, 80.0])


def test_roads_on_the_edges_of_grids_built_from_them_are_shared_fairly() -> None:
    # grids whose edges are the roads themselves, as polygonizing the road network makes them,
    # after a round trip through longitude/latitude as stored
    xs, ys = [0.0, 130.0, 260.0, 400.0], [0.0, 110.0, 250.0]
    roads = [LineString([(X0 + x, Y0 + ys[0]), (X0 + x, Y0 + ys[-1])]) for x in xs]
    roads += [LineString([(X0 + xs[0], Y0 + y), (X0 + xs[-1], Y0 + y)]) for y in ys]
    faces = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(roads)))))
    grids = grid_frame(faces).to_crs("EPSG:4326")
    lines = line_frame(roads).to_crs("EPSG:4326")
    table = road_grid_table(lines, grids, metric_crs=METRIC)
    totals = table.groupby("line_id")["length_m"].sum()
    np.testing.assert_allclose(totals.to_numpy(), [road.length for road in roads], rtol=1e-9)
    # an inner road: each block's side of it half in the grid on either side
    expected = {"L001": [55.0, 55.0, 70.0, 70.0], "L005": [65.0, 65.0, 65.0, 65.0, 70.0, 70.0]}
    for line_id, shares in expected.items():
        got = sorted(table.loc[table["line_id"] == line_id, "length_m"])
        np.testing.assert_allclose(got, shares, atol=2 * EDGE_TOLERANCE_M)
    # the same road with the edges taken literally falls to either side as rounding has it
    literal = road_grid_table(lines, grids, metric_crs=METRIC, edge_tolerance_m=0.0)
    literal_totals = literal.groupby("line_id")["length_m"].sum()
    assert not np.allclose(literal_totals.to_numpy(), [road.length for road in roads], rtol=1e-6)


def test_table_columns_order_and_dtypes() -> None:
    grids = square_grids(3, 1, 100.0)
    lines = [
        LineString([(X0 + 250.0, Y0 + 50.0), (X0 + 5.0, Y0 + 60.0)]),
        LineString([(X0 + 20.0, Y0 + 20.0), (X0 + 40.0, Y0 + 30.0)]),
        LineString([(X0 + 500.0, Y0 + 500.0), (X0 + 600.0, Y0 + 500.0)]),
    ]
    frame = line_frame(lines)
    frame.loc[1, "name_zh"] = None
    table = road_grid_table(frame.iloc[::-1], grids, metric_crs=METRIC)
    assert list(table.columns) == TABLE_COLUMNS
    assert list(zip(table["grid_code"], table["line_id"], strict=True)) == [
        ("410108001001001", "L000"),
        ("410108001001001", "L001"),
        ("410108001001002", "L000"),
        ("410108001001003", "L000"),
    ]
    assert table["name_zh"].isna().tolist() == [False, True, False, False]
    assert str(table["grid_code"].dtype) == "str"
    assert str(table["length_m"].dtype) == "float64"


def test_summary_and_workload_add_up() -> None:
    grids = square_grids(2, 2, 100.0)
    lines = [
        LineString([(X0 + 10.0, Y0 + 10.0), (X0 + 190.0, Y0 + 10.0)]),
        LineString([(X0 + 50.0, Y0 + 5.0), (X0 + 50.0, Y0 + 195.0)]),
        LineString([(X0 + 120.0, Y0 + 150.0), (X0 + 180.0, Y0 + 150.0)]),
    ]
    table = road_grid_table(
        line_frame(lines, ["strict", "controlled", "regulated"]), grids, metric_crs=METRIC
    )
    summary = grid_road_summary(table)
    assert list(summary.columns) == [
        "grid_code",
        "strict_m",
        "controlled_m",
        "regulated_m",
        "total_m",
    ]
    np.testing.assert_allclose(
        summary[["strict_m", "controlled_m", "regulated_m"]].sum(axis=1), summary["total_m"]
    )
    by_grid = table.groupby("grid_code")["length_m"].sum()
    np.testing.assert_allclose(summary.set_index("grid_code")["total_m"], by_grid)
    first = summary.iloc[0]
    assert (first["strict_m"], first["controlled_m"]) == pytest.approx((90.0, 95.0))
    workload = workload_by_grid(table)
    weights = table["level"].map(dict(WORKLOAD_WEIGHTS))
    expected = (table["length_m"] * weights).groupby(table["grid_code"]).sum()
    np.testing.assert_allclose(workload.to_numpy(), expected.to_numpy())
    assert workload.index.is_monotonic_increasing
    assert workload.name == "workload"
    doubled = workload_by_grid(table, {"strict": 6.0, "controlled": 4.0, "regulated": 2.0})
    np.testing.assert_allclose(doubled.to_numpy(), 2 * workload.to_numpy())


def test_workload_needs_a_weight_for_every_level() -> None:
    table = pd.DataFrame(
        {
            "grid_code": ["g1", "g2"],
            "line_id": ["a", "b"],
            "name_zh": [None, None],
            "level": ["strict", "walkway"],
            "length_m": [1.0, 2.0],
        }
    )
    with pytest.raises(FieldError, match="walkway") as error:
        workload_by_grid(table)
    assert error.value.row == 2
    assert error.value.field == "level"


def test_post_grid_lengths_follow_the_post() -> None:
    grids = square_grids(3, 1, 100.0)
    east = LineString([(X0 + 20.0, Y0 + 50.0), (X0 + 280.0, Y0 + 50.0)])
    posts = gpd.GeoDataFrame(
        {"id": ["P-east", "P-west", "P-point"]},
        geometry=[east, east.reverse(), shapely.Point(X0 + 10.0, Y0 + 10.0)],
        crs=METRIC,
    )
    runs = post_grid_lengths(posts, grids, metric_crs=METRIC)
    assert list(runs.columns) == ["post_id", "grid_code", "length_m", "from_m"]
    east_runs, west_runs = runs[runs["post_id"] == "P-east"], runs[runs["post_id"] == "P-west"]
    assert list(east_runs["grid_code"].str[-1]) == ["1", "2", "3"]
    assert list(west_runs["grid_code"].str[-1]) == ["3", "2", "1"]
    np.testing.assert_allclose(east_runs["from_m"], [0.0, 80.0, 180.0])
    np.testing.assert_allclose(east_runs["length_m"], [80.0, 100.0, 80.0])
    assert "P-point" not in set(runs["post_id"])


def test_inputs_without_ids_codes_or_crs_are_refused() -> None:
    grids = square_grids(1, 1, 100.0)
    lines = line_frame([LineString([(X0, Y0), (X0 + 10.0, Y0 + 10.0)])])
    with pytest.raises(FieldError, match="'id'"):
        road_grid_table(lines.drop(columns="id"), grids)
    with pytest.raises(FieldError, match="'code'"):
        road_grid_table(lines, grids.drop(columns="code"))
    with pytest.raises(MissingCRSError):
        road_grid_table(lines.set_crs(None, allow_override=True), grids)


def test_hankou_roads_in_a_100_m_grid() -> None:
    roads = import_layer(HANKOU, "roads").frame
    crs = projected_crs_for(tuple(float(v) for v in roads.total_bounds))
    min_x, min_y, max_x, max_y = roads.to_crs(crs).total_bounds
    columns, rows = int((max_x - min_x) // 100) + 3, int((max_y - min_y) // 100) + 3
    grids = (
        square_grids(columns, rows, 100.0, min_x - 100.0, min_y - 100.0)
        .set_crs(crs, allow_override=True)
        .to_crs("EPSG:4326")
    )
    table = road_grid_table(roads, grids)
    totals = table.groupby("line_id")["length_m"].sum().reindex(roads["id"]).to_numpy()
    # every road lies inside the grids: all of it is counted once (pairs under 1 cm aside)
    np.testing.assert_allclose(totals, roads["length_m"], rtol=1e-9, atol=2 * MIN_PAIR_LENGTH_M)
    assert table["level"].isin(LEVELS).all()
    assert table["name_zh"].isna().all()
    literal = road_grid_table(roads, grids, edge_tolerance_m=0.0)
    baseline = overlay_baseline(roads.to_crs(crs), grids.to_crs(crs))
    assert_same_pairs(as_dict(literal), baseline)
    assert EDGE_TOLERANCE_M > 0


def test_hankou_roads_in_unit_grids_built_from_them_match_an_overlay_reference() -> None:
    # grids whose edges are the roads, some merged across roads and some split by a square grid
    roads = import_layer(HANKOU, "roads").frame
    grids = unit_grids_from_roads(
        roads, boundary_from_roads(roads, file=HANKOU.name), county_code="420102"
    )
    table = road_grid_table(roads, grids, metric_crs=METRIC)
    road_lines = np.asarray(roads.to_crs(METRIC).geometry.array, dtype=object)
    polygons = np.asarray(grids.to_crs(METRIC).geometry.array, dtype=object)
    # every metre of road is counted once, though most of it runs along the edges of grids
    exact = line_polygon_lengths(road_lines, polygons)
    sums = np.bincount(exact.line, weights=exact.length, minlength=len(road_lines))
    np.testing.assert_allclose(sums, shapely.length(road_lines), rtol=1e-9, atol=1e-6)
    # while the overlay, taking the edges literally, counts some of it in both grids
    reference = overlay_baseline(roads.to_crs(METRIC), grids.to_crs(METRIC))
    assert sum(reference.values()) > 1.02 * shapely.length(road_lines).sum()
    # a pair's length differs from the overlay's only by what of the road keeps so close to the
    # grid's edge that it is shared with (or, by rounding, lost to) the grid on the other side
    got = as_dict(table)
    pairs = sorted(got.keys() | reference.keys())
    row_of_line = {line_id: row for row, line_id in enumerate(roads["id"])}
    row_of_grid = {code: row for row, code in enumerate(grids["code"])}
    line_rows = np.array([row_of_line[line_id] for _, line_id in pairs])
    grid_rows = np.array([row_of_grid[code] for code, _ in pairs])
    rims = shapely.buffer(shapely.boundary(polygons), 2 * EDGE_TOLERANCE_M)
    near_edge = shapely.length(shapely.intersection(road_lines[line_rows], rims[grid_rows]))
    difference = np.array([got.get(pair, 0.0) - reference.get(pair, 0.0) for pair in pairs])
    assert (np.abs(difference) <= near_edge + 1e-6).all()
    assert (np.abs(difference) > 1.0).sum() > 100


def boundary_attribution_allowance(
    road_lines: np.ndarray,
    polygons: np.ndarray,
    line_rows: np.ndarray,
    grid_rows: np.ndarray,
) -> np.ndarray:
    """Return how much of each road keeps within twice the edge tolerance of each grid's edge.

    Only that much of a road may be attributed differently by two ways of sharing the roads that
    run along grid edges.
    """
    rims = shapely.buffer(shapely.boundary(polygons), 2 * EDGE_TOLERANCE_M)
    lengths: np.ndarray = shapely.length(
        shapely.intersection(road_lines[line_rows], rims[grid_rows])
    )
    return lengths


def assert_matches_geometric_table(
    table: pd.DataFrame,
    roads: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Check a table of roads in grids built from them against :func:`road_grid_table`.

    Returns the differences per pair and what of each pair's road keeps near the grid's edge.
    """
    assert list(table.columns) == TABLE_COLUMNS
    assert table.dtypes.equals(road_grid_table(roads.iloc[:0], grids, metric_crs=METRIC).dtypes)
    ordered = table.sort_values(["grid_code", "line_id"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(table, ordered)
    geometric = as_dict(road_grid_table(roads, grids, metric_crs=METRIC))
    got = as_dict(table)
    pairs = sorted(got.keys() | geometric.keys())
    row_of_line = {line_id: row for row, line_id in enumerate(roads["id"])}
    row_of_grid = {code: row for row, code in enumerate(grids["code"])}
    line_rows = np.array([row_of_line[line_id] for _, line_id in pairs], dtype=np.intp)
    grid_rows = np.array([row_of_grid[code] for code, _ in pairs], dtype=np.intp)
    road_lines = np.asarray(roads.to_crs(METRIC).geometry.array, dtype=object)
    near_edge = boundary_attribution_allowance(
        road_lines, metric_polygons(grids), line_rows, grid_rows
    )
    difference = np.array([got.get(pair, 0.0) - geometric.get(pair, 0.0) for pair in pairs])
    assert (np.abs(difference) <= near_edge + 1e-6).all()
    return difference, near_edge


def test_hankou_table_from_the_build_matches_the_geometric_table() -> None:
    # unit grids whose edges are the roads: the table of the build comes from its noding
    roads = import_layer(HANKOU, "roads").frame
    build = unit_grid_build(
        roads, boundary_from_roads(roads, file=HANKOU.name), county_code="420102"
    )
    table = build.road_table()
    difference, near_edge = assert_matches_geometric_table(table, roads, build.grids)
    # pairs whose road keeps away from the grid's edges agree to the micrometre, and the table
    # splits many roads between grids: most of it runs along their edges
    assert (np.abs(difference[near_edge == 0]) <= 1e-6).all()
    assert (near_edge > 1.0).sum() > 1_000
    # every metre of every road is counted once
    road, _, length = build.road_lengths()
    road_lines = np.asarray(roads.to_crs(build.metric_crs).geometry.array, dtype=object)
    sums = np.bincount(road, weights=length, minlength=len(roads))
    np.testing.assert_allclose(sums, shapely.length(road_lines), rtol=1e-9, atol=1e-6)
    assert table["length_m"].sum() == pytest.approx(sums.sum(), abs=len(table) * 1e-9 + 1.0)


@st.composite
def lattice_districts(draw: st.DrawFn) -> dict[str, Any]:
    """A rectangular district, two sub-districts and roads, all on a 10 m lattice.

    Roads run between points on the lattice 50 m beyond the district, so that two roads cross,
    meet or run along each other exactly, never a hair apart; the first is drawn twice, and one
    more ends inside the district.
    """
    columns, rows = draw(st.integers(20, 80)), draw(st.integers(20, 80))
    width, height = 10.0 * columns, 10.0 * rows
    outline = box(X0, Y0, X0 + width, Y0 + height)
    split_x = X0 + 10.0 * draw(st.integers(5, columns - 5))
    west, east = box(X0, Y0, split_x, Y0 + height), box(split_x, Y0, X0 + width, Y0 + height)
    lattice_x = st.integers(-5, columns + 5).map(lambda i: X0 + 10.0 * i)
    lattice_y = st.integers(-5, rows + 5).map(lambda j: Y0 + 10.0 * j)
    roads = [
        LineString([(draw(lattice_x), Y0 - 50.0), (draw(lattice_x), Y0 + height + 50.0)])
        for _ in range(draw(st.integers(1, 5)))
    ]
    roads += [
        LineString([(X0 - 50.0, draw(lattice_y)), (X0 + width + 50.0, draw(lattice_y))])
        for _ in range(draw(st.integers(0, 5)))
    ]
    centre = (X0 + 10.0 * (columns // 2), Y0 + 10.0 * (rows // 2))
    roads += [LineString(roads[0].coords), LineString([centre, (centre[0] + 70, centre[1] + 30)])]
    return {
        "outline": outline,
        "boundary": gpd.GeoDataFrame(geometry=[outline], crs=METRIC),
        "subdistricts": gpd.GeoDataFrame(
            {"code": ["410108001", "410108002"]}, geometry=[west, east], crs=METRIC
        ),
        "roads": line_frame(roads),
        "target": draw(st.floats(2_000, 40_000)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(district=lattice_districts())
def test_table_from_the_build_counts_every_metre_once(district: dict[str, Any]) -> None:
    roads = district["roads"]
    build = unit_grid_build(
        roads,
        district["boundary"],
        subdistricts=district["subdistricts"],
        county_code="410108",
        target_area_m2=district["target"],
        metric_crs=METRIC,
    )
    road, grid, length = build.road_lengths()
    assert ((road >= 0) & (road < len(roads)) & (grid >= 0) & (grid < len(build.grids))).all()
    # the grids partition the district: what of a road is inside it is in exactly one grid
    lines = np.asarray(roads.geometry.array)
    inside = shapely.length(shapely.intersection(lines, district["outline"]))
    totals = np.bincount(road, weights=length, minlength=len(roads))
    np.testing.assert_allclose(totals, inside, rtol=1e-9, atol=1e-6)
    assert_matches_geometric_table(build.road_table(), roads, build.grids)
