"""Helpers shared by the unit grid tests: small districts in metres, and the checks of a layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon, box

from geodata.layers import layer_spec
from grids.codes import parse_unit_grid_code

METRIC = "EPSG:4547"
# A point in Huiji District in EPSG:4547 metres.
X0, Y0 = 463_000.0, 3_853_000.0
HANKOU = Path(__file__).parents[1] / "data" / "wuhan_hankou_4km_wgs84.geojson"


def frame(geometries: list[Any], **columns: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=geometries, crs=METRIC)


def metric_polygons(grids: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(grids.geometry.to_crs(METRIC).array, dtype=object)


def assert_unit_grids(
    grids: gpd.GeoDataFrame,
    district: shapely.Geometry,
    *,
    cell_area: float,
    subdistricts: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Check the layer's form and that it partitions ``district`` (metric); return the polygons.

    Each grid must lie in its sub-district and community, but for gaps the divisions leave.
    """
    assert list(grids.columns) == [*layer_spec("unit_grids").column_names, "geometry"]
    assert grids.crs == "EPSG:4326"
    assert grids["code"].is_unique
    assert grids["code"].is_monotonic_increasing
    assert (grids["id"] == grids["code"]).all()
    for code, subdistrict in zip(grids["code"], grids["subdistrict_code"], strict=True):
        parsed = parse_unit_grid_code(code)
        assert parsed.subdistrict_code == (None if pd.isna(subdistrict) else subdistrict)
    polygons = metric_polygons(grids)
    assert shapely.is_valid(polygons).all()
    assert (shapely.get_type_id(polygons) == 3).all()
    areas = shapely.area(polygons)
    np.testing.assert_allclose(grids["area_m2"], areas, rtol=1e-6)
    assert abs(areas.sum() - district.area) <= 1e-4 * district.area
    tolerance = 1e-6 * cell_area
    assert (outside_of(polygons, np.full(len(polygons), district)) < tolerance).all()
    first, second = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    pair = first < second
    first, second = first[pair], second[pair]
    # only pairs that do more than touch can overlap by any area
    inner = ~shapely.touches(polygons[first], polygons[second])
    overlaps = shapely.area(shapely.intersection(polygons[first[inner]], polygons[second[inner]]))
    assert (overlaps < tolerance).all()
    for divisions, column in ((subdistricts, "subdistrict_code"), (communities, "community_code")):
        if divisions is None:
            continue
        by_code = dict(zip(divisions["code"], divisions.to_crs(METRIC).geometry, strict=True))
        homes = np.array([by_code[code] for code in grids[column]], dtype=object)
        outside = outside_of(polygons, homes)
        # where the divisions leave gaps in the district, grids take them in
        gaps = shapely.difference(district, shapely.union_all(list(by_code.values()))).area
        assert outside.sum() < gaps + tolerance * len(grids), f"a grid crosses its {column}"
    return polygons


def outside_of(polygons: np.ndarray, homes: np.ndarray) -> np.ndarray:
    """Return the area of each polygon outside its home polygon."""
    shapely.prepare(homes)
    outside = np.zeros(len(polygons))
    loose = ~shapely.covered_by(polygons, homes)
    outside[loose] = shapely.area(shapely.difference(polygons[loose], homes[loose]))
    return outside


@st.composite
def districts(draw: st.DrawFn) -> dict[str, Any]:
    """A small district: a rectangle with a corner cut off, two sub-districts, straight roads."""
    width, height = draw(st.floats(300, 1_200)), draw(st.floats(300, 1_200))
    cut = draw(st.floats(0.0, 0.5))
    outline = Polygon(
        [
            (X0, Y0),
            (X0 + width, Y0),
            (X0 + width, Y0 + height * (1 - cut)),
            (X0 + width * (1 - cut), Y0 + height),
            (X0, Y0 + height),
        ]
    )
    split_x = X0 + width * draw(st.floats(0.2, 0.8))
    west = shapely.intersection(outline, box(X0 - 1, Y0 - 1, split_x, Y0 + height + 1))
    east = shapely.intersection(outline, box(split_x, Y0 - 1, X0 + width + 1, Y0 + height + 1))
    roads = []
    for _ in range(draw(st.integers(0, 5))):
        a, b = draw(st.floats(-0.1, 1.1)), draw(st.floats(-0.1, 1.1))
        roads.append(LineString([(X0 + a * width, Y0 - 50), (X0 + b * width, Y0 + height + 50)]))
    for _ in range(draw(st.integers(0, 5))):
        a, b = draw(st.floats(-0.1, 1.1)), draw(st.floats(-0.1, 1.1))
        roads.append(LineString([(X0 - 50, Y0 + a * height), (X0 + width + 50, Y0 + b * height)]))
    communities = None
    if draw(st.booleans()):
        split_y = Y0 + height * draw(st.floats(0.2, 0.8))
        south = box(X0 - 1, Y0 - 1, X0 + width + 1, split_y)
        north = box(X0 - 1, split_y, X0 + width + 1, Y0 + height + 1)
        communities = frame(
            [shapely.intersection(s, h) for s in (west, east) for h in (south, north)],
            code=["410108001001", "410108001002", "410108002001", "410108002002"],
            subdistrict_code=["410108001", "410108001", "410108002", "410108002"],
        )
        # the cut corner can take a whole community away
        communities = communities[~communities.is_empty].reset_index(drop=True)
    return {
        "outline": outline,
        "boundary": frame([outline]),
        "subdistricts": frame([west, east], code=["410108001", "410108002"]),
        "communities": communities,
        "roads": frame(roads),
        "target": draw(st.floats(2_000, 40_000)),
    }
