"""Reading every format a bureau has, and a corpus of broken files."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString

from geodata.errors import (
    EncodingError,
    FieldError,
    FileTooLargeError,
    InputFileError,
    MissingCRSError,
)
from geodata.imports import ImportOptions, import_layer
from geodata.readers import read_vector

NAMES = ["文化路", "开元路", "英才街"]


@pytest.fixture
def roads() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "name": NAMES,
            "grade": ["主干路", "主干路", "支路"],
        },
        geometry=[
            LineString([(113.655, 34.80), (113.656, 34.86)]),
            LineString([(113.60, 34.835), (113.72, 34.836)]),
            LineString([(113.64, 34.90), (113.70, 34.901)]),
        ],
        crs="EPSG:4326",
    )


def _write_shp(frame: gpd.GeoDataFrame, path: Path, encoding: str, *, cpg: bool) -> Path:
    pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding=encoding)
    if not cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def _names(path: Path, **options: object) -> list[str]:
    imported = import_layer(path, "roads", ImportOptions(**options))  # type: ignore[arg-type]
    return list(imported.frame.sort_values("id")["name_zh"])


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
def test_each_format_reads_back_names_and_geometries(
    roads: gpd.GeoDataFrame, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"roads{suffix}"
    if suffix == ".parquet":
        roads.to_parquet(path)
    else:
        roads.to_file(path)
    imported = import_layer(path, "roads").frame.sort_values("id")
    assert list(imported["name_zh"]) == NAMES
    assert list(imported["road_class"]) == ["arterial", "arterial", "branch"]
    for got, want in zip(imported.geometry, roads.geometry, strict=True):
        assert shapely.equals_exact(got, want, tolerance=1e-9)


def test_gbk_shapefile_without_cpg_is_detected(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "roads.shp", "GBK", cpg=False)
    assert not path.with_suffix(".cpg").exists()
    raw = read_vector(path)
    assert raw.encoding in ("gbk", "gb18030")
    assert _names(path) == NAMES


def test_cpg_is_honoured(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "roads.shp", "GBK", cpg=False)
    path.with_suffix(".cpg").write_text("936")
    assert read_vector(path).encoding == "gbk"
    assert _names(path) == NAMES


def test_wrong_encoding_names_row_and_field(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "roads.shp", "GBK", cpg=False)
    with pytest.raises(EncodingError) as caught:
        import_layer(path, "roads", ImportOptions(encoding="utf-8"))
    assert caught.value.row == 1
    assert caught.value.field in ("name", "grade")
    assert "--encoding" in str(caught.value)


def test_utf8_shapefile(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "roads.shp", "UTF-8", cpg=False)
    assert _names(path) == NAMES


def test_zipped_shapefile(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "道路.shp", "GBK", cpg=False)
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in tmp_path.glob("道路.*"):
            zipped.write(part, f"data/{part.name}")
    assert _names(archive) == NAMES
    assert path.exists()


def test_zip_with_two_shapefiles_needs_a_layer(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    for stem in ("a", "b"):
        _write_shp(roads, tmp_path / f"{stem}.shp", "UTF-8", cpg=True)
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in tmp_path.glob("[ab].*"):
            zipped.write(part, part.name)
    with pytest.raises(InputFileError, match="2 layers"):
        import_layer(archive, "roads")
    assert _names(archive, source_layer="b") == NAMES


def test_gpkg_with_two_layers_needs_a_layer(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    roads.to_file(path, layer="roads")
    roads.iloc[:1].to_file(path, layer="main_roads")
    with pytest.raises(InputFileError, match="--source-layer") as caught:
        import_layer(path, "roads")
    assert caught.value.file == "two.gpkg"
    assert len(import_layer(path, "roads", ImportOptions(source_layer="main_roads")).frame) == 1
    with pytest.raises(InputFileError, match="no layer 'x'"):
        import_layer(path, "roads", ImportOptions(source_layer="x"))


def test_projected_shapefile_is_stored_in_wgs84(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads.to_crs("EPSG:4547"), tmp_path / "roads.shp", "UTF-8", cpg=True)
    imported = import_layer(path, "roads")
    assert imported.source_crs == "EPSG:4547"
    assert imported.frame.crs == "EPSG:4326"
    back = imported.frame.sort_values("id").geometry
    for got, want in zip(back, roads.geometry, strict=True):
        assert shapely.equals_exact(got, want, tolerance=1e-8)


def test_shapefile_without_prj_is_refused_with_how_to(
    roads: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    path = _write_shp(roads.to_crs("EPSG:4547"), tmp_path / "roads.shp", "UTF-8", cpg=True)
    path.with_suffix(".prj").unlink()
    with pytest.raises(MissingCRSError, match="--crs") as caught:
        import_layer(path, "roads")
    assert caught.value.file == "roads.shp"
    imported = import_layer(path, "roads", ImportOptions(crs="EPSG:4547"))
    assert imported.source_crs == "EPSG:4547"


def test_shapefile_missing_dbf(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "roads.shp", "UTF-8", cpg=True)
    path.with_suffix(".dbf").unlink()
    with pytest.raises(InputFileError, match=r"\.dbf"):
        import_layer(path, "roads")


def test_truncated_dbf(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = _write_shp(roads, tmp_path / "roads.shp", "UTF-8", cpg=True)
    dbf = path.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes()[:-40])
    with pytest.raises(InputFileError, match="truncated"):
        import_layer(path, "roads")


def test_csv_with_wkt_needs_crs(tmp_path: Path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text(
        "id,name,grade,wkt\n"
        '1,文化路,主干路,"LINESTRING (113.655 34.80, 113.656 34.86)"\n'
        '2,开元路,主干路,"LINESTRING (113.60 34.835, 113.72 34.836)"\n',
        encoding="utf-8",
    )
    with pytest.raises(MissingCRSError):
        import_layer(path, "roads")
    frame = import_layer(path, "roads", ImportOptions(crs="EPSG:4326")).frame
    assert list(frame["name_zh"]) == ["文化路", "开元路"]


def test_csv_with_bad_wkt_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text(
        'id,highway,wkt\n1,primary,"LINESTRING (113.6 34.8, 113.7 34.8)"\n'
        '2,primary,"LINESTRING (113.6 34.8,"\n',
        encoding="utf-8",
    )
    with pytest.raises(FieldError) as caught:
        import_layer(path, "roads", ImportOptions(crs="EPSG:4326"))
    assert (caught.value.row, caught.value.field) == (2, "wkt")


def test_gbk_csv_with_lon_lat(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes(
        "id,名称,经度,纬度,windows\nG1,英才街疏导点,113.66,34.90,11:00-13:30\n".encode("gbk")
    )
    frame = import_layer(path, "guidance_points").frame
    assert frame.loc[0, "name_zh"] == "英才街疏导点"
    assert frame.loc[0, "windows"] == "11:00-13:30"
    assert frame.geometry.iloc[0].equals(shapely.Point(113.66, 34.90))


def test_csv_with_bad_number_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("id,lon,lat\nG1,113.66,34.90\nG2,113.67,三十四\n", encoding="utf-8")
    with pytest.raises(FieldError) as caught:
        import_layer(path, "guidance_points")
    assert (caught.value.row, caught.value.field) == (2, "lat")


def test_csv_without_geometry_columns(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("id,name,highway\n1,x,primary\n", encoding="utf-8")
    with pytest.raises(FieldError, match="--wkt-column"):
        import_layer(path, "roads")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geom', "cannot read"),
        (b"\x00\x01\x02 not geojson at all", "cannot read"),
    ],
)
def test_broken_geojson(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.geojson"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as caught:
        import_layer(path, "roads")
    assert caught.value.file == "broken.geojson"
    assert str(tmp_path) not in str(caught.value)


def test_truncated_gpkg(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "roads.gpkg"
    roads.to_file(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(InputFileError):
        import_layer(path, "roads")


def test_parquet_without_geo_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    gpd.pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    with pytest.raises(InputFileError, match="GeoParquet"):
        import_layer(path, "roads")


def test_missing_empty_unknown_and_oversized_files(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        import_layer(tmp_path / "nothing.geojson", "roads")
    empty = tmp_path / "empty.geojson"
    empty.touch()
    with pytest.raises(InputFileError, match="empty"):
        import_layer(empty, "roads")
    odd = tmp_path / "roads.dwg"
    odd.write_bytes(b"AC1032")
    with pytest.raises(InputFileError, match="unknown file type"):
        import_layer(odd, "roads")
    big = tmp_path / "roads.geojson"
    roads.to_file(big)
    with pytest.raises(FileTooLargeError, match="MiB"):
        import_layer(big, "roads", ImportOptions(max_bytes=100))


def test_osm_file_imports_as_roads() -> None:
    fixture = Path(__file__).parent.parent / "data" / "osm" / "huiji_sample.osm"
    with pytest.warns(UserWarning, match="missing"):
        imported = import_layer(fixture, "roads")
    frame = imported.frame
    assert frame["id"].str.startswith("w").all()
    assert "文化路" in set(frame["name_zh"])
    assert set(frame["road_class"]) <= {"arterial", "secondary", "branch", "back_street", "other"}
    assert (frame["length_m"] > 0).all()


def test_copy_of_a_file_keeps_ids(roads: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "roads.geojson"
    roads.drop(columns="id").to_file(path)
    first = import_layer(path, "roads").frame
    shuffled = tmp_path / "shuffled.geojson"
    roads.drop(columns="id").iloc[::-1].to_file(shuffled)
    second = import_layer(shuffled, "roads").frame
    assert dict(zip(first["name_zh"], first["id"], strict=True)) == dict(
        zip(second["name_zh"], second["id"], strict=True)
    )
    shutil.copy(path, tmp_path / "copy.geojson")
    assert list(import_layer(tmp_path / "copy.geojson", "roads").frame["id"]) == list(first["id"])
