"""A stored roster's duty sheet (排班表), for the command line and the service.

:func:`stored_duty_sheet` gathers what :func:`grids.duty_sheet.duty_sheet_workbook` needs from a
database: the staff, the policy the roster was made under, the posts, squads and zones, the
week's demand (so that uncovered cells are marked) and whether the data are schematic or made up.
"""

from __future__ import annotations

from typing import Final

from openpyxl import Workbook

from grids.calendar import HolidayCalendar, china_holidays, week_dates
from grids.demand import demand_for_week
from grids.duty_sheet import duty_sheet_workbook
from grids.policy import DutyPolicy, huiji_default_policy
from server.roster_store import RosterStore, StoredRoster
from server.storage import Store

__all__ = ["SHEET_FILE_PREFIX", "duty_sheet_filename", "roster_note", "stored_duty_sheet"]

SHEET_FILE_PREFIX: Final = "排班表"
"""The start of a duty sheet's file name."""
_SHEET_LAYERS: Final = ("roads", "posts", "squads", "zones")
"""The layers a duty sheet is drawn from: schematic when any of them is."""
_STATUS_ZH: Final = {"draft": "草稿", "published": "已发布"}


def duty_sheet_filename(roster_id: str, *, ascii_only: bool = False) -> str:
    """Return the file name of a roster's duty sheet: ``排班表-2026-W49-1.xlsx``.

    With ``ascii_only``, ``duty-sheet-2026-W49-1.xlsx``, for clients that cannot take more.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in roster_id)
    if ascii_only:
        safe = "".join(c if c.isascii() else "_" for c in safe)
        return f"duty-sheet-{safe}.xlsx"
    return f"{SHEET_FILE_PREFIX}-{safe}.xlsx"


def roster_note(stored: StoredRoster) -> str:
    """Return the line under a duty sheet's title: roster id, status, policy, when it was made."""
    info = stored.info
    note = (
        f"排班编号 {info.roster_id}（{_STATUS_ZH.get(info.status, info.status)}，第 "
        f"{stored.version} 版），值班规则第 {info.policy_version} 版"
    )
    if info.created_at:
        note += f"，生成于 {info.created_at[:16].replace('T', ' ')} UTC"
    if stored.based_on:
        note += f"，由 {stored.based_on} 调整"
    return note


def _policy(rosters: RosterStore, stored: StoredRoster) -> DutyPolicy:
    """Return the policy the roster was made under, else the latest stored, else the bundled."""
    found = rosters.policy(stored.info.policy_version) or rosters.policy()
    return found if found is not None else huiji_default_policy()


def _schematic(store: Store, rosters: RosterStore, stored: StoredRoster) -> bool:
    """Return whether the sheet's data are schematic (示意) or its people made up (演示)."""
    if stored.info.solver.get("staff", {}).get("demo"):
        return True
    if any(person.demo for person in rosters.staff()):
        return True
    return any(
        "schematic" in (p.note or "").lower()
        for p in store.layer_provenance()
        if p.layer in _SHEET_LAYERS
    )


def stored_duty_sheet(
    store: Store, stored: StoredRoster, *, calendar: HolidayCalendar | None = None
) -> Workbook:
    """Return the duty sheet of a stored roster (see :mod:`grids.duty_sheet`).

    Parameters
    ----------
    store
        The database the roster is kept in.
    stored
        The roster, with its assignments (:meth:`server.roster_store.RosterStore.roster`).
    calendar
        The holiday calendar; the bundled PRC calendar by default.

    Raises
    ------
    ValueError
        If the roster's week is not a week, or the calendar does not cover it.
    geodata.errors.FieldError
        If the roster, staff or layers hold bad values.
    """
    rosters = RosterStore(store)
    calendar = calendar if calendar is not None else china_holidays()
    policy = _policy(rosters, stored)
    staff = rosters.staff()
    week = stored.info.week
    days = week_dates(week)
    posts = store.read_layer("posts")
    squads = store.read_layer("squads")
    names = {
        str(i): str(n) if isinstance(n, str) and n.strip() else str(i)
        for i, n in zip(squads["id"], squads["name_zh"], strict=True)
    }
    demand = None
    if len(posts):
        zones = store.read_layer("zones")
        demand = demand_for_week(
            posts,
            policy,
            calendar,
            week,
            squads=sorted(set(names) | {str(s) for s in posts["squad_id"].dropna()}),
            zones=zones[zones["squad_id"].notna().to_numpy()],
            staff=staff or None,
        )
    boundary = store.read_layer("boundary")
    district = next((str(n) for n in boundary.get("name_zh", []) if isinstance(n, str)), "")
    return duty_sheet_workbook(
        stored.assignments,
        officers=staff,
        policy=policy,
        calendar=calendar,
        posts=posts,
        squads=names,
        week_days=days,
        demand=demand,
        title=district,
        note=roster_note(stored),
        schematic=_schematic(store, rosters, stored),
    )
