"""``dutygrid roster validate`` and ``roster need`` on a one-squad store, checked by hand.

The policy has three eight-hour slots, all of them day slots, so a strict post needs one officer
around the clock: 21 shifts of 8 hours a week.
"""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point
from typer.testing import CliRunner

import grids._staffing_search as staffing_search
from geodata.layers import layer_spec
from grids.calendar import china_holidays
from grids.policy import (
    DutyPolicy,
    LeaderDuty,
    LevelRules,
    PatrolRule,
    Slot,
    SlotTable,
    StrictRule,
    policy_to_toml,
)
from grids.roster_io import read_assignments
from grids.roster_rules import RULES
from grids.staff import Officer
from server.cli import app
from server.roster_store import RosterStore
from server.storage import Provenance, Store

runner = CliRunner()
WEEK = "2026-W49"  # Monday 2026-11-30 to Sunday 2026-12-06, no holidays
SQUAD = "SQ"
HEADER = "工号,日期,时段,岗位,任务,开始,结束\n"
DAYS = ["2026-11-30", *(f"2026-12-0{n}" for n in range(1, 7))]
# O1 on P1's day slot Monday to Friday (40 h), O2 at the weekend (16 h): lawful, but short.
LAWFUL = HEADER + "".join(
    f"{'O1' if n < 5 else 'O2'},{day},daytime,P1,严管岗\n" for n, day in enumerate(DAYS)
)


def _policy() -> DutyPolicy:
    slots = tuple(
        Slot(slot_id, slot_id, slot_id, time(start), time((start + 8) % 24), "day")
        for slot_id, start in (("night", 0), ("daytime", 8), ("evening", 16))
    )
    return DutyPolicy(
        version=1,
        name="test: one post around the clock",
        slots=SlotTable(slots, slots, slots),
        levels=LevelRules(
            strict=StrictRule(officers=1, hard=False),
            controlled=PatrolRule(visit_every_hours=8.0),
        ),
        leader=LeaderDuty(on_duty=0),
    )


def _layer(name: str, features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    data: dict[str, Any] = {"id": pd.array([f["id"] for f in features], dtype="str")}
    for column in layer_spec(name).columns:
        kind = {"text": "str", "real": "float64"}.get(column.kind, object)
        data[column.name] = pd.Series([f.get(column.name) for f in features], dtype=kind)
    data["attrs"] = pd.Series([{} for _ in features], dtype=object)
    geometry = gpd.GeoSeries([f.get("geometry") for f in features], crs="EPSG:4326")
    return gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")


def _post(post_id: str, lat: float) -> dict[str, Any]:
    return {
        "id": post_id,
        "kind": "segment",
        "road_name_zh": "文化路",
        "level": "strict",
        "length_m": 500.0,
        "squad_id": SQUAD,
        "geometry": LineString([(113.65, lat), (113.66, lat)]),
    }


def _store(
    url: str, post_ids: list[str], staff: list[Officer], *, more_posts: tuple[Any, ...] = ()
) -> str:
    """Fill a database with one squad, strict posts, the staff and the test policy."""
    posts = [_post(p, 34.82 + n / 100) for n, p in enumerate(post_ids)]
    layers = {
        "squads": _layer("squads", [{"id": SQUAD, "name_zh": "测试中队", "geometry": None}]),
        "posts": _layer("posts", [*posts, *more_posts]),
    }
    provenance = {
        name: Provenance(
            layer=name,
            source=f"{name}.geojson",
            sha256="0" * 64,
            source_crs="EPSG:4326",
            coords="wgs84",
            feature_count=len(frame),
            imported_at="2026-11-01T00:00:00+00:00",
        )
        for name, frame in layers.items()
    }
    policy = _policy()
    with Store.open(url) as store:
        store.write_layers(layers, provenance=provenance)
        rosters = RosterStore(store)
        rosters.save_policy(policy, text=policy_to_toml(policy), source="policy.toml")
        rosters.replace_staff(staff, source="staff.csv")
    return url


STAFF = [
    Officer("O1", "王伟", SQUAD, "officer"),
    Officer("O2", "李娜", SQUAD, "officer"),
    Officer("O3", "张强", SQUAD, "officer"),
    Officer("A1", "赵敏", SQUAD, "assistant"),
]


@pytest.fixture
def db(store_url: str) -> str:
    """Two strict posts P1 and P2 of squad SQ, three officers and an assistant."""
    return _store(store_url, ["P1", "P2"], STAFF)


def invoke(*args: str, code: int) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _file(tmp_path: Path, text: str, name: str = "roster.csv") -> str:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return str(path)


def test_a_lawful_roster_file_exits_0(db: str, tmp_path: Path) -> None:
    checked = invoke("roster", "validate", "--db", db, _file(tmp_path, LAWFUL), code=0)
    assert checked["lawful"] is True
    assert checked["error_count"] == 0
    assert checked["weeks"] == [WEEK]
    assert checked["assignments"] == 7
    # P1 is staffed 08-16 only, P2 never: 14 + 21 slots short, soft requirements → warnings.
    assert {(v["rule"], v["severity"]) for v in checked["violations"]} == {
        ("demand_unmet", "warning")
    }
    assert checked["warning_count"] == 14 + 21


def test_a_stored_roster_is_checked_latest_by_default(db: str, tmp_path: Path) -> None:
    policy = _policy()
    frame = read_assignments(
        _file(tmp_path, LAWFUL), policy=policy, calendar=china_holidays(), staff=STAFF
    )
    with Store.open(db) as store:
        stored = RosterStore(store).save_roster(WEEK, frame, {}, policy=policy)
    latest = invoke("roster", "validate", "--db", db, code=0)
    assert latest["roster_id"] == stored.info.roster_id
    assert latest["policy_version"] == policy.version
    assert latest["lawful"] is True
    named = invoke("roster", "validate", "--db", db, "--roster", stored.info.roster_id, code=0)
    assert named["violations"] == latest["violations"]
    text = runner.invoke(app, ["roster", "validate", "--db", db, "--no-demand"])
    assert text.exit_code == 0, text.output
    assert "keeps every hard rule" in text.output


def test_planted_violations_are_each_listed_with_their_legal_basis(db: str, tmp_path: Path) -> None:
    rows = [
        # two places at once: O1 on P1 and P2 in Tuesday's day slot
        "O1,2026-12-01,daytime,P1,严管岗",
        "O1,2026-12-01,daytime,P2,严管岗",
        # 10 hours on Wednesday: the evening duty ends at 18:00
        "O2,2026-12-02,daytime,P1,严管岗",
        "O2,2026-12-02,evening,P1,严管岗,16:00,18:00",
        # too little rest: Thursday 16-24, then Friday from 08:00 (8 h < 11 h)
        "O1,2026-12-03,evening,P2,严管岗",
        "O1,2026-12-04,daytime,P2,严管岗",
        # an assistant alone on a strict post
        "A1,2026-12-05,daytime,P2,严管岗",
    ]
    # no rest day: O3 on nights all week
    rows += [f"O3,{day},night,P1,严管岗" for day in DAYS]
    path = _file(tmp_path, HEADER + "\n".join(rows) + "\n")
    checked = invoke("roster", "validate", "--db", db, path, code=1)
    assert checked["lawful"] is False
    errors = {(v["rule"], v["officer_id"], v["date"]) for v in checked["violations"]}
    assert ("double_booked", "O1", "2026-12-01") in errors
    assert ("daily_hours", "O2", "2026-12-02") in errors
    assert ("min_rest", "O1", "2026-12-04") in errors  # blamed on the second duty
    assert ("role", "A1", "2026-12-05") in errors
    assert any(rule == "rest_day" and person == "O3" for rule, person, _ in errors)
    assert ("demand_unmet", None, "2026-12-05") in errors  # A1 does not count as an officer
    for violation in checked["violations"]:
        assert violation["severity"] == RULES[violation["rule"]].severity or (
            violation["rule"] == "demand_unmet"
        )
        if violation["rule"] in ("daily_hours", "rest_day", "weekly_hours"):
            assert "劳动法" in violation["legal_basis"]
    role = next(v for v in checked["violations"] if v["rule"] == "role")
    assert (role["slot_id"], role["post_id"]) == ("daytime", "P2")
    summary = {row["rule"]: row for row in checked["summary"]}
    assert summary["rest_day"]["legal_basis"] == RULES["rest_day"].legal_basis
    assert checked["error_count"] == sum(
        1 for v in checked["violations"] if v["severity"] == "error"
    )
    text = runner.invoke(app, ["roster", "validate", "--db", db, path])
    assert text.exit_code == 1, text.output
    for rule in ("double_booked", "daily_hours", "rest_day", "min_rest", "role"):
        assert rule in text.output
    assert "第三十六条" in text.output
    assert "第三十八条" in text.output
    assert "breaks hard rules" in text.output


def test_a_bad_file_lists_its_rows_and_exits_2(db: str, tmp_path: Path) -> None:
    rows = [
        "O1,2026-13-01,daytime,P1,严管岗",  # no 13th month
        ",2026-12-01,daytime,P1,严管岗",  # no officer
        "O2,2026-12-02,brunch,P1,",  # no such slot
    ]
    text = HEADER + "\n".join(rows) + "\n"
    path = _file(tmp_path, text)
    refused = invoke("roster", "validate", "--db", db, path, code=2)
    problems = refused["error"]["problems"]
    assert {p["row"] for p in problems} == {2, 3, 4}
    assert {(p["row"], p["field"]) for p in problems} >= {
        (2, "date"),
        (3, "officer_id"),
        (4, "slot_id"),
    }
    shown = runner.invoke(app, ["roster", "validate", "--db", db, path])
    assert shown.exit_code == 2
    assert "roster.csv" in shown.output
    assert "brunch" in shown.output


def test_an_unknown_roster_is_a_clear_error(db: str, tmp_path: Path) -> None:
    refused = invoke("roster", "validate", "--db", db, "--roster", "2026-W49-9", code=2)
    assert refused["error"]["error"] == "UnknownRoster"
    assert "2026-W49-9" in refused["error"]["message"]
    nothing = invoke("roster", "validate", "--db", db, code=2)
    assert "roster solve" in runner.invoke(app, ["roster", "validate", "--db", db]).output
    assert nothing["error"]["error"] == "UnknownRoster"
    both = invoke(
        "roster", "validate", "--db", db, "--roster", "x", _file(tmp_path, LAWFUL), code=2
    )
    assert both["error"]["error"] == "UsageError"


def test_need_of_one_post_around_the_clock(store_url: str) -> None:
    # 21 shifts of 8 h = 168 h; a person works at most 5 shifts (40 h, and a sixth would pass
    # the 44-h week), so 4 people are too few (20 shifts) and 5 suffice: needed 5, today 2.
    # Today's two officers cover 2 × 40 h of the 168 h.
    db = _store(store_url, ["P1"], STAFF[:2])
    need = invoke(
        "roster",
        "need",
        "--db",
        db,
        "--week",
        WEEK,
        "--time-limit",
        "20",
        "--deterministic",
        code=0,
    )
    officers = next(r for r in need["needs"] if r["role"] == "officer")
    assert officers["squad_id"] == SQUAD
    assert (officers["today"], officers["needed"], officers["short"]) == (2, 5, 3)
    assert officers["proven"] is True
    assert officers["required_hours"] == pytest.approx(168.0)
    assert officers["coverage_today"] == pytest.approx(80 / 168)
    assert need["totals"]["officer"]["short"] == 3
    assert need["coverage_today"]["strict"]["required_hours"] == pytest.approx(168.0)
    text = runner.invoke(
        app, ["roster", "need", "--db", db, "--week", WEEK, "--time-limit", "20", "--deterministic"]
    )
    assert text.exit_code == 0, text.output
    assert "测试中队" in text.output
    assert "Short" in text.output


def test_need_refuses_a_bad_week(db: str) -> None:
    refused = invoke("roster", "need", "--db", db, "--week", "2026-W60", code=2)
    assert "60" in refused["error"]["message"]


GUIDANCE_POST = {
    "id": "G1",
    "kind": "point",
    "road_name_zh": "英才街",
    "level": "regulated",
    "length_m": 0.0,
    "squad_id": SQUAD,
    "windows": "11:00-13:00",
    "geometry": Point(113.62, 34.86),
}


def test_need_when_the_officers_search_runs_out(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # P1 around the clock and a guidance window every day, in the day slot. Without the
    # officers' spare hours, someone on the day slot 7 days a week: 56 h, so at most 2 assistants
    # are needed, whatever the number of officers the time did not find.
    db = _store(store_url, ["P1"], STAFF, more_posts=(GUIDANCE_POST,))
    real = staffing_search.fewest
    calls: list[int] = []

    def officers_run_out(*args: Any, **kwargs: Any) -> tuple[int | None, bool]:
        calls.append(args[1])
        if len(calls) == 1:  # the officers' search, as if the time ran out first
            return None, False
        return real(*args, **kwargs)

    monkeypatch.setattr(staffing_search, "fewest", officers_run_out)
    args = ("roster", "need", "--db", db, "--week", WEEK, "--time-limit", "10", "--deterministic")
    need = invoke(*args, code=0)
    officers = next(r for r in need["needs"] if r["role"] == "officer")
    assert officers["needed"] is None
    assert officers["upper_bound"] is None
    assert officers["short_is_lower_bound"] is True
    assistants = next(r for r in need["needs"] if r["role"] == "assistant")
    assert assistants["needed"] is None
    assert (assistants["lower_bound"], assistants["upper_bound"], assistants["today"]) == (0, 2, 1)
    assert (assistants["short"], assistants["short_at_most"]) == (0, 1)
    assert assistants["short_is_lower_bound"] is True
    assert need["totals"]["assistant"]["at_most"] == 2
    assert need["totals"]["officer"]["at_most"] is None
    calls.clear()
    text = runner.invoke(app, list(args))
    assert text.exit_code == 0, text.output
    (line,) = [line for line in text.output.splitlines() if "assistant" in line and "│" in line]
    cells = [cell.strip() for cell in line.split("│")]
    assert cells[cells.index("assistant") + 1 :][:3] == ["1", "≤2", "≤1"]  # today, needed, short
    words = " ".join(text.output.split())
    assert "at most 2 assistants (协管员) (today 1)" in words
    assert "Short 缺口: at least 2 officers (执法队员), at most 1 assistants (协管员)." in words
