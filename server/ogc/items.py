"""OGC API – Features: the features of a collection, paged by ``limit``/``offset``, and one feature.

Paging follows OGC API – Features Part 1: ``limit`` defaults to the configured page size and is
capped (not refused) at the maximum; a ``next`` link is given while features follow, a ``prev``
link after the first page. ``numberMatched`` is given only where it costs nothing to know.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from server.dependencies import LayerReader, SettingsDep, StoreDep, not_modified, weak_etag
from server.errors import InvalidParameterError
from server.ogc.geojson import (
    BBOX_EXAMPLE,
    GEOJSON,
    JSON,
    feature_collection_response,
    feature_collection_schema,
    feature_schema,
    geojson_content,
    json_response,
    parse_bbox,
)
from server.ogc.landing import CRS84, CollectionId, FormatDep, SourcesDep, link, ogc_base
from server.ogc.pages import MAX_ROWS
from server.ogc.sources import FeatureSource, Page, find_source

router = APIRouter()


CRS84_NAMES: Final = (CRS84, "CRS84", "OGC:CRS84")
"""The names of CRS84 that ``crs`` and ``bbox-crs`` accept: the only CRS of this service."""


def _check_crs(value: str | None, name: str) -> None:
    if value is not None and value.strip() not in CRS84_NAMES:
        raise InvalidParameterError(
            f"{name} must be {CRS84}: this service answers in CRS84 longitude/latitude",
            field=name,
        )


def page_urls(request: Request) -> Callable[[int, int], str]:
    """Return a function of ``limit`` and ``offset`` that gives the URL of that page.

    The URL is the request's with ``limit`` and ``offset`` set, the other parameters kept in
    their order before them: what ``request.url.include_query_params`` gives, with the query
    parsed and encoded once for all the links of a page.
    """
    url = request.url
    kept = [
        (name, value)
        for name, value in parse_qsl(url.query, keep_blank_values=True)
        if name not in ("limit", "offset")
    ]
    head = f"{url.replace(query='')}?{urlencode(kept)}{'&' if kept else ''}"
    return lambda limit, offset: f"{head}limit={limit}&offset={offset}"


@router.get(
    "/collections/{collection_id}/items",
    summary="Features",
    response_class=Response,
    responses={
        **geojson_content(feature_collection_schema(), "a page of features"),
        304: {"description": "the page has not changed since the ETag in If-None-Match"},
    },
)
def items(
    collection_id: CollectionId,
    *,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    sources: SourcesDep,
    _reader: LayerReader,
    _f: FormatDep,
    bbox: Annotated[
        str | None,
        Query(
            description="min lon,min lat,max lon,max lat (CRS84), e.g. 113.55,34.80,113.75,34.96",
            examples=[BBOX_EXAMPLE],
        ),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="features per page (capped at the maximum)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ROWS, description="features to skip")] = 0,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="an instant or interval; layers ignore it"),
    ] = None,
    bbox_crs: Annotated[
        str | None,
        Query(
            alias="bbox-crs",
            description="CRS84 only",
            json_schema_extra={"enum": list(CRS84_NAMES)},
        ),
    ] = None,
    crs: Annotated[
        str | None,
        Query(description="CRS84 only", json_schema_extra={"enum": list(CRS84_NAMES)}),
    ] = None,
) -> Response:
    """Return features of a collection as GeoJSON, within ``bbox``, a page at a time."""
    source = find_source(sources, collection_id)
    _check_crs(bbox_crs, "bbox-crs")
    _check_crs(crs, "crs")
    box = parse_bbox(bbox)
    page_size = min(limit or settings.ogc_default_limit, settings.ogc_max_limit)
    page = source.items(store, bbox=box, limit=page_size, offset=offset, datetime=datetime_)
    return items_response(
        request, source, page, page_size=page_size, offset=offset, bbox_crs=bbox_crs, crs=crs
    )


def items_response(
    request: Request,
    source: FeatureSource,
    page: Page,
    *,
    page_size: int,
    offset: int,
    bbox_crs: str | None,
    crs: str | None,
) -> Response:
    """Return a page of a collection's items as the items route answers it (200, or 304).

    Parameters
    ----------
    request
        The request for the page.
    source
        The collection.
    page
        The page, of ``page_size`` features from ``offset`` on.
    page_size
        The features per page, as asked for and capped.
    offset
        The features skipped.
    bbox_crs, crs
        The ``bbox-crs`` and ``crs`` parameters as given (CRS84 by any name), for the ETag.
    """
    base = ogc_base(request)
    collection_href = f"{base}/collections/{quote(source.id, safe='')}"
    page_url = page_urls(request)
    self_url = page_url(page_size, offset)
    headers = {}
    if page.version is not None:
        headers["ETag"] = weak_etag(page.version, self_url, collection_href, bbox_crs, crs)
        if not_modified(request, headers["ETag"]):
            return Response(status_code=304, headers=headers)
    links = [
        link(self_url, "self", GEOJSON, "this page"),
        link(collection_href, "collection", JSON, f"the collection {source.id}"),
    ]
    if page.more:
        next_url = page_url(page_size, offset + page_size)
        links.append(link(next_url, "next", GEOJSON, "the next page"))
    if offset > 0:
        prev_url = page_url(page_size, max(offset - page_size, 0))
        links.append(link(prev_url, "prev", GEOJSON, "the previous page"))
    members: dict[str, Any] = {
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "numberReturned": len(page.features),
        "links": links,
    }
    if page.number_matched is not None:
        members["numberMatched"] = page.number_matched
    return feature_collection_response(
        members, page.features, headers=headers, encoded=page.encoded
    )


@router.get(
    "/collections/{collection_id}/items/{feature_id:path}",
    summary="Feature",
    response_class=Response,
    responses=geojson_content(feature_schema(), "the feature"),
)
def item(
    collection_id: CollectionId,
    feature_id: str,
    request: Request,
    store: StoreDep,
    sources: SourcesDep,
    _reader: LayerReader,
    _f: FormatDep,
) -> Response:
    """Return one feature of a collection as a GeoJSON Feature."""
    source = find_source(sources, collection_id)
    feature = source.item(store, feature_id)
    collection_href = f"{ogc_base(request)}/collections/{quote(source.id, safe='')}"
    feature["links"] = [
        link(f"{collection_href}/items/{quote(feature_id, safe='')}", "self", GEOJSON, "this"),
        link(collection_href, "collection", JSON, f"the collection {source.id}"),
    ]
    return json_response(feature, media_type=GEOJSON)
