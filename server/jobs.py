"""Work that outlasts a request: a roster solve runs in a thread while clients poll its job.

A :class:`JobRegistry` lives in the app's state (``app.state.jobs``, made by
:func:`server.app.create_app`). It runs one job at a time: submitting while one is queued or
running is a :class:`~server.errors.Conflict` (409), as two solves would share two cores and each
get half its time limit. A job reports its progress as it goes (stage, best objective and bound,
gap, time elapsed) and ends ``done`` with its result (the roster it stored) or ``failed`` with a
problem document, as a request would have been answered. Jobs are kept in memory, the latest
:data:`KEEP_JOBS` of them: a restart forgets them, not the rosters they stored.

:func:`solve_inputs` gathers what a roster solve needs, refusing at once (while the client still
waits for its answer) what can be known before solving; :func:`solve_and_store` is the job.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

import pandas as pd
from geopandas import GeoDataFrame

from geodata.errors import GeodataError, GeodataWarning
from grids.calendar import HolidayCalendar, china_holidays, week_dates
from grids.demand import demand_for_week
from grids.policy import DutyPolicy
from grids.rostering import RosterOptions, RosterProgress, plan_roster
from grids.staff import Officer
from server.audit import entry_for, record
from server.auth import Principal
from server.errors import Conflict, InvalidParameterError, NotFound, ServiceError, problem_for
from server.roster_store import RosterStore
from server.storage import Store

logger = logging.getLogger("dutygrid.server")

KEEP_JOBS: Final = 100
"""How many finished jobs the registry remembers."""
"""Where the policy comes from when none is stored."""

JobStatus = Literal["queued", "running", "done", "failed"]
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
        ``queued``, ``running``, ``done`` or ``failed``.
    progress
        The latest progress reported.
    result
        What a ``done`` job made (JSON values).
    problem
        Why a ``failed`` job failed: a problem document (status, title, detail, …).
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

    @property
    def elapsed_s(self) -> float:
        """Seconds the job has run (so far, or in all), 0 while queued."""
        if self._started is None:
            return 0.0
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


class JobRegistry:
    """The jobs of one app: runs one at a time in a thread, remembers the latest ones."""

    def __init__(self, *, keep: int = KEEP_JOBS) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._keep = keep
        self._closed = False

    def _busy(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.status in ("queued", "running")), None)

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
            If a job is queued or running, or the service is stopping.
        """
        with self._lock:
            if self._closed:
                raise Conflict("the service is stopping; submit the job again once it is back")
            busy = self._busy()
            if busy is not None:
                raise Conflict(
                    f"job {busy.id} ({busy.kind}) is still {busy.status}; one runs at a time: "
                    f"wait for it (GET /jobs/{busy.id}) and submit again",
                    job_id=busy.id,
                )
            job = Job(
                id="job_" + secrets.token_hex(6),
                kind=kind,
                submitted_by=principal.name,
                token_id=principal.token_id,
                parameters=dict(parameters),
                submitted_at=_now(),
                notes=list(notes or ()),
            )
            self._jobs[job.id] = job
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
        self._update(job, status="running", started_at=_now(), _started=time.perf_counter())
        try:
            result = work(lambda progress: self._update(job, progress=progress))
        except Exception as exc:  # every failure becomes the job's problem
            self._update(
                job,
                status="failed",
                problem=_problem(exc),
                finished_at=_now(),
                _finished=time.perf_counter(),
            )
        else:
            self._update(
                job,
                status="done",
                result=result,
                finished_at=_now(),
                _finished=time.perf_counter(),
            )
        finally:
            with self._lock:
                self._threads.pop(job.id, None)

    def get(self, job_id: str) -> Job:
        """Return the job ``job_id`` as it is now (a copy).

        Raises
        ------
        NotFound
            If the registry has no such job (never had, or forgot it after a restart).
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(
                    f"no job {job_id!r}: jobs are kept in memory, the latest {self._keep} of "
                    "them, and forgotten when the service restarts; GET /rosters lists the "
                    "rosters stored"
                )
            return replace(job, notes=list(job.notes))

    def close(self, timeout_s: float = 30.0) -> None:
        """Wait up to ``timeout_s`` for a running job to finish, refusing new ones meanwhile.

        The app calls this as it stops, before it closes its store; started again, it takes
        jobs again.
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads.values())
        try:
            deadline = time.perf_counter() + timeout_s
            for thread in threads:
                thread.join(max(0.0, deadline - time.perf_counter()))
        finally:
            with self._lock:
                self._closed = False


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
