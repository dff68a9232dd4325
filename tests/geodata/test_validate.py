"""Geometry and id checks: what is refused, what is repaired and how it is said."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from geodata.errors import DuplicateIdError, FieldError, GeodataWarning, InvalidGeometryError
from geodata.imports import ImportOptions, import_layer
from geodata.validate import check_geometries, check_unique_ids

SQUARE = Polygon([(113.60, 34.80), (113.61, 34.80), (113.61, 34.81), (113.60, 34.81)])
# a figure-eight: repairing it would change what it means
BOWTIE = Polygon([(113.60, 34.80), (113.61, 34.81), (113.61, 34.80), (113.60, 34.81)])
# a ring that touches itself with a zero-width spike: safe to repair
SPIKE = Polygon(
    [
        (113.60, 34.80),
        (113.61, 34.80),
        (113.61, 34.805),
        (113.615, 34.805),
        (113.61, 34.805),
        (113.61, 34.81),
        (113.60, 34.81),
    ]
)


def _frame(geoms: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [str(i) for i in range(len(geoms))]}, geometry=geoms, crs=4326)


def test_valid_polygons_pass_unchanged() -> None:
    frame = _frame([SQUARE])
    out = check_geometries(frame, family="polygon", file="f.geojson")
    assert out.geometry.iloc[0].equals(SQUARE)


def test_spike_is_repaired_with_a_warning() -> None:
    assert not SPIKE.is_valid
    with pytest.warns(GeodataWarning, match="repaired 1 invalid polygon"):
        out = check_geometries(_frame([SQUARE, SPIKE]), family="polygon", file="f.geojson")
    repaired = out.geometry.iloc[1]
    assert repaired.is_valid
    assert repaired.geom_type in ("Polygon", "MultiPolygon")
    assert repaired.area == pytest.approx(SQUARE.area, rel=1e-6)


def test_bowtie_is_refused_naming_the_row() -> None:
    assert not BOWTIE.is_valid
    with pytest.raises(InvalidGeometryError, match="Self-intersection") as caught:
        check_geometries(_frame([SQUARE, BOWTIE]), family="polygon", file="zones.shp")
    assert (caught.value.file, caught.value.row, caught.value.field) == ("zones.shp", 2, "geometry")


def test_empty_and_missing_geometries() -> None:
    frame = _frame([SQUARE, Polygon(), None])
    with pytest.raises(InvalidGeometryError, match="no geometry") as caught:
        check_geometries(frame, family="polygon", file="f")
    assert caught.value.row == 2
    out = check_geometries(frame, family="polygon", file="f", nullable=True)
    assert len(out) == 3


def test_wrong_type_names_what_was_found() -> None:
    frame = _frame([LineString([(0, 0), (1, 1)]), Point(0, 0)])
    with pytest.raises(InvalidGeometryError, match="a Point where this layer needs") as caught:
        check_geometries(frame, family="line", file="roads.geojson")
    assert caught.value.row == 2


def test_collection_reduced_to_its_lines() -> None:
    line = LineString([(113.6, 34.8), (113.7, 34.8)])
    frame = _frame([shapely.GeometryCollection([line, Point(0, 0)])])
    out = check_geometries(frame, family="line", file="f")
    assert out.geometry.iloc[0].equals(line)


def test_degenerate_line_is_refused() -> None:
    frame = _frame([LineString([(113.6, 34.8), (113.6, 34.8)])])
    with pytest.raises(InvalidGeometryError, match="two") as caught:
        check_geometries(frame, family="line", file="f")
    assert caught.value.row == 1


def test_duplicate_ids_name_both_rows() -> None:
    with pytest.raises(DuplicateIdError, match="'b' appears in rows 2 and 4") as caught:
        check_unique_ids(gpd.pd.Series(["a", "b", "c", "b"]), file="f.csv", field="id")
    assert caught.value.row == 4
    with pytest.raises(FieldError, match="empty"):
        check_unique_ids(gpd.pd.Series(["a", None]), file="f.csv", field="id")


def test_duplicate_ids_in_a_file(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"id": ["r1", "r1"], "highway": ["primary", "primary"]},
        geometry=[
            LineString([(113.6, 34.8), (113.7, 34.8)]),
            LineString([(113.6, 34.9), (113.7, 34.9)]),
        ],
        crs=4326,
    )
    path = tmp_path / "roads.geojson"
    frame.to_file(path)
    with pytest.raises(DuplicateIdError) as caught:
        import_layer(path, "roads", ImportOptions())
    assert caught.value.file == "roads.geojson"
    assert caught.value.field == "id"


def test_invalid_polygon_in_a_file_is_refused_whole(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["410108001", "410108002"], "kind": ["river_bank", "river_bank"]},
        geometry=[SQUARE, BOWTIE],
        crs=4326,
    )
    path = tmp_path / "zones.geojson"
    frame.to_file(path)
    with pytest.raises(InvalidGeometryError) as caught:
        import_layer(path, "zones")
    assert caught.value.row == 2
