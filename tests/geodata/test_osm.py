from __future__ import annotations

import bz2
import gzip
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.errors import FileTooLargeError, GeodataWarning, InputFileError
from geodata.osm import OSM_ROAD_COLUMNS, read_osm_roads

osmium = pytest.importorskip("osmium")

SAMPLE = Path(__file__).parents[1] / "data" / "osm" / "huiji_sample.osm"
MISSING_NODE_WARNING = r"skipped 1 highway way\(s\) with nodes missing .*: w1008$"


def read_sample(path: Path | str = SAMPLE, **kwargs: object):
    """Read a copy of the sample, which always warns about its way with a missing node."""
    with pytest.warns(GeodataWarning, match=MISSING_NODE_WARNING):
        return read_osm_roads(path, **kwargs)


def sample_from_xml() -> tuple[dict[int, tuple[float, float]], list[ET.Element]]:
    """Return the sample's node locations and ways, parsed without osmium."""
    root = ET.parse(SAMPLE).getroot()
    nodes = {
        int(node.get("id", "")): (float(node.get("lon", "")), float(node.get("lat", "")))
        for node in root.iter("node")
    }
    return nodes, list(root.iter("way"))


def way_tags(way: ET.Element) -> dict[str, str]:
    return {tag.get("k", ""): tag.get("v", "") for tag in way.iter("tag")}


def write_pbf(source: Path, target: Path) -> Path:
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            writer.add(obj)
    return target


def write_osm_xml(path: Path, nodes: dict[int, tuple[float, float]], ways: str) -> Path:
    node_lines = "".join(
        f'<node id="{node_id}" version="1" lon="{lon:.7f}" lat="{lat:.7f}"/>\n'
        for node_id, (lon, lat) in nodes.items()
    )
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n{node_lines}{ways}</osm>\n',
        encoding="utf-8",
    )
    return path


def test_reads_roads_in_file_order_with_their_tags() -> None:
    roads = read_sample()
    _, ways = sample_from_xml()
    expected_ids = [
        f"w{way.get('id')}"
        for way in ways
        if "highway" in way_tags(way) and way.get("id") not in {"1006", "1007", "1008"}
    ]
    assert list(roads.columns) == [*OSM_ROAD_COLUMNS, "geometry"]
    assert roads["osm_id"].tolist() == expected_ids
    assert roads.crs.to_epsg() == 4326
    assert set(roads.geom_type) == {"LineString"}
    tags_by_id = {f"w{way.get('id')}": way_tags(way) for way in ways}
    for row in roads.itertuples():
        assert row.tags == tags_by_id[row.osm_id]
        assert row.highway == row.tags["highway"]
        assert row.name == row.tags.get("name")
        assert row.name_en == row.tags.get("name:en")
        assert row.oneway == row.tags.get("oneway")
        assert row.lanes == row.tags.get("lanes")


def test_name_zh_falls_back_to_zh_hans_and_absent_tags_are_none() -> None:
    read = read_sample()
    for column in OSM_ROAD_COLUMNS:
        assert read[column].dtype == object, column
    roads = read.set_index("osm_id")
    assert roads.loc["w1001", "name_zh"] == "文化路"
    assert roads.loc["w1001", "name_en"] == "Wenhua Road"
    assert roads.loc["w1002", "name_zh"] == "天河路"  # only name:zh-Hans
    assert roads.loc["w1003", "name_zh"] is None
    assert roads.loc["w1004", "name"] is None
    assert roads.loc["w1004", "lanes"] is None


def test_geometry_coordinates_are_the_node_coordinates() -> None:
    roads = read_sample()
    nodes, ways = sample_from_xml()
    refs_by_id = {
        f"w{way.get('id')}": [int(nd.get("ref", "")) for nd in way.iter("nd")] for way in ways
    }
    for osm_id, line in zip(roads["osm_id"], roads.geometry, strict=True):
        expected = [nodes[ref] for ref in refs_by_id[osm_id]]
        assert len(line.coords) == len(expected)
        for got, want in zip(line.coords, expected, strict=True):
            assert got == pytest.approx(want, abs=1e-7)


def test_skips_buildings_areas_and_closed_pedestrian_ways() -> None:
    kept = set(read_sample()["osm_id"])
    assert "w1005" not in kept  # building, no highway
    assert "w1006" not in kept  # closed highway=pedestrian square
    assert "w1007" not in kept  # highway=service area=yes


@pytest.mark.parametrize(
    ("tags", "closed", "kept"),
    [
        ({"highway": "pedestrian"}, True, False),
        ({"highway": "pedestrian", "area": "no"}, True, True),
        ({"highway": "pedestrian"}, False, True),
        ({"highway": "footway", "area": "yes"}, True, False),
        ({"highway": "residential"}, True, True),  # a closed loop street stays a road
    ],
)
def test_area_rules(tmp_path: Path, tags: dict[str, str], closed: bool, kept: bool) -> None:
    nodes = {1: (113.65, 34.85), 2: (113.651, 34.85), 3: (113.651, 34.851), 4: (113.66, 34.86)}
    refs = [1, 2, 3, 1] if closed else [1, 2, 3]
    tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    nd_xml = "".join(f'<nd ref="{ref}"/>' for ref in refs)
    ways = (
        f'<way id="1" version="1">{nd_xml}{tag_xml}</way>\n'
        '<way id="2" version="1"><nd ref="3"/><nd ref="4"/><tag k="highway" v="service"/></way>\n'
    )
    roads = read_osm_roads(write_osm_xml(tmp_path / "loop.osm", nodes, ways))
    assert ("w1" in set(roads["osm_id"])) is kept
    assert "w2" in set(roads["osm_id"])


def test_filters_by_highway_values() -> None:
    roads = read_sample(highway={"primary", "trunk", "tertiary"})
    assert roads["osm_id"].tolist() == ["w1001", "w1009"]
    assert set(roads["highway"]) == {"primary", "trunk"}
    # 开元路 (tertiary, missing a node) is filtered out before it is checked, so no warning
    single = read_osm_roads(SAMPLE, highway="residential")
    assert single["osm_id"].tolist() == ["w1003"]


def test_filter_without_matches_is_an_error() -> None:
    with pytest.raises(InputFileError, match=r"no roads \(highway=\* ways with highway in"):
        read_osm_roads(SAMPLE, highway={"motorway"})


def test_file_without_roads_is_an_error(tmp_path: Path) -> None:
    nodes = {1: (113.65, 34.85), 2: (113.651, 34.85), 3: (113.651, 34.851)}
    ways = '<way id="5" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/>'
    ways += '<tag k="building" v="yes"/></way>\n'
    path = write_osm_xml(tmp_path / "buildings.osm", nodes, ways)
    with pytest.raises(InputFileError, match=r"no roads \(highway=\* ways\) in .*buildings\.osm"):
        read_osm_roads(path)


def test_missing_node_warning_names_count_and_ids(tmp_path: Path) -> None:
    nodes = {1: (113.65, 34.85), 2: (113.651, 34.85)}
    ways = (
        '<way id="1" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="service"/></way>\n'
    )
    for way_id in range(10, 17):
        ways += f'<way id="{way_id}" version="1"><nd ref="1"/><nd ref="{way_id * 100}"/>'
        ways += '<tag k="highway" v="service"/></way>\n'
    path = write_osm_xml(tmp_path / "cut.osm", nodes, ways)
    with pytest.warns(GeodataWarning) as record:
        roads = read_osm_roads(path)
    assert len(record) == 1
    message = str(record[0].message)
    assert "skipped 7 highway way(s) with nodes missing" in message
    assert "w10, w11, w12, w13, w14, ..." in message
    assert "w15" not in message
    assert roads["osm_id"].tolist() == ["w1"]


def test_ways_with_fewer_than_two_locations_are_skipped_with_a_warning(tmp_path: Path) -> None:
    nodes = {1: (113.65, 34.85), 2: (113.651, 34.85)}
    ways = (
        '<way id="1" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="service"/></way>\n'
        '<way id="2" version="1"><nd ref="1"/><tag k="highway" v="service"/></way>\n'
        '<way id="3" version="1"><nd ref="2"/><nd ref="2"/><tag k="highway" v="path"/></way>\n'
    )
    path = write_osm_xml(tmp_path / "short.osm", nodes, ways)
    with pytest.warns(GeodataWarning, match=r"skipped 2 .*fewer than 2 .*: w2, w3$"):
        roads = read_osm_roads(path)
    assert roads["osm_id"].tolist() == ["w1"]


@pytest.mark.parametrize("suffix", [".osm.pbf", ".pbf"])
def test_pbf_reads_the_same_as_xml(tmp_path: Path, suffix: str) -> None:
    pbf = write_pbf(SAMPLE, tmp_path / f"huiji_sample{suffix}")
    assert pbf.read_bytes()[:64] != SAMPLE.read_bytes()[:64]
    assert_geodataframe_equal(read_sample(pbf), read_sample(), check_less_precise=False)


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("huiji_sample.osm.gz", gzip.compress),
        ("huiji_sample.osm.bz2", bz2.compress),
        ("HUIJI_SAMPLE.OSM", bytes),
    ],
)
def test_compressed_and_upper_case_xml(
    tmp_path: Path, name: str, compress: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / name
    path.write_bytes(compress(SAMPLE.read_bytes()))
    assert_geodataframe_equal(read_sample(path), read_sample())


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.99])
def test_truncated_pbf_is_an_input_file_error(tmp_path: Path, keep: float) -> None:
    data = write_pbf(SAMPLE, tmp_path / "whole.osm.pbf").read_bytes()
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputFileError, match=r"cut\.osm\.pbf: not a readable OSM pbf file") as info:
        read_osm_roads(cut)
    assert info.value.file == str(cut)
    assert isinstance(info.value.__cause__, RuntimeError)  # osmium's error, translated


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("roads.osm", b"hello, this is not XML", "not a readable OSM osm file"),
        ("roads.osm", b"<html><body>a web page</body></html>", "not a readable OSM osm file"),
        ("roads.osm.pbf", b"\x00\x01\x02not a pbf" * 20, "not a readable OSM pbf file"),
        ("roads.osm.gz", b"plain text, not gzip", "not a readable OSM osm.gz file"),
        ("roads.geojson", b'{"type": "FeatureCollection", "features": []}', "file name"),
        ("roads.osm", b"", "file is empty"),
    ],
)
def test_not_osm_is_an_input_file_error(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError) as info:
        read_osm_roads(path)
    assert problem in str(info.value)
    assert info.value.file == str(path)


def test_missing_file_and_directory_are_input_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"nowhere\.osm: no such file"):
        read_osm_roads(tmp_path / "nowhere.osm")
    (tmp_path / "folder.osm").mkdir()
    with pytest.raises(InputFileError, match="no such file"):
        read_osm_roads(tmp_path / "folder.osm")


def test_max_bytes(tmp_path: Path) -> None:
    size = SAMPLE.stat().st_size
    with pytest.raises(FileTooLargeError, match=f"file is {size} bytes, more than the limit"):
        read_osm_roads(SAMPLE, max_bytes=size - 1)
    assert len(read_sample(max_bytes=size)) > 0


def test_without_osmium_asks_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "osmium", None)
    with pytest.raises(InputFileError, match=r"install dutygrid\[osm\]"):
        read_osm_roads(SAMPLE)


def test_path_may_be_a_string(tmp_path: Path) -> None:
    copy = tmp_path / "sample.osm"
    shutil.copy(SAMPLE, copy)
    assert read_sample(str(copy))["osm_id"].tolist() == read_sample()["osm_id"].tolist()


lon_lat = st.tuples(
    st.integers(113_600_000_0, 113_700_000_0).map(lambda x: x / 1e7),
    st.integers(34_800_000_0, 34_900_000_0).map(lambda y: y / 1e7),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.lists(lon_lat, min_size=2, max_size=6, unique=True), min_size=1, max_size=5)
)
def test_lines_round_trip_through_xml_and_pbf(
    tmp_path: Path, lines: list[list[tuple[float, float]]]
) -> None:
    nodes: dict[int, tuple[float, float]] = {}
    ways = ""
    for way_number, line in enumerate(lines, start=1):
        refs = []
        for location in line:
            nodes[len(nodes) + 1] = location
            refs.append(len(nodes))
        nd_xml = "".join(f'<nd ref="{ref}"/>' for ref in refs)
        ways += f'<way id="{way_number}" version="1">{nd_xml}<tag k="highway" v="road"/></way>\n'
    xml = write_osm_xml(tmp_path / "lines.osm", nodes, ways)
    pbf = write_pbf(xml, tmp_path / "lines.osm.pbf")
    try:
        from_xml = read_osm_roads(xml)
        from_pbf = read_osm_roads(pbf)
    finally:
        pbf.unlink()
    assert from_xml["osm_id"].tolist() == [f"w{n}" for n in range(1, len(lines) + 1)]
    for line, geometry in zip(lines, from_xml.geometry, strict=True):
        np.testing.assert_allclose(np.asarray(geometry.coords), np.asarray(line), rtol=0, atol=1e-7)
    assert_geodataframe_equal(from_xml, from_pbf)
