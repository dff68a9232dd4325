"""The duty policy (值班规则): the current version, every stored version, and a new one.

A policy is stored under its ``version`` and never overwritten with other rules. ``PUT /policy``
takes the TOML text (``Content-Type: application/toml``) or a file (multipart form field
``file``), checks every key as ``dutygrid policy import`` does and stores it as the new current
version; a key that is wrong is named by its path (``slots.weekday[2].end``), a syntax error by
its line (422). Until a policy is stored, the bundled Huiji policy is current.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from geodata.errors import FileTooLargeError, InputFileError
from grids.policy import (
    DAY_TYPES,
    DutyPolicy,
    huiji_default_policy,
    huiji_policy_text,
    policy_as_dict,
    policy_from_toml,
)
from server.audit import entry_for, record
from server.auth import Permission, Principal
from server.dependencies import SettingsDep, StoreDep, check_if_match, require, weak_etag
from server.errors import (
    InvalidParameterError,
    PreconditionFailed,
    UnsupportedUploadError,
    problem_responses,
)
from server.roster_store import BUNDLED_POLICY_SOURCE, PolicyConflictError, RosterStore
from server.routes.imports import upload_name
from server.storage import Store

router = APIRouter(prefix="/policy", tags=["duty policy"])

POLICY_MAX_BYTES: Final = 1 << 20
"""The largest policy accepted, in bytes (the bundled one is about 10 KiB)."""
TOML_TYPES: Final = ("application/toml", "application/x-toml", "text/x-toml", "text/plain")
POLICY_SUFFIXES: Final = (".toml", ".txt")

PolicyReader = Annotated[Principal, Depends(require(Permission.READ_POLICY))]
PolicyWriter = Annotated[Principal, Depends(require(Permission.WRITE_POLICY))]


class SlotSummary(BaseModel):
    """A slot (值班时间段) of a duty day."""

    id: str
    name_zh: str
    name_en: str
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM; not after the start when the slot ends next morning")
    kind: Literal["day", "night"]


class PolicySummary(BaseModel):
    """The current duty policy: what it is, where it is from, its slots and all its rules."""

    version: int
    name: str
    description: str
    fingerprint: str = Field(description="SHA-256 of the rules, the version left out")
    stored: bool = Field(description="false while the bundled default is current")
    source: str = Field(description="the file it came from, or bundled:huiji")
    created_at: str | None = Field(description="when it was stored; null for the default")
    slots: dict[str, list[SlotSummary]] = Field(description="day type → its slots, in order")
    labour: dict[str, Any] = Field(description="the labour rules a roster must keep")
    operations: int = Field(description="special operations (夜查, 渣土车, 烧烤)")
    events: int = Field(description="temporary event posts")
    full_deployments: int
    leaders_on_duty: int = Field(description="duty leaders (带班领导) on duty a day")
    rules: dict[str, Any] = Field(description="the whole policy as JSON")


class PolicyVersion(BaseModel):
    """A stored version of the policy."""

    version: int
    fingerprint: str
    name: str
    created_at: str
    source: str
    current: bool


class PolicyVersions(BaseModel):
    """Every stored version, oldest first."""

    versions: list[PolicyVersion]
    current: int = Field(description="the current version (the bundled default's if none)")


class PolicySaved(BaseModel):
    """What an uploaded policy did."""

    unchanged: bool = Field(description="true if the version was stored already: nothing written")
    message: str
    version: int
    fingerprint: str
    source: str
    version_before: int
    fingerprint_before: str
    audit_id: int | None = Field(description="the audit entry of the change; null if unchanged")


def policy_etag(version: int, fingerprint: str, stored: bool) -> str:
    """Return the ETag of the current policy: it changes with every version stored."""
    return weak_etag("policy", version, fingerprint, stored)


def _current(
    rosters: RosterStore, connection: Connection | None = None
) -> tuple[DutyPolicy, dict[str, Any] | None]:
    """Return the current policy and its stored record (None for the bundled default)."""
    versions = rosters.policy_versions(connection=connection)
    if not versions:
        return huiji_default_policy(), None
    text = rosters.policy_text(versions[-1]["version"], connection=connection)
    assert text is not None
    return policy_from_toml(text, file="duty_policies"), versions[-1]


def _etag_of(policy: DutyPolicy, stored: dict[str, Any] | None) -> str:
    return policy_etag(policy.version, policy.fingerprint(), stored is not None)


def _summary(policy: DutyPolicy, stored: dict[str, Any] | None) -> PolicySummary:
    rules = policy_as_dict(policy)
    return PolicySummary(
        version=policy.version,
        name=policy.name,
        description=policy.description,
        fingerprint=policy.fingerprint(),
        stored=stored is not None,
        source=str(stored["source"]) if stored else BUNDLED_POLICY_SOURCE,
        created_at=str(stored["created_at"]) if stored else None,
        slots={
            day_type: [SlotSummary(**slot) for slot in rules["slots"][day_type]]
            for day_type in DAY_TYPES
        },
        labour=rules["labour"],
        operations=len(policy.operations),
        events=len(policy.events),
        full_deployments=len(policy.full_deployment),
        leaders_on_duty=policy.leader.on_duty,
        rules=rules,
    )


@router.get(
    "",
    summary="The duty policy",
    response_model=PolicySummary,
    responses={
        200: {
            "description": "the current policy, as JSON or as its TOML file",
            "content": {"application/toml": {"schema": {"type": "string"}}},
        }
    },
)
def get_policy(
    store: StoreDep,
    _reader: PolicyReader,
    fmt: Annotated[
        Literal["json", "toml"],
        Query(alias="format", description="json (a summary and every rule) or toml (the file)"),
    ] = "json",
) -> Response:
    """Return the current duty policy: a JSON summary with every rule, or its TOML text."""
    rosters = RosterStore(store)
    policy, stored = _current(rosters)
    headers = {"ETag": _etag_of(policy, stored)}
    if fmt == "toml":
        text = rosters.policy_text(policy.version) if stored else huiji_policy_text()
        headers["Content-Disposition"] = f'inline; filename="duty_policy_v{policy.version}.toml"'
        return Response(text, media_type="application/toml", headers=headers)
    body = _summary(policy, stored)
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/versions", summary="Stored policy versions", response_model=PolicyVersions)
def policy_versions(store: StoreDep, _reader: PolicyReader) -> PolicyVersions:
    """List every stored version of the policy, oldest first, and which one is current."""
    versions = RosterStore(store).policy_versions()
    current = versions[-1]["version"] if versions else huiji_default_policy().version
    return PolicyVersions(
        versions=[
            PolicyVersion(
                version=v["version"],
                fingerprint=v["fingerprint"],
                name=v["name"],
                created_at=str(v["created_at"]),
                source=str(v["source"]),
                current=v["version"] == current,
            )
            for v in versions
        ],
        current=current,
    )


# --- a new version ---------------------------------------------------------------------------


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise _too_large(limit)
    return bytes(data)


def _too_large(limit: int) -> FileTooLargeError:
    return FileTooLargeError(
        f"a duty policy is at most {limit / 1024:.0f} KiB of TOML; is this the policy file?",
        field="file",
    )


async def policy_upload(request: Request, settings: SettingsDep) -> tuple[str | None, bytes]:
    """Return the file name (None for a body) and the bytes of the policy a request sends.

    Raises
    ------
    UnsupportedUploadError
        If the request is neither TOML text nor a form, or the form's file is not ``.toml``.
    InvalidParameterError
        If the form has no ``file``.
    FileTooLargeError
        If the policy is larger than :data:`POLICY_MAX_BYTES`.
    """
    limit = min(settings.max_upload_bytes, POLICY_MAX_BYTES)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if upload is None:
                raise InvalidParameterError(
                    "send the policy file as the form field 'file'", field="file"
                )
            if isinstance(upload, str):
                return None, upload.encode("utf-8")
            name = upload_name(upload.filename)
            suffix = Path(name).suffix.lower()
            if suffix not in POLICY_SUFFIXES:
                raise UnsupportedUploadError(
                    f"{name}: a duty policy is a .toml file, not {suffix or 'a file without one'}",
                    field="file",
                    file=name,
                )
            data = await upload.read(limit + 1)
        if len(data) > limit:
            raise _too_large(limit)
        return name, data
    if media and media not in TOML_TYPES:
        raise UnsupportedUploadError(
            "send the policy as TOML text (Content-Type: application/toml) or as the file "
            f"'file' of a multipart form, not {media}",
            field="Content-Type",
        )
    return None, await _read_limited(request, limit)


PolicyUpload = Annotated[tuple[str | None, bytes], Depends(policy_upload)]

_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "the policy as TOML text (also sent as application/toml), or a form",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the policy file (.toml, UTF-8)",
                        }
                    },
                }
            },
        },
    }
}


def _decode(name: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"the policy is not UTF-8 text (byte {exc.start}); save it as UTF-8", file=name
        ) from None
    return text.removeprefix("\ufeff")


def _save(
    store: Store,
    principal: Principal,
    policy: DutyPolicy,
    *,
    text: str,
    source: str,
    checked_etag: str | None,
    summary: dict[str, Any],
) -> tuple[bool, int | None, DutyPolicy]:
    """Store the policy with its audit record; return (written, audit id, policy before)."""
    rosters = RosterStore(store)
    with store.transaction() as connection:
        before, stored = _current(rosters, connection)
        now = _etag_of(before, stored)
        if checked_etag is not None and now != checked_etag:
            raise PreconditionFailed(
                "the policy changed while the upload was being checked; read it again and redo "
                "your change",
                field="If-Match",
                etag=now,
            )
        versions = {v["version"]: v for v in rosters.policy_versions(connection=connection)}
        newest = max(versions, default=None)
        if policy.version not in versions and newest is not None and policy.version < newest:
            raise PolicyConflictError(
                f"version {policy.version} is older than the current policy, version {newest}: "
                f"give the new rules `version = {newest + 1}`"
            )
        written = rosters.save_policy(policy, text=text, source=source, connection=connection)
        if not written:
            return False, None, before
        summary = {
            **summary,
            "version_before": before.version,
            "fingerprint_before": before.fingerprint(),
            "stored_before": stored is not None,
        }
        entry = entry_for(
            principal, action="policy.save", method="PUT", route="/policy", summary=summary
        )
        return True, record(connection, entry), before


@router.put(
    "",
    summary="Store a new duty policy",
    response_model=PolicySaved,
    openapi_extra=_BODY,
    responses=problem_responses(409, 412, 413, 415, 422, 428),
)
def put_policy(
    request: Request, store: StoreDep, principal: PolicyWriter, upload: PolicyUpload
) -> Response:
    """Store a duty policy (TOML) as the current version; nothing is written if a key is wrong."""
    name, data = upload
    rosters = RosterStore(store)
    before, stored = _current(rosters)
    etag_before = _etag_of(before, stored)
    check_if_match(request, etag_before)
    checked_etag = etag_before if request.headers.get("if-match") else None
    text = _decode(name or "the policy", data)
    policy = policy_from_toml(text, file=name)
    source = name or f"uploaded by {principal.name}"
    summary = {
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "version": policy.version,
        "fingerprint": policy.fingerprint(),
        "name": policy.name,
    }
    written, audit_id, before = _save(
        store,
        principal,
        policy,
        text=text,
        source=source,
        checked_etag=checked_etag,
        summary=summary,
    )
    current, now_stored = _current(rosters)
    if written:
        message = f"stored policy version {policy.version} ({policy.name}) as the current policy"
    elif current.version == policy.version:
        message = f"policy version {policy.version} is already stored and current; nothing changed"
    else:
        message = (
            f"policy version {policy.version} is already stored with these rules; nothing "
            f"changed (the current policy is version {current.version})"
        )
    body = PolicySaved(
        unchanged=not written,
        message=message,
        version=policy.version,
        fingerprint=policy.fingerprint(),
        source=source,
        version_before=before.version,
        fingerprint_before=before.fingerprint(),
        audit_id=audit_id,
    )
    return Response(
        body.model_dump_json(),
        media_type="application/json",
        headers={"ETag": _etag_of(current, now_stored)},
    )


__all__ = ["POLICY_MAX_BYTES", "policy_etag", "policy_upload", "router"]
