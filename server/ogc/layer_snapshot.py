"""A whole layer held encoded in memory, so that any page of it is a slice and never a query.

A page read from the database costs its query and the encoding of each feature as GeoJSON (about
4 ms for a hundred unit grids), and a page kept (:mod:`server.ogc.page_cache`) helps only the
next client that asks for the very same page; a map client panning asks for a new box each time.
A :class:`LayerSnapshot` holds every feature of one version of a layer, encoded once, in the
layer's order, with its bounding box: a page for any box, ``limit`` and ``offset`` is then a
vectorised test of the boxes and a join of texts, tens of microseconds, with the exact count of
matching features for free.

A snapshot is made of a layer's settled version only (:func:`~server.ogc.page_cache.layer_version`)
and only of a layer of at most :data:`MAX_FEATURES` features. Each process keeps at most
:data:`MAX_BYTES` of them, one version per layer, the least recently read going first.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from sqlalchemy.engine import Connection

from geodata.layers import LayerSpec
from server.ogc.geojson import Bounds, encode_features, row_geometries
from server.ogc.page_cache import PageCache, layer_version
from server.ogc.pages import checked_box, read_provenance, read_rows
from server.storage import Store

MAX_FEATURES: Final = 250_000
"""The most features of a layer held in a snapshot; a larger layer is read page by page."""
MAX_BYTES: Final = 256 * 1024 * 1024
"""The most text (UTF-8 bytes, roughly) a process holds in snapshots."""


@dataclass(frozen=True)
class SnapshotPage:
    """A page cut from a snapshot.

    Attributes
    ----------
    features
        The features' GeoJSON texts, in the layer's order.
    more
        Whether matching features follow the page.
    number_matched
        How many features match in all.
    """

    features: tuple[str, ...]
    more: bool
    number_matched: int


@dataclass(frozen=True, eq=False)
class LayerSnapshot:
    """Every feature of one version of a layer, encoded, in the order of the layer's ids.

    Attributes
    ----------
    layer
        The layer's name.
    version
        The layer's version (:func:`~server.ogc.page_cache.layer_version`).
    features
        Each feature's GeoJSON text.
    bounds
        Each feature's (min lon, min lat, max lon, max lat), NaN where it has no geometry: the
        bounds the database's ``bbox`` condition compares (:func:`server.ogc.pages.read_rows`).
    positions
        Each feature's place in :attr:`features`, by id.
    """

    layer: str
    version: str
    features: Sequence[str]
    bounds: np.ndarray
    positions: Mapping[str, int]

    @property
    def size(self) -> int:
        """Return about how many bytes the snapshot holds."""
        return sum(len(text) for text in self.features) + self.bounds.nbytes

    def page(self, *, bbox: Bounds | None, limit: int, offset: int) -> SnapshotPage:
        """Return the page that :func:`~server.ogc.pages.read_rows` would give.

        Parameters
        ----------
        bbox
            Keep the features whose bounding box meets it (none without a geometry).
        limit
            At most this many features.
        offset
            Skip this many matching features first.

        Raises
        ------
        ValueError
            If the box is not four finite numbers with min ≤ max, or ``limit`` or ``offset`` is
            negative.
        """
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must not be negative, not {limit} and {offset}")
        if bbox is None:
            matched = len(self.features)
            chosen = tuple(self.features[offset : offset + limit])
        else:
            minx, miny, maxx, maxy = checked_box(bbox)
            b = self.bounds
            # NaN compares false: a feature without geometry never meets a box
            meets = (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
            indices = np.flatnonzero(meets)
            matched = len(indices)
            features = self.features
            chosen = tuple(features[i] for i in indices[offset : offset + limit].tolist())
        return SnapshotPage(chosen, offset + len(chosen) < matched, matched)


def read_snapshot(connection: Connection, spec: LayerSpec) -> LayerSnapshot | None:
    """Read and encode the whole of a layer's current version.

    None where no snapshot can stand for the version: the layer was never written, its last
    write has not settled, it has more than :data:`MAX_FEATURES` features, or it was written
    while it was being read (its version before and after the read differ).

    Parameters
    ----------
    connection
        A connection of the store.
    spec
        The layer.
    """
    before = read_provenance(connection, spec.name)
    version = layer_version(before)
    if before is None or version is None or before.feature_count > MAX_FEATURES:
        return None
    rows = read_rows(connection, spec)
    # a write replaces the rows and the provenance together: the same version read after the
    # rows means the rows are of it, whatever the isolation level
    if layer_version(read_provenance(connection, spec.name)) != version:
        return None
    geometries = row_geometries(rows)
    features = encode_features(rows, spec, geometries)
    positions = {row[0]: i for i, row in enumerate(rows)}
    # column-major: the box test reads each column whole, 2-3 times faster when it is contiguous
    bounds = np.asfortranarray(shapely.bounds(geometries))
    return LayerSnapshot(spec.name, version, features, bounds, positions)


class Snapshots:
    """The snapshot of each layer of each store that this process holds, safe across threads.

    Parameters
    ----------
    max_bytes
        The most bytes held over all snapshots (:attr:`LayerSnapshot.size`).
    """

    def __init__(self, *, max_bytes: int = MAX_BYTES) -> None:
        self._held: PageCache[LayerSnapshot] = PageCache(max_pages=1 << 16, max_bytes=max_bytes)
        self._lock = threading.Lock()
        self._reading: dict[tuple[int, str], threading.Lock] = {}

    def get(self, store: Store, layer: str, version: str | None) -> LayerSnapshot | None:
        """Return the snapshot of ``layer`` at ``version``, None if none is held."""
        if version is None:
            return None
        held = self._held.get(store, layer)
        return held if held is not None and held.version == version else None

    def read(
        self, store: Store, connection: Connection, spec: LayerSpec, version: str | None
    ) -> LayerSnapshot | None:
        """Return the snapshot of a layer, reading it through ``connection`` if none is held.

        ``version`` is the version the caller believes current: a snapshot of it is given if
        held. Otherwise the layer is read (:func:`read_snapshot`), one thread at a time per
        layer, and the snapshot of whatever version it then has is held and given.
        """
        held = self.get(store, spec.name, version)
        if held is not None:
            return held
        with self._lock:
            reading = self._reading.setdefault((id(store), spec.name), threading.Lock())
        with reading:
            held = self._held.get(store, spec.name)
            current = layer_version(read_provenance(connection, spec.name))
            if held is not None and held.version == current:
                return held
            snapshot = read_snapshot(connection, spec)
            if snapshot is not None:
                self._held.put(store, spec.name, snapshot, snapshot.size)
            return snapshot

    def clear(self) -> None:
        """Forget every snapshot."""
        self._held.clear()


SNAPSHOTS: Final = Snapshots()
"""The layers this process holds whole (see :class:`Snapshots`)."""
