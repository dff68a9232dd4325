"""Where the features of an OGC API collection come from.

A collection is a :class:`FeatureSource`. Today each stored layer is one (:class:`LayerSource`);
the coverage of a duty slot will be another, chosen by the ``datetime`` parameter, added to the
sources of the app (``app.state.feature_sources``) without changing the routes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from geodata.layers import LAYERS, LayerSpec
from server.errors import NotFound
from server.ogc.geojson import Bounds, encode_features, geojson_features
from server.ogc.layer_snapshot import SNAPSHOTS, LayerSnapshot
from server.ogc.page_cache import CommitWatch, PageCache, commit_watch, layer_version
from server.ogc.pages import read_provenance, read_rows
from server.storage import Provenance, Store


@dataclass(frozen=True)
class Page:
    """One page of a collection's features.

    Attributes
    ----------
    features
        GeoJSON Feature objects, or their JSON text
        (:func:`~server.ogc.geojson.encode_features`).
    more
        Whether features follow this page.
    number_matched
        How many features match in all, where that is cheap to know; else None.
    version
        The version of the collection the page is of, where it names that content for good
        (an ETag may be made of it); else None.
    encoded
        The features as UTF-8 JSON text, separated by commas, where they were encoded once to
        be given many times; else None.
    """

    features: Sequence[Mapping[str, Any] | str]
    more: bool
    number_matched: int | None
    version: str | None = None
    encoded: bytes | None = None


class FeatureSource(Protocol):
    """The features of one collection, and what describes them."""

    @property
    def id(self) -> str:
        """Return the collection id."""
        ...

    @property
    def title(self) -> str:
        """Return a human title."""
        ...

    @property
    def description(self) -> str:
        """Return a sentence about the collection."""
        ...

    @property
    def spec(self) -> LayerSpec:
        """Return the columns and geometry family of its features."""
        ...

    def extent(self, store: Store) -> Bounds | None:
        """Return the lon/lat box of its features, None if they have no geometry."""
        ...

    def items(
        self,
        store: Store,
        *,
        bbox: Bounds | None,
        limit: int,
        offset: int,
        datetime: str | None,
    ) -> Page:
        """Return a page of features, ordered by id."""
        ...

    def item(self, store: Store, feature_id: str) -> dict[str, Any]:
        """Return one feature; raise :class:`~server.errors.NotFound` if there is none."""
        ...


@dataclass(frozen=True)
class LayerSource:
    """A stored layer as a collection (``datetime`` does not apply and is ignored)."""

    spec: LayerSpec

    @property
    def id(self) -> str:
        """Return the layer name."""
        return self.spec.name

    @property
    def title(self) -> str:
        """Return the layer title."""
        return self.spec.title or self.spec.name

    @property
    def description(self) -> str:
        """Return a sentence naming the layer's geometry and columns."""
        columns = ", ".join(c.name for c in self.spec.columns)
        return (
            f"the {self.spec.name} layer ({self.spec.geometry.replace('_', ' ')} features): "
            f"{columns}, and attrs from the source file"
        )

    def extent(self, store: Store) -> Bounds | None:
        """Return the lon/lat box of the layer, None if it has no geometry."""
        return store.layer_extent(self.spec.name)

    def items(
        self,
        store: Store,
        *,
        bbox: Bounds | None,
        limit: int,
        offset: int,
        datetime: str | None,
    ) -> Page:
        """Return a page of the layer; one feature more is read to tell whether others follow.

        Pages of a layer whose last write has settled are cut from the layer's snapshot
        (:mod:`server.ogc.layer_snapshot`), read once per version, and kept (:data:`PAGES`) under
        the layer's version until the layer is written anew. Where the database is watched for
        commits (:func:`~server.ogc.page_cache.watch_commits`), the version read last is used
        until the next commit, and a page is given without a query.
        """
        watch, generation, known, provenance = self._watched(store)
        version = layer_version(provenance) if known else None
        kept = self._held_page(store, version, bbox=bbox, limit=limit, offset=offset)
        if kept is not None:
            return kept
        with store.connection() as connection:
            if not known:
                provenance = read_provenance(connection, self.spec.name)
                if watch is not None:
                    watch.remember(self.spec.name, generation, provenance)
                version = layer_version(provenance)
                kept = self._held_page(store, version, bbox=bbox, limit=limit, offset=offset)
                if kept is not None:
                    return kept
            if version is not None:
                snapshot = SNAPSHOTS.read(store, connection, self.spec, version)
                if snapshot is not None:
                    return _snapshot_page(store, snapshot, bbox=bbox, limit=limit, offset=offset)
            rows = read_rows(connection, self.spec, bbox=bbox, limit=limit + 1, offset=offset)
            if known and watch is not None and watch.generation() != generation:
                # a commit landed since the version was known: the rows may be of a later one,
                # so the version is read in their transaction
                provenance = read_provenance(connection, self.spec.name)
                version = layer_version(provenance)
        matched = None
        if bbox is None:
            matched = provenance.feature_count if provenance is not None else 0
        more = len(rows) > limit
        features = tuple(encode_features(rows[:limit], self.spec))
        if bbox is not None and offset == 0 and not more:
            matched = len(features)
        if version is None:
            return Page(features, more, matched, version)
        encoded = ",".join(features).encode("utf-8")
        page = Page(features, more, matched, version, encoded)
        key = (self.spec.name, version, bbox, limit, offset)
        PAGES.put(store, key, page, len(encoded) + sum(len(text) for text in features))
        return page

    def kept_page(
        self, store: Store, *, bbox: Bounds | None, limit: int, offset: int
    ) -> Page | None:
        """Return the page :meth:`items` would, if it is known current without a query.

        That is a page kept, or cut from the layer's snapshot, of the version read last. None
        when the database would have to be asked: the database is not watched for commits,
        something was committed since the layer's version was read, or neither the page nor a
        snapshot is held. This never waits for the database, so it may run on the event loop.
        """
        _, _, known, provenance = self._watched(store)
        version = layer_version(provenance) if known else None
        return self._held_page(store, version, bbox=bbox, limit=limit, offset=offset)

    def _watched(
        self, store: Store
    ) -> tuple[CommitWatch | None, int | None, bool, Provenance | None]:
        """Return the store's commit watch, its generation, and the layer's provenance if known.

        The provenance is known (the third value True) when it was read at the watch's current
        generation, that is, nothing was committed since: then it is the layer's as it is now.
        """
        watch = commit_watch(store)
        if watch is None:
            return None, None, False, None
        generation = watch.generation()
        known, provenance = watch.provenance(self.spec.name, generation)
        return watch, generation, known, provenance

    def _held_page(
        self, store: Store, version: str | None, *, bbox: Bounds | None, limit: int, offset: int
    ) -> Page | None:
        """Return the page of the layer at ``version``, kept or cut from its snapshot, if held."""
        if version is None:
            return None
        kept = PAGES.get(store, (self.spec.name, version, bbox, limit, offset))
        if kept is not None:
            return kept
        snapshot = SNAPSHOTS.get(store, self.spec.name, version)
        if snapshot is None:
            return None
        return _snapshot_page(store, snapshot, bbox=bbox, limit=limit, offset=offset)

    def item(self, store: Store, feature_id: str) -> dict[str, Any]:
        """Return the feature ``feature_id``; from the layer's snapshot if it is known current."""
        _, _, known, provenance = self._watched(store)
        version = layer_version(provenance) if known else None
        snapshot = SNAPSHOTS.get(store, self.spec.name, version)
        if snapshot is not None:
            position = snapshot.positions.get(feature_id)
            feature: dict[str, Any] | None = (
                json.loads(snapshot.features[position]) if position is not None else None
            )
        else:
            frame = store.read_layer(self.spec.name, ids=[feature_id])
            feature = None if frame.empty else geojson_features(frame, self.spec)[0]
        if feature is None:
            raise NotFound(
                f"the collection {self.spec.name!r} has no feature {feature_id!r}",
                collection=self.spec.name,
                feature=feature_id,
            )
        return feature


PAGES: PageCache[Page] = PageCache()
"""The pages of layers this process has read lately (see :mod:`server.ogc.page_cache`)."""


def _snapshot_page(
    store: Store, snapshot: LayerSnapshot, *, bbox: Bounds | None, limit: int, offset: int
) -> Page:
    """Return a page cut from ``snapshot``, and keep it under the snapshot's version."""
    cut = snapshot.page(bbox=bbox, limit=limit, offset=offset)
    encoded = ",".join(cut.features).encode("utf-8")
    page = Page(cut.features, cut.more, cut.number_matched, snapshot.version, encoded)
    key = (snapshot.layer, snapshot.version, bbox, limit, offset)
    PAGES.put(store, key, page, 2 * len(encoded))
    return page


def layer_sources() -> dict[str, FeatureSource]:
    """Return a collection for each layer of :data:`geodata.layers.LAYERS`, by id."""
    return {name: LayerSource(spec) for name, spec in LAYERS.items()}


def find_source(sources: dict[str, FeatureSource], collection_id: str) -> FeatureSource:
    """Return the collection ``collection_id``.

    Raises
    ------
    NotFound
        If there is none; the message lists the collections there are.
    """
    try:
        return sources[collection_id]
    except KeyError:
        raise NotFound(
            f"no collection {collection_id!r}; collections are: {', '.join(sources)}",
            collection=collection_id,
        ) from None
