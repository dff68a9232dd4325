"""The layers: what there is, each as GeoJSON, one feature, and exports for GIS tools."""

from __future__ import annotations

import shutil
import tempfile
import warnings
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParameter
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from geodata.errors import GeodataError, GeodataWarning
from geodata.export import export_layer
from geodata.layers import LAYERS, layer_spec
from server.dependencies import LayerReader, StoreDep, weak_etag
from server.errors import InvalidParameterError, NotFound, problem_responses
from server.ogc.geojson import (
    BBOX_EXAMPLE,
    GEOJSON,
    feature_collection_response,
    feature_collection_schema,
    feature_schema,
    geojson_content,
    geojson_features,
    json_response,
    parse_bbox,
)
from server.ogc.pages import MAX_ROWS
from server.storage import Provenance, Store

router = APIRouter(prefix="/layers", tags=["layers"])

ExportFormat = Literal["gpkg", "geojson", "shp"]

_EXPORT_TYPES: Final[dict[ExportFormat, tuple[str, str]]] = {
    "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
    "geojson": (GEOJSON, ".geojson"),
    "shp": ("application/zip", ".zip"),
}


def layer_etag(provenance: Provenance | None) -> str:
    """Return the ETag of a layer's content: it changes with every write of the layer."""
    if provenance is None:
        return weak_etag("empty")
    return weak_etag(provenance.sha256, provenance.imported_at, provenance.feature_count)


LayerName = Annotated[
    str, PathParameter(description="the layer", json_schema_extra={"enum": list(LAYERS)})
]
"""The ``name`` path parameter: one of :data:`geodata.layers.LAYERS` (else 404)."""


def provenance_of(store: Store, name: str) -> Provenance | None:
    """Return where the layer ``name`` came from, None if it was never written."""
    return {p.layer: p for p in store.layer_provenance()}.get(name)


@router.get("", summary="List layers")
def list_layers(request: Request, store: StoreDep, _reader: LayerReader) -> dict[str, Any]:
    """List the layers: feature counts, geometry, and where each came from."""
    counts = store.layer_counts()
    provenance = {p.layer: p for p in store.layer_provenance()}
    base = str(request.base_url).rstrip("/")
    layers = []
    for name, spec in LAYERS.items():
        record = provenance.get(name)
        layers.append(
            {
                "name": name,
                "title": spec.title,
                "geometry": spec.geometry,
                "features": counts.get(name, 0),
                "provenance": asdict(record) if record else None,
                "links": [
                    {"href": f"{base}/layers/{name}", "rel": "item", "type": GEOJSON},
                    {"href": f"{base}/ogc/collections/{name}", "rel": "alternate"},
                ],
            }
        )
    return {"layers": layers}


@router.get(
    "/{name}/export",
    summary="Export a layer",
    response_class=Response,
    responses={
        200: {
            "description": "the layer as a file",
            "content": {
                "application/geopackage+sqlite3": {},
                GEOJSON: {"schema": {"type": "object"}},
                "application/zip": {},
            },
        },
        **problem_responses(422),
    },
)
def export(
    name: LayerName,
    store: StoreDep,
    _reader: LayerReader,
    fmt: Annotated[
        ExportFormat,
        Query(alias="format", description="gpkg (GeoPackage), geojson, or shp (a zip)"),
    ] = "gpkg",
) -> FileResponse:
    """Export a layer as GeoPackage, GeoJSON or zipped Shapefile, for QGIS and other GIS tools."""
    spec = layer_spec(name)
    frame = store.read_layer(name)
    folder = Path(tempfile.mkdtemp(prefix="dutygrid-export-"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GeodataWarning)
            try:
                written = export_layer(frame, spec, folder / "out" / name, fmt)
            except GeodataError:
                raise
            except ValueError as exc:  # a layer the format cannot hold (points and lines)
                raise InvalidParameterError(str(exc), field="format") from None
        notes = [str(w.message) for w in caught if issubclass(w.category, GeodataWarning)]
        media_type, suffix = _EXPORT_TYPES[fmt]
        target = written
        if fmt == "shp":
            target = folder / f"{name}.zip"
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in sorted(written.parent.iterdir()):
                    archive.write(part, part.name)
                if notes:
                    archive.writestr("warnings.txt", "\n".join(notes) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        target,
        media_type=media_type,
        filename=f"{name}{suffix}",
        headers={"Dutygrid-Warnings": str(len(notes))},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get(
    "/{name}",
    summary="A layer as GeoJSON",
    response_class=Response,
    responses=geojson_content(feature_collection_schema(), "the features"),
)
def get_layer(
    name: LayerName,
    store: StoreDep,
    _reader: LayerReader,
    bbox: Annotated[
        str | None,
        Query(
            description="min lon,min lat,max lon,max lat, e.g. 113.55,34.80,113.75,34.96",
            examples=[BBOX_EXAMPLE],
        ),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_ROWS, description="at most this many features")
    ] = None,
    offset: Annotated[
        int, Query(ge=0, le=MAX_ROWS, description="features to skip, in id order")
    ] = 0,
) -> Response:
    """Return a layer as a GeoJSON FeatureCollection, within ``bbox``, paged by limit/offset."""
    spec = layer_spec(name)
    box = parse_bbox(bbox)
    frame = store.read_layer(name, bbox=box, limit=limit, offset=offset)
    etag = layer_etag(provenance_of(store, name))
    return feature_collection_response(
        {"name": name, "numberReturned": len(frame)},
        geojson_features(frame, spec),
        headers={"ETag": etag},
    )


@router.get(
    "/{name}/{feature_id:path}",
    summary="A feature as GeoJSON",
    response_class=Response,
    responses=geojson_content(feature_schema(), "the feature"),
)
def get_feature(
    name: LayerName, feature_id: str, store: StoreDep, _reader: LayerReader
) -> Response:
    """Return one feature of a layer as a GeoJSON Feature."""
    spec = layer_spec(name)
    frame = store.read_layer(name, ids=[feature_id])
    if frame.empty:
        raise NotFound(f"the layer {name!r} has no feature {feature_id!r}", layer=name)
    return json_response(geojson_features(frame, spec)[0], media_type=GEOJSON)
