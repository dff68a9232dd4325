"""A short way through the service for pages of OGC items, past the framework.

A page of items that is kept (:mod:`server.ogc.page_cache`) costs a few hundred microseconds to
give, a page read afresh a few milliseconds; the framework around the route (routing, dependency
injection, parameter validation, a worker thread for each synchronous dependency) costs
milliseconds more. :class:`ItemsLane` answers ``GET /ogc/collections/{id}/items`` of a stored
layer itself when the request is plainly valid and its token was checked lately
(:func:`server.auth.recent_token`): a kept page whose layer has not been written since its
version was read (:class:`server.ogc.page_cache.CommitWatch`) on the event loop, any other page
in a worker thread. The answer is the one the route gives (:func:`server.ogc.items.items_response`),
200 or 304. Every other request (no token, a session cookie, a token not checked lately, a
parameter the lane does not take as plainly valid, another collection, a page that fails) goes on
to the route, which answers it, errors included, as ever.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Final, Literal
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from server.auth import (
    Permission,
    Principal,
    authenticate_token,
    note_token_used,
    recent_token,
)
from server.dependencies import basic_secret
from server.errors import AuthError, InvalidParameterError
from server.ogc.geojson import Bounds, parse_bbox
from server.ogc.items import CRS84_NAMES, items_response
from server.ogc.landing import FORMATS
from server.ogc.pages import MAX_ROWS
from server.ogc.sources import LayerSource
from server.settings import Settings
from server.storage import Store

logger = logging.getLogger("dutygrid.server")

PREFIX: Final = "/ogc/collections/"
SUFFIX: Final = "/items"
PARAMETERS: Final = frozenset({"bbox", "limit", "offset", "datetime", "bbox-crs", "crs", "f"})
"""The query parameters of the items route; others are ignored, as the route ignores them."""


class _DeclinedError(Exception):
    """The request is not one the lane answers: the route answers it."""


@dataclass(frozen=True)
class _Asked:
    """A request for a page of a stored layer, checked: who asks, and for what."""

    store: Store
    source: LayerSource
    secret: str = field(repr=False)
    via: Literal["bearer", "basic"]
    bbox: Bounds | None
    page_size: int
    offset: int
    datetime: str | None
    bbox_crs: str | None
    crs: str | None


def _count(value: str | None, *, least: int) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not value.isascii():
        raise _DeclinedError
    number = int(value)
    if not least <= number <= MAX_ROWS:
        raise _DeclinedError
    return number


def _crs(value: str | None) -> str | None:
    if value is not None and value.strip() not in CRS84_NAMES:
        raise _DeclinedError
    return value


class ItemsLane:
    """ASGI middleware: answer requests for pages of stored layers' OGC items before the framework.

    The app it wraps must keep its store, settings and collections in ``app.state`` (``store``,
    ``settings``, ``feature_sources``), as :func:`server.app.create_app` does.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lookups: dict[tuple[int, str, str], asyncio.Future[tuple[Principal, bool]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a page of items, or pass the request on."""
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(PREFIX)
            and scope["path"].endswith(SUFFIX)
            and not scope.get("root_path")
        ):
            try:
                asked = self._asked(scope)
                principal, due = await self._principal(asked)
                page = asked.source.kept_page(
                    asked.store, bbox=asked.bbox, limit=asked.page_size, offset=asked.offset
                )
                if page is None:
                    page = await run_in_threadpool(
                        partial(
                            asked.source.items,
                            asked.store,
                            bbox=asked.bbox,
                            limit=asked.page_size,
                            offset=asked.offset,
                            datetime=asked.datetime,
                        )
                    )
                response = items_response(
                    Request(scope),
                    asked.source,
                    page,
                    page_size=asked.page_size,
                    offset=asked.offset,
                    bbox_crs=asked.bbox_crs,
                    crs=asked.crs,
                )
            except _DeclinedError:
                pass
            except Exception:  # the route answers it again, with its error
                logger.debug("a page of items goes to the route", exc_info=True)
            else:
                await response(scope, receive, send)
                if due:
                    await run_in_threadpool(note_token_used, asked.store, principal.token_id)
                return
        await self.app(scope, receive, send)

    def _asked(self, scope: Scope) -> _Asked:
        """Return what the request asks for and who asks; raise _DeclinedError if not for us."""
        collection_id = scope["path"][len(PREFIX) : -len(SUFFIX)]
        if not collection_id or "/" in collection_id:
            raise _DeclinedError
        state = scope["app"].state
        store: Store | None = getattr(state, "store", None)
        settings: Settings | None = getattr(state, "settings", None)
        source = getattr(state, "feature_sources", {}).get(collection_id)
        if store is None or settings is None or not isinstance(source, LayerSource):
            raise _DeclinedError
        authorization = Headers(scope=scope).get("authorization")
        if not authorization:
            raise _DeclinedError  # a session, or no credentials: the route answers
        scheme, _, value = authorization.strip().partition(" ")
        via: Literal["bearer", "basic"]
        if scheme.lower() == "bearer" and value.strip():
            secret, via = value.strip(), "bearer"
        elif scheme.lower() == "basic" and value.strip():
            try:
                secret, via = basic_secret(value).strip(), "basic"
            except AuthError:
                raise _DeclinedError from None
        else:
            raise _DeclinedError
        params: dict[str, str] = {}
        for name, value in parse_qsl(
            scope["query_string"].decode("latin-1"), keep_blank_values=True
        ):
            if name in PARAMETERS:
                if name in params:
                    raise _DeclinedError
                params[name] = value
        limit = _count(params.get("limit"), least=1)
        offset = _count(params.get("offset"), least=0) or 0
        f = params.get("f")
        if f is not None and f.lower() not in FORMATS:
            raise _DeclinedError
        try:
            bbox = parse_bbox(params.get("bbox"))
        except InvalidParameterError:
            raise _DeclinedError from None
        bbox_crs, crs = _crs(params.get("bbox-crs")), _crs(params.get("crs"))
        return _Asked(
            store=store,
            source=source,
            secret=secret,
            via=via,
            bbox=bbox,
            page_size=min(limit or settings.ogc_default_limit, settings.ogc_max_limit),
            offset=offset,
            datetime=params.get("datetime"),
            bbox_crs=bbox_crs,
            crs=crs,
        )

    async def _principal(self, asked: _Asked) -> tuple[Principal, bool]:
        """Return who asks and whether their token's last-used time is due to be written.

        A token not checked lately is looked up in a worker thread, once for all the requests
        that carry it meanwhile: they wait for that lookup rather than each making its own.
        """
        try:
            found = recent_token(asked.store, asked.secret, via=asked.via)
            if found is None:
                key = (id(asked.store), asked.via, asked.secret)
                lookup = self._lookups.get(key)
                if lookup is None:
                    lookup = self._lookups[key] = asyncio.ensure_future(
                        run_in_threadpool(
                            partial(authenticate_token, asked.store, asked.secret, via=asked.via)
                        )
                    )
                    lookup.add_done_callback(lambda _: self._lookups.pop(key, None))
                    found = await asyncio.shield(lookup)
                else:
                    await asyncio.shield(lookup)  # the first request writes the last-used time
                    found = recent_token(asked.store, asked.secret, via=asked.via)
        except AuthError:
            raise _DeclinedError from None
        if found is None or not found[0].can(Permission.READ_LAYERS):
            raise _DeclinedError
        return found
