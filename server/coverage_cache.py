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

The matched day is kept under those versions (:data:`DAYS`), and the answers made from it as
encoded JSON (:data:`ANSWERS`, least recently read first out, bounded by bytes) under the day's
content and the slot and shape asked for; the ETag of an answer names the versions. Nothing
needs clearing on a write: a write changes a version, and the next read keys anew. Each process
(each uvicorn worker) keeps its own. When the versions cannot be told (a roster loader other than
the service's own, a layer or the staff written a moment ago), nothing is kept; many readers of
the same day arriving together while it is made wait for the one making it.

A change of a roster's assignments bumps its version, but is not matched again whole: the day
last matched at an earlier version of the same roster (all else unchanged) is brought up to
date from the day's rows as they are now (:func:`server.roster_head.roster_day`, one query),
recounting only the requirements a changed row serves (:func:`grids.coverage_rematch.rematch`).
When no row of the day changed in what coverage reads (another day's row, a pin), the day's
content is the same, and so are its answers: they are given again under the new ETag.

:func:`coverage_day` gives the maps the same kept day, drawn on the layers as read now.
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
from grids.coverage_rematch import rematch_changed
from server.dependencies import weak_etag
from server.maps.service import MAP_LAYERS, CoverageService, DayCoverage, MapLayers
from server.migrations import duty_policies_table, rosters_table, staff_table
from server.ogc.page_cache import SETTLED_SECONDS, PageCache, layer_version
from server.roster_head import roster_day
from server.storage import Store

__all__ = [
    "ANSWERS",
    "ANSWER_FORMAT",
    "CONTENTS",
    "DAYS",
    "LATEST",
    "CoverageAnswer",
    "KeptDay",
    "coverage_answer",
    "coverage_day",
    "coverage_inputs",
    "encode",
]

ANSWER_FORMAT: Final = "coverage-2"
"""The version of the answers' shape: part of every key and ETag, bumped when the shape changes."""
MAX_ANSWER_BYTES: Final = 64 * 1024 * 1024
"""The most encoded answers (bytes) a process keeps."""
MAX_ANSWERS: Final = 512
"""The most answers a process keeps."""
MAX_DAYS: Final = 8
"""The most matched days a process keeps (each some megabytes of tables, most of them shared by
the versions of one roster's day)."""
MAX_ROSTER_DAYS: Final = 256
"""The most roster days whose latest matched version a process remembers."""

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


@dataclass(frozen=True)
class KeptDay:
    """A matched day as kept: the day, what its answers are kept under, its layers' version.

    Attributes
    ----------
    view
        The day matched to its roster; its ``layers`` are left out (empty) and its roster's
        assignments are the day's.
    content
        A number naming what the answers are made of: a day brought up to date without a change
        of what coverage reads keeps the number of the day it came from.
    layers_key
        The :attr:`~server.maps.service.MapLayers.key` of the layers it was matched on.
    """

    view: DayCoverage
    content: int
    layers_key: tuple[Any, ...]


ANSWERS: PageCache[bytes] = PageCache(max_pages=MAX_ANSWERS, max_bytes=MAX_ANSWER_BYTES)
"""The coverage answers this process gave lately, by the content of their day, slot and shape."""
DAYS: PageCache[KeptDay] = PageCache(max_pages=MAX_DAYS, max_bytes=MAX_DAYS)
"""The days this process matched lately (each counted as one), by the versions of their inputs."""
CONTENTS: PageCache[int] = PageCache(max_pages=MAX_ANSWERS, max_bytes=MAX_ANSWERS)
"""The content of the days matched lately, by the versions of their inputs (outlives the day)."""
LATEST: PageCache[tuple[int, Hashable]] = PageCache(
    max_pages=MAX_ROSTER_DAYS, max_bytes=MAX_ROSTER_DAYS
)
"""Roster day (the versions of the inputs but the roster's) → the latest version of the roster
matched, and the key of its day in :data:`DAYS`."""


def encode(document: dict[str, Any]) -> bytes:
    """Return a document as compact UTF-8 JSON, as the service's JSON answers are written.

    Only values JSON has no type for are encoded as FastAPI encodes them (dates, models): the
    rest already are what encoding them would give, and encoding thousands of them costs.
    """
    return json.dumps(
        document,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
        default=jsonable_encoder,
    ).encode("utf-8")


_SERVICES: weakref.WeakKeyDictionary[CoverageService, int] = weakref.WeakKeyDictionary()
_NEXT_SERVICE = itertools.count()
_SERVICES_LOCK = threading.Lock()
_MAKING: dict[Hashable, threading.Lock] = {}
_MAKING_LOCK = threading.Lock()
_NEXT_CONTENT = itertools.count()
_LATEST_LOCK = threading.Lock()
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


def _roster_days(inputs: tuple[Any, ...]) -> tuple[Hashable, int, tuple[Any, ...]] | None:
    """Return the inputs without the roster's version, the version and the roster's versions.

    None when the day reads no stored roster.
    """
    answer_format, layers, roster, day = inputs
    if roster[0] != "roster":
        return None
    _, roster_id, created_at, version, *rest = roster
    return (answer_format, layers, ("roster", roster_id, created_at, *rest), day), version, roster


def _slim(view: DayCoverage) -> DayCoverage:
    """Return a day as kept: without its layers, its roster's assignments the day's only.

    Nor is the solver's report kept with it (what the answers read of it, the reasons of gaps,
    is in the matched requirements).
    """
    roster = replace(view.roster, assignments=view.coverage.assignments, solver={})
    return replace(view, layers=_NO_LAYERS, roster=roster)


def _brought_up(store: Store, number: int, day: date, inputs: tuple[Any, ...]) -> KeptDay | None:
    """Return the day at the versions ``inputs`` from one kept at an earlier roster version.

    None when no earlier version of the roster's day is kept. The day's rows are read with the
    roster's version as of one moment: a change written since ``inputs`` were read is in it (as
    it would be in a day matched afresh).
    """
    found = _roster_days(inputs)
    if found is None:
        return None
    roster_days, version, roster = found
    _, roster_id, created_at, _, policy_version, *_ = roster
    latest = LATEST.get(store, (number, roster_days))
    if latest is None or latest[0] >= version:
        return None
    base = DAYS.get(store, latest[1])
    if base is None:
        return None
    try:
        head, rows = roster_day(store, roster_id, day)
    except KeyError:
        return None
    info = head.info
    if head.version < version or (info.created_at, info.policy_version) != (
        created_at,
        policy_version,
    ):
        return None  # not the roster whose versions were read
    before = base.view
    coverage, changed = rematch_changed(before.coverage, rows)
    same = info.status == before.roster.status and not changed
    roster_input = replace(before.roster, status=info.status, assignments=coverage.assignments)
    view = replace(before, coverage=coverage, roster=roster_input)
    return KeptDay(view, base.content if same else next(_NEXT_CONTENT), base.layers_key)


def _remember(store: Store, number: int, inputs: tuple[Any, ...], day_key: Hashable) -> None:
    """Remember the day kept under ``day_key`` as its roster day's latest, if it is."""
    found = _roster_days(inputs)
    if found is None:
        return
    roster_days, version, _ = found
    with _LATEST_LOCK:
        latest = LATEST.get(store, (number, roster_days))
        if latest is None or latest[0] < version:
            LATEST.put(store, (number, roster_days), (version, day_key), 1)


def _kept_day(
    service: CoverageService,
    store: Store,
    day: date,
    roster_id: str | None,
    inputs: tuple[Any, ...],
) -> KeptDay:
    """Return the day matched at the versions ``inputs``: kept, brought up to date, or made."""
    number = _service_number(service)
    day_key = (number, inputs)

    def match() -> tuple[KeptDay, int]:
        made = _brought_up(store, number, day, inputs)
        if made is None:
            view = service.day(store, day, roster_id)
            made = KeptDay(_slim(view), next(_NEXT_CONTENT), view.layers.key)
        return made, 1

    kept = _kept_or_made(DAYS, store, day_key, match)
    CONTENTS.put(store, day_key, kept.content, 1)
    _remember(store, number, inputs, day_key)
    return kept


def coverage_day(
    service: CoverageService, store: Store, day: date, roster_id: str | None
) -> DayCoverage:
    """Return a day matched to its roster, kept as the coverage answers keep it, with its layers.

    As :meth:`server.maps.service.CoverageService.day`, which it calls when the inputs' versions
    cannot be told or the layers were read again since the day was kept.

    Raises
    ------
    server.errors.NotFound
        If there is no roster ``roster_id`` for the day.
    """
    inputs = coverage_inputs(service, store, day, roster_id)
    if inputs is None:
        return service.day(store, day, roster_id)
    kept = _kept_day(service, store, day, roster_id, inputs)
    layers = service.layers(store)
    if layers.key != kept.layers_key:
        return service.day(store, day, roster_id)
    return replace(kept.view, layers=layers)


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
    etag = weak_etag(inputs, variant)
    content = CONTENTS.get(store, (_service_number(service), inputs))
    if content is not None:
        given = ANSWERS.get(store, (content, variant))
        if given is not None:
            return CoverageAnswer(given, etag)
    kept = _kept_day(service, store, day, roster_id, inputs)

    def answer() -> tuple[bytes, int]:
        made = encode(build(kept.view))
        return made, len(made)

    return CoverageAnswer(_kept_or_made(ANSWERS, store, (kept.content, variant), answer), etag)
