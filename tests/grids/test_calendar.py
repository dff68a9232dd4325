"""The holiday calendar: 2026 PRC holidays with their make-up working days, and ISO weeks."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata.errors import FieldError
from grids.calendar import (
    HolidayCalendar,
    china_holidays,
    iso_week,
    load_holiday_calendar,
    week_dates,
)

HOLIDAYS_FILE = Path(__file__).parents[2] / "grids" / "data" / "holidays_cn.toml"


@pytest.fixture(scope="module")
def calendar() -> HolidayCalendar:
    return china_holidays()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_new_year_2026(calendar: HolidayCalendar) -> None:
    assert [calendar.day_type(d) for d in _days(date(2026, 1, 1), date(2026, 1, 3))] == [
        "holiday"
    ] * 3
    assert calendar.is_statutory(date(2026, 1, 1))
    assert not calendar.is_statutory(date(2026, 1, 2))
    # Sunday 4 January is worked for the Friday off.
    assert date(2026, 1, 4).isoweekday() == 7
    assert calendar.day_type(date(2026, 1, 4)) == "weekday"
    assert calendar.is_make_up_workday(date(2026, 1, 4))
    holiday = calendar.holiday(date(2026, 1, 2))
    assert holiday is not None
    assert holiday.name_zh == "元旦"


def test_spring_festival_2026(calendar: HolidayCalendar) -> None:
    off = _days(date(2026, 2, 15), date(2026, 2, 23))
    assert all(calendar.day_type(d) == "holiday" for d in off)
    assert len(off) == 9
    # Lunar New Year's Day 2026 is 17 February; eve to third day are the statutory days.
    statutory = [d for d in off if calendar.is_statutory(d)]
    assert statutory == _days(date(2026, 2, 16), date(2026, 2, 19))
    assert calendar.day_type(date(2026, 2, 24)) == "weekday"
    assert calendar.day_type(date(2026, 2, 13)) == "weekday"


@pytest.mark.parametrize("day", [date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9)])
def test_make_up_saturday_is_a_weekday(calendar: HolidayCalendar, day: date) -> None:
    assert day.isoweekday() == 6
    assert calendar.day_type(day) == "weekday"
    assert calendar.is_make_up_workday(day)
    assert calendar.holiday(day) is None


def test_national_day_2026(calendar: HolidayCalendar) -> None:
    assert all(
        calendar.day_type(d) == "holiday" for d in _days(date(2026, 10, 1), date(2026, 10, 7))
    )
    assert calendar.day_type(date(2026, 10, 8)) == "weekday"
    assert calendar.day_type(date(2026, 9, 20)) == "weekday"  # a Sunday, worked
    assert calendar.day_type(date(2026, 10, 10)) == "weekday"  # a Saturday, worked
    assert calendar.day_type(date(2026, 10, 11)) == "weekend"
    # Mid-Autumn (25 September) is a separate holiday a week before.
    assert calendar.day_type(date(2026, 9, 25)) == "holiday"


def test_the_file_matches_the_statutory_count(calendar: HolidayCalendar) -> None:
    data = tomllib.loads(HOLIDAYS_FILE.read_text("utf-8"))
    year = date(2026, 1, 1)
    statutory = [d for d in _days(year, date(2026, 12, 31)) if calendar.is_statutory(d)]
    listed = [d for entry in data["holiday"] for d in entry["statutory"]]
    assert len(statutory) == len(listed) == 13  # 《全国年节及纪念日放假办法》 since 2025
    make_up = [d for entry in data["holiday"] for d in entry["make_up_workdays"]]
    assert all(d.isoweekday() >= 6 for d in make_up)
    assert all(calendar.day_type(d) == "weekday" for d in make_up)
    off = [d for d in _days(year, date(2026, 12, 31)) if calendar.day_type(d) == "holiday"]
    assert len(off) == sum((e["end"] - e["start"]).days + 1 for e in data["holiday"])


def test_ordinary_days(calendar: HolidayCalendar) -> None:
    week = calendar.week_dates("2026-W49")
    assert [calendar.day_type(d) for d in week] == ["weekday"] * 5 + ["weekend"] * 2


def test_year_not_covered_is_refused() -> None:
    strict = china_holidays()
    with pytest.raises(ValueError, match="does not cover 2027"):
        strict.day_type(date(2027, 1, 1))
    lenient = china_holidays(strict=False)
    assert lenient.day_type(date(2027, 3, 6)) == "weekend"
    assert lenient.day_type(date(2027, 3, 8)) == "weekday"


def test_iso_weeks() -> None:
    week = week_dates("2026-W49")
    assert week[0] == date(2026, 11, 30)
    assert week[-1] == date(2026, 12, 6)
    assert [d.isoweekday() for d in week] == list(range(1, 8))
    # ISO week 1 of 2026 starts in 2025; 2026 has 53 ISO weeks, 2025 has 52.
    assert week_dates("2026W01")[0] == date(2025, 12, 29)
    assert week_dates("2026-W53")[-1] == date(2027, 1, 3)
    with pytest.raises(ValueError, match="no ISO week 53"):
        week_dates("2025-W53")
    with pytest.raises(ValueError, match="not an ISO week"):
        week_dates("2026-12")


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_iso_week_round_trip(day: date) -> None:
    assert day in week_dates(iso_week(day))


def test_user_file(tmp_path: Path) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(
        'years = [2030]\n\n[[holiday]]\nname_zh = "测试节"\nstart = 2030-03-04\n'
        'end = "2030-03-06"\nstatutory = [2030-03-05]\nmake_up_workdays = [2030-03-09]\n',
        "utf-8",
    )
    calendar = load_holiday_calendar(path)
    assert calendar.years == {2030}
    assert calendar.day_type(date(2030, 3, 4)) == "holiday"
    assert calendar.day_type(date(2030, 3, 9)) == "weekday"
    assert calendar.day_type(date(2030, 3, 10)) == "weekend"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ('name_zh = "x"\nstart = 2030-03-06\nend = 2030-03-04\n', "holiday[0].end"),
        (
            'name_zh = "x"\nstart = 2030-03-04\nend = 2030-03-06\nstatutory = [2030-03-08]\n',
            "holiday[0].statutory[0]",
        ),
        (
            'name_zh = "x"\nstart = 2030-03-04\nend = 2030-03-06\n'
            "make_up_workdays = [2030-03-07]\n",
            "holiday",
        ),
        ('name_zh = "x"\nstart = "March"\nend = 2030-03-06\n', "holiday[0].start"),
        ('name_zh = "x"\nstart = 2030-03-04\nend = 2030-03-06\nfrom = 1\n', "holiday[0].from"),
    ],
)
def test_bad_user_file(tmp_path: Path, entry: str, field: str) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(f"years = [2030]\n\n[[holiday]]\n{entry}", "utf-8")
    with pytest.raises(FieldError) as caught:
        load_holiday_calendar(path)
    assert caught.value.field == field
    assert caught.value.file == "holidays.toml"
