"""Signing in and out in a browser, who am I, and the tokens (admins only)."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from server.audit import AuditEntry, entry_for, record
from server.auth import (
    ROLE_PERMISSIONS,
    SESSION_COOKIE,
    Role,
    authenticate_token,
    create_session,
    create_token,
    end_session,
    get_token,
    list_tokens,
    revoke_token,
)
from server.dependencies import SettingsDep, SignedIn, StoreDep, TokenManager
from server.errors import AuthError
from server.ogc.geojson import json_response
from server.settings import Settings
from server.storage import Store

router = APIRouter(tags=["sign-in and tokens"])

_LOGIN_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · {title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}
.error{{color:#b00020}}</style></head>
<body><h1>Sign in · 登录</h1>
<p>Paste the token an administrator gave you. 请粘贴管理员发给您的令牌。</p>
{message}
<form method="post" action="/login">
<label for="token">Token 令牌</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<input type="hidden" name="next" value="{next}">
<input type="submit" value="Sign in 登录">
</form></body></html>
"""


def _safe_next(target: str | None) -> str:
    """Return a path on this site to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(settings: Settings, *, next_path: str, error: str | None = None) -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _LOGIN_PAGE.format(
        title=escape(settings.title), message=message, next=escape(_safe_next(next_path))
    )


def _secure(request: Request, settings: Settings) -> bool:
    if settings.secure_cookies is not None:
        return settings.secure_cookies
    return request.url.scheme == "https"


@router.get("/login", response_class=HTMLResponse, summary="Sign-in page")
def login_page(settings: SettingsDep, next_path: Annotated[str, Query(alias="next")] = "/") -> str:
    """Show a form to sign in with a token."""
    return _login_page(settings, next_path=next_path)


_SIGN_IN_PAGE_AGAIN: Final = {
    "description": "the sign-in page again, saying why the token was refused",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


@router.post(
    "/login",
    summary="Sign in",
    status_code=303,
    response_class=RedirectResponse,
    responses={401: _SIGN_IN_PAGE_AGAIN},
)
def login(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    token: Annotated[str, Form(min_length=1, description="the token")],
    next_path: Annotated[str, Form(alias="next", description="where to go next")] = "/",
) -> Response:
    """Sign in with a token: sets a session cookie (HttpOnly, SameSite=Strict) and redirects."""
    try:
        principal, _due = authenticate_token(store, token)
    except AuthError as exc:
        page = _login_page(settings, next_path=next_path, error=exc.message)
        return HTMLResponse(page, status_code=401)
    with store.transaction() as connection:
        session_id = create_session(connection, principal.token_id, hours=settings.session_hours)
        record(
            connection,
            entry_for(principal, action="session.login", method="POST", route="/login"),
        )
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )
    return response


@router.post("/logout", summary="Sign out", status_code=303, response_class=RedirectResponse)
def logout(request: Request, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    """Sign out: end the session, clear its cookie and go to the sign-in page."""
    return _logout(request, store, settings)


@router.get("/logout", summary="Sign out (link)", status_code=303, response_class=RedirectResponse)
def logout_link(request: Request, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    """Sign out from a link: as ``POST /logout``."""
    return _logout(request, store, settings)


def _logout(request: Request, store: Store, settings: Settings) -> RedirectResponse:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        with store.transaction() as connection:
            token_id = end_session(connection, session_id)
            if token_id is not None:
                token = get_token(connection, token_id)
                entry = AuditEntry(
                    action="session.logout",
                    actor=token.name,
                    role=token.role.value,
                    token_id=token.id,
                    method=request.method,
                    route="/logout",
                )
                record(connection, entry)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )
    return response


@router.get("/me", summary="Who am I")
def me(principal: SignedIn) -> dict[str, Any]:
    """Describe the token the request carries: name, role, squads and what the role may do."""
    return {
        "token_id": principal.token_id,
        "name": principal.name,
        "role": principal.role.value,
        "squads": list(principal.squads),
        "officer_id": principal.officer_id,
        "via": principal.via,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
    }


MAX_TOKEN_DAYS: Final = 36_500
"""The longest a token may be valid, in days (a century; 0 is for tokens that never expire)."""


class TokenRequest(BaseModel):
    """A token to create."""

    # what server.auth.create_token checks besides the fields' own types
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"role": {"const": Role.OFFICER.value}}},
            "then": {
                "required": ["officer_id"],
                "properties": {"officer_id": {"type": "string", "minLength": 1}},
            },
        }
    )

    role: Role
    name: str = Field(
        min_length=1, pattern=r"\S", description="who holds it, e.g. the holder's name"
    )
    squads: list[str] = Field(default_factory=list, description="squads granted")
    officer_id: str | None = Field(None, description="the officer, for the officer role")
    expires_days: float | None = Field(
        None,
        ge=0,
        le=MAX_TOKEN_DAYS,
        strict=True,  # a number, not true/false or text
        description="days until it expires; 0 for never; by default token_days",
    )


@router.get("/tokens", summary="List tokens")
def tokens(store: StoreDep, _admin: TokenManager) -> dict[str, Any]:
    """List every token, with its role, expiry, revocation and last use (never its secret)."""
    with store.connection() as connection:
        return {"tokens": [t.to_dict() for t in list_tokens(connection)]}


@router.post("/tokens", status_code=201, summary="Create a token")
def new_token(
    body: TokenRequest, store: StoreDep, settings: SettingsDep, admin: TokenManager
) -> Response:
    """Create a token; the response holds its secret, which is shown this once only."""
    days = settings.token_days if body.expires_days is None else body.expires_days
    with store.transaction() as connection:
        token, secret = create_token(
            connection,
            role=body.role,
            name=body.name,
            created_by=f"{admin.name} ({admin.token_id})",
            squads=body.squads,
            officer_id=body.officer_id,
            expires_days=days or None,
        )
        summary = {k: v for k, v in token.to_dict().items() if k != "last_used_at"}
        record(
            connection,
            entry_for(
                admin, action="token.create", method="POST", route="/tokens", summary=summary
            ),
        )
    return json_response({**token.to_dict(), "token": secret}, status_code=201)


@router.delete("/tokens/{token_id}", summary="Revoke a token")
def revoke(token_id: str, store: StoreDep, admin: TokenManager) -> dict[str, Any]:
    """Revoke a token and end its sessions; revoking a revoked token changes nothing."""
    with store.transaction() as connection:
        token, was_active = revoke_token(connection, token_id)
        if was_active:
            record(
                connection,
                entry_for(
                    admin,
                    action="token.revoke",
                    method="DELETE",
                    route="/tokens/{token_id}",
                    summary={"token_id": token.id, "name": token.name, "role": token.role.value},
                ),
            )
    return {**token.to_dict(), "unchanged": not was_active}
