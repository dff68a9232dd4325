"""``GET /rosters/{roster_id}/sheet.xlsx``: the duty sheet for those who may read duties."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import unquote

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from grids.duty_sheet import SCHEMATIC_LABEL, SUMMARY_SHEET
from grids.policy import huiji_default_policy
from grids.staff import Officer
from server.app import create_app
from server.auth import Role, create_token
from server.roster_store import RosterStore
from server.settings import Settings
from server.storage import Provenance, Store

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WEEK = "2026-W49"
MON = date(2026, 11, 30)
STAFF = [
    Officer("officer-1", "李明", "squad-01", "officer"),
    Officer("leader-1", "张队", None, "leader"),
]


def _roster() -> pd.DataFrame:
    policy = huiji_default_policy()
    rows = []
    for officer, slot, post, task in (
        ("officer-1", "morning", "post-R-10-1", "strict_post"),
        ("leader-1", "day", "leader_duty", "leader_duty"),
    ):
        person = next(p for p in STAFF if p.id == officer)
        start, end = (
            policy.leader.on(MON) if slot == "day" else policy.slot("weekday", slot).on(MON)
        )
        rows.append(
            {
                "officer_id": officer,
                "role": person.role,
                "squad_id": person.squad_id,
                "date": MON,
                "slot_id": slot,
                "start": start,
                "end": end,
                "post_id": post,
                "task": task,
                "requirement_id": None,
                "pinned": False,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def service(
    store_url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Provenance],
) -> Iterator[tuple[TestClient, dict[Role, str], str]]:
    policy = huiji_default_policy()
    with Store.open(store_url) as store:
        store.write_layers(
            layer_frames,
            provenance={n: make_provenance(n, f) for n, f in layer_frames.items()},
        )
        rosters = RosterStore(store)
        rosters.replace_staff(STAFF, source="staff.csv")
        rosters.save_policy(policy)
        roster_id = rosters.save_roster(WEEK, _roster(), {}, policy=policy).info.roster_id
        secrets = {}
        for role in (Role.VIEWER, Role.DUTY_LEADER, Role.PLANNER):
            with store.transaction() as connection:
                _, secrets[role] = create_token(
                    connection, role=role, name=f"test {role.value}", created_by="tests"
                )
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield client, secrets, roster_id


def _get(client: TestClient, path: str, secret: str | None) -> Any:
    headers = {"Accept": "application/json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return client.get(path, headers=headers)


def test_a_duty_leader_downloads_the_sheet(
    service: tuple[TestClient, dict[Role, str], str],
) -> None:
    client, secrets, roster_id = service
    answer = _get(client, f"/rosters/{roster_id}/sheet.xlsx", secrets[Role.DUTY_LEADER])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="duty-sheet-{roster_id}.xlsx"' in disposition
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == f"排班表-{roster_id}.xlsx"
    assert answer.headers["etag"].startswith('W/"')
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["新城中队", "花园口中队", SUMMARY_SHEET]
    texts = [str(c.value) for row in book["新城中队"].iter_rows() for c in row if c.value]
    assert "李明 officer-1" in texts
    assert any(t.startswith("带班领导：张队（leader-1）") for t in texts)
    assert any(SCHEMATIC_LABEL in t for t in texts)


def test_a_planner_may_download_it_too(
    service: tuple[TestClient, dict[Role, str], str],
) -> None:
    client, secrets, roster_id = service
    answer = _get(client, f"/rosters/{roster_id}/sheet.xlsx", secrets[Role.PLANNER])
    assert answer.status_code == 200
    assert answer.content.startswith(b"PK")


def test_an_unknown_roster_is_a_404_problem(
    service: tuple[TestClient, dict[Role, str], str],
) -> None:
    client, secrets, _ = service
    answer = _get(client, "/rosters/2030-W01-7/sheet.xlsx", secrets[Role.DUTY_LEADER])
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert "2030-W01-7" in problem["detail"]
    assert problem["field"] == "roster_id"


def test_those_who_may_not_read_duties_are_refused(
    service: tuple[TestClient, dict[Role, str], str],
) -> None:
    client, secrets, roster_id = service
    assert _get(client, f"/rosters/{roster_id}/sheet.xlsx", None).status_code == 401
    refused = _get(client, f"/rosters/{roster_id}/sheet.xlsx", secrets[Role.VIEWER])
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
