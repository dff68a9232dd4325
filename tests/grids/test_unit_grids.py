"""Unit grids from roads: a partition of the district, compact, numbered, reproducible."""

from __future__ import annotations

import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import (
    HANKOU,
    METRIC,
    X0,
    Y0,
    assert_unit_grids,
    districts,
    frame,
    metric_polygons,
)
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from shapely.geometry import LineString, Polygon, box

from geodata.errors import GeodataWarning
from geodata.huiji import load_huiji
from geodata.imports import import_layer
from grids.codes import parse_unit_grid_code, reading_order
from grids.errors import GridBuildError, GridCodeError
from grids.unit_grids import (
    MERGE_BELOW,
    isoperimetric_quotients,
    unit_grid_build,
    unit_grid_stats,
    unit_grids_from_roads,
)
from server.cli import boundary_from_roads


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


def test_the_build_keeps_the_grids_and_the_roads_they_are_made_of() -> None:
    # blocks merged, a large one split, a strip between carriageways cut across, a dead end
    outline = box(X0, Y0, X0 + 1_050, Y0 + 450)
    roads = [LineString([(X0 + x, Y0), (X0 + x, Y0 + 450)]) for x in (45.0, 90.0, 400.0, 404.0)]
    roads += [LineString([(X0, Y0 + 200), (X0 + 1_050, Y0 + 200)])]
    roads += [LineString([(X0 + 700, Y0 + 300), (X0 + 760, Y0 + 330)])]
    road_frame = frame(roads, id=[f"R{i}" for i in range(len(roads))])
    arguments: dict[str, Any] = {
        "county_code": "410108",
        "target_area_m2": 10_000.0,
        "metric_crs": METRIC,
    }
    build = unit_grid_build(road_frame, frame([outline]), **arguments)
    assert_geodataframe_equal(
        build.grids, unit_grids_from_roads(road_frame, frame([outline]), **arguments)
    )
    # the grids as built are those of the layer, in the order they were numbered in
    order = np.argsort(np.asarray(build.codes, dtype=str), kind="stable")
    assert [build.codes[i] for i in order] == build.grids["code"].tolist()
    assert (
        shapely.hausdorff_distance(build.polygons[order], metric_polygons(build.grids)) < 1e-6
    ).all()
    assert any(attrs["split"] for attrs in build.grids["attrs"])
    assert build.trace.strips.is_strip.any()
    # each road inside the district is counted in full, in the grids it runs through
    table = build.road_table()
    totals = table.groupby("line_id")["length_m"].sum()
    inside = shapely.length(shapely.intersection(np.asarray(roads, dtype=object), outline))
    np.testing.assert_allclose(totals.reindex(road_frame["id"]).to_numpy(), inside, atol=1e-6)


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


def test_two_strips_of_a_community_cut_by_one_road_merge() -> None:
    # the road cuts the community into two thin strips side by side; each is cut into pieces on
    # its own, and the nodes where the cuts meet the road must be one coordinate for both
    x0, x1, x2 = 463000.0, 463107.046875, 463527.0
    y0, y1, y2 = 3853000.0, 3853248.6094102934, 3853318.0
    boundary = frame([shapely.box(x0, y0, x2, y2)])
    subdistricts = frame(
        [shapely.box(x0, y0, x1, y2), shapely.box(x1, y0, x2, y2)], code=["410108001", "410108002"]
    )
    communities = frame(
        [
            shapely.box(x0, y0, x1, y1),
            shapely.box(x0, y1, x1, y2),
            shapely.box(x1, y0, x2, y1),
            shapely.box(x1, y1, x2, y2),
        ],
        code=["410108001001", "410108001002", "410108002001", "410108002002"],
        subdistrict_code=["410108001", "410108001", "410108002", "410108002"],
    )
    roads = frame(
        [
            shapely.LineString([(463098.8125, 3852950), (462991.765625, 3853368)]),
            shapely.LineString([(x0, 3852950), (x0, 3853368)]),
        ]
    )
    grids = unit_grids_from_roads(
        roads,
        boundary,
        subdistricts=subdistricts,
        communities=communities,
        county_code="410108",
        target_area_m2=30836.0,
        metric_crs=METRIC,
    )
    cut = grids[grids["community_code"] == "410108001001"]
    assert len(cut) == 1
    assert metric_polygons(cut)[0].area == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-6)


def test_grids_stay_valid_where_cut_lines_cross_on_a_block_corner() -> None:
    # The block east of the sub-district line is split by cut lines that cross on its own
    # corners; the noding leaves vertices a fraction of a nanometre apart there, which made a
    # zigzag that was valid as built but crossed itself after a round trip through EPSG:4326.
    x1, y1 = X0 + 999.9794977065, Y0 + 835.9742612266
    outline = Polygon(
        [(X0, Y0), (x1, Y0), (x1, Y0 + 723.581636796), (X0 + 865.537176529, y1), (X0, y1)]
    )
    split_x = X0 + 205.22749261896
    subdistricts = frame(
        [
            shapely.intersection(outline, box(X0 - 1, Y0 - 1, split_x, y1 + 1)),
            shapely.intersection(outline, box(split_x, Y0 - 1, x1 + 1, y1 + 1)),
        ],
        code=["410108001", "410108002"],
    )
    roads = [
        LineString([(X0, Y0 - 50), (X0 + 6.0168666877, y1 + 50)]),
        LineString([(X0 + 523.378376078, Y0 - 50), (X0, y1 + 50)]),
        LineString([(X0 - 50, Y0 - 67.1093791598), (x1 + 50, Y0)]),
    ]
    target = 21795.156526503524
    grids = unit_grids_from_roads(
        frame(roads),
        frame([outline]),
        subdistricts=subdistricts,
        county_code="410108",
        target_area_m2=target,
        metric_crs=METRIC,
    )
    polygons = assert_unit_grids(grids, outline, cell_area=target, subdistricts=subdistricts)
    assert (shapely.minimum_clearance(polygons) > 1e-7).all()


def test_a_road_a_hair_inside_the_district_edge_adds_no_empty_grid() -> None:
    # The strip between the road and the southern edge, a tenth of a millimetre wide, is cut
    # into pieces whose edges match those of the blocks beside them only nearly; their coverage
    # union left parts of no area, which came out as grids of no area (with no centroid).
    outline = box(X0, Y0, X0 + 800, Y0 + 800)
    roads = [
        LineString([(X0 + 273.1246624399, Y0 - 50), (X0 + 387.1740728615, Y0 + 920.1441905987)]),
        LineString([(X0 - 50, Y0 + 0.0000870144), (X0 + 827.9324535988, Y0)]),
    ]
    grids = unit_grids_from_roads(
        frame(roads), frame([outline]), county_code="410108", metric_crs=METRIC
    )
    polygons = assert_unit_grids(grids, outline, cell_area=10_000.0)
    assert (shapely.area(polygons) >= MERGE_BELOW * 10_000).all()


def test_a_community_of_one_tiny_face_keeps_its_own_grid() -> None:
    # The cut corner leaves the north-east community a triangle of 2 m²: its only face is
    # thinner than a noding artefact, but it is the whole community, not a stray bit of it, so
    # it is not merged into the grids of another community and sub-district.
    outline = Polygon(
        [(X0, Y0), (X0 + 600, Y0), (X0 + 600, Y0 + 202), (X0 + 202, Y0 + 600), (X0, Y0 + 600)]
    )
    west, east = box(X0 - 1, Y0 - 1, X0 + 400, Y0 + 601), box(X0 + 400, Y0 - 1, X0 + 601, Y0 + 601)
    south, north = (
        box(X0 - 1, Y0 - 1, X0 + 601, Y0 + 400),
        box(X0 - 1, Y0 + 400, X0 + 601, Y0 + 601),
    )
    subdistricts = frame(
        [outline.intersection(west), outline.intersection(east)], code=["410108001", "410108002"]
    )
    communities = frame(
        [outline.intersection(s).intersection(h) for s in (west, east) for h in (south, north)],
        code=["410108001001", "410108001002", "410108002001", "410108002002"],
        subdistrict_code=["410108001", "410108001", "410108002", "410108002"],
    )
    grids = unit_grids_from_roads(
        frame([]),
        frame([outline]),
        subdistricts=subdistricts,
        communities=communities,
        county_code="410108",
        metric_crs=METRIC,
    )
    polygons = assert_unit_grids(
        grids, outline, cell_area=10_000.0, subdistricts=subdistricts, communities=communities
    )
    tiny = (grids["community_code"] == "410108002002").to_numpy()
    assert tiny.sum() == 1
    assert shapely.area(polygons[tiny])[0] == pytest.approx(2.0, rel=1e-6)
