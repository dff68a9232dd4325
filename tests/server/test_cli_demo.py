"""``dutygrid demo``: the whole Huiji demo, built without serving it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from server.cli import app
from server.roster_store import RosterStore
from server.storage import Store


def test_demo_builds_everything_and_prints_a_token(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    result = CliRunner().invoke(
        app,
        ["demo", "--db", str(db), "--week", "2026-W49", "--time-limit", "10", "--no-serve"],
    )
    assert result.exit_code == 0, result.output
    assert "dg_" in result.stdout
    assert "/maps/coverage?date=2026-11-30" in result.stdout
    with Store.open(str(db), create=False) as store:
        counts = store.layer_counts()
        for layer in ("roads", "unit_grids", "responsibility_grids", "posts", "squads"):
            assert counts[layer] > 0, layer
        rosters = RosterStore(store)
        staff = rosters.staff()
        assert staff
        assert all(person.demo for person in staff)
        assert rosters.rosters(week="2026-W49")
