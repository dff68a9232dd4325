"""Squads and the staff list through the API: uploads checked whole, idempotent, audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import openpyxl
import pytest
from fastapi.testclient import TestClient

from geodata.crs import to_metric
from grids.staff import Officer, read_staff
from server.app import create_app
from server.auth import Role, create_token
from server.roster_store import RosterStore
from server.settings import Settings
from server.storage import Provenance, Store

MakeProvenance = Callable[[str, gpd.GeoDataFrame], Provenance]
PROBLEM = "application/problem+json"
LEAVE = "2026-12-01..2026-12-03 年假"
HEADER = ["工号", "姓名", "中队", "角色", "周工时", "电话", "请假", "可排时段"]
ROWS = [
    ["S1-001", "李明", "squad-01", "执法队员", "40", "13800000001", LEAVE, ""],
    ["S1-002", "王芳", "squad-01", "执法队员", "40", "", "", "sat-sun:none"],
    ["S1-003", "赵强", "squad-01", "协管员", "36", "", "", ""],
    ["S2-001", "孙丽", "squad-02", "执法队员", "40", "", "", "mon-fri:morning,afternoon"],
    ["S2-002", "周杰", "花园口中队", "劝导员", "40", "", "", ""],
    ["L-001", "吴刚", "", "带班领导", "40", "", "", ""],
]


def csv_bytes(rows: list[list[str]], *, encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([HEADER, *rows])
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[str]], *, title: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.create_sheet("人员", 0)
    del book[book.sheetnames[1]]
    if title is not None:
        sheet.append([title])
    sheet.append(HEADER)
    for row in rows:
        sheet.append([float(c) if c.isdigit() and len(c) < 4 else c for c in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass
class Service:
    client: TestClient
    store: Store
    tokens: dict[str, dict[str, str]]

    def put(
        self,
        name: str,
        content: bytes,
        *,
        who: str = "admin",
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self.client.put(
            "/officers",
            files={"file": (name, io.BytesIO(content), "application/octet-stream")},
            headers={**self.tokens[who], **(headers or {})},
        )

    def get(self, path: str, *, who: str = "admin", **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.tokens[who])

    def audit(self) -> list[dict[str, Any]]:
        answer = self.get("/audit", action="staff.replace")
        assert answer.status_code == 200
        entries: list[dict[str, Any]] = answer.json()["entries"]
        return entries

    def staff(self) -> list[Officer]:
        return RosterStore(self.store).staff()


def bearer(store: Store, role: Role, **grants: Any) -> dict[str, str]:
    with store.transaction() as connection:
        _, secret = create_token(
            connection, role=role, name=f"{role.value} 测试", created_by="tests", **grants
        )
    return {"Authorization": f"Bearer {secret}"}


def make_service(
    url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: MakeProvenance,
    **settings: Any,
) -> Iterator[Service]:
    with Store.open(url) as store:
        store.write_layers(
            layer_frames, provenance={n: make_provenance(n, f) for n, f in layer_frames.items()}
        )
        tokens = {
            "admin": bearer(store, Role.ADMIN),
            "planner": bearer(store, Role.PLANNER, squads=["squad-01"]),
            "leader": bearer(store, Role.DUTY_LEADER, squads=["squad-01"]),
            "officer": bearer(store, Role.OFFICER, officer_id="S1-002"),
            "viewer": bearer(store, Role.VIEWER),
        }
        app = create_app(Settings(database_url=url, **settings))
        with TestClient(app) as client:
            yield Service(client, store, tokens)


@pytest.fixture
def service(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> Iterator[Service]:
    yield from make_service(store_url, layer_frames, make_provenance)


def test_a_good_csv_replaces_the_staff_list_and_is_audited(service: Service) -> None:
    answer = service.put("人员名单.csv", csv_bytes(ROWS))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unchanged"] is False
    assert body["people"] == len(ROWS)
    assert body["by_role"] == {"officer": 3, "assistant": 2, "leader": 1, "total": 6}
    assert body["changes"]["added"] == len(ROWS)
    assert body["squads"] is None
    stored = {o.id: o for o in service.staff()}
    assert sorted(stored) == sorted(row[0] for row in ROWS)
    assert stored["S2-002"].squad_id == "squad-02"  # the squad's name in the file, resolved
    assert stored["S1-001"].leave[0].kind == "年假"
    listed = service.get("/officers")
    assert listed.status_code == 200
    assert listed.headers["etag"] == answer.headers["etag"]
    assert listed.json()["count"] == len(ROWS)
    assert listed.json()["source"] == "人员名单.csv"
    first = service.get("/officers/S1-002").json()
    assert first["availability"] == {"sat": [], "sun": []}
    [entry] = service.audit()
    assert entry["route"] == "/officers"
    assert entry["method"] == "PUT"
    assert entry["role"] == "admin"
    assert entry["id"] == body["audit_id"]
    summary = entry["summary"]
    assert summary["before"]["by_role"]["total"] == 0
    assert summary["after"]["by_role"]["total"] == len(ROWS)
    assert summary["added_ids"] == sorted(row[0] for row in ROWS)
    assert summary["file"] == "人员名单.csv"


def test_the_same_list_again_changes_nothing_and_says_so(service: Service) -> None:
    first = service.put("staff.csv", csv_bytes(ROWS))
    assert first.json()["unchanged"] is False
    again = service.put("staff.csv", csv_bytes(ROWS))
    assert again.status_code == 200
    assert again.json()["unchanged"] is True
    assert "nothing changed" in again.json()["message"]
    assert again.json()["audit_id"] is None
    assert again.headers["etag"] == first.headers["etag"]
    # the same people as a workbook, with a title row above the header, are the same list
    workbook = service.put("staff.xlsx", xlsx_bytes(ROWS, title="惠济区城管执法人员名单"))
    assert workbook.status_code == 200, workbook.text
    assert workbook.json()["unchanged"] is True
    gbk = service.put("staff_gbk.csv", csv_bytes(ROWS, encoding="gbk"))
    assert gbk.json()["unchanged"] is True
    assert len(service.audit()) == 1


def test_an_xlsx_list_replaces_the_staff(service: Service) -> None:
    answer = service.put("staff.xlsx", xlsx_bytes(ROWS[:3]))
    assert answer.status_code == 200, answer.text
    assert [o.id for o in service.staff()] == ["S1-001", "S1-002", "S1-003"]
    assert service.staff()[2].contract_hours_week == 36


def test_a_file_with_bad_rows_is_refused_whole_with_every_problem(service: Service) -> None:
    assert service.put("staff.csv", csv_bytes(ROWS)).status_code == 200
    before = service.staff()
    bad = [
        *ROWS[:2],
        ["S1-004", "钱多", "squad-09", "执法队员", "40", "", "", ""],
        ["S1-005", "孔亮", "squad-01", "队长", "60", "", "", ""],
        ["S1-001", "李明", "squad-01", "执法队员", "40", "", "2026-12-05..2026-12-01", ""],
    ]
    for name, content, first_row in [
        ("bad.csv", csv_bytes(bad), 2),
        ("bad.xlsx", xlsx_bytes(bad, title="名单"), 3),
    ]:
        answer = service.put(name, content)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == PROBLEM
        problem = answer.json()
        assert problem["file"] == name
        found = {(p["row"], p["field"]) for p in problem["problems"]}
        assert found == {
            (first_row + 2, "squad"),
            (first_row + 3, "role"),
            (first_row + 3, "contract_hours"),
            (first_row + 4, "leave"),
            (first_row + 4, "id"),
        }
        squad = next(p for p in problem["problems"] if p["field"] == "squad")
        assert squad["value"] == "squad-09"
        assert "squad-01" in squad["message"]
        assert "5 problems" in problem["detail"]
    assert service.staff() == before
    assert len(service.audit()) == 1


def test_files_that_are_not_staff_lists_are_refused(service: Service) -> None:
    cases = [
        ("staff.txt", csv_bytes(ROWS), 415),
        ("staff.xlsx", csv_bytes(ROWS), 415),
        ("staff.csv", b"id,name\n", 422),
        ("staff.csv", b"\xff\xfe\x00garbage", 422),
    ]
    for name, content, status in cases:
        answer = service.put(name, content)
        assert answer.status_code == status, (name, answer.text)
        assert answer.headers["content-type"] == PROBLEM
    encoding = service.client.put(
        "/officers",
        files={"file": ("staff.csv", io.BytesIO(csv_bytes(ROWS)), "text/csv")},
        data={"encoding": "klingon"},
        headers=service.tokens["admin"],
    )
    assert encoding.status_code == 400
    assert encoding.json()["field"] == "encoding"
    sheet = service.client.put(
        "/officers",
        files={"file": ("staff.xlsx", io.BytesIO(xlsx_bytes(ROWS)), "application/octet-stream")},
        data={"sheet": "没有"},
        headers=service.tokens["admin"],
    )
    assert sheet.status_code == 422
    assert "人员" in sheet.json()["detail"]
    assert service.staff() == []


def test_an_upload_over_the_limit_is_refused(
    store_url: str, layer_frames: dict[str, gpd.GeoDataFrame], make_provenance: MakeProvenance
) -> None:
    limit = len(csv_bytes(ROWS)) - 1
    for service in make_service(store_url, layer_frames, make_provenance, max_upload_bytes=limit):
        answer = service.put("staff.csv", csv_bytes(ROWS))
        assert answer.status_code == 413
        assert service.staff() == []
        assert service.put("staff.csv", csv_bytes(ROWS[:1])).status_code == 200


def test_the_etag_guards_the_staff_list(service: Service) -> None:
    empty = service.get("/officers").headers["etag"]
    assert service.put("staff.csv", csv_bytes(ROWS), headers={"If-Match": empty}).status_code == 200
    current = service.get("/officers").headers["etag"]
    assert current != empty
    stale = service.put("staff.csv", csv_bytes(ROWS[:2]), headers={"If-Match": empty})
    assert stale.status_code == 412
    assert stale.json()["etag"] == current
    assert len(service.staff()) == len(ROWS)
    fresh = service.put("staff.csv", csv_bytes(ROWS[:2]), headers={"If-Match": current})
    assert fresh.status_code == 200
    assert fresh.json()["changes"]["removed"] == len(ROWS) - 2
    assert service.put("staff.csv", csv_bytes(ROWS), headers={"If-Match": "*"}).status_code == 200


def test_a_planner_changes_only_the_people_of_its_squads(service: Service) -> None:
    assert service.put("staff.csv", csv_bytes(ROWS)).status_code == 200
    others = service.put("s.csv", csv_bytes([ROWS[0], ROWS[3]]), who="planner")
    assert others.status_code == 403
    assert "squad-02" in others.json()["detail"]
    leader = service.put("s.csv", csv_bytes([ROWS[0], ROWS[5]]), who="planner")
    assert leader.status_code == 403
    moved = [["S2-001", "孙丽", "squad-01", "执法队员", "40", "", "", ""]]
    taken = service.put("s.csv", csv_bytes([ROWS[0], *moved]), who="planner")
    assert taken.status_code == 403
    assert "S2-001" in taken.json()["detail"]
    assert len(service.audit()) == 1
    mine = [ROWS[0], ["S1-009", "新人", "squad-01", "执法队员", "40", "", "", ""]]
    answer = service.put("s.csv", csv_bytes(mine), who="planner")
    assert answer.status_code == 200, answer.text
    assert answer.json()["squads"] == ["squad-01"]
    changes = answer.json()["changes"]
    assert (changes["added_ids"], changes["removed_ids"]) == (["S1-009"], ["S1-002", "S1-003"])
    stored = {o.id: o.squad_id for o in service.staff()}
    assert stored == {
        "S1-001": "squad-01",
        "S1-009": "squad-01",
        "S2-001": "squad-02",
        "S2-002": "squad-02",
        "L-001": None,
    }
    assert service.audit()[0]["role"] == "planner"
    assert service.put("s.csv", csv_bytes(ROWS[:1]), who="leader").status_code == 403


def test_an_officer_sees_only_itself_and_a_viewer_no_one(service: Service) -> None:
    assert service.put("staff.csv", csv_bytes(ROWS)).status_code == 200
    listed = service.get("/officers", who="officer")
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()["officers"]] == ["S1-002"]
    assert service.get("/officers/S1-002", who="officer").json()["name"] == "王芳"
    for other in ("S1-001", "nobody"):
        refused = service.get(f"/officers/{other}", who="officer")
        assert refused.status_code == 403
        assert "S1-002" in refused.json()["detail"]
    exported = service.get("/officers", who="officer", format="csv")
    assert exported.text.count("\n") == 2  # the header and its own row
    for path in ("/officers", "/officers/S1-002"):
        assert service.get(path, who="viewer").status_code == 403
    assert service.get("/officers", who="leader").json()["count"] == len(ROWS)
    assert service.get("/officers/nobody").status_code == 404
    assert service.put("staff.csv", csv_bytes(ROWS), who="officer").status_code == 403


def test_the_list_is_filtered_and_exported_as_files_read_back_alike(
    service: Service, tmp_path: Path
) -> None:
    assert service.put("staff.csv", csv_bytes(ROWS)).status_code == 200
    squad = service.get("/officers", squad="squad-02").json()
    assert [o["id"] for o in squad["officers"]] == ["S2-001", "S2-002"]
    assistants = service.get("/officers", role="assistant").json()
    assert [o["id"] for o in assistants["officers"]] == ["S1-003", "S2-002"]
    assert service.get("/officers", role="chief").status_code == 400
    for fmt, suffix in [("csv", ".csv"), ("xlsx", ".xlsx")]:
        answer = service.get("/officers", format=fmt)
        assert answer.status_code == 200
        assert answer.headers["etag"] == service.get("/officers").headers["etag"]
        path = tmp_path / f"export{suffix}"
        path.write_bytes(answer.content)
        assert sorted(read_staff(path), key=lambda o: o.id) == service.staff()
        again = service.put(f"export{suffix}", answer.content)
        assert again.json()["unchanged"] is True


def test_squads_have_their_territory_grids_and_headcount(
    service: Service, layer_frames: dict[str, gpd.GeoDataFrame]
) -> None:
    assert service.put("staff.csv", csv_bytes(ROWS)).status_code == 200
    answer = service.get("/squads", who="viewer")
    assert answer.status_code == 200
    squads = {s["id"]: s for s in answer.json()["squads"]}
    assert set(squads) == {"squad-01", "squad-02"}
    frame = layer_frames["squads"]
    drawn = frame[frame.geometry.notna()]
    area = float(to_metric(drawn).area.iloc[0]) / 1e6
    assert squads["squad-01"]["territory_km2"] == pytest.approx(area, rel=1e-6)
    assert squads["squad-02"]["territory_km2"] is None
    grids = layer_frames["unit_grids"]
    assert squads["squad-01"]["unit_grids"] == int((grids["squad_id"] == "squad-01").sum())
    assert squads["squad-01"]["responsibility_grids"] == len(layer_frames["responsibility_grids"])
    assert squads["squad-01"]["headcount"] == {
        "officer": 2,
        "assistant": 1,
        "leader": 0,
        "total": 3,
    }
    assert squads["squad-02"]["headcount"]["total"] == 2
    assert squads["squad-02"]["name_zh"] == "花园口中队"
    assert answer.json()["district_staff"]["leader"] == 1
