"""The service through create_app(): layers as GeoJSON, exports, and errors as problem documents."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import geopandas as gpd
import pyogrio
import pytest
import shapely
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from shapely.geometry import shape
from starlette.requests import Request

from server.app import create_app
from server.auth import Role, create_token
from server.dependencies import check_if_match, weak_etag
from server.errors import PreconditionFailed, PreconditionRequired
from server.settings import Settings
from server.storage import Provenance, StorageError, Store

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]
PROBLEM = "application/problem+json"


@dataclass
class Service:
    client: TestClient
    store: Store
    headers: dict[str, str]
    frames: dict[str, gpd.GeoDataFrame]


def issue(store: Store, role: Role) -> str:
    with store.transaction() as connection:
        _, secret = create_token(
            connection,
            role=role,
            name=f"test {role.value}",
            created_by="tests",
            officer_id="officer-1" if role is Role.OFFICER else None,
        )
    return secret


@pytest.fixture
def service(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[Service]:
    with Store.open(store_url) as store:
        store.write_layers(
            layer_frames, provenance={n: make_provenance(n, f) for n, f in layer_frames.items()}
        )
        headers = {"Authorization": f"Bearer {issue(store, Role.VIEWER)}"}
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield Service(client, store, headers, layer_frames)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert problem["type"].startswith(("urn:dutygrid:problem:", "about:blank"))
    return problem


def test_layers_lists_counts_and_provenance(
    service: Service, make_provenance: MakeProvenance
) -> None:
    answer = service.client.get("/layers", headers=service.headers)
    assert answer.status_code == 200
    layers = {layer["name"]: layer for layer in answer.json()["layers"]}
    assert {name: layer["features"] for name, layer in layers.items()} == (
        service.store.layer_counts()
    )
    roads = layers["roads"]
    assert roads["geometry"] == "line"
    expected = make_provenance("roads", service.frames["roads"])
    assert roads["provenance"]["source"] == expected.source
    assert roads["provenance"]["sha256"] == expected.sha256


def test_a_layer_is_geojson_with_the_stored_values(service: Service) -> None:
    answer = service.client.get("/layers/roads", headers=service.headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geo+json"
    assert answer.headers["etag"].startswith('W/"')
    collection = answer.json()
    frame = service.store.read_layer("roads")
    assert [f["id"] for f in collection["features"]] == list(frame["id"])
    for feature, (_, row) in zip(collection["features"], frame.iterrows(), strict=True):
        properties = feature["properties"]
        assert properties["length_m"] == row["length_m"]  # the same double, not a rounded one
        assert properties["attrs"] == row["attrs"]
        assert properties["name_en"] == (None if row.isna()["name_en"] else row["name_en"])
        assert shapely.to_wkb(shape(feature["geometry"])) == shapely.to_wkb(row.geometry)


def test_a_feature_without_geometry_has_null_geometry(service: Service) -> None:
    answer = service.client.get("/layers/subdistricts/410108100", headers=service.headers)
    assert answer.status_code == 200
    feature = answer.json()
    assert feature["geometry"] is None
    assert feature["properties"]["name_zh"] == "花园口镇"
    assert feature["properties"]["schematic"] is True


def test_bbox_limit_and_offset(service: Service) -> None:
    box = (113.60, 34.83, 113.66, 34.85)
    answer = service.client.get(
        "/layers/roads", params={"bbox": ",".join(map(str, box))}, headers=service.headers
    )
    expected = list(service.store.read_layer("roads", bbox=box)["id"])
    assert 0 < len(expected) < len(service.frames["roads"])
    assert [f["id"] for f in answer.json()["features"]] == expected
    everything = list(service.store.read_layer("roads")["id"])
    pages = [
        service.client.get(
            "/layers/roads", params={"limit": 3, "offset": offset}, headers=service.headers
        ).json()["features"]
        for offset in range(0, len(everything), 3)
    ]
    assert [f["id"] for page in pages for f in page] == everything
    assert all(len(page) <= 3 for page in pages)


def test_a_feature_by_its_id(service: Service) -> None:
    answer = service.client.get(f"/layers/roads/{quote('路-1')}", headers=service.headers)
    assert answer.status_code == 200
    assert answer.json()["properties"]["name_zh"] == "英才街"
    problem = assert_problem(
        service.client.get("/layers/roads/no-such-road", headers=service.headers), 404
    )
    assert "no-such-road" in problem["detail"]
    assert problem["layer"] == "roads"


def test_exports_open_in_gdal(service: Service, tmp_path: Path) -> None:
    stored = sorted(service.store.read_layer("roads")["id"])
    for fmt in ("gpkg", "geojson", "shp"):
        answer = service.client.get(
            "/layers/roads/export", params={"format": fmt}, headers=service.headers
        )
        assert answer.status_code == 200
        assert "attachment" in answer.headers["content-disposition"]
        folder = tmp_path / fmt
        folder.mkdir()
        if fmt == "shp":
            assert answer.headers["content-type"] == "application/zip"
            with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
                names = set(archive.namelist())
                assert {"roads.shp", "roads.shx", "roads.dbf", "roads.prj", "roads.cpg"} <= names
                archive.extractall(folder)
            path = folder / "roads.shp"
        else:
            path = folder / f"roads.{fmt}"
            path.write_bytes(answer.content)
        read = pyogrio.read_dataframe(path)
        assert sorted(read["id"]) == stored, fmt
        assert read.crs.to_epsg() == 4326


USER_MISTAKES = [
    ("/layers/roads?bbox=113.6,34.8,113.7", 400, "bbox"),
    ("/layers/roads?bbox=a,b,c,d", 400, "bbox"),
    ("/layers/roads?bbox=34.8,113.6,34.9,113.7", 400, "bbox"),
    ("/layers/roads?bbox=113.7,34.8,113.6,34.9", 400, "bbox"),
    ("/layers/roads?bbox=113.6,34.8,113.7,nan", 400, "bbox"),
    ("/layers/roads?limit=0", 400, "limit"),
    ("/layers/roads?limit=ten", 400, "limit"),
    ("/layers/roads?offset=-1", 400, "offset"),
    ("/layers/roads/export?format=kml", 400, "format"),
    ("/layers/posts/export?format=shp", 400, "format"),  # points and lines in one layer
    ("/layers/rivers", 404, None),
    ("/layers/rivers/export", 404, None),
]


def test_user_mistakes_are_4xx_problems(service: Service) -> None:
    for url, status, field in USER_MISTAKES:
        problem = assert_problem(service.client.get(url, headers=service.headers), status)
        assert problem.get("field") == field, url
        assert problem["instance"] == url.split("?")[0]


def test_unknown_routes_and_methods_are_problems(service: Service) -> None:
    assert_problem(service.client.get("/no/such/thing", headers=service.headers), 404)
    problem = assert_problem(service.client.delete("/layers", headers=service.headers), 405)
    assert problem["type"] == "about:blank"


@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("secret detail of the failure"), 500), (StorageError("secret detail"), 503)],
)
def test_server_errors_are_logged_and_shown_generically(
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    status: int,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(Store, "read_layer", broken)
    client = TestClient(service.client.app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="dutygrid.server"):
        answer = client.get("/layers/roads", headers=service.headers)
    problem = assert_problem(answer, status)
    assert "secret detail" not in answer.text
    assert problem["reference"] in problem["detail"]
    logged = [r for r in caplog.records if problem["reference"] in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
    assert "secret detail" in str(logged[0].exc_info[1])


def test_the_etag_changes_with_a_write(service: Service, make_provenance: MakeProvenance) -> None:
    before = service.client.get("/layers/zones", headers=service.headers).headers["etag"]
    again = service.client.get("/layers/zones", headers=service.headers).headers["etag"]
    assert before == again
    fewer = service.frames["zones"].iloc[:1].reset_index(drop=True)
    record = Provenance(**{**make_provenance("zones", fewer).__dict__, "imported_at": "2025-01-01"})
    service.store.write_layers({"zones": fewer}, provenance={"zones": record})
    after = service.client.get("/layers/zones", headers=service.headers).headers["etag"]
    assert after != before


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "PUT", "path": "/", "headers": raw})


def test_if_match_helper() -> None:
    current = weak_etag(3, "roster")
    assert current == weak_etag(3, "roster")
    assert current != weak_etag(4, "roster")
    check_if_match(_request({"If-Match": current}), current, required=True)
    check_if_match(_request({"If-Match": current[2:]}), current, required=True)  # strong form
    check_if_match(_request({"If-Match": f'"other", {current}'}), current, required=True)
    check_if_match(_request({"If-Match": "*"}), current, required=True)
    check_if_match(_request({}), current, required=False)
    with pytest.raises(PreconditionRequired):
        check_if_match(_request({}), current, required=True)
    with pytest.raises(PreconditionFailed) as failed:
        check_if_match(_request({"If-Match": weak_etag(2, "roster")}), current)
    assert failed.value.extra["etag"] == current


def test_docs_and_a_docstring_on_every_route(service: Service) -> None:
    docs = service.client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    spec = service.client.get("/openapi.json").json()
    assert "/layers/{name}/export" in spec["paths"]
    assert "/ogc/collections/{collection_id}/items" in spec["paths"]
    app = service.client.app
    assert isinstance(app, FastAPI)
    undocumented = [
        route.path
        for route in _api_routes(app)
        if not (route.description or "").strip() or "\n" in route.description.strip()
    ]
    assert undocumented == []


def _api_routes(app: FastAPI) -> list[APIRoute]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        routes: list[Any] = list(app.routes)
    else:
        routes = [context.route for context in iter_route_contexts(app.routes)]
    return [route for route in routes if isinstance(route, APIRoute)]


def test_the_root_links_the_documents(service: Service) -> None:
    links = {link["rel"]: link["href"] for link in service.client.get("/").json()["links"]}
    assert links["service-doc"].endswith("/docs")
    assert links["ogc-api-features"].endswith("/ogc")


def test_docs_page_makes_no_request_outside_the_service(tmp_path: Path) -> None:
    app = create_app(Settings.model_validate({"database_url": str(tmp_path / "d.sqlite")}))
    with TestClient(app) as client:
        page = client.get("/docs").text
        assert "//" not in page.replace("http://testserver", "")
        assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
