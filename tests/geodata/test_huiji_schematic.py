"""The bundled schematic Huiji layers: the committed files, and the builder that makes them."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

from geodata.errors import FieldError, InvalidGeometryError
from geodata.huiji_schematic import (
    JUNCTION_TOLERANCE_M,
    MIN_ROAD_M,
    OUTPUT_FILES,
    _node_lines,
    build_huiji_schematic,
    geojson_text,
    main,
)

METRIC = "EPSG:4547"
STRICT_ROADS = ("文化路", "开元路", "迎宾路", "中州大道", "大河路", "天河路")
#: The built-up core around 文化路, 花园路, 开元路 and 大河路, and the farmland of 古荥 (lon/lat).
CORE_BOX = (113.638, 34.850, 113.690, 34.878)
FARMLAND_BOX = (113.48, 34.86, 113.58, 34.96)


@contextmanager
def _data_dir() -> Iterator[Path]:
    with resources.as_file(resources.files("geodata") / "data" / "huiji") as path:
        yield path


def _read(name: str) -> gpd.GeoDataFrame:
    with _data_dir() as path:
        return gpd.read_file(path / name)


def _read_csv(name: str) -> pd.DataFrame:
    with _data_dir() as path:
        return pd.read_csv(path / name, dtype=str)


@pytest.fixture(scope="module")
def boundary() -> gpd.GeoDataFrame:
    return _read("huiji_410108_amap_wgs84.geojson")


@pytest.fixture(scope="module")
def boundary_m(boundary: gpd.GeoDataFrame) -> shapely.Geometry:
    return boundary.to_crs(METRIC).union_all()


@pytest.fixture(scope="module")
def intersections() -> pd.DataFrame:
    return _read_csv("intersections.csv")


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    return _read(OUTPUT_FILES["roads"])


@pytest.fixture(scope="module")
def named_m(roads: gpd.GeoDataFrame) -> dict[str, shapely.Geometry]:
    named = roads.dropna(subset=["name_zh"]).to_crs(METRIC)
    return {name: group.union_all() for name, group in named.groupby("name_zh")}


@pytest.fixture(scope="module")
def subdistricts() -> gpd.GeoDataFrame:
    return _read(OUTPUT_FILES["subdistricts"])


@pytest.fixture(scope="module")
def squads() -> gpd.GeoDataFrame:
    return _read(OUTPUT_FILES["squads"])


@pytest.fixture(scope="module")
def zones() -> gpd.GeoDataFrame:
    return _read(OUTPUT_FILES["zones"])


@pytest.fixture(scope="module")
def guidance_points() -> gpd.GeoDataFrame:
    return _read(OUTPUT_FILES["guidance_points"])


def _extent(geometry: shapely.Geometry) -> tuple[float, float]:
    """Return the east-west and north-south extent of a geometry, in its own units."""
    west, south, east, north = geometry.bounds
    return east - west, north - south


def _vertices(geometry: shapely.Geometry) -> list[tuple[float, float]]:
    """Return the vertices of a geometry, rounded to the 7 decimals the files keep."""
    return [(x, y) for x, y in np.round(shapely.get_coordinates(geometry), 7).tolist()]


def _metric_box(bounds: tuple[float, float, float, float]) -> shapely.Geometry:
    return gpd.GeoSeries([box(*bounds)], crs=4326).to_crs(METRIC).iloc[0]


def _bearing(line: shapely.Geometry) -> float:
    """Return the undirected bearing of a line's end-to-end chord, in degrees [0, 180)."""
    coords = shapely.get_coordinates(line)
    dx, dy = coords[-1] - coords[0]
    return math.degrees(math.atan2(dy, dx)) % 180.0


# --- roads -------------------------------------------------------------------------------------


def test_every_listed_pair_crosses_once_well_inside(
    intersections: pd.DataFrame, named_m: dict[str, shapely.Geometry], boundary_m: shapely.Geometry
) -> None:
    for road_a, road_b in zip(intersections["road_a"], intersections["road_b"], strict=True):
        crossing = named_m[road_a].intersection(named_m[road_b])
        assert crossing.geom_type == "Point", (road_a, road_b, crossing.geom_type)
        assert boundary_m.contains(crossing)
        assert boundary_m.boundary.distance(crossing) > 200.0, (road_a, road_b)


def test_parallel_named_roads_do_not_cross(named_m: dict[str, shapely.Geometry]) -> None:
    for (name_a, line_a), (name_b, line_b) in itertools.combinations(named_m.items(), 2):
        difference = abs(_bearing(line_a) - _bearing(line_b))
        if min(difference, 180.0 - difference) < 20.0:
            assert not line_a.intersects(line_b), (name_a, name_b)


def test_every_road_of_the_intersections_is_there_with_its_english_name(
    roads: gpd.GeoDataFrame, intersections: pd.DataFrame
) -> None:
    listed = dict(zip(intersections["road_a"], intersections["road_a_en"], strict=True))
    listed |= dict(zip(intersections["road_b"], intersections["road_b_en"], strict=True))
    named = roads.dropna(subset=["name_zh"])
    assert set(named["name_zh"]) == set(listed)
    for name_zh, name_en in zip(named["name_zh"], named["name_en"], strict=True):
        assert name_en == listed[name_zh]


def test_strict_roads_exist_as_arterials(roads: gpd.GeoDataFrame) -> None:
    for name in STRICT_ROADS:
        grades = set(roads.loc[roads["name_zh"] == name, "grade"])
        assert grades == {"主干路"}, name


def test_road_properties(roads: gpd.GeoDataFrame) -> None:
    assert roads["id"].is_unique
    assert all(re.fullmatch(r"HJ-R\d{4}", road_id) for road_id in roads["id"])
    assert list(roads["id"]) == sorted(roads["id"])
    assert set(roads["grade"]) <= {"主干路", "次干路", "支路", "街巷"}
    assert set(roads.geom_type) == {"LineString"}
    unnamed = roads[roads["name_zh"].isna()]
    assert len(unnamed) > 20
    assert unnamed["name_en"].isna().all()
    assert len(roads) <= 600


def test_network_length(roads: gpd.GeoDataFrame) -> None:
    lengths = roads.to_crs(METRIC).length
    assert 150_000.0 <= lengths.sum() <= 250_000.0
    unnamed = lengths[roads["name_zh"].isna()]
    # Unnamed streets are block-length, not long straight lines across the district.
    assert unnamed.max() < 3_000.0


def test_no_road_is_shorter_than_30_m(roads: gpd.GeoDataFrame) -> None:
    assert roads.to_crs(METRIC).length.min() >= MIN_ROAD_M


def test_named_roads_are_one_feature_each(roads: gpd.GeoDataFrame) -> None:
    assert roads["name_zh"].dropna().value_counts().max() == 1


def test_network_is_one_connected_component(roads: gpd.GeoDataFrame) -> None:
    # The graph of the network: its vertices (rounded to 1e-7 degrees), joined along each road.
    index: dict[tuple[float, float], int] = {}
    parent: list[int] = []

    def node(xy: tuple[float, float]) -> int:
        if xy not in index:
            index[xy] = len(parent)
            parent.append(len(parent))
        return index[xy]

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    for line in roads.geometry:
        ids = [node(xy) for xy in _vertices(line)]
        for a, b in itertools.pairwise(ids):
            parent[root(a)] = root(b)
    assert len({root(k) for k in range(len(parent))}) == 1


def test_roads_meet_only_at_vertices_of_both(roads: gpd.GeoDataFrame) -> None:
    lines = roads.geometry.to_numpy()
    vertices = [set(_vertices(line)) for line in lines]
    left, right = shapely.STRtree(lines).query(lines, predicate="intersects")
    met: set[int] = set()
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        meeting = shapely.intersection(lines[i], lines[j])
        assert meeting.geom_type in {"Point", "MultiPoint"}, (roads["id"][i], roads["id"][j])
        for xy in _vertices(meeting):
            assert xy in vertices[i], (roads["id"][i], roads["id"][j])
            assert xy in vertices[j], (roads["id"][i], roads["id"][j])
        met |= {i, j}
    assert met == set(range(len(lines)))


def test_every_road_ends_on_a_road_or_at_the_boundary(
    roads: gpd.GeoDataFrame, boundary_m: shapely.Geometry
) -> None:
    lines = roads.geometry.to_numpy()
    vertices = [set(_vertices(line)) for line in lines]
    ends = roads.geometry.boundary.explode()
    distances = gpd.GeoSeries(ends, crs=4326).to_crs(METRIC).distance(boundary_m.boundary)
    for (k, end), distance in zip(ends.items(), distances, strict=True):
        on_road = any(
            _vertices(end)[0] in vertices[other] for other in range(len(lines)) if other != k
        )
        assert on_road or distance <= 25.5, (roads["id"][k], distance)


def test_unnamed_streets_are_split_at_every_junction(roads: gpd.GeoDataFrame) -> None:
    counts: dict[tuple[float, float], int] = {}
    for line in roads.geometry:
        for xy in set(_vertices(line)):
            counts[xy] = counts.get(xy, 0) + 1
    for line in roads.loc[roads["name_zh"].isna()].geometry:
        inner = _vertices(line)[1:-1]
        assert all(counts[xy] == 1 for xy in inner)


def test_no_two_roads_run_alongside(roads: gpd.GeoDataFrame) -> None:
    lines = roads.to_crs(METRIC).geometry.to_numpy()
    left, right = shapely.STRtree(lines).query(lines, predicate="dwithin", distance=1.0)
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < j:
            # Roads meeting at a junction share a metre or so; duplicates would share a stretch.
            alongside = shapely.intersection(shapely.buffer(lines[i], 1.0), lines[j]).length
            assert alongside < 10.0, (roads["id"][i], roads["id"][j], alongside)
            assert shapely.intersection(lines[i], lines[j]).length == 0.0


def test_built_up_core_has_city_blocks_and_farmland_stays_sparse(
    roads: gpd.GeoDataFrame, boundary_m: shapely.Geometry
) -> None:
    network = roads.to_crs(METRIC).union_all()
    inner = boundary_m.buffer(-25.0)
    blocks = shapely.get_parts(inner.difference(network.buffer(0.5)))
    core = _metric_box(CORE_BOX)
    sizes = [
        math.sqrt(block.area) for block in blocks if core.contains(block.representative_point())
    ]
    assert len(sizes) >= 50
    assert 150.0 <= float(np.median(sizes)) <= 400.0

    def density(area: shapely.Geometry) -> float:
        return network.intersection(area).length / area.intersection(boundary_m).area

    farmland = _metric_box(FARMLAND_BOX)
    assert density(core) > 10 * density(farmland)


def test_roads_lie_inside_the_boundary(roads: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame) -> None:
    district = boundary.union_all()
    assert roads.within(district).all()


def test_orientations(named_m: dict[str, shapely.Geometry]) -> None:
    for name in ("文化路", "花园路", "中州大道", "江山路"):
        east_west, north_south = _extent(named_m[name])
        assert north_south > 3 * east_west, name
    for name in ("开元路", "大河路", "迎宾路", "英才街"):
        east_west, north_south = _extent(named_m[name])
        assert east_west > 3 * north_south, name
    x = {name: line.centroid.x for name, line in named_m.items()}
    assert x["花园路"] > x["文化路"]
    assert x["中州大道"] > x["花园路"]
    assert x["江山路"] < x["文化路"]


# --- partitions --------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["subdistricts", "squads"])
def test_layer_partitions_the_boundary(layer: str, boundary_m: shapely.Geometry) -> None:
    frame = _read(OUTPUT_FILES[layer])
    assert frame.is_valid.all()
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    parts = frame.to_crs(METRIC)
    assert (parts.area > 0).all()
    union = parts.union_all()
    assert abs(union.area - boundary_m.area) / boundary_m.area < 1e-4
    assert union.symmetric_difference(boundary_m).area / boundary_m.area < 1e-4
    for a, b in itertools.combinations(parts.geometry, 2):
        assert a.intersection(b).area < 1.0


def test_subdistricts_match_the_csv(subdistricts: gpd.GeoDataFrame) -> None:
    table = _read_csv("huiji_subdistricts_nbs2023.csv")
    assert sorted(subdistricts["code"]) == sorted(table["code"])
    names = dict(zip(table["code"], table["name"], strict=True))
    for code, name_zh, name_en in subdistricts[["code", "name_zh", "name_en"]].itertuples(
        index=False
    ):
        assert name_zh == names[code]
        assert name_en.endswith(("Subdistrict", "Town"))


def test_squads(squads: gpd.GeoDataFrame, named_m: dict[str, shapely.Geometry]) -> None:
    assert squads["id"].is_unique
    assert {"HJ-S-YB", "HJ-S-NZ", "HJ-S-YH"} <= set(squads["id"])
    by_id = squads.set_index("id")
    assert by_id.loc["HJ-S-YB", "name_zh"] == "迎宾路中队"
    assert by_id.loc["HJ-S-NZ", "name_zh"] == "女子中队"
    assert by_id.loc["HJ-S-YH", "name_zh"] == "沿黄执法中队"
    codes = set(_read_csv("huiji_subdistricts_nbs2023.csv")["code"])
    for joined in squads["subdistrict_codes"]:
        assert joined
        assert set(joined.split(";")) <= codes
    womens = gpd.GeoSeries([by_id.loc["HJ-S-NZ", "geometry"]], crs=4326).to_crs(METRIC).iloc[0]
    assert womens.area < 5e6
    assert womens.intersects(named_m["文化路"])


# --- points and zones --------------------------------------------------------------------------


def test_guidance_points_lie_on_yingcai_street(
    guidance_points: gpd.GeoDataFrame, named_m: dict[str, shapely.Geometry]
) -> None:
    assert 2 <= len(guidance_points) <= 4
    assert guidance_points["id"].is_unique
    assert (guidance_points["road_name_zh"] == "英才街").all()
    assert (guidance_points["windows"] == "11:00-13:30;17:00-21:00").all()
    assert (guidance_points["radius_m"] > 0).all()
    distances = guidance_points.to_crs(METRIC).distance(named_m["英才街"])
    assert (distances <= 1.0).all()


def test_river_bank_zone(
    zones: gpd.GeoDataFrame,
    squads: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    boundary_m: shapely.Geometry,
) -> None:
    river = zones[zones["kind"] == "river_bank"]
    assert len(river) == 1
    assert river["squad_id"].iloc[0] == "HJ-S-YH"
    zone_m = river.to_crs(METRIC).geometry.iloc[0]
    coords = shapely.get_coordinates(boundary_m)
    northernmost = Point(coords[coords[:, 1].argmax()])
    assert zone_m.distance(northernmost) < 1.0
    assert zone_m.centroid.y > boundary_m.centroid.y
    assert zone_m.intersection(boundary_m.boundary).length > 30_000.0
    territory = squads[squads["id"] == "HJ-S-YH"].to_crs(METRIC).geometry.iloc[0]
    assert territory.symmetric_difference(zone_m).area < 1.0
    assert zone_m.within(boundary_m.buffer(1.0))


def test_night_markets(zones: gpd.GeoDataFrame, squads: gpd.GeoDataFrame) -> None:
    markets = zones[zones["kind"] == "night_market"]
    assert 1 <= len(markets) <= 3
    assert set(markets["squad_id"]) <= set(squads["id"])
    river = zones[zones["kind"] == "river_bank"].geometry.iloc[0]
    for market in markets.geometry:
        assert market.is_valid
        assert market.area > 0
        assert not market.intersects(river)
    assert zones["id"].is_unique


def test_every_feature_is_schematic() -> None:
    for file_name in OUTPUT_FILES.values():
        frame = _read(file_name)
        assert len(frame) > 0, file_name
        assert frame["schematic"].tolist() == [True] * len(frame), file_name


# --- the builder -------------------------------------------------------------------------------


def test_rebuild_reproduces_the_committed_files(tmp_path: Path) -> None:
    main(tmp_path)
    with _data_dir() as committed:
        for file_name in OUTPUT_FILES.values():
            assert (tmp_path / file_name).read_bytes() == (committed / file_name).read_bytes()


def test_written_files_are_rfc7946() -> None:
    with _data_dir() as committed:
        for file_name in OUTPUT_FILES.values():
            document = json.loads((committed / file_name).read_text(encoding="utf-8"))
            assert document["type"] == "FeatureCollection"
            assert "crs" not in document
            text = (committed / file_name).read_text(encoding="utf-8")
            assert re.search(r"\d\.\d{8,}", text) is None  # at most 7 decimals


def _inputs(
    boundary: gpd.GeoDataFrame, intersections: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (
        boundary,
        _read_csv("huiji_subdistricts_nbs2023.csv"),
        _read_csv("huiji_communities_nbs2023.csv"),
        intersections,
    )


def test_builder_rejects_a_road_it_cannot_place(
    boundary: gpd.GeoDataFrame, intersections: pd.DataFrame
) -> None:
    changed = intersections.copy()
    changed.loc[3, "road_b"] = "不存在路"
    with pytest.raises(FieldError) as caught:
        build_huiji_schematic(*_inputs(boundary, changed))
    assert caught.value.row == 5
    assert caught.value.field == "road_b"


def test_builder_rejects_missing_columns(
    boundary: gpd.GeoDataFrame, intersections: pd.DataFrame
) -> None:
    with pytest.raises(FieldError) as caught:
        build_huiji_schematic(*_inputs(boundary, intersections.drop(columns=["road_a_en"])))
    assert caught.value.field == "road_a_en"


def test_builder_rejects_a_boundary_without_crs(intersections: pd.DataFrame) -> None:
    no_crs = gpd.GeoDataFrame(geometry=[box(113.5, 34.8, 113.8, 34.97)])
    with pytest.raises(InvalidGeometryError):
        build_huiji_schematic(*_inputs(no_crs, intersections))


def test_builder_rejects_a_boundary_too_small_for_the_layout(intersections: pd.DataFrame) -> None:
    # Only the south of the district: the northern roads cannot cross there.
    south = gpd.GeoDataFrame(geometry=[box(113.58, 34.80, 113.70, 34.87)], crs=4326)
    with pytest.raises(InvalidGeometryError, match="do not cross"):
        build_huiji_schematic(*_inputs(south, intersections))


@settings(max_examples=25, deadline=None)
@given(
    west=st.floats(113.5, 113.7),
    south=st.floats(34.8, 34.9),
    width=st.floats(1e-3, 0.05),
    height=st.floats(1e-3, 0.05),
    clockwise=st.booleans(),
)
def test_geojson_text_rounds_and_orients_polygons(
    west: float, south: float, width: float, height: float, clockwise: bool
) -> None:
    polygon = box(west, south, west + width, south + height, ccw=not clockwise)
    line = LineString([(west, south), (west + width, south + height)])
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b"], "name_zh": ["区", None]}, geometry=[polygon, line], crs=4326
    )
    document = json.loads(geojson_text(frame, name="t"))
    ring = document["features"][0]["geometry"]["coordinates"][0]
    assert Polygon(ring).exterior.is_ccw
    assert Polygon(ring).area == pytest.approx(polygon.area, rel=1e-3)
    for x, y in ring:
        assert round(x, 7) == x
        assert round(y, 7) == y
    assert document["features"][1]["properties"] == {"id": "b", "name_zh": None}
    assert "区" in geojson_text(frame, name="t")


_metres = st.floats(0.0, 1000.0)
_segments = st.lists(
    st.tuples(_metres, _metres, _metres, _metres).filter(
        lambda s: math.hypot(s[2] - s[0], s[3] - s[1]) > 1.0
    ),
    min_size=2,
    max_size=6,
)


@settings(max_examples=50, deadline=None)
@given(segments=_segments)
def test_noding_puts_a_shared_vertex_at_every_crossing(
    segments: list[tuple[float, float, float, float]],
) -> None:
    lines = [LineString([(x0, y0), (x1, y1)]) for x0, y0, x1, y1 in segments]
    # Collinear overlaps are refused by the noder; they are not part of this property.
    assume(all(a.intersection(b).length == 0.0 for a, b in itertools.combinations(lines, 2)))
    noded = _node_lines(lines)
    for (line, junctions), original in zip(noded, lines, strict=True):
        assert line.hausdorff_distance(original) <= JUNCTION_TOLERANCE_M
        assert all(0 <= k < len(line.coords) for k in junctions)
    noded_lines = [line for line, _ in noded]
    for a, b in itertools.combinations(noded_lines, 2):
        meeting = shapely.get_coordinates(a.intersection(b)).tolist()
        for xy in meeting:
            assert tuple(xy) in set(a.coords)
            assert tuple(xy) in set(b.coords)


def test_noding_refuses_roads_that_overlap() -> None:
    lines = [LineString([(0, 0), (100, 0)]), LineString([(50, 0), (150, 0)])]
    with pytest.raises(InvalidGeometryError, match="overlap"):
        _node_lines(lines)
