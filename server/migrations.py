"""The database schema of dutygrid and the numbered steps that bring a database up to it.

Each layer of :data:`geodata.layers.LAYERS` has a table ``layer_<name>``: ``id`` (text, primary
key), the spec's typed columns, ``attrs`` (JSON text) and the geometry. On PostgreSQL the geometry
is a PostGIS ``geometry(Geometry, 4326)`` column with a GiST index; on SQLite it is WKB in a BLOB
beside ``minx``, ``miny``, ``maxx`` and ``maxy`` columns that serve bounding-box queries. The
``layer_provenance`` table says where each layer came from, and ``schema_version`` records every
step applied. The service keeps its API tokens (``api_tokens``, only hashes of the secrets), browser
sessions (``api_sessions``) and an audit log of every write (``audit_log``). Rostering keeps the
duty policies (``duty_policies``), the staff (``staff``) and the rosters (``rosters``, with their
``roster_assignments``); the roster solves run as jobs (``jobs``).

A step is a :class:`Migration`: a version number, a description and a function that changes the
schema through the connection it is given. Steps are applied in order, each in its own
transaction. To change the schema, append a step to :data:`MIGRATIONS` (never edit an applied
one): :func:`create_layer_table` adds a layer, :func:`add_layer_column` adds a column to one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import UserDefinedType

from geodata.layers import Column, ColumnKind, LayerSpec

STORAGE_SRID: Final = 4326

WRITE_TRANSACTION: Final = "dutygrid_write"
"""Execution option that marks a connection whose transactions will write.

Engines opened by :mod:`server.storage` begin such transactions on SQLite with ``BEGIN IMMEDIATE``,
which takes the write lock at once: two writers then queue instead of one failing when it tries to
upgrade a read lock.
"""

BOUNDS_COLUMNS: Final = ("minx", "miny", "maxx", "maxy")
"""The bounding-box columns of SQLite layer tables."""

_FIXED_COLUMNS = frozenset({"id", "attrs", "geom", *BOUNDS_COLUMNS})

# 'dutygrid' in ASCII: the key of the PostgreSQL advisory lock that serialises migrations.
_PG_MIGRATION_LOCK: Final = 0x6475747967726964


class StorageError(RuntimeError):
    """A database that dutygrid cannot use as it is; the message says what to do."""


class SchemaVersionError(StorageError):
    """A database whose schema is newer than this version of dutygrid knows."""


class PostGISGeometry(UserDefinedType[bytes]):
    """A PostGIS geometry column in EPSG:4326, written and read as little-endian WKB."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        """Return the column's SQL type."""
        return f"geometry(Geometry, {STORAGE_SRID})"

    def bind_expression(self, bindvalue: sa.BindParameter[bytes]) -> sa.ColumnElement[bytes]:
        """Turn the WKB parameter into a geometry."""
        return sa.func.ST_GeomFromWKB(bindvalue, sa.literal_column(str(STORAGE_SRID)))

    def column_expression(self, colexpr: sa.ColumnElement[bytes]) -> sa.ColumnElement[bytes]:
        """Select the geometry as WKB."""
        return sa.func.ST_AsBinary(colexpr, sa.literal_column("'NDR'"), type_=sa.LargeBinary)


_SQL_TYPES: dict[ColumnKind, Callable[[], sa.types.TypeEngine[Any]]] = {
    "text": sa.Text,
    "integer": sa.BigInteger,
    "real": sa.Double,
    "boolean": sa.Boolean,
    "json": sa.Text,
}


def _sql_texts(*names: str, nullable: bool = True) -> list[sa.Column[Any]]:
    """Return text columns named ``names``, in that order; ``NOT NULL`` unless ``nullable``."""
    return [sa.Column(name, sa.Text, nullable=nullable) for name in names]


def _sql_required_texts(*names: str) -> list[sa.Column[Any]]:
    return _sql_texts(*names, nullable=False)


def layer_table_name(layer: str) -> str:
    """Return the name of the table that holds ``layer``."""
    return f"layer_{layer}"


def layer_table(spec: LayerSpec, metadata: sa.MetaData, *, dialect: str) -> sa.Table:
    """Return the table that holds the layer ``spec`` in a database of ``dialect``.

    Parameters
    ----------
    spec
        The layer.
    metadata
        The metadata the table joins.
    dialect
        ``"postgresql"`` or ``"sqlite"``: the geometry column and its index differ.

    Raises
    ------
    ValueError
        If a column of the spec has the name of a column every layer table has.
    """
    clashes = sorted(_FIXED_COLUMNS.intersection(c.name for c in spec.columns))
    if clashes:
        raise ValueError(f"layer {spec.name!r}: the column names {clashes} are reserved")
    name = layer_table_name(spec.name)
    columns: list[sa.Column[Any]] = [
        sa.Column("id", sa.Text, primary_key=True),
        *(sa.Column(c.name, _SQL_TYPES[c.kind](), nullable=c.nullable) for c in spec.columns),
        sa.Column("attrs", sa.Text, nullable=False),
    ]
    indexes: list[sa.Index]
    if dialect == "postgresql":
        columns.append(sa.Column("geom", PostGISGeometry(), nullable=spec.geometry_nullable))
        indexes = [sa.Index(f"ix_{name}_geom", "geom", postgresql_using="gist")]
    else:
        columns.append(sa.Column("geom", sa.LargeBinary, nullable=spec.geometry_nullable))
        columns.extend(sa.Column(b, sa.Double) for b in BOUNDS_COLUMNS)
        indexes = [
            sa.Index(f"ix_{name}_x", "minx", "maxx"),
            sa.Index(f"ix_{name}_y", "miny", "maxy"),
        ]
    return sa.Table(name, metadata, *columns, *indexes)


def provenance_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table that says where each layer came from (one row per layer)."""
    return sa.Table(
        "layer_provenance",
        metadata,
        sa.Column("layer", sa.Text, primary_key=True),
        *_sql_required_texts("source"),
        *_sql_texts("sha256"),
        *_sql_required_texts("source_crs", "coords"),
        sa.Column("feature_count", sa.BigInteger, nullable=False),
        *_sql_required_texts("imported_at", "note", "licence"),
    )


def reports_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of the latest report of each kind (topology, balance, …) as JSON text."""
    return sa.Table(
        "reports",
        metadata,
        sa.Column("kind", sa.Text, primary_key=True),
        *_sql_required_texts("created_at", "body"),
    )


def tokens_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of API tokens: who holds one, with which role; only a hash of the secret."""
    return sa.Table(
        "api_tokens",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        *_sql_required_texts("name", "role", "squads"),
        *_sql_texts("officer_id"),
        sa.Column("secret_sha256", sa.Text, nullable=False, unique=True),
        *_sql_required_texts("created_at", "created_by"),
        *_sql_texts("expires_at", "revoked_at", "last_used_at"),
    )


def sessions_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of browser sessions: a hash of the cookie value, and the token behind it."""
    return sa.Table(
        "api_sessions",
        metadata,
        sa.Column("id_sha256", sa.Text, primary_key=True),
        sa.Column("token_id", sa.Text, nullable=False, index=True),
        *_sql_required_texts("created_at", "expires_at"),
    )


def audit_table(metadata: sa.MetaData) -> sa.Table:
    """Return the audit log: one row per write, with who made it, when, and what changed."""
    return sa.Table(
        "audit_log",
        metadata,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        *_sql_required_texts("at"),
        *_sql_texts("token_id"),
        *_sql_required_texts("actor", "role", "method", "route", "action"),
        sa.Column("layer", sa.Text, index=True),
        *_sql_required_texts("summary"),
    )


def duty_policies_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of duty policies: one row per version, with its fingerprint and TOML."""
    return sa.Table(
        "duty_policies",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        *_sql_required_texts("fingerprint", "name", "created_at", "source", "toml"),
    )


def staff_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of the people who can be rostered; ``data`` holds the rest as JSON."""
    return sa.Table(
        "staff",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        *_sql_required_texts("name"),
        sa.Column("squad_id", sa.Text, index=True),
        *_sql_required_texts("role"),
        sa.Column("demo", sa.Boolean, nullable=False),
        *_sql_required_texts("data", "source", "imported_at"),
    )


def rosters_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of rosters: week, status, the policy they were made under, the report."""
    return sa.Table(
        "rosters",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("week", sa.Text, nullable=False, index=True),
        *_sql_required_texts("status"),
        sa.Column("policy_version", sa.Integer, nullable=False),
        *_sql_required_texts("policy_fingerprint", "created_at"),
        *_sql_texts("based_on"),
        *_sql_required_texts("report"),
        sa.Column("version", sa.Integer, nullable=False),
    )


def roster_assignments_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of roster assignments: the columns of :mod:`grids.roster`, per roster."""
    return sa.Table(
        "roster_assignments",
        metadata,
        sa.Column(
            "roster_id",
            sa.Text,
            sa.ForeignKey("rosters.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        *(sa.Column(name, sa.Text, primary_key=True) for name in ("officer_id", "date", "slot_id")),
        *_sql_required_texts("role"),
        *_sql_texts("squad_id"),
        *_sql_required_texts("start", "end"),
        *_sql_texts("post_id"),
        *_sql_required_texts("task"),
        *_sql_texts("requirement_id"),
        sa.Column("pinned", sa.Boolean, nullable=False),
    )


def jobs_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table of jobs (roster solves): what was asked, by whom, and how it went.

    ``state`` is ``queued``, ``running``, ``done``, ``failed`` or ``interrupted``; ``owner``
    names the process that runs a queued or running job and ``updated_at`` is its last sign of
    life, so that a job whose process has gone is known as interrupted. ``parameters``,
    ``notes``, ``progress``, ``result`` and ``problem`` are JSON text; ``roster_id`` is the
    roster a done solve stored and ``error`` why a job failed or was interrupted.
    """
    return sa.Table(
        "jobs",
        metadata,
        sa.Column("id", sa.Text, primary_key=True),
        *_sql_required_texts("kind"),
        sa.Column("state", sa.Text, nullable=False, index=True),
        *_sql_texts("week"),
        *_sql_required_texts("created_by"),
        *_sql_texts("token_id"),
        *_sql_required_texts("parameters", "notes"),
        sa.Column("created_at", sa.Text, nullable=False, index=True),
        *_sql_texts("started_at", "finished_at"),
        *_sql_required_texts("updated_at"),
        *_sql_texts("owner"),
        *_sql_required_texts("progress"),
        sa.Column("elapsed_s", sa.Double, nullable=False),
        *_sql_texts("roster_id", "result", "error", "problem"),
    )


def schema_version_table(metadata: sa.MetaData) -> sa.Table:
    """Return the table that records each migration applied."""
    return sa.Table(
        "schema_version",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        *_sql_required_texts("description", "applied_at"),
    )


def create_layer_table(connection: Connection, spec: LayerSpec) -> None:
    """Create the table (and its indexes) of the layer ``spec``, for use in a migration step.

    Pass a spec written out in the step itself rather than one from :data:`geodata.layers.LAYERS`,
    so that the step keeps creating the same table when the layer later gains columns.
    """
    layer_table(spec, sa.MetaData(), dialect=connection.dialect.name).create(connection)


def add_layer_column(
    connection: Connection, layer: str, column: Column, *, fill: Any = None
) -> None:
    """Add ``column`` to the table of ``layer``, for use in a migration step.

    Parameters
    ----------
    connection
        The connection of the migration step.
    layer
        The layer's name.
    column
        The new column.
    fill
        The value existing features get; it is also kept as the column's default. Needed when
        the column is not nullable.

    Raises
    ------
    ValueError
        If the column is not nullable and ``fill`` is None, or its name is reserved.
    """
    if column.name in _FIXED_COLUMNS:
        raise ValueError(f"the column name {column.name!r} is reserved")
    if not column.nullable and fill is None:
        raise ValueError(f"the new column {column.name!r} is not nullable: give a fill value")
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    sql_type = _SQL_TYPES[column.kind]()
    clause = f"{preparer.quote(column.name)} {sql_type.compile(dialect=dialect)}"
    if fill is not None:
        default = sa.literal(fill, sql_type).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}
        )
        clause += f" DEFAULT {default}"
    if not column.nullable:
        clause += " NOT NULL"
    table = preparer.quote(layer_table_name(layer))
    schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
    if schema is not None:
        table = f"{preparer.quote_schema(schema)}.{table}"
    connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {clause}")


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``apply`` changes it from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _texts(*names: str, nullable: bool = True) -> tuple[Column, ...]:
    """Return text layer columns named ``names``, in that order."""
    return tuple(Column(name, "text", nullable) for name in names)


def _required_texts(*names: str) -> tuple[Column, ...]:
    return _texts(*names, nullable=False)


def _flag(name: str) -> Column:
    return Column(name, "boolean", False)


# The layers as each step created them, written out so that the steps stay the same when
# geodata.layers changes (each change there comes with a step of its own).
_V1_LAYERS = (
    LayerSpec("boundary", "", "polygon", _texts("name_zh", "name_en", "code")),
    LayerSpec(
        "subdistricts",
        "",
        "polygon",
        (*_required_texts("code"), *_texts("name_zh", "name_en"), _flag("schematic")),
        geometry_nullable=True,
    ),
    LayerSpec(
        "communities",
        "",
        "polygon",
        (
            *_required_texts("code"),
            *_texts("name_zh", "subdistrict_code"),
            _flag("schematic"),
        ),
        geometry_nullable=True,
    ),
    LayerSpec(
        "roads",
        "",
        "line",
        (
            *_texts("name_zh", "name_en"),
            *_required_texts("road_class", "level"),
            Column("length_m", "real", False),
        ),
    ),
    LayerSpec(
        "guidance_points",
        "",
        "point",
        (
            *_texts("name_zh", "name_en", "road_name_zh", "windows"),
            Column("radius_m", "real", True),
        ),
    ),
    LayerSpec(
        "zones",
        "",
        "polygon",
        (*_texts("name_zh", "name_en"), *_required_texts("kind"), *_texts("squad_id")),
    ),
    LayerSpec(
        "squads",
        "",
        "polygon",
        _texts("name_zh", "name_en", "subdistrict_codes"),
        geometry_nullable=True,
    ),
)


def _create_layers_v1(connection: Connection) -> None:
    for spec in _V1_LAYERS:
        create_layer_table(connection, spec)
    provenance_table(sa.MetaData()).create(connection)


_V2_LAYERS = (
    LayerSpec(
        "unit_grids",
        "",
        "polygon",
        (
            *_required_texts("code"),
            *_texts("subdistrict_code", "community_code"),
            Column("area_m2", "real", False),
            *_required_texts("mode"),
            *_texts("squad_id"),
        ),
    ),
    LayerSpec(
        "responsibility_grids",
        "",
        "polygon",
        (
            *_required_texts("squad_id"),
            *_texts("name_zh"),
            Column("workload", "real", False),
            Column("unit_grid_count", "integer", False),
        ),
    ),
    LayerSpec(
        "posts",
        "",
        "line_or_point",
        (
            *_required_texts("kind"),
            *_texts("road_id", "road_name_zh"),
            *_required_texts("level"),
            Column("length_m", "real", False),
            Column("radius_m", "real", True),
            *_texts("unit_grid_codes", "squad_id", "windows"),
        ),
    ),
)


def _create_layers_v2(connection: Connection) -> None:
    for spec in _V2_LAYERS:
        create_layer_table(connection, spec)


def _create_access_tables_v3(connection: Connection) -> None:
    metadata = sa.MetaData()
    for table in (tokens_table(metadata), sessions_table(metadata), audit_table(metadata)):
        table.create(connection)


def _create_reports_v4(connection: Connection) -> None:
    reports_table(sa.MetaData()).create(connection)


def _create_roster_tables_v5(connection: Connection) -> None:
    metadata = sa.MetaData()
    for table in (
        duty_policies_table(metadata),
        staff_table(metadata),
        rosters_table(metadata),
        roster_assignments_table(metadata),
    ):
        table.create(connection)


def _create_jobs_v6(connection: Connection) -> None:
    jobs_table(sa.MetaData()).create(connection)


MIGRATIONS: list[Migration] = [
    Migration(1, "create the layer tables and layer_provenance", _create_layers_v1),
    Migration(2, "create the unit_grids, responsibility_grids and posts tables", _create_layers_v2),
    Migration(
        3, "create the api_tokens, api_sessions and audit_log tables", _create_access_tables_v3
    ),
    Migration(4, "create the reports table", _create_reports_v4),
    Migration(
        5,
        "create the duty_policies, staff, rosters and roster_assignments tables",
        _create_roster_tables_v5,
    ),
    Migration(6, "create the jobs table", _create_jobs_v6),
]
"""Every step, in order, numbered from 1 without gaps."""


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _checked_steps() -> list[Migration]:
    steps = list(MIGRATIONS)
    numbers = [step.version for step in steps]
    if numbers != list(range(1, len(steps) + 1)):
        raise SchemaVersionError(f"migrations must be numbered 1, 2, 3, … in order; got {numbers}")
    return steps


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))


def _applied_version(connection: Connection, versions: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.max(versions.c.version))).scalar() or 0)


def latest_version() -> int:
    """Return the version the steps of :data:`MIGRATIONS` lead to."""
    return len(_checked_steps())


def applied_version(connection: Connection) -> int:
    """Return the version of the database, 0 if no step has been applied.

    Raises
    ------
    sqlalchemy.exc.DBAPIError
        If the database has no ``schema_version`` table.
    """
    return _applied_version(connection, schema_version_table(sa.MetaData()))


def _check_not_newer(version: int, latest: int) -> None:
    if version > latest:
        raise SchemaVersionError(
            f"the database has schema version {version}, but this version of dutygrid knows "
            f"versions up to {latest}: upgrade dutygrid to use this database"
        )


def upgrade(engine: Engine) -> int:
    """Apply every step the database lacks, each in its own transaction.

    Several processes may start on the same database at once: each step is taken under a lock
    (an advisory lock on PostgreSQL, the write lock on SQLite) and skipped if another process
    has applied it meanwhile.

    Parameters
    ----------
    engine
        An engine opened by :mod:`server.storage`.

    Returns
    -------
    int
        The version the database is at.

    Raises
    ------
    SchemaVersionError
        If the database is newer than the steps this code knows, or the steps are misnumbered.
    """
    steps = _checked_steps()
    latest = len(steps)
    versions = schema_version_table(sa.MetaData())
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_TRANSACTION: True})
        with connection.begin():
            _lock(connection)
            versions.create(connection, checkfirst=True)
            version = _applied_version(connection, versions)
        _check_not_newer(version, latest)
        for step in steps[version:]:
            with connection.begin():
                _lock(connection)
                version = _applied_version(connection, versions)
                _check_not_newer(version, latest)
                if step.version <= version:
                    continue
                step.apply(connection)
                connection.execute(
                    versions.insert().values(
                        version=step.version, description=step.description, applied_at=_utc_now()
                    )
                )
                version = step.version
    return version
