"""Where jobs are kept between restarts: one row per job in the ``jobs`` table.

:class:`JobStore` works on a :class:`~server.storage.Store`'s database (the table of migration
step 6, see :mod:`server.migrations`) with plain rows (column → value); :mod:`server.jobs` turns
them into jobs. A queued or running job's row names the process that runs it (:func:`owner`)
and is touched by it now and then (``updated_at``), so that another process can tell a job whose
process has gone from one still running.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.migrations import jobs_table
from server.storage import Store

__all__ = [
    "ACTIVE_STATES",
    "JobStore",
    "Owner",
    "owner",
    "parse_owner",
    "process_alive",
    "stored_json",
    "stored_time",
    "utc_text",
]

ACTIVE_STATES: Final = ("queued", "running")
"""The states of a job that has not ended."""

# 'dutyjobs' in ASCII: the key of the PostgreSQL advisory lock taken to start a job.
_PG_SUBMIT_LOCK: Final = 0x647574796A6F6273

_OWNERS: dict[int, str] = {}


def owner() -> str:
    """Return this process's name in job rows: ``host:pid:token``, the token new per process."""
    pid = os.getpid()  # a forked child is a process of its own, with a name of its own
    if pid not in _OWNERS:
        _OWNERS[pid] = f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}"
    return _OWNERS[pid]


Owner = tuple[str, int, str]
"""A job row's owner, read back: host, process id and token."""


def parse_owner(text: str | None) -> Owner | None:
    """Return the host, pid and token of an owner :func:`owner` wrote, None if it is not one."""
    if not text:
        return None
    host, _, rest = text.rpartition(":")
    host, _, pid = host.rpartition(":")
    if not host or not pid.isdigit() or not rest:
        return None
    return host, int(pid), rest


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def stored_json(value: Any) -> str:
    """Return ``value`` as JSON text, infinities and NaN as null (a gap may be infinite)."""
    return json.dumps(_finite(value), ensure_ascii=False, sort_keys=True, default=str)


def utc_text(moment: datetime | None = None) -> str:
    """Return a UTC time as the ISO text the table keeps (now if None)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def stored_time(text: str | None) -> datetime | None:
    """Return the UTC time of a time the table keeps, None for none."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def process_alive(pid: int) -> bool:
    """Return whether a process of this host has the id ``pid``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


class JobStore:
    """The ``jobs`` table of a :class:`~server.storage.Store`'s database."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._table = jobs_table(sa.MetaData())

    def _lock(self, connection: Connection) -> None:
        # SQLite's write transactions take the write lock at once; PostgreSQL needs a lock of its
        # own so that two processes do not both find no job running and start one each.
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_SUBMIT_LOCK)))

    def insert_if_idle(
        self,
        row: Mapping[str, Any],
        *,
        gone: Callable[[Mapping[str, Any]], bool],
        interrupted: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> Mapping[str, Any] | None:
        """Insert ``row`` unless a job is queued or running; return that job's row if one is.

        Rows of queued or running jobs that ``gone`` says have lost their process are set to
        ``interrupted`` (with the values ``interrupted`` gives for the row) first, in the same
        transaction.
        """
        table = self._table
        with self._store.transaction() as connection:
            self._lock(connection)
            active = connection.execute(
                sa.select(table).where(table.c.state.in_(ACTIVE_STATES))
            ).mappings()
            busy = None
            for other in [dict(r) for r in active]:
                if gone(other):
                    self._interrupt(connection, str(other["id"]), interrupted(other))
                elif busy is None:
                    busy = other
            if busy is not None:
                return busy
            connection.execute(table.insert().values(**row))
        return None

    def _interrupt(self, connection: Connection, job_id: str, values: Mapping[str, Any]) -> bool:
        table = self._table
        done = connection.execute(
            table.update()
            .where(table.c.id == job_id, table.c.state.in_(ACTIVE_STATES))
            .values(state="interrupted", **values)
        )
        return bool(done.rowcount)

    def interrupt_gone(
        self,
        gone: Callable[[Mapping[str, Any]], bool],
        values: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> list[str]:
        """Set every queued or running job whose process ``gone`` says has gone to interrupted.

        ``values`` gives the values to write for a row (why, when). Returns the ids of the jobs
        so set.
        """
        table = self._table
        ids = []
        with self._store.transaction() as connection:
            active = connection.execute(
                sa.select(table).where(table.c.state.in_(ACTIVE_STATES))
            ).mappings()
            for row in [dict(r) for r in active]:
                if gone(row) and self._interrupt(connection, str(row["id"]), values(row)):
                    ids.append(str(row["id"]))
        return ids

    def write(self, row: Mapping[str, Any]) -> None:
        """Write a job's row as it is now (its state changed)."""
        table = self._table
        values = {k: v for k, v in row.items() if k != "id"}
        with self._store.transaction() as connection:
            connection.execute(table.update().where(table.c.id == row["id"]).values(**values))

    def touch(self, job_id: str, values: Mapping[str, Any]) -> None:
        """Write a running job's progress and sign of life, unless it has ended meanwhile."""
        table = self._table
        with self._store.transaction() as connection:
            connection.execute(
                table.update()
                .where(table.c.id == job_id, table.c.state.in_(ACTIVE_STATES))
                .values(**values)
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        """Return the row of the job ``job_id``, None if there is none."""
        table = self._table
        with self._store.connection() as connection:
            row = connection.execute(sa.select(table).where(table.c.id == job_id)).mappings()
            found = row.first()
        return None if found is None else dict(found)

    def latest(self, *, limit: int, state: str | None = None) -> list[dict[str, Any]]:
        """Return the rows of the latest ``limit`` jobs (in ``state``), newest first."""
        table = self._table
        query = sa.select(table).order_by(table.c.created_at.desc(), table.c.id.desc())
        if state is not None:
            query = query.where(table.c.state == state)
        with self._store.connection() as connection:
            return [dict(row) for row in connection.execute(query.limit(limit)).mappings()]
