"""The compact form in which a coverage page carries a layer: coordinates and properties in columns.

GeoJSON repeats every property key in every feature and writes every coordinate in full. A page
instead sends each layer as one document of the form ::

    {"g": "LineString", "d": 6,
     "xy": [113655470, 34852250, -26, 2005, ...],
     "parts": [[3, 3, ...]],
     "p": {"i": ["P-1", "P-2", ...], "l": [0, null, ...]},
     "lookup": {"c": [[-1, 100, 50], ...]}}

- ``g``: the geometry type of every feature (lines and multi-lines go together as multi-lines,
  polygons and multi-polygons as multi-polygons);
- ``xy``: the coordinates as integers in units of 10^-``d`` degree, each the difference from the
  one before (the first from zero), x then y;
- ``parts``: how the coordinates group, innermost first, as counts: for lines the coordinates of
  each line; for polygons those of each ring, then the rings of each polygon (then the polygons of
  each multi-polygon); none for points;
- ``p``: each property as a column, one value per feature, ``null`` where a feature has none;
- ``lookup``: properties whose column holds numbers into a table of values sent once.

:func:`decode_layer` (and ``decodeLayer`` in the page's script) turn it back into GeoJSON. A layer
whose geometries cannot share one type is sent as a plain GeoJSON FeatureCollection.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import NDArray

DECIMALS: Final = 6
"""Decimals kept of each coordinate in degrees (10^-6 degree is about 0.1 m)."""

_TYPE_NAMES: Final = {
    shapely.GeometryType.POINT: "Point",
    shapely.GeometryType.LINESTRING: "LineString",
    shapely.GeometryType.POLYGON: "Polygon",
    shapely.GeometryType.MULTIPOINT: "MultiPoint",
    shapely.GeometryType.MULTILINESTRING: "MultiLineString",
    shapely.GeometryType.MULTIPOLYGON: "MultiPolygon",
}
_TYPES: Final = {name: kind for kind, name in _TYPE_NAMES.items()}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def geojson_layer(geoms: NDArray[np.object_], properties: Sequence[Mapping[str, Any]]) -> str:
    """Return a layer as a plain GeoJSON FeatureCollection, serialised (6 decimals).

    What a page sends when a layer's geometries cannot share one type; also the baseline the
    compact form is measured against.
    """
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
    texts = shapely.to_geojson(rounded)
    features = [
        '{"type":"Feature","properties":' + _dumps(p) + ',"geometry":' + str(g) + "}"
        for p, g in zip(properties, texts, strict=True)
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


def _columns(
    properties: Sequence[Mapping[str, Any]], lookups: Collection[str]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    keys: dict[str, None] = {}
    for item in properties:
        keys.update(dict.fromkeys(item))
    columns = {key: [item.get(key) for item in properties] for key in keys}
    tables: dict[str, list[Any]] = {}
    for key in lookups:
        if key not in columns:
            continue
        numbers: dict[str, int] = {}
        table: list[Any] = []
        column: list[Any] = []
        for value in columns[key]:
            if value is None:
                column.append(None)
                continue
            text = _dumps(value)
            if text not in numbers:
                numbers[text] = len(table)
                table.append(value)
            column.append(numbers[text])
        columns[key] = column
        tables[key] = table
    return columns, tables


def encode_layer(
    geoms: NDArray[np.object_],
    properties: Sequence[Mapping[str, Any]],
    *,
    lookups: Collection[str] = (),
) -> str:
    """Return a layer in the page's compact form (see the module docstring), serialised.

    Parameters
    ----------
    geoms
        The geometries, in the coordinates the page draws in; none missing or empty.
    properties
        The properties of each feature (JSON values).
    lookups
        Properties whose values repeat: sent once each in ``lookup``, the column holding numbers.
    """
    if not len(geoms):
        return '{"type":"FeatureCollection","features":[]}'
    try:
        kind, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    except (ValueError, NotImplementedError):  # a mix of types, or collections
        return geojson_layer(geoms, properties)
    if kind not in _TYPE_NAMES:
        return geojson_layer(geoms, properties)
    units = np.rint(np.asarray(coords, dtype=np.float64) * 10**DECIMALS).astype(np.int64)
    steps = np.diff(units, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    columns, tables = _columns(properties, lookups)
    document: dict[str, Any] = {
        "g": _TYPE_NAMES[kind],
        "d": DECIMALS,
        "xy": steps.ravel().tolist(),
        "parts": [np.diff(o).tolist() for o in offsets],
        "p": columns,
    }
    if tables:
        document["lookup"] = tables
    return _dumps(document)


def decode_layer(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return a layer the page carries (compact or not) as a GeoJSON FeatureCollection."""
    if document.get("type") == "FeatureCollection":
        return dict(document)
    kind = _TYPES[str(document["g"])]
    units = np.cumsum(np.asarray(document["xy"], dtype=np.int64).reshape(-1, 2), axis=0)
    coords = units / 10 ** int(document["d"])
    offsets = tuple(
        np.concatenate([[0], np.cumsum(np.asarray(c, dtype=np.int64))]).astype(np.int64)
        for c in document["parts"]
    )
    geoms = shapely.from_ragged_array(kind, coords, offsets or None)
    columns: Mapping[str, list[Any]] = document["p"]
    tables: Mapping[str, list[Any]] = document.get("lookup", {})
    features = []
    for number, geometry in enumerate(geoms):
        properties = {}
        for key, column in columns.items():
            value = column[number]
            if value is not None:
                properties[key] = tables[key][value] if key in tables else value
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": json.loads(shapely.to_geojson(geometry)),
            }
        )
    return {"type": "FeatureCollection", "features": features}
