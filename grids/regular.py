"""Regular unit grids: a square or hexagonal tessellation of the district.

For districts without usable road data, or for comparison: cells of a given area are laid over the
district in its projected CRS, clipped to the district and split by the sub-district and community
boundaries (a cell never crosses them), and clipped leftovers smaller than half a cell, or
slivers, are merged into the neighbouring cell piece of the same community with the longest
shared boundary (:func:`grids.unit_grids.merge_labels`). Codes and columns are those of
:func:`grids.unit_grids.unit_grids_from_roads`; ``mode`` is ``square`` or ``hex``.

The lattice is anchored at the origin of the projected CRS, so the same cells come out whatever
the district: squares of side ``√area`` with corners at multiples of the side, and pointy-topped
hexagons whose rows are ``1.5·r`` apart (``r`` the circumradius) with centres half-way up a row.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from grids._arrays import GeometryArray, IndexArray
from grids._frames import working_crs
from grids.codes import check_county_code
from grids.errors import GridBuildError
from grids.unit_grids import (
    MERGE_BELOW,
    SLIVER_WIDTH,
    SPLIT_ABOVE,
    admin_areas,
    check_target_area,
    faces_of,
    group_ids,
    merge_labels,
    shared_boundaries,
    union_by_label,
    unit_grid_frame,
)

__all__ = ["GridShape", "hex_cells", "regular_unit_grids", "square_cells"]

GridShape = Literal["square", "hex"]
GRID_SHAPES: tuple[GridShape, ...] = get_args(GridShape)

Bounds = tuple[float, float, float, float]


def square_cells(bounds: Bounds, cell_area_m2: float) -> tuple[GeometryArray, float]:
    """Return the square cells of area ``cell_area_m2`` that cover ``bounds``, and their side.

    Corners lie at multiples of the side; neighbouring cells share bit-identical corners.
    """
    side = math.sqrt(cell_area_m2)
    min_x, min_y, max_x, max_y = bounds
    columns = np.arange(math.floor(min_x / side), math.ceil(max_x / side) + 1)
    rows = np.arange(math.floor(min_y / side), math.ceil(max_y / side) + 1)
    xs, ys = columns * side, rows * side
    col, row = (a.reshape(-1) for a in np.meshgrid(np.arange(len(xs) - 1), np.arange(len(ys) - 1)))
    corner_x = np.stack([xs[col], xs[col + 1], xs[col + 1], xs[col], xs[col]], axis=1)
    corner_y = np.stack([ys[row], ys[row], ys[row + 1], ys[row + 1], ys[row]], axis=1)
    cells = np.asarray(shapely.polygons(np.stack([corner_x, corner_y], axis=2)), dtype=object)
    return cells, side


# Pointy-topped hexagon corners, counter-clockwise from the top, in units of half the width (x)
# and a quarter of the circumradius (y) from the centre.
_HEX_CORNER_X = np.array([0, -1, -1, 0, 1, 1, 0])
_HEX_CORNER_Y = np.array([4, 2, -2, -4, -2, 2, 4])


def hex_cells(bounds: Bounds, cell_area_m2: float) -> tuple[GeometryArray, float]:
    """Return the pointy-topped hexagons of area ``cell_area_m2`` covering ``bounds``.

    Also returns the distance between their rows. Corners are computed from integer lattice
    positions, so neighbouring cells share bit-identical corners.
    """
    radius = math.sqrt(2 * cell_area_m2 / (3 * math.sqrt(3)))
    half_width, quarter_radius = math.sqrt(3) * radius / 2, radius / 4
    row_height = 1.5 * radius
    min_x, min_y, max_x, max_y = bounds
    rows = np.arange(math.floor(min_y / row_height) - 1, math.ceil(max_y / row_height) + 1)
    columns = np.arange(
        math.floor(min_x / (2 * half_width)) - 1, math.ceil(max_x / (2 * half_width)) + 1
    )
    col, row = (a.reshape(-1) for a in np.meshgrid(columns, rows))
    # centre at x = (2·col + row parity + 1) half-widths, y = (6·row + 3) quarter-radii
    centre_x = 2 * col + (row % 2) + 1
    centre_y = 6 * row + 3
    corner_x = (centre_x[:, None] + _HEX_CORNER_X[None, :]) * half_width
    corner_y = (centre_y[:, None] + _HEX_CORNER_Y[None, :]) * quarter_radius
    cells = np.asarray(shapely.polygons(np.stack([corner_x, corner_y], axis=2)), dtype=object)
    return cells, row_height


def regular_unit_grids(
    boundary: gpd.GeoDataFrame,
    *,
    subdistricts: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    shape: GridShape,
    cell_area_m2: float = 10_000.0,
    county_code: str,
    metric_crs: pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Build unit grids as a regular square or hexagonal tessellation of the district.

    Parameters
    ----------
    boundary
        The district boundary (polygons; several features are united).
    subdistricts, communities
        The ``subdistricts`` and ``communities`` layers; cells are split along their boundaries.
        Features without a polygon are left out (with a :class:`~geodata.errors.GeodataWarning`).
    shape
        ``square`` or ``hex``.
    cell_area_m2
        The area of a cell in square metres.
    county_code
        The 6-digit county (district) code the grid codes start with.
    metric_crs
        The projected CRS to work in; by default the one for the boundary's extent.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``unit_grids`` layer (``mode`` = ``shape``), EPSG:4326, sorted by code.

    Raises
    ------
    GridBuildError
        If ``shape`` is unknown, the cell area is not a positive number or the boundary has no
        area.
    GridCodeError
        If the county, sub-district or community codes are malformed or inconsistent, or a
        sub-district would hold more than 999,999 grids.
    """
    if shape not in GRID_SHAPES:
        raise GridBuildError(
            f"the grid shape must be one of {', '.join(GRID_SHAPES)}, not {shape!r}"
        )
    check_county_code(county_code)
    cell_area = check_target_area(cell_area_m2, "cell_area_m2")
    crs = working_crs(boundary, metric_crs)
    admin = admin_areas(boundary, subdistricts, communities, crs)
    admin.check_codes(county_code)

    # the district cut along every division boundary, one (multi)polygon per division pair
    faces = faces_of(admin.lines(), admin.district)
    face_subdistrict, face_community = admin.locate(shapely.point_on_surface(faces))
    face_group = group_ids(face_subdistrict, face_community)
    _, first_face = np.unique(face_group, return_index=True)
    areas, area_face = union_by_label(faces, first_face[face_group], coverage=True)

    bounds = tuple(float(v) for v in shapely.total_bounds(admin.district))
    make_cells = square_cells if shape == "square" else hex_cells
    cells, band = make_cells((bounds[0], bounds[1], bounds[2], bounds[3]), cell_area)
    area_index, cell_index = shapely.STRtree(cells).query(areas, predicate="intersects")
    shapely.prepare(areas)
    whole = shapely.contains_properly(areas[area_index], cells[cell_index])
    pieces = cells[cell_index]
    pieces[~whole] = shapely.intersection(cells[cell_index[~whole]], areas[area_index[~whole]])
    parts, part_of = shapely.get_parts(pieces, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, part_area = parts[keep], area_index[part_of[keep]].astype(np.intp)

    labels = merge_labels(
        shapely.area(parts),
        shapely.length(parts),
        part_area,
        shared_boundaries(parts),
        min_area=MERGE_BELOW * cell_area,
        max_area=SPLIT_ABOVE * cell_area,
        sliver_width=SLIVER_WIDTH * math.sqrt(cell_area),
    )
    grids, grid_part = union_by_label(parts, labels, coverage=False)
    grids, grid_of = shapely.get_parts(grids, return_index=True)
    grid_face: IndexArray = area_face[part_area[grid_part[grid_of]]]
    return unit_grid_frame(
        grids,
        face_subdistrict[grid_face],
        face_community[grid_face],
        admin,
        county_code=county_code,
        mode=shape,
        band_m=band,
        metric_crs=crs,
    )
