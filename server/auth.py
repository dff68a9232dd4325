"""Who may do what: roles and their permissions, API tokens and browser sessions.

A token is created by an admin (``dutygrid token create`` or ``POST /tokens``) and shown once; the
database keeps only its SHA-256. Requests carry it as ``Authorization: Bearer <token>`` (or as the
password of HTTP Basic authentication, for GIS clients that offer only that). A browser signs in
at ``/login`` with a token and gets a session cookie holding a random session id, of which the
database again keeps only the hash. Revoking a token ends its sessions. There are no default
credentials: a new database has no tokens until an admin creates one from the command line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.errors import AuthError, InvalidParameterError, NotFound, PermissionDenied
from server.migrations import sessions_table, tokens_table
from server.storage import Store

logger = logging.getLogger("dutygrid.server")

TOKEN_PREFIX: Final = "dg_"
SESSION_COOKIE: Final = "dutygrid_session"
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
"""How stale a token's last-used time may get: it is written at most this often."""
MAX_TOKEN_DAYS: Final = 36_500
"""The longest a token may be valid, in days (a century; 0 is for tokens that never expire)."""

TOKEN_CHECK_SECONDS: Final = 2.0
"""How long a process reuses a token it looked up, rather than asking the database every request.

A revocation by this process (``POST /tokens/{id}/revoke``) takes effect at once; one by another
process (``dutygrid token revoke``, another worker) within this many seconds. Expiry is checked on
every request.
"""
_TOKEN_CHECK_ENTRIES: Final = 1024

_TOKENS = tokens_table(sa.MetaData())
_SESSIONS = sessions_table(sa.MetaData())


class Role(StrEnum):
    """What a token holder is in the bureau."""

    ADMIN = "admin"
    PLANNER = "planner"
    DUTY_LEADER = "duty_leader"
    OFFICER = "officer"
    VIEWER = "viewer"


class Permission(StrEnum):
    """Something a route does that not every role may do."""

    READ_LAYERS = "layers:read"
    WRITE_LAYERS = "layers:write"
    READ_DUTIES = "duties:read"
    READ_OWN_DUTIES = "duties:read-own"
    WRITE_DUTIES = "duties:write"
    PUBLISH_ROSTERS = "rosters:publish"
    MANAGE_TOKENS = "tokens:manage"
    READ_AUDIT = "audit:read"
    READ_STAFF = "staff:read"
    READ_OWN_STAFF = "staff:read-own"
    WRITE_STAFF = "staff:write"
    READ_POLICY = "policy:read"
    WRITE_POLICY = "policy:write"


ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = {
    Role.VIEWER: frozenset({Permission.READ_LAYERS}),
    # officers will read only their own duties; reading the map layers is allowed for now
    Role.OFFICER: frozenset(
        {Permission.READ_LAYERS, Permission.READ_OWN_DUTIES, Permission.READ_OWN_STAFF}
    ),
    Role.DUTY_LEADER: frozenset(
        {
            Permission.READ_LAYERS,
            Permission.READ_DUTIES,
            Permission.READ_OWN_DUTIES,
            Permission.READ_STAFF,
            Permission.READ_OWN_STAFF,
            Permission.READ_POLICY,
        }
    ),
    # planners' writes are limited to the squads they are granted (see require_squad); publishing
    # binds every squad and the district's duty leaders, so it is left to admins
    Role.PLANNER: frozenset(
        {
            Permission.READ_LAYERS,
            Permission.WRITE_LAYERS,
            Permission.READ_DUTIES,
            Permission.READ_OWN_DUTIES,
            Permission.WRITE_DUTIES,
            Permission.READ_STAFF,
            Permission.READ_OWN_STAFF,
            Permission.WRITE_STAFF,
            Permission.READ_POLICY,
            Permission.WRITE_POLICY,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}
"""The permissions of each role."""


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the token it carries, directly or through a session.

    Attributes
    ----------
    token_id
        The token's public id (never its secret).
    name
        The name given to the token, e.g. the holder's name.
    role
        The holder's role.
    squads
        The squads the holder is granted, for planners and duty leaders.
    officer_id
        The officer the token belongs to, for officers.
    via
        How the request carried the token.
    """

    token_id: str
    name: str
    role: Role
    squads: tuple[str, ...] = ()
    officer_id: str | None = None
    via: Literal["bearer", "basic", "session", "cli"] = "bearer"

    def can(self, permission: Permission) -> bool:
        """Return whether the holder's role has ``permission``."""
        return permission in ROLE_PERMISSIONS[self.role]


@dataclass(frozen=True)
class TokenRecord:
    """A token as listed: everything but its secret."""

    id: str
    name: str
    role: Role
    squads: tuple[str, ...]
    officer_id: str | None
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    secret_sha256: str = field(repr=False, compare=False, default="")

    def status(self, now: datetime | None = None) -> Literal["active", "revoked", "expired"]:
        """Return whether the token is usable now."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _parse(self.expires_at) <= (now or utc_now()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """Return the token as a JSON-ready mapping (without any hash of its secret)."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "squads": list(self.squads),
            "officer_id": self.officer_id,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "status": self.status(),
        }


def utc_now() -> datetime:
    """Return the current UTC time, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def hash_secret(secret: str) -> str:
    """Return the SHA-256 (hex) under which a token or session secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    """Return the role named ``value``.

    Raises
    ------
    InvalidParameterError
        If there is no such role; the message lists the roles.
    """
    try:
        return Role(value.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidParameterError(
            f"no role {value!r}; roles are: {roles}", field="role"
        ) from None


def _record(row: Mapping[Any, Any]) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        squads=tuple(json.loads(row["squads"])),
        officer_id=row["officer_id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        secret_sha256=row["secret_sha256"],
    )


def create_token(
    connection: Connection,
    *,
    role: Role | str,
    name: str,
    created_by: str,
    squads: Sequence[str] = (),
    officer_id: str | None = None,
    expires_days: float | None = None,
    now: datetime | None = None,
) -> tuple[TokenRecord, str]:
    """Create a token and return its record and its secret (which is not kept anywhere).

    Parameters
    ----------
    connection
        A connection in a write transaction (:meth:`server.storage.Store.transaction`).
    role
        The holder's role.
    name
        Who or what holds it, e.g. ``"王伟 (新城中队)"``; shown in lists and the audit log.
    created_by
        Who creates it, for the record.
    squads
        The squads granted (planners, duty leaders).
    officer_id
        The officer it belongs to; required for the officer role.
    expires_days
        Days until it expires; None or 0 for never.
    now
        The current time (for tests).

    Raises
    ------
    InvalidParameterError
        If the role is unknown, the name empty, an officer token lacks its officer, or the
        expiry is not a number of days from 0 to :data:`MAX_TOKEN_DAYS`.
    """
    role = role if isinstance(role, Role) else parse_role(role)
    name = name.strip()
    if not name:
        raise InvalidParameterError("give the token a name, e.g. the holder's name", field="name")
    if role is Role.OFFICER and not officer_id:
        raise InvalidParameterError(
            "an officer's token names the officer it belongs to (--officer ID)", field="officer_id"
        )
    if expires_days is not None and not (
        math.isfinite(expires_days) and 0 <= expires_days <= MAX_TOKEN_DAYS
    ):
        raise InvalidParameterError(
            f"--expires must be 0 (never) or a number of days up to {MAX_TOKEN_DAYS} "
            f"(a century), not {expires_days:g}",
            field="expires",
        )
    squads = tuple(dict.fromkeys(s.strip() for s in squads if s.strip()))
    now = now or utc_now()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {
        "id": "tok_" + secrets.token_hex(6),
        "name": name,
        "role": role.value,
        "squads": json.dumps(list(squads), ensure_ascii=False),
        "officer_id": officer_id or None,
        "secret_sha256": hash_secret(secret),
        "created_at": _iso(now),
        "created_by": created_by,
        "expires_at": _iso(now + timedelta(days=expires_days)) if expires_days else None,
        "revoked_at": None,
        "last_used_at": None,
    }
    connection.execute(_TOKENS.insert().values(**values))
    return _record(values), secret


def list_tokens(connection: Connection) -> list[TokenRecord]:
    """Return every token, oldest first."""
    query = sa.select(_TOKENS).order_by(_TOKENS.c.created_at, _TOKENS.c.id)
    return [_record(row) for row in connection.execute(query).mappings()]


def get_token(connection: Connection, token_id: str) -> TokenRecord:
    """Return the token ``token_id``.

    Raises
    ------
    NotFound
        If there is no such token.
    """
    row = connection.execute(sa.select(_TOKENS).where(_TOKENS.c.id == token_id)).mappings().first()
    if row is None:
        raise NotFound(f"no token {token_id!r}; `dutygrid token list` shows the tokens there are")
    return _record(row)


def revoke_token(
    connection: Connection, token_id: str, *, now: datetime | None = None
) -> tuple[TokenRecord, bool]:
    """Revoke a token and end its sessions; return its record and whether it was active before.

    Raises
    ------
    NotFound
        If there is no such token.
    """
    before = get_token(connection, token_id)
    if before.revoked_at is not None:
        return before, False
    stamp = _iso(now or utc_now())
    connection.execute(_TOKENS.update().where(_TOKENS.c.id == token_id).values(revoked_at=stamp))
    connection.execute(_SESSIONS.delete().where(_SESSIONS.c.token_id == token_id))
    forget_token_checks()
    return get_token(connection, token_id), True


def _principal(record: TokenRecord, via: Literal["bearer", "basic", "session"]) -> Principal:
    return Principal(
        token_id=record.id,
        name=record.name,
        role=record.role,
        squads=record.squads,
        officer_id=record.officer_id,
        via=via,
    )


def _check_usable(record: TokenRecord, now: datetime) -> None:
    status = record.status(now)
    if status == "revoked":
        raise AuthError(
            f"the token {record.id} was revoked on {record.revoked_at}; ask an admin for a new one"
        )
    if status == "expired":
        raise AuthError(
            f"the token {record.id} expired on {record.expires_at}; ask an admin for a new one"
        )


def _checked(
    checks: dict[str, tuple[float, TokenRecord]],
    *,
    digest: str,
    looked_up: float,
    record: TokenRecord,
    now: datetime,
    via: Literal["bearer", "basic"],
) -> tuple[Principal, bool]:
    _check_usable(record, now)
    due = record.last_used_at is None or now - _parse(record.last_used_at) >= LAST_USED_RESOLUTION
    if due:
        # the caller writes the last-used time; the next requests within the check are not due
        checks[digest] = (looked_up, replace(record, last_used_at=_iso(now)))
    return _principal(record, via), due


def recent_token(
    store: Store,
    secret: str,
    *,
    via: Literal["bearer", "basic"] = "bearer",
    now: datetime | None = None,
) -> tuple[Principal, bool] | None:
    """Return what :func:`authenticate_token` would, if this process looked the token up lately.

    None when the database must be asked (the token was not looked up within
    :data:`TOKEN_CHECK_SECONDS`); this function never asks it, so it may run on the event loop.

    Raises
    ------
    AuthError
        If the token looked up lately is revoked or has expired since.
    """
    digest = hash_secret(secret.strip())
    checks = _token_checks.get(store)
    checked = None if checks is None else checks.get(digest)
    if checks is None or checked is None or time.monotonic() - checked[0] >= TOKEN_CHECK_SECONDS:
        return None
    looked_up, record = checked
    return _checked(
        checks, digest=digest, looked_up=looked_up, record=record, now=now or utc_now(), via=via
    )


def authenticate_token(
    store: Store,
    secret: str,
    *,
    via: Literal["bearer", "basic"] = "bearer",
    now: datetime | None = None,
) -> tuple[Principal, bool]:
    """Return who holds ``secret``, and whether its last-used time is due to be written.

    Raises
    ------
    AuthError
        If the token is unknown, revoked or expired.
    """
    now = now or utc_now()
    digest = hash_secret(secret.strip())
    checks = _token_checks.setdefault(store, {})
    checked = checks.get(digest)
    if checked is not None and time.monotonic() - checked[0] < TOKEN_CHECK_SECONDS:
        looked_up, record = checked
    else:
        with store.connection() as connection:
            row = (
                connection.execute(sa.select(_TOKENS).where(_TOKENS.c.secret_sha256 == digest))
                .mappings()
                .first()
            )
        if row is None or not hmac.compare_digest(str(row["secret_sha256"]), digest):
            raise AuthError(
                "the token is not one this service issued; check that it was copied whole"
            )
        record = _record(row)
        if len(checks) >= _TOKEN_CHECK_ENTRIES:
            checks.clear()
        looked_up = time.monotonic()
        checks[digest] = (looked_up, record)
    return _checked(checks, digest=digest, looked_up=looked_up, record=record, now=now, via=via)


_token_checks: weakref.WeakKeyDictionary[Store, dict[str, tuple[float, TokenRecord]]] = (
    weakref.WeakKeyDictionary()
)
"""Tokens looked up lately, per store: secret digest -> (when, record); see TOKEN_CHECK_SECONDS."""


def forget_token_checks() -> None:
    """Make the next request of every token look it up in the database again (a revocation)."""
    _token_checks.clear()


def note_token_used(store: Store, token_id: str, *, now: datetime | None = None) -> None:
    """Write a token's last-used time; skipped quietly while the database is busy."""
    try:
        with store.transaction() as connection:
            connection.execute(
                _TOKENS.update()
                .where(_TOKENS.c.id == token_id)
                .values(last_used_at=_iso(now or utc_now()))
            )
    except sa.exc.OperationalError as exc:
        logger.debug("last-used time of %s not written: %s", token_id, exc)


def create_session(
    connection: Connection, token_id: str, *, hours: float, now: datetime | None = None
) -> str:
    """Start a browser session for a token and return the session id for its cookie."""
    now = now or utc_now()
    session_id = secrets.token_urlsafe(32)
    connection.execute(
        _SESSIONS.insert().values(
            id_sha256=hash_secret(session_id),
            token_id=token_id,
            created_at=_iso(now),
            expires_at=_iso(now + timedelta(hours=hours)),
        )
    )
    return session_id


def authenticate_session(
    store: Store, session_id: str, *, now: datetime | None = None
) -> Principal:
    """Return who a session cookie belongs to.

    Raises
    ------
    AuthError
        If the session is unknown or over, or its token revoked or expired.
    """
    now = now or utc_now()
    digest = hash_secret(session_id)
    query = (
        sa.select(_TOKENS, _SESSIONS.c.expires_at.label("session_expires_at"))
        .select_from(_SESSIONS.join(_TOKENS, _TOKENS.c.id == _SESSIONS.c.token_id))
        .where(_SESSIONS.c.id_sha256 == digest)
    )
    with store.connection() as connection:
        row = connection.execute(query).mappings().first()
    if row is None or _parse(row["session_expires_at"]) <= now:
        raise AuthError("your session has ended; sign in again at /login")
    record = _record(row)
    _check_usable(record, now)
    return _principal(record, "session")


def end_session(connection: Connection, session_id: str) -> str | None:
    """End a browser session; return the id of its token, None if there was no such session."""
    digest = hash_secret(session_id)
    token_id = connection.execute(
        sa.select(_SESSIONS.c.token_id).where(_SESSIONS.c.id_sha256 == digest)
    ).scalar()
    connection.execute(_SESSIONS.delete().where(_SESSIONS.c.id_sha256 == digest))
    return None if token_id is None else str(token_id)


def check_permission(principal: Principal, permission: Permission) -> None:
    """Raise unless the principal's role has ``permission``.

    Raises
    ------
    PermissionDenied
        If it has not; the message names the roles that have it.
    """
    if principal.can(permission):
        return
    roles = [r.value for r, granted in ROLE_PERMISSIONS.items() if permission in granted]
    raise PermissionDenied(
        f"the role {principal.role.value} may not do this ({permission.value}); "
        f"it needs the role {' or '.join(roles)}",
        permission=permission.value,
        role=principal.role.value,
    )


def require_squad(principal: Principal, squad_id: str) -> None:
    """Raise unless the principal may change the plans of squad ``squad_id``.

    Admins may change any squad's; planners and duty leaders those of the squads their token
    grants; no one else any.

    Raises
    ------
    PermissionDenied
        If the principal may not.
    """
    if principal.role is Role.ADMIN:
        return
    if principal.role in (Role.PLANNER, Role.DUTY_LEADER) and squad_id in principal.squads:
        return
    granted = ", ".join(principal.squads) or "none"
    raise PermissionDenied(
        f"the token {principal.token_id} may not change the squad {squad_id!r} "
        f"(squads granted: {granted}); ask an admin for a token with --squad {squad_id}",
        squad=squad_id,
    )
