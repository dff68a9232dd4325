"""``dutygrid roster validate`` and ``roster need``: is a roster lawful; who a week needs.

- ``roster validate`` checks a stored roster (``--roster ID``, default the latest) or a roster file
  (CSV or Excel, as ``roster_io`` reads it) against the duty policy, the stored staff, the posts
  and the week's required staffing, and lists every rule broken: rule, person, day, slot, post
  and, for the labour rules, the article of the law. A stored roster is checked under the policy
  version it was made with; a file under the current policy. Exit status 0: no hard rule is
  broken (warnings, the soft rules, may remain); 1: hard rules are broken; 2: the command could
  not check (a bad file, with every bad row listed; an unknown roster).
- ``roster need --week 2026-W49`` reckons the fewest people, by squad and role, that cover all of
  the week's required staffing with no overtime, against today's headcount, and the coverage
  today's staff reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from grids.calendar import HolidayCalendar, china_holidays, iso_week, week_dates
from grids.demand import demand_for_week
from grids.policy import DutyPolicy
from grids.roster_io import read_assignments
from grids.roster_rules import (
    RULES,
    Violation,
    validate_roster,
    violations_summary,
)
from grids.rostering_travel import RoadNetwork, TravelTimes, demand_places
from grids.staff import Officer
from grids.staffing import StaffingNeed, staffing_need
from server.cli import DbOption, JsonOption, Output, existing_store
from server.cli_roster import LEVEL_ORDER, roster_app, value_errors
from server.roster_store import RosterStore
from server.storage import Store

__all__ = ["roster_need_command", "roster_validate_command"]

_PLURALS = {
    "officer": "officers (执法队员)",
    "assistant": "assistants (协管员)",
    "leader": "duty leaders (带班领导)",
}
_ROLE_ORDER = tuple(_PLURALS)
_VIOLATIONS_EXIT = 1


# --- validate --------------------------------------------------------------------------------


def _squad_names(store: Store) -> dict[str, str]:
    squads = store.read_layer("squads")
    return {
        str(i): str(n) if isinstance(n, str) else str(i)
        for i, n in zip(squads["id"], squads["name_zh"], strict=True)
    }


def _weeks(assignments: pd.DataFrame) -> list[str]:
    return sorted({iso_week(pd.Timestamp(d).date()) for d in assignments["date"].dropna()})


def _demand(
    layers: dict[str, Any],
    weeks: Sequence[str],
    policy: DutyPolicy,
    calendar: HolidayCalendar,
    staff: Sequence[Officer],
) -> pd.DataFrame | None:
    """Return the required staffing of the weeks (None when there are no posts)."""
    posts = layers["posts"]
    if posts.empty or not weeks:
        return None
    frames = [
        demand_for_week(
            posts,
            policy,
            calendar,
            week,
            squads=layers["squads"],
            zones=layers["zones"],
            staff=staff,
        )
        for week in weeks
    ]
    return pd.concat(frames, ignore_index=True)


def _travel(
    store: Store, layers: dict[str, Any], demand: pd.DataFrame, policy: DutyPolicy
) -> TravelTimes | None:
    """Return the travel times between the demand's places along the roads (None: no roads)."""
    roads = store.read_layer("roads")
    if roads.empty:
        return None
    places = demand_places(demand, layers["posts"], zones=layers["zones"], policy=policy)
    return TravelTimes(RoadNetwork(roads), places)


def _rest_of_months(
    rosters: RosterStore, weeks: Sequence[str], skip: str | None
) -> pd.DataFrame | None:
    """Return the latest stored roster of each other week in the same months, for the overtime."""
    months = {(d.year, d.month) for week in weeks for d in week_dates(week)}
    latest: dict[str, str] = {}
    for stored in rosters.rosters():  # oldest first: a later roster of a week wins
        info = stored.info
        if info.roster_id != skip and info.week not in weeks:
            latest[info.week] = info.roster_id
    frames = []
    for week, roster_id in sorted(latest.items()):
        if not {(d.year, d.month) for d in week_dates(week)} & months:
            continue
        frame = rosters.roster(roster_id).assignments
        in_months = [(d.year, d.month) in months for d in frame["date"]]
        frames.append(frame[in_months])
    return pd.concat(frames, ignore_index=True) if frames else None


def _violation_dict(violation: Violation) -> dict[str, Any]:
    rule = RULES[violation.rule]
    return {
        "rule": violation.rule,
        "severity": violation.severity,
        "title_zh": rule.title_zh,
        "title_en": rule.title_en,
        "officer_id": violation.officer_id,
        "date": violation.date.isoformat() if violation.date else None,
        "slot_id": violation.slot_id,
        "post_id": violation.post_id,
        "requirement_id": violation.requirement_id,
        "message": violation.message,
        "legal_basis": violation.legal_basis,
    }


def _summary_rows(violations: Sequence[Violation]) -> list[dict[str, Any]]:
    summary = violations_summary(violations)
    return [
        {
            "rule": str(row["rule"]),
            "severity": str(row["severity"]),
            "title_zh": str(row["title_zh"]),
            "title_en": str(row["title_en"]),
            "count": int(row["count"]),
            "officers": int(row["officers"]),
            "first_date": row["first_date"].isoformat() if row["first_date"] else None,
            "legal_basis": RULES[str(row["rule"])].legal_basis,
        }
        for row in summary.to_dict("records")
    ]


def _print_violations(out: Output, violations: Sequence[Violation]) -> None:
    """Print the violations rule by rule (errors first), each rule with its legal basis."""
    order = {rule: n for n, rule in enumerate(RULES)}
    groups: dict[tuple[str, str], list[Violation]] = {}
    for violation in violations:
        groups.setdefault((violation.severity, violation.rule), []).append(violation)
    for (severity, rule_id), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0] != "error", order[kv[0][1]])
    ):
        rule = RULES[rule_id]
        colour = "red" if severity == "error" else "yellow"
        out.console.print(
            f"\n[bold {colour}]{severity}[/bold {colour}] [bold]{rule_id}[/bold] "
            f"{rule.title_zh} / {rule.title_en}: {len(items)}"
        )
        for basis in sorted({v.legal_basis for v in items if v.legal_basis}):
            out.console.print(f"  legal basis 法律依据: {basis}", markup=False)
        for v in items:
            where = "  ".join(
                part or "-"
                for part in (
                    v.date.isoformat() if v.date else None,
                    v.slot_id,
                    v.officer_id,
                    v.post_id,
                )
            )
            out.console.print(f"  {where}: {v.message}", markup=False)


def _print_summary(out: Output, violations: Sequence[Violation], what: str) -> None:
    rows = _summary_rows(violations)
    if rows:
        table = Table("rule", "severity", "title", "count", "people", "first date", title="summary")
        for row in rows:
            table.add_row(
                row["rule"],
                row["severity"],
                row["title_zh"],
                str(row["count"]),
                str(row["officers"]),
                row["first_date"] or "",
            )
        out.console.print(table)
    errors = sum(1 for v in violations if v.severity == "error")
    warnings = len(violations) - errors
    if errors:
        out.console.print(
            f"[bold red]{what} breaks hard rules[/bold red]: {errors} error(s), "
            f"{warnings} warning(s)"
        )
    else:
        note = f" ({warnings} warning(s) on soft rules)" if warnings else ""
        out.console.print(f"[bold green]{what} keeps every hard rule[/bold green]{note}")


@roster_app.command("validate")
def roster_validate_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="a roster file (.csv or .xlsx) to check instead of a stored roster"),
    ] = None,
    db: DbOption = None,
    roster: Annotated[
        str | None, typer.Option("--roster", help="stored roster id (default: the latest)")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="CSV text encoding, e.g. gbk")] = None,
    sheet: Annotated[str | None, typer.Option(help="sheet of a workbook to read")] = None,
    demand: Annotated[
        bool,
        typer.Option("--demand/--no-demand", help="check the week's required staffing too"),
    ] = True,
    travel: Annotated[
        bool,
        typer.Option("--travel/--no-travel", help="warn of moves between posts the roads forbid"),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Check a roster against the labour law, the duty policy and the demand; list every breach.

    Exit status 0: no hard rule broken (warnings may remain); 1: hard rules broken; 2: the roster
    could not be read (every bad row is listed) or is not stored.
    """
    out = Output(as_json=as_json)
    if file is not None and roster is not None:
        out.fail(
            {"error": "UsageError", "message": "give --roster or a FILE, not both"},
            "give --roster ID (a stored roster) or a FILE (.csv or .xlsx), not both",
        )
    with value_errors(out), existing_store(out, db) as store:
        rosters = RosterStore(store)
        staff = rosters.staff()
        calendar = china_holidays()
        source: dict[str, Any]
        if file is None:
            try:
                stored = rosters.roster(roster)
            except KeyError as exc:
                message = str(exc.args[0])
                out.fail(
                    {"error": "UnknownRoster", "roster_id": roster, "message": message},
                    f"{message}: see the stored rosters with `dutygrid roster show`"
                    if roster
                    else f"{message}: make one with `dutygrid roster solve` or give a FILE",
                )
            info = stored.info
            policy, policy_source = rosters.current_policy()
            own = rosters.policy(info.policy_version)
            if own is not None and own.version != policy.version:
                out.warn(
                    f"roster {info.roster_id} was made under policy version {own.version}; it "
                    f"is checked under that version, not the current {policy.version}"
                )
                policy, policy_source = own, f"stored version {own.version}"
            assignments = stored.assignments
            source = {"roster_id": info.roster_id, "week": info.week, "status": info.status}
            what = f"roster {info.roster_id}"
        else:
            policy, policy_source = rosters.current_policy()
            assignments = read_assignments(
                file, policy=policy, calendar=calendar, staff=staff, encoding=encoding, sheet=sheet
            )
            source = {"file": file.name}
            what = file.name
        if not staff:
            out.warn("no staff is stored: every person is unknown (`dutygrid staff import FILE`)")
        weeks = _weeks(assignments)
        layers = {
            "posts": store.read_layer("posts"),
            "zones": store.read_layer("zones"),
            "squads": sorted(_squad_names(store)),
        }
        posts = layers["posts"]
        required = _demand(layers, weeks, policy, calendar, staff) if demand else None
        if demand and required is None and weeks:
            out.warn("the database has no posts: required staffing and posts are not checked")
        times = None
        if travel and required is not None:
            times = _travel(store, layers, required, policy)
        skip = source.get("roster_id")
        violations = validate_roster(
            assignments,
            staff=staff,
            policy=policy,
            calendar=calendar,
            demand=required,
            posts=None if posts.empty else posts,
            travel_minutes=times.minutes if times is not None else None,
            month_assignments=_rest_of_months(rosters, weeks, skip),
        )
    errors = sum(1 for v in violations if v.severity == "error")
    result = {
        **source,
        "weeks": weeks,
        "assignments": len(assignments),
        "policy_version": policy.version,
        "policy_source": policy_source,
        "checked": {"demand": required is not None, "travel": times is not None},
        "lawful": errors == 0,
        "error_count": errors,
        "warning_count": len(violations) - errors,
        "summary": _summary_rows(violations),
        "violations": [_violation_dict(v) for v in violations],
    }

    def text() -> None:
        out.console.print(
            f"[bold]{what}[/bold] ({', '.join(weeks) or 'no duties'}): {len(assignments)} "
            f"assignments checked under policy version {policy.version} ({policy_source})"
        )
        if violations:
            out.console.print("each line: date  slot  person  post: what is wrong")
        _print_violations(out, violations)
        _print_summary(out, violations, what)

    out.done(result, text)
    if errors:
        raise typer.Exit(_VIOLATIONS_EXIT)


# --- need ------------------------------------------------------------------------------------


def _need_rows(need: StaffingNeed, names: dict[str, str]) -> list[dict[str, Any]]:
    """Return the need by squad and role, with what bounds it when ``needed`` is unknown.

    ``short`` is then a lower bound of the shortfall, and ``short_at_most`` its upper bound when
    one is known (``upper_bound``: assistants whose officers were not found in time, counted
    without the officers' spare hours).
    """
    rows = []
    for row in need.table.to_dict("records"):
        squad, role = row["squad_id"], str(row["role"])
        needed = None if pd.isna(row["needed"]) else int(row["needed"])
        upper = None if pd.isna(row["upper_bound"]) else int(row["upper_bound"])
        today = int(row["today"])
        lower = int(row["lower_bound"])
        short = max(0, (lower if needed is None else needed) - today)
        short_at_most = None if upper is None else max(0, upper - today)
        rows.append(
            {
                "squad_id": squad,
                "squad_name": names.get(str(squad), str(squad)) if squad else "全区 district",
                "role": role,
                "today": today,
                "needed": needed,
                "lower_bound": lower,
                "upper_bound": upper,
                "proven": bool(row["proven"]),
                "short": short,
                "short_at_most": short_at_most,
                "short_is_lower_bound": needed is None and short_at_most != short,
                "required_hours": float(row["required_hours"]),
                "covered_hours_today": float(row["covered_hours_today"]),
                "coverage_today": float(row["coverage_today"]),
            }
        )
    return rows


def _totals(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return today's headcount, the need and the shortfall by role, for the district.

    Where a need is unknown, ``needed`` and ``short`` are lower bounds (``is_lower_bound``);
    ``at_most`` and ``short_at_most`` are upper bounds when every row has one, else None.
    """
    totals: dict[str, dict[str, Any]] = {}
    for role in _ROLE_ORDER:
        mine = [r for r in rows if r["role"] == role]
        if not mine:
            continue
        unknown = any(r["needed"] is None for r in mine)
        required = sum(r["required_hours"] for r in mine)
        covered = sum(r["covered_hours_today"] for r in mine)
        bounded = all(r["upper_bound"] is not None for r in mine)
        totals[role] = {
            "today": sum(r["today"] for r in mine),
            "needed": sum(r["lower_bound"] if r["needed"] is None else r["needed"] for r in mine),
            "at_most": sum(r["upper_bound"] for r in mine) if bounded else None,
            "short": sum(r["short"] for r in mine),
            "short_at_most": sum(r["short_at_most"] for r in mine) if bounded else None,
            "is_lower_bound": unknown,
            "required_hours": round(required, 3),
            "covered_hours_today": round(covered, 3),
            "coverage_today": covered / required if required else 1.0,
        }
    return totals


def _coverage_by_level(need: StaffingNeed) -> dict[str, dict[str, Any]]:
    coverage = need.coverage
    found: dict[str, dict[str, Any]] = {}
    if coverage.empty:
        return found
    for level, group in coverage.groupby("level", sort=False):
        required = float(group["required_hours"].sum())
        covered = float(group["covered_hours"].sum())
        found[str(level)] = {
            "requirements": int(group["requirements"].sum()),
            "required_hours": round(required, 3),
            "covered_hours": round(covered, 3),
            "share": covered / required if required else 1.0,
        }
    order = {level: n for n, level in enumerate(LEVEL_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[0], len(order))))


def _between(low: int, high: int | None) -> str:
    """Return a figure known to lie from ``low`` to ``high`` (None: no upper bound known)."""
    if high is None:
        return f"≥{low}" if low else "?"
    if high <= low:
        return str(high)
    return f"{low}–{high}" if low else f"≤{high}"


def _needed_text(row: dict[str, Any]) -> str:
    if row["needed"] is None:
        return _between(row["lower_bound"], row["upper_bound"])
    return f"{row['needed']}" + ("" if row["proven"] else "*")


def _short_text(row: dict[str, Any]) -> str:
    if not row["short_is_lower_bound"]:
        return str(row["short"])
    return _between(row["short"], row["short_at_most"])


def _at_least(entry: dict[str, Any], low: str = "needed", high: str = "at_most") -> str:
    """Return a district total in words: exact, a range, or a bound."""
    count, most = entry[low], entry[high]
    if not entry["is_lower_bound"]:
        return str(count)
    if most is not None:
        if most <= count:  # the bounds meet
            return str(most)
        return f"between {count} and {most}" if count else f"at most {most}"
    return f"at least {count}" if count else "an unknown number of"


def _print_need(out: Output, week: str, result: dict[str, Any]) -> None:
    console = out.console
    table = Table(
        "squad",
        "role",
        "today",
        "needed",
        "short",
        "covered",
        title=f"staffing need (人员需求) {week}: every requirement, no overtime",
    )
    for row in result["needs"]:
        short = _short_text(row)
        table.add_row(
            row["squad_name"],
            row["role"],
            str(row["today"]),
            _needed_text(row),
            f"[red]{short}[/red]" if row["short"] else short,
            f"{row['coverage_today']:.0%}",
        )
    console.print(table)
    if any(r["needed"] is None or not r["proven"] for r in result["needs"]):
        console.print(
            "≥N: the time ran out first, N is a lower bound; ≤N: at most N (assistants counted "
            "without the spare hours of officers not yet known); N*: enough, but fewer were not "
            "ruled out; a longer --time-limit narrows them"
        )
    levels = Table(
        "level",
        "requirements",
        "required h",
        "covered h",
        "share",
        title="coverage with today's staff (现有人员覆盖)",
    )
    for level, entry in result["coverage_today"].items():
        levels.add_row(
            level,
            str(entry["requirements"]),
            f"{entry['required_hours']:,.0f}",
            f"{entry['covered_hours']:,.0f}",
            f"{entry['share']:.0%}",
        )
    console.print(levels)
    totals = result["totals"]
    parts = [f"{_at_least(e)} {_PLURALS[role]} (today {e['today']})" for role, e in totals.items()]
    console.print(
        f"To staff every requirement of {week} without overtime the district needs "
        + ", ".join(parts)
        + "."
    )
    shortfalls = [
        f"{_at_least(e, 'short', 'short_at_most')} {_PLURALS[role]}"
        for role, e in totals.items()
        if e["short"] or (e["is_lower_bound"] and e["short_at_most"] != 0)
    ]
    if shortfalls:
        console.print(f"[bold red]Short 缺口[/bold red]: {', '.join(shortfalls)}.")
    elif any(e["is_lower_bound"] and e["short_at_most"] is None for e in totals.values()):
        console.print("No shortfall found, but the time ran out before every need was known.")
    else:
        console.print("[bold green]Today's headcount is enough 现有人员足够[/bold green].")
    required = sum(e["required_hours"] for e in result["coverage_today"].values())
    covered = sum(e["covered_hours"] for e in result["coverage_today"].values())
    if required:
        console.print(
            f"Today's staff cover {covered / required:.0%} of the required person-hours "
            f"({covered:,.0f} of {required:,.0f} h)."
        )
    for note in result["notes"]:
        console.print(f"[dim]note: {note}[/dim]", markup=True)
    if result["demo_staff"]:
        console.print("[dim]today's staff is DEMO staff (made-up people)[/dim]")


@roster_app.command("need")
def roster_need_command(
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W49")],
    db: DbOption = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="seconds for the whole reckoning", min=1.0)
    ] = 60.0,
    deterministic: Annotated[
        bool, typer.Option("--deterministic", help="the same inputs give the same answer")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", help="search workers (default: one per core)", min=1)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Reckon the fewest people, by squad and role, that staff the week in full without overtime."""
    out = Output(as_json=as_json)
    with value_errors(out), existing_store(out, db) as store:
        week_dates(week)
        rosters = RosterStore(store)
        policy, source = rosters.current_policy()
        staff = rosters.staff()
        posts = store.read_layer("posts")
        if posts.empty:
            out.fail(
                {"error": "NoPosts", "message": "the database has no posts"},
                "the database has no posts: run `dutygrid grids build` and `dutygrid posts build`",
            )
        if not staff:
            out.warn("no staff is stored: today's headcount is 0")
        names = _squad_names(store)
        calendar = china_holidays()
        demand = demand_for_week(
            posts,
            policy,
            calendar,
            week,
            squads=sorted(names),
            zones=store.read_layer("zones"),
            staff=staff,
        )
        with out.progress(1) as step:
            step(f"reckoning the staffing need of {week} (up to {time_limit:g} s)")
            need = staffing_need(
                demand,
                staff,
                policy,
                calendar,
                time_limit_s=time_limit,
                posts=posts,
                deterministic=deterministic,
                workers=workers,
            )
    rows = _need_rows(need, names)
    result = {
        "week": week,
        "policy_version": policy.version,
        "policy_source": source,
        "needs": rows,
        "totals": _totals(rows),
        "coverage_today": _coverage_by_level(need),
        "uncoverable_requirements": len(need.uncoverable),
        "notes": list(need.notes),
        "demo_staff": any(person.demo for person in staff),
    }
    out.done(result, lambda: _print_need(out, week, result))
