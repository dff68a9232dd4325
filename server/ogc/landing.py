"""OGC API – Features: the landing page, the conformance declaration and the API definition.

The API definition at ``/ogc/api`` is an OpenAPI 3.0 document of the OGC routes alone, as GDAL,
QGIS and the OGC test suite expect; the whole service is described (OpenAPI 3.1) at ``/docs``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from geodata.layers import LAYERS
from server.dependencies import SettingsDep
from server.errors import PROBLEM_JSON, PROBLEM_SCHEMA, InvalidParameterError
from server.ogc.geojson import (
    GEOJSON,
    JSON,
    feature_collection_schema,
    feature_schema,
    json_response,
    link_schema,
)
from server.ogc.sources import FeatureSource
from server.settings import Settings

OPENAPI_30: Final = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON: Final = "application/schema+json"
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
REL_CONFORMANCE: Final = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_DATA: Final = "http://www.opengis.net/def/rel/ogc/1.0/data"
REL_SCHEMA: Final = "http://www.opengis.net/def/rel/ogc/1.0/schema"
CONFORMANCE: Final = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)

router = APIRouter()


async def feature_sources(request: Request) -> dict[str, FeatureSource]:
    """Return the collections of the app, by id."""
    sources: dict[str, FeatureSource] = request.app.state.feature_sources
    return sources


SourcesDep = Annotated[dict[str, FeatureSource], Depends(feature_sources)]

CollectionId = Annotated[
    str, Path(description="the collection: a layer, e.g. roads", examples=list(LAYERS))
]
"""The ``collection_id`` path parameter (the layers are examples: the app may have others)."""


FORMATS: Final = ("json", "geojson", JSON, GEOJSON)
"""The values of ``f``: all of them ask for JSON (GeoJSON for features)."""


async def output_format(
    f: Annotated[
        str | None,
        Query(
            description="the encoding: json (the only one)",
            json_schema_extra={"enum": list(FORMATS)},
        ),
    ] = None,
) -> str:
    """Return the encoding asked for with ``f``.

    Raises
    ------
    InvalidParameterError
        If it is not ``json`` (or its aliases ``geojson``, ``application/json``).
    """
    if f is None or f.lower() in FORMATS:
        return "json"
    raise InvalidParameterError(
        f"f={f!r} is not an encoding of this service; use f=json", field="f"
    )


FormatDep = Annotated[str, Depends(output_format)]


def ogc_base(request: Request) -> str:
    """Return the absolute URL of the OGC API landing page, without a trailing slash."""
    return str(request.base_url).rstrip("/") + "/ogc"


def link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    """Return a link object."""
    return {"href": href, "rel": rel, "type": media_type, "title": title}


@router.get("", summary="Landing page")
def landing_page(request: Request, settings: SettingsDep, _f: FormatDep) -> Response:
    """Show the OGC API – Features landing page: links to the API, conformance and data."""
    base = ogc_base(request)
    root = str(request.base_url).rstrip("/")
    return json_response(
        {
            "title": f"{settings.title} OGC API – Features",
            "description": "The layers of dutygrid (unit grids, responsibility grids, posts, "
            "roads, zones, squads, …) as OGC API – Features collections, in CRS84.",
            "links": [
                link(base, "self", JSON, "this document"),
                link(f"{base}/api", "service-desc", OPENAPI_30, "the API definition (OpenAPI 3.0)"),
                link(f"{root}/docs", "service-doc", "text/html", "the API documentation"),
                link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
                link(f"{base}/conformance", REL_CONFORMANCE, JSON, "conformance classes"),
                link(f"{base}/collections", "data", JSON, "the collections"),
                link(f"{base}/collections", REL_DATA, JSON, "the collections"),
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes")
def conformance(_f: FormatDep) -> Response:
    """List the conformance classes this service implements: Core, GeoJSON and OpenAPI 3.0."""
    return json_response({"conformsTo": list(CONFORMANCE)})


@router.get(
    "/api",
    summary="API definition",
    response_class=Response,
    responses={
        200: {
            "description": "the OpenAPI 3.0 document",
            "content": {OPENAPI_30: {"schema": {"type": "object"}}},
        }
    },
)
def api_definition(
    request: Request, settings: SettingsDep, sources: SourcesDep, _f: FormatDep
) -> Response:
    """Return the OpenAPI 3.0 definition of the OGC API – Features routes."""
    return json_response(
        openapi_document(ogc_base(request), settings, list(sources)), media_type=OPENAPI_30
    )


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": description,
        "schema": schema,
    }


def _get(
    summary: str,
    media_type: str,
    parameters: list[dict[str, Any]],
    *,
    secured: bool,
    schema: dict[str, Any],
) -> Any:
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": summary, "content": {media_type: {"schema": schema}}},
            "400": {"description": "invalid parameter", "content": problem},
        },
    }
    if secured:
        operation["responses"]["401"] = {"description": "no valid token", "content": problem}
        operation["responses"]["403"] = {
            "description": "the token's role may not read layers",
            "content": problem,
        }
        operation["responses"]["404"] = {
            "description": "no such collection or feature",
            "content": problem,
        }
    else:
        operation["security"] = []
    return {"get": operation}


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def openapi_document(base: str, settings: Settings, collection_ids: list[str]) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document of the OGC API – Features routes.

    Parameters
    ----------
    base
        The URL of the landing page (the server URL of the document).
    settings
        The limits of ``limit``.
    collection_ids
        The collections there are.
    """
    f = _query("f", "the encoding", {"type": "string", "enum": ["json"]})
    collection = {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "description": "the collection (layer)",
        "schema": {"type": "string", "enum": collection_ids},
    }
    feature = {
        "name": "featureId",
        "in": "path",
        "required": True,
        "description": "the feature's id",
        "schema": {"type": "string"},
    }
    limit = _query(
        "limit",
        f"features per page; more than {settings.ogc_max_limit} is taken as "
        f"{settings.ogc_max_limit}",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": settings.ogc_max_limit,
            "default": settings.ogc_default_limit,
        },
    )
    offset = _query("offset", "features to skip", {"type": "integer", "minimum": 0, "default": 0})
    bbox = _query(
        "bbox",
        "min lon,min lat,max lon,max lat in CRS84: features whose box meets it",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    )
    datetime = _query(
        "datetime",
        "an instant or interval (RFC 3339); layers have no time and ignore it",
        {"type": "string"},
    )
    items = [collection, bbox, limit, offset, datetime, f]
    text = {"type": "string"}
    links = {"type": "array", "items": link_schema()}
    landing = _object(["links"], {"title": text, "description": text, "links": links})
    conformance = _object(["conformsTo"], {"conformsTo": {"type": "array", "items": text}})
    collection_schema = _object(
        ["id", "links"],
        {
            "id": text,
            "title": text,
            "description": text,
            "itemType": text,
            "crs": {"type": "array", "items": text},
            "storageCrs": text,
            "extent": {"type": "object"},
            "links": links,
        },
    )
    collections = _object(
        ["links", "collections"],
        {"links": links, "collections": {"type": "array", "items": collection_schema}},
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{settings.title} OGC API – Features",
            "version": "1.0.0",
            "description": "Layers of dutygrid as OGC API – Features collections (GeoJSON).",
        },
        "servers": [{"url": base}],
        "security": [{"bearerAuth": []}, {"basicAuth": []}],
        "paths": {
            "/": _get("Landing page", JSON, [f], secured=False, schema=landing),
            "/conformance": _get(
                "Conformance classes", JSON, [f], secured=False, schema=conformance
            ),
            "/api": _get(
                "This API definition", OPENAPI_30, [f], secured=False, schema={"type": "object"}
            ),
            "/collections": _get("The collections", JSON, [f], secured=True, schema=collections),
            "/collections/{collectionId}": _get(
                "A collection", JSON, [collection, f], secured=True, schema=collection_schema
            ),
            "/collections/{collectionId}/items": _get(
                "Features", GEOJSON, items, secured=True, schema=feature_collection_schema("3.0")
            ),
            "/collections/{collectionId}/items/{featureId}": _get(
                "A feature",
                GEOJSON,
                [collection, feature, f],
                secured=True,
                schema=feature_schema("3.0"),
            ),
            "/collections/{collectionId}/schema": _get(
                "The schema of the features' properties",
                SCHEMA_JSON,
                [collection],
                secured=True,
                schema={"type": "object"},
            ),
        },
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token (dutygrid token create)",
                },
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "any user name, the API token as the password",
                },
            },
        },
    }
