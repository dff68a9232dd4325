"""Configuration, from ``DUTYGRID_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE = "dutygrid.sqlite"


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
