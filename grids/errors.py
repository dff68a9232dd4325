"""The errors raised by :mod:`grids`.

Each error says which layer, feature and field the problem is in, where it has one, so that the
service and the command line can tell the user what to fix. Each class also subclasses a builtin so
that callers that only know ``ValueError`` still catch it. The message and the JSON form are those
of :class:`geodata.errors.LocatedError`, as for :mod:`geodata`'s errors. Warnings are
:class:`geodata.errors.GeodataWarning`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from geodata.errors import LocatedError


class GridsError(LocatedError):
    """A problem with building or numbering grids.

    Parameters
    ----------
    message
        What is wrong and, where possible, how to fix it.
    layer
        The layer the problem is in (``subdistricts``, ``unit_grids``, …).
    feature
        The id or code of the feature to blame.
    field
        The attribute (column) the problem is in.
    """

    _places: ClassVar[Mapping[str, str]] = {
        "layer": "{}",
        "feature": "feature {!r}",
        "field": "field '{}'",
    }

    def __init__(
        self,
        message: str,
        *,
        layer: str | None = None,
        feature: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.layer = layer
        self.feature = feature
        self.field = field


class GridCodeError(GridsError, ValueError):
    """A grid or division code that is malformed, inconsistent, duplicated or out of range."""


class GridBuildError(GridsError, ValueError):
    """Inputs from which no grids can be built: no district area, an unknown grid shape, …."""
