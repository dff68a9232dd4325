"""Responsibility grids: unit grids assigned to squads, by territory and by balanced growth."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import METRIC, X0, Y0
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning
from geodata.huiji import huiji_data_path, load_huiji
from geodata.layers import layer_spec
from grids.responsibility import (
    assign_by_territory,
    balance_report,
    balanced_assignment,
    responsibility_grids,
    seeds_from_territories,
)

CELL = 100.0
Cell = tuple[int, int]


def code_of(i: int, j: int) -> str:
    """A 15-digit code: county, sub-district, community (the row) and sequence (the column)."""
    return f"410108001{j + 1:03d}{i + 1:03d}"


def unit_grids_frame(
    cells: Iterable[Cell], *, size: float = CELL, x0: float = X0, y0: float = Y0
) -> gpd.GeoDataFrame:
    """Return square unit grids with the columns of the ``unit_grids`` layer."""
    cells = list(cells)
    codes = [code_of(i, j) for i, j in cells]
    geoms = [
        box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
        for i, j in cells
    ]
    return gpd.GeoDataFrame(
        {
            "id": codes,
            "code": codes,
            "subdistrict_code": [c[:9] for c in codes],
            "community_code": [c[:12] for c in codes],
            "area_m2": [size * size] * len(codes),
            "mode": ["square"] * len(codes),
            "squad_id": [None] * len(codes),
            "attrs": [{} for _ in codes],
        },
        geometry=geoms,
        crs=METRIC,
    ).to_crs("EPSG:4326")


def rectangle(nx: int, ny: int) -> list[Cell]:
    return [(i, j) for j in range(ny) for i in range(nx)]


def rook_pieces(cells: Iterable[Cell]) -> list[set[Cell]]:
    """Split cells into rook-connected pieces, largest first (ties by smallest cell)."""
    left = set(cells)
    pieces = []
    while left:
        start = min(left)
        piece = {start}
        queue = deque([start])
        left.discard(start)
        while queue:
            i, j = queue.popleft()
            for neighbour in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if neighbour in left:
                    left.discard(neighbour)
                    piece.add(neighbour)
                    queue.append(neighbour)
        pieces.append(piece)
    return sorted(pieces, key=lambda p: (-len(p), min(p)))


def cells_of(assignment: pd.Series, squad: str) -> set[Cell]:
    return {
        (int(code[12:]) - 1, int(code[9:12]) - 1)
        for code, owner in assignment.items()
        if owner == squad
    }


def uniform(grids: gpd.GeoDataFrame, value: float = 1.0) -> pd.Series:
    return pd.Series(value, index=grids["code"].to_numpy())


def loads(assignment: pd.Series, workload: pd.Series) -> pd.Series:
    return workload.reindex(assignment.index).groupby(assignment.to_numpy()).sum()


@st.composite
def holey_rectangles(draw: st.DrawFn) -> tuple[list[Cell], list[float], int, int]:
    """A rectangle of cells with random holes (its largest piece), workloads and squad count."""
    nx, ny = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    all_cells = rectangle(nx, ny)
    holes = draw(st.sets(st.sampled_from(all_cells), max_size=len(all_cells) // 4))
    cells = sorted(rook_pieces(set(all_cells) - holes)[0], key=lambda c: (c[1], c[0]))
    squads = draw(st.integers(1, min(5, len(cells))))
    weights = draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(0.0, 10.0)), min_size=len(cells), max_size=len(cells)
        )
    )
    fixed_size = draw(st.integers(0, max(0, len(cells) // (2 * squads))))
    return cells, weights, squads, fixed_size


def grow_ball(cells: list[Cell], size: int) -> list[Cell]:
    """A rook-connected set of ``size`` cells grown from the first cell."""
    present = set(cells)
    ball = [cells[0]]
    queue = deque([cells[0]])
    seen = {cells[0]}
    while queue and len(ball) < size:
        i, j = queue.popleft()
        for neighbour in ((i + 1, j), (i, j + 1), (i - 1, j), (i, j - 1)):
            if neighbour in present and neighbour not in seen and len(ball) < size:
                seen.add(neighbour)
                ball.append(neighbour)
                queue.append(neighbour)
    return ball


@settings(max_examples=30, deadline=None)
@given(holey_rectangles())
def test_balanced_assignment_invariants(case: tuple[list[Cell], list[float], int, int]) -> None:
    cells, weights, squad_count, fixed_size = case
    grids = unit_grids_frame(cells)
    workload = pd.Series(weights, index=grids["code"].to_numpy())
    squads = [f"S{k}" for k in range(squad_count)]
    fixed_cells = grow_ball(cells, fixed_size) if fixed_size else []
    fixed = {"S0": [code_of(i, j) for i, j in fixed_cells]}

    assignment = balanced_assignment(grids, workload, squads, fixed=fixed, metric_crs=METRIC)

    # Every grid assigned exactly once, in the grids' order, to one of the squads.
    assert assignment.index.tolist() == grids["code"].tolist()
    assert set(assignment) <= set(squads)
    # Every squad gets a region, and every region is one rook-connected piece.
    for squad in squads:
        region = cells_of(assignment, squad)
        assert region, f"{squad} got no grid"
        assert len(rook_pieces(region)) == 1, f"{squad} is in pieces"
    # Fixed grids stay with their squad.
    assert all(assignment[code_of(i, j)] == "S0" for i, j in fixed_cells)
    # Deterministic, and independent of the order of the rows.
    again = balanced_assignment(grids, workload, squads, fixed=fixed, metric_crs=METRIC)
    pd.testing.assert_series_equal(assignment, again)
    shuffled = grids.iloc[::-1]
    reordered = balanced_assignment(shuffled, workload, squads, fixed=fixed, metric_crs=METRIC)
    pd.testing.assert_series_equal(assignment, reordered.reindex(assignment.index))
    # The report agrees.
    report = balance_report(assignment, workload, unit_grids=grids, metric_crs=METRIC)
    assert report["contiguous"] is True
    assert report["district_pieces"] == 1
    assert sum(s["unit_grid_count"] for s in report["squads"]) == len(cells)


@pytest.mark.parametrize(("squad_count", "bound"), [(4, 1.3), (5, 1.3), (7, 1.3)])
def test_uniform_workload_is_shared_evenly(squad_count: int, bound: float) -> None:
    grids = unit_grids_frame(rectangle(20, 20))
    workload = uniform(grids)
    squads = [f"S{k}" for k in range(squad_count)]
    assignment = balanced_assignment(grids, workload, squads, metric_crs=METRIC)
    per_squad = loads(assignment, workload)
    assert per_squad.max() / per_squad.min() <= bound
    report = balance_report(assignment, workload, unit_grids=grids)
    assert report["max_min_ratio"] == pytest.approx(per_squad.max() / per_squad.min(), abs=1e-4)
    assert report["contiguous"] is True


def test_skewed_workload_is_balanced_by_workload_not_by_area() -> None:
    grids = unit_grids_frame(rectangle(16, 16))
    # A dense corner: its 4×4 cells carry 20 times the work of the rest.
    weights = [20.0 if i < 4 and j < 4 else 1.0 for i, j in rectangle(16, 16)]
    workload = pd.Series(weights, index=grids["code"].to_numpy())
    assignment = balanced_assignment(grids, workload, ["A", "B", "C", "D"], metric_crs=METRIC)
    per_squad = loads(assignment, workload)
    assert per_squad.max() / per_squad.min() <= 1.3
    # Balanced by workload, not by area: the squad of the dense corner has the fewest grids.
    counts = assignment.value_counts()
    assert counts.max() > 2 * counts.min()
    assert counts.idxmin() == assignment[code_of(0, 0)]


def test_fixed_grids_stay_and_the_rest_is_balanced() -> None:
    cells = rectangle(20, 20)
    grids = unit_grids_frame(cells)
    workload = uniform(grids)
    river = [code_of(i, j) for i, j in cells if j >= 17]
    squads = ["HJ-S-YH", "A", "B", "C"]
    assignment = balanced_assignment(
        grids, workload, squads, fixed={"HJ-S-YH": river}, metric_crs=METRIC
    )
    assert (assignment[river] == "HJ-S-YH").all()
    per_squad = loads(assignment, workload)
    assert per_squad.max() / per_squad.min() <= 1.3
    for squad in squads:
        assert len(rook_pieces(cells_of(assignment, squad))) == 1


def test_seeds_are_kept_in_their_regions() -> None:
    grids = unit_grids_frame(rectangle(10, 10))
    seeds = {"A": code_of(0, 0), "B": code_of(9, 9)}
    assignment = balanced_assignment(grids, uniform(grids), ["A", "B"], seeds=seeds)
    assert assignment[code_of(0, 0)] == "A"
    assert assignment[code_of(9, 9)] == "B"
    assert assignment.value_counts().tolist() == [50, 50]


def test_islands_go_to_the_nearest_squad_with_a_warning() -> None:
    main = rectangle(10, 10)
    # Two cells 300 m east of the main block, and one far north-west.
    islands = [(13, 0), (13, 1), (-5, 15)]
    grids = unit_grids_frame(main + islands)
    workload = uniform(grids)
    seeds = {"west": code_of(0, 5), "east": code_of(9, 5)}
    with pytest.warns(GeodataWarning, match="3 unit grid.* in 2 piece"):
        assignment = balanced_assignment(grids, workload, ["west", "east"], seeds=seeds)
    assert assignment[code_of(13, 0)] == assignment[code_of(13, 1)] == "east"
    assert assignment[code_of(-5, 15)] == "west"
    report = balance_report(assignment, workload, unit_grids=grids)
    assert report["district_pieces"] == 3
    assert report["contiguous"] is True
    by_squad = {s["squad_id"]: s for s in report["squads"]}
    assert by_squad["east"]["pieces"] == 2
    assert by_squad["west"]["pieces"] == 2


def test_fixed_grids_apart_warn() -> None:
    grids = unit_grids_frame(rectangle(12, 3))
    # Squad A must own both ends of a strip that squad B's seed sits in the middle of.
    fixed = {
        "A": [code_of(0, 1), code_of(11, 1)],
        "B": [code_of(i, j) for i in (5, 6) for j in (0, 1, 2)],
    }
    with pytest.warns(GeodataWarning, match="A are in pieces"):
        assignment = balanced_assignment(grids, uniform(grids), ["A", "B"], fixed=fixed)
    assert assignment[code_of(0, 1)] == assignment[code_of(11, 1)] == "A"
    report = balance_report(assignment, uniform(grids), unit_grids=grids)
    assert report["contiguous"] is False
    assert [s["contiguous"] for s in report["squads"]] == [False, True]


def test_balanced_assignment_errors() -> None:
    grids = unit_grids_frame(rectangle(3, 3))
    workload = uniform(grids)
    with pytest.raises(ValueError, match="at least one squad"):
        balanced_assignment(grids, workload, [])
    with pytest.raises(ValueError, match="not unique"):
        balanced_assignment(grids, workload, ["A", "A"])
    with pytest.raises(ValueError, match="10 squads cannot share 9"):
        balanced_assignment(grids, workload, [f"S{k}" for k in range(10)])
    with pytest.raises(FieldError, match="not a squad"):
        balanced_assignment(grids, workload, ["A"], fixed={"B": [code_of(0, 0)]})
    with pytest.raises(FieldError, match="not among the grids"):
        balanced_assignment(grids, workload, ["A"], fixed={"A": ["410108999999999"]})
    with pytest.raises(ValueError, match="fixed to two squads"):
        balanced_assignment(
            grids, workload, ["A", "B"], fixed={"A": [code_of(0, 0)], "B": [code_of(0, 0)]}
        )
    with pytest.raises(ValueError, match="seed of two squads"):
        balanced_assignment(
            grids, workload, ["A", "B"], seeds={"A": code_of(0, 0), "B": code_of(0, 0)}
        )
    with pytest.raises(ValueError, match="fixed to another squad"):
        balanced_assignment(
            grids, workload, ["A", "B"], fixed={"A": [code_of(0, 0)]}, seeds={"B": code_of(0, 0)}
        )
    with pytest.raises(ValueError, match="not negative"):
        balanced_assignment(grids, workload - 2.0, ["A"])
    duplicated = pd.concat([grids, grids.iloc[:1]])
    with pytest.raises(DuplicateIdError, match="more than once"):
        balanced_assignment(duplicated, workload, ["A"])
    with pytest.raises(FieldError, match="code"):
        balanced_assignment(grids.drop(columns="code"), workload, ["A"])


def squads_frame(territories: dict[str, Any], names: dict[str, str]) -> gpd.GeoDataFrame:
    ids = list(territories)
    return gpd.GeoDataFrame(
        {"id": ids, "name_zh": [names[i] for i in ids], "attrs": [{} for _ in ids]},
        geometry=list(territories.values()),
        crs=METRIC,
    ).to_crs("EPSG:4326")


def test_assign_by_territory_takes_the_largest_overlap_and_the_nearest() -> None:
    grids = unit_grids_frame([*rectangle(4, 2), (9, 0)])
    # West owns x < 130 m (cell (1, *) is 30 % west), east the rest up to 400 m; cell (9, 0) is
    # outside both and nearest east; a squad without a territory is skipped.
    squads = squads_frame(
        {
            "west": box(X0, Y0, X0 + 130, Y0 + 200),
            "east": box(X0 + 130, Y0, X0 + 400, Y0 + 200),
            "none": None,
        },
        {"west": "西中队", "east": "东中队", "none": "无"},
    )
    assignment = assign_by_territory(grids, squads, metric_crs=METRIC)
    assert assignment.index.tolist() == grids["code"].tolist()
    assert assignment.name == "squad_id"
    expected = {(0, 0): "west", (0, 1): "west", (1, 0): "east", (1, 1): "east", (9, 0): "east"}
    for (i, j), squad in expected.items():
        assert assignment[code_of(i, j)] == squad
    assert set(assignment) == {"west", "east"}
    with pytest.raises(ValueError, match="no squad has a territory"):
        assign_by_territory(grids, squads[squads["id"] == "none"])


def test_seeds_from_territories_lie_in_them() -> None:
    grids = unit_grids_frame(rectangle(10, 4))
    squads = squads_frame(
        {"west": box(X0, Y0, X0 + 300, Y0 + 350), "east": box(X0 + 300, Y0, X0 + 1000, Y0 + 350)},
        {"west": "西中队", "east": "东中队"},
    )
    seeds = seeds_from_territories(grids, squads)
    # The grids whose centres are nearest the territories' middles, (150, 175) and (650, 175).
    assert seeds == {"west": code_of(1, 1), "east": code_of(6, 1)}
    assignment = balanced_assignment(grids, uniform(grids), ["west", "east"], seeds=seeds)
    assert assignment[seeds["west"]] == "west"
    assert assignment.value_counts().tolist() == [20, 20]


def test_responsibility_grids_layer() -> None:
    grids = unit_grids_frame(rectangle(6, 4))
    workload = pd.Series(np.arange(24, dtype=float), index=grids["code"].to_numpy())
    assignment = pd.Series(
        ["B" if i >= 3 else "A" for i, _ in rectangle(6, 4)],
        index=grids["code"].to_numpy(),
    )
    squads = squads_frame(
        {"A": None, "B": None, "C": None}, {"A": "甲中队", "B": "乙中队", "C": "丙"}
    )
    layer = responsibility_grids(grids, assignment, workload, squads)
    spec = layer_spec("responsibility_grids")
    assert list(layer.columns) == [*spec.column_names, "geometry"]
    assert layer.crs == "EPSG:4326"
    assert layer["id"].tolist() == ["A", "B"]
    assert layer["squad_id"].tolist() == ["A", "B"]
    assert layer["name_zh"].tolist() == ["甲中队", "乙中队"]
    assert layer["unit_grid_count"].tolist() == [12, 12]
    expected_loads = loads(assignment, workload)
    assert layer["workload"].tolist() == [expected_loads["A"], expected_loads["B"]]
    assert layer["workload"].dtype == np.float64
    assert layer["unit_grid_count"].dtype == np.int64
    assert layer.geom_type.tolist() == ["Polygon", "Polygon"]
    areas = layer.to_crs(METRIC).area
    assert areas.tolist() == pytest.approx([12 * CELL * CELL] * 2, rel=1e-6)
    assert [a["area_m2"] for a in layer["attrs"]] == pytest.approx([120_000, 120_000], abs=0.1)
    assert [a["parts"] for a in layer["attrs"]] == [1, 1]
    # Without squads there are no names; every grid must have a squad.
    assert responsibility_grids(grids, assignment, workload)["name_zh"].isna().all()
    with pytest.raises(FieldError, match="1 unit grid"):
        responsibility_grids(grids, assignment.iloc[1:], workload)


def test_balance_report_numbers() -> None:
    grids = unit_grids_frame(rectangle(4, 1))
    codes = grids["code"].tolist()
    workload = pd.Series([1.0, 3.0, 2.0, 2.0], index=codes)
    # A has the two ends (apart), B the middle.
    assignment = pd.Series(["A", "B", "B", "A"], index=codes)
    report = balance_report(assignment, workload, unit_grids=grids)
    assert report["total_workload"] == 8.0
    assert report["max_workload"] == 5.0
    assert report["min_workload"] == 3.0
    assert report["max_min_ratio"] == pytest.approx(5 / 3, abs=1e-4)
    assert report["cv"] == pytest.approx(np.std([3.0, 5.0]) / 4.0, abs=1e-4)
    assert report["contiguous"] is False
    assert [(s["squad_id"], s["pieces"], s["contiguous"]) for s in report["squads"]] == [
        ("A", 2, False),
        ("B", 1, True),
    ]
    assert [s["share"] for s in report["squads"]] == [0.375, 0.625]
    # Without the grids there is no contiguity check; a squad without work has no ratio.
    idle = balance_report(assignment, pd.Series([0.0, 3.0, 2.0, 0.0], index=codes))
    assert idle["max_min_ratio"] is None
    assert idle["contiguous"] is None
    assert idle["squads"][0]["pieces"] is None


def river_bank_codes(grids: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> list[str]:
    """The unit grids lying mostly in the river-bank zone."""
    metric = grids.to_crs(METRIC)
    river = zones[zones["kind"] == "river_bank"].to_crs(METRIC).union_all()
    share = metric.intersection(river).area / metric.area
    return metric.loc[share > 0.5, "code"].tolist()


def road_workload(grids: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> pd.Series:
    """Level-weighted road length per unit grid (strict 3, controlled 2, regulated 1)."""
    cells = np.asarray(grids.to_crs(METRIC).geometry.array, dtype=object)
    metric_roads = roads.to_crs(METRIC)
    lines = np.asarray(metric_roads.geometry.array, dtype=object)
    weight = metric_roads["level"].map({"strict": 3.0, "controlled": 2.0, "regulated": 1.0})
    cell_index, road_index = shapely.STRtree(lines).query(cells, predicate="intersects")
    lengths = shapely.length(shapely.intersection(cells[cell_index], lines[road_index]))
    per_cell = np.bincount(
        cell_index, weights=lengths * weight.to_numpy()[road_index], minlength=len(cells)
    )
    return pd.Series(per_cell, index=grids["code"].to_numpy())


@pytest.mark.slow
@pytest.mark.skipif(
    not huiji_data_path("squads.geojson").exists(), reason="the bundled Huiji squads are missing"
)
def test_huiji_ten_squads_with_the_river_bank_fixed() -> None:
    layers = load_huiji()
    district = layers["boundary"].frame.to_crs(METRIC).union_all()
    min_x, min_y, max_x, max_y = district.bounds
    size = 500.0
    squares = [
        box(x, y, x + size, y + size)
        for y in np.arange(min_y, max_y, size)
        for x in np.arange(min_x, max_x, size)
    ]
    clipped = shapely.intersection(np.asarray(squares, dtype=object), district)
    clipped = clipped[shapely.area(clipped) > 1.0]
    codes = [f"410108{k:09d}" for k in range(len(clipped))]
    grids = gpd.GeoDataFrame({"id": codes, "code": codes}, geometry=clipped, crs=METRIC).to_crs(
        "EPSG:4326"
    )
    workload = road_workload(grids, layers["roads"].frame)
    squads = layers["squads"].frame
    river = river_bank_codes(grids, layers["zones"].frame)
    assert river

    with pytest.warns(GeodataWarning, match="do not touch the rest"):
        assignment = balanced_assignment(
            grids, workload, squads["id"].tolist(), fixed={"HJ-S-YH": river}
        )

    assert (assignment[river] == "HJ-S-YH").all()
    report = balance_report(assignment, workload, unit_grids=grids)
    assert report["squad_count"] == 10
    assert report["contiguous"] is True
    assert report["max_min_ratio"] is not None
    assert report["max_min_ratio"] <= 1.25
    layer = responsibility_grids(grids, assignment, workload, squads)
    assert layer["unit_grid_count"].sum() == len(grids)
    assert layer["workload"].sum() == pytest.approx(workload.sum())
    assert layer.loc[layer["id"] == "HJ-S-YH", "name_zh"].tolist() == ["沿黄执法中队"]
    # By the squads' drawn territories the same work is far less even.
    by_territory = balance_report(assign_by_territory(grids, squads), workload)
    assert by_territory["max_min_ratio"] is None or by_territory["max_min_ratio"] > 1.25
