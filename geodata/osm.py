"""Read roads (``highway=*`` ways) from OpenStreetMap files.

Needs pyosmium, which comes with the ``osm`` extra (``pip install dutygrid[osm]``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geodata.errors import FileTooLargeError, GeodataWarning, InputFileError
from geodata.layers import STORAGE_CRS

OSM_ROAD_COLUMNS = ("osm_id", "highway", "name", "name_zh", "name_en", "oneway", "lanes", "tags")

# Lower-cased file name endings and the osmium format each stands for; longest first.
_FORMATS = (
    (".osm.pbf", "pbf"),
    (".osm.gz", "osm.gz"),
    (".osm.bz2", "osm.bz2"),
    (".pbf", "pbf"),
    (".osm", "osm"),
)

# flex_mem keeps node locations in a sparse table for small files and switches to a dense array
# once the node ids get dense; a city extract (a few million nodes) fits in well under 1 GB.
_NODE_LOCATION_INDEX = "flex_mem"

_EXAMPLE_IDS = 5


def read_osm_roads(
    path: str | os.PathLike[str],
    *,
    highway: Collection[str] | None = None,
    max_bytes: int | None = None,
) -> gpd.GeoDataFrame:
    """Read the roads (ways tagged ``highway=*``) of an OpenStreetMap file as lines.

    Ways tagged ``area=yes`` are skipped, and so are closed ``highway=pedestrian`` ways (squares
    and plazas) unless they are tagged ``area=no``. Ways with a node missing from the file (an
    extract cut them at its edge) are skipped, as are ways with fewer than two distinct node
    locations; each kind is reported by one warning.

    Parameters
    ----------
    path
        An OSM XML file (``.osm``, or compressed ``.osm.gz`` / ``.osm.bz2``) or an OSM PBF file
        (``.osm.pbf`` / ``.pbf``).
    highway
        The ``highway`` values to keep, e.g. ``{"primary", "secondary"}``; all when None.
    max_bytes
        The largest file size accepted, counted on disk (compressed files as they are);
        no limit when None.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per way, in file order, in EPSG:4326, with the columns ``osm_id`` (``"w"`` and
        the way id), ``highway``, ``name``, ``name_zh`` (``name:zh``, else ``name:zh-Hans``),
        ``name_en`` (``name:en``), ``oneway`` and ``lanes`` (the tag values as written, text),
        ``tags`` (a dict of all the way's tags) and ``geometry`` (a LineString through the way's
        nodes). The text columns have dtype object and hold None where a tag is absent.

    Raises
    ------
    InputFileError
        If pyosmium is not installed, the file is missing, not an OSM file by name or content,
        truncated or corrupt, or holds no road.
    FileTooLargeError
        If the file is larger than ``max_bytes``.

    Warns
    -----
    GeodataWarning
        Once if ways were skipped for nodes missing from the file, and once if ways were skipped
        for having fewer than two distinct node locations; each says how many and names a few.

    Notes
    -----
    Node locations are kept in osmium's ``flex_mem`` index, which suits city and province
    extracts; coordinates have osmium's precision of 1e-7 degrees.
    """
    try:
        import osmium  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise InputFileError(
            "reading OpenStreetMap files needs pyosmium: install dutygrid[osm]", file=str(path)
        ) from None

    file_name = os.fspath(path)
    file_format = _check_file(Path(file_name), max_bytes)
    wanted = None if highway is None else ({highway} if isinstance(highway, str) else set(highway))

    processor = (
        osmium.FileProcessor(
            osmium.io.File(file_name, file_format), osmium.osm.NODE | osmium.osm.WAY
        )
        .with_locations(_NODE_LOCATION_INDEX)
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )

    rows: dict[str, list[Any]] = {column: [] for column in OSM_ROAD_COLUMNS}
    xs: list[float] = []
    ys: list[float] = []
    line_index: list[int] = []
    missing_nodes: list[str] = []
    too_short: list[str] = []
    try:
        for way in processor:
            if not isinstance(way, osmium.osm.Way):  # the filters let only ways through
                continue
            tags = {tag.k: tag.v for tag in way.tags}
            if not _is_road(tags, wanted, closed=way.is_closed()):
                continue
            osm_id = f"w{way.id}"
            locations = [node.location for node in way.nodes]
            if not all(location.valid() for location in locations):
                missing_nodes.append(osm_id)
                continue
            coords = [(location.lon, location.lat) for location in locations]
            if len(set(coords)) < 2:
                too_short.append(osm_id)
                continue
            row_number = len(rows["osm_id"])
            xs.extend(x for x, _ in coords)
            ys.extend(y for _, y in coords)
            line_index.extend([row_number] * len(coords))
            _append_row(rows, osm_id, tags)
    except (RuntimeError, UnicodeDecodeError) as exc:
        raise InputFileError(
            f"not a readable OSM {file_format} file (truncated or corrupt?): {exc}",
            file=file_name,
        ) from exc

    if not rows["osm_id"]:
        wanted_text = "" if wanted is None else f" with highway in {sorted(wanted)}"
        skipped = len(missing_nodes) + len(too_short)
        skipped_text = f"; {skipped} skipped for missing or too few nodes" if skipped else ""
        raise InputFileError(
            f"no roads (highway=* ways{wanted_text}) in {file_name}{skipped_text}", file=file_name
        )
    _warn_skipped(missing_nodes, "with nodes missing from the file (cut by the extract)", file_name)
    _warn_skipped(too_short, "with fewer than 2 distinct node locations", file_name)

    geometry = shapely.linestrings(xs, ys, indices=line_index)
    columns = {column: pd.Series(values, dtype=object) for column, values in rows.items()}
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geometry), crs=STORAGE_CRS)


def _check_file(path: Path, max_bytes: int | None) -> str:
    """Return the osmium format of ``path`` after checking it exists and is small enough."""
    lower_name = path.name.lower()
    file_format = next((fmt for end, fmt in _FORMATS if lower_name.endswith(end)), None)
    if file_format is None:
        endings = ", ".join(end for end, _ in _FORMATS)
        raise InputFileError(
            f"not an OpenStreetMap file name; expected one of {endings}", file=str(path)
        )
    if not path.is_file():
        raise InputFileError("no such file", file=str(path))
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise FileTooLargeError(
            f"file is {size} bytes, more than the limit of {max_bytes}", file=str(path)
        )
    if size == 0:
        raise InputFileError("file is empty", file=str(path))
    return file_format


def _is_road(tags: dict[str, str], wanted: set[str] | None, *, closed: bool) -> bool:
    """Return whether a way with ``tags`` is a wanted road rather than an area or another class."""
    highway = tags.get("highway")
    if highway is None or (wanted is not None and highway not in wanted):
        return False
    area = tags.get("area")
    if area == "yes":
        return False
    # OSM reads a closed highway way as a line unless area=yes, but squares (广场) are often mapped
    # as closed pedestrian ways without it; a true pedestrian loop can say so with area=no.
    return not (closed and highway == "pedestrian" and area != "no")


def _append_row(rows: dict[str, list[Any]], osm_id: str, tags: dict[str, str]) -> None:
    rows["osm_id"].append(osm_id)
    rows["highway"].append(tags["highway"])
    rows["name"].append(tags.get("name"))
    rows["name_zh"].append(tags.get("name:zh", tags.get("name:zh-Hans")))
    rows["name_en"].append(tags.get("name:en"))
    rows["oneway"].append(tags.get("oneway"))
    rows["lanes"].append(tags.get("lanes"))
    rows["tags"].append(tags)


def _warn_skipped(osm_ids: list[str], reason: str, file_name: str) -> None:
    if not osm_ids:
        return
    examples = ", ".join(osm_ids[:_EXAMPLE_IDS]) + (", ..." if len(osm_ids) > _EXAMPLE_IDS else "")
    warnings.warn(
        f"{file_name}: skipped {len(osm_ids)} highway way(s) {reason}: {examples}",
        GeodataWarning,
        stacklevel=3,
    )
