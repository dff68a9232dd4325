"""The audit log, for admins: every write, who made it and what changed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from server.audit import read_audit
from server.dependencies import AuditReader, StoreDep
from server.ogc.pages import MAX_ROWS

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="Audit log")
def audit_log(
    *,
    request: Request,
    store: StoreDep,
    _admin: AuditReader,
    limit: Annotated[int, Query(ge=1, le=1000, description="entries per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROWS, description="entries to skip")] = 0,
    layer: Annotated[str | None, Query(description="only the writes of this layer")] = None,
    token_id: Annotated[str | None, Query(description="only the writes of this token")] = None,
    action: Annotated[str | None, Query(description="only this action, e.g. layer.import")] = None,
) -> dict[str, Any]:
    """Read the audit log, newest first: who wrote what, when, with counts and ids changed."""
    entries = read_audit(
        store,
        limit=limit + 1,
        offset=offset,
        layer=layer,
        token_id=token_id,
        action=action,
    )
    links = []
    if len(entries) > limit:
        next_url = request.url.include_query_params(limit=limit, offset=offset + limit)
        links.append({"href": str(next_url), "rel": "next", "type": "application/json"})
    if offset > 0:
        prev_url = request.url.include_query_params(limit=limit, offset=max(offset - limit, 0))
        links.append({"href": str(prev_url), "rel": "prev", "type": "application/json"})
    return {"entries": entries[:limit], "links": links}
