"""Unit grid codes (单元网格代码) and the order in which unit grids are numbered.

A unit grid code has 15 digits (GB/T 30428.2): the 6-digit county code, a 3-digit sub-district part
(the last 3 digits of the 9-digit sub-district code), a 3-digit community part (the last 3 digits of
the 12-digit community code) and a 3-digit sequence, 001 to 999, within the community::

    410108 001 002 017
    county sub community sequence

Two rules extend the standard for data it does not foresee:

* **No community.** Where community polygons are missing (Huiji's communities are known only by
  code) or a community would hold more than 999 unit grids, every unit grid of that sub-district
  is numbered within the sub-district instead: the 6 digits after the sub-district part are one
  sequence, 000001 to 999999. A sub-district is numbered in one way or the other, never both, so
  the two kinds of code cannot collide. :class:`UnitGridCode` reads such a code like any other;
  its :attr:`~UnitGridCode.subdistrict_sequence` is the 6-digit number.
* **No sub-district.** Unit grids outside every sub-district polygon get the sub-district part
  ``000`` and are numbered within that part like any sub-district without communities.

Reading order: unit grids are numbered "from west to east, then from north to south". Their
reading points (the centroid of each grid, in a projected CRS whose y is the northing) are put in
rows of ``band_m`` metres of northing (row *k* holds northings in ``[k·band_m, (k+1)·band_m)``),
the rows are read from north to south, and each row from west to east; points at the same easting
go north first. A band of about the side of a unit grid makes the rows follow the rows of grids.
Centroids rather than representative points, because a centroid moves little when an outline
moves little, while a representative point can jump across the grid.

Legacy codes (CJ/T 213-2005) have 14 digits: county 6, street 2, community 2, sequence 4;
:func:`normalise_unit_grid_code` turns them into 15-digit codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grids.errors import GridCodeError

__all__ = [
    "MAX_COMMUNITY_SEQUENCE",
    "MAX_SUBDISTRICT_SEQUENCE",
    "NO_SUBDISTRICT",
    "UnitGridCode",
    "check_county_code",
    "normalise_unit_grid_code",
    "parse_unit_grid_code",
    "reading_order",
    "sequence_codes",
    "unit_grid_code",
]

MAX_COMMUNITY_SEQUENCE = 999
"""The largest sequence number of a unit grid within its community."""

MAX_SUBDISTRICT_SEQUENCE = 999_999
"""The largest sequence number of a unit grid numbered within its sub-district."""

NO_SUBDISTRICT = "000"
"""The sub-district part of unit grids outside every sub-district polygon."""

_COUNTY = re.compile(r"[0-9]{6}")
_SUBDISTRICT = re.compile(r"[0-9]{9}")
_COMMUNITY = re.compile(r"[0-9]{12}")
_PART = re.compile(r"[0-9]{3}")
_CODE = re.compile(r"[0-9]{15}")
_LEGACY_CODE = re.compile(r"[0-9]{14}")


@dataclass(frozen=True)
class UnitGridCode:
    """A 15-digit unit grid code, read into its parts (each a string of digits).

    Parameters
    ----------
    county
        The 6-digit county (district) code.
    subdistrict
        The 3-digit sub-district part; ``000`` outside every sub-district.
    community
        The 3-digit community part (the first 3 digits of the sequence when the grid is
        numbered within its sub-district).
    sequence
        The last 3 digits.
    """

    county: str
    subdistrict: str
    community: str
    sequence: str

    @property
    def code(self) -> str:
        """The 15-digit code."""
        return f"{self.county}{self.subdistrict}{self.community}{self.sequence}"

    @property
    def subdistrict_code(self) -> str | None:
        """The 9-digit sub-district code, or None for the part ``000``."""
        if self.subdistrict == NO_SUBDISTRICT:
            return None
        return f"{self.county}{self.subdistrict}"

    @property
    def subdistrict_sequence(self) -> int:
        """The last 6 digits as one number: the sequence of a grid numbered in its sub-district."""
        return int(self.community + self.sequence)

    def __str__(self) -> str:
        return self.code


def check_county_code(county: str) -> str:
    """Return ``county`` if it is a 6-digit county (district) code.

    Raises
    ------
    GridCodeError
        If it is not.
    """
    if not isinstance(county, str) or not _COUNTY.fullmatch(county):
        raise GridCodeError(
            f"the county code must be 6 digits, e.g. '410108', not {county!r}", field="county_code"
        )
    return county


def _subdistrict_part(county: str, subdistrict: str | None) -> str:
    if subdistrict is None:
        return NO_SUBDISTRICT
    if isinstance(subdistrict, str) and _PART.fullmatch(subdistrict):
        return subdistrict
    if not isinstance(subdistrict, str) or not _SUBDISTRICT.fullmatch(subdistrict):
        raise GridCodeError(
            f"a sub-district code must have 9 digits, e.g. '{county}001', not {subdistrict!r}",
            layer="subdistricts",
            feature=str(subdistrict),
            field="code",
        )
    if not subdistrict.startswith(county):
        raise GridCodeError(
            f"the sub-district {subdistrict} is not in the county {county}; give the county code "
            f"it belongs to ({subdistrict[:6]}) or the sub-districts of {county}",
            layer="subdistricts",
            feature=subdistrict,
            field="code",
        )
    return subdistrict[6:]


def _community_part(community: str) -> str:
    if isinstance(community, str) and _PART.fullmatch(community):
        return community
    if not isinstance(community, str) or not _COMMUNITY.fullmatch(community):
        raise GridCodeError(
            f"a community code must have 12 digits, e.g. '410108001001', not {community!r}",
            layer="communities",
            feature=str(community),
            field="code",
        )
    return community[9:]


def unit_grid_code(
    county: str, subdistrict: str | None, community: str | None, sequence: int
) -> str:
    """Return the 15-digit code of a unit grid.

    Parameters
    ----------
    county
        The 6-digit county code.
    subdistrict
        The 9-digit sub-district code (which must start with ``county``) or its 3-digit part;
        None outside every sub-district (part ``000``).
    community
        The 12-digit community code or its 3-digit part; None for a grid numbered within its
        sub-district.
    sequence
        The grid's number: 1 to 999 within a community, 1 to 999,999 within a sub-district.

    Returns
    -------
    str
        The code.

    Raises
    ------
    GridCodeError
        If a code is malformed, the sub-district is not in the county, or the sequence is out of
        range.
    """
    county = check_county_code(county)
    subdistrict_part = _subdistrict_part(county, subdistrict)
    if community is None:
        if not 1 <= sequence <= MAX_SUBDISTRICT_SEQUENCE:
            raise GridCodeError(
                f"the sequence of a unit grid within its sub-district must be 1 to "
                f"{MAX_SUBDISTRICT_SEQUENCE:,}, not {sequence:,}; use larger unit grids"
            )
        return f"{county}{subdistrict_part}{sequence:06d}"
    community_part = _community_part(community)
    if not 1 <= sequence <= MAX_COMMUNITY_SEQUENCE:
        raise GridCodeError(
            f"the sequence of a unit grid within its community must be 1 to "
            f"{MAX_COMMUNITY_SEQUENCE}, not {sequence:,}; number the grids within the sub-district "
            "(community None) or use larger unit grids"
        )
    return f"{county}{subdistrict_part}{community_part}{sequence:03d}"


def parse_unit_grid_code(code: str) -> UnitGridCode:
    """Read a 15-digit unit grid code into its parts.

    Parameters
    ----------
    code
        The code.

    Returns
    -------
    UnitGridCode
        Its parts.

    Raises
    ------
    GridCodeError
        If ``code`` is not 15 digits, or its last 6 digits are all zero (no grid has number 0).
    """
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise GridCodeError(
            f"a unit grid code has 15 digits (county 6, sub-district 3, community 3, sequence 3), "
            f"not {code!r}",
            layer="unit_grids",
            field="code",
        )
    if code[9:] == "000000":
        raise GridCodeError(
            f"the unit grid code {code} has sequence 0; sequences start at 1",
            layer="unit_grids",
            feature=code,
            field="code",
        )
    return UnitGridCode(code[:6], code[6:9], code[9:12], code[12:])


def normalise_unit_grid_code(code: str) -> str:
    """Return a unit grid code as 15 digits, converting a 14-digit legacy code.

    A legacy code (CJ/T 213-2005) has the county (6 digits), the street (2), the community (2) and
    the sequence (4); the street and community get a leading zero, and the sequence keeps its last
    3 digits, which it may only do when it is at most 999.

    Parameters
    ----------
    code
        A 15-digit code or a 14-digit legacy code; surrounding spaces are ignored.

    Returns
    -------
    str
        The 15-digit code.

    Raises
    ------
    GridCodeError
        If ``code`` is neither, or a legacy sequence is 0 or above 999.
    """
    text = code.strip() if isinstance(code, str) else code
    if isinstance(text, str) and _LEGACY_CODE.fullmatch(text):
        sequence = int(text[10:])
        if not 1 <= sequence <= MAX_COMMUNITY_SEQUENCE:
            raise GridCodeError(
                f"the legacy unit grid code {text} has sequence {text[10:]}; only sequences 0001 "
                f"to {MAX_COMMUNITY_SEQUENCE:04d} fit the 3 digits of a 15-digit code",
                layer="unit_grids",
                feature=text,
                field="code",
            )
        text = f"{text[:6]}0{text[6:8]}0{text[8:10]}{sequence:03d}"
    return parse_unit_grid_code(text).code


def reading_order(x: ArrayLike, y: ArrayLike, *, band_m: float) -> NDArray[np.intp]:
    """Return the positions of points in reading order: rows north to south, each west to east.

    Parameters
    ----------
    x, y
        Eastings and northings in metres (a projected CRS).
    band_m
        The height of a row in metres.

    Returns
    -------
    numpy.ndarray
        The positions of the points, first to last.

    Raises
    ------
    ValueError
        If ``band_m`` is not a positive number.
    """
    if not band_m > 0:
        raise ValueError(f"the row height band_m must be positive, not {band_m}")
    eastings = np.asarray(x, dtype=np.float64)
    northings = np.asarray(y, dtype=np.float64)
    rows = np.floor(northings / band_m)
    order: NDArray[np.intp] = np.lexsort((-northings, eastings, -rows))
    return order


def _rank_within(groups: NDArray[np.intp], order: NDArray[np.intp]) -> NDArray[np.int64]:
    """Return each item's 1-based rank within its group, ranking by position in ``order``."""
    rank_in_order = np.empty(len(order), dtype=np.int64)
    rank_in_order[order] = np.arange(len(order))
    by_group = np.lexsort((rank_in_order, groups))
    sorted_groups = groups[by_group]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    first_of_group = np.repeat(starts, np.diff(np.r_[starts, len(by_group)]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[by_group] = np.arange(len(by_group)) - first_of_group + 1
    return ranks


def _parts_of(
    codes: Sequence[str | None], part_of: Callable[[str | None], str]
) -> NDArray[np.str_]:
    """Return ``part_of`` each code, working out each distinct code once."""
    keys = np.array(["" if code is None else code for code in codes], dtype=str)
    distinct, index = np.unique(keys, return_inverse=True)
    parts = np.array([part_of(code or None) for code in distinct.tolist()], dtype=str)
    result: NDArray[np.str_] = parts[index] if len(parts) else np.array([], dtype=str)
    return result


def sequence_codes(
    county_code: str,
    subdistrict_codes: Sequence[str | None],
    community_codes: Sequence[str | None],
    x: ArrayLike,
    y: ArrayLike,
    *,
    band_m: float,
) -> list[str]:
    """Return the codes of unit grids, numbered in reading order.

    Each sub-district is numbered by community when every one of its grids has a community and
    no community has more than 999 grids, and otherwise as one sequence (see the module
    documentation).

    Parameters
    ----------
    county_code
        The 6-digit county code.
    subdistrict_codes
        The 9-digit code of each grid's sub-district, or None outside every sub-district.
    community_codes
        The 12-digit code of each grid's community, or None where it is not known.
    x, y
        The reading point of each grid, in metres of a projected CRS.
    band_m
        The height of a reading row in metres, about the side of a unit grid.

    Returns
    -------
    list of str
        The code of each grid, in the order given; all distinct.

    Raises
    ------
    GridCodeError
        If a code is malformed, a sub-district is not in the county, or a sub-district has more
        than 999,999 grids.
    ValueError
        If the inputs have different lengths or ``band_m`` is not positive.
    """
    county = check_county_code(county_code)
    count = len(subdistrict_codes)
    eastings = np.asarray(x, dtype=np.float64)
    northings = np.asarray(y, dtype=np.float64)
    if not len(community_codes) == len(eastings) == len(northings) == count:
        raise ValueError("subdistrict_codes, community_codes, x and y must have the same length")
    if count == 0:
        return []
    subdistrict_parts = _parts_of(subdistrict_codes, lambda code: _subdistrict_part(county, code))
    community_parts = _parts_of(
        community_codes, lambda code: "" if code is None else _community_part(code)
    )
    order = reading_order(eastings, northings, band_m=band_m)

    by_community = np.char.add(np.char.add(subdistrict_parts, "/"), community_parts)
    _, community_of, community_sizes = np.unique(
        by_community, return_inverse=True, return_counts=True
    )
    subdistrict_keys, subdistrict_of = np.unique(subdistrict_parts, return_inverse=True)
    unnumbered = (community_parts == "") | (community_sizes[community_of] > MAX_COMMUNITY_SEQUENCE)
    numbered_in_subdistrict = np.bincount(subdistrict_of, weights=unnumbered) > 0
    in_subdistrict = numbered_in_subdistrict[subdistrict_of]

    groups = np.where(in_subdistrict, subdistrict_of, len(subdistrict_keys) + community_of)
    sequences = _rank_within(groups.astype(np.intp), order)
    too_many = in_subdistrict & (sequences > MAX_SUBDISTRICT_SEQUENCE)
    if too_many.any():
        part = subdistrict_parts[np.flatnonzero(too_many)[0]]
        raise GridCodeError(
            f"the sub-district part {part} would have more than {MAX_SUBDISTRICT_SEQUENCE:,} unit "
            "grids; use larger unit grids",
            layer="unit_grids",
            field="code",
        )
    return [
        f"{county}{sub}{seq:06d}" if whole else f"{county}{sub}{com}{seq:03d}"
        for sub, com, seq, whole in zip(
            subdistrict_parts.tolist(),
            community_parts.tolist(),
            sequences.tolist(),
            in_subdistrict.tolist(),
            strict=True,
        )
    ]
