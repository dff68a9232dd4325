"""Encoded pages of a layer, kept for the next client that asks for the same page.

A page is kept under the layer's version: its provenance (source, SHA-256, feature count, import
time), which every write of the layer replaces in the same transaction. The import time has a
resolution of a second, so two writes within one second could leave the same version; a page is
therefore kept only once its layer's last write is :data:`SETTLED_SECONDS` old, when any later
write must carry a later time. Each process (each uvicorn worker) keeps its own pages, at most
:data:`MAX_PAGES` of them and :data:`MAX_BYTES` of text, the least recently read going first.

Knowing a layer's version takes a query of its provenance, which costs more than giving a kept
page. On SQLite a :class:`CommitWatch` tells without a query whether anything was committed to
the database since the provenance was read (by any connection of any process: SQLite's
``PRAGMA data_version``), so a provenance read once is used until the next commit.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import Final, Generic, TypeVar

from sqlalchemy.engine import make_url

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


class CommitWatch:
    """Tells whether anything was committed to a SQLite database, and keeps what was read before.

    It holds a connection of its own to the database file that never writes: SQLite's
    ``PRAGMA data_version`` on it changes exactly when another connection, of this process or
    another, commits. Asking costs no query of a table and never waits for a lock; when SQLite
    cannot tell at once (a writer holds the file), the answer is "unknown".

    Parameters
    ----------
    path
        The database file.
    """

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(
            path, timeout=0, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, Provenance | None]] = {}

    def generation(self) -> int | None:
        """Return a number that changes whenever a commit lands, None if it cannot be told now."""
        with self._lock:
            try:
                row = self._connection.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None
        return int(row[0])

    def provenance(self, layer: str, generation: int | None) -> tuple[bool, Provenance | None]:
        """Return whether ``layer``'s provenance is known at ``generation``, and the provenance."""
        if generation is None:
            return False, None
        known = self._known.get(layer)
        if known is None or known[0] != generation:
            return False, None
        return True, known[1]

    def remember(self, layer: str, generation: int | None, provenance: Provenance | None) -> None:
        """Keep ``layer``'s provenance, read after :meth:`generation` gave ``generation``.

        Read after, not before: a commit in between then shows as a later generation, and the
        provenance is read again.
        """
        if generation is not None:
            self._known[layer] = (generation, provenance)

    def close(self) -> None:
        """Close the watch's connection."""
        with self._lock:
            self._connection.close()


_WATCHES: weakref.WeakKeyDictionary[Store, CommitWatch] = weakref.WeakKeyDictionary()


def watch_commits(store: Store, url: str) -> CommitWatch | None:
    """Start watching the database of ``store`` (at ``url``) for commits, if it is SQLite.

    Until :func:`stop_watching`, :func:`commit_watch` gives the watch. Returns None (and watches
    nothing) for other databases, or where the file cannot be opened.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    try:
        watch = CommitWatch(parsed.database)
        if watch.generation() is None:
            watch.close()
            return None
    except sqlite3.Error:
        return None
    stop_watching(store)
    _WATCHES[store] = watch
    return watch


def commit_watch(store: Store) -> CommitWatch | None:
    """Return the watch of ``store``'s database, None if it is not watched."""
    return _WATCHES.get(store)


def stop_watching(store: Store) -> None:
    """Stop watching ``store``'s database, if it was watched."""
    watch = _WATCHES.pop(store, None)
    if watch is not None:
        watch.close()
