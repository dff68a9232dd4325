"""The service against its own OpenAPI documents, with Schemathesis, on a small Huiji database.

Every operation of ``/openapi.json`` is called with generated requests, valid and invalid, by an
admin: no answer may be a 5xx, and each must conform to the document (status codes, content
types, headers, bodies), refuse requests without a valid token where the document asks for one,
and answer methods it does not have with 405 and the right ``Allow``. The OGC API's own OpenAPI 3.0
document (``/ogc/api``) is checked the same way. Runs are bounded and derandomised.

A check is left out where the document cannot say what the service rightly does:

- ``positive_data_acceptance`` where there is a ``bbox``: OpenAPI cannot say that a box is four
  or six numbers, longitudes then latitudes within range, minimum before maximum; for
  ``POST /imports``, ``PUT /officers`` and ``PUT /policy``, whose generated files are never real
  layers, staff lists or policies (real ones are sent below and in their own tests); and for
  the exports, as a shapefile holds one kind of geometry and the posts are points and lines.
- ``negative_data_rejection`` for the OGC items: a ``limit`` above the documented maximum is
  taken as the maximum, as OGC API – Features asks, and GDAL reads that maximum from the document;
  and for a request that repeats a single-valued query parameter (a list or an object sent as
  one), of which FastAPI takes the last value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from grids.policy import huiji_default_policy, policy_to_toml
from server.app import create_app
from server.auth import Role, create_token
from server.cli import app as cli
from server.ogc.landing import openapi_document
from server.settings import Settings
from server.storage import Store

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import negative_data_rejection, positive_data_acceptance  # noqa: E402


class ServiceUnderTest:
    """The ASGI app the schemas call: it passes each request on to the service of the fixture.

    The documents do not depend on the database, so the tests are parametrised with them at
    collection, before the fixture builds the database the service runs on.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the service fixture starts the service"
        await self.app(scope, receive, send)


SERVICE = ServiceUnderTest()
_APP = create_app(Settings())
service_api = schemathesis.openapi.from_dict(_APP.openapi())
service_api.app = SERVICE
service_api.config.update(base_url="http://testserver")
ogc_api = schemathesis.openapi.from_dict(
    openapi_document("http://testserver/ogc", Settings(), list(_APP.state.feature_sources))
)
ogc_api.app = SERVICE
ogc_api.config.update(base_url="http://testserver/ogc")
for _schema in (service_api, ogc_api):
    # the requests carry an admin's token: generated credentials would be replaced by it
    _schema.config.generation.update(with_security_parameters=False)

BOUNDED = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


UPLOADS = ("POST /imports", "PUT /officers", "PUT /policy", "GET /layers/{name}/export")
"""Operations whose schema-valid requests are rightly refused: generated files, exports."""

TAKES_MANY = ("array", "object")
"""The JSON types of a query parameter that may rightly be given more than one value."""


def excluded_checks(case: Any) -> list[Any]:
    """Return the checks the document cannot support for ``case`` (see above)."""
    operation = case.operation
    parameters = {p.name: p.definition for p in operation.iter_parameters()}
    excluded = []
    if "bbox" in parameters or operation.label in UPLOADS:
        excluded.append(positive_data_acceptance)
    repeated = [
        name
        for name, value in (case.query or {}).items()
        if isinstance(value, list | dict)
        and not any(f'"{kind}"' in json.dumps(parameters.get(name, {})) for kind in TAKES_MANY)
    ]
    if operation.path == "/collections/{collectionId}/items" or repeated:
        excluded.append(negative_data_rejection)
    return excluded


def run(*args: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def huiji_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("huiji") / "huiji.sqlite"
    run("init", "--db", str(db))
    run("grids", "build", "--db", str(db), "--target-area", "200000")
    run("posts", "build", "--db", str(db))
    return db


@pytest.fixture(scope="module")
def admin_headers(huiji_db: Path) -> dict[str, str]:
    with Store.open(str(huiji_db)) as store, store.transaction() as connection:
        _, secret = create_token(
            connection, role=Role.ADMIN, name="schemathesis", created_by="tests"
        )
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def service(huiji_db: Path) -> Iterator[FastAPI]:
    app = create_app(Settings(database_url=str(huiji_db), max_upload_bytes=1 << 20))
    SERVICE.app = app
    yield app
    store = getattr(app.state, "store", None)
    if store is not None:
        store.close()


@service_api.parametrize()
@BOUNDED
def test_service_conforms_to_its_openapi(
    case: Any, service: FastAPI, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        headers=admin_headers, max_redirects=0, excluded_checks=excluded_checks(case)
    )


@ogc_api.parametrize()
@BOUNDED
def test_ogc_api_conforms_to_its_openapi(
    case: Any, service: FastAPI, admin_headers: dict[str, str]
) -> None:
    # redirects are followed, as OGC clients do: the landing page "/" of the document is /ogc/,
    # which redirects to /ogc
    case.call_and_validate(headers=admin_headers, excluded_checks=excluded_checks(case))


def test_uploads_conform_to_the_openapi(
    huiji_db: Path, service: FastAPI, admin_headers: dict[str, str]
) -> None:
    """Real files, which Schemathesis cannot make: a layer imported, again, and two refused."""
    operation = service_api["/imports"]["POST"]
    with Store.open(str(huiji_db)) as store:
        points = store.read_layer("guidance_points")
    stored = points.assign(attrs=[json.dumps(a, ensure_ascii=False) for a in points["attrs"]])
    geojson = stored.to_json(drop_id=True).encode("utf-8")

    def upload(name: str, content: bytes) -> Any:
        with TestClient(service) as client:
            answer = client.post(
                "/imports",
                files={"file": (name, content, "application/octet-stream")},
                data={"layer": "guidance_points"},
                headers=admin_headers,
            )
        operation.validate_response(answer)
        return answer

    first = upload("guidance_points.geojson", geojson)
    assert first.status_code in (200, 201), first.text
    assert first.json()["features"] == len(points)
    again = upload("guidance_points.geojson", geojson)
    assert again.status_code == 200
    assert again.json()["unchanged"] is True
    assert upload("guidance_points.shp", b"not a shapefile").status_code == 415
    assert upload("guidance_points.geojson", b"{not json").status_code == 422


def test_staff_and_policy_uploads_conform_to_the_openapi(
    huiji_db: Path, service: FastAPI, admin_headers: dict[str, str]
) -> None:
    """A real staff list and policy, sent twice (stored, then unchanged), and bad ones refused."""
    with Store.open(str(huiji_db)) as store:
        squad = str(store.read_layer("squads")["id"].iloc[0])
    staff = f"工号,姓名,中队,角色\nT-001,测试,{squad},执法队员\n".encode()
    bad_staff = b"id,name,squad,role\nT-001,,nowhere,chief\n"
    policy = policy_to_toml(huiji_default_policy()).encode()
    with TestClient(service) as client:

        def put_staff(content: bytes) -> Any:
            answer = client.put(
                "/officers", files={"file": ("staff.csv", content)}, headers=admin_headers
            )
            service_api["/officers"]["PUT"].validate_response(answer)
            return answer

        def put_policy(content: bytes) -> Any:
            headers = {**admin_headers, "Content-Type": "application/toml"}
            answer = client.put("/policy", content=content, headers=headers)
            service_api["/policy"]["PUT"].validate_response(answer)
            return answer

        assert put_staff(staff).status_code == 200
        assert put_staff(staff).json()["unchanged"] is True
        refused = put_staff(bad_staff)
        assert refused.status_code == 422
        assert len(refused.json()["problems"]) >= 3
        assert put_policy(policy).status_code == 200
        assert put_policy(policy).json()["unchanged"] is True
        assert put_policy(b"version = ").status_code == 422


def test_a_method_a_path_lacks_is_answered_with_all_it_has(
    service: FastAPI, admin_headers: dict[str, str]
) -> None:
    with TestClient(service) as client:
        for method, path, allowed in [
            ("OPTIONS", "/login", "GET, POST"),
            ("PUT", "/tokens", "GET, POST"),
            ("POST", "/ogc/collections/roads/items", "GET"),
        ]:
            answer = client.request(method, path, headers=admin_headers)
            assert answer.status_code == 405
            assert answer.headers["allow"] == allowed
            assert answer.headers["content-type"] == "application/problem+json"


def test_the_document_describes_problems_as_they_are_answered() -> None:
    document = create_app(Settings()).openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "Problem" in schemas
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if operation.get("parameters") or "requestBody" in operation:
                assert "application/problem+json" in responses["400"]["content"], (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= responses.keys(), (method, path)


def test_a_token_expires_within_a_century(service: FastAPI, admin_headers: dict[str, str]) -> None:
    with TestClient(service) as client:
        answer = client.post(
            "/tokens",
            json={"role": "viewer", "name": "far future", "expires_days": 3_000_000},
            headers=admin_headers,
        )
        assert answer.status_code == 400
        assert answer.json()["field"] == "expires_days"
        officer = client.post(
            "/tokens", json={"role": "officer", "name": "no officer"}, headers=admin_headers
        )
        assert officer.status_code == 400


def test_limits_and_offsets_past_a_database_integer_are_refused(
    service: FastAPI, admin_headers: dict[str, str]
) -> None:
    huge = 2**63
    with TestClient(service, raise_server_exceptions=False) as client:
        for path, name in [
            ("/ogc/collections/roads/items", "offset"),
            ("/layers/roads", "offset"),
            ("/layers/roads", "limit"),
            ("/audit", "offset"),
        ]:
            answer = client.get(path, params={name: huge}, headers=admin_headers)
            assert answer.status_code == 400, (path, name, answer.text)
            assert answer.json()["field"] == name
            last = client.get(path, params={name: huge - 1}, headers=admin_headers)
            assert last.status_code == 200, (path, name, last.text)
