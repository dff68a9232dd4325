"""The holiday calendar: which days are weekdays, weekends or public holidays in China.

PRC public holidays come with official make-up working days (调休上班): a Saturday or Sunday worked
to lengthen a holiday, which counts as a weekday. The arrangement is published each year by the
General Office of the State Council; ``grids/data/holidays_cn.toml`` holds it, and users may edit
it or load their own file (:func:`load_holiday_calendar`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, NoReturn

from geodata.errors import FieldError, InputFileError
from grids._toml import parse_toml
from grids.policy import DayType

__all__ = [
    "Holiday",
    "HolidayCalendar",
    "china_holidays",
    "holiday_calendar_from_toml",
    "iso_week",
    "load_holiday_calendar",
    "week_dates",
]

HOLIDAYS_FILE = "holidays_cn.toml"
_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


def week_dates(week: str) -> list[date]:
    """Return the seven dates, Monday to Sunday, of the ISO week ``week`` (``2026-W49``).

    Raises
    ------
    ValueError
        If ``week`` is not an ISO week, or the year has no such week.
    """
    match = _WEEK.match(week)
    if not match:
        raise ValueError(f"{week!r} is not an ISO week such as 2026-W49")
    year, number = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    return [monday + timedelta(days=n) for n in range(7)]


def iso_week(day: date) -> str:
    """Return the ISO week ``day`` is in, as ``2026-W49``."""
    year, number, _ = day.isocalendar()
    return f"{year:04d}-W{number:02d}"


@dataclass(frozen=True)
class Holiday:
    """A public holiday as the State Council arranges it.

    Parameters
    ----------
    name_zh, name_en
        ``春节`` / ``Spring Festival``.
    start, end
        The first and last day off (inclusive), weekends inside included.
    statutory
        The statutory holiday days themselves (法定节假日), on which work is paid at 300 %.
    make_up_workdays
        Saturdays and Sundays worked instead (调休上班).
    """

    name_zh: str
    name_en: str
    start: date
    end: date
    statutory: tuple[date, ...] = ()
    make_up_workdays: tuple[date, ...] = ()

    def days_off(self) -> list[date]:
        """Return the days off, first to last."""
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


class HolidayCalendar:
    """The day types of the dates of the years it covers.

    Parameters
    ----------
    holidays
        The holidays; their days off must not overlap.
    years
        The years the holidays cover completely. :meth:`day_type` refuses dates of other years
        unless ``strict`` is False.
    strict
        Whether a date outside ``years`` is an error (True) or a plain weekday or weekend.

    Raises
    ------
    ValueError
        If holidays overlap, or a make-up working day is not a Saturday or Sunday or falls on a
        day off.
    """

    def __init__(
        self, holidays: Iterable[Holiday], *, years: Collection[int], strict: bool = True
    ) -> None:
        self.holidays: tuple[Holiday, ...] = tuple(sorted(holidays, key=lambda h: h.start))
        self.years: frozenset[int] = frozenset(years)
        self.strict = strict
        self._off: dict[date, Holiday] = {}
        self._make_up: dict[date, Holiday] = {}
        for holiday in self.holidays:
            for day in holiday.days_off():
                if day in self._off:
                    raise ValueError(
                        f"{holiday.name_zh} and {self._off[day].name_zh} both have {day} off"
                    )
                self._off[day] = holiday
        for holiday in self.holidays:
            for day in holiday.make_up_workdays:
                if day.isoweekday() < 6:
                    raise ValueError(
                        f"{holiday.name_zh}: make-up working day {day} is not a Saturday or Sunday"
                    )
                if day in self._off:
                    raise ValueError(f"{holiday.name_zh}: make-up working day {day} is a day off")
                self._make_up[day] = holiday

    def __repr__(self) -> str:
        return f"HolidayCalendar({len(self.holidays)} holidays, years={sorted(self.years)})"

    def _check_year(self, day: date) -> None:
        if self.strict and day.year not in self.years:
            covered = ", ".join(str(y) for y in sorted(self.years)) or "none"
            raise ValueError(
                f"the holiday calendar does not cover {day.year} (it covers {covered}): add that "
                "year's holidays and make-up working days from the State Council's notice"
            )

    def day_type(self, day: date) -> DayType:
        """Return ``holiday``, ``weekend`` or ``weekday``; a make-up working day is a weekday.

        Raises
        ------
        ValueError
            If the calendar is strict and does not cover the year of ``day``.
        """
        self._check_year(day)
        if day in self._off:
            return "holiday"
        if day in self._make_up:
            return "weekday"
        return "weekend" if day.isoweekday() >= 6 else "weekday"

    def holiday(self, day: date) -> Holiday | None:
        """Return the holiday ``day`` is a day off of, if any."""
        return self._off.get(day)

    def is_make_up_workday(self, day: date) -> bool:
        """Return whether ``day`` is a Saturday or Sunday worked for a holiday (调休上班)."""
        return day in self._make_up

    def is_statutory(self, day: date) -> bool:
        """Return whether ``day`` is a statutory holiday day (法定节假日)."""
        holiday = self._off.get(day)
        return holiday is not None and day in holiday.statutory

    def week_dates(self, week: str) -> list[date]:
        """Return the dates of the ISO week ``week`` (``2026-W49``), Monday to Sunday.

        Raises
        ------
        ValueError
            If ``week`` is not an ISO week.
        """
        return week_dates(week)

    def day_types(self, days: Sequence[date]) -> list[DayType]:
        """Return the day type of each of ``days``.

        Raises
        ------
        ValueError
            If the calendar is strict and does not cover the year of one of ``days``.
        """
        return [self.day_type(day) for day in days]


def _fail(file: str | None, key: str, message: str) -> NoReturn:
    raise FieldError(message, file=file, field=key)


def _date(value: Any, file: str | None, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    _fail(file, key, f"must be a date YYYY-MM-DD, not {value!r}")


def _dates(value: Any, file: str | None, key: str) -> tuple[date, ...]:
    if not isinstance(value, list):
        _fail(file, key, f"must be a list of dates, not {value!r}")
    return tuple(_date(item, file, f"{key}[{i}]") for i, item in enumerate(value))


def _holiday(entry: Any, file: str | None, key: str) -> Holiday:
    if not isinstance(entry, dict):
        _fail(file, key, "must be a table")
    known = {"name_zh", "name_en", "start", "end", "statutory", "make_up_workdays"}
    for name in entry:
        if name not in known:
            _fail(file, f"{key}.{name}", f"unknown key (known: {', '.join(sorted(known))})")
    for name in ("name_zh", "start", "end"):
        if name not in entry:
            _fail(file, f"{key}.{name}", "is required")
    name_zh, name_en = entry["name_zh"], entry.get("name_en", "")
    if not isinstance(name_zh, str) or not name_zh.strip():
        _fail(file, f"{key}.name_zh", "must be non-empty text")
    if not isinstance(name_en, str):
        _fail(file, f"{key}.name_en", "must be text")
    start = _date(entry["start"], file, f"{key}.start")
    end = _date(entry["end"], file, f"{key}.end")
    if end < start:
        _fail(file, f"{key}.end", f"{end} is before the start {start}")
    statutory = _dates(entry.get("statutory", []), file, f"{key}.statutory")
    for index, day in enumerate(statutory):
        if not start <= day <= end:
            _fail(file, f"{key}.statutory[{index}]", f"{day} is not between {start} and {end}")
    make_up = _dates(entry.get("make_up_workdays", []), file, f"{key}.make_up_workdays")
    return Holiday(name_zh, name_en, start, end, statutory, make_up)


def holiday_calendar_from_toml(
    text: str, *, file: str | None = None, strict: bool = True
) -> HolidayCalendar:
    """Return the calendar written in TOML ``text`` (see ``grids/data/holidays_cn.toml``).

    Raises
    ------
    InputFileError
        If the text is not valid TOML.
    FieldError
        If a key is missing or wrong; ``field`` is the key path, e.g. ``holiday[1].end``.
    """
    data = parse_toml(text, file=file)
    for name in data:
        if name not in {"years", "holiday"}:
            _fail(file, name, "unknown key (known: holiday, years)")
    years = data.get("years")
    if (
        not isinstance(years, list)
        or not years
        or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
    ):
        _fail(file, "years", "must list the years the file covers, e.g. years = [2026]")
    entries = data.get("holiday", [])
    if not isinstance(entries, list):
        _fail(file, "holiday", "must be an array of tables ([[holiday]])")
    holidays = [_holiday(entry, file, f"holiday[{i}]") for i, entry in enumerate(entries)]
    for index, holiday in enumerate(holidays):
        if holiday.start.year not in years and holiday.end.year not in years:
            _fail(file, f"holiday[{index}].start", f"{holiday.start.year} is not in years")
    try:
        return HolidayCalendar(holidays, years=years, strict=strict)
    except ValueError as exc:
        raise FieldError(str(exc), file=file, field="holiday") from None


def load_holiday_calendar(path: str | Path, *, strict: bool = True) -> HolidayCalendar:
    """Return the holiday calendar in the TOML file at ``path``.

    Raises
    ------
    InputFileError
        If the file cannot be read or is not valid TOML.
    FieldError
        If a key is missing or wrong; the error names the file and the key path.
    """
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read the holiday calendar: {exc}", file=file.name) from None
    return holiday_calendar_from_toml(text, file=file.name, strict=strict)


@functools.cache
def china_holidays(*, strict: bool = True) -> HolidayCalendar:
    """Return the bundled PRC holiday calendar (``grids/data/holidays_cn.toml``).

    The file ships with the package and a calendar is never changed once made, so it is read
    once per process.
    """
    resource = files("grids") / "data" / HOLIDAYS_FILE
    text = resource.read_text("utf-8")
    return holiday_calendar_from_toml(text, file=HOLIDAYS_FILE, strict=strict)
