"""The rest rules of a roster: a full rest day a week, rest between duties, the leader's day off.

A full rest day (art. 38) is a date of the week on which no duty is rostered and around which the
person is free for at least 24 hours in a row (so a night duty that ends at 06:00 still leaves a
rest day when the next duty starts at 06:00 the day after).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise

from grids.roster_duties import Duty, Found, first_duty, hours_text, timed_duties
from grids.staff import Officer

__all__ = ["check_rest", "rest_days"]

_MINIMUM_REST_DAY = timedelta(hours=24)


def rest_days(
    timed: Sequence[tuple[datetime, datetime, Duty]], dates: Collection[date], monday: date
) -> int:
    """Return the full rest days (art. 38) in the week from ``monday``.

    ``timed`` are one person's duties with times (see :func:`timed_duties`), ``dates`` the days on
    which they have any duty at all.
    """
    ends: dict[date, datetime] = {}
    starts: dict[date, datetime] = {}
    for start, end, duty in timed:
        ends[duty.date] = max(ends.get(duty.date, end), end)
        starts[duty.date] = min(starts.get(duty.date, start), start)
    rest = 0
    for offset in range(7):
        day = monday + timedelta(days=offset)
        if day in dates:
            continue
        before = [end for d, end in ends.items() if d < day]
        after = [start for d, start in starts.items() if d > day]
        free_from = max(before) if before else datetime.min
        free_to = min(after) if after else datetime.max
        if free_to - free_from >= _MINIMUM_REST_DAY:
            rest += 1
    return rest


def check_rest(person: Officer, duties: Sequence[Duty], found: Found) -> None:
    """Add the violations of the rest days, the rest between duties and the leader's day off."""
    policy = found.policy
    labour = policy.labour
    timed = timed_duties(duties)
    dates = {d.date for d in duties}
    weeks = sorted({d.isocalendar()[:2] for d in dates})
    for year, week in weeks:
        monday = date.fromisocalendar(year, week, 1)
        rest = rest_days(timed, dates, monday)
        if rest < labour.rest_days_per_week:
            found.add(
                "rest_day",
                f"{person.id} has {rest} full rest day(s) (休息日) in {year}-W{week:02d}, at "
                f"least {labour.rest_days_per_week} required",
                officer_id=person.id,
                day=monday,
            )
    # Rest between duties: between the duties of different days (split duties of one day are
    # one working day).
    blocks: list[tuple[datetime, datetime, Duty]] = []
    for start, end, duty in timed:
        if blocks and blocks[-1][2].date == duty.date and start <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end), blocks[-1][2])
        else:
            blocks.append((start, end, duty))
    min_rest = timedelta(hours=labour.min_rest_hours)
    house = (
        f"值班规则内部规定 / house rule of the duty policy (labour.min_rest_hours = "
        f"{labour.min_rest_hours:g} h); the Labour Law itself sets no minimum rest between shifts"
    )
    for (_, first_end, first), (second_start, _, second) in pairwise(blocks):
        if first.date == second.date:
            continue
        gap = second_start - first_end
        if timedelta() <= gap < min_rest:
            found.add(
                "min_rest",
                f"{person.id} rests only {hours_text(gap.total_seconds() / 3600)} between the duty "
                f"ending {first_end:%m-%d %H:%M} and the one starting {second_start:%m-%d %H:%M}, "
                f"less than {hours_text(labour.min_rest_hours)} (两班间隔)",
                duty=second,
                legal_basis=house,
            )
    if policy.leader.rest_day_after:
        leader_days = sorted({d.date for d in duties if d.on_call})
        for day in leader_days:
            following = first_duty(duties, day + timedelta(days=1))
            if following is not None:
                found.add(
                    "leader_rest_day",
                    f"{person.id} is on 24-hour leader duty on {day:%Y-%m-%d} and rostered "
                    f"again on {following.date:%Y-%m-%d}: the policy gives the next day off "
                    "(带班次日休息)",
                    duty=following,
                    legal_basis="值班规则内部规定 / house rule of the duty policy "
                    "(leader.rest_day_after)",
                )
