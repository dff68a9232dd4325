"""The import pipeline: a file in, a checked layer in EPSG:4326 out.

read (:mod:`geodata.readers`) → CRS (:func:`geodata.crs.require_crs`) → de-obfuscate GCJ-02/BD-09
(:mod:`geodata.coords`) → EPSG:4326 → plausibility (:func:`geodata.crs.check_lonlat`) → geometry
checks (:mod:`geodata.validate`) → the layer's columns (:mod:`geodata.roads` for roads).
Nothing is written anywhere: storing the result is the caller's business, in one transaction.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geodata.attrs import json_safe_records
from geodata.coords import CoordSystem, geometries_to_wgs84
from geodata.crs import check_lonlat, require_crs, to_storage_crs
from geodata.errors import FieldError
from geodata.layers import Column, LayerSpec, layer_spec
from geodata.readers import DEFAULT_MAX_BYTES, RawLayer, read_vector
from geodata.roads import RoadMapping, names_of, roads_from_frame
from geodata.validate import check_geometries, check_unique_ids

_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code", "adcode", "区划代码", "代码"),
    "subdistrict_code": ("subdistrict_code", "street_code", "街道代码"),
    "road_name_zh": ("road_name_zh", "road", "所在道路"),
    "windows": ("windows", "时段"),
    "radius_m": ("radius_m", "radius", "半径"),
    "kind": ("kind", "类型"),
    "squad_id": ("squad_id", "squad", "中队"),
}
_TRUE = {"true", "1", "yes", "y", "t", "是"}
_FALSE = {"false", "0", "no", "n", "f", "否", ""}


@dataclass(frozen=True)
class ImportOptions:
    """How to read a file; every field has a CLI option of the same name.

    Attributes
    ----------
    crs
        The CRS of a file that names none, or the right one for a mislabelled file.
    coords
        The obfuscation of longitude/latitude data: ``wgs84`` (none), ``gcj02`` or ``bd09``.
    encoding
        The attribute text encoding, where it is not UTF-8 and the file does not say.
    source_layer
        The layer to read from a multi-layer file.
    expected_bounds
        The lon/lat box the data should lie in (e.g. the district's); data far outside is refused.
    max_bytes
        The largest file accepted.
    id_field
        The column holding feature ids.
    wkt_column, lon_column, lat_column
        The geometry columns of a CSV file.
    mapping
        The road class and level mapping (roads only).
    """

    crs: str | None = None
    coords: CoordSystem = "wgs84"
    encoding: str | None = None
    source_layer: str | None = None
    expected_bounds: tuple[float, float, float, float] | None = None
    max_bytes: int | None = DEFAULT_MAX_BYTES
    id_field: str | None = None
    wkt_column: str | None = None
    lon_column: str | None = None
    lat_column: str | None = None
    mapping: RoadMapping | None = None


@dataclass(frozen=True)
class ImportedLayer:
    """A layer read and checked, ready to be stored.

    Attributes
    ----------
    layer
        The layer name (``roads``, ``boundary``, …).
    frame
        The features in the layer's columns, EPSG:4326.
    file
        The source file name.
    sha256
        The source file's SHA-256, so that importing the same file twice can be recognised.
    source_crs
        The CRS the file was in (as ``AUTHORITY:CODE`` where there is one).
    coords
        The obfuscation undone on import.
    encoding
        The text encoding used, where the format has one.
    """

    layer: str
    frame: gpd.GeoDataFrame
    file: str
    sha256: str
    source_crs: str
    coords: CoordSystem
    encoding: str | None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def crs_label(crs: pyproj.CRS) -> str:
    """Return ``AUTHORITY:CODE`` for a CRS where it has one, else its name."""
    found = crs.to_authority(min_confidence=70)
    return ":".join(found) if found else crs.name


def import_layer(
    path: str | os.PathLike[str], layer: str, options: ImportOptions | None = None
) -> ImportedLayer:
    """Read, check and normalise one file as a dutygrid layer.

    Parameters
    ----------
    path
        The file (any format :func:`geodata.readers.read_vector` reads).
    layer
        The layer it becomes (see :data:`geodata.layers.LAYERS`).
    options
        How to read it.

    Returns
    -------
    ImportedLayer
        The layer and what was learnt on the way.

    Raises
    ------
    GeodataError
        Any subclass, naming the file, row and field: unreadable file, missing CRS, coordinates
        out of place, bad geometry, duplicate ids, missing or mistyped attributes.
    """
    options = options or ImportOptions()
    spec = layer_spec(layer)
    raw = read_vector(
        path,
        layer=options.source_layer,
        encoding=options.encoding,
        max_bytes=options.max_bytes,
        wkt_column=options.wkt_column,
        lon_column=options.lon_column,
        lat_column=options.lat_column,
    )
    source_crs = require_crs(raw.frame.crs, file=raw.file, override=options.crs)
    frame = frame_to_wgs84(raw, source_crs, options)
    frame = check_geometries(
        frame, family=spec.geometry, file=raw.file, nullable=spec.geometry_nullable
    )
    if layer == "roads":
        out = roads_from_frame(
            frame, file=raw.file, mapping=options.mapping, id_field=options.id_field
        )
    else:
        out = layer_from_frame(frame, spec, file=raw.file, id_field=options.id_field)
    return ImportedLayer(
        layer=layer,
        frame=out,
        file=raw.file,
        sha256=file_sha256(path),
        source_crs=crs_label(source_crs),
        coords=options.coords,
        encoding=raw.encoding,
    )


def frame_to_wgs84(raw: RawLayer, crs: pyproj.CRS, options: ImportOptions) -> gpd.GeoDataFrame:
    """Bring features to EPSG:4326, undoing GCJ-02/BD-09 offsets, and check they are plausible.

    Raises
    ------
    FieldError
        If ``--coords`` asks to undo an offset on data that is not longitude/latitude.
    CoordinateError
        If the data are out of range, look swapped, or lie far from ``options.expected_bounds``.
    """
    frame = raw.frame.set_crs(crs, allow_override=True)
    if options.coords != "wgs84" and not crs.is_geographic:
        raise FieldError(
            f"--coords {options.coords} undoes the offset of longitude/latitude data, but this "
            f"file is in {crs_label(crs)} ({crs.name}); leave --coords out or fix --crs",
            file=raw.file,
            field="coords",
        )
    frame = to_storage_crs(frame)
    if options.coords != "wgs84":
        frame = frame.set_geometry(geometries_to_wgs84(frame.geometry, options.coords))
    check_lonlat(frame, file=raw.file, expected_bounds=options.expected_bounds)
    return frame


def _find_column(frame: pd.DataFrame, name: str) -> str | None:
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for candidate in (name, *_ALIASES.get(name, ())):
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def _coerce(values: pd.Series, column: Column, *, file: str, source: str) -> list[Any]:
    out: list[Any] = []
    for row, value in enumerate(values.astype(object).to_numpy(), start=1):
        missing = value is None or (not isinstance(value, str) and pd.isna(value))
        if missing:
            if column.kind == "boolean" and not column.nullable:
                out.append(False)
                continue
            if not column.nullable:
                raise FieldError("a value is required here", file=file, row=row, field=source)
            out.append(None)
            continue
        try:
            out.append(_convert(value, column))
        except (TypeError, ValueError):
            raise FieldError(
                f"{value!r} is not a {column.kind} value", file=file, row=row, field=source
            ) from None
    return out


def _convert(value: Any, column: Column) -> Any:
    if column.kind == "text":
        return str(value).strip()
    if column.kind == "real":
        return float(value)
    if column.kind == "integer":
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if column.kind == "boolean":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(value)
    return value


def layer_from_frame(
    frame: gpd.GeoDataFrame, spec: LayerSpec, *, file: str, id_field: str | None = None
) -> gpd.GeoDataFrame:
    """Give checked features the columns of ``spec`` (any layer but roads).

    Columns are found by name or a common alias (``adcode`` for ``code``, ``名称`` for ``name_zh``,
    …); the id comes from ``id_field``, an ``id`` column, the ``code`` column, or failing those the
    row number (``<layer>-00001``). All source columns are kept in ``attrs``.

    Raises
    ------
    FieldError
        If a required column is missing, a required value is empty, or a value has the wrong type.
    DuplicateIdError
        If two features share an id.
    """
    data: dict[str, Any] = {}
    name_zh, name_en = names_of(frame)
    for column in spec.columns:
        if column.name == "name_zh":
            data["name_zh"] = name_zh.to_numpy(dtype=object)
            continue
        if column.name == "name_en":
            data["name_en"] = name_en.to_numpy(dtype=object)
            continue
        source = _find_column(frame, column.name)
        if source is None:
            if column.kind == "boolean" and not column.nullable:
                data[column.name] = [False] * len(frame)
                continue
            if not column.nullable:
                raise FieldError(
                    f"the layer {spec.name!r} needs a column {column.name!r} "
                    f"({column.description}); "
                    f"the file has: {', '.join(map(str, frame.columns.drop(frame.geometry.name)))}",
                    file=file,
                    field=column.name,
                )
            data[column.name] = [None] * len(frame)
            continue
        data[column.name] = _coerce(frame[source], column, file=file, source=source)
    id_source = id_field or _find_column(frame, "id") or _find_column(frame, "code")
    if id_source is not None:
        if id_source not in frame.columns:
            raise FieldError(f"no id column {id_source!r}", file=file, field=id_source)
        ids = frame[id_source].astype(object).map(lambda v: None if pd.isna(v) else str(v).strip())
    else:
        ids = pd.Series([f"{spec.name}-{i:05d}" for i in range(1, len(frame) + 1)], dtype=object)
        id_source = "id"
    check_unique_ids(ids, file=file, field=id_source)
    attrs = json_safe_records(frame.drop(columns=frame.geometry.name))
    return gpd.GeoDataFrame(
        {"id": ids.to_numpy(dtype=object), **data, "attrs": attrs},
        geometry=np.asarray(frame.geometry.array, dtype=object),
        crs="EPSG:4326",
    )[[*spec.column_names, "geometry"]]
