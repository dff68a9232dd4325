"""OGC API – Features: the collections, one per layer, with their extents and links."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.dependencies import LayerReader, StoreDep
from server.ogc.geojson import GEOJSON, JSON, json_response
from server.ogc.landing import (
    CRS84,
    REL_SCHEMA,
    SCHEMA_JSON,
    CollectionId,
    FormatDep,
    SourcesDep,
    link,
    ogc_base,
)
from server.ogc.sources import FeatureSource, find_source
from server.storage import Store

router = APIRouter()


def collection_document(source: FeatureSource, store: Store, base: str) -> dict[str, Any]:
    """Return the description of one collection.

    Parameters
    ----------
    source
        The collection.
    store
        The database, for the extent.
    base
        The URL of the landing page.
    """
    href = f"{base}/collections/{quote(source.id, safe='')}"
    document: dict[str, Any] = {
        "id": source.id,
        "title": source.title,
        "description": source.description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            link(href, "self", JSON, f"the collection {source.id}"),
            link(f"{href}/items", "items", GEOJSON, f"the features of {source.id}"),
            link(f"{href}/schema", REL_SCHEMA, SCHEMA_JSON, f"the schema of {source.id}"),
            link(f"{base}/collections", "parent", JSON, "all collections"),
        ],
    }
    extent = source.extent(store)
    if extent is not None:
        document["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
    return document


@router.get("/collections", summary="Collections")
def collections(
    request: Request, store: StoreDep, sources: SourcesDep, _reader: LayerReader, _f: FormatDep
) -> Response:
    """List the collections: one per layer, with its extent in CRS84 and a link to its features."""
    base = ogc_base(request)
    return json_response(
        {
            "links": [
                link(f"{base}/collections", "self", JSON, "this document"),
                link(base, "root", JSON, "the landing page"),
            ],
            "collections": [collection_document(s, store, base) for s in sources.values()],
        }
    )


@router.get("/collections/{collection_id}", summary="Collection")
def collection(
    collection_id: CollectionId,
    request: Request,
    store: StoreDep,
    sources: SourcesDep,
    _reader: LayerReader,
    _f: FormatDep,
) -> Response:
    """Describe one collection: its title, extent in CRS84 and links to its features and schema."""
    source = find_source(sources, collection_id)
    return json_response(collection_document(source, store, ogc_base(request)))
