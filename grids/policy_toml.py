"""Duty policies in TOML: read with :func:`load_policy`, written with :func:`policy_to_toml`.

Every key of a policy file is explained, with comments, in the bundled Huiji policy
(``grids/data/huiji_duty_policy.toml``). A key that is unknown, missing or of the wrong type is a
:class:`geodata.errors.FieldError` naming the file and the key path, e.g. ``slots.weekday[2].end``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from datetime import date, time
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_args

from geodata.errors import FieldError, InputFileError
from grids._clock import clock_text
from grids._toml import REQUIRED, TomlTable, fail, parse_toml
from grids.duty_policy import DutyPolicy
from grids.policy_operations import (
    OPERATION_KINDS,
    EventPost,
    FullDeployment,
    OperationKind,
    SpecialOperation,
)
from grids.policy_rules import (
    GuidanceRole,
    LabourRules,
    LeaderDuty,
    LevelRules,
    RoadWindows,
    SoftWeights,
)
from grids.policy_slots import DAY_TYPES, SLOT_KINDS, DayType, Slot, SlotKind, SlotTable, TimeWindow

__all__ = [
    "HUIJI_POLICY_FILE",
    "huiji_default_policy",
    "huiji_policy_text",
    "load_policy",
    "policy_from_toml",
    "policy_to_toml",
]

HUIJI_POLICY_FILE = "huiji_duty_policy.toml"

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Rules = TypeVar("_Rules", bound="DataclassInstance")


# --- reading ---------------------------------------------------------------------------------


def _day_types(table: TomlTable, name: str, default: Any = ()) -> tuple[DayType, ...]:
    return cast(tuple[DayType, ...], table.choices(name, DAY_TYPES, default))


def _read_slot(table: TomlTable) -> Slot:
    slot = Slot(
        id=table.text("id"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en", ""),
        start=table.clock("start"),
        end=table.clock("end"),
        kind=cast(SlotKind, table.choice("kind", SLOT_KINDS, "day")),
    )
    table.finish()
    return slot


def _read_slot_table(table: TomlTable) -> SlotTable:
    by_type: dict[str, tuple[Slot, ...]] = {}
    references: dict[str, str] = {}
    for day_type in DAY_TYPES:
        value = table.raw(day_type, None)
        if value is None:
            if day_type == "weekday":
                fail(table.key(day_type), "the weekday slots are required")
            references[day_type] = "weekday"
        elif isinstance(value, str):
            if value not in DAY_TYPES or value == day_type:
                fail(
                    table.key(day_type),
                    f"{value!r} names no other day type to take the slots of",
                )
            references[day_type] = value
        else:
            by_type[day_type] = tuple(_read_slot(t) for t in table.tables(day_type))
    for sharing, source in references.items():
        if source not in by_type:
            fail(table.key(sharing), f"{source} has no slots of its own to share")
        by_type[sharing] = by_type[source]
    table.finish()
    return SlotTable(by_type["weekday"], by_type["weekend"], by_type["holiday"])


def _read_windows(table: TomlTable, name: str) -> tuple[TimeWindow, ...]:
    texts = table.texts(name)
    windows = []
    for index, text in enumerate(texts):
        try:
            windows.append(TimeWindow.parse(text))
        except ValueError as exc:
            fail(f"{table.key(name)}[{index}]", str(exc))
    return tuple(windows)


def _read_levels(table: TomlTable) -> LevelRules:
    defaults = LevelRules()
    strict = _read_like(table.table("strict"), defaults.strict)
    controlled = _read_like(table.table("controlled"), defaults.controlled)
    guidance_table = table.table("regulated")
    roads_table = guidance_table.table("windows_by_road")
    by_road = tuple(
        RoadWindows(road, _read_windows(roads_table, road)) for road in roads_table.data
    )
    roads_table.finish()
    regulated = dataclasses.replace(
        defaults.regulated,
        **guidance_table.fields_like(defaults.regulated, skip=("role", "windows_by_road")),
        role=cast(GuidanceRole, guidance_table.choice("role", get_args(GuidanceRole), "any")),
        windows_by_road=by_road,
    )
    guidance_table.finish()
    table.finish()
    return LevelRules(strict, controlled, regulated)


def _read_operation(table: TomlTable) -> SpecialOperation:
    operation = SpecialOperation(
        id=table.text("id"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en", ""),
        kind=cast(OperationKind, table.choice("kind", OPERATION_KINDS)),
        day_types=_day_types(table, "day_types"),
        weekdays=table.integers("weekdays"),
        months=table.integers("months"),
        slots=table.texts("slots", REQUIRED),
        squad_ids=table.texts("squads"),
        zone_ids=table.texts("zones"),
        zone_kind=table.optional_text("zone_kind"),
        officers=table.integer("officers", 0),
        assistants=table.integer("assistants", 0),
        hard=table.flag("hard", True),
        weight=table.number("weight", SpecialOperation.weight),
    )
    table.finish()
    return operation


def _read_deployment(table: TomlTable) -> FullDeployment:
    deployment = FullDeployment(
        squad_id=table.text("squad"),
        day_types=_day_types(table, "day_types", REQUIRED),
        hard=table.flag("hard", True),
        weight=table.number("weight", FullDeployment.weight),
    )
    table.finish()
    return deployment


def _read_event(table: TomlTable) -> EventPost:
    point_value = table.raw("point", None)
    point: tuple[float, float] | None = None
    if point_value is not None:
        if (
            not isinstance(point_value, list)
            or len(point_value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point_value)
        ):
            fail(table.key("point"), f"must be [longitude, latitude], not {point_value!r}")
        point = (float(point_value[0]), float(point_value[1]))
    event = EventPost(
        id=table.text("id"),
        name_zh=table.text("name_zh"),
        name_en=table.text("name_en", ""),
        start_date=table.day("start_date"),
        end_date=table.day("end_date"),
        slots=table.texts("slots", REQUIRED),
        post_id=table.optional_text("post_id"),
        point=point,
        squad_id=table.optional_text("squad_id"),
        officers=table.integer("officers", EventPost.officers),
        assistants=table.integer("assistants", EventPost.assistants),
        hard=table.flag("hard", True),
        weight=table.number("weight", EventPost.weight),
    )
    table.finish()
    return event


def _read_like(table: TomlTable, defaults: _Rules) -> _Rules:
    """Return the rules in ``table``: ``defaults`` with the values the table gives."""
    rules = dataclasses.replace(defaults, **table.fields_like(defaults))
    table.finish()
    return rules


def _read_weights(table: TomlTable) -> SoftWeights:
    defaults = SoftWeights()
    coverage = _read_like(table.table("coverage"), defaults.coverage)
    weights = dataclasses.replace(
        defaults, coverage=coverage, **table.fields_like(defaults, skip=("coverage",))
    )
    table.finish()
    return weights


def policy_from_toml(text: str, *, file: str | None = None) -> DutyPolicy:
    """Return the policy written in the TOML ``text``.

    Parameters
    ----------
    text
        The policy, as :func:`policy_to_toml` writes it (see ``grids/data/huiji_duty_policy.toml``
        for every key, with comments).
    file
        The name of the file the text is from, for error messages.

    Raises
    ------
    InputFileError
        If the text is not valid TOML.
    FieldError
        If a key is unknown, missing or wrong, or the policy is inconsistent; ``field`` is the
        key path, e.g. ``slots.weekday[2].end``.
    """
    data = parse_toml(text, file=file)
    try:
        root = TomlTable(data, "")
        policy = DutyPolicy(
            version=root.integer("version"),
            name=root.text("name"),
            description=root.text("description", ""),
            slots=_read_slot_table(root.table("slots")),
            levels=_read_levels(root.table("levels")),
            operations=tuple(_read_operation(t) for t in root.tables("operations")),
            full_deployment=tuple(_read_deployment(t) for t in root.tables("full_deployment")),
            events=tuple(_read_event(t) for t in root.tables("events")),
            leader=_read_like(root.table("leader"), LeaderDuty()),
            labour=_read_like(root.table("labour"), LabourRules()),
            weights=_read_weights(root.table("weights")),
        )
        root.finish()
    except FieldError as exc:
        raise FieldError(exc.message, file=file, field=exc.field) from None
    return policy


def load_policy(path: str | Path) -> DutyPolicy:
    """Return the duty policy in the TOML file at ``path``.

    Raises
    ------
    InputFileError
        If the file cannot be read or is not valid TOML.
    FieldError
        If a key is unknown, missing or wrong, or the policy is inconsistent; the error names the
        file and the key path, e.g. ``slots.weekday[2].end``.
    """
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read the policy: {exc}", file=file.name) from None
    return policy_from_toml(text, file=file.name)


def huiji_policy_text() -> str:
    """Return the text of the bundled Huiji duty policy file, comments and all."""
    return (files("grids") / "data" / HUIJI_POLICY_FILE).read_text("utf-8")


def huiji_default_policy() -> DutyPolicy:
    """Return the bundled duty policy of Huiji District (``grids/data/huiji_duty_policy.toml``)."""
    return policy_from_toml(huiji_policy_text(), file=HUIJI_POLICY_FILE)


# --- writing ---------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, time):
        return json.dumps(clock_text(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, TimeWindow):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _lines(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in pairs]


def _slot_pairs(slot: Slot) -> list[tuple[str, Any]]:
    return [
        ("id", slot.id),
        ("name_zh", slot.name_zh),
        ("name_en", slot.name_en),
        ("start", slot.start),
        ("end", slot.end),
        ("kind", slot.kind),
    ]


def _operation_pairs(op: SpecialOperation) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("id", op.id),
        ("name_zh", op.name_zh),
        ("name_en", op.name_en),
        ("kind", op.kind),
    ]
    optional: list[tuple[str, Any]] = [
        ("day_types", op.day_types),
        ("weekdays", op.weekdays),
        ("months", op.months),
    ]
    pairs += [(k, v) for k, v in optional if v]
    pairs.append(("slots", op.slots))
    targets: list[tuple[str, Any]] = [
        ("squads", op.squad_ids),
        ("zones", op.zone_ids),
        ("zone_kind", op.zone_kind),
    ]
    pairs += [(k, v) for k, v in targets if v]
    pairs += [
        ("officers", op.officers),
        ("assistants", op.assistants),
        ("hard", op.hard),
        ("weight", op.weight),
    ]
    return pairs


def _event_pairs(event: EventPost) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("id", event.id),
        ("name_zh", event.name_zh),
        ("name_en", event.name_en),
        ("start_date", event.start_date),
        ("end_date", event.end_date),
        ("slots", event.slots),
    ]
    if event.post_id is not None:
        pairs.append(("post_id", event.post_id))
    if event.point is not None:
        pairs.append(("point", event.point))
    if event.squad_id is not None:
        pairs.append(("squad_id", event.squad_id))
    pairs += [
        ("officers", event.officers),
        ("assistants", event.assistants),
        ("hard", event.hard),
        ("weight", event.weight),
    ]
    return pairs


def _fields(obj: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]


def policy_to_toml(policy: DutyPolicy) -> str:
    """Return the policy as TOML text that :func:`load_policy` reads back to an equal policy.

    Day types whose slots equal the weekday slots are written as ``weekend = "weekday"``.
    """
    out = [
        "# Duty policy (值班规则) written by dutygrid. Keys are explained in the bundled",
        "# Huiji policy (grids/data/huiji_duty_policy.toml). Bump `version` on every change.",
        "",
        *_lines([("version", policy.version), ("name", policy.name)]),
    ]
    if policy.description:
        out += _lines([("description", policy.description)])
    deployments = [
        "{"
        + ", ".join(
            f"{k} = {_value(v)}"
            for k, v in (
                ("squad", d.squad_id),
                ("day_types", d.day_types),
                ("hard", d.hard),
                ("weight", d.weight),
            )
        )
        + "}"
        for d in policy.full_deployment
    ]
    if deployments:
        out.append("full_deployment = [")
        out += [f"    {d}," for d in deployments]
        out.append("]")
    shared = [
        (day_type, "weekday")
        for day_type in ("weekend", "holiday")
        if getattr(policy.slots, day_type) == policy.slots.weekday
    ]
    out += ["", "[slots]", *_lines(shared)]
    for day_type in DAY_TYPES:
        if day_type != "weekday" and (day_type, "weekday") in shared:
            continue
        for slot in getattr(policy.slots, day_type):
            out += ["", f"[[slots.{day_type}]]", *_lines(_slot_pairs(slot))]
    levels = policy.levels
    out += ["", "[levels.strict]", *_lines(_fields(levels.strict))]
    out += ["", "[levels.controlled]", *_lines(_fields(levels.controlled))]
    regulated = [(k, v) for k, v in _fields(levels.regulated) if k != "windows_by_road"]
    out += ["", "[levels.regulated]", *_lines(regulated)]
    out += ["", "[levels.regulated.windows_by_road]"]
    out += _lines((entry.road_name_zh, entry.windows) for entry in levels.regulated.windows_by_road)
    for op in policy.operations:
        out += ["", "[[operations]]", *_lines(_operation_pairs(op))]
    for event in policy.events:
        out += ["", "[[events]]", *_lines(_event_pairs(event))]
    out += ["", "[leader]", *_lines(_fields(policy.leader))]
    out += ["", "[labour]", *_lines(_fields(policy.labour))]
    weights = [(k, v) for k, v in _fields(policy.weights) if k != "coverage"]
    out += ["", "[weights]", *_lines(weights)]
    out += ["", "[weights.coverage]", *_lines(_fields(policy.weights.coverage))]
    return "\n".join(out) + "\n"
