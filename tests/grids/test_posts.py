"""Posts: road sections that partition the road network, and fixed points."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import HANKOU, METRIC
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely.geometry import LineString, MultiLineString, box

from geodata.crs import metric_lengths
from geodata.errors import DuplicateIdError, FieldError, InvalidGeometryError
from geodata.huiji import huiji_data_path, load_huiji
from geodata.imports import import_layer
from geodata.layers import layer_spec
from grids.posts import POST_COLUMNS, PostPolicy, all_posts, point_posts, posts_from_roads
from server.storage import Provenance, Store

X0, Y0 = 460_000.0, 3_850_000.0
LEVELS = ("strict", "controlled", "regulated")
ID = re.compile(r"P-(.+)-(\d+)")


def roads_frame(roads: list[dict[str, object]]) -> gpd.GeoDataFrame:
    """Roads given in metres from (X0, Y0), as a roads layer in EPSG:4326."""
    geometry = [shapely.affinity.translate(road["geometry"], X0, Y0) for road in roads]
    frame = gpd.GeoDataFrame(
        {
            "id": [road["id"] for road in roads],
            "name_zh": [road.get("name_zh") for road in roads],
            "level": [road.get("level", "strict") for road in roads],
        },
        geometry=geometry,
        crs=METRIC,
    )
    return frame.to_crs("EPSG:4326")


def grid_frame(
    polygons: list[shapely.Geometry], squads: list[str | None] | None = None
) -> gpd.GeoDataFrame:
    """Unit grids given in metres from (X0, Y0), in EPSG:4326."""
    codes = [f"410108001001{i + 1:03d}" for i in range(len(polygons))]
    frame = gpd.GeoDataFrame(
        {
            "id": codes,
            "code": codes,
            "mode": "square",
            "squad_id": squads or [None] * len(polygons),
            "attrs": [{} for _ in polygons],
        },
        geometry=[shapely.affinity.translate(p, X0, Y0) for p in polygons],
        crs=METRIC,
    )
    return frame.to_crs("EPSG:4326")


def square_grids_over(frame: gpd.GeoDataFrame, side: float) -> gpd.GeoDataFrame:
    """A square grid of ``side`` metres over the data, clipped to its bounding box, in EPSG:4326."""
    metric = frame.to_crs(METRIC) if frame.crs.is_geographic else frame
    min_x, min_y, max_x, max_y = metric.total_bounds
    xs = np.arange(min_x - side, max_x + side, side)
    ys = np.arange(min_y - side, max_y + side, side)
    cells = [box(x, y, x + side, y + side) for y in ys for x in xs]
    codes = [f"410108001001{i:03d}" if i < 1000 else f"41010800{i:07d}" for i in range(len(cells))]
    return gpd.GeoDataFrame(
        {"id": codes, "code": codes, "squad_id": None}, geometry=cells, crs=METRIC
    ).to_crs("EPSG:4326")


def lengths_m(frame: gpd.GeoDataFrame) -> np.ndarray:
    return metric_lengths(np.asarray(frame.geometry.array, dtype=object), CRS(METRIC))


def along(posts: gpd.GeoDataFrame, road: str) -> list[float]:
    """The lengths of the posts of one street, in order along it."""
    chosen = posts[posts["road_id"].str.startswith(road)]
    order = sorted(
        range(len(chosen)),
        key=lambda i: (chosen["attrs"].iloc[i]["road_ids"][0], chosen["attrs"].iloc[i]["from_m"]),
    )
    return [round(float(chosen["length_m"].iloc[i]), 6) for i in order]


def distances_along(lines: gpd.GeoSeries, others: gpd.GeoSeries, step: float = 2e-5) -> np.ndarray:
    """The distance from points every ``step`` degrees (about 2 m) along ``lines`` to ``others``."""
    geoms = np.asarray(lines.array, dtype=object)
    counts = np.maximum(np.ceil(shapely.length(geoms) / step).astype(int), 1) + 1
    owner = np.repeat(np.arange(len(geoms)), counts)
    fraction = np.concatenate([np.linspace(0.0, 1.0, n) for n in counts])
    points = shapely.line_interpolate_point(geoms[owner], fraction, normalized=True)
    _, distance = shapely.STRtree(np.asarray(others.array, dtype=object)).query_nearest(
        points, return_distance=True, all_matches=False
    )
    return distance


def assert_partition(roads: gpd.GeoDataFrame, posts: gpd.GeoDataFrame) -> None:
    """Every metre of road in exactly one post.

    The posts cover the roads and lie on them (to 1e-9°, a tenth of a millimetre), and their
    lengths add up to the roads': so no two overlap.
    """
    segments = posts[posts["kind"] == "segment"]
    total = lengths_m(roads).sum()
    assert segments["length_m"].sum() == pytest.approx(total, rel=1e-6)
    assert lengths_m(segments).sum() == pytest.approx(total, rel=1e-6)
    assert distances_along(roads.geometry, segments.geometry).max() < 1e-9
    assert distances_along(segments.geometry, roads.geometry).max() < 1e-9


def assert_posts_layer(posts: gpd.GeoDataFrame) -> None:
    assert list(posts.columns) == POST_COLUMNS
    assert posts["id"].is_unique
    assert posts["id"].is_monotonic_increasing
    assert str(posts.crs) == "EPSG:4326"
    for column in layer_spec("posts").columns:
        expected = "float64" if column.kind == "real" else "str"
        assert str(posts[column.name].dtype) == expected, column.name
    for post_id, road_id, attrs in zip(posts["id"], posts["road_id"], posts["attrs"], strict=True):
        if not isinstance(road_id, str):
            continue
        match = ID.fullmatch(post_id)
        assert match is not None
        assert match.group(1) == road_id == attrs["road_ids"][0]


# --- hypothesis: street networks of crossing straight streets ------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> list[dict[str, object]]:
    """Horizontal and vertical streets over a 3 km square, cut into roads at random places.

    A street is noded where it crosses another street or not; named streets have names of
    their own, so that each is one chain.
    """
    size = 3000.0
    across = draw(st.lists(st.floats(100.0, 2900.0), min_size=1, max_size=3, unique=True))
    down = draw(st.lists(st.floats(100.0, 2900.0), max_size=3, unique=True))
    roads: list[dict[str, object]] = []
    streets = [("h", y) for y in across] + [("v", x) for x in down]
    for number, (axis, at) in enumerate(streets):
        others = down if axis == "h" else across
        noded = [p for p in others if draw(st.booleans())]
        extra = draw(st.lists(st.floats(10.0, size - 10.0), max_size=3))
        cuts = sorted({0.0, size, *noded, *extra})
        cuts = [c for i, c in enumerate(cuts) if i == 0 or c - cuts[i - 1] > 1.0]
        if cuts[-1] != size:
            cuts[-1] = size
        level = draw(st.sampled_from(LEVELS))
        name = f"街{number}" if draw(st.booleans()) else None
        for k, (a, b) in enumerate(itertools.pairwise(cuts)):
            ends = [(a, at), (b, at)] if axis == "h" else [(at, a), (at, b)]
            if draw(st.booleans()):
                ends.reverse()
            roads.append(
                {
                    "id": f"R{number}-{k:02d}",
                    "name_zh": name,
                    "level": level,
                    "geometry": LineString(ends),
                }
            )
    return roads


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_posts_partition_the_roads(roads: list[dict[str, object]]) -> None:
    frame = roads_frame(roads)
    policy = PostPolicy()
    posts = posts_from_roads(frame)
    assert_posts_layer(posts)
    assert_partition(frame, posts)
    limits = {"strict": 500.0 + 1e-6, "controlled": 1000.0 + 1e-6, "regulated": np.inf}
    assert (posts["length_m"] <= posts["level"].map(limits)).all()
    # a named street is one chain: a post under the minimum is the whole street
    street_length = frame.assign(length=lengths_m(frame)).groupby("name_zh")["length"].sum()
    named = posts[posts["road_name_zh"].notna()]
    for name, group in named.groupby("road_name_zh"):
        short = group[group["length_m"] < policy.min_length_m - 1e-6]
        if len(short):
            assert len(group) == 1
            assert short["length_m"].iloc[0] == pytest.approx(street_length[name])
    # rebuilt from the same roads in another order: the same posts
    shuffled = frame.sample(frac=1.0, random_state=len(frame)).reset_index(drop=True)
    assert_geodataframe_equal(posts_from_roads(shuffled), posts)


# --- cutting ----------------------------------------------------------------------------------


def street(
    name: str, points: list[tuple[float, float]], level: str = "strict", prefix: str = "A"
) -> list[dict[str, object]]:
    """A street of one road per consecutive pair of points."""
    return [
        {"id": f"{prefix}{k}", "name_zh": name, "level": level, "geometry": LineString([a, b])}
        for k, (a, b) in enumerate(itertools.pairwise(points))
    ]


def crossing(name: str, x: float, prefix: str, level: str = "regulated") -> list[dict[str, object]]:
    return street(name, [(x, -300.0), (x, 0.0), (x, 300.0)], level, prefix)


def test_a_street_is_cut_at_crossings_then_into_equal_posts() -> None:
    roads = street("文化路", [(0.0, 0.0), (700.0, 0.0), (1500.0, 0.0), (2000.0, 0.0)])
    roads += crossing("开元路", 700.0, "B") + crossing("英才街", 1500.0, "C")
    posts = posts_from_roads(roads_frame(roads))
    assert along(posts, "A") == pytest.approx([350.0, 350.0, 400.0, 400.0, 500.0], abs=1e-6)
    # the crossing streets, regulated, are one post each
    assert len(posts[posts["road_name_zh"] == "开元路"]) == 1
    assert posts.loc[posts["road_name_zh"] == "开元路", "length_m"].iloc[0] == pytest.approx(600.0)
    uncut = posts_from_roads(roads_frame(roads), policy=PostPolicy(cut_at_intersections=False))
    assert along(uncut, "A") == pytest.approx([500.0] * 4, abs=1e-6)


def test_a_short_piece_joins_its_neighbour() -> None:
    roads = street("文化路", [(0.0, 0.0), (40.0, 0.0), (900.0, 0.0), (960.0, 0.0)])
    roads += crossing("开元路", 40.0, "B") + crossing("英才街", 900.0, "C")
    posts = posts_from_roads(roads_frame(roads))
    lengths = along(posts, "A")
    assert lengths == pytest.approx([480.0, 480.0], abs=1e-6)
    assert min(lengths) >= PostPolicy().min_length_m
    # a whole street shorter than the minimum is one post
    short = posts_from_roads(roads_frame(street("短街", [(0.0, 0.0), (30.0, 0.0), (60.0, 0.0)])))
    assert list(short["length_m"]) == pytest.approx([60.0])


def test_cuts_slide_to_nearby_crossings_and_grid_edges() -> None:
    policy = PostPolicy(cut_at_intersections=False)
    plain = street("文化路", [(0.0, 0.0), (900.0, 0.0)])
    assert along(posts_from_roads(roads_frame(plain), policy=policy), "A") == pytest.approx(
        [450.0, 450.0]
    )
    near = plain + crossing("开元路", 480.0, "B")
    assert along(posts_from_roads(roads_frame(near), policy=policy), "A") == pytest.approx(
        [480.0, 420.0]
    )
    # not so far that a post would be longer than 500 m
    far = plain + crossing("开元路", 560.0, "B")
    assert along(posts_from_roads(roads_frame(far), policy=policy), "A") == pytest.approx(
        [450.0, 450.0]
    )
    grids = grid_frame([box(-10.0, -50.0, 430.0, 50.0), box(430.0, -50.0, 910.0, 50.0)])
    snapped = posts_from_roads(roads_frame(plain), unit_grids=grids)
    assert along(snapped, "A") == pytest.approx([430.0, 470.0], abs=1e-3)
    unsnapped = posts_from_roads(
        roads_frame(plain), unit_grids=grids, policy=PostPolicy(cut_at_grid_boundaries=False)
    )
    assert along(unsnapped, "A") == pytest.approx([450.0, 450.0])


def test_unnamed_roads_join_end_to_end_with_their_level_only() -> None:
    roads = [
        {"id": "u1", "level": "strict", "geometry": LineString([(0.0, 0.0), (300.0, 0.0)])},
        {"id": "u2", "level": "strict", "geometry": LineString([(600.0, 0.0), (300.0, 0.0)])},
        {"id": "u3", "level": "strict", "geometry": LineString([(600.0, 0.0), (900.0, 0.0)])},
        # a fork at (900, 0): u3 ends there, u4 and u5 start there
        {"id": "u4", "level": "strict", "geometry": LineString([(900.0, 0.0), (1200.0, 0.0)])},
        {"id": "u5", "level": "strict", "geometry": LineString([(900.0, 0.0), (900.0, 250.0)])},
        # another level does not join
        {"id": "u6", "level": "controlled", "geometry": LineString([(0.0, 0.0), (-300.0, 0.0)])},
    ]
    posts = posts_from_roads(roads_frame(roads))
    assert list(posts.loc[posts["road_id"] == "u1", "attrs"].iloc[0]["road_ids"]) == ["u1", "u2"]
    joined = posts[posts["attrs"].map(lambda a: "u2" in a["road_ids"])]
    assert set().union(*joined["attrs"].map(lambda a: set(a["road_ids"]))) == {"u1", "u2", "u3"}
    assert joined["length_m"].sum() == pytest.approx(900.0)
    assert len(joined) == 2  # 900 m strict: two posts of 450 m
    assert posts.loc[posts["road_id"] == "u6", "length_m"].iloc[0] == pytest.approx(300.0)
    assert all("u4" not in a["road_ids"] or a["road_ids"] == ["u4"] for a in posts["attrs"])


def test_a_ring_road_is_covered_from_its_smallest_road() -> None:
    corners = [(0.0, 0.0), (300.0, 0.0), (300.0, 500.0), (0.0, 0.0)]
    roads = street("环路", corners, prefix="K")
    posts = posts_from_roads(roads_frame(roads))
    assert list(posts["id"]) == ["P-K0-0", "P-K1-0", "P-K2-0"]
    assert list(posts["attrs"].map(lambda a: a["road_ids"])) == [["K0", "K1"], ["K1", "K2"], ["K2"]]
    ring = sum(lengths_m(roads_frame(roads)))
    assert posts["length_m"].to_numpy() == pytest.approx([ring / 3] * 3)
    backwards = [{**road, "geometry": road["geometry"].reverse()} for road in roads]
    turned = posts_from_roads(roads_frame(backwards))
    assert_partition(roads_frame(backwards), turned)
    assert turned["length_m"].to_numpy() == pytest.approx([ring / 3] * 3)


# --- ids ----------------------------------------------------------------------------------------


def test_editing_one_road_changes_only_its_posts() -> None:
    main = street("文化路", [(0.0, 0.0), (600.0, 0.0), (1200.0, 0.0), (1800.0, 0.0), (2400.0, 0.0)])
    roads = main + crossing("开元路", 600.0, "B") + crossing("英才街", 1200.0, "C")
    roads += crossing("天河路", 1800.0, "D")
    before = posts_from_roads(roads_frame(roads))
    edited = [dict(road) for road in roads]
    # A1 runs from (600, 0) to (1200, 0): bend it north, making it 1342 m, three posts
    edited[1]["geometry"] = LineString([(600.0, 0.0), (900.0, 600.0), (1200.0, 0.0)])
    after = posts_from_roads(roads_frame(edited))
    assert_partition(roads_frame(edited), after)
    on_a1 = {
        i
        for frame in (before, after)
        for i, a in zip(frame["id"], frame["attrs"], strict=True)
        if "A1" in a["road_ids"]
    }
    assert set(before["id"]) ^ set(after["id"]) == {"P-A1-2"}
    assert set(before["id"]) ^ set(after["id"]) <= on_a1
    unchanged = before[~before["id"].isin(on_a1)].reset_index(drop=True)
    assert_geodataframe_equal(after[~after["id"].isin(on_a1)].reset_index(drop=True), unchanged)


def test_importing_the_same_file_again_gives_the_same_posts(tmp_path: Path) -> None:
    roads = street("文化路", [(0.0, 0.0), (700.0, 0.0), (1500.0, 0.0)]) + crossing(
        "开元路", 700.0, "B"
    )
    path = tmp_path / "roads.geojson"
    names = [r["name_zh"] for r in roads]
    roads_frame(roads).drop(columns="name_zh").assign(name=names, highway="primary").to_file(path)
    first = posts_from_roads(import_layer(path, "roads").frame)
    second = posts_from_roads(import_layer(path, "roads").frame)
    assert_geodataframe_equal(first, second)
    assert sorted(first["id"]) == ["P-A0-0", "P-A0-1", "P-A1-0", "P-A1-1", "P-B0-0"]


# --- grid codes and squads ----------------------------------------------------------------------


def test_grid_codes_in_order_and_squad_of_the_longest_part() -> None:
    roads = street("文化路", [(0.0, 0.0), (450.0, 0.0)])
    grids = grid_frame(
        [
            box(-50.0, -50.0, 100.0, 50.0),
            box(100.0, -50.0, 200.0, 50.0),
            box(200.0, -50.0, 449.5, 50.0),
            box(449.5, -50.0, 500.0, 50.0),  # holds half a metre of the road: not run through
            box(-50.0, 50.0, 500.0, 150.0),
        ],
        squads=["S-east", "S-east", "S-west", "S-south", "S-north"],
    )
    posts = posts_from_roads(roads_frame(roads), unit_grids=grids)
    assert list(posts["unit_grid_codes"]) == ["410108001001001;410108001001002;410108001001003"]
    assert list(posts["squad_id"]) == ["S-west"]
    backwards = [{**roads[0], "geometry": roads[0]["geometry"].reverse()}]
    reversed_posts = posts_from_roads(roads_frame(backwards), unit_grids=grids)
    assert list(reversed_posts["unit_grid_codes"]) == [
        "410108001001003;410108001001002;410108001001001"
    ]
    squads = gpd.GeoDataFrame(
        {"id": ["S-1", "S-2", "S-3"]},
        geometry=[
            box(X0 - 100, Y0 - 100, X0 + 260, Y0 + 100),
            box(X0 + 260, Y0 - 100, X0 + 600, Y0 + 100),
            None,
        ],
        crs=METRIC,
    )
    # the grids' squads come first; the squads' territories serve posts in no grid with a squad
    with_squads = posts_from_roads(roads_frame(roads), unit_grids=grids, squads=squads)
    assert list(with_squads["squad_id"]) == ["S-west"]
    no_grid_squads = grids.assign(squad_id=None)
    by_territory = posts_from_roads(roads_frame(roads), unit_grids=no_grid_squads, squads=squads)
    assert list(by_territory["squad_id"]) == ["S-1"]
    assert posts_from_roads(roads_frame(roads), unit_grids=no_grid_squads)["squad_id"].isna().all()


# --- point posts --------------------------------------------------------------------------------


def test_point_posts(
    guidance_points_frame: gpd.GeoDataFrame, squads_frame: gpd.GeoDataFrame
) -> None:
    grids = gpd.GeoDataFrame(
        {"id": ["g1"], "code": ["410108001001001"], "squad_id": ["squad-02"]},
        geometry=[box(113.60, 34.80, 113.66, 34.86)],
        crs="EPSG:4326",
    )
    posts = point_posts(guidance_points_frame, unit_grids=grids, squads=squads_frame)
    assert_posts_layer(posts)
    assert list(posts["id"]) == ["P-gp-001", "P-gp-002", "P-gp-003"]
    assert (posts["kind"] == "point").all()
    assert (posts["length_m"] == 0).all()
    assert list(posts["radius_m"]) == pytest.approx([30.0, 50.0, 12.345678901234567])
    assert list(posts["level"]) == ["regulated"] * 3
    assert list(posts["windows"].fillna("-")) == ["11:00-13:30;17:00-21:00", "06:00-08:30", "-"]
    assert list(posts["unit_grid_codes"].fillna("-")) == ["410108001001001", "410108001001001", "-"]
    # the grid's squad for the two points in it; the third is in no grid and no territory
    assert list(posts["squad_id"].fillna("-")) == ["squad-02", "squad-02", "-"]
    by_territory = point_posts(
        guidance_points_frame, unit_grids=grids.assign(squad_id=None), squads=squads_frame
    )
    assert list(by_territory["squad_id"].fillna("-")) == ["squad-01", "squad-01", "-"]
    assert posts["attrs"].iloc[0] == {
        "point_id": "gp-001",
        "point_kind": "guidance_point",
        "name_zh": "文化路夜市疏导点",
        "name_en": "Wenhua Rd night market",
    }
    assert list(posts.geometry) == list(guidance_points_frame.geometry)
    wider = point_posts(guidance_points_frame, radius_m=80.0, kind_label="market")
    assert wider["radius_m"].iloc[1] == 80.0
    assert wider["attrs"].iloc[1]["point_kind"] == "market"
    assert wider["unit_grid_codes"].isna().all()
    assert wider["squad_id"].isna().all()


def test_point_post_levels_and_bad_points(guidance_points_frame: gpd.GeoDataFrame) -> None:
    strict = point_posts(guidance_points_frame.assign(level=["strict", None, "controlled"]))
    assert list(strict["level"]) == ["strict", "regulated", "controlled"]
    with pytest.raises(FieldError, match="'loud'") as error:
        point_posts(guidance_points_frame.assign(level=[None, "loud", None]))
    assert error.value.row == 2
    assert error.value.field == "level"
    with pytest.raises(FieldError, match="radius"):
        point_posts(guidance_points_frame.assign(radius_m=[1.0, -2.0, 3.0]))
    lines = guidance_points_frame.set_geometry(
        [LineString([(113.6, 34.8), (113.61, 34.8)])] * 3, crs="EPSG:4326"
    )
    with pytest.raises(InvalidGeometryError):
        point_posts(lines)
    with pytest.raises(DuplicateIdError):
        point_posts(guidance_points_frame.assign(id=["a", "a", "b"]))


def test_all_posts_together(guidance_points_frame: gpd.GeoDataFrame) -> None:
    roads = roads_frame(street("文化路", [(0.0, 0.0), (900.0, 0.0)]))
    posts = all_posts(roads, guidance_points_frame)
    assert_posts_layer(posts)
    assert list(posts["kind"]) == ["segment", "segment", "point", "point", "point"]
    assert list(posts["radius_m"].fillna(-1)) == [
        -1,
        -1,
        30.0,
        50.0,
        pytest.approx(12.345678901234567),
    ]
    same = guidance_points_frame.assign(id=["A0-0", "x", "y"])
    with pytest.raises(DuplicateIdError, match="P-A0-0"):
        all_posts(roads, same)
    assert_geodataframe_equal(all_posts(roads), posts_from_roads(roads))


def test_posts_are_stored_and_read_back(
    store: Store,
    make_provenance: Callable[[str, gpd.GeoDataFrame], Provenance],
    guidance_points_frame: gpd.GeoDataFrame,
) -> None:
    roads = street("文化路", [(0.0, 0.0), (700.0, 0.0), (1500.0, 0.0)]) + crossing(
        "开元路", 700.0, "B"
    )
    grids = grid_frame(
        [box(-100.0, -400.0, 800.0, 400.0), box(800.0, -400.0, 1600.0, 400.0)], ["s1", "s2"]
    )
    posts = all_posts(roads_frame(roads), guidance_points_frame, unit_grids=grids)
    store.write_layers({"posts": posts}, provenance={"posts": make_provenance("posts", posts)})
    read = store.read_layer("posts")
    assert_geodataframe_equal(read, posts)
    assert list(read["attrs"]) == list(posts["attrs"])


# --- bad input ----------------------------------------------------------------------------------


def test_bad_roads_and_policies_are_refused() -> None:
    roads = roads_frame(street("文化路", [(0.0, 0.0), (100.0, 0.0), (200.0, 0.0)]))
    with pytest.raises(FieldError, match="'level'"):
        posts_from_roads(roads.drop(columns="level"))
    with pytest.raises(FieldError, match="'walkway'") as error:
        posts_from_roads(roads.assign(level=["strict", "walkway"]))
    assert error.value.row == 2
    with pytest.raises(DuplicateIdError):
        posts_from_roads(roads.assign(id=["a", "a"]))
    multi = roads.set_geometry(
        [
            roads.geometry.iloc[0],
            MultiLineString([[(113.6, 34.8), (113.61, 34.8)], [(113.62, 34.8), (113.63, 34.8)]]),
        ],
        crs="EPSG:4326",
    )
    with pytest.raises(InvalidGeometryError) as bad:
        posts_from_roads(multi)
    assert bad.value.row == 2
    for wrong in (
        {"length_by_level": {"strict": -1.0}},
        {"min_length_m": float("nan")},
        {"snap_fraction": 0.5},
        {"point_radius_m": 0.0},
    ):
        with pytest.raises(ValueError):  # noqa: PT011
            PostPolicy(**wrong)
    assert posts_from_roads(roads.iloc[:0]).columns.tolist() == POST_COLUMNS
    custom = PostPolicy(length_by_level={"strict": 60.0, "walkway": None}, min_length_m=20.0)
    assert len(posts_from_roads(roads, policy=custom)) == 4


# --- real data ----------------------------------------------------------------------------------


def test_hankou_posts() -> None:
    roads = import_layer(HANKOU, "roads").frame
    grids = square_grids_over(roads, 100.0)
    posts = posts_from_roads(roads, unit_grids=grids)
    assert_posts_layer(posts)
    assert_partition(roads, posts)
    assert (posts.loc[posts["level"] == "strict", "length_m"] <= 500.0 + 1e-6).all()
    assert (posts.loc[posts["level"] == "controlled", "length_m"] <= 1000.0 + 1e-6).all()
    # every post lies in the grids, and runs through at least one of them
    assert posts["unit_grid_codes"].notna().all()
    codes = set(grids["code"])
    assert all(set(c.split(";")) <= codes for c in posts["unit_grid_codes"])
    again = posts_from_roads(import_layer(HANKOU, "roads").frame, unit_grids=grids)
    assert_geodataframe_equal(again, posts)
    # bend one road: only the posts of the stretch it is in change
    edited_road = posts.loc[posts["length_m"].idxmax(), "road_id"]
    edited = roads.copy()
    row = int(np.flatnonzero(edited["id"] == edited_road)[0])
    line = edited.geometry.iloc[row]
    middle = line.interpolate(0.5, normalized=True)
    bent = LineString([line.coords[0], (middle.x + 5e-5, middle.y + 5e-5), line.coords[-1]])
    edited.loc[row, "geometry"] = bent
    after = posts_from_roads(edited, unit_grids=grids)
    assert_partition(edited, after)
    keys = ["id", "length_m"]
    changed_before = posts.merge(after[keys], how="left", on=keys, indicator=True)
    changed_before = changed_before[changed_before["_merge"] == "left_only"]
    assert 0 < len(changed_before) < 10
    assert any(edited_road in a["road_ids"] for a in changed_before["attrs"])
    stretch = shapely.line_merge(shapely.union_all(changed_before.geometry.values))
    assert stretch.geom_type == "LineString"  # the changed posts are one stretch of road


@pytest.mark.skipif(not huiji_data_path("roads_schematic.geojson").exists(), reason="no Huiji data")
def test_huiji_posts() -> None:
    layers = load_huiji()
    roads, points = layers["roads"].frame, layers["guidance_points"].frame
    district = layers["boundary"].frame.to_crs(METRIC).geometry.union_all()
    grids = square_grids_over(roads, 250.0)
    grids = grids[grids.to_crs(METRIC).intersects(district)]
    posts = all_posts(roads, points, unit_grids=grids, squads=layers["squads"].frame)
    assert_posts_layer(posts)
    assert_partition(roads, posts)
    segments = posts[posts["kind"] == "segment"]
    assert (segments.loc[segments["level"] == "strict", "length_m"] <= 500.0 + 1e-6).all()
    # the six strict main roads are cut into posts of 250-500 m, named after their road
    strict = segments[segments["level"] == "strict"]
    assert strict["road_name_zh"].notna().all()
    assert (strict["length_m"] >= 100.0).all()
    assert segments["squad_id"].notna().mean() > 0.9
    point = posts[posts["kind"] == "point"]
    assert len(point) == len(points)
    assert (point["level"] == "regulated").all()
    assert point["windows"].notna().all()
    assert point["unit_grid_codes"].notna().all()
