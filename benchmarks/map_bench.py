"""Coverage map: page weight, build time and time until drawn in Chromium, against naive Folium.

Two cases:

- **Huiji**: the bundled demo (``dutygrid init``, ``grids build``, ``posts build``) with demo staff
  and a demo roster covering about 85 % of one day's requirements;
- **Wuhan**: the full Wuhan street network (92,667 OpenStreetMap edges), every edge a segment post
  of its road's level, twelve squads by position, the strict and patrol requirements of one day and
  a demo roster covering about 85 % of them (no unit grids).

For each, the dutygrid page (``dutygrid map``: one standalone file, every slot of the day in one
compact document per layer, :mod:`server.maps.encoding`) is compared with the same page sending
each layer as a plain GeoJSON FeatureCollection (what the compact form replaced), and with a
naive Folium map of the same layers made in the same run:
one ``folium.GeoJson`` per layer per slot (the geometry repeated for every slot, coordinates and
attributes as stored), a ``style_function`` for the colours and a layer control to switch slots.
Both pages load the same installed Leaflet from disk and nothing else (Folium's CDN assets are
taken out of the naive page, so that neither waits for the network). Time until drawn is measured
in headless Chromium (Debian's ``/usr/bin/chromium``) from navigation start to the second animation
frame after the load event, best of ``--repeat`` runs.

Goals: Huiji ≤ 2 MB and drawn in ≤ 1.5 s; Wuhan ≤ 15 MB and drawn in ≤ 5 s.
Run: ``python benchmarks/map_bench.py [--repeat N] [--skip-wuhan] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.imports import import_layer
from grids.coverage import coverage_by_slot, covered_length, duty_slots, roster_coverage
from grids.demand import DEMAND_COLUMNS, patrol_routes
from grids.demo_staff import huiji_demo_staff
from grids.policy import DutyPolicy, huiji_default_policy
from grids.staff import Officer, Role
from server.maps import layers as page_layers
from server.maps.encoding import geojson_layer
from server.maps.layers import page_data
from server.maps.page import coverage_page
from server.maps.service import CoverageService, DayCoverage, MapLayers, RosterInput
from server.maps.settings import MapSettings
from server.maps.vendor import vendor_packages
from server.storage import Provenance, Store, database_url

DATA = Path(__file__).parent / "data" / "wuhan_8989_original.parquet"
DAY = date(2026, 12, 1)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COLOURS = {"covered": "#1a9850", "partly": "#f39c12", "gap": "#d73027", "not_required": "#a8a8a8"}
GOALS = {"Huiji": (2.0, 1.5), "Wuhan": (15.0, 5.0)}
DRAWN = "document.documentElement.dataset.dutygridDrawn === '1'"


@dataclass
class Result:
    case: str
    page: str
    features: int
    megabytes: float
    build_s: float
    drawn_s: float | None


def demo_roster(
    demand: pd.DataFrame, staff: Sequence[Officer], *, share: float = 0.85, seed: int = 7
) -> pd.DataFrame:
    """Staff about ``share`` of the requirements from each squad's own people, one slot each."""
    rng = random.Random(seed)
    pools: dict[tuple[str | None, str], list[Officer]] = {}
    for person in staff:
        pools.setdefault((person.squad_id, person.role), []).append(person)
    taken: dict[tuple[str | None, str, str | None], int] = {}
    rows = []
    for need in demand.to_dict("records"):
        if need["kind"] != "leader_duty" and rng.random() > share:
            continue
        role = {"leader": "leader", "officer": "officer"}.get(need["role"], "assistant")
        squad = None if role == "leader" else need["squad_id"]
        pool = pools.get((squad, role), [])
        slot_id = None if pd.isna(need["slot_id"]) else need["slot_id"]
        for _ in range(max(int(need["count"]), 1)):
            # each person works one requirement per slot: take the next one not yet taken
            number = taken.get((squad, role, slot_id), 0)
            if number >= len(pool):
                break
            taken[(squad, role, slot_id)] = number + 1
            person = pool[number]
            rows.append(
                {
                    "officer_id": person.id,
                    "role": person.role,
                    "squad_id": person.squad_id,
                    "date": need["date"],
                    "slot_id": "day" if pd.isna(need["slot_id"]) else need["slot_id"],
                    "start": need["start"],
                    "end": need["end"],
                    "post_id": need["post_id"],
                    "task": need["kind"],
                    "requirement_id": need["requirement_id"],
                    "pinned": False,
                }
            )
    return pd.DataFrame(rows)


def staff_for(demand: pd.DataFrame, squads: Sequence[tuple[str, str]]) -> list[Officer]:
    """Demo staff, enough officers in each squad for its busiest slot, and leaders with phones."""
    staff = []
    busiest = demand[demand["role"] != "leader"].groupby(["squad_id", "slot_id"])["count"].sum()
    need = busiest.groupby(level=0).max().to_dict()
    for squad_id, name in squads:
        for n in range(1, int(need.get(squad_id, 1)) + 6):
            role: Role = "officer" if n % 6 else "assistant"
            staff.append(Officer(f"{squad_id}-{n:04d}", f"{name}{n}", squad_id, role, demo=True))
    leaders = [p for p in huiji_demo_staff([]) if p.role == "leader"]
    return staff + [replace(p, phone=f"1380000{n:04d}") for n, p in enumerate(leaders)]


def day_demand(posts: gpd.GeoDataFrame, policy: DutyPolicy, day: date) -> pd.DataFrame:
    """Return one day's strict-post, patrol and leader requirements (as :func:`demand_for_week`)."""
    rows: list[dict[str, Any]] = []

    def add(slot_id: str | None, start: datetime, end: datetime, **values: Any) -> None:
        span = f"{start:%H%M}-{end:%H%M}"
        key = values.pop("key")
        rows.append(
            {
                "requirement_id": "/".join(
                    (day.isoformat(), slot_id or "-", values["kind"], key, values["role"], span)
                ),
                "date": day,
                "day_type": "weekday",
                "slot_id": slot_id,
                "start": start,
                "end": end,
                "hours": (end - start).total_seconds() / 3600,
                "weight": 1.0,
                "hard": False,
                "reason_zh": "",
                "count": 1,
                **values,
            }
        )

    strict = posts[posts["level"] == "strict"]
    for slot in policy.day_slots("weekday"):
        start, end = slot.on(day)
        for post_id, squad in zip(strict["id"], strict["squad_id"], strict=True):
            add(slot.id, start, end, key=post_id, kind="strict_post", post_id=post_id,
                post_ids=post_id, squad_id=squad, role="officer")  # fmt: skip
    routes = patrol_routes(posts, policy)
    for slot in policy.patrol_slots("weekday"):
        start, end = slot.on(day)
        for route in routes:
            posts_on_route = ";".join(route.post_ids)
            add(slot.id, start, end, key=route.id, kind="patrol", post_id=route.id,
                post_ids=posts_on_route, squad_id=route.squad_id, role="officer")  # fmt: skip
    start, end = policy.leader.on(day)
    add(None, start, end, key="district", kind="leader_duty", post_id="leader_duty", post_ids="",
        squad_id=None, role="leader")  # fmt: skip
    return pd.DataFrame(rows, columns=list(DEMAND_COLUMNS))


def huiji_view(folder: Path) -> DayCoverage:
    db = folder / "huiji.sqlite"
    dutygrid = [sys.executable, "-c", "from server.cli import main; main()"]
    for command in (["init"], ["grids", "build"], ["posts", "build"]):
        subprocess.run(
            [*dutygrid, *command, "--db", str(db), "--json"], check=True, capture_output=True
        )
    store = Store.open(database_url(str(db)))
    service = CoverageService(MapSettings())
    layers = service.layers(store)
    squads = list(zip(layers["squads"]["id"], layers["squads"]["name_zh"], strict=True))
    demand, _ = service.demand(layers, DAY, [])
    demand = demand[demand["date"] == DAY]
    staff = staff_for(demand, squads)
    table = demo_roster(demand, staff)
    service.roster_loader = lambda _store, _id, _day: RosterInput(
        roster_id="demo", assignments=table, staff=tuple(staff), source="demo"
    )
    return service.day(store, DAY)


def wuhan_view() -> DayCoverage:
    roads = import_layer(DATA, "roads").frame
    west, south, east, north = roads.total_bounds
    middle = shapely.get_coordinates(shapely.centroid(np.asarray(roads.geometry.array)))
    columns = np.minimum(((middle[:, 0] - west) / (east - west) * 4).astype(int), 3)
    rows = np.minimum(((middle[:, 1] - south) / (north - south) * 3).astype(int), 2)
    squad_ids = [f"WH-S-{r}{c}" for r, c in zip(rows, columns, strict=True)]
    posts = gpd.GeoDataFrame(
        {
            "id": "P-" + roads["id"].astype(str),
            "kind": "segment",
            "road_id": roads["id"],
            "road_name_zh": roads["name_zh"],
            "level": roads["level"],
            "length_m": roads["length_m"],
            "radius_m": np.nan,
            "unit_grid_codes": None,
            "squad_id": squad_ids,
            "windows": None,
            "attrs": [{} for _ in range(len(roads))],
        },
        geometry=roads.geometry.to_numpy(),
        crs=roads.crs,
    )
    cells = []
    for r in range(3):
        for c in range(4):
            x0, y0 = west + (east - west) * c / 4, south + (north - south) * r / 3
            cells.append(
                {"id": f"WH-S-{r}{c}", "name_zh": f"{r * 4 + c + 1}中队",
                 "geometry": shapely.box(x0, y0, x0 + (east - west) / 4, y0 + (north - south) / 3)}
            )  # fmt: skip
    squads = gpd.GeoDataFrame(cells, crs="EPSG:4326")
    boundary = gpd.GeoDataFrame(
        {"id": ["wuhan"], "name_zh": ["武汉"]},
        geometry=[shapely.box(west, south, east, north)],
        crs="EPSG:4326",
    )
    empty = gpd.GeoDataFrame({"id": [], "name_zh": [], "windows": [], "road_name_zh": []},
                             geometry=[], crs="EPSG:4326")  # fmt: skip
    empty_grids = gpd.GeoDataFrame(
        {"id": [], "squad_id": [], "name_zh": []}, geometry=[], crs="EPSG:4326"
    )
    policy = huiji_default_policy()
    demand = day_demand(posts, policy, DAY)
    staff = staff_for(demand, [(c["id"], c["name_zh"]) for c in cells])
    table = demo_roster(demand, staff)
    matched = roster_coverage(table, demand, posts, policy, staff=staff)
    licence = "ODbL 1.0 — © OpenStreetMap contributors"
    provenance = (
        Provenance("roads", DATA.name, None, "EPSG:32650", "wgs84", len(roads), licence=licence),
        Provenance("posts", "dutygrid build", None, "EPSG:4326", "wgs84", len(posts)),
    )
    layers = MapLayers(
        frames={
            "boundary": boundary,
            "roads": roads,
            "posts": posts,
            "unit_grids": gpd.GeoDataFrame({"code": []}, geometry=[], crs="EPSG:4326"),
            "responsibility_grids": empty_grids,
            "squads": squads,
            "guidance_points": empty,
            "zones": gpd.GeoDataFrame({"id": [], "squad_id": []}, geometry=[], crs="EPSG:4326"),
        },
        provenance=provenance,
        post_grids=None,
    )
    roster = RosterInput(roster_id="demo", assignments=table, staff=tuple(staff), source="demo")
    slots = duty_slots(DAY, policy)
    return DayCoverage(day=DAY, slots=slots, coverage=matched, roster=roster, layers=layers)


def ours(view: DayCoverage, path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    data = page_data(view)
    path.write_text(coverage_page(data, assets="inline"), encoding="utf-8")
    return sum(data.counts.values()), time.perf_counter() - started


def ours_geojson(view: DayCoverage, path: Path) -> tuple[int, float]:
    """The dutygrid page with its layers as plain GeoJSON FeatureCollections."""
    with mock.patch.object(
        page_layers, "encode_layer", lambda geoms, properties, **_: geojson_layer(geoms, properties)
    ):
        return ours(view, path)


def naive(view: DayCoverage, path: Path) -> tuple[int, float]:
    """A Folium map of the same layers, one GeoJson per layer per slot, as stored."""
    started = time.perf_counter()
    layers = view.layers
    posts = layers["posts"]
    by_slot = coverage_by_slot(view.coverage, view.day)
    leaflet = vendor_packages()[0]
    bounds = posts.total_bounds
    fmap = folium.Map(
        location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2],
        zoom_start=12,
        tiles=None,
        prefer_canvas=True,
    )
    fmap.default_js = [("leaflet", (leaflet.directory / "leaflet.js").as_uri())]
    fmap.default_css = [("leaflet_css", (leaflet.directory / "leaflet.css").as_uri())]
    folium.GeoJson(layers["boundary"][["id", "geometry"]], name="boundary").add_to(fmap)
    features = len(layers["boundary"])
    plain = posts.drop(columns=["attrs"])
    for number, slot in enumerate(view.slots):
        status = by_slot[by_slot["slot_id"] == slot.id]["status"].to_numpy()
        group = folium.FeatureGroup(name=slot.slot.name_zh, show=number == 0)
        folium.GeoJson(
            plain.assign(status=status),
            style_function=lambda f: {"color": COLOURS[f["properties"]["status"]], "weight": 3},
            popup=folium.GeoJsonPopup(fields=["id", "road_name_zh", "level", "status"]),
        ).add_to(group)
        features += len(posts)
        if view.coverage.post_grids is not None:
            shares = covered_length(view.coverage, view.day, slot.id, by="unit_grid")
            grids = layers["unit_grids"].merge(shares, left_on="code", right_on="unit_grid")
            grids = grids[grids["required_m"] > 0].drop(columns=["attrs"])
            folium.GeoJson(
                grids[["code", "coverage", "geometry"]],
                style_function=lambda f: {
                    "fillColor": "#1a9850"
                    if (f["properties"]["coverage"] or 0) > 0.5
                    else "#d73027",
                    "weight": 0.5,
                },
            ).add_to(group)
            features += len(grids)
        group.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    fmap.save(str(path))
    return features, time.perf_counter() - started


def drawn_seconds(path: Path, repeat: int, *, ours: bool, timeout_s: float = 180.0) -> float | None:
    """Best time from navigation start until the map is drawn, in seconds.

    The dutygrid page says when it has drawn (its data may be unpacked after the load event); a
    naive page is drawn at the second animation frame after its load event.
    """
    from playwright.sync_api import Error, sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                try:
                    page.goto(path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
                    if ours:
                        page.wait_for_function(DRAWN, timeout=timeout_s * 1000)
                        after = page.evaluate("dutygrid.drawnAt")
                    else:
                        after = page.evaluate(
                            "() => new Promise((done) => requestAnimationFrame(() =>"
                            " requestAnimationFrame(() => done(performance.now()))))"
                        )
                    times.append(float(after) / 1000)
                except Error as exc:
                    print(f"  {path.name}: not drawn: {str(exc).splitlines()[0]}")
                    return None
                finally:
                    page.close()
        finally:
            browser.close()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-wuhan", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the pages in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dutygrid-map-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    cases: list[tuple[str, Callable[[], DayCoverage]]] = [("Huiji", lambda: huiji_view(folder))]
    if not args.skip_wuhan:
        cases.append(("Wuhan", wuhan_view))
    for name, make in cases:
        started = time.perf_counter()
        view = make()
        print(
            f"{name}: {len(view.layers['posts'])} posts, {len(view.coverage.requirements)} "
            f"requirements, {len(view.coverage.assignments)} assignments "
            f"(prepared in {time.perf_counter() - started:.1f} s)"
        )
        pages: tuple[tuple[str, Callable[[DayCoverage, Path], tuple[int, float]]], ...] = (
            ("dutygrid", ours),
            ("dg geojson", ours_geojson),
            ("naive folium", naive),
        )
        for label, build in pages:
            path = folder / f"{name.lower()}-{label.replace(' ', '-')}.html"
            features, build_s = build(view, path)
            drawn = drawn_seconds(path, args.repeat, ours=label != "naive folium")
            results.append(
                Result(name, label, features, path.stat().st_size / 1024**2, build_s, drawn)
            )
    print(f"\nbest of {args.repeat} runs in Chromium; pages in {folder}\n")
    print(f"{'case':<7} {'page':<13} {'features':>9} {'MB':>8} {'build s':>8} {'drawn s':>8}  goal")
    for r in results:
        shown = f"{r.drawn_s:.2f}" if r.drawn_s is not None else "—"
        goal = ""
        if r.page == "dutygrid":
            size, seconds = GOALS[r.case]
            met = r.megabytes <= size and r.drawn_s is not None and r.drawn_s <= seconds
            goal = f"≤ {size:g} MB, ≤ {seconds:g} s: {'met' if met else 'MISSED'}"
        print(
            f"{r.case:<7} {r.page:<13} {r.features:>9} {r.megabytes:>8.2f} {r.build_s:>8.2f} "
            f"{shown:>8}  {goal}"
        )


if __name__ == "__main__":
    main()
