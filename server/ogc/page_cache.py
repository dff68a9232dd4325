"""Encoded pages of a layer, kept for the next client that asks for the same page.

A page is kept under the layer's version: its provenance (source, SHA-256, feature count, import
time), which every write of the layer replaces in the same transaction. The import time has a
resolution of a second, so two writes within one second could leave the same version; a page is
therefore kept only once its layer's last write is :data:`SETTLED_SECONDS` old, when any later
write must carry a later time. Each process (each uvicorn worker) keeps its own pages, at most
:data:`MAX_PAGES` of them and :data:`MAX_BYTES` of text, the least recently read going first.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import Final, Generic, TypeVar

from server.storage import Provenance, Store

SETTLED_SECONDS: Final = 2
"""How old a layer's last write must be before its pages are kept (import times are in seconds)."""
MAX_PAGES: Final = 512
"""The most pages a process keeps."""
MAX_BYTES: Final = 64 * 1024 * 1024
"""The most text (UTF-8 bytes, roughly) a process keeps in pages."""

Value = TypeVar("Value")


def layer_version(provenance: Provenance | None, now: datetime | None = None) -> str | None:
    """Return the version of a layer that its pages are kept under, None if they are not kept.

    None when the layer was never written, or was written less than :data:`SETTLED_SECONDS` ago
    (or its import time is not a time, or lies ahead of this machine's clock).
    """
    if provenance is None:
        return None
    try:
        written = datetime.fromisoformat(provenance.imported_at)
    except ValueError:
        return None
    if written.tzinfo is None:
        written = written.replace(tzinfo=UTC)
    if (now or datetime.now(UTC)) - written < timedelta(seconds=SETTLED_SECONDS):
        return None
    return "|".join(
        (
            provenance.layer,
            provenance.source,
            provenance.sha256 or "",
            str(provenance.feature_count),
            provenance.imported_at,
            provenance.note,
        )
    )


class PageCache(Generic[Value]):
    """A bounded least-recently-used map of pages of each store, safe across threads.

    Parameters
    ----------
    max_pages
        The most pages kept over all stores.
    max_bytes
        The most bytes kept over all stores, as the sizes given to :meth:`put` count them.
    """

    def __init__(self, *, max_pages: int = MAX_PAGES, max_bytes: int = MAX_BYTES) -> None:
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # a number per store, never reused: the pages of a closed store age out unread
        self._numbers: weakref.WeakKeyDictionary[Store, int] = weakref.WeakKeyDictionary()
        self._next_number = itertools.count()
        self._pages: OrderedDict[tuple[int, Hashable], tuple[Value, int]] = OrderedDict()
        self._bytes = 0

    def _key(self, store: Store, key: Hashable) -> tuple[int, Hashable]:
        number = self._numbers.get(store)
        if number is None:
            number = self._numbers[store] = next(self._next_number)
        return number, key

    def get(self, store: Store, key: Hashable) -> Value | None:
        """Return the page kept under ``key`` for ``store``, None if there is none."""
        with self._lock:
            full_key = self._key(store, key)
            kept = self._pages.get(full_key)
            if kept is None:
                return None
            self._pages.move_to_end(full_key)
            return kept[0]

    def put(self, store: Store, key: Hashable, value: Value, size: int) -> None:
        """Keep ``value`` (about ``size`` bytes) under ``key``; a page too big is not kept."""
        if size > self.max_bytes:
            return
        with self._lock:
            full_key = self._key(store, key)
            replaced = self._pages.pop(full_key, None)
            if replaced is not None:
                self._bytes -= replaced[1]
            self._pages[full_key] = (value, size)
            self._bytes += size
            while len(self._pages) > self.max_pages or self._bytes > self.max_bytes:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        """Forget every page."""
        with self._lock:
            self._pages.clear()
            self._bytes = 0

    def __len__(self) -> int:
        """Return how many pages are kept."""
        with self._lock:
            return len(self._pages)
