"""Work that outlasts a request: a roster solve runs in a thread while clients poll its job.

A :class:`JobRegistry` lives in the app's state (``app.state.jobs``, made by
:func:`server.app.create_app`). It runs one job at a time: submitting while one is queued or
running is a :class:`~server.errors.Conflict` (409), as two solves would share two cores and each
get half its time limit. A job reports its progress as it goes (stage, best objective and bound,
gap, time elapsed) and ends ``done`` with its result (the roster it stored) or ``failed`` with a
problem document, as a request would have been answered.

Once the app has opened its store (:meth:`JobRegistry.attach`), jobs are also kept in the
database (:mod:`server.job_store`): written when they change state, their progress at most every
:data:`PROGRESS_WRITE_S` seconds, so that ``GET /jobs/{id}`` answers after a restart and in every
worker process, and one solve runs at a time across them. A job cannot outlive its process: when
the app starts, the jobs a previous process left queued or running are set to ``interrupted``
(:data:`INTERRUPTED_MESSAGE`). A process that runs a job touches its row every
:data:`HEARTBEAT_S` seconds; a job another process left without a sign of life for
:data:`STALE_AFTER_S` seconds (its process gone, on another host) is interrupted too. The latest
:data:`KEEP_JOBS` jobs are kept in memory as well.

:func:`solve_inputs` gathers what a roster solve needs, refusing at once (while the client still
waits for its answer) what can be known before solving; :func:`solve_and_store` is the job.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import pandas as pd
from geopandas import GeoDataFrame
from sqlalchemy.exc import SQLAlchemyError

from geodata.errors import GeodataError, GeodataWarning
from grids.calendar import HolidayCalendar, china_holidays, week_dates
from grids.demand import demand_for_week
from grids.policy import DutyPolicy
from grids.rostering import RosterOptions, RosterProgress, plan_roster
from grids.staff import Officer
from server.audit import entry_for, record
from server.auth import Principal
from server.errors import Conflict, InvalidParameterError, NotFound, ServiceError, problem_for
from server.job_store import (
    JobStore,
    owner,
    parse_owner,
    process_alive,
    stored_json,
    stored_time,
    utc_text,
)
from server.roster_store import RosterStore
from server.storage import Store

logger = logging.getLogger("dutygrid.server")

KEEP_JOBS: Final = 100
"""How many jobs the registry keeps in memory (the database keeps them all)."""
PROGRESS_WRITE_S: Final = 5.0
"""At most how often a running job's progress is written to the database, in seconds."""
HEARTBEAT_S: Final = 15.0
"""How often a running job's row is touched, progress or not, in seconds."""
STALE_AFTER_S: Final = 90.0
"""How long a queued or running job of another process may go untouched before it counts as
interrupted (its process gone), in seconds."""
INTERRUPTED_MESSAGE: Final = (
    "the service restarted while this roster was being solved; start it again"
)
"""Why a roster solve left queued or running by a process that has gone is ``interrupted``."""

JobStatus = Literal["queued", "running", "done", "failed", "interrupted"]
ProgressReport = Callable[["JobProgress"], None]
"""How a job's work tells the registry where it is."""


@dataclass(frozen=True)
class JobProgress:
    """Where a job is: its stage and part, and the best objective and bound found so far."""

    stage: str | None = None
    label: str | None = None
    done: int = 0
    total: int = 0
    objective: float | None = None
    bound: float | None = None

    @property
    def gap(self) -> float | None:
        """The relative gap between objective and bound, None until both are known."""
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


@dataclass
class Job:
    """A piece of work submitted to the registry, and how it went.

    Attributes
    ----------
    id
        The job's id, ``job_`` and 12 hex digits.
    kind
        What it does, e.g. ``roster.solve``.
    submitted_by, token_id
        Who submitted it.
    parameters
        What it was asked to do (JSON values).
    status
        ``queued``, ``running``, ``done``, ``failed`` or ``interrupted`` (its process ended
        first).
    progress
        The latest progress reported.
    result
        What a ``done`` job made (JSON values).
    problem
        Why a ``failed`` or ``interrupted`` job ended so: a problem document (status, title,
        detail, …).
    """

    id: str
    kind: str
    submitted_by: str
    token_id: str | None
    parameters: dict[str, Any]
    submitted_at: datetime
    status: JobStatus = "queued"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: JobProgress = field(default_factory=JobProgress)
    result: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    _started: float | None = field(default=None, repr=False)
    _finished: float | None = field(default=None, repr=False)
    _stored_elapsed_s: float = field(default=0.0, repr=False)

    @property
    def elapsed_s(self) -> float:
        """Seconds the job has run (so far, or in all), 0 while queued."""
        if self._started is None:  # queued, or read back from the database
            return self._stored_elapsed_s
        end = self._finished if self._finished is not None else time.perf_counter()
        return round(end - self._started, 3)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _problem(exc: BaseException) -> dict[str, Any]:
    """Return the problem document of a job's failure, as a request failing so would get."""
    kind = problem_for(exc)
    if kind.status >= 500:
        reference = secrets.token_hex(6)
        logger.error("a job failed (reference %s)", reference, exc_info=exc)
        return {
            "status": kind.status,
            "title": kind.title,
            "detail": f"the job failed (reference {reference}; the server log has the details)",
            "error": "InternalError",
            "reference": reference,
        }
    problem: dict[str, Any] = {
        "status": kind.status,
        "title": kind.title,
        "detail": str(exc),
        "error": type(exc).__name__,
    }
    if isinstance(exc, GeodataError):
        problem.update(file=exc.file, row=exc.row, field=exc.field)
    elif isinstance(exc, ServiceError):
        problem["field"] = exc.field
    return {k: v for k, v in problem.items() if v is not None}


def _progress_values(progress: JobProgress) -> dict[str, Any]:
    return {
        "stage": progress.stage,
        "label": progress.label,
        "done": progress.done,
        "total": progress.total,
        "objective": progress.objective,
        "bound": progress.bound,
    }


def _interrupted_problem(kind: str) -> dict[str, Any]:
    detail = (
        INTERRUPTED_MESSAGE
        if kind == "roster.solve"
        else "the service restarted while this job was running; submit it again"
    )
    return {
        "status": 503,
        "title": "Job interrupted",
        "detail": detail,
        "error": "JobInterrupted",
    }


def _job_row(job: Job, *, owner_name: str | None) -> dict[str, Any]:
    """Return a job as its row of the ``jobs`` table."""
    week = job.parameters.get("week")
    result, problem = job.result, job.problem
    roster_id = None if result is None else result.get("roster_id")
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.status,
        "week": week if isinstance(week, str) else None,
        "created_by": job.submitted_by,
        "token_id": job.token_id,
        "parameters": stored_json(job.parameters),
        "notes": stored_json(job.notes),
        # to the microsecond, so that the latest of several jobs made in a second is known
        "created_at": job.submitted_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "started_at": None if job.started_at is None else utc_text(job.started_at),
        "finished_at": None if job.finished_at is None else utc_text(job.finished_at),
        "updated_at": utc_text(),
        "owner": owner_name,
        "progress": stored_json(_progress_values(job.progress)),
        "elapsed_s": job.elapsed_s,
        "roster_id": None if roster_id is None else str(roster_id),
        "result": None if result is None else stored_json(result),
        "error": None if problem is None else str(problem.get("detail", "")),
        "problem": None if problem is None else stored_json(problem),
    }


def _job_from_row(row: Mapping[str, Any]) -> Job:
    """Return the job a row of the ``jobs`` table keeps."""
    progress = json.loads(row["progress"])
    submitted = stored_time(row["created_at"])
    assert submitted is not None  # the column is NOT NULL
    return Job(
        id=str(row["id"]),
        kind=str(row["kind"]),
        submitted_by=str(row["created_by"]),
        token_id=row["token_id"],
        parameters=json.loads(row["parameters"]),
        submitted_at=submitted,
        status=row["state"],
        started_at=stored_time(row["started_at"]),
        finished_at=stored_time(row["finished_at"]),
        progress=JobProgress(
            stage=progress.get("stage"),
            label=progress.get("label"),
            done=int(progress.get("done") or 0),
            total=int(progress.get("total") or 0),
            objective=progress.get("objective"),
            bound=progress.get("bound"),
        ),
        result=None if row["result"] is None else json.loads(row["result"]),
        problem=None if row["problem"] is None else json.loads(row["problem"]),
        notes=list(json.loads(row["notes"])),
        _stored_elapsed_s=float(row["elapsed_s"]),
    )


class JobRegistry:
    """The jobs of one app: runs one at a time in a thread, keeps them in memory and the store.

    Parameters
    ----------
    keep
        How many jobs to keep in memory.
    progress_write_s, heartbeat_s, stale_after_s
        See :data:`PROGRESS_WRITE_S`, :data:`HEARTBEAT_S` and :data:`STALE_AFTER_S`.
    """

    def __init__(
        self,
        *,
        keep: int = KEEP_JOBS,
        progress_write_s: float = PROGRESS_WRITE_S,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._keep = keep
        self._closed = False
        self._store: JobStore | None = None
        self._progress_write_s = progress_write_s
        self._heartbeat_s = heartbeat_s
        self._stale_after_s = stale_after_s

    # --- the database ------------------------------------------------------------------------

    def attach(self, store: Store) -> list[str]:
        """Keep jobs in ``store`` from now on; set those a previous process left to interrupted.

        The app calls this when it has opened its store. Returns the ids of the jobs set to
        ``interrupted``: those left queued or running by an earlier process on this host (its
        process has ended, or it is this one's predecessor of the same process id) or untouched
        for :data:`STALE_AFTER_S` seconds.
        """
        jobs = JobStore(store)
        with self._lock:
            self._store = jobs
        ids = self._interrupt_gone(jobs)
        if ids:
            logger.warning(
                "%d job(s) left unfinished by a previous process set to interrupted: %s",
                len(ids),
                ", ".join(ids),
            )
        return ids

    def _gone(self, row: Mapping[str, Any]) -> bool:
        """Return whether the process of a queued or running job's row has gone."""
        if str(row["id"]) in self._jobs:
            return False  # this process runs it
        updated = stored_time(row["updated_at"])
        if updated is None or datetime.now(UTC) - updated > timedelta(seconds=self._stale_after_s):
            return True
        found = parse_owner(row["owner"])
        if found is None:
            return True
        host, pid, _token = found
        if host != socket.gethostname():
            return False  # another host's process, alive as far as its row says
        # this host: the owner is this process's predecessor, or a process that has ended
        return row["owner"] != owner() and (pid == os.getpid() or not process_alive(pid))

    @staticmethod
    def _interrupted_values(row: Mapping[str, Any]) -> dict[str, Any]:
        """Return what to write to the row of a job interrupted now."""
        problem = _interrupted_problem(str(row["kind"]))
        now = utc_text()
        return {
            "finished_at": now,
            "updated_at": now,
            "owner": None,
            "error": problem["detail"],
            "problem": stored_json(problem),
        }

    def _interrupt_gone(self, jobs: JobStore) -> list[str]:
        try:
            return jobs.interrupt_gone(self._gone, self._interrupted_values)
        except SQLAlchemyError:
            logger.exception("could not check the database for interrupted jobs")
            return []

    def _write(self, job: Job) -> None:
        """Write a job's row as it is now; a database error is logged, the job goes on."""
        store = self._store
        if store is None:
            return
        with self._lock:
            row = _job_row(job, owner_name=owner() if job.status in ("queued", "running") else None)
        try:
            store.write(row)
        except SQLAlchemyError:
            logger.exception("could not write job %s to the database", job.id)

    def _keep_writing(self, job: Job, stop: threading.Event) -> None:
        """Write a running job's progress when it changes (throttled) and touch it regularly."""
        written: JobProgress | None = None
        last = time.monotonic()
        while not stop.wait(self._progress_write_s):
            store = self._store
            if store is None:
                return
            with self._lock:
                progress, elapsed = job.progress, job.elapsed_s
            if progress == written and time.monotonic() - last < self._heartbeat_s:
                continue
            values = {
                "progress": stored_json(_progress_values(progress)),
                "elapsed_s": elapsed,
                "updated_at": utc_text(),
            }
            try:
                store.touch(job.id, values)
            except SQLAlchemyError:
                logger.exception("could not write the progress of job %s", job.id)
                continue
            written, last = progress, time.monotonic()

    # --- running jobs --------------------------------------------------------------------------

    def _busy(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.status in ("queued", "running")), None)

    def _forget(self, job: Job) -> None:
        with self._lock:
            if self._jobs.get(job.id) is job:
                del self._jobs[job.id]

    def submit(
        self,
        kind: str,
        work: Callable[[ProgressReport], dict[str, Any]],
        *,
        principal: Principal,
        parameters: dict[str, Any],
        notes: list[str] | None = None,
    ) -> Job:
        """Start ``work(report)`` in a thread and return its job (a copy, as it is now).

        Raises
        ------
        Conflict
            If a job is queued or running (in this process, or in another one on the same
            database), or the service is stopping.
        """
        with self._lock:
            if self._closed:
                raise Conflict("the service is stopping; submit the job again once it is back")
            busy = self._busy()
            if busy is not None:
                raise _busy_conflict(busy.id, busy.kind, busy.status)
            job = Job(
                id="job_" + secrets.token_hex(6),
                kind=kind,
                submitted_by=principal.name,
                token_id=principal.token_id,
                parameters=dict(parameters),
                submitted_at=datetime.now(UTC),
                notes=list(notes or ()),
            )
            self._jobs[job.id] = job  # reserved: a second submit here meets it
            store = self._store
            row = _job_row(job, owner_name=owner())
        if store is not None:
            try:
                other = store.insert_if_idle(
                    row, gone=self._gone, interrupted=self._interrupted_values
                )
            except BaseException:
                self._forget(job)
                raise
            if other is not None:
                self._forget(job)
                raise _busy_conflict(str(other["id"]), str(other["kind"]), str(other["state"]))
        with self._lock:
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest] is job:
                    break
                del self._jobs[oldest]
            thread = threading.Thread(
                target=self._run, args=(job, work), name=f"dutygrid-{job.id}", daemon=True
            )
            self._threads[job.id] = thread
            snapshot = replace(job, notes=list(job.notes))
        thread.start()
        return snapshot

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)

    def _run(self, job: Job, work: Callable[[ProgressReport], dict[str, Any]]) -> None:
        started: dict[str, Any] = {
            "status": "running",
            "started_at": _now(),
            "_started": time.perf_counter(),
        }
        with self._lock:
            running = replace(job, **started)
        self._write(running)  # the row first, as when the job ends
        self._update(job, **started)
        stop = threading.Event()
        keeper = threading.Thread(
            target=self._keep_writing, args=(job, stop), name=f"dutygrid-{job.id}-rows", daemon=True
        )
        keeper.start()
        ended: dict[str, Any]
        try:
            result = work(lambda progress: self._update(job, progress=progress))
        except Exception as exc:  # every failure becomes the job's problem
            ended = {"status": "failed", "problem": _problem(exc)}
        else:
            ended = {"status": "done", "result": result}
        finally:
            stop.set()
            keeper.join()
        ended.update(finished_at=_now(), _finished=time.perf_counter())
        with self._lock:
            final = replace(job, **ended)
        # the row first: once a job is seen ended here, the database says so too
        self._write(final)
        with self._lock:
            for name, value in ended.items():
                setattr(job, name, value)
            self._threads.pop(job.id, None)

    def get(self, job_id: str) -> Job:
        """Return the job ``job_id`` as it is now (a copy), from memory or the database.

        A queued or running job of another process that has gone is set to ``interrupted``
        as it is read.

        Raises
        ------
        NotFound
            If there is no such job.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return replace(job, notes=list(job.notes))
            store = self._store
        row = None if store is None else store.get(job_id)
        if (
            store is not None
            and row is not None
            and row["state"] in ("queued", "running")
            and self._gone(row)
        ):
            self._interrupt_gone(store)
            row = store.get(job_id)
        if row is None:
            raise NotFound(
                f"no job {job_id!r}: GET /jobs lists the latest jobs, GET /rosters the rosters "
                "stored",
                field="job_id",
            )
        return _job_from_row(row)

    def latest(self, *, limit: int = 50, status: JobStatus | None = None) -> list[Job]:
        """Return the latest ``limit`` jobs (with ``status``), newest first.

        From the database once attached (the jobs of every process, this one's as they are
        now), else from memory.
        """
        with self._lock:
            store = self._store
            mine = {job.id: replace(job, notes=list(job.notes)) for job in self._jobs.values()}
        if store is None:
            jobs = sorted(mine.values(), key=lambda j: j.submitted_at, reverse=True)
            return [j for j in jobs if status is None or j.status == status][:limit]
        if any(
            row["state"] in ("queued", "running") and self._gone(row)
            for row in store.latest(limit=limit, state=status)
        ):
            self._interrupt_gone(store)
        found = []
        for row in store.latest(limit=limit, state=status):
            job = mine.get(str(row["id"]))
            found.append(job if job is not None else _job_from_row(row))
        return found

    def close(self, timeout_s: float = 30.0) -> None:
        """Wait up to ``timeout_s`` for a running job to finish, refusing new ones meanwhile.

        The app calls this as it stops, before it closes its store. A job still running then
        is set to ``interrupted`` in the database (the process is about to end); started
        again, the registry takes jobs again.
        """
        with self._lock:
            self._closed = True
            threads = dict(self._threads)
        try:
            deadline = time.perf_counter() + timeout_s
            for thread in threads.values():
                thread.join(max(0.0, deadline - time.perf_counter()))
            with self._lock:
                store = self._store
                running = [
                    self._jobs[job_id]
                    for job_id, thread in threads.items()
                    if thread.is_alive() and job_id in self._jobs
                ]
            for job in running:
                logger.warning("job %s was still running as the service stopped", job.id)
                if store is not None:
                    try:
                        store.write(
                            {
                                **_job_row(job, owner_name=None),
                                "state": "interrupted",
                                **self._interrupted_values({"kind": job.kind}),
                            }
                        )
                    except SQLAlchemyError:
                        logger.exception("could not write job %s to the database", job.id)
        finally:
            with self._lock:
                self._closed = False
                self._store = None


def _busy_conflict(job_id: str, kind: str, status: str) -> Conflict:
    return Conflict(
        f"job {job_id} ({kind}) is still {status}; one runs at a time: "
        f"wait for it (GET /jobs/{job_id}) and submit again",
        job_id=job_id,
    )


# --- the roster solve --------------------------------------------------------------------------


@dataclass(frozen=True)
class SolveInputs:
    """Everything a roster solve needs, read from the store before the job starts."""

    week: str
    policy: DutyPolicy
    policy_source: str
    calendar: HolidayCalendar
    staff: list[Officer]
    demand: pd.DataFrame
    posts: GeoDataFrame
    roads: GeoDataFrame
    zones: GeoDataFrame
    options: RosterOptions


@contextmanager
def caught_warnings(notes: list[str]) -> Iterator[None]:
    """Keep the library's warnings (posts without a squad, …) as notes for the client."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeodataWarning)
        yield
    notes.extend(str(w.message) for w in caught if issubclass(w.category, GeodataWarning))


def solve_inputs(store: Store, week: str, options: RosterOptions, notes: list[str]) -> SolveInputs:
    """Return what a solve of ``week`` needs, or refuse now what would make it fail.

    Parameters
    ----------
    store
        The database.
    week
        The ISO week, ``2026-W49``.
    options
        Time limit and determinism.
    notes
        Warnings about the data (posts without a squad, …) are added here.

    Raises
    ------
    Conflict
        If no staff or no posts are stored.
    InvalidParameterError
        If the week does not exist or the holiday calendar does not cover it.
    geodata.errors.GeodataError
        If the posts, zones or policy do not make a demand (an operation's zone without a squad).
    """
    rosters = RosterStore(store)
    staff = rosters.staff()
    if not staff:
        raise Conflict(
            "no staff is stored: import them first (`dutygrid staff import FILE`, or "
            "`dutygrid staff demo` for made-up people)"
        )
    posts = store.read_layer("posts")
    if posts.empty:
        raise Conflict(
            "the database has no posts: build them first (`dutygrid grids build`, then "
            "`dutygrid posts build`)"
        )
    calendar = china_holidays()
    try:
        calendar.day_types(week_dates(week))
    except ValueError as exc:
        raise InvalidParameterError(f"week {week}: {exc}", field="week") from None
    policy, source = rosters.current_policy()
    squads = store.read_layer("squads")
    zones = store.read_layer("zones")
    with caught_warnings(notes):
        demand = demand_for_week(
            posts, policy, calendar, week, squads=list(squads["id"]), zones=zones, staff=staff
        )
    return SolveInputs(
        week=week,
        policy=policy,
        policy_source=source,
        calendar=calendar,
        staff=staff,
        demand=demand,
        posts=posts,
        roads=store.read_layer("roads"),
        zones=zones,
        options=options,
    )


def _uncovered_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in frame.to_dict("records"):
        rows.append(
            {
                str(k): (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in row.items()
                if not (v is None or (isinstance(v, float) and pd.isna(v)))
            }
        )
    return rows


def solve_and_store(
    store: Store, inputs: SolveInputs, principal: Principal, report: ProgressReport
) -> dict[str, Any]:
    """Make the roster of ``inputs`` and store it with its audit entry; return its id and link.

    The solver's progress goes to ``report``. The roster is stored as a draft, in one
    transaction with the policy it was made under (when that was the bundled one, not yet
    stored) and the audit entry.
    """

    def progress(event: RosterProgress) -> None:
        report(
            JobProgress(
                stage=event.stage,
                label=event.label,
                done=event.done,
                total=event.total,
                objective=event.objective,
                bound=event.bound,
            )
        )

    notes: list[str] = []
    with caught_warnings(notes):
        plan = plan_roster(
            inputs.demand,
            inputs.staff,
            inputs.policy,
            inputs.calendar,
            inputs.week,
            posts=inputs.posts,
            roads=inputs.roads,
            zones=inputs.zones,
            options=inputs.options,
            progress=progress,
        )
    solver = {
        **plan.report,
        "policy_source": inputs.policy_source,
        "based_on": None,
        "uncovered": _uncovered_rows(plan.uncovered),
        "notes": notes,
    }
    rosters = RosterStore(store)
    with store.transaction() as connection:
        rosters.save_policy(inputs.policy, source=inputs.policy_source, connection=connection)
        stored = rosters.save_roster(
            inputs.week, plan.assignments, solver, policy=inputs.policy, connection=connection
        )
        summary = {
            "roster_id": stored.info.roster_id,
            "week": inputs.week,
            "before": None,
            "after": {
                "status": stored.info.status,
                "version": stored.version,
                "assignments": len(plan.assignments),
            },
            "objective": plan.report.get("objective"),
            "bound": plan.report.get("bound"),
            "time_limit_s": inputs.options.time_limit_s,
            "deterministic": inputs.options.deterministic,
        }
        audit_id = record(
            connection,
            entry_for(
                principal, action="roster.solve", method="POST", route="/rosters", summary=summary
            ),
        )
    roster_id = stored.info.roster_id
    return {
        "roster_id": roster_id,
        "href": f"/rosters/{roster_id}",
        "assignments": len(plan.assignments),
        "objective": plan.report.get("objective"),
        "bound": plan.report.get("bound"),
        "gap": plan.report.get("gap"),
        "audit_id": audit_id,
        "notes": notes,
    }
