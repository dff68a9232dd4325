"""Where layers are kept: a SQLite file by default, PostgreSQL with PostGIS when configured.

:class:`Store` writes and reads the layers of :data:`geodata.layers.LAYERS` (see
:mod:`server.migrations` for the tables). What is written is read back unchanged, on both back
ends: the same doubles, text, booleans, attrs and geometries (see :mod:`server._frames` for the
dtypes a layer is read with).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, get_args

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from geodata.coords import CoordSystem
from geodata.layers import LAYERS, LayerSpec, layer_spec
from server._frames import dump_json, frame_from_rows, frame_to_rows
from server.migrations import (
    STORAGE_SRID,
    WRITE_TRANSACTION,
    SchemaVersionError,
    StorageError,
    applied_version,
    layer_table,
    provenance_table,
    reports_table,
    upgrade,
)

__all__ = [
    "PostGISMissingError",
    "Provenance",
    "SchemaVersionError",
    "StorageError",
    "Store",
    "database_url",
]

_INSERT_BATCH: Final = 10_000
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PostGISMissingError(StorageError):
    """A PostgreSQL database without the PostGIS extension."""


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Provenance:
    """Where the content of a layer came from.

    Parameters
    ----------
    layer
        The layer's name.
    source
        The file name it was imported from, or ``"bundled:huiji"`` for the bundled data.
    sha256
        The SHA-256 of the source file (lowercase hex), None where there is no file.
    source_crs
        The CRS the source was in, e.g. ``"EPSG:4547"``.
    coords
        The offset of the source's longitudes/latitudes: ``wgs84`` (none), ``gcj02`` or ``bd09``.
    feature_count
        The number of features written.
    imported_at
        When, as a UTC ISO 8601 time; now by default.
    note
        A remark such as ``"schematic"``.
    licence
        The licence of the source and the credit it asks for.
    """

    layer: str
    source: str
    sha256: str | None
    source_crs: str
    coords: CoordSystem
    feature_count: int
    imported_at: str = field(default_factory=_utc_now)
    note: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if self.coords not in get_args(CoordSystem):
            raise ValueError(f"coords must be one of {get_args(CoordSystem)}, not {self.coords!r}")
        if self.feature_count < 0:
            raise ValueError(f"feature_count must not be negative, not {self.feature_count}")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, not {self.sha256!r}")


def database_url(db: str) -> str:
    """Return the SQLAlchemy URL of a ``--db`` value.

    Parameters
    ----------
    db
        A SQLite file path (made absolute), or a URL: ``sqlite:///…`` or ``postgresql://…``
        (which gets the psycopg 3 driver).

    Raises
    ------
    ValueError
        If ``db`` is empty or not a valid URL.
    """
    text = db.strip()
    if not text:
        raise ValueError("no database given: pass a SQLite file path or a database URL")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    try:
        url = make_url(text)
    except sa.exc.ArgumentError as exc:
        raise ValueError(f"not a database URL: {text!r}") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _sqlite_engine(url: URL, *, create: bool) -> Engine:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ValueError("give SQLite a file: in-memory databases are not supported")
    path = Path(url.database)
    if not path.exists():
        if not create:
            raise StorageError(f"no database at {path}: nothing has been imported yet")
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)

    # pysqlite would start transactions itself, and not before DDL; let SQLAlchemy begin them,
    # so that migrations are transactional and writers take the write lock at once.
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # write-ahead log: readers (the service's pages, maps) neither wait for a writer nor
        # make it wait; NORMAL sync is durable across a crash of the process in that mode
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _check_postgres(engine: Engine, schema: str | None, safe_url: str) -> None:
    with engine.connect() as connection:
        try:
            connection.execute(sa.text("SELECT postgis_version()"))
        except sa.exc.ProgrammingError as exc:
            raise PostGISMissingError(
                f"the database {safe_url} has no PostGIS (SELECT postgis_version() failed: "
                f"{str(exc.orig).strip()}). Ask its administrator to run CREATE EXTENSION postgis "
                "in it, and check that the extension's schema is on the search_path"
            ) from exc
        if schema is not None:
            found = connection.execute(
                sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}
            ).first()
            if found is None:
                raise StorageError(
                    f"the database {safe_url} has no schema {schema!r}: create it first"
                )


class Store:
    """The layers of one database.

    Open it with :meth:`Store.open` (as a context manager, or call :meth:`close`). It may be shared
    between threads.
    """

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        """Wrap an engine whose database is up to date; use :meth:`Store.open` instead."""
        self._engine = engine
        self._schema = schema
        self._backend = engine.dialect.name
        metadata = sa.MetaData()
        self._layers = {
            name: layer_table(spec, metadata, dialect=self._backend)
            for name, spec in LAYERS.items()
        }
        self._provenance = provenance_table(metadata)
        self._reports = reports_table(metadata)

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, create: bool = True) -> Store:
        """Connect to a database and bring its schema up to date.

        Parameters
        ----------
        url
            A SQLite file path or a database URL (see :func:`database_url`).
        schema
            The PostgreSQL schema to keep the tables in (it must exist); by default the first one
            on the search path.
        create
            Whether to create the database (a SQLite file, or the tables) where there is none.

        Raises
        ------
        StorageError
            If the database cannot be reached, does not exist and ``create`` is false, or its
            tables lack columns the layers need.
        PostGISMissingError
            If a PostgreSQL database lacks the PostGIS extension.
        SchemaVersionError
            If the database is newer than this version of dutygrid.
        ValueError
            If the URL is not SQLite or PostgreSQL, or a schema is given for SQLite.
        """
        parsed = make_url(database_url(url))
        safe_url = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if schema is not None:
                raise ValueError("schemas are for PostgreSQL; give SQLite a file of its own")
            engine = _sqlite_engine(parsed, create=create)
        elif backend == "postgresql":
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        else:
            raise ValueError(f"unsupported database {safe_url}: use a SQLite file or PostgreSQL")
        store_engine = engine
        if schema is not None:
            store_engine = engine.execution_options(schema_translate_map={None: schema})
        try:
            try:
                if backend == "postgresql":
                    _check_postgres(engine, schema, safe_url)
                with store_engine.connect() as connection:
                    initialised = sa.inspect(connection).has_table("schema_version", schema=schema)
            except sa.exc.OperationalError as exc:
                raise StorageError(f"cannot open the database {safe_url}: {exc.orig}") from exc
            except sa.exc.DatabaseError as exc:
                raise StorageError(f"{safe_url} is not a database: {exc.orig}") from exc
            if not initialised and not create:
                raise StorageError(f"{safe_url} holds no dutygrid data: nothing has been imported")
            upgrade(store_engine)
            store = cls(store_engine, schema=schema)
            store._check_tables()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Close every connection of the store."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """Return the database kind: ``"sqlite"`` or ``"postgresql"``."""
        return self._backend

    def _check_tables(self) -> None:
        with self._engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names(schema=self._schema))
            for name, spec in LAYERS.items():
                table = self._layers[name]
                if table.name not in tables:
                    raise StorageError(
                        f"the database has no table {table.name} for the layer {name!r}: "
                        "server/migrations.py needs a step that creates it"
                    )
                query = sa.select(sa.text("*")).select_from(table).limit(0)
                present = set(connection.execute(query).keys())
                missing = [c for c in spec.column_names if c not in present]
                if missing:
                    raise StorageError(
                        f"the table {table.name} lacks the column {missing[0]!r} of the layer "
                        f"{name!r}: server/migrations.py needs a step that adds it"
                    )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Yield a connection in a write transaction, committed when the block ends.

        If the block raises, nothing it wrote is kept. On SQLite the transaction holds the write
        lock from its start, so that concurrent writers queue. Pass the connection to
        :meth:`write_layers` to write layers together with other rows (an audit record).
        """
        with self._engine.connect() as connection:
            connection.execution_options(**{WRITE_TRANSACTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Yield a connection for reading, in a transaction that ends with the block."""
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def write_layers(
        self,
        layers: Mapping[str, gpd.GeoDataFrame],
        *,
        provenance: Mapping[str, Provenance],
        reports: Mapping[str, Mapping[str, Any]] | None = None,
        connection: Connection | None = None,
    ) -> None:
        """Replace the content of each named layer, all in one transaction.

        Every layer is checked before anything is written; if any write fails, no layer changes.

        Parameters
        ----------
        layers
            The new content of each layer, by name (see :func:`server._frames.frame_to_rows` for
            what a layer must be).
        provenance
            Where each layer came from, by name: exactly the layers written.
        reports
            Reports about the layers (JSON-ready mappings) by kind, written in the same
            transaction; each replaces the previous report of its kind.
        connection
            A connection from :meth:`transaction` to write in; by default the layers are written
            in a transaction of their own.

        Raises
        ------
        KeyError
            If a layer name is unknown.
        ValueError
            If the provenance does not match the layers (a missing or extra entry, another layer
            name or feature count).
        geodata.errors.GeodataError
            If a layer is not what its spec says (a ``FieldError``, ``DuplicateIdError``,
            ``InvalidGeometryError``, ``MissingCRSError`` or ``CoordinateError``, all of them
            ``ValueError``).
        """
        extra = sorted(set(provenance) - set(layers))
        if extra:
            raise ValueError(f"provenance given for layers not written: {', '.join(extra)}")
        prepared = []
        for name, frame in layers.items():
            spec = layer_spec(name)
            record = provenance.get(name)
            if record is None:
                raise ValueError(f"no provenance given for the layer {name!r}")
            if record.layer != name or record.feature_count != len(frame):
                raise ValueError(
                    f"the provenance of {name!r} is for the layer {record.layer!r} with "
                    f"{record.feature_count} features, not {len(frame)}"
                )
            rows = frame_to_rows(frame, spec, with_bounds=self._backend == "sqlite")
            prepared.append((spec, rows, record))
        documents = {kind: dump_json(body) for kind, body in (reports or {}).items()}
        if connection is not None:
            for spec, rows, record in prepared:
                self._replace_layer(connection, spec, rows, record)
            self._replace_reports(connection, documents)
            return
        with self.transaction() as own:
            for spec, rows, record in prepared:
                self._replace_layer(own, spec, rows, record)
            self._replace_reports(own, documents)

    def _replace_reports(self, connection: Connection, documents: Mapping[str, str]) -> None:
        table = self._reports
        for kind, body in documents.items():
            connection.execute(table.delete().where(table.c.kind == kind))
            connection.execute(table.insert().values(kind=kind, created_at=_utc_now(), body=body))

    def read_report(self, kind: str) -> dict[str, Any] | None:
        """Return the latest report of ``kind`` with its ``created_at``; None if there is none."""
        table = self._reports
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(table).where(table.c.kind == kind)).first()
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row.body)
        return {**body, "created_at": row.created_at}

    def _replace_layer(
        self,
        connection: Connection,
        spec: LayerSpec,
        rows: list[dict[str, Any]],
        record: Provenance,
    ) -> None:
        table = self._layers[spec.name]
        connection.execute(table.delete())
        insert = table.insert()
        for start in range(0, len(rows), _INSERT_BATCH):
            connection.execute(insert, rows[start : start + _INSERT_BATCH])
        provenance = self._provenance
        connection.execute(provenance.delete().where(provenance.c.layer == spec.name))
        connection.execute(provenance.insert().values(**record.__dict__))

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        ids: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> gpd.GeoDataFrame:
        """Return a layer, or a page of it, ordered by id.

        Parameters
        ----------
        name
            The layer's name.
        bbox
            ``(min lon, min lat, max lon, max lat)``: keep only the features whose bounding box
            meets it (features without a geometry are left out).
        ids
            Keep only the features with these ids.
        limit
            Return at most this many features (after ``offset``); None for all.
        offset
            Skip this many features first, in id order.

        Returns
        -------
        geopandas.GeoDataFrame
            In EPSG:4326, with the columns ``spec.column_names`` and ``geometry``, in that order,
            and a default index; ``attrs`` holds dicts. Ids are ordered by code point.

        Raises
        ------
        KeyError
            If there is no such layer.
        ValueError
            If the box is not four finite numbers with min ≤ max, ``limit`` is negative or
            ``offset`` is negative.
        """
        spec = layer_spec(name)
        table = self._layers[name]
        order = table.c.id.collate("C") if self._backend == "postgresql" else table.c.id
        query = sa.select(*(table.c[c] for c in spec.column_names), table.c.geom).order_by(order)
        if bbox is not None:
            query = query.where(self._bbox_clause(table, bbox))
        if ids is not None:
            query = query.where(table.c.id.in_(list(ids)))
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError(f"limit and offset must not be negative, not {limit} and {offset}")
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return frame_from_rows(rows, spec)

    def _bbox_clause(
        self, table: sa.Table, bbox: tuple[float, float, float, float]
    ) -> sa.ColumnElement[bool]:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            raise ValueError(f"the box {bbox} has a coordinate that is not a finite number")
        if minx > maxx or miny > maxy:
            raise ValueError(f"the box {bbox} is not (min lon, min lat, max lon, max lat)")
        if self._backend == "postgresql":
            envelope = sa.func.ST_MakeEnvelope(
                minx, miny, maxx, maxy, sa.literal_column(str(STORAGE_SRID))
            )
            # && compares boxes rounded outwards to single precision; the exact bounds refine it
            # so that both back ends return the same features.
            geom = table.c.geom
            return sa.and_(
                geom.bool_op("&&")(envelope),
                sa.func.ST_XMin(geom) <= maxx,
                sa.func.ST_XMax(geom) >= minx,
                sa.func.ST_YMin(geom) <= maxy,
                sa.func.ST_YMax(geom) >= miny,
            )
        c = table.c
        return sa.and_(c.minx <= maxx, c.maxx >= minx, c.miny <= maxy, c.maxy >= miny)

    def layer_extent(self, name: str) -> tuple[float, float, float, float] | None:
        """Return ``(min lon, min lat, max lon, max lat)`` of a layer, None if it has no geometry.

        Raises
        ------
        KeyError
            If there is no such layer.
        """
        layer_spec(name)
        table = self._layers[name]
        c = table.c
        if self._backend == "postgresql":
            # ST_Extent would use the boxes cached in the geometries, rounded outwards to single
            # precision; these are the exact bounds, as on SQLite
            geom = c.geom
            query = sa.select(
                sa.func.min(sa.func.ST_XMin(geom)),
                sa.func.min(sa.func.ST_YMin(geom)),
                sa.func.max(sa.func.ST_XMax(geom)),
                sa.func.max(sa.func.ST_YMax(geom)),
            )
        else:
            query = sa.select(
                sa.func.min(c.minx), sa.func.min(c.miny), sa.func.max(c.maxx), sa.func.max(c.maxy)
            )
        with self._engine.connect() as connection:
            row = connection.execute(query).one()
        if any(value is None for value in row):
            return None
        minx, miny, maxx, maxy = (float(value) for value in row)
        return minx, miny, maxx, maxy

    def layer_counts(self) -> dict[str, int]:
        """Return the number of features of every layer (0 where none has been written)."""
        with self._engine.connect() as connection:
            return {
                name: int(
                    connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                )
                for name, table in self._layers.items()
            }

    def layer_provenance(self) -> list[Provenance]:
        """Return where each layer written came from, ordered by layer name."""
        table = self._provenance
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.layer)).mappings().all()
        return [Provenance(**row) for row in rows]

    def schema_version(self) -> int:
        """Return the version of the database schema."""
        with self._engine.connect() as connection:
            return applied_version(connection)
