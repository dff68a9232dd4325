"""OGC API – Features (Part 1 Core, GeoJSON, OpenAPI 3.0) over the layers, at ``/ogc``."""

from __future__ import annotations

from fastapi import APIRouter

from server.ogc import collections, items, landing, schema

router = APIRouter(tags=["OGC API – Features"])
for _module in (landing, collections, items, schema):
    router.include_router(_module.router, prefix="/ogc")

__all__ = ["router"]
