"""Regular unit grids: squares and hexagons clipped to the district and its divisions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely
from conftest import METRIC, X0, Y0, assert_unit_grids, districts, frame
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geodata.errors import GeodataWarning
from geodata.huiji import load_huiji
from grids.errors import GridBuildError
from grids.regular import hex_cells, regular_unit_grids, square_cells
from grids.unit_grids import MERGE_BELOW, isoperimetric_quotients, shared_boundaries

SQUARE_COMPACTNESS = math.pi / 4
HEX_COMPACTNESS = math.pi * math.sqrt(3) / 6


@pytest.mark.parametrize("make_cells", [square_cells, hex_cells])
@settings(max_examples=25, deadline=None)
@given(
    bounds=st.tuples(st.floats(-2_000, 2_000), st.floats(-2_000, 2_000)),
    size=st.tuples(st.floats(400, 1_500), st.floats(400, 1_500)),
    cell_area=st.floats(500, 10_000),
)
def test_cells_tile_their_bounds_and_share_their_edges_exactly(
    make_cells: Any, bounds: tuple[float, float], size: tuple[float, float], cell_area: float
) -> None:
    extent = (X0 + bounds[0], Y0 + bounds[1], X0 + bounds[0] + size[0], Y0 + bounds[1] + size[1])
    cells, band = make_cells(extent, cell_area)
    np.testing.assert_allclose(shapely.area(cells), cell_area, rtol=1e-9)
    assert shapely.covers(shapely.union_all(cells), box(*extent))
    first, second, shared = shared_boundaries(cells, precision=1e-9)
    neighbours = np.bincount(np.r_[first, second], minlength=len(cells))
    edge = math.sqrt(cell_area) if make_cells is square_cells else band / 1.5
    np.testing.assert_allclose(shared, edge, rtol=1e-9)
    assert neighbours.max() == (4 if make_cells is square_cells else 6)
    # rows are centred on the reading bands
    rows = shapely.get_y(shapely.centroid(cells)) / band
    np.testing.assert_allclose(rows - np.floor(rows), 0.5, atol=1e-6)


@pytest.mark.parametrize("shape", ["square", "hex"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(district=districts(), cell_area=st.floats(2_000, 40_000))
def test_regular_grids_partition_the_district_within_subdistricts(
    shape: str, district: dict[str, Any], cell_area: float
) -> None:
    grids = regular_unit_grids(
        district["boundary"],
        subdistricts=district["subdistricts"],
        communities=district["communities"],
        shape=shape,
        cell_area_m2=cell_area,
        county_code="410108",
        metric_crs=METRIC,
    )
    assert (grids["mode"] == shape).all()
    polygons = assert_unit_grids(
        grids,
        district["outline"],
        cell_area=cell_area,
        subdistricts=district["subdistricts"],
        communities=district["communities"],
    )
    areas = shapely.area(polygons)
    division = grids["community_code"].fillna(grids["subdistrict_code"])
    crowded = division.duplicated(keep=False).to_numpy()
    assert (areas[crowded] >= MERGE_BELOW * cell_area * (1 - 1e-9)).all()
    # grids away from every boundary are whole cells
    divisions = [district["subdistricts"], district["communities"]]
    lines = shapely.union_all(
        np.concatenate([shapely.boundary(d.geometry.array) for d in divisions if d is not None])
    )
    inner = shapely.distance(polygons, lines) > 1e-3
    np.testing.assert_allclose(areas[inner], cell_area, rtol=1e-6)
    expected = SQUARE_COMPACTNESS if shape == "square" else HEX_COMPACTNESS
    np.testing.assert_allclose(isoperimetric_quotients(polygons[inner]), expected, rtol=1e-6)


@settings(max_examples=5, deadline=None)
@given(district=districts(), shape=st.sampled_from(["square", "hex"]))
def test_building_again_gives_the_same_grids(district: dict[str, Any], shape: str) -> None:
    kwargs: dict[str, Any] = {
        "subdistricts": district["subdistricts"],
        "shape": shape,
        "cell_area_m2": district["target"],
        "county_code": "410108",
        "metric_crs": METRIC,
    }
    first = regular_unit_grids(district["boundary"], **kwargs)
    second = regular_unit_grids(district["boundary"], **kwargs)
    assert_geodataframe_equal(first, second)
    assert first.geometry.to_wkb().tolist() == second.geometry.to_wkb().tolist()


def test_square_cells_sit_on_the_lattice_of_the_crs() -> None:
    outline = box(X0 + 13, Y0 + 27, X0 + 913, Y0 + 727)
    grids = regular_unit_grids(
        frame([outline]), shape="square", county_code="410108", metric_crs=METRIC
    )
    polygons = assert_unit_grids(grids, outline, cell_area=10_000.0)
    whole = np.isclose(shapely.area(polygons), 10_000.0, rtol=1e-9)
    # 8 × 6 lattice cells lie inside; the thin leftovers at the top and on the right (27 m and
    # 13 m) join the row and the column beside them, the wider ones stay grids of their own
    assert whole.sum() == (8 - 1) * (6 - 1)
    corners = shapely.bounds(polygons[whole])
    np.testing.assert_allclose(corners / 100 - np.round(corners / 100), 0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": "triangle"}, "square, hex"),
        ({"shape": "hex", "cell_area_m2": -1.0}, "positive"),
    ],
)
def test_bad_shapes_and_areas_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GridBuildError, match=message):
        regular_unit_grids(
            frame([box(X0, Y0, X0 + 200, Y0 + 200)]),
            county_code="410108",
            metric_crs=METRIC,
            **kwargs,
        )


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["square", "hex"])
def test_huiji_end_to_end(shape: str) -> None:
    layers = load_huiji()
    boundary, subdistricts = layers["boundary"].frame, layers["subdistricts"].frame
    with pytest.warns(GeodataWarning, match="communities have no polygon"):
        grids = regular_unit_grids(
            boundary,
            subdistricts=subdistricts,
            communities=layers["communities"].frame,
            shape=shape,
            county_code="410108",
        )
    district = shapely.union_all(boundary.to_crs(METRIC).geometry.array)
    polygons = assert_unit_grids(grids, district, cell_area=10_000.0, subdistricts=subdistricts)
    assert np.median(shapely.area(polygons)) == pytest.approx(10_000.0, rel=1e-6)
    assert set(grids["subdistrict_code"]) == set(subdistricts["code"])
