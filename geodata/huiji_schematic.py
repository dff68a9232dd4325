"""Build the bundled schematic (示意) road network and zones of Huiji District, Zhengzhou.

No surveyed road centrelines exist for Huiji in any source the project may redistribute, so the
bundled demo data is drawn here, by code, around the real district boundary: the named roads sit
at plausible positions and cross exactly where the real road pairs in ``intersections.csv`` cross,
and unnamed back streets fill the built-up blocks. Sub-districts, squad territories and zones are
schematic partitions of the real boundary. Every feature carries ``schematic: true`` and must be
shown as 示意 wherever it is displayed.

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
# it meets both 江山路 and 开元路.
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
class _StreetArea:
    """A box (lon/lat) filled with unnamed block-length streets on a jittered grid."""

    bounds: tuple[float, float, float, float]
    spacing_m: float
    line_probability: float
    grade: str


STREET_AREAS: tuple[_StreetArea, ...] = (
    # built-up south: the tongue down to the North 3rd Ring
    _StreetArea((113.595, 34.805, 113.630, 34.850), 450.0, 0.4, GRADE_BRANCH),
    # centre, between 天河路 and 花园路, south of 大河路
    _StreetArea((113.625, 34.856, 113.698, 34.878), 480.0, 0.3, GRADE_BRANCH),
    # northern university town (北大学城) around 英才街
    _StreetArea((113.645, 34.884, 113.700, 34.900), 380.0, 0.5, GRADE_BACK_STREET),
    # 迎宾路 area in the east
    _StreetArea((113.705, 34.868, 113.785, 34.898), 900.0, 0.2, GRADE_BRANCH),
)

# Village roads through the farmland of 古荥 (lon/lat); each leg between two vertices is one
# feature. The southern one continues 大河路 westwards, the northern one ends on 师家河路.
VILLAGE_ROADS: tuple[tuple[tuple[float, float], ...], ...] = (
    ((113.5350, 34.8745), (113.5500, 34.8740), (113.5650, 34.8755), (113.5880, 34.8770)),
    (
        (113.5360, 34.9000),
        (113.5510, 34.8990),
        (113.5660, 34.8978),
        (113.5810, 34.8940),
        (113.5950, 34.8900),
    ),
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
    roads = _build_roads(district_m)
    _check_crossings(roads, intersections)

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


def _check_crossings(roads: gpd.GeoDataFrame, intersections: pd.DataFrame) -> None:
    lines = {
        name: shapely.union_all(group.geometry.to_numpy())
        for name, group in roads.dropna(subset=["name_zh"]).groupby("name_zh")
    }
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


def _build_roads(district_m: BaseGeometry) -> gpd.GeoDataFrame:
    inner = district_m.buffer(-ROAD_INSET_M)
    records: list[dict[str, Any]] = []
    named_m: list[LineString] = []
    for road in NAMED_ROADS:
        line_m = _to_metric(LineString(road.vertices))
        named_m.append(line_m)
        for piece in _clipped_pieces(line_m, inner):
            records.append(
                {
                    "name_zh": road.name_zh,
                    "name_en": road.name_en,
                    "grade": road.grade,
                    "geometry": piece,
                }
            )
    rng = np.random.default_rng(RANDOM_SEED)
    for area in STREET_AREAS:
        for piece in _back_streets(area, rng, inner, named_m):
            records.append(
                {"name_zh": None, "name_en": None, "grade": area.grade, "geometry": piece}
            )
    for village_road in VILLAGE_ROADS:
        line_m = _to_metric(LineString(village_road))
        coords = list(line_m.coords)
        for start, end in itertools.pairwise(coords):
            for piece in _clipped_pieces(LineString([start, end]), inner):
                records.append(
                    {"name_zh": None, "name_en": None, "grade": GRADE_BRANCH, "geometry": piece}
                )
    for number, record in enumerate(records, start=1):
        record["id"] = f"HJ-R{number:04d}"
        record["schematic"] = True
        record["geometry"] = _to_storage(record["geometry"])
    roads = gpd.GeoDataFrame(records, geometry="geometry", crs=STORAGE_CRS)
    return roads[["id", "name_zh", "name_en", "grade", "schematic", "geometry"]]


def _clipped_pieces(line_m: BaseGeometry, inner: BaseGeometry) -> list[LineString]:
    clipped = shapely.line_merge(line_m.intersection(inner))
    return [
        piece
        for piece in shapely.get_parts(clipped)
        if piece.geom_type == "LineString" and piece.length >= MIN_ROAD_PIECE_M
    ]


def _back_streets(
    area: _StreetArea,
    rng: np.random.Generator,
    inner: BaseGeometry,
    named_m: Sequence[LineString],
) -> list[LineString]:
    """Return block-length unnamed streets on a jittered grid over ``area``, clipped to ``inner``.

    Each grid line is tilted a little (its two ends are jittered independently) and, with
    probability ``area.line_probability``, is built along a run of a few consecutive blocks, so
    that the streets end in T-junctions and the blocks are irregular.
    """
    west, south, east, north = _to_metric(box(*area.bounds)).bounds
    spacing = area.spacing_m
    jitter = 0.2 * spacing
    xs = np.arange(west + spacing / 2, east, spacing)
    ys = np.arange(south + spacing / 2, north, spacing)
    cuts_y = [south, *ys.tolist(), north]
    cuts_x = [west, *xs.tolist(), east]
    area_m = _to_metric(box(*area.bounds)).intersection(inner)
    named = shapely.union_all(list(named_m))
    streets: list[LineString] = []
    for positions, cuts, along_x in ((xs, cuts_y, False), (ys, cuts_x, True)):
        low, high = (west, east) if along_x else (south, north)
        for position in positions.tolist():
            ends = position + rng.uniform(-jitter, jitter, size=2)
            blocks = len(cuts) - 1
            run = int(rng.integers(2, max(3, blocks // 2 + 1)))
            first = int(rng.integers(0, blocks - run + 1)) if blocks > run else 0
            if rng.uniform() >= area.line_probability:
                continue
            for k in range(first, min(first + run, blocks)):
                a, b = cuts[k], cuts[k + 1]
                offset_a = ends[0] + (a - low) / (high - low) * (ends[1] - ends[0])
                offset_b = ends[0] + (b - low) / (high - low) * (ends[1] - ends[0])
                segment = (
                    LineString([(a, offset_a), (b, offset_b)])
                    if along_x
                    else LineString([(offset_a, a), (offset_b, b)])
                )
                streets.extend(_street_pieces(segment, area_m, named))
    return streets


def _street_pieces(
    segment: LineString, area_m: BaseGeometry, named: BaseGeometry
) -> list[LineString]:
    # A back street running alongside a named road within a short block would duplicate it.
    if segment.buffer(150.0, cap_style="flat").intersection(named).length > 0.5 * segment.length:
        return []
    return _clipped_pieces(segment, area_m)


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
