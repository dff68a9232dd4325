"""Uploading a file as a layer: checked, idempotent, limited, audited, all or nothing."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point

from server.app import create_app
from server.auth import Role, create_token
from server.routes import imports
from server.settings import Settings
from server.storage import Provenance, Store

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]
PROBLEM = "application/problem+json"


@dataclass
class Service:
    client: TestClient
    store: Store
    url: str
    planner: dict[str, str]
    admin: dict[str, str]

    def upload(
        self,
        name: str,
        content: bytes,
        *,
        layer: str = "guidance_points",
        headers: dict[str, str] | None = None,
        **form: str,
    ) -> Any:
        return self.client.post(
            "/imports",
            files={"file": (name, io.BytesIO(content), "application/octet-stream")},
            data={"layer": layer, **form},
            headers={**self.planner, **(headers or {})},
        )

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        answer = self.client.get("/audit", params=params, headers=self.admin)
        assert answer.status_code == 200
        entries: list[dict[str, Any]] = answer.json()["entries"]
        return entries


def bearer(store: Store, role: Role, name: str) -> dict[str, str]:
    with store.transaction() as connection:
        _, secret = create_token(connection, role=role, name=name, created_by="tests")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def service(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[Service]:
    with Store.open(store_url) as store:
        store.write_layers(
            layer_frames, provenance={n: make_provenance(n, f) for n, f in layer_frames.items()}
        )
        planner = bearer(store, Role.PLANNER, "规划员 李娜")
        admin = bearer(store, Role.ADMIN, "admin")
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield Service(client, store, store_url, planner, admin)


def points_geojson(points: list[tuple[str, float, float, str]]) -> bytes:
    """GeoJSON of guidance points: (id, lon, lat, name)."""
    features = [
        {
            "type": "Feature",
            "properties": {"id": pid, "名称": name, "windows": "17:00-21:00", "radius_m": 25},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for pid, lon, lat, name in points
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode("utf-8")


POINTS = [
    ("gp-101", 113.652, 34.831, "文化路夜市"),
    ("gp-102", 113.641, 34.842, "开元路早市"),
    ("gp-103", 113.705, 34.905, "英才街"),
]


def assert_problem(answer: Any, status: int, error: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status
    if error is not None:
        assert problem["error"] == error
    return problem


def test_an_import_writes_the_layer_and_its_audit_record(service: Service) -> None:
    answer = service.upload("疏导点.geojson", points_geojson(POINTS))
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == "/layers/guidance_points"
    body = answer.json()
    assert body["unchanged"] is False
    assert body["features"] == 3
    stored = service.store.read_layer("guidance_points")
    assert list(stored["id"]) == ["gp-101", "gp-102", "gp-103"]
    assert list(stored["name_zh"]) == ["文化路夜市", "开元路早市", "英才街"]
    provenance = {p.layer: p for p in service.store.layer_provenance()}["guidance_points"]
    assert provenance.source == "疏导点.geojson"
    assert provenance.sha256 == body["sha256"]
    assert "李娜" in provenance.note
    [entry] = service.audit(layer="guidance_points")
    assert entry["id"] == body["audit_id"]
    assert entry["action"] == "layer.import"
    assert entry["actor"] == "规划员 李娜"
    assert entry["role"] == "planner"
    assert entry["route"] == "/imports"
    summary = entry["summary"]
    assert summary["features_before"] == 3  # the fixture's gp-001 … gp-003
    assert summary["features_after"] == 3
    assert summary["added_ids"] == ["gp-101", "gp-102", "gp-103"]
    assert summary["removed_ids"] == ["gp-001", "gp-002", "gp-003"]
    assert summary["file"] == "疏导点.geojson"


def test_the_same_file_twice_changes_nothing_and_says_so(service: Service) -> None:
    content = points_geojson(POINTS)
    assert service.upload("points.geojson", content).status_code == 201
    before = {p.layer: p for p in service.store.layer_provenance()}["guidance_points"]
    again = service.upload("points.geojson", content)
    assert again.status_code == 200
    assert again.json()["unchanged"] is True
    assert "nothing changed" in again.json()["message"]
    after = {p.layer: p for p in service.store.layer_provenance()}["guidance_points"]
    assert after == before
    assert len(service.audit(layer="guidance_points")) == 1
    changed = service.upload(
        "points.geojson", points_geojson([*POINTS[:1], (*POINTS[1][:3], "改名")])
    )
    assert changed.status_code == 201
    changes = changed.json()["changes"]
    assert (changes["removed"], changes["changed"], changes["kept"]) == (1, 1, 2)
    assert len(service.audit(layer="guidance_points")) == 2


def test_a_failed_audit_write_undoes_the_import(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = service.store.read_layer("guidance_points")

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(imports, "record", broken)
    client = TestClient(service.client.app, raise_server_exceptions=False)
    answer = client.post(
        "/imports",
        files={"file": ("p.geojson", io.BytesIO(points_geojson(POINTS)), "application/json")},
        data={"layer": "guidance_points"},
        headers=service.planner,
    )
    assert_problem(answer, 500)
    assert list(service.store.read_layer("guidance_points")["id"]) == list(before["id"])
    assert service.audit(layer="guidance_points") == []


def test_uploads_over_the_size_limit_are_refused(
    service: Service, layer_frames: dict[str, gpd.GeoDataFrame]
) -> None:
    content = points_geojson(POINTS)
    limit = len(content) - 1
    app = create_app(Settings(database_url=service.url, max_upload_bytes=limit))
    before = list(service.store.read_layer("guidance_points")["id"])
    with TestClient(app) as small:
        # a file a byte too large: refused by the import itself
        answer = small.post(
            "/imports",
            files={"file": ("p.geojson", io.BytesIO(content), "application/json")},
            data={"layer": "guidance_points"},
            headers=service.planner,
        )
        problem = assert_problem(answer, 413, "FileTooLargeError")
        assert problem["file"] == "p.geojson"
        # a request declaring a body far over the limit: refused before it is read
        huge = content + b" " * (2 << 20)
        answer = small.post(
            "/imports",
            files={"file": ("p.geojson", io.BytesIO(huge), "application/json")},
            data={"layer": "guidance_points"},
            headers=service.planner,
        )
        assert "larger than the limit" in assert_problem(answer, 413)["detail"]
        # the same without a Content-Length: cut off while it streams in
        answer = small.post(
            "/imports",
            content=(b"x" * 65536 for _ in range(40)),
            headers={**service.planner, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert "larger than the limit" in assert_problem(answer, 413)["detail"]
    assert list(service.store.read_layer("guidance_points")["id"]) == before


UNSUPPORTED = [
    ("points.kml", b"<kml/>", ".kml"),
    ("roads.shp", b"\x00\x00\x27\x0a", "zip"),
    ("roads.zip", b"not a zip at all", "not a zip"),
    ("layers.gpkg", b"{}", "not a GeoPackage"),
]


def test_unsupported_file_types_are_415(service: Service) -> None:
    for name, content, hint in UNSUPPORTED:
        problem = assert_problem(service.upload(name, content), 415, "UnsupportedUploadError")
        assert hint in problem["detail"], name
        assert problem["field"] == "file"


def _gbk_shapefile_zip(tmp_path: Path) -> bytes:
    frame = gpd.GeoDataFrame(
        {"id": ["gp-1", "gp-2"], "name": ["文化路", "惠济区英才街"]},
        geometry=[Point(113.65, 34.83), Point(113.70, 34.90)],
        crs="EPSG:4326",
    )
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "points.shp", encoding="gbk")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    return buffer.getvalue()


def test_a_wrong_encoding_names_the_file_row_and_field(service: Service, tmp_path: Path) -> None:
    content = _gbk_shapefile_zip(tmp_path)
    answer = service.upload("疏导点.zip", content, encoding="utf-8")
    problem = assert_problem(answer, 422, "EncodingError")
    assert problem["file"].startswith("疏导点.zip")
    assert problem["row"] == 1
    assert problem["field"] == "name"
    assert "gbk" in problem["detail"]
    assert service.upload("疏导点.zip", content, encoding="gbk").status_code == 201


def test_a_file_without_crs_is_refused_until_one_is_given(service: Service) -> None:
    csv = "id,wkt,名称\ngp-1,POINT (113.65 34.83),文化路\ngp-2,POINT (113.70 34.90),英才街\n"
    problem = assert_problem(service.upload("points.csv", csv.encode()), 422, "MissingCRSError")
    assert problem["file"] == "points.csv"
    assert "crs" in problem["detail"].lower()
    assert service.upload("points.csv", csv.encode(), crs="EPSG:4326").status_code == 201
    assert list(service.store.read_layer("guidance_points")["id"]) == ["gp-1", "gp-2"]


def test_bad_data_names_the_row_and_writes_nothing(service: Service) -> None:
    before = list(service.store.read_layer("guidance_points")["id"])
    twice = points_geojson([POINTS[0], POINTS[1][:1] + POINTS[0][1:]])
    twice = twice.replace(b'"gp-102"', b'"gp-101"')
    problem = assert_problem(service.upload("dup.geojson", twice), 422, "DuplicateIdError")
    assert (problem["file"], problem["row"]) == ("dup.geojson", 2)
    swapped = points_geojson([("gp-1", 34.83, 113.65, "反了")])
    problem = assert_problem(service.upload("swapped.geojson", swapped), 422, "CoordinateError")
    assert problem["file"] == "swapped.geojson"
    assert list(service.store.read_layer("guidance_points")["id"]) == before
    assert service.audit(layer="guidance_points") == []


def test_if_match_guards_against_lost_updates(service: Service) -> None:
    etag = service.client.get("/layers/guidance_points", headers=service.planner).headers["etag"]
    stale = service.upload("a.geojson", points_geojson(POINTS), headers={"If-Match": '"old"'})
    problem = assert_problem(stale, 412, "PreconditionFailed")
    assert problem["etag"] == etag
    fresh = service.upload("a.geojson", points_geojson(POINTS), headers={"If-Match": etag})
    assert fresh.status_code == 201
    assert fresh.headers["etag"] != etag


def test_form_mistakes_are_400_problems(service: Service) -> None:
    problem = assert_problem(service.upload("a.geojson", b"{}", layer="rivers"), 400)
    assert problem["field"] == "layer"
    problem = assert_problem(service.upload("a.geojson", b"{}", coords="gps"), 400)
    assert problem["field"] == "coords"
    answer = service.client.post("/imports", data={"layer": "roads"}, headers=service.planner)
    assert assert_problem(answer, 400)["field"] == "file"
    problem = assert_problem(
        service.upload("a.geojson", points_geojson(POINTS), encoding="no-such-codec"), 400
    )
    assert problem["field"] == "encoding"
    problem = assert_problem(service.upload("a.geojson", b"not json"), 422, "InputFileError")
    assert problem["file"] == "a.geojson"
    for name, content in [("a.parquet", b"PAR1 truncated PAR1"), ("a.osm", b"<osm></osm>")]:
        answer = service.upload(name, content, layer="roads")
        problem = assert_problem(answer, 422, "InputFileError")
        assert problem["file"] == name
        assert "dutygrid-upload" not in answer.text  # the server's folders are no one's business
