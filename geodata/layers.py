"""The layers dutygrid keeps, and the columns each one has.

A layer is a GeoDataFrame in EPSG:4326 with an ``id`` column (text, unique), the columns of its
:class:`LayerSpec`, an ``attrs`` column (a dict of the source attributes kept from the file it came
from) and a ``geometry`` column. Storage, export and the API all read these specs, so adding a
column happens here and in one migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["text", "integer", "real", "boolean", "json"]
GeometryFamily = Literal["polygon", "line", "point", "line_or_point"]

GEOMETRY_TYPE_IDS: dict[GeometryFamily, tuple[int, ...]] = {
    "point": (0,),
    "line": (1, 5),
    "polygon": (3, 6),
    "line_or_point": (0, 1, 5),
}
"""The shapely type ids each geometry family accepts."""

STORAGE_CRS = "EPSG:4326"


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer."""

    name: str
    kind: ColumnKind
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class LayerSpec:
    """What a layer holds.

    Parameters
    ----------
    name
        The layer's name, as used by the CLI (``--layer``), the database table and the API.
    title
        A human title for maps and the API.
    geometry
        The geometry family: ``polygon`` (Polygon or MultiPolygon), ``line``
        (LineString or MultiLineString), ``point``, or ``line_or_point`` (posts: road sections
        and fixed points in one layer).
    columns
        The attribute columns besides ``id``, ``attrs`` and ``geometry``.
    geometry_nullable
        Whether a feature may have no geometry (a community known by code before its polygon is).
    """

    name: str
    title: str
    geometry: GeometryFamily
    columns: tuple[Column, ...] = field(default_factory=tuple)
    geometry_nullable: bool = False

    @property
    def column_names(self) -> list[str]:
        """Return every column name in storage order: ``id``, the spec's columns, ``attrs``."""
        return ["id", *(c.name for c in self.columns), "attrs"]


def _text(name: str, description: str = "", *, nullable: bool = True) -> Column:
    return Column(name, "text", nullable, description)


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec(
            "boundary",
            "District boundary",
            "polygon",
            (_text("name_zh"), _text("name_en"), _text("code", "administrative division code")),
        ),
        LayerSpec(
            "subdistricts",
            "Sub-districts (街道/镇)",
            "polygon",
            (
                _text("code", "9-digit division code", nullable=False),
                _text("name_zh"),
                _text("name_en"),
                Column("schematic", "boolean", False, "true where the polygon is schematic"),
            ),
            geometry_nullable=True,
        ),
        LayerSpec(
            "communities",
            "Communities (社区/村)",
            "polygon",
            (
                _text("code", "12-digit division code", nullable=False),
                _text("name_zh"),
                _text("subdistrict_code", "9-digit code of the sub-district it belongs to"),
                Column("schematic", "boolean", False, "true where the polygon is schematic"),
            ),
            geometry_nullable=True,
        ),
        LayerSpec(
            "roads",
            "Roads",
            "line",
            (
                _text("name_zh"),
                _text("name_en"),
                _text(
                    "road_class",
                    "arterial, secondary, branch, back_street or other",
                    nullable=False,
                ),
                _text(
                    "level", "strict (严管), controlled (严控) or regulated (规范)", nullable=False
                ),
                Column("length_m", "real", False, "length in metres, measured in a projected CRS"),
            ),
        ),
        LayerSpec(
            "guidance_points",
            "Guidance points (疏导点)",
            "point",
            (
                _text("name_zh"),
                _text("name_en"),
                _text("road_name_zh", "the road the point is on"),
                _text("windows", "opening windows, e.g. '11:00-13:30;17:00-21:00'"),
                Column("radius_m", "real", True, "radius of the point post in metres"),
            ),
        ),
        LayerSpec(
            "zones",
            "Special zones",
            "polygon",
            (
                _text("name_zh"),
                _text("name_en"),
                _text("kind", "river_bank, night_market, ...", nullable=False),
                _text("squad_id", "the squad that owns the zone"),
            ),
        ),
        LayerSpec(
            "squads",
            "Squads (中队) and their territories",
            "polygon",
            (
                _text("name_zh"),
                _text("name_en"),
                _text("subdistrict_codes", "';'-separated sub-district codes the squad owns"),
            ),
            geometry_nullable=True,
        ),
        LayerSpec(
            "unit_grids",
            "Unit grids (单元网格)",
            "polygon",
            (
                _text(
                    "code",
                    "15-digit unit grid code (county 6 + sub-district 3 + community 3 + "
                    "sequence 3)",
                    nullable=False,
                ),
                _text("subdistrict_code", "9-digit code of the sub-district it lies in"),
                _text("community_code", "12-digit code of the community it lies in, if known"),
                Column("area_m2", "real", False, "area in square metres"),
                _text("mode", "how it was built: roads, square or hex", nullable=False),
                _text("squad_id", "the squad whose responsibility grid it belongs to"),
            ),
        ),
        LayerSpec(
            "responsibility_grids",
            "Responsibility grids (责任网格)",
            "polygon",
            (
                _text("squad_id", "the squad responsible", nullable=False),
                _text("name_zh"),
                Column("workload", "real", False, "level-weighted road length in metres"),
                Column("unit_grid_count", "integer", False, "number of unit grids"),
            ),
        ),
        LayerSpec(
            "posts",
            "Posts (岗位)",
            "line_or_point",
            (
                _text("kind", "segment (a road section) or point (a fixed point)", nullable=False),
                _text("road_id", "the road a segment post is cut from"),
                _text("road_name_zh"),
                _text("level", "strict, controlled or regulated", nullable=False),
                Column("length_m", "real", False, "length in metres (0 for a point post)"),
                Column("radius_m", "real", True, "radius of a point post in metres"),
                _text("unit_grid_codes", "';'-separated codes of the unit grids it runs through"),
                _text("squad_id", "the squad responsible"),
                _text(
                    "windows", "staffing windows of a point post, e.g. '11:00-13:30;17:00-21:00'"
                ),
            ),
        ),
    )
}


def layer_spec(name: str) -> LayerSpec:
    """Return the spec of layer ``name``.

    Raises
    ------
    KeyError
        If there is no such layer; the message lists the layers there are.
    """
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"no layer {name!r}; layers are: {', '.join(LAYERS)}") from None
