"""Unit grids from roads: a partition of the district, compact, numbered, reproducible."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon, box

from geodata.errors import GeodataWarning
from geodata.huiji import load_huiji
from geodata.imports import import_layer
from geodata.layers import layer_spec
from grids.codes import parse_unit_grid_code, reading_order
from grids.errors import GridBuildError, GridCodeError
from grids.unit_grids import (
    MERGE_BELOW,
    isoperimetric_quotients,
    unit_grid_stats,
    unit_grids_from_roads,
)
from server.cli import boundary_from_roads

METRIC = "EPSG:4547"
# A point in Huiji District in EPSG:4547 metres.
X0, Y0 = 463_000.0, 3_853_000.0
HANKOU = Path(__file__).parents[1] / "data" / "wuhan_hankou_4km_wgs84.geojson"


def frame(geometries: list[Any], **columns: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=geometries, crs=METRIC)


def metric_polygons(grids: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(grids.geometry.to_crs(METRIC).array, dtype=object)


def assert_unit_grids(
    grids: gpd.GeoDataFrame,
    district: shapely.Geometry,
    *,
    cell_area: float,
    subdistricts: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Check the layer's form and that it partitions ``district`` (metric); return the polygons.

    Each grid must lie in its sub-district and community, but for gaps the divisions leave.
    """
    assert list(grids.columns) == [*layer_spec("unit_grids").column_names, "geometry"]
    assert grids.crs == "EPSG:4326"
    assert grids["code"].is_unique
    assert grids["code"].is_monotonic_increasing
    assert (grids["id"] == grids["code"]).all()
    for code, subdistrict in zip(grids["code"], grids["subdistrict_code"], strict=True):
        parsed = parse_unit_grid_code(code)
        assert parsed.subdistrict_code == (None if pd.isna(subdistrict) else subdistrict)
    polygons = metric_polygons(grids)
    assert shapely.is_valid(polygons).all()
    assert (shapely.get_type_id(polygons) == 3).all()
    areas = shapely.area(polygons)
    np.testing.assert_allclose(grids["area_m2"], areas, rtol=1e-6)
    assert abs(areas.sum() - district.area) <= 1e-4 * district.area
    tolerance = 1e-6 * cell_area
    assert (outside_of(polygons, np.full(len(polygons), district)) < tolerance).all()
    first, second = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    pair = first < second
    first, second = first[pair], second[pair]
    # only pairs that do more than touch can overlap by any area
    inner = ~shapely.touches(polygons[first], polygons[second])
    overlaps = shapely.area(shapely.intersection(polygons[first[inner]], polygons[second[inner]]))
    assert (overlaps < tolerance).all()
    for divisions, column in ((subdistricts, "subdistrict_code"), (communities, "community_code")):
        if divisions is None:
            continue
        by_code = dict(zip(divisions["code"], divisions.to_crs(METRIC).geometry, strict=True))
        homes = np.array([by_code[code] for code in grids[column]], dtype=object)
        outside = outside_of(polygons, homes)
        # where the divisions leave gaps in the district, grids take them in
        gaps = shapely.difference(district, shapely.union_all(list(by_code.values()))).area
        assert outside.sum() < gaps + tolerance * len(grids), f"a grid crosses its {column}"
    return polygons


def assert_reading_order(polygons: np.ndarray, *, band_m: float) -> None:
    """Check that polygons come north to south by rows of ``band_m``, each row west to east.

    The points are measured again after a round trip through EPSG:4326, so a point within a
    millimetre of a row's edge may count for either row.
    """
    points = shapely.centroid(polygons)
    x, y = shapely.get_x(points), shapely.get_y(points)
    north_row, south_row = np.floor((y + 1e-3) / band_m), np.floor((y - 1e-3) / band_m)
    assert (north_row[:-1] >= south_row[1:]).all()
    surely_same_row = (south_row[:-1] == north_row[:-1]) & (north_row[:-1] == north_row[1:])
    surely_same_row &= south_row[1:] == north_row[1:]
    assert (x[:-1][surely_same_row] <= x[1:][surely_same_row] + 1e-3).all()
    assert len(reading_order(x, y, band_m=band_m)) == len(polygons)


def outside_of(polygons: np.ndarray, homes: np.ndarray) -> np.ndarray:
    """Return the area of each polygon outside its home polygon."""
    shapely.prepare(homes)
    outside = np.zeros(len(polygons))
    loose = ~shapely.covered_by(polygons, homes)
    outside[loose] = shapely.area(shapely.difference(polygons[loose], homes[loose]))
    return outside


@st.composite
def districts(draw: st.DrawFn) -> dict[str, Any]:
    """A small district: a rectangle with a corner cut off, two sub-districts, straight roads."""
    width, height = draw(st.floats(300, 1_200)), draw(st.floats(300, 1_200))
    cut = draw(st.floats(0.0, 0.5))
    outline = Polygon(
        [
            (X0, Y0),
            (X0 + width, Y0),
            (X0 + width, Y0 + height * (1 - cut)),
            (X0 + width * (1 - cut), Y0 + height),
            (X0, Y0 + height),
        ]
    )
    split_x = X0 + width * draw(st.floats(0.2, 0.8))
    west = shapely.intersection(outline, box(X0 - 1, Y0 - 1, split_x, Y0 + height + 1))
    east = shapely.intersection(outline, box(split_x, Y0 - 1, X0 + width + 1, Y0 + height + 1))
    roads = []
    for _ in range(draw(st.integers(0, 5))):
        a, b = draw(st.floats(-0.1, 1.1)), draw(st.floats(-0.1, 1.1))
        roads.append(LineString([(X0 + a * width, Y0 - 50), (X0 + b * width, Y0 + height + 50)]))
    for _ in range(draw(st.integers(0, 5))):
        a, b = draw(st.floats(-0.1, 1.1)), draw(st.floats(-0.1, 1.1))
        roads.append(LineString([(X0 - 50, Y0 + a * height), (X0 + width + 50, Y0 + b * height)]))
    communities = None
    if draw(st.booleans()):
        split_y = Y0 + height * draw(st.floats(0.2, 0.8))
        south = box(X0 - 1, Y0 - 1, X0 + width + 1, split_y)
        north = box(X0 - 1, split_y, X0 + width + 1, Y0 + height + 1)
        communities = frame(
            [shapely.intersection(s, h) for s in (west, east) for h in (south, north)],
            code=["410108001001", "410108001002", "410108002001", "410108002002"],
            subdistrict_code=["410108001", "410108001", "410108002", "410108002"],
        )
        # the cut corner can take a whole community away
        communities = communities[~communities.is_empty].reset_index(drop=True)
    return {
        "outline": outline,
        "boundary": frame([outline]),
        "subdistricts": frame([west, east], code=["410108001", "410108002"]),
        "communities": communities,
        "roads": frame(roads),
        "target": draw(st.floats(2_000, 40_000)),
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(district=districts())
def test_unit_grids_partition_the_district_within_subdistricts(district: dict[str, Any]) -> None:
    grids = unit_grids_from_roads(
        district["roads"],
        district["boundary"],
        subdistricts=district["subdistricts"],
        communities=district["communities"],
        county_code="410108",
        target_area_m2=district["target"],
        metric_crs=METRIC,
    )
    assert (grids["mode"] == "roads").all()
    assert grids["squad_id"].isna().all()
    polygons = assert_unit_grids(
        grids,
        district["outline"],
        cell_area=district["target"],
        subdistricts=district["subdistricts"],
        communities=district["communities"],
    )
    # a grid smaller than half the target is alone in its division
    division = grids["community_code"].fillna(grids["subdistrict_code"])
    small = shapely.area(polygons) < MERGE_BELOW * district["target"]
    assert not (small & division.duplicated(keep=False).to_numpy()).any()
    # numbered 1, 2, 3, … in reading order within each community, or each sub-district
    band = np.sqrt(district["target"])
    if district["communities"] is None:
        assert grids["community_code"].isna().all()
        for _, group in grids.groupby("subdistrict_code"):
            sequences = [parse_unit_grid_code(c).subdistrict_sequence for c in group["code"]]
            assert sequences == list(range(1, len(group) + 1))
            assert_reading_order(metric_polygons(group), band_m=band)
    else:
        for community, group in grids.groupby("community_code"):
            parsed = [parse_unit_grid_code(c) for c in group["code"]]
            assert {p.community for p in parsed} == {community[-3:]}
            assert [int(p.sequence) for p in parsed] == list(range(1, len(group) + 1))
            assert_reading_order(metric_polygons(group), band_m=band)


@settings(max_examples=10, deadline=None)
@given(district=districts())
def test_building_again_gives_the_same_grids(district: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "subdistricts": district["subdistricts"],
        "county_code": "410108",
        "target_area_m2": district["target"],
        "metric_crs": METRIC,
    }
    first = unit_grids_from_roads(district["roads"], district["boundary"], **kwargs)
    second = unit_grids_from_roads(district["roads"], district["boundary"], **kwargs)
    assert_geodataframe_equal(first, second)
    assert first.geometry.to_wkb().tolist() == second.geometry.to_wkb().tolist()


def test_roadless_land_is_split_into_compact_grids_of_about_the_target_area() -> None:
    outline = Polygon([(X0, Y0), (X0 + 2_000, Y0 + 300), (X0 + 1_700, Y0 + 1_500), (X0, Y0 + 900)])
    grids = unit_grids_from_roads(
        frame([]),
        frame([outline]),
        county_code="410108",
        target_area_m2=10_000.0,
        metric_crs=METRIC,
    )
    polygons = assert_unit_grids(grids, outline, cell_area=10_000.0)
    areas = shapely.area(polygons)
    assert outline.area / 10_000 * 0.7 < len(grids) < outline.area / 10_000 * 1.3
    assert (areas >= MERGE_BELOW * 10_000).all()
    assert (areas <= 2 * 10_000).all()
    assert isoperimetric_quotients(polygons).mean() > 0.7
    assert all(attrs["split"] for attrs in grids["attrs"])


def test_small_blocks_are_merged_and_big_ones_split() -> None:
    # 45 m blocks (2,025 m²) in the west, one 600 m block in the east
    outline = box(X0, Y0, X0 + 1_050, Y0 + 450)
    roads = [LineString([(X0 + x, Y0), (X0 + x, Y0 + 450)]) for x in np.arange(45, 450, 45)]
    roads += [LineString([(X0, Y0 + y), (X0 + 450, Y0 + y)]) for y in np.arange(45, 450, 45)]
    grids = unit_grids_from_roads(
        frame(roads), frame([outline]), county_code="410108", metric_crs=METRIC
    )
    polygons = assert_unit_grids(grids, outline, cell_area=10_000.0)
    areas = shapely.area(polygons)
    assert (areas >= MERGE_BELOW * 10_000).all()
    west = shapely.get_x(shapely.centroid(polygons)) < X0 + 450
    assert not any(attrs["split"] for attrs in grids["attrs"][west])
    assert all(attrs["split"] for attrs in grids["attrs"][~west])
    assert 450 * 600 / 10_000 * 0.7 < (~west).sum() < 450 * 600 / 10_000 * 1.3


def test_grids_follow_extra_lines() -> None:
    outline = box(X0, Y0, X0 + 1_000, Y0 + 1_000)
    river = LineString([(X0 - 10, Y0 + 300), (X0 + 500, Y0 + 520), (X0 + 1_010, Y0 + 480)])
    grids = unit_grids_from_roads(
        frame([]),
        frame([outline]),
        extra_lines=frame([river]),
        county_code="410108",
        metric_crs=METRIC,
    )
    polygons = assert_unit_grids(grids, outline, cell_area=10_000.0)
    assert not shapely.intersects(shapely.buffer(polygons, -0.01), river).any()


def test_grids_are_numbered_by_community() -> None:
    outline = box(X0, Y0, X0 + 800, Y0 + 600)
    subdistricts = frame([outline], code=["410108001"])
    communities = frame(
        [box(X0, Y0, X0 + 300, Y0 + 600), box(X0 + 300, Y0, X0 + 800, Y0 + 600)],
        code=["410108001001", "410108001002"],
        subdistrict_code=["410108001", "410108001"],
    )
    grids = unit_grids_from_roads(
        frame([LineString([(X0, Y0 + 280), (X0 + 800, Y0 + 330)])]),
        frame([outline]),
        subdistricts=subdistricts,
        communities=communities,
        county_code="410108",
        metric_crs=METRIC,
    )
    assert_unit_grids(grids, outline, cell_area=10_000.0, subdistricts=subdistricts)
    assert set(grids["community_code"]) == {"410108001001", "410108001002"}
    for community, group in grids.groupby("community_code"):
        parsed = [parse_unit_grid_code(code) for code in group["code"]]
        assert {p.community for p in parsed} == {community[-3:]}
        assert [int(p.sequence) for p in parsed] == list(range(1, len(group) + 1))
        polygons = metric_polygons(group)
        home = communities.geometry[communities["code"] == community].iloc[0]
        assert shapely.area(polygons).sum() == pytest.approx(home.area, rel=1e-6)


def test_missing_polygons_are_reported() -> None:
    outline = box(X0, Y0, X0 + 400, Y0 + 400)
    subdistricts = frame([outline, None], code=["410108001", "410108002"])
    communities = frame([None], code=["410108001001"], subdistrict_code=["410108001"])
    with pytest.warns(GeodataWarning) as caught:
        grids = unit_grids_from_roads(
            frame([]),
            frame([outline]),
            subdistricts=subdistricts,
            communities=communities,
            county_code="410108",
            metric_crs=METRIC,
        )
    messages = " ".join(str(w.message) for w in caught)
    assert "1 of 2 sub-districts have no polygon (410108002)" in messages
    assert "1 of 1 communities have no polygon (410108001001)" in messages
    assert set(grids["subdistrict_code"]) == {"410108001"}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"county_code": "4101"}, GridCodeError, "6 digits"),
        ({"target_area_m2": 0.0}, GridBuildError, "positive"),
        ({"target_area_m2": float("nan")}, GridBuildError, "positive"),
        ({"subdistricts": "other county"}, GridCodeError, "not in the county"),
        ({"boundary": "empty"}, GridBuildError, "no area"),
        ({"communities": "bad code"}, GridCodeError, "12 digits"),
    ],
)
def test_bad_inputs_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    outline = box(X0, Y0, X0 + 300, Y0 + 300)
    arguments: dict[str, Any] = {"county_code": "410108", "metric_crs": METRIC}
    arguments.update(kwargs)
    boundary = frame([Polygon()]) if arguments.pop("boundary", None) else frame([outline])
    if arguments.get("subdistricts") == "other county":
        arguments["subdistricts"] = frame([outline], code=["420102001"])
    if arguments.get("communities") == "bad code":
        arguments["communities"] = frame([outline], code=["41010800101"])
    with pytest.raises(error, match=message):
        unit_grids_from_roads(frame([]), boundary, **arguments)


@pytest.mark.slow
def test_hankou_clip_end_to_end() -> None:
    roads = import_layer(HANKOU, "roads").frame
    boundary = boundary_from_roads(roads, file=HANKOU.name)
    grids = unit_grids_from_roads(roads, boundary, county_code="420102")
    district = boundary.to_crs(METRIC).geometry.iloc[0]
    polygons = assert_unit_grids(grids, district, cell_area=10_000.0)
    stats = unit_grid_stats(grids, metric_crs=METRIC)
    assert stats["count"] == len(grids)
    assert 5_000 < stats["median_area_m2"] < 15_000
    assert stats["mean_compactness"] > 0.6
    assert (shapely.area(polygons) >= MERGE_BELOW * 10_000).mean() > 0.95
    # grids not cut off a larger block are bounded by roads and the district boundary, but for
    # short cuts across the strips between carriageways
    road_lines = np.asarray(roads.to_crs(METRIC).geometry.array, dtype=object)
    lines = np.append(road_lines, district.exterior)
    unsplit = np.array([not attrs["split"] for attrs in grids["attrs"]])
    assert unsplit.any()
    middles, lengths = segments(shapely.boundary(polygons[unsplit]))
    assert (lengths[~near(middles, lines)] < 0.5 * np.sqrt(10_000)).all()
    # and most of the roads that close blocks are grid boundaries (not those merged across)
    blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(road_lines))))
    middles, lengths = segments(shapely.boundary(blocks))
    assert lengths[near(middles, shapely.boundary(polygons))].sum() > 0.6 * lengths.sum()


def segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the midpoints and lengths of the straight segments of ``lines``."""
    coords, index = shapely.get_coordinates(shapely.get_parts(lines), return_index=True)
    same = index[1:] == index[:-1]
    starts, ends = coords[:-1][same], coords[1:][same]
    return shapely.points((starts + ends) / 2), np.hypot(*(ends - starts).T)


def near(points: np.ndarray, lines: np.ndarray, distance: float = 0.01) -> np.ndarray:
    """Return which points lie within ``distance`` metres of one of ``lines``."""
    found, _ = shapely.STRtree(lines).query(points, predicate="dwithin", distance=distance)
    result = np.zeros(len(points), dtype=bool)
    result[found] = True
    return result


@pytest.mark.slow
def test_huiji_end_to_end() -> None:
    layers = load_huiji()
    boundary = layers["boundary"].frame
    subdistricts = layers["subdistricts"].frame
    with pytest.warns(GeodataWarning, match="communities have no polygon"):
        grids = unit_grids_from_roads(
            layers["roads"].frame,
            boundary,
            subdistricts=subdistricts,
            communities=layers["communities"].frame,
            county_code="410108",
        )
    district = shapely.union_all(boundary.to_crs(METRIC).geometry.array)
    polygons = assert_unit_grids(grids, district, cell_area=10_000.0, subdistricts=subdistricts)
    assert set(grids["subdistrict_code"]) == set(subdistricts["code"])
    assert district.area / 10_000 * 0.8 < len(grids) < district.area / 10_000 * 1.2
    assert isoperimetric_quotients(polygons).mean() > 0.7
    for _, group in grids.groupby("subdistrict_code"):
        sequences = [parse_unit_grid_code(c).subdistrict_sequence for c in group["code"]]
        assert sequences == list(range(1, len(group) + 1))


def test_stats_of_no_grids() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
        stats = unit_grid_stats(empty, metric_crs=METRIC)
    assert stats["count"] == 0
    assert np.isnan(stats["median_area_m2"])
