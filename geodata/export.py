"""Write a layer to a file that GIS tools read: GeoPackage, GeoJSON or ESRI Shapefile.

Every export holds the layer's ``id``, the columns of its spec, ``attrs`` as JSON text and the
geometry, in EPSG:4326; features without a geometry keep a null one. An export first goes to a
temporary folder beside the target and is then renamed into place, so a failed export leaves no
partial file and an existing file unchanged.

Shapefiles have limits of their own (dBASE): field names of at most 10 bytes and text values of at
most 254 bytes. Names are cut by :func:`shapefile_field_names`; a JSON column (``attrs`` or a spec
column of kind ``json``) with a longer value is left out, and longer plain text is cut at a
character boundary, each with a :class:`~geodata.errors.GeodataWarning`. Text is written as UTF-8
and the ``.cpg`` file says so.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geodata.errors import FieldError, GeodataWarning, MissingCRSError
from geodata.layers import STORAGE_CRS, LayerSpec

ExportFormat = Literal["gpkg", "geojson", "shp"]

SUFFIXES: Final[dict[ExportFormat, str]] = {"gpkg": ".gpkg", "geojson": ".geojson", "shp": ".shp"}
SHAPEFILE_NAME_BYTES: Final = 10
SHAPEFILE_TEXT_BYTES: Final = 254

_DRIVERS: Final[dict[ExportFormat, str]] = {
    "gpkg": "GPKG",
    "geojson": "GeoJSON",
    "shp": "ESRI Shapefile",
}
# GeoJSON: RFC 7946 (EPSG:4326, right-hand winding, no "crs" member) with 15 decimals instead of
# its default 7 (about 1 cm), so coordinates survive to well below a millimetre; attrs stays text
# as in the other formats instead of becoming a nested object.
_GEOJSON_OPTIONS: Final = {
    "RFC7946": "YES",
    "COORDINATE_PRECISION": "15",
    "ID_FIELD": "id",
    "AUTODETECT_JSON_STRINGS": "NO",
}
_SHAPEFILE_SIDECARS: Final = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")
# The layer type for a frame with no geometry to infer it from (shapefile polygons and lines
# take multi-part features too).
_EMPTY_GEOMETRY_TYPES: Final = {
    "polygon": "Polygon",
    "line": "LineString",
    "point": "Point",
    "line_or_point": "Unknown",
}


def _cut_utf8(text: str, limit: int) -> str:
    """Return the longest prefix of ``text`` of at most ``limit`` bytes in UTF-8."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def shapefile_field_names(names: Sequence[str]) -> dict[str, str]:
    """Return the shapefile field name of each column name.

    dBASE field names hold at most 10 bytes and are compared without case. Names that fit are
    kept as they are. A longer name is cut to its first 10 bytes; if that is taken, its end is
    replaced by ``_1``, ``_2``, … (``subdistrict_codes`` → ``subdistr_1`` when ``subdistrict_code``
    already took ``subdistric``). Names are handled in the order given, after every name that fits,
    so the same columns always get the same fields.

    Raises
    ------
    ValueError
        If two names are the same but for case, or a name is empty.
    """
    taken: set[str] = set()
    fields: dict[str, str] = {}
    for name in names:
        if not name:
            raise ValueError("a column has an empty name")
        if len(name.encode("utf-8")) <= SHAPEFILE_NAME_BYTES:
            if name.lower() in taken:
                raise ValueError(f"the column names {name!r} and another differ only in case")
            fields[name] = name
            taken.add(name.lower())
    for name in names:
        if name in fields:
            continue
        field = _cut_utf8(name, SHAPEFILE_NAME_BYTES)
        number = 0
        while field.lower() in taken:
            number += 1
            suffix = f"_{number}"
            field = _cut_utf8(name, SHAPEFILE_NAME_BYTES - len(suffix)) + suffix
        fields[name] = field
        taken.add(field.lower())
    return {name: fields[name] for name in names}


def _json_text(values: pd.Series, spec: LayerSpec, name: str) -> list[str | None]:
    texts: list[str | None] = []
    for row, value in enumerate(values.tolist(), start=1):
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            texts.append(None)
            continue
        try:
            texts.append(json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise FieldError(f"layer {spec.name!r}: {exc}", row=row, field=name) from None
    return texts


def _export_frame(gdf: gpd.GeoDataFrame, spec: LayerSpec) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Return the frame to write (JSON columns as text) and the names of its JSON columns."""
    missing = [name for name in spec.column_names if name not in gdf.columns]
    if missing:
        raise FieldError(f"layer {spec.name!r} lacks the column {missing[0]!r}", field=missing[0])
    if gdf.crs is None:
        raise MissingCRSError(f"layer {spec.name!r} has no CRS")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(STORAGE_CRS)
    json_columns = ["attrs", *(c.name for c in spec.columns if c.kind == "json")]
    data: dict[str, Any] = {}
    for name in spec.column_names:
        data[name] = _json_text(gdf[name], spec, name) if name in json_columns else gdf[name].array
    frame = gpd.GeoDataFrame(
        data, geometry=np.asarray(gdf.geometry.array, dtype=object), crs=STORAGE_CRS
    )
    return frame, json_columns


def _fit_shapefile(
    frame: gpd.GeoDataFrame, spec: LayerSpec, json_columns: list[str]
) -> gpd.GeoDataFrame:
    """Drop or cut what a dBASE table cannot hold, with a warning, and rename the fields."""
    for name in [c for c in frame.columns if c != frame.geometry.name]:
        values = frame[name]
        if not pd.api.types.is_string_dtype(values.dtype) and name not in json_columns:
            continue
        texts = values.to_numpy(dtype=object)
        lengths = np.array([len(t.encode("utf-8")) if isinstance(t, str) else 0 for t in texts])
        too_long = lengths > SHAPEFILE_TEXT_BYTES
        if not too_long.any():
            continue
        row = int(np.flatnonzero(too_long)[0]) + 1
        if name in json_columns:
            warnings.warn(
                f"layer {spec.name!r}: the column {name!r} is left out of the shapefile: a "
                f"shapefile holds at most {SHAPEFILE_TEXT_BYTES} bytes of text and row {row} "
                f"has {int(lengths.max())}; export to GeoPackage or GeoJSON to keep it",
                GeodataWarning,
                stacklevel=3,
            )
            frame = frame.drop(columns=name)
        else:
            warnings.warn(
                f"layer {spec.name!r}: {int(too_long.sum())} values of {name!r} are cut to "
                f"{SHAPEFILE_TEXT_BYTES} bytes in the shapefile (first: row {row})",
                GeodataWarning,
                stacklevel=3,
            )
            cut = [
                _cut_utf8(t, SHAPEFILE_TEXT_BYTES) if long else t
                for t, long in zip(texts, too_long, strict=True)
            ]
            frame[name] = pd.array(cut, dtype=values.dtype)
    fields = shapefile_field_names([c for c in frame.columns if c != frame.geometry.name])
    return frame.rename(columns=fields)


def _target(path: Path, fmt: ExportFormat) -> Path:
    if fmt not in _DRIVERS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(_DRIVERS)}")
    if not path.suffix:
        return path.with_name(path.name + SUFFIXES[fmt])
    if fmt == "shp" and path.suffix.lower() != ".shp":
        raise ValueError(f"a shapefile must be named *.shp, not {path.name!r}")
    return path


def _move_into_place(written: Path, target: Path, fmt: ExportFormat) -> None:
    if fmt != "shp":
        os.replace(written, target)
        return
    produced = {p.suffix.lower(): p for p in written.parent.iterdir()}
    for suffix in _SHAPEFILE_SIDECARS:
        stale = target.with_suffix(suffix)
        if suffix not in produced and stale.exists():
            stale.unlink()
    # the .shp last, so that a reader never finds it beside the old .dbf
    for suffix, part in sorted(produced.items(), key=lambda item: item[0] == ".shp"):
        os.replace(part, target.with_suffix(suffix))


def export_layer(gdf: gpd.GeoDataFrame, spec: LayerSpec, path: Path, fmt: ExportFormat) -> Path:
    """Write a layer to a GeoPackage, GeoJSON or ESRI Shapefile file.

    Parameters
    ----------
    gdf
        The layer: the columns ``spec.column_names`` and a geometry column (other columns are
        not written). It is reprojected to EPSG:4326 if it is in another CRS.
    spec
        The layer's spec; a GeoPackage layer is named after it.
    path
        The file to write; the format's suffix is added if it has none. An existing file is
        replaced (a shapefile with all its side files). The folder is created if needed.
    fmt
        ``"gpkg"``, ``"geojson"`` (RFC 7946) or ``"shp"`` (UTF-8, field names cut as
        :func:`shapefile_field_names` says).

    Returns
    -------
    pathlib.Path
        The file written (for a shapefile, its ``.shp``).

    Raises
    ------
    ValueError
        If the format is unknown, a shapefile path does not end in ``.shp``, or a shapefile would
        have to hold more than one kind of geometry (points and lines).
    FieldError
        If a column of the spec is missing, or a JSON value cannot be written as JSON.
    MissingCRSError
        If the frame has no CRS.

    Warns
    -----
    GeodataWarning
        When a shapefile leaves out a JSON column or cuts text that does not fit.
    """
    target = _target(Path(path), fmt)
    frame, json_columns = _export_frame(gdf, spec)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    present = ~shapely.is_missing(geoms)
    if fmt == "shp":
        if len(np.unique(shapely.get_dimensions(geoms[present]))) > 1:
            raise ValueError(
                f"layer {spec.name!r} mixes points, lines or polygons, and a shapefile holds one "
                "kind: export it to GeoPackage or GeoJSON, or each kind to a shapefile of its own"
            )
        frame = _fit_shapefile(frame, spec, json_columns)
    options: dict[str, Any] = {}
    if not present.any():
        options["geometry_type"] = _EMPTY_GEOMETRY_TYPES.get(spec.geometry, "Unknown")
    if fmt == "gpkg":
        options["layer"] = spec.name
    elif fmt == "geojson":
        options["layer"] = spec.name
        options["layer_options"] = _GEOJSON_OPTIONS
    else:
        options["encoding"] = "UTF-8"
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        written = folder / target.name
        pyogrio.write_dataframe(frame, written, driver=_DRIVERS[fmt], **options)
        _move_into_place(written, target, fmt)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return target
