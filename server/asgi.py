"""The service as an ASGI app factory, for servers that start it by name in each worker process.

``dutygrid serve --workers N`` runs it so; any ASGI server may too, e.g.
``uvicorn --factory server.asgi:app_from_environment --workers 2``, with the settings (the
database first, ``DUTYGRID_DATABASE_URL``) in the environment.
"""

from __future__ import annotations

from fastapi import FastAPI

from server.app import create_app
from server.settings import Settings


def app_from_environment() -> FastAPI:
    """Return the service on the settings of the environment (``DUTYGRID_*`` variables)."""
    return create_app(Settings())
