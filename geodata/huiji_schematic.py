"""Build the bundled schematic (示意) road network and zones of Huiji District, Zhengzhou.

No surveyed road centrelines exist for Huiji in any source the project may redistribute, so the
bundled demo data is drawn here, by code, around the real district boundary: the named roads sit
at plausible positions and cross exactly where the real road pairs in ``intersections.csv`` cross,
a few village roads cross the farmland, and unnamed branch roads and back streets cut the built-up
blocks. The network is connected and noded like a surveyed one: every road ends on another road or
at the boundary, and every crossing or T-junction is a vertex of both roads. Sub-districts, squad
territories and zones are schematic partitions of the real boundary. Every feature carries
``schematic: true`` and must be shown as 示意 wherever it is displayed.

The build is deterministic (fixed coordinates and a seeded random generator), so running
``python -m geodata.huiji_schematic`` again reproduces the bundled files byte for byte.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import split, substring

from geodata.errors import FieldError, InvalidGeometryError

_Geometry = TypeVar("_Geometry", bound=BaseGeometry)

STORAGE_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:4547"

#: The output files keep 7 decimals (about 1 cm); polygons are noded on the same grid.
OUTPUT_DECIMALS = 7
GRID_SIZE = 10.0**-OUTPUT_DECIMALS
#: Roads stay this far inside the boundary so that they are within it after rounding.
ROAD_INSET_M = 25.0
#: Clipped road pieces shorter than this are dropped.
MIN_ROAD_PIECE_M = 60.0
#: No road feature of the built network is shorter than this.
MIN_ROAD_M = 30.0
#: Road ends and crossings closer together than this are one junction.
JUNCTION_TOLERANCE_M = 0.01
#: A named road ending short of every road is extended along its last leg up to this far ...
MAX_NAMED_EXTENSION_M = 1000.0
#: ... or else cut back to its last junction if that is no further back than this ...
MAX_OVERHANG_M = 600.0
#: ... or else continued by an unnamed street up to this long (failing all, it is cut back).
MAX_CONTINUATION_M = 5000.0
#: New streets meet a road at least this far from any other junction on it.
MIN_JUNCTION_GAP_M = 50.0
#: A cut must leave blocks at least this large and this wide.
MIN_BLOCK_AREA_M2 = 10_000.0
MIN_BLOCK_WIDTH_M = 80.0
#: Random positions tried for each cut of a block before it is left whole.
CUT_ATTEMPTS = 8
#: Cuts fall within this fraction range of the block's longer side, tilted up to this angle.
CUT_FRACTIONS = (0.35, 0.65)
MAX_CUT_TILT_DEG = 3.0
#: Cuts at least this long are branch roads (支路); shorter ones are back streets (街巷).
MIN_BRANCH_CUT_M = 800.0
#: Width of the river-bank zone (沿黄区域), measured from the river edge of the boundary.
RIVER_BANK_WIDTH_M = 1500.0
#: Squad territory pieces smaller than this are given to the neighbouring squad.
MIN_TERRITORY_PIECE_M2 = 50_000.0
RANDOM_SEED = 410108

BOUNDARY_FILE = "huiji_410108_amap_wgs84.geojson"
SUBDISTRICTS_FILE = "huiji_subdistricts_nbs2023.csv"
COMMUNITIES_FILE = "huiji_communities_nbs2023.csv"
INTERSECTIONS_FILE = "intersections.csv"
OUTPUT_FILES = {
    "roads": "roads_schematic.geojson",
    "subdistricts": "subdistricts_schematic.geojson",
    "guidance_points": "guidance_points.geojson",
    "zones": "zones.geojson",
    "squads": "squads.geojson",
}

GRADE_ARTERIAL = "主干路"
GRADE_SECONDARY = "次干路"
GRADE_BRANCH = "支路"
GRADE_BACK_STREET = "街巷"

GUIDANCE_ROAD_ZH = "英才街"
GUIDANCE_WINDOWS = "11:00-13:30;17:00-21:00"
GUIDANCE_RADIUS_M = 50.0

RIVER_BANK_SQUAD_ID = "HJ-S-YH"
WOMENS_SQUAD_ID = "HJ-S-NZ"


@dataclass(frozen=True)
class _NamedRoad:
    name_zh: str
    name_en: str
    grade: str
    vertices: tuple[tuple[float, float], ...]


# Longitude/latitude of each named road; parallel roads are kept about 1 km apart and every pair in
# intersections.csv crosses once, well inside the district. 天河路 runs diagonally (SW-NE) so that
# it meets both 江山路 and 开元路. An end that stops short of every road is joined to the network
# when the roads are built (see _join_dangling_ends).
NAMED_ROADS: tuple[_NamedRoad, ...] = (
    _NamedRoad("文化路", "Wenhua Rd", GRADE_ARTERIAL, ((113.6555, 34.8500), (113.6545, 34.9260))),
    _NamedRoad("开元路", "Kaiyuan Rd", GRADE_ARTERIAL, ((113.6000, 34.8620), (113.6960, 34.8620))),
    _NamedRoad("迎宾路", "Yingbin Rd", GRADE_ARTERIAL, ((113.6760, 34.8845), (113.7860, 34.8745))),
    _NamedRoad(
        "中州大道", "Zhongzhou Ave", GRADE_ARTERIAL, ((113.7205, 34.8620), (113.7195, 34.9250))
    ),
    _NamedRoad("大河路", "Dahe Rd", GRADE_ARTERIAL, ((113.5880, 34.8770), (113.6930, 34.8770))),
    _NamedRoad("天河路", "Tianhe Rd", GRADE_ARTERIAL, ((113.5980, 34.8300), (113.6330, 34.8700))),
    _NamedRoad("花园路", "Huayuan Rd", GRADE_ARTERIAL, ((113.6835, 34.8500), (113.6825, 34.9150))),
    _NamedRoad(
        "江山路", "Jiangshan Rd", GRADE_ARTERIAL, ((113.6120, 34.8030), (113.6070, 34.9330))
    ),
    _NamedRoad(
        "国基路",
        "Guoji Rd",
        GRADE_SECONDARY,
        ((113.6500, 34.8695), (113.6900, 34.8700), (113.7320, 34.8750)),
    ),
    _NamedRoad("英才街", "Yingcai St", GRADE_SECONDARY, ((113.6500, 34.8910), (113.7020, 34.8910))),
    _NamedRoad(
        "清华园路", "Qinghuayuan Rd", GRADE_SECONDARY, ((113.6410, 34.8570), (113.6410, 34.8900))
    ),
    _NamedRoad(
        "香山路", "Xiangshan Rd", GRADE_SECONDARY, ((113.6690, 34.8570), (113.6690, 34.8965))
    ),
    _NamedRoad(
        "师家河路", "Shijiahe Rd", GRADE_SECONDARY, ((113.5950, 34.8720), (113.5950, 34.8950))
    ),
    _NamedRoad(
        "新城路", "Xincheng Rd", GRADE_SECONDARY, ((113.6190, 34.8400), (113.6190, 34.8700))
    ),
    _NamedRoad("博颂路", "Bosong Rd", GRADE_BRANCH, ((113.6460, 34.9095), (113.6630, 34.9095))),
    _NamedRoad("丰硕街", "Fengshuo St", GRADE_BRANCH, ((113.6480, 34.8725), (113.6480, 34.8880))),
    _NamedRoad("绿源路", "Lvyuan Rd", GRADE_BRANCH, ((113.6030, 34.8150), (113.6030, 34.8420))),
)


@dataclass(frozen=True)
class _BlockArea:
    """A box (lon/lat) whose blocks are cut by new streets until none exceeds ``max_block_m``."""

    bounds: tuple[float, float, float, float]
    max_block_m: float


# The first area holding a block's inner point sets how finely it is cut; blocks in no area
# (farmland and river bank) are left whole, crossed only by the village roads below.
BLOCK_AREAS: tuple[_BlockArea, ...] = (
    # the built-up core around 文化路, 花园路, 开元路 and 大河路
    _BlockArea((113.638, 34.850, 113.690, 34.878), 450.0),
    # the northern university town (北大学城) around 英才街, where campuses make larger blocks
    _BlockArea((113.640, 34.878, 113.700, 34.900), 650.0),
    # the southern tongue along 江山路, down to the North 3rd Ring
    _BlockArea((113.590, 34.800, 113.640, 34.852), 2000.0),
    # 新城 and the centre west of 清华园路; 迎宾路 and 中州大道 in the east
    _BlockArea((113.590, 34.852, 113.640, 34.905), 2800.0),
    _BlockArea((113.690, 34.855, 113.790, 34.895), 2800.0),
)


# Village roads through the farmland of 古荥 (lon/lat). The two east-west ones are extended west to
# the boundary (the southern one continues 大河路, the northern one ends on 师家河路), and the
# north-south ones between them are extended onto both, so that no stretch is longer than 3 km.
VILLAGE_ROADS: tuple[tuple[tuple[float, float], ...], ...] = (
    ((113.5350, 34.8745), (113.5500, 34.8740), (113.5650, 34.8755), (113.5880, 34.8770)),
    (
        (113.5360, 34.9000),
        (113.5510, 34.8990),
        (113.5660, 34.8978),
        (113.5810, 34.8940),
        (113.5950, 34.8900),
    ),
    ((113.5150, 34.8770), (113.5155, 34.8980)),
    ((113.5400, 34.8760), (113.5395, 34.8970)),
    ((113.5680, 34.8770), (113.5685, 34.8960)),
)


@dataclass(frozen=True)
class _SubdistrictSeed:
    name_en: str
    lon: float
    lat: float
    squad_id: str
    squad_zh: str
    squad_en: str


# Voronoi seeds: 花园口镇 along the river in the north-east, 古荥镇 in the west, the six 街道 in the
# built-up south and centre.
SUBDISTRICT_SEEDS: dict[str, _SubdistrictSeed] = {
    "410108001": _SubdistrictSeed(
        "Xincheng Subdistrict", 113.630, 34.890, "HJ-S-XC", "新城中队", "Xincheng Squad"
    ),
    "410108002": _SubdistrictSeed(
        "Liuzhai Subdistrict", 113.616, 34.845, "HJ-S-LZ", "刘寨中队", "Liuzhai Squad"
    ),
    "410108003": _SubdistrictSeed(
        "Jiangshanlu Subdistrict", 113.590, 34.872, "HJ-S-JS", "江山路中队", "Jiangshan Rd Squad"
    ),
    "410108004": _SubdistrictSeed(
        "Changxinglu Subdistrict", 113.612, 34.814, "HJ-S-CX", "长兴路中队", "Changxing Rd Squad"
    ),
    "410108005": _SubdistrictSeed(
        "Yingbinlu Subdistrict", 113.748, 34.874, "HJ-S-YB", "迎宾路中队", "Yingbin Rd Squad"
    ),
    "410108006": _SubdistrictSeed(
        "Dahelu Subdistrict", 113.668, 34.884, "HJ-S-DH", "大河路中队", "Dahe Rd Squad"
    ),
    "410108100": _SubdistrictSeed(
        "Huayuankou Town", 113.735, 34.904, "HJ-S-HY", "花园口中队", "Huayuankou Squad"
    ),
    "410108101": _SubdistrictSeed(
        "Guxing Town", 113.535, 34.905, "HJ-S-GX", "古荥中队", "Guxing Squad"
    ),
}

# The women's squad (女子中队) keeps a compact showcase territory: the blocks along 文化路's
# southern part.
WOMENS_SQUAD_BOX = (113.6485, 34.8500, 113.6625, 34.8685)


@dataclass(frozen=True)
class _NightMarket:
    name_zh: str
    name_en: str
    road_zh: str
    lat_range: tuple[float, float] | None
    lon_range: tuple[float, float] | None
    half_width_m: float


NIGHT_MARKETS: tuple[_NightMarket, ...] = (
    _NightMarket(
        "开元路夜市", "Kaiyuan Rd Night Market", "开元路", None, (113.6425, 113.6530), 90.0
    ),
    _NightMarket(
        "江山路夜市", "Jiangshan Rd Night Market", "江山路", (34.8160, 34.8260), None, 90.0
    ),
)

_TO_METRIC = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
_TO_STORAGE = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)


def build_huiji_schematic(
    boundary: gpd.GeoDataFrame,
    subdistricts: pd.DataFrame,
    communities: pd.DataFrame,
    intersections: pd.DataFrame,
) -> dict[str, gpd.GeoDataFrame]:
    """Build the schematic road network, sub-districts, squads and zones of Huiji District.

    Parameters
    ----------
    boundary
        The real district boundary (one or more polygon features, any CRS).
    subdistricts
        The sub-districts and towns, with text columns ``code`` (9 digits) and ``name``.
    communities
        The communities, with a ``subdistrict_code`` column; used to check that every community
        belongs to one of ``subdistricts``.
    intersections
        Which named roads cross which: columns ``road_a``, ``road_b``, ``road_a_en``,
        ``road_b_en``.

    Returns
    -------
    dict[str, geopandas.GeoDataFrame]
        The layers ``roads``, ``subdistricts``, ``guidance_points``, ``zones`` and ``squads``, each
        in EPSG:4326, sorted by ``id`` (``code`` for sub-districts), every feature marked
        ``schematic``.

    Raises
    ------
    FieldError
        If a table lacks a column, names a sub-district or road the layout does not know, or a
        community refers to an unknown sub-district.
    InvalidGeometryError
        If the boundary is empty, has no CRS, or is not polygonal, or if a pair of roads in
        ``intersections`` does not cross once, inside the boundary, in the built layout.
    """
    district = _district_polygon(boundary)
    _check_subdistricts(subdistricts, communities)
    _check_intersections(intersections)

    district_m = _to_metric(district)
    named_m = _named_lines(district_m)
    _check_crossings(named_m, intersections)
    roads = _build_roads(district_m, named_m)

    subdistrict_layer = _build_subdistricts(district, subdistricts)
    river_bank = _river_bank_zone(district, district_m)
    squads = _build_squads(district, subdistrict_layer, river_bank)
    zones = _build_zones(river_bank, roads, squads)
    guidance_points = _build_guidance_points(roads)
    return {
        "roads": roads,
        "subdistricts": subdistrict_layer,
        "guidance_points": guidance_points,
        "zones": zones,
        "squads": squads,
    }


def main(output_dir: str | Path | None = None) -> None:
    """Build the schematic layers from the bundled Huiji data and write them as GeoJSON.

    Parameters
    ----------
    output_dir
        The folder to write the files into; by default the bundled data folder
        ``geodata/data/huiji``, next to the inputs.
    """
    data = resources.files("geodata") / "data" / "huiji"
    with resources.as_file(data) as data_dir:
        boundary = gpd.read_file(data_dir / BOUNDARY_FILE)
        subdistricts = pd.read_csv(data_dir / SUBDISTRICTS_FILE, dtype=str)
        communities = pd.read_csv(data_dir / COMMUNITIES_FILE, dtype=str)
        intersections = pd.read_csv(data_dir / INTERSECTIONS_FILE, dtype=str)
        layers = build_huiji_schematic(boundary, subdistricts, communities, intersections)
        target = Path(output_dir) if output_dir is not None else data_dir
        target.mkdir(parents=True, exist_ok=True)
        for layer_name, file_name in OUTPUT_FILES.items():
            text = geojson_text(layers[layer_name], name=Path(file_name).stem)
            (target / file_name).write_text(text, encoding="utf-8")


def geojson_text(layer: gpd.GeoDataFrame, *, name: str) -> str:
    """Return ``layer`` as RFC 7946 GeoJSON text, one feature per line.

    Coordinates are rounded to 7 decimals, polygon rings are oriented counter-clockwise (holes
    clockwise), and non-ASCII text is written as is, so the same layer always gives the same text.

    Parameters
    ----------
    layer
        A layer in EPSG:4326.
    name
        The collection's ``name`` member.

    Raises
    ------
    InvalidGeometryError
        If the layer is not in EPSG:4326.
    """
    if layer.crs is None or not layer.crs.equals(STORAGE_CRS):
        raise InvalidGeometryError(f"GeoJSON must be written in {STORAGE_CRS}, not {layer.crs}")
    columns = [c for c in layer.columns if c != layer.geometry.name]
    lines = []
    for record, geometry in zip(layer[columns].to_dict("records"), layer.geometry, strict=True):
        feature = {
            "type": "Feature",
            "properties": {column: _json_value(record[column]) for column in columns},
            "geometry": _geometry_json(geometry),
        }
        lines.append(json.dumps(feature, ensure_ascii=False))
    header = json.dumps({"type": "FeatureCollection", "name": name}, ensure_ascii=False)
    return header[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _geometry_json(geometry: BaseGeometry) -> dict[str, Any]:
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    rounded = shapely.transform(oriented, _round_to_output)
    return dict(shapely.geometry.mapping(rounded))


# --- inputs -----------------------------------------------------------------------------------


def _district_polygon(boundary: gpd.GeoDataFrame) -> BaseGeometry:
    if boundary.crs is None:
        raise InvalidGeometryError("the district boundary has no CRS", field="geometry")
    geometries = boundary.to_crs(STORAGE_CRS).geometry
    if geometries.empty or geometries.is_empty.all():
        raise InvalidGeometryError("the district boundary is empty", field="geometry")
    district = shapely.make_valid(shapely.union_all(geometries.to_numpy(), grid_size=GRID_SIZE))
    polygons = [g for g in shapely.get_parts(district) if g.geom_type == "Polygon"]
    if not polygons:
        raise InvalidGeometryError("the district boundary is not a polygon", field="geometry")
    return shapely.union_all(polygons, grid_size=GRID_SIZE)


def _require_columns(table: pd.DataFrame, columns: Iterable[str], file: str) -> None:
    for column in columns:
        if column not in table.columns:
            raise FieldError(f"missing column {column!r}", file=file, field=column)


def _check_subdistricts(subdistricts: pd.DataFrame, communities: pd.DataFrame) -> None:
    _require_columns(subdistricts, ("code", "name"), SUBDISTRICTS_FILE)
    _require_columns(communities, ("code", "subdistrict_code"), COMMUNITIES_FILE)
    codes = [str(code) for code in subdistricts["code"]]
    for row, code in enumerate(codes, start=2):
        if code not in SUBDISTRICT_SEEDS:
            raise FieldError(
                f"no schematic placement for sub-district {code}",
                file=SUBDISTRICTS_FILE,
                row=row,
                field="code",
            )
    for row, code in enumerate(communities["subdistrict_code"], start=2):
        if str(code) not in codes:
            raise FieldError(
                f"community refers to unknown sub-district {code}",
                file=COMMUNITIES_FILE,
                row=row,
                field="subdistrict_code",
            )


def _check_intersections(intersections: pd.DataFrame) -> None:
    columns = ("road_a", "road_b", "road_a_en", "road_b_en")
    _require_columns(intersections, columns, INTERSECTIONS_FILE)
    english = {road.name_zh: road.name_en for road in NAMED_ROADS}
    for row, record in enumerate(intersections[list(columns)].to_dict("records"), start=2):
        for side in ("a", "b"):
            name_zh = record[f"road_{side}"]
            if name_zh not in english:
                raise FieldError(
                    f"no schematic layout for road {name_zh!r}",
                    file=INTERSECTIONS_FILE,
                    row=row,
                    field=f"road_{side}",
                )
            if record[f"road_{side}_en"] != english[name_zh]:
                raise FieldError(
                    f"{name_zh} is {english[name_zh]!r} in the layout, not "
                    f"{record[f'road_{side}_en']!r}",
                    file=INTERSECTIONS_FILE,
                    row=row,
                    field=f"road_{side}_en",
                )


def _check_crossings(lines: dict[str, LineString], intersections: pd.DataFrame) -> None:
    for row, (road_a, road_b) in enumerate(
        zip(intersections["road_a"], intersections["road_b"], strict=True), start=2
    ):
        crossing = lines.get(road_a, LineString()).intersection(lines.get(road_b, LineString()))
        if crossing.geom_type != "Point":
            raise InvalidGeometryError(
                f"{road_a} and {road_b} do not cross once in the schematic layout",
                file=INTERSECTIONS_FILE,
                row=row,
            )


# --- geometry helpers ---------------------------------------------------------------------------


def _to_metric(geometry: _Geometry) -> _Geometry:
    return shapely.transform(geometry, _project_forward)


def _to_storage(geometry: _Geometry) -> _Geometry:
    return shapely.transform(geometry, _project_back)


def _project_forward(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = _TO_METRIC.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _project_back(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = _TO_STORAGE.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _round_to_output(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.round(xy, OUTPUT_DECIMALS)


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Return the polygons of ``geometry`` (dropping lines and points left by overlays)."""
    valid = shapely.make_valid(geometry)
    polygons = [g for g in shapely.get_parts(valid) if g.geom_type == "Polygon" and g.area > 0]
    return shapely.union_all(polygons, grid_size=GRID_SIZE) if polygons else Polygon()


def _intersection(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return _polygonal(shapely.intersection(a, b, grid_size=GRID_SIZE))


def _difference(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return _polygonal(shapely.difference(a, b, grid_size=GRID_SIZE))


def _union(geometries: Iterable[BaseGeometry]) -> BaseGeometry:
    return _polygonal(shapely.union_all(list(geometries), grid_size=GRID_SIZE))


def _metric_area(geometry: BaseGeometry) -> float:
    return float(_to_metric(geometry).area)


# --- roads --------------------------------------------------------------------------------------


@dataclass
class _Street:
    """A road while the network is built: metric geometry, and its name if it has one."""

    line: LineString
    grade: str
    named: _NamedRoad | None = None


def _named_lines(district_m: BaseGeometry) -> dict[str, LineString]:
    """Return each named road (metres) clipped to the district, kept ``ROAD_INSET_M`` inside.

    Raises
    ------
    InvalidGeometryError
        If a named road would leave the district and come back, so it would not be one line.
    """
    inner = district_m.buffer(-ROAD_INSET_M)
    lines: dict[str, LineString] = {}
    for road in NAMED_ROADS:
        pieces = _clipped_pieces(_to_metric(LineString(road.vertices)), inner)
        if len(pieces) > 1:
            raise InvalidGeometryError(f"{road.name_zh} leaves the district and comes back")
        if pieces:
            lines[road.name_zh] = pieces[0]
    return lines


def _build_roads(district_m: BaseGeometry, named_m: dict[str, LineString]) -> gpd.GeoDataFrame:
    """Return the connected road network: named roads, village roads and cut-up blocks.

    Named roads stay one feature each; every unnamed street is split at its junctions, so each is
    a block-length segment between two junctions (or a junction and the boundary).
    """
    inner = district_m.buffer(-ROAD_INSET_M)
    main_part = max(shapely.get_parts(inner), key=lambda part: part.area)
    ring = LineString(main_part.exterior.coords)
    streets = [
        _Street(named_m[road.name_zh], road.grade, road)
        for road in NAMED_ROADS
        if road.name_zh in named_m
    ]
    for village_road in VILLAGE_ROADS:
        for piece in _clipped_pieces(_to_metric(LineString(village_road)), inner):
            streets.append(_Street(piece, GRADE_BRANCH))
    _join_dangling_ends(streets, ring)

    noded = _node_lines([street.line for street in streets] + [ring])
    edges = [edge for line, nodes in noded for edge in _split_at(line, nodes)]
    junctions = [line.coords[k] for line, nodes in noded for k in nodes]
    junctions += [
        xy for street in streets for xy in (street.line.coords[0], street.line.coords[-1])
    ]
    blocks = [face for face in shapely.get_parts(shapely.polygonize(edges)) if face.area > 0]
    areas = [(_to_metric(box(*area.bounds)), area.max_block_m) for area in BLOCK_AREAS]
    rng = np.random.default_rng(RANDOM_SEED)
    junction_xy = np.asarray(junctions, dtype=float)
    for block in blocks:
        cuts, junction_xy = _cut_block(block, areas, rng, junction_xy)
        for cut in cuts:
            grade = GRADE_BRANCH if cut.length >= MIN_BRANCH_CUT_M else GRADE_BACK_STREET
            streets.append(_Street(cut, grade))

    records: list[dict[str, Any]] = []
    for street, (line, nodes) in zip(
        streets, _node_lines([street.line for street in streets]), strict=True
    ):
        pieces = [line] if street.named is not None else _split_at(line, nodes)
        for piece in pieces:
            records.append(
                {
                    "name_zh": street.named.name_zh if street.named else None,
                    "name_en": street.named.name_en if street.named else None,
                    "grade": street.grade,
                    "geometry": shapely.transform(_to_storage(piece), _round_to_output),
                }
            )
    for number, record in enumerate(records, start=1):
        record["id"] = f"HJ-R{number:04d}"
        record["schematic"] = True
    roads = gpd.GeoDataFrame(records, geometry="geometry", crs=STORAGE_CRS)
    roads = roads[["id", "name_zh", "name_en", "grade", "schematic", "geometry"]]
    _check_network(roads, district_m)
    return roads


def _clipped_pieces(line_m: BaseGeometry, inner: BaseGeometry) -> list[LineString]:
    clipped = shapely.line_merge(line_m.intersection(inner))
    return [
        piece
        for piece in shapely.get_parts(clipped)
        if piece.geom_type == "LineString" and piece.length >= MIN_ROAD_PIECE_M
    ]


def _join_dangling_ends(streets: list[_Street], ring: LineString) -> None:
    """Make every road end on another road or on ``ring``, changing ``streets`` in place.

    An end short of every road is extended along its last leg to the first road (or the
    boundary) it meets; a named road is extended only up to ``MAX_NAMED_EXTENSION_M`` and is
    otherwise cut back to its last junction (if no more than ``MAX_OVERHANG_M`` back) or continued
    by an unnamed street.
    """
    index = 0
    while index < len(streets):
        street = streets[index]
        for at_start in (True, False):
            others = [s.line for k, s in enumerate(streets) if k != index]
            line = street.line
            coords = np.asarray(line.coords)
            end, before = (coords[0], coords[1]) if at_start else (coords[-1], coords[-2])
            end_point = Point(end)
            obstacles = [*others, ring]
            if min(end_point.distance(o) for o in obstacles) <= JUNCTION_TOLERANCE_M:
                continue
            direction = (end - before) / np.hypot(*(end - before))
            hit = _first_hit(end, direction, obstacles)
            overhang = _overhang(line, others, at_start=at_start)
            if hit is not None and (street.named is None or hit[0] <= MAX_NAMED_EXTENSION_M):
                coords[0 if at_start else -1] = hit[1]
                street.line = LineString(coords)
            elif overhang is not None and (
                overhang <= MAX_OVERHANG_M or hit is None or hit[0] > MAX_CONTINUATION_M
            ):
                street.line = _cut_back(line, overhang, at_start=at_start)
            elif hit is not None:
                streets.append(_Street(LineString([end, hit[1]]), GRADE_BRANCH))
            else:
                raise InvalidGeometryError("a schematic road leads out of the district")
        index += 1


def _first_hit(
    start: NDArray[np.float64], direction: NDArray[np.float64], obstacles: Sequence[BaseGeometry]
) -> tuple[float, NDArray[np.float64]] | None:
    """Return the distance to and the point of the first obstacle on a ray, if any."""
    reach = 100_000.0
    ray = LineString([start + direction * 2 * JUNCTION_TOLERANCE_M, start + direction * reach])
    hits = shapely.get_coordinates(shapely.intersection(ray, np.asarray(obstacles, dtype=object)))
    if len(hits) == 0:
        return None
    distances = np.hypot(*(hits - start).T)
    nearest = int(np.argmin(distances))
    return float(distances[nearest]), hits[nearest]


def _overhang(line: LineString, others: Sequence[LineString], *, at_start: bool) -> float | None:
    """Return how far the end of ``line`` lies past its last junction, or None without one."""
    positions = []
    for other in others:
        touching = [
            Point(xy)
            for xy in (other.coords[0], other.coords[-1])
            if line.distance(Point(xy)) <= JUNCTION_TOLERANCE_M
        ]
        crossing = [
            p
            for p in shapely.get_parts(line.intersection(other))
            if p.geom_type == "Point" and not p.is_empty
        ]
        positions += [line.project(p) for p in touching + crossing]
    if not positions:
        return None
    return min(positions) if at_start else line.length - max(positions)


def _cut_back(line: LineString, overhang: float, *, at_start: bool) -> LineString:
    if at_start:
        return _as_line(substring(line, overhang, line.length))
    return _as_line(substring(line, 0.0, line.length - overhang))


def _as_line(geometry: BaseGeometry) -> LineString:
    if not isinstance(geometry, LineString):
        raise InvalidGeometryError("a road was cut back to nothing")
    return geometry


def _node_lines(lines: Sequence[LineString]) -> list[tuple[LineString, list[int]]]:
    """Put a shared vertex at every junction of ``lines``; return each line and its junctions.

    A junction is a crossing of two lines or an end of one line on another; junctions closer
    together than ``JUNCTION_TOLERANCE_M`` are merged (an end wins over a crossing, so ends stay
    put). The junctions of each line are given as indices into its coordinates.

    Raises
    ------
    InvalidGeometryError
        If two lines overlap along a stretch.
    """
    geometries = np.asarray(lines, dtype=object)
    tree = shapely.STRtree(geometries)
    left, right = tree.query(geometries, predicate="dwithin", distance=JUNCTION_TOLERANCE_M)
    ends: list[tuple[float, float]] = []
    crossings: list[tuple[float, float]] = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i == j:
            continue
        a, b = lines[i], lines[j]
        for xy in (a.coords[0], a.coords[-1]):
            if b.distance(Point(xy)) <= JUNCTION_TOLERANCE_M:
                ends.append(xy)
        if i < j:
            for part in shapely.get_parts(a.intersection(b)):
                if part.is_empty:
                    continue
                if part.geom_type != "Point":
                    raise InvalidGeometryError("two schematic roads overlap along a stretch")
                crossings.append(part.coords[0])
    junctions = _merge_close_points([*ends, *crossings])
    junction_points: NDArray[np.object_] = np.asarray(shapely.points(junctions), dtype=object)
    junction_tree = shapely.STRtree(junction_points)
    noded = []
    for line in lines:
        near = junction_tree.query(line, predicate="dwithin", distance=JUNCTION_TOLERANCE_M)
        noded.append(_insert_vertices(line, junctions[np.sort(near)]))
    return noded


def _merge_close_points(points: Sequence[tuple[float, float]]) -> NDArray[np.float64]:
    merged = np.empty((0, 2))
    for xy in points:
        if len(merged) and np.hypot(*(merged - xy).T).min() <= JUNCTION_TOLERANCE_M:
            continue
        merged = np.vstack([merged, xy])
    return merged


def _insert_vertices(
    line: LineString, junctions: NDArray[np.float64]
) -> tuple[LineString, list[int]]:
    """Return ``line`` with each junction as a vertex, and the indices of those vertices."""
    coords = np.asarray(line.coords)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])
    is_junction = np.zeros(len(coords), dtype=bool)
    inserted: list[tuple[float, NDArray[np.float64]]] = []
    for xy in junctions:
        position = line.project(Point(xy))
        distances = np.hypot(*(coords - xy).T)
        nearest = int(np.argmin(distances))
        if distances[nearest] <= JUNCTION_TOLERANCE_M:
            coords[nearest] = xy
            is_junction[nearest] = True
        else:
            inserted.append((position, xy))
    order = sorted(
        [(float(p), 0, k) for k, p in enumerate(along)]
        + [(p, 1, k) for k, (p, _) in enumerate(inserted)]
    )
    merged = [coords[k] if kind == 0 else inserted[k][1] for _, kind, k in order]
    flags = [bool(is_junction[k]) if kind == 0 else True for _, kind, k in order]
    return LineString(merged), [k for k, flag in enumerate(flags) if flag]


def _split_at(line: LineString, junctions: Sequence[int]) -> list[LineString]:
    coords = np.asarray(line.coords)
    cuts = sorted({0, len(coords) - 1, *junctions})
    return [LineString(coords[a : b + 1]) for a, b in itertools.pairwise(cuts)]


def _cut_block(
    block: Polygon,
    areas: Sequence[tuple[BaseGeometry, float]],
    rng: np.random.Generator,
    junctions: NDArray[np.float64],
) -> tuple[list[LineString], NDArray[np.float64]]:
    """Cut a road-bounded block into smaller blocks by streets from edge to edge.

    Each cut runs across the longer side of the block's bounding box (so streets run roughly
    north-south or east-west), tilted a little, at a random position; the pieces are cut again
    until none is longer than the ``max_block_m`` of its area. Returns the cuts and the junctions
    with the new street ends added.
    """
    cuts: list[LineString] = []
    pending = [block]
    while pending:
        piece = pending.pop()
        inside = piece.representative_point()
        max_block = next((size for area, size in areas if area.contains(inside)), None)
        west, south, east, north = piece.bounds
        if max_block is None or max(east - west, north - south) <= max_block:
            continue
        for _ in range(CUT_ATTEMPTS):
            fraction = rng.uniform(*CUT_FRACTIONS)
            tilt = math.radians(rng.uniform(-MAX_CUT_TILT_DEG, MAX_CUT_TILT_DEG))
            cut = _try_cut(piece, fraction, tilt, junctions)
            if cut is not None:
                street, halves = cut
                cuts.append(street)
                junctions = np.vstack([junctions, street.coords[0], street.coords[-1]])
                pending.extend(halves)
                break
    return cuts, junctions


def _try_cut(
    piece: Polygon, fraction: float, tilt: float, junctions: NDArray[np.float64]
) -> tuple[LineString, list[Polygon]] | None:
    west, south, east, north = piece.bounds
    reach = (east - west) + (north - south)
    if east - west >= north - south:
        centre = np.array([west + fraction * (east - west), (south + north) / 2])
        direction = np.array([math.sin(tilt), math.cos(tilt)])
    else:
        centre = np.array([(west + east) / 2, south + fraction * (north - south)])
        direction = np.array([math.cos(tilt), math.sin(tilt)])
    across = LineString([centre - reach * direction, centre + reach * direction])
    parts = [
        p for p in shapely.get_parts(piece.intersection(across)) if p.geom_type == "LineString"
    ]
    if not parts:
        return None
    street = min(parts, key=lambda part: part.distance(Point(centre)))
    if street.length < 2 * MIN_JUNCTION_GAP_M:
        return None
    for xy in (street.coords[0], street.coords[-1]):
        if np.hypot(*(junctions - xy).T).min() < MIN_JUNCTION_GAP_M:
            return None
    # Split with the street reaching a millimetre past the edges, so that it surely cuts.
    start, end = np.asarray(street.coords[0]), np.asarray(street.coords[-1])
    overshoot = (end - start) / street.length * 1e-3
    halves = [
        h
        for h in shapely.get_parts(split(piece, LineString([start - overshoot, end + overshoot])))
        if h.geom_type == "Polygon"
    ]
    if len(halves) != 2 or any(not _roomy(h) for h in halves):
        return None
    return street, halves


def _roomy(block: Polygon) -> bool:
    """Return whether a block is large and wide enough to be left by a cut."""
    if block.area < MIN_BLOCK_AREA_M2:
        return False
    corners = shapely.get_coordinates(shapely.minimum_rotated_rectangle(block))
    sides = np.hypot(*np.diff(corners, axis=0).T)
    return bool(sides.min() >= MIN_BLOCK_WIDTH_M)


def _check_network(roads: gpd.GeoDataFrame, district_m: BaseGeometry) -> None:
    """Check that the roads as written form one noded, connected network.

    Raises
    ------
    InvalidGeometryError
        If two roads cross or touch other than at a vertex of both, a road ends short of every
        road and of the boundary, a road is shorter than ``MIN_ROAD_M``, or the network falls
        apart.
    """
    lines = roads.geometry.to_numpy()
    vertices = [set(map(tuple, shapely.get_coordinates(line).tolist())) for line in lines]
    tree = shapely.STRtree(lines)
    left, right = tree.query(lines, predicate="intersects")
    parent = list(range(len(lines)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        meeting = shapely.get_coordinates(shapely.intersection(lines[i], lines[j]))
        if any(
            tuple(xy) not in vertices[i] or tuple(xy) not in vertices[j] for xy in meeting.tolist()
        ):
            raise InvalidGeometryError(
                f"roads {roads['id'].iloc[i]} and {roads['id'].iloc[j]} meet off a shared vertex"
            )
        parent[root(i)] = root(j)
    boundary_m = district_m.boundary
    for k, line in enumerate(lines):
        if _to_metric(line).length < MIN_ROAD_M:
            raise InvalidGeometryError(f"road {roads['id'].iloc[k]} is shorter than {MIN_ROAD_M} m")
        for xy in (line.coords[0], line.coords[-1]):
            on_road = any(xy in vertices[other] for other in tree.query(Point(xy)) if other != k)
            near_edge = boundary_m.distance(_to_metric(Point(xy))) <= ROAD_INSET_M + 1.0
            if not (on_road or near_edge):
                raise InvalidGeometryError(f"road {roads['id'].iloc[k]} ends short of any road")
    if len({root(k) for k in range(len(lines))}) > 1:
        raise InvalidGeometryError("the schematic road network falls apart")


# --- sub-districts, zones and squads ------------------------------------------------------------


def _build_subdistricts(district: BaseGeometry, subdistricts: pd.DataFrame) -> gpd.GeoDataFrame:
    codes = sorted(str(code) for code in subdistricts["code"])
    names = dict(zip(subdistricts["code"].astype(str), subdistricts["name"], strict=True))
    seeds_m = [_to_metric(Point(SUBDISTRICT_SEEDS[c].lon, SUBDISTRICT_SEEDS[c].lat)) for c in codes]
    frame = _to_metric(district).envelope.buffer(5000.0)
    cells_m = shapely.voronoi_polygons(MultiPoint(seeds_m), extend_to=frame, ordered=True)
    cells = [_to_storage(cell) for cell in shapely.get_parts(cells_m)]
    pieces = [_intersection(district, cell) for cell in cells]
    # Give whatever the rounding left uncovered to the neighbour sharing the longest border.
    pieces = _fill_gaps(district, pieces)
    records = [
        {
            "code": code,
            "name_zh": names[code],
            "name_en": SUBDISTRICT_SEEDS[code].name_en,
            "schematic": True,
            "geometry": piece,
        }
        for code, piece in zip(codes, pieces, strict=True)
    ]
    return gpd.GeoDataFrame(records, geometry="geometry", crs=STORAGE_CRS)


def _fill_gaps(whole: BaseGeometry, pieces: list[BaseGeometry]) -> list[BaseGeometry]:
    pieces = list(pieces)
    gaps = _difference(whole, _union(pieces))
    for gap in shapely.get_parts(gaps):
        if gap.is_empty:
            continue
        shared = [shapely.intersection(gap.boundary, p.boundary).length for p in pieces]
        best = int(np.argmax(shared))
        pieces[best] = _union([pieces[best], gap])
    return pieces


def _river_edge(district_m: BaseGeometry) -> LineString:
    """Return the northern (Yellow River) part of the main boundary ring, in metres.

    It runs from the north-westernmost vertex to the easternmost one along the side of the ring
    that holds the northernmost vertex.
    """
    main_part = max(shapely.get_parts(district_m), key=lambda p: p.area)
    ring = np.asarray(main_part.exterior.coords)[:-1]
    start = int(np.argmin(ring[:, 0] - ring[:, 1]))
    end = int(np.argmax(ring[:, 0]))
    top = int(np.argmax(ring[:, 1]))
    n = len(ring)

    def walk(a: int, b: int) -> list[int]:
        return [(a + k) % n for k in range((b - a) % n + 1)]

    forward = walk(start, end)
    path = forward if top in forward else walk(end, start)[::-1]
    return LineString(ring[path])


def _river_bank_zone(district: BaseGeometry, district_m: BaseGeometry) -> BaseGeometry:
    strip_m = _river_edge(district_m).buffer(RIVER_BANK_WIDTH_M, cap_style="flat")
    return _intersection(district, _to_storage(strip_m))


def _build_squads(
    district: BaseGeometry, subdistricts: gpd.GeoDataFrame, river_bank: BaseGeometry
) -> gpd.GeoDataFrame:
    womens = _difference(_intersection(district, box(*WOMENS_SQUAD_BOX)), river_bank)
    taken = _union([river_bank, womens])
    territories: dict[str, BaseGeometry] = {
        RIVER_BANK_SQUAD_ID: river_bank,
        WOMENS_SQUAD_ID: womens,
    }
    names = {
        RIVER_BANK_SQUAD_ID: ("沿黄执法中队", "Yellow River Bank Squad"),
        WOMENS_SQUAD_ID: ("女子中队", "Women's Squad"),
    }
    for code, piece in zip(subdistricts["code"], subdistricts.geometry, strict=True):
        seed = SUBDISTRICT_SEEDS[code]
        territories[seed.squad_id] = _difference(piece, taken)
        names[seed.squad_id] = (seed.squad_zh, seed.squad_en)
    # The sub-districts partition the district, so these territories do as well.
    territories = _absorb_small_pieces(territories, fixed={RIVER_BANK_SQUAD_ID, WOMENS_SQUAD_ID})
    records = []
    for squad_id in sorted(territories):
        territory = territories[squad_id]
        touched = [
            code
            for code, piece in zip(subdistricts["code"], subdistricts.geometry, strict=True)
            if _metric_area(_intersection(territory, piece)) > 1000.0
        ]
        records.append(
            {
                "id": squad_id,
                "name_zh": names[squad_id][0],
                "name_en": names[squad_id][1],
                "subdistrict_codes": ";".join(sorted(touched)),
                "schematic": True,
                "geometry": territory,
            }
        )
    return gpd.GeoDataFrame(records, geometry="geometry", crs=STORAGE_CRS)


def _absorb_small_pieces(
    territories: dict[str, BaseGeometry], *, fixed: set[str]
) -> dict[str, BaseGeometry]:
    """Give each small detached piece of a territory to the neighbour with the longest border."""
    result = dict(territories)
    for squad_id in sorted(result):
        if squad_id in fixed:
            continue
        parts = list(shapely.get_parts(result[squad_id]))
        if len(parts) < 2:
            continue
        keep = max(parts, key=_metric_area)
        for part in parts:
            if part is keep or _metric_area(part) >= MIN_TERRITORY_PIECE_M2:
                continue
            borders = {
                other: _to_metric(shapely.intersection(part.boundary, geom.boundary)).length
                for other, geom in result.items()
                if other != squad_id and other not in fixed
            }
            neighbour = max(sorted(borders), key=lambda other: borders[other])
            if borders[neighbour] <= 0:
                continue
            result[neighbour] = _union([result[neighbour], part])
            result[squad_id] = _difference(result[squad_id], part)
    return result


def _build_zones(
    river_bank: BaseGeometry, roads: gpd.GeoDataFrame, squads: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    district = _union(squads.geometry)
    records: list[dict[str, Any]] = [
        {
            "name_zh": "沿黄区域",
            "name_en": "Yellow River Bank Zone",
            "kind": "river_bank",
            "squad_id": RIVER_BANK_SQUAD_ID,
            "geometry": river_bank,
        }
    ]
    for market in NIGHT_MARKETS:
        road = shapely.union_all(roads.loc[roads["name_zh"] == market.road_zh].geometry.to_numpy())
        west, south, east, north = road.bounds
        if market.lon_range is not None:
            west, east = market.lon_range
        if market.lat_range is not None:
            south, north = market.lat_range
        stretch_m = _to_metric(road.intersection(box(west, south, east, north)))
        strip = _to_storage(stretch_m.buffer(market.half_width_m, cap_style="flat"))
        area = _intersection(district, strip)
        overlaps = {
            squad_id: _metric_area(_intersection(area, territory))
            for squad_id, territory in zip(squads["id"], squads.geometry, strict=True)
        }
        owner = max(sorted(overlaps), key=lambda squad_id: overlaps[squad_id])
        records.append(
            {
                "name_zh": market.name_zh,
                "name_en": market.name_en,
                "kind": "night_market",
                "squad_id": owner,
                "geometry": area,
            }
        )
    for number, record in enumerate(records, start=1):
        record["id"] = f"HJ-Z{number:02d}"
        record["schematic"] = True
    zones = gpd.GeoDataFrame(records, geometry="geometry", crs=STORAGE_CRS)
    return zones[["id", "name_zh", "name_en", "kind", "squad_id", "schematic", "geometry"]]


def _build_guidance_points(roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    road = roads.loc[roads["name_zh"] == GUIDANCE_ROAD_ZH]
    line = shapely.line_merge(shapely.union_all(road.geometry.to_numpy()))
    if line.geom_type != "LineString":
        raise InvalidGeometryError(f"{GUIDANCE_ROAD_ZH} is not one line in the layout")
    if line.coords[0][0] > line.coords[-1][0]:
        line = line.reverse()
    # Rounded to the output grid first, so that the points stay on the line as written.
    line = shapely.transform(line, _round_to_output)
    placements = (
        (0.2, "西", "West"),
        (0.45, "中", "Centre"),
        (0.7, "东", "East"),
    )
    records = []
    for number, (fraction, side_zh, side_en) in enumerate(placements, start=1):
        records.append(
            {
                "id": f"HJ-G{number:02d}",
                "name_zh": f"{GUIDANCE_ROAD_ZH}疏导点（{side_zh}）",
                "name_en": f"Yingcai St Guidance Point ({side_en})",
                "road_name_zh": GUIDANCE_ROAD_ZH,
                "windows": GUIDANCE_WINDOWS,
                "radius_m": GUIDANCE_RADIUS_M,
                "schematic": True,
                "geometry": line.interpolate(fraction, normalized=True),
            }
        )
    return gpd.GeoDataFrame(records, geometry="geometry", crs=STORAGE_CRS)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
