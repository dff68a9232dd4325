"""The audit log: who changed what, and when, written in the transaction of the change itself.

Every write the service makes (an import, a token created or revoked, a sign-in) adds one row with
the token behind it (id, name and role), the route, the layer and a JSON summary of what changed:
counts before and after, and the ids added and removed. Because the row is written through the
same connection as the change, there is never a change without its row, nor a row without its
change. Admins read the log at ``GET /audit``.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.auth import Principal, Role, utc_now
from server.migrations import audit_table
from server.storage import Store

_AUDIT = audit_table(sa.MetaData())

SAMPLE_IDS: Final = 50
"""How many added or removed ids a summary lists by name (all are counted)."""


@dataclass(frozen=True)
class AuditEntry:
    """One write, as recorded.

    Attributes
    ----------
    action
        What was done, e.g. ``layer.import`` or ``token.revoke``.
    actor
        The name of the token behind the write (or the command line user).
    role
        Its role.
    token_id
        Its id; None for writes from the command line.
    method, route
        The HTTP method and route template (``CLI`` and the command for the command line).
    layer
        The layer changed, if any.
    summary
        What changed (JSON values).
    """

    action: str
    actor: str
    role: str
    token_id: str | None
    method: str
    route: str
    layer: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def entry_for(
    principal: Principal,
    *,
    action: str,
    method: str,
    route: str,
    layer: str | None = None,
    summary: dict[str, Any] | None = None,
) -> AuditEntry:
    """Return the audit entry of a write made by ``principal`` through the API."""
    return AuditEntry(
        action=action,
        actor=principal.name,
        role=principal.role.value,
        token_id=principal.token_id,
        method=method,
        route=route,
        layer=layer,
        summary=summary or {},
    )


def cli_entry(
    command: str, *, action: str, layer: str | None = None, summary: dict[str, Any] | None = None
) -> AuditEntry:
    """Return the audit entry of a write made from the command line by the local user."""
    return AuditEntry(
        action=action,
        actor=f"command line ({getpass.getuser()})",
        role=Role.ADMIN.value,
        token_id=None,
        method="CLI",
        route=command,
        layer=layer,
        summary=summary or {},
    )


def record(connection: Connection, entry: AuditEntry) -> int:
    """Write an audit entry through ``connection`` (in the change's transaction); return its id."""
    result = connection.execute(
        _AUDIT.insert().values(
            at=utc_now().isoformat(timespec="seconds"),
            token_id=entry.token_id,
            actor=entry.actor,
            role=entry.role,
            method=entry.method,
            route=entry.route,
            action=entry.action,
            layer=entry.layer,
            summary=json.dumps(entry.summary, ensure_ascii=False, sort_keys=True, default=str),
        )
    )
    key = result.inserted_primary_key
    return int(key[0]) if key and key[0] is not None else 0


def read_audit(
    store: Store,
    *,
    limit: int = 100,
    offset: int = 0,
    layer: str | None = None,
    token_id: str | None = None,
    action: str | None = None,
) -> list[dict[str, Any]]:
    """Return audit entries, newest first, as JSON-ready mappings.

    Parameters
    ----------
    store
        The database.
    limit, offset
        The page: at most ``limit`` entries after skipping ``offset``.
    layer, token_id, action
        Keep only the entries of this layer, token or action.
    """
    query = sa.select(_AUDIT).order_by(_AUDIT.c.id.desc()).limit(limit).offset(offset)
    if layer is not None:
        query = query.where(_AUDIT.c.layer == layer)
    if token_id is not None:
        query = query.where(_AUDIT.c.token_id == token_id)
    if action is not None:
        query = query.where(_AUDIT.c.action == action)
    with store.connection() as connection:
        rows = connection.execute(query).mappings().all()
    return [{**row, "summary": json.loads(row["summary"])} for row in rows]


def id_changes(before: Iterable[str], after: Iterable[str]) -> dict[str, Any]:
    """Return how a layer's ids changed: counts, and up to :data:`SAMPLE_IDS` of each kind.

    Parameters
    ----------
    before
        The ids the layer had.
    after
        The ids it has now.
    """
    old, new = set(before), set(after)
    added, removed = sorted(new - old), sorted(old - new)
    return {
        "features_before": len(old),
        "features_after": len(new),
        "added": len(added),
        "removed": len(removed),
        "kept": len(old & new),
        "added_ids": added[:SAMPLE_IDS],
        "removed_ids": removed[:SAMPLE_IDS],
    }
