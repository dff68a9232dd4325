"""Layers as GeoJSON (RFC 7946): features, their properties, and the ``bbox`` parameter."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

import geopandas as gpd
import pandas as pd
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
    geoms = frame.geometry.array
    features = []
    for i, feature_id in enumerate(ids):
        geom = geoms[i]
        properties = {name: values[i] for name, values in columns.items()}
        properties["attrs"] = attrs[i] if isinstance(attrs[i], Mapping) else {}
        features.append(
            {
                "type": "Feature",
                "id": feature_id,
                "geometry": None if geom is None else mapping(geom),
                "properties": properties,
            }
        )
    return features


def json_response(
    body: Any,
    *,
    media_type: str = JSON,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Return ``body`` as compact UTF-8 JSON (non-ASCII text kept as it is)."""
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(
        content.encode("utf-8"),
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
