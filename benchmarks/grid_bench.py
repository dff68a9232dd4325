"""Unit grids, posts and the road ↔ grid table on the full Wuhan street network (92,667 edges).

The roads are imported as the service imports them (``import_layer``, EPSG:4326); the district is
their convex hull, 100 m wider (as ``dutygrid`` makes one for roads given without a boundary), with
county code 420100 and no sub-districts or communities. Timed, in EPSG:4547:

* the unit grids built from the roads (target 10,000 m²), keeping the noding they are made of
  (``unit_grid_build``: it only keeps references to what the build made on the way);
* the segment posts cut from the roads, with those unit grids;
* the road ↔ grid table of the roads and those unit grids, from that noding
  (``UnitGridBuild.road_table``: all the work the table takes);

and, as a baseline for the table, a plain ``geopandas.overlay(roads, grids, how="intersection",
keep_geom_type=True)`` and the length of each piece, both layers reprojected to EPSG:4547 first
(the table reprojects them too). For comparison, the geometric table of any roads and grids
(``road_grid_table``) is timed too, and how far the two tables differ is shown. Each repeat runs
the steps in turn, the baseline just before the table, so that a busy moment of the machine hits
both alike; the best of the repeats counts.

Goals (on a 2-core machine): the unit grids, posts and table within 60 s together, and the table
at least 5 times faster than the baseline. Run: ``python benchmarks/grid_bench.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import pandas as pd
import pyproj

from geodata.imports import import_layer
from grids.posts import posts_from_roads
from grids.road_grid import EDGE_TOLERANCE_M, road_grid_table
from grids.unit_grids import unit_grid_build
from server.cli import boundary_from_roads

DATA = Path(__file__).parent / "data" / "wuhan_8989_original.parquet"
METRIC = pyproj.CRS.from_epsg(4547)
COUNTY_CODE = "420100"
TARGET_AREA_M2 = 10_000.0
TOTAL_GOAL_S = 60.0
TABLE_SPEEDUP_GOAL = 5.0

T = TypeVar("T")


def timed(run: Callable[[], T]) -> tuple[T, float, float]:
    """Return what ``run`` returns, the seconds it took and the CPU seconds it used."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def overlay_table(roads: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """The straightforward road ↔ grid table: overlay the two layers, measure the pieces."""
    pieces = gpd.overlay(
        roads[["id", "name_zh", "level", "geometry"]].to_crs(METRIC),
        grids[["code", "geometry"]].to_crs(METRIC),
        how="intersection",
        keep_geom_type=True,
    )
    return pd.DataFrame(
        {
            "grid_code": pieces["code"],
            "line_id": pieces["id"],
            "name_zh": pieces["name_zh"],
            "level": pieces["level"],
            "length_m": pieces.length,
        }
    )


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (best counts)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    roads = import_layer(DATA, "roads").frame
    boundary = boundary_from_roads(roads, file=DATA.name)
    district_km2 = float(boundary.to_crs(METRIC).area.sum()) / 1e6
    print(
        f"Wuhan network: {len(roads):,} roads, district {district_km2:,.0f} km² "
        f"(their hull + 100 m); measured in {METRIC}; best of {args.repeat} run(s)\n"
    )

    steps = ("unit grids", "posts", "table", "baseline", "geometric")
    wall: dict[str, list[float]] = {step: [] for step in steps}
    cpu: dict[str, list[float]] = {step: [] for step in steps}
    for run in range(args.repeat):
        build, *grid_s = timed(
            functools.partial(
                unit_grid_build,
                roads,
                boundary,
                county_code=COUNTY_CODE,
                target_area_m2=TARGET_AREA_M2,
                metric_crs=METRIC,
            )
        )
        grids = build.grids
        posts, *post_s = timed(
            functools.partial(posts_from_roads, roads, unit_grids=grids, metric_crs=METRIC)
        )
        baseline, *base_s = timed(functools.partial(overlay_table, roads, grids))
        table, *table_s = timed(build.road_table)
        geometric, *geo_s = timed(
            functools.partial(road_grid_table, roads, grids, metric_crs=METRIC)
        )
        timings = (grid_s, post_s, table_s, base_s, geo_s)
        for step, (wall_s, cpu_s) in zip(steps, timings, strict=True):
            wall[step].append(wall_s)
            cpu[step].append(cpu_s)
        print(
            f"run {run + 1}: "
            + ", ".join(f"{step} {wall[step][-1]:.2f} s" for step in steps)
            + " (wall clock)",
            flush=True,
        )
    rows = {"unit grids": len(grids), "posts": len(posts), "table": len(table)}
    rows["baseline"] = len(baseline)
    rows["geometric"] = len(geometric)
    ours = steps[:3]
    wall["total"] = [sum(wall[step][run] for step in ours) for run in range(args.repeat)]
    cpu["total"] = [sum(cpu[step][run] for step in ours) for run in range(args.repeat)]
    best = {step: min(seconds) for step, seconds in wall.items()}
    best_cpu = {step: min(seconds) for step, seconds in cpu.items()}
    ratio = best["baseline"] / best["table"]
    ratio_cpu = best_cpu["baseline"] / best_cpu["table"]

    label = {
        "unit grids": f"unit grids ({TARGET_AREA_M2:,.0f} m²)",
        "posts": "posts",
        "table": "road ↔ grid table",
        "total": "total (best run)",
        "baseline": "baseline: overlay + length",
        "geometric": "geometric table (any grids)",
    }
    unit = {
        "unit grids": "grids",
        "posts": "posts",
        "table": "pairs",
        "baseline": "pieces",
        "geometric": "pairs",
    }
    print(f"\n{'step':<28}{'best s':>8}{'CPU s':>8}   {'every run, s':<26}{'rows':>10}")
    for step in (*ours, "total", "baseline", "geometric"):
        runs = "  ".join(f"{seconds:.2f}" for seconds in wall[step])
        count = f"{rows[step]:>10,} {unit[step]}" if step in rows else ""
        print(f"{label[step]:<28}{best[step]:8.2f}{best_cpu[step]:8.2f}   {runs:<26}{count}")
    road_km = float(roads.to_crs(METRIC).length.sum()) / 1000
    print(
        f"\nroad length {road_km:,.1f} km; in the table "
        f"{float(table['length_m'].sum()) / 1000:,.1f} km (a road along the edge between two grids "
        f"counts half in each); in the overlay {float(baseline['length_m'].sum()) / 1000:,.1f} km"
    )
    both = table.merge(geometric, on=["grid_code", "line_id"], how="outer").fillna(
        {"length_m_x": 0.0, "length_m_y": 0.0}
    )
    difference = (both["length_m_x"] - both["length_m_y"]).abs()
    print(
        f"table from the noding vs geometric table: {len(table):,} vs {len(geometric):,} pairs; "
        f"pairs differing by more than 1 mm {int((difference > 1e-3).sum()):,}, by more than "
        f"1 m {int((difference > 1.0).sum()):,}; largest difference {difference.max():.3f} m "
        f"(a road within {EDGE_TOLERANCE_M * 100:.0f} cm of a grid edge it is not on: see "
        "grids._face_roads)"
    )
    print(
        f"\ngoal: grids + posts + table within {TOTAL_GOAL_S:.0f} s: {best['total']:.1f} s "
        f"(CPU {best_cpu['total']:.1f} s) -> {verdict(best['total'] <= TOTAL_GOAL_S)}"
    )
    print(
        f"goal: table >= {TABLE_SPEEDUP_GOAL:.0f}x faster than the baseline: {ratio:.2f}x "
        f"({best['baseline']:.2f} s / {best['table']:.2f} s; CPU {ratio_cpu:.2f}x) "
        f"-> {verdict(ratio >= TABLE_SPEEDUP_GOAL)}"
    )
    print(
        f"for comparison, the geometric table: {best['baseline'] / best['geometric']:.2f}x "
        f"({best['baseline']:.2f} s / {best['geometric']:.2f} s)"
    )


if __name__ == "__main__":
    main()
