"""Times of day as the duty policy counts them: minutes since midnight, ``HH:MM`` text."""

from __future__ import annotations

from datetime import time

MINUTES_PER_DAY = 24 * 60


def clock_text(value: time) -> str:
    """Return ``value`` written ``HH:MM``."""
    return f"{value.hour:02d}:{value.minute:02d}"


def minute_of_day(value: time) -> int:
    """Return the minutes from midnight to ``value``."""
    return value.hour * 60 + value.minute


def span_minutes(start: time, end: time) -> int:
    """Return the minutes from ``start`` to ``end``; an end at or before the start is next day."""
    return (minute_of_day(end) - minute_of_day(start)) % MINUTES_PER_DAY or MINUTES_PER_DAY
