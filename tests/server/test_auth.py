"""Tokens (hashed, revocable, expiring), browser sessions, and the command line making tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from server.app import create_app
from server.auth import (
    SESSION_COOKIE,
    TOKEN_CHECK_SECONDS,
    Principal,
    Role,
    authenticate_token,
    create_token,
    require_squad,
    revoke_token,
    utc_now,
)
from server.cli import app as cli
from server.errors import AuthError, InvalidParameterError, PermissionDenied
from server.migrations import tokens_table
from server.settings import Settings
from server.storage import Store

runner = CliRunner()


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@dataclass
class Service:
    client: TestClient
    store: Store
    url: str


@pytest.fixture
def service(store_url: str) -> Iterator[Service]:
    with (
        Store.open(store_url) as store,
        TestClient(create_app(Settings(database_url=store_url))) as client,
    ):
        yield Service(client, store, store_url)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def stored_rows(store: Store, table: str) -> list[dict[str, Any]]:
    with store.connection() as connection:
        return [
            dict(row) for row in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()
        ]


def test_a_new_database_has_no_tokens_and_lets_no_one_in(service: Service) -> None:
    assert stored_rows(service.store, "api_tokens") == []
    assert service.client.get("/layers").status_code == 401
    for guess in ("admin", "dutygrid", "", "dg_"):
        assert service.client.get("/layers", headers=bearer(guess)).status_code == 401


def test_the_cli_prints_a_token_once_and_keeps_only_its_hash(service: Service) -> None:
    created = run_json(
        "token", "create", "--db", service.url, "--role", "planner", "--name", "王伟",
        "--squad", "squad-01", "--squad", "squad-02", "--expires", "30",
    )  # fmt: skip
    secret = created["token"]
    assert secret.startswith("dg_")
    assert len(secret) >= 40
    [row] = stored_rows(service.store, "api_tokens")
    assert secret not in json.dumps(row, default=str)
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    listed = run_json("token", "list", "--db", service.url)["tokens"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert listed[0]["squads"] == ["squad-01", "squad-02"]
    assert listed[0]["status"] == "active"
    me = service.client.get("/me", headers=bearer(secret)).json()
    assert (me["name"], me["role"], me["squads"]) == ("王伟", "planner", ["squad-01", "squad-02"])
    assert "layers:write" in me["permissions"]
    [entry] = [e for e in stored_rows(service.store, "audit_log") if e["action"] == "token.create"]
    assert entry["method"] == "CLI"
    assert secret not in entry["summary"]


def test_the_cli_refuses_bad_token_requests(service: Service) -> None:
    error = run_json(
        "token", "create", "--db", service.url, "--role", "chief", "--name", "x", code=2
    )
    assert error["error"]["field"] == "role"
    error = run_json(
        "token", "create", "--db", service.url, "--role", "officer", "--name", "x", code=2
    )
    assert error["error"]["field"] == "officer_id"
    error = run_json("token", "revoke", "tok_nonexistent", "--db", service.url, code=2)
    assert error["error"]["error"] == "NotFound"


@pytest.mark.parametrize("days", ["1e12", "99999999", "36501", "inf", "nan", "-1"])
def test_the_cli_refuses_an_expiry_beyond_a_century(service: Service, days: str) -> None:
    result = runner.invoke(
        cli,
        [
            "token", "create", "--db", service.url, "--role", "viewer", "--name", "x",
            "--expires", days, "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "expires"
    assert "36500" in error["message"]
    assert stored_rows(service.store, "api_tokens") == []


def test_a_token_may_last_a_century(service: Service) -> None:
    created = run_json(
        "token", "create", "--db", service.url, "--role", "viewer", "--name", "x",
        "--expires", "36500",
    )  # fmt: skip
    expected = utc_now() + timedelta(days=36500)
    assert abs(datetime.fromisoformat(created["expires_at"]) - expected) < timedelta(minutes=5)
    with pytest.raises(InvalidParameterError, match="36500"), service.store.transaction() as c:
        create_token(c, role=Role.VIEWER, name="y", created_by="tests", expires_days=1e12)


def test_revoked_and_expired_tokens_are_refused(service: Service) -> None:
    created = run_json("token", "create", "--db", service.url, "--role", "viewer", "--name", "v")
    secret = created["token"]
    assert service.client.get("/layers", headers=bearer(secret)).status_code == 200
    revoked = run_json("token", "revoke", created["id"], "--db", service.url)
    assert revoked["status"] == "revoked"
    assert revoked["unchanged"] is False
    assert run_json("token", "revoke", created["id"], "--db", service.url)["unchanged"] is True
    answer = service.client.get("/layers", headers=bearer(secret))
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]
    with service.store.transaction() as connection:
        _, old = create_token(
            connection,
            role=Role.ADMIN,
            name="last year",
            created_by="tests",
            expires_days=30,
            now=utc_now() - timedelta(days=31),
        )
    answer = service.client.get("/layers", headers=bearer(old))
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


def test_malformed_credentials_are_401_and_basic_carries_a_token(service: Service) -> None:
    secret = run_json("token", "create", "--db", service.url, "--role", "viewer", "--name", "g")[
        "token"
    ]
    for header in ("Token abc", "Bearer", "Basic !!!", f"Bearer {secret}x"):
        answer = service.client.get("/layers", headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    basic = base64.b64encode(f"qgis:{secret}".encode()).decode()
    answer = service.client.get("/me", headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200
    assert answer.json()["via"] == "basic"


def test_the_last_use_of_a_token_is_recorded(service: Service) -> None:
    created = run_json("token", "create", "--db", service.url, "--role", "viewer", "--name", "u")
    assert created["last_used_at"] is None
    service.client.get("/layers", headers=bearer(created["token"]))
    [row] = [r for r in stored_rows(service.store, "api_tokens") if r["id"] == created["id"]]
    assert row["last_used_at"] is not None
    assert row["last_used_at"] >= created["created_at"]


def test_a_browser_signs_in_and_out(service: Service) -> None:
    secret = run_json("token", "create", "--db", service.url, "--role", "viewer", "--name", "b")[
        "token"
    ]
    client = service.client
    page = client.get("/login")
    assert page.status_code == 200
    assert 'type="password"' in page.text
    going = client.get("/layers", headers={"Accept": "text/html"}, follow_redirects=False)
    assert going.status_code == 303
    assert going.headers["location"] == "/login?next=%2Flayers"
    wrong = client.post("/login", data={"token": "dg_wrong", "next": "/layers"})
    assert wrong.status_code == 401
    assert "not one this service issued" in wrong.text
    signed = client.post(
        "/login", data={"token": secret, "next": "/layers"}, follow_redirects=False
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/layers"
    cookie = signed.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http here
    session_id = client.cookies[SESSION_COOKIE]
    assert session_id not in json.dumps(stored_rows(service.store, "api_sessions"))
    assert client.get("/me").json()["via"] == "session"
    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/me").status_code == 401
    client.cookies.set(SESSION_COOKIE, session_id)  # the old cookie, replayed
    assert client.get("/me").status_code == 401
    actions = [e["action"] for e in stored_rows(service.store, "audit_log")]
    assert "session.login" in actions
    assert "session.logout" in actions


def test_session_cookies_are_secure_over_https_and_end_with_their_token(
    service: Service,
) -> None:
    created = run_json("token", "create", "--db", service.url, "--role", "viewer", "--name", "s")
    https = TestClient(service.client.app, base_url="https://testserver")
    signed = https.post(
        "/login",
        data={"token": created["token"], "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/"  # never off the site
    assert "Secure" in signed.headers["set-cookie"]
    assert https.get("/me").status_code == 200
    run_json("token", "revoke", created["id"], "--db", service.url)
    assert https.get("/me").status_code == 401


def test_admins_manage_tokens_over_the_api(service: Service) -> None:
    admin = run_json("token", "create", "--db", service.url, "--role", "admin", "--name", "a")
    made = service.client.post(
        "/tokens",
        json={"role": "duty_leader", "name": "带班领导 张", "squads": ["squad-01"]},
        headers=bearer(admin["token"]),
    )
    assert made.status_code == 201
    secret = made.json()["token"]
    assert service.client.get("/me", headers=bearer(secret)).json()["role"] == "duty_leader"
    listed = service.client.get("/tokens", headers=bearer(admin["token"])).json()["tokens"]
    assert {t["name"] for t in listed} == {"a", "带班领导 张"}
    assert all("token" not in t and "secret_sha256" not in t for t in listed)
    assert secret not in json.dumps(listed)
    gone = service.client.delete(f"/tokens/{made.json()['id']}", headers=bearer(admin["token"]))
    assert gone.status_code == 200
    assert service.client.get("/me", headers=bearer(secret)).status_code == 401
    audit = service.client.get("/audit", headers=bearer(admin["token"])).json()["entries"]
    assert [e["action"] for e in audit][:2] == ["token.revoke", "token.create"]
    assert audit[0]["actor"] == "a"
    bad = service.client.post(
        "/tokens", json={"role": "officer", "name": "x"}, headers=bearer(admin["token"])
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "officer_id"


def test_require_squad() -> None:
    planner = Principal("tok_1", "p", Role.PLANNER, squads=("squad-01",))
    require_squad(planner, "squad-01")
    with pytest.raises(PermissionDenied, match="squad-02"):
        require_squad(planner, "squad-02")
    require_squad(Principal("tok_2", "a", Role.ADMIN), "squad-02")
    with pytest.raises(PermissionDenied):
        require_squad(Principal("tok_3", "v", Role.VIEWER, squads=("squad-01",)), "squad-01")


def test_a_token_check_is_reused_briefly_and_forgotten_on_revoke(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.transaction() as connection:
        first, first_secret = create_token(connection, role=Role.VIEWER, name="a", created_by="t")
        second, second_secret = create_token(connection, role=Role.VIEWER, name="b", created_by="t")
    assert authenticate_token(store, first_secret)[0].token_id == first.id
    assert authenticate_token(store, second_secret)[0].token_id == second.id
    # revoked by another process: this one sees it once its check is TOKEN_CHECK_SECONDS old
    tokens = tokens_table(sa.MetaData())
    with store.transaction() as connection:
        stamp = utc_now().isoformat()
        connection.execute(tokens.update().where(tokens.c.id == first.id).values(revoked_at=stamp))
    assert authenticate_token(store, first_secret)[0].token_id == first.id
    started = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: started + TOKEN_CHECK_SECONDS + 1)
    with pytest.raises(AuthError, match="revoked"):
        authenticate_token(store, first_secret)
    monkeypatch.undo()
    # revoked by this process: refused at once
    assert authenticate_token(store, second_secret)[0].token_id == second.id
    with store.transaction() as connection:
        revoke_token(connection, second.id)
    with pytest.raises(AuthError, match="revoked"):
        authenticate_token(store, second_secret)
