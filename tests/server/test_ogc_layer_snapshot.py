"""Layers held whole in memory: every page cut from a snapshot is the page the database gives
for the same box, limit and offset; a snapshot stands only for the version it was read at."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.layers import LAYERS
from server.errors import NotFound
from server.ogc import layer_snapshot
from server.ogc.geojson import encode_features
from server.ogc.layer_snapshot import SNAPSHOTS, Snapshots, read_snapshot
from server.ogc.page_cache import stop_watching, watch_commits
from server.ogc.pages import read_rows
from server.ogc.sources import PAGES, layer_sources
from server.storage import Provenance, Store, database_url

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]


@pytest.fixture
def filled(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[tuple[Store, dict[str, gpd.GeoDataFrame]]]:
    with Store.open(store_url) as store:
        store.write_layers(
            layer_frames, provenance={n: make_provenance(n, f) for n, f in layer_frames.items()}
        )
        yield store, layer_frames


def _database_page(
    store: Store, name: str, bbox: Any, limit: int, offset: int
) -> tuple[list[str], bool, int]:
    spec = LAYERS[name]
    with store.connection() as connection:
        rows = read_rows(connection, spec, bbox=bbox, limit=limit + 1, offset=offset)
        matched = len(read_rows(connection, spec, bbox=bbox))
    return encode_features(rows[:limit], spec), len(rows) > limit, matched


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_page_of_a_snapshot_is_the_databases_page(
    filled: tuple[Store, dict[str, gpd.GeoDataFrame]], data: st.DataObject
) -> None:
    store, frames = filled
    name = data.draw(st.sampled_from(sorted(frames)))
    with store.connection() as connection:
        snapshot = read_snapshot(connection, LAYERS[name])
    assert snapshot is not None
    assert snapshot.layer == name
    assert len(snapshot.features) == len(frames[name])
    present = frames[name].geometry.dropna()
    bbox = None
    if len(present) and data.draw(st.booleans()):
        minx, miny, maxx, maxy = present.total_bounds
        pad = max(maxx - minx, maxy - miny, 1e-3)
        lon = st.floats(minx - pad, maxx + pad)
        lat = st.floats(miny - pad, maxy + pad)
        x0, x1 = sorted(data.draw(st.tuples(lon, lon)))
        y0, y1 = sorted(data.draw(st.tuples(lat, lat)))
        # a box's edge exactly on a feature's bound is where < and <= differ
        edge = data.draw(st.sampled_from(["random", "on a feature"]))
        if edge == "on a feature":
            x0, y0, x1, y1 = present.iloc[data.draw(st.integers(0, len(present) - 1))].bounds
        bbox = (x0, y0, x1, y1)
    limit = data.draw(st.integers(0, len(frames[name]) + 2))
    offset = data.draw(st.integers(0, len(frames[name]) + 2))

    cut = snapshot.page(bbox=bbox, limit=limit, offset=offset)
    features, more, matched = _database_page(store, name, bbox, limit, offset)
    assert list(cut.features) == features
    assert cut.more == more
    assert cut.number_matched == matched


def test_a_snapshot_refuses_what_the_database_refuses(
    filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
) -> None:
    store, _ = filled
    with store.connection() as connection:
        snapshot = read_snapshot(connection, LAYERS["roads"])
    assert snapshot is not None
    for kwargs in [
        {"bbox": None, "limit": -1, "offset": 0},
        {"bbox": None, "limit": 1, "offset": -1},
        {"bbox": (1.0, 0.0, 0.0, 1.0), "limit": 1, "offset": 0},
        {"bbox": (0.0, 0.0, float("nan"), 1.0), "limit": 1, "offset": 0},
    ]:
        with pytest.raises(ValueError, match=r"must not be negative|is not \(min lon"):
            snapshot.page(**kwargs)


def test_no_snapshot_of_a_layer_unsettled_too_large_or_unwritten(
    store: Store,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: MakeProvenance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roads = layer_frames["roads"]
    with store.connection() as connection:
        assert read_snapshot(connection, LAYERS["roads"]) is None  # never written
    just_now = dataclasses.replace(
        make_provenance("roads", roads), imported_at="2999-01-01T00:00:00+00:00"
    )
    store.write_layers({"roads": roads}, provenance={"roads": just_now})
    with store.connection() as connection:
        assert read_snapshot(connection, LAYERS["roads"]) is None  # not settled
    store.write_layers({"roads": roads}, provenance={"roads": make_provenance("roads", roads)})
    monkeypatch.setattr(layer_snapshot, "MAX_FEATURES", len(roads) - 1)
    with store.connection() as connection:
        assert read_snapshot(connection, LAYERS["roads"]) is None  # too large
    monkeypatch.setattr(layer_snapshot, "MAX_FEATURES", len(roads))
    with store.connection() as connection:
        assert read_snapshot(connection, LAYERS["roads"]) is not None


def test_no_snapshot_of_a_layer_written_while_it_was_read(
    filled: tuple[Store, dict[str, gpd.GeoDataFrame]],
    make_provenance: MakeProvenance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, frames = filled
    first = make_provenance("roads", frames["roads"])
    later = dataclasses.replace(first, imported_at="2024-05-02T08:30:00+00:00")
    answers = iter([first, later])
    monkeypatch.setattr(layer_snapshot, "read_provenance", lambda *_: next(answers))
    with store.connection() as connection:
        assert read_snapshot(connection, LAYERS["roads"]) is None


def test_snapshots_follow_the_layers_version_and_stay_in_bounds(
    filled: tuple[Store, dict[str, gpd.GeoDataFrame]], make_provenance: MakeProvenance
) -> None:
    store, frames = filled
    roads = frames["roads"]
    held = Snapshots()
    with store.connection() as connection:
        first = held.read(store, connection, LAYERS["roads"], None)
    assert first is not None
    assert held.get(store, "roads", first.version) is first
    assert held.get(store, "roads", "another version") is None

    fewer = roads.iloc[1:].copy()
    rewritten = dataclasses.replace(
        make_provenance("roads", fewer), imported_at="2024-06-01T00:00:00+00:00"
    )
    store.write_layers({"roads": fewer}, provenance={"roads": rewritten})
    with store.connection() as connection:
        # the version not known to the caller: the layer's provenance tells it is new
        second = held.read(store, connection, LAYERS["roads"], None)
    assert second is not None
    assert second.version != first.version
    assert len(second.features) == len(fewer)
    assert held.get(store, "roads", first.version) is None

    small = Snapshots(max_bytes=second.size - 1)
    with store.connection() as connection:
        assert small.read(store, connection, LAYERS["roads"], None) is not None
    assert small.get(store, "roads", second.version) is None  # too big to hold


def test_a_single_feature_from_the_snapshot_is_the_databases(
    store_url: str, filled: tuple[Store, dict[str, gpd.GeoDataFrame]]
) -> None:
    store, frames = filled
    roads = layer_sources()["roads"]
    read_from_database = {i: roads.item(store, i) for i in frames["roads"]["id"]}
    if watch_commits(store, database_url(store_url)) is None:
        return  # not SQLite: there is no snapshot known current without a query
    try:
        page = roads.items(store, bbox=None, limit=1, offset=0, datetime=None)
        assert SNAPSHOTS.get(store, "roads", page.version) is not None
        for feature_id, feature in read_from_database.items():
            assert roads.item(store, feature_id) == feature
        with pytest.raises(NotFound, match="no feature 'nowhere'"):
            roads.item(store, "nowhere")
    finally:
        stop_watching(store)
        SNAPSHOTS.clear()
        PAGES.clear()
