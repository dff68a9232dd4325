"""The data model of shift scheduling: shift types, staff, covers, requests, labour rules, rosters.

A :class:`ShiftProblem` asks for a roster over ``horizon_days`` days: for every staff member and
day, at most one shift (or a day off). Days are numbered from 0; a shift belongs to the duty day it
starts on and may run past midnight. Times are minutes: a shift of day ``d`` starting at
``start_min`` occupies ``[d * 1440 + start_min, d * 1440 + start_min + length_min)`` on the
horizon's clock.

Demand comes as :class:`Cover` rows, either per (day, shift type), as in the staff-scheduling
benchmark of Curtois & Qu, or per time window of a day (a duty slot), which counts every staff
member whose shift spans the whole window. Staff limits (:class:`Staff`) and the labour law
(:class:`LabourRules`) are hard rules; covers (unless made hard), requests and changes against a
previous roster are weighted penalties.

:func:`problem_errors` checks the references of a problem; :func:`roster_violations` checks a
roster against every hard rule without any solver, and :func:`cover_counts` counts the staff a
roster gives each cover.

The types live in :mod:`grids.shift_problem` and the checks in :mod:`grids.shift_checks`; this
module gathers them under one name.
"""

from __future__ import annotations

from grids.shift_checks import roster_violations
from grids.shift_problem import (
    DAY_MIN,
    Assignments,
    Cover,
    LabourRules,
    Pin,
    Request,
    RuleCategory,
    RuleViolation,
    ShiftProblem,
    ShiftSolution,
    ShiftType,
    SolveStatus,
    Staff,
    UncoveredCover,
    UncoveredReason,
    cover_counts,
    max_length,
    problem_errors,
)

__all__ = [
    "DAY_MIN",
    "Assignments",
    "Cover",
    "LabourRules",
    "Pin",
    "Request",
    "RuleCategory",
    "RuleViolation",
    "ShiftProblem",
    "ShiftSolution",
    "ShiftType",
    "SolveStatus",
    "Staff",
    "UncoveredCover",
    "UncoveredReason",
    "cover_counts",
    "max_length",
    "problem_errors",
    "roster_violations",
]
