"""Coverage maps, gap lists, coverage JSON and the coverage collection, on a small district.

The district: four unit grids, a strict road cut into two posts, a controlled road (one patrol
route), a regulated street, a strict guidance point and a regulated one. The roster of
:data:`DAY` is built by hand so that each post's coverage in each slot is known.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from typer.testing import CliRunner

from geodata.coords import wgs84_to_gcj02
from geodata.layers import layer_spec
from grids.calendar import china_holidays
from grids.coverage import coverage_by_post, duty_slots, gaps, roster_coverage
from grids.demand import demand_for_week
from grids.policy import huiji_default_policy
from grids.roster_io import write_assignments_csv
from grids.staff import Officer, write_staff_csv
from server.app import create_app
from server.auth import Role, create_token
from server.cli import app as cli
from server.maps import page as page_module
from server.maps.encoding import decode_layer, encode_layer
from server.maps.i18n import SCHEMATIC_MARK
from server.maps.layers import page_data
from server.maps.page import coverage_page
from server.maps.service import CoverageService, RosterInput
from server.maps.settings import MapSettings
from server.roster_store import RosterStore
from server.settings import Settings
from server.storage import Provenance, Store

DAY = date(2026, 12, 1)
SQUAD = "S1"
ROUTE = f"{SQUAD}/patrol-01"
LICENCE = "测试数据 CC BY 4.0"
X0, Y0, CELL = 113.60, 34.80, 0.01


def _frame(name: str, rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Return a layer with the spec's columns and dtypes."""
    spec = layer_spec(name)
    data: dict[str, Any] = {"id": pd.array([r["id"] for r in rows], dtype="str")}
    for column in spec.columns:
        values = [r.get(column.name) for r in rows]
        dtype = {"text": "str", "real": "float64", "integer": "int64", "boolean": "bool"}.get(
            column.kind, object
        )
        data[column.name] = pd.Series(values, dtype=dtype)
    data["attrs"] = pd.Series([r.get("attrs", {}) for r in rows], dtype=object)
    return gpd.GeoDataFrame(data, geometry=[r["geometry"] for r in rows], crs="EPSG:4326")


def _metres(line: LineString) -> float:
    return float(gpd.GeoSeries([line], crs="EPSG:4326").to_crs("EPSG:4547").length.iloc[0])


LINES = {
    "P-R1-0": ("R1", "文化路", "strict", LineString([(X0, 34.805), (X0 + CELL, 34.805)])),
    "P-R1-1": (
        "R1",
        "文化路",
        "strict",
        LineString([(X0 + CELL, 34.805), (X0 + 2 * CELL, 34.805)]),
    ),
    "P-R2-0": ("R2", "开元路", "controlled", LineString([(X0, 34.815), (X0 + 2 * CELL, 34.815)])),
    "P-R3-0": ("R3", "英才街", "regulated", LineString([(113.615, Y0), (113.615, Y0 + 2 * CELL)])),
}
POINTS = {
    "P-G1": ("文化路", "strict", "11:00-13:30", Point(113.605, 34.806)),
    "P-G2": ("英才街", "regulated", "17:00-21:00", Point(113.615, 34.812)),
}


def district() -> dict[str, gpd.GeoDataFrame]:
    """Return every layer of the small district."""
    corners = [(0, 0), (1, 0), (0, 1), (1, 1)]
    cells = [
        (f"41010800100100{n + 1}",
         box(X0 + i * CELL, Y0 + j * CELL, X0 + (i + 1) * CELL, Y0 + (j + 1) * CELL))
        for n, (i, j) in enumerate(corners)
    ]  # fmt: skip
    whole = box(X0, Y0, X0 + 2 * CELL, Y0 + 2 * CELL)
    posts = [
        {
            "id": post_id,
            "kind": "segment",
            "road_id": road_id,
            "road_name_zh": name,
            "level": level,
            "length_m": _metres(line),
            "squad_id": SQUAD,
            "geometry": line,
        }
        for post_id, (road_id, name, level, line) in LINES.items()
    ] + [
        {
            "id": post_id,
            "kind": "point",
            "road_name_zh": name,
            "level": level,
            "length_m": 0.0,
            "radius_m": 30.0,
            "squad_id": SQUAD,
            "windows": windows,
            "geometry": point,
        }
        for post_id, (name, level, windows, point) in POINTS.items()
    ]
    return {
        "boundary": _frame(
            "boundary", [{"id": "410108", "name_zh": "惠济区", "geometry": whole.buffer(0.002)}]
        ),
        "roads": _frame(
            "roads",
            [
                {"id": road_id, "name_zh": name, "road_class": "arterial", "level": level,
                 "length_m": _metres(line), "geometry": line}
                for road_id, name, level, line in {v[0]: v for v in LINES.values()}.values()
            ],
        ),
        "posts": _frame("posts", posts),
        "unit_grids": _frame(
            "unit_grids",
            [
                {"id": code, "code": code, "subdistrict_code": "410108001", "area_m2": 1e6,
                 "mode": "square", "squad_id": SQUAD, "geometry": cell}
                for code, cell in cells
            ],
        ),
        "responsibility_grids": _frame(
            "responsibility_grids",
            [{"id": SQUAD, "squad_id": SQUAD, "name_zh": "新城中队", "workload": 1.0,
              "unit_grid_count": 4, "geometry": whole}],
        ),
        "squads": _frame("squads", [{"id": SQUAD, "name_zh": "新城中队", "geometry": whole}]),
        "guidance_points": _frame(
            "guidance_points",
            [
                {"id": f"G{n}", "name_zh": f"疏导点{n}", "road_name_zh": name, "windows": windows,
                 "geometry": point}
                for n, (name, _level, windows, point) in enumerate(POINTS.values(), 1)
            ],
        ),
    }  # fmt: skip


def provenance(name: str, frame: gpd.GeoDataFrame) -> Provenance:
    return Provenance(
        layer=name,
        source=f"{name}.geojson",
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        source_crs="EPSG:4326",
        coords="wgs84",
        feature_count=len(frame),
        note="schematic (示意)",
        licence=LICENCE,
    )


STAFF = [
    *(Officer(f"o{n}", f"队员{n}", SQUAD, "officer", phone=f"1390000000{n}") for n in range(1, 7)),
    *(Officer(f"a{n}", f"协管员{n}", SQUAD, "assistant") for n in range(1, 3)),
    Officer("L1", "王带班", None, "leader", phone="13800000001"),
]
# (person, slot, place, task): the hand-built roster of DAY
DUTIES = [
    ("L1", "day", "leader_duty", "leader_duty"),
    ("o1", "early", "P-R1-0", "strict_post"),
    ("o1", "morning", "P-R1-0", "strict_post"),
    ("o2", "midday", "P-R1-0", "strict_post"),
    ("o2", "afternoon", "P-R1-0", "strict_post"),
    ("o3", "evening", "P-R1-0", "strict_post"),
    ("a1", "morning", "P-R1-1", "strict_post"),
    ("o4", "midday", "P-R1-1", "strict_post"),
    ("o5", "morning", ROUTE, "patrol"),
    ("o5", "afternoon", ROUTE, "patrol"),
    ("o6", "morning", "P-G1", "guidance_window"),
    ("a2", "evening", "P-G2", "guidance_window"),
]
EXPECTED = {  # post → status letter per slot: early morning midday afternoon evening night
    "P-R1-0": "cccccn",
    "P-R1-1": "ggcggn",
    "P-R2-0": "ncgcgn",
    "P-R3-0": "nnnnnn",
    "P-G1": "ncgnnn",
    "P-G2": "nnngcn",
}


def roster() -> pd.DataFrame:
    policy = huiji_default_policy()
    roles = {p.id: p.role for p in STAFF}
    rows = []
    for person, slot_id, place, task in DUTIES:
        if slot_id == "day":
            start = datetime.combine(DAY, time(6))
            end = start + timedelta(days=1)
        else:
            start, end = policy.slot("weekday", slot_id).on(DAY)
        rows.append(
            {
                "officer_id": person,
                "role": roles[person],
                "squad_id": None if roles[person] == "leader" else SQUAD,
                "date": DAY,
                "slot_id": slot_id,
                "start": start,
                "end": end,
                "post_id": place,
                "task": task,
                "requirement_id": None,
                "pinned": False,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Service:
    client: TestClient
    store: Store
    service: CoverageService
    headers: dict[str, str]


@pytest.fixture
def filled(store_url: str) -> Iterator[Store]:
    layers = district()
    with Store.open(store_url) as store:
        store.write_layers(layers, provenance={n: provenance(n, f) for n, f in layers.items()})
        yield store


def token(store: Store, role: Role) -> str:
    with store.transaction() as connection:
        _, secret = create_token(connection, role=role, name=f"test {role}", created_by="tests")
    return secret


@pytest.fixture
def service(store_url: str, filled: Store) -> Iterator[Service]:
    app = create_app(Settings(database_url=store_url))
    with TestClient(app) as client:
        coverage: CoverageService = app.state.coverage_service
        table = roster()
        coverage.roster_loader = lambda _store, _id, _day: RosterInput(
            roster_id="R-2026-W49", assignments=table, staff=tuple(STAFF), status="published",
            source="R-2026-W49",
        )  # fmt: skip
        coverage.clock = lambda: datetime(2026, 12, 1, 9, 30)
        secret = token(filled, Role.DUTY_LEADER)
        yield Service(client, filled, coverage, {"Authorization": f"Bearer {secret}"})


def raw_payload(page: str) -> dict[str, Any]:
    """Return the data a coverage page carries, its layers in their compact form."""
    match = re.search(
        r'<script type="application/json" id="dutygrid-data">(.*?)</script>', page, re.S
    )
    assert match, "the page has no data"
    payload: dict[str, Any] = json.loads(match.group(1))
    return payload


def page_payload(page: str) -> dict[str, Any]:
    """Return the data a coverage page carries, its layers as GeoJSON."""
    payload = raw_payload(page)
    payload["layers"] = {k: decode_layer(v) for k, v in payload["layers"].items()}
    return payload


LETTERS = {"covered": "c", "partly": "p", "gap": "g", "not_required": "n"}


def engine_statuses() -> dict[str, str]:
    """Return each post's status letters by slot, from the engine on the same inputs."""
    layers = district()
    policy = huiji_default_policy()
    zones = gpd.GeoDataFrame({"id": [], "kind": [], "squad_id": []}, geometry=[], crs="EPSG:4326")
    demand = demand_for_week(
        layers["posts"], policy, china_holidays(), "2026-W49", squads=[SQUAD], zones=zones
    )
    matched = roster_coverage(roster(), demand, layers["posts"], policy, staff=STAFF)
    letters = dict.fromkeys(layers["posts"]["id"], "")
    for slot in duty_slots(DAY, policy):
        table = coverage_by_post(matched, DAY, slot.id)
        for post_id, status in zip(table["post_id"], table["status"], strict=True):
            letters[post_id] += LETTERS[status]
    return letters


def test_the_hand_built_roster_is_what_the_engine_says() -> None:
    assert engine_statuses() == EXPECTED


def test_map_page_sends_each_geometry_once_with_every_slot(service: Service) -> None:
    answer = service.client.get(f"/maps/coverage?date={DAY}", headers=service.headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    payload = page_payload(answer.text)
    meta, layers = payload["meta"], payload["layers"]
    slot_ids = [s.id for s in duty_slots(DAY, service.service.policy)]
    assert [s["id"] for s in meta["slots"]] == [*slot_ids, "day"]
    posts = district()["posts"]
    segments = posts[posts["kind"] == "segment"]
    assert len(layers["roads"]["features"]) == len(segments)  # once each, not once per slot
    assert len(layers["points"]["features"]) == len(posts) - len(segments)
    never = "n" * (len(slot_ids) + 1)  # a post never required has no "s"
    letters = {
        f["properties"]["i"]: f["properties"].get("s", never)
        for f in layers["roads"]["features"] + layers["points"]["features"]
    }
    assert {post: s[: len(slot_ids)] for post, s in letters.items()} == EXPECTED
    assert {len(s) for s in letters.values()} == {len(slot_ids) + 1}
    # the whole day: covered in every slot that requires it, a gap in none, else partly
    whole = {
        f["properties"]["i"]: letters[f["properties"]["i"]][-1] for f in layers["roads"]["features"]
    }
    assert whole == {"P-R1-0": "c", "P-R1-1": "p", "P-R2-0": "p", "P-R3-0": "n"}
    # coordinates rounded to 6 decimals
    numbers = re.findall(r"\d+\.(\d+)", json.dumps(layers["roads"]))
    assert numbers
    assert max(len(n) for n in numbers) <= 6
    # unit grids: those a required post runs through, with a share per slot
    grids = {f["properties"]["i"]: f["properties"]["c"] for f in layers["grids"]["features"]}
    assert len(grids) == 4
    assert all(len(c) == len(slot_ids) + 1 for c in grids.values())
    night = slot_ids.index("night")
    assert all(c[night] == -1 for c in grids.values())  # nothing is required at night


def test_layers_travel_compact_and_decode_to_the_same_features(service: Service) -> None:
    page = service.client.get(f"/maps/coverage?date={DAY}", headers=service.headers).text
    raw = raw_payload(page)["layers"]
    roads = raw["roads"]
    assert roads["g"] == "LineString"
    assert "features" not in roads
    assert roads["p"]["i"] == list(LINES)  # one column per property, no key repeated per feature
    assert all(isinstance(v, int) for v in roads["xy"])
    decoded = decode_layer(roads)
    for feature in decoded["features"]:
        line = LINES[feature["properties"]["i"]][3]
        drawn = np.asarray(feature["geometry"]["coordinates"])
        assert np.abs(drawn - np.asarray(line.coords)).max() <= 5e-7
    grids = raw["grids"]
    shares = grids["lookup"]["c"]  # each distinct list of shares sent once
    assert len(shares) == len({json.dumps(c) for c in shares}) < len(grids["p"]["c"])


def test_encoding_round_trips_every_geometry_kind() -> None:
    hole = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 1)]])
    cases: list[list[BaseGeometry]] = [
        [Point(113.6, 34.8), Point(113.7, 34.9)],
        [LineString([(113.6, 34.8), (113.61, 34.81)]), MultiLineString([[(1, 1), (2, 2)]] * 2)],
        [hole, MultiPolygon([hole, box(5, 5, 6, 6)]), box(113.6, 34.8, 113.6100004, 34.8100004)],
        [Point(1, 2), LineString([(0, 0), (1, 1)])],  # a mix: sent as plain GeoJSON
    ]
    for geoms in cases:
        properties = [{"i": n, "c": [n % 2, -1]} if n else {} for n in range(len(geoms))]
        text = encode_layer(np.asarray(geoms, dtype=object), properties, lookups=("c",))
        decoded = decode_layer(json.loads(text))
        assert [f["properties"] for f in decoded["features"]] == properties
        back = [shapely.from_geojson(json.dumps(f["geometry"])) for f in decoded["features"]]
        for original, again in zip(geoms, back, strict=True):
            rounded = shapely.set_precision(original, 1e-6)
            # a line among multi-lines comes back as a multi-line of one: the same figure
            assert shapely.equals(again, rounded)
            assert len(shapely.get_coordinates(again)) == len(shapely.get_coordinates(rounded))
    assert (
        decode_layer(json.loads(encode_layer(np.asarray([], dtype=object), [])))["features"] == []
    )


def test_unit_grid_shares_follow_the_posts(service: Service) -> None:
    payload = page_payload(
        service.client.get(f"/maps/coverage?date={DAY}", headers=service.headers).text
    )
    features = payload["layers"]["grids"]["features"]
    grids = {f["properties"]["i"]: f["properties"]["c"] for f in features}
    cells = district()["unit_grids"].set_index("code").to_crs("EPSG:4547").geometry
    lines = gpd.GeoSeries({k: v[3] for k, v in LINES.items()}, crs="EPSG:4326").to_crs("EPSG:4547")
    for number, slot in enumerate(s["id"] for s in payload["meta"]["slots"][:-1]):
        for code, cell in cells.items():
            inside = {post: float(line.intersection(cell).length) for post, line in lines.items()}
            required = sum(m for post, m in inside.items() if EXPECTED[post][number] != "n")
            covered = sum(m for post, m in inside.items() if EXPECTED[post][number] == "c")
            expected = round(100 * covered / required) if required > 0.01 else -1
            assert grids[str(code)][number] == expected, (slot, code)


def test_page_is_offline_marked_and_credited(service: Service) -> None:
    page = service.client.get(f"/maps/coverage?date={DAY}", headers=service.headers).text
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links, "the page loads its assets"
    assert all(link.startswith(("/static/", "data:")) for link in links), links
    for cdn in ("cdn.", "jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers"):
        assert cdn not in page.lower()
    assert re.search(r"https?://", page.replace("http-equiv", "")) is None
    meta = page_payload(page)["meta"]
    assert meta["schematic"]
    assert SCHEMATIC_MARK in page
    assert meta["credits"] == [LICENCE]
    for url in re.findall(r'(?:src|href)="(/static/[^"]*)"', page):
        asset = service.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000


def test_slot_language_and_bad_parameters(service: Service) -> None:
    get = service.client.get
    page = get(f"/maps/coverage?date={DAY}&slot=midday&lang=en", headers=service.headers).text
    assert "Coverage map" in page
    assert '"initial":2' in page
    assert '"lang":"en"' in page
    for query, field in (("slot=lunch", "slot"), ("date=2026-13-01", "date"), ("lang=fr", "lang")):
        answer = get(f"/maps/coverage?date={DAY}&{query}", headers=service.headers)
        assert answer.status_code == 400, query
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in json.dumps(answer.json())
    # without a date: the duty day on now (09:30 on DAY by the service's clock)
    today = page_payload(get("/maps/coverage", headers=service.headers).text)["meta"]
    assert today["date"] == DAY.isoformat()
    assert today["now"] == [s["id"] for s in today["slots"]].index("morning")


def test_gap_list_links_each_gap_to_the_map(service: Service) -> None:
    answer = service.client.get(f"/maps/gaps?date={DAY}", headers=service.headers)
    assert answer.status_code == 200
    rows = re.findall(r'<tr class="gap[^"]*" data-post="([^"]*)">(.*?)</tr>', answer.text, re.S)
    matched = service.service.day(service.store, DAY).coverage
    expected = gaps(matched, DAY)
    assert len(rows) == len(expected)
    assert f'<span id="strict-gap-count">{int(expected["strict"].sum())}</span>' in answer.text
    for (place, cells), (_, gap) in zip(rows, expected.iterrows(), strict=True):
        assert place == gap["post_id"]
        if gap["post_ids"]:
            link = re.search(r'href="([^"]+)"', cells)
            assert link is not None
            href = link.group(1).replace("&amp;", "&")
            assert href.startswith(f"/maps/coverage?date={DAY}")
            assert f"slot={gap['slot_id']}" in href
            assert href.endswith(f"#post={place}")
    english = service.client.get(f"/maps/gaps?date={DAY}&lang=en", headers=service.headers).text
    assert "only an assistant" in english


def test_coverage_json_for_a_slot_and_now(service: Service) -> None:
    answer = service.client.get(
        f"/coverage?date={DAY}&slot=morning&detail=posts", headers=service.headers
    )
    assert answer.status_code == 200
    document = answer.json()
    letters = {p["post_id"]: LETTERS[p["status"]] for p in document["posts"]}
    morning = [s.id for s in duty_slots(DAY, service.service.policy)].index("morning")
    assert letters == {post: expected[morning] for post, expected in EXPECTED.items()}
    summary = document["summary"]
    strict = [
        p for p in document["posts"] if p["level"] == "strict" and p["status"] != "not_required"
    ]
    assert summary["strict_coverage"] == pytest.approx(
        sum(p["status"] == "covered" for p in strict) / len(strict)
    )
    assert summary["leaders"][0]["name"] == "王带班"
    assert summary["leaders"][0]["phone"] == "13800000001"
    assert not document["seamless"]["seamless"]
    assert [g["reason"] for g in document["gaps"] if g["post_id"] == "P-R1-1"] == ["assistant_only"]
    # 02:00 on the 2nd is in the night slot of the 1st
    service.service.clock = lambda: datetime(2026, 12, 2, 2, 0)
    now = service.client.get("/coverage/now", headers=service.headers).json()
    assert (now["date"], now["slot"]["id"]) == (DAY.isoformat(), "night")
    assert now["now"] == "2026-12-02T02:00:00"


def test_coverage_collection_by_datetime(service: Service) -> None:
    def statuses(query: str) -> dict[str, str]:
        answer = service.client.get(
            f"/ogc/collections/coverage/items?{query}", headers=service.headers
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["numberMatched"] == len(district()["posts"])
        return {f["id"]: f["properties"]["status"] for f in body["features"]}

    slot_ids = [s.id for s in duty_slots(DAY, service.service.policy)]
    midday = statuses("datetime=2026-12-01T12:30:00%2B08:00")
    assert {k: LETTERS[v] for k, v in midday.items()} == {
        k: v[slot_ids.index("midday")] for k, v in EXPECTED.items()
    }
    assert statuses("datetime=2026-12-01T04:30:00Z")["P-R1-0"] == "covered"  # 12:30 in Beijing
    day = statuses("datetime=2026-12-01")
    assert day["P-R1-1"] == "partly"
    answer = service.client.get(
        "/ogc/collections/coverage/items?datetime=yesterday", headers=service.headers
    )
    assert answer.status_code == 400
    feature = service.client.get(
        "/ogc/collections/coverage/items/P-R1-0", headers=service.headers
    ).json()
    assert feature["properties"]["slot_id"] == "morning"  # the service's clock: 09:30
    assert "people" not in feature["properties"]  # names are for those who read duties


def test_stored_rosters_latest_published_first(store_url: str, filled: Store) -> None:
    policy = huiji_default_policy()
    rosters = RosterStore(filled)
    rosters.replace_staff(STAFF, source="tests")
    early = f"{DAY}/early/strict_post/P-R1-1/officer/0600-0800"
    report = {"uncovered": [{"requirement_id": early, "reason": "hours exhausted"}]}
    published = rosters.save_roster("2026-W49", roster(), report, policy=policy, status="published")
    draft = rosters.save_roster("2026-W49", roster().iloc[:0], {}, policy=policy)
    app = create_app(Settings(database_url=store_url))
    headers = {"Authorization": f"Bearer {token(filled, Role.DUTY_LEADER)}"}
    with TestClient(app) as client:
        chosen = client.get(f"/coverage?date={DAY}", headers=headers).json()
        assert chosen["roster"]["id"] == published.info.roster_id
        assert chosen["roster"]["status"] == "published"
        assert chosen["roster"]["assignments"] == len(DUTIES)
        reasons = {g["requirement_id"]: g["solver_reason"] for g in chosen["gaps"]}
        assert reasons[early] == "hours exhausted"
        leader = chosen["summary"]["leaders"][0]
        assert (leader["name"], leader["phone"]) == ("王带班", "13800000001")
        other = client.get(
            f"/coverage?date={DAY}&roster={draft.info.roster_id}", headers=headers
        ).json()
        assert other["roster"]["assignments"] == 0
        gaps_page = client.get(f"/maps/gaps?date={DAY}", headers=headers).text
        assert "hours exhausted" in gaps_page
        missing = client.get(f"/coverage?date={DAY}&roster=2026-W49-9", headers=headers)
        assert missing.status_code == 404


def test_assignment_table_file_is_the_roster_hook(
    store_url: str, filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_assignments_csv(roster(), tmp_path / "roster.csv")
    write_staff_csv(STAFF, tmp_path / "staff.csv")
    monkeypatch.setenv("DUTYGRID_MAP_ROSTER_FILE", str(tmp_path / "roster.csv"))
    monkeypatch.setenv("DUTYGRID_MAP_STAFF_FILE", str(tmp_path / "staff.csv"))
    app = create_app(Settings(database_url=store_url))
    headers = {"Authorization": f"Bearer {token(filled, Role.PLANNER)}"}
    with TestClient(app) as client:
        meta = page_payload(client.get(f"/maps/coverage?date={DAY}", headers=headers).text)["meta"]
    assert meta["roster"]["assignments"] == len(DUTIES)
    assert meta["roster"]["source"] == "roster.csv"
    names = {row[0] for row in meta["people"]}
    assert "王带班" in names


def test_large_page_data_go_compressed(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    data = page_data(CoverageService(MapSettings()).day(filled, DAY))
    monkeypatch.setattr(page_module, "COMPRESS_ABOVE", 0)
    page = coverage_page(data)
    match = re.search(r'data-encoding="gzip-base64">([A-Za-z0-9+/=]+)</script>', page)
    assert match is not None
    unpacked = json.loads(gzip.decompress(base64.b64decode(match.group(1))).decode("utf-8"))
    assert unpacked == json.loads(data.to_json())
    assert "dutygridLoad(" in page


# WGS84 → GCJ-02 of published implementations: googollee/eviltransform's test points (Beijing)
# and wandergis/coordtransform's example
GCJ02_REFERENCE = {
    "G-beijing": ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    "G-coordtransform": ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    "G-paris": ((2.2945, 48.8584), (2.2945, 48.8584)),  # outside China: no shift
}
GCJ02_TILES = {
    "DUTYGRID_MAP_TILES": "url",
    "DUTYGRID_MAP_TILE_URL": "http://tiles.intranet/amap/{z}/{x}/{y}.png",
    "DUTYGRID_MAP_TILE_COORDS": "gcj02",
}


@pytest.fixture
def far_points(store_url: str) -> Iterator[Store]:
    """The small district, with guidance points at the reference points of the GCJ-02 shift."""
    layers = district()
    layers["guidance_points"] = _frame(
        "guidance_points",
        [
            {"id": point_id, "name_zh": point_id, "windows": "07:00-09:00", "geometry": Point(xy)}
            for point_id, (xy, _) in GCJ02_REFERENCE.items()
        ],
    )
    with Store.open(store_url) as store:
        store.write_layers(layers, provenance={n: provenance(n, f) for n, f in layers.items()})
        yield store


def drawn_coordinates(layers: dict[str, Any]) -> dict[str, list[float]]:
    """Return the first coordinate of each post and guidance point as the page draws it."""
    found = {}
    for name in ("roads", "points"):
        for feature in layers[name]["features"]:
            coordinates = feature["geometry"]["coordinates"]
            found[feature["properties"]["i"]] = coordinates[0] if name == "roads" else coordinates
    for feature in layers["guidance"]["features"]:
        found[feature["properties"]["n"]] = feature["geometry"]["coordinates"]
    return found


def assert_drawn_in(layers: dict[str, Any], coords: str) -> None:
    """Check every post and guidance point of the page against where it is, in ``coords``."""
    drawn = drawn_coordinates(layers)
    stored = {k: v[3].coords[0] for k, v in LINES.items()}
    stored |= {k: v[3].coords[0] for k, v in POINTS.items()}
    for place, (lon, lat) in stored.items():
        expected = [lon, lat]
        if coords == "gcj02":
            x, y = wgs84_to_gcj02(lon, lat)
            expected = [float(x), float(y)]
            assert drawn[place] != pytest.approx([lon, lat], abs=1e-4)  # shifted by ~500 m
        assert drawn[place] == pytest.approx(expected, abs=1.5e-6), place
    for place, (wgs84, gcj02) in GCJ02_REFERENCE.items():
        assert drawn[place] == pytest.approx(gcj02 if coords == "gcj02" else wgs84, abs=1e-6)


def test_gcj02_shift_agrees_with_published_implementations(far_points: Store) -> None:
    view = CoverageService(MapSettings()).day(far_points, DAY)
    shifted = {
        k: decode_layer(json.loads(v)) for k, v in page_data(view, coords="gcj02").layers.items()
    }
    plain = {k: decode_layer(json.loads(v)) for k, v in page_data(view).layers.items()}
    assert_drawn_in(shifted, "gcj02")
    assert_drawn_in(plain, "wgs84")
    # every layer moves, the outlines and grids too, and the view's bounds with them
    for name in ("boundary", "territories", "grids"):
        moved = shapely.get_coordinates(shapely.from_geojson(json.dumps(shifted[name])))
        still = shapely.get_coordinates(shapely.from_geojson(json.dumps(plain[name])))
        assert len(moved) == len(still)
        x, y = wgs84_to_gcj02(still[:, 0], still[:, 1])
        assert np.abs(moved - np.column_stack([x, y])).max() < 1.5e-6, name
    south_west = page_data(view, coords="gcj02").meta["bounds"][0]
    x, y = wgs84_to_gcj02(X0 - 0.002, Y0 - 0.002)
    assert south_west == pytest.approx([float(y), float(x)], abs=2e-5)


def test_served_page_and_standalone_file_shift_only_on_a_gcj02_base_map(
    store_url: str, far_points: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def served() -> tuple[str, dict[str, Any]]:
        app = create_app(Settings(database_url=store_url))
        headers = {"Authorization": f"Bearer {token(far_points, Role.DUTY_LEADER)}"}
        with TestClient(app) as client:
            page = client.get(f"/maps/coverage?date={DAY}", headers=headers).text
        return page, page_payload(page)["layers"]

    def standalone(name: str) -> dict[str, Any]:
        output = tmp_path / name
        result = CliRunner().invoke(
            cli, ["map", "--db", store_url, "--date", DAY.isoformat(), "-o", str(output)]
        )
        assert result.exit_code == 0, result.output
        layers: dict[str, Any] = page_payload(output.read_text("utf-8"))["layers"]
        return layers

    page, layers = served()  # by default: no tiles, no shift
    assert "tiles.intranet" not in page
    assert_drawn_in(layers, "wgs84")
    assert_drawn_in(standalone("plain.html"), "wgs84")
    monkeypatch.setenv("DUTYGRID_MAP_TILE_COORDS", "gcj02")  # a datum without tiles: no shift
    assert_drawn_in(served()[1], "wgs84")
    for name, value in GCJ02_TILES.items():
        monkeypatch.setenv(name, value)
    page, layers = served()
    assert "http://tiles.intranet/amap/{z}/{x}/{y}.png" in page
    assert_drawn_in(layers, "gcj02")
    assert_drawn_in(standalone("amap.html"), "gcj02")
    monkeypatch.setenv("DUTYGRID_MAP_TILE_COORDS", "cgcs2000")
    assert_drawn_in(served()[1], "wgs84")


def test_base_map_settings_are_checked(filled: Store) -> None:
    with pytest.raises(ValueError, match="tianditu_key"):
        MapSettings(tiles="tianditu")
    with pytest.raises(ValueError, match="CGCS2000"):
        MapSettings(tiles="tianditu", tianditu_key="key", tile_coords="gcj02")
    with pytest.raises(ValueError, match="tile_coords"):
        MapSettings(tiles="url", tile_url="/t/{z}/{x}/{y}.png", tile_coords="bd09")
    assert MapSettings(tile_coords="gcj02").drawn_coords == "wgs84"
    tianditu = MapSettings(tiles="tianditu", tianditu_key="key", tile_coords="cgcs2000")
    assert tianditu.drawn_coords == "wgs84"
    view = CoverageService(tianditu).day(filled, DAY)
    page = coverage_page(page_data(view), settings=tianditu)
    assert "tianditu.gov.cn" in page
    assert "tk=key" in page
    amap = MapSettings(tiles="url", tile_url="/t/{z}/{x}/{y}.png", tile_coords="gcj02")
    with pytest.raises(ValueError, match="gcj02"):  # data in WGS84 on a GCJ-02 base map
        coverage_page(page_data(view), settings=amap)
    assert "/t/{z}/{x}/{y}.png" in coverage_page(page_data(view, coords="gcj02"), settings=amap)


def test_cli_writes_one_standalone_file(store_url: str, filled: Store, tmp_path: Path) -> None:
    write_assignments_csv(roster(), tmp_path / "roster.csv")
    write_staff_csv(STAFF, tmp_path / "staff.csv")
    output = tmp_path / "out" / "覆盖.html"
    result = CliRunner().invoke(
        cli,
        [
            "map", "--db", store_url, "--date", DAY.isoformat(), "-o", str(output),
            "--assignments", str(tmp_path / "roster.csv"), "--staff", str(tmp_path / "staff.csv"),
            "--lang", "en", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["assignments"] == len(DUTIES)
    page = output.read_text("utf-8")
    assert report["bytes"] == output.stat().st_size
    assert "<script src=" not in page
    assert '<link rel="stylesheet"' not in page
    # nothing that loads a resource from elsewhere: no src, no stylesheet link, no remote url()
    assert re.findall(r'\bsrc="(?!data:)', page) == []
    assert re.findall(r"url\(\s*['\"]?(?!data:)[a-z]+:", page) == []
    assert "url(images/" not in page  # Leaflet's images are written in as data URIs
    assert "window.dutygridStart" in page
    payload = page_payload(page)
    assert payload["meta"]["roster"]["assignments"] == len(DUTIES)
    bad = CliRunner().invoke(
        cli, ["map", "--db", store_url, "--date", "2026-12-01", "-o", str(output), "--slot", "x"]
    )
    assert bad.exit_code == 2
