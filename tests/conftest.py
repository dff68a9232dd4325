"""Fixtures shared by the tests: databases to keep layers in, and a few features of every layer.

The layer fixtures have the dtypes a layer is read back with (see ``server._frames``) and are
ordered by id, so that a layer written and read back compares equal to its fixture.

PostGIS tests run against the database named by ``DUTYGRID_TEST_POSTGIS_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``, with the postgis extension), each in a schema of its
own that is dropped afterwards; without the variable they are skipped.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box

from geodata.layers import LAYERS, Column, layer_spec
from server.storage import Provenance, Store, database_url

# CI draws the same examples on every run (HYPOTHESIS_PROFILE=ci), so that its verdict depends on
# the change and not on the draw; elsewhere each run draws anew, and a failure prints the blob
# that replays it (@reproduce_failure).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "explore"))

POSTGIS_URL_VARIABLE = "DUTYGRID_TEST_POSTGIS_URL"


def _dtype(column: Column) -> Any:
    if column.kind == "text":
        return "str"
    if column.kind == "real":
        return "float64"
    if column.kind == "integer":
        return "Int64" if column.nullable else "int64"
    if column.kind == "boolean":
        return "boolean" if column.nullable else "bool"
    return object


@pytest.fixture
def postgis_schema() -> Iterator[tuple[str, str]]:
    """Yield ``(url, schema)``: the test PostGIS database and a new, empty schema in it."""
    base = os.environ.get(POSTGIS_URL_VARIABLE)
    if not base:
        pytest.skip(f"PostGIS tests need {POSTGIS_URL_VARIABLE}=postgresql://user@host:port/db")
    url = database_url(base)
    schema = f"dutygrid_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield url, schema
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Return the URL of an empty database: a SQLite file, or a PostGIS schema of its own.

    The PostGIS URL puts the test's schema first on the search path, so that a plain
    ``Store.open(store_url)`` (or the command line, given the URL) keeps its tables there.
    """
    if request.param == "sqlite":
        return database_url(str(tmp_path / "dutygrid.sqlite"))
    url, schema = request.getfixturevalue("postgis_schema")
    parsed = sa.make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema},public"}).render_as_string(
        hide_password=False
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Yield an open store on an empty database."""
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def make_provenance() -> Callable[[str, gpd.GeoDataFrame], Provenance]:
    """Return a function that makes the provenance record of a layer fixture."""

    def make(name: str, frame: gpd.GeoDataFrame) -> Provenance:
        return Provenance(
            layer=name,
            source=f"{name}_测试.geojson",
            sha256=hashlib.sha256(name.encode()).hexdigest(),
            source_crs="EPSG:4547",
            coords="gcj02",
            feature_count=len(frame),
            imported_at="2024-05-01T08:30:00+00:00",
            note="schematic",
            licence="测试数据 CC BY 4.0",
        )

    return make


def layer_frame(name: str, features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Return a layer of ``features`` (dicts of column values plus ``geometry``), by id."""
    spec = layer_spec(name)
    features = sorted(features, key=lambda f: f["id"])
    data: dict[str, Any] = {"id": pd.array([f["id"] for f in features], dtype="str")}
    for column in spec.columns:
        values = [f.get(column.name) for f in features]
        data[column.name] = pd.Series(values, dtype=_dtype(column))
    data["attrs"] = pd.Series([f.get("attrs", {}) for f in features], dtype=object)
    geometry = gpd.GeoSeries([f["geometry"] for f in features], crs="EPSG:4326")
    return gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")


def _square(lon: float, lat: float, size: float = 0.01) -> Polygon:
    return box(lon, lat, lon + size, lat + size)


@pytest.fixture
def boundary_frame() -> gpd.GeoDataFrame:
    """惠济区 as two parts, with nested attrs."""
    main = Polygon(
        [(113.49, 34.80), (113.7951234567890123, 34.79), (113.78, 34.96), (113.52, 34.9689)],
        [[(113.60, 34.85), (113.61, 34.85), (113.61, 34.86), (113.60, 34.86)]],
    )
    return layer_frame(
        "boundary",
        [
            {
                "id": "410108",
                "name_zh": "惠济区",
                "name_en": "Huiji District",
                "code": "410108",
                "attrs": {
                    "adcode": "410108",
                    "上级": ["河南省", "郑州市"],
                    "面积_km2": 232.8,
                    "nested": {"ok": True, "none": None, "引号": 'a "b" \\ c'},
                },
                "geometry": MultiPolygon([main, _square(113.80, 34.95)]),
            }
        ],
    )


@pytest.fixture
def subdistricts_frame() -> gpd.GeoDataFrame:
    """Three sub-districts, one without a polygon yet."""
    return layer_frame(
        "subdistricts",
        [
            {
                "id": "410108001",
                "code": "410108001",
                "name_zh": "新城街道",
                "name_en": "Xincheng Subdistrict",
                "schematic": True,
                "attrs": {"来源": "国家统计局 2023"},
                "geometry": _square(113.62, 34.83, 0.04),
            },
            {
                "id": "410108002",
                "code": "410108002",
                "name_zh": "刘寨街道",
                "name_en": None,
                "schematic": False,
                "geometry": Polygon(
                    [(113.66, 34.83), (113.70, 34.83), (113.70, 34.87), (113.66, 34.87)],
                    [[(113.67, 34.84), (113.68, 34.84), (113.68, 34.85)]],
                ),
            },
            {
                "id": "410108100",
                "code": "410108100",
                "name_zh": "花园口镇",
                "name_en": "Huayuankou Town",
                "schematic": True,
                "geometry": None,
            },
        ],
    )


@pytest.fixture
def communities_frame() -> gpd.GeoDataFrame:
    """Three communities: a polygon, a multipolygon and one known only by code."""
    return layer_frame(
        "communities",
        [
            {
                "id": "410108001001",
                "code": "410108001001",
                "name_zh": "金河社区",
                "subdistrict_code": "410108001",
                "schematic": True,
                "attrs": {"全称": "金河社区居民委员会"},
                "geometry": _square(113.621, 34.831, 0.005),
            },
            {
                "id": "410108001002",
                "code": "410108001002",
                "name_zh": "开元社区",
                "subdistrict_code": "410108001",
                "schematic": False,
                "geometry": MultiPolygon(
                    [_square(113.63, 34.84, 0.003), _square(113.64, 34.84, 0.003)]
                ),
            },
            {
                "id": "410108001003",
                "code": "410108001003",
                "name_zh": "文运社区",
                "subdistrict_code": None,
                "schematic": True,
                "geometry": None,
            },
        ],
    )


@pytest.fixture
def roads_frame() -> gpd.GeoDataFrame:
    """Four roads, ids in mixed case and Chinese, one in two parts."""
    return layer_frame(
        "roads",
        [
            {
                "id": "R-10",
                "name_zh": "文化路",
                "name_en": "Wenhua Rd",
                "road_class": "arterial",
                "level": "strict",
                "length_m": 1234.5678901234567,
                "attrs": {"highway": "primary", "lanes": 6, "maxspeed": 60.5},
                "geometry": LineString([(113.6512345678901, 34.81), (113.6512345678901, 34.86)]),
            },
            {
                "id": "r-2",
                "name_zh": "开元路",
                "name_en": "Kaiyuan Rd",
                "road_class": "secondary",
                "level": "controlled",
                "length_m": 0.1 + 0.2,
                "attrs": {"名称": "开元路", "oneway": False},
                "geometry": LineString([(113.62, 34.84), (113.66, 34.84), (113.70, 34.8412)]),
            },
            {
                "id": "路-1",
                "name_zh": "英才街",
                "name_en": None,
                "road_class": "branch",
                "level": "regulated",
                "length_m": 1 / 3,
                "geometry": LineString([(113.7, 34.9), (113.71, 34.91)]),
            },
            {
                "id": "R-3",
                "name_zh": "大河路",
                "name_en": "Dahe Rd",
                "road_class": "back_street",
                "level": "strict",
                "length_m": 98765.4321,
                "attrs": {"parts": [1, 2], "注": None},
                "geometry": MultiLineString(
                    [[(113.55, 34.88), (113.60, 34.88)], [(113.61, 34.88), (113.64, 34.881)]]
                ),
            },
        ],
    )


@pytest.fixture
def guidance_points_frame() -> gpd.GeoDataFrame:
    """Three guidance points (疏导点), one without a radius."""
    return layer_frame(
        "guidance_points",
        [
            {
                "id": "gp-001",
                "name_zh": "文化路夜市疏导点",
                "name_en": "Wenhua Rd night market",
                "road_name_zh": "文化路",
                "windows": "11:00-13:30;17:00-21:00",
                "radius_m": 30.0,
                "geometry": Point(113.6512345678901, 34.83),
            },
            {
                "id": "gp-002",
                "name_zh": "开元路早市",
                "name_en": None,
                "road_name_zh": "开元路",
                "windows": "06:00-08:30",
                "radius_m": None,
                "attrs": {"摊位": 12},
                "geometry": Point(113.64, 34.84),
            },
            {
                "id": "gp-003",
                "name_zh": "英才街疏导点",
                "name_en": "Yingcai St",
                "road_name_zh": None,
                "windows": None,
                "radius_m": 12.345678901234567,
                "geometry": Point(113.705, 34.905),
            },
        ],
    )


@pytest.fixture
def zones_frame() -> gpd.GeoDataFrame:
    """A river bank and a night market."""
    return layer_frame(
        "zones",
        [
            {
                "id": "zone-river",
                "name_zh": "黄河滩区",
                "name_en": "Yellow River bank",
                "kind": "river_bank",
                "squad_id": "squad-01",
                "geometry": box(113.55, 34.93, 113.75, 34.96),
            },
            {
                "id": "zone-market",
                "name_zh": "文化路夜市",
                "name_en": None,
                "kind": "night_market",
                "squad_id": None,
                "attrs": {"开放": "17:00-23:00"},
                "geometry": _square(113.648, 34.828, 0.006),
            },
        ],
    )


@pytest.fixture
def squads_frame() -> gpd.GeoDataFrame:
    """Two squads (中队), one whose territory is not drawn yet."""
    return layer_frame(
        "squads",
        [
            {
                "id": "squad-01",
                "name_zh": "新城中队",
                "name_en": "Xincheng Squad",
                "subdistrict_codes": "410108001;410108002",
                "geometry": _square(113.62, 34.83, 0.08),
            },
            {
                "id": "squad-02",
                "name_zh": "花园口中队",
                "name_en": None,
                "subdistrict_codes": "410108100",
                "geometry": None,
            },
        ],
    )


@pytest.fixture
def unit_grids_frame() -> gpd.GeoDataFrame:
    """Three unit grids (单元网格) of 新城街道."""
    return layer_frame(
        "unit_grids",
        [
            {
                "id": f"410108001001{n:03d}",
                "code": f"410108001001{n:03d}",
                "subdistrict_code": "410108001",
                "community_code": "410108001001" if n < 3 else None,
                "area_m2": 249_876.54321 + n / 7,
                "mode": "roads" if n < 3 else "square",
                "squad_id": "squad-01" if n != 2 else None,
                "attrs": {"网格": n},
                "geometry": _square(113.62 + n * 0.005, 34.83, 0.005),
            }
            for n in (1, 2, 3)
        ],
    )


@pytest.fixture
def responsibility_grids_frame() -> gpd.GeoDataFrame:
    """Two responsibility grids (责任网格)."""
    return layer_frame(
        "responsibility_grids",
        [
            {
                "id": "rg-squad-01-1",
                "squad_id": "squad-01",
                "name_zh": "新城中队一组",
                "workload": 12345.678901234567,
                "unit_grid_count": 2,
                "geometry": box(113.625, 34.83, 113.635, 34.835),
            },
            {
                "id": "rg-squad-01-2",
                "squad_id": "squad-01",
                "name_zh": None,
                "workload": 0.1,
                "unit_grid_count": 1,
                "attrs": {"说明": "示意"},
                "geometry": _square(113.635, 34.83, 0.005),
            },
        ],
    )


@pytest.fixture
def posts_frame() -> gpd.GeoDataFrame:
    """Two road-section posts (one in two parts) and a fixed-point post (岗位)."""
    return layer_frame(
        "posts",
        [
            {
                "id": "post-R-10-1",
                "kind": "segment",
                "road_id": "R-10",
                "road_name_zh": "文化路",
                "level": "strict",
                "length_m": 812.3456789012345,
                "radius_m": None,
                "unit_grid_codes": "410108001001001;410108001001002",
                "squad_id": "squad-01",
                "windows": None,
                "geometry": LineString([(113.6512345678901, 34.81), (113.6512345678901, 34.8173)]),
            },
            {
                "id": "post-R-3-1",
                "kind": "segment",
                "road_id": "R-3",
                "road_name_zh": "大河路",
                "level": "regulated",
                "length_m": 3000.0,
                "radius_m": None,
                "unit_grid_codes": None,
                "squad_id": None,
                "windows": None,
                "geometry": MultiLineString(
                    [[(113.55, 34.88), (113.57, 34.88)], [(113.61, 34.88), (113.62, 34.8802)]]
                ),
            },
            {
                "id": "post-gp-001",
                "kind": "point",
                "road_id": None,
                "road_name_zh": "文化路",
                "level": "strict",
                "length_m": 0.0,
                "radius_m": 30.0,
                "unit_grid_codes": "410108001001001",
                "squad_id": "squad-01",
                "windows": "11:00-13:30;17:00-21:00",
                "attrs": {"疏导点": "gp-001"},
                "geometry": Point(113.6512345678901, 34.83),
            },
        ],
    )


@pytest.fixture
def layer_frames(request: pytest.FixtureRequest) -> dict[str, gpd.GeoDataFrame]:
    """Return a small frame of every layer, by name (from the fixtures ``<layer>_frame``)."""
    return {name: request.getfixturevalue(f"{name}_frame") for name in LAYERS}
