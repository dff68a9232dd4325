"""The service's routes, one module per resource, and the root document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from server.routes import audit, auth, imports, layers

root = APIRouter()


@root.get("/", summary="Service root", tags=["service"])
def service_root(request: Request) -> dict[str, Any]:
    """Link to the API documentation, the OGC API, the layers and the sign-in page."""
    base = str(request.base_url).rstrip("/")
    return {
        "title": request.app.title,
        "links": [
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html"},
            {"href": f"{base}/openapi.json", "rel": "service-desc", "type": "application/json"},
            {"href": f"{base}/ogc", "rel": "ogc-api-features", "type": "application/json"},
            {"href": f"{base}/layers", "rel": "data", "type": "application/json"},
            {"href": f"{base}/login", "rel": "login", "type": "text/html"},
        ],
    }


ROUTERS = (root, layers.router, imports.router, auth.router, audit.router)
"""The routers of the service, besides the OGC API (:mod:`server.ogc`)."""

__all__ = ["ROUTERS"]
