"""Every route of the app, asked by every role and by no one: 401, 403 or 2xx as the table says.

The table below is the permission table of the service. A route the app has and the table lacks
(or the other way round) fails the test, so every new route must be entered here with who may
call it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.app import create_app
from server.auth import Role, create_token
from server.settings import Settings
from server.storage import Store

PUBLIC = frozenset({"anyone"})
EVERY_ROLE = frozenset(Role)
WRITERS = frozenset({Role.ADMIN, Role.PLANNER})
ADMINS = frozenset({Role.ADMIN})
DUTY_READERS = frozenset({Role.ADMIN, Role.PLANNER, Role.DUTY_LEADER})

PERMISSIONS: dict[tuple[str, str], frozenset[Any]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/logout"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/me"): EVERY_ROLE,
    ("GET", "/layers"): EVERY_ROLE,
    ("GET", "/layers/{name}"): EVERY_ROLE,
    ("GET", "/layers/{name}/export"): EVERY_ROLE,
    ("GET", "/layers/{name}/{feature_id:path}"): EVERY_ROLE,
    ("POST", "/imports"): WRITERS,
    ("GET", "/tokens"): ADMINS,
    ("POST", "/tokens"): ADMINS,
    ("DELETE", "/tokens/{token_id}"): ADMINS,
    ("GET", "/audit"): ADMINS,
    ("GET", "/maps/coverage"): DUTY_READERS,
    ("GET", "/maps/gaps"): DUTY_READERS,
    ("GET", "/coverage"): DUTY_READERS,
    ("GET", "/coverage/now"): DUTY_READERS,
    ("GET", "/ogc"): PUBLIC,
    ("GET", "/ogc/conformance"): PUBLIC,
    ("GET", "/ogc/api"): PUBLIC,
    ("GET", "/ogc/collections"): EVERY_ROLE,
    ("GET", "/ogc/collections/{collection_id}"): EVERY_ROLE,
    ("GET", "/ogc/collections/{collection_id}/items"): EVERY_ROLE,
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id:path}"): EVERY_ROLE,
    ("GET", "/ogc/collections/{collection_id}/schema"): EVERY_ROLE,
}
"""Who may call each route: PUBLIC, or the roles whose tokens get a 2xx answer."""


def issue(store: Store, role: Role, name: str | None = None) -> tuple[str, str]:
    """Create a token of ``role``; return its id and secret."""
    with store.transaction() as connection:
        record, secret = create_token(
            connection,
            role=role,
            name=name or f"test {role.value}",
            created_by="tests",
            officer_id="officer-1" if role is Role.OFFICER else None,
        )
    return record.id, secret


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Return (method, path) of every route of the app, HEAD aside."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI without included-router contexts: routes are flat
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found = set()
    for route in routes:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


@dataclass
class Call:
    """What the walk needs: the client, the store, and a valid token to sign in with."""

    client: TestClient
    store: Store
    viewer_secret: str
    upload: bytes


def _guidance_points_geojson(frame: gpd.GeoDataFrame) -> bytes:
    text: str = frame.to_json(drop_id=True)
    return text.encode("utf-8")


PATH_VALUES = {
    "name": "roads",
    "feature_id": "R-10",
    "collection_id": "roads",
}


def _url(path: str, call: Call) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "token_id":
            token_id, _ = issue(call.store, Role.VIEWER, name="to be revoked")
            return token_id
        return PATH_VALUES[name]

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, path)


def request(
    call: Call, method: str, path: str, headers: dict[str, str]
) -> Any:  # an httpx response
    """Make a valid request to the route, so that only permissions decide the answer."""
    url = _url(path, call)
    call.client.cookies.clear()  # a session from an earlier sign-in must not count
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if (method, path) == ("POST", "/imports"):
        kwargs["files"] = {"file": ("疏导点.geojson", io.BytesIO(call.upload), "application/json")}
        kwargs["data"] = {"layer": "guidance_points"}
    elif (method, path) == ("POST", "/tokens"):
        kwargs["content"] = json.dumps({"role": "viewer", "name": "新人"})
        kwargs["headers"] = {**headers, "Content-Type": "application/json"}
    elif (method, path) == ("POST", "/login"):
        kwargs["data"] = {"token": call.viewer_secret, "next": "/layers"}
    elif (method, path) == ("GET", "/layers/{name}/export"):
        url += "?format=geojson"
    return call.client.request(method, url, **kwargs)


@pytest.fixture
def walk(
    store_url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Any],
) -> Iterator[tuple[Call, dict[Role, str]]]:
    with Store.open(store_url) as store:
        store.write_layers(
            layer_frames,
            provenance={n: make_provenance(n, f) for n, f in layer_frames.items()},
        )
        secrets = {role: issue(store, role)[1] for role in Role}
        upload = _guidance_points_geojson(layer_frames["guidance_points"])
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield Call(client, store, secrets[Role.VIEWER], upload), secrets


def test_every_route_is_in_the_permission_table(tmp_path: Any) -> None:
    app = create_app(Settings(database_url=str(tmp_path / "routes.sqlite")))
    routes = app_routes(app)
    assert routes - PERMISSIONS.keys() == set(), "routes without an entry in PERMISSIONS"
    assert PERMISSIONS.keys() - routes == set(), "PERMISSIONS entries without a route"


def test_every_route_answers_every_role_as_the_table_says(
    walk: tuple[Call, dict[Role, str]],
) -> None:
    call, secrets = walk
    routes = app_routes(call.client.app)  # type: ignore[arg-type]
    assert routes == PERMISSIONS.keys()
    wrong = []
    for method, path in sorted(routes):
        allowed = PERMISSIONS[(method, path)]
        anonymous = request(call, method, path, {"Accept": "application/json"})
        if allowed is PUBLIC:
            if anonymous.status_code >= 400:
                wrong.append((method, path, "anyone", anonymous.status_code))
        elif anonymous.status_code != 401:
            wrong.append((method, path, "no one", anonymous.status_code))
        else:
            assert anonymous.headers["content-type"] == "application/problem+json"
            assert "Bearer" in anonymous.headers["www-authenticate"]
        for role, secret in secrets.items():
            headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
            answer = request(call, method, path, headers)
            if allowed is PUBLIC:
                expected_ok = answer.status_code < 400
            elif role in allowed:
                expected_ok = 200 <= answer.status_code < 300
            else:
                expected_ok = answer.status_code == 403
                if expected_ok:
                    problem = answer.json()
                    assert problem["status"] == 403
                    assert role.value in problem["detail"]
            if not expected_ok:
                wrong.append((method, path, role.value, answer.status_code))
    assert wrong == [], "answers that differ from the permission table"
