"""Made-up staff for demonstrations and tests: DEMO DATA, not real people.

:func:`huiji_demo_staff` makes a plausible staff list for the bundled Huiji squads: officers
(执法队员), assistants (协管员/劝导员) and a district-wide pool of duty leaders (带班领导).
Names are drawn at random from lists of common Chinese surnames and given-name characters; any
likeness to a real person is chance. Every person made here has ``demo=True``, and no phone number.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence

from grids.staff import DEFAULT_CONTRACT_HOURS, Officer, Role

__all__ = ["DEMO_LEADER_COUNT", "huiji_demo_staff"]

DEMO_LEADER_COUNT = 7
"""Duty leaders district-wide: one on 24-hour duty a day, then a day off, leaves a weekly margin."""
DEMO_LEADER_PREFIX = "HJ-LD"
SIZING_UTILISATION = 0.8
"""Share of contract hours a squad sized from its demand is expected to spend on duty."""
WOMEN_SQUAD_ID = "HJ-S-NZ"
FULL_DEPLOYMENT_SQUAD_ID = "HJ-S-YH"

# Squad sizes: a squad has 8-16 officers and 4-8 assistants. The river-bank squad, which deploys
# in full on weekends and holidays, gets the upper end of the officer range.
_OFFICERS = (8, 16)
_OFFICERS_RIVER_BANK = (13, 16)
_ASSISTANTS = (4, 8)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万"
    "常岳牛申翟楚靳耿司葛"
)
# Surnames near the head of the list are the most common; they are drawn more often.
_SURNAME_WEIGHTS = tuple(1 / (10 + rank) for rank in range(len(_SURNAMES)))
_GIVEN_MALE = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林博文志建国新海峰亮"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲燕萍红英慧莉琳雪晶颖婷倩璐丹欣悦佳洁月梅兰琴瑶蕾雯思"


def _squad_code(squad_id: str) -> str:
    """Return the short code of a squad id: ``HJ-S-YB`` → ``YB``."""
    return re.sub(r"^HJ-S-", "", squad_id).replace("-", "")


def _name(rng: random.Random, taken: set[str], *, female: bool) -> str:
    characters = _GIVEN_FEMALE if female else _GIVEN_MALE
    while True:
        surname = rng.choices(_SURNAMES, weights=_SURNAME_WEIGHTS)[0]
        given = "".join(rng.choice(characters) for _ in range(rng.choice((1, 2, 2))))
        name = surname + given
        if name not in taken:
            taken.add(name)
            return name


def _size(
    rng: random.Random, bounds: tuple[int, int], hours: Mapping[str, float] | None, squad: str
) -> int:
    """Return a squad's head count: enough for its weekly hours, within ``bounds``."""
    low, high = bounds
    if hours is None or squad not in hours:
        return rng.randint(low, high)
    # a staff covers its hours with a margin for rest days, night rules and travel
    return max(low, math.ceil(hours[squad] / (DEFAULT_CONTRACT_HOURS * SIZING_UTILISATION)))


def huiji_demo_staff(
    squads: Sequence[tuple[str, str]],
    seed: int = 49,
    *,
    officer_hours: Mapping[str, float] | None = None,
    assistant_hours: Mapping[str, float] | None = None,
) -> list[Officer]:
    """Return made-up staff for ``squads``: DEMO DATA, not real people (``demo=True``).

    Each squad gets 8-16 officers and 4-8 assistants (the river-bank squad ``HJ-S-YH`` 13-16
    officers, as it deploys in full on weekends and holidays; the women's squad ``HJ-S-NZ``
    women only), with ids ``HJ-<squad code>-NNN`` (``HJ-YB-001``), officers first. Seven duty
    leaders, district-wide (no squad), are ``HJ-LD-001`` … ``HJ-LD-007``. Names are unique and
    the list is the same for the same arguments.

    Parameters
    ----------
    squads
        ``(id, name_zh)`` of each squad, e.g. from the bundled ``squads.geojson``.
    seed
        The seed of the random draws.
    officer_hours, assistant_hours
        Person-hours a week each squad needs of officers and of assistants (e.g. the ``officer``
        and ``any`` hours of :func:`grids.demand.demand_summary`, summed over the week): a squad
        listed gets as many people as cover them at 40 hours a week with a margin
        (:data:`SIZING_UTILISATION`), at least the lower end of the ranges above; other squads
        get a random size in the range (a headcount that falls short of a full week's demand).

    Returns
    -------
    list of Officer
        By squad in the order given, then the leaders.
    """
    rng = random.Random(seed)
    taken: set[str] = set()
    staff: list[Officer] = []
    for squad_id, _name_zh in squads:
        bounds = _OFFICERS_RIVER_BANK if squad_id == FULL_DEPLOYMENT_SQUAD_ID else _OFFICERS
        officers = _size(rng, bounds, officer_hours, squad_id)
        assistants = _size(rng, _ASSISTANTS, assistant_hours, squad_id)
        code = _squad_code(squad_id)
        for number in range(1, officers + assistants + 1):
            role: Role = "officer" if number <= officers else "assistant"
            female = squad_id == WOMEN_SQUAD_ID or rng.random() < 0.25
            staff.append(
                Officer(
                    id=f"HJ-{code}-{number:03d}",
                    name=_name(rng, taken, female=female),
                    squad_id=squad_id,
                    role=role,
                    demo=True,
                )
            )
    for number in range(1, DEMO_LEADER_COUNT + 1):
        staff.append(
            Officer(
                id=f"{DEMO_LEADER_PREFIX}-{number:03d}",
                name=_name(rng, taken, female=rng.random() < 0.25),
                squad_id=None,
                role="leader",
                demo=True,
            )
        )
    return staff
