"""A roster's duty sheet (排班表) as an Excel workbook, for squad leaders to print."""

from __future__ import annotations

import warnings
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParameter

from geodata.errors import FieldError, GeodataWarning
from grids.duty_sheet import duty_sheet_bytes
from server.auth import Permission, Principal
from server.dependencies import StoreDep, require, weak_etag
from server.duty_sheets import duty_sheet_filename, stored_duty_sheet
from server.errors import problem_responses
from server.routes.rosters import load_roster

router = APIRouter(tags=["rosters"])

XLSX: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DutiesReader = Annotated[Principal, Depends(require(Permission.READ_DUTIES))]


def content_disposition(filename: str, fallback: str) -> str:
    """Return an ``attachment`` disposition naming ``filename`` (RFC 6266 with RFC 5987).

    ``fallback`` is the plain ASCII name for clients that do not read ``filename*``.
    """
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/rosters/{roster_id}/sheet.xlsx",
    summary="Download a roster's duty sheet",
    response_class=Response,
    responses={
        200: {
            "description": (
                "the duty sheet: a worksheet per squad, day by day (who is on each post in each"
                " slot, the duty leader, uncovered cells marked 空岗), and a sheet of hours"
                " (工时统计) against the labour rules; demo or schematic data labelled"
            ),
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "Content-Disposition": {
                    "description": "attachment; the file name, 排班表-<roster id>.xlsx",
                    "schema": {"type": "string"},
                },
                "ETag": {"description": "the roster's version", "schema": {"type": "string"}},
            },
        },
        **problem_responses(404, 422),
    },
)
def roster_sheet(
    roster_id: Annotated[str, PathParameter(description="the roster, e.g. 2026-W49-1")],
    store: StoreDep,
    reader: DutiesReader,
) -> Response:
    """Download a roster's duty sheet (排班表) to print: per squad, each day's posts by slot."""
    # the roster routes' rule: should officers ever read sheets, a draft stays hidden from them
    stored = load_roster(store, roster_id, reader)
    with warnings.catch_warnings():
        # the demand's notes (zones without a squad…) are for planners, not for the sheet
        warnings.simplefilter("ignore", GeodataWarning)
        try:
            book = stored_duty_sheet(store, stored)
        except ValueError as exc:  # a week the holiday calendar does not cover
            raise FieldError(str(exc), field="week") from None
    content = duty_sheet_bytes(book)
    filename = duty_sheet_filename(stored.info.roster_id)
    fallback = duty_sheet_filename(stored.info.roster_id, ascii_only=True)
    return Response(
        content,
        media_type=XLSX,
        headers={
            "Content-Disposition": content_disposition(filename, fallback),
            "ETag": weak_etag("roster-sheet", stored.info.roster_id, stored.version),
        },
    )
