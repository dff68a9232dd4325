"""The import pipeline end to end: coordinates, plausibility and layer columns."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point

from geodata.crs import HUIJI_BOUNDS
from geodata.errors import CoordinateError, FieldError
from geodata.huiji import huiji_data_path
from geodata.imports import ImportOptions, import_layer

DATA = Path(__file__).parent.parent / "data"


def _iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return float(shapely.intersection(a, b).area / shapely.union(a, b).area)


def test_gcj02_boundary_imported_with_coords_matches_the_wgs84_one() -> None:
    wgs84 = import_layer(huiji_data_path("huiji_410108_amap_wgs84.geojson"), "boundary").frame
    plain = import_layer(DATA / "huiji_410108_amap_gcj02.geojson", "boundary").frame
    fixed = import_layer(
        DATA / "huiji_410108_amap_gcj02.geojson", "boundary", ImportOptions(coords="gcj02")
    ).frame
    truth = wgs84.to_crs(4547).geometry.iloc[0]
    assert _iou(fixed.to_crs(4547).geometry.iloc[0], truth) >= 0.995
    assert _iou(plain.to_crs(4547).geometry.iloc[0], truth) < 0.95
    assert fixed.loc[0, "code"] == "410108"
    assert fixed.loc[0, "name_zh"] == "惠济区"


def test_bd09_points(tmp_path: Path) -> None:
    from geodata.coords import wgs84_to_bd09

    lon, lat = wgs84_to_bd09([113.66], [34.90])
    path = tmp_path / "points.csv"
    path.write_text(f"id,lon,lat\nG1,{float(lon[0])!r},{float(lat[0])!r}\n", encoding="utf-8")
    frame = import_layer(path, "guidance_points", ImportOptions(coords="bd09")).frame
    point = frame.geometry.iloc[0]
    assert point.x == pytest.approx(113.66, abs=1e-8)
    assert point.y == pytest.approx(34.90, abs=1e-8)


def test_coords_on_projected_data_is_refused(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"highway": ["primary"]}, geometry=[LineString([(113.6, 34.8), (113.7, 34.8)])], crs=4326
    )
    path = tmp_path / "roads.gpkg"
    frame.to_crs(4547).to_file(path)
    with pytest.raises(FieldError, match="longitude/latitude") as caught:
        import_layer(path, "roads", ImportOptions(coords="gcj02"))
    assert caught.value.field == "coords"


def test_data_far_from_the_district_is_refused() -> None:
    with pytest.raises(CoordinateError, match="km from the expected area"):
        import_layer(
            DATA / "wuhan_hankou_4km_wgs84.geojson",
            "roads",
            ImportOptions(expected_bounds=HUIJI_BOUNDS),
        )


def test_swapped_lat_lon_is_detected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"id": ["G1", "G2"]}, geometry=[Point(34.90, 113.66), Point(34.91, 113.67)], crs=4326
    )
    path = tmp_path / "points.geojson"
    frame.to_file(path)
    with pytest.raises(CoordinateError, match="swapped"):
        import_layer(path, "guidance_points", ImportOptions(expected_bounds=HUIJI_BOUNDS))


def test_required_columns_are_named(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["沿黄"]},
        geometry=[shapely.box(113.6, 34.9, 113.7, 34.95)],
        crs=4326,
    )
    path = tmp_path / "zones.geojson"
    frame.to_file(path)
    with pytest.raises(FieldError, match="needs a column 'kind'") as caught:
        import_layer(path, "zones")
    assert caught.value.field == "kind"


def test_typed_columns_are_checked_per_row(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text(
        "id,lon,lat,radius_m\nG1,113.66,34.90,50\nG2,113.67,34.90,fifty\n", encoding="utf-8"
    )
    with pytest.raises(FieldError, match="'fifty' is not a real value") as caught:
        import_layer(path, "guidance_points")
    assert (caught.value.row, caught.value.field) == (2, "radius_m")
