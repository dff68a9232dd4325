"""What routes are given: the store, the settings, who is asking, and version checks (ETags).

The dependencies that ask nothing of the database are coroutines, so that FastAPI runs them on the
event loop rather than handing each to a worker thread; who is asking is looked up in a worker
thread only when the token was not checked lately (:data:`server.auth.TOKEN_CHECK_SECONDS`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from server.auth import (
    SESSION_COOKIE,
    Permission,
    Principal,
    authenticate_session,
    authenticate_token,
    check_permission,
    note_token_used,
    recent_token,
)
from server.errors import AuthError, PreconditionFailed, PreconditionRequired
from server.settings import Settings
from server.storage import Store

_bearer = HTTPBearer(
    auto_error=False,
    description="an API token from `dutygrid token create` (or an admin's `POST /tokens`)",
)
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="the session cookie set by `POST /login`"
)


async def get_store(request: Request) -> Store:
    """Return the store the app was started with."""
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def basic_secret(value: str) -> str:
    """Return the token in the value of HTTP Basic credentials (``user:token`` in base64).

    Raises
    ------
    AuthError
        If the value is not base64 of UTF-8 text.
    """
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("the Basic credentials are not base64 of 'user:token'") from None
    user, _, password = decoded.partition(":")
    # the token is the password; clients that have only a user field may put it there
    return password or user


async def current_principal(
    request: Request,
    store: StoreDep,
    background: BackgroundTasks,
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _session: Annotated[str | None, Depends(_session_cookie)],
) -> Principal | None:
    """Return who the request comes from, None if it carries no credentials.

    A token in the ``Authorization`` header wins over a session cookie. A token checked lately is
    taken as checked; the database is asked (in a worker thread) otherwise, and for sessions.

    Raises
    ------
    AuthError
        If the credentials are malformed, unknown, revoked or expired.
    """
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        via: Literal["bearer", "basic"]
        if scheme.lower() == "bearer" and value.strip():
            secret, via = value, "bearer"
        elif scheme.lower() == "basic" and value.strip():
            secret, via = basic_secret(value), "basic"
        else:
            raise AuthError("send the token as 'Authorization: Bearer <token>'")
        found = recent_token(store, secret, via=via)
        if found is None:
            found = await run_in_threadpool(partial(authenticate_token, store, secret, via=via))
        principal, due = found
        if due:
            background.add_task(note_token_used, store, principal.token_id)
        return principal
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return await run_in_threadpool(authenticate_session, store, session)
    return None


PrincipalOrNone = Annotated[Principal | None, Depends(current_principal)]


def require(permission: Permission) -> Callable[[Principal | None], Awaitable[Principal]]:
    """Return a dependency that yields the principal if its role has ``permission``.

    The dependency raises :class:`~server.errors.AuthError` (401) when the request carries no
    credentials and :class:`~server.errors.PermissionDenied` (403) when its role lacks the
    permission.
    """

    async def dependency(principal: PrincipalOrNone) -> Principal:
        if principal is None:
            raise AuthError(
                "sign in: send 'Authorization: Bearer <token>', or sign in at /login in a browser"
            )
        check_permission(principal, permission)
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency


async def signed_in(principal: PrincipalOrNone) -> Principal:
    """Return the principal of a request that must carry credentials, whatever its role.

    Raises
    ------
    AuthError
        If the request carries none.
    """
    if principal is None:
        raise AuthError(
            "sign in: send 'Authorization: Bearer <token>', or sign in at /login in a browser"
        )
    return principal


LayerReader = Annotated[Principal, Depends(require(Permission.READ_LAYERS))]
LayerWriter = Annotated[Principal, Depends(require(Permission.WRITE_LAYERS))]
TokenManager = Annotated[Principal, Depends(require(Permission.MANAGE_TOKENS))]
AuditReader = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]
SignedIn = Annotated[Principal, Depends(signed_in)]


# --- versions: ETag and If-Match -------------------------------------------------------------


def weak_etag(*parts: Any) -> str:
    """Return a weak ETag (``W/"…"``) for a resource version given by ``parts`` (JSON values).

    Use a version number, or a fingerprint such as a source's SHA-256 and its import time: the
    ETag changes exactly when they do.
    """
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return f'W/"{hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(request: Request, current: str) -> bool:
    """Return whether a read's ``If-None-Match`` names the resource's current ETag (answer 304).

    Tags are compared weakly, and ``*`` matches any version.
    """
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {_opaque(tag) for tag in header.split(",") if tag.strip()}
    return "*" in tags or _opaque(current) in tags


def check_if_match(request: Request, current: str, *, required: bool = False) -> None:
    """Check a change's ``If-Match`` against the resource's current ETag.

    Tags are compared weakly (``W/"x"`` matches ``"x"``): the tags name versions of the
    resource, not byte-identical representations. ``If-Match: *`` matches any version.

    Parameters
    ----------
    request
        The request making the change.
    current
        The resource's ETag now (from :func:`weak_etag`).
    required
        Whether a change without ``If-Match`` is refused.

    Raises
    ------
    PreconditionRequired
        If ``required`` and the request has no ``If-Match`` (428).
    PreconditionFailed
        If no tag in ``If-Match`` is the current one (412): someone changed the resource since
        the client read it.
    """
    header = request.headers.get("if-match")
    if header is None or not header.strip():
        if required:
            raise PreconditionRequired(
                "this change needs an If-Match header with the ETag of the version you read; "
                "read the resource first",
                field="If-Match",
                etag=current,
            )
        return
    tags = [tag for tag in header.split(",") if tag.strip()]
    if any(tag.strip() == "*" for tag in tags):
        return
    if _opaque(current) not in {_opaque(tag) for tag in tags}:
        raise PreconditionFailed(
            "the resource changed since you read it (its ETag is now "
            f"{current}); read it again and redo your change",
            field="If-Match",
            etag=current,
        )
