"""Duty policy (值班规则): the slots of a duty day and what must be staffed in them.

A :class:`DutyPolicy` says how a day is cut into slots (值班时间段) for each day type (weekday,
weekend, holiday), what each management level of post needs (strict posts an officer in every day
slot, controlled posts a patrol at least every few hours, guidance points staffed in their
windows), which special operations, full deployments and temporary event posts there are, how the
duty leader (带班领导) rotates, the labour rules a roster must keep, and the soft weights of the
roster's objective. :mod:`grids.demand` turns a policy, the posts and a week into requirements.

Policies are read from and written to TOML (:func:`load_policy`, :func:`policy_to_toml`); every
object is frozen and checked when it is made, so a policy in hand is a valid one. A policy carries
a ``version`` that :meth:`DutyPolicy.revised` bumps on every change and a content
:meth:`~DutyPolicy.fingerprint`, so a roster can record the rules it was made under.

This module gathers the policy's parts, which live in their own modules: the slots and time
windows (:mod:`grids.policy_slots`), the level, leader, labour and weight rules
(:mod:`grids.policy_rules`), the special duties (:mod:`grids.policy_operations`), the policy
itself (:mod:`grids.duty_policy`), its checks (:mod:`grids.policy_checks`) and its TOML
(:mod:`grids.policy_toml`).
"""

from __future__ import annotations

from grids.duty_policy import DutyPolicy, policy_as_dict
from grids.policy_operations import (
    OPERATION_KINDS,
    EventPost,
    FullDeployment,
    OperationKind,
    SpecialOperation,
)
from grids.policy_rules import (
    GuidanceRole,
    GuidanceRule,
    LabourRules,
    LeaderDuty,
    LevelRules,
    LevelWeights,
    PatrolRule,
    RoadWindows,
    SoftWeights,
    StrictRule,
)
from grids.policy_slots import (
    DAY_TYPES,
    MINUTES_PER_DAY,
    SLOT_KINDS,
    DayType,
    Slot,
    SlotKind,
    SlotTable,
    TimeWindow,
    parse_clock,
    parse_windows,
)
from grids.policy_toml import (
    HUIJI_POLICY_FILE,
    huiji_default_policy,
    huiji_policy_text,
    load_policy,
    policy_from_toml,
    policy_to_toml,
)

__all__ = [
    "DAY_TYPES",
    "HUIJI_POLICY_FILE",
    "MINUTES_PER_DAY",
    "OPERATION_KINDS",
    "SLOT_KINDS",
    "DayType",
    "DutyPolicy",
    "EventPost",
    "FullDeployment",
    "GuidanceRole",
    "GuidanceRule",
    "LabourRules",
    "LeaderDuty",
    "LevelRules",
    "LevelWeights",
    "OperationKind",
    "PatrolRule",
    "RoadWindows",
    "Slot",
    "SlotKind",
    "SlotTable",
    "SoftWeights",
    "SpecialOperation",
    "StrictRule",
    "TimeWindow",
    "huiji_default_policy",
    "huiji_policy_text",
    "load_policy",
    "parse_clock",
    "parse_windows",
    "policy_as_dict",
    "policy_from_toml",
    "policy_to_toml",
]
