"""The coverage map of a day and its gap list, for duty leaders; and where their assets come from.

:func:`install` adds the maps to the service: the routes here and in
:mod:`server.routes.coverage`, the ``coverage`` collection of the OGC API, and the static assets
(Leaflet from its installed package under ``/static/vendor``, the map's own script under
``/static/maps``). The pages make no request outside the service unless base tiles are
configured (:class:`~server.maps.settings.MapSettings`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from server.auth import Permission, Principal
from server.coverage_cache import coverage_day
from server.dependencies import StoreDep, require
from server.errors import InvalidParameterError, problem_responses
from server.maps.collection import CoverageSource
from server.maps.i18n import Language
from server.maps.layers import page_data
from server.maps.page import coverage_page, gaps_page
from server.maps.service import CoverageService, DayCoverage
from server.maps.settings import MapSettings
from server.maps.vendor import APP_PREFIX, ASSETS_DIR, VENDOR_PREFIX, vendor_packages
from server.routes import coverage
from server.routes.coverage import (
    DayParameter,
    RosterParameter,
    SlotParameter,
    duty_day_of,
    roster_of,
)
from server.storage import Store

router = APIRouter(prefix="/maps", tags=["maps"])

DutiesReader = Annotated[Principal, Depends(require(Permission.READ_DUTIES))]
LangParameter = Annotated[Language, Query(description="zh (中文) or en (English)")]


def get_coverage_service(request: Request) -> CoverageService:
    """Return the coverage service the app was given by :func:`install`."""
    service: CoverageService = request.app.state.coverage_service
    return service


ServiceDep = Annotated[CoverageService, Depends(get_coverage_service)]


def duty_day(
    service: CoverageService, store: Store, day: str | None, roster: str | None
) -> DayCoverage:
    """Return the coverage of the day ``day`` names (the duty day on now when None).

    The day is kept as the coverage answers keep it (:func:`server.coverage_cache.coverage_day`).

    Raises
    ------
    InvalidParameterError
        If ``day`` is not a date.
    """
    return coverage_day(service, store, duty_day_of(service, day), roster_of(roster))


def check_slot(view: DayCoverage, slot: str | None) -> None:
    """Refuse a slot the day does not have.

    Raises
    ------
    InvalidParameterError
        If ``slot`` is not one of the day's slots.
    """
    known = [s.id for s in view.slots]
    if slot is not None and slot not in known:
        raise InvalidParameterError(
            f"{view.day} has no slot {slot!r}; its slots are {', '.join(known)}", field="slot"
        )


def _query(view: DayCoverage, roster: str | None, lang: Language) -> dict[str, str]:
    query = {"date": view.day.isoformat(), "lang": lang}
    if roster is not None:
        query["roster"] = roster
    return query


@router.get(
    "/coverage",
    response_class=HTMLResponse,
    summary="Coverage map of a day",
    responses=problem_responses(404),
)
def coverage_map(
    *,
    store: StoreDep,
    service: ServiceDep,
    _reader: DutiesReader,
    day: DayParameter = None,
    slot: SlotParameter = None,
    roster: RosterParameter = None,
    lang: LangParameter = "zh",
) -> HTMLResponse:
    """Map the coverage of a day, slot by slot: roads, unit grids, posts and who is where."""
    view = duty_day(service, store, day, roster)
    check_slot(view, slot)
    settings = service.settings
    data = page_data(
        view,
        coords=settings.drawn_coords,
        max_unit_grids=settings.max_unit_grids,
        now=service.clock(),
    )
    query = _query(view, roster, lang)
    gaps_query = {k: v for k, v in query.items() if k != "lang"}
    page = coverage_page(
        data,
        lang=lang,
        settings=settings,
        initial_slot=slot,
        links={"gaps": f"/maps/gaps?{urlencode(gaps_query)}"},
    )
    return HTMLResponse(page)


@router.get(
    "/gaps",
    response_class=HTMLResponse,
    summary="Gap list of a day",
    responses=problem_responses(404),
)
def gap_list(
    *,
    store: StoreDep,
    service: ServiceDep,
    _reader: DutiesReader,
    day: DayParameter = None,
    roster: RosterParameter = None,
    lang: LangParameter = "zh",
) -> HTMLResponse:
    """List the day's gaps, strict posts first, each linked to its place on the map."""
    view = duty_day(service, store, day, roster)
    query = _query(view, roster, lang)
    return HTMLResponse(gaps_page(view, lang=lang, map_url="/maps/coverage", query=query))


def install(app: FastAPI, settings: MapSettings | None = None) -> None:
    """Add the maps to the service: assets, routes and the ``coverage`` OGC collection.

    Call it after ``app.state.feature_sources`` is set.

    Parameters
    ----------
    app
        The service.
    settings
        The map settings; read from ``DUTYGRID_MAP_*`` variables when None.
    """
    settings = settings if settings is not None else MapSettings()
    service = CoverageService(settings)
    app.state.coverage_service = service
    for package in vendor_packages():
        app.mount(
            f"{VENDOR_PREFIX}/{package.name}",
            StaticFiles(directory=package.directory),
            name=f"vendor-{package.name}",
        )
    app.mount(APP_PREFIX, StaticFiles(directory=ASSETS_DIR), name="maps-assets")
    sources: dict[str, Any] = app.state.feature_sources
    sources[CoverageSource(service).id] = CoverageSource(service)
    app.include_router(router)
    app.include_router(coverage.router)
