"""What a coverage map or answer is made from: the stored layers, the duty rules and a roster.

:class:`CoverageService` reads the layers a map draws from the store (keeping them, and the
post ↔ unit grid lengths measured from them, until a layer is written again), makes the day's
demand from the posts and the duty policy, finds the roster and matches it to the demand
(:func:`grids.coverage.roster_coverage`).

Where the roster comes from is a hook, :attr:`CoverageService.roster_loader` (a
:data:`RosterLoader`). By default it is :func:`stored_roster_loader`: the rosters kept in the
database (:mod:`server.roster_store`), the latest published one of the day's week first; for a week
without one, the assignment table named by the map settings (``DUTYGRID_MAP_ROSTER_FILE``,
:func:`file_roster_loader`); without that either, a map shows the demand with no one assigned.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import geopandas as gpd
import pandas as pd

from geodata.errors import GeodataWarning
from geodata.layers import LAYERS
from grids.calendar import HolidayCalendar, china_holidays, iso_week
from grids.coverage import (
    DutySlot,
    RosterCoverage,
    duty_slots,
    now_local,
    roster_coverage,
    solver_reasons,
    unit_grid_areas,
)
from grids.demand import demand_for_week
from grids.policy import DutyPolicy, huiji_default_policy, load_policy
from grids.road_grid import post_grid_lengths
from grids.roster import empty_assignments
from grids.roster_io import read_assignments
from grids.staff import Officer, read_staff
from server.errors import NotFound
from server.maps.settings import MapSettings
from server.roster_store import RosterStore
from server.storage import Provenance, Store

MAP_LAYERS: tuple[str, ...] = (
    "boundary",
    "roads",
    "posts",
    "unit_grids",
    "responsibility_grids",
    "squads",
    "guidance_points",
    "zones",
)
"""The stored layers a coverage map reads."""

_DEMAND_WEEKS_KEPT = 8


@dataclass(frozen=True)
class RosterInput:
    """A roster to read coverage from.

    Attributes
    ----------
    roster_id
        Its id, None for an assignment table that is not a stored roster.
    assignments
        Its assignment table (:data:`grids.roster.ASSIGNMENT_COLUMNS`).
    staff
        The people it names, for names and phone numbers.
    solver
        The solver's report (its ``uncovered`` entries give the reasons of gaps).
    status
        ``draft`` or ``published``; None when not known.
    source
        Where it came from, for the page: a roster id, a file name.
    policy
        The duty policy it was made under, when known; the service's otherwise.
    """

    roster_id: str | None
    assignments: pd.DataFrame
    staff: tuple[Officer, ...] = ()
    solver: Mapping[str, Any] = field(default_factory=dict)
    status: str | None = None
    source: str = ""
    policy: DutyPolicy | None = None


RosterLoader = Callable[[Store, str | None, date], RosterInput | None]
"""Find the roster for a day: ``(store, roster_id or None, day)`` → the roster, None if none.

With no id it should give the latest published roster covering the day, else the latest one.
"""


def no_roster() -> RosterInput:
    """Return an empty roster: the demand with no one assigned."""
    return RosterInput(roster_id=None, assignments=empty_assignments(), source="")


def stored_roster_loader(fallback: RosterLoader | None = None) -> RosterLoader:
    """Return a loader of the rosters kept in the database (:mod:`server.roster_store`).

    With an id, that roster (:class:`~server.errors.NotFound` if there is none, or if it is the
    roster of another week than the day's); without, the latest
    published roster of the day's ISO week, else its latest roster, else what ``fallback``
    finds. The staff are the stored staff; the policy is the one the roster was made under, when
    it is stored.
    """

    def load(store: Store, roster_id: str | None, day: date) -> RosterInput | None:
        rosters = RosterStore(store)
        if roster_id is None:
            listed = rosters.rosters(iso_week(day))
            if not listed:
                return fallback(store, roster_id, day) if fallback is not None else None
            published = [r for r in listed if r.info.status == "published"]
            roster_id = (published or listed)[-1].info.roster_id
        try:
            stored = rosters.roster(roster_id)
        except KeyError:
            raise NotFound(
                f"no roster {roster_id!r} is stored", field="roster", roster=roster_id
            ) from None
        week = iso_week(day)
        if stored.info.week != week:
            raise NotFound(
                f"roster {roster_id!r} is the roster of {stored.info.week}, not of {day} (in "
                f"{week}): leave out roster for the day's own roster",
                field="roster",
                roster=roster_id,
            )
        return RosterInput(
            roster_id=stored.info.roster_id,
            assignments=stored.assignments,
            staff=tuple(rosters.staff()),
            solver=stored.info.solver,
            status=stored.info.status,
            source=stored.info.roster_id,
            policy=rosters.policy(stored.info.policy_version),
        )

    return load


def file_roster_loader(
    settings: MapSettings, policy: DutyPolicy, calendar: HolidayCalendar
) -> RosterLoader:
    """Return a loader that reads the assignment table and staff list named in the settings.

    The files are read again whenever the loader is called, so that a planner may replace them
    while the service runs. A roster id is ignored: there is only the one table.
    """

    def load(_store: Store, _roster_id: str | None, _day: date) -> RosterInput | None:
        if settings.roster_file is None:
            return None
        staff = read_staff(settings.staff_file) if settings.staff_file is not None else []
        table = read_assignments(
            settings.roster_file, policy=policy, calendar=calendar, staff=staff or None
        )
        return RosterInput(
            roster_id=None,
            assignments=table,
            staff=tuple(staff),
            source=settings.roster_file.name,
        )

    return load


@dataclass(frozen=True)
class MapLayers:
    """The stored layers a map draws, as read, and where they came from.

    Attributes
    ----------
    frames
        Layer name → the layer (EPSG:4326), for each of :data:`MAP_LAYERS`.
    provenance
        The provenance of every layer written.
    post_grids
        How much of each segment post lies in each unit grid
        (:func:`grids.road_grid.post_grid_lengths`); None without unit grids or posts.
    grid_areas
        The sub-district and responsibility grid of each unit grid
        (:func:`grids.coverage.unit_grid_areas`); None without unit grids or posts.
    key
        What identifies this version of the layers (changes when one is written).
    """

    frames: Mapping[str, gpd.GeoDataFrame]
    provenance: tuple[Provenance, ...]
    post_grids: pd.DataFrame | None
    grid_areas: pd.DataFrame | None = None
    key: tuple[Any, ...] = ()

    def __getitem__(self, name: str) -> gpd.GeoDataFrame:
        """Return the layer ``name``."""
        return self.frames[name]


@dataclass(frozen=True)
class DayCoverage:
    """A day of a roster matched to its demand, and the layers it is drawn on.

    Attributes
    ----------
    day
        The duty day.
    slots
        Its slots, in time order.
    coverage
        The roster matched to the demand (:func:`grids.coverage.roster_coverage`).
    roster
        The roster.
    layers
        The stored layers.
    notes
        What the demand left out (posts and zones without a squad).
    """

    day: date
    slots: tuple[DutySlot, ...]
    coverage: RosterCoverage
    roster: RosterInput
    layers: MapLayers
    notes: tuple[str, ...] = ()


def _fingerprint(provenance: Sequence[Provenance], names: Sequence[str]) -> tuple[Any, ...]:
    by_layer = {p.layer: p for p in provenance}
    return tuple(
        (n, by_layer[n].sha256, by_layer[n].imported_at, by_layer[n].feature_count)
        if n in by_layer
        else (n,)
        for n in names
    )


class CoverageService:
    """Coverage of stored layers and rosters, with what is costly to make kept between calls.

    Parameters
    ----------
    settings
        The map settings: the duty policy file and where a roster may come from.
    policy
        The duty policy; read from ``settings.policy_file``, else the bundled Huiji policy.
    calendar
        The holiday calendar; the bundled PRC calendar, lenient outside the years it covers.

    Attributes
    ----------
    roster_loader
        Where rosters come from (:data:`RosterLoader`); the settings' files by default.
    default_roster_loader
        The loader made here (stored rosters, else the settings' files): while
        :attr:`roster_loader` is still this one, what a day reads can be told from the database
        (:mod:`server.coverage_cache`).
    clock
        The current local time (China Standard Time), for "now".
    """

    def __init__(
        self,
        settings: MapSettings,
        *,
        policy: DutyPolicy | None = None,
        calendar: HolidayCalendar | None = None,
    ) -> None:
        self.settings = settings
        if policy is None:
            policy = (
                load_policy(settings.policy_file)
                if settings.policy_file is not None
                else huiji_default_policy()
            )
        self.policy = policy
        self.calendar = calendar if calendar is not None else china_holidays(strict=False)
        self.roster_loader: RosterLoader = stored_roster_loader(
            file_roster_loader(settings, policy, self.calendar)
        )
        self.default_roster_loader: RosterLoader = self.roster_loader
        self.clock: Callable[[], datetime] = now_local
        self._lock = threading.Lock()
        self._layers: tuple[tuple[Any, ...], MapLayers] | None = None
        self._demand: dict[tuple[Any, ...], tuple[pd.DataFrame, list[str]]] = {}

    def layers(self, store: Store) -> MapLayers:
        """Return the stored layers a map draws; read again only after a layer was written."""
        provenance = tuple(store.layer_provenance())
        key = _fingerprint(provenance, MAP_LAYERS)
        with self._lock:
            if self._layers is not None and self._layers[0] == key:
                return self._layers[1]
        frames = {name: store.read_layer(name) for name in MAP_LAYERS if name in LAYERS}
        posts, grids = frames["posts"], frames["unit_grids"]
        segments = posts[posts["kind"].eq("segment").to_numpy()]
        post_grids, grid_areas = None, None
        if len(segments) and len(grids):
            post_grids = post_grid_lengths(segments, grids)
            grid_areas = unit_grid_areas(grids, frames["responsibility_grids"])
        layers = MapLayers(
            frames=frames,
            provenance=provenance,
            post_grids=post_grids,
            grid_areas=grid_areas,
            key=key,
        )
        with self._lock:
            self._layers = (key, layers)
        return layers

    def roster(self, store: Store, roster_id: str | None, day: date) -> RosterInput:
        """Return the roster for ``day`` (see :data:`RosterLoader`), or an empty one."""
        found = self.roster_loader(store, roster_id, day)
        return found if found is not None else no_roster()

    def demand(
        self,
        layers: MapLayers,
        day: date,
        staff: Sequence[Officer],
        policy: DutyPolicy | None = None,
    ) -> tuple[pd.DataFrame, list[str]]:
        """Return the requirements of the ISO week of ``day`` for every squad, and notes.

        Posts and zones without a squad get no demand; the notes say so. The policy is the
        service's unless another is given.
        """
        policy = policy if policy is not None else self.policy
        key = (layers.key, iso_week(day), tuple(staff), policy.fingerprint())
        with self._lock:
            if key in self._demand:
                return self._demand[key]
        posts, zones = layers["posts"], layers["zones"]
        squads = sorted(
            {str(s) for s in posts["squad_id"].dropna()} | set(layers["squads"]["id"].astype(str))
        )
        notes = []
        homeless = zones["squad_id"].isna().to_numpy()
        if homeless.any():
            notes.append(
                f"{int(homeless.sum())} zone(s) have no squad and get no special operations"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GeodataWarning)
            demand = demand_for_week(
                posts,
                policy,
                self.calendar,
                iso_week(day),
                squads=squads,
                zones=zones[~homeless],
                staff=list(staff) or None,
            )
        notes += [str(w.message) for w in caught if issubclass(w.category, GeodataWarning)]
        with self._lock:
            if len(self._demand) >= _DEMAND_WEEKS_KEPT:
                self._demand.pop(next(iter(self._demand)))
            self._demand[key] = (demand, notes)
        return demand, notes

    def day(self, store: Store, day: date, roster_id: str | None = None) -> DayCoverage:
        """Return the coverage of ``day`` by the roster ``roster_id`` (or the one for the day).

        Raises
        ------
        NotFound
            If there is no roster ``roster_id`` for the day.
        FieldError
            If the roster, staff list or layers hold bad values.
        """
        layers = self.layers(store)
        roster = self.roster(store, roster_id, day)
        policy = roster.policy if roster.policy is not None else self.policy
        demand, notes = self.demand(layers, day, roster.staff, policy)
        demand = demand[demand["date"].eq(day).to_numpy()]
        table = roster.assignments
        if len(table):
            table = table[pd.to_datetime(table["date"]).dt.date.eq(day).to_numpy()]
        matched = roster_coverage(
            table,
            demand,
            layers["posts"],
            policy,
            calendar=self.calendar,
            staff=roster.staff,
            unit_grids=layers["unit_grids"] if layers.post_grids is not None else None,
            responsibility_grids=layers["responsibility_grids"],
            post_grids=layers.post_grids,
            grid_areas=layers.grid_areas,
            solver_reasons=solver_reasons(roster.solver),
        )
        slots = duty_slots(day, policy, calendar=self.calendar)
        return DayCoverage(
            day=day, slots=slots, coverage=matched, roster=roster, layers=layers, notes=tuple(notes)
        )
