"""Coverage answers kept for the next reader who asks for the same day, until an input changes.

A coverage answer is made from the stored map layers, the roster of the day (its assignments and
solver's report), the stored staff, the duty policy the roster was made under and the holiday
calendar. :func:`coverage_inputs` tells which version of each of them a day reads, from the
database and without reading the roster's rows:

- each map layer by its provenance (:func:`server.ogc.page_cache.layer_version`: kept only once
  its last write is a few seconds old, as import times are in seconds);
- the roster by its id, creation time and ``version``, which every change of it bumps (the same
  choice as :func:`server.maps.service.stored_roster_loader`: the latest published roster of the
  day's week, else its latest); for a week without one, the assignment table and staff list named
  by the map settings by their size and modification time;
- the staff by the time, source and size of their last replacement (kept, as for a layer, only
  once it is a few seconds old); the policy by the fingerprint of the stored version the roster
  names (the service's own policy when that version is not stored).

Answers are then kept under those versions, the day, the slot and the shape asked for, as encoded
JSON (:data:`ANSWERS`, least recently read first out, bounded by bytes); the matched day under
the versions alone (:data:`DAYS`), so that the other slots and shapes of a day are quick too.
Nothing needs clearing on a write: a write changes a version, and the next read keys anew. Each
process (each uvicorn worker) keeps its own. When the versions cannot be told (a roster loader
other than the service's own, a layer or the staff written a moment ago), nothing is kept; many
readers of the same day arriving together while it is made wait for the one making it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from fastapi.encoders import jsonable_encoder

from grids.calendar import iso_week
from server.dependencies import weak_etag
from server.maps.service import MAP_LAYERS, CoverageService, DayCoverage, MapLayers
from server.migrations import duty_policies_table, rosters_table, staff_table
from server.ogc.page_cache import SETTLED_SECONDS, PageCache, layer_version
from server.storage import Store

__all__ = [
    "ANSWERS",
    "ANSWER_FORMAT",
    "DAYS",
    "CoverageAnswer",
    "coverage_answer",
    "coverage_inputs",
    "encode",
]

ANSWER_FORMAT: Final = "coverage-2"
"""The version of the answers' shape: part of every key and ETag, bumped when the shape changes."""
MAX_ANSWER_BYTES: Final = 64 * 1024 * 1024
"""The most encoded answers (bytes) a process keeps."""
MAX_ANSWERS: Final = 512
"""The most answers a process keeps."""
MAX_DAYS: Final = 4
"""The most matched days a process keeps (each some megabytes of tables)."""

_METADATA = sa.MetaData()
_ROSTERS = rosters_table(_METADATA)
_STAFF = staff_table(_METADATA)
_POLICIES = duty_policies_table(_METADATA)


@dataclass(frozen=True)
class CoverageAnswer:
    """An encoded coverage answer and its ETag.

    Attributes
    ----------
    body
        The JSON document, UTF-8.
    etag
        A weak ETag: of the inputs' versions when they are known, else of the body.
    """

    body: bytes
    etag: str


ANSWERS: PageCache[CoverageAnswer] = PageCache(max_pages=MAX_ANSWERS, max_bytes=MAX_ANSWER_BYTES)
"""The coverage answers this process gave lately."""
DAYS: PageCache[DayCoverage] = PageCache(max_pages=MAX_DAYS, max_bytes=MAX_DAYS)
"""The days this process matched lately (each counted as one)."""


def encode(document: dict[str, Any]) -> bytes:
    """Return a document as compact UTF-8 JSON, as the service's JSON answers are written."""
    return json.dumps(
        jsonable_encoder(document), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


_SERVICES: weakref.WeakKeyDictionary[CoverageService, int] = weakref.WeakKeyDictionary()
_NEXT_SERVICE = itertools.count()
_SERVICES_LOCK = threading.Lock()
_MAKING: dict[Hashable, threading.Lock] = {}
_MAKING_LOCK = threading.Lock()
_NO_LAYERS: Final = MapLayers(frames={}, provenance=(), post_grids=None)

Value = TypeVar("Value")


def _service_number(service: CoverageService) -> int:
    """Return a number of the service, never reused (two apps may share a store)."""
    with _SERVICES_LOCK:
        number = _SERVICES.get(service)
        if number is None:
            number = _SERVICES[service] = next(_NEXT_SERVICE)
        return number


def _file_version(path: Path | None) -> tuple[Any, ...]:
    if path is None:
        return ()
    try:
        status = os.stat(path)
    except OSError:
        return (str(path),)
    return (str(path), status.st_size, status.st_mtime_ns)


def _layers_version(store: Store) -> tuple[Any, ...] | None:
    by_layer = {p.layer: p for p in store.layer_provenance()}
    versions: list[Any] = []
    for name in MAP_LAYERS:
        provenance = by_layer.get(name)
        if provenance is None:
            versions.append((name,))
            continue
        version = layer_version(provenance, utc_now())
        if version is None:
            return None
        versions.append(version)
    return tuple(versions)


def utc_now() -> datetime:
    """Return the time now (UTC), against which writes are judged settled."""
    return datetime.now(UTC)


def _settled(stamp: str) -> bool:
    """Return whether a write stamped ``stamp`` (seconds) is old enough to name a version."""
    try:
        written = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if written.tzinfo is None:
        written = written.replace(tzinfo=UTC)
    return utc_now() - written >= timedelta(seconds=SETTLED_SECONDS)


def _staff_version(connection: sa.Connection) -> tuple[Any, ...] | None:
    """Return the version of the stored staff list, None if it was written a moment ago.

    The list is only ever replaced whole, every row stamped with the time (in seconds) and source
    of the replacement; like a layer's, that stamp is a version once it is a few seconds old.
    """
    table = _STAFF
    row = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.min(table.c.imported_at),
            sa.func.max(table.c.imported_at),
            sa.func.min(table.c.source),
            sa.func.max(table.c.source),
        )
    ).one()
    count, first, last, source, other_source = row
    if not count:
        return ("no staff",)
    if first != last or source != other_source or not _settled(str(last)):
        return None
    return (int(count), str(last), str(source))


def _roster_version(
    service: CoverageService, connection: sa.Connection, day: date, roster_id: str | None
) -> tuple[Any, ...] | None:
    table = _ROSTERS
    columns = (
        table.c.id,
        table.c.week,
        table.c.status,
        table.c.version,
        table.c.created_at,
        table.c.policy_version,
    )
    week = iso_week(day)
    if roster_id is None:
        query = sa.select(*columns).where(table.c.week == week)
        listed = connection.execute(query.order_by(table.c.created_at, table.c.id)).all()
        if not listed:
            settings = service.settings
            if settings.roster_file is None:
                return ("none",)
            return ("file", _file_version(settings.roster_file), _file_version(settings.staff_file))
        published = [r for r in listed if r.status == "published"]
        row = (published or listed)[-1]
    else:
        found = connection.execute(sa.select(*columns).where(table.c.id == roster_id)).first()
        if found is None or found.week != week:
            return None  # the day's loader says why (404)
        row = found
    stored_policy = connection.execute(
        sa.select(_POLICIES.c.fingerprint).where(_POLICIES.c.version == row.policy_version)
    ).scalar()
    staff = _staff_version(connection)
    if staff is None:
        return None
    return (
        "roster",
        row.id,
        row.created_at,
        int(row.version),
        int(row.policy_version),
        stored_policy if stored_policy is not None else ("service", service.policy.fingerprint()),
        staff,
    )


def coverage_inputs(
    service: CoverageService, store: Store, day: date, roster_id: str | None
) -> tuple[Any, ...] | None:
    """Return the versions of what the coverage of ``day`` reads, None when they cannot be told.

    Parameters
    ----------
    service
        The coverage service; its versions are told only while it reads rosters with its own
        loader.
    store
        The database.
    day
        The duty day.
    roster_id
        The roster asked for; None for the day's own.

    Returns
    -------
    tuple or None
        A hashable key that changes whenever an input of the day's coverage is written; None if
        the service reads rosters some other way, a layer was written too recently to tell its
        version, or ``roster_id`` is not a stored roster of the day's week.
    """
    if service.roster_loader is not service.default_roster_loader:
        return None
    layers = _layers_version(store)
    if layers is None:
        return None
    with store.connection() as connection:
        roster = _roster_version(service, connection, day, roster_id)
    if roster is None:
        return None
    return (ANSWER_FORMAT, layers, roster, day.isoformat())


def _kept_or_made(
    cache: PageCache[Value], store: Store, key: Hashable, make: Callable[[], tuple[Value, int]]
) -> Value:
    """Return what ``cache`` keeps under ``key``, else make it (once while others wait) and keep it.

    Many readers of a day just written would otherwise all match it at once, each as slowly.
    """
    kept = cache.get(store, key)
    if kept is not None:
        return kept
    flight = (id(cache), id(store), key)
    with _MAKING_LOCK:
        lock = _MAKING.setdefault(flight, threading.Lock())
    try:
        with lock:
            kept = cache.get(store, key)
            if kept is not None:
                return kept
            value, size = make()
            cache.put(store, key, value, size)
            return value
    finally:
        with _MAKING_LOCK:
            if _MAKING.get(flight) is lock:
                del _MAKING[flight]


def coverage_answer(
    service: CoverageService,
    store: Store,
    day: date,
    roster_id: str | None,
    *,
    variant: Hashable,
    build: Callable[[DayCoverage], dict[str, Any]],
) -> CoverageAnswer:
    """Return the coverage answer of a day, from :data:`ANSWERS` when its inputs are unchanged.

    Parameters
    ----------
    service, store, day, roster_id
        As for :meth:`server.maps.service.CoverageService.day`.
    variant
        What else the answer depends on (slot, shape): part of its key and ETag.
    build
        Makes the document from the matched day (its ``layers`` are not kept with it: empty);
        may raise (nothing is kept then).

    Returns
    -------
    CoverageAnswer
        The encoded document and its ETag.

    Raises
    ------
    server.errors.NotFound
        If there is no roster ``roster_id`` for the day.
    """
    inputs = coverage_inputs(service, store, day, roster_id)
    if inputs is None:
        body = encode(build(service.day(store, day, roster_id)))
        return CoverageAnswer(body, weak_etag(ANSWER_FORMAT, hashlib.sha256(body).hexdigest()))
    day_key = (_service_number(service), inputs)

    def match() -> tuple[DayCoverage, int]:
        view = service.day(store, day, roster_id)
        # the answers read the day, its slots, the matched roster and the roster, not the layers
        return replace(view, layers=_NO_LAYERS), 1

    def answer() -> tuple[CoverageAnswer, int]:
        view = _kept_or_made(DAYS, store, day_key, match)
        made = CoverageAnswer(encode(build(view)), weak_etag(inputs, variant))
        return made, len(made.body)

    return _kept_or_made(ANSWERS, store, (day_key, variant), answer)
