"""Rosters: list and read them, solve one as a job, publish one, check one against the rules.

- ``GET /rosters`` and ``GET /rosters/{roster_id}`` describe the stored rosters. An officer's
  duties are what has been published: officers see published rosters only (a draft is a 404 to
  them, as if it did not exist), without the solver's report. A roster's ``ETag`` names its
  version, which every change bumps; changes send it back in ``If-Match``.
- ``POST /rosters`` makes a roster for a week in the background and answers ``202`` with its job;
  ``GET /jobs/{job_id}`` follows the job (status, best objective, bound and gap so far) to the
  roster it stored, as a draft, and ``GET /jobs`` lists the latest jobs. One solve runs at a
  time. Jobs are kept in the database: a solve the service was running when it stopped is
  ``interrupted`` once it is back (start it again).
- ``POST /rosters/{roster_id}/publish`` makes a draft the binding roster of its week (the one the
  coverage maps show). Publishing binds every squad and the district's duty leaders, so it is an
  admin's; planners prepare drafts. A published roster's assignments change only with
  ``force=true`` (see :mod:`server.routes.assignments`).
- ``GET /rosters/{roster_id}/validation`` lists every rule the roster breaks
  (:func:`grids.roster_rules.validate_roster`), under the policy it was made with and the staff
  stored now.

The assignments themselves are in :mod:`server.routes.assignments`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from geodata.errors import FieldError, GeodataError
from grids.calendar import china_holidays
from grids.demand import demand_for_week
from grids.roster_rules import RULES, validate_roster
from grids.rostering import RosterOptions
from server.audit import entry_for, record
from server.auth import Permission, Principal, Role
from server.dependencies import StoreDep, check_if_match, require, weak_etag
from server.errors import NotFound, problem_responses
from server.jobs import (
    Job,
    JobRegistry,
    caught_warnings,
    solve_and_store,
    solve_inputs,
)
from server.roster_store import RosterStore, StoredRoster
from server.storage import Store

router = APIRouter(tags=["rosters"])

OwnDutiesReader = Annotated[Principal, Depends(require(Permission.READ_OWN_DUTIES))]
DutiesReader = Annotated[Principal, Depends(require(Permission.READ_DUTIES))]
DutiesWriter = Annotated[Principal, Depends(require(Permission.WRITE_DUTIES))]
RosterPublisher = Annotated[Principal, Depends(require(Permission.PUBLISH_ROSTERS))]

WEEK_PATTERN: Final = r"^(19|2\d)\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$"
"""An ISO week, ``2026-W49``."""
MAX_TIME_LIMIT_S: Final = 600.0
"""The longest a solve may be given, in seconds."""
MAX_JOBS_LISTED: Final = 100
"""The most jobs ``GET /jobs`` lists."""
SUMMARY_KEYS: Final = (
    "status",
    "objective",
    "bound",
    "gap",
    "first_feasible_s",
    "wall_time_s",
    "time_limit_s",
    "deterministic",
    "hard_uncovered",
    "coverage",
)
"""The parts of a solver's report a roster listing shows."""

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="the roster's ETag as you read it; required (428 without it, 412 if the "
        "roster changed since)",
    ),
]
"""The ``If-Match`` header of the roster changes, documented (the route checks it)."""


class Link(BaseModel):
    """A link to a related resource."""

    href: str
    rel: str
    type: str = "application/json"


class RosterOut(BaseModel):
    """A stored roster: what it covers, its status and version, and how the solver did."""

    id: str = Field(description="the roster's id, <week>-<n>")
    week: str = Field(description="the ISO week it covers")
    status: Literal["draft", "published"]
    version: int = Field(description="bumped by every change; the ETag names it")
    created_at: str
    based_on: str | None = Field(description="the roster it was re-planned from")
    policy_version: int = Field(description="the duty policy it was made under")
    policy_fingerprint: str
    assignments: int = Field(description="how many assignments it has")
    solver: dict[str, Any] | None = Field(
        description="the solver's report (a summary in lists; not shown to officers)"
    )
    links: list[Link]


class RosterList(BaseModel):
    """The stored rosters, oldest first."""

    rosters: list[RosterOut]


class SolveRequest(BaseModel):
    """A week to make a roster for, and how long to search."""

    week: str = Field(pattern=WEEK_PATTERN, description="the ISO week, e.g. 2026-W49")
    time_limit_s: float = Field(
        60.0, ge=1.0, le=MAX_TIME_LIMIT_S, description="seconds for the whole week"
    )
    deterministic: bool = Field(
        False, description="one search worker and a fixed seed: the same inputs, the same roster"
    )


class JobProgressOut(BaseModel):
    """Where a job is."""

    stage: str | None = Field(description="travel, shifts or posts, for a roster solve")
    label: str | None = Field(description="the part being worked on, e.g. a squad")
    done: int
    total: int
    objective: float | None = Field(description="the best objective of the part so far")
    bound: float | None = Field(description="the best bound of the part so far")
    gap: float | None = Field(description="|objective - bound| / max(1, |objective|)")
    elapsed_s: float = Field(description="seconds the job has run")


class JobOut(BaseModel):
    """A job: what it was asked, where it is and, once done, what it made."""

    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "interrupted"] = Field(
        description="interrupted: the service stopped while the job ran; submit it again"
    )
    submitted_by: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    parameters: dict[str, Any]
    progress: JobProgressOut
    result: dict[str, Any] | None = Field(
        description="once done: the roster stored (roster_id, href) and its objective"
    )
    problem: dict[str, Any] | None = Field(
        description="once failed or interrupted: why, as a problem document (status, title, detail)"
    )
    notes: list[str] = Field(description="warnings about the data")
    links: list[Link]


class JobList(BaseModel):
    """The latest jobs, newest first."""

    jobs: list[JobOut]


class ViolationOut(BaseModel):
    """One rule a roster breaks."""

    rule: str
    severity: Literal["error", "warning"]
    title_zh: str
    title_en: str
    message: str
    officer_id: str | None
    date: date | None
    slot_id: str | None
    post_id: str | None
    requirement_id: str | None
    legal_basis: str | None = Field(description="the article of the law, for labour rules")
    row: int | None = Field(description="the row of the assignment table to blame, from 1")


class ValidationOut(BaseModel):
    """Every rule a roster breaks, under its policy and the staff stored now."""

    roster_id: str
    version: int
    policy_version: int
    errors: int
    warnings: int
    demand_checked: bool = Field(description="whether unmet demand was checked too")
    notes: list[str]
    violations: list[ViolationOut]


# --- shared by the roster routes ---------------------------------------------------------------


def roster_etag(roster_id: str, version: int) -> str:
    """Return the ETag of a roster's version."""
    return weak_etag("roster", roster_id, version)


def visible_to(principal: Principal | None, stored: StoredRoster) -> bool:
    """Return whether ``principal`` may see the roster: officers see published rosters only.

    An officer's duties are what has been published; a draft may still change, so officers are
    not shown it (not even that it exists).
    """
    return (
        principal is None or principal.role is not Role.OFFICER or stored.info.status == "published"
    )


def load_roster(
    store: Store,
    roster_id: str,
    principal: Principal | None = None,
    *,
    rows: bool = True,
    report: bool = True,
    counted: bool = False,
) -> StoredRoster:
    """Return the roster ``roster_id`` with its assignments, if ``principal`` may see it.

    Without ``rows`` its assignments are not read, without ``report`` neither is the solver's
    report; with ``counted`` they are counted in the same read
    (:meth:`~server.roster_store.RosterStore.roster`).

    Raises
    ------
    NotFound
        If there is no such roster, or it is a draft and ``principal`` an officer (the same
        answer, so that a draft's existence is not revealed).
    """
    try:
        stored = RosterStore(store).roster(roster_id, rows=rows, report=report, counted=counted)
    except KeyError:
        stored = None
    if stored is None or not visible_to(principal, stored):
        raise NotFound(
            f"no roster {roster_id!r} is stored; GET /rosters lists the rosters there are",
            field="roster_id",
        )
    return stored


def roster_document(
    stored: StoredRoster, *, count: int, solver: dict[str, Any] | None
) -> RosterOut:
    """Return a roster as the API shows it."""
    info = stored.info
    base = f"/rosters/{info.roster_id}"
    return RosterOut(
        id=info.roster_id,
        week=info.week,
        status=info.status,
        version=stored.version,
        created_at=info.created_at,
        based_on=stored.based_on,
        policy_version=info.policy_version,
        policy_fingerprint=info.policy_fingerprint,
        assignments=count,
        solver=solver,
        links=[
            Link(href=base, rel="self"),
            Link(href=f"{base}/assignments", rel="assignments"),
            Link(href=f"{base}/assignments?format=csv", rel="alternate", type="text/csv"),
            Link(href=f"{base}/validation", rel="validation"),
        ],
    )


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in SUMMARY_KEYS if key in report}


def _jobs(request: Request) -> JobRegistry:
    jobs: JobRegistry = request.app.state.jobs
    return jobs


def _json(model: BaseModel, *, status_code: int = 200, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code, headers=headers)


# --- the routes -----------------------------------------------------------------------------


@router.get("/rosters", summary="List rosters", response_model=RosterList)
def list_rosters(
    store: StoreDep,
    principal: OwnDutiesReader,
    week: Annotated[
        str | None, Query(pattern=WEEK_PATTERN, description="only this ISO week, e.g. 2026-W49")
    ] = None,
) -> RosterList:
    """List the stored rosters (of a week), oldest first; officers see the published ones only."""
    officer = principal.role is Role.OFFICER
    return RosterList(
        rosters=[
            roster_document(
                stored,
                count=stored.assignment_count or 0,
                solver=None if officer else _summary(stored.info.solver),
            )
            for stored in RosterStore(store).rosters(week, counted=True)
            if visible_to(principal, stored)
        ]
    )


@router.get(
    "/rosters/{roster_id}",
    summary="Read a roster",
    response_model=RosterOut,
    responses={200: {"headers": {"ETag": {"description": "the roster's version"}}}},
)
def read_roster(roster_id: str, store: StoreDep, principal: OwnDutiesReader) -> JSONResponse:
    """Describe a roster: week, status, version (its ETag), policy and the solver's report."""
    officer = principal.role is Role.OFFICER
    # its rows only counted (in the read that gives the version), its report read only for
    # those shown it
    stored = load_roster(store, roster_id, principal, rows=False, report=not officer, counted=True)
    solver = None if officer else stored.info.solver
    document = roster_document(stored, count=stored.assignment_count or 0, solver=solver)
    return _json(document, headers={"ETag": roster_etag(roster_id, stored.version)})


def job_document(job: Job) -> JobOut:
    """Return a job as the API shows it."""
    links = [Link(href=f"/jobs/{job.id}", rel="self")]
    if job.result is not None and "href" in job.result:
        links.append(Link(href=str(job.result["href"]), rel="result"))
    progress = job.progress
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        submitted_by=job.submitted_by,
        submitted_at=job.submitted_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        parameters=job.parameters,
        progress=JobProgressOut(
            stage=progress.stage,
            label=progress.label,
            done=progress.done,
            total=progress.total,
            objective=progress.objective,
            bound=progress.bound,
            gap=progress.gap,
            elapsed_s=job.elapsed_s,
        ),
        result=job.result,
        problem=job.problem,
        notes=job.notes,
        links=links,
    )


@router.post(
    "/rosters",
    status_code=202,
    summary="Solve a roster",
    response_model=JobOut,
    responses={
        202: {"headers": {"Location": {"description": "the job, to follow"}}},
        **problem_responses(409, 422),
    },
)
def solve_roster(
    body: SolveRequest, request: Request, store: StoreDep, principal: DutiesWriter
) -> JSONResponse:
    """Make a roster for a week in the background (one at a time); follow it at its job."""
    jobs = _jobs(request)
    options = RosterOptions(time_limit_s=body.time_limit_s, deterministic=body.deterministic)
    notes: list[str] = []
    inputs = solve_inputs(store, body.week, options, notes)
    job = jobs.submit(
        "roster.solve",
        lambda report: solve_and_store(store, inputs, principal, report),
        principal=principal,
        parameters=body.model_dump(),
        notes=notes,
    )
    return _json(job_document(job), status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.get("/jobs", summary="List jobs", response_model=JobList)
def list_jobs(
    request: Request,
    _writer: DutiesWriter,
    status: Annotated[
        Literal["queued", "running", "done", "failed", "interrupted"] | None,
        Query(description="only jobs in this state"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_JOBS_LISTED, description="at most this many")] = 20,
) -> JobList:
    """List the latest roster solves, newest first: who started them, how far they got."""
    return JobList(
        jobs=[job_document(j) for j in _jobs(request).latest(limit=limit, status=status)]
    )


@router.get("/jobs/{job_id}", summary="Follow a job", response_model=JobOut)
def read_job(job_id: str, request: Request, _writer: DutiesWriter) -> JobOut:
    """Show a job: queued, running (best objective and bound so far), done, failed, interrupted."""
    return job_document(_jobs(request).get(job_id))


@router.post(
    "/rosters/{roster_id}/publish",
    summary="Publish a roster",
    response_model=RosterOut,
    responses={
        200: {"headers": {"ETag": {"description": "the roster's new version"}}},
        **problem_responses(412, 428),
    },
)
def publish_roster(
    roster_id: str,
    request: Request,
    store: StoreDep,
    admin: RosterPublisher,
    _if_match: IfMatchHeader = None,
) -> JSONResponse:
    """Make a roster its week's binding one (needs If-Match); publishing again changes nothing."""
    stored = load_roster(store, roster_id)
    check_if_match(request, roster_etag(roster_id, stored.version), required=True)
    count = len(stored.assignments)
    if stored.info.status == "published":
        document = roster_document(stored, count=count, solver=stored.info.solver)
        return _json(document, headers={"ETag": roster_etag(roster_id, stored.version)})
    rosters = RosterStore(store)
    with store.transaction() as connection:
        published = rosters.set_status(
            roster_id, "published", expected_version=stored.version, connection=connection
        )
        summary = {
            "roster_id": roster_id,
            "week": stored.info.week,
            "before": {"status": stored.info.status, "version": stored.version},
            "after": {"status": published.info.status, "version": published.version},
            "assignments": count,
        }
        record(
            connection,
            entry_for(
                admin,
                action="roster.publish",
                method="POST",
                route="/rosters/{roster_id}/publish",
                summary=summary,
            ),
        )
    document = roster_document(published, count=count, solver=published.info.solver)
    return _json(document, headers={"ETag": roster_etag(roster_id, published.version)})


@router.get(
    "/rosters/{roster_id}/validation",
    summary="Check a roster",
    response_model=ValidationOut,
    responses=problem_responses(422),
)
def validate(roster_id: str, store: StoreDep, _reader: DutiesReader) -> ValidationOut:
    """List every rule the roster breaks: who, when, where, what, and the law behind it."""
    stored = load_roster(store, roster_id)
    rosters = RosterStore(store)
    policy = rosters.policy(stored.info.policy_version)
    notes: list[str] = []
    if policy is None:
        policy, source = rosters.current_policy()
        notes.append(
            f"policy version {stored.info.policy_version} is not stored; checked under version "
            f"{policy.version} ({source})"
        )
    staff = rosters.staff()
    calendar = china_holidays()
    posts = store.read_layer("posts")
    demand = None
    if not posts.empty:
        try:
            squads = store.read_layer("squads")
            with caught_warnings(notes):
                demand = demand_for_week(
                    posts,
                    policy,
                    calendar,
                    stored.info.week,
                    squads=list(squads["id"]),
                    zones=store.read_layer("zones"),
                    staff=staff,
                )
        except (GeodataError, ValueError) as exc:
            notes.append(f"unmet demand is not checked: {exc}")
    else:
        notes.append("unmet demand and unknown posts are not checked: no posts are stored")
    try:
        found = validate_roster(
            stored.assignments,
            staff=staff,
            policy=policy,
            calendar=calendar,
            demand=demand,
            posts=posts if not posts.empty else None,
        )
    except ValueError as exc:  # a day the holiday calendar does not cover
        if isinstance(exc, GeodataError):
            raise
        raise FieldError(f"roster {roster_id}: {exc}", field="date") from None
    violations = [
        ViolationOut(
            rule=v.rule,
            severity=v.severity,
            title_zh=RULES[v.rule].title_zh,
            title_en=RULES[v.rule].title_en,
            message=v.message,
            officer_id=v.officer_id,
            date=v.date,
            slot_id=v.slot_id,
            post_id=v.post_id,
            requirement_id=v.requirement_id,
            legal_basis=v.legal_basis,
            row=v.row,
        )
        for v in found
    ]
    return ValidationOut(
        roster_id=roster_id,
        version=stored.version,
        policy_version=policy.version,
        errors=sum(1 for v in found if v.severity == "error"),
        warnings=sum(1 for v in found if v.severity == "warning"),
        demand_checked=demand is not None,
        notes=notes,
        violations=violations,
    )
