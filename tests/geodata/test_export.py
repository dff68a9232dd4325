from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from geodata import export
from geodata.errors import FieldError, GeodataWarning, MissingCRSError
from geodata.export import (
    SHAPEFILE_NAME_BYTES,
    SHAPEFILE_TEXT_BYTES,
    ExportFormat,
    export_layer,
    shapefile_field_names,
)
from geodata.layers import LAYERS, LayerSpec

FORMATS: list[ExportFormat] = ["gpkg", "geojson", "shp"]
# posts mix points and lines, which a shapefile cannot hold
CASES = [(name, fmt) for name in LAYERS for fmt in FORMATS if (name, fmt) != ("posts", "shp")]


def read_back(path: Path, spec: LayerSpec, fmt: ExportFormat) -> gpd.GeoDataFrame:
    """Read an export with GDAL, with the layer's column names."""
    frame = pyogrio.read_dataframe(path)
    if fmt == "shp":
        fields = shapefile_field_names(spec.column_names)
        frame = frame.rename(columns={field: name for name, field in fields.items()})
    return frame


def assert_same_geometries(read: gpd.GeoSeries, written: gpd.GeoSeries, fmt: str) -> None:
    read_geoms = np.asarray(read.array, dtype=object)
    written_geoms = np.asarray(written.array, dtype=object)
    missing = shapely.is_missing(written_geoms)
    assert (shapely.is_missing(read_geoms) == missing).all()
    left, right = read_geoms[~missing], written_geoms[~missing]
    if fmt == "geojson":
        # written as decimal text: the same points to well below a millimetre
        same = shapely.equals_exact(shapely.normalize(left), shapely.normalize(right), 1e-12)
    else:
        # binary doubles; shapefiles and GeoPackages may reorder rings or make parts multi
        same = shapely.equals(left, right)
    assert same.all()


def texts(values: pd.Series) -> list[str | None]:
    return [v if isinstance(v, str) else None for v in values.tolist()]


@pytest.mark.parametrize(("name", "fmt"), CASES)
def test_gdal_reads_back_every_layer(
    tmp_path: Path, layer_frames: dict[str, gpd.GeoDataFrame], name: str, fmt: ExportFormat
) -> None:
    spec, frame = LAYERS[name], layer_frames[name]
    written = export_layer(frame, spec, tmp_path / f"{name}.{fmt}", fmt)
    assert written == tmp_path / f"{name}.{fmt}"
    read = read_back(written, spec, fmt)
    assert len(read) == len(frame)
    assert read["id"].tolist() == frame["id"].tolist()
    for column in spec.columns:
        if column.kind == "text":
            assert texts(read[column.name]) == texts(frame[column.name]), column.name
    assert [json.loads(text) for text in read["attrs"]] == frame["attrs"].tolist()
    assert_same_geometries(read.geometry, frame.geometry, fmt)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_names_in_chinese_survive_every_format(
    tmp_path: Path, roads_frame: gpd.GeoDataFrame
) -> None:
    for fmt in FORMATS:
        path = export_layer(roads_frame, LAYERS["roads"], tmp_path / f"roads.{fmt}", fmt)
        names = pyogrio.read_dataframe(path)["name_zh"].tolist()
        assert names == roads_frame["name_zh"].tolist()
        assert any("\u4e00" <= ch <= "\u9fff" for name in names for ch in name)


def test_geopackage_layer_is_named_after_the_spec(
    tmp_path: Path, zones_frame: gpd.GeoDataFrame
) -> None:
    path = export_layer(zones_frame, LAYERS["zones"], tmp_path / "zones.gpkg", "gpkg")
    assert [layer for layer, _ in pyogrio.list_layers(path)] == ["zones"]


def test_geojson_is_rfc_7946(tmp_path: Path, subdistricts_frame: gpd.GeoDataFrame) -> None:
    path = export_layer(subdistricts_frame, LAYERS["subdistricts"], tmp_path / "s", "geojson")
    assert path.suffix == ".geojson"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in document
    features = document["features"]
    assert [f["id"] for f in features] == subdistricts_frame["id"].tolist()
    assert [f["geometry"] is None for f in features] == subdistricts_frame.geometry.isna().tolist()
    for feature in features:
        if feature["geometry"] is None:
            continue
        ring = shapely.LinearRing(feature["geometry"]["coordinates"][0])
        assert ring.is_ccw, "RFC 7946 exterior rings are counter-clockwise"
        lon, lat = feature["geometry"]["coordinates"][0][0]
        assert 113 < lon < 114, "longitude first"
        assert 34 < lat < 35
    assert isinstance(features[0]["properties"]["attrs"], str)


def test_shapefiles_are_utf8_with_short_field_names(
    tmp_path: Path, communities_frame: gpd.GeoDataFrame
) -> None:
    path = export_layer(communities_frame, LAYERS["communities"], tmp_path / "c.shp", "shp")
    assert path.with_suffix(".cpg").read_text(encoding="ascii").strip().upper() in {"UTF-8", "UTF8"}
    fields = pyogrio.read_info(path)["fields"].tolist()
    assert all(len(f.encode()) <= SHAPEFILE_NAME_BYTES for f in fields)
    assert fields == list(shapefile_field_names(LAYERS["communities"].column_names).values())
    assert "subdistric" in fields


def test_shapefile_field_names_follow_the_documented_rule() -> None:
    fields = shapefile_field_names(["id", "subdistrict_code", "subdistrict_codes", "road_name_zh"])
    assert fields == {
        "id": "id",
        "subdistrict_code": "subdistric",
        "subdistrict_codes": "subdistr_1",
        "road_name_zh": "road_name_",
    }


def test_shapefile_field_names_keep_short_names_first() -> None:
    # "road_name_" fits, so the long name that cuts to it must take another field
    fields = shapefile_field_names(["road_name_zh", "road_name_"])
    assert fields["road_name_"] == "road_name_"
    assert fields["road_name_zh"] != "road_name_"


def test_shapefile_field_names_refuse_names_equal_but_for_case() -> None:
    with pytest.raises(ValueError, match="case"):
        shapefile_field_names(["Name", "name"])


identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,24}", fullmatch=True) | st.text(
    st.sampled_from("名称道路社区_ab"), min_size=1, max_size=12
)


@given(st.lists(identifier, max_size=40, unique_by=str.lower))
def test_shapefile_field_names_are_short_distinct_and_stable(names: list[str]) -> None:
    fields = shapefile_field_names(names)
    assert list(fields) == names
    assert fields == shapefile_field_names(names)
    assert all(len(field.encode()) <= SHAPEFILE_NAME_BYTES for field in fields.values())
    assert len({field.lower() for field in fields.values()}) == len(names)
    for name, field in fields.items():
        if len(name.encode()) <= SHAPEFILE_NAME_BYTES:
            assert field == name
        else:
            stem = re.sub(r"_\d+$", "", field) if field != name[: len(field)] else field
            assert name.startswith(stem)


def _long_attrs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    long_text = "金水河畔文化路夜市" * 12
    attrs = [{"说明": long_text} if i == 1 else a for i, a in enumerate(frame["attrs"])]
    return frame.assign(attrs=pd.Series(attrs, dtype=object, index=frame.index))


def test_long_json_is_left_out_of_shapefiles_with_a_warning(
    tmp_path: Path, roads_frame: gpd.GeoDataFrame
) -> None:
    frame = _long_attrs(roads_frame)
    with pytest.warns(GeodataWarning, match=r"'attrs' is left out of the shapefile.*row 2"):
        path = export_layer(frame, LAYERS["roads"], tmp_path / "roads.shp", "shp")
    read = pyogrio.read_dataframe(path)
    assert "attrs" not in read.columns
    assert read["name_zh"].tolist() == frame["name_zh"].tolist()
    kept = export_layer(frame, LAYERS["roads"], tmp_path / "roads.gpkg", "gpkg")
    assert [json.loads(t) for t in pyogrio.read_dataframe(kept)["attrs"]] == list(frame["attrs"])


def test_long_text_is_cut_at_a_character_boundary_with_a_warning(
    tmp_path: Path, zones_frame: gpd.GeoDataFrame
) -> None:
    long_name = "黄河" * 100
    frame = zones_frame.assign(name_zh=pd.array([long_name, "夜市"], dtype="str"))
    with pytest.warns(GeodataWarning, match="cut to 254 bytes"):
        path = export_layer(frame, LAYERS["zones"], tmp_path / "zones.shp", "shp")
    cut = pyogrio.read_dataframe(path)["name_zh"].tolist()
    assert long_name.startswith(cut[0])
    assert SHAPEFILE_TEXT_BYTES - 3 < len(cut[0].encode()) <= SHAPEFILE_TEXT_BYTES
    assert cut[1] == "夜市"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_export_leaves_no_partial_file(
    tmp_path: Path,
    roads_frame: gpd.GeoDataFrame,
    monkeypatch: pytest.MonkeyPatch,
    fmt: ExportFormat,
) -> None:
    target = tmp_path / f"roads.{fmt}"
    write_dataframe = pyogrio.write_dataframe

    def write_then_fail(*args: Any, **kwargs: Any) -> None:
        write_dataframe(*args, **kwargs)
        raise OSError("no space left on device")

    monkeypatch.setattr(export.pyogrio, "write_dataframe", write_then_fail)
    with pytest.raises(OSError, match="no space"):
        export_layer(roads_frame, LAYERS["roads"], target, fmt)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.undo()
    export_layer(roads_frame.iloc[:1], LAYERS["roads"], target, fmt)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(export.pyogrio, "write_dataframe", write_then_fail)
    with pytest.raises(OSError, match="no space"):
        export_layer(roads_frame, LAYERS["roads"], target, fmt)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_new_shapefile_replaces_the_old_and_its_stale_side_files(
    tmp_path: Path, roads_frame: gpd.GeoDataFrame
) -> None:
    target = tmp_path / "roads.shp"
    export_layer(roads_frame, LAYERS["roads"], target, "shp")
    target.with_suffix(".qix").write_bytes(b"an old spatial index")
    export_layer(roads_frame.iloc[:2], LAYERS["roads"], target, "shp")
    assert not target.with_suffix(".qix").exists()
    assert pyogrio.read_dataframe(target)["id"].tolist() == roads_frame["id"].tolist()[:2]


def test_layers_of_points_and_lines_cannot_be_shapefiles(
    tmp_path: Path, posts_frame: gpd.GeoDataFrame
) -> None:
    assert set(posts_frame.geom_type) >= {"Point", "LineString"}
    with pytest.raises(ValueError, match="GeoPackage or GeoJSON"):
        export_layer(posts_frame, LAYERS["posts"], tmp_path / "posts.shp", "shp")
    assert list(tmp_path.iterdir()) == []
    points = posts_frame[posts_frame.geom_type == "Point"]
    path = export_layer(points, LAYERS["posts"], tmp_path / "posts.shp", "shp")
    assert pyogrio.read_dataframe(path)["id"].tolist() == points["id"].tolist()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["roads", "squads", "posts"])
def test_empty_layers_export(
    tmp_path: Path, layer_frames: dict[str, gpd.GeoDataFrame], fmt: ExportFormat, name: str
) -> None:
    empty = layer_frames[name].iloc[:0]
    path = export_layer(empty, LAYERS[name], tmp_path / f"{name}.{fmt}", fmt)
    assert len(pyogrio.read_dataframe(path)) == 0


def test_other_crs_is_reprojected_to_wgs84(
    tmp_path: Path, guidance_points_frame: gpd.GeoDataFrame
) -> None:
    projected = guidance_points_frame.to_crs("EPSG:4547")
    path = export_layer(projected, LAYERS["guidance_points"], tmp_path / "g.gpkg", "gpkg")
    read = pyogrio.read_dataframe(path)
    assert read.crs.to_epsg() == 4326
    moved = shapely.get_coordinates(read.geometry.values) - shapely.get_coordinates(
        guidance_points_frame.geometry.values
    )
    assert np.abs(moved).max() < 1e-9  # degrees: the projection undone to well below 1 mm


def test_paths_and_formats_are_checked(tmp_path: Path, roads_frame: gpd.GeoDataFrame) -> None:
    spec = LAYERS["roads"]
    with pytest.raises(ValueError, match=r"\*\.shp"):
        export_layer(roads_frame, spec, tmp_path / "roads.txt", "shp")
    with pytest.raises(ValueError, match="unknown export format"):
        export_layer(roads_frame, spec, tmp_path / "roads.kml", "kml")  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="level") as caught:
        export_layer(roads_frame.drop(columns="level"), spec, tmp_path / "r.gpkg", "gpkg")
    assert caught.value.field == "level"
    with pytest.raises(MissingCRSError):
        export_layer(roads_frame.set_crs(None, allow_override=True), spec, tmp_path / "r", "gpkg")
    path = export_layer(roads_frame, spec, tmp_path / "new" / "folder" / "roads", "shp")
    assert path == tmp_path / "new" / "folder" / "roads.shp"
    assert path.is_file()
    assert list(tmp_path.iterdir()) == [tmp_path / "new"]


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="the ogrinfo program is not installed")
@pytest.mark.parametrize("fmt", FORMATS)
def test_ogrinfo_reads_the_export(
    tmp_path: Path, communities_frame: gpd.GeoDataFrame, fmt: ExportFormat
) -> None:
    path = export_layer(communities_frame, LAYERS["communities"], tmp_path / "c", fmt)
    result = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    counts = re.findall(r"Feature Count: (\d+)", result.stdout)
    assert counts == [str(len(communities_frame))]
    if fmt == "gpkg":
        assert "Layer name: communities" in result.stdout
    assert re.search(r"(EPSG|4326|WGS 84)", result.stdout)
