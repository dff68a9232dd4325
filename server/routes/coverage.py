"""Coverage as JSON: a day or a slot of it, and now (for duty leaders' dashboards and scripts).

An answer gives the headline figures, the slots, the timeline, the covered length by road, level,
squad and area, and the gaps; each post's record only with ``detail=posts`` (most of a day's
bytes). Answers are kept per worker until an input is written (:mod:`server.coverage_cache`); a
day's answer carries an ``ETag``, and ``If-None-Match`` with it gets 304.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from grids.coverage import (
    DutySlot,
    coverage_by_post,
    coverage_summary,
    covered_length,
    day_timeline,
    gaps,
    seamless_check,
    slot_at,
)
from grids.policy import DAY_TYPES, huiji_default_policy
from server.auth import Permission, Principal
from server.coverage_cache import CoverageAnswer, coverage_answer, encode
from server.dependencies import StoreDep, not_modified, require
from server.errors import InvalidParameterError, problem_responses
from server.maps.collection import records
from server.maps.service import CoverageService, DayCoverage
from server.routes.coverage_schema import COVERAGE_NOW_SCHEMA, COVERAGE_SCHEMA, TEXT
from server.storage import Store

router = APIRouter(prefix="/coverage", tags=["coverage"])

DutiesReader = Annotated[Principal, Depends(require(Permission.READ_DUTIES))]


FIRST_DAY: Final = date(1900, 1, 1)
"""The first duty day the service answers for."""
LAST_DAY: Final = date(2999, 12, 31)
"""The last duty day the service answers for (a week's slots must stay inside the calendar)."""


def _bundled_slot_ids() -> list[str]:
    policy = huiji_default_policy()
    found = {s.id: None for day_type in DAY_TYPES for s in policy.slots_for(day_type)}
    return list(found)


DayParameter = Annotated[
    str | None,
    Query(
        alias="date",
        pattern=r"^(19|2\d)\d{2}-\d{2}-\d{2}$",
        description="the duty day, YYYY-MM-DD; by default the duty day on now (before the first "
        "slot of a morning, the day before)",
        json_schema_extra={"format": "date"},
    ),
]
"""The ``date`` query parameter of the coverage routes."""

SlotParameter = Annotated[
    str | None,
    Query(
        description="a slot of the day (the slot ids of the duty policy); the whole day if none",
        json_schema_extra={"enum": _bundled_slot_ids()},
    ),
]
"""The ``slot`` query parameter of the coverage routes (documented with the bundled policy's
slot ids; a bureau's own policy may have others)."""


def duty_day_of(service: CoverageService, text: str | None) -> date:
    """Return the duty day a ``date`` parameter names, or the duty day on now.

    Raises
    ------
    InvalidParameterError
        If ``text`` is not a date, or one outside :data:`FIRST_DAY` to :data:`LAST_DAY`.
    """
    if text is None:
        return slot_at(service.clock(), service.policy, calendar=service.calendar).date
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidParameterError(
            f"date {text!r} is not a date YYYY-MM-DD", field="date"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidParameterError(
            f"date {text!r} is outside {FIRST_DAY} to {LAST_DAY}", field="date"
        )
    return day


def roster_of(text: str | None) -> str | None:
    """Return the roster id a ``roster`` parameter names; None (the day's roster) if empty."""
    return text.strip() or None if text is not None else None


RosterParameter = Annotated[
    str | None,
    Query(
        description="the roster id (404 if none is stored, or if it is another week's); by "
        "default the latest published roster of the day's week, else its latest"
    ),
]


Detail = Literal["summary", "posts"]
"""How much an answer gives: ``summary`` leaves out each post's record, ``posts`` adds them."""

DetailParameter = Annotated[
    Detail,
    Query(
        description="summary: headline figures, timeline, covered length by road, level, squad "
        "and area, and gaps; posts: the same and each post's record (required and assigned "
        "staff, status)"
    ),
]
"""The ``detail`` query parameter of the coverage routes."""

_POST_COLUMNS = (
    "post_id",
    "kind",
    "level",
    "road_name_zh",
    "squad_id",
    "length_m",
    "status",
    "required",
    "required_officers",
    "required_any",
    "counted",
    "officers",
    "assistants",
    "people",
)


def _service(request: Request) -> CoverageService:
    service: CoverageService = request.app.state.coverage_service
    return service


ServiceDep = Annotated[CoverageService, Depends(_service)]


def _slot_document(slot: DutySlot) -> dict[str, Any]:
    return {
        "id": slot.id,
        "name_zh": slot.slot.name_zh,
        "name_en": slot.slot.name_en,
        "kind": slot.slot.kind,
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
    }


def coverage_document(
    view: DayCoverage, slot_id: str | None, detail: Detail = "posts"
) -> dict[str, Any]:
    """Return the coverage of a day, or of one slot of it, as a JSON document.

    Parameters
    ----------
    view
        The day matched to its roster.
    slot_id
        The slot; None for the whole day.
    detail
        ``posts`` to give each post's record (``posts``), ``summary`` to leave them out.

    Raises
    ------
    InvalidParameterError
        If the day has no slot ``slot_id``.
    """
    known = {s.id: s for s in view.slots}
    if slot_id is not None and slot_id not in known:
        raise InvalidParameterError(
            f"{view.day} has no slot {slot_id!r}; its slots are {', '.join(known)}", field="slot"
        )
    matched = view.coverage
    lengths = {
        key: records(covered_length(matched, view.day, slot_id, by=key))
        for key in ("road", "level", "squad")
    }
    if matched.post_grids is not None:
        # by unit grid too long for an answer: the map shades the unit grids
        for key in ("responsibility_grid", "subdistrict"):
            lengths[key] = records(covered_length(matched, view.day, slot_id, by=key))
    document: dict[str, Any] = {
        "date": view.day.isoformat(),
        "slot": _slot_document(known[slot_id]) if slot_id is not None else None,
        "slots": [_slot_document(s) for s in view.slots],
        "roster": {
            "id": view.roster.roster_id,
            "status": view.roster.status,
            "source": view.roster.source,
            "assignments": len(matched.assignments),
        },
        "summary": coverage_summary(matched, view.day, slot_id).to_dict(),
        "seamless": seamless_check(matched, view.day).to_dict(),
        "timeline": records(day_timeline(matched, view.day)),
        "lengths": lengths,
        "gaps": records(gaps(matched, view.day, slot_id)),
    }
    if detail == "posts":
        posts = coverage_by_post(matched, view.day, slot_id)
        document["posts"] = records(posts[list(_POST_COLUMNS)])
    return document


def _answer(
    service: CoverageService,
    store: Store,
    day: date,
    roster: str | None,
    *,
    slot: str | None,
    detail: Detail,
) -> CoverageAnswer:
    return coverage_answer(
        service,
        store,
        day,
        roster_of(roster),
        variant=(slot, detail),
        build=lambda view: coverage_document(view, slot, detail),
    )


@router.get(
    "",
    summary="Coverage of a day or a slot",
    response_class=Response,
    responses={
        200: {
            "description": "the coverage",
            "headers": {"ETag": {"description": "the version of the answer", "schema": TEXT}},
            "content": {"application/json": {"schema": COVERAGE_SCHEMA}},
        },
        304: {"description": "the answer has not changed since the ETag in If-None-Match"},
        **problem_responses(404),
    },
)
def coverage_of_day(
    *,
    request: Request,
    store: StoreDep,
    service: ServiceDep,
    _reader: DutiesReader,
    day: DayParameter = None,
    slot: SlotParameter = None,
    roster: RosterParameter = None,
    detail: DetailParameter = "summary",
) -> Response:
    """Return a day's (or a slot's) coverage: figures, timeline, lengths, gaps (posts on ask)."""
    answer = _answer(service, store, duty_day_of(service, day), roster, slot=slot, detail=detail)
    headers = {"ETag": answer.etag}
    if not_modified(request, answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


@router.get(
    "/now",
    summary="Coverage now",
    response_class=Response,
    responses={
        200: {
            "description": "the coverage of the slot on now",
            "content": {"application/json": {"schema": COVERAGE_NOW_SCHEMA}},
        },
        **problem_responses(404),
    },
)
def coverage_now(
    store: StoreDep,
    service: ServiceDep,
    _reader: DutiesReader,
    roster: RosterParameter = None,
    detail: DetailParameter = "summary",
) -> Response:
    """Return the coverage of the slot on now (a night slot after midnight: the day before's)."""
    now = service.clock()
    slot = slot_at(now, service.policy, calendar=service.calendar)
    body = _answer(service, store, slot.date, roster, slot=slot.id, detail=detail).body
    # the slot's answer, with the moment put first
    stamp = encode({"now": now.isoformat(timespec="seconds")})
    return Response(stamp[:-1] + b"," + body[1:], media_type="application/json")
