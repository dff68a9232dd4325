"""Pages of items kept between requests: given again while the layer is unchanged, never after
it is written anew, and bounded; their ETags answer If-None-Match with 304."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.auth import Role, create_token
from server.ogc.page_cache import SETTLED_SECONDS, PageCache, layer_version
from server.ogc.sources import PAGES, layer_sources
from server.settings import Settings
from server.storage import Provenance, Store

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]


def _written(provenance: Provenance, seconds_ago: float) -> Provenance:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return dataclasses.replace(provenance, imported_at=moment.isoformat(timespec="seconds"))


@pytest.fixture
def roads_store(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[tuple[Store, gpd.GeoDataFrame, Provenance]]:
    frame = layer_frames["roads"]
    assert len(frame) >= 3
    provenance = _written(make_provenance("roads", frame), 60)
    with Store.open(store_url) as store:
        store.write_layers({"roads": frame}, provenance={"roads": provenance})
        yield store, frame, provenance


def test_layer_version_waits_for_the_write_to_settle(make_provenance: MakeProvenance) -> None:
    frame = gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:4326")
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    record = dataclasses.replace(
        make_provenance("roads", frame), imported_at=now.isoformat(timespec="seconds")
    )
    assert layer_version(None, now) is None
    assert layer_version(record, now) is None
    assert layer_version(record, now + timedelta(seconds=SETTLED_SECONDS - 1)) is None
    later = now + timedelta(seconds=SETTLED_SECONDS)
    settled = layer_version(record, later)
    assert settled is not None
    rewritten = dataclasses.replace(record, imported_at="2025-03-01T12:00:01+00:00")
    assert layer_version(rewritten, later + timedelta(seconds=1)) != settled
    assert layer_version(dataclasses.replace(record, imported_at="yesterday"), later) is None


def test_cache_drops_least_recently_read_pages(store: Store) -> None:
    cache: PageCache[str] = PageCache(max_pages=2, max_bytes=10)
    cache.put(store, "a", "page a", 4)
    cache.put(store, "b", "page b", 4)
    assert cache.get(store, "a") == "page a"  # now b is the least recently read
    cache.put(store, "c", "page c", 4)  # over 10 bytes: b goes
    assert cache.get(store, "b") is None
    assert (cache.get(store, "a"), cache.get(store, "c")) == ("page a", "page c")
    cache.put(store, "huge", "too big", 11)
    assert cache.get(store, "huge") is None
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_pages_are_kept_per_store(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache: PageCache[str] = PageCache()
    other_url = str(tmp_path_factory.mktemp("other") / "other.sqlite")
    with Store.open(store_url) as one, Store.open(other_url) as other:
        cache.put(one, "roads", "page of one", 11)
        assert cache.get(other, "roads") is None
        assert cache.get(one, "roads") == "page of one"


def test_a_page_is_kept_until_the_layer_is_written_again(
    roads_store: tuple[Store, gpd.GeoDataFrame, Provenance],
) -> None:
    store, frame, provenance = roads_store
    roads = layer_sources()["roads"]
    first = roads.items(store, bbox=None, limit=2, offset=0, datetime=None)
    assert first.version is not None
    assert roads.items(store, bbox=None, limit=2, offset=0, datetime=None) is first
    assert roads.items(store, bbox=None, limit=2, offset=1, datetime=None) is not first

    fewer = frame[frame["id"] != frame["id"].min()].copy()
    store.write_layers(
        {"roads": fewer},
        provenance={
            "roads": _written(dataclasses.replace(provenance, feature_count=len(fewer)), 30)
        },
    )
    again = roads.items(store, bbox=None, limit=2, offset=0, datetime=None)
    assert again.version not in (None, first.version)
    assert again.features != first.features
    assert again.number_matched == len(fewer)

    store.write_layers({"roads": frame}, provenance={"roads": _written(provenance, 0)})
    fresh = roads.items(store, bbox=None, limit=2, offset=0, datetime=None)
    assert fresh.version is None  # just written: not kept until it settles
    assert fresh.features == first.features
    assert roads.items(store, bbox=None, limit=2, offset=0, datetime=None) is not fresh


def test_items_etag_answers_if_none_match(
    store_url: str, roads_store: tuple[Store, gpd.GeoDataFrame, Provenance]
) -> None:
    store, frame, provenance = roads_store
    with store.transaction() as connection:
        _, secret = create_token(connection, role=Role.VIEWER, name="GIS", created_by="tests")
    headers = {"Authorization": f"Bearer {secret}"}
    settings = Settings(database_url=store_url, ogc_default_limit=2, ogc_max_limit=3)
    with TestClient(create_app(settings)) as client:
        url = "/ogc/collections/roads/items?limit=2"
        page = client.get(url, headers=headers)
        assert page.status_code == 200
        etag = page.headers["etag"]
        assert client.get(url, headers=headers).json()["features"] == page.json()["features"]
        same = client.get(url, headers={**headers, "If-None-Match": etag})
        assert same.status_code == 304
        assert same.headers["etag"] == etag
        assert same.content == b""
        other_page = client.get(url + "&offset=1", headers={**headers, "If-None-Match": etag})
        assert other_page.status_code == 200
        assert other_page.headers["etag"] != etag

        store.write_layers(
            {"roads": frame.iloc[:2].copy()},
            provenance={"roads": _written(dataclasses.replace(provenance, feature_count=2), 10)},
        )
        changed = client.get(url, headers={**headers, "If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert "next" not in {link["rel"] for link in changed.json()["links"]}
    PAGES.clear()
