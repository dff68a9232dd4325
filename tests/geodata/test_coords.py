from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geodata.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometries_from_wgs84,
    geometries_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

ROOT = Path(__file__).resolve().parents[2]
HUIJI_WGS84 = ROOT / "geodata" / "data" / "huiji" / "huiji_410108_amap_wgs84.geojson"
HUIJI_GCJ02 = ROOT / "tests" / "data" / "huiji_410108_amap_gcj02.geojson"

GEOD = Geod(ellps="WGS84")
CENTIMETRE = 0.01

china_lon = st.floats(min_value=73.0, max_value=135.0)
china_lat = st.floats(min_value=18.0, max_value=54.0)


def ground_distance_m(lon1: object, lat1: object, lon2: object, lat2: object) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def china_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(73.0, 135.0, 32), np.linspace(18.0, 54.0, 19))
    return lon.ravel(), lat.ravel()


def test_forward_conversions_match_the_published_reference() -> None:
    # The example in the README of wandergis/coordTransform_py (MIT licence, (c) 2015 WangMing),
    # a widely used implementation of the same published formulas.
    lon, lat = 128.543, 37.065
    np.testing.assert_allclose(wgs84_to_gcj02(lon, lat), (128.54820547949757, 37.065651049489816))
    np.testing.assert_allclose(gcj02_to_bd09(lon, lat), (128.54944656269413, 37.07113427883019))
    np.testing.assert_allclose(wgs84_to_bd09(lon, lat), (128.55468192918485, 37.07168344938498))


@settings(deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_gcj02_round_trip_is_within_a_centimetre(lon: float, lat: float) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    assert ground_distance_m(lon, lat, gcj_lon, gcj_lat) > 1.0  # the offset is real
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert ground_distance_m(lon, lat, back_lon, back_lat) < CENTIMETRE


@settings(deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_bd09_round_trip_is_within_a_centimetre(lon: float, lat: float) -> None:
    bd_lon, bd_lat = wgs84_to_bd09(lon, lat)
    back_lon, back_lat = bd09_to_wgs84(bd_lon, bd_lat)
    assert ground_distance_m(lon, lat, back_lon, back_lat) < CENTIMETRE
    gcj_lon, gcj_lat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert ground_distance_m(lon, lat, gcj_lon, gcj_lat) < CENTIMETRE


def test_one_step_gcj02_inverse_is_off_by_more_than_a_centimetre() -> None:
    lon, lat = china_grid()
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    shifted_lon, shifted_lat = wgs84_to_gcj02(gcj_lon, gcj_lat)
    one_step = (2 * gcj_lon - shifted_lon, 2 * gcj_lat - shifted_lat)

    one_step_error = ground_distance_m(lon, lat, *one_step)
    iterated_error = ground_distance_m(lon, lat, *gcj02_to_wgs84(gcj_lon, gcj_lat))

    assert one_step_error.max() > CENTIMETRE
    assert iterated_error.max() < CENTIMETRE


def test_one_step_bd09_inverse_is_off_by_more_than_a_centimetre() -> None:
    lon, lat = china_grid()
    bd_lon, bd_lat = gcj02_to_bd09(lon, lat)
    # The usual closed-form approximation of the inverse.
    x_pi = np.pi * 3000.0 / 180.0
    x, y = bd_lon - 0.0065, bd_lat - 0.006
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * x_pi)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * x_pi)
    one_step = (radius * np.cos(theta), radius * np.sin(theta))

    one_step_error = ground_distance_m(lon, lat, *one_step)
    iterated_error = ground_distance_m(lon, lat, *bd09_to_gcj02(bd_lon, bd_lat))

    assert one_step_error.max() > CENTIMETRE
    assert iterated_error.max() < CENTIMETRE


def test_conversions_broadcast_and_match_point_by_point() -> None:
    lon = np.linspace(113.0, 114.5, 12).reshape(3, 4)
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, 34.8)
    assert gcj_lon.shape == gcj_lat.shape == (3, 4)
    wgs_lon, wgs_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    for index in np.ndindex(lon.shape):
        one_lon, one_lat = gcj02_to_wgs84(gcj_lon[index], gcj_lat[index])
        assert one_lon == wgs_lon[index]
        assert one_lat == wgs_lat[index]


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(-0.1276, 51.5072), (151.2093, -33.8688), (-74.006, 40.7128), (70.0, 40.0)],
)
def test_points_outside_china_are_unchanged(lon: float, lat: float) -> None:
    np.testing.assert_array_equal(wgs84_to_gcj02(lon, lat), (lon, lat))
    np.testing.assert_array_equal(gcj02_to_wgs84(lon, lat), (lon, lat))


def test_missing_coordinates_stay_missing() -> None:
    lon = np.array([113.65, np.nan])
    lat = np.array([34.87, 34.87])
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        out_lon, out_lat = convert(lon, lat)
        assert np.isfinite(out_lon[0])
        assert np.isnan(out_lon[1])
        assert np.isnan(out_lat[1])


def intersection_over_union(a: gpd.GeoSeries, b: gpd.GeoSeries) -> float:
    a_metric = a.to_crs(4547).union_all()
    b_metric = b.to_crs(4547).union_all()
    return float(a_metric.intersection(b_metric).area / a_metric.union(b_metric).area)


def test_converted_gcj02_boundary_overlaps_the_wgs84_boundary() -> None:
    wgs84 = gpd.read_file(HUIJI_WGS84).geometry
    gcj02 = gpd.read_file(HUIJI_GCJ02).geometry

    converted = geometries_to_wgs84(gcj02, "gcj02")

    assert intersection_over_union(converted, wgs84) >= 0.995
    assert intersection_over_union(gcj02, wgs84) < 0.95


def test_geoseries_keeps_index_name_crs_missing_and_empty() -> None:
    series = gpd.GeoSeries(
        [Point(113.6, 34.8), None, Polygon(), LineString([(113.6, 34.8), (113.7, 34.9)])],
        index=[10, 20, 30, 40],
        crs="EPSG:4326",
        name="geometry_gcj02",
    )

    converted = geometries_to_wgs84(series, "gcj02")

    assert isinstance(converted, gpd.GeoSeries)
    assert list(converted.index) == [10, 20, 30, 40]
    assert converted.name == "geometry_gcj02"
    assert converted.crs == series.crs
    assert converted.iloc[1] is None
    assert converted.iloc[2].is_empty
    assert converted.iloc[2].geom_type == "Polygon"
    expected = gcj02_to_wgs84(113.6, 34.8)
    assert converted.iloc[0].x == expected[0]
    assert converted.iloc[0].y == expected[1]


def test_arrays_of_any_geometry_type_round_trip() -> None:
    ring = [(113.6, 34.8), (113.7, 34.8), (113.7, 34.9), (113.6, 34.9)]
    hole = [(113.62, 34.82), (113.64, 34.82), (113.64, 34.84)]
    geoms = np.array(
        [
            Point(113.65, 34.85, 87.0),
            MultiPolygon([Polygon(ring, [hole])]),
            shapely.GeometryCollection([Point(113.6, 34.8), LineString(ring)]),
        ],
        dtype=object,
    )
    for system in ("gcj02", "bd09"):
        shifted = geometries_from_wgs84(geoms, system)
        assert isinstance(shifted, np.ndarray)
        assert not shapely.equals_exact(shifted, geoms, tolerance=1e-4).any()
        assert list(shapely.get_type_id(shifted)) == list(shapely.get_type_id(geoms))
        assert list(shapely.has_z(shifted)) == [True, False, False]
        assert shifted[0].z == 87.0
        back = geometries_to_wgs84(shifted, system)
        assert shapely.equals_exact(back, geoms, tolerance=1e-9).all()


def test_geometries_from_wgs84_converts_every_coordinate() -> None:
    line = LineString([(113.6, 34.8), (113.65, 34.85), (113.7, 34.9)])
    (converted,) = geometries_from_wgs84(np.array([line], dtype=object), "gcj02")
    expected = np.column_stack(wgs84_to_gcj02(*np.asarray(line.coords).T))
    np.testing.assert_array_equal(shapely.get_coordinates(converted), expected)


def test_wgs84_returns_the_geometries_unchanged() -> None:
    series = gpd.GeoSeries([Point(113.6, 34.8)], crs="EPSG:4326")
    same = geometries_to_wgs84(series, "wgs84")
    assert same is not series
    assert same.equals(series)
    assert geometries_from_wgs84(series, "wgs84").equals(series)


@pytest.mark.parametrize("convert", [geometries_to_wgs84, geometries_from_wgs84])
def test_unknown_coordinate_system_is_refused(convert: Callable[[np.ndarray, str], object]) -> None:
    geoms = np.array([Point(113.6, 34.8)], dtype=object)
    with pytest.raises(ValueError, match=r"'baidu'.*'wgs84', 'gcj02', 'bd09'"):
        convert(geoms, "baidu")
