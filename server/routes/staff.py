"""Squads and the people to roster: who there is, one person, and the staff list as a file.

``PUT /officers`` replaces the staff list with an uploaded CSV or Excel file, read as
``dutygrid staff import`` reads it: a file with any bad row is refused whole (422), every problem
listed with the row as the spreadsheet shows it, the field, the value and what is wrong; nothing
is written. Uploading the same list again changes nothing and says so. A planner's token changes
only the people of the squads it is granted; the rest of the list is kept as it is.

Officers' tokens see only their own record; viewers see no personal data.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import openpyxl
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from geodata.crs import to_metric
from geodata.errors import GeodataError
from grids.policy import DAY_TYPES, DutyPolicy, huiji_default_policy
from grids.staff import Officer, read_staff, write_staff_csv
from server.audit import SAMPLE_IDS, entry_for, record
from server.auth import Permission, Principal, Role
from server.dependencies import SettingsDep, StoreDep, check_if_match, require, weak_etag
from server.errors import (
    InvalidParameterError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    UnsupportedUploadError,
    problem_responses,
)
from server.roster_store import RosterStore, officer_to_dict
from server.routes.imports import save_upload, upload_name
from server.storage import Store

router = APIRouter(tags=["staff"])

STAFF_SUFFIXES: Final = (".csv", ".xlsx")
"""The staff file types the service reads: CSV (UTF-8 or GBK/GB18030) and Excel workbooks."""
XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

SquadReader = Annotated[Principal, Depends(require(Permission.READ_LAYERS))]
StaffReader = Annotated[Principal, Depends(require(Permission.READ_OWN_STAFF))]
StaffWriter = Annotated[Principal, Depends(require(Permission.WRITE_STAFF))]
StaffRole = Literal["officer", "assistant", "leader"]


# --- response models -------------------------------------------------------------------------


class Headcount(BaseModel):
    """How many people there are of each role."""

    officer: int = Field(description="officers (执法队员)")
    assistant: int = Field(description="assistants (协管员/劝导员)")
    leader: int = Field(description="duty leaders (带班领导)")
    total: int


class Squad(BaseModel):
    """A squad (中队): its territory and its people."""

    id: str
    name_zh: str | None
    name_en: str | None
    territory_km2: float | None = Field(description="area of its territory; null if not drawn")
    unit_grids: int = Field(description="unit grids (单元网格) assigned to it")
    responsibility_grids: int = Field(description="its responsibility grids (责任网格)")
    headcount: Headcount
    in_squads_layer: bool = Field(description="false for a squad only the staff list names")


class SquadList(BaseModel):
    """The squads, and the people who belong to none (district duty leaders)."""

    squads: list[Squad]
    district_staff: Headcount = Field(description="people of no squad")


class Leave(BaseModel):
    """Leave from ``start`` to ``end``, both included."""

    start: date
    end: date
    kind: str


class StaffWish(BaseModel):
    """A wish to work (``on``) or not on a day, or in one slot of it."""

    date: date
    slot_id: str | None
    on: bool
    weight: float


class OfficerRecord(BaseModel):
    """A person who can be rostered."""

    id: str = Field(description="staff number (工号)")
    name: str
    squad_id: str | None
    role: StaffRole
    contract_hours_week: float
    phone: str | None
    availability: dict[str, list[str]] = Field(
        description="weekday (mon…sun) → the slots the person may work; other days unrestricted"
    )
    leave: list[Leave]
    requests: list[StaffWish]
    demo: bool = Field(description="true for made-up people (demonstration data)")


class OfficerList(BaseModel):
    """People of the staff list, by id."""

    officers: list[OfficerRecord]
    count: int
    source: str | None = Field(description="the file the list came from; null if none")


class StaffChanges(BaseModel):
    """How an upload changed the staff list (ids listed up to a sample size)."""

    people_before: int
    people_after: int
    added: int
    removed: int
    changed: int
    kept: int
    added_ids: list[str]
    removed_ids: list[str]
    changed_ids: list[str]


class StaffUpload(BaseModel):
    """What an uploaded staff list did."""

    unchanged: bool = Field(description="true if the list was already this: nothing written")
    message: str
    file: str
    sha256: str = Field(description="SHA-256 of the uploaded file")
    people: int = Field(description="people in the file")
    by_role: Headcount
    squads: list[str] | None = Field(description="the squads replaced; null for the whole list")
    changes: StaffChanges
    audit_id: int | None = Field(description="the audit entry of the change; null if unchanged")


# --- helpers ---------------------------------------------------------------------------------


def headcount(officers: Iterable[Officer]) -> Headcount:
    """Return how many of ``officers`` there are of each role."""
    counts = Counter(o.role for o in officers)
    return Headcount(
        officer=counts["officer"],
        assistant=counts["assistant"],
        leader=counts["leader"],
        total=sum(counts.values()),
    )


def staff_etag(officers: Iterable[Officer]) -> str:
    """Return the ETag of a staff list: it changes when anyone is added, removed or changed."""
    rows = sorted((officer_to_dict(o) for o in officers), key=lambda row: row["id"])
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True)
    return weak_etag("staff", hashlib.sha256(text.encode("utf-8")).hexdigest())


def _record(officer: Officer) -> OfficerRecord:
    return OfficerRecord(
        id=officer.id,
        name=officer.name,
        squad_id=officer.squad_id,
        role=officer.role,
        contract_hours_week=officer.contract_hours_week,
        phone=officer.phone,
        availability={
            _WEEKDAYS[day - 1]: sorted(slots) for day, slots in officer.availability.items()
        },
        leave=[Leave(start=p.start, end=p.end, kind=p.kind) for p in officer.leave],
        requests=[
            StaffWish(date=r.date, slot_id=r.slot_id, on=r.on, weight=r.weight)
            for r in officer.requests
        ],
        demo=officer.demo,
    )


def _known_squads(store: Store) -> dict[str, str]:
    """Return the squads of the squads layer: id → Chinese name (the id where it has none)."""
    squads = store.read_layer("squads")
    return {
        str(i): str(n) if isinstance(n, str) and n else str(i)
        for i, n in zip(squads["id"], squads["name_zh"], strict=True)
    }


def _slot_ids(policy: DutyPolicy) -> list[str]:
    return sorted({slot.id for day_type in DAY_TYPES for slot in policy.slots_for(day_type)})


def _may_read_all(principal: Principal) -> bool:
    return principal.can(Permission.READ_STAFF)


def _visible(principal: Principal, officers: Sequence[Officer]) -> list[Officer]:
    """Return the people the principal may see: all, or an officer's own record."""
    if _may_read_all(principal):
        return list(officers)
    return [o for o in officers if o.id == principal.officer_id]


def _changes(before: Sequence[Officer], after: Sequence[Officer]) -> StaffChanges:
    old = {o.id: officer_to_dict(o) for o in before}
    new = {o.id: officer_to_dict(o) for o in after}
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    return StaffChanges(
        people_before=len(old),
        people_after=len(new),
        added=len(added),
        removed=len(removed),
        changed=len(changed),
        kept=len(old.keys() & new.keys()) - len(changed),
        added_ids=added[:SAMPLE_IDS],
        removed_ids=removed[:SAMPLE_IDS],
        changed_ids=changed[:SAMPLE_IDS],
    )


def _staff_csv(officers: Iterable[Officer]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dutygrid-staff-") as folder:
        path = Path(folder) / "staff.csv"
        write_staff_csv(officers, path)
        return path.read_bytes()


def _staff_xlsx(officers: Iterable[Officer]) -> bytes:
    """Return the staff list as a workbook whose cells are those of :func:`_staff_csv`."""
    text = _staff_csv(officers).decode("utf-8-sig")
    book = openpyxl.Workbook()
    sheet = book.create_sheet("staff", 0)
    del book[book.sheetnames[1]]
    for row in csv.reader(io.StringIO(text, newline="")):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _check_encoding(encoding: str | None) -> str | None:
    if encoding is None or not encoding.strip():
        return None
    try:
        codecs.lookup(encoding.strip())
    except LookupError:
        raise InvalidParameterError(
            f"unknown encoding {encoding!r}; Chinese files are mostly utf-8, gbk or gb18030",
            field="encoding",
        ) from None
    return encoding.strip()


def _hide_folder(exc: GeodataError, folder: str) -> None:
    """Take the temporary folder of an upload out of an error: users know only the file."""
    prefix = str(Path(folder)) + "/"
    exc.message = exc.message.replace(prefix, "")
    exc.args = tuple(a.replace(prefix, "") if isinstance(a, str) else a for a in exc.args)


def _read_upload(
    upload: UploadFile,
    name: str,
    *,
    max_bytes: int,
    squads: dict[str, str],
    slots: Sequence[str],
    encoding: str | None,
    sheet: str | None,
) -> tuple[list[Officer], str]:
    """Return the people of an uploaded staff file and the file's SHA-256."""
    with tempfile.TemporaryDirectory(prefix="dutygrid-upload-") as folder:
        path = save_upload(upload, Path(folder), name, max_bytes=max_bytes)
        data = path.read_bytes()
        if path.suffix.lower() == ".xlsx" and not data.startswith(_ZIP_MAGIC):
            raise UnsupportedUploadError(
                f"{name} is not an Excel workbook (.xlsx), though its name says so; save it "
                "from Excel as .xlsx, or as CSV",
                field="file",
                file=name,
            )
        try:
            officers = read_staff(
                path, squads=squads or None, slots=slots, encoding=encoding, sheet=sheet
            )
        except GeodataError as exc:
            _hide_folder(exc, folder)
            raise
    return officers, hashlib.sha256(data).hexdigest()


def _restricted_list(
    principal: Principal, current: Sequence[Officer], uploaded: Sequence[Officer]
) -> tuple[list[Officer], list[str] | None]:
    """Return the staff list after a principal's upload, and the squads it replaces.

    An admin's upload is the whole list (squads None). A planner's replaces the people of the
    squads its token grants and keeps everyone else.

    Raises
    ------
    PermissionDenied
        If the file has people of other squads, or of none (district duty leaders), or a person
        whom the stored list has in a squad the token may not change.
    """
    if principal.role is Role.ADMIN:
        return list(uploaded), None
    granted = set(principal.squads)
    granted_text = ", ".join(principal.squads) or "none"
    outside: dict[str, list[str]] = {}
    for officer in uploaded:
        if officer.squad_id not in granted:
            outside.setdefault(officer.squad_id or "(no squad)", []).append(officer.id)
    if outside:
        listed = "; ".join(
            f"{squad}: {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}"
            for squad, ids in sorted(outside.items())
        )
        raise PermissionDenied(
            f"the token {principal.token_id} may change only the people of its squads "
            f"({granted_text}); the file also lists people of other squads or of none "
            f"({listed}): take them out, or ask an admin to upload the whole list",
            squads=sorted(outside),
        )
    kept = [o for o in current if o.squad_id not in granted]
    kept_squad = {o.id: o.squad_id or "(no squad)" for o in kept}
    moved = sorted(o.id for o in uploaded if o.id in kept_squad)
    if moved:
        raise PermissionDenied(
            f"the file lists {', '.join(moved[:5])}, whom the staff list has in "
            f"{kept_squad[moved[0]]}, a squad the token {principal.token_id} may not change "
            f"(squads granted: {granted_text}); ask an admin to move them",
            officers=moved[:SAMPLE_IDS],
        )
    return sorted([*kept, *uploaded], key=lambda o: o.id), sorted(granted)


# --- squads ----------------------------------------------------------------------------------


@router.get("/squads", summary="List squads", response_model=SquadList)
def list_squads(store: StoreDep, _reader: SquadReader) -> SquadList:
    """List the squads with their territory, grids and headcount by role."""
    squads = store.read_layer("squads")
    unit_grids = Counter(str(s) for s in store.read_layer("unit_grids")["squad_id"].dropna())
    responsibility = Counter(
        str(s) for s in store.read_layer("responsibility_grids")["squad_id"].dropna()
    )
    officers = RosterStore(store).staff()
    areas: dict[str, float] = {}
    drawn = squads[squads.geometry.notna() & ~squads.geometry.is_empty]
    if not drawn.empty:
        metric = to_metric(drawn)
        areas = {str(i): float(a) / 1e6 for i, a in zip(metric["id"], metric.area, strict=True)}
    by_squad: dict[str | None, list[Officer]] = {}
    for officer in officers:
        by_squad.setdefault(officer.squad_id, []).append(officer)
    rows = []
    for squad_id, name_zh, name_en in zip(
        squads["id"], squads["name_zh"], squads["name_en"], strict=True
    ):
        key = str(squad_id)
        rows.append(
            Squad(
                id=key,
                name_zh=name_zh if isinstance(name_zh, str) else None,
                name_en=name_en if isinstance(name_en, str) else None,
                territory_km2=round(areas[key], 6) if key in areas else None,
                unit_grids=unit_grids[key],
                responsibility_grids=responsibility[key],
                headcount=headcount(by_squad.get(key, [])),
                in_squads_layer=True,
            )
        )
    known = {row.id for row in rows}
    for squad_id in sorted(s for s in by_squad if s is not None and s not in known):
        rows.append(
            Squad(
                id=squad_id,
                name_zh=None,
                name_en=None,
                territory_km2=None,
                unit_grids=unit_grids[squad_id],
                responsibility_grids=responsibility[squad_id],
                headcount=headcount(by_squad[squad_id]),
                in_squads_layer=False,
            )
        )
    return SquadList(squads=rows, district_staff=headcount(by_squad.get(None, [])))


# --- officers --------------------------------------------------------------------------------

_FILE_CONTENT: Final = {
    "text/csv": {"schema": {"type": "string"}},
    XLSX: {"schema": {"type": "string", "format": "binary"}},
}


@router.get(
    "/officers",
    summary="List officers",
    response_model=OfficerList,
    responses={200: {"description": "the people, or the list as a file", "content": _FILE_CONTENT}},
)
def list_officers(
    store: StoreDep,
    principal: StaffReader,
    squad: Annotated[str | None, Query(description="only the people of this squad")] = None,
    role: Annotated[StaffRole | None, Query(description="only the people of this role")] = None,
    fmt: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(alias="format", description="json, or the list as a staff file: csv or xlsx"),
    ] = "json",
) -> Any:
    """List the people (an officer's token: itself only), as JSON or as a CSV/Excel staff file."""
    everyone = RosterStore(store).staff()
    etag = staff_etag(everyone)
    chosen = [
        o
        for o in _visible(principal, everyone)
        if (squad is None or o.squad_id == squad) and (role is None or o.role == role)
    ]
    headers = {"ETag": etag}
    if fmt == "csv":
        headers["Content-Disposition"] = 'attachment; filename="staff.csv"'
        return Response(_staff_csv(chosen), media_type="text/csv", headers=headers)
    if fmt == "xlsx":
        headers["Content-Disposition"] = 'attachment; filename="staff.xlsx"'
        return Response(_staff_xlsx(chosen), media_type=XLSX, headers=headers)
    body = OfficerList(
        officers=[_record(o) for o in chosen],
        count=len(chosen),
        source=RosterStore(store).staff_source() if everyone else None,
    )
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)


@router.get(
    "/officers/{officer_id}",
    summary="An officer",
    response_model=OfficerRecord,
)
def get_officer(officer_id: str, store: StoreDep, principal: StaffReader) -> OfficerRecord:
    """Return one person of the staff list (an officer's token: only its own record)."""
    if not _may_read_all(principal) and officer_id != principal.officer_id:
        raise PermissionDenied(
            f"the token {principal.token_id} shows only its own officer's record "
            f"({principal.officer_id}), not {officer_id!r}",
            officer_id=officer_id,
        )
    for officer in RosterStore(store).staff():
        if officer.id == officer_id:
            return _record(officer)
    raise NotFound(
        f"no one with the staff number {officer_id!r} is on the staff list; "
        "GET /officers lists who there is"
    )


def _write_staff(
    store: Store,
    principal: Principal,
    officers: list[Officer],
    *,
    checked_etag: str | None,
    source: str,
    summary: dict[str, Any],
) -> int:
    rosters = RosterStore(store)
    connection: Connection
    with store.transaction() as connection:
        if checked_etag is not None:
            now = staff_etag(rosters.staff(connection=connection))
            if now != checked_etag:
                raise PreconditionFailed(
                    "the staff list changed while the file was being checked; read it again "
                    "and redo the upload",
                    field="If-Match",
                    etag=now,
                )
        rosters.replace_staff(officers, source=source, connection=connection)
        entry = entry_for(
            principal, action="staff.replace", method="PUT", route="/officers", summary=summary
        )
        return record(connection, entry)


@router.put(
    "/officers",
    summary="Replace the staff list",
    response_model=StaffUpload,
    responses=problem_responses(412, 413, 415, 422, 428),
)
def replace_officers(
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: StaffWriter,
    file: Annotated[UploadFile, File(description="the staff list: .csv (UTF-8 or GBK) or .xlsx")],
    encoding: Annotated[str | None, Form(description="CSV text encoding, e.g. gbk")] = None,
    sheet: Annotated[str | None, Form(description="the sheet of a workbook to read")] = None,
) -> Response:
    """Replace the staff list with a CSV or Excel file; nothing is written if any row is wrong."""
    name = upload_name(file.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in STAFF_SUFFIXES:
        raise UnsupportedUploadError(
            f"{name}: a staff list is a .csv or .xlsx file, not {suffix or 'a file without one'}",
            field="file",
            file=name,
        )
    rosters = RosterStore(store)
    current = rosters.staff()
    etag_before = staff_etag(current)
    check_if_match(request, etag_before)
    checked_etag = etag_before if request.headers.get("if-match") else None
    policy = rosters.policy() or huiji_default_policy()
    uploaded, sha256 = _read_upload(
        file,
        name,
        max_bytes=settings.max_upload_bytes,
        squads=_known_squads(store),
        slots=_slot_ids(policy),
        encoding=_check_encoding(encoding),
        sheet=sheet.strip() if sheet and sheet.strip() else None,
    )
    after, squads = _restricted_list(principal, current, uploaded)
    if squads is not None:
        # the people kept were read before the file was checked: they must still be those
        checked_etag = etag_before
    changes = _changes(current, after)
    result: dict[str, Any] = {
        "file": name,
        "sha256": sha256,
        "people": len(uploaded),
        "by_role": headcount(uploaded),
        "squads": squads,
        "changes": changes,
    }
    if staff_etag(after) == etag_before:
        body = StaffUpload(
            unchanged=True,
            message=f"the staff list already is {name}; nothing changed",
            audit_id=None,
            **result,
        )
        return Response(
            body.model_dump_json(), media_type="application/json", headers={"ETag": etag_before}
        )
    summary = {
        "file": name,
        "sha256": sha256,
        "squads": squads,
        "before": {
            "source": rosters.staff_source(),
            "etag": etag_before,
            "by_role": headcount(current).model_dump(),
        },
        "after": {
            "source": name,
            "etag": staff_etag(after),
            "by_role": headcount(after).model_dump(),
        },
        **changes.model_dump(),
    }
    audit_id = _write_staff(
        store, principal, after, checked_etag=checked_etag, source=name, summary=summary
    )
    what = "the whole staff list" if squads is None else f"the people of {', '.join(squads)}"
    body = StaffUpload(
        unchanged=False,
        message=(
            f"replaced {what} with {len(uploaded)} people from {name}: {changes.added} added, "
            f"{changes.removed} removed, {changes.changed} changed"
        ),
        audit_id=audit_id,
        **result,
    )
    return Response(
        body.model_dump_json(), media_type="application/json", headers={"ETag": staff_etag(after)}
    )


__all__ = ["STAFF_SUFFIXES", "headcount", "router", "staff_etag"]
