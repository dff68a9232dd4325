"""Pages of a stored layer read as rows, for the OGC API's items and the layers' GeoJSON.

:meth:`server.storage.Store.read_layer` builds a GeoDataFrame, which for a page of a hundred
features costs ten times what the database does; a page that only becomes GeoJSON text
(:func:`server.ogc.geojson.encode_features`) is read here as the table's rows instead. The features
and their order are those of ``read_layer`` with the same ``bbox``, ``limit`` and ``offset``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geodata.layers import LayerSpec
from server.migrations import STORAGE_SRID, layer_table, layer_table_name, provenance_table
from server.ogc.geojson import Bounds
from server.storage import Provenance

MAX_ROWS: Final = 2**63 - 1
"""The largest ``limit`` or ``offset`` the databases take (a signed 64-bit integer)."""

_METADATA: Final[dict[str, sa.MetaData]] = {}
_PROVENANCE: Final = provenance_table(sa.MetaData())


def _table(spec: LayerSpec, dialect: str) -> sa.Table:
    metadata = _METADATA.setdefault(dialect, sa.MetaData())
    name = layer_table_name(spec.name)
    if name in metadata.tables:
        return metadata.tables[name]
    return layer_table(spec, metadata, dialect=dialect)


def checked_box(bbox: Bounds) -> tuple[float, float, float, float]:
    """Return ``bbox`` as four floats; raise ValueError unless they are finite with min ≤ max."""
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in bbox) or minx > maxx or miny > maxy:
        raise ValueError(f"the box {bbox} is not (min lon, min lat, max lon, max lat)")
    return minx, miny, maxx, maxy


def _meets(table: sa.Table, bbox: Bounds, dialect: str) -> sa.ColumnElement[bool]:
    """Return the condition of Store.read_layer's ``bbox``: the feature's box meets ``bbox``."""
    minx, miny, maxx, maxy = checked_box(bbox)
    if dialect == "postgresql":
        geom = table.c.geom
        envelope = sa.func.ST_MakeEnvelope(
            minx, miny, maxx, maxy, sa.literal_column(str(STORAGE_SRID))
        )
        return sa.and_(
            geom.bool_op("&&")(envelope),
            sa.func.ST_XMin(geom) <= maxx,
            sa.func.ST_XMax(geom) >= minx,
            sa.func.ST_YMin(geom) <= maxy,
            sa.func.ST_YMax(geom) >= miny,
        )
    c = table.c
    return sa.and_(c.minx <= maxx, c.maxx >= minx, c.miny <= maxy, c.maxy >= miny)


def read_rows(
    connection: Connection,
    spec: LayerSpec,
    *,
    bbox: Bounds | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[Sequence[Any]]:
    """Return a page of a layer as rows ``(id, <spec columns>, attrs JSON, WKB)``, ordered by id.

    Parameters
    ----------
    connection
        A connection of the store (:meth:`server.storage.Store.connection`).
    spec
        The layer.
    bbox
        Keep the features whose bounding box meets it (none without a geometry).
    limit
        At most this many rows; None for all.
    offset
        Skip this many rows first.

    Raises
    ------
    ValueError
        If the box is not four finite numbers with min ≤ max, or ``limit`` or ``offset`` is
        negative.
    """
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError(f"limit and offset must not be negative, not {limit} and {offset}")
    dialect = connection.dialect.name
    table = _table(spec, dialect)
    order = table.c.id.collate("C") if dialect == "postgresql" else table.c.id
    query = sa.select(*(table.c[c] for c in spec.column_names), table.c.geom).order_by(order)
    if bbox is not None:
        query = query.where(_meets(table, bbox, dialect))
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return connection.execute(query).all()


def read_provenance(connection: Connection, layer: str) -> Provenance | None:
    """Return where a layer came from, None if it was never written."""
    query = sa.select(_PROVENANCE).where(_PROVENANCE.c.layer == layer)
    row = connection.execute(query).mappings().first()
    return Provenance(**row) if row is not None else None


def feature_count(connection: Connection, layer: str) -> int:
    """Return the number of features of a layer, as its provenance records them (0 if unwritten).

    A write replaces a whole layer together with its provenance, so the count is exact.
    """
    query = sa.select(_PROVENANCE.c.feature_count).where(_PROVENANCE.c.layer == layer)
    count = connection.execute(query).scalar_one_or_none()
    return int(count) if count is not None else 0
