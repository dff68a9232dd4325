"""Jobs kept in the database: read after a restart, interrupted when their process has gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from server.app import create_app
from server.auth import Principal, Role, create_token
from server.errors import Conflict, NotFound
from server.job_store import JobStore, owner, stored_json, utc_text
from server.jobs import INTERRUPTED_MESSAGE, Job, JobProgress, JobRegistry, ProgressReport
from server.migrations import jobs_table
from server.settings import Settings
from server.storage import Store

ADMIN = Principal(token_id="tok_test", name="tests", role=Role.ADMIN)
PARAMETERS = {"week": "2026-W49", "time_limit_s": 1.0, "deterministic": True}


def _ended(jobs: JobRegistry, job_id: str, timeout_s: float = 30.0) -> Job:
    deadline = time.monotonic() + timeout_s
    while (job := jobs.get(job_id)).status in ("queued", "running"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.02)
    return job


def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.02)


def _blocked(release: threading.Event) -> Callable[[ProgressReport], dict[str, Any]]:
    def work(report: ProgressReport) -> dict[str, Any]:
        report(JobProgress(stage="shifts", label="squad-01", objective=10.0, bound=8.0))
        assert release.wait(30), "the test never released the job"
        return {"roster_id": "2026-W49-1", "href": "/rosters/2026-W49-1"}

    return work


def _row(job_id: str, *, state: str, owner_name: str | None, age_s: float = 0.0) -> dict[str, Any]:
    """Return the row a process would have written for a roster solve."""
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    return {
        "id": job_id,
        "kind": "roster.solve",
        "state": state,
        "week": "2026-W49",
        "created_by": "planner of old",
        "token_id": None,
        "parameters": stored_json(PARAMETERS),
        "notes": stored_json([]),
        "created_at": at.isoformat(timespec="microseconds"),
        "started_at": utc_text(at) if state == "running" else None,
        "finished_at": None,
        "updated_at": utc_text(at),
        "owner": owner_name,
        "progress": stored_json({"stage": "posts", "done": 1, "total": 2}),
        "elapsed_s": 3.5,
        "roster_id": None,
        "result": None,
        "error": None,
        "problem": None,
    }


def _insert(store: Store, *rows: dict[str, Any]) -> None:
    """Write rows as earlier processes would have left them."""
    table = jobs_table(sa.MetaData())
    with store.transaction() as connection:
        connection.execute(table.insert(), list(rows))


def _spawned_pid() -> int:
    """Return the id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_job_is_read_back_from_the_database_by_a_new_registry(store: Store) -> None:
    first = JobRegistry()
    first.attach(store)

    def work(report: ProgressReport) -> dict[str, Any]:
        report(JobProgress(stage="posts", label="squad-02", done=2, total=3, objective=4.0))
        time.sleep(0.05)
        return {"roster_id": "2026-W49-7", "href": "/rosters/2026-W49-7", "gap": float("inf")}

    job = first.submit("roster.solve", work, principal=ADMIN, parameters=PARAMETERS, notes=["n"])
    done = _ended(first, job.id)
    assert done.status == "done"

    restarted = JobRegistry()  # a new process: nothing in memory
    assert restarted.attach(store) == []
    read = restarted.get(job.id)
    assert (read.status, read.kind, read.submitted_by) == ("done", "roster.solve", "tests")
    assert read.parameters == PARAMETERS
    assert read.notes == ["n"]
    assert read.result == {"roster_id": "2026-W49-7", "href": "/rosters/2026-W49-7", "gap": None}
    assert read.progress == done.progress
    assert read.elapsed_s == pytest.approx(done.elapsed_s, abs=0.01)
    assert read.elapsed_s > 0
    assert read.started_at is not None
    assert read.finished_at is not None
    with pytest.raises(NotFound, match="GET /jobs"):
        restarted.get("job_000000000000")

    def broken(_report: ProgressReport) -> dict[str, Any]:
        raise Conflict("no staff is stored")

    failed = _ended(first, first.submit("roster.solve", broken, principal=ADMIN, parameters={}).id)
    again = JobRegistry()
    again.attach(store)
    assert again.get(failed.id).problem == failed.problem
    assert [j.id for j in again.latest()] == [failed.id, job.id]
    assert [j.id for j in again.latest(status="done")] == [job.id]
    assert [j.id for j in again.latest(limit=1)] == [failed.id]
    row = JobStore(store).get(job.id)
    assert row is not None
    assert (row["roster_id"], row["week"], row["error"]) == ("2026-W49-7", "2026-W49", None)
    failed_row = JobStore(store).get(failed.id)
    assert failed_row is not None
    assert failed_row["error"] == "no staff is stored"


def test_jobs_left_unfinished_by_a_gone_process_are_interrupted_at_start(store: Store) -> None:
    host = socket.gethostname()
    _insert(
        store,
        # the same process id as this one, another token: this process's predecessor
        _row("job_predecessor", state="running", owner_name=f"{host}:{os.getpid()}:0ld0ld00"),
        _row("job_ended", state="queued", owner_name=f"{host}:{_spawned_pid()}:abcd1234"),
        _row("job_faraway", state="running", owner_name="elsewhere:4242:abcd1234"),
        _row("job_silent", state="running", owner_name="elsewhere:4243:abcd1234", age_s=600),
        _row("job_finished", state="done", owner_name=None, age_s=600),
    )
    jobs = JobRegistry()
    interrupted = jobs.attach(store)
    assert sorted(interrupted) == ["job_ended", "job_predecessor", "job_silent"]
    for job_id in interrupted:
        job = jobs.get(job_id)
        assert job.status == "interrupted"
        assert job.problem is not None
        assert job.problem["detail"] == INTERRUPTED_MESSAGE
        assert job.finished_at is not None
        assert job.progress.stage == "posts"  # what was known is kept
        row = JobStore(store).get(job_id)
        assert row is not None
        assert row["error"] == INTERRUPTED_MESSAGE
    # a live process on another host still runs its job: it is neither touched nor started over
    assert jobs.get("job_faraway").status == "running"
    assert jobs.get("job_finished").status == "done"
    with pytest.raises(Conflict, match="job_faraway"):
        jobs.submit("roster.solve", lambda _r: {}, principal=ADMIN, parameters={})


def test_one_job_runs_at_a_time_across_processes(store: Store) -> None:
    worker, other_worker = JobRegistry(), JobRegistry()
    worker.attach(store)
    other_worker.attach(store)
    release = threading.Event()
    try:
        job = worker.submit("roster.solve", _blocked(release), principal=ADMIN, parameters={})
        _until(lambda: worker.get(job.id).status == "running")
        with pytest.raises(Conflict, match=job.id):
            other_worker.submit("roster.solve", lambda _r: {}, principal=ADMIN, parameters={})
        seen = other_worker.get(job.id)  # from the database
        assert seen.status == "running"
        assert seen.kind == "roster.solve"
    finally:
        release.set()
    assert _ended(worker, job.id).status == "done"
    _until(lambda: other_worker.get(job.id).status == "done")
    after = other_worker.submit("roster.solve", lambda _r: {}, principal=ADMIN, parameters={})
    assert _ended(other_worker, after.id).status == "done"


def test_progress_is_written_now_and_then_not_at_every_event(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    touched: list[str] = []
    touch = JobStore.touch

    def counted(self: JobStore, job_id: str, values: Any) -> None:
        touched.append(job_id)
        touch(self, job_id, values)

    monkeypatch.setattr(JobStore, "touch", counted)
    jobs = JobRegistry(progress_write_s=0.2, heartbeat_s=60.0)
    jobs.attach(store)
    reported = threading.Event()
    release = threading.Event()
    events = 2_000

    def chatty(report: ProgressReport) -> dict[str, Any]:
        for n in range(1, events + 1):
            report(JobProgress(stage="shifts", label="squad-01", done=n, total=events))
        reported.set()
        assert release.wait(30)
        return {}

    job = jobs.submit("roster.solve", chatty, principal=ADMIN, parameters={})
    try:
        assert reported.wait(30)
        reader = JobRegistry()  # another process's view: the database only
        reader.attach(store)
        _until(lambda: reader.get(job.id).progress.done == events)
        assert reader.get(job.id).status == "running"
        time.sleep(0.5)  # nothing new: no more writes than before
        before = len(touched)
        time.sleep(0.5)
        assert len(touched) == before
    finally:
        release.set()
    assert _ended(jobs, job.id).status == "done"
    assert 1 <= len(touched) <= 10 < events


def test_a_job_still_running_when_the_service_stops_is_interrupted(store: Store) -> None:
    jobs = JobRegistry()
    jobs.attach(store)
    release = threading.Event()
    job = jobs.submit("roster.solve", _blocked(release), principal=ADMIN, parameters={})
    try:
        _until(lambda: jobs.get(job.id).status == "running")
        jobs.close(timeout_s=0.1)
        row = JobStore(store).get(job.id)
        assert row is not None
        assert (row["state"], row["error"]) == ("interrupted", INTERRUPTED_MESSAGE)
    finally:
        release.set()
    _ended(jobs, job.id)


def _token(store: Store, role: Role) -> str:
    with store.transaction() as connection:
        _, secret = create_token(
            connection,
            role=role,
            name=f"test {role.value}",
            created_by="tests",
            officer_id="S1-0" if role is Role.OFFICER else None,
        )
    return secret


def test_the_service_lists_jobs_and_shows_interrupted_ones(store_url: str) -> None:
    with Store.open(store_url) as store:
        _insert(
            store,
            _row("job_old", state="running", owner_name=f"{socket.gethostname()}:{os.getpid()}:x"),
        )
        planner = {"Authorization": f"Bearer {_token(store, Role.PLANNER)}"}
        officer = {"Authorization": f"Bearer {_token(store, Role.OFFICER)}"}
    with TestClient(create_app(Settings(database_url=store_url))) as client:
        old = client.get("/jobs/job_old", headers=planner)
        assert old.status_code == 200, old.text
        assert old.json()["status"] == "interrupted"
        assert old.json()["problem"]["detail"] == INTERRUPTED_MESSAGE
        assert old.json()["progress"]["elapsed_s"] == 3.5
        jobs: JobRegistry = client.app.state.jobs  # type: ignore[attr-defined]
        new = jobs.submit("roster.solve", lambda _r: {}, principal=ADMIN, parameters=PARAMETERS)
        _ended(jobs, new.id)
        listed = client.get("/jobs", headers=planner)
        assert listed.status_code == 200, listed.text
        assert [(j["id"], j["status"]) for j in listed.json()["jobs"]] == [
            (new.id, "done"),
            ("job_old", "interrupted"),
        ]
        only = client.get("/jobs", params={"status": "interrupted"}, headers=planner)
        assert [j["id"] for j in only.json()["jobs"]] == ["job_old"]
        assert client.get("/jobs", params={"limit": 0}, headers=planner).status_code == 400
        assert client.get("/jobs", headers=officer).status_code == 403
    with TestClient(create_app(Settings(database_url=store_url))) as client:  # a restart
        again = client.get(f"/jobs/{new.id}", headers=planner)
        assert again.status_code == 200
        assert again.json()["status"] == "done"
        assert again.json()["submitted_by"] == "tests"


def test_the_owner_names_this_process() -> None:
    host, pid, token = owner().rsplit(":", 2)
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert token
    assert owner() == owner()
