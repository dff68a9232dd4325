"""``dutygrid staff``, ``policy`` and ``roster``: the people, the rules and the roster.

- ``staff import FILE`` reads a staff list (CSV or Excel, Chinese or English headers) and replaces
  the stored staff; a file with any bad row is refused whole, every problem listed.
  ``staff demo`` stores made-up staff for the bundled Huiji squads (labelled demo).
- ``policy import FILE`` stores a duty policy under its version; ``policy show`` shows the stored
  one, or the bundled Huiji policy when none is stored.
- ``roster solve --week 2026-W49`` makes a roster for a week and stores it; ``--replan ID`` with
  ``--absent OFFICER:FROM[:TO]`` or ``--publish-through DATE`` re-plans a stored one with as few
  changes as possible. ``roster show`` prints a stored roster.

Other roster commands add themselves to :data:`roster_app`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geodata.errors import FieldError, InputFileError
from grids.calendar import china_holidays, week_dates
from grids.demand import demand_for_week
from grids.demo_staff import huiji_demo_staff
from grids.policy import (
    DutyPolicy,
    huiji_policy_text,
    load_policy,
    policy_as_dict,
)
from grids.rostering import RosterOptions, RosterProgress, plan_roster, with_absences
from grids.staff import read_staff
from server.cli import DbOption, JsonOption, Output, app, existing_store
from server.roster_store import BUNDLED_POLICY_SOURCE, RosterStore, StoredRoster
from server.storage import Store

__all__ = [
    "parse_absence",
    "policy_app",
    "roster_app",
    "staff_app",
    "value_errors",
]

staff_app = typer.Typer(help="The people to roster: officers, assistants, duty leaders.")
policy_app = typer.Typer(help="The duty policy (值班规则): slots, levels, labour rules, weights.")
roster_app = typer.Typer(help="Duty rosters (排班): make, re-plan and show them.")
app.add_typer(staff_app, name="staff")
app.add_typer(policy_app, name="policy")
app.add_typer(roster_app, name="roster")

LEVEL_ORDER = (
    "strict",
    "controlled",
    "regulated",
    "operations",
    "events",
    "full_deployment",
    "leader",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@contextmanager
def value_errors(out: Output) -> Iterator[None]:
    """Turn a plain ValueError (a bad week or date) into a user error."""
    try:
        yield
    except ValueError as exc:
        out.fail({"error": "ValueError", "message": str(exc)}, str(exc))


def _slot_ids(policy: DutyPolicy) -> list[str]:
    return sorted(
        {s.id for day_type in ("weekday", "weekend", "holiday") for s in policy.slots_for(day_type)}
    )


def _squads(store: Store) -> dict[str, str]:
    squads = store.read_layer("squads")
    return {
        str(i): str(n) if isinstance(n, str) else str(i)
        for i, n in zip(squads["id"], squads["name_zh"], strict=True)
    }


# --- staff -----------------------------------------------------------------------------------


def _staff_counts(officers: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {"officer": 0, "assistant": 0, "leader": 0}
    for officer in officers:
        counts[officer.role] += 1
    return counts


@staff_app.command("import")
def staff_import_command(
    file: Annotated[Path, typer.Argument(help="staff list: .csv (UTF-8 or GBK) or .xlsx")],
    db: DbOption = None,
    encoding: Annotated[str | None, typer.Option(help="CSV text encoding, e.g. gbk")] = None,
    sheet: Annotated[str | None, typer.Option(help="sheet of a workbook to read")] = None,
    as_json: JsonOption = False,
) -> None:
    """Replace the stored staff with a staff list; nothing is written if any row is wrong."""
    out = Output(as_json=as_json)
    with existing_store(out, db) as store:
        rosters = RosterStore(store)
        squads = _squads(store)
        policy, _ = rosters.current_policy()
        officers = read_staff(
            file,
            squads=squads or None,
            slots=_slot_ids(policy),
            encoding=encoding,
            sheet=sheet,
        )
        written = rosters.replace_staff(officers, source=file.name)
    counts = _staff_counts(officers)

    def text() -> None:
        out.console.print(
            f"imported {written} people from {file.name}: {counts['officer']} officers, "
            f"{counts['assistant']} assistants, {counts['leader']} duty leaders"
        )

    out.done({"staff": written, "by_role": counts, "source": file.name}, text)


def _demand_hours(store: Store, week: str) -> tuple[dict[str, float], dict[str, float]]:
    """Return the week's officer-hours and officer-or-assistant hours needed, by squad."""
    posts = store.read_layer("posts")
    if posts.empty:
        raise FieldError(
            "--sized-for needs the posts: run `dutygrid grids build` and `dutygrid posts build`",
            field="sized_for",
        )
    policy, _ = RosterStore(store).current_policy()
    demand = demand_for_week(
        posts,
        policy,
        china_holidays(),
        week,
        squads=sorted(_squads(store)),
        zones=store.read_layer("zones"),
    )
    hours = demand.groupby(["squad_id", "role"])["hours"].sum().reset_index()
    by_role: dict[str, dict[str, float]] = {"officer": {}, "any": {}}
    for squad, role, value in hours.itertuples(index=False):
        if role in by_role and squad:
            by_role[str(role)][str(squad)] = float(value)
    return by_role["officer"], by_role["any"]


@staff_app.command("demo")
def staff_demo_command(
    db: DbOption = None,
    seed: Annotated[int, typer.Option(help="seed of the made-up names and sizes")] = 49,
    sized_for: Annotated[
        str | None,
        typer.Option(
            "--sized-for",
            help="ISO week: size each squad to cover that week's demand (default: 8-16 officers "
            "a squad, a headcount that falls short)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Store made-up staff for the Huiji squads: DEMO DATA, not real people."""
    out = Output(as_json=as_json)
    with existing_store(out, db) as store:
        squads = _squads(store)
        if not squads:
            out.fail(
                {"error": "NoSquads", "message": "the database has no squads"},
                "the database has no squads: run `dutygrid init` first",
            )
        officer_hours = assistant_hours = None
        if sized_for is not None:
            officer_hours, assistant_hours = _demand_hours(store, sized_for)
        officers = huiji_demo_staff(
            list(squads.items()),
            seed,
            officer_hours=officer_hours,
            assistant_hours=assistant_hours,
        )
        written = RosterStore(store).replace_staff(officers, source="demo")
    counts = _staff_counts(officers)

    def text() -> None:
        out.console.print(
            f"stored {written} made-up people (DEMO DATA, not real staff): {counts['officer']} "
            f"officers, {counts['assistant']} assistants, {counts['leader']} duty leaders"
        )

    out.done({"staff": written, "by_role": counts, "demo": True}, text)


# --- policy ----------------------------------------------------------------------------------


@policy_app.command("import")
def policy_import_command(
    file: Annotated[Path, typer.Argument(help="duty policy TOML file")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a duty policy under its version (a version is never overwritten with other rules)."""
    out = Output(as_json=as_json)
    with existing_store(out, db) as store:
        policy = load_policy(file)
        try:
            text = file.read_text("utf-8")
        except OSError as exc:
            raise InputFileError(f"cannot read the policy: {exc}", file=file.name) from None
        written = RosterStore(store).save_policy(policy, text=text, source=file.name)
    result = {"version": policy.version, "fingerprint": policy.fingerprint(), "stored": written}

    def text_out() -> None:
        state = "stored" if written else "already stored, unchanged"
        out.console.print(f"policy version {policy.version} ({policy.name}): {state}")
        out.console.print(f"fingerprint {policy.fingerprint()}")

    out.done(result, text_out)


@policy_app.command("show")
def policy_show_command(
    db: DbOption = None,
    version: Annotated[int | None, typer.Option(help="a stored version (default: latest)")] = None,
    toml: Annotated[bool, typer.Option("--toml", help="print the policy as TOML")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the stored duty policy, or the bundled Huiji policy when none is stored."""
    out = Output(as_json=as_json)
    with existing_store(out, db) as store:
        rosters = RosterStore(store)
        versions = {v["version"]: v for v in rosters.policy_versions()}
        if version is not None:
            found = rosters.policy(version)
            if found is None:
                raise KeyError(f"no policy version {version} is stored")
            policy, source = found, str(versions[version]["source"])
        else:
            policy, source = rosters.current_policy()
        stored = policy.version in versions
        text = rosters.policy_text(policy.version) if stored else huiji_policy_text()
    result = {"source": source, "stored": stored, "policy": policy_as_dict(policy)}

    def text_out() -> None:
        if toml:
            out.console.print(text, markup=False, highlight=False)
            return
        where = f"stored, from {source}" if stored else "the bundled default, not stored"
        out.console.print(f"[bold]{policy.name}[/bold] version {policy.version} ({where})")
        out.console.print(f"fingerprint {policy.fingerprint()}")
        for day_type in ("weekday", "weekend", "holiday"):
            slots = ", ".join(
                f"{s.id} {s.start:%H:%M}-{s.end:%H:%M}" for s in policy.slots_for(day_type)
            )
            out.console.print(f"  {day_type}: {slots}")
        labour = policy.labour
        overtime = (
            f"overtime up to {labour.max_overtime_hours_per_day:g} h/day, "
            f"{labour.max_overtime_hours_per_month:g} h/month"
            if labour.overtime_allowed
            else "no overtime"
        )
        out.console.print(
            f"  labour: {labour.hours_per_day:g} h/day, {labour.hours_per_week:g} h/week, "
            f"{labour.rest_days_per_week} rest day(s)/week, {labour.min_rest_hours:g} h between "
            f"duties, {overtime}"
        )
        levels = policy.levels
        out.console.print(
            f"  strict: {levels.strict.officers} officer(s) per day slot; controlled: a patrol "
            f"every {levels.controlled.visit_every_hours:g} h; regulated: {levels.regulated.count}"
            f" {levels.regulated.role} at guidance points"
        )
        out.console.print(
            f"  {len(policy.operations)} operations, {len(policy.events)} event posts, "
            f"{len(policy.full_deployment)} full deployments, {policy.leader.on_duty} duty "
            "leader(s) a day"
        )

    out.done(result, text_out)


# --- roster ----------------------------------------------------------------------------------


def parse_absence(text: str, week_end: date) -> tuple[str, date, date]:
    """Return (officer id, first day, last day) of ``OFFICER:FROM[:TO]``.

    TO defaults to the week's last day.

    Raises
    ------
    FieldError
        If the text is not an officer and one or two dates, or the absence ends before it starts.
    """
    parts = text.split(":")
    dates = [p for p in parts[1:] if _DATE.match(p.strip())]
    if len(parts) < 2 or len(dates) not in (1, 2) or dates != parts[len(parts) - len(dates) :]:
        raise FieldError(
            f"{text!r} is not OFFICER:FROM[:TO], e.g. HJ-YB-003:2026-12-02", field="absent"
        )
    officer = ":".join(parts[: len(parts) - len(dates)]).strip()
    try:
        first = date.fromisoformat(dates[0])
        last = date.fromisoformat(dates[1]) if len(dates) == 2 else max(first, week_end)
    except ValueError as exc:
        raise FieldError(f"{text!r}: {exc}", field="absent") from None
    if not officer or last < first:
        raise FieldError(
            f"{text!r}: no officer, or the absence ends before it starts", field="absent"
        )
    return officer, first, last


@contextmanager
def _solve_progress(out: Output) -> Iterator[Callable[[RosterProgress], None]]:
    """Show the stages of a roster being made; yields the progress callback."""
    if out.as_json:
        yield lambda _event: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out.errors, transient=True) as bar:
        task = bar.add_task("starting", total=1)

        def report(event: RosterProgress) -> None:
            words = {"travel": "road network", "shifts": "shifts", "posts": "posts"}
            text = f"{words[event.stage]}: {event.label}"
            if event.objective is not None:
                text += f" (penalty {event.objective:,.0f}, bound {event.bound or 0:,.0f})"
            bar.update(task, description=text, completed=event.done, total=max(1, event.total))

        yield report


def _solve_text(out: Output, stored: StoredRoster, report: dict[str, Any]) -> None:
    console = out.console
    console.print(f"[bold]roster {stored.info.roster_id}[/bold] for {stored.info.week} (draft)")
    gap = report.get("gap")
    first = report.get("first_feasible_s")
    console.print(
        f"objective {report['objective']:,.1f}, bound {report['bound']:,.1f}, gap "
        f"{gap:.1%}; first feasible roster after {first or 0:.1f} s, "
        f"{report['wall_time_s']:.1f} s in all"
    )
    _print_coverage(out, report)
    _print_uncovered(out, report)
    if report.get("hard_uncovered"):
        console.print(
            f"[red]{report['hard_uncovered']} hard requirement(s) are not met[/red]: see "
            "`dutygrid roster show --json` (report.uncovered, hard = true)"
        )
    changes = report.get("changes")
    if changes:
        console.print(
            f"re-planned from {report.get('based_on')}: {changes['assignments']} assignments "
            f"changed ({changes['person_days']} person-days)"
        )
    if report.get("staff", {}).get("demo"):
        console.print("[dim]made with DEMO staff (made-up people)[/dim]")


def _print_coverage(out: Output, report: dict[str, Any]) -> None:
    table = Table("level", "required", "covered", "share", "hours", title="coverage")
    coverage = report.get("coverage", {})
    order = {level: n for n, level in enumerate(LEVEL_ORDER)}
    for level, entry in sorted(coverage.items(), key=lambda item: order.get(item[0], 99)):
        table.add_row(
            level,
            str(entry["required"]),
            str(entry["covered"]),
            f"{entry['share']:.0%}",
            f"{entry['hours_covered']:,.0f}/{entry['hours_required']:,.0f}",
        )
    out.console.print(table)


def _print_uncovered(out: Output, report: dict[str, Any]) -> None:
    by_reason = report.get("uncovered_by_reason", {})
    if not by_reason:
        out.console.print("every requirement is covered")
        return
    table = Table("reason", "requirements", "people", "hours", "hard", title="left uncovered")
    for reason, entry in sorted(by_reason.items(), key=lambda item: -item[1]["hours"]):
        table.add_row(
            reason,
            str(entry["requirements"]),
            str(entry["people"]),
            f"{entry['hours']:,.1f}",
            str(entry["hard"]),
        )
    out.console.print(table)


def _uncovered_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for row in frame.to_dict("records"):
        rows.append(
            {
                str(k): (v.isoformat() if isinstance(v, date) else v)
                for k, v in row.items()
                if not (isinstance(v, float) and math.isnan(v))
            }
        )
    return rows


@roster_app.command("solve")
def roster_solve_command(
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W49")],
    db: DbOption = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="seconds for the whole week", min=1.0)
    ] = 60.0,
    deterministic: Annotated[
        bool, typer.Option("--deterministic", help="the same inputs give the same roster")
    ] = False,
    seed: Annotated[int, typer.Option(help="random seed of the search")] = 0,
    replan: Annotated[
        str | None, typer.Option("--replan", help="re-plan this stored roster")
    ] = None,
    absent: Annotated[
        list[str] | None,
        typer.Option("--absent", help="OFFICER:FROM[:TO] absent (leave), repeatable"),
    ] = None,
    publish_through: Annotated[
        str | None,
        typer.Option("--publish-through", help="days up to this date stay as published"),
    ] = None,
    travel: Annotated[
        bool, typer.Option("--travel/--no-travel", help="limit moves between posts by the roads")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Make a roster for a week and store it; --replan changes a stored one as little as it can."""
    out = Output(as_json=as_json)
    with (
        value_errors(out),
        existing_store(out, db) as store,
    ):
        days = week_dates(week)
        rosters = RosterStore(store)
        policy, source = rosters.current_policy()
        staff = rosters.staff()
        if not staff:
            out.fail(
                {"error": "NoStaff", "message": "no staff is stored"},
                "no staff is stored: run `dutygrid staff import FILE` or `dutygrid staff demo`",
            )
        posts = store.read_layer("posts")
        if posts.empty:
            out.fail(
                {"error": "NoPosts", "message": "the database has no posts"},
                "the database has no posts: run `dutygrid grids build` and `dutygrid posts build`",
            )
        base: StoredRoster | None = None
        if replan is not None:
            base = rosters.roster(replan)
        elif publish_through is not None:
            base = rosters.roster(week=week)
        if base is not None and base.info.week != week:
            raise FieldError(
                f"roster {base.info.roster_id} is for {base.info.week}, not {week}", field="replan"
            )
        published = date.fromisoformat(publish_through) if publish_through else None
        absences = [parse_absence(a, days[-1]) for a in absent or []]
        staff = with_absences(staff, absences)
        squads = store.read_layer("squads")
        zones = store.read_layer("zones")
        roads = store.read_layer("roads") if travel else None
        calendar = china_holidays()
        demand = demand_for_week(
            posts, policy, calendar, week, squads=list(squads["id"]), zones=zones, staff=staff
        )
        options = RosterOptions(time_limit_s=time_limit, deterministic=deterministic, seed=seed)
        with _solve_progress(out) as progress:
            plan = plan_roster(
                demand,
                staff,
                policy,
                calendar,
                week,
                posts=posts,
                roads=roads,
                zones=zones,
                previous=base.assignments if base is not None else None,
                publish_through=published,
                options=options,
                progress=progress,
            )
        report = {
            **plan.report,
            "policy_source": source,
            "based_on": base.info.roster_id if base is not None else None,
            "absences": [
                {"officer_id": o, "from": a.isoformat(), "to": b.isoformat()}
                for o, a, b in absences
            ],
            "publish_through": published.isoformat() if published else None,
            "uncovered": _uncovered_rows(plan.uncovered),
        }
        rosters.save_policy(
            policy,
            text=huiji_policy_text() if source == BUNDLED_POLICY_SOURCE else None,
            source=source,
        )
        stored = rosters.save_roster(
            week,
            plan.assignments,
            report,
            policy=policy,
            based_on=base.info.roster_id if base is not None else None,
        )
    summary = {k: v for k, v in report.items() if k != "uncovered"}
    result = {"roster_id": stored.info.roster_id, "assignments": len(plan.assignments), **summary}
    out.done(result, lambda: _solve_text(out, stored, report))


def _shift_text(group: pd.DataFrame) -> str:
    start = pd.Timestamp(group["start"].min())
    end = pd.Timestamp(group["end"].max())
    return f"{start:%H}-{end:%H}"


def _print_week(out: Output, frame: pd.DataFrame, days: Sequence[date]) -> None:
    table = Table(title="shifts (use --date for posts)")
    table.add_column("officer", no_wrap=True)
    table.add_column("role", no_wrap=True)
    for day in days:
        table.add_column(f"{day:%m-%d}", no_wrap=True)
    for (officer_id, role), person in frame.groupby(["officer_id", "role"], sort=True):
        cells = []
        for day in days:
            worked = person[person["date"] == day]
            cells.append(_shift_text(worked) if len(worked) else "休")
        table.add_row(str(officer_id), str(role), *cells)
    out.console.print(table)


def _print_slots(out: Output, frame: pd.DataFrame) -> None:
    table = Table("date", "slot", "officer", "role", "task", "post", title="assignments")
    for row in frame.to_dict("records"):
        table.add_row(
            str(row["date"]),
            f"{row['slot_id']} {pd.Timestamp(row['start']):%H:%M}-{pd.Timestamp(row['end']):%H:%M}",
            str(row["officer_id"]),
            str(row["role"]),
            str(row["task"]),
            str(row["post_id"] or ""),
        )
    out.console.print(table)


@roster_app.command("show")
def roster_show_command(
    db: DbOption = None,
    roster: Annotated[
        str | None, typer.Option("--roster", help="roster id (default: the latest)")
    ] = None,
    week: Annotated[str | None, typer.Option("--week", help="the latest roster of a week")] = None,
    squad: Annotated[str | None, typer.Option("--squad", help="only this squad")] = None,
    day: Annotated[str | None, typer.Option("--date", help="only this date, slot by slot")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a stored roster: its report, and who works when (and where)."""
    out = Output(as_json=as_json)
    with (
        value_errors(out),
        existing_store(out, db) as store,
    ):
        stored = RosterStore(store).roster(roster, week=week)
        on = date.fromisoformat(day) if day else None
    frame = stored.assignments
    if squad is not None:
        frame = frame[frame["squad_id"] == squad]
    if on is not None:
        frame = frame[frame["date"] == on]
    info = stored.info
    result = {
        "roster_id": info.roster_id,
        "week": info.week,
        "status": info.status,
        "version": stored.version,
        "based_on": stored.based_on,
        "policy_version": info.policy_version,
        "policy_fingerprint": info.policy_fingerprint,
        "created_at": info.created_at,
        "report": info.solver,
        "assignments": [
            {
                **{k: v for k, v in row.items() if k not in ("start", "end", "date")},
                "date": row["date"].isoformat(),
                "start": pd.Timestamp(row["start"]).isoformat(),
                "end": pd.Timestamp(row["end"]).isoformat(),
            }
            for row in frame.to_dict("records")
        ],
    }

    def text() -> None:
        console = out.console
        console.print(
            f"[bold]roster {info.roster_id}[/bold] for {info.week}: {info.status}, version "
            f"{stored.version}, policy v{info.policy_version}, made {info.created_at}"
            + (f", re-planned from {stored.based_on}" if stored.based_on else "")
        )
        report = info.solver
        if "objective" in report:
            console.print(
                f"objective {report['objective']:,.1f}, bound {report['bound']:,.1f}, "
                f"gap {report['gap']:.1%}"
            )
        _print_coverage(out, report)
        _print_uncovered(out, report)
        if on is not None:
            _print_slots(out, frame)
        elif squad is not None:
            start = date.fromisoformat(report["days"][0]) if report.get("days") else None
            days = [start + timedelta(days=n) for n in range(7)] if start else []
            _print_week(out, frame, days or sorted(set(frame["date"])))
        else:
            table = Table("squad", "date", "people on duty", title="on duty")
            squads = frame["squad_id"].where(frame["squad_id"].notna(), "district")
            people = frame.assign(squad=squads).groupby(["squad", "date"])["officer_id"]
            for (label, on_day), group in people:
                table.add_row(str(label), str(on_day), str(group.nunique()))
            console.print(table)
            console.print("use --squad for a squad's week, --date for a day slot by slot")

    out.done(result, text)
