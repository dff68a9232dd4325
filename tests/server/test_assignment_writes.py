"""Assignment edits (PATCH) read and write only what they must: the roster's version is checked
before any row is read, only the named officers' rows are read, and the version is compared and
bumped in the write's transaction, so that of two edits made from one ETag exactly one is kept
(SQLite and PostGIS)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from geodata.errors import FieldError
from grids.calendar import week_dates
from grids.policy import huiji_default_policy
from grids.roster import ASSIGNMENT_COLUMNS, check_assignments
from grids.staff import Officer
from server.app import create_app
from server.auth import Role, create_token
from server.roster_store import RosterConflictError, RosterStore
from server.routes import assignments
from server.settings import Settings
from server.storage import Store

WEEK = "2026-W49"
DAYS = week_dates(WEEK)
MONDAY = DAYS[0]
OFFICERS = [f"S1-{n}" for n in range(6)]


def _row(officer: str, day: date, hour: int) -> dict[str, Any]:
    start = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
    return {
        "officer_id": officer,
        "role": "officer",
        "squad_id": "squad-01",
        "date": day,
        "slot_id": "morning" if hour == 8 else "afternoon",
        "start": start,
        "end": start + timedelta(hours=3 if hour == 15 else 4),
        "post_id": None,
        "task": "reserve",
        "requirement_id": None,
        "pinned": False,
    }


def _roster() -> pd.DataFrame:
    """Six officers on reserve every morning and afternoon of the week: 84 rows."""
    rows = [_row(o, day, hour) for o in OFFICERS for day in DAYS for hour in (8, 15)]
    frame = pd.DataFrame(rows)
    frame["start"] = frame["start"].astype("datetime64[ns]")
    frame["end"] = frame["end"].astype("datetime64[ns]")
    return check_assignments(frame[list(ASSIGNMENT_COLUMNS)])


@dataclass
class Service:
    client: TestClient
    store: Store
    admin: dict[str, str]
    roster_id: str

    @property
    def path(self) -> str:
        return f"/rosters/{self.roster_id}/assignments"

    def etag(self) -> str:
        answer = self.client.get(f"/rosters/{self.roster_id}", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return str(answer.headers["etag"])

    def patch(self, body: dict[str, Any], etag: str | None) -> Any:
        headers = dict(self.admin) if etag is None else {**self.admin, "If-Match": etag}
        return self.client.patch(self.path, json=body, headers=headers)

    def rows(self) -> list[dict[str, Any]]:
        answer = self.client.get(self.path, headers=self.admin)
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()
        return rows


@pytest.fixture
def service(store_url: str) -> Iterator[Service]:
    with Store.open(store_url) as store:
        rosters = RosterStore(store)
        staff = [Officer(id=o, name=o, squad_id="squad-01", role="officer") for o in OFFICERS]
        rosters.replace_staff(staff, source="tests")
        policy = huiji_default_policy()
        rosters.save_policy(policy, source="tests")
        stored = rosters.save_roster(WEEK, _roster(), {"status": "HAND"}, policy=policy)
        with store.transaction() as connection:
            _, secret = create_token(
                connection, role=Role.ADMIN, name="test admin", created_by="tests"
            )
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield Service(
                client, store, {"Authorization": f"Bearer {secret}"}, stored.info.roster_id
            )


def _key(officer: str, day: date, slot: str) -> dict[str, str]:
    return {"officer_id": officer, "date": day.isoformat(), "slot_id": slot}


def _audits(service: Service) -> list[dict[str, Any]]:
    answer = service.client.get(
        "/audit", params={"action": "roster.assignments.edit"}, headers=service.admin
    )
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


def test_preconditions_are_checked_before_any_row_is_read(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rows(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("rows read before If-Match was checked")

    monkeypatch.setattr(RosterStore, "roster", no_rows)
    monkeypatch.setattr(RosterStore, "officer_assignments", no_rows)
    monkeypatch.setattr(assignments, "row_context", no_rows)
    body = {"change": [{**_key("S1-0", MONDAY, "morning"), "pinned": True}]}
    missing = service.patch(body, None)
    assert missing.status_code == 428
    assert missing.json()["field"] == "If-Match"
    stale = service.patch(body, 'W/"stale"')
    assert stale.status_code == 412
    assert stale.json()["field"] == "If-Match"


def test_an_edit_reads_only_the_named_officers_rows(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = service.rows()
    etag = service.etag()
    asked: list[set[str]] = []
    read_officers = RosterStore.officer_assignments

    def spy(self: RosterStore, roster_id: str, officers: Any, **kwargs: Any) -> Any:
        asked.append(set(officers))
        return read_officers(self, roster_id, officers, **kwargs)

    def no_whole_roster(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the whole roster was read for an edit")

    monkeypatch.setattr(RosterStore, "officer_assignments", spy)
    monkeypatch.setattr(RosterStore, "roster", no_whole_roster)
    body = {
        "change": [{**_key("S1-1", MONDAY, "morning"), "post_id": "post-1", "task": "patrol"}],
        "remove": [_key("S1-2", DAYS[1], "afternoon")],
    }
    done = service.patch(body, etag)
    assert done.status_code == 200, done.text
    assert asked == [{"S1-1", "S1-2"}]
    result = done.json()
    assert (result["changed"], result["removed"], result["added"]) == (1, 1, 0)
    assert result["assignments"] == len(before) - 1
    monkeypatch.undo()
    after = service.rows()
    assert len(after) == len(before) - 1
    touched = {("S1-1", MONDAY.isoformat(), "morning"), ("S1-2", DAYS[1].isoformat(), "afternoon")}

    def untouched(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if (r["officer_id"], r["date"], r["slot_id"]) not in touched]

    assert untouched(after) == untouched(before)
    (changed,) = [r for r in after if (r["officer_id"], r["date"], r["slot_id"]) == min(touched)]
    assert (changed["post_id"], changed["task"], changed["pinned"]) == ("post-1", "patrol", True)
    (entry,) = _audits(service)
    summary = entry["summary"]
    assert summary["before"] == {"version": 1, "assignments": len(before)}
    assert summary["after"] == {"version": 2, "assignments": len(before) - 1}
    assert summary["rows_before"][0]["post_id"] is None
    assert summary["rows_after"][0]["post_id"] == "post-1"


def test_an_edit_that_changes_nothing_keeps_the_version(service: Service) -> None:
    count = len(service.rows())
    body = {"change": [{**_key("S1-3", MONDAY, "morning"), "pinned": False}]}
    same = service.patch(body, service.etag())
    assert same.status_code == 200, same.text
    assert same.json()["unchanged"] is True
    assert same.json()["version"] == 1
    assert same.json()["assignments"] == count
    assert _audits(service) == []


def test_an_added_row_with_a_padded_key_changes_the_row_it_names(service: Service) -> None:
    count = len(service.rows())
    padded = {"officer_id": " S1-4 ", "date": MONDAY.isoformat(), "slot_id": "morning"}
    body = {"add": [{**padded, "post_id": "post-2", "task": "patrol"}]}
    done = service.patch(body, service.etag())
    assert done.status_code == 200, done.text
    assert (done.json()["added"], done.json()["changed"]) == (0, 1)
    assert done.json()["assignments"] == count
    rows = [
        r
        for r in service.rows()
        if (r["officer_id"], r["date"], r["slot_id"]) == ("S1-4", MONDAY.isoformat(), "morning")
    ]
    assert [(r["post_id"], r["task"]) for r in rows] == [("post-2", "patrol")]


def test_two_edits_from_one_etag_keep_exactly_one(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both edits pass the If-Match check before either writes: the write's compare-and-set
    decides."""
    etag = service.etag()
    both_checked = threading.Barrier(2, timeout=30)
    context = assignments.row_context

    def after_the_check(*args: Any, **kwargs: Any) -> Any:
        both_checked.wait()
        return context(*args, **kwargs)

    monkeypatch.setattr(assignments, "row_context", after_the_check)
    bodies = [
        {"change": [{**_key("S1-5", MONDAY, "morning"), "post_id": f"post-{n}", "task": "patrol"}]}
        for n in (1, 2)
    ]
    answers: dict[int, Any] = {}

    def send(n: int) -> None:
        answers[n] = service.patch(bodies[n], etag)

    threads = [threading.Thread(target=send, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers.values()) == [200, 412], [
        a.text for a in answers.values()
    ]
    (winner,) = [n for n, a in answers.items() if a.status_code == 200]
    assert answers[winner].json()["version"] == 2
    monkeypatch.undo()
    assert service.etag() == answers[winner].headers["etag"]
    (row,) = [
        r
        for r in service.rows()
        if (r["officer_id"], r["date"], r["slot_id"]) == ("S1-5", MONDAY.isoformat(), "morning")
    ]
    assert row["post_id"] == f"post-{winner + 1}"
    assert len(_audits(service)) == 1


def test_a_stale_store_edit_changes_nothing(service: Service) -> None:
    rosters = RosterStore(service.store)
    before = rosters.roster(service.roster_id)
    (key,) = [("S1-0", MONDAY, "morning")]
    old = rosters.officer_assignments(service.roster_id, ["S1-0"])[key]
    new = {**old, "task": "patrol", "post_id": "post-9"}
    version = rosters.edit_assignments(
        service.roster_id, remove=[key], add=[new], expected_version=1
    )
    assert version == 2
    with pytest.raises(RosterConflictError, match="version 2, not 1"):
        rosters.edit_assignments(
            service.roster_id, remove=[key], add=[{**old, "task": "reserve"}], expected_version=1
        )
    after = rosters.roster(service.roster_id)
    assert after.version == 2
    assert len(after.assignments) == len(before.assignments)
    assert rosters.officer_assignments(service.roster_id, ["S1-0"])[key] == new
    with pytest.raises(KeyError):
        rosters.edit_assignments("2026-W49-99", remove=[], add=[], expected_version=1)


def test_a_bad_row_given_to_the_store_names_its_row_and_field(service: Service) -> None:
    rosters = RosterStore(service.store)
    key = ("S1-0", MONDAY, "morning")
    old = rosters.officer_assignments(service.roster_id, ["S1-0"])[key]
    backwards = {**old, "end": old["start"] - timedelta(hours=1)}
    with pytest.raises(FieldError) as raised:
        rosters.edit_assignments(
            service.roster_id, remove=[key], add=[old, backwards], expected_version=1
        )
    assert (raised.value.row, raised.value.field) == (2, "end")
    assert rosters.roster_head(service.roster_id).version == 1
    assert rosters.officer_assignments(service.roster_id, ["S1-0"])[key] == old
