"""The grid and post building steps, from stored layers to the layers they produce.

These functions chain the modules of :mod:`grids` the way a planner runs them: unit grids from the
roads (or a regular tessellation), the workload of each grid, squad territories, then the posts.
They take and return GeoDataFrames; storing them is the caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import pyproj

from geodata.crs import metric_crs_of
from grids.errors import GridBuildError
from grids.posts import PostPolicy, all_posts
from grids.regular import regular_unit_grids
from grids.responsibility import (
    assign_by_territory,
    balance_report,
    balanced_assignment,
    responsibility_grids,
    seeds_from_territories,
)
from grids.road_grid import WORKLOAD_WEIGHTS, road_grid_table, workload_by_grid
from grids.topology import TopologyReport, topology_report
from grids.unit_grids import unit_grid_build

GridMode = Literal["roads", "square", "hex"]
SquadMode = Literal["balanced", "territory"]


@dataclass(frozen=True)
class GridBuild:
    """What :func:`build_grids` made.

    Attributes
    ----------
    unit_grids
        The ``unit_grids`` layer, each grid with the squad it belongs to.
    responsibility_grids
        The ``responsibility_grids`` layer: one territory per squad.
    balance
        The workload balance of the squads (see :func:`grids.responsibility.balance_report`).
    topology
        The topology report of the unit grids against the district.
    """

    unit_grids: gpd.GeoDataFrame
    responsibility_grids: gpd.GeoDataFrame
    balance: dict[str, Any]
    topology: TopologyReport


def county_code_of(boundary: gpd.GeoDataFrame, given: str | None = None) -> str:
    """Return the 6-digit county code for unit grid codes: ``given``, else the boundary's ``code``.

    Raises
    ------
    GridBuildError
        If neither gives a 6-digit code.
    """
    if given:
        code = given
    else:
        codes = [str(c) for c in boundary.get("code", pd.Series(dtype=object)).dropna()]
        code = codes[0] if len(set(codes)) == 1 else ""
    if len(code) != 6 or not code.isdigit():
        raise GridBuildError(
            "unit grid codes start with the 6-digit county code (行政区划代码); the boundary has "
            f"{'no single code' if not code else repr(code)}: give it with --county, "
            "e.g. --county 410108",
            field="county",
        )
    return code


def fixed_grids_of_zones(
    unit_grids: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None, squad_ids: set[str]
) -> dict[str, list[str]]:
    """Return, per squad, the unit grids whose centre lies in a zone that squad owns.

    The river bank belongs to its own squad (沿黄执法中队) whatever the workload balance says.
    """
    if zones is None or zones.empty or "squad_id" not in zones:
        return {}
    owned = zones[zones["squad_id"].isin(squad_ids)]
    if owned.empty:
        return {}
    metric = metric_crs_of(unit_grids)
    centres = gpd.GeoDataFrame(
        {"code": unit_grids["code"].to_numpy()},
        geometry=unit_grids.to_crs(metric).geometry.representative_point(),
        crs=metric,
    )
    joined = gpd.sjoin(centres, owned[["squad_id", "geometry"]].to_crs(metric), predicate="within")
    joined = joined.drop_duplicates("code").sort_values("code")
    return {str(s): list(g["code"]) for s, g in joined.groupby("squad_id", sort=True)}


def build_grids(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    mode: GridMode = "roads",
    target_area_m2: float = 10_000.0,
    county_code: str | None = None,
    weights: Mapping[str, float] | None = None,
    squad_mode: SquadMode = "balanced",
    metric_crs: pyproj.CRS | None = None,
) -> GridBuild:
    """Build unit grids, assign them to squads and check the result.

    Parameters
    ----------
    layers
        The district's layers by name: ``boundary`` and ``roads`` are needed; ``subdistricts``,
        ``communities``, ``squads`` and ``zones`` are used where present and not empty.
    mode
        ``roads``: grids follow the road network; ``square``/``hex``: a regular tessellation.
    target_area_m2
        The area unit grids are built toward.
    county_code
        The 6-digit county code; by default the boundary's ``code``.
    weights
        Workload weight of a road metre by level; by default
        :data:`grids.road_grid.WORKLOAD_WEIGHTS` (strict 3, controlled 2, regulated 1).
    squad_mode
        ``balanced``: contiguous territories of about equal workload grown from the squads'
        drawn territories, with zones a squad owns (the river bank) fixed to it;
        ``territory``: each grid to the squad whose drawn territory holds most of it.
    metric_crs
        The CRS for metric work; chosen for the data when None.

    Returns
    -------
    GridBuild
        The layers and the reports.

    Raises
    ------
    GridBuildError
        If a needed layer is missing or empty, or no squad exists to own the grids.
    """
    boundary, roads = _required(layers, "boundary"), _required(layers, "roads")
    optional = {name: _optional(layers, name) for name in ("subdistricts", "squads")}
    # communities known by code only still matter: the builder says their polygons are missing
    communities = layers.get("communities")
    optional["communities"] = None if communities is None or communities.empty else communities
    metric = metric_crs or metric_crs_of(boundary)
    county = county_code_of(boundary, county_code)
    if mode == "roads":
        build = unit_grid_build(
            roads,
            boundary,
            subdistricts=optional["subdistricts"],
            communities=optional["communities"],
            county_code=county,
            target_area_m2=target_area_m2,
            metric_crs=metric,
        )
        # grids built from the roads have them for edges: the build's noding gives the table
        grids, table = build.grids, build.road_table()
    else:
        grids = regular_unit_grids(
            boundary,
            subdistricts=optional["subdistricts"],
            communities=optional["communities"],
            shape=mode,
            cell_area_m2=target_area_m2,
            county_code=county,
            metric_crs=metric,
        )
        table = road_grid_table(roads, grids, metric_crs=metric)
    workload = workload_by_grid(table, weights or WORKLOAD_WEIGHTS).reindex(
        grids["code"], fill_value=0.0
    )
    squads = optional["squads"]
    if squads is None:
        raise GridBuildError(
            "no squads: import the squads layer (中队, with their territories) first",
            field="squads",
        )
    squad_ids = sorted(str(s) for s in squads["id"])
    if squad_mode == "territory":
        assignment = assign_by_territory(grids, squads, metric_crs=metric)
    else:
        assignment = balanced_assignment(
            grids,
            workload,
            squad_ids,
            fixed=fixed_grids_of_zones(grids, _optional(layers, "zones"), set(squad_ids)),
            seeds=seeds_from_territories(grids, squads, metric_crs=metric),
            metric_crs=metric,
        )
    grids = grids.assign(squad_id=grids["code"].map(assignment).astype(object))
    territories = responsibility_grids(grids, assignment, workload, squads, metric_crs=metric)
    balance = balance_report(assignment, workload, unit_grids=grids, metric_crs=metric)
    report = topology_report(
        grids,
        boundary=boundary,
        communities=optional["communities"],
        subdistricts=optional["subdistricts"],
        roads=roads,
        metric_crs=metric,
    )
    return GridBuild(grids, territories, balance, report)


def build_posts(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    policy: PostPolicy | None = None,
    metric_crs: pyproj.CRS | None = None,
) -> tuple[gpd.GeoDataFrame, TopologyReport | None]:
    """Cut the roads into posts, add the guidance points' point posts, and check them.

    Parameters
    ----------
    layers
        ``roads`` is needed; ``unit_grids``, ``squads``, ``guidance_points`` and ``boundary`` are
        used where present.
    policy
        Post lengths by level and the other cutting rules.
    metric_crs
        The CRS for metric work; chosen for the data when None.

    Returns
    -------
    tuple
        The ``posts`` layer, and the topology report of the unit grids with the posts (None
        when there are no unit grids yet).
    """
    roads = _required(layers, "roads")
    grids = _optional(layers, "unit_grids")
    metric = metric_crs or metric_crs_of(roads)
    posts = all_posts(
        roads,
        _optional(layers, "guidance_points"),
        unit_grids=grids,
        squads=_optional(layers, "squads"),
        policy=policy,
        metric_crs=metric,
    )
    report = None
    boundary = _optional(layers, "boundary")
    if grids is not None and boundary is not None:
        report = topology_report(
            grids,
            boundary=boundary,
            communities=_optional(layers, "communities"),
            subdistricts=_optional(layers, "subdistricts"),
            posts=posts,
            roads=roads,
            metric_crs=metric,
        )
    return posts, report


def _required(layers: Mapping[str, gpd.GeoDataFrame], name: str) -> gpd.GeoDataFrame:
    frame = _optional(layers, name)
    if frame is None:
        raise GridBuildError(
            f"the {name} layer is empty: import it first (dutygrid import FILE --layer {name})",
            layer=name,
        )
    return frame


def _optional(layers: Mapping[str, gpd.GeoDataFrame], name: str) -> gpd.GeoDataFrame | None:
    frame = layers.get(name)
    if frame is None or frame.empty or not frame.geometry.notna().any():
        return None
    return frame
