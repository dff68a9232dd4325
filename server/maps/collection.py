"""The ``coverage`` collection of the OGC API: the posts with their coverage in a duty slot.

``datetime`` chooses the slot: an instant (``2026-12-01T09:30:00+08:00``; a time without a zone is
China Standard Time) gives the slot it falls in, a night slot after midnight belonging to the day
before; a date alone gives the whole day; an interval gives the slot of its start (or of its end,
when open at the start). Without ``datetime`` the slot is the one on now. Features carry counts and
statuses, not who is on duty: names are for those who may read duties (``/coverage``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.layers import Column, LayerSpec
from grids.coverage import DutySlot, coverage_by_post, slot_at
from server.coverage_cache import coverage_day
from server.errors import InvalidParameterError, NotFound
from server.maps.service import CoverageService
from server.ogc.geojson import Bounds, geojson_features
from server.ogc.sources import Page
from server.storage import Store

COVERAGE_SPEC = LayerSpec(
    "coverage",
    "Coverage (覆盖) of a duty slot",
    "line_or_point",
    (
        Column("date", "text", False, "the duty day"),
        Column("slot_id", "text", True, "the slot; empty for the whole day"),
        Column("kind", "text", False, "segment or point"),
        Column("level", "text", False, "strict, controlled or regulated"),
        Column("road_name_zh", "text"),
        Column("squad_id", "text"),
        Column("length_m", "real", False, "length of the post in metres"),
        Column("status", "text", False, "covered, partly, gap or not_required"),
        Column("required", "integer", False, "people its requirements need"),
        Column("counted", "integer", False, "people who count toward them"),
        Column("officers", "integer", False, "officers (and duty leaders) on the post"),
        Column("assistants", "integer", False, "assistants on the post"),
    ),
)
"""The columns of the coverage collection's features."""

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_moment(value: str) -> datetime | date:
    """Return the instant, or the date, that an OGC ``datetime`` parameter names.

    Raises
    ------
    InvalidParameterError
        If it is neither an RFC 3339 instant, a date, nor an interval of them.
    """
    text = value.strip()
    if "/" in text:
        start, _, end = text.partition("/")
        chosen = start if start.strip() not in ("", "..") else end
        if chosen.strip() in ("", ".."):
            raise InvalidParameterError(
                "datetime: an interval needs a start or an end", field="datetime"
            )
        return parse_moment(chosen)
    try:
        if _DATE_ONLY.match(text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterError(
            f"datetime {value!r} is not an RFC 3339 date-time (2026-12-01T09:30:00+08:00), a "
            "date (2026-12-01) or an interval of them",
            field="datetime",
        ) from None


@dataclass(frozen=True)
class CoverageSource:
    """The posts with their coverage in the slot ``datetime`` names (see the module docstring)."""

    service: CoverageService

    @property
    def id(self) -> str:
        """Return the collection id."""
        return COVERAGE_SPEC.name

    @property
    def title(self) -> str:
        """Return a human title."""
        return COVERAGE_SPEC.title

    @property
    def description(self) -> str:
        """Return a sentence about the collection."""
        return (
            "every post with its coverage in a duty slot: datetime chooses the slot (an instant), "
            "or the whole day (a date); without it, the slot on now"
        )

    @property
    def spec(self) -> LayerSpec:
        """Return the columns and geometry family of its features."""
        return COVERAGE_SPEC

    def extent(self, store: Store) -> Bounds | None:
        """Return the lon/lat box of the posts."""
        return store.layer_extent("posts")

    def _frame(self, store: Store, datetime_: str | None) -> gpd.GeoDataFrame:
        service = self.service
        moment = service.clock() if datetime_ is None else parse_moment(datetime_)
        slot: DutySlot | None = None
        if isinstance(moment, datetime):
            slot = slot_at(moment, service.policy, calendar=service.calendar)
            day = slot.date
        else:
            day = moment
        view = coverage_day(service, store, day, None)
        table = coverage_by_post(view.coverage, day, slot.id if slot else None)
        posts = view.layers["posts"]
        frame = gpd.GeoDataFrame(
            {
                "id": table["post_id"].astype(str).to_numpy(),
                "date": day.isoformat(),
                "slot_id": slot.id if slot else None,
                "kind": table["kind"].to_numpy(dtype=object),
                "level": table["level"].to_numpy(dtype=object),
                "road_name_zh": table["road_name_zh"].to_numpy(dtype=object),
                "squad_id": table["squad_id"].to_numpy(dtype=object),
                "length_m": table["length_m"].to_numpy(dtype=float),
                "status": table["status"].to_numpy(dtype=object),
                **{
                    column: table[column].to_numpy(dtype=np.int64)
                    for column in ("required", "counted", "officers", "assistants")
                },
                "attrs": [{} for _ in range(len(table))],
            },
            geometry=np.asarray(posts.geometry.array, dtype=object),
            crs=posts.crs,
        )
        return frame.sort_values("id", kind="stable").reset_index(drop=True)

    def items(
        self,
        store: Store,
        *,
        bbox: Bounds | None,
        limit: int,
        offset: int,
        datetime: str | None,
    ) -> Page:
        """Return a page of the posts with their coverage, ordered by id."""
        frame = self._frame(store, datetime)
        if bbox is not None:
            box = shapely.box(*bbox)
            frame = frame[shapely.intersects(np.asarray(frame.geometry.array), box)]
        page = frame.iloc[offset : offset + limit]
        return Page(
            features=geojson_features(page, COVERAGE_SPEC),
            more=offset + limit < len(frame),
            number_matched=len(frame),
        )

    def item(self, store: Store, feature_id: str) -> dict[str, Any]:
        """Return one post with its coverage in the slot on now."""
        frame = self._frame(store, None)
        chosen = frame[frame["id"].eq(feature_id).to_numpy()]
        if chosen.empty:
            raise NotFound(
                f"the collection 'coverage' has no feature {feature_id!r}",
                collection="coverage",
                feature=feature_id,
            )
        return geojson_features(chosen, COVERAGE_SPEC)[0]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the rows of a table as JSON-ready mappings (times ISO 8601, tuples as lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list | np.ndarray):
            return [plain(v) for v in value]
        if isinstance(value, pd.Timestamp | datetime | date):
            return value.isoformat()
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating | float):
            return None if np.isnan(value) else float(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if value is None or value is pd.NA or value is pd.NaT:
            return None
        return value

    names = [str(name) for name in frame.columns]
    if not names:
        return [{} for _ in range(len(frame))]
    columns: list[list[Any]] = []
    for position in range(len(names)):
        column = frame.iloc[:, position]
        kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else "O"
        # column by column: numbers and flags as Python's, as a row's values would be given
        if kind in "iub":
            columns.append(column.to_numpy().tolist())
        elif kind == "f":
            columns.append([None if math.isnan(v) else v for v in column.to_numpy().tolist()])
        else:
            columns.append([plain(v) for v in column])
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
