"""Which roster the coverage answers and maps read, and the problems of a roster they cannot read.

On the small district of :mod:`test_maps`, with its hand-built roster stored as the published
roster of the week of :data:`test_maps.DAY`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString
from test_maps import DAY, DUTIES, LINES, STAFF, filled, roster, token
from typer.testing import CliRunner

from grids.calendar import iso_week
from grids.policy import huiji_default_policy
from server.app import create_app
from server.auth import Role
from server.cli import app as cli
from server.roster_store import RosterStore
from server.settings import Settings
from server.storage import Store

__all__ = ["filled"]  # the fixture of the small district, used here too


def metres(line: LineString) -> float:
    return float(gpd.GeoSeries([line], crs="EPSG:4326").to_crs("EPSG:4547").length.iloc[0])


ROUTES = ("/coverage?date={day}", "/maps/coverage?date={day}", "/maps/gaps?date={day}")


@pytest.fixture
def stored(filled: Store) -> str:
    """Store the hand-built roster as the published roster of DAY's week; return its id."""
    rosters = RosterStore(filled)
    rosters.replace_staff(STAFF, source="tests")
    saved = rosters.save_roster(
        iso_week(DAY), roster(), {}, policy=huiji_default_policy(), status="published"
    )
    return saved.info.roster_id


@pytest.fixture
def client(store_url: str, filled: Store) -> Iterator[tuple[TestClient, dict[str, str]]]:
    headers = {"Authorization": f"Bearer {token(filled, Role.DUTY_LEADER)}"}
    with TestClient(create_app(Settings(database_url=store_url))) as test_client:
        yield test_client, headers


def test_covered_length_by_road_level_squad_and_area(
    client: tuple[TestClient, dict[str, str]], stored: str
) -> None:
    test_client, headers = client
    answer = test_client.get(f"/coverage?date={DAY}&slot=morning", headers=headers).json()
    lengths = answer["lengths"]
    assert set(lengths) == {"road", "level", "squad", "responsibility_grid", "subdistrict"}
    # in the morning: P-R1-0 covered, P-R1-1 a gap (文化路, strict); P-R2-0 covered (开元路)
    first, second, patrol = (metres(LINES[p][3]) for p in ("P-R1-0", "P-R1-1", "P-R2-0"))
    roads = {row["road"]: row for row in lengths["road"]}
    assert roads["文化路"]["required_m"] == pytest.approx(first + second)
    assert roads["文化路"]["covered_m"] == pytest.approx(first)
    assert roads["文化路"]["gap_m"] == pytest.approx(second)
    assert roads["开元路"]["coverage"] == pytest.approx(1.0)
    assert roads["英才街"]["required_m"] == 0
    assert roads["英才街"]["coverage"] is None
    levels = {row["level"]: row for row in lengths["level"]}
    assert levels["strict"]["coverage"] == pytest.approx(first / (first + second))
    for key in ("squad", "responsibility_grid", "subdistrict"):  # one squad, one of each area
        (row,) = lengths[key]
        assert row["required_m"] == pytest.approx(first + second + patrol, rel=1e-6)
        assert row["covered_m"] == pytest.approx(first + patrol, rel=1e-6)


def test_the_stored_roster_is_read_by_id(
    client: tuple[TestClient, dict[str, str]], stored: str
) -> None:
    test_client, headers = client
    answer = test_client.get(f"/coverage?date={DAY}&roster={stored}", headers=headers)
    assert answer.status_code == 200
    assert answer.json()["roster"] == {
        "id": stored,
        "status": "published",
        "source": stored,
        "assignments": len(DUTIES),
    }


@pytest.mark.parametrize("route", [*ROUTES, "/coverage/now?"])
def test_an_unknown_roster_is_a_404_problem(
    client: tuple[TestClient, dict[str, str]], stored: str, route: str
) -> None:
    test_client, headers = client
    url = route.format(day=DAY) + "&roster=2026-W49-99"
    answer = test_client.get(url, headers=headers)
    assert answer.status_code == 404, url
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith(":not-found")
    assert problem["error"] == "NotFound"
    assert problem["field"] == "roster"
    assert problem["roster"] == "2026-W49-99"
    assert "no roster '2026-W49-99' is stored" in problem["detail"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_roster_of_another_week_is_a_404_problem(
    client: tuple[TestClient, dict[str, str]], stored: str, route: str
) -> None:
    test_client, headers = client
    later = DAY + timedelta(days=7)
    answer = test_client.get(route.format(day=later) + f"&roster={stored}", headers=headers)
    assert answer.status_code == 404
    problem = answer.json()
    assert problem["field"] == "roster"
    assert iso_week(DAY) in problem["detail"]
    assert iso_week(later) in problem["detail"]
    # without an id, that week has no roster: the demand with no one assigned
    open_week = test_client.get(f"/coverage?date={later}", headers=headers)
    assert open_week.status_code == 200
    assert open_week.json()["roster"]["assignments"] == 0


def test_map_command_refuses_an_unknown_roster(store_url: str, stored: str, tmp_path: Path) -> None:
    output = tmp_path / "map.html"
    command = ["map", "--db", store_url, "--date", DAY.isoformat(), "-o", str(output), "--json"]
    result = CliRunner().invoke(cli, [*command, "--roster", "2026-W49-99"])
    assert result.exit_code == 2
    error = json.loads(result.output)["error"]
    assert error["field"] == "roster"
    assert "2026-W49-99" in error["message"]
    assert not output.exists()
    written = CliRunner().invoke(cli, [*command, "--roster", stored])
    assert written.exit_code == 0, written.output
    assert json.loads(written.output)["assignments"] == len(DUTIES)
