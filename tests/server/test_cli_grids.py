"""``dutygrid grids build`` and ``dutygrid posts build`` on the bundled Huiji data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from server.cli import app
from server.storage import Store

runner = CliRunner()
HANKOU = Path(__file__).parent.parent / "data" / "wuhan_hankou_4km_wgs84.geojson"


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def huiji_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("huiji") / "huiji.sqlite"
    run_json("init", "--db", str(db))
    return db


@pytest.mark.parametrize(("mode", "area"), [("roads", 200_000.0), ("hex", 250_000.0)])
def test_grids_then_posts(huiji_db: Path, mode: str, area: float) -> None:
    built = run_json(
        "grids", "build", "--db", str(huiji_db), "--mode", mode, "--target-area", str(area)
    )
    assert built["topology"]["clean"] is True
    assert built["balance"]["contiguous"] is True
    with Store.open(str(huiji_db)) as store:
        grids = store.read_layer("unit_grids")
        boundary = store.read_layer("boundary")
        territories = store.read_layer("responsibility_grids")
        squads = store.read_layer("squads")
    assert len(grids) == built["unit_grids"]
    assert grids["code"].str.fullmatch(r"410108\d{9}").all()
    district = boundary.to_crs(4547).area.sum()
    assert grids.to_crs(4547).area.sum() == pytest.approx(district, rel=1e-4)
    assert set(territories["squad_id"]) == set(squads["id"])
    assert grids["squad_id"].notna().all()
    river = grids[grids["squad_id"] == "HJ-S-YH"]
    assert len(river) > 0

    posts = run_json("posts", "build", "--db", str(huiji_db))
    with Store.open(str(huiji_db)) as store:
        stored = store.read_layer("posts")
        roads = store.read_layer("roads")
        info = run_json("info", "--db", str(huiji_db))
    assert len(stored) == posts["posts"]
    segments = stored[stored["kind"] == "segment"]
    assert segments["length_m"].sum() == pytest.approx(roads["length_m"].sum(), rel=1e-6)
    strict = segments[segments["level"] == "strict"]
    assert strict["length_m"].max() <= 500.0 * 1.2
    assert (stored[stored["kind"] == "point"]["road_name_zh"] == "英才街").all()
    assert stored["unit_grid_codes"].notna().all()
    assert info["topology"]["posts_outside"]["count"] == 0
    assert "posts" in info["schematic_layers"]


def test_posts_keep_their_ids_when_rebuilt(huiji_db: Path) -> None:
    run_json("posts", "build", "--db", str(huiji_db))
    with Store.open(str(huiji_db)) as store:
        first = store.read_layer("posts")["id"].tolist()
    run_json("init", "--db", str(huiji_db), "--force")
    run_json("posts", "build", "--db", str(huiji_db))
    with Store.open(str(huiji_db)) as store:
        assert store.read_layer("posts")["id"].tolist() == first


def test_grids_need_squads_and_a_county(tmp_path: Path) -> None:
    db = tmp_path / "hankou.sqlite"
    run_json("init", "--db", str(db), "--roads", str(HANKOU))
    no_county = run_json("grids", "build", "--db", str(db), code=2)
    assert no_county["error"]["field"] == "county"
    no_squads = run_json("grids", "build", "--db", str(db), "--county", "420102", code=2)
    assert "squads" in no_squads["error"]["message"]
    bad_mode = run_json("grids", "build", "--db", str(db), "--mode", "triangles", code=2)
    assert bad_mode["error"]["field"] == "mode"
    assert (
        gpd.read_file(HANKOU).shape[0] == run_json("info", "--db", str(db))["layers"][3]["features"]
    )
