"""Coverage (覆盖): what a roster staffs of its demand, slot by slot, and where the gaps are.

:func:`roster_coverage` matches the assignments of a roster (:mod:`grids.roster`) to the
requirements of the demand (:mod:`grids.demand`) once; the functions below then read any day and
slot of it:

- :func:`coverage_by_post`: each post's required and assigned staff and its status, ``covered``,
  ``partly`` (staffed, but short), ``gap`` (required, no one who counts) or ``not_required``;
- :func:`coverage_by_slot`: the same for every slot of a day, in one long table;
- :func:`covered_length`: road length required, covered, partly covered and left as a gap, by road,
  level, squad, unit grid, responsibility grid or sub-district;
- :func:`gaps`: the requirements left short, with why (no one assigned, only an assistant, short
  by N, and the roster solver's own reason when it gave one);
- :func:`day_timeline`, :func:`seamless_check` and :func:`coverage_summary`: per slot, whether the
  strict posts are covered in every slot that needs them (全时段、无缝隙), and the figures a duty
  leader reads first;
- :func:`slot_at`: the slot a moment falls in; a night slot crossing midnight belongs to the day
  it starts on;
- :func:`rematch`: a matched roster brought up to date with a changed assignment table, as
  matching it afresh would give, recounting only what the changed rows reach.

How an assignment serves a requirement: by its ``requirement_id`` when it names a requirement of
the demand; otherwise by date, place (``post_id``) and task (the demand ``kind``) where its time
overlaps the requirement's. People serving requirements of the same place and time that differ
only by role are pooled and counted once each: duty leaders fill leader duty, officers (and spare
leaders) fill officer requirements, and whoever is left, assistants included, fills ``any``
requirements. An assistant never counts toward a requirement for officers, so a strict post held
by an assistant alone is a gap.
"""

from __future__ import annotations

from grids.coverage_day import (
    CoverageSummary,
    SeamBreak,
    SeamlessCheck,
    coverage_summary,
    day_timeline,
    seamless_check,
)
from grids.coverage_match import (
    RosterCoverage,
    roster_coverage,
    solver_reasons,
    unit_grid_areas,
)
from grids.coverage_posts import (
    GAP_REASONS,
    LENGTH_KEYS,
    STATUSES,
    CoverageStatus,
    GapReason,
    LengthKey,
    PersonOnDuty,
    coverage_by_post,
    coverage_by_slot,
    covered_length,
    gaps,
    people_on_duty,
)
from grids.coverage_rematch import rematch
from grids.coverage_slots import (
    CHINA_STANDARD_TIME,
    DutySlot,
    day_type_of,
    duty_slots,
    now_local,
    slot_at,
)

__all__ = [
    "CHINA_STANDARD_TIME",
    "GAP_REASONS",
    "LENGTH_KEYS",
    "STATUSES",
    "CoverageStatus",
    "CoverageSummary",
    "DutySlot",
    "GapReason",
    "LengthKey",
    "PersonOnDuty",
    "RosterCoverage",
    "SeamBreak",
    "SeamlessCheck",
    "coverage_by_post",
    "coverage_by_slot",
    "coverage_summary",
    "covered_length",
    "day_timeline",
    "day_type_of",
    "duty_slots",
    "gaps",
    "now_local",
    "people_on_duty",
    "rematch",
    "roster_coverage",
    "seamless_check",
    "slot_at",
    "solver_reasons",
    "unit_grid_areas",
]
