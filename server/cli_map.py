"""``dutygrid map``: a day's coverage map as one HTML file that works opened straight from disk.

The file holds everything it needs (Leaflet, the map's script and style, the data): it makes no
request at all unless base tiles are configured (``DUTYGRID_MAP_TILES``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from server.cli import DbOption, JsonOption, Output, app, settings_for, user_errors
from server.errors import NotFound
from server.maps.i18n import LANGUAGES, Language
from server.maps.layers import page_data
from server.maps.page import coverage_page
from server.maps.service import CoverageService
from server.maps.settings import MapSettings
from server.routes.coverage import FIRST_DAY, LAST_DAY
from server.storage import Store, database_url


@app.command("map")
def map_command(
    day: Annotated[str, typer.Option("--date", help="the duty day, YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the HTML file to write")],
    db: DbOption = None,
    roster: Annotated[
        str | None, typer.Option("--roster", help="the roster id (default: the day's roster)")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh (中文) or en (English)")] = "zh",
    slot: Annotated[
        str | None, typer.Option("--slot", help="the slot shown first (default: the whole day)")
    ] = None,
    assignments: Annotated[
        Path | None,
        typer.Option(
            "--assignments", help="an assignment table (CSV or .xlsx) to map instead of a roster"
        ),
    ] = None,
    staff: Annotated[
        Path | None, typer.Option("--staff", help="the staff list, for names and phone numbers")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a day's coverage map as one self-contained HTML file."""
    out = Output(as_json=as_json)
    try:
        duty_day = date.fromisoformat(day)
    except ValueError:
        duty_day = date.min
    if not FIRST_DAY <= duty_day <= LAST_DAY:
        out.fail(
            {"error": "FieldError", "field": "date", "message": f"bad date {day!r}"},
            f"--date {day!r} is not a date YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}",
        )
    if lang not in LANGUAGES:
        out.fail(
            {"error": "FieldError", "field": "lang", "message": f"unknown language {lang!r}"},
            f"unknown --lang {lang!r}; use zh or en",
        )
    language: Language = "en" if lang == "en" else "zh"
    settings = settings_for(db)
    with user_errors(out), Store.open(database_url(settings.database_url), create=False) as store:
        overrides = {"roster_file": assignments, "staff_file": staff}
        map_settings = MapSettings().model_copy(
            update={k: v for k, v in overrides.items() if v is not None}
        )
        service = CoverageService(map_settings)
        try:
            view = service.day(store, duty_day, roster)
        except NotFound as exc:
            out.fail({"error": "NotFound", "field": exc.field, "message": str(exc)}, str(exc))
        known = [s.id for s in view.slots]
        if slot is not None and slot not in known:
            out.fail(
                {"error": "FieldError", "field": "slot", "message": f"unknown slot {slot!r}"},
                f"{duty_day} has no slot {slot!r}; its slots are {', '.join(known)}",
            )
        data = page_data(
            view,
            coords=map_settings.drawn_coords,
            max_unit_grids=map_settings.max_unit_grids,
        )
        page = coverage_page(
            data, lang=language, assets="inline", settings=map_settings, initial_slot=slot
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
    result = {
        "path": str(output),
        "bytes": output.stat().st_size,
        "date": duty_day.isoformat(),
        "features": data.counts,
        "gaps": data.meta["summaries"][-1]["gaps"],
        "assignments": data.meta["roster"]["assignments"],
        "notes": list(view.notes),
    }

    def text() -> None:
        size = result["bytes"] / 1024**2
        out.console.print(
            f"wrote the coverage map of {duty_day} to {output} ({size:.2f} MiB, "
            f"{result['gaps']} gaps, {result['assignments']} assignments)"
        )
        for note in view.notes:
            out.console.print(f"[dim]{note}[/dim]")

    out.done(result, text)
