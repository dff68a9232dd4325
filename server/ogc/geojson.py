"""Layers as GeoJSON (RFC 7946): features, their properties, and the ``bbox`` parameter."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi.responses import Response
from shapely.geometry import mapping

from geodata.layers import LayerSpec
from server.errors import InvalidParameterError

GEOJSON: Final = "application/geo+json"
JSON: Final = "application/json"

Bounds = tuple[float, float, float, float]

BBOX_EXAMPLE: Final = "113.55,34.80,113.75,34.96"


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _column_values(values: pd.Series) -> list[Any]:
    return [None if _is_missing(v) else v for v in values.astype(object).tolist()]


def _geos_writes_exact() -> bool:
    """Whether GEOS writes GeoJSON coordinates that read back as the same doubles."""
    probe = shapely.LineString([(113.12345678901235, 0.30000000000000004), (1e-07, -89.999999)])
    written = json.loads(shapely.to_geojson(probe))["coordinates"]
    return bool(written == [list(point) for point in probe.coords])


_EXACT_GEOJSON: Final = _geos_writes_exact()


def geometry_texts(geometries: np.ndarray) -> list[str]:
    """Return each geometry as GeoJSON text, ``null`` where there is none.

    GEOS writes them, far faster than Python can from shapely's mappings; where it would round
    coordinates (older GEOS), they are written from the mappings instead.

    Parameters
    ----------
    geometries
        Shapely geometries (an object array), None where missing.
    """
    if _EXACT_GEOJSON:
        return ["null" if text is None else text for text in shapely.to_geojson(geometries)]
    return ["null" if g is None else _dumps(mapping(g)) for g in geometries]


def geojson_features(frame: gpd.GeoDataFrame, spec: LayerSpec) -> list[dict[str, Any]]:
    """Return the features of a layer as GeoJSON Feature objects.

    The feature's ``id`` is the layer's id; ``properties`` hold the spec's columns, in order, and
    ``attrs`` as an object; a feature without a geometry has ``"geometry": null``.

    Parameters
    ----------
    frame
        The layer as :meth:`server.storage.Store.read_layer` returns it.
    spec
        The layer's spec.
    """
    ids = [str(v) for v in frame["id"].tolist()]
    columns = {c.name: _column_values(frame[c.name]) for c in spec.columns}
    attrs = frame["attrs"].tolist()
    geometries = geometry_texts(np.asarray(frame.geometry.array, dtype=object))
    features = []
    for i, feature_id in enumerate(ids):
        properties = {name: values[i] for name, values in columns.items()}
        properties["attrs"] = attrs[i] if isinstance(attrs[i], Mapping) else {}
        features.append(
            {
                "type": "Feature",
                "id": feature_id,
                "geometry": json.loads(geometries[i]),
                "properties": properties,
            }
        )
    return features


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""One encoder for every text: ``json.dumps`` with options would make one for each."""


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def row_geometries(rows: Sequence[Sequence[Any]]) -> np.ndarray:
    """Return the geometries of stored rows (WKB last in each row), None where there is none."""
    wkb = np.empty(len(rows), dtype=object)
    wkb[:] = [row[-1] for row in rows]
    return shapely.from_wkb(wkb)


def encode_features(
    rows: Sequence[Sequence[Any]], spec: LayerSpec, geometries: np.ndarray | None = None
) -> list[str]:
    """Return stored rows of a layer as GeoJSON Feature texts, as :func:`geojson_features` would.

    The rows are ``(id, <spec columns>, attrs JSON, WKB)`` as the layer's table holds them: the
    attrs are stored as JSON and go into the text as they are, the geometries are written by GEOS
    (:func:`geometry_texts`), and nothing passes through pandas or shapely mappings.

    Parameters
    ----------
    rows
        The rows, in the order of the features.
    spec
        The layer's spec.
    geometries
        The rows' geometries, where they were read from the WKB already
        (:func:`row_geometries`); else they are read here.
    """
    if not rows:
        return []
    names = [c.name for c in spec.columns]
    json_columns = {i for i, c in enumerate(spec.columns) if c.kind == "json"}
    if geometries is None:
        geometries = row_geometries(rows)
    texts = geometry_texts(geometries)
    features = []
    for row, geometry in zip(rows, texts, strict=True):
        values = row[1:-2]
        properties = {
            name: json.loads(value) if i in json_columns and value is not None else value
            for i, (name, value) in enumerate(zip(names, values, strict=True))
        }
        head = _dumps(properties)[:-1]
        attrs = f'{head}{"," if properties else ""}"attrs":{row[-2]}}}'
        features.append(
            f'{{"type":"Feature","id":{_dumps(row[0])},"geometry":{geometry},"properties":{attrs}}}'
        )
    return features


def feature_collection_response(
    members: Mapping[str, Any],
    features: Sequence[Mapping[str, Any] | str],
    *,
    headers: Mapping[str, str] | None = None,
    encoded: bytes | None = None,
) -> Response:
    """Return a GeoJSON FeatureCollection of ``features`` with further ``members``.

    Parameters
    ----------
    members
        The members besides ``type`` and ``features``: ``numberReturned``, ``links``, ….
    features
        GeoJSON Feature objects, or their JSON text (:func:`encode_features`).
    headers
        Headers for the response.
    encoded
        The features already as UTF-8 JSON text separated by commas, if they are: then
        ``features`` is not encoded again.
    """
    if encoded is None:
        encoded = ",".join(f if isinstance(f, str) else _dumps(f) for f in features).encode()
    rest = _dumps(dict(members))[1:-1]
    tail = f"]{',' if rest else ''}{rest}}}".encode()
    return Response(
        b'{"type":"FeatureCollection","features":[' + encoded + tail,
        media_type=GEOJSON,
        headers=dict(headers) if headers else None,
    )


def _nullable(schema: dict[str, Any], openapi: str) -> dict[str, Any]:
    if openapi.startswith("3.0"):
        return {**schema, "nullable": True}
    return {**schema, "type": [schema["type"], "null"]}


def link_schema() -> dict[str, Any]:
    """Return the JSON schema of a link object (see :func:`server.ogc.landing.link`)."""
    return {
        "type": "object",
        "required": ["href", "rel"],
        "properties": {
            "href": {"type": "string"},
            "rel": {"type": "string"},
            "type": {"type": "string"},
            "title": {"type": "string"},
        },
    }


def feature_schema(openapi: str = "3.1.0") -> dict[str, Any]:
    """Return the JSON schema of a GeoJSON Feature as :func:`geojson_features` writes it.

    Parameters
    ----------
    openapi
        The version of the OpenAPI document it goes into: 3.0 spells a missing geometry with
        ``nullable``, 3.1 with the type ``null``.
    """
    geometry = {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [
                    "Point",
                    "LineString",
                    "Polygon",
                    "MultiPoint",
                    "MultiLineString",
                    "MultiPolygon",
                ],
            },
            "coordinates": {"type": "array"},
        },
    }
    return {
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": _nullable(geometry, openapi),
            "properties": {"type": "object"},
            "links": {"type": "array", "items": link_schema()},
        },
    }


def feature_collection_schema(openapi: str = "3.1.0") -> dict[str, Any]:
    """Return the JSON schema of a GeoJSON FeatureCollection of this service (a page of items).

    Parameters
    ----------
    openapi
        The version of the OpenAPI document it goes into (see :func:`feature_schema`).
    """
    count = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "required": ["type", "features", "numberReturned"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": feature_schema(openapi)},
            "numberReturned": count,
            "numberMatched": count,
            "timeStamp": {"type": "string", "format": "date-time"},
            "links": {"type": "array", "items": link_schema()},
        },
    }


def geojson_content(schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    """Return the OpenAPI ``responses`` of a route that answers 200 with GeoJSON of ``schema``.

    The route gives ``response_class=Response`` so that FastAPI adds no JSON content of its own.
    """
    return {200: {"description": description, "content": {GEOJSON: {"schema": schema}}}}


def json_response(
    body: Any,
    *,
    media_type: str = JSON,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Return ``body`` as compact UTF-8 JSON (non-ASCII text kept as it is)."""
    return Response(
        _dumps(body).encode("utf-8"),
        status_code=status_code,
        media_type=media_type,
        headers=dict(headers) if headers else None,
    )


def parse_bbox(text: str | None) -> Bounds | None:
    """Return the box of a ``bbox`` parameter: ``min lon,min lat,max lon,max lat``, in CRS84.

    Six numbers (with heights) are accepted and the heights ignored.

    Raises
    ------
    InvalidParameterError
        If it is not four (or six) finite numbers, a latitude or longitude is out of range, or
        a minimum exceeds its maximum.
    """
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidParameterError(
            f"bbox is four numbers, min lon,min lat,max lon,max lat (e.g. {BBOX_EXAMPLE}); "
            f"got {len(parts)} value(s)",
            field="bbox",
        )
    values = []
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            raise InvalidParameterError(
                f"bbox value {part!r} is not a number (e.g. {BBOX_EXAMPLE})", field="bbox"
            ) from None
        if not math.isfinite(number):
            raise InvalidParameterError(f"bbox value {part!r} is not a finite number", field="bbox")
        values.append(number)
    minx, miny, maxx, maxy = values if len(values) == 4 else (values[0], values[1], *values[3:5])
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidParameterError(
            f"bbox longitudes must lie within -180..180, not {minx} and {maxx}", field="bbox"
        )
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidParameterError(
            f"bbox latitudes must lie within -90..90, not {miny} and {maxy}; is the box given "
            "as lat,lon? It is lon,lat",
            field="bbox",
        )
    if miny > maxy:
        raise InvalidParameterError(
            f"bbox min lat {miny} exceeds max lat {maxy}; the order is "
            "min lon,min lat,max lon,max lat",
            field="bbox",
        )
    if minx > maxx:
        raise InvalidParameterError(
            f"bbox min lon {minx} exceeds max lon {maxx}; boxes across the antimeridian are not "
            "supported, and the order is min lon,min lat,max lon,max lat",
            field="bbox",
        )
    return minx, miny, maxx, maxy
