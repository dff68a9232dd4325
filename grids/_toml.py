"""Reading TOML settings files: each value checked, each error naming its key path.

:class:`TomlTable` wraps one table of a parsed file; its readers check a value's type and raise
:class:`geodata.errors.FieldError` with the key path (``slots.weekday[2].end``) and what is wrong,
and :meth:`TomlTable.finish` refuses the keys nobody read.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any, NoReturn

from geodata.errors import FieldError, InputFileError
from grids.policy_slots import parse_clock

REQUIRED: Any = object()
"""The default of a key that must be given."""


def fail(path: str, message: str) -> NoReturn:
    """Raise a :class:`~geodata.errors.FieldError` for the key at ``path``."""
    raise FieldError(message, field=path)


def parse_toml(text: str, *, file: str | None = None) -> dict[str, Any]:
    """Return the tables of the TOML ``text``.

    Raises
    ------
    InputFileError
        If the text is not valid TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"not valid TOML: {exc}", file=file) from None


class TomlTable:
    """A TOML table being read, which knows its key path and refuses unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            fail(path, f"must be a table, not {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        """Return the key path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def raw(self, name: str, default: Any = REQUIRED) -> Any:
        """Return the value of ``name`` as it is, or ``default``."""
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is REQUIRED:
            fail(self.key(name), "is required")
        return default

    def text(self, name: str, default: Any = REQUIRED) -> str:
        """Return the text value of ``name``."""
        value = self.raw(name, default)
        if not isinstance(value, str):
            fail(self.key(name), f"must be text, not {value!r}")
        return value

    def optional_text(self, name: str) -> str | None:
        """Return the non-empty text value of ``name``, or None if it is not given."""
        value = self.raw(name, None)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            fail(self.key(name), f"must be non-empty text, not {value!r}")
        return value

    def integer(self, name: str, default: Any = REQUIRED) -> int:
        """Return the whole number value of ``name``."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            fail(self.key(name), f"must be a whole number, not {value!r}")
        return value

    def number(self, name: str, default: Any = REQUIRED) -> float:
        """Return the number value of ``name``, as a float."""
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(self.key(name), f"must be a number, not {value!r}")
        return float(value)

    def flag(self, name: str, default: Any = REQUIRED) -> bool:
        """Return the true-or-false value of ``name``."""
        value = self.raw(name, default)
        if not isinstance(value, bool):
            fail(self.key(name), f"must be true or false, not {value!r}")
        return value

    def clock(self, name: str, default: Any = REQUIRED) -> time:
        """Return the time of day of ``name``: a TOML time or text ``HH:MM``."""
        value = self.raw(name, default)
        if isinstance(value, time):
            return value.replace(second=0, microsecond=0)
        if not isinstance(value, str):
            fail(self.key(name), f'must be a time of day "HH:MM", not {value!r}')
        try:
            return parse_clock(value)
        except ValueError as exc:
            fail(self.key(name), str(exc))

    def day(self, name: str) -> date:
        """Return the date of ``name``: a TOML date or text ``YYYY-MM-DD``."""
        value = self.raw(name)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        fail(self.key(name), f"must be a date YYYY-MM-DD, not {value!r}")

    def texts(self, name: str, default: Any = ()) -> tuple[str, ...]:
        """Return the list of non-empty texts of ``name`` (a lone text is a list of one)."""
        value = self.raw(name, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            fail(self.key(name), f"must be a list of text, not {value!r}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                fail(f"{self.key(name)}[{index}]", f"must be non-empty text, not {item!r}")
        return tuple(value)

    def integers(self, name: str) -> tuple[int, ...]:
        """Return the list of whole numbers of ``name`` (empty if it is not given)."""
        value = self.raw(name, [])
        if not isinstance(value, list):
            fail(self.key(name), f"must be a list of whole numbers, not {value!r}")
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                fail(f"{self.key(name)}[{index}]", f"must be a whole number, not {item!r}")
        return tuple(value)

    def choice(self, name: str, allowed: tuple[str, ...], default: Any = REQUIRED) -> str:
        """Return the text of ``name``, one of ``allowed``."""
        value = self.text(name, default)
        if value not in allowed:
            fail(self.key(name), f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def choices(self, name: str, allowed: tuple[str, ...], default: Any = ()) -> tuple[str, ...]:
        """Return the list of texts of ``name``, each one of ``allowed``."""
        values = self.texts(name, default)
        for index, value in enumerate(values):
            if value not in allowed:
                fail(f"{self.key(name)}[{index}]", f"{value!r} is not one of {', '.join(allowed)}")
        return values

    def fields_like(self, defaults: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """Return the values of the fields of the dataclass ``defaults``, each of its type.

        A field whose default is true or false is read with :meth:`flag`, a whole number with
        :meth:`integer`, a float with :meth:`number`, a time with :meth:`clock` and text with
        :meth:`text`; a missing key keeps the default. The fields in ``skip`` are left out.
        """
        readers: tuple[tuple[type, Callable[[str, Any], Any]], ...] = (
            (bool, self.flag),
            (int, self.integer),
            (float, self.number),
        )
        values: dict[str, Any] = {}
        for item in dataclasses.fields(defaults):
            if item.name in skip:
                continue
            default = getattr(defaults, item.name)
            if isinstance(default, time):
                values[item.name] = self.clock(item.name, default)
                continue
            read = next((r for kind, r in readers if isinstance(default, kind)), self.text)
            values[item.name] = read(item.name, default)
        return values

    def table(self, name: str) -> TomlTable:
        """Return the table ``name`` (empty if it is not given)."""
        return TomlTable(self.raw(name, {}), self.key(name))

    def tables(self, name: str) -> list[TomlTable]:
        """Return the array of tables ``name`` (empty if it is not given)."""
        value = self.raw(name, [])
        if not isinstance(value, list):
            fail(self.key(name), "must be an array of tables ([[...]])")
        return [TomlTable(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        """Refuse the keys of the table that were not read."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            fail(self.key(unknown[0]), f"unknown key (known keys here: {known})")
