"""Imports: a file uploaded becomes a layer, checked first, written with its audit record.

An upload is refused before it is read if it is larger than ``max_upload_bytes`` (413) or not of
a type in ``upload_suffixes`` (415). It is then read and checked like ``dutygrid import``; any
problem is answered with the file, row and field to fix (422), and nothing is written. Importing
the same file again with the same options changes nothing and says so (200 instead of 201).
"""

from __future__ import annotations

import codecs
import tempfile
import warnings
from pathlib import Path, PureWindowsPath
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from geodata.errors import FileTooLargeError, GeodataError, GeodataWarning
from geodata.imports import ImportOptions, import_layer
from geodata.layers import LAYERS
from server._frames import frame_to_rows
from server.audit import entry_for, id_changes, record
from server.auth import Principal
from server.dependencies import LayerWriter, SettingsDep, StoreDep, check_if_match
from server.errors import (
    InvalidParameterError,
    PreconditionFailed,
    UnsupportedUploadError,
    problem_responses,
)
from server.migrations import provenance_table
from server.ogc.geojson import json_response
from server.routes.layers import layer_etag, provenance_of
from server.settings import Settings
from server.storage import Provenance, Store

router = APIRouter(prefix="/imports", tags=["imports"])

_CHUNK: Final = 1 << 20
_MAGIC: Final[dict[str, tuple[bytes, str]]] = {
    ".zip": (b"PK\x03\x04", "a zip archive"),
    ".gpkg": (b"SQLite format 3\x00", "a GeoPackage"),
    ".parquet": (b"PAR1", "a Parquet file"),
    ".geoparquet": (b"PAR1", "a Parquet file"),
}
_PROVENANCE = provenance_table(sa.MetaData())


def upload_name(filename: str | None) -> str:
    """Return the name of an uploaded file without any folder a browser may have sent.

    Raises
    ------
    InvalidParameterError
        If the upload has no file name.
    """
    name = PureWindowsPath(filename or "").name.strip()
    if not name or name in (".", ".."):
        raise InvalidParameterError(
            "the upload has no file name; send the file as 'file'", field="file"
        )
    return name


def check_upload_type(name: str, settings: Settings) -> None:
    """Refuse a file whose name does not end in an accepted suffix.

    Raises
    ------
    UnsupportedUploadError
        If the suffix is not one of ``settings.upload_suffixes``.
    """
    suffix = Path(name).suffix.lower()
    accepted = ", ".join(settings.upload_suffixes)
    if suffix == ".shp":
        raise UnsupportedUploadError(
            f"a shapefile is several files: zip {name} with its .shx, .dbf, .prj (and .cpg) "
            "files and upload the zip",
            field="file",
            file=name,
        )
    if suffix not in settings.upload_suffixes:
        raise UnsupportedUploadError(
            f"{name}: the service imports {accepted} files, not {suffix or 'files without one'}",
            field="file",
            file=name,
        )


def save_upload(upload: UploadFile, folder: Path, name: str, *, max_bytes: int) -> Path:
    """Copy an upload to ``folder/name`` and check its size and, where it has one, its signature.

    Raises
    ------
    FileTooLargeError
        If it is larger than ``max_bytes``.
    UnsupportedUploadError
        If a binary format's file does not start as that format does.
    """
    path = folder / name
    size = 0
    with path.open("wb") as target:
        while block := upload.file.read(_CHUNK):
            size += len(block)
            if size > max_bytes:
                raise FileTooLargeError(
                    f"the file is more than the limit of {max_bytes / 1024**2:.1f} MiB", file=name
                )
            target.write(block)
    magic = _MAGIC.get(path.suffix.lower())
    if magic is not None and size:
        with path.open("rb") as source:
            head = source.read(len(magic[0]))
        if head != magic[0]:
            raise UnsupportedUploadError(
                f"{name} is not {magic[1]}, though its name says so", field="file", file=name
            )
    return path


def _check_encoding(encoding: str | None) -> None:
    if encoding is None or not encoding.strip():
        return
    try:
        codecs.lookup(encoding.strip())
    except LookupError:
        raise InvalidParameterError(
            f"unknown encoding {encoding!r}; Chinese files are mostly utf-8, gbk or gb18030",
            field="encoding",
        ) from None


def _hide_folder(exc: GeodataError, folder: str) -> None:
    """Take the temporary folder of an upload out of an error's message: users know the file."""
    prefix = str(Path(folder)) + "/"
    exc.message = exc.message.replace(prefix, "")
    if exc.file is not None:
        exc.file = exc.file.replace(prefix, "")
    exc.args = tuple(a.replace(prefix, "") if isinstance(a, str) else a for a in exc.args)


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _rows_by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(row["id"]): row for row in rows}


def _current_provenance(connection: sa.Connection, layer: str) -> Provenance | None:
    row = (
        connection.execute(sa.select(_PROVENANCE).where(_PROVENANCE.c.layer == layer))
        .mappings()
        .first()
    )
    return Provenance(**row) if row is not None else None


def _write(
    store: Store,
    principal: Principal,
    record_: Provenance,
    frame: Any,
    *,
    checked_etag: str | None,
    summary: dict[str, Any],
) -> int:
    with store.transaction() as connection:
        if checked_etag is not None:
            now = layer_etag(_current_provenance(connection, record_.layer))
            if now != checked_etag:
                raise PreconditionFailed(
                    f"the layer {record_.layer} changed while the file was being checked; "
                    "read it again and redo the import",
                    field="If-Match",
                    etag=now,
                )
        store.write_layers(
            {record_.layer: frame}, provenance={record_.layer: record_}, connection=connection
        )
        entry = entry_for(
            principal,
            action="layer.import",
            method="POST",
            route="/imports",
            layer=record_.layer,
            summary=summary,
        )
        return record(connection, entry)


@router.post(
    "",
    status_code=201,
    summary="Import a file as a layer",
    responses={
        200: {"description": "the file was imported before: nothing changed"},
        **problem_responses(412, 413, 415, 422, 428),
    },
)
def import_file(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: LayerWriter,
    file: Annotated[UploadFile, File(description="the file: GeoJSON, zipped Shapefile, …")],
    layer: Annotated[
        str,
        Form(
            min_length=1,
            description=f"the layer it becomes: {', '.join(LAYERS)}",
            json_schema_extra={"enum": list(LAYERS)},
        ),
    ],
    coords: Annotated[
        Literal["wgs84", "gcj02", "bd09"],
        Form(description="offset of lon/lat data: wgs84 (none), gcj02 (Amap), bd09 (Baidu)"),
    ] = "wgs84",
    crs: Annotated[str | None, Form(description="CRS of a file that names none")] = None,
    encoding: Annotated[str | None, Form(description="attribute text encoding, e.g. gbk")] = None,
    source_layer: Annotated[str | None, Form(description="layer of a GeoPackage or zip")] = None,
    id_field: Annotated[str | None, Form(description="the column of ids")] = None,
    wkt_column: Annotated[str | None, Form(description="the CSV column of WKT")] = None,
    lon_column: Annotated[str | None, Form(description="the CSV longitude column")] = None,
    lat_column: Annotated[str | None, Form(description="the CSV latitude column")] = None,
) -> Response:
    """Import a file as a layer, replacing it; nothing is written if anything is wrong."""
    if layer not in LAYERS:
        raise InvalidParameterError(
            f"no layer {layer!r}; layers are: {', '.join(LAYERS)}", field="layer"
        )
    name = upload_name(file.filename)
    check_upload_type(name, settings)
    _check_encoding(encoding)
    previous = provenance_of(store, layer)
    checked_etag = layer_etag(previous) if request.headers.get("if-match") else None
    check_if_match(request, layer_etag(previous))
    expected = store.layer_extent("boundary") if layer != "boundary" else None
    options = ImportOptions(
        crs=_blank(crs),
        coords=coords,
        encoding=_blank(encoding),
        source_layer=_blank(source_layer),
        expected_bounds=expected,
        max_bytes=settings.max_upload_bytes,
        id_field=_blank(id_field),
        wkt_column=_blank(wkt_column),
        lon_column=_blank(lon_column),
        lat_column=_blank(lat_column),
    )
    with tempfile.TemporaryDirectory(prefix="dutygrid-upload-") as folder:
        path = save_upload(file, Path(folder), name, max_bytes=settings.max_upload_bytes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GeodataWarning)
            try:
                imported = import_layer(path, layer, options)
            except GeodataError as exc:
                _hide_folder(exc, folder)
                raise
    notes = [str(w.message) for w in caught if issubclass(w.category, GeodataWarning)]
    spec = LAYERS[layer]
    new_rows = _rows_by_id(frame_to_rows(imported.frame, spec, with_bounds=False))
    old_rows = _rows_by_id(frame_to_rows(store.read_layer(layer), spec, with_bounds=False))
    changes = id_changes(old_rows, new_rows)
    changes["changed"] = sum(
        1 for k in old_rows.keys() & new_rows.keys() if old_rows[k] != new_rows[k]
    )
    result: dict[str, Any] = {
        "layer": layer,
        "features": len(new_rows),
        "file": imported.file,
        "sha256": imported.sha256,
        "source_crs": imported.source_crs,
        "coords": imported.coords,
        "encoding": imported.encoding,
        "warnings": notes,
    }
    unchanged = (
        previous is not None
        and previous.sha256 == imported.sha256
        and previous.coords == imported.coords
        and old_rows == new_rows
    )
    if unchanged:
        message = f"{name} is already imported as {layer}; nothing changed"
        etag = layer_etag(previous)
        return json_response(
            {**result, "unchanged": True, "message": message}, headers={"ETag": etag}
        )
    provenance = Provenance(
        layer=layer,
        source=imported.file,
        sha256=imported.sha256,
        source_crs=imported.source_crs,
        coords=imported.coords,
        feature_count=len(new_rows),
        note=f"imported through the API by {principal.name}",
    )
    summary = {
        "file": imported.file,
        "sha256": imported.sha256,
        "source_crs": imported.source_crs,
        "coords": imported.coords,
        "source_before": previous.source if previous else None,
        "sha256_before": previous.sha256 if previous else None,
        "warnings": len(notes),
        **changes,
    }
    audit_id = _write(
        store, principal, provenance, imported.frame, checked_etag=checked_etag, summary=summary
    )
    body = {
        **result,
        "unchanged": False,
        "message": f"imported {len(new_rows)} features from {name} as {layer}",
        "changes": changes,
        "audit_id": audit_id,
    }
    headers = {"Location": f"/layers/{layer}", "ETag": layer_etag(provenance)}
    return json_response(body, status_code=201, headers=headers)
