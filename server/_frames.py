"""Layer GeoDataFrames to database rows and back: the checks a write makes, and the read dtypes.

A layer read back from the database has these dtypes, and a layer built with them is written and
read back unchanged:

=========  ========================================================
``id``     ``str`` (the pandas default string dtype)
text       ``str``; missing values are NaN
integer    ``int64``, or ``Int64`` where the column is nullable
real       ``float64``; missing values are NaN
boolean    ``bool``, or ``boolean`` where the column is nullable
json       ``object``: JSON values, None where missing
``attrs``  ``object``: dicts
geometry   ``geometry`` in EPSG:4326; None where the layer allows it
=========  ========================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.errors import (
    CoordinateError,
    DuplicateIdError,
    FieldError,
    InvalidGeometryError,
    MissingCRSError,
)
from geodata.layers import GEOMETRY_TYPE_IDS, STORAGE_CRS, Column, ColumnKind, LayerSpec
from server.migrations import BOUNDS_COLUMNS

_TYPE_NAMES = {0: "Point", 1: "LineString", 3: "Polygon", 5: "MultiLineString", 6: "MultiPolygon"}


def dump_json(value: Any) -> str:
    """Return ``value`` as the JSON text stored for it (sorted keys, unicode kept).

    Raises
    ------
    TypeError
        If ``value`` holds something JSON has no type for.
    ValueError
        If ``value`` holds NaN or an infinity.
    """
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, allow_nan=False, default=_json_default
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


def _text(value: Any) -> str:
    if isinstance(value, str):
        if "\x00" in value:
            # PostgreSQL text cannot hold it, and no GIS format keeps it either
            raise ValueError(f"the text {value!r} holds a NUL character")
        return value
    raise TypeError(f"expected text, got {type(value).__name__} {value!r}")


def _integer(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")


def _real(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {number!r}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"expected true or false, got {type(value).__name__} {value!r}")


_CONVERTERS: dict[ColumnKind, Callable[[Any], Any]] = {
    "text": _text,
    "integer": _integer,
    "real": _real,
    "boolean": _boolean,
    "json": dump_json,
}


def _where(spec: LayerSpec) -> str:
    return f"layer {spec.name!r}"


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _check_frame(frame: gpd.GeoDataFrame, spec: LayerSpec) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError(f"{_where(spec)}: expected a GeoDataFrame, got {type(frame).__name__}")
    if frame.crs is None:
        raise MissingCRSError(f"{_where(spec)} has no CRS; layers are stored in {STORAGE_CRS}")
    if frame.crs.to_epsg() != 4326:
        raise CoordinateError(
            f"{_where(spec)} is in {frame.crs.to_string()}; layers are stored in {STORAGE_CRS}: "
            "reproject it first"
        )
    expected = spec.column_names
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        raise FieldError(
            f"{_where(spec)} lacks the column {missing[0]!r} (it needs {', '.join(expected)})",
            field=missing[0],
        )
    extra = [c for c in frame.columns if c != frame.geometry.name and c not in expected]
    if extra:
        raise FieldError(
            f"{_where(spec)} has a column {extra[0]!r} that it does not store; "
            "drop it or keep it in attrs",
            field=str(extra[0]),
        )


def _ids(series: pd.Series, spec: LayerSpec) -> list[str]:
    missing = series.isna().to_numpy()
    if missing.any():
        raise FieldError(f"{_where(spec)}: the id is missing", row=_first_row(missing), field="id")
    ids = series.tolist()
    for row, value in enumerate(ids, start=1):
        if not isinstance(value, str) or not value or "\x00" in value:
            raise FieldError(
                f"{_where(spec)}: the id must be non-empty text, got {value!r}", row=row, field="id"
            )
    duplicated = series.duplicated().to_numpy()
    if duplicated.any():
        row = _first_row(duplicated)
        first = ids.index(ids[row - 1]) + 1
        raise DuplicateIdError(
            f"{_where(spec)}: id {ids[row - 1]!r} appears in rows {first} and {row}",
            row=row,
            field="id",
        )
    return ids


def _column_values(series: pd.Series, column: Column, spec: LayerSpec) -> list[Any]:
    missing = series.isna().to_numpy()
    if missing.any() and not column.nullable:
        raise FieldError(
            f"{_where(spec)}: the column {column.name!r} needs a value",
            row=_first_row(missing),
            field=column.name,
        )
    convert = _CONVERTERS[column.kind]
    values: list[Any] = []
    for row, (value, absent) in enumerate(zip(series.tolist(), missing, strict=True), start=1):
        if absent:
            values.append(None)
            continue
        try:
            values.append(convert(value))
        except (TypeError, ValueError) as exc:
            raise FieldError(f"{_where(spec)}: {exc}", row=row, field=column.name) from None
    return values


def _attrs_values(series: pd.Series, spec: LayerSpec) -> list[str]:
    values: list[str] = []
    for row, value in enumerate(series.tolist(), start=1):
        if not isinstance(value, Mapping):
            raise FieldError(
                f"{_where(spec)}: attrs must be a dict (use {{}} for none), "
                f"got {type(value).__name__}",
                row=row,
                field="attrs",
            )
        try:
            values.append(dump_json(dict(value)))
        except (TypeError, ValueError) as exc:
            raise FieldError(f"{_where(spec)}: attrs: {exc}", row=row, field="attrs") from None
    return values


def _check_geometries(geoms: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """Check the geometries and return their bounds (NaN rows where there is no geometry)."""
    missing = shapely.is_missing(geoms)
    if missing.any() and not spec.geometry_nullable:
        raise InvalidGeometryError(
            f"{_where(spec)}: the feature has no geometry",
            row=_first_row(missing),
            field="geometry",
        )
    empty = shapely.is_empty(geoms) & ~missing
    if empty.any():
        raise InvalidGeometryError(
            f"{_where(spec)}: the geometry is empty"
            + ("; use None for a feature without one" if spec.geometry_nullable else ""),
            row=_first_row(empty),
            field="geometry",
        )
    types = shapely.get_type_id(geoms)
    allowed = GEOMETRY_TYPE_IDS[spec.geometry]
    wrong = ~missing & ~np.isin(types, allowed)
    if wrong.any():
        row = _first_row(wrong)
        raise InvalidGeometryError(
            f"{_where(spec)}: a {geoms[row - 1].geom_type} where the layer needs "
            + " or ".join(_TYPE_NAMES.get(t, str(t)) for t in allowed),
            row=row,
            field="geometry",
        )
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        outside = ~missing & ~(
            (bounds[:, 0] >= -180)
            & (bounds[:, 2] <= 180)
            & (bounds[:, 1] >= -90)
            & (bounds[:, 3] <= 90)
        )
    if outside.any():
        raise CoordinateError(
            f"{_where(spec)}: coordinates outside longitude -180..180, latitude -90..90 "
            f"(bounds {bounds[_first_row(outside) - 1].tolist()})",
            row=_first_row(outside),
            field="geometry",
        )
    return bounds


def _nullable_floats(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def frame_to_rows(
    frame: gpd.GeoDataFrame, spec: LayerSpec, *, with_bounds: bool
) -> list[dict[str, Any]]:
    """Check a layer and return its features as rows of its table.

    Parameters
    ----------
    frame
        The layer: EPSG:4326, the columns ``spec.column_names`` and a geometry column.
    spec
        The layer's spec.
    with_bounds
        Whether to add the ``minx`` … ``maxy`` columns (SQLite).

    Returns
    -------
    list of dict
        One row per feature, in frame order; ``geom`` holds little-endian WKB or None.

    Raises
    ------
    MissingCRSError
        If the frame has no CRS.
    CoordinateError
        If it is not in EPSG:4326, or a coordinate is not a longitude/latitude.
    FieldError
        If a column is missing or not stored, a required value is missing, a value has the wrong
        type, or attrs is not a dict of JSON values.
    DuplicateIdError
        If two features share an id.
    InvalidGeometryError
        If a geometry is missing where the layer needs one, empty, or of the wrong type.
    """
    _check_frame(frame, spec)
    columns: dict[str, Sequence[Any]] = {"id": _ids(frame["id"], spec)}
    for column in spec.columns:
        columns[column.name] = _column_values(frame[column.name], column, spec)
    columns["attrs"] = _attrs_values(frame["attrs"], spec)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    bounds = _check_geometries(geoms, spec)
    columns["geom"] = shapely.to_wkb(geoms, byte_order=1).tolist()
    if with_bounds:
        for i, name in enumerate(BOUNDS_COLUMNS):
            columns[name] = _nullable_floats(bounds[:, i])
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _read_values(values: Sequence[Any], column: Column) -> Any:
    kind = column.kind
    if kind == "text":
        return pd.array(values, dtype="str")
    if kind == "integer":
        return pd.array(values, dtype="Int64") if column.nullable else np.array(values, np.int64)
    if kind == "real":
        return np.array(values, dtype=np.float64)
    if kind == "boolean":
        return pd.array(values, dtype="boolean") if column.nullable else np.array(values, bool)
    return pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)


def frame_from_rows(rows: Iterable[Sequence[Any]], spec: LayerSpec) -> gpd.GeoDataFrame:
    """Return the layer whose rows are ``(id, <spec columns>, attrs JSON, WKB)``, in that order."""
    width = len(spec.column_names) + 1
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) or [()] * width
    data: dict[str, Any] = {"id": pd.array(columns[0], dtype="str")}
    for i, column in enumerate(spec.columns, start=1):
        data[column.name] = _read_values(columns[i], column)
    data["attrs"] = pd.Series([json.loads(text) for text in columns[-2]], dtype=object)
    geoms = shapely.from_wkb(np.array(columns[-1], dtype=object))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS), crs=STORAGE_CRS)
