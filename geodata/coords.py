"""Conversion between WGS84 and the obfuscated coordinates of Chinese web maps.

Map data from Chinese sources is usually not in WGS84. Amap (高德) and Tencent maps use GCJ-02
("Mars" coordinates), a deliberately distorted lon/lat system that is offset from WGS84 by a few
hundred metres; Baidu maps use BD-09, a further distortion of GCJ-02. Both forward conversions are
published formulas; their inverses are not, so we invert them by iterating on the forward formula
until the result is exact to well under a centimetre. The common one-step inverse
(``wgs ≈ gcj - (f(gcj) - gcj)``) is off by up to a few metres.

All functions are vectorised with numpy over arrays of longitudes and latitudes (degrees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeAlias, get_args, overload

import numpy as np
import shapely
from geopandas import GeoSeries
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "COORD_SYSTEMS",
    "CoordSystem",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geometries_from_wgs84",
    "geometries_to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CoordSystem = Literal["wgs84", "gcj02", "bd09"]
COORD_SYSTEMS: tuple[str, ...] = get_args(CoordSystem)

FloatArray: TypeAlias = NDArray[np.float64]
LonLat: TypeAlias = tuple[FloatArray, FloatArray]
Converter: TypeAlias = Callable[[ArrayLike, ArrayLike], LonLat]
GeometryArray: TypeAlias = NDArray[np.object_]

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD09_X_PI = np.pi * 3000.0 / 180.0

# The inverses stop once no point moves more than this (about 10 µm on the ground).
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30


def _as_lonlat(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    lon_array, lat_array = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return lon_array.copy(), lat_array.copy()


def _outside_china(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    # The rectangle every published GCJ-02 implementation uses; outside it GCJ-02 equals WGS84.
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj02_lat_shift(x: FloatArray, y: FloatArray) -> FloatArray:
    shift = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    shift += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    shift += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    shift += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return shift


def _gcj02_lon_shift(x: FloatArray, y: FloatArray) -> FloatArray:
    shift = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    shift += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    shift += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    shift += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return shift


def _invert(
    forward: Callable[[FloatArray, FloatArray], LonLat], lon: FloatArray, lat: FloatArray
) -> LonLat:
    """Solve ``forward(x) = (lon, lat)`` for x by fixed-point iteration.

    The forward conversions are a small, smooth offset (their Jacobian is the identity to within
    about 1e-4), so ``x <- x - (forward(x) - target)`` contracts by that factor each step and
    reaches 1e-10 degrees in three or four steps.
    """
    guess_lon, guess_lat = lon.copy(), lat.copy()
    # Flat views, so that the active points can be updated in place whatever the input's shape.
    flat_lon, flat_lat = guess_lon.reshape(-1), guess_lat.reshape(-1)
    target_lon, target_lat = lon.reshape(-1), lat.reshape(-1)
    # A point stops as soon as it has converged, so its result does not depend on the others.
    finite = np.isfinite(target_lon) & np.isfinite(target_lat)
    # As in the forward conversions, a point with a missing coordinate has no result.
    flat_lon[~finite] = np.nan
    flat_lat[~finite] = np.nan
    active = np.flatnonzero(finite)
    for _ in range(_INVERSE_MAX_ITERATIONS):
        if active.size == 0:
            break
        forward_lon, forward_lat = forward(flat_lon[active], flat_lat[active])
        step_lon = forward_lon - target_lon[active]
        step_lat = forward_lat - target_lat[active]
        flat_lon[active] -= step_lon
        flat_lat[active] -= step_lat
        active = active[np.maximum(np.abs(step_lon), np.abs(step_lat)) > _INVERSE_TOLERANCE_DEG]
    return guess_lon, guess_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert WGS84 longitudes and latitudes to GCJ-02.

    Points outside China (the rectangle 72.004–137.8347 E, 0.8293–55.8271 N) are returned
    unchanged, as GCJ-02 leaves them.

    Parameters
    ----------
    lon
        WGS84 longitudes in degrees.
    lat
        WGS84 latitudes in degrees, broadcastable against ``lon``.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        GCJ-02 longitudes and latitudes.
    """
    lon_array, lat_array = _as_lonlat(lon, lat)
    x = lon_array - 105.0
    y = lat_array - 35.0
    lat_shift = _gcj02_lat_shift(x, y)
    lon_shift = _gcj02_lon_shift(x, y)
    lat_rad = lat_array / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(lat_rad) ** 2
    sqrt_magic = np.sqrt(magic)
    lat_shift = (lat_shift * 180.0) / (
        (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi
    )
    lon_shift = (lon_shift * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(lat_rad) * np.pi)
    outside = _outside_china(lon_array, lat_array)
    gcj_lon = np.where(outside, lon_array, lon_array + lon_shift)
    gcj_lat = np.where(outside, lat_array, lat_array + lat_shift)
    return gcj_lon, gcj_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert GCJ-02 longitudes and latitudes to WGS84.

    The inverse of :func:`wgs84_to_gcj02`, found by iteration to within about 1e-10 degrees (far
    better than a centimetre).

    Parameters
    ----------
    lon
        GCJ-02 longitudes in degrees.
    lat
        GCJ-02 latitudes in degrees, broadcastable against ``lon``.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        WGS84 longitudes and latitudes.
    """
    return _invert(wgs84_to_gcj02, *_as_lonlat(lon, lat))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert GCJ-02 longitudes and latitudes to Baidu's BD-09.

    Parameters
    ----------
    lon
        GCJ-02 longitudes in degrees.
    lat
        GCJ-02 latitudes in degrees, broadcastable against ``lon``.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        BD-09 longitudes and latitudes.
    """
    lon_array, lat_array = _as_lonlat(lon, lat)
    radius = np.hypot(lon_array, lat_array) + 0.00002 * np.sin(lat_array * _BD09_X_PI)
    theta = np.arctan2(lat_array, lon_array) + 0.000003 * np.cos(lon_array * _BD09_X_PI)
    bd_lon = np.asarray(radius * np.cos(theta) + 0.0065, dtype=np.float64)
    bd_lat = np.asarray(radius * np.sin(theta) + 0.006, dtype=np.float64)
    return bd_lon, bd_lat


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert Baidu's BD-09 longitudes and latitudes to GCJ-02.

    The inverse of :func:`gcj02_to_bd09`, found by iteration to within about 1e-10 degrees.

    Parameters
    ----------
    lon
        BD-09 longitudes in degrees.
    lat
        BD-09 latitudes in degrees, broadcastable against ``lon``.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        GCJ-02 longitudes and latitudes.
    """
    return _invert(gcj02_to_bd09, *_as_lonlat(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert WGS84 longitudes and latitudes to Baidu's BD-09 (through GCJ-02).

    Parameters
    ----------
    lon
        WGS84 longitudes in degrees.
    lat
        WGS84 latitudes in degrees, broadcastable against ``lon``.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        BD-09 longitudes and latitudes.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert Baidu's BD-09 longitudes and latitudes to WGS84 (through GCJ-02).

    Parameters
    ----------
    lon
        BD-09 longitudes in degrees.
    lat
        BD-09 latitudes in degrees, broadcastable against ``lon``.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        WGS84 longitudes and latitudes.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: dict[str, Converter] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, Converter] = {
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def _convert_function(name: str, table: dict[str, Converter], role: str) -> Converter | None:
    if name not in COORD_SYSTEMS:
        valid = ", ".join(repr(system) for system in COORD_SYSTEMS)
        raise ValueError(f"unknown {role} coordinate system {name!r}; use one of {valid}")
    return table.get(name)


def _convert_geometries(
    geoms: GeometryArray | GeoSeries, convert: Converter | None
) -> GeometryArray | GeoSeries:
    values: GeometryArray = np.asarray(
        geoms.array if isinstance(geoms, GeoSeries) else geoms, dtype=object
    )
    if convert is None:
        values = values.copy()
    else:

        def convert_coordinates(coords: FloatArray) -> FloatArray:
            converted = coords.copy()
            converted[:, 0], converted[:, 1] = convert(coords[:, 0], coords[:, 1])
            return converted

        # include_z=True keeps each geometry's dimensionality; z passes through unchanged.
        values = shapely.transform(values, convert_coordinates, include_z=True)
    if isinstance(geoms, GeoSeries):
        return GeoSeries(values, index=geoms.index, crs=geoms.crs, name=geoms.name)
    return values


@overload
def geometries_to_wgs84(geoms: GeometryArray, source: CoordSystem) -> GeometryArray: ...
@overload
def geometries_to_wgs84(geoms: GeoSeries, source: CoordSystem) -> GeoSeries: ...
def geometries_to_wgs84(
    geoms: GeometryArray | GeoSeries, source: CoordSystem
) -> GeometryArray | GeoSeries:
    """Convert geometries from a Chinese web-map coordinate system to WGS84.

    Every coordinate of every geometry is converted (z is kept); None and empty geometries are kept
    as they are.

    Parameters
    ----------
    geoms
        The geometries, as a numpy array of shapely geometries or a GeoSeries.
    source
        The coordinate system the geometries are in: ``"wgs84"`` (returned unchanged),
        ``"gcj02"`` (Amap, Tencent) or ``"bd09"`` (Baidu).

    Returns
    -------
    numpy.ndarray or geopandas.GeoSeries
        The geometries in WGS84, of the same kind as ``geoms``; a GeoSeries keeps its index, name
        and CRS.

    Raises
    ------
    ValueError
        If ``source`` is not one of the coordinate systems above.
    """
    return _convert_geometries(geoms, _convert_function(source, _TO_WGS84, "source"))


@overload
def geometries_from_wgs84(geoms: GeometryArray, target: CoordSystem) -> GeometryArray: ...
@overload
def geometries_from_wgs84(geoms: GeoSeries, target: CoordSystem) -> GeoSeries: ...
def geometries_from_wgs84(
    geoms: GeometryArray | GeoSeries, target: CoordSystem
) -> GeometryArray | GeoSeries:
    """Convert WGS84 geometries to a Chinese web-map coordinate system.

    This is what a map needs to draw WGS84 data on an Amap or Tencent (GCJ-02) or a Baidu (BD-09)
    base map. Every coordinate of every geometry is converted (z is kept); None and empty geometries
    are kept as they are.

    Parameters
    ----------
    geoms
        The WGS84 geometries, as a numpy array of shapely geometries or a GeoSeries.
    target
        The coordinate system to convert to: ``"wgs84"`` (returned unchanged), ``"gcj02"`` or
        ``"bd09"``.

    Returns
    -------
    numpy.ndarray or geopandas.GeoSeries
        The converted geometries, of the same kind as ``geoms``; a GeoSeries keeps its index, name
        and CRS.

    Raises
    ------
    ValueError
        If ``target`` is not one of the coordinate systems above.
    """
    return _convert_geometries(geoms, _convert_function(target, _FROM_WGS84, "target"))
