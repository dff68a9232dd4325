"""The roster routes: listing, solving as a job, reading and editing assignments, publishing,
validation, on a small district of two squads (SQLite and PostGIS)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from geodata.errors import FieldError
from grids.calendar import week_dates
from grids.policy import huiji_default_policy
from grids.roster import ASSIGNMENT_COLUMNS, check_assignments
from grids.roster_io import read_assignments
from grids.staff import Officer
from server.app import create_app
from server.auth import Principal, Role, create_token
from server.errors import NotFound
from server.jobs import Job, JobProgress, JobRegistry, ProgressReport
from server.roster_store import RosterConflictError, RosterStore
from server.settings import Settings
from server.storage import Store

WEEK = "2026-W49"
DAYS = week_dates(WEEK)
MONDAY = DAYS[0]
SLOTS = {"morning": (8, 12), "midday": (12, 15), "afternoon": (15, 18)}


def _staff() -> list[Officer]:
    people = [
        Officer(id=f"S1-{n}", name=f"新城队员{n}", squad_id="squad-01", role="officer")
        for n in range(8)
    ]
    people += [
        Officer(id=f"A1-{n}", name=f"新城协管{n}", squad_id="squad-01", role="assistant")
        for n in range(3)
    ]
    people += [Officer(id="S2-0", name="花园口队员", squad_id="squad-02", role="officer")]
    people += [
        Officer(id=f"L-{n}", name=f"带班领导{n}", squad_id=None, role="leader") for n in range(3)
    ]
    return people


def _row(
    who: tuple[str, str, str | None], day: date, slot: str, post: str | None, task: str
) -> dict[str, Any]:
    officer, role, squad = who
    if slot == "day":
        start = datetime.combine(day, datetime.min.time()) + timedelta(hours=6)
        end = start + timedelta(hours=24)
    else:
        first, last = SLOTS[slot]
        start = datetime.combine(day, datetime.min.time()) + timedelta(hours=first)
        end = start + timedelta(hours=last - first)
    return {
        "officer_id": officer,
        "role": role,
        "squad_id": squad,
        "date": day,
        "slot_id": slot,
        "start": start,
        "end": end,
        "post_id": post,
        "task": task,
        "requirement_id": None,
        "pinned": False,
    }


def _hand_made_roster() -> pd.DataFrame:
    """A small roster, in which S1-2 works every day of the week (no rest day: art. 38)."""
    rows = [
        _row(("S1-0", "officer", "squad-01"), MONDAY, "morning", "post-R-10-1", "strict_post"),
        _row(("S1-1", "officer", "squad-01"), MONDAY, "midday", "post-R-10-1", "strict_post"),
        _row(("S2-0", "officer", "squad-02"), MONDAY, "morning", None, "reserve"),
        _row(("L-0", "leader", None), MONDAY, "day", None, "leader_duty"),
    ]
    rows += [
        _row(("S1-2", "officer", "squad-01"), day, "afternoon", "post-R-10-1", "strict_post")
        for day in DAYS
    ]
    frame = pd.DataFrame(rows)
    frame["start"] = frame["start"].astype("datetime64[ns]")
    frame["end"] = frame["end"].astype("datetime64[ns]")
    return check_assignments(frame[list(ASSIGNMENT_COLUMNS)])


@dataclass
class Service:
    """The app on a small district, with a token of every role and a hand-made roster."""

    client: TestClient
    store: Store
    tokens: dict[str, str]
    roster_id: str

    def auth(self, who: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **headers}

    def etag(self, who: str = "admin") -> str:
        answer = self.client.get(f"/rosters/{self.roster_id}", headers=self.auth(who))
        assert answer.status_code == 200, answer.text
        return str(answer.headers["etag"])

    def rows(self, who: str = "admin") -> list[dict[str, Any]]:
        answer = self.client.get(f"/rosters/{self.roster_id}/assignments", headers=self.auth(who))
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()
        return rows


def _token(store: Store, role: Role, **kwargs: Any) -> str:
    with store.transaction() as connection:
        _, secret = create_token(
            connection, role=role, name=f"test {role.value}", created_by="tests", **kwargs
        )
    return secret


@pytest.fixture
def service(
    store_url: str,
    layer_frames: dict[str, gpd.GeoDataFrame],
    make_provenance: Callable[[str, gpd.GeoDataFrame], Any],
) -> Iterator[Service]:
    frames = {**layer_frames, "zones": layer_frames["zones"].assign(squad_id="squad-01")}
    with Store.open(store_url) as store:
        store.write_layers(frames, provenance={n: make_provenance(n, f) for n, f in frames.items()})
        rosters = RosterStore(store)
        rosters.replace_staff(_staff(), source="tests")
        policy = huiji_default_policy()
        rosters.save_policy(policy, source="tests")
        stored = rosters.save_roster(WEEK, _hand_made_roster(), {"status": "HAND"}, policy=policy)
        tokens = {
            "admin": _token(store, Role.ADMIN),
            "planner": _token(store, Role.PLANNER, squads=["squad-01"]),
            "leader": _token(store, Role.DUTY_LEADER, squads=["squad-01"]),
            "officer": _token(store, Role.OFFICER, officer_id="S1-2"),
            "viewer": _token(store, Role.VIEWER),
        }
        with TestClient(create_app(Settings(database_url=store_url))) as client:
            yield Service(client, store, tokens, stored.info.roster_id)


def _audit(service: Service, action: str) -> list[dict[str, Any]]:
    answer = service.client.get("/audit", params={"action": action}, headers=service.auth("admin"))
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


def test_rosters_are_listed_and_read_with_their_version(service: Service) -> None:
    listed = service.client.get("/rosters", headers=service.auth("leader"))
    assert listed.status_code == 200
    (roster,) = listed.json()["rosters"]
    assert roster["id"] == service.roster_id
    assert roster["week"] == WEEK
    assert roster["status"] == "draft"
    assert roster["assignments"] == len(_hand_made_roster())
    other_week = service.client.get(
        "/rosters", params={"week": "2026-W50"}, headers=service.auth("leader")
    )
    assert other_week.json()["rosters"] == []
    read = service.client.get(f"/rosters/{service.roster_id}", headers=service.auth("leader"))
    assert read.status_code == 200
    assert read.headers["etag"].startswith('W/"')
    assert read.json()["version"] == 1
    assert read.json()["solver"] == {"status": "HAND"}
    unknown = service.client.get("/rosters/2026-W49-99", headers=service.auth("leader"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "GET /rosters" in unknown.json()["detail"]
    bad_week = service.client.get(
        "/rosters", params={"week": "2026-49"}, headers=service.auth("leader")
    )
    assert bad_week.status_code == 400
    assert bad_week.json()["field"] == "week"


def _wait(service: Service, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = service.client.get(f"/jobs/{job_id}", headers=service.auth("planner"))
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_solve_runs_as_a_job_and_stores_a_draft(service: Service) -> None:
    body = {"week": WEEK, "time_limit_s": 1, "deterministic": True}
    started = service.client.post("/rosters", json=body, headers=service.auth("planner"))
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert job["parameters"]["week"] == WEEK
    assert any("post-R-3-1" in note for note in job["notes"])  # the post without a squad
    second = service.client.post("/rosters", json=body, headers=service.auth("admin"))
    assert second.status_code == 409
    assert job["id"] in second.json()["detail"]
    finished = _wait(service, job["id"])
    assert finished["status"] == "done", finished
    assert finished["progress"]["elapsed_s"] > 0
    assert finished["progress"]["stage"] == "posts"
    roster_id = finished["result"]["roster_id"]
    assert roster_id == f"{WEEK}-2"
    assert {"href": f"/rosters/{roster_id}", "rel": "result"} in [
        {k: link[k] for k in ("href", "rel")} for link in finished["links"]
    ]
    stored = service.client.get(f"/rosters/{roster_id}", headers=service.auth("planner"))
    assert stored.status_code == 200
    assert stored.json()["status"] == "draft"
    assert stored.json()["assignments"] == finished["result"]["assignments"] > 0
    assert stored.json()["solver"]["objective"] == finished["result"]["objective"]
    (entry,) = _audit(service, "roster.solve")
    assert entry["role"] == "planner"
    assert entry["summary"]["roster_id"] == roster_id
    assert entry["summary"]["after"]["version"] == 1


def test_a_solve_is_refused_at_once_when_it_cannot_run(service: Service) -> None:
    writer = service.auth("planner")
    too_long = {"week": WEEK, "time_limit_s": 601}
    assert service.client.post("/rosters", json=too_long, headers=writer).status_code == 400
    no_week = {"week": "2026-W54"}
    assert service.client.post("/rosters", json=no_week, headers=writer).status_code == 400
    uncovered = service.client.post("/rosters", json={"week": "2031-W10"}, headers=writer)
    assert uncovered.status_code == 400
    assert uncovered.json()["field"] == "week"
    leader = service.client.post("/rosters", json={"week": WEEK}, headers=service.auth("leader"))
    assert leader.status_code == 403
    unknown = service.client.get("/jobs/job_000000000000", headers=writer)
    assert unknown.status_code == 404
    RosterStore(service.store).replace_staff([], source="tests")
    no_staff = service.client.post("/rosters", json={"week": WEEK}, headers=writer)
    assert no_staff.status_code == 409
    assert "staff" in no_staff.json()["detail"]


def _edit(service: Service, body: dict[str, Any], who: str = "admin", **headers: str) -> Any:
    return service.client.patch(
        f"/rosters/{service.roster_id}/assignments", json=body, headers=service.auth(who, **headers)
    )


MOVE_S1_0 = {
    "change": [
        {
            "officer_id": "S1-0",
            "date": MONDAY.isoformat(),
            "slot_id": "morning",
            "post_id": None,
            "task": "reserve",
        }
    ]
}


def test_edits_need_the_version_they_were_made_from(service: Service) -> None:
    missing = _edit(service, MOVE_S1_0)
    assert missing.status_code == 428
    assert missing.json()["field"] == "If-Match"
    stale = _edit(service, MOVE_S1_0, **{"If-Match": 'W/"0123"'})
    assert stale.status_code == 412
    first = service.etag()
    done = _edit(service, MOVE_S1_0, **{"If-Match": first})
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 2
    assert done.json()["changed"] == 1
    assert done.headers["etag"] != first
    assert done.headers["etag"] == service.etag()
    again = _edit(service, MOVE_S1_0, **{"If-Match": first})
    assert again.status_code == 412
    (row,) = [r for r in service.rows() if r["officer_id"] == "S1-0"]
    assert row["post_id"] is None
    assert row["task"] == "reserve"
    assert row["start"] == f"{MONDAY}T08:00:00"  # kept
    assert row["pinned"] is True  # a hand edit
    (entry,) = _audit(service, "roster.assignments.edit")
    assert entry["summary"]["before"]["version"] == 1
    assert entry["summary"]["after"]["version"] == 2
    assert entry["summary"]["rows_before"][0]["post_id"] == "post-R-10-1"
    assert entry["summary"]["rows_after"][0]["post_id"] is None


def test_a_whole_table_is_replaced_from_json(service: Service) -> None:
    rows = service.rows()
    rows = [r for r in rows if r["officer_id"] != "S2-0"]
    rows.append({"officer_id": "A1-0", "date": DAYS[2].isoformat(), "slot_id": "morning"})
    answer = service.client.put(
        f"/rosters/{service.roster_id}/assignments",
        json=rows,
        headers=service.auth("admin", **{"If-Match": service.etag()}),
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["added"], answer.json()["removed"], answer.json()["changed"]) == (1, 1, 0)
    (added,) = [r for r in service.rows() if r["officer_id"] == "A1-0"]
    assert added["start"] == f"{DAYS[2]}T08:00:00"  # the slot's times, from the policy
    assert added["role"] == "assistant"  # from the staff list
    assert added["squad_id"] == "squad-01"
    same = service.client.put(
        f"/rosters/{service.roster_id}/assignments",
        json=service.rows(),
        headers=service.auth("admin", **{"If-Match": service.etag()}),
    )
    assert same.json()["unchanged"] is True
    assert same.json()["version"] == 2


def test_bad_rows_are_refused_whole(service: Service) -> None:
    rows = service.rows()
    rows[0] = {**rows[0], "date": "2026-12-20"}
    rows.append({"officer_id": "S1-5", "date": MONDAY.isoformat(), "slot_id": "brunch"})
    rows.append({"officer_id": "NOBODY", "date": MONDAY.isoformat(), "slot_id": "morning"})
    answer = service.client.put(
        f"/rosters/{service.roster_id}/assignments",
        json=rows,
        headers=service.auth("admin", **{"If-Match": service.etag()}),
    )
    assert answer.status_code == 422
    problems = {(p["row"], p["field"]) for p in answer.json()["problems"]}
    assert problems == {(1, "date"), (len(rows) - 1, "slot_id"), (len(rows), "role")}
    assert (
        service.client.get(f"/rosters/{service.roster_id}", headers=service.auth("admin")).json()[
            "version"
        ]
        == 1
    )
    not_json = service.client.put(
        f"/rosters/{service.roster_id}/assignments",
        content=b"officer_id,date",
        headers=service.auth("admin", **{"If-Match": service.etag(), "Content-Type": "text/csv"}),
    )
    assert not_json.status_code == 415
    typo = service.client.put(
        f"/rosters/{service.roster_id}/assignments",
        json=[{"officer": "S1-0", "date": MONDAY.isoformat(), "slot_id": "morning"}],
        headers=service.auth("admin", **{"If-Match": service.etag()}),
    )
    assert typo.status_code == 400


def test_planners_change_only_the_squads_they_are_granted(service: Service) -> None:
    other_squad = {
        "remove": [{"officer_id": "S2-0", "date": MONDAY.isoformat(), "slot_id": "morning"}]
    }
    refused = _edit(service, other_squad, "planner", **{"If-Match": service.etag()})
    assert refused.status_code == 403
    assert "squad-02" in refused.json()["detail"]
    assert refused.json()["squad"] == "squad-02"
    leaders = {"remove": [{"officer_id": "L-0", "date": MONDAY.isoformat(), "slot_id": "day"}]}
    refused = _edit(service, leaders, "planner", **{"If-Match": service.etag()})
    assert refused.status_code == 403
    moved_in = {
        "change": [
            {
                "officer_id": "S1-1",
                "date": MONDAY.isoformat(),
                "slot_id": "midday",
                "squad_id": "squad-02",
            }
        ]
    }
    refused = _edit(service, moved_in, "planner", **{"If-Match": service.etag()})
    assert refused.status_code == 403
    own = _edit(service, MOVE_S1_0, "planner", **{"If-Match": service.etag()})
    assert own.status_code == 200, own.text
    assert _edit(service, MOVE_S1_0, "leader", **{"If-Match": service.etag()}).status_code == 403


def _publish(service: Service) -> None:
    RosterStore(service.store).set_status(service.roster_id, "published")


def test_officers_read_only_their_own_duties(service: Service) -> None:
    _publish(service)
    own = service.rows("officer")
    assert {r["officer_id"] for r in own} == {"S1-2"}
    assert len(own) == 7
    assert len(service.rows("leader")) == len(_hand_made_roster())
    roster = service.client.get(f"/rosters/{service.roster_id}", headers=service.auth("officer"))
    assert roster.status_code == 200
    assert roster.json()["solver"] is None
    viewer = service.client.get(
        f"/rosters/{service.roster_id}/assignments", headers=service.auth("viewer")
    )
    assert viewer.status_code == 403
    validation = service.client.get(
        f"/rosters/{service.roster_id}/validation", headers=service.auth("officer")
    )
    assert validation.status_code == 403


def test_officers_see_no_draft_roster(service: Service) -> None:
    draft = service.roster_id
    unknown = service.client.get("/rosters/2026-W49-99", headers=service.auth("officer"))
    paths = (f"/rosters/{draft}", f"/rosters/{draft}/assignments")
    for path in paths:
        answer = service.client.get(path, headers=service.auth("officer"))
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == unknown.json()["detail"].replace("2026-W49-99", draft)
    as_csv = service.client.get(
        f"/rosters/{draft}/assignments", params={"format": "csv"}, headers=service.auth("officer")
    )
    assert as_csv.status_code == 404
    listed = service.client.get("/rosters", headers=service.auth("officer"))
    assert listed.status_code == 200
    assert listed.json()["rosters"] == []
    for who in ("leader", "planner", "admin"):
        assert service.client.get(paths[0], headers=service.auth(who)).status_code == 200, who
        assert [
            r["id"]
            for r in service.client.get("/rosters", headers=service.auth(who)).json()["rosters"]
        ] == [draft]
    _publish(service)
    for path in paths:
        assert service.client.get(path, headers=service.auth("officer")).status_code == 200, path
    published = service.client.get("/rosters", headers=service.auth("officer")).json()["rosters"]
    assert [(r["id"], r["status"]) for r in published] == [(draft, "published")]
    # a new draft of the same week stays hidden beside the published roster
    RosterStore(service.store).save_roster(
        WEEK, _hand_made_roster(), {"status": "HAND"}, policy=huiji_default_policy()
    )
    listed_again = service.client.get(
        "/rosters", params={"week": WEEK}, headers=service.auth("officer")
    )
    assert [r["id"] for r in listed_again.json()["rosters"]] == [draft]
    assert (
        len(service.client.get("/rosters", headers=service.auth("leader")).json()["rosters"]) == 2
    )


def test_validation_lists_every_broken_rule(service: Service) -> None:
    answer = service.client.get(
        f"/rosters/{service.roster_id}/validation", headers=service.auth("leader")
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    rest = [v for v in report["violations"] if v["rule"] == "rest_day"]
    assert [v["officer_id"] for v in rest] == ["S1-2"]
    assert "第三十八条" in rest[0]["legal_basis"]
    assert report["demand_checked"] is True
    assert any(v["rule"] == "demand_unmet" for v in report["violations"])
    assert report["errors"] == sum(1 for v in report["violations"] if v["severity"] == "error")


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_files_round_trip(service: Service, tmp_path: Path, file_format: str) -> None:
    answer = service.client.get(
        f"/rosters/{service.roster_id}/assignments",
        params={"format": file_format},
        headers=service.auth("leader"),
    )
    assert answer.status_code == 200
    assert answer.headers["etag"] == service.etag()
    path = tmp_path / f"roster.{file_format}"
    path.write_bytes(answer.content)
    read = read_assignments(path)
    stored = RosterStore(service.store).roster(service.roster_id).assignments
    pd.testing.assert_frame_equal(read, stored)
    changed = read[read["officer_id"] != "S2-0"]
    upload = tmp_path / f"changed.{file_format}"
    if file_format == "csv":
        from grids.roster_io import write_assignments_csv as write
    else:
        from grids.roster_io import write_assignments_xlsx as write
    write(changed, upload)
    replaced = service.client.put(
        f"/rosters/{service.roster_id}/assignments",
        files={"file": (upload.name, io.BytesIO(upload.read_bytes()), "application/octet-stream")},
        headers=service.auth("admin", **{"If-Match": service.etag()}),
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["removed"] == 1
    (entry,) = _audit(service, "roster.assignments.replace")
    assert entry["summary"]["source"] == upload.name


def test_a_published_roster_changes_only_with_force(service: Service) -> None:
    url = f"/rosters/{service.roster_id}/publish"
    assert service.client.post(url, headers=service.auth("admin")).status_code == 428
    planner = service.client.post(
        url, headers=service.auth("planner", **{"If-Match": service.etag()})
    )
    assert planner.status_code == 403
    published = service.client.post(
        url, headers=service.auth("admin", **{"If-Match": service.etag()})
    )
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.json()["version"] == 2
    (entry,) = _audit(service, "roster.publish")
    assert entry["summary"]["before"]["status"] == "draft"
    refused = _edit(service, MOVE_S1_0, **{"If-Match": service.etag()})
    assert refused.status_code == 409
    assert "force=true" in refused.json()["detail"]
    forced = service.client.patch(
        f"/rosters/{service.roster_id}/assignments",
        params={"force": "true"},
        json=MOVE_S1_0,
        headers=service.auth("admin", **{"If-Match": service.etag()}),
    )
    assert forced.status_code == 200, forced.text
    assert forced.json()["status"] == "published"
    (entry,) = _audit(service, "roster.assignments.edit")
    assert entry["summary"]["force"] is True


def test_a_stale_write_changes_nothing(service: Service) -> None:
    rosters = RosterStore(service.store)
    before = rosters.roster(service.roster_id)
    with pytest.raises(RosterConflictError, match="version 1, not 7"):
        rosters.replace_assignments(
            service.roster_id, before.assignments.iloc[:1], expected_version=7
        )
    after = rosters.roster(service.roster_id)
    assert after.version == 1
    pd.testing.assert_frame_equal(after.assignments, before.assignments)


def _ended(jobs: JobRegistry, job_id: str) -> Job:
    deadline = time.monotonic() + 30
    while (job := jobs.get(job_id)).status in ("queued", "running"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.05)
    return job


def test_a_failed_job_says_why_as_a_request_would() -> None:
    jobs = JobRegistry()
    admin = Principal(token_id="tok_test", name="tests", role=Role.ADMIN)

    def bad_data(report: ProgressReport) -> dict[str, Any]:
        report(JobProgress(stage="shifts", label="squad-01", objective=12.0, bound=6.0))
        raise FieldError("zone 'zone-market' has no squad", file="zones", field="squad_id")

    job = _ended(jobs, jobs.submit("test", bad_data, principal=admin, parameters={}).id)
    assert job.status == "failed"
    assert job.problem is not None
    assert job.problem["status"] == 422
    assert job.problem["field"] == "squad_id"
    assert job.progress.gap == pytest.approx(0.5)

    def broken(_report: ProgressReport) -> dict[str, Any]:
        raise RuntimeError("a bug, not the user's mistake")

    job = _ended(jobs, jobs.submit("test", broken, principal=admin, parameters={}).id)
    assert job.problem is not None
    assert job.problem["status"] == 500
    assert "bug" not in job.problem["detail"]
    assert job.problem["reference"] in job.problem["detail"]
    done = _ended(jobs, jobs.submit("test", lambda _r: {"n": 1}, principal=admin, parameters={}).id)
    assert (done.status, done.result) == ("done", {"n": 1})
    with pytest.raises(NotFound):
        jobs.get("job_unknown")


def test_added_rows_are_filled_in_and_checked(service: Service) -> None:
    monday = MONDAY.isoformat()
    utc_times = {
        "officer_id": "S1-3",
        "date": monday,
        "slot_id": "morning",
        "start": f"{monday}T00:00:00Z",  # 08:00 in China Standard Time
        "end": f"{monday}T04:00:00+00:00",
        "post_id": "post-gp-001",
        "task": "guidance_window",
    }
    bad_slot = {"officer_id": "S1-4", "date": monday, "slot_id": "brunch"}
    refused = _edit(service, {"add": [utc_times, bad_slot]}, **{"If-Match": service.etag()})
    assert refused.status_code == 422
    assert refused.json()["file"] == "add"
    assert [(p["row"], p["field"]) for p in refused.json()["problems"]] == [(2, "slot_id")]
    added = _edit(service, {"add": [utc_times]}, **{"If-Match": service.etag()})
    assert added.status_code == 200, added.text
    (row,) = [r for r in service.rows() if r["officer_id"] == "S1-3"]
    assert (row["start"], row["end"]) == (f"{monday}T08:00:00", f"{monday}T12:00:00")
    assert (row["role"], row["squad_id"], row["pinned"]) == ("officer", "squad-01", True)
    twice = _edit(service, {"add": [utc_times]}, **{"If-Match": service.etag()})
    assert twice.status_code == 409
