"""Array types and ragged-array helpers shared by the grid modules."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

GeometryArray: TypeAlias = NDArray[np.object_]
IndexArray: TypeAlias = NDArray[np.intp]
FloatArray: TypeAlias = NDArray[np.float64]
BoolArray: TypeAlias = NDArray[np.bool_]


def geometry_array(geometries: Any) -> GeometryArray:
    """Return geometries as a numpy object array (what the shapely stubs cannot promise)."""
    return np.asarray(geometries, dtype=object)


def ragged_positions(counts: IndexArray) -> tuple[IndexArray, IndexArray]:
    """Return, for groups of ``counts`` items laid end to end, each item's group and rank in it."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(int(counts.sum())) - starts[group]
