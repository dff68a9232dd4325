"""The CP-SAT model of a :class:`~grids.shift_problem.ShiftProblem`.

One Boolean ``x[s, d, t]`` says staff member ``s`` works shift type ``t`` on day ``d``. Variables
exist only where ``s`` may work ``t`` on ``d`` (not off, on leave, pinned elsewhere, barred from
the type or by the daily hours limit) and where it can matter: it counts for some cover, was asked
for, was in the previous roster, or the staff member has a minimum rule that may need filling
shifts. Every hard rule of the model is a constraint over these variables:

- at most one shift a day; forbidden successions, overlaps and the minimum rest between duties
  as "this shift, or one of those the next day(s)" at-most-one constraints;
- per-type and total-minute limits, calendar-week regular minutes and monthly overtime as linear
  sums;
- maximum consecutive days as a sum over every window of ``k + 1`` days (and, with a minimum
  of ``r`` days off, at most ``k`` worked in every ``k + r`` days, which the two rules imply but
  their linear relaxation does not); minimum consecutive days worked and minimum days off as
  "a run that starts must last" clauses (a run starting on day ``d`` reaches day ``d + k`` for
  every ``k`` below the minimum, runs touching the horizon's ends exempt);
- weekends through one indicator per weekend (at least each of its days), summed;
- the weekly rest day through one "busy" indicator per day (worked, or reached by a shift from
  the day before), summed per calendar week;
- covers as sums of the shift variables that span them; staff of one skill working one shift on
  one day are summed once when several covers (the duty slots of the shift) count them.

The objective adds the cover penalties (under and over), the requests not granted and the changes
against a previous roster.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from ortools.sat.python import cp_model

from grids.shift_index import ProblemIndex
from grids.shift_problem import Staff

__all__ = ["RosterModel"]


class RosterModel:
    """The CP-SAT model of a problem."""

    def __init__(self, ctx: ProblemIndex) -> None:
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
        # Cover penalty variables and their covers' days, where the search looks for repairs.
        self.cover_penalties: list[tuple[Any, int]] = []
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
                if lits:
                    indicators.append(self._any_of(lits))
            if len(indicators) > member.max_weekends:
                model.add(sum(indicators) <= member.max_weekends)
        if ctx.labour is not None:
            self._add_labour(x, work)

    def _any_of(self, lits: list[Any]) -> Any:
        """Return a literal true when any of ``lits`` is (itself if there is one)."""
        if len(lits) == 1:
            return lits[0]
        indicator = self.model.new_bool_var("")
        for lit in lits:
            self.model.add_implication(lit, indicator)
        self.max_of.append((indicator, lits))
        return indicator

    def _at_most_in_every(self, work: list[Any], width: int, most: int) -> None:
        """Allow at most ``most`` worked days in every ``width`` days in a row."""
        for start in range(self.ctx.horizon - width + 1):
            lits = [w for w in work[start : start + width] if w is not None]
            if len(lits) > most:
                self.model.add(sum(lits) <= most)

    def _add_consecutive(self, member: Staff, work: list[Any]) -> None:
        model = self.model
        horizon = self.ctx.horizon
        most = member.max_consecutive_shifts
        if most is not None:
            self._at_most_in_every(work, most + 1, most)
        rest = member.min_consecutive_days_off or 0
        if most is not None and rest > 1:
            # A run of days off between two runs of work lasts at least ``rest`` days, so any
            # ``most + rest`` days in a row hold at most ``most`` worked ones (a window with
            # more has a work run too long or a break too short). Implied, but the LP relaxation
            # of the two rules alone allows ``most / (most + 1)`` of every day.
            self._at_most_in_every(work, most + rest, most)
        # A run of work (of days off) that starts on day d, after a day off (a worked day), must
        # still be on on day d + k for every k below the minimum, unless the horizon ends first.
        # These three-literal clauses imply every forbidden short pattern and relax better.
        least = member.min_consecutive_shifts or 0
        for start in range(1, horizon):
            first, before = work[start], work[start - 1]
            if first is None:
                continue
            for k in range(1, min(least, horizon - start)):
                later = work[start + k]
                clause = [first.Not(), *(w for w in (before, later) if w is not None)]
                model.add_bool_or(clause)
        least = member.min_consecutive_days_off or 0
        for start in range(1, horizon):
            first, before = work[start], work[start - 1]
            if before is None:
                continue
            for k in range(1, min(least, horizon - start)):
                later = work[start + k]
                if later is None:
                    continue
                clause = [before.Not(), later.Not(), *([first] if first is not None else [])]
                model.add_bool_or(clause)

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
                    if lits:
                        busy.append(self._any_of(lits))
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
                    self.cover_penalties.append((under, cover.day))
            if cover.over_weight and most > need:
                over = model.new_int_var(0, most - need, "")
                model.add(count - over <= need)
                self._penalise(over, cover.over_weight)
                self.short_of.append((over, parts, need, -1))
                self.cover_penalties.append((over, cover.day))

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

    def cells(self) -> dict[tuple[int, int], list[int]]:
        """Return (staff, day) → the indexes of its shift variables (what neighbourhoods free)."""
        found: dict[tuple[int, int], list[int]] = defaultdict(list)
        for (s, day, _), var in self.x.items():
            found[(s, day)].append(var.index)
        return dict(found)

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
