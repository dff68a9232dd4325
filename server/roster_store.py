"""Where rostering keeps its inputs and results: duty policies, staff and rosters.

:class:`RosterStore` works on a :class:`~server.storage.Store`'s database (the tables of migration
step 5, see :mod:`server.migrations`). Every write is one transaction: a staff list is replaced
whole, a roster is written with all its assignments, or nothing is.

- Duty policies are kept by version, with their content fingerprint and TOML text; a version is
  never overwritten with other rules.
- Staff are rows (id, name, squad, role, demo) with the rest of an :class:`~grids.staff.Officer`
  as JSON.
- A roster has an id (``<week>-<n>``), its week, a status (``draft`` or ``published``), the
  version and fingerprint of the policy it was made under, the solver's report as JSON, the id of
  the roster it re-planned, and a ``version`` that every change bumps (for HTTP ETags).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geodata.errors import FieldError
from grids.policy import DutyPolicy, huiji_default_policy, policy_from_toml, policy_to_toml
from grids.roster import (
    ASSIGNMENT_COLUMNS,
    TASKS,
    RosterInfo,
    RosterStatus,
    check_assignments,
    empty_assignments,
)
from grids.staff import LeavePeriod, Officer, StaffRequest
from server._frames import dump_json
from server.migrations import (
    StorageError,
    duty_policies_table,
    roster_assignments_table,
    rosters_table,
    staff_table,
)
from server.storage import Store

__all__ = [
    "BUNDLED_POLICY_SOURCE",
    "PolicyConflictError",
    "RosterConflictError",
    "RosterStore",
    "StoredRoster",
    "officer_from_dict",
    "officer_to_dict",
]

BUNDLED_POLICY_SOURCE = "bundled:huiji"
"""The source named for the bundled Huiji duty policy, used while no policy is stored."""

_INSERT_BATCH = 5_000
_STATUSES: tuple[RosterStatus, ...] = ("draft", "published")


class PolicyConflictError(StorageError):
    """A policy whose version is already stored with other rules."""


class RosterConflictError(StorageError):
    """A roster changed by someone else since it was read (its version differs)."""


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def officer_to_dict(officer: Officer) -> dict[str, Any]:
    """Return a person as JSON-ready values (read back by :func:`officer_from_dict`)."""
    return {
        "id": officer.id,
        "name": officer.name,
        "squad_id": officer.squad_id,
        "role": officer.role,
        "contract_hours_week": officer.contract_hours_week,
        "phone": officer.phone,
        "availability": {str(k): sorted(v) for k, v in officer.availability.items()},
        "leave": [
            {"start": p.start.isoformat(), "end": p.end.isoformat(), "kind": p.kind}
            for p in officer.leave
        ],
        "requests": [
            {"date": r.date.isoformat(), "slot_id": r.slot_id, "on": r.on, "weight": r.weight}
            for r in officer.requests
        ],
        "demo": officer.demo,
    }


def officer_from_dict(data: dict[str, Any]) -> Officer:
    """Return the person :func:`officer_to_dict` wrote."""
    return Officer(
        id=data["id"],
        name=data["name"],
        squad_id=data["squad_id"],
        role=data["role"],
        contract_hours_week=float(data["contract_hours_week"]),
        phone=data.get("phone"),
        availability={int(k): frozenset(v) for k, v in data.get("availability", {}).items()},
        leave=tuple(
            LeavePeriod(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]), p["kind"])
            for p in data.get("leave", [])
        ),
        requests=tuple(
            StaffRequest(
                date.fromisoformat(r["date"]), r["slot_id"], bool(r["on"]), float(r["weight"])
            )
            for r in data.get("requests", [])
        ),
        demo=bool(data.get("demo", False)),
    )


@dataclass(frozen=True)
class StoredRoster:
    """A roster as stored: what it was made from, its version and based-on roster, and its rows.

    Parameters
    ----------
    info
        Id, week, policy, status, creation time and the solver's report.
    version
        Bumped by every change of the roster (its ETag).
    based_on
        The roster it was re-planned from, if any.
    assignments
        The assignment table (:mod:`grids.roster`); empty when read without rows.
    assignment_count
        How many assignments it has, when read counted (in the same statement as the rest).
    """

    info: RosterInfo
    version: int
    based_on: str | None
    assignments: pd.DataFrame
    assignment_count: int | None = None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _plain_text(value: str | None) -> str | None:
    """Return a stored text stripped, None if empty (as a roster table's rows give it)."""
    if value is None:
        return None
    return value.strip() or None


def _checked_rows(roster_id: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return records as rows of the assignment table, checked as a roster table is.

    The rules of :func:`grids.roster.check_assignments`, row by row, without building a table
    (a few rows of a change).
    """
    rows = []
    for number, record in enumerate(records, 1):
        missing = [c for c in ASSIGNMENT_COLUMNS if c not in record]
        if missing:
            raise FieldError(
                f"a roster needs the columns {', '.join(missing)}", file="roster", field=missing[0]
            )
        for column in ("officer_id", "date", "slot_id", "start", "end", "task"):
            if _text(record[column]) is None or record[column] is pd.NaT:
                raise FieldError(
                    "a value is required here", file="roster", row=number, field=column
                )
        if record["task"] not in TASKS:
            raise FieldError(
                f"unknown task {record['task']!r}; tasks are {', '.join(TASKS)}",
                file="roster",
                row=number,
                field="task",
            )
        if pd.Timestamp(record["end"]) <= pd.Timestamp(record["start"]):
            raise FieldError(
                "the slot ends before it starts", file="roster", row=number, field="end"
            )
        rows.append(_assignment_row(roster_id, record))
    return rows


def _assignment_row(roster_id: str, record: Mapping[Any, Any]) -> dict[str, Any]:
    """Return one record as a row of the assignment table."""
    day = record["date"]
    return {
        "roster_id": roster_id,
        "officer_id": str(record["officer_id"]),
        "role": str(record["role"]),
        "squad_id": _text(record["squad_id"]),
        "date": day.isoformat() if isinstance(day, date) else str(day),
        "slot_id": str(record["slot_id"]),
        "start": pd.Timestamp(record["start"]).isoformat(),
        "end": pd.Timestamp(record["end"]).isoformat(),
        "post_id": _text(record["post_id"]),
        "task": str(record["task"]),
        "requirement_id": _text(record["requirement_id"]),
        "pinned": bool(record["pinned"]),
    }


def _assignment_rows(roster_id: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_assignment_row(roster_id, record) for record in frame.to_dict("records")]


def _assignment_frame(rows: Sequence[Any]) -> pd.DataFrame:
    if not rows:
        return empty_assignments()
    frame = pd.DataFrame(
        {
            "officer_id": pd.Series([r.officer_id for r in rows], dtype=object),
            "role": pd.Series([r.role for r in rows], dtype=object),
            "squad_id": pd.Series([r.squad_id for r in rows], dtype=object),
            "date": pd.Series([date.fromisoformat(r.date) for r in rows], dtype=object),
            "slot_id": pd.Series([r.slot_id for r in rows], dtype=object),
            "start": pd.to_datetime(pd.Series([r.start for r in rows])).astype("datetime64[ns]"),
            "end": pd.to_datetime(pd.Series([r.end for r in rows])).astype("datetime64[ns]"),
            "post_id": pd.Series([r.post_id for r in rows], dtype=object),
            "task": pd.Series([r.task for r in rows], dtype=object),
            "requirement_id": pd.Series([r.requirement_id for r in rows], dtype=object),
            "pinned": pd.Series([bool(r.pinned) for r in rows], dtype=bool),
        }
    )
    return check_assignments(frame[list(ASSIGNMENT_COLUMNS)])


# Built once: a store is made per request, and statements on the same tables reuse their
# compiled form (SQLAlchemy's statement cache).
_METADATA = sa.MetaData()
_POLICIES = duty_policies_table(_METADATA)
_STAFF = staff_table(_METADATA)
_ROSTERS = rosters_table(_METADATA)
_ASSIGNMENTS = roster_assignments_table(_METADATA)


def assignment_order(table: sa.Table) -> tuple[sa.Column[Any], ...]:
    """Return the order rows of ``table`` are read in: day, start, officer, slot.

    Every read of a roster's rows takes them in this order, so that two reads of the same rows
    give the same table (rows that sort alike keep it).
    """
    return (table.c.date, table.c.start, table.c.officer_id, table.c.slot_id)


def head_columns(table: sa.Table) -> list[Any]:
    """Return the columns of a roster's row with its report read as an empty document."""
    return [*(c for c in table.c if c.name != "report"), sa.literal("{}").label("report")]


_NO_ROWS = empty_assignments()
"""The assignments of a roster read without its rows (copied: building one takes milliseconds)."""


@lru_cache(maxsize=8)
def _parsed_policy(text: str) -> DutyPolicy:
    """Return the policy of a stored TOML text, parsed once (a policy is immutable)."""
    return policy_from_toml(text, file="duty_policies")


class RosterStore:
    """Duty policies, staff and rosters in a :class:`~server.storage.Store`'s database."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._policies = _POLICIES
        self._staff = _STAFF
        self._rosters = _ROSTERS
        self._assignments = _ASSIGNMENTS

    @contextmanager
    def _using(self, connection: Connection | None, *, write: bool) -> Iterator[Connection]:
        """Yield ``connection``, or a new one (in a write transaction if ``write``)."""
        if connection is not None:
            yield connection
            return
        with self._store.transaction() if write else self._store.connection() as opened:
            yield opened

    # --- duty policies ---------------------------------------------------------------------

    def save_policy(
        self,
        policy: DutyPolicy,
        *,
        text: str | None = None,
        source: str = "import",
        connection: Connection | None = None,
    ) -> bool:
        """Store a policy under its version; return False if that version is already stored.

        Parameters
        ----------
        policy
            The policy.
        text
            Its TOML text as the user wrote it (comments kept); written from the policy if None.
        source
            Where it came from: a file name, ``bundled:huiji``.
        connection
            A connection in a write transaction to write through (with an audit record); a
            transaction of its own if None.

        Raises
        ------
        PolicyConflictError
            If the version is stored with other rules (another fingerprint): bump ``version``.
        """
        table = self._policies
        fingerprint = policy.fingerprint()
        with self._using(connection, write=True) as opened:
            stored = opened.execute(
                sa.select(table.c.fingerprint).where(table.c.version == policy.version)
            ).first()
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise PolicyConflictError(
                        f"policy version {policy.version} is already stored with other rules: "
                        "bump `version` in the policy file"
                    )
                return False
            opened.execute(
                table.insert().values(
                    version=policy.version,
                    fingerprint=fingerprint,
                    name=policy.name,
                    created_at=_utc_now(),
                    source=source,
                    toml=text if text is not None else policy_to_toml(policy),
                )
            )
        return True

    def policy_text(
        self, version: int | None = None, *, connection: Connection | None = None
    ) -> str | None:
        """Return the TOML of the policy ``version`` (the latest if None), or None."""
        table = self._policies
        query = sa.select(table.c.toml)
        if version is None:
            query = query.order_by(table.c.version.desc()).limit(1)
        else:
            query = query.where(table.c.version == version)
        with self._using(connection, write=False) as opened:
            row = opened.execute(query).first()
        return None if row is None else str(row.toml)

    def policy(self, version: int | None = None) -> DutyPolicy | None:
        """Return the policy ``version`` (the latest if None), or None if none is stored."""
        text = self.policy_text(version)
        return None if text is None else _parsed_policy(text)

    def current_policy(self) -> tuple[DutyPolicy, str]:
        """Return the latest stored policy and where it is from, or the bundled Huiji policy.

        The source is the stored policy's file name, or :data:`BUNDLED_POLICY_SOURCE`.
        """
        stored = self.policy()
        if stored is not None:
            return stored, str(self.policy_versions()[-1]["source"])
        return huiji_default_policy(), BUNDLED_POLICY_SOURCE

    def policy_versions(self, *, connection: Connection | None = None) -> list[dict[str, Any]]:
        """Return version, fingerprint, name, created_at and source of every stored policy."""
        table = self._policies
        columns = (table.c.version, table.c.fingerprint, table.c.name)
        query = sa.select(*columns, table.c.created_at, table.c.source).order_by(table.c.version)
        with self._using(connection, write=False) as opened:
            return [dict(row) for row in opened.execute(query).mappings()]

    # --- staff -----------------------------------------------------------------------------

    def replace_staff(
        self, officers: Iterable[Officer], *, source: str, connection: Connection | None = None
    ) -> int:
        """Replace the whole staff list in one transaction; return how many were written.

        ``connection``, if given, is a write transaction to write through (with an audit record).
        """
        table = self._staff
        now = _utc_now()
        rows = [
            {
                "id": o.id,
                "name": o.name,
                "squad_id": o.squad_id,
                "role": o.role,
                "demo": o.demo,
                "data": dump_json(officer_to_dict(o)),
                "source": source,
                "imported_at": now,
            }
            for o in officers
        ]
        with self._using(connection, write=True) as opened:
            opened.execute(table.delete())
            for start in range(0, len(rows), _INSERT_BATCH):
                opened.execute(table.insert(), rows[start : start + _INSERT_BATCH])
        return len(rows)

    def staff(
        self, ids: Iterable[str] | None = None, *, connection: Connection | None = None
    ) -> list[Officer]:
        """Return the stored staff (only those of ``ids`` if given), by id."""
        table = self._staff
        query = sa.select(table.c.data).order_by(table.c.id)
        if ids is not None:
            query = query.where(table.c.id.in_(sorted(set(ids))))
        with self._using(connection, write=False) as opened:
            rows = opened.execute(query).all()
        return [officer_from_dict(json.loads(row.data)) for row in rows]

    def staff_source(self, *, connection: Connection | None = None) -> str | None:
        """Return where the stored staff came from (a file name, ``demo``), None if none."""
        table = self._staff
        with self._using(connection, write=False) as opened:
            row = opened.execute(sa.select(table.c.source).limit(1)).first()
        return None if row is None else str(row.source)

    # --- rosters ---------------------------------------------------------------------------

    def save_roster(
        self,
        week: str,
        assignments: pd.DataFrame,
        report: dict[str, Any],
        *,
        policy: DutyPolicy,
        based_on: str | None = None,
        status: RosterStatus = "draft",
        connection: Connection | None = None,
    ) -> StoredRoster:
        """Store a roster and all its assignments in one transaction; return it with its id.

        ``connection``, if given, is a write transaction to write through (with an audit record).

        Raises
        ------
        ValueError
            If the status is unknown.
        geodata.errors.FieldError
            If the assignment table lacks a column or has a bad value.
        """
        if status not in _STATUSES:
            raise ValueError(f"a roster's status is draft or published, not {status!r}")
        frame = check_assignments(assignments)
        rosters = self._rosters
        # To the microsecond, so that the latest of several rosters made in a second is known.
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        body = dump_json(report)
        with self._using(connection, write=True) as opened:
            ids = opened.execute(sa.select(rosters.c.id).where(rosters.c.week == week)).scalars()
            numbers = [int(i.rsplit("-", 1)[1]) for i in ids if i.rsplit("-", 1)[1].isdigit()]
            roster_id = f"{week}-{max(numbers, default=0) + 1}"
            opened.execute(
                rosters.insert().values(
                    id=roster_id,
                    week=week,
                    status=status,
                    policy_version=policy.version,
                    policy_fingerprint=policy.fingerprint(),
                    created_at=created,
                    based_on=based_on,
                    report=body,
                    version=1,
                )
            )
            rows = _assignment_rows(roster_id, frame)
            for start in range(0, len(rows), _INSERT_BATCH):
                opened.execute(self._assignments.insert(), rows[start : start + _INSERT_BATCH])
        info = RosterInfo(
            roster_id, week, policy.version, policy.fingerprint(), status, created, report
        )
        return StoredRoster(info, 1, based_on, frame)

    def _info(self, row: Any) -> StoredRoster:
        info = RosterInfo(
            roster_id=row.id,
            week=row.week,
            policy_version=int(row.policy_version),
            policy_fingerprint=row.policy_fingerprint,
            status=row.status,
            created_at=row.created_at,
            solver=json.loads(row.report),
        )
        count = row._mapping.get("assignment_count")  # read counted (see _counted)
        return StoredRoster(
            info,
            int(row.version),
            row.based_on,
            _NO_ROWS.copy(),
            None if count is None else int(count),
        )

    def _counted(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """Return ``query`` over the rosters with their assignments counted, as one statement."""
        table, assignments = self._rosters, self._assignments
        count = sa.select(sa.func.count()).where(assignments.c.roster_id == table.c.id)
        return query.add_columns(count.scalar_subquery().label("assignment_count"))

    def rosters(self, week: str | None = None, *, counted: bool = False) -> list[StoredRoster]:
        """Return the stored rosters (without their rows), oldest first.

        With ``counted``, each with its ``assignment_count``, read in the same statement.
        """
        table = self._rosters
        query = sa.select(table).order_by(table.c.created_at, table.c.id)
        if week is not None:
            query = query.where(table.c.week == week)
        if counted:
            query = self._counted(query)
        with self._store.connection() as connection:
            return [self._info(row) for row in connection.execute(query)]

    def roster(
        self,
        roster_id: str | None = None,
        *,
        week: str | None = None,
        rows: bool = True,
        report: bool = True,
        counted: bool = False,
    ) -> StoredRoster:
        """Return a roster with its assignments: ``roster_id``, or the latest (of ``week``).

        With ``rows`` false its assignments are not read (an empty table); with ``report`` false
        neither is the solver's report, which may be large (``info.solver`` is an empty dict).
        With ``counted``, the statement that reads the roster also counts its assignments, so
        that the count belongs to the version read (``assignment_count``).

        Raises
        ------
        KeyError
            If there is no such roster.
        """
        table = self._rosters
        query = sa.select(table) if report else sa.select(*head_columns(table))
        if counted:
            query = self._counted(query)
        if roster_id is not None:
            query = query.where(table.c.id == roster_id)
        else:
            if week is not None:
                query = query.where(table.c.week == week)
            query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(1)
        assignments = self._assignments
        with self._store.connection() as connection:
            row = connection.execute(query).first()
            if row is None:
                what = f"roster {roster_id!r}" if roster_id else f"roster of {week or 'any week'}"
                raise KeyError(f"no {what} is stored")
            found = self._info(row)
            if not rows:
                return found
            listed = connection.execute(
                sa.select(assignments)
                .where(assignments.c.roster_id == row.id)
                .order_by(*assignment_order(assignments))
            ).all()
        return StoredRoster(found.info, found.version, found.based_on, _assignment_frame(listed))

    def set_status(
        self,
        roster_id: str,
        status: RosterStatus,
        *,
        expected_version: int | None = None,
        connection: Connection | None = None,
    ) -> StoredRoster:
        """Set a roster's status (publish it), bumping its version; return it without rows.

        ``connection``, if given, is a write transaction to write through (with an audit record).

        Raises
        ------
        KeyError
            If there is no such roster.
        RosterConflictError
            If ``expected_version`` is given and the stored version differs.
        ValueError
            If the status is unknown.
        """
        if status not in _STATUSES:
            raise ValueError(f"a roster's status is draft or published, not {status!r}")
        table = self._rosters
        with self._using(connection, write=True) as opened:
            self._locked_version(opened, roster_id)
            row = opened.execute(sa.select(table).where(table.c.id == roster_id)).first()
            if row is None:
                raise KeyError(f"no roster {roster_id!r} is stored")
            if expected_version is not None and row.version != expected_version:
                raise RosterConflictError(
                    f"roster {roster_id} is at version {row.version}, not {expected_version}: "
                    "it was changed since it was read"
                )
            opened.execute(
                table.update()
                .where(table.c.id == roster_id)
                .values(status=status, version=row.version + 1)
            )
            row = opened.execute(sa.select(table).where(table.c.id == roster_id)).one()
        return self._info(row)

    def _locked_version(self, connection: Connection, roster_id: str) -> int:
        """Return a roster's version, locking its row until the transaction ends."""
        table = self._rosters
        query = sa.select(table.c.version).where(table.c.id == roster_id)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        version = connection.execute(query).scalar()
        if version is None:
            raise KeyError(f"no roster {roster_id!r} is stored")
        return int(version)

    def replace_assignments(
        self,
        roster_id: str,
        assignments: pd.DataFrame,
        *,
        expected_version: int,
        connection: Connection | None = None,
    ) -> int:
        """Replace every assignment of a roster in one transaction; return its new version.

        Parameters
        ----------
        roster_id
            The roster.
        assignments
            Its new assignment table (:mod:`grids.roster`).
        expected_version
            The version the change was made from: if the roster is at another, nothing changes.
        connection
            A write transaction to write through (with an audit record); one of its own if None.

        Raises
        ------
        KeyError
            If there is no such roster.
        RosterConflictError
            If the stored version is not ``expected_version``.
        geodata.errors.FieldError
            If the table lacks a column or has a bad value.
        """
        frame = check_assignments(assignments)
        rows = _assignment_rows(roster_id, frame)
        table, assignments_table = self._rosters, self._assignments
        with self._using(connection, write=True) as opened:
            version = self._locked_version(opened, roster_id)
            if version != expected_version:
                raise RosterConflictError(
                    f"roster {roster_id} is at version {version}, not {expected_version}: "
                    "it was changed since it was read"
                )
            opened.execute(
                assignments_table.delete().where(assignments_table.c.roster_id == roster_id)
            )
            for start in range(0, len(rows), _INSERT_BATCH):
                opened.execute(assignments_table.insert(), rows[start : start + _INSERT_BATCH])
            opened.execute(
                table.update().where(table.c.id == roster_id).values(version=version + 1)
            )
        return version + 1

    def roster_head(self, roster_id: str, *, connection: Connection | None = None) -> StoredRoster:
        """Return a roster's version, status, week and policy: one small query.

        Neither its rows nor the solver's report (which may be large) are read: the
        assignments are empty and ``info.solver`` is an empty dict.

        Raises
        ------
        KeyError
            If there is no such roster.
        """
        table = self._rosters
        query = sa.select(*head_columns(table)).where(table.c.id == roster_id)
        with self._using(connection, write=False) as opened:
            row = opened.execute(query).first()
        if row is None:
            raise KeyError(f"no roster {roster_id!r} is stored")
        return self._info(row)

    def officer_assignments(
        self, roster_id: str, officers: Iterable[str], *, connection: Connection | None = None
    ) -> dict[tuple[str, date, str], dict[str, Any]]:
        """Return the assignments of some officers in a roster as plain values, by key.

        The values are those :func:`server.roster_rows.rows_by_key` gives for a roster table:
        texts (None if empty), the date, start and end as :class:`~datetime.datetime`, pinned.
        """
        table = self._assignments
        wanted = sorted(set(officers))
        if not wanted:
            return {}
        query = sa.select(table).where(
            table.c.roster_id == roster_id, table.c.officer_id.in_(wanted)
        )
        with self._using(connection, write=False) as opened:
            rows = opened.execute(query).all()
        found: dict[tuple[str, date, str], dict[str, Any]] = {}
        for row in rows:
            values: dict[str, Any] = {
                "officer_id": str(row.officer_id),
                "role": str(row.role),
                "squad_id": _plain_text(row.squad_id),
                "date": date.fromisoformat(row.date),
                "slot_id": str(row.slot_id),
                "start": pd.Timestamp(row.start).to_pydatetime(),
                "end": pd.Timestamp(row.end).to_pydatetime(),
                "post_id": _plain_text(row.post_id),
                "task": str(row.task),
                "requirement_id": _plain_text(row.requirement_id),
                "pinned": bool(row.pinned),
            }
            found[(values["officer_id"], values["date"], values["slot_id"])] = values
        return found

    def assignment_count(self, roster_id: str, *, connection: Connection | None = None) -> int:
        """Return how many assignments a roster has."""
        table = self._assignments
        query = sa.select(sa.func.count()).where(table.c.roster_id == roster_id)
        with self._using(connection, write=False) as opened:
            return int(opened.execute(query).scalar_one())

    def edit_assignments(
        self,
        roster_id: str,
        *,
        remove: Iterable[tuple[str, date, str]],
        add: Sequence[Mapping[str, Any]],
        expected_version: int,
        connection: Connection | None = None,
    ) -> int:
        """Remove some assignments of a roster and add others; return its new version.

        The version is compared and bumped first, in the same transaction: of two changes made
        from the same version, one is written and the other raises, whichever way they
        interleave (the row's update waits for the other's on PostgreSQL; SQLite writers queue).

        Parameters
        ----------
        roster_id
            The roster.
        remove
            The keys (officer, date, slot) of the rows to remove, or to replace by ``add``.
        add
            The rows to add, as records of the columns of :mod:`grids.roster` (dates and times as
            :class:`~datetime.date` and :class:`~datetime.datetime`); their keys must be free
            once ``remove`` is. They are checked as :func:`grids.roster.check_assignments`
            checks a table.
        expected_version
            The version the change was made from: if the roster is at another, nothing changes.
        connection
            A write transaction to write through (with an audit record); one of its own if None.

        Raises
        ------
        KeyError
            If there is no such roster.
        RosterConflictError
            If the stored version is not ``expected_version``.
        geodata.errors.FieldError
            If a row of ``add`` lacks a column or has a bad value (its row, from 1, and field).
        """
        rows = _checked_rows(roster_id, add)
        keys = [
            {"key_roster": roster_id, "key_officer": o, "key_date": d.isoformat(), "key_slot": s}
            for o, d, s in remove
        ]
        table, assignments = self._rosters, self._assignments
        bumped = (
            table.update()
            .where(table.c.id == roster_id, table.c.version == expected_version)
            .values(version=table.c.version + 1)
        )
        delete = assignments.delete().where(
            assignments.c.roster_id == sa.bindparam("key_roster"),
            assignments.c.officer_id == sa.bindparam("key_officer"),
            assignments.c.date == sa.bindparam("key_date"),
            assignments.c.slot_id == sa.bindparam("key_slot"),
        )
        with self._using(connection, write=True) as opened:
            if opened.execute(bumped).rowcount != 1:
                version = opened.execute(
                    sa.select(table.c.version).where(table.c.id == roster_id)
                ).scalar()
                if version is None:
                    raise KeyError(f"no roster {roster_id!r} is stored")
                raise RosterConflictError(
                    f"roster {roster_id} is at version {version}, not {expected_version}: "
                    "it was changed since it was read"
                )
            if keys:
                opened.execute(delete, keys)
            for start in range(0, len(rows), _INSERT_BATCH):
                opened.execute(assignments.insert(), rows[start : start + _INSERT_BATCH])
        return expected_version + 1
