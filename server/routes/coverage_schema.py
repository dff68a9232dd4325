"""The JSON Schema of the coverage answers (:mod:`server.routes.coverage`) for the OpenAPI document.

The answers are built from tables (:mod:`grids.coverage`); their rows are described here by their
fields rather than typed one by one, as a missing value of any of them is written as null.
"""

from __future__ import annotations

from typing import Any, Final

TEXT: Final[dict[str, Any]] = {"type": "string"}


def _rows(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object"}, "description": description}


_LOCAL_TIME: Final[dict[str, Any]] = {
    "type": "string",
    "description": "a local time (China Standard Time), ISO 8601 without an offset",
}

_SLOT: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["id", "name_zh", "name_en", "kind", "start", "end"],
    "properties": {
        "id": TEXT,
        "name_zh": TEXT,
        "name_en": TEXT,
        "kind": TEXT,
        "start": _LOCAL_TIME,
        "end": _LOCAL_TIME,
    },
}

_PROPERTIES: Final[dict[str, Any]] = {
    "date": {"type": "string", "format": "date", "description": "the duty day"},
    "slot": {"anyOf": [_SLOT, {"type": "null"}], "description": "the slot; null for the day"},
    "slots": {"type": "array", "items": _SLOT, "description": "the day's slots in time order"},
    "roster": {
        "type": "object",
        "required": ["id", "status", "source", "assignments"],
        "properties": {
            "id": {"type": ["string", "null"]},
            "status": {"type": ["string", "null"]},
            "source": TEXT,
            "assignments": {"type": "integer", "minimum": 0},
        },
        "description": "the roster read: id, status, source, its assignments on the day",
    },
    "summary": {
        "type": "object",
        "description": "the headline figures: strict_coverage, strict_posts_required and "
        "_covered, strict_required_m and _covered_m, required_m, covered_m, gaps, strict_gaps, "
        "officers_on_duty, assistants_on_duty, leaders, seamless",
    },
    "seamless": {
        "type": "object",
        "description": "whether every strict requirement is met: seamless, required_slots, "
        "broken_slots, breaks, uncovered_minutes",
    },
    "timeline": _rows("the day slot by slot: requirements, met, gaps, people, lengths"),
    "lengths": {
        "type": "object",
        "additionalProperties": _rows(
            "required_m, covered_m, partly_m, gap_m, not_required_m and coverage by a key"
        ),
        "description": "road length by road, level and squad (and responsibility_grid and "
        "subdistrict when the posts are measured against unit grids)",
    },
    "gaps": _rows("the requirements left short, with why (reason, reason_zh, reason_en)"),
    "posts": _rows(
        "only with detail=posts: each post's post_id, kind, level, road_name_zh, squad_id, "
        "length_m, status, required, required_officers, required_any, counted, officers, "
        "assistants, people"
    ),
}

_REQUIRED: Final = ["date", "slot", "slots", "roster", "summary", "seamless", "timeline"]

COVERAGE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": [*_REQUIRED, "lengths", "gaps"],
    "properties": _PROPERTIES,
}
"""The answer of ``GET /coverage``."""

COVERAGE_NOW_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["now", *COVERAGE_SCHEMA["required"]],
    "properties": {
        "now": _LOCAL_TIME,
        **_PROPERTIES,
    },
}
"""The answer of ``GET /coverage/now``: that of its slot, and the moment."""
