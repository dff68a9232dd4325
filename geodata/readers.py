"""Read the vector files a bureau has into GeoDataFrames, in the file's own CRS.

Formats: GeoJSON, Shapefile (plain or zipped, any DBF encoding), GeoPackage, GeoParquet, CSV
with a WKT column or longitude/latitude columns, and OpenStreetMap XML/PBF (roads only, see
:mod:`geodata.osm`). Nothing here reprojects or repairs: :mod:`geodata.imports` does that.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely

from geodata.dbf import detect_dbf_encoding
from geodata.errors import EncodingError, FieldError, FileTooLargeError, InputFileError

FileFormat = Literal["geojson", "shapefile", "gpkg", "parquet", "csv", "osm"]

DEFAULT_MAX_BYTES = 2 * 1024**3

_SUFFIXES: dict[str, FileFormat] = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".shp": "shapefile",
    ".zip": "shapefile",
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".csv": "csv",
    ".txt": "csv",
    ".osm": "osm",
    ".pbf": "osm",
    ".gz": "osm",
    ".bz2": "osm",
}

WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape", "几何")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "经度")
LAT_COLUMNS = ("lat", "latitude", "纬度")


@dataclass(frozen=True)
class RawLayer:
    """What a file held, before any reprojection or repair.

    Attributes
    ----------
    frame
        The features, in the file's own CRS (``frame.crs`` is None where the file gives none).
    file
        The file's name as the user gave it, for messages.
    format
        The file format.
    encoding
        The text encoding used to decode attributes, where the format has one.
    layer
        The layer read, for multi-layer formats.
    crs_declared
        Whether the CRS came from the file itself (False where it was inferred from column names).
    """

    frame: gpd.GeoDataFrame
    file: str
    format: FileFormat
    encoding: str | None = None
    layer: str | None = None
    crs_declared: bool = True


def file_format(path: Path) -> FileFormat:
    """Return the format of ``path`` judged by its name.

    Raises
    ------
    InputFileError
        If the name ends in a suffix dutygrid does not read.
    """
    name = path.name.lower()
    if name.endswith((".osm.gz", ".osm.bz2", ".osm.pbf")):
        return "osm"
    suffix = path.suffix.lower()
    if suffix in (".gz", ".bz2") or suffix not in _SUFFIXES:
        readable = ", ".join(sorted({s for s in _SUFFIXES if s not in (".gz", ".bz2")}))
        raise InputFileError(
            f"unknown file type {path.suffix or '(none)'!r}; dutygrid reads {readable} "
            "and .osm.gz/.osm.bz2",
            file=path.name,
        )
    return _SUFFIXES[suffix]


def check_file(path: Path, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
    """Check that ``path`` is a readable, non-empty file no larger than ``max_bytes``.

    Raises
    ------
    InputFileError
        If it does not exist, is not a file, or is empty.
    FileTooLargeError
        If it is larger than ``max_bytes``.
    """
    if not path.exists():
        raise InputFileError("no such file", file=str(path))
    if not path.is_file():
        raise InputFileError("not a file", file=str(path))
    size = path.stat().st_size
    if size == 0:
        raise InputFileError("the file is empty", file=path.name)
    if max_bytes is not None and size > max_bytes:
        raise FileTooLargeError(
            f"the file is {size / 1024**2:.1f} MiB, more than the limit of "
            f"{max_bytes / 1024**2:.1f} MiB",
            file=path.name,
        )


def read_vector(
    path: str | os.PathLike[str],
    *,
    layer: str | None = None,
    encoding: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    wkt_column: str | None = None,
    lon_column: str | None = None,
    lat_column: str | None = None,
) -> RawLayer:
    """Read one layer of a vector file.

    Parameters
    ----------
    path
        The file.
    layer
        The layer to read from a GeoPackage or a zip with several shapefiles; required when there
        are several.
    encoding
        The attribute encoding (e.g. ``gbk``); by default a Shapefile's ``.cpg`` is honoured and,
        where there is none, UTF-8 and GB18030 are tried in that order; CSV is read as UTF-8 or
        GB18030 likewise.
    max_bytes
        Refuse files larger than this; None for no limit.
    wkt_column, lon_column, lat_column
        The CSV columns holding the geometry; found by name when not given.

    Returns
    -------
    RawLayer
        The features in the file's own CRS and what was learnt while reading them.

    Raises
    ------
    InputFileError
        If the file cannot be read (missing, truncated, not of its format, ambiguous layer).
    EncodingError
        If attribute text does not decode with the encoding given or detected.
    FieldError
        If a CSV has no geometry columns, or a value in them is not a geometry.
    """
    file = Path(path)
    check_file(file, max_bytes=max_bytes)
    fmt = file_format(file)
    if fmt == "csv":
        return _read_csv(file, encoding, wkt_column, lon_column, lat_column)
    if fmt == "osm":
        from geodata.osm import read_osm_roads  # noqa: PLC0415 - needs the optional osm extra

        return RawLayer(read_osm_roads(file, max_bytes=max_bytes), file.name, "osm")
    if fmt == "parquet":
        return _read_parquet(file)
    if fmt == "shapefile":
        return _read_shapefile(file, layer, encoding)
    return _read_ogr(file, fmt, layer, encoding)


def _ogr_layers(source: str, file: str) -> list[str]:
    try:
        return [str(name) for name, _ in pyogrio.list_layers(source)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputFileError(_gdal_message(exc, source, file), file=file) from None


def _choose_layer(layers: list[str], layer: str | None, file: str) -> str:
    if layer is not None:
        if layer not in layers:
            raise InputFileError(
                f"no layer {layer!r}; the file has: {', '.join(layers)}", file=file
            )
        return layer
    if not layers:
        raise InputFileError("the file holds no layers", file=file)
    if len(layers) > 1:
        raise InputFileError(
            f"the file holds {len(layers)} layers ({', '.join(layers)}); "
            "choose one with --source-layer",
            file=file,
        )
    return layers[0]


def _read_ogr(
    file: Path,
    fmt: FileFormat,
    layer: str | None,
    encoding: str | None,
    *,
    source: str | None = None,
    label: str | None = None,
) -> RawLayer:
    source = source or str(file)
    label = label or file.name
    chosen = _choose_layer(_ogr_layers(source, label), layer, label)
    try:
        frame = pyogrio.read_dataframe(source, layer=chosen, encoding=encoding, use_arrow=False)
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        pyogrio.errors.FeatureError,
        pyogrio.errors.GeometryError,
        pyogrio.errors.FieldError,
    ) as exc:
        raise InputFileError(_gdal_message(exc, source, label), file=label) from None
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"text does not decode as {encoding}: {exc.reason}; give the right one with --encoding",
            file=label,
        ) from None
    return RawLayer(frame, label, fmt, encoding=encoding, layer=chosen)


def _read_shapefile(file: Path, layer: str | None, encoding: str | None) -> RawLayer:
    if file.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(file) as archive:
                names = archive.namelist()
                shps = sorted(n for n in names if n.lower().endswith(".shp"))
                if not shps:
                    raise InputFileError("the zip holds no .shp file", file=file.name)
                stems = [Path(n).stem for n in shps]
                chosen = _choose_layer(stems, layer, file.name)
                member = shps[stems.index(chosen)]
                parts = _sidecars(names, member)
                _require_sidecars(parts, f"{file.name}!{member}")
                cpg = (
                    archive.read(parts[".cpg"]).decode("ascii", "replace")
                    if ".cpg" in parts
                    else None
                )
                dbf = archive.read(parts[".dbf"])
        except zipfile.BadZipFile:
            raise InputFileError(
                "not a valid zip file (truncated or corrupt)", file=file.name
            ) from None
        label = f"{file.name}!{member}"
        used = detect_dbf_encoding(dbf, declared=encoding or _cpg_encoding(cpg), file=label)
        raw = _read_ogr(
            file, "shapefile", None, used, source=f"/vsizip/{file.resolve()}/{member}", label=label
        )
        return RawLayer(raw.frame, label, "shapefile", encoding=used, layer=chosen)
    folder_names = [p.name for p in file.parent.iterdir() if p.stem == file.stem]
    parts = _sidecars(folder_names, file.name)
    _require_sidecars(parts, file.name)
    cpg = (file.parent / parts[".cpg"]).read_text("ascii", "replace") if ".cpg" in parts else None
    dbf = (file.parent / parts[".dbf"]).read_bytes()
    used = detect_dbf_encoding(dbf, declared=encoding or _cpg_encoding(cpg), file=file.name)
    return _read_ogr(file, "shapefile", None, used)


def _sidecars(names: list[str], shp: str) -> dict[str, str]:
    stem = shp[: -len(".shp")]
    return {
        n[len(stem) :].lower(): n
        for n in names
        if n.startswith(stem) and n[len(stem) :].lower() in (".shp", ".shx", ".dbf", ".cpg", ".prj")
    }


def _require_sidecars(parts: dict[str, str], label: str) -> None:
    missing = [s for s in (".shx", ".dbf") if s not in parts]
    if missing:
        raise InputFileError(
            f"a shapefile needs its {' and '.join(missing)} file beside the .shp", file=label
        )


def _cpg_encoding(cpg: str | None) -> str | None:
    if cpg is None:
        return None
    value = cpg.strip().upper()
    aliases = {"936": "gbk", "CP936": "gbk", "GB2312": "gbk", "65001": "utf-8", "UTF8": "utf-8"}
    return aliases.get(value, value.lower() or None)


def _read_parquet(file: Path) -> RawLayer:
    try:
        frame = gpd.read_parquet(file)
    except ValueError as exc:
        raise InputFileError(
            f"not a GeoParquet file ({exc}); a GeoParquet file has 'geo' metadata naming its "
            "geometry column and CRS",
            file=file.name,
        ) from None
    except OSError as exc:
        raise InputFileError(f"cannot read it as Parquet: {exc}", file=file.name) from None
    return RawLayer(frame, file.name, "parquet", crs_declared=frame.crs is not None)


def _read_csv(
    file: Path,
    encoding: str | None,
    wkt_column: str | None,
    lon_column: str | None,
    lat_column: str | None,
) -> RawLayer:
    table, used = _read_csv_table(file, encoding)
    columns = {str(c).strip().lower(): str(c) for c in table.columns}

    def find(given: str | None, candidates: tuple[str, ...]) -> str | None:
        if given is not None:
            if given not in table.columns:
                raise FieldError(
                    f"no column {given!r}; the columns are: {', '.join(map(str, table.columns))}",
                    file=file.name,
                    field=given,
                )
            return given
        return next((columns[c] for c in candidates if c in columns), None)

    wkt = find(wkt_column, WKT_COLUMNS) if lon_column is None else None
    if wkt is not None:
        geometry = _parse_wkt(table[wkt], file.name, wkt)
        frame = gpd.GeoDataFrame(table.drop(columns=[wkt]), geometry=geometry, crs=None)
        return RawLayer(frame, file.name, "csv", encoding=used, crs_declared=False)
    lon, lat = find(lon_column, LON_COLUMNS), find(lat_column, LAT_COLUMNS)
    if lon is None or lat is None:
        raise FieldError(
            "no geometry columns: give a WKT column (named one of "
            f"{', '.join(WKT_COLUMNS)}) or longitude/latitude columns (named one of "
            f"{', '.join(LON_COLUMNS)} / {', '.join(LAT_COLUMNS)}), or name them with "
            "--wkt-column or --lon-column/--lat-column",
            file=file.name,
        )
    x = _numeric_column(table[lon], file.name, lon)
    y = _numeric_column(table[lat], file.name, lat)
    frame = gpd.GeoDataFrame(
        table.drop(columns=[lon, lat]), geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"
    )
    return RawLayer(frame, file.name, "csv", encoding=used, crs_declared=False)


def _read_csv_table(file: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    data = file.read_bytes()
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError as exc:
            if encoding:
                line = data[: exc.start].count(b"\n") + 1
                raise EncodingError(
                    f"line {line} does not decode as {encoding}; "
                    "give the right one with --encoding",
                    file=file.name,
                ) from None
            continue
        except LookupError:
            raise EncodingError(f"unknown encoding {encoding!r}", file=file.name) from None
        break
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise EncodingError("text is neither UTF-8 nor GB18030", file=file.name)
    try:
        table = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputFileError(f"not a readable CSV table: {exc}", file=file.name) from None
    if table.empty:
        raise InputFileError("the CSV has a header but no rows", file=file.name)
    return table, candidate or "utf-8"


def _parse_wkt(values: pd.Series, file: str, column: str) -> gpd.GeoSeries:
    texts = values.to_numpy(dtype=object)
    geoms = shapely.from_wkt(texts, on_invalid="ignore")
    bad = [i for i, (t, g) in enumerate(zip(texts, geoms, strict=True)) if g is None and t]
    if bad:
        row = bad[0]
        raise FieldError(
            f"{str(texts[row])[:60]!r} is not WKT ({len(bad)} such rows in all)",
            file=file,
            row=row + 1,
            field=column,
        )
    return gpd.GeoSeries(geoms, index=values.index)


def _numeric_column(values: pd.Series, file: str, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise FieldError(
            f"{values.iloc[row]!r} is not a number", file=file, row=row + 1, field=column
        )
    return numbers


def _gdal_message(exc: Exception, source: str, label: str) -> str:
    # GDAL repeats the full path it was given; the user knows the file by its label
    text = str(exc).strip().replace(source, label)
    return f"cannot read it: {text}" if text else "cannot read it (truncated or corrupt?)"
