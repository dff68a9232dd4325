"""Every route of the app, asked by every role and by no one: 401, 403 or 2xx as the table says.

The table below is the permission table of the service. A route the app has and the table lacks
(or the other way round) fails the test, so every new route must be entered here with who may
call it.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from grids.calendar import week_dates
from grids.policy import huiji_default_policy, policy_to_toml
from grids.staff import Officer
from server.app import create_app
from server.auth import Principal, Role, create_token
from server.jobs import JobRegistry
from server.roster_store import RosterStore
from server.settings import Settings
from server.storage import Store

PUBLIC = frozenset({"anyone"})
EVERY_ROLE = frozenset(Role)
WRITERS = frozenset({Role.ADMIN, Role.PLANNER})
ADMINS = frozenset({Role.ADMIN})
DUTY_READERS = frozenset({Role.ADMIN, Role.PLANNER, Role.DUTY_LEADER})
STAFF_READERS = frozenset({Role.ADMIN, Role.PLANNER, Role.DUTY_LEADER, Role.OFFICER})
ROSTER_READERS = frozenset({Role.ADMIN, Role.PLANNER, Role.DUTY_LEADER, Role.OFFICER})

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
    ("GET", "/squads"): EVERY_ROLE,
    ("GET", "/officers"): STAFF_READERS,
    ("GET", "/officers/{officer_id}"): STAFF_READERS,
    ("PUT", "/officers"): WRITERS,
    ("GET", "/policy"): DUTY_READERS,
    ("GET", "/policy/versions"): DUTY_READERS,
    ("PUT", "/policy"): WRITERS,
    ("GET", "/rosters"): ROSTER_READERS,
    ("POST", "/rosters"): WRITERS,
    ("GET", "/jobs"): WRITERS,
    ("GET", "/jobs/{job_id}"): WRITERS,
    ("GET", "/rosters/{roster_id}"): ROSTER_READERS,
    ("POST", "/rosters/{roster_id}/publish"): ADMINS,
    ("GET", "/rosters/{roster_id}/validation"): DUTY_READERS,
    ("GET", "/rosters/{roster_id}/sheet.xlsx"): DUTY_READERS,
    ("GET", "/rosters/{roster_id}/assignments"): ROSTER_READERS,
    ("PUT", "/rosters/{roster_id}/assignments"): WRITERS,
    ("PATCH", "/rosters/{roster_id}/assignments"): WRITERS,
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


WEEK = "2026-W49"
SQUADS = ("squad-01", "squad-02")
"""The squads of the layer fixtures, granted to planners and duty leaders."""
STAFF = [Officer(id="officer-1", name="李明", squad_id="squad-01", role="officer")]
STAFF_CSV = "工号,姓名,中队,角色\nofficer-1,李明,squad-01,执法队员\n".encode()


def issue(store: Store, role: Role, name: str | None = None) -> tuple[str, str]:
    """Create a token of ``role``; return its id and secret."""
    with store.transaction() as connection:
        record, secret = create_token(
            connection,
            role=role,
            name=name or f"test {role.value}",
            created_by="tests",
            officer_id="officer-1" if role is Role.OFFICER else None,
            squads=SQUADS if role in (Role.PLANNER, Role.DUTY_LEADER) else (),
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
    job_id: str = ""


def _guidance_points_geojson(frame: gpd.GeoDataFrame) -> bytes:
    text: str = frame.to_json(drop_id=True)
    return text.encode("utf-8")


PATH_VALUES = {
    "officer_id": "officer-1",
    "name": "roads",
    "feature_id": "R-10",
    "collection_id": "roads",
    "roster_id": f"{WEEK}-1",
}


def _url(path: str, call: Call) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "token_id":
            token_id, _ = issue(call.store, Role.VIEWER, name="to be revoked")
            return token_id
        if name == "job_id":
            return call.job_id
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
    elif (method, path) == ("PUT", "/officers"):
        kwargs["files"] = {"file": ("staff.csv", io.BytesIO(STAFF_CSV), "text/csv")}
    elif (method, path) == ("PUT", "/policy"):
        kwargs["content"] = policy_to_toml(huiji_default_policy()).encode()
        kwargs["headers"] = {**headers, "Content-Type": "application/toml"}
    elif (method, path) == ("POST", "/rosters"):
        kwargs["json"] = {"week": WEEK, "time_limit_s": 1, "deterministic": True}
    elif path.startswith("/rosters/{roster_id}") and method != "GET":
        # the roster as it is (a change that changes nothing), whatever its version and status
        kwargs["headers"] = {**headers, "If-Match": "*"}
        url += "?force=true"
        if method == "PUT":
            kwargs["json"] = _roster_rows(call.store)
        elif method == "PATCH":
            kwargs["json"] = {}
    answer = call.client.request(method, url, **kwargs)
    if (method, path) == ("POST", "/rosters") and answer.status_code == 202:
        _wait_for(call.client.app.state.jobs, answer.json()["id"])  # type: ignore[attr-defined]
    return answer


def _roster_rows(store: Store) -> list[dict[str, Any]]:
    frame = RosterStore(store).roster(f"{WEEK}-1").assignments
    return [
        {
            **{k: v for k, v in row.items() if k not in ("date", "start", "end")},
            "date": row["date"].isoformat(),
            "start": row["start"].isoformat(),
            "end": row["end"].isoformat(),
        }
        for row in frame.to_dict("records")
    ]


def _wait_for(jobs: JobRegistry, job_id: str) -> None:
    """Wait for a job to end, so that the next one is not refused as one too many."""
    deadline = time.monotonic() + 120
    while jobs.get(job_id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)


def _officer_roster(store: Store) -> None:
    """Store a published roster of the week with duties of officer-1 (drafts are hidden from
    officers), whose token the officer holds."""
    day = week_dates(WEEK)[0]
    start = datetime.combine(day, datetime.min.time()) + timedelta(hours=8)
    rows = pd.DataFrame(
        {
            "officer_id": ["officer-1"],
            "role": ["officer"],
            "squad_id": ["squad-01"],
            "date": [day],
            "slot_id": ["morning"],
            "start": pd.Series([start], dtype="datetime64[ns]"),
            "end": pd.Series([start + timedelta(hours=4)], dtype="datetime64[ns]"),
            "post_id": ["post-R-10-1"],
            "task": ["strict_post"],
            "requirement_id": [None],
            "pinned": [False],
        }
    )
    RosterStore(store).save_roster(
        WEEK, rows, {}, policy=huiji_default_policy(), status="published"
    )


@pytest.fixture
def walk(
    store_url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Any],
) -> Iterator[tuple[Call, dict[Role, str]]]:
    with Store.open(store_url) as store:
        # the night market's squad does its night checks, so that a roster can be solved
        frames = {**layer_frames, "zones": layer_frames["zones"].assign(squad_id="squad-01")}
        store.write_layers(
            frames,
            provenance={n: make_provenance(n, f) for n, f in frames.items()},
        )
        RosterStore(store).replace_staff(STAFF, source="staff.csv")
        _officer_roster(store)
        secrets = {role: issue(store, role)[1] for role in Role}
        upload = _guidance_points_geojson(layer_frames["guidance_points"])
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            jobs: JobRegistry = client.app.state.jobs  # type: ignore[attr-defined]
            admin = Principal(token_id="tests", name="tests", role=Role.ADMIN)
            job = jobs.submit("test", lambda _report: {}, principal=admin, parameters={})
            _wait_for(jobs, job.id)
            call = Call(client, store, secrets[Role.VIEWER], upload, job_id=job.id)
            yield call, secrets


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
