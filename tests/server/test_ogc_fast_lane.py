"""The items lane: pages of OGC items given past the framework, exactly as the route gives them,
and every request it does not take as plainly valid left to the route; the commit watch that
lets a kept page be given without a query."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from server.app import create_app
from server.auth import Role, create_token, list_tokens, revoke_token
from server.ogc import fast_lane
from server.ogc.fast_lane import ItemsLane
from server.ogc.geojson import encode_features
from server.ogc.items import page_urls
from server.ogc.layer_snapshot import SNAPSHOTS
from server.ogc.page_cache import commit_watch, stop_watching, watch_commits
from server.ogc.pages import read_rows
from server.ogc.sources import PAGES, LayerSource, layer_sources
from server.settings import Settings
from server.storage import Provenance, Store, database_url

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]


def _settled(provenance: Provenance) -> Provenance:
    moment = datetime.now(UTC) - timedelta(seconds=60)
    return dataclasses.replace(provenance, imported_at=moment.isoformat(timespec="seconds"))


@pytest.fixture
def roads(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[tuple[Store, gpd.GeoDataFrame, Provenance]]:
    frame = layer_frames["roads"]
    assert len(frame) >= 3
    provenance = _settled(make_provenance("roads", frame))
    with Store.open(store_url) as store:
        store.write_layers({"roads": frame}, provenance={"roads": provenance})
        yield store, frame, provenance
        stop_watching(store)
    PAGES.clear()
    SNAPSHOTS.clear()


def _token(store: Store, role: Role = Role.VIEWER) -> tuple[str, str]:
    with store.transaction() as connection:
        record, secret = create_token(connection, role=role, name="GIS", created_by="tests")
    return record.id, secret


def _without_lane(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ItemsLane]
    return app


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the pages the lane answers (by the URL of the request)."""
    calls: list[str] = []
    answer = fast_lane.items_response

    def spy(request: Request, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(request.url))
        return answer(request, *args, **kwargs)

    monkeypatch.setattr(fast_lane, "items_response", spy)
    return calls


def _comparable(answer: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in answer.headers.items() if k in ("content-type", "etag")}
    body: Any = answer.content
    if answer.content and "json" in answer.headers.get("content-type", ""):
        body = json.loads(answer.content)
        body.pop("timeStamp", None)
    return answer.status_code, headers, body


def test_commit_watch_sees_every_commit(
    store_url: str, roads: tuple[Store, gpd.GeoDataFrame, Provenance]
) -> None:
    store, frame, provenance = roads
    watch = watch_commits(store, database_url(store_url))
    if store.backend != "sqlite":
        assert watch is None  # other databases are asked every time
        assert commit_watch(store) is None
        return
    assert watch is not None
    assert commit_watch(store) is watch
    before = watch.generation()
    assert before is not None
    assert watch.generation() == before  # nothing committed: the same
    watch.remember("roads", before, provenance)
    assert watch.provenance("roads", before) == (True, provenance)
    assert watch.provenance("roads", None) == (False, None)
    with Store.open(store_url) as other:  # another connection, as another process would have
        fewer = dataclasses.replace(provenance, feature_count=2)
        other.write_layers({"roads": frame.iloc[:2].copy()}, provenance={"roads": fewer})
    after = watch.generation()
    assert after is not None
    assert after != before
    assert watch.provenance("roads", after) == (False, None)
    stop_watching(store)
    assert commit_watch(store) is None


def test_a_kept_page_is_given_without_a_query_until_a_commit(
    store_url: str, roads: tuple[Store, gpd.GeoDataFrame, Provenance]
) -> None:
    store, frame, provenance = roads
    source = layer_sources()["roads"]
    assert isinstance(source, LayerSource)
    if watch_commits(store, database_url(store_url)) is None:
        assert source.kept_page(store, bbox=None, limit=2, offset=0) is None
        return
    assert source.kept_page(store, bbox=None, limit=2, offset=0) is None  # not read yet
    page = source.items(store, bbox=None, limit=2, offset=0, datetime=None)
    assert page.encoded == ",".join(str(f) for f in page.features).encode()
    assert source.kept_page(store, bbox=None, limit=2, offset=0) is page
    # the layer is now held whole: any other page of it is cut without a query
    other = source.kept_page(store, bbox=None, limit=2, offset=1)
    assert other is not None
    with store.connection() as connection:
        rows = read_rows(connection, source.spec, limit=2, offset=1)
    assert list(other.features) == encode_features(rows, source.spec)

    fewer = frame.iloc[1:].copy()
    store.write_layers(
        {"roads": fewer},
        provenance={"roads": dataclasses.replace(provenance, feature_count=len(fewer))},
    )
    assert source.kept_page(store, bbox=None, limit=2, offset=0) is None
    again = source.items(store, bbox=None, limit=2, offset=0, datetime=None)
    assert again.number_matched == len(fewer)
    assert again.features != page.features


QUERIES = (
    "",
    "?limit=2",
    "?limit=2&offset=1",
    "?offset=2&limit=1&f=json",
    "?limit=500",
    "?bbox=-180,-90,180,90&limit=2",
    "?bbox=-180,-90,0,90,0,100",
    "?crs=OGC:CRS84&bbox-crs=CRS84&limit=1",
    "?limit=2&datetime=2025-01-01T00:00:00Z&extra=kept",
    "?offset=100000",
)


@pytest.mark.parametrize("query", QUERIES)
def test_the_lane_answers_as_the_route(
    store_url: str,
    roads: tuple[Store, gpd.GeoDataFrame, Provenance],
    lane_calls: list[str],
    query: str,
) -> None:
    store, _, _ = roads
    _, secret = _token(store)
    headers = {"Authorization": f"Bearer {secret}"}
    settings = Settings(database_url=store_url, ogc_default_limit=2, ogc_max_limit=3)
    url = f"/ogc/collections/roads/items{query}"
    with (
        TestClient(create_app(settings)) as ours,
        TestClient(_without_lane(create_app(settings))) as route,
    ):
        expected = route.get(url, headers=headers)
        assert expected.status_code == 200
        assert not lane_calls
        for _ in range(2):  # read afresh, then kept
            answer = ours.get(url, headers=headers)
            assert _comparable(answer) == _comparable(expected)
        assert len(lane_calls) == 2
        etag = answer.headers["etag"]
        same = ours.get(url, headers={**headers, "If-None-Match": etag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
        assert len(lane_calls) == 3


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=abc",
        "?offset=-1",
        "?limit=2&limit=3",
        "?bbox=1,2,3",
        "?bbox=10,0,0,10",
        "?crs=EPSG:3857",
        "?bbox-crs=EPSG:4326&bbox=0,0,1,1",
        "?f=xml",
    ],
)
def test_the_lane_leaves_what_it_does_not_take_to_the_route(
    store_url: str,
    roads: tuple[Store, gpd.GeoDataFrame, Provenance],
    lane_calls: list[str],
    query: str,
) -> None:
    store, _, _ = roads
    _, secret = _token(store)
    headers = {"Authorization": f"Bearer {secret}"}
    settings = Settings(database_url=store_url)
    url = f"/ogc/collections/roads/items{query}"
    with (
        TestClient(create_app(settings)) as ours,
        TestClient(_without_lane(create_app(settings))) as route,
    ):
        ours.get("/ogc/collections/roads/items", headers=headers)  # the token is checked lately
        expected = route.get(url, headers=headers)
        answer = ours.get(url, headers=headers)
    assert len(lane_calls) == 1
    assert _comparable(answer) == _comparable(expected)


def test_the_lane_keeps_tokens_and_revocation(
    store_url: str, roads: tuple[Store, gpd.GeoDataFrame, Provenance], lane_calls: list[str]
) -> None:
    store, _, _ = roads
    token_id, secret = _token(store)
    url = "/ogc/collections/roads/items?limit=2"
    with TestClient(create_app(Settings(database_url=store_url))) as client:
        assert client.get(url).status_code == 401
        unknown = client.get(url, headers={"Authorization": "Bearer dg_not-a-token"})
        assert unknown.status_code == 401
        assert client.get(url, headers={"Authorization": "Token x"}).status_code == 401
        assert not lane_calls
        assert client.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        assert len(lane_calls) == 1
        with store.connection() as connection:
            [record] = [t for t in list_tokens(connection) if t.id == token_id]
        assert record.last_used_at is not None  # written by the lane as by the route
        with store.transaction() as connection:
            revoke_token(connection, token_id)
        revoked = client.get(url, headers={"Authorization": f"Bearer {secret}"})
        assert revoked.status_code == 401  # at once, in this process
        assert "revoked" in revoked.json()["detail"]
        assert len(lane_calls) == 1


@pytest.mark.parametrize(
    "query",
    ["", "?limit=5", "?a=1&a=2&limit=3&b=&c", "?x=%20y+z&offset=9", "?bbox=1,2,3,4&f=json"],
)
@pytest.mark.parametrize("root_path", ["", "/gis"])
def test_page_urls_are_those_of_include_query_params(query: str, root_path: str) -> None:
    scope = {
        "type": "http",
        "scheme": "https",
        "server": ("example.org", 443),
        "path": "/ogc/collections/roads/items",
        "root_path": root_path,
        "query_string": query.removeprefix("?").encode(),
        "headers": [(b"host", b"example.org")],
    }
    request = Request(scope)
    for limit, offset in ((100, 0), (7, 250)):
        expected = str(request.url.include_query_params(limit=limit, offset=offset))
        assert page_urls(request)(limit, offset) == expected
