"""A roster's assignments: read them (JSON, CSV or Excel), replace them whole, or edit some rows.

An assignment is keyed by officer, date and slot (a person is in one place per slot). Reading
gives officers their own rows of published rosters only (a draft is a 404 to them); duty leaders,
planners and admins every row of every roster.

Changes need ``If-Match`` with the roster's ETag (428 without it, 412 if the roster changed
since it was read). ``PUT`` replaces the whole table with a JSON list or an uploaded CSV or Excel
file (:func:`grids.roster_io.read_assignments`); ``PATCH`` adds, changes and removes rows by their
key. What a JSON row leaves out is filled in as a roster file's would be
(:mod:`server.roster_rows`). Rows added or changed by ``PATCH`` are pinned unless they say
otherwise, so that a re-plan keeps them.

A planner may change only rows of the squads their token grants, before and after the change
(403 naming the squad); the district's rows without a squad (the duty leaders') are an admin's.
A published roster changes only with ``force=true``: officers may already have been told their
duties; it stays published. Every change is one transaction with its audit entry (the rows
before and after); a change that changes nothing writes nothing and keeps the version.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Final, Literal, cast

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi import UploadFile as FastAPIUploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from geodata.errors import FieldError, FileTooLargeError, GeodataError
from grids.roster import TASKS
from grids.roster_io import (
    read_assignments,
    write_assignments_csv,
    write_assignments_xlsx,
)
from server.audit import SAMPLE_IDS, entry_for, record
from server.auth import Principal, Role, require_squad
from server.dependencies import SettingsDep, StoreDep, check_if_match
from server.errors import (
    Conflict,
    InvalidParameterError,
    NotFound,
    PermissionDenied,
    UnsupportedUploadError,
    problem_responses,
)
from server.roster_rows import (
    Key,
    RowContext,
    checked_records,
    json_row,
    row_context,
    rows_by_key,
)
from server.roster_store import RosterStore, StoredRoster
from server.routes.imports import save_upload, upload_name
from server.routes.rosters import (
    DutiesWriter,
    IfMatchHeader,
    OwnDutiesReader,
    load_roster,
    roster_etag,
)
from server.settings import Settings
from server.storage import Store

router = APIRouter(tags=["rosters"])

XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROSTER_FILE_SUFFIXES: Final = (".csv", ".xlsx")

ForceQuery = Annotated[
    bool,
    Query(description="change a published roster anyway (officers may have been told already)"),
]


def _check_task(value: str | None) -> str | None:
    if value is not None and value not in TASKS:
        raise ValueError(f"unknown task {value!r}; tasks are {', '.join(TASKS)}")
    return value


class AssignmentOut(BaseModel):
    """One person on duty in one slot of one day, on a post or task."""

    officer_id: str
    role: str
    squad_id: str | None
    date: date
    slot_id: str
    start: datetime = Field(description="local time (China Standard Time), no zone")
    end: datetime = Field(description="local time; a night slot ends the next morning")
    post_id: str | None
    task: str
    requirement_id: str | None
    pinned: bool = Field(description="kept as it is when the roster is re-planned")


_TASK_FIELD: Final[dict[str, Any]] = {
    "description": "the task; by default reserve without a post, leader_duty in the day slot",
    "json_schema_extra": {"enum": [*TASKS, None]},
}


class AssignmentIn(BaseModel):
    """An assignment to store; what is left out is filled in from the policy and the staff."""

    model_config = ConfigDict(extra="forbid")

    officer_id: str = Field(min_length=1, pattern=r"\S", description="the person's staff number")
    date: date
    slot_id: str = Field(min_length=1, pattern=r"\S", description="a slot id, or day (24 h)")
    task: str | None = Field(None, **_TASK_FIELD)
    post_id: str | None = None
    start: datetime | None = Field(None, description="with end; by default the slot's times")
    end: datetime | None = None
    role: Literal["officer", "assistant", "leader"] | None = Field(
        None, description="by default the staff list's"
    )
    squad_id: str | None = Field(None, description="by default the staff list's")
    requirement_id: str | None = None
    pinned: bool | None = Field(None, description="by default false for PUT, true for PATCH")

    _task = field_validator("task")(_check_task)


class AssignmentKeyIn(BaseModel):
    """Which assignment: officer, date and slot."""

    model_config = ConfigDict(extra="forbid")

    officer_id: str = Field(min_length=1, pattern=r"\S")
    date: date
    slot_id: str = Field(min_length=1, pattern=r"\S")


class AssignmentChange(AssignmentKeyIn):
    """New values for some fields of an assignment; the others stay."""

    task: str | None = Field(None, **_TASK_FIELD)
    post_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    role: Literal["officer", "assistant", "leader"] | None = None
    squad_id: str | None = None
    requirement_id: str | None = None
    pinned: bool | None = Field(None, description="by default true: a hand edit is pinned")

    _task = field_validator("task")(_check_task)


class AssignmentPatch(BaseModel):
    """Rows to add, change and remove, each by its key (officer, date, slot)."""

    model_config = ConfigDict(extra="forbid")

    add: list[AssignmentIn] = Field(default_factory=list, description="new rows")
    change: list[AssignmentChange] = Field(default_factory=list, description="rows to change")
    remove: list[AssignmentKeyIn] = Field(default_factory=list, description="rows to remove")


class EditResult(BaseModel):
    """What a change did to a roster's assignments."""

    roster_id: str
    status: Literal["draft", "published"]
    version: int = Field(description="the roster's version now (its new ETag)")
    unchanged: bool = Field(description="true if the change changed nothing")
    added: int
    changed: int
    removed: int
    assignments: int = Field(description="how many assignments the roster has now")
    audit_id: int | None = Field(description="the audit entry of the change")


_ROWS: Final = TypeAdapter(list[AssignmentIn])
_XLSX_SCHEMA: Final = {"type": "string", "format": "binary"}
_PUT_BODY: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": AssignmentIn.model_json_schema(),
                "description": "every assignment of the roster",
            }
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        **_XLSX_SCHEMA,
                        "description": "a roster file, .csv or .xlsx, Chinese or English headers",
                    }
                },
            }
        },
    },
}


# --- reading -----------------------------------------------------------------------------------


@router.get(
    "/rosters/{roster_id}/assignments",
    summary="Read a roster's assignments",
    response_model=list[AssignmentOut],
    responses={
        200: {
            "description": "the assignments: JSON, or a CSV or Excel file (format)",
            "headers": {"ETag": {"description": "the roster's version"}},
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": _XLSX_SCHEMA},
            },
        }
    },
)
def read_assignments_route(
    *,
    roster_id: str,
    store: StoreDep,
    principal: OwnDutiesReader,
    file_format: Annotated[
        Literal["json", "csv", "xlsx"], Query(alias="format", description="json, csv or xlsx")
    ] = "json",
    headers: Annotated[
        Literal["zh", "en"], Query(description="the file's headers and values: Chinese or English")
    ] = "zh",
    squad: Annotated[str | None, Query(description="only this squad's rows")] = None,
) -> Response:
    """Read a roster's assignments as JSON, CSV or Excel; officers their own, once published."""
    stored = load_roster(store, roster_id, principal, report=False)
    frame = stored.assignments
    if principal.role is Role.OFFICER:
        frame = frame[frame["officer_id"] == principal.officer_id]
    if squad is not None:
        frame = frame[frame["squad_id"] == squad]
    etag = {"ETag": roster_etag(roster_id, stored.version)}
    if file_format == "json":
        rows = [json_row(values) for values in rows_by_key(frame).values()]
        return JSONResponse(rows, headers=etag)
    suffix = f".{file_format}"
    with tempfile.TemporaryDirectory(prefix="dutygrid-roster-") as folder:
        path = Path(folder) / f"roster-{roster_id}{suffix}"
        if file_format == "csv":
            write_assignments_csv(frame, path, headers=headers)
        else:
            write_assignments_xlsx(frame, path, headers=headers)
        content = path.read_bytes()
    media_type = "text/csv; charset=utf-8" if file_format == "csv" else XLSX
    disposition = f'attachment; filename="roster-{roster_id}{suffix}"'
    return Response(
        content, media_type=media_type, headers={**etag, "Content-Disposition": disposition}
    )


# --- changing ----------------------------------------------------------------------------------


def _check_squads(principal: Principal, squads: Iterable[str | None]) -> None:
    """Raise unless ``principal`` may change rows of every one of ``squads``."""
    if principal.role is Role.ADMIN:
        return
    for squad in sorted(set(squads), key=lambda s: (s is not None, s or "")):
        if squad is None:
            raise PermissionDenied(
                f"the token {principal.token_id} may not change rows without a squad (the "
                "district's duty leaders): only an admin may",
                squad=None,
            )
        require_squad(principal, squad)


def _apply(
    store: Store,
    principal: Principal,
    stored: StoredRoster,
    old_rows: dict[Key, dict[str, Any]],
    new_rows: dict[Key, dict[str, Any]],
    *,
    count: int,
    force: bool,
    action: str,
    method: str,
    source: str,
) -> JSONResponse:
    """Check a roster's rows before and after a change, then write the difference with its audit.

    ``old_rows`` and ``new_rows`` are the rows of the keys the change concerns (every row, for a
    whole table), before and after; ``count`` is how many assignments the roster has before.
    """
    roster_id = stored.info.roster_id
    added = sorted(new_rows.keys() - old_rows.keys())
    removed = sorted(old_rows.keys() - new_rows.keys())
    changed = sorted(k for k in old_rows.keys() & new_rows.keys() if old_rows[k] != new_rows[k])
    touched = [old_rows[k]["squad_id"] for k in removed + changed]
    touched += [new_rows[k]["squad_id"] for k in added + changed]
    if not (added or removed or changed):
        result = EditResult(
            roster_id=roster_id,
            status=stored.info.status,
            version=stored.version,
            unchanged=True,
            added=0,
            changed=0,
            removed=0,
            assignments=count,
            audit_id=None,
        )
        etag = roster_etag(roster_id, stored.version)
        return JSONResponse(result.model_dump(mode="json"), headers={"ETag": etag})
    _check_squads(principal, touched)
    if stored.info.status == "published" and not force:
        raise Conflict(
            f"roster {roster_id} is published: officers may already have been told their duties. "
            "Send the change again with force=true to change it anyway (it stays published), or "
            "make a new draft with POST /rosters",
            field="force",
        )
    after = count + len(added) - len(removed)
    summary = {
        "roster_id": roster_id,
        "week": stored.info.week,
        "source": source,
        "force": force,
        "before": {"version": stored.version, "assignments": count},
        "after": {"version": stored.version + 1, "assignments": after},
        "added": len(added),
        "changed": len(changed),
        "removed": len(removed),
        "rows_before": [json_row(old_rows[k]) for k in (changed + removed)[:SAMPLE_IDS]],
        "rows_after": [json_row(new_rows[k]) for k in (changed + added)[:SAMPLE_IDS]],
    }
    rosters = RosterStore(store)
    try:
        with store.transaction() as connection:
            version = rosters.edit_assignments(
                roster_id,
                remove=removed + changed,
                add=[new_rows[k] for k in added + changed],
                expected_version=stored.version,
                connection=connection,
            )
            audit_id = record(
                connection,
                entry_for(
                    principal,
                    action=action,
                    method=method,
                    route="/rosters/{roster_id}/assignments",
                    summary=summary,
                ),
            )
    except KeyError:
        raise _no_roster(roster_id) from None
    result = EditResult(
        roster_id=roster_id,
        status=stored.info.status,
        version=version,
        unchanged=False,
        added=len(added),
        changed=len(changed),
        removed=len(removed),
        assignments=after,
        audit_id=audit_id,
    )
    return JSONResponse(
        result.model_dump(mode="json"), headers={"ETag": roster_etag(roster_id, version)}
    )


def _no_roster(roster_id: str) -> NotFound:
    return NotFound(
        f"no roster {roster_id!r} is stored; GET /rosters lists the rosters there are",
        field="roster_id",
    )


def _checked_head(store: Store, roster_id: str, request: Request) -> StoredRoster:
    """Return a roster without its rows once ``If-Match`` names its version (one small query)."""
    try:
        head = RosterStore(store).roster_head(roster_id)
    except KeyError:
        raise _no_roster(roster_id) from None
    check_if_match(request, roster_etag(roster_id, head.version), required=True)
    return head


def _read_roster_checked(store: Store, roster_id: str, request: Request) -> StoredRoster:
    """Return a roster with its rows once ``If-Match`` names its version."""
    head = _checked_head(store, roster_id, request)
    stored = load_roster(store, roster_id)
    # Changed since If-Match was checked: refused when written (the version is compared then).
    return StoredRoster(head.info, head.version, head.based_on, stored.assignments)


def _replace_from_rows(
    store: Store,
    principal: Principal,
    stored: StoredRoster,
    rows: list[AssignmentIn],
    force: bool,
) -> JSONResponse:
    context = row_context(store, stored)
    values = [row.model_dump() for row in rows]
    records = checked_records(values, context, pinned=False, source="request body")
    new_rows = {(r["officer_id"], r["date"], r["slot_id"]): r for r in records}
    old_rows = rows_by_key(stored.assignments)
    return _apply(
        store,
        principal,
        stored,
        old_rows,
        new_rows,
        count=len(old_rows),
        force=force,
        action="roster.assignments.replace",
        method="PUT",
        source="request body",
    )


def _file_keys(frame: pd.DataFrame, context: RowContext, name: str) -> dict[Key, dict[str, Any]]:
    """Return the rows of a roster file by key, refusing days outside the week and double keys."""
    outside = sorted({d for d in frame["date"] if d not in context.days})
    if outside:
        raise FieldError(
            f"{outside[0]} is outside {context.week}, the roster's week "
            f"({context.days[0]} to {context.days[-1]})",
            file=name,
            field="date",
        )
    keys = frame[["officer_id", "date", "slot_id"]]
    doubled = keys[keys.duplicated()]
    if len(doubled):
        officer, day, slot = doubled.iloc[0]
        raise FieldError(
            f"{officer} has two assignments on {day} in slot {slot}: one assignment a slot",
            file=name,
            field="slot_id",
        )
    return rows_by_key(frame)


def _replace_from_file(
    *,
    store: Store,
    settings: Settings,
    principal: Principal,
    stored: StoredRoster,
    upload: FastAPIUploadFile,
    force: bool,
) -> JSONResponse:
    name = upload_name(upload.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in ROSTER_FILE_SUFFIXES:
        raise UnsupportedUploadError(
            f"{name}: a roster file is .csv or .xlsx, not {suffix or 'a file without one'}",
            field="file",
            file=name,
        )
    context = row_context(store, stored)
    with tempfile.TemporaryDirectory(prefix="dutygrid-upload-") as folder:
        path = save_upload(upload, Path(folder), name, max_bytes=settings.max_upload_bytes)
        try:
            frame = read_assignments(
                path,
                policy=context.policy,
                calendar=context.calendar,
                staff=list(context.staff.values()),
            )
        except ValueError as exc:  # a day the holiday calendar does not cover
            if isinstance(exc, GeodataError):
                raise
            raise FieldError(str(exc), file=name, field="date") from None
    old_rows = rows_by_key(stored.assignments)
    return _apply(
        store,
        principal,
        stored,
        old_rows,
        _file_keys(frame, context, name),
        count=len(old_rows),
        force=force,
        action="roster.assignments.replace",
        method="PUT",
        source=name,
    )


def _json_rows(body: bytes) -> list[AssignmentIn]:
    try:
        return _ROWS.validate_json(body)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


@router.put(
    "/rosters/{roster_id}/assignments",
    summary="Replace a roster's assignments",
    response_model=EditResult,
    openapi_extra={"requestBody": _PUT_BODY},
    responses={
        200: {"headers": {"ETag": {"description": "the roster's new version"}}},
        **problem_responses(409, 412, 413, 415, 422, 428),
    },
)
async def replace_assignments(
    *,
    roster_id: str,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: DutiesWriter,
    force: ForceQuery = False,
    _if_match: IfMatchHeader = None,
) -> Response:
    """Replace every assignment with a JSON list or a CSV/xlsx file (needs If-Match)."""
    stored = await run_in_threadpool(_read_roster_checked, store, roster_id, request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        body = await request.body()
        if len(body) > settings.max_upload_bytes:
            raise FileTooLargeError(
                f"the body is more than the limit of {settings.max_upload_bytes / 1024**2:.1f} MiB"
            )
        rows = _json_rows(body)
        return await run_in_threadpool(_replace_from_rows, store, principal, stored, rows, force)
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidParameterError(
                    "send the roster file as the form field 'file'", field="file"
                )
            return await run_in_threadpool(
                partial(
                    _replace_from_file,
                    store=store,
                    settings=settings,
                    principal=principal,
                    stored=stored,
                    upload=cast(FastAPIUploadFile, upload),
                    force=force,
                )
            )
    raise UnsupportedUploadError(
        "send the assignments as a JSON list (Content-Type: application/json) or a .csv or "
        "an .xlsx file (multipart/form-data, field 'file')",
        field="Content-Type",
    )


def _duplicate(keys: Iterable[Key], part: str) -> None:
    seen: set[Key] = set()
    for key in keys:
        if key in seen:
            officer, day, slot = key
            raise InvalidParameterError(
                f"{officer} on {day} in slot {slot} is named twice in the change; name each "
                "assignment once",
                field=part,
            )
        seen.add(key)


@router.patch(
    "/rosters/{roster_id}/assignments",
    summary="Edit some assignments",
    response_model=EditResult,
    responses={
        200: {"headers": {"ETag": {"description": "the roster's new version"}}},
        **problem_responses(409, 412, 422, 428),
    },
)
def edit_assignments(
    *,
    roster_id: str,
    body: AssignmentPatch,
    request: Request,
    store: StoreDep,
    principal: DutiesWriter,
    force: ForceQuery = False,
    _if_match: IfMatchHeader = None,
) -> Response:
    """Add, change and remove assignments by officer, date and slot (needs If-Match)."""
    head = _checked_head(store, roster_id, request)
    keyed: list[Key] = [(r.officer_id, r.date, r.slot_id) for r in body.add]
    keyed += [(r.officer_id, r.date, r.slot_id) for r in body.change]
    keyed += [(r.officer_id, r.date, r.slot_id) for r in body.remove]
    _duplicate(keyed, "body")
    # Only the rows of the officers the change names are read: every check is by key.
    officers = {key[0] for key in keyed} | {r.officer_id.strip() for r in body.add}
    rosters = RosterStore(store)
    with store.connection() as connection:
        rows = rosters.officer_assignments(roster_id, officers, connection=connection)
        count = rosters.assignment_count(roster_id, connection=connection)
    missing = [key for key in keyed[len(body.add) :] if key not in rows]
    if missing:
        officer, day, slot = missing[0]
        raise Conflict(
            f"roster {roster_id} has no assignment of {officer} on {day} in slot {slot} to change "
            f"or remove ({len(missing)} such); read the assignments for those there are",
            field="change" if body.change else "remove",
        )
    present = [(r.officer_id, r.date, r.slot_id) for r in body.add]
    present = [key for key in present if key in rows]
    if present:
        officer, day, slot = present[0]
        raise Conflict(
            f"roster {roster_id} already has an assignment of {officer} on {day} in slot {slot}; "
            "change it instead of adding it",
            field="add",
        )
    merged: list[dict[str, Any]] = []
    for change in body.change:
        old = rows[(change.officer_id, change.date, change.slot_id)]
        given = change.model_dump(include=change.model_fields_set)
        merged.append({**old, **given, "pinned": given.get("pinned")})
    context = row_context(store, head, officers)
    # rows are numbered within their list: "change" row 2 is the second change
    records = checked_records(merged, context, pinned=True, source="change")
    added = [row.model_dump() for row in body.add]
    records += checked_records(added, context, pinned=True, source="add")
    old_rows = {key: rows[key] for key in keyed[len(body.add) :]}
    new_rows = {key: rows[key] for key in old_rows}
    for key in [(r.officer_id, r.date, r.slot_id) for r in body.remove]:
        del new_rows[key]
    for values in records:
        new_key = (values["officer_id"], values["date"], values["slot_id"])
        if new_key not in old_rows and new_key in rows:
            # an added row whose key, once trimmed, names a stored row: that row changes
            old_rows[new_key] = rows[new_key]
        new_rows[new_key] = values
    return _apply(
        store,
        principal,
        head,
        old_rows,
        new_rows,
        count=count,
        force=force,
        action="roster.assignments.edit",
        method="PATCH",
        source="request body",
    )
