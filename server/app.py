"""The dutygrid web service: :func:`create_app` builds it from :class:`~server.settings.Settings`.

Run it with ``dutygrid serve``. The app opens its database when it starts (bringing the schema up
to date) and closes it when it stops; every error becomes an ``application/problem+json`` answer
(:mod:`server.errors`).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Final

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geodata.errors import FileTooLargeError
from server import ogc
from server.errors import PROBLEMS, add_exception_handlers, problem_response
from server.jobs import JobRegistry
from server.ogc.fast_lane import ItemsLane
from server.ogc.page_cache import stop_watching, watch_commits
from server.ogc.sources import layer_sources
from server.routes import ROUTERS
from server.routes import assignments as assignment_routes
from server.routes import maps as map_routes
from server.routes import policy as policy_routes
from server.routes import roster_sheet as roster_sheet_routes
from server.routes import rosters as roster_routes
from server.routes import staff as staff_routes
from server.settings import Settings
from server.storage import Store, database_url

FORM_OVERHEAD: Final = 1 << 20
"""Bytes an upload request may have beyond its file: the form fields and multipart boundaries."""

UPLOAD_PATHS: Final = ("/imports", "/officers", "/policy", "/rosters")
UPLOAD_METHODS: Final = ("POST", "PUT")


class _BodyTooLargeError(Exception):
    """A request body that grew past the limit while it was being received."""


class UploadLimit:
    """Refuse upload requests whose body is larger than the limit, before reading them whole.

    A request that declares a larger ``Content-Length`` is answered at once; one that sends more
    than it may without declaring it is cut off as soon as it passes the limit. Either way the
    answer is a 413 problem.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, paths: tuple[str, ...]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths

    def _response(self) -> ASGIApp:
        kind = PROBLEMS[FileTooLargeError]
        limit = (self.max_bytes - FORM_OVERHEAD) / 1024**2
        return problem_response(
            kind.status,
            kind.title,
            f"the upload is larger than the limit of {limit:.1f} MiB per file",
            slug=kind.slug,
            error=FileTooLargeError.__name__,
            field="file",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, refusing its body once it is larger than the limit."""
        if (
            scope["type"] != "http"
            or scope["method"] not in UPLOAD_METHODS
            or not scope["path"].startswith(self.paths)
        ):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._response()(scope, receive, send)
            return
        received = 0
        cut_off = False
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    cut_off = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if not cut_off:
                await send(message)
                return
            # the app answers the broken body with an error of its own: send the 413 instead
            if message["type"] == "http.response.start" and not answered:
                answered = True
                await self._response()(scope, receive, send)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLargeError:
            if not answered:
                answered = True
                await self._response()(scope, receive, send)


@cache
def _freeze_start_up() -> None:
    """Leave the objects of the start-up out of the garbage collector's passes, once a process.

    The modules, the app and its routes live as long as the process; left in, every full pass
    walks them all and holds up the requests for a tenth of a second at a time, instead of a few
    milliseconds. Once a process: a later app (in tests, many) is left to the collector.
    """
    gc.collect()
    gc.freeze()


def add_offline_docs(app: FastAPI) -> None:
    """Serve the API docs (Swagger UI) from the installed ``swagger-ui-bundle`` package.

    FastAPI's default docs page loads Swagger UI from a CDN, which a government intranet cannot
    reach; this page makes no request outside the service.
    """
    app.mount(
        "/static/swagger-ui",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger-ui",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Show the API documentation (Swagger UI), served without the internet."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )


def create_app(settings: Settings) -> FastAPI:
    """Return the dutygrid service.

    Parameters
    ----------
    settings
        The database, limits and options of the service.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url(settings.database_url)
        store = Store.open(url)
        app.state.store = store
        app.state.jobs.attach(store)  # jobs a previous process left unfinished: interrupted
        watch_commits(store, url)  # kept OGC pages are then given without a query
        _freeze_start_up()
        try:
            yield
        finally:
            app.state.jobs.close()  # a running solve finishes before its store closes
            stop_watching(store)
            store.close()

    app = FastAPI(
        title=settings.title,
        summary="Unit grids, fixed posts, duty rosters and coverage maps for city management",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from installed assets: bureau intranets have no internet
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.jobs = JobRegistry()
    app.state.feature_sources = layer_sources()
    map_routes.install(app)
    add_offline_docs(app)
    add_exception_handlers(app)
    for router in (
        *ROUTERS,
        staff_routes.router,
        policy_routes.router,
        roster_routes.router,
        assignment_routes.router,
        roster_sheet_routes.router,
    ):
        app.include_router(router)
    app.include_router(ogc.router)
    app.add_middleware(
        UploadLimit,
        max_bytes=settings.max_upload_bytes + FORM_OVERHEAD,
        paths=UPLOAD_PATHS,
    )
    app.add_middleware(ItemsLane)  # outermost: pages of OGC items skip the framework
    return app
