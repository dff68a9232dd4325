"""Settings of the coverage maps, from ``DUTYGRID_MAP_*`` environment variables.

By default a map makes no request outside the service: its background is the district's own
boundary and roads. A base map of tiles is drawn only when one is configured: 天地图 Tianditu
(``tiles="tianditu"`` with a key) or an intranet tile server (``tiles="url"`` with a URL template).
A tile server whose tiles are drawn in GCJ-02 (Amap/Gaode-style) is named by
``tile_coords="gcj02"``: every geometry of the map is then shifted from WGS84 to GCJ-02 (inside
China; the shift is nil outside it), so that roads and posts sit on the tiles' streets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geodata.coords import CoordSystem

TileSource = Literal["none", "tianditu", "url"]
BaseMapDatum = Literal["wgs84", "cgcs2000", "gcj02"]
"""The coordinates of a base map's tiles: WGS84 and CGCS2000 (Tianditu) agree to well under a
metre and need no shift; GCJ-02 (Amap/Gaode, Tencent) tiles do."""


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
    tile_coords: BaseMapDatum = Field(
        "wgs84",
        description="the coordinates of the base map's tiles: wgs84 or cgcs2000 (Tianditu; no "
        "shift), or gcj02 (Amap/Gaode-style tiles; the map's geometries are shifted to sit on "
        "them)",
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

    @property
    def drawn_coords(self) -> CoordSystem:
        """Return the coordinates a map draws in: GCJ-02 on a GCJ-02 base map, else WGS84."""
        return "gcj02" if self.tiles != "none" and self.tile_coords == "gcj02" else "wgs84"

    @model_validator(mode="after")
    def _tiles_complete(self) -> MapSettings:
        if self.tiles == "tianditu" and self.tianditu_key is None:
            raise ValueError("tiles='tianditu' needs tianditu_key (DUTYGRID_MAP_TIANDITU_KEY)")
        if self.tiles == "url" and not self.tile_url:
            raise ValueError("tiles='url' needs tile_url (DUTYGRID_MAP_TILE_URL)")
        if self.tiles == "tianditu" and self.tile_coords == "gcj02":
            raise ValueError("Tianditu tiles are CGCS2000: set tile_coords to cgcs2000 or wgs84")
        return self
