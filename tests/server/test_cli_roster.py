"""``dutygrid staff``, ``policy`` and ``roster`` on a small Huiji database."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grids.policy import huiji_default_policy, policy_to_toml
from grids.staff import Officer, write_staff_csv
from server.cli import app
from server.roster_store import RosterStore
from server.storage import Store

runner = CliRunner()
WEEK = "2026-W49"


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def huiji_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Huiji with large unit grids and its posts, no staff."""
    db = tmp_path_factory.mktemp("huiji") / "huiji.sqlite"
    run_json("init", "--db", str(db))
    run_json("grids", "build", "--db", str(db), "--target-area", "200000")
    run_json("posts", "build", "--db", str(db))
    return db


@pytest.fixture
def db(huiji_db: Path, tmp_path: Path) -> str:
    copy = tmp_path / "huiji.sqlite"
    shutil.copy(huiji_db, copy)
    return str(copy)


@pytest.fixture(scope="module")
def solved(huiji_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the database with the demo staff and a roster of the week."""
    db = str(tmp_path_factory.mktemp("solved") / "huiji.sqlite")
    shutil.copy(huiji_db, db)
    run_json("staff", "demo", "--db", db)
    first = run_json(
        "roster", "solve", "--db", db, "--week", WEEK, "--time-limit", "1", "--deterministic"
    )
    return {"db": db, "first": first}


def test_staff_import_refuses_a_file_with_a_bad_row(db: str, tmp_path: Path) -> None:
    good = [
        Officer(id="A1", name="王伟", squad_id="HJ-S-YB", role="officer"),
        Officer(id="A2", name="李娜", squad_id="HJ-S-YB", role="assistant"),
        Officer(id="L1", name="张强", squad_id=None, role="leader"),
    ]
    path = tmp_path / "staff.csv"
    write_staff_csv(good, path)
    imported = run_json("staff", "import", str(path), "--db", db)
    assert imported["staff"] == 3
    assert imported["by_role"] == {"officer": 1, "assistant": 1, "leader": 1}
    bad = tmp_path / "bad.csv"
    text = path.read_text("utf-8-sig").replace("HJ-S-YB", "HJ-S-NOPE", 1)
    bad.write_text(text + "A3,赵六,HJ-S-YB,队长,40,,,,,false\n", "utf-8")
    refused = run_json("staff", "import", str(bad), "--db", db, code=2)
    fields = {p["field"] for p in refused["error"]["problems"]}
    assert fields == {"squad", "role"}
    with Store.open(db) as store:
        assert [o.id for o in RosterStore(store).staff()] == ["A1", "A2", "L1"]


def test_policy_import_and_show(db: str, tmp_path: Path) -> None:
    shown = run_json("policy", "show", "--db", db)
    default = huiji_default_policy()
    assert shown["source"] == "bundled:huiji"
    assert shown["policy"]["fingerprint"] == default.fingerprint()
    changed = default.revised(description="周末加强")
    path = tmp_path / "policy.toml"
    path.write_text(policy_to_toml(changed), "utf-8")
    stored = run_json("policy", "import", str(path), "--db", db)
    assert stored == {
        "ok": True,
        "version": changed.version,
        "fingerprint": changed.fingerprint(),
        "stored": True,
        "warnings": [],
    }
    assert run_json("policy", "import", str(path), "--db", db)["stored"] is False
    shown = run_json("policy", "show", "--db", db)
    assert shown["policy"]["version"] == changed.version
    assert shown["source"] == "policy.toml"
    conflict = tmp_path / "conflict.toml"
    other = replace(changed, description="另一种规则")
    conflict.write_text(policy_to_toml(other), "utf-8")
    refused = run_json("policy", "import", str(conflict), "--db", db, code=2)
    assert "bump" in refused["error"]["message"]


def test_roster_solve_needs_staff(db: str) -> None:
    refused = run_json("roster", "solve", "--db", db, "--week", WEEK, code=2)
    assert refused["error"]["error"] == "NoStaff"


def test_roster_solve_reports_coverage_and_gaps(solved: dict[str, Any]) -> None:
    first = solved["first"]
    assert first["roster_id"].startswith(WEEK)
    coverage = first["coverage"]
    assert {"strict", "controlled", "leader"} <= set(coverage)
    for entry in coverage.values():
        assert 0 <= entry["covered"] <= entry["required"]
    assert first["objective"] >= first["bound"] - 1e-6
    assert 0 <= first["gap"] <= 1
    assert first["first_feasible_s"] is not None
    short = sum(e["people"] for e in first["uncovered_by_reason"].values())
    required = sum(e["required"] for e in coverage.values())
    covered = sum(e["covered"] for e in coverage.values())
    assert short == required - covered
    assert first["staff"]["demo"] is True
    shown = run_json("roster", "show", "--db", solved["db"])
    assert shown["roster_id"] == first["roster_id"]
    assert len(shown["assignments"]) == first["assignments"]
    assert shown["policy_version"] == huiji_default_policy().version
    assert len(shown["report"]["uncovered"]) == sum(
        e["requirements"] for e in first["uncovered_by_reason"].values()
    )
    text = runner.invoke(app, ["roster", "show", "--db", solved["db"], "--squad", "HJ-S-YB"])
    assert text.exit_code == 0, text.output
    assert first["roster_id"] in text.output


def test_roster_replan_after_an_absence(solved: dict[str, Any]) -> None:
    db = solved["db"]
    first_id = solved["first"]["roster_id"]
    before = run_json("roster", "show", "--db", db, "--roster", first_id)["assignments"]
    absent = next(r["officer_id"] for r in before if r["date"] == "2026-12-03")
    replanned = run_json(
        "roster",
        "solve",
        "--db",
        db,
        "--week",
        WEEK,
        "--time-limit",
        "1",
        "--deterministic",
        "--replan",
        first_id,
        "--absent",
        f"{absent}:2026-12-03",
        "--publish-through",
        "2026-12-01",
    )
    assert replanned["based_on"] == first_id
    assert replanned["absences"] == [
        {"officer_id": absent, "from": "2026-12-03", "to": "2026-12-06"}
    ]
    after = run_json("roster", "show", "--db", db, "--roster", replanned["roster_id"])
    rows = after["assignments"]
    assert not [r for r in rows if r["officer_id"] == absent and r["date"] >= "2026-12-03"]
    published = date(2026, 12, 1).isoformat()

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["officer_id"], row["date"], row["slot_id"], row["post_id"], row["task"])

    assert sorted(key(r) for r in rows if r["date"] <= published) == sorted(
        key(r) for r in before if r["date"] <= published
    )
    changes = replanned["changes"]["assignments"]
    forced = len([r for r in before if r["officer_id"] == absent and r["date"] >= "2026-12-03"])
    assert forced <= changes < len(before) // 2


def test_roster_solve_refuses_bad_options(solved: dict[str, Any]) -> None:
    db = solved["db"]
    bad = run_json("roster", "solve", "--db", db, "--week", WEEK, "--absent", "X:yesterday", code=2)
    assert bad["error"]["field"] == "absent"
    unknown = run_json("roster", "solve", "--db", db, "--week", WEEK, "--replan", "nope", code=2)
    assert "nope" in unknown["error"]["message"]
    week = run_json("roster", "solve", "--db", db, "--week", "2026-W60", code=2)
    assert "W60" in week["error"]["message"] or "60" in week["error"]["message"]
