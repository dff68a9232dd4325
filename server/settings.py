"""Configuration, from ``DUTYGRID_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE = "dutygrid.sqlite"

UPLOAD_SUFFIXES = (
    ".geojson",
    ".json",
    ".zip",
    ".gpkg",
    ".parquet",
    ".geoparquet",
    ".csv",
    ".txt",
    ".osm",
    ".pbf",
)
"""The file types the service accepts for import (a shapefile comes zipped with its side files)."""


class Settings(BaseSettings):
    """Settings of the dutygrid service and command line.

    Built once by ``create_app()`` or the CLI entry point and passed down; never at import time.
    """

    model_config = SettingsConfigDict(env_prefix="DUTYGRID_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE,
        description="SQLite file path or SQLAlchemy URL; a postgresql:// URL selects PostGIS",
    )
    max_upload_bytes: int = Field(
        2 * 1024**3, gt=0, description="the largest file accepted for import, in bytes"
    )
    upload_suffixes: tuple[str, ...] = Field(
        UPLOAD_SUFFIXES,
        min_length=1,
        description="the file name suffixes the service accepts for import, e.g. '.geojson'",
    )

    # --- the service -----------------------------------------------------------------------
    title: str = Field("dutygrid", description="the service's name in its API documents")
    ogc_default_limit: int = Field(
        100, gt=0, description="features per page of OGC API items when the client names none"
    )
    ogc_max_limit: int = Field(
        10_000, gt=0, description="the most features per page of OGC API items"
    )

    # --- who may do what ---------------------------------------------------------------------
    session_hours: float = Field(
        12.0, gt=0, description="how long a browser session lasts after signing in, in hours"
    )
    secure_cookies: bool | None = Field(
        None,
        description="mark the session cookie Secure; by default it is when the request came "
        "over https (behind a proxy: run uvicorn with --proxy-headers)",
    )
    token_days: int = Field(
        90, ge=0, description="days a new token is valid unless told otherwise; 0 for no expiry"
    )

    @field_validator("upload_suffixes")
    @classmethod
    def _lower_dotted(cls, suffixes: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(s.strip().lower() for s in suffixes)
        bad = [s for s in cleaned if not s.startswith(".") or len(s) < 2]
        if bad:
            raise ValueError(f"upload suffixes start with a dot, e.g. '.geojson', not {bad[0]!r}")
        return cleaned

    @model_validator(mode="after")
    def _default_within_max(self) -> Settings:
        if self.ogc_default_limit > self.ogc_max_limit:
            raise ValueError(
                f"ogc_default_limit ({self.ogc_default_limit}) exceeds ogc_max_limit "
                f"({self.ogc_max_limit})"
            )
        return self
