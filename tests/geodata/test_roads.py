"""The road model: classes, levels, names, lengths and ids."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from shapely.geometry import LineString, MultiLineString

from geodata.errors import FieldError, GeodataWarning
from geodata.imports import import_layer
from geodata.roads import RoadMapping, road_mapping_from_toml, roads_from_frame

DATA = Path(__file__).parent.parent / "data"


def _roads(**columns: list[object]) -> gpd.GeoDataFrame:
    n = len(next(iter(columns.values())))
    geoms = [LineString([(113.60 + i * 0.01, 34.80), (113.60 + i * 0.01, 34.81)]) for i in range(n)]
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=4326)


def test_classes_and_levels_from_osm_and_chinese_fields() -> None:
    frame = _roads(
        id=["1", "2", "3", "4"],
        highway=["primary", "secondary", "residential", "['tertiary', 'residential']"],
    )
    roads = roads_from_frame(frame, file="f")
    assert list(roads["road_class"]) == ["arterial", "secondary", "back_street", "branch"]
    assert list(roads["level"]) == ["strict", "controlled", "regulated", "regulated"]
    chinese = _roads(id=["1", "2", "3"], 道路等级=["主干路", "次干路", "支路"])
    assert list(roads_from_frame(chinese, file="f")["road_class"]) == [
        "arterial",
        "secondary",
        "branch",
    ]


def test_level_by_name_and_level_field_override_the_class() -> None:
    frame = _roads(
        id=["1", "2", "3"],
        name=["文化路", "花园路", "英才街"],
        grade=["主干路", "主干路", "支路"],
        管理等级=[None, "严控", "严管"],
    )
    mapping = RoadMapping(level_by_name={"文化路": "strict", "花园路": "regulated"})
    roads = roads_from_frame(frame, file="f", mapping=mapping)
    assert list(roads["level"]) == ["strict", "controlled", "strict"]
    frame.loc[0, "管理等级"] = "很严"
    with pytest.raises(FieldError, match="not a management level") as caught:
        roads_from_frame(frame, file="f")
    assert (caught.value.row, caught.value.field) == (1, "管理等级")


def test_unknown_class_values_are_reported() -> None:
    frame = _roads(id=["1", "2"], highway=["primary", "高架路"])
    with pytest.warns(GeodataWarning, match="高架路"):
        roads = roads_from_frame(frame, file="f")
    assert list(roads["road_class"]) == ["arterial", "other"]


def test_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(
        '[class]\n"高架路" = "other"\n[level]\nsecondary = "strict"\n'
        '[level_by_name]\n"英才街" = "controlled"\n',
        encoding="utf-8",
    )
    mapping = road_mapping_from_toml(path)
    frame = _roads(
        id=["1", "2", "3"],
        name=["a", "b", "英才街"],
        highway=["高架路", "secondary", "residential"],
    )
    roads = roads_from_frame(frame, file="f", mapping=mapping)
    assert list(roads["road_class"]) == ["other", "secondary", "back_street"]
    assert list(roads["level"]) == ["regulated", "strict", "controlled"]


def test_mapping_file_errors_name_table_and_key(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text('[level]\narterial = "very strict"\n', encoding="utf-8")
    with pytest.raises(FieldError, match="very strict") as caught:
        road_mapping_from_toml(path)
    assert caught.value.field == "level.arterial"
    path.write_text("[level\n", encoding="utf-8")
    with pytest.raises(ValueError, match="TOML"):
        road_mapping_from_toml(path)


def test_multi_part_roads_become_one_road_per_unmergeable_part() -> None:
    touching = MultiLineString([[(113.6, 34.8), (113.6, 34.81)], [(113.6, 34.81), (113.6, 34.82)]])
    apart = MultiLineString([[(113.7, 34.8), (113.7, 34.81)], [(113.8, 34.8), (113.8, 34.81)]])
    frame = gpd.GeoDataFrame(
        {"id": ["m", "a"], "highway": ["primary", "primary"]}, geometry=[touching, apart], crs=4326
    )
    roads = roads_from_frame(frame, file="f")
    assert list(roads["id"]) == ["m", "a#1", "a#2"]
    assert roads.geom_type.eq("LineString").all()
    assert roads.loc[0, "attrs"] == {"id": "m", "highway": "primary"}


def test_lengths_match_geodesic_lengths_on_real_osm_data() -> None:
    roads = import_layer(DATA / "wuhan_hankou_4km_wgs84.geojson", "roads").frame
    geod = pyproj.Geod(ellps="WGS84")
    geodesic = np.array([geod.geometry_length(g) for g in roads.geometry])
    # Gauss-Krüger scale error stays far below 0.1 % within a 3° zone
    np.testing.assert_allclose(roads["length_m"], geodesic, rtol=1e-3)
    assert roads["id"].is_unique
    assert set(roads["road_class"]) >= {"arterial", "secondary", "branch", "back_street"}
    by_class = roads.groupby("road_class")["length_m"].sum()
    assert by_class.sum() / 1000 > 150  # a 4 km x 4 km window of central Hankou
    assert all(a["highway"] for a in roads["attrs"])
