"""``dutygrid roster export``: a stored roster as a duty sheet to print, or as its table.

- ``--format sheet`` (the default) writes the duty sheet (排班表, :mod:`grids.duty_sheet`): one
  worksheet per squad, day by day, post by post and slot by slot, with the duty leader, the cells
  left uncovered, and a summary of everyone's hours against the labour rules;
- ``--format csv`` or ``xlsx`` writes the flat assignment table (:mod:`grids.roster_io`), which
  reads back unchanged.

The file is written next to its final name and renamed into place, so a failure leaves no partial
file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final, Literal

import typer

from grids.roster_io import write_assignments_csv, write_assignments_xlsx
from server.cli import DbOption, JsonOption, Output, existing_store
from server.cli_roster import roster_app
from server.duty_sheets import stored_duty_sheet
from server.roster_store import RosterStore

__all__ = ["EXPORT_FORMATS", "roster_export_command", "write_atomically"]

EXPORT_FORMATS: Final = ("sheet", "csv", "xlsx")
ExportFormat = Literal["sheet", "csv", "xlsx"]


class OutputFileError(Exception):
    """An output file that cannot be written; the message says which and why."""


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` by ``write(temporary path)`` in its folder, then rename it into place.

    Nothing is left at ``path`` or beside it when ``write`` or the rename fails.

    Raises
    ------
    OutputFileError
        If the file cannot be written or renamed (no such folder, no permission, a folder there).
    """
    target = path.expanduser()
    if target.is_dir():
        raise OutputFileError(f"cannot write {target}: it is a folder; give a file name")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        write(temporary)
        os.replace(temporary, target)
    except OSError as exc:
        raise OutputFileError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def _export_errors(out: Output) -> Iterator[None]:
    """Turn an unwritable file or a bad week into a user error."""
    try:
        yield
    except OutputFileError as exc:
        out.fail({"error": "OutputFileError", "field": "output", "message": str(exc)}, str(exc))
    except ValueError as exc:
        out.fail({"error": "ValueError", "message": str(exc)}, str(exc))


@roster_app.command("export")
def roster_export_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="the file to write")],
    db: DbOption = None,
    roster: Annotated[
        str | None, typer.Option("--roster", help="roster id (default: the latest)")
    ] = None,
    week: Annotated[str | None, typer.Option("--week", help="the latest roster of a week")] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="sheet: the duty sheet to print (.xlsx); csv or xlsx: the assignment table",
        ),
    ] = "sheet",
    headers: Annotated[
        str, typer.Option("--headers", help="csv/xlsx headers and values: zh or en")
    ] = "zh",
    as_json: JsonOption = False,
) -> None:
    """Export a stored roster: the duty sheet to print (排班表), or its assignments as CSV/Excel."""
    out = Output(as_json=as_json)
    if fmt not in EXPORT_FORMATS:
        out.fail(
            {"error": "FieldError", "field": "format", "message": f"unknown format {fmt!r}"},
            f"unknown --format {fmt!r}; use {', '.join(EXPORT_FORMATS)}",
        )
    if headers not in ("zh", "en"):
        out.fail(
            {"error": "FieldError", "field": "headers", "message": f"unknown headers {headers!r}"},
            f"unknown --headers {headers!r}; use zh or en",
        )
    language: Literal["zh", "en"] = "en" if headers == "en" else "zh"
    with (
        _export_errors(out),
        existing_store(out, db) as store,
    ):
        try:
            stored = RosterStore(store).roster(roster, week=week)
        except KeyError as exc:
            message = str(exc.args[0]) if exc.args else "no such roster"
            out.fail(
                {
                    "error": "UnknownRoster",
                    "field": "roster" if roster else "week",
                    "message": message,
                },
                f"{message}; `dutygrid roster show` shows the latest stored roster",
            )
        if roster is not None and week is not None and stored.info.week != week:
            message = f"roster {roster} is for {stored.info.week}, not {week}"
            out.fail({"error": "FieldError", "field": "week", "message": message}, message)
        frame = stored.assignments
        sheets: list[str] = []
        if fmt == "sheet":
            book = stored_duty_sheet(store, stored)
            sheets = list(book.sheetnames)
            write_atomically(output, book.save)
        elif fmt == "csv":
            write_atomically(
                output, lambda path: write_assignments_csv(frame, path, headers=language)
            )
        else:
            write_atomically(
                output, lambda path: write_assignments_xlsx(frame, path, headers=language)
            )
    info = stored.info
    result = {
        "roster_id": info.roster_id,
        "week": info.week,
        "format": fmt,
        "path": str(output),
        "assignments": len(frame),
        "sheets": sheets,
    }

    def text() -> None:
        what = "duty sheet" if fmt == "sheet" else f"{len(frame)} assignments"
        out.console.print(f"wrote the {what} of roster {info.roster_id} ({info.week}) to {output}")
        if sheets:
            out.console.print(f"sheets: {', '.join(sheets)}")

    out.done(result, text)
