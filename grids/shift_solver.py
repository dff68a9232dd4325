"""Solve a :class:`~grids.shift_model.ShiftProblem` with OR-Tools CP-SAT.

One Boolean ``x[s, d, t]`` says staff member ``s`` works shift type ``t`` on day ``d``. Variables
exist only where ``s`` may work ``t`` on ``d`` (not off, on leave, pinned elsewhere, barred from
the type or by the daily hours limit) and where it can matter: it counts for some cover, was asked
for, was in the previous roster, or the staff member has a minimum rule that may need filling
shifts. Every hard rule of the model is a constraint over these variables:

- at most one shift a day; forbidden successions, overlaps and the minimum rest between duties
  as "this shift, or one of those the next day(s)" at-most-one constraints;
- per-type and total-minute limits, calendar-week regular minutes and monthly overtime as linear
  sums;
- maximum consecutive days as a sum over every window of ``k + 1`` days; minimum consecutive
  days worked and minimum days off as forbidden patterns (a clause over each window ``off, on × L,
  off`` with ``L`` short, runs touching the horizon's ends exempt);
- weekends through one indicator per weekend (at least each of its days), summed;
- the weekly rest day through one "busy" indicator per day (worked, or reached by a shift from
  the day before), summed per calendar week.

- covers as sums of the shift variables that span them; staff of one skill working one shift on
  one day are summed once when several covers (the duty slots of the shift) count them.

The objective adds the cover penalties (under and over), the requests not granted and the changes
against a previous roster. A greedy roster that keeps every maximum rule is given as a hint (or
the caller's). The search runs CP-SAT's full portfolio for a tenth of the time (small models are
often proven optimal there), then large neighbourhood search on every worker from the best
roster; deterministic mode is a single worker with a fixed seed and deterministic time limit.
After solving, each cover left short gets a diagnosis (:func:`diagnose_uncovered`).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ortools.sat.python import cp_model

from grids.shift_model import (
    Cover,
    RuleCategory,
    ShiftProblem,
    ShiftSolution,
    SolveStatus,
    Staff,
    UncoveredCover,
    UncoveredReason,
    cover_counts,
    problem_errors,
)

__all__ = [
    "ProgressEvent",
    "count_changes",
    "diagnose_uncovered",
    "greedy_roster",
    "penalty_breakdown",
    "solve",
]

FIRST_PHASE_SHARE = 0.1
"""Share of the time limit given to the full CP-SAT portfolio before neighbourhood search."""

PORTFOLIO_MAX_VARIABLES = 20_000
"""Models with more shift variables go straight to neighbourhood search."""

RELAXED_UNDER_WEIGHT = 1_000_000
"""Weight given to hard covers when an infeasible problem is re-solved to find the short ones."""

GREEDY_BUDGET = 2_000_000

GREEDY_SAMPLE = 8
"""Legal candidates the greedy roster compares before it takes the least loaded of them."""
"""Placements the greedy roster may try (a count, not a time, so that it stays deterministic)."""

RULE_CATEGORY: dict[str, RuleCategory] = {
    "pin": "availability",
    "days_off": "availability",
    "unavailable": "availability",
    "not_qualified": "availability",
    "max_min_per_day": "hours",
    "max_shifts": "hours",
    "max_total_min": "hours",
    "max_min_per_week": "hours",
    "overtime_min_per_month": "hours",
    "succession": "rest",
    "rest_days_per_week": "rest",
    "min_consecutive_days_off": "rest",
    "max_consecutive_shifts": "consecutive",
    "min_consecutive_shifts": "consecutive",
    "max_weekends": "weekend",
}

_REASON: dict[RuleCategory, UncoveredReason] = {
    "hours": "hours exhausted",
    "rest": "rest rules",
    "consecutive": "consecutive rules",
    "weekend": "weekend limit",
}

_PRIORITY: dict[RuleCategory, int] = {category: i for i, category in enumerate(_REASON)}

_STATUS: dict[Any, SolveStatus] = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.UNKNOWN: "UNKNOWN",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
}


@dataclass(frozen=True)
class ProgressEvent:
    """An improving roster found during the search.

    Parameters
    ----------
    wall_time_s
        Seconds since :func:`solve` was called.
    objective
        Its penalty.
    bound
        The best lower bound proven so far.
    """

    wall_time_s: float
    objective: int
    bound: float


class _Context:
    """Problem data in index form, shared by the model, the greedy roster and the diagnosis."""

    def __init__(self, problem: ShiftProblem) -> None:
        self.problem = problem
        self.horizon = problem.horizon_days
        self.shifts = problem.shift_types
        self.shift_index = {t.id: i for i, t in enumerate(self.shifts)}
        self.staff = problem.staff
        self.staff_index = {s.id: i for i, s in enumerate(self.staff)}
        labour = problem.labour
        self.labour = labour
        self.length = [t.length_min for t in self.shifts]
        self.overnight = [t.overnight for t in self.shifts]
        self.overtime = [labour.overtime_min(n) if labour else 0 for n in self.length]
        self.regular = [n - o for n, o in zip(self.length, self.overtime, strict=True)]
        self.length_ok = [labour.allows_length(n) if labour else True for n in self.length]
        # gap → first shift index → set of barred shift indexes on day + gap.
        self.barred: dict[int, list[frozenset[int]]] = {}
        for gap, table in problem.successions().items():
            self.barred[gap] = [
                frozenset(self.shift_index[u] for u in table.get(t.id, ())) for t in self.shifts
            ]
        self.max_gap = max(self.barred, default=0)
        self.weeks = problem.weeks()
        self.week_of = [0] * self.horizon
        for w, week in enumerate(self.weeks):
            for d in week:
                self.week_of[d] = w
        rest_days = labour.rest_days_per_week if labour else None
        self.rest_needed = [max(0, (rest_days or 0) - (7 - len(week))) for week in self.weeks]
        self.weekends = problem.weekends()
        self.weekend_of: list[int | None] = [None] * self.horizon
        for w, days in enumerate(self.weekends):
            for d in days:
                self.weekend_of[d] = w
        self.months = problem.months()
        self.month_of = [0] * self.horizon
        for m, month in enumerate(self.months):
            for d in month:
                self.month_of[d] = m
        self.pins: dict[tuple[int, int], int | None] = {}
        for pin in problem.pins:
            shift = None if pin.shift_id is None else self.shift_index[pin.shift_id]
            self.pins[(self.staff_index[pin.staff_id], pin.day)] = shift
        self.cover_options = [
            [(d, self.shift_index[t]) for d, t in problem.cover_options(c)] for c in problem.covers
        ]
        self.covers_of: dict[tuple[int, int], list[int]] = defaultdict(list)
        for c, options in enumerate(self.cover_options):
            for option in options:
                self.covers_of[option].append(c)

    def available(self, s: int, day: int, t: int) -> str | None:
        """Return why ``s`` may never work ``t`` on ``day`` (an availability rule), or None."""
        member = self.staff[s]
        pinned = self.pins.get((s, day), t)
        if (s, day) in self.pins and pinned != t:
            return "pin"
        if day in member.days_off:
            return "days_off"
        shift_id = self.shifts[t].id
        if (day, shift_id) in member.unavailable:
            return "unavailable"
        if member.max_shifts.get(shift_id) == 0:
            return "not_qualified"
        return None

    def fixed_out(self, s: int, day: int, t: int) -> bool:
        """Return whether no roster may ever have ``s`` work ``t`` on ``day``."""
        if self.available(s, day, t) is not None:
            return True
        max_total = self.staff[s].max_total_min
        return not self.length_ok[t] or (max_total is not None and self.length[t] > max_total)


class _StaffState:
    """One staff member's roster with running totals, to test adding a shift in O(1)-ish."""

    def __init__(self, ctx: _Context, s: int) -> None:
        self.ctx = ctx
        self.s = s
        self.member = ctx.staff[s]
        self.roster: list[int | None] = [None] * ctx.horizon
        self.type_count = [0] * len(ctx.shifts)
        self.total = 0
        self.week_regular = [0] * len(ctx.weeks)
        self.week_busy = [0] * len(ctx.weeks)
        self.weekend_days = [0] * len(ctx.weekends)
        self.weekends_worked = 0
        self.month_overtime = [0] * len(ctx.months)

    def busy(self, day: int) -> bool:
        """Return whether ``day`` is not a full rest day."""
        if not 0 <= day < self.ctx.horizon:
            return False
        before = self.roster[day - 1] if day > 0 else None
        return self.roster[day] is not None or (before is not None and self.ctx.overnight[before])

    def place(self, day: int, t: int) -> None:
        """Add shift ``t`` on ``day`` (a day off so far), updating the totals."""
        ctx = self.ctx
        busy_before = [self.busy(d) for d in (day, day + 1)]
        self.roster[day] = t
        for d, was in zip((day, day + 1), busy_before, strict=True):
            if d < ctx.horizon and self.busy(d) and not was:
                self.week_busy[ctx.week_of[d]] += 1
        self.type_count[t] += 1
        self.total += ctx.length[t]
        self.week_regular[ctx.week_of[day]] += ctx.regular[t]
        self.month_overtime[ctx.month_of[day]] += ctx.overtime[t]
        weekend = ctx.weekend_of[day]
        if weekend is not None:
            if self.weekend_days[weekend] == 0:
                self.weekends_worked += 1
            self.weekend_days[weekend] += 1

    def _run(self, day: int, step: int, worked: bool) -> int:
        """Return how many days from ``day + step`` on, in direction ``step``, are (not) worked."""
        count = 0
        d = day + step
        while 0 <= d < self.ctx.horizon and (self.roster[d] is not None) == worked:
            count += 1
            d += step
        return count

    def blockers(self, day: int, t: int, *, min_rules: bool) -> list[str]:
        """Return the rules broken by working ``t`` on ``day`` instead of what is there.

        Rules already broken by the roster as it is are not reported. ``min_rules`` adds the
        minimum consecutive rules, which a roster under construction may break for a while.
        """
        ctx = self.ctx
        member = self.member
        current = self.roster[day]
        if current == t:
            return []
        rules: list[str] = []
        why = ctx.available(self.s, day, t)
        if why is not None:
            rules.append(why)
        if not ctx.length_ok[t]:
            rules.append("max_min_per_day")
        limit = member.max_shifts.get(ctx.shifts[t].id)
        if limit is not None and self.type_count[t] + 1 > limit:
            rules.append("max_shifts")
        cur_length = ctx.length[current] if current is not None else 0
        cur_regular = ctx.regular[current] if current is not None else 0
        cur_overtime = ctx.overtime[current] if current is not None else 0
        if (
            member.max_total_min is not None
            and self.total + ctx.length[t] - cur_length > member.max_total_min
        ):
            rules.append("max_total_min")
        labour = ctx.labour
        if labour is not None:
            week = ctx.week_of[day]
            if (
                labour.max_min_per_week is not None
                and self.week_regular[week] + ctx.regular[t] - cur_regular > labour.max_min_per_week
            ):
                rules.append("max_min_per_week")
            month = ctx.month_of[day]
            if (
                labour.overtime_min_per_month is not None
                and self.month_overtime[month] + ctx.overtime[t] - cur_overtime
                > labour.overtime_min_per_month
            ):
                rules.append("overtime_min_per_month")
            if any(ctx.rest_needed):
                added: Counter[int] = Counter()
                self.roster[day] = t
                after = [self.busy(d) for d in (day, day + 1)]
                self.roster[day] = current
                for d, now in zip((day, day + 1), after, strict=True):
                    if d < ctx.horizon and now and not self.busy(d):
                        added[ctx.week_of[d]] += 1
                for w, extra in added.items():
                    allowed = len(ctx.weeks[w]) - ctx.rest_needed[w]
                    if ctx.rest_needed[w] and self.week_busy[w] + extra > allowed:
                        rules.append("rest_days_per_week")
                        break
        for gap, barred in ctx.barred.items():
            before = self.roster[day - gap] if day - gap >= 0 else None
            after_shift = self.roster[day + gap] if day + gap < ctx.horizon else None
            if (before is not None and t in barred[before]) or (
                after_shift is not None and after_shift in barred[t]
            ):
                rules.append("succession")
                break
        if current is None:
            left = self._run(day, -1, True)
            right = self._run(day, 1, True)
            length = left + 1 + right
            if member.max_consecutive_shifts is not None and length > (
                member.max_consecutive_shifts
            ):
                rules.append("max_consecutive_shifts")
            if min_rules:
                bounded = day - left > 0 and day + right < ctx.horizon - 1
                minimum = member.min_consecutive_shifts
                if minimum is not None and bounded and length < minimum:
                    rules.append("min_consecutive_shifts")
                minimum = member.min_consecutive_days_off
                if minimum is not None:
                    off_left = self._run(day, -1, False)
                    off_right = self._run(day, 1, False)
                    short_left = 0 < off_left < minimum and day - off_left > 0
                    short_right = 0 < off_right < minimum and day + off_right < ctx.horizon - 1
                    if short_left or short_right:
                        rules.append("min_consecutive_days_off")
            weekend = ctx.weekend_of[day]
            if (
                member.max_weekends is not None
                and weekend is not None
                and self.weekend_days[weekend] == 0
                and self.weekends_worked + 1 > member.max_weekends
            ):
                rules.append("max_weekends")
        return rules


def _states(ctx: _Context, roster: Mapping[tuple[int, int], int]) -> list[_StaffState]:
    states = [_StaffState(ctx, s) for s in range(len(ctx.staff))]
    for (s, day), t in sorted(roster.items()):
        states[s].place(day, t)
    return states


class _RosterModel:
    """The CP-SAT model of a problem."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        problem = ctx.problem
        self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int, int], Any] = {}
        # (day, shift) → skill (None = any) → staff indexes with a variable there.
        self.holders: dict[tuple[int, int], dict[str | None, list[int]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.work: list[list[Any]] = []
        self.objective_vars: list[Any] = []
        self.objective_coefs: list[int] = []
        self.objective_offset = 0
        # Auxiliary variables and how their hinted value follows from the x hint.
        self.max_of: list[tuple[Any, list[Any]]] = []
        self.short_of: list[tuple[Any, list[Any], int, int]] = []
        self.sum_of: list[tuple[Any, list[Any]]] = []
        self.has_hard_covers = any(c.hard for c in problem.covers)
        self._cover_skills = {c.skill for c in problem.covers if c.skill is not None}
        self._useful = self._useful_options()
        for s in range(len(ctx.staff)):
            self._add_staff(s)
        self._add_covers()
        self._add_requests()
        self._add_changes()
        self.model.minimize(
            cp_model.LinearExpr.weighted_sum(self.objective_vars, self.objective_coefs)
            + self.objective_offset
        )

    def _useful_options(self) -> dict[tuple[int, int], set[str | None]]:
        """Return (day, shift) → the skills of the covers it counts for (None: any skill)."""
        useful: dict[tuple[int, int], set[str | None]] = defaultdict(set)
        for cover, options in zip(self.ctx.problem.covers, self.ctx.cover_options, strict=True):
            for option in options:
                useful[option].add(cover.skill)
        return useful

    def _options(self, s: int) -> list[list[int]]:
        ctx = self.ctx
        problem = ctx.problem
        member = ctx.staff[s]
        needs_any_shift = bool(
            member.min_total_min
            or (member.min_consecutive_shifts or 0) > 1
            or (member.min_consecutive_days_off or 0) > 1
        )
        wanted: set[tuple[int, int | None]] = set()
        for request in problem.requests:
            if request.staff_id == member.id and request.on:
                shift = None if request.shift_id is None else ctx.shift_index[request.shift_id]
                wanted.add((request.day, shift))
        for (sid, day), shift_id in (problem.previous or {}).items():
            if sid == member.id and shift_id is not None:
                wanted.add((day, ctx.shift_index[shift_id]))
        options: list[list[int]] = []
        for day in range(ctx.horizon):
            if (s, day) in ctx.pins:
                pinned = ctx.pins[(s, day)]
                options.append([] if pinned is None else [pinned])
                continue
            day_options = []
            for t in range(len(ctx.shifts)):
                if ctx.fixed_out(s, day, t):
                    continue
                skills = self._useful.get((day, t), set())
                counts = None in skills or not skills.isdisjoint(member.skills)
                if counts or needs_any_shift or (day, t) in wanted or (day, None) in wanted:
                    day_options.append(t)
            options.append(day_options)
        return options

    def _add_staff(self, s: int) -> None:
        ctx = self.ctx
        model = self.model
        member = ctx.staff[s]
        options = self._options(s)
        horizon = ctx.horizon
        skills = [None, *sorted(member.skills & self._cover_skills)]
        x: list[dict[int, Any]] = []
        for day, day_options in enumerate(options):
            row = {}
            for t in day_options:
                var = model.new_bool_var(f"x[{member.id},{day},{ctx.shifts[t].id}]")
                row[t] = var
                self.x[(s, day, t)] = var
                holders = self.holders[(day, t)]
                for skill in skills:
                    holders[skill].append(s)
            if (s, day) in ctx.pins and row:
                model.add(next(iter(row.values())) == 1)
            x.append(row)
        work: list[Any] = []
        for row in x:
            if not row:
                work.append(None)
            elif len(row) == 1:
                work.append(next(iter(row.values())))
            else:
                w = model.new_bool_var("")
                model.add(w == sum(row.values()))
                work.append(w)
        self.work.append(work)

        for gap, barred in ctx.barred.items():
            for day in range(horizon - gap):
                later = x[day + gap]
                for t, var in x[day].items():
                    after = [later[u] for u in barred[t] if u in later]
                    if after:
                        model.add_at_most_one([var, *after])

        for t in range(len(ctx.shifts)):
            limit = member.max_shifts.get(ctx.shifts[t].id)
            terms = [row[t] for row in x if t in row]
            if limit is not None and len(terms) > limit:
                model.add(sum(terms) <= limit)
        lengths = [(var, ctx.length[t]) for row in x for t, var in row.items()]
        if lengths:
            minutes = cp_model.LinearExpr.weighted_sum(
                [v for v, _ in lengths], [n for _, n in lengths]
            )
            if member.max_total_min is not None and sum(n for _, n in lengths) > (
                member.max_total_min
            ):
                model.add(minutes <= member.max_total_min)
            if member.min_total_min:
                model.add(minutes >= member.min_total_min)
        elif member.min_total_min:
            model.add_bool_or([])  # nothing can be worked: infeasible

        self._add_consecutive(member, work)
        if member.max_weekends is not None:
            indicators = []
            for days in ctx.weekends:
                lits = [work[d] for d in days if work[d] is not None]
                if len(lits) == 1:
                    indicators.append(lits[0])
                elif lits:
                    weekend = model.new_bool_var("")
                    for lit in lits:
                        model.add_implication(lit, weekend)
                    self.max_of.append((weekend, lits))
                    indicators.append(weekend)
            if len(indicators) > member.max_weekends:
                model.add(sum(indicators) <= member.max_weekends)
        if ctx.labour is not None:
            self._add_labour(x, work)

    def _add_consecutive(self, member: Staff, work: list[Any]) -> None:
        model = self.model
        horizon = self.ctx.horizon
        most = member.max_consecutive_shifts
        if most is not None:
            for start in range(horizon - most):
                lits = [w for w in work[start : start + most + 1] if w is not None]
                if len(lits) > most:
                    model.add(sum(lits) <= most)
        least = member.min_consecutive_shifts
        for length in range(1, least or 0):
            for start in range(1, horizon - length):
                run = work[start : start + length]
                if any(w is None for w in run):
                    continue
                ends = [w for w in (work[start - 1], work[start + length]) if w is not None]
                model.add_bool_or([*ends, *(w.Not() for w in run)])
        least = member.min_consecutive_days_off
        for length in range(1, least or 0):
            for start in range(1, horizon - length):
                before, after = work[start - 1], work[start + length]
                if before is None or after is None:
                    continue
                run = [w for w in work[start : start + length] if w is not None]
                model.add_bool_or([before.Not(), after.Not(), *run])

    def _add_labour(self, x: list[dict[int, Any]], work: list[Any]) -> None:
        ctx = self.ctx
        labour = ctx.labour
        assert labour is not None
        model = self.model
        for w, week in enumerate(ctx.weeks):
            if labour.max_min_per_week is not None:
                terms = [(var, ctx.regular[t]) for d in week for t, var in x[d].items()]
                most = sum(max((ctx.regular[t] for t in x[d]), default=0) for d in week)
                if most > labour.max_min_per_week:
                    model.add(
                        cp_model.LinearExpr.weighted_sum(
                            [v for v, _ in terms], [n for _, n in terms]
                        )
                        <= labour.max_min_per_week
                    )
            needed = ctx.rest_needed[w]
            if needed:
                busy = []
                for d in week:
                    lits = [work[d]] if work[d] is not None else []
                    if d > 0:
                        lits += [var for t, var in x[d - 1].items() if ctx.overnight[t]]
                    if len(lits) == 1:
                        busy.append(lits[0])
                    elif lits:
                        day_busy = model.new_bool_var("")
                        for lit in lits:
                            model.add_implication(lit, day_busy)
                        self.max_of.append((day_busy, lits))
                        busy.append(day_busy)
                if len(busy) > len(week) - needed:
                    model.add(sum(busy) <= len(week) - needed)
        if labour.overtime_min_per_month is not None:
            for month in ctx.months:
                terms = [
                    (var, ctx.overtime[t])
                    for d in month
                    for t, var in x[d].items()
                    if ctx.overtime[t]
                ]
                if sum(n for _, n in terms) > labour.overtime_min_per_month:
                    model.add(
                        cp_model.LinearExpr.weighted_sum(
                            [v for v, _ in terms], [n for _, n in terms]
                        )
                        <= labour.overtime_min_per_month
                    )

    def _cover_terms(self) -> list[list[tuple[Any, int]]]:
        """Return, per cover, the (variable, largest value) pairs whose sum is its count.

        A group of staff working one shift on one day that several covers count (the duty
        slots a shift spans) is summed once into an integer variable, which keeps the cover
        constraints short.
        """
        ctx = self.ctx
        uses: Counter[tuple[tuple[int, int], str | None]] = Counter()
        for cover, options in zip(ctx.problem.covers, ctx.cover_options, strict=True):
            uses.update((option, cover.skill) for option in options)
        groups: dict[tuple[tuple[int, int], str | None], tuple[Any, int]] = {}
        found = []
        for cover, options in zip(ctx.problem.covers, ctx.cover_options, strict=True):
            terms: list[tuple[Any, int]] = []
            for option in options:
                members = self.holders.get(option, {}).get(cover.skill, [])
                day, t = option
                key = (option, cover.skill)
                if len(members) < 2 or uses[key] < 2:
                    terms.extend((self.x[(s, day, t)], 1) for s in members)
                    continue
                if key not in groups:
                    group = [self.x[(s, day, t)] for s in members]
                    total = self.model.new_int_var(0, len(group), "")
                    self.model.add(total == sum(group))
                    self.sum_of.append((total, group))
                    groups[key] = (total, len(group))
                terms.append(groups[key])
            found.append(terms)
        return found

    def _add_covers(self) -> None:
        model = self.model
        for cover, terms in zip(self.ctx.problem.covers, self._cover_terms(), strict=True):
            count = sum(var for var, _ in terms)
            most = sum(n for _, n in terms)
            parts = [var for var, _ in terms]
            need = cover.requirement
            if cover.hard:
                if need > 0:
                    model.add(count >= need)
            elif need > 0 and cover.under_weight:
                if not terms:
                    self.objective_offset += cover.under_weight * need
                else:
                    under = model.new_int_var(0, need, "")
                    model.add(count + under >= need)
                    self._penalise(under, cover.under_weight)
                    self.short_of.append((under, parts, need, 1))
            if cover.over_weight and most > need:
                over = model.new_int_var(0, most - need, "")
                model.add(count - over <= need)
                self._penalise(over, cover.over_weight)
                self.short_of.append((over, parts, need, -1))

    def _penalise(self, var: Any, weight: int) -> None:
        self.objective_vars.append(var)
        self.objective_coefs.append(weight)

    def _literal(self, s: int, day: int, shift_id: str | None) -> Any:
        """Return the literal "s works shift_id (any shift if None) on day", or None if never."""
        if shift_id is None:
            return self.work[s][day]
        return self.x.get((s, day, self.ctx.shift_index[shift_id]))

    def _add_requests(self) -> None:
        ctx = self.ctx
        for request in ctx.problem.requests:
            lit = self._literal(ctx.staff_index[request.staff_id], request.day, request.shift_id)
            if request.on:
                self.objective_offset += request.weight
                if lit is not None:
                    self._penalise(lit, -request.weight)
            elif lit is not None:
                self._penalise(lit, request.weight)

    def _add_changes(self) -> None:
        ctx = self.ctx
        problem = ctx.problem
        weight = problem.change_weight
        if not weight or not problem.previous:
            return
        for (sid, day), shift_id in problem.previous.items():
            s = ctx.staff_index.get(sid)
            if s is None:
                continue
            lit = self._literal(s, day, shift_id)
            if shift_id is None:
                if lit is not None:
                    self._penalise(lit, weight)
            else:
                self.objective_offset += weight
                if lit is not None:
                    self._penalise(lit, -weight)

    def add_hint(self, roster: Mapping[tuple[int, int], int]) -> None:
        """Hint every variable from a roster of (staff, day) → shift indexes."""
        model = self.model
        values: dict[int, int] = {}
        for (s, day, t), var in self.x.items():
            value = int(roster.get((s, day)) == t)
            values[var.index] = value
            model.add_hint(var, value)
        for s, work in enumerate(self.work):
            for day, w in enumerate(work):
                if w is not None and w.index not in values:
                    hinted = roster.get((s, day))
                    value = int(hinted is not None and (s, day, hinted) in self.x)
                    values[w.index] = value
                    model.add_hint(w, value)
        for var, lits in self.max_of:
            value = max(values.get(lit.index, 0) for lit in lits)
            values[var.index] = value
            model.add_hint(var, value)
        for var, group in self.sum_of:
            value = sum(values.get(lit.index, 0) for lit in group)
            values[var.index] = value
            model.add_hint(var, value)
        for var, terms, need, sign in self.short_of:
            count = sum(values.get(t.index, 0) for t in terms)
            model.add_hint(var, max(0, sign * (need - count)))


def greedy_roster(
    problem: ShiftProblem, *, budget: int = GREEDY_BUDGET
) -> dict[tuple[str, int], str]:
    """Return a quick roster that keeps every maximum rule, for a first hint to the solver.

    Pinned and previous assignments are placed first; then each cover (hard ones first, by day
    and time) gets the least-loaded staff member who can legally take the shift that helps the
    most short covers; last, staff below their minimum minutes get the shifts they can still
    take. Minimum consecutive rules and hard covers may remain unmet.

    Parameters
    ----------
    problem
        The problem.
    budget
        Placements to try at most, so that large problems stay quick.

    Returns
    -------
    dict[tuple[str, int], str]
        (staff id, day) → shift id.
    """
    ctx = _Context(problem)
    roster = _greedy(ctx, _candidates(ctx), budget)
    return {(ctx.staff[s].id, day): ctx.shifts[t].id for (s, day), t in roster.items()}


def _candidates(ctx: _Context) -> dict[tuple[int, int], dict[str | None, list[int]]]:
    """Return (day, shift) → skill (None = any) → staff who may ever work it."""
    skills = {c.skill for c in ctx.problem.covers if c.skill is not None}
    found: dict[tuple[int, int], dict[str | None, list[int]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for option in ctx.covers_of:
        day, t = option
        for s, member in enumerate(ctx.staff):
            if not ctx.fixed_out(s, day, t):
                found[option][None].append(s)
                for skill in member.skills & skills:
                    found[option][skill].append(s)
    return found


def _greedy(
    ctx: _Context,
    holders: Mapping[tuple[int, int], Mapping[str | None, list[int]]],
    budget: int,
) -> dict[tuple[int, int], int]:
    problem = ctx.problem
    covers = problem.covers
    states = _states(ctx, {k: v for k, v in ctx.pins.items() if v is not None})
    count = [0] * len(covers)
    wish: dict[tuple[int, int, int | None], int] = defaultdict(int)
    for request in problem.requests:
        s = ctx.staff_index[request.staff_id]
        shift = None if request.shift_id is None else ctx.shift_index[request.shift_id]
        wish[(s, request.day, shift)] += request.weight if request.on else -request.weight
    wishers: dict[tuple[int, int], list[int]] = defaultdict(list)
    for (s, day, t), weight in wish.items():
        if weight > 0 and t is not None:
            wishers[(day, t)].append(s)
    turn: dict[tuple[tuple[int, int], str | None], int] = defaultdict(int)
    pool_sets: dict[tuple[tuple[int, int], str | None], set[int]] = {}
    for option, by_skill in holders.items():
        for skill, members in by_skill.items():
            pool_sets[(option, skill)] = set(members)
    tries = 0

    def place(s: int, day: int, t: int) -> None:
        states[s].place(day, t)
        for c in ctx.covers_of.get((day, t), ()):
            skill = covers[c].skill
            if skill is None or skill in ctx.staff[s].skills:
                count[c] += 1

    def legal(s: int, day: int, t: int) -> bool:
        nonlocal tries
        tries += 1
        state = states[s]
        return state.roster[day] is None and not state.blockers(day, t, min_rules=False)

    for (sid, day), shift_id in sorted((problem.previous or {}).items()):
        who = ctx.staff_index.get(sid)
        if who is not None and shift_id is not None and (who, day) not in ctx.pins:
            shift = ctx.shift_index[shift_id]
            if legal(who, day, shift):
                place(who, day, shift)

    def start_of(c: int) -> tuple[bool, int, int]:
        cover = covers[c]
        if cover.window is not None:
            return (not cover.hard, cover.day, cover.window[0])
        return (not cover.hard, cover.day, problem.shift_by_id[cover.shift_id or ""].start_min)

    for c in sorted(range(len(covers)), key=start_of):
        cover = covers[c]
        while count[c] < cover.requirement and tries < budget:

            def gain(option: tuple[int, int], cover: Cover = cover) -> int:
                return sum(
                    1
                    for other in ctx.covers_of[option]
                    if count[other] < covers[other].requirement
                    and covers[other].skill in (None, cover.skill)
                )

            best: tuple[tuple[int, float, int], int, int, int] | None = None
            for option in sorted(ctx.cover_options[c], key=lambda o: (-gain(o), ctx.length[o[1]])):
                day, t = option
                pool = holders.get(option, {}).get(cover.skill, [])
                if not pool:
                    continue
                # Those who asked for it first, then a round-robin sample of the rest.
                start = turn[(option, cover.skill)]
                order = [
                    *wishers.get(option, ()),
                    *(pool[(start + j) % len(pool)] for j in range(len(pool))),
                ]
                candidates = 0
                for j, s in enumerate(order):
                    state = states[s]
                    if state.roster[day] is not None or (
                        j < len(order) - len(pool) and s not in pool_sets[(option, cover.skill)]
                    ):
                        continue
                    if not legal(s, day, t):
                        continue
                    load = state.total / (state.member.max_total_min or 1)
                    key = (-wish[(s, day, t)] - wish[(s, day, None)], load, s)
                    if best is None or key < best[0]:
                        best = (key, s, day, t)
                    candidates += 1
                    if candidates >= GREEDY_SAMPLE:
                        turn[(option, cover.skill)] = (start + j + 1) % len(pool)
                        break
                if best is not None:
                    break
            if best is None:
                break
            place(best[1], best[2], best[3])

    for s, state in enumerate(states):
        minimum = state.member.min_total_min
        if not minimum:
            continue
        for day in range(ctx.horizon):
            if state.total >= minimum or tries >= budget:
                break
            if state.roster[day] is not None or (s, day) in ctx.pins:
                continue
            options = [
                t
                for t in range(len(ctx.shifts))
                if not ctx.fixed_out(s, day, t)
                and legal(s, day, t)
                and wish[(s, day, t)] >= 0
                and wish[(s, day, None)] >= 0
            ]
            if options:
                short = [
                    t
                    for t in options
                    if any(
                        count[c] < covers[c].requirement for c in ctx.covers_of.get((day, t), ())
                    )
                ]
                place(s, day, (short or options)[0])
    return {
        (s, day): t
        for s, state in enumerate(states)
        for day, t in enumerate(state.roster)
        if t is not None
    }


class _Progress(cp_model.CpSolverSolutionCallback):
    """Record the best roster of the search phases and report each improvement."""

    def __init__(self, report: Callable[[ProgressEvent], None] | None) -> None:
        super().__init__()
        self.report = report
        self.offset_s = 0.0
        self.floor = -math.inf
        self.first_s: float | None = None
        self.best: int | None = None
        self.values: list[int] | None = None

    def on_solution_callback(self) -> None:
        objective = round(self.objective_value)
        if self.best is not None and objective >= self.best:
            return
        now = self.offset_s + self.wall_time
        if self.first_s is None:
            self.first_s = now
        self.best = objective
        self.values = list(self.response_proto.solution)
        if self.report is not None:
            bound = max(self.floor, self.best_objective_bound)
            self.report(ProgressEvent(now, objective, bound))


def _search(
    model: Any,
    *,
    deadline: float,
    started: float,
    deterministic: bool,
    seed: int,
    workers: int | None,
    callback: _Progress,
    portfolio_first: bool,
) -> tuple[SolveStatus, list[int] | None, float]:
    """Run CP-SAT; return the status, the best values (by variable index) and the bound.

    Outside deterministic mode, with two workers or more, the search has two phases: the full
    portfolio (which proves small problems optimal) for a tenth of the time, then, from its best
    roster, large neighbourhood search on every worker, which improves rosters faster on hard
    problems than the portfolio does with few cores. Large models skip the first phase: their
    presolve alone would use it up.
    """

    def run(limit: float, *, lns_only: bool) -> tuple[SolveStatus, float]:
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.random_seed = seed
        if deterministic:
            params.num_workers = 1
            params.interleave_search = False
            params.max_deterministic_time = limit
        else:
            params.max_time_in_seconds = limit
            if workers is not None:
                params.num_workers = workers
            params.use_lns_only = lns_only
        callback.offset_s = time.perf_counter() - started
        status = _STATUS.get(solver.solve(model, callback), "UNKNOWN")
        if status == "INFEASIBLE":
            return status, math.inf
        bound = float(solver.best_objective_bound) if callback.best is not None else -math.inf
        return status, bound

    total = max(0.1, deadline - time.perf_counter())
    if deterministic:
        # Deterministic time does not depend on the machine's load; model building is not in it.
        status, bound = run(max(0.1, deadline - started), lns_only=False)
        return status, callback.values, bound
    parallel = (workers or os.cpu_count() or 1) >= 2
    if not parallel:
        status, bound = run(total, lns_only=False)
        return status, callback.values, bound
    status, bound = "UNKNOWN", -math.inf
    if portfolio_first:
        status, bound = run(max(1.0, min(total, FIRST_PHASE_SHARE * total)), lns_only=False)
    left = deadline - time.perf_counter()
    if status in ("OPTIMAL", "INFEASIBLE", "MODEL_INVALID") or left < 0.5:
        return status, callback.values, bound
    if callback.values is not None:
        model.clear_hints()
        hint = model.proto.solution_hint
        hint.vars.extend(range(len(callback.values)))
        hint.values.extend(callback.values)
    callback.floor = bound
    second, second_bound = run(left, lns_only=True)
    bound = max(bound, second_bound)
    if callback.best is None:
        return second, None, bound
    proven = callback.best <= bound
    return ("OPTIMAL" if proven else "FEASIBLE"), callback.values, bound


def solve(
    problem: ShiftProblem,
    *,
    time_limit_s: float = 60.0,
    deterministic: bool = False,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    hint: Mapping[tuple[str, int], str | None] | None = None,
) -> ShiftSolution:
    """Return the best roster CP-SAT finds for ``problem`` within the time limit.

    Parameters
    ----------
    problem
        The problem.
    time_limit_s
        Limit for the whole call, model building included. In deterministic mode it is CP-SAT's
        deterministic time (about seconds, but independent of the machine's load), so that the
        same problem gives the same roster on every run.
    deterministic
        One search worker, fixed seed, no interleaved search.
    seed
        The random seed.
    workers
        Search workers (``None``: one per core).
    progress
        Called with every improving roster.
    hint
        A roster to start from, (staff id, day) → shift id or ``None``; without it a greedy
        roster is used (:func:`greedy_roster`).

    Returns
    -------
    ShiftSolution
        The roster, its penalties and the covers it leaves short, with reasons.

    Raises
    ------
    ValueError
        If the problem refers to unknown staff, shifts or days (see
        :func:`~grids.shift_model.problem_errors`).
    """
    started = time.perf_counter()
    errors = problem_errors(problem)
    if errors:
        raise ValueError("invalid shift problem: " + "; ".join(errors))
    ctx = _Context(problem)
    built = _RosterModel(ctx)
    if hint is None:
        roster = _greedy(ctx, built.holders, GREEDY_BUDGET)
    else:
        roster = {
            (ctx.staff_index[sid], day): ctx.shift_index[t]
            for (sid, day), t in hint.items()
            if t is not None and sid in ctx.staff_index and t in ctx.shift_index
        }
    built.add_hint(roster)

    callback = _Progress(progress)
    # Leave time to read the roster back and diagnose it within the limit.
    reserve = min(0.1 * time_limit_s, 0.5 + 2e-5 * len(built.x))
    status, values, bound = _search(
        built.model,
        deadline=started + time_limit_s - reserve,
        started=started,
        deterministic=deterministic,
        seed=seed,
        workers=workers,
        callback=callback,
        portfolio_first=len(built.x) <= PORTFOLIO_MAX_VARIABLES,
    )
    assignments: dict[tuple[str, int], str] = {}
    objective = gap = None
    if values is not None:
        for (s, day, t), var in built.x.items():
            if values[var.index]:
                assignments[(ctx.staff[s].id, day)] = ctx.shifts[t].id
        # The roster's own penalty: a roster found by local search may carry slack in the
        # shortfall variables, so CP-SAT's objective can be a little above it.
        objective = sum(penalty_breakdown(problem, assignments).values())
        if math.isfinite(bound):
            gap = abs(objective - bound) / max(1.0, abs(objective))
            if objective <= bound:
                status = "OPTIMAL"
    uncovered: list[UncoveredCover] = []
    if status in ("OPTIMAL", "FEASIBLE"):
        uncovered = diagnose_uncovered(problem, assignments, optimal=status == "OPTIMAL")
    elif status == "INFEASIBLE" and built.has_hard_covers:
        uncovered = _relaxed_diagnosis(problem, time_limit_s, deterministic, seed, workers)
    found = status in ("OPTIMAL", "FEASIBLE")
    penalties = penalty_breakdown(problem, assignments) if found else {}
    return ShiftSolution(
        assignments=assignments,
        status=status,
        objective=objective,
        bound=bound if math.isfinite(bound) else None,
        gap=gap,
        wall_time_s=time.perf_counter() - started,
        first_solution_s=callback.first_s,
        penalties=penalties,
        uncovered=uncovered,
        changes=count_changes(problem, assignments) if found else 0,
    )


def _relaxed_diagnosis(
    problem: ShiftProblem,
    time_limit_s: float,
    deterministic: bool,
    seed: int,
    workers: int | None,
) -> list[UncoveredCover]:
    """Return the hard covers a roster cannot meet, from a solve with them made soft."""
    relaxed = replace(
        problem,
        covers=tuple(
            replace(c, under_weight=RELAXED_UNDER_WEIGHT) if c.hard else c for c in problem.covers
        ),
    )
    result = solve(
        relaxed,
        time_limit_s=max(1.0, time_limit_s / 4),
        deterministic=deterministic,
        seed=seed,
        workers=workers,
    )
    return [u for u in result.uncovered if problem.covers[u.cover_index].hard]


def penalty_breakdown(
    problem: ShiftProblem, assignments: Mapping[tuple[str, int], str]
) -> dict[str, int]:
    """Return the objective of a roster by part: cover_under, cover_over, requests, changes."""
    under = over = 0
    for cover, count in zip(problem.covers, cover_counts(problem, assignments), strict=True):
        if cover.under_weight and count < cover.requirement:
            under += cover.under_weight * (cover.requirement - count)
        if cover.over_weight and count > cover.requirement:
            over += cover.over_weight * (count - cover.requirement)
    requests = 0
    for request in problem.requests:
        shift = assignments.get((request.staff_id, request.day))
        granted = shift is not None if request.shift_id is None else shift == request.shift_id
        if granted != request.on:
            requests += request.weight
    return {
        "cover_under": under,
        "cover_over": over,
        "requests": requests,
        "changes": problem.change_weight * count_changes(problem, assignments),
    }


def count_changes(problem: ShiftProblem, assignments: Mapping[tuple[str, int], str]) -> int:
    """Return the (staff, day) pairs of current staff that differ from ``problem.previous``."""
    return sum(
        1
        for (sid, day), shift in (problem.previous or {}).items()
        if sid in problem.staff_by_id and assignments.get((sid, day)) != shift
    )


def diagnose_uncovered(
    problem: ShiftProblem,
    assignments: Mapping[tuple[str, int], str],
    *,
    optimal: bool = False,
) -> list[UncoveredCover]:
    """Return each cover a roster leaves short, and why.

    For every staff member with the cover's skill and every shift that would count for it, the
    roster is tried with that shift added (or swapped in): the rules it would break say why the
    cover is short. If someone could take it without breaking a rule, the shortfall is
    ``not worth it`` (or ``busy elsewhere`` when that someone is needed on another shift).

    Parameters
    ----------
    problem
        The problem.
    assignments
        The roster, (staff id, day) → shift id.
    optimal
        Whether the roster is proven optimal (the wording of ``not worth it`` says so).

    Returns
    -------
    list[UncoveredCover]
        The short covers in the order of ``problem.covers``.
    """
    ctx = _Context(problem)
    counts = cover_counts(problem, assignments)
    roster = {
        (ctx.staff_index[sid], day): ctx.shift_index[t]
        for (sid, day), t in assignments.items()
        if sid in ctx.staff_index
    }
    states: list[_StaffState] | None = None
    by_skill: dict[str | None, list[int]] = defaultdict(list)
    for s, member in enumerate(ctx.staff):
        by_skill[None].append(s)
        for skill in member.skills:
            by_skill[skill].append(s)
    found = []
    for c, cover in enumerate(problem.covers):
        if counts[c] >= cover.requirement:
            continue
        if states is None:
            states = _states(ctx, roster)
        reason, detail = _diagnose(ctx, states, c, by_skill.get(cover.skill, []), optimal)
        found.append(
            UncoveredCover(
                cover_index=c,
                cover=cover,
                assigned=counts[c],
                short=cover.requirement - counts[c],
                reason=reason,
                detail=detail,
            )
        )
    return found


def _diagnose(
    ctx: _Context, states: list[_StaffState], c: int, candidates: list[int], optimal: bool
) -> tuple[UncoveredReason, str]:
    options = ctx.cover_options[c]
    on_it = unavailable = free = busy = 0
    blocked: Counter[RuleCategory] = Counter()
    blocked_staff = 0
    for s in candidates:
        state = states[s]
        if any(state.roster[day] == t for day, t in options):
            on_it += 1
            continue
        categories: set[RuleCategory] = set()
        can_free = can_busy = any_available = False
        for day, t in options:
            rules = state.blockers(day, t, min_rules=True)
            if any(RULE_CATEGORY[r] == "availability" for r in rules):
                continue
            any_available = True
            if not rules:
                if state.roster[day] is None:
                    can_free = True
                else:
                    can_busy = True
            categories.update(RULE_CATEGORY[r] for r in rules)
        if not any_available:
            unavailable += 1
        elif can_free:
            free += 1
        elif can_busy:
            busy += 1
        else:
            blocked_staff += 1
            blocked.update(categories)
    skill = ctx.problem.covers[c].skill
    who = f"staff with skill {skill!r}" if skill else "staff"
    if not candidates:
        return "no eligible staff", f"no {who}"
    parts = [f"{len(candidates)} {who}"]
    if on_it:
        parts.append(f"{on_it} on it")
    if unavailable:
        parts.append(f"{unavailable} off, on leave, pinned or not qualified for a spanning shift")
    if free:
        cheaper = (
            "the penalty is the cheaper choice"
            if optimal
            else "the penalty was the cheaper choice, or the search ran out of time"
        )
        parts.append(f"{free} could take it within every rule: {cheaper}")
        return "not worth it", "; ".join(parts)
    if busy:
        parts.append(f"{busy} could take it within every rule but work another shift that day")
        return "busy elsewhere", "; ".join(parts)
    if not blocked_staff:
        return "no eligible staff", "; ".join(parts)
    ranked = sorted(blocked, key=lambda category: (-blocked[category], _PRIORITY[category]))
    by_rule = ", ".join(f"{blocked[category]} by {_REASON[category]}" for category in ranked)
    parts.append(f"{blocked_staff} blocked ({by_rule})")
    return _REASON[ranked[0]], "; ".join(parts)
