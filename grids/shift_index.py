"""Index form of a :class:`~grids.shift_problem.ShiftProblem` and one staff member's running roster.

:class:`ProblemIndex` numbers staff, shift types and days and precomputes what the CP-SAT model,
the greedy roster and the diagnosis of short covers all need (forbidden successions by gap,
calendar weeks, weekends and months, cover options). :class:`StaffState` keeps one staff
member's roster with running totals, so that whether a shift may be added is answered without
rescanning the roster.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

from grids.shift_problem import ShiftProblem

__all__ = ["ProblemIndex", "StaffState", "staff_states"]


class ProblemIndex:
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


class StaffState:
    """One staff member's roster with running totals, to test adding a shift in O(1)-ish."""

    def __init__(self, ctx: ProblemIndex, s: int) -> None:
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


def staff_states(ctx: ProblemIndex, roster: Mapping[tuple[int, int], int]) -> list[StaffState]:
    """Return every staff member's state with the roster of (staff, day) → shift indexes placed."""
    states = [StaffState(ctx, s) for s in range(len(ctx.staff))]
    for (s, day), t in sorted(roster.items()):
        states[s].place(day, t)
    return states
