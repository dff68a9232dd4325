"""The ``dutygrid`` command line.

Every command takes ``--json`` for scripts: it then prints one JSON document on standard output (and
nothing else), ``{"ok": true, ...}`` or ``{"ok": false, "error": {...}}``. Without it, results are
printed for people, with progress bars on standard error for long work. Errors a user can fix exit
with status 2 and a message naming the file, row and field; they never print a traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import geopandas as gpd
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from geodata.coords import CoordSystem
from geodata.errors import GeodataError, GeodataWarning
from geodata.export import export_layer
from geodata.huiji import bundled_note, load_huiji
from geodata.imports import ImportedLayer, ImportOptions, file_sha256, import_layer
from geodata.layers import LAYERS, layer_spec
from geodata.roads import RoadMapping, road_mapping_from_toml
from grids.errors import GridsError
from server.report import database_report
from server.settings import Settings
from server.storage import Provenance, StorageError, Store, database_url

app = typer.Typer(
    name="dutygrid",
    help="dutygrid: unit grids, fixed posts, duty rosters and coverage maps for city management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite file or database URL (default: $DUTYGRID_DATABASE_URL, else dutygrid.sqlite)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document for scripts")]
CrsOption = Annotated[
    str | None, typer.Option("--crs", help="CRS of files that do not name one, e.g. EPSG:4547")
]
CoordsOption = Annotated[
    str,
    typer.Option(
        "--coords", help="offset of lon/lat data: wgs84 (none), gcj02 (Amap, Tencent), bd09 (Baidu)"
    ),
]
EncodingOption = Annotated[
    str | None, typer.Option("--encoding", help="attribute text encoding, e.g. gbk")
]
MappingOption = Annotated[
    Path | None,
    typer.Option("--mapping", help="TOML file mapping road classes and levels", exists=False),
]

_COORDS: tuple[CoordSystem, ...] = ("wgs84", "gcj02", "bd09")


class Output:
    """Where a command's results go: people (rich) or scripts (one JSON document)."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(stderr=False, highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        """Note a warning: printed now for people, listed in the JSON document for scripts."""
        self.warnings.append(message)
        if not self.as_json:
            self.errors.print(f"[yellow]warning:[/yellow] {message}", markup=True)

    def done(self, result: dict[str, Any], text: Callable[[], None]) -> None:
        """Print the result: ``text()`` for people, ``result`` as JSON for scripts."""
        if self.as_json:
            document = {"ok": True, **result, "warnings": self.warnings}
            sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
        else:
            text()

    def fail(self, error: dict[str, Any], message: str) -> NoReturn:
        """Report a user error and exit with status 2."""
        if self.as_json:
            document = {"ok": False, "error": error, "warnings": self.warnings}
            sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
        else:
            self.errors.print(f"[red]error:[/red] {message}", markup=True)
        raise typer.Exit(2)

    @contextmanager
    def progress(self, total: int) -> Iterator[Callable[[str], None]]:
        """Show a progress bar over ``total`` steps; yields ``step(description)``."""
        if self.as_json:
            yield lambda _description: None
            return
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.errors, transient=True) as bar:
            task = bar.add_task("starting", total=total)
            started = False

            def step(description: str) -> None:
                nonlocal started
                if started:
                    bar.advance(task)
                started = True
                bar.update(task, description=description)

            yield step
            bar.advance(task)


@contextmanager
def user_errors(out: Output) -> Iterator[None]:
    """Turn the errors a user can fix into a message and exit status 2, and show warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeodataWarning)
        try:
            yield
        except GeodataError as exc:
            _flush_warnings(out, caught)
            out.fail(exc.to_dict(), str(exc))
        except GridsError as exc:
            _flush_warnings(out, caught)
            out.fail(exc.to_dict(), str(exc))
        except StorageError as exc:
            _flush_warnings(out, caught)
            out.fail({"error": type(exc).__name__, "message": str(exc)}, str(exc))
        except KeyError as exc:  # unknown layer names
            _flush_warnings(out, caught)
            message = str(exc.args[0]) if exc.args else str(exc)
            out.fail({"error": "UnknownLayer", "message": message}, message)
    _flush_warnings(out, caught)


def _flush_warnings(out: Output, caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        if issubclass(item.category, GeodataWarning):
            out.warn(str(item.message))
    caught.clear()


def settings_for(db: str | None) -> Settings:
    """Return the settings, with ``--db`` (when given) as the database."""
    return Settings.model_validate({"database_url": db}) if db else Settings()


@contextmanager
def existing_store(out: Output, db: str | None) -> Iterator[Store]:
    """Open an existing database (``--db``) for a command, inside :func:`user_errors`."""
    settings = settings_for(db)
    with user_errors(out), Store.open(database_url(settings.database_url), create=False) as store:
        yield store


def _coords(value: str, out: Output) -> CoordSystem:
    for name in _COORDS:
        if value.lower() == name:
            return name
    return out.fail(
        {"error": "FieldError", "field": "coords", "message": f"unknown --coords {value!r}"},
        f"unknown --coords {value!r}; use one of {', '.join(_COORDS)}",
    )


def _mapping(path: Path | None, base: RoadMapping | None = None) -> RoadMapping | None:
    return road_mapping_from_toml(path, base) if path else base


def now_utc() -> str:
    """Return the time now in UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def provenance_of(imported: ImportedLayer, *, note: str = "", licence: str = "") -> Provenance:
    """Return the provenance record of an imported layer."""
    return Provenance(
        layer=imported.layer,
        source=imported.file,
        sha256=imported.sha256,
        source_crs=imported.source_crs,
        coords=imported.coords,
        feature_count=len(imported.frame),
        imported_at=now_utc(),
        note=note,
        licence=licence,
    )


def boundary_from_roads(roads: gpd.GeoDataFrame, *, file: str) -> gpd.GeoDataFrame:
    """Return a boundary for roads given without one: their convex hull, 100 m wider.

    Parameters
    ----------
    roads
        The roads layer, EPSG:4326.
    file
        The roads file, named in the boundary's ``name_en``.
    """
    metric = roads.estimate_utm_crs()
    hull = roads.to_crs(metric).union_all().convex_hull.buffer(100.0)
    outline = gpd.GeoSeries([hull], crs=metric).to_crs("EPSG:4326")
    return gpd.GeoDataFrame(
        {
            "id": ["extent"],
            "name_zh": ["道路范围"],
            "name_en": [f"extent of {file}"],
            "code": [None],
            "attrs": [{"derived_from": file}],
        },
        geometry=outline.to_numpy(),
        crs="EPSG:4326",
    )


@app.command("init")
def init_command(
    db: DbOption = None,
    roads: Annotated[Path | None, typer.Option(help="roads file (default: bundled Huiji)")] = None,
    boundary: Annotated[Path | None, typer.Option(help="district boundary file")] = None,
    crs: CrsOption = None,
    coords: CoordsOption = "wgs84",
    encoding: EncodingOption = None,
    mapping: MappingOption = None,
    force: Annotated[bool, typer.Option("--force", help="replace a database's layers")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a database and fill it: the bundled Huiji data, or your roads and boundary."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    with user_errors(out):
        if boundary is not None and roads is None:
            out.fail(
                {"error": "UsageError", "message": "--boundary needs --roads"},
                "--boundary needs --roads (without files, init loads the bundled Huiji data)",
            )
        with out.progress(4 if roads else 3) as step:
            step("reading files")
            if roads is None:
                imported = load_huiji()
                provenance = {
                    name: provenance_of(
                        layer, note=bundled_note(name)[0], licence=bundled_note(name)[1]
                    )
                    for name, layer in imported.items()
                }
            else:
                options = ImportOptions(
                    crs=crs,
                    coords=_coords(coords, out),
                    encoding=encoding,
                    max_bytes=settings.max_upload_bytes,
                    mapping=_mapping(mapping),
                )
                imported, provenance = _import_user_files(roads, boundary, options, step)
            step("opening the database")
            with Store.open(database_url(settings.database_url)) as store:
                existing = {k: n for k, n in store.layer_counts().items() if n}
                if existing and not force:
                    out.fail(
                        {"error": "DatabaseNotEmpty", "layers": existing},
                        f"the database already holds {', '.join(existing)}; "
                        "use --force to replace them, or `dutygrid import` to replace one layer",
                    )
                step("writing layers")
                store.write_layers(
                    {name: layer.frame for name, layer in imported.items()},
                    provenance=provenance,
                )
                counts = store.layer_counts()
    url = database_url(settings.database_url)

    def text() -> None:
        out.console.print(f"initialised {_safe_url(url)}")
        for name, count in counts.items():
            if count:
                out.console.print(f"  {name:<16} {count:>7} features")

    out.done({"database": _safe_url(url), "layers": counts}, text)


def _import_user_files(
    roads: Path,
    boundary: Path | None,
    options: ImportOptions,
    step: Callable[[str], None],
) -> tuple[dict[str, ImportedLayer], dict[str, Provenance]]:
    imported: dict[str, ImportedLayer] = {}
    if boundary is not None:
        imported["boundary"] = import_layer(boundary, "boundary", options)
        bounds = tuple(float(v) for v in imported["boundary"].frame.total_bounds)
        options = ImportOptions(**{**asdict(options), "expected_bounds": bounds})
    step("checking roads")
    imported["roads"] = import_layer(roads, "roads", options)
    provenance = {name: provenance_of(layer) for name, layer in imported.items()}
    if boundary is None:
        frame = boundary_from_roads(imported["roads"].frame, file=roads.name)
        provenance["boundary"] = Provenance(
            layer="boundary",
            source=roads.name,
            sha256=file_sha256(roads),
            source_crs=imported["roads"].source_crs,
            coords=options.coords,
            feature_count=1,
            imported_at=now_utc(),
            note="derived: convex hull of the roads, 100 m wider",
            licence="",
        )
        imported["boundary"] = ImportedLayer(
            "boundary", frame, roads.name, file_sha256(roads), "EPSG:4326", options.coords, None
        )
    return imported, provenance


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="the file to import")],
    layer: Annotated[str, typer.Option("--layer", help=f"one of: {', '.join(LAYERS)}")],
    db: DbOption = None,
    crs: CrsOption = None,
    coords: CoordsOption = "wgs84",
    encoding: EncodingOption = None,
    mapping: MappingOption = None,
    source_layer: Annotated[
        str | None, typer.Option("--source-layer", help="layer of a GeoPackage or zip to read")
    ] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="column of ids")] = None,
    wkt_column: Annotated[str | None, typer.Option(help="CSV column holding WKT")] = None,
    lon_column: Annotated[str | None, typer.Option(help="CSV longitude column")] = None,
    lat_column: Annotated[str | None, typer.Option(help="CSV latitude column")] = None,
    as_json: JsonOption = False,
) -> None:
    """Import one file as a layer, replacing that layer; nothing is written if anything is wrong."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    url = database_url(settings.database_url)
    with user_errors(out):
        layer_spec(layer)
        with out.progress(3) as step, Store.open(url) as store:
            step("reading")
            previous = {p.layer: p for p in store.layer_provenance()}.get(layer)
            expected = None
            if layer != "boundary" and store.layer_counts().get("boundary"):
                expected = tuple(float(v) for v in store.read_layer("boundary").total_bounds)
            options = ImportOptions(
                crs=crs,
                coords=_coords(coords, out),
                encoding=encoding,
                source_layer=source_layer,
                expected_bounds=expected,  # type: ignore[arg-type]
                max_bytes=settings.max_upload_bytes,
                id_field=id_field,
                wkt_column=wkt_column,
                lon_column=lon_column,
                lat_column=lat_column,
                mapping=_mapping(mapping) if layer == "roads" else None,
            )
            sha = file_sha256(file) if file.is_file() else None
            unchanged = (
                previous is not None
                and previous.sha256 == sha
                and previous.coords == options.coords
                and (crs is None or previous.source_crs == crs)
            )
            if unchanged:
                count = store.layer_counts()[layer]
            else:
                imported = import_layer(file, layer, options)
                step("writing")
                store.write_layers(
                    {layer: imported.frame}, provenance={layer: provenance_of(imported)}
                )
                count = len(imported.frame)

    def text() -> None:
        if unchanged:
            out.console.print(f"{file.name} is already imported as {layer}; nothing changed")
        else:
            out.console.print(f"imported {count} features from {file.name} as {layer}")

    out.done({"layer": layer, "features": count, "unchanged": unchanged}, text)


@app.command("info")
def info_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Describe a database: layers, counts, km of road by class and level, CRS, provenance."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    url = database_url(settings.database_url)
    with user_errors(out), Store.open(url, create=False) as store:
        report = database_report(store)
    report["database"] = _safe_url(url)

    def text() -> None:
        _print_report(out.console, report)

    out.done(report, text)


def _print_report(console: Console, report: dict[str, Any]) -> None:
    console.print(f"[bold]{report['database']}[/bold]  schema v{report['schema_version']}")
    console.print(
        f"stored in {report['crs']['storage']}; metric work in {report['crs']['metric']} "
        f"({report['crs']['metric_name']})"
    )
    layers = Table("layer", "features", "source", "source CRS", "note")
    for row in report["layers"]:
        if not row["features"] and not row.get("source"):
            continue
        layers.add_row(
            row["layer"],
            str(row["features"]),
            row.get("source") or "",
            row.get("source_crs") or "",
            row.get("note") or "",
        )
    console.print(layers)
    roads = report.get("roads")
    if roads:
        table = Table("road class", *roads["levels"], "total km", title="km of road")
        for name, row in roads["km_by_class_level"].items():
            table.add_row(
                name, *(f"{row[lv]:.2f}" for lv in roads["levels"]), f"{row['total']:.2f}"
            )
        console.print(table)
        named = roads["named"]
        console.print(
            f"named roads: {named['named_roads']} ({named['named_km']:.2f} km of "
            f"{roads['total_km']:.2f} km); unnamed features: {named['unnamed_features']}"
        )
        for road in named["roads"][:30]:
            english = f" {road['name_en']}" if road["name_en"] else ""
            console.print(
                f"  {road['name_zh'] or ''}{english}: {road['km']:.2f} km, {road['level']}"
            )
    topology = report.get("topology")
    if topology:
        state = "clean" if topology.get("clean") else "problems found"
        console.print(f"topology of the unit grids ({topology['created_at']}): {state}")
        for name, item in topology.items():
            if isinstance(item, dict) and item.get("count"):
                console.print(f"  {name}: {item['count']} ({item['total']:,.1f} {item['unit']})")
    balance = report.get("balance")
    if balance:
        console.print(
            f"squad workload balance: max/min {balance.get('max_min_ratio')}, "
            f"contiguous {balance.get('contiguous')}"
        )
    if report.get("schematic_layers"):
        console.print(
            "[bold]schematic (示意)[/bold], not surveyed: " + ", ".join(report["schematic_layers"])
        )
    for credit in report.get("credits", []):
        console.print(f"[dim]{credit}[/dim]")


@app.command("export")
def export_command(
    layer: Annotated[str, typer.Argument(help=f"one of: {', '.join(LAYERS)}")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the file to write")],
    fmt: Annotated[str, typer.Option("--format", help="gpkg, geojson or shp")] = "gpkg",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a layer to GeoPackage, GeoJSON or Shapefile (read back by GDAL and QGIS)."""
    out = Output(as_json=as_json)
    settings = settings_for(db)
    if fmt not in ("gpkg", "geojson", "shp"):
        out.fail(
            {"error": "FieldError", "field": "format", "message": f"unknown format {fmt!r}"},
            f"unknown --format {fmt!r}; use gpkg, geojson or shp",
        )
    chosen: Literal["gpkg", "geojson", "shp"] = fmt  # type: ignore[assignment]
    with user_errors(out), Store.open(database_url(settings.database_url), create=False) as store:
        spec = layer_spec(layer)
        frame = store.read_layer(layer)
        written = export_layer(frame, spec, output, chosen)

    def text() -> None:
        out.console.print(f"wrote {len(frame)} features of {layer} to {written}")

    out.done({"layer": layer, "features": len(frame), "path": str(written)}, text)


def _safe_url(url: str) -> str:
    """Return a database URL without its password, for printing."""
    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Run the command line."""
    app()


from server import (  # noqa: E402,F401 - registers their commands
    cli_demo,
    cli_grids,
    cli_map,
    cli_roster,
    cli_roster_check,
    cli_roster_export,
    cli_service,
)
