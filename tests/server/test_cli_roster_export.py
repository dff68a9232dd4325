"""``dutygrid roster export``: the duty sheet and the assignment table, whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from grids.duty_sheet import SCHEMATIC_LABEL, SUMMARY_SHEET
from grids.policy import DutyPolicy, huiji_default_policy
from grids.roster_io import read_assignments
from grids.staff import Officer
from server import cli_roster_export
from server.cli import app
from server.roster_store import RosterStore
from server.storage import Provenance, Store

runner = CliRunner()
WEEK = "2026-W49"
MON = date(2026, 11, 30)
STAFF = [
    Officer("officer-1", "李明", "squad-01", "officer"),
    Officer("assistant-1", "王芳", "squad-01", "assistant"),
    Officer("leader-1", "张队", None, "leader"),
]


def _row(
    policy: DutyPolicy, officer: str, day: date, slot: str, post: str | None, *, task: str
) -> dict[str, Any]:
    start, end = policy.leader.on(day) if slot == "day" else policy.slot("weekday", slot).on(day)
    person = next(p for p in STAFF if p.id == officer)
    return {
        "officer_id": officer,
        "role": person.role,
        "squad_id": person.squad_id,
        "date": day,
        "slot_id": slot,
        "start": start,
        "end": end,
        "post_id": post,
        "task": task,
        "requirement_id": None,
        "pinned": False,
    }


def roster_frame(policy: DutyPolicy) -> pd.DataFrame:
    """Return a small roster of the week: a strict post, a guidance point, reserve, a leader."""
    tuesday = MON + timedelta(days=1)
    return pd.DataFrame(
        [
            _row(policy, "officer-1", MON, "morning", "post-R-10-1", task="strict_post"),
            {
                **_row(policy, "assistant-1", MON, "midday", "post-gp-001", task="guidance_window"),
                "end": datetime.combine(MON, time(13, 30)),  # the point's window
            },
            _row(policy, "officer-1", tuesday, "afternoon", None, task="reserve"),
            _row(policy, "leader-1", MON, "day", "leader_duty", task="leader_duty"),
        ]
    )


def fill_store(
    url: str,
    frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Provenance],
    *,
    schematic: bool = True,
) -> str:
    """Write the layers, staff, policy and one roster; return the roster's id."""
    policy = huiji_default_policy()
    with Store.open(url) as store:
        provenance = {}
        for name, frame in frames.items():
            made = make_provenance(name, frame)
            provenance[name] = made if schematic else Provenance(**{**vars(made), "note": ""})
        store.write_layers(frames, provenance=provenance)
        rosters = RosterStore(store)
        rosters.replace_staff(STAFF, source="staff.csv")
        rosters.save_policy(policy)
        stored = rosters.save_roster(WEEK, roster_frame(policy), {}, policy=policy)
    return stored.info.roster_id


@pytest.fixture
def db(
    store_url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Provenance],
) -> str:
    fill_store(store_url, layer_frames, make_provenance)
    return store_url


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty folder for the output (the SQLite database lives in ``tmp_path``)."""
    made = tmp_path / "out"
    made.mkdir()
    return made


def export(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, ["roster", "export", *args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _texts(sheet: Any) -> list[str]:
    return [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]


def test_the_duty_sheet_is_written(db: str, folder: Path) -> None:
    output = folder / "排班表.xlsx"
    document = export("--db", db, "--week", WEEK, "--format", "sheet", "-o", str(output))
    assert document["roster_id"] == f"{WEEK}-1"
    assert document["sheets"] == ["新城中队", "花园口中队", SUMMARY_SHEET]
    book = openpyxl.load_workbook(output)
    squad = _texts(book["新城中队"])
    assert "李明 officer-1" in squad
    # the point's window, not the slot; a strict post needs an officer, so it is still short
    assert "王芳 assistant-1（协管员） 12:00–13:30\n缺员" in squad
    assert "空岗" in squad
    assert any(t.startswith("带班领导：张队（leader-1）") for t in squad)
    assert any(SCHEMATIC_LABEL in t for t in squad)  # the layers' provenance says schematic
    assert "文化路" in squad
    hours = _texts(book[SUMMARY_SHEET])
    assert "李明" in hours
    assert "张队" in hours
    assert list(folder.iterdir()) == [output]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_assignment_table_reads_back_unchanged(db: str, folder: Path, fmt: str) -> None:
    output = folder / f"roster.{fmt}"
    document = export("--db", db, "--roster", f"{WEEK}-1", "--format", fmt, "-o", str(output))
    assert document["assignments"] == 4
    with Store.open(db) as store:
        stored = RosterStore(store).roster(f"{WEEK}-1")
    back = read_assignments(output, policy=huiji_default_policy(), staff=STAFF)
    pd.testing.assert_frame_equal(back, stored.assignments, check_dtype=False)


def test_a_sheet_of_real_data_is_not_labelled_schematic(
    store_url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Provenance],
    folder: Path,
) -> None:
    fill_store(store_url, layer_frames, make_provenance, schematic=False)
    output = folder / "sheet.xlsx"
    export("--db", store_url, "-o", str(output))
    book = openpyxl.load_workbook(output)
    for sheet in book.worksheets:
        assert not any(SCHEMATIC_LABEL in t for t in _texts(sheet))


def test_an_unknown_roster_is_a_clear_error_and_writes_nothing(db: str, folder: Path) -> None:
    output = folder / "sheet.xlsx"
    document = export("--db", db, "--roster", "2026-W01-9", "-o", str(output), code=2)
    assert document["error"]["error"] == "UnknownRoster"
    assert "2026-W01-9" in document["error"]["message"]
    result = runner.invoke(
        app, ["roster", "export", "--db", db, "--week", "2027-W01", "-o", str(folder / "x")]
    )
    assert result.exit_code == 2
    assert "no roster of 2027-W01 is stored" in result.stderr
    assert "Traceback" not in result.output
    document = export(
        "--db", db, "--roster", f"{WEEK}-1", "--week", "2026-W50", "-o", str(folder / "x"), code=2
    )
    assert document["error"]["message"] == f"roster {WEEK}-1 is for {WEEK}, not 2026-W50"
    assert list(folder.iterdir()) == []


def test_an_unwritable_output_is_a_clear_error(db: str, folder: Path) -> None:
    output = folder / "no such folder" / "sheet.xlsx"
    document = export("--db", db, "-o", str(output), code=2)
    assert document["error"]["error"] == "OutputFileError"
    assert "cannot write" in document["error"]["message"]
    assert not output.parent.exists()
    document = export("--db", db, "--format", "csv", "-o", str(folder), code=2)
    assert "folder" in document["error"]["message"]
    assert list(folder.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_part(
    db: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = folder / "roster.csv"
    output.write_text("the old file", encoding="utf-8")

    def broken(frame: pd.DataFrame, path: Path, **_options: Any) -> None:
        Path(path).write_text("half a fi", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli_roster_export, "write_assignments_csv", broken)
    document = export("--db", db, "--format", "csv", "-o", str(output), code=2)
    assert "No space left on device" in document["error"]["message"]
    assert output.read_text(encoding="utf-8") == "the old file"
    assert list(folder.iterdir()) == [output]


def test_an_unknown_format_is_refused(db: str, folder: Path) -> None:
    document = export("--db", db, "--format", "pdf", "-o", str(folder / "x.pdf"), code=2)
    assert document["error"]["field"] == "format"
    assert list(folder.iterdir()) == []
