from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod
from shapely.geometry import Point, Polygon, box

from geodata.crs import (
    CHINA_BOUNDS,
    HUIJI_BOUNDS,
    check_lonlat,
    projected_crs_for,
    require_crs,
    to_metric,
    to_storage_crs,
)
from geodata.errors import CoordinateError, FieldError, MissingCRSError

ROOT = Path(__file__).resolve().parents[2]
HUIJI_WGS84 = ROOT / "geodata" / "data" / "huiji" / "huiji_410108_amap_wgs84.geojson"
GEOD = Geod(ellps="WGS84")


def around(lon: float, lat: float, half_size: float = 0.1) -> tuple[float, float, float, float]:
    return (lon - half_size, lat - half_size, lon + half_size, lat + half_size)


def central_meridian(crs: CRS) -> float:
    assert crs.coordinate_operation is not None
    (value,) = (
        param.value
        for param in crs.coordinate_operation.params
        if param.name == "Longitude of natural origin"
    )
    return float(value)


def points(*lonlats: tuple[float, float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(lon, lat) for lon, lat in lonlats], crs="EPSG:4326")


@pytest.fixture(scope="module")
def huiji() -> gpd.GeoDataFrame:
    return gpd.read_file(HUIJI_WGS84)


# --- projected_crs_for -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "lon", "lat", "epsg"),
    [
        ("Zhengzhou", 113.65, 34.76, 4547),
        ("Wuhan", 114.30, 30.59, 4547),
        ("Urumqi", 87.62, 43.83, 4538),
        ("Harbin", 126.63, 45.75, 4551),
        ("London", -0.13, 51.51, 32630),
        ("Sydney", 151.21, -33.87, 32756),
    ],
)
def test_zone_choice(place: str, lon: float, lat: float, epsg: int) -> None:
    assert projected_crs_for(around(lon, lat)).to_epsg() == epsg, place


@pytest.mark.parametrize("meridian", range(75, 136, 3))
def test_gauss_kruger_codes_name_their_central_meridian(meridian: int) -> None:
    crs = projected_crs_for(around(meridian, 35.0))
    assert crs.name == f"CGCS2000 / 3-degree Gauss-Kruger CM {meridian}E"
    assert central_meridian(crs) == meridian


@pytest.mark.parametrize(("lon", "lat", "hemisphere"), [(-0.13, 51.51, "N"), (151.21, -33.87, "S")])
def test_utm_codes_name_their_zone(lon: float, lat: float, hemisphere: str) -> None:
    crs = projected_crs_for(around(lon, lat))
    zone = int((lon + 180) // 6) + 1
    assert crs.name == f"WGS 84 / UTM zone {zone}{hemisphere}"


@settings(deadline=None)
@given(
    lon=st.floats(min_value=CHINA_BOUNDS[0], max_value=CHINA_BOUNDS[2]),
    lat=st.floats(min_value=CHINA_BOUNDS[1], max_value=CHINA_BOUNDS[3]),
)
def test_chinese_zone_is_the_nearest_gauss_kruger_meridian(lon: float, lat: float) -> None:
    crs = projected_crs_for((lon, lat, lon, lat))
    assert crs.name.startswith("CGCS2000 / 3-degree Gauss-Kruger")
    nearest = min(abs(meridian - lon) for meridian in range(75, 136, 3))
    assert abs(central_meridian(crs) - lon) == nearest


@settings(deadline=None)
@given(
    lon=st.floats(min_value=-180.0, max_value=72.9),
    lat=st.floats(min_value=-80.0, max_value=84.0),
)
def test_zone_outside_china_is_the_utm_zone_of_the_centre(lon: float, lat: float) -> None:
    crs = projected_crs_for((lon, lat, lon, lat))
    assert crs.name.startswith("WGS 84 / UTM zone")
    assert abs(central_meridian(crs) - lon) <= 3.0
    assert crs.name.endswith("N" if lat >= 0 else "S")


@pytest.mark.parametrize(
    "bounds", [(np.nan, np.nan, np.nan, np.nan), (400000.0, 3800000.0, 500000.0, 3900000.0)]
)
def test_projected_crs_for_refuses_bounds_that_are_not_lonlat(
    bounds: tuple[float, float, float, float],
) -> None:
    with pytest.raises(CoordinateError):
        projected_crs_for(bounds)


# --- require_crs ----------------------------------------------------------------------------


def test_require_crs_prefers_the_override() -> None:
    crs = require_crs("EPSG:4326", file="posts.geojson", override="EPSG:4547")
    assert crs.to_epsg() == 4547


def test_require_crs_uses_the_files_own() -> None:
    assert require_crs(CRS.from_epsg(4490), file="posts.geojson").to_epsg() == 4490
    assert require_crs("EPSG:4326", file="posts.geojson").to_epsg() == 4326


def test_require_crs_refuses_a_file_without_one() -> None:
    with pytest.raises(MissingCRSError) as caught:
        require_crs(None, file="posts.shp")
    assert caught.value.file == "posts.shp"
    assert "--crs EPSG:4326" in str(caught.value)
    assert "--crs EPSG:4547" in str(caught.value)
    assert str(caught.value).startswith("posts.shp: the file does not say")


def test_require_crs_refuses_an_override_that_is_not_a_crs() -> None:
    with pytest.raises(FieldError) as caught:
        require_crs("EPSG:4326", file="posts.geojson", override="EPSG:99999999")
    assert caught.value.field == "crs"
    assert caught.value.file == "posts.geojson"
    assert "not a coordinate reference system pyproj knows" in caught.value.message


def test_require_crs_refuses_a_file_crs_pyproj_does_not_know() -> None:
    with pytest.raises(MissingCRSError, match="--crs"):
        require_crs("LOCAL_CS[nonsense", file="posts.geojson")


# --- check_lonlat ---------------------------------------------------------------------------


def test_accepts_the_real_huiji_boundary(huiji: gpd.GeoDataFrame) -> None:
    check_lonlat(huiji, file="huiji.geojson", expected_bounds=HUIJI_BOUNDS)


def test_huiji_bounds_are_the_districts_extent(huiji: gpd.GeoDataFrame) -> None:
    extent = box(*huiji.total_bounds)
    constant = box(*HUIJI_BOUNDS)
    overlap = extent.intersection(constant).area / extent.union(constant).area
    assert overlap > 0.9


def swapped(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.set_geometry(shapely.transform(gdf.geometry.array, lambda xy: xy[:, ::-1].copy()))


@pytest.mark.parametrize("expected_bounds", [HUIJI_BOUNDS, None])
def test_catches_swapped_latitude_and_longitude(
    huiji: gpd.GeoDataFrame, expected_bounds: tuple[float, float, float, float] | None
) -> None:
    with pytest.raises(CoordinateError, match="swapped") as caught:
        check_lonlat(swapped(huiji), file="huiji.geojson", expected_bounds=expected_bounds)
    assert caught.value.file == "huiji.geojson"
    assert caught.value.row == 1


def test_catches_swap_that_stays_in_range_by_the_expected_area() -> None:
    # Near Paris both orders are valid lon/lat; only the expected area tells them apart.
    paris = (2.2, 48.8, 2.5, 48.9)
    as_given = points((48.85, 2.35), (48.86, 2.30))
    with pytest.raises(CoordinateError, match="swapped") as caught:
        check_lonlat(as_given, file="paris.csv", expected_bounds=paris)
    assert caught.value.row is None
    check_lonlat(swapped(as_given), file="paris.csv", expected_bounds=paris)
    check_lonlat(as_given, file="paris.csv")


def test_names_the_one_swapped_row() -> None:
    gdf = points((113.6, 34.8), (34.85, 113.7), (113.7, 34.9))
    with pytest.raises(CoordinateError, match="swapped") as caught:
        check_lonlat(gdf, file="posts.csv")
    assert caught.value.row == 2


def test_catches_values_out_of_range() -> None:
    gdf = points((113.6, 34.8), (113.7, 34.9), (213.7, 34.9))
    with pytest.raises(CoordinateError, match="outside the valid range") as caught:
        check_lonlat(gdf, file="posts.csv")
    assert caught.value.row == 3
    assert "--crs" not in caught.value.message


def test_metres_read_as_degrees_suggest_crs(huiji: gpd.GeoDataFrame) -> None:
    in_metres = huiji.to_crs(4547).set_crs(4326, allow_override=True)
    with pytest.raises(CoordinateError, match="metres") as caught:
        check_lonlat(in_metres, file="huiji.shp")
    assert "--crs" in caught.value.message


def test_catches_missing_numbers() -> None:
    gdf = points((113.6, 34.8), (np.nan, 34.9))
    with pytest.raises(CoordinateError, match="not numbers") as caught:
        check_lonlat(gdf, file="posts.csv")
    assert caught.value.row == 2


def reported_km(error: CoordinateError) -> float:
    match = re.search(r"([\d,]+) km from the expected area", error.message)
    assert match is not None, error.message
    return float(match.group(1).replace(",", ""))


def test_catches_data_1000_km_away(huiji: gpd.GeoDataFrame) -> None:
    # About 1000 km due north of the district's northern edge.
    shift = 9.0
    moved = huiji.set_geometry(huiji.geometry.translate(yoff=shift))
    with pytest.raises(CoordinateError) as caught:
        check_lonlat(moved, file="huiji.geojson", expected_bounds=HUIJI_BOUNDS)
    error = caught.value
    assert error.file == "huiji.geojson"
    assert "--crs" in error.message
    assert "--coords" in error.message
    south_edge = huiji.total_bounds[1] + shift
    lon = float(huiji.total_bounds[[0, 2]].mean())
    true_km = GEOD.inv(lon, HUIJI_BOUNDS[3], lon, south_edge)[2] / 1000
    assert reported_km(error) == pytest.approx(true_km, rel=0.02)
    assert f"{(huiji.total_bounds[1] + huiji.total_bounds[3]) / 2 + shift:.2f}°N" in error.message


def test_distance_is_measured_on_the_ground_not_in_degrees() -> None:
    # 0.5° of longitude at 35°N is about 46 km, 0.5° of latitude about 55 km.
    min_lon, min_lat, max_lon, max_lat = HUIJI_BOUNDS
    middle_lat = (min_lat + max_lat) / 2
    check_lonlat(points((max_lon + 0.5, middle_lat)), file="p.csv", expected_bounds=HUIJI_BOUNDS)
    with pytest.raises(CoordinateError):
        check_lonlat(
            points(((min_lon + max_lon) / 2, max_lat + 0.5)),
            file="p.csv",
            expected_bounds=HUIJI_BOUNDS,
        )


def test_names_the_far_row_and_respects_max_distance() -> None:
    gdf = points((113.6, 34.8), (113.7, 35.9), (113.7, 34.9))
    with pytest.raises(CoordinateError) as caught:
        check_lonlat(gdf, file="posts.csv", expected_bounds=HUIJI_BOUNDS)
    assert caught.value.row == 2
    check_lonlat(gdf, file="posts.csv", expected_bounds=HUIJI_BOUNDS, max_distance_km=150)


def test_without_expected_area_far_data_passes() -> None:
    check_lonlat(points((116.40, 39.90)), file="beijing.csv")


def test_ignores_missing_and_empty_geometries() -> None:
    gdf = gpd.GeoDataFrame(geometry=[None, Polygon(), Point(113.65, 34.88)], crs="EPSG:4326")
    check_lonlat(gdf, file="posts.csv", expected_bounds=HUIJI_BOUNDS)
    check_lonlat(gdf.iloc[:2], file="posts.csv", expected_bounds=HUIJI_BOUNDS)


def test_check_lonlat_refuses_projected_data(huiji: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="to_storage_crs"):
        check_lonlat(huiji.to_crs(4547), file="huiji.shp")


# --- to_storage_crs and to_metric ---------------------------------------------------------


def test_to_storage_crs_projects_back_to_lonlat(huiji: gpd.GeoDataFrame) -> None:
    stored = to_storage_crs(huiji.to_crs(4547))
    assert stored.crs == CRS.from_epsg(4326)
    np.testing.assert_allclose(stored.total_bounds, huiji.total_bounds, atol=1e-7)


def test_to_storage_crs_takes_cgcs2000_as_wgs84(huiji: gpd.GeoDataFrame) -> None:
    cgcs2000 = huiji.set_crs(4490, allow_override=True)
    stored = to_storage_crs(cgcs2000)
    assert stored.crs == CRS.from_epsg(4326)
    assert cgcs2000.crs == CRS.from_epsg(4490)
    assert stored.geometry.geom_equals_exact(huiji.geometry, tolerance=0).all()


def test_to_storage_crs_needs_a_crs(huiji: gpd.GeoDataFrame) -> None:
    with pytest.raises(MissingCRSError):
        to_storage_crs(huiji.set_crs(None, allow_override=True))


def test_to_metric_chooses_the_zone_and_measures_true_area(huiji: gpd.GeoDataFrame) -> None:
    metric = to_metric(huiji)
    assert metric.crs.to_epsg() == 4547
    geodesic_area, _ = GEOD.geometry_area_perimeter(huiji.geometry.iloc[0])
    assert metric.area.iloc[0] == pytest.approx(abs(geodesic_area), rel=1e-3)
    assert to_metric(huiji.to_crs(3857)).crs.to_epsg() == 4547


def test_to_metric_uses_the_crs_given(huiji: gpd.GeoDataFrame) -> None:
    assert to_metric(huiji, "EPSG:32649").crs.to_epsg() == 32649
