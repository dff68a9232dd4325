"""What ``dutygrid info`` and the API say about a database."""

from __future__ import annotations

from typing import Any

import pandas as pd

from geodata.crs import projected_crs_for
from geodata.imports import crs_label
from geodata.layers import LAYERS, STORAGE_CRS
from geodata.roads import LEVELS, ROAD_CLASSES
from server.storage import Store


def roads_summary(roads: pd.DataFrame) -> dict[str, Any]:
    """Return km of road by class and level, and which roads are named.

    Parameters
    ----------
    roads
        The roads layer (``name_zh``, ``name_en``, ``road_class``, ``level``, ``length_m``).
    """
    km = roads.assign(km=roads["length_m"] / 1000.0)
    table = km.pivot_table(
        index="road_class", columns="level", values="km", aggfunc="sum", fill_value=0.0
    ).reindex(index=list(ROAD_CLASSES), columns=list(LEVELS), fill_value=0.0)
    by_class = {
        name: {**{lv: float(row[lv]) for lv in LEVELS}, "total": float(row.sum())}
        for name, row in table.iterrows()
        if row.sum() > 0
    }
    name = km["name_zh"].fillna(km["name_en"])
    named = km[name.notna()].assign(name=name[name.notna()])
    per_road = (
        named.groupby("name", sort=False)
        .agg(
            name_zh=("name_zh", "first"),
            name_en=("name_en", "first"),
            km=("km", "sum"),
            level=("level", lambda s: s.mode().iloc[0]),
            features=("km", "size"),
        )
        .sort_values("km", ascending=False)
    )
    return {
        "levels": list(LEVELS),
        "total_km": float(km["km"].sum()),
        "km_by_class_level": by_class,
        "km_by_level": {lv: float(table[lv].sum()) for lv in LEVELS},
        "named": {
            "named_roads": len(per_road),
            "named_km": float(named["km"].sum()),
            "unnamed_features": int(name.isna().sum()),
            "roads": [
                {
                    "name_zh": r.name_zh,
                    "name_en": r.name_en,
                    "km": float(r.km),  # type: ignore[arg-type]
                    "level": r.level,
                    "features": int(r.features),  # type: ignore[arg-type]
                }
                for r in per_road.itertuples()
            ],
        },
    }


def database_report(store: Store) -> dict[str, Any]:
    """Return the layers, counts, CRS, provenance and road summary of a database."""
    counts = store.layer_counts()
    provenance = {p.layer: p for p in store.layer_provenance()}
    layers = []
    for name in LAYERS:
        record = provenance.get(name)
        layers.append(
            {
                "layer": name,
                "features": counts.get(name, 0),
                "source": record.source if record else None,
                "source_crs": record.source_crs if record else None,
                "coords": record.coords if record else None,
                "imported_at": record.imported_at if record else None,
                "note": record.note if record else None,
                "licence": record.licence if record else None,
            }
        )
    report: dict[str, Any] = {"schema_version": store.schema_version(), "layers": layers}
    extent = None
    if counts.get("boundary"):
        extent = tuple(float(v) for v in store.read_layer("boundary").total_bounds)
    roads = store.read_layer("roads") if counts.get("roads") else None
    if extent is None and roads is not None:
        extent = tuple(float(v) for v in roads.total_bounds)
    metric = projected_crs_for(extent) if extent else None  # type: ignore[arg-type]
    report["crs"] = {
        "storage": STORAGE_CRS,
        "metric": crs_label(metric) if metric else None,
        "metric_name": metric.name if metric else None,
        "extent": extent,
    }
    if roads is not None:
        report["roads"] = roads_summary(roads)
    for kind in ("topology", "balance"):
        stored = store.read_report(kind)
        if stored is not None:
            report[kind] = stored
    report["credits"] = sorted({p.licence for p in provenance.values() if p.licence})
    report["schematic_layers"] = sorted(
        p.layer for p in provenance.values() if "schematic" in (p.note or "")
    )
    return report
