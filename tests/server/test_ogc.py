"""OGC API – Features at /ogc: its documents, paging, and GDAL's OAPIF driver on a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from geodata.layers import LAYERS
from server.app import create_app
from server.auth import Role, create_token
from server.settings import Settings
from server.storage import Provenance, Store

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def viewer_secret(store: Store) -> str:
    with store.transaction() as connection:
        _, secret = create_token(connection, role=Role.VIEWER, name="GIS", created_by="tests")
    return secret


@dataclass
class Service:
    client: TestClient
    store: Store
    headers: dict[str, str]


@pytest.fixture
def filled_store(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[Store]:
    with Store.open(store_url) as store:
        frames = {n: f for n, f in layer_frames.items() if n != "communities"}
        store.write_layers(frames, provenance={n: make_provenance(n, f) for n, f in frames.items()})
        yield store


@pytest.fixture
def service(store_url: str, filled_store: Store) -> Iterator[Service]:
    settings = Settings(database_url=store_url, ogc_default_limit=2, ogc_max_limit=3)
    headers = {"Authorization": f"Bearer {viewer_secret(filled_store)}"}
    with TestClient(create_app(settings)) as client:
        yield Service(client, filled_store, headers)


def links(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {link["rel"]: link for link in document["links"]}


def test_landing_page_conformance_and_api_definition(service: Service) -> None:
    landing = service.client.get("/ogc")
    assert landing.status_code == 200
    rels = links(landing.json())
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels.keys()
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    conformance = service.client.get(rels["conformance"]["href"]).json()["conformsTo"]
    for part in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{part}" in conformance
    api = service.client.get(rels["service-desc"]["href"])
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    document = api.json()
    assert document["openapi"].startswith("3.0.")
    items = document["paths"]["/collections/{collectionId}/items"]["get"]
    limit = next(p for p in items["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 3
    assert limit["schema"]["default"] == 2
    assert service.client.get("/ogc?f=html").status_code == 400


def test_collections_one_per_layer_with_extent(service: Service) -> None:
    answer = service.client.get("/ogc/collections", headers=service.headers)
    assert answer.status_code == 200
    collections = {c["id"]: c for c in answer.json()["collections"]}
    # every layer, and the coverage of the posts by the roster (the datetime selects the slot)
    assert list(collections) == [*LAYERS, "coverage"]
    roads = collections["roads"]
    bounds = service.store.read_layer("roads").total_bounds.tolist()
    assert roads["extent"]["spatial"]["bbox"] == [bounds]  # exact, on either database
    assert roads["extent"]["spatial"]["crs"] == CRS84
    rels = links(roads)
    assert rels["items"]["type"] == "application/geo+json"
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/schema"]["type"] == (
        "application/schema+json"
    )
    assert "extent" not in collections["communities"]  # nothing stored
    one = service.client.get("/ogc/collections/roads", headers=service.headers).json()
    assert one == roads
    unknown = service.client.get("/ogc/collections/rivers", headers=service.headers)
    assert unknown.status_code == 404
    assert "roads" in unknown.json()["detail"]


def test_items_page_through_next_links(service: Service) -> None:
    stored = list(service.store.read_layer("roads")["id"])
    url: str | None = "/ogc/collections/roads/items"
    seen: list[str] = []
    pages = 0
    while url:
        answer = service.client.get(url, headers=service.headers)
        assert answer.headers["content-type"] == "application/geo+json"
        page = answer.json()
        assert page["type"] == "FeatureCollection"
        assert page["numberReturned"] == len(page["features"]) <= 2
        assert page["numberMatched"] == len(stored)
        assert page["timeStamp"].endswith("Z")
        rels = links(page)
        assert ("prev" in rels) == (pages > 0)
        seen += [f["id"] for f in page["features"]]
        url = rels["next"]["href"] if "next" in rels else None
        pages += 1
    assert seen == stored
    assert pages == -(-len(stored) // 2)
    capped = service.client.get(
        "/ogc/collections/roads/items?limit=1000", headers=service.headers
    ).json()
    assert capped["numberReturned"] == 3  # the maximum, not an error


def test_items_within_a_bbox(service: Service) -> None:
    box = (113.60, 34.83, 113.66, 34.85)
    expected = list(service.store.read_layer("roads", bbox=box)["id"])
    answer = service.client.get(
        "/ogc/collections/roads/items",
        params={"bbox": ",".join(map(str, box)), "limit": 3, "bbox-crs": CRS84},
        headers=service.headers,
    ).json()
    assert [f["id"] for f in answer["features"]] == expected
    assert answer.get("numberMatched", len(expected)) == len(expected)


def test_one_item_and_the_schema(service: Service) -> None:
    feature = service.client.get(
        "/ogc/collections/posts/items/post-gp-001", headers=service.headers
    ).json()
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Point"
    assert feature["properties"]["attrs"] == {"疏导点": "gp-001"}
    assert links(feature)["collection"]["href"].endswith("/ogc/collections/posts")
    missing = service.client.get("/ogc/collections/posts/items/nope", headers=service.headers)
    assert missing.status_code == 404
    assert missing.json()["feature"] == "nope"
    answer = service.client.get("/ogc/collections/posts/schema", headers=service.headers)
    assert answer.headers["content-type"] == "application/schema+json"
    schema = answer.json()
    properties = schema["properties"]
    spec = LAYERS["posts"]
    assert list(properties) == ["id", *(c.name for c in spec.columns), "attrs", "geometry"]
    assert properties["id"]["x-ogc-role"] == "id"
    assert properties["geometry"]["x-ogc-role"] == "primary-geometry"
    assert properties["length_m"]["type"] == "number"
    assert properties["radius_m"]["type"] == ["number", "null"]
    assert properties["attrs"]["type"] == "object"


def test_parameter_mistakes_are_400(service: Service) -> None:
    for query, field in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=113.6,34.8,113.7,north", "bbox"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("offset=-5", "offset"),
        ("bbox-crs=EPSG:4547", "bbox-crs"),
        ("f=xml", "f"),
    ]:
        answer = service.client.get(
            f"/ogc/collections/roads/items?{query}", headers=service.headers
        )
        assert answer.status_code == 400, query
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field


# --- GDAL's OGC API – Features driver against a real server ----------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_server(store_url: str, filled_store: Store, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Run ``dutygrid serve --workers 2`` on a free loopback port; yield its OGC URL and a token.

    GDAL holds the GIL while it reads, so the server runs in a process of its own.
    """
    secret = viewer_secret(filled_store)
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        "from server.cli import main; main()",
        "serve",
        "--db",
        store_url,
        "--port",
        str(port),
        "--workers",
        "2",  # each worker a process of its own, finding the database in the environment
    ]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/ogc"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(base, timeout=1) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield base, secret
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_gdal_reads_every_collection(live_server: tuple[str, str], filled_store: Store) -> None:
    base, secret = live_server
    counts = filled_store.layer_counts()
    # a bearer token sent as a header (list_layers takes no open options)
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": secret})
    try:
        names = [name for name, _ in pyogrio.list_layers(f"OAPIF:{base}")]
    finally:
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
    assert names == [*LAYERS, "coverage"]
    # the token as the password of HTTP Basic authentication (QGIS, GDAL's USERPWD)
    for name in LAYERS:
        read = pyogrio.read_dataframe(f"OAPIF:{base}", layer=name, USERPWD=f"gis:{secret}")
        assert len(read) == counts[name], name
        if counts[name]:
            stored = filled_store.read_layer(name)
            assert sorted(read["id"]) == sorted(stored["id"])
    # small pages: GDAL follows the next links to the end
    roads = pyogrio.read_dataframe(
        f"OAPIF:{base}", layer="roads", USERPWD=f"gis:{secret}", PAGE_SIZE=1
    )
    stored = filled_store.read_layer("roads").set_index("id")
    assert len(roads) == len(stored)
    for row in roads.itertuples():
        assert shapely.equals_exact(row.geometry, stored.loc[row.id, "geometry"], tolerance=0)
    # a spatial filter becomes the bbox parameter
    box = (113.60, 34.83, 113.66, 34.85)
    within = pyogrio.read_dataframe(
        f"OAPIF:{base}", layer="roads", USERPWD=f"gis:{secret}", bbox=box
    )
    assert sorted(within["id"]) == sorted(filled_store.read_layer("roads", bbox=box)["id"])
