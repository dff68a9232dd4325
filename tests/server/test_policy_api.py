"""The duty policy through the API: read, stored by version, checked key by key, audited."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from grids.policy import DutyPolicy, huiji_default_policy, policy_from_toml, policy_to_toml
from server.app import create_app
from server.auth import Role, create_token
from server.roster_store import RosterStore
from server.settings import Settings
from server.storage import Store

PROBLEM = "application/problem+json"
TOML = {"Content-Type": "application/toml"}


@dataclass
class Service:
    client: TestClient
    store: Store
    tokens: dict[Role, dict[str, str]]

    def put(self, text: str | bytes, *, who: Role = Role.PLANNER, **headers: str) -> Any:
        content = text.encode("utf-8") if isinstance(text, str) else text
        return self.client.put(
            "/policy", content=content, headers={**self.tokens[who], **TOML, **headers}
        )

    def get(self, path: str, *, who: Role = Role.ADMIN, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.tokens[who])

    def versions(self) -> list[int]:
        return [v["version"] for v in RosterStore(self.store).policy_versions()]

    def audit(self) -> list[dict[str, Any]]:
        answer = self.get("/audit", action="policy.save")
        assert answer.status_code == 200
        entries: list[dict[str, Any]] = answer.json()["entries"]
        return entries


@pytest.fixture
def service(store_url: str) -> Iterator[Service]:
    with Store.open(store_url) as store:
        tokens = {}
        for role in Role:
            with store.transaction() as connection:
                _, secret = create_token(
                    connection,
                    role=role,
                    name=f"{role.value} 测试",
                    created_by="tests",
                    officer_id="S1-001" if role is Role.OFFICER else None,
                    squads=["squad-01"] if role is Role.PLANNER else (),
                )
            tokens[role] = {"Authorization": f"Bearer {secret}"}
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield Service(client, store, tokens)


def revised() -> DutyPolicy:
    """The bundled policy, version 2, with a longer patrol interval."""
    default = huiji_default_policy()
    levels = replace(
        default.levels, controlled=replace(default.levels.controlled, visit_every_hours=5.0)
    )
    return default.revised(levels=levels, name="惠济区值班规则 2027")


def test_the_bundled_policy_is_current_until_one_is_stored(service: Service) -> None:
    answer = service.get("/policy")
    assert answer.status_code == 200
    body = answer.json()
    default = huiji_default_policy()
    assert (body["version"], body["stored"], body["source"]) == (1, False, "bundled:huiji")
    assert body["fingerprint"] == default.fingerprint()
    assert [s["id"] for s in body["slots"]["weekday"]] == [s.id for s in default.slots.weekday]
    assert body["labour"]["hours_per_week"] == default.labour.hours_per_week
    text = service.get("/policy", format="toml")
    assert text.headers["content-type"].startswith("application/toml")
    assert text.headers["etag"] == answer.headers["etag"]
    assert policy_from_toml(text.text).fingerprint() == default.fingerprint()
    assert service.get("/policy/versions").json() == {"versions": [], "current": 1}


def test_a_policy_round_trips_and_its_storage_is_audited(service: Service) -> None:
    policy = revised()
    text = "# 规则修订：管控路段巡查间隔 5 小时\n" + policy_to_toml(policy)
    answer = service.put(text)
    assert answer.status_code == 200, answer.text
    saved = answer.json()
    assert saved["unchanged"] is False
    assert (saved["version"], saved["version_before"]) == (2, 1)
    assert saved["fingerprint"] == policy.fingerprint()
    current = service.get("/policy", who=Role.DUTY_LEADER)
    assert current.headers["etag"] == answer.headers["etag"]
    body = current.json()
    assert (body["version"], body["stored"], body["name"]) == (2, True, policy.name)
    assert body["rules"]["levels"]["controlled"]["visit_every_hours"] == 5.0
    assert service.get("/policy", format="toml").text == text  # comments and all
    versions = service.get("/policy/versions").json()
    assert [(v["version"], v["current"]) for v in versions["versions"]] == [(2, True)]
    [entry] = service.audit()
    assert entry["id"] == saved["audit_id"]
    assert (entry["method"], entry["route"], entry["role"]) == ("PUT", "/policy", "planner")
    summary = entry["summary"]
    assert (summary["version_before"], summary["version"]) == (1, 2)
    assert summary["fingerprint_before"] == huiji_default_policy().fingerprint()
    assert summary["fingerprint"] == policy.fingerprint()
    again = service.put(text)
    assert again.status_code == 200
    assert again.json()["unchanged"] is True
    assert "nothing changed" in again.json()["message"]
    assert len(service.audit()) == 1


def test_a_policy_file_is_uploaded_as_a_form(service: Service) -> None:
    text = policy_to_toml(revised())
    answer = service.client.put(
        "/policy",
        files={"file": ("值班规则.toml", io.BytesIO(text.encode("utf-8")), "application/toml")},
        headers=service.tokens[Role.ADMIN],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "值班规则.toml"
    assert service.get("/policy").json()["source"] == "值班规则.toml"
    wrong = service.client.put(
        "/policy",
        files={"file": ("rules.xlsx", io.BytesIO(b"PK\x03\x04"), "application/octet-stream")},
        headers=service.tokens[Role.ADMIN],
    )
    assert wrong.status_code == 415
    missing = service.client.put(
        "/policy", files={"notes": (None, b"x")}, headers=service.tokens[Role.ADMIN]
    )
    assert missing.status_code == 400
    assert missing.json()["field"] == "file"


def test_bad_policies_are_refused_naming_the_line_or_key(service: Service) -> None:
    good = policy_to_toml(revised())
    syntax = good.replace('name = "', 'name = "unclosed\nx = ', 1)
    answer = service.put(syntax)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert "line" in answer.json()["detail"]
    late = good.replace('end = "08:00"', 'end = "25:00"', 1)
    answer = service.put(late)
    assert answer.status_code == 422
    assert answer.json()["field"] == "slots.weekday[0].end"
    unknown = good.replace("[labour]", "[labour]\nhours_per_fortnight = 80", 1)
    answer = service.put(unknown)
    assert answer.status_code == 422
    assert answer.json()["field"] == "labour.hours_per_fortnight"
    assert service.put("version = 2\n").status_code == 422
    assert service.put(b"version = 2\nname = '\xff'\n").status_code == 422
    too_large = service.put("#" * (1 << 20) + "\n" + good)
    assert too_large.status_code == 413
    wrong_type = service.client.put(
        "/policy",
        content=b"{}",
        headers={**service.tokens[Role.ADMIN], "Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415
    assert service.versions() == []
    assert service.audit() == []


def test_a_version_is_never_stored_twice_nor_behind_the_current(service: Service) -> None:
    assert service.put(policy_to_toml(revised())).status_code == 200
    other = replace(revised(), name="另一套规则")
    clash = service.put(policy_to_toml(other))
    assert clash.status_code == 409
    assert "bump" in clash.json()["detail"]
    third = other.revised()
    assert service.put(policy_to_toml(third)).status_code == 200
    older = replace(huiji_default_policy(), name="旧规则")
    behind = service.put(policy_to_toml(older))
    assert behind.status_code == 409
    assert "version = 4" in behind.json()["detail"]
    assert service.versions() == [2, 3]
    again = service.put(policy_to_toml(revised()))
    assert again.json()["unchanged"] is True
    assert "current policy is version 3" in again.json()["message"]


def test_the_etag_guards_the_policy(service: Service) -> None:
    read = service.get("/policy").headers["etag"]
    assert service.put(policy_to_toml(revised()), **{"If-Match": read}).status_code == 200
    third = revised().revised()
    stale = service.put(policy_to_toml(third), **{"If-Match": read})
    assert stale.status_code == 412
    assert stale.json()["etag"] == service.get("/policy").headers["etag"]
    assert service.versions() == [2]
    current = service.get("/policy/versions").json()["current"]
    assert current == 2
    fresh = service.get("/policy").headers["etag"]
    assert service.put(policy_to_toml(third), **{"If-Match": fresh}).status_code == 200
    assert service.versions() == [2, 3]


def test_only_admins_and_planners_change_the_policy(service: Service) -> None:
    text = policy_to_toml(revised())
    for role in (Role.DUTY_LEADER, Role.OFFICER, Role.VIEWER):
        answer = service.put(text, who=role)
        assert answer.status_code == 403
        assert role.value in answer.json()["detail"]
    for role in (Role.OFFICER, Role.VIEWER):
        assert service.get("/policy", who=role).status_code == 403
        assert service.get("/policy/versions", who=role).status_code == 403
    assert service.client.put("/policy", content=text, headers=TOML).status_code == 401
    assert service.versions() == []
