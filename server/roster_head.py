"""A roster's head and the assignments of one of its days, read together without the report.

:func:`roster_day` is what a coverage answer needs to bring a day it matched at an earlier
version of the roster up to date (:mod:`server.coverage_cache`): the roster's version and status
and the day's rows, as of one moment. One statement reads them all, so that a change written
meanwhile is either wholly in the answer or not at all; the solver's report, which may be large
and never changes once the roster is made, is not read.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from server.roster_store import (
    _ASSIGNMENTS,
    _ROSTERS,
    RosterStore,
    StoredRoster,
    _assignment_frame,
    assignment_order,
    head_columns,
)
from server.storage import Store

__all__ = ["roster_day"]


def roster_day(store: Store, roster_id: str, day: date) -> tuple[StoredRoster, pd.DataFrame]:
    """Return a roster's head (without rows or report) and its assignments of ``day``.

    Parameters
    ----------
    store
        The database.
    roster_id
        The roster.
    day
        The day (an assignment's ``date``: a night slot's rows are those of the day it starts).

    Returns
    -------
    tuple
        The roster as :meth:`~server.roster_store.RosterStore.roster_head` gives it, and the
        day's rows as :meth:`~server.roster_store.RosterStore.roster` reads them (a checked
        assignment table, the rows in the same order), both as of the same moment.

    Raises
    ------
    KeyError
        If there is no such roster.
    """
    rosters, rows = _ROSTERS, _ASSIGNMENTS
    on_day = sa.and_(rows.c.roster_id == rosters.c.id, rows.c.date == day.isoformat())
    query = (
        sa.select(*head_columns(rosters), *(c for c in rows.c if c.name != "roster_id"))
        .select_from(rosters.outerjoin(rows, on_day))
        .where(rosters.c.id == roster_id)
        .order_by(*assignment_order(rows))
    )
    with store.connection() as connection:
        found = connection.execute(query).all()
    if not found:
        raise KeyError(f"no roster {roster_id!r} is stored")
    info = RosterStore(store)._info(found[0])
    listed = [row for row in found if row.officer_id is not None]
    return info, _assignment_frame(listed)
