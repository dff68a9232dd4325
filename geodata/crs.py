"""Which coordinate reference system to use, and whether the data is where it should be.

Data is stored in EPSG:4326 (longitude/latitude) and measured in a projected CRS: in China the
CGCS2000 3-degree Gauss-Krüger zone nearest the data (EPSG:4547, central meridian 114°E, for
Zhengzhou), elsewhere the UTM zone. A file that does not say which CRS it uses, or whose coordinates
cannot be right (latitude and longitude swapped, metres read as degrees, a district a thousand
kilometres from where it should be), is refused with a message that says how to fix it.
"""

from __future__ import annotations

import functools
import math
from typing import TypeAlias

import numpy as np
import shapely
from geopandas import GeoDataFrame
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geodata.errors import CoordinateError, FieldError, MissingCRSError
from geodata.layers import STORAGE_CRS

__all__ = [
    "CHINA_BOUNDS",
    "HUIJI_BOUNDS",
    "Bounds",
    "check_lonlat",
    "projected_crs_for",
    "require_crs",
    "to_metric",
    "to_storage_crs",
]

Bounds: TypeAlias = tuple[float, float, float, float]
"""Longitude/latitude bounds ``(min_lon, min_lat, max_lon, max_lat)`` in degrees."""

HUIJI_BOUNDS: Bounds = (113.49, 34.78, 113.80, 34.97)
"""The extent of Huiji District, Zhengzhou (lon/lat)."""

CHINA_BOUNDS: Bounds = (73.0, 18.0, 135.0, 54.0)
"""A lon/lat rectangle around mainland China, for choosing a Gauss-Krüger zone."""

# EPSG:4534 ("CGCS2000 / 3-degree Gauss-Kruger CM 75E") to EPSG:4554 ("... CM 135E"), one code
# per 3 degrees; these are the zones without the zone number prefixed to the easting.
_GK3_FIRST_EPSG = 4534
_GK3_FIRST_CM = 75
_GK3_LAST_CM = 135

_LONLAT_CRSS = (CRS.from_epsg(4326), CRS.from_epsg(4490), CRS.from_user_input("OGC:CRS84"))

_HOW_TO_GIVE_CRS = (
    "give it with --crs, e.g. --crs EPSG:4326 for longitude/latitude "
    "or --crs EPSG:4547 for CGCS2000 Gauss-Krüger 114°E metres"
)

# Coordinates this large are metres of a projected CRS, not degrees.
_LOOKS_LIKE_METRES = 1000.0


def _check_bounds(bounds: Bounds) -> None:
    min_lon, min_lat, max_lon, max_lat = bounds
    if not all(math.isfinite(value) for value in bounds):
        raise CoordinateError(f"the bounds {bounds} are not all numbers (is the data empty?)")
    if not (-180.0 <= min_lon <= max_lon <= 180.0 and -90.0 <= min_lat <= max_lat <= 90.0):
        raise CoordinateError(
            f"the bounds {bounds} are not longitude/latitude bounds "
            "(min_lon, min_lat, max_lon, max_lat) in degrees"
        )


def projected_crs_for(bounds: Bounds) -> CRS:
    """Choose the metric CRS for data with the given longitude/latitude bounds.

    Inside China (the centre of the bounds in :data:`CHINA_BOUNDS`) this is the CGCS2000 3-degree
    Gauss-Krüger zone whose central meridian is nearest the centre (EPSG:4534 for 75°E to
    EPSG:4554 for 135°E; EPSG:4547 for Zhengzhou); elsewhere the WGS84 UTM zone of the centre
    (EPSG:326xx north of the equator, EPSG:327xx south of it).

    Parameters
    ----------
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees (EPSG:4326).

    Returns
    -------
    pyproj.CRS
        The projected CRS.

    Raises
    ------
    CoordinateError
        If the bounds are not finite longitude/latitude bounds.
    """
    _check_bounds(bounds)
    min_lon, min_lat, max_lon, max_lat = bounds
    centre_lon = (min_lon + max_lon) / 2.0
    centre_lat = (min_lat + max_lat) / 2.0
    china_min_lon, china_min_lat, china_max_lon, china_max_lat = CHINA_BOUNDS
    if (
        china_min_lon <= centre_lon <= china_max_lon
        and china_min_lat <= centre_lat <= china_max_lat
    ):
        central_meridian = 3 * math.floor(centre_lon / 3.0 + 0.5)
        central_meridian = min(max(central_meridian, _GK3_FIRST_CM), _GK3_LAST_CM)
        return CRS.from_epsg(_GK3_FIRST_EPSG + (central_meridian - _GK3_FIRST_CM) // 3)
    zone = min(int((centre_lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if centre_lat >= 0.0 else 32700) + zone)


def require_crs(crs: CRS | str | None, *, file: str, override: str | None = None) -> CRS:
    """Return the CRS to use for a file: the one the user gave, else the file's own.

    Parameters
    ----------
    crs
        The CRS the file declares, or None if it declares none.
    file
        The file's name, for error messages.
    override
        The CRS the user gave (``--crs``), which wins over the file's own.

    Returns
    -------
    pyproj.CRS
        The CRS.

    Raises
    ------
    FieldError
        If ``override`` is not a CRS pyproj knows (field ``crs``).
    MissingCRSError
        If there is no override and the file declares no CRS, or one pyproj does not know.
    """
    if override is not None:
        try:
            return CRS.from_user_input(override)
        except CRSError as exc:
            raise FieldError(
                f"{override!r} is not a coordinate reference system pyproj knows; "
                "give an EPSG code, e.g. EPSG:4326 for longitude/latitude "
                "or EPSG:4547 for CGCS2000 Gauss-Krüger 114°E metres",
                file=file,
                field="crs",
            ) from exc
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        raise MissingCRSError(
            f"the file does not say which coordinate reference system it uses; {_HOW_TO_GIVE_CRS}",
            file=file,
        )
    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise MissingCRSError(
            f"the file's coordinate reference system {crs!r} is not one pyproj knows; "
            f"{_HOW_TO_GIVE_CRS}",
            file=file,
        ) from exc


def _is_lonlat(crs: CRS | None) -> bool:
    # CGCS2000 (EPSG:4490) differs from WGS84 by centimetres, far below what this data resolves.
    return crs is not None and any(
        crs.equals(lonlat, ignore_axis_order=True) for lonlat in _LONLAT_CRSS
    )


def _frame_crs(gdf: GeoDataFrame) -> CRS:
    if gdf.crs is None:
        raise MissingCRSError(
            "the data has no coordinate reference system; set it first (see require_crs)"
        )
    crs: CRS = gdf.crs
    return crs


def to_storage_crs(gdf: GeoDataFrame) -> GeoDataFrame:
    """Return the data in the storage CRS, EPSG:4326 (longitude/latitude).

    CGCS2000 geographic coordinates (EPSG:4490) are taken as EPSG:4326 unchanged: the two differ
    by centimetres.

    Parameters
    ----------
    gdf
        The data, with its CRS set.

    Returns
    -------
    geopandas.GeoDataFrame
        A new GeoDataFrame in EPSG:4326.

    Raises
    ------
    MissingCRSError
        If ``gdf`` has no CRS.
    """
    if _is_lonlat(_frame_crs(gdf)):
        return gdf.set_crs(STORAGE_CRS, allow_override=True)
    return gdf.to_crs(STORAGE_CRS)


def to_metric(gdf: GeoDataFrame, crs: CRS | str | None = None) -> GeoDataFrame:
    """Return the data in a projected CRS, for measuring lengths, areas and distances.

    Parameters
    ----------
    gdf
        The data, with its CRS set.
    crs
        The projected CRS to use; by default :func:`projected_crs_for` the data's bounds.

    Returns
    -------
    geopandas.GeoDataFrame
        A new GeoDataFrame in the projected CRS.

    Raises
    ------
    MissingCRSError
        If ``gdf`` has no CRS.
    CoordinateError
        If ``crs`` is not given and the data is empty or its bounds are not valid lon/lat.
    """
    source_crs = _frame_crs(gdf)
    if crs is None:
        min_x, min_y, max_x, max_y = (float(value) for value in gdf.total_bounds)
        bounds: Bounds = (min_x, min_y, max_x, max_y)
        if not _is_lonlat(source_crs) and all(math.isfinite(value) for value in bounds):
            to_lonlat = Transformer.from_crs(source_crs, STORAGE_CRS, always_xy=True)
            bounds = to_lonlat.transform_bounds(min_x, min_y, max_x, max_y)
        crs = projected_crs_for(bounds)
    return gdf.to_crs(crs)


def _format_lonlat(lon: float, lat: float) -> str:
    east_west = "E" if lon >= 0 else "W"
    north_south = "N" if lat >= 0 else "S"
    return f"{abs(lon):.2f}°{east_west}, {abs(lat):.2f}°{north_south}"


def _format_bounds(bounds: Bounds) -> str:
    min_lon, min_lat, max_lon, max_lat = bounds
    return f"{min_lon:.2f}–{max_lon:.2f}°E, {min_lat:.2f}–{max_lat:.2f}°N"


def _coordinate_error(
    message: str, bad_positions: NDArray[np.intp], feature_count: int, *, file: str
) -> CoordinateError:
    """Build the error for the features at ``bad_positions`` (0-based, possibly repeated).

    One feature (or some but not all) is named by its 1-based row; when every feature of a file
    with several is wrong, the problem is the file's, and no row is named.
    """
    bad_rows = np.unique(bad_positions) + 1
    if len(bad_rows) == feature_count and feature_count > 1:
        return CoordinateError(f"{message} (every feature)", file=file)
    if len(bad_rows) > 1:
        message = f"{message} ({len(bad_rows)} of {feature_count} features, the first here)"
    return CoordinateError(message, file=file, row=int(bad_rows[0]))


def _check_lonlat_range(
    coords: NDArray[np.float64], positions: NDArray[np.intp], feature_count: int, *, file: str
) -> None:
    lon, lat = coords[:, 0], coords[:, 1]
    not_numbers = ~np.isfinite(coords).all(axis=1)
    if not_numbers.any():
        raise _coordinate_error(
            "coordinates that are not numbers (NaN or infinite)",
            positions[not_numbers],
            feature_count,
            file=file,
        )
    out_of_range = (np.abs(lon) > 180.0) | (np.abs(lat) > 90.0)
    if not out_of_range.any():
        return
    first = int(np.flatnonzero(out_of_range)[0])
    point = f"x={lon[first]:.6g}, y={lat[first]:.6g}"
    fits_swapped = (np.abs(lon) <= 90.0) & (np.abs(lat) <= 180.0)
    if fits_swapped[out_of_range].all():
        raise _coordinate_error(
            f"latitude and longitude look swapped: the point {point} has a latitude beyond ±90° "
            "but is valid the other way round; put the longitude first (x) and the latitude "
            "second (y)",
            positions[out_of_range],
            feature_count,
            file=file,
        )
    message = (
        f"the point {point} is outside the valid range "
        "(longitude -180° to 180°, latitude -90° to 90°)"
    )
    if np.abs(coords[out_of_range]).max() > _LOOKS_LIKE_METRES:
        message += (
            "; these look like metres of a projected coordinate reference system, "
            f"not degrees: {_HOW_TO_GIVE_CRS}"
        )
    raise _coordinate_error(message, positions[out_of_range], feature_count, file=file)


def _distances_km(geoms: NDArray[np.object_], area: Bounds) -> NDArray[np.float64]:
    """Return each geometry's distance from the ``area`` rectangle, in kilometres.

    Measured in an azimuthal equidistant projection centred on the area, which keeps distances
    from the area true to within about the area's size at any range; NaN for missing geometries.
    """
    min_lon, min_lat, max_lon, max_lat = area
    local_crs = CRS.from_dict(
        {
            "proj": "aeqd",
            "lon_0": (min_lon + max_lon) / 2.0,
            "lat_0": (min_lat + max_lat) / 2.0,
            "datum": "WGS84",
            "units": "m",
        }
    )
    to_local = Transformer.from_crs(STORAGE_CRS, local_crs, always_xy=True)

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = to_local.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    # Densified so that the rectangle's edges follow the parallels and meridians.
    area_box = shapely.segmentize(shapely.box(*area), 0.01)
    local_area = shapely.transform(area_box, project)
    local_geoms = shapely.transform(geoms, project)
    distances: NDArray[np.float64] = shapely.distance(local_geoms, local_area) / 1000.0
    return distances


def _check_near(
    geoms: NDArray[np.object_],
    expected_bounds: Bounds,
    max_distance_km: float,
    *,
    file: str,
) -> None:
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    distances = _distances_km(geoms, expected_bounds)
    # Not-finite distances (a point at the antipode) count as far.
    far = present & ~(distances <= max_distance_km)
    if not far.any():
        return
    far_positions = np.flatnonzero(far).astype(np.intp)
    far_geoms = geoms[far]
    area = _format_bounds(expected_bounds)

    coords = shapely.get_coordinates(far_geoms)
    if (np.abs(coords[:, 0]) <= 90.0).all():
        swapped = shapely.transform(far_geoms, lambda xy: xy[:, ::-1].copy())
        if (_distances_km(swapped, expected_bounds) <= max_distance_km).all():
            raise _coordinate_error(
                "latitude and longitude look swapped: the data is far from the expected area "
                f"({area}) but lies in it the other way round; put the longitude first (x) and "
                "the latitude second (y)",
                far_positions,
                len(geoms),
                file=file,
            )

    # Describe the first far feature, or the whole data when every feature is far.
    every_feature = len(far_positions) == len(geoms)
    described = far_positions if every_feature else far_positions[:1]
    subject = "the data" if every_feature else "the feature"
    min_lon, min_lat, max_lon, max_lat = shapely.total_bounds(geoms[described])
    where = _format_lonlat((min_lon + max_lon) / 2.0, (min_lat + max_lat) / 2.0)
    distance = float(np.min(distances[described]))
    how_far = f"{distance:,.0f} km" if math.isfinite(distance) else "very far"
    raise _coordinate_error(
        f"{subject} is around {where}, {how_far} from the expected area ({area}; at most "
        f"{max_distance_km:g} km allowed); check its coordinate reference system (give it "
        "with --crs) and whether it is in Chinese web-map coordinates such as GCJ-02 or "
        "BD-09 (give them with --coords)",
        far_positions,
        len(geoms),
        file=file,
    )


def check_lonlat(
    gdf: GeoDataFrame,
    *,
    file: str,
    expected_bounds: Bounds | None = None,
    max_distance_km: float = 50.0,
) -> None:
    """Check that longitude/latitude data can be right, and is where it is expected.

    Checks, in this order: every coordinate is a number within the longitude/latitude range;
    latitude and longitude are not swapped; and, when ``expected_bounds`` is given, every feature
    lies within ``max_distance_km`` of that area (measured on the ground, not in degrees). Data
    that is far away but would lie in the area with x and y exchanged is reported as swapped.

    Parameters
    ----------
    gdf
        The data, in EPSG:4326 (or with no CRS set, taken as EPSG:4326).
    file
        The file's name, for error messages.
    expected_bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of the area the data should be in, e.g.
        :data:`HUIJI_BOUNDS`; None to check only the range and obvious swaps.
    max_distance_km
        How far from the expected area a feature may lie.

    Raises
    ------
    CoordinateError
        If the coordinates cannot be right; names the 1-based row of the feature to blame when
        not every feature is.
    ValueError
        If ``gdf`` is in a CRS other than longitude/latitude.
    """
    if gdf.crs is not None and not _is_lonlat(gdf.crs):
        raise ValueError(
            f"check_lonlat needs data in {STORAGE_CRS}, not {gdf.crs}; convert it with "
            "to_storage_crs first"
        )
    geoms: NDArray[np.object_] = np.asarray(gdf.geometry.array, dtype=object)
    coords, positions = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        return
    _check_lonlat_range(coords, positions, len(geoms), file=file)
    if expected_bounds is not None:
        _check_bounds(expected_bounds)
        _check_near(geoms, expected_bounds, max_distance_km, file=file)


@functools.lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def metric_lengths(geoms: NDArray[np.object_], metric_crs: CRS) -> NDArray[np.float64]:
    """Return the lengths in metres of lon/lat (EPSG:4326) lines, measured in ``metric_crs``.

    Equal to ``GeoSeries(geoms).to_crs(metric_crs).length`` for LineStrings and MultiLineStrings,
    but without building the projected geometries. Missing geometries have length 0.
    """
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    x, y = _transformer(STORAGE_CRS, metric_crs.to_wkt()).transform(coords[:, 0], coords[:, 1])
    steps = np.hypot(np.diff(x), np.diff(y))
    # consecutive coordinates of one geometry, and not across the parts of a multi-geometry
    multi = shapely.get_type_id(geoms) == 5
    parts = shapely.get_parts(geoms) if multi.any() else geoms
    part_of_coord = np.repeat(np.arange(len(parts)), shapely.get_num_coordinates(parts))
    same = part_of_coord[1:] == part_of_coord[:-1]
    lengths: NDArray[np.float64] = np.bincount(
        index[1:][same], weights=steps[same], minlength=len(geoms)
    ).astype(np.float64)
    return lengths


def metric_crs_of(frame: GeoDataFrame) -> CRS:
    """Return the metric CRS for a layer in EPSG:4326: :func:`projected_crs_for` its bounds."""
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return projected_crs_for((minx, miny, maxx, maxy))
