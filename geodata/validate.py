"""Geometry and id checks for imported layers: the one place where input is judged.

Errors name the file, the 1-based row and the field. Repairs happen only where they are safe (the
repaired polygon keeps its area to within :data:`SAFE_REPAIR_AREA_CHANGE`) and are announced with a
:class:`~geodata.errors.GeodataWarning`.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning, InvalidGeometryError
from geodata.layers import GEOMETRY_TYPE_IDS, GeometryFamily

SAFE_REPAIR_AREA_CHANGE = 0.01

_TYPE_IDS = GEOMETRY_TYPE_IDS
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _rows(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) + 1


def _row_list(rows: np.ndarray, most: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:most])
    return shown + (f" and {len(rows) - most} more" if len(rows) > most else "")


def check_geometries(
    frame: gpd.GeoDataFrame,
    *,
    family: GeometryFamily,
    file: str,
    nullable: bool = False,
) -> gpd.GeoDataFrame:
    """Check (and where safe, repair) the geometries of a layer.

    Parameters
    ----------
    frame
        The features, in EPSG:4326, in file order (frame row ``i`` is the file's row ``i+1``).
    family
        The geometry family the layer needs.
    file
        The file name, for messages.
    nullable
        Whether features without a geometry are allowed.

    Returns
    -------
    geopandas.GeoDataFrame
        The frame, with invalid polygons repaired where that was safe and with geometry
        collections reduced to their parts of the right family.

    Raises
    ------
    InvalidGeometryError
        For an empty or missing geometry (unless ``nullable``), a geometry of the wrong type, a
        degenerate line, or an invalid polygon whose repair would change its area.
    """
    geoms = np.asarray(frame.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any() and not nullable:
        rows = _rows(missing)
        raise InvalidGeometryError(
            f"the feature has no geometry (empty or missing; rows {_row_list(rows)})",
            file=file,
            row=int(rows[0]),
            field="geometry",
        )
    geoms = _extract_collections(geoms, family, missing)
    types = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(types, _TYPE_IDS[family])
    if wrong.any():
        rows = _rows(wrong)
        found = _TYPE_NAMES.get(int(types[rows[0] - 1]), "unknown")
        wanted = " or ".join(_TYPE_NAMES[t] for t in _TYPE_IDS[family])
        raise InvalidGeometryError(
            f"a {found} where this layer needs {wanted} (rows {_row_list(rows)})",
            file=file,
            row=int(rows[0]),
            field="geometry",
        )
    invalid = ~missing & ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = _repair(geoms, invalid, family, frame.crs, file)
    out = frame.copy()
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)
    return out


def _extract_collections(
    geoms: np.ndarray, family: GeometryFamily, missing: np.ndarray
) -> np.ndarray:
    collections = ~missing & (shapely.get_type_id(geoms) == 7)
    if not collections.any():
        return geoms
    geoms = geoms.copy()
    for i in np.flatnonzero(collections):
        parts = [
            p for p in shapely.get_parts(geoms[i]) if shapely.get_type_id(p) in _TYPE_IDS[family]
        ]
        if len(parts) == 1:
            geoms[i] = parts[0]
        elif parts and family == "polygon":
            geoms[i] = shapely.multipolygons(parts)
        elif parts and family == "line":
            geoms[i] = shapely.multilinestrings(parts)
    return geoms


def _repair(
    geoms: np.ndarray,
    invalid: np.ndarray,
    family: GeometryFamily,
    crs: object,
    file: str,
) -> np.ndarray:
    rows = _rows(invalid)
    if family != "polygon":
        reason = shapely.is_valid_reason(geoms[rows[0] - 1])
        raise InvalidGeometryError(
            f"invalid geometry ({reason}; rows {_row_list(rows)}); a line needs at least two "
            "distinct points",
            file=file,
            row=int(rows[0]),
            field="geometry",
        )
    geoms = geoms.copy()
    before = gpd.GeoSeries(geoms[invalid], crs=crs)
    repaired = gpd.GeoSeries([_polygonal(g) for g in shapely.make_valid(geoms[invalid])], crs=crs)
    metric = before.estimate_utm_crs() if before.crs and before.crs.is_geographic else before.crs
    area_before = before.to_crs(metric).area.to_numpy() if metric else before.area.to_numpy()
    area_after = repaired.to_crs(metric).area.to_numpy() if metric else repaired.area.to_numpy()
    change = np.abs(area_after - area_before) / np.maximum(area_before, 1e-9)
    unsafe = change > SAFE_REPAIR_AREA_CHANGE
    if unsafe.any():
        bad = rows[np.flatnonzero(unsafe)]
        reason = shapely.is_valid_reason(geoms[bad[0] - 1])
        raise InvalidGeometryError(
            f"invalid polygon ({reason}) that cannot be repaired safely: repairing it would change "
            f"its area by {change[unsafe][0]:.0%} (rows {_row_list(bad)}); fix it in a GIS",
            file=file,
            row=int(bad[0]),
            field="geometry",
        )
    geoms[invalid] = repaired.to_numpy()
    warnings.warn(
        GeodataWarning(
            f"{file}: repaired {len(rows)} invalid polygon(s) (rows {_row_list(rows)}); "
            "their areas changed by less than 1 %"
        ),
        stacklevel=3,
    )
    return geoms


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    if len(polygons) == 1:
        single: shapely.Geometry = polygons[0]
        return single
    return shapely.multipolygons(polygons) if polygons else shapely.Polygon()


def check_unique_ids(ids: pd.Series, *, file: str, field: str) -> None:
    """Check that every id appears once and none is missing.

    Raises
    ------
    DuplicateIdError
        If an id appears twice: the message names the id and both rows.
    FieldError
        If an id is empty.
    """
    values = ids.to_numpy(dtype=object)
    empty = pd.isna(values) | (values == "")
    if not empty.any() and len(set(values)) == len(values):
        return
    if empty.any():
        row = int(np.flatnonzero(empty)[0]) + 1
        raise FieldError("the id is empty", file=file, row=row, field=field)
    duplicated = pd.Series(values).duplicated(keep=False).to_numpy()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        others = np.flatnonzero(duplicated & (values == values[first]))
        raise DuplicateIdError(
            f"id {values[first]!r} appears in rows {others[0] + 1} and {others[1] + 1}"
            + (
                f" ({int(duplicated.sum())} rows share an id in all)"
                if duplicated.sum() > 2
                else ""
            ),
            file=file,
            row=int(others[1]) + 1,
            field=field,
        )
