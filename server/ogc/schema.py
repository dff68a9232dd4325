"""OGC API – Features: the JSON schema of a collection's features (Part 5, "Schemas", style)."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from geodata.layers import ColumnKind, GeometryFamily, LayerSpec
from server.dependencies import LayerReader
from server.ogc.geojson import json_response
from server.ogc.landing import SCHEMA_JSON, CollectionId, SourcesDep, ogc_base
from server.ogc.sources import find_source

router = APIRouter()

_TYPES: Final[dict[ColumnKind, str]] = {
    "text": "string",
    "integer": "integer",
    "real": "number",
    "boolean": "boolean",
}
_GEOMETRY_FORMATS: Final[dict[GeometryFamily, str]] = {
    "point": "geometry-point",
    "line": "geometry-linestring-or-multilinestring",
    "polygon": "geometry-polygon-or-multipolygon",
    "line_or_point": "geometry-any",
}


def properties_schema(spec: LayerSpec, schema_id: str) -> dict[str, Any]:
    """Return the JSON schema (2020-12) of a layer's features, in the style of OGC API Part 5.

    The id carries ``x-ogc-role: id`` and the geometry ``x-ogc-role: primary-geometry`` with a
    ``geometry-…`` format; each column has its JSON type (with ``null`` where it may be empty) and
    its description, and ``attrs`` is an object.

    Parameters
    ----------
    spec
        The layer.
    schema_id
        The URL of the schema (its ``$id``).
    """
    properties: dict[str, Any] = {
        "id": {"title": "id", "type": "string", "x-ogc-role": "id"},
    }
    for column in spec.columns:
        entry: dict[str, Any] = {"title": column.name}
        if column.kind == "json":
            pass  # any JSON value
        elif column.nullable:
            entry["type"] = [_TYPES[column.kind], "null"]
        else:
            entry["type"] = _TYPES[column.kind]
        if column.description:
            entry["description"] = column.description
        properties[column.name] = entry
    properties["attrs"] = {
        "title": "attrs",
        "type": "object",
        "description": "the attributes of the source file, kept as they were",
    }
    geometry: dict[str, Any] = {
        "title": "geometry",
        "format": _GEOMETRY_FORMATS[spec.geometry],
        "x-ogc-role": "primary-geometry",
    }
    if spec.geometry_nullable:
        geometry["description"] = "may be null where the feature is known before it is drawn"
    properties["geometry"] = geometry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "type": "object",
        "title": spec.title or spec.name,
        "properties": properties,
        "required": ["id", *(c.name for c in spec.columns if not c.nullable)],
    }


@router.get(
    "/collections/{collection_id}/schema",
    summary="Schema",
    response_class=Response,
    responses={
        200: {
            "description": "the JSON schema of the features",
            "content": {SCHEMA_JSON: {"schema": {"type": "object"}}},
        }
    },
)
def schema(
    collection_id: CollectionId, request: Request, sources: SourcesDep, _reader: LayerReader
) -> Response:
    """Return the JSON schema of a collection's features: properties, types and geometry."""
    source = find_source(sources, collection_id)
    schema_id = f"{ogc_base(request)}/collections/{quote(source.id, safe='')}/schema"
    return json_response(properties_schema(source.spec, schema_id), media_type=SCHEMA_JSON)
