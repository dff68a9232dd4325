"""The data of a coverage page: one document per layer, the coverage of each slot as properties.

Each geometry is sent once, each layer in the compact form of :mod:`server.maps.encoding`
(coordinates as differences of integers, properties in columns). A post's ``s`` property holds
one letter per slot of the day and a last one for the whole day (``c`` covered, ``p`` partly,
``g`` gap, ``n`` not required); a unit grid's ``c`` holds its coverage in percent per slot (-1
where nothing is required), each distinct list sent once. The page's script restyles the features
from these when the slot changes.

Coordinates are kept to 6 decimals (about 0.1 m). Polygons that are only outlines on the map
(the district, the squads' territories) are simplified by a few metres, measured in a projected
CRS; unit grids are drawn only where a post requires coverage, and simplified too when there are
more than the settings allow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geodata.coords import CoordSystem, geometries_from_wgs84
from geodata.crs import projected_crs_for
from geodata.layers import STORAGE_CRS
from grids.coverage import (
    STATUSES,
    coverage_by_post,
    coverage_by_slot,
    coverage_summary,
    covered_length,
    day_timeline,
    people_on_duty,
)
from grids.policy import parse_windows
from server.maps.encoding import DECIMALS, encode_layer
from server.maps.i18n import OSM_CREDIT
from server.maps.service import DayCoverage

STATUS_LETTERS: Final = {
    status: status[0] if status != "not_required" else "n" for status in STATUSES
}
"""The letter of each status in a feature's ``s`` property."""

LEVEL_CODES: Final = {"strict": 0, "controlled": 1, "regulated": 2}
REGULATED: Final = LEVEL_CODES["regulated"]
PROPERTY_KEYS: Final = {
    "i": "the post id",
    "r": "the road name: a number in meta.roads (none: no name)",
    "l": "the level: 0 strict, 1 controlled (none: regulated)",
    "q": "the squad: a number in meta.squads (none: no squad)",
    "s": "the status letter of each slot and of the day (none: never required)",
    "o": "who is on the post: a number in meta.crews, slot number → numbers in meta.people",
    "k": "what it needs: a number in meta.needs, slot number → [officers, anyone, counted]",
}
"""The properties of a post feature; those left out take the default said."""
OUTLINE_TOLERANCE_M: Final = 5.0
GRID_TOLERANCE_M: Final = 2.0
DAY_SLOT: Final = "day"
"""The id of the whole-day view, after the slots of the day."""


@dataclass(frozen=True)
class PageData:
    """What a coverage page shows.

    Attributes
    ----------
    meta
        Everything but the geometries: the day, its slots, the headline figures per slot,
        people, names, credits (JSON values).
    layers
        Layer name → the layer in the compact form of :mod:`server.maps.encoding`, serialised.
    counts
        Layer name → its number of features.
    """

    meta: dict[str, Any]
    layers: dict[str, str]
    counts: dict[str, int]

    def to_json(self) -> str:
        """Return all of it as one JSON document, safe to put inside an HTML ``<script>``."""
        parts = [f"{json.dumps(k)}:{v}" for k, v in self.layers.items()]
        meta = json.dumps(self.meta, ensure_ascii=False, separators=(",", ":"), default=str)
        document = f'{{"meta":{meta},"layers":{{{",".join(parts)}}}}}'
        return document.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _simplified(frame: gpd.GeoDataFrame, tolerance_m: float) -> NDArray[np.object_]:
    """Return the polygons simplified by ``tolerance_m`` metres, keeping shared edges shared."""
    geoms = np.asarray(frame.geometry.array, dtype=object)
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not present.any():
        return geoms
    bounds = tuple(float(v) for v in shapely.total_bounds(geoms[present]))
    metric = projected_crs_for(bounds)  # type: ignore[arg-type]
    projected = gpd.GeoSeries(geoms[present], crs=STORAGE_CRS).to_crs(metric)
    polygons = np.asarray(projected.array, dtype=object)
    try:
        simple = shapely.coverage_simplify(polygons, tolerance_m)
    except shapely.errors.GEOSException:  # not a clean coverage: simplify each on its own
        simple = shapely.simplify(polygons, tolerance_m, preserve_topology=True)
    back = gpd.GeoSeries(simple, crs=metric).to_crs(STORAGE_CRS)
    result = geoms.copy()
    result[present] = np.asarray(back.array, dtype=object)
    return result


def _layer(
    geoms: NDArray[np.object_],
    properties: Sequence[Mapping[str, Any]],
    coords: CoordSystem,
    *,
    lookups: Sequence[str] = (),
) -> str:
    """Return the features of these geometries and properties in the page's compact form."""
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    shifted = geometries_from_wgs84(geoms[keep], coords) if coords != "wgs84" else geoms[keep]
    chosen = [p for p, k in zip(properties, keep, strict=True) if k]
    return encode_layer(np.asarray(shifted, dtype=object), chosen, lookups=lookups)


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


class _Index:
    """Numbers for repeated values (road names, squads, people), sent once in a list."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._numbers: dict[Any, int] = {}

    def number(self, value: Any) -> int:
        if value is None:
            return -1
        if value not in self._numbers:
            self._numbers[value] = len(self.values)
            self.values.append(value)
        return self._numbers[value]


@dataclass
class _Tables:
    """The repeated values of a page, each list sent once (see :data:`PROPERTY_KEYS`)."""

    people: _Index = field(default_factory=_Index)
    roads: _Index = field(default_factory=_Index)
    squads: _Index = field(default_factory=_Index)
    crews: _Index = field(default_factory=_Index)
    needs: _Index = field(default_factory=_Index)


def _post_properties(view: DayCoverage, tables: _Tables) -> list[dict[str, Any]]:
    """Return the properties of each post (see :data:`PROPERTY_KEYS`)."""
    coverage = view.coverage
    posts = coverage.posts
    n_posts, n_slots = len(posts), len(view.slots)
    by_slot = coverage_by_slot(coverage, view.day)
    whole_day = coverage_by_post(coverage, view.day)
    letters = np.asarray([STATUS_LETTERS[s] for s in STATUSES], dtype=object)
    codes = {s: n for n, s in enumerate(STATUSES)}
    slot_codes = by_slot["status"].map(codes).to_numpy(dtype=np.int64).reshape(n_slots, n_posts)
    day_codes = whole_day["status"].map(codes).to_numpy(dtype=np.int64)
    grid = np.vstack([slot_codes, day_codes[None, :]]) if n_slots else day_codes[None, :]
    status = ["".join(column) for column in letters[grid].T.tolist()]
    unrequired = STATUS_LETTERS["not_required"] * (n_slots + 1)
    staffed = by_slot["people"].map(len).to_numpy() > 0
    required = by_slot["required"].to_numpy() > 0
    on_post: list[dict[str, list[int]]] = [{} for _ in range(n_posts)]
    needs: list[dict[str, list[int]]] = [{} for _ in range(n_posts)]
    present = by_slot["people"].to_numpy(dtype=object)
    officers_needed = by_slot["required_officers"].to_numpy(dtype=np.int64)
    anyone_needed = by_slot["required_any"].to_numpy(dtype=np.int64)
    counted = by_slot["counted"].to_numpy(dtype=np.int64)
    for row in np.flatnonzero(staffed | required):
        slot, post = divmod(int(row), n_posts)
        if staffed[row]:
            on_post[post][str(slot)] = [tables.people.number(p) for p in present[row]]
        if required[row]:
            needs[post][str(slot)] = [
                int(officers_needed[row]),
                int(anyone_needed[row]),
                int(counted[row]),
            ]
    result = []
    for number, (post_id, road, level, squad) in enumerate(
        zip(posts["id"], posts["road_name_zh"], posts["level"], posts["squad_id"], strict=True)
    ):
        properties: dict[str, Any] = {"i": post_id}
        road_number = tables.roads.number(_text(road))
        if road_number >= 0:
            properties["r"] = road_number
        level_code = LEVEL_CODES.get(str(level), REGULATED)
        if level_code != REGULATED:
            properties["l"] = level_code
        squad_number = tables.squads.number(_text(squad))
        if squad_number >= 0:
            properties["q"] = squad_number
        if status[number] != unrequired:
            properties["s"] = status[number]
        if on_post[number]:
            properties["o"] = tables.crews.number(
                json.dumps(on_post[number], separators=(",", ":"))
            )
        if needs[number]:
            properties["k"] = tables.needs.number(json.dumps(needs[number], separators=(",", ":")))
        result.append(properties)
    return result


def _grid_coverage(view: DayCoverage) -> dict[str, list[int]]:
    """Return unit grid code → coverage in percent per slot and for the day (-1: none required)."""
    coverage = view.coverage
    if coverage.post_grids is None:
        return {}
    columns: list[pd.Series] = []
    for slot_id in [*(s.id for s in view.slots), None]:
        lengths = covered_length(coverage, view.day, slot_id, by="unit_grid")
        share = lengths.set_index("unit_grid")["coverage"]
        columns.append(share)
    table = pd.concat(columns, axis=1)
    table = table[table.notna().any(axis=1)]
    percent = np.where(table.isna(), -1, np.rint(table.to_numpy(dtype=float) * 100)).astype(int)
    return {str(code): row.tolist() for code, row in zip(table.index, percent, strict=True)}


def _windows_text(windows: Any, road: Any, view: DayCoverage) -> str:
    text = _text(windows)
    if text:
        return ";".join(str(w) for w in parse_windows(text))
    regulated = view.coverage.policy.levels.regulated
    return ";".join(str(w) for w in regulated.windows_for_road(_text(road)))


DRAWN_LAYERS: Final = (
    "boundary",
    "roads",
    "posts",
    "unit_grids",
    "responsibility_grids",
    "squads",
    "guidance_points",
)
"""The stored layers a map draws, whose provenance its mark and credits come from."""


def places_of(view: DayCoverage) -> dict[str, list[str]]:
    """Return each place of the demand that is not a post (patrol route, event) → its posts."""
    post_ids = view.coverage.posts["id"].to_numpy(dtype=object)
    return {
        place: [str(post_ids[r]) for r in rows]
        for place, rows in view.coverage.place_rows.items()
        if len(rows) > 1 or str(post_ids[rows[0]]) != place
    }


def credits_of(view: DayCoverage) -> tuple[bool, list[str]]:
    """Return whether the drawn layers are schematic, and the credits their sources ask for.

    A layer is schematic when its provenance note says so; a layer from OpenStreetMap (an
    ``.osm``/``.pbf`` file, or a licence naming OpenStreetMap or the ODbL) is credited
    "© OpenStreetMap contributors", first.
    """
    layers = view.layers
    drawn = [n for n in DRAWN_LAYERS if len(layers[n])]
    chosen = [p for p in layers.provenance if p.layer in drawn]
    schematic = any("schematic" in (p.note or "").lower() for p in chosen)
    credits: list[str] = []
    for record in chosen:
        from_osm = record.source.lower().endswith((".osm", ".pbf", ".osm.pbf")) or any(
            word in (record.licence or "") for word in ("OpenStreetMap", "ODbL")
        )
        if from_osm and OSM_CREDIT not in credits:
            credits.insert(0, OSM_CREDIT)
        if record.licence and record.licence not in credits:
            credits.append(record.licence)
    return schematic, credits


def _slot_summary(view: DayCoverage, row: Mapping[str, Any], people: _Index) -> dict[str, Any]:
    """Return the headline figures of a slot from its row of :func:`day_timeline`."""
    required = int(row["strict_posts_required"])
    leaders = [
        p
        for p in people_on_duty(view.coverage, view.day, str(row["slot_id"]))
        if p.role == "leader"
    ]
    return {
        "strict": int(row["strict_posts_covered"]) / required if required else None,
        "gaps": int(row["gaps"]),
        "strictGaps": int(row["strict_gaps"]),
        "officers": int(row["officers_on_duty"]),
        "assistants": int(row["assistants_on_duty"]),
        "leaders": [people.number(p.officer_id) for p in leaders],
        "seamless": bool(row["seamless"]),
        "requiredM": round(float(row["required_m"]), 1),
        "coveredM": round(float(row["covered_m"]), 1),
    }


def _day_summary(view: DayCoverage, people: _Index) -> dict[str, Any]:
    summary = coverage_summary(view.coverage, view.day)
    return {
        "strict": summary.strict_coverage,
        "gaps": summary.gaps,
        "strictGaps": summary.strict_gaps,
        "officers": summary.officers_on_duty,
        "assistants": summary.assistants_on_duty,
        "leaders": [people.number(p.officer_id) for p in summary.leaders],
        "seamless": summary.seamless,
        "requiredM": round(summary.required_m, 1),
        "coveredM": round(summary.covered_m, 1),
    }


def page_data(
    view: DayCoverage,
    *,
    coords: CoordSystem = "wgs84",
    max_unit_grids: int = 4000,
    now: datetime | None = None,
) -> PageData:
    """Return what the coverage page of a day shows.

    Parameters
    ----------
    view
        The day's coverage and the stored layers.
    coords
        The coordinate system of the base map: geometries are shifted to it from WGS84.
    max_unit_grids
        Unit grids drawn at full detail; more are simplified by a couple of metres.
    now
        The current local time, to mark the slot that is on now.
    """
    layers = view.layers
    tables = _Tables()
    people, names, squads = tables.people, tables.roads, tables.squads
    posts = layers["posts"]
    post_properties = _post_properties(view, tables)
    segment = posts["kind"].eq("segment").to_numpy()
    post_geoms = np.asarray(posts.geometry.array, dtype=object)
    data: dict[str, str] = {}
    counts: dict[str, int] = {}

    def add(
        name: str,
        geoms: NDArray[np.object_],
        properties: Sequence[Mapping[str, Any]],
        lookups: Sequence[str] = (),
    ) -> None:
        data[name] = _layer(geoms, properties, coords, lookups=lookups)
        counts[name] = int((~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)).sum())

    boundary = layers["boundary"]
    add("boundary", _simplified(boundary, OUTLINE_TOLERANCE_M), [{} for _ in range(len(boundary))])
    territories = layers["responsibility_grids"]
    if not len(territories):
        territories = layers["squads"]
    squad_names = {
        str(i): _text(n)
        for i, n in zip(layers["squads"]["id"], layers["squads"]["name_zh"], strict=True)
    }
    add(
        "territories",
        _simplified(territories, OUTLINE_TOLERANCE_M),
        [
            {"n": squad_names.get(str(s)) or _text(n) or str(i)}
            for i, s, n in zip(
                territories["id"],
                territories["squad_id"] if "squad_id" in territories.columns else territories["id"],
                territories["name_zh"],
                strict=True,
            )
        ],
    )
    grid_shares = _grid_coverage(view)
    grids = layers["unit_grids"]
    if grid_shares:
        grids = grids[grids["code"].isin(grid_shares.keys()).to_numpy()]
        geoms = (
            _simplified(grids, GRID_TOLERANCE_M)
            if len(grids) > max_unit_grids
            else np.asarray(grids.geometry.array, dtype=object)
        )
        add(
            "grids",
            geoms,
            [{"i": str(c), "c": grid_shares[str(c)]} for c in grids["code"]],
            lookups=("c",),
        )
    if not segment.any():
        roads = layers["roads"]
        add(
            "background",
            np.asarray(roads.geometry.array, dtype=object),
            [{} for _ in range(len(roads))],
        )
    add(
        "roads",
        post_geoms[segment],
        [p for p, s in zip(post_properties, segment, strict=True) if s],
    )
    add(
        "points",
        post_geoms[~segment],
        [p for p, s in zip(post_properties, segment, strict=True) if not s],
    )
    guidance = layers["guidance_points"]
    add(
        "guidance",
        np.asarray(guidance.geometry.array, dtype=object),
        [
            {"n": _text(n) or str(i), "w": _windows_text(w, r, view)}
            for i, n, w, r in zip(
                guidance["id"],
                guidance["name_zh"],
                guidance["windows"],
                guidance["road_name_zh"],
                strict=True,
            )
        ],
    )
    timeline = day_timeline(view.coverage, view.day)
    slots: list[dict[str, Any]] = []
    current = None
    for number, (slot, row) in enumerate(zip(view.slots, timeline.to_dict("records"), strict=True)):
        slots.append(
            {
                "id": slot.id,
                "zh": slot.slot.name_zh,
                "en": slot.slot.name_en,
                "start": f"{slot.start:%H:%M}",
                "end": f"{slot.end:%H:%M}",
                "kind": slot.slot.kind,
                "strictGaps": int(row["strict_gaps"]),
                "gaps": int(row["gaps"]),
            }
        )
        if now is not None and slot.start <= now < slot.end:
            current = number
    slots.append({"id": DAY_SLOT, "zh": "全天", "en": "Whole day", "start": "", "end": ""})
    rows = [{str(k): v for k, v in row.items()} for row in timeline.to_dict("records")]
    summaries = [_slot_summary(view, row, people) for row in rows] + [_day_summary(view, people)]
    staff = view.coverage.staff
    roles = dict(
        zip(view.coverage.assignments["officer_id"], view.coverage.assignments["role"], strict=True)
    )
    people_rows = [
        [
            staff[p].name if p in staff else p,
            roles.get(p) or (staff[p].role if p in staff else "officer"),
            staff[p].phone if p in staff else None,
        ]
        for p in people.values
    ]
    places = places_of(view)
    schematic, credits = credits_of(view)
    bounds_source = boundary if len(boundary) else (posts if len(posts) else layers["roads"])
    bounds = _bounds(bounds_source, coords)
    meta: dict[str, Any] = {
        "date": view.day.isoformat(),
        "slots": slots,
        "now": current,
        "summaries": summaries,
        "people": people_rows,
        "roads": names.values,
        "crews": [json.loads(c) for c in tables.crews.values],
        "needs": [json.loads(k) for k in tables.needs.values],
        "squads": [[s, squad_names.get(s) or s] for s in squads.values],
        "places": places,
        "schematic": schematic,
        "credits": credits,
        "bounds": bounds,
        "coords": coords,
        "roster": {
            "id": view.roster.roster_id,
            "status": view.roster.status,
            "source": view.roster.source,
            "assignments": len(view.coverage.assignments),
        },
        "counts": counts,
    }
    return PageData(meta=meta, layers=data, counts=counts)


def _bounds(frame: gpd.GeoDataFrame, coords: CoordSystem) -> list[list[float]] | None:
    geoms = np.asarray(frame.geometry.array, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if not len(geoms):
        return None
    if coords != "wgs84":
        geoms = np.asarray(geometries_from_wgs84(geoms, coords), dtype=object)
    west, south, east, north = (float(v) for v in shapely.total_bounds(geoms))
    return [
        [round(south, DECIMALS), round(west, DECIMALS)],
        [round(north, DECIMALS), round(east, DECIMALS)],
    ]
