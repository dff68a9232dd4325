"""Layer helpers shared by the grid modules: the metric CRS and geometries, and layer frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pyproj import CRS

from geodata.crs import metric_crs_of, to_metric, to_storage_crs
from geodata.layers import STORAGE_CRS, layer_spec
from grids._arrays import GeometryArray

ColumnValues: TypeAlias = Sequence[Any] | NDArray[Any]


def working_crs(frame: gpd.GeoDataFrame, given: CRS | str | None = None) -> CRS:
    """Return the projected CRS to measure a layer in: ``given``, else the one for its extent.

    The one for its extent is :func:`geodata.crs.metric_crs_of` the layer in EPSG:4326.

    Raises
    ------
    MissingCRSError
        If ``given`` is None and the layer has no CRS.
    CoordinateError
        If ``given`` is None and the layer is empty.
    """
    if given is not None:
        return CRS.from_user_input(given)
    return metric_crs_of(to_storage_crs(frame))


def metric_geometries(frame: gpd.GeoDataFrame, crs: CRS) -> GeometryArray:
    """Return the geometries of ``frame`` in the projected CRS ``crs``, as a numpy array.

    Raises
    ------
    MissingCRSError
        If ``frame`` has no CRS.
    """
    geoms: GeometryArray = np.asarray(to_metric(frame, crs).geometry.array, dtype=object)
    return geoms


def with_geometry(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the features of ``frame`` that have a geometry, and not an empty one."""
    return frame[frame.geometry.notna() & ~frame.geometry.is_empty]


def layer_frame(
    name: str, columns: Mapping[str, ColumnValues], geometry: ColumnValues
) -> gpd.GeoDataFrame:
    """Return a layer with exactly the spec's columns, in its dtypes, EPSG:4326, sorted by id.

    Parameters
    ----------
    name
        The layer's name (:func:`geodata.layers.layer_spec`).
    columns
        The values of ``id`` and of the spec's columns; a column not given is all missing, and
        missing real numbers (None) are NaN. ``attrs`` defaults to an empty mapping for each.
    geometry
        The features' geometries, in EPSG:4326.
    """
    count = len(geometry)
    data: dict[str, Any] = {"id": pd.array(columns["id"], dtype="str")}
    for column in layer_spec(name).columns:
        values = columns.get(column.name, [None] * count)
        if column.kind == "real":
            data[column.name] = np.array([np.nan if v is None else v for v in values], float)
        elif column.kind == "integer":
            data[column.name] = np.asarray(values, dtype=np.int64)
        elif column.kind == "text":
            data[column.name] = pd.array(values, dtype="str")
        else:
            data[column.name] = pd.array(values)
    data["attrs"] = pd.Series(columns.get("attrs", [{}] * count), dtype=object)
    frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=STORAGE_CRS))
    return frame.sort_values("id", kind="stable", ignore_index=True)
