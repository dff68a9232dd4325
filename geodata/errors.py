"""The few errors and warnings raised by :mod:`geodata`.

Every error carries where the problem is (``file``, ``row``, ``field``) so that the service and the
command line can tell the user exactly what to fix. Each class also subclasses a builtin so that
callers that only know ``ValueError`` or ``OSError`` still catch it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class LocatedError(Exception):
    """An error that says where its problem is, in the places its subclass names.

    A subclass lists its places in ``_places``, each with the format of its part of the message
    (``"row {}"``), and sets an attribute of each name. The message is the parts of the places
    that are given, then the problem: ``roads.geojson: row 3: field 'level': ...``.
    """

    _places: ClassVar[Mapping[str, str]] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _where(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._places}

    def __str__(self) -> str:
        where = [
            self._places[name].format(value)
            for name, value in self._where().items()
            if value is not None and value != ""
        ]
        return f"{': '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready mapping (for ``--json`` output and API problems)."""
        return {"error": type(self).__name__, "message": self.message, **self._where()}


class GeodataError(LocatedError):
    """A problem with the geodata a user gave us.

    Parameters
    ----------
    message
        What is wrong and, where possible, how to fix it.
    file
        The file the problem is in.
    row
        The 1-based row (feature) number, counted as the user's tools count them.
    field
        The attribute (column) the problem is in.
    """

    _places: ClassVar[Mapping[str, str]] = {"file": "{}", "row": "row {}", "field": "field '{}'"}

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.row = row
        self.field = field


class InputFileError(GeodataError, ValueError):
    """A file that cannot be read: missing, unreadable, truncated or of an unknown format."""


class FileTooLargeError(InputFileError):
    """A file larger than the configured limit."""


class EncodingError(InputFileError):
    """Text in a file that does not decode with the encoding given or detected."""


class MissingCRSError(GeodataError, ValueError):
    """A file that does not say which coordinate reference system it uses."""


class CoordinateError(GeodataError, ValueError):
    """Coordinates that cannot be right: swapped latitude/longitude, or far outside the area."""


class InvalidGeometryError(GeodataError, ValueError):
    """A geometry that is empty, of the wrong type, or invalid and not safely repairable."""


class DuplicateIdError(GeodataError, ValueError):
    """Two features that claim the same id."""


class FieldError(GeodataError, ValueError):
    """A missing attribute, or one whose value has the wrong type."""


@dataclass(frozen=True)
class CellProblem:
    """A problem in one cell of a table file (a staff list, a roster)."""

    row: int
    field: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field} = {self.value!r}: {self.message}"


class TableFileError(FieldError):
    """A table file with bad rows; ``problems`` lists every one of them.

    ``row`` and ``field`` are those of the first problem.
    """

    def __init__(self, problems: Sequence[CellProblem], *, file: str | None = None) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{count} {noun}; nothing was imported:\n{lines}",
            file=file,
            row=problems[0].row if problems else None,
            field=problems[0].field if problems else None,
        )
        self.problems: list[CellProblem] = list(problems)

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready mapping, with every problem."""
        return {
            **super().to_dict(),
            "problems": [
                {"row": p.row, "field": p.field, "value": p.value, "message": p.message}
                for p in self.problems
            ],
        }


class GeodataWarning(UserWarning):
    """Something was changed on import (a geometry repaired, a value defaulted): tell the user."""
