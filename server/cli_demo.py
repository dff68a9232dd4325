"""``dutygrid demo``: the Huiji demo, built end to end and served."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from grids.calendar import iso_week, week_dates
from server.cli import Output, app, init_command
from server.cli_grids import grids_build_command, posts_build_command
from server.cli_roster import roster_solve_command, staff_demo_command
from server.cli_service import serve_command, token_create_command


@app.command("demo")
def demo_command(
    db: Annotated[Path, typer.Option("--db", help="the demo's SQLite file")] = Path(
        "dutygrid-demo.sqlite"
    ),
    week: Annotated[
        str | None, typer.Option("--week", help="ISO week of the roster (default: this week)")
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="seconds for the roster", min=5.0)
    ] = 60.0,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve it when built")] = True,
) -> None:
    """Build the Huiji demo (data, grids, posts, demo staff, a week's roster) and serve it.

    Everything lives in one SQLite file; the staff is made up (DEMO DATA) and the road network
    schematic. A one-time admin token is printed for signing in.
    """
    out = Output(as_json=False)
    chosen_week = week or iso_week(date.today())
    days = week_dates(chosen_week)
    today = date.today() if date.today() in days else days[0]
    database = str(db)
    steps = (
        ("the bundled Huiji data", lambda: init_command(db=database, force=True)),
        ("unit grids and squad territories", lambda: grids_build_command(db=database)),
        ("posts", lambda: posts_build_command(db=database)),
        (
            "demo staff (made up), sized for the week",
            lambda: staff_demo_command(db=database, sized_for=chosen_week),
        ),
        (
            f"the roster of {chosen_week}",
            lambda: roster_solve_command(week=chosen_week, db=database, time_limit=time_limit),
        ),
    )
    run: Callable[[], None]
    for number, (what, run) in enumerate(steps, start=1):
        out.errors.print(f"[bold]{number}/{len(steps) + 1}[/bold] {what}")
        run()
    out.errors.print(f"[bold]{len(steps) + 1}/{len(steps) + 1}[/bold] a one-time admin token")
    token_create_command(role="admin", name="demo admin", db=database, expires=1.0)
    base = f"http://{host}:{port}"
    out.console.print(
        "\nsign in with the token above at:\n"
        f"  {base}/login\n"
        f"coverage map of {today.isoformat()}:  {base}/maps/coverage?date={today.isoformat()}\n"
        f"gap list:                  {base}/maps/gaps?date={today.isoformat()}\n"
        f"API docs:                  {base}/docs\n"
        f"OGC API – Features:        {base}/ogc\n"
        "The staff is DEMO DATA (made up) and the road network schematic (示意)."
    )
    if serve:
        serve_command(db=database, host=host, port=port)
