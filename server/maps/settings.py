"""Settings of the coverage maps, from ``DUTYGRID_MAP_*`` environment variables.

By default a map makes no request outside the service: its background is the district's own
boundary and roads. A base map of tiles is drawn only when one is configured: 天地图 Tianditu
(``tiles="tianditu"`` with a key) or an intranet tile server (``tiles="url"`` with a URL template).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geodata.coords import CoordSystem

TileSource = Literal["none", "tianditu", "url"]


class MapSettings(BaseSettings):
    """How coverage maps are drawn and where their roster comes from.

    Built once by ``create_app()`` (through :func:`server.routes.maps.install`) and the command
    line; never at import time.
    """

    model_config = SettingsConfigDict(env_prefix="DUTYGRID_MAP_", extra="ignore")

    tiles: TileSource = Field(
        "none",
        description="base map: none (the district's own boundary and roads), tianditu, or url",
    )
    tianditu_key: SecretStr | None = Field(
        None, description="the 天地图 Tianditu browser key (tk) for tiles='tianditu'"
    )
    tile_url: str | None = Field(
        None,
        description="tile URL template for tiles='url', e.g. http://tiles.intranet/{z}/{x}/{y}.png",
    )
    tile_coords: CoordSystem = Field(
        "wgs84",
        description="the coordinate system of the base map: wgs84 (also CGCS2000, Tianditu) or "
        "gcj02 (Amap-style tiles; the map's geometries are shifted to sit on it)",
    )
    tile_attribution: str = Field("", description="the credit line of the tile source")
    tile_max_zoom: int = Field(18, ge=1, le=22, description="the deepest zoom of the tiles")
    policy_file: Path | None = Field(
        None, description="the duty policy (TOML) to read coverage by; the bundled Huiji policy"
    )
    roster_file: Path | None = Field(
        None,
        description="an assignment table (CSV or .xlsx) shown when the database holds no roster",
    )
    staff_file: Path | None = Field(
        None, description="the staff list (CSV or .xlsx) for names and phone numbers"
    )
    max_unit_grids: int = Field(
        4000,
        gt=0,
        description="unit grids drawn at full detail on a map; more are simplified",
    )

    @model_validator(mode="after")
    def _tiles_complete(self) -> MapSettings:
        if self.tiles == "tianditu" and self.tianditu_key is None:
            raise ValueError("tiles='tianditu' needs tianditu_key (DUTYGRID_MAP_TIANDITU_KEY)")
        if self.tiles == "url" and not self.tile_url:
            raise ValueError("tiles='url' needs tile_url (DUTYGRID_MAP_TILE_URL)")
        if self.tiles == "tianditu" and self.tile_coords != "wgs84":
            raise ValueError("Tianditu tiles are CGCS2000: leave tile_coords at wgs84")
        return self
