"""The duty policy: the bundled Huiji defaults, TOML round trips and the checks with key paths."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import tomllib
from datetime import date, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import FieldError, InputFileError
from grids.policy import (
    DAY_TYPES,
    DutyPolicy,
    EventPost,
    FullDeployment,
    LevelRules,
    PatrolRule,
    Slot,
    SlotTable,
    SpecialOperation,
    TimeWindow,
    huiji_default_policy,
    load_policy,
    policy_from_toml,
    policy_to_toml,
)

POLICY_FILE = Path(__file__).parents[2] / "grids" / "data" / "huiji_duty_policy.toml"


@pytest.fixture(scope="module")
def default_text() -> str:
    return POLICY_FILE.read_text("utf-8")


@pytest.fixture(scope="module")
def default() -> DutyPolicy:
    return huiji_default_policy()


def _edited(text: str, old: str, new: str, *, occurrence: int = 1) -> str:
    """Return ``text`` with the ``occurrence``-th ``old`` replaced by ``new``."""
    parts = text.split(old)
    assert len(parts) > occurrence, f"{old!r} is not in the text {occurrence} times"
    return old.join(parts[:occurrence]) + new + old.join(parts[occurrence:])


def _weekday_tables(text: str) -> list[dict[str, str]]:
    return list(tomllib.loads(text)["slots"]["weekday"])


# --- the Huiji defaults ---------------------------------------------------------------------


def test_huiji_defaults_have_the_six_slots(default: DutyPolicy, default_text: str) -> None:
    expected = [(t["id"], t["start"], t["end"], t["kind"]) for t in _weekday_tables(default_text)]
    assert len(expected) == 6
    for day_type in DAY_TYPES:
        slots = default.slots_for(day_type)
        got = [(s.id, f"{s.start:%H:%M}", f"{s.end:%H:%M}", s.kind) for s in slots]
        assert got == expected
        assert sum(s.minutes for s in slots) == 24 * 60
    starts = [(s.start, s.end) for s in default.slots_for("weekday")]
    assert starts == [
        (time(6), time(8)),
        (time(8), time(12)),
        (time(12), time(15)),
        (time(15), time(18)),
        (time(18), time(22)),
        (time(22), time(6)),
    ]
    night = default.slots_for("weekday")[-1]
    assert night.kind == "night"
    assert night.crosses_midnight
    assert night.name_zh == "夜查"
    assert [s.kind for s in default.day_slots("weekday")] == ["day"] * 5


def test_huiji_defaults_name_the_yingcai_windows(default: DutyPolicy) -> None:
    windows = default.levels.regulated.windows_for_road("英才街")
    assert [str(w) for w in windows] == ["11:00-13:30", "17:00-21:00"]
    assert windows[0].minutes == 150
    assert default.levels.regulated.windows_for_road("文化路") == ()
    assert default.levels.regulated.role == "any"


def test_huiji_defaults_rules(default: DutyPolicy) -> None:
    assert default.levels.strict.officers == 1
    assert default.levels.controlled.visit_every_hours == 4
    assert default.full_deployment == (
        FullDeployment("HJ-S-YH", ("weekend", "holiday"), hard=True, weight=50.0),
    )
    assert {op.kind for op in default.operations} == {"night_check", "muck_truck", "barbecue"}
    night_check = next(op for op in default.operations if op.kind == "night_check")
    assert night_check.zone_kind == "night_market"
    assert all(default.slot("weekday", s).kind == "night" for s in night_check.slots)
    labour = default.labour
    assert (labour.hours_per_day, labour.hours_per_week, labour.max_hours_per_week) == (8, 40, 44)
    assert (labour.rest_days_per_week, labour.min_rest_hours) == (1, 11)
    assert not labour.overtime_allowed
    assert (labour.max_overtime_hours_per_day, labour.max_overtime_hours_per_month) == (3, 36)
    coverage = default.weights.coverage
    assert (coverage.strict, coverage.controlled, coverage.regulated) == (100, 30, 10)
    assert default.leader.on_duty == 1
    assert default.leader.rest_day_after


def test_patrol_slots_keep_visits_within_the_limit(default: DutyPolicy) -> None:
    day_slots = default.day_slots("weekday")
    for hours in (4.0, 6.0, 8.0, 16.0):
        policy = default.revised(
            levels=dataclasses.replace(
                default.levels, controlled=PatrolRule(visit_every_hours=hours)
            )
        )
        chosen = policy.patrol_slots("weekday")
        starts = [s.start.hour * 60 + s.start.minute for s in chosen]
        first = day_slots[0].start.hour * 60
        last_end = first + sum(s.minutes for s in day_slots)
        gaps = [starts[0] - first, *(b - a for a, b in itertools.pairwise(starts))]
        gaps.append(last_end - starts[-1])
        assert max(gaps) <= hours * 60
        # Dropping any chosen slot breaks the limit: the choice is minimal.
        for dropped in range(len(starts)):
            rest = starts[:dropped] + starts[dropped + 1 :]
            if not rest:
                continue
            gaps = [rest[0] - first, *(b - a for a, b in itertools.pairwise(rest))]
            assert max([*gaps, last_end - rest[-1]]) > hours * 60
    assert [s.id for s in default.patrol_slots("weekday")] == [
        "morning",
        "midday",
        "afternoon",
        "evening",
    ]


# --- round trips ----------------------------------------------------------------------------


def test_default_round_trips(default: DutyPolicy) -> None:
    text = policy_to_toml(default)
    again = policy_from_toml(text)
    assert again == default
    assert policy_to_toml(again) == text
    assert again.fingerprint() == default.fingerprint()


def _rich_policy(default: DutyPolicy) -> DutyPolicy:
    weekend = (
        Slot("daytime", "白班", "Day", time(7, 30), time(18, 0), "day"),
        Slot("evening", "夜市", "Evening", time(18, 0), time(22, 0), "day"),
        Slot("night", "夜查", "Night", time(22, 0), time(7, 30), "night"),
    )
    return default.revised(
        slots=dataclasses.replace(default.slots, weekend=weekend),
        levels=dataclasses.replace(
            default.levels, controlled=PatrolRule(visit_every_hours=12.0, route_km=5.5)
        ),
        operations=(
            *default.operations,
            SpecialOperation(
                id="muck-weekend",
                name_zh="渣土车周末巡查",
                kind="muck_truck",
                slots=("night",),
                officers=1,
                assistants=2,
                day_types=("weekend",),
                weekdays=(6, 7),
                zone_ids=("HJ-Z01",),
                hard=False,
                weight=12.5,
            ),
        ),
        events=(
            EventPost(
                id="ev-1",
                name_zh="马拉松保障",
                start_date=date(2026, 12, 5),
                end_date=date(2026, 12, 6),
                slots=("night",),
                point=(113.65, 34.85),
                squad_id="HJ-S-YB",
                officers=2,
                assistants=1,
                name_en='Marathon "Huiji" \\ support',
            ),
            EventPost(
                id="ev-2",
                name_zh="考试保障",
                start_date=date(2026, 6, 7),
                end_date=date(2026, 6, 8),
                slots=("night",),
                post_id="post-英才街-1",
            ),
        ),
        description="多行\n说明",
    )


def test_rich_policy_round_trips(default: DutyPolicy, tmp_path: Path) -> None:
    policy = _rich_policy(default)
    assert policy.version == default.version + 1
    path = tmp_path / "policy.toml"
    path.write_text(policy_to_toml(policy), "utf-8")
    again = load_policy(path)
    assert again == policy
    assert again.slots_for("weekend")[0].start == time(7, 30)
    assert again.slots_for("holiday") == default.slots_for("holiday")
    assert policy_to_toml(again) == path.read_text("utf-8")


def test_fingerprint_follows_content_not_version(default: DutyPolicy) -> None:
    same = dataclasses.replace(default, version=default.version + 7)
    assert same.fingerprint() == default.fingerprint()
    changed = default.revised(name=default.name + " (试行)")
    assert changed.version == default.version + 1
    assert changed.fingerprint() != default.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", default.fingerprint())


# --- errors with key paths ------------------------------------------------------------------


def test_overlapping_slot_names_its_end(default_text: str) -> None:
    text = _edited(default_text, 'end = "15:00"', 'end = "15:30"')
    with pytest.raises(FieldError) as caught:
        policy_from_toml(text, file="policy.toml")
    assert caught.value.field == "slots.weekday[2].end"
    assert caught.value.file == "policy.toml"
    assert "overlap of 30 min" in caught.value.message
    assert "midday" in caught.value.message
    assert "slots.weekday[2].end" in str(caught.value)


def test_gap_between_slots_names_its_end(default_text: str, tmp_path: Path) -> None:
    path = tmp_path / "值班规则.toml"
    path.write_text(_edited(default_text, 'end = "12:00"', 'end = "11:00"'), "utf-8")
    with pytest.raises(FieldError) as caught:
        load_policy(path)
    assert caught.value.field == "slots.weekday[1].end"
    assert caught.value.file == "值班规则.toml"
    assert "gap of 60 min" in caught.value.message


def test_the_leaders_slot_id_is_kept_for_the_leader(default_text: str) -> None:
    text = _edited(default_text, 'id = "early"', 'id = "day"')
    with pytest.raises(FieldError, match="duty leader") as caught:
        policy_from_toml(text)
    assert caught.value.field == "slots.weekday[0].id"


def test_two_slots_starting_together_are_refused(default_text: str) -> None:
    text = _edited(default_text, 'start = "12:00"', 'start = "08:00"')
    with pytest.raises(FieldError, match="overlap") as caught:
        policy_from_toml(text)
    assert caught.value.field is not None
    assert caught.value.field.startswith("slots.weekday[")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('kind = "night"\n', 'kind = "dusk"\n', "slots.weekday[5].kind"),
        ('start = "06:00"', 'start = "6 am"', "slots.weekday[0].start"),
        ("officers = 1\n", 'officers = "one"\n', "levels.strict.officers"),
        (
            "visit_every_hours = 4.0",
            "visit_every_hours = 1.0",
            "levels.controlled.visit_every_hours",
        ),
        ('slots = ["night"]', 'slots = ["midnight"]', "operations[0].slots[0]"),
        ('zone_kind = "night_market"', 'squads = ["HJ-S-NZ"]\nzones = ["Z"]', "operations[0]"),
        ("months = [5,", "months = [13, 5,", "operations[2].months[0]"),
        (
            'day_types = ["weekend", "holiday"]',
            'day_types = ["weekends"]',
            "full_deployment[0].day_types[0]",
        ),
        ("hours_per_week = 40.0", "hours_per_week = 48.0", "labour.max_hours_per_week"),
        ("continuity = 5.0", "continuity = -1.0", "weights.continuity"),
        ("[leader]\n", "[leader]\nshift = 24\n", "leader.shift"),
        (
            '"英才街" = ["11:00-13:30",',
            '"英才街" = ["11:00-11:00",',
            "levels.regulated.windows_by_road.英才街[0]",
        ),
        ("version = 1\n", "version = 0\n", "version"),
    ],
)
def test_bad_values_name_their_key_path(default_text: str, old: str, new: str, field: str) -> None:
    with pytest.raises(FieldError) as caught:
        policy_from_toml(_edited(default_text, old, new), file="huiji.toml")
    assert caught.value.field == field
    assert caught.value.file == "huiji.toml"


def test_event_needs_one_place(default_text: str) -> None:
    event = (
        '\n[[events]]\nid = "ev"\nname_zh = "活动"\nstart_date = 2026-12-02\n'
        'end_date = 2026-12-01\nslots = ["morning"]\npost_id = "p-1"\n'
    )
    with pytest.raises(FieldError) as caught:
        policy_from_toml(_edited(default_text, "\n[leader]", event + "\n[leader]"))
    assert caught.value.field == "events[0].end_date"
    fixed = event.replace("2026-12-01", "2026-12-03") + "point = [113.6, 34.8]\n"
    with pytest.raises(FieldError) as caught:
        policy_from_toml(_edited(default_text, "\n[leader]", fixed + "\n[leader]"))
    assert caught.value.field == "events[0]"
    assert "exactly one of post_id or point" in caught.value.message


def test_not_toml_is_an_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("version = \n", "utf-8")
    with pytest.raises(InputFileError) as caught:
        load_policy(path)
    assert caught.value.file == "broken.toml"
    with pytest.raises(InputFileError):
        load_policy(tmp_path / "missing.toml")


def test_revised_policy_is_checked(default: DutyPolicy) -> None:
    with pytest.raises(FieldError) as caught:
        default.revised(
            levels=LevelRules(controlled=PatrolRule(visit_every_hours=0.0)),
        )
    assert caught.value.field == "levels.controlled.visit_every_hours"


# --- tiling, for any cut of the day --------------------------------------------------------


def _cut_slots(cuts: list[int]) -> tuple[Slot, ...]:
    ordered = sorted(set(cuts))
    slots = []
    for n, start in enumerate(ordered):
        end = ordered[(n + 1) % len(ordered)]
        slots.append(
            Slot(
                f"s{n}",
                f"时段{n}",
                f"Slot {n}",
                time(start // 60, start % 60),
                time(end // 60, end % 60),
                "day" if n % 2 == 0 else "night",
            )
        )
    return tuple(slots)


def _policy_with(slots: tuple[Slot, ...]) -> DutyPolicy:
    return DutyPolicy(
        version=1,
        name="test",
        slots=SlotTable(slots, slots, slots),
        levels=LevelRules(controlled=PatrolRule(visit_every_hours=24.0)),
    )


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 24 * 4 - 1).map(lambda q: q * 15), min_size=2, max_size=8),
    order=st.randoms(use_true_random=False),
    which=st.integers(0, 7),
    shift=st.sampled_from([-45, -15, 15, 30, 120]),
)
def test_any_cut_of_the_day_tiles_and_any_moved_end_is_caught(
    cuts: list[int], order: random.Random, which: int, shift: int
) -> None:
    slots = list(_cut_slots(cuts))
    if len(slots) < 2:
        return
    order.shuffle(slots)
    policy = _policy_with(tuple(slots))
    assert sum(s.minutes for s in policy.slots_for("weekday")) == 24 * 60
    index = which % len(slots)
    moved = slots[index]
    end = (moved.end.hour * 60 + moved.end.minute + shift) % (24 * 60)
    slots[index] = dataclasses.replace(moved, end=time(end // 60, end % 60))
    with pytest.raises(FieldError) as caught:
        _policy_with(tuple(slots))
    assert caught.value.field == f"slots.weekday[{index}].end"


def test_time_window_parse() -> None:
    window = TimeWindow.parse("21:00～02:00")
    assert window.minutes == 300
    start, end = window.on(date(2026, 12, 1))
    assert (start.day, end.day, end.hour) == (1, 2, 2)
    with pytest.raises(ValueError, match="not a time"):
        TimeWindow.parse("25:00-26:00")
