from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from geodata.errors import (
    CoordinateError,
    DuplicateIdError,
    FieldError,
    InvalidGeometryError,
    MissingCRSError,
)
from geodata.layers import LAYERS, Column, LayerSpec
from server import migrations, storage
from server.migrations import Migration, add_layer_column
from server.storage import (
    PostGISMissingError,
    Provenance,
    SchemaVersionError,
    StorageError,
    Store,
    database_url,
)

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]


def assert_same_layer(read: gpd.GeoDataFrame, expected: gpd.GeoDataFrame) -> None:
    """Assert a layer read back is the one written, down to the bytes of its geometries."""
    assert_geodataframe_equal(read, expected, check_less_precise=False)
    assert list(read["attrs"]) == list(expected["attrs"])
    assert shapely.to_wkb(read.geometry.values).tolist() == (
        shapely.to_wkb(expected.geometry.values).tolist()
    )


def write(store: Store, make_provenance: MakeProvenance, **frames: gpd.GeoDataFrame) -> None:
    store.write_layers(
        frames, provenance={name: make_provenance(name, frame) for name, frame in frames.items()}
    )


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(database_url(url))


# --- database_url -------------------------------------------------------------------------------


def test_a_file_path_becomes_an_absolute_sqlite_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = database_url("data/dutygrid.sqlite")
    assert url == f"sqlite:///{tmp_path.resolve() / 'data' / 'dutygrid.sqlite'}"
    assert sa.make_url(url).database == str(tmp_path.resolve() / "data" / "dutygrid.sqlite")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_get_the_psycopg_driver(scheme: str) -> None:
    url = database_url(f"{scheme}://duty:p%40ss@db.example:5433/grid?sslmode=require")
    parsed = sa.make_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert parsed.password == "p@ss"
    assert (parsed.host, parsed.port, parsed.database) == ("db.example", 5433, "grid")
    assert parsed.query == {"sslmode": "require"}


def test_other_urls_are_kept() -> None:
    assert database_url("sqlite:////srv/dutygrid.sqlite") == "sqlite:////srv/dutygrid.sqlite"
    assert database_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"


@pytest.mark.parametrize("db", ["", "   "])
def test_an_empty_db_is_refused(db: str) -> None:
    with pytest.raises(ValueError, match="no database"):
        database_url(db)


# --- opening ------------------------------------------------------------------------------------


def test_open_creates_the_sqlite_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "dutygrid.sqlite"
    with Store.open(str(path)) as store:
        assert store.backend == "sqlite"
        assert store.schema_version() == migrations.latest_version()
        assert store.layer_counts() == dict.fromkeys(LAYERS, 0)
        assert store.layer_provenance() == []
    assert path.is_file()


def test_open_without_create_needs_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "missing.sqlite"
    with pytest.raises(StorageError, match="nothing has been imported"):
        Store.open(str(path), create=False)
    assert not path.exists()
    Store.open(str(path)).close()
    with Store.open(str(path), create=False) as store:
        assert store.schema_version() == migrations.latest_version()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text("id,name\n" * 200, encoding="utf-8")
    with pytest.raises(StorageError, match="not a database"):
        Store.open(str(path))


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        Store.open("mysql://u@h/d")


def test_sqlite_takes_no_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="schemas are for PostgreSQL"):
        Store.open(str(tmp_path / "x.sqlite"), schema="duty")


def test_sqlite_readers_go_on_while_a_writer_holds_its_transaction(tmp_path: Path) -> None:
    path = str(tmp_path / "x.sqlite")
    with Store.open(path) as store:
        with store.connection() as reader:
            assert reader.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        with store.transaction() as writer:
            writer.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
            writer.exec_driver_sql("INSERT INTO scratch VALUES (1)")
            # a reader in another connection sees the last commit at once, not the open write
            with store.connection() as reader:
                assert store.layer_counts() == dict.fromkeys(LAYERS, 0)
                tables = reader.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'scratch'"
                ).scalar()
                assert tables == 0
        with store.connection() as reader:
            assert reader.exec_driver_sql("SELECT n FROM scratch").scalar() == 1


def test_sqlite_tables_have_indexed_bounds(tmp_path: Path) -> None:
    path = str(tmp_path / "x.sqlite")
    Store.open(path).close()
    engine = engine_of(path)
    try:
        inspector = sa.inspect(engine)
        columns = {c["name"] for c in inspector.get_columns("layer_roads")}
        indexed = {n for i in inspector.get_indexes("layer_roads") for n in i["column_names"]}
    finally:
        engine.dispose()
    assert {"minx", "miny", "maxx", "maxy", "geom"} <= columns
    assert {"minx", "miny", "maxx", "maxy"} <= indexed


def test_concurrent_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            Store.open(str(path)).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = engine_of(str(path))
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version FROM schema_version")).all()
    finally:
        engine.dispose()
    assert [v for (v,) in versions] == list(range(1, migrations.latest_version() + 1))


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_round_trips_exactly(
    store: Store,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: MakeProvenance,
    name: str,
) -> None:
    frame = layer_frames[name]
    write(store, make_provenance, **{name: frame})
    read = store.read_layer(name)
    assert list(read.columns) == [*LAYERS[name].column_names, "geometry"]
    assert read.crs == "EPSG:4326"
    assert_same_layer(read, frame)
    assert store.layer_counts()[name] == len(frame)


def test_layers_come_back_ordered_by_id_code_point(
    store: Store, roads_frame: gpd.GeoDataFrame, make_provenance: MakeProvenance
) -> None:
    shuffled = roads_frame.iloc[::-1].reset_index(drop=True)
    write(store, make_provenance, roads=shuffled)
    ids = store.read_layer("roads")["id"].tolist()
    assert ids == sorted(shuffled["id"].tolist())
    assert ids != shuffled["id"].tolist()


def test_nullable_integers_booleans_and_json_round_trip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # no layer has such columns yet: give the boundary some, with a migration step that adds them
    boundary = LAYERS["boundary"]
    spec = LayerSpec(
        "boundary",
        "Boundary",
        "polygon",
        (
            *boundary.columns,
            Column("lanes", "integer", True),
            Column("lit", "boolean", True),
            Column("count", "integer", False),
            Column("tags", "json", True),
        ),
    )
    monkeypatch.setitem(LAYERS, "boundary", spec)

    def add_columns(connection: sa.Connection) -> None:
        for column in spec.columns[len(boundary.columns) :]:
            fill = None if column.nullable else 0
            add_layer_column(connection, "boundary", column, fill=fill)

    steps = [*migrations.MIGRATIONS, Migration(len(migrations.MIGRATIONS) + 1, "test", add_columns)]
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    frame = gpd.GeoDataFrame(
        {
            "id": pd.array(["a", "b", "c"], dtype="str"),
            "name_zh": pd.array(["甲", None, "丙"], dtype="str"),
            "name_en": pd.array([None, None, None], dtype="str"),
            "code": pd.array(["1", "2", "3"], dtype="str"),
            "lanes": pd.array([2, None, -(2**62)], dtype="Int64"),
            "lit": pd.array([True, None, False], dtype="boolean"),
            "count": np.array([0, 2**63 - 1, -5], dtype=np.int64),
            "tags": pd.Series([{"名": ["一", 2]}, None, [1.5, "x", None]], dtype=object),
            "attrs": pd.Series([{}, {}, {}], dtype=object),
        },
        geometry=[box(113.6, 34.8, 113.7, 34.9)] * 3,
        crs="EPSG:4326",
    )
    with Store.open(str(tmp_path / "typed.sqlite")) as typed:
        typed.write_layers(
            {"boundary": frame},
            provenance={
                "boundary": Provenance("boundary", "b.gpkg", None, "EPSG:4326", "wgs84", 3)
            },
        )
        assert_same_layer(typed.read_layer("boundary"), frame)


def test_round_trip_is_exact_for_any_doubles_and_text(store_url: str) -> None:
    lon = st.floats(min_value=-180, max_value=180, allow_nan=False)
    lat = st.floats(min_value=-90, max_value=90, allow_nan=False)
    text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)))
    json_value = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | text,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3)
        ),
        max_leaves=8,
    )
    feature = st.tuples(
        st.lists(st.tuples(lon, lat), min_size=2, max_size=4, unique=True),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none() | text,
        st.dictionaries(text, json_value, max_size=3),
    )

    with Store.open(store_url) as store:

        @settings(max_examples=25, deadline=None)
        @given(st.lists(feature, min_size=1, max_size=3))
        def check(
            features: list[tuple[list[tuple[float, float]], float, str | None, dict]],
        ) -> None:
            frame = gpd.GeoDataFrame(
                {
                    "id": pd.array([f"road-{i}" for i in range(len(features))], dtype="str"),
                    "name_zh": pd.array([f[2] for f in features], dtype="str"),
                    "name_en": pd.array([None] * len(features), dtype="str"),
                    "road_class": pd.array(["other"] * len(features), dtype="str"),
                    "level": pd.array(["regulated"] * len(features), dtype="str"),
                    "length_m": np.array([f[1] for f in features], dtype=np.float64),
                    "attrs": pd.Series([f[3] for f in features], dtype=object),
                },
                geometry=[LineString(f[0]) for f in features],
                crs="EPSG:4326",
            )
            store.write_layers(
                {"roads": frame},
                provenance={
                    "roads": Provenance("roads", "r.shp", None, "EPSG:4326", "wgs84", len(frame))
                },
            )
            assert_same_layer(store.read_layer("roads"), frame)

        check()


def test_empty_layer_reads_with_the_layer_dtypes(
    store: Store, roads_frame: gpd.GeoDataFrame, make_provenance: MakeProvenance
) -> None:
    write(store, make_provenance, roads=roads_frame.iloc[:0])
    assert_same_layer(store.read_layer("roads"), roads_frame.iloc[:0].reset_index(drop=True))


def test_twenty_thousand_roads(store: Store, make_provenance: MakeProvenance) -> None:
    count = 20_000
    rng = np.random.default_rng(4547)
    start = np.column_stack([113.5 + rng.random(count) * 0.3, 34.78 + rng.random(count) * 0.19])
    lines = shapely.linestrings(np.stack([start, start + rng.random((count, 2)) * 0.002], axis=1))
    frame = gpd.GeoDataFrame(
        {
            "id": pd.array([f"way-{i:06d}" for i in range(count)], dtype="str"),
            "name_zh": pd.array([f"测试路{i % 97}" for i in range(count)], dtype="str"),
            "name_en": pd.array([None] * count, dtype="str"),
            "road_class": pd.array(["branch"] * count, dtype="str"),
            "level": pd.array(["regulated"] * count, dtype="str"),
            "length_m": rng.random(count) * 200,
            "attrs": pd.Series([{"osm_id": i} for i in range(count)], dtype=object),
        },
        geometry=lines,
        crs="EPSG:4326",
    )
    write(store, make_provenance, roads=frame)
    assert store.layer_counts()["roads"] == count
    assert_same_layer(store.read_layer("roads"), frame)


# --- what a write replaces ----------------------------------------------------------------------


def test_a_write_replaces_only_the_layers_named(
    store: Store, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> None:
    write(store, make_provenance, **layer_frames)
    fewer = layer_frames["roads"].iloc[1:3].reset_index(drop=True)
    store.write_layers(
        {"roads": fewer},
        provenance={
            "roads": Provenance("roads", "new.gpkg", None, "EPSG:4326", "bd09", len(fewer))
        },
    )
    assert store.layer_counts() == {
        name: len(fewer) if name == "roads" else len(frame) for name, frame in layer_frames.items()
    }
    assert_same_layer(store.read_layer("roads"), fewer)
    assert_same_layer(store.read_layer("zones"), layer_frames["zones"])
    provenance = {p.layer: p for p in store.layer_provenance()}
    assert provenance["roads"].source == "new.gpkg"
    assert provenance["roads"].coords == "bd09"
    assert provenance["zones"] == make_provenance("zones", layer_frames["zones"])


def test_provenance_round_trips(
    store: Store, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> None:
    write(store, make_provenance, **layer_frames)
    expected = sorted(
        (make_provenance(name, frame) for name, frame in layer_frames.items()),
        key=lambda p: p.layer,
    )
    assert store.layer_provenance() == expected


def test_a_failed_write_changes_no_layer(
    store: Store,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: MakeProvenance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boundary, roads = layer_frames["boundary"], layer_frames["roads"]
    write(store, make_provenance, boundary=boundary, roads=roads)
    provenance_before = store.layer_provenance()
    renamed = boundary.assign(name_zh=pd.array(["新名字"], dtype="str"))
    replaced: list[str] = []
    replace_layer = Store._replace_layer

    def fail_on_the_second(self: Store, connection, spec, rows, record):  # type: ignore[no-untyped-def]
        replaced.append(spec.name)
        if len(replaced) == 2:
            raise RuntimeError("the disk is full")
        replace_layer(self, connection, spec, rows, record)

    monkeypatch.setattr(Store, "_replace_layer", fail_on_the_second)
    with pytest.raises(RuntimeError, match="disk is full"):
        write(store, make_provenance, boundary=renamed, roads=roads.iloc[:1])
    assert replaced == ["boundary", "roads"]
    assert_same_layer(store.read_layer("boundary"), boundary)
    assert_same_layer(store.read_layer("roads"), roads)
    assert store.layer_provenance() == provenance_before


def test_an_invalid_second_layer_stops_the_first(
    store: Store, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> None:
    boundary, roads = layer_frames["boundary"], layer_frames["roads"]
    write(store, make_provenance, boundary=boundary, roads=roads)
    renamed = boundary.assign(name_zh=pd.array(["新名字"], dtype="str"))
    broken = roads.assign(level=pd.array([None, "strict", "strict", "strict"], dtype="str"))
    with pytest.raises(FieldError) as caught:
        write(store, make_provenance, boundary=renamed, roads=broken)
    assert (caught.value.row, caught.value.field) == (1, "level")
    assert_same_layer(store.read_layer("boundary"), boundary)


# --- checks on write ----------------------------------------------------------------------------


def _broken(roads: gpd.GeoDataFrame, case: str) -> gpd.GeoDataFrame:
    frame = roads.copy()
    if case == "no crs":
        return frame.set_crs(None, allow_override=True)
    if case == "projected":
        return frame.to_crs("EPSG:4547")
    if case == "missing column":
        return frame.drop(columns="level")
    if case == "extra column":
        return frame.assign(speed=1)
    if case == "duplicate id":
        frame["id"] = pd.array(["a", "b", "a", "c"], dtype="str")
    elif case == "missing id":
        frame["id"] = pd.array(["a", None, "c", "d"], dtype="str")
    elif case == "number as text":
        frame["name_zh"] = pd.Series(["a", 3, "c", "d"], dtype=object)
    elif case == "text as number":
        frame["length_m"] = pd.Series([1.0, "12 m", 3.0, 4.0], dtype=object)
    elif case == "infinite length":
        frame.loc[2, "length_m"] = np.inf
    elif case == "attrs not a dict":
        frame["attrs"] = pd.Series([{}, {}, None, {}], dtype=object)
    elif case == "attrs NaN":
        frame["attrs"] = pd.Series([{}, {}, {"x": float("nan")}, {}], dtype=object)
    elif case == "NUL in text":
        frame["name_zh"] = pd.array(["a", "b", "c\x00", "d"], dtype="str")
    elif case == "no geometry":
        frame.loc[3, "geometry"] = None
    elif case == "empty geometry":
        frame.loc[3, "geometry"] = LineString()
    elif case == "point on a line layer":
        frame.loc[3, "geometry"] = Point(113.6, 34.8)
    elif case == "latitude out of range":
        frame.loc[3, "geometry"] = LineString([(34.8, 113.6), (34.9, 113.7)])
    return frame


REFUSALS = {
    "no crs": (MissingCRSError, None, None),
    "projected": (CoordinateError, None, None),
    "missing column": (FieldError, None, "level"),
    "extra column": (FieldError, None, "speed"),
    "duplicate id": (DuplicateIdError, 3, "id"),
    "missing id": (FieldError, 2, "id"),
    "number as text": (FieldError, 2, "name_zh"),
    "text as number": (FieldError, 2, "length_m"),
    "infinite length": (FieldError, 3, "length_m"),
    "attrs not a dict": (FieldError, 3, "attrs"),
    "attrs NaN": (FieldError, 3, "attrs"),
    "NUL in text": (FieldError, 3, "name_zh"),
    "no geometry": (InvalidGeometryError, 4, "geometry"),
    "empty geometry": (InvalidGeometryError, 4, "geometry"),
    "point on a line layer": (InvalidGeometryError, 4, "geometry"),
    "latitude out of range": (CoordinateError, 4, "geometry"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_writes_refuse_what_the_spec_does_not_allow(
    tmp_path: Path, roads_frame: gpd.GeoDataFrame, make_provenance: MakeProvenance, case: str
) -> None:
    error, row, field = REFUSALS[case]
    with Store.open(str(tmp_path / "checks.sqlite")) as store:
        write(store, make_provenance, roads=roads_frame)
        with pytest.raises(error) as caught:
            write(store, make_provenance, roads=_broken(roads_frame, case))
        assert isinstance(caught.value, ValueError)
        assert (getattr(caught.value, "row", None), getattr(caught.value, "field", None)) == (
            row,
            field,
        )
        assert "roads" in str(caught.value)
        assert_same_layer(store.read_layer("roads"), roads_frame)


def test_unknown_layers_are_refused(
    tmp_path: Path, roads_frame: gpd.GeoDataFrame, make_provenance: MakeProvenance
) -> None:
    with Store.open(str(tmp_path / "x.sqlite")) as store:
        with pytest.raises(KeyError, match="layers are: boundary"):
            write(store, make_provenance, parks=roads_frame)
        with pytest.raises(KeyError, match="no layer 'parks'"):
            store.read_layer("parks")


def test_provenance_must_match_the_layers(
    tmp_path: Path, roads_frame: gpd.GeoDataFrame, make_provenance: MakeProvenance
) -> None:
    roads = make_provenance("roads", roads_frame)
    with Store.open(str(tmp_path / "x.sqlite")) as store:
        with pytest.raises(ValueError, match="no provenance"):
            store.write_layers({"roads": roads_frame}, provenance={})
        with pytest.raises(ValueError, match="layers not written: zones"):
            store.write_layers(
                {"roads": roads_frame},
                provenance={"roads": roads, "zones": make_provenance("zones", roads_frame)},
            )
        with pytest.raises(ValueError, match="with 3 features, not 4"):
            store.write_layers(
                {"roads": roads_frame},
                provenance={"roads": make_provenance("roads", roads_frame[:3])},
            )
        assert store.layer_counts()["roads"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coords": "utm"}, "coords must be one of"),
        ({"feature_count": -1}, "must not be negative"),
        ({"sha256": "ABC"}, "64 lowercase hex"),
    ],
)
def test_provenance_checks_its_fields(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "layer": "roads",
        "source": "bundled:huiji",
        "sha256": None,
        "source_crs": "EPSG:4326",
        "coords": "wgs84",
        "feature_count": 1,
    }
    with pytest.raises(ValueError, match=message):
        Provenance(**{**fields, **change})  # type: ignore[arg-type]
    imported_at = Provenance(**fields).imported_at  # type: ignore[arg-type]
    assert datetime.fromisoformat(imported_at).utcoffset() is not None


# --- bounding boxes -----------------------------------------------------------------------------


def test_bbox_keeps_the_features_whose_box_meets_it(
    store: Store, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> None:
    write(store, make_provenance, **layer_frames)
    query = (113.60, 34.83, 113.655, 34.87)
    for name, frame in layer_frames.items():
        bounds = frame.geometry.bounds
        meets = (
            (bounds.minx <= query[2])
            & (bounds.maxx >= query[0])
            & (bounds.miny <= query[3])
            & (bounds.maxy >= query[1])
        )
        expected = frame[meets.to_numpy()].reset_index(drop=True)
        assert_same_layer(store.read_layer(name, bbox=query), expected)
    roads = store.read_layer("roads", bbox=query)
    assert 0 < len(roads) < len(layer_frames["roads"])
    subdistricts = store.read_layer("subdistricts", bbox=(113.0, 34.0, 114.0, 35.0))
    assert subdistricts.geometry.notna().all()
    assert len(subdistricts) == layer_frames["subdistricts"].geometry.notna().sum()


def test_bbox_touching_a_corner_counts(
    store: Store, zones_frame: gpd.GeoDataFrame, make_provenance: MakeProvenance
) -> None:
    write(store, make_provenance, zones=zones_frame)
    _, _, maxx, maxy = zones_frame.geometry.iloc[0].bounds
    corner = store.read_layer("zones", bbox=(maxx, maxy, maxx + 1, maxy + 1))
    assert zones_frame["id"].iloc[0] in corner["id"].tolist()
    beyond = float(np.nextafter(zones_frame.total_bounds[2], np.inf))
    assert store.read_layer("zones", bbox=(beyond, 34.0, beyond + 1, 35.0)).empty


@pytest.mark.parametrize(
    "bbox", [(113.7, 34.8, 113.6, 34.9), (113.6, 34.9, 113.7, 34.8), (113.6, float("nan"), 1, 2)]
)
def test_bbox_must_be_min_then_max(tmp_path: Path, bbox: tuple[float, ...]) -> None:
    with Store.open(str(tmp_path / "x.sqlite")) as store, pytest.raises(ValueError, match="box"):
        store.read_layer("roads", bbox=bbox)  # type: ignore[arg-type]


# --- PostGIS ------------------------------------------------------------------------------------


@pytest.mark.postgis
def test_postgis_keeps_the_tables_in_the_schema_given(
    postgis_schema: tuple[str, str],
    roads_frame: gpd.GeoDataFrame,
    make_provenance: MakeProvenance,
) -> None:
    url, schema = postgis_schema
    with Store.open(url, schema=schema) as store:
        assert store.backend == "postgresql"
        write(store, make_provenance, roads=roads_frame)
        assert_same_layer(store.read_layer("roads", bbox=(113, 34, 114, 35)), roads_frame)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(
                connection.execute(
                    sa.text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": schema},
                ).scalars()
            )
            srid, kind = connection.execute(
                sa.text(
                    "SELECT srid, type FROM geometry_columns "
                    "WHERE f_table_schema = :s AND f_table_name = 'layer_roads'"
                ),
                {"s": schema},
            ).one()
            index = connection.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE schemaname = :s AND indexname = :i"),
                {"s": schema, "i": "ix_layer_roads_geom"},
            ).scalar_one()
    finally:
        engine.dispose()
    assert {"layer_roads", "layer_provenance", "schema_version"} <= tables
    assert (srid, kind) == (4326, "GEOMETRY")
    assert "gist" in index.lower()


@pytest.mark.postgis
def test_postgis_schema_must_exist(postgis_schema: tuple[str, str]) -> None:
    url, _ = postgis_schema
    with pytest.raises(StorageError, match="no schema 'missing_schema'"):
        Store.open(url, schema="missing_schema")


@pytest.mark.postgis
def test_a_database_without_postgis_is_explained(postgis_schema: tuple[str, str]) -> None:
    url, schema = postgis_schema
    # with only the empty schema on the search path, postgis_version() is not found
    hidden = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    with pytest.raises(PostGISMissingError, match="CREATE EXTENSION postgis"):
        Store.open(hidden.render_as_string(hide_password=False))


def test_unreachable_postgresql_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot open the database"):
        Store.open("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")


def test_storage_exports_its_errors() -> None:
    assert storage.StorageError is migrations.StorageError
    assert issubclass(PostGISMissingError, StorageError)
    assert issubclass(SchemaVersionError, StorageError)
