"""Pages read as rows and written as GeoJSON text: the same features, in the same order, as the
GeoDataFrame path (``Store.read_layer`` and ``geojson_features``), on either database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from geodata.layers import LAYERS
from server.ogc.geojson import (
    encode_features,
    feature_collection_response,
    geojson_features,
    geometry_texts,
)
from server.ogc.pages import feature_count, read_provenance, read_rows
from server.storage import Provenance, Store

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]


@pytest.fixture
def filled(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[tuple[Store, dict[str, gpd.GeoDataFrame]]]:
    with Store.open(store_url) as store:
        frames = {n: f for n, f in layer_frames.items() if n != "communities"}
        store.write_layers(frames, provenance={n: make_provenance(n, f) for n, f in frames.items()})
        yield store, frames


def _boxes(frame: gpd.GeoDataFrame) -> list[tuple[float, float, float, float] | None]:
    """No box, the layer's own bounds, a box around its first feature, and one that misses."""
    boxes: list[tuple[float, float, float, float] | None] = [None]
    present = frame[frame.geometry.notna()]
    if len(present):
        boxes.append(tuple(present.total_bounds.tolist()))
        minx, miny, maxx, maxy = present.geometry.iloc[0].bounds
        boxes.append((minx, miny, (minx + maxx) / 2, (miny + maxy) / 2))
    boxes.append((0.0, 0.0, 1.0, 1.0))
    return boxes


def test_rows_as_geojson_are_the_frames_as_geojson(
    filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
) -> None:
    store, frames = filled
    compared = 0
    for name in LAYERS:
        spec = LAYERS[name]
        for bbox in _boxes(frames.get(name, store.read_layer(name))):
            for limit, offset in [(None, 0), (1, 0), (2, 1), (5, 3)]:
                frame = store.read_layer(name, bbox=bbox, limit=limit, offset=offset)
                with store.connection() as connection:
                    rows = read_rows(connection, spec, bbox=bbox, limit=limit, offset=offset)
                texts = encode_features(rows, spec)
                assert [json.loads(t) for t in texts] == geojson_features(frame, spec), name
                compared += len(texts)
    assert compared > 0
    with store.connection() as connection:
        assert feature_count(connection, "roads") == len(frames["roads"])
        assert feature_count(connection, "communities") == 0
        assert read_provenance(connection, "communities") is None
        recorded = read_provenance(connection, "roads")
        assert recorded is not None
        assert recorded.feature_count == len(frames["roads"])


def test_rows_refuse_what_read_layer_refuses(store: Store) -> None:
    with store.connection() as connection:
        for kwargs in [
            {"limit": -1},
            {"offset": -1},
            {"bbox": (1.0, 0.0, 0.0, 1.0)},
            {"bbox": (0.0, 0.0, float("nan"), 1.0)},
        ]:
            with pytest.raises(ValueError, match="not"):
                read_rows(connection, LAYERS["roads"], **kwargs)  # type: ignore[arg-type]


coordinates = st.floats(min_value=-180, max_value=180, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(coordinates, coordinates), min_size=2, max_size=6))
def test_geometry_text_keeps_every_double(points: list[tuple[float, float]]) -> None:
    line = shapely.LineString(points)
    texts = geometry_texts(np.array([line, None, shapely.Point(points[0])], dtype=object))
    assert json.loads(texts[0]) == {"type": "LineString", "coordinates": [list(p) for p in points]}
    assert texts[1] == "null"
    assert json.loads(texts[2])["coordinates"] == list(points[0])


def test_a_collection_of_texts_and_objects() -> None:
    feature = {"type": "Feature", "id": "a", "geometry": None, "properties": {"名": "路"}}
    answer = feature_collection_response(
        {"numberReturned": 2, "links": []}, [feature, json.dumps(feature)], headers={"ETag": "x"}
    )
    body = json.loads(answer.body)
    assert body == {
        "type": "FeatureCollection",
        "features": [feature, feature],
        "numberReturned": 2,
        "links": [],
    }
    assert answer.media_type == "application/geo+json"
    assert answer.headers["etag"] == "x"
    empty = json.loads(feature_collection_response({}, []).body)
    assert empty == {"type": "FeatureCollection", "features": []}
