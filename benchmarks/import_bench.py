"""Import throughput on the full Wuhan street network (92,667 edges, real OpenStreetMap data).

Two inputs: the GeoParquet file as published (UTM 50N) and the same network as OSM-like GeoJSON
(EPSG:4326, with ``highway`` and OSM-style ids). For each, the full dutygrid import (read, CRS,
plausibility, geometry checks, road classes and levels, metric lengths, kept attributes) is timed
against a bare baseline in the same run: ``geopandas.read_parquet``/``read_file`` + ``to_crs``.
The goal is a ratio of at most 2. Run: ``python benchmarks/import_bench.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd

from geodata.imports import import_layer

DATA = Path(__file__).parent / "data" / "wuhan_8989_original.parquet"


def best_of_alternating(
    repeat: int, baseline: Callable[[], object], ours: Callable[[], object]
) -> tuple[float, float]:
    """Best times of two runs, alternated so that a busy moment hits both alike."""
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeat):
        for which, run in enumerate((baseline, ours)):
            start = time.perf_counter()
            run()
            times[which].append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def osm_like_geojson(folder: Path) -> Path:
    frame = gpd.read_parquet(DATA).to_crs("EPSG:4326")
    frame["osm_id"] = [f"e{u}-{v}-{k}" for u, v, k in zip(frame.u, frame.v, frame.key, strict=True)]
    path = folder / "wuhan_osm_like.geojson"
    frame[["osm_id", "highway", "u", "v", "key", "geometry"]].to_file(path, driver="GeoJSON")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    edges = len(gpd.read_parquet(DATA))
    print(f"Wuhan network: {edges} edges; best of {args.repeat} runs each\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        geojson = osm_like_geojson(Path(tmp))
        cases = [
            (
                "GeoParquet",
                lambda: gpd.read_parquet(DATA).to_crs("EPSG:4326"),
                lambda: import_layer(DATA, "roads"),
            ),
            (
                "GeoJSON",
                lambda: gpd.read_file(geojson).to_crs("EPSG:4547"),
                lambda: import_layer(geojson, "roads"),
            ),
        ]
        for name, baseline, ours in cases:
            base, full = best_of_alternating(args.repeat, baseline, ours)
            rows.append((name, base, full))
            print(
                f"{name:<11} baseline (read + to_crs): {base:6.2f} s  "
                f"{edges / base:9,.0f} edges/s\n"
                f"{'':<11} dutygrid import:          {full:6.2f} s  {edges / full:9,.0f} edges/s"
                f"   ratio {full / base:4.2f} (goal <= 2.00)"
            )
    worst = max(full / base for _, base, full in rows)
    print(f"\nworst ratio {worst:.2f}; median {statistics.median(f / b for _, b, f in rows):.2f}")


if __name__ == "__main__":
    main()
