"""Reading the rows of a spreadsheet file (CSV or .xlsx) as text, numbered as the sheet shows them.

Staff lists (:mod:`grids.staff`) and roster tables (:mod:`grids.roster_io`) are read through these;
each turns a cell into text in its own way, and finds its own header row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl

from geodata.errors import InputFileError

__all__ = ["csv_rows", "xlsx_rows"]

Rows = list[tuple[int, list[str]]]


def csv_rows(file: Path, encoding: str | None) -> Rows:
    """Return the numbered rows of a CSV file in ``encoding``, or in UTF-8 or GB18030 if None.

    Raises
    ------
    InputFileError
        If the text is in none of the encodings tried.
    """
    data = file.read_bytes()
    encodings = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for name in encodings:
        try:
            text = data.decode(name)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputFileError(
            f"the text is neither {' nor '.join(encodings)}; save the file as UTF-8",
            file=file.name,
        )
    text = text.removeprefix("\ufeff")
    return list(enumerate(csv.reader(io.StringIO(text, newline="")), 1))


def xlsx_rows(file: Path, sheet: str | None, cell_text: Callable[[Any], str]) -> Rows:
    """Return the numbered rows of a workbook's ``sheet`` (the first if None), cells as text.

    Raises
    ------
    InputFileError
        If the workbook cannot be read or has no such sheet.
    """
    try:
        book = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise InputFileError(f"not a readable .xlsx workbook: {exc}", file=file.name) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputFileError(
                f"no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})", file=file.name
            )
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        return [
            (n, [cell_text(value) for value in row])
            for n, row in enumerate(worksheet.iter_rows(values_only=True), 1)
        ]
    finally:
        book.close()
