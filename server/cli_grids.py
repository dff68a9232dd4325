"""``dutygrid grids build`` and ``dutygrid posts build``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from grids.build import GridMode, SquadMode, build_grids, build_posts
from grids.posts import PostPolicy
from server.cli import DbOption, JsonOption, Output, app, now_utc, settings_for, user_errors
from server.storage import Provenance, Store, database_url

grids_app = typer.Typer(help="Unit grids (单元网格) and responsibility grids (责任网格).")
posts_app = typer.Typer(help="Posts (岗位): road sections and fixed points to staff.")
app.add_typer(grids_app, name="grids")
app.add_typer(posts_app, name="posts")

_INPUTS = ("boundary", "roads", "subdistricts", "communities", "squads", "zones", "guidance_points")


def _derived(layer: str, count: int, note: str) -> Provenance:
    return Provenance(
        layer=layer,
        source="dutygrid build",
        sha256=None,
        source_crs="EPSG:4326",
        coords="wgs84",
        feature_count=count,
        imported_at=now_utc(),
        note=note,
        licence="",
    )


def _schematic_note(store: Store, base: str) -> str:
    """Say 'schematic' in a derived layer's note when its inputs are schematic."""
    schematic = any("schematic" in (p.note or "") for p in store.layer_provenance())
    return f"{base}; schematic (示意) inputs" if schematic else base


@grids_app.command("build")
def grids_build_command(
    db: DbOption = None,
    target_area: Annotated[
        float, typer.Option("--target-area", help="target unit grid area in m²", min=100.0)
    ] = 10_000.0,
    mode: Annotated[str, typer.Option("--mode", help="roads, square or hex")] = "roads",
    county: Annotated[
        str | None, typer.Option("--county", help="6-digit county code (default: the boundary's)")
    ] = None,
    squads: Annotated[
        str,
        typer.Option(
            "--squads",
            help="balanced: contiguous territories of equal workload; territory: the drawn ones",
        ),
    ] = "balanced",
    as_json: JsonOption = False,
) -> None:
    """Build the unit grids and the squads' responsibility grids, and check their topology."""
    out = Output(as_json=as_json)
    if mode not in ("roads", "square", "hex"):
        out.fail(
            {"error": "FieldError", "field": "mode", "message": f"unknown mode {mode!r}"},
            f"unknown --mode {mode!r}; use roads, square or hex",
        )
    if squads not in ("balanced", "territory"):
        out.fail(
            {"error": "FieldError", "field": "squads", "message": f"unknown {squads!r}"},
            f"unknown --squads {squads!r}; use balanced or territory",
        )
    grid_mode: GridMode = mode  # type: ignore[assignment]
    squad_mode: SquadMode = squads  # type: ignore[assignment]
    settings = settings_for(db)
    with (
        user_errors(out),
        out.progress(3) as step,
        Store.open(database_url(settings.database_url), create=False) as store,
    ):
        step("reading layers")
        layers = {name: store.read_layer(name) for name in _INPUTS}
        step(f"building unit grids ({grid_mode}) and squad territories")
        built = build_grids(
            layers,
            mode=grid_mode,
            target_area_m2=target_area,
            county_code=county,
            squad_mode=squad_mode,
        )
        step("writing")
        note = _schematic_note(store, f"built from the roads ({grid_mode}, {target_area:g} m²)")
        store.write_layers(
            {
                "unit_grids": built.unit_grids,
                "responsibility_grids": built.responsibility_grids,
            },
            provenance={
                "unit_grids": _derived("unit_grids", len(built.unit_grids), note),
                "responsibility_grids": _derived(
                    "responsibility_grids", len(built.responsibility_grids), note
                ),
            },
            reports={"topology": built.topology.to_dict(), "balance": built.balance},
        )
    result: dict[str, Any] = {
        "unit_grids": len(built.unit_grids),
        "responsibility_grids": len(built.responsibility_grids),
        "balance": built.balance,
        "topology": built.topology.to_dict(),
    }

    def text() -> None:
        areas = built.unit_grids["area_m2"]
        out.console.print(
            f"built {len(built.unit_grids)} unit grids (median {areas.median():,.0f} m²) and "
            f"{len(built.responsibility_grids)} responsibility grids"
        )
        ratio = built.balance.get("max_min_ratio")
        out.console.print(
            f"squad workload max/min: {ratio if ratio is not None else 'n/a'}; contiguous: "
            f"{built.balance.get('contiguous')}"
        )
        topology = built.topology.to_dict()
        out.console.print(f"topology: {'clean' if topology['clean'] else 'problems found'}")
        for name, item in topology.items():
            if isinstance(item, dict) and item.get("count"):
                out.console.print(
                    f"  {name}: {item['count']} ({item['total']:,.1f} {item['unit']})"
                )

    out.done(result, text)


@posts_app.command("build")
def posts_build_command(
    db: DbOption = None,
    strict_length: Annotated[
        float, typer.Option(help="post length on strict (严管) roads, m", min=10.0)
    ] = 500.0,
    controlled_length: Annotated[
        float, typer.Option(help="post length on controlled (严控) roads, m", min=10.0)
    ] = 1000.0,
    regulated_length: Annotated[
        float | None,
        typer.Option(help="post length on regulated (规范) roads, m (default: the whole street)"),
    ] = None,
    min_length: Annotated[float, typer.Option(help="shortest useful post, m", min=1.0)] = 100.0,
    as_json: JsonOption = False,
) -> None:
    """Cut the roads into posts by level, and make point posts of the guidance points."""
    out = Output(as_json=as_json)
    policy = PostPolicy(
        length_by_level={
            "strict": strict_length,
            "controlled": controlled_length,
            "regulated": regulated_length,
        },
        min_length_m=min_length,
    )
    settings = settings_for(db)
    with (
        user_errors(out),
        out.progress(3) as step,
        Store.open(database_url(settings.database_url), create=False) as store,
    ):
        step("reading layers")
        layers = {name: store.read_layer(name) for name in (*_INPUTS, "unit_grids")}
        step("cutting posts")
        posts, report = build_posts(layers, policy=policy)
        step("writing")
        reports = {"topology": report.to_dict()} if report is not None else {}
        note = _schematic_note(store, "cut from the roads")
        store.write_layers(
            {"posts": posts},
            provenance={"posts": _derived("posts", len(posts), note)},
            reports=reports,
        )
    counts = posts.groupby(["kind", "level"]).size()
    by_kind_level = {f"{k}/{lv}": int(n) for (k, lv), n in counts.items()}
    result: dict[str, Any] = {
        "posts": len(posts),
        "by_kind_level": by_kind_level,
        "km": float(posts["length_m"].sum() / 1000),
    }

    def text() -> None:
        out.console.print(f"built {len(posts)} posts over {result['km']:.2f} km of road")
        for key, n in by_kind_level.items():
            out.console.print(f"  {key}: {n}")

    out.done(result, text)
