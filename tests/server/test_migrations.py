from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pytest
import sqlalchemy as sa
from geopandas.testing import assert_geodataframe_equal

from geodata.layers import LAYERS, Column, LayerSpec
from server import migrations
from server._frames import frame_to_rows
from server.migrations import Migration, add_layer_column, create_layer_table
from server.storage import Provenance, SchemaVersionError, StorageError, Store, database_url

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(database_url(url))


def write(store: Store, make_provenance: MakeProvenance, **frames: gpd.GeoDataFrame) -> None:
    store.write_layers(
        frames, provenance={name: make_provenance(name, frame) for name, frame in frames.items()}
    )


def assert_same_layer(read: gpd.GeoDataFrame, expected: gpd.GeoDataFrame) -> None:
    assert_geodataframe_equal(read, expected, check_less_precise=False)


def test_a_version_1_database_is_upgraded_and_keeps_its_data(
    store_url: str, roads_frame: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database made before the later steps existed, with roads in it
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    engine = engine_of(store_url)
    try:
        assert migrations.upgrade(engine) == 1
        spec = LAYERS["roads"]
        table = migrations.layer_table(spec, sa.MetaData(), dialect=engine.dialect.name)
        rows = frame_to_rows(roads_frame, spec, with_bounds=engine.dialect.name == "sqlite")
        with engine.begin() as connection:
            connection.execute(table.insert(), rows)
    finally:
        engine.dispose()
    monkeypatch.undo()
    with Store.open(store_url) as store:
        assert store.schema_version() == migrations.latest_version() > 1
        assert_same_layer(store.read_layer("roads"), roads_frame)
        assert store.layer_counts() == {
            name: len(roads_frame) if name == "roads" else 0 for name in LAYERS
        }


def test_a_new_step_upgrades_the_database_and_keeps_its_data(
    store_url: str,
    roads_frame: gpd.GeoDataFrame,
    make_provenance: MakeProvenance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps = list(migrations.MIGRATIONS)
    latest = len(steps)
    with Store.open(store_url) as store:
        write(store, make_provenance, roads=roads_frame)
        assert store.schema_version() == latest

    parks = LayerSpec("parks", "Parks", "polygon", (Column("name_zh", "text"),))

    def add_parks_and_speeds(connection: sa.Connection) -> None:
        create_layer_table(connection, parks)
        add_layer_column(connection, "roads", Column("speed_kmh", "integer", False), fill=30)

    new_step = Migration(latest + 1, "add parks and road speeds", add_parks_and_speeds)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*steps, new_step])
    with Store.open(store_url) as store:
        assert store.schema_version() == latest + 1
        assert_same_layer(store.read_layer("roads"), roads_frame)
        assert store.layer_provenance() == [make_provenance("roads", roads_frame)]
        write(store, make_provenance, roads=roads_frame.iloc[:2])

    engine = engine_of(store_url)
    try:
        with engine.connect() as connection:
            speeds = connection.execute(sa.text("SELECT speed_kmh FROM layer_roads")).scalars()
            assert list(speeds) == [30, 30]
            assert connection.execute(sa.text("SELECT count(*) FROM layer_parks")).scalar() == 0
            applied = connection.execute(
                sa.text("SELECT version, description, applied_at FROM schema_version ORDER BY 1")
            ).all()
    finally:
        engine.dispose()
    expected = [(step.version, step.description) for step in [*steps, new_step]]
    assert [(v, d) for v, d, _ in applied] == expected
    assert all(datetime.fromisoformat(at).utcoffset() is not None for _, _, at in applied)


def test_a_failed_step_is_rolled_back(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = list(migrations.MIGRATIONS)
    Store.open(store_url).close()

    def half_done(connection: sa.Connection) -> None:
        create_layer_table(connection, LayerSpec("parks", "Parks", "polygon"))
        raise RuntimeError("the step has a bug")

    broken = Migration(len(steps) + 1, "broken", half_done)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*steps, broken])
    with pytest.raises(RuntimeError, match="has a bug"):
        Store.open(store_url)
    monkeypatch.setattr(migrations, "MIGRATIONS", steps)
    with Store.open(store_url) as store:
        assert store.schema_version() == len(steps)
    engine = engine_of(store_url)
    try:
        assert "layer_parks" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_newer_database_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    latest = migrations.latest_version()
    engine = engine_of(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO schema_version VALUES (:v, 'from the future', '2099-01-01')"),
                {"v": latest + 1},
            )
    finally:
        engine.dispose()
    with pytest.raises(SchemaVersionError, match=f"version {latest + 1}.* up to {latest}"):
        Store.open(store_url)


def test_misnumbered_steps_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = migrations.MIGRATIONS[0]
    monkeypatch.setattr(migrations, "MIGRATIONS", [first, Migration(3, "gap", lambda c: None)])
    with pytest.raises(SchemaVersionError, match="numbered"):
        Store.open(str(tmp_path / "x.sqlite"))


def test_a_spec_column_without_a_migration_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roads = LAYERS["roads"]
    wider = LayerSpec(
        roads.name, roads.title, roads.geometry, (*roads.columns, Column("lanes", "integer"))
    )
    monkeypatch.setitem(LAYERS, "roads", wider)
    with pytest.raises(StorageError, match=r"lacks the column 'lanes'.*needs a step"):
        Store.open(str(tmp_path / "x.sqlite"))


def test_the_tables_have_the_columns_of_the_specs(store_url: str) -> None:
    with Store.open(store_url) as store:
        backend = store.backend
    extra = ["geom", *(migrations.BOUNDS_COLUMNS if backend == "sqlite" else ())]
    engine = engine_of(store_url)
    try:
        with engine.connect() as connection:
            for name, spec in LAYERS.items():
                query = sa.text(f"SELECT * FROM layer_{name} LIMIT 0")
                assert list(connection.execute(query).keys()) == [*spec.column_names, *extra]
    finally:
        engine.dispose()


def test_a_reserved_column_name_is_refused() -> None:
    spec = LayerSpec("odd", "Odd", "point", (Column("minx", "real"),))
    with pytest.raises(ValueError, match="reserved"):
        migrations.layer_table(spec, sa.MetaData(), dialect="sqlite")
