"""The errors raised by :mod:`grids`.

Each error says which layer, feature and field the problem is in, where it has one, so that the
service and the command line can tell the user what to fix. Each class also subclasses a builtin so
that callers that only know ``ValueError`` still catch it. Warnings are
:class:`geodata.errors.GeodataWarning`.
"""

from __future__ import annotations

from typing import Any


class GridsError(Exception):
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

    def __init__(
        self,
        message: str,
        *,
        layer: str | None = None,
        feature: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.layer = layer
        self.feature = feature
        self.field = field

    def __str__(self) -> str:
        where = []
        if self.layer:
            where.append(self.layer)
        if self.feature:
            where.append(f"feature {self.feature!r}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready mapping (for ``--json`` output and API problems)."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "layer": self.layer,
            "feature": self.feature,
            "field": self.field,
        }


class GridCodeError(GridsError, ValueError):
    """A grid or division code that is malformed, inconsistent, duplicated or out of range."""


class GridBuildError(GridsError, ValueError):
    """Inputs from which no grids can be built: no district area, an unknown grid shape, …."""
