"""One road model for every source: class, management level, names, length and a stable id.

Every road becomes a row with ``id``, ``name_zh``, ``name_en``, ``road_class`` (arterial,
secondary, branch, back_street, other), ``level`` (strict 严管, controlled 严控, regulated 规范),
``length_m`` and ``attrs`` (the source attributes kept). Class and level come from the source's
class field (OSM ``highway`` or a Chinese class such as 主干路) through a :class:`RoadMapping`
the user can change.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geodata.attrs import json_safe_records
from geodata.crs import metric_lengths, projected_crs_for
from geodata.errors import FieldError, GeodataWarning, InputFileError
from geodata.validate import check_unique_ids

RoadClass = Literal["arterial", "secondary", "branch", "back_street", "other"]
Level = Literal["strict", "controlled", "regulated"]
ROAD_CLASSES: tuple[RoadClass, ...] = get_args(RoadClass)
LEVELS: tuple[Level, ...] = get_args(Level)
LEVEL_NAMES_ZH: dict[Level, str] = {"strict": "严管", "controlled": "严控", "regulated": "规范"}
ROAD_CLASS_NAMES_ZH: dict[RoadClass, str] = {
    "arterial": "主干路",
    "secondary": "次干路",
    "branch": "支路",
    "back_street": "街巷",
    "other": "其他",
}
ROAD_COLUMNS = ["id", "name_zh", "name_en", "road_class", "level", "length_m", "attrs", "geometry"]

_DEFAULT_CLASSES: dict[str, RoadClass] = {
    # OpenStreetMap highway=*
    "trunk": "arterial",
    "trunk_link": "arterial",
    "primary": "arterial",
    "primary_link": "arterial",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "branch",
    "tertiary_link": "branch",
    "unclassified": "branch",
    "residential": "back_street",
    "living_street": "back_street",
    "service": "back_street",
    "pedestrian": "back_street",
    "motorway": "other",
    "motorway_link": "other",
    **dict.fromkeys(
        (
            "footway",
            "cycleway",
            "path",
            "steps",
            "track",
            "bridleway",
            "corridor",
            "road",
            "construction",
            "proposed",
            "busway",
            "bus_guideway",
            "raceway",
            "platform",
        ),
        "other",
    ),
    # Chinese urban road classes (CJJ 37)
    "快速路": "other",
    "主干路": "arterial",
    "主干道": "arterial",
    "次干路": "secondary",
    "次干道": "secondary",
    "支路": "branch",
    "街巷": "back_street",
    "巷道": "back_street",
    "背街小巷": "back_street",
    # our own names, so that exported roads import back unchanged
    **{c: c for c in get_args(RoadClass)},
}
_LEVEL_VALUES: dict[str, Level] = {
    "strict": "strict",
    "严管": "strict",
    "禁止": "strict",
    "controlled": "controlled",
    "严控": "controlled",
    "regulated": "regulated",
    "规范": "regulated",
}
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class RoadMapping:
    """How source attributes become a road class and a management level.

    Attributes
    ----------
    class_by_value
        Source class value (OSM ``highway``, 主干路, …) → road class.
    level_by_class
        Road class → management level, used unless a name or level field says otherwise.
    level_by_name
        Road name (Chinese or English) → level; overrides the class (e.g. the strict main roads).
    class_fields
        The source columns to look in for the class, first present wins.
    level_fields
        Source columns that may carry the level directly (严管/严控/规范, or the English
        names).
    default_class
        The class of a road whose class value is not in ``class_by_value``.
    """

    class_by_value: Mapping[str, RoadClass] = field(default_factory=lambda: dict(_DEFAULT_CLASSES))
    level_by_class: Mapping[RoadClass, Level] = field(
        default_factory=lambda: {
            "arterial": "strict",
            "secondary": "controlled",
            "branch": "regulated",
            "back_street": "regulated",
            "other": "regulated",
        }
    )
    level_by_name: Mapping[str, Level] = field(default_factory=dict)
    class_fields: tuple[str, ...] = (
        "road_class",
        "highway",
        "grade",
        "class",
        "fclass",
        "道路等级",
        "等级",
        "type",
    )
    level_fields: tuple[str, ...] = ("level", "管理等级", "management_level")
    default_class: RoadClass = "other"


def road_mapping_from_toml(path: str | Path, base: RoadMapping | None = None) -> RoadMapping:
    """Read a road mapping file, layered over ``base`` (the defaults when None).

    The file has up to four tables::

        [class]          # source value → road class
        primary = "arterial"
        "主干路" = "arterial"
        [level]          # road class → level
        secondary = "strict"
        [level_by_name]  # road name → level
        "文化路" = "strict"
        [fields]
        class = ["highway", "道路等级"]

    Raises
    ------
    InputFileError
        If the file is not valid TOML.
    FieldError
        If a value is not a known class or level; the message names the table and key.
    """
    base = base or RoadMapping()
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(f"not a readable TOML road mapping: {exc}", file=file.name) from None

    def checked(table: str, allowed: tuple[str, ...]) -> dict[str, str]:
        values = data.get(table, {})
        for key, value in values.items():
            if value not in allowed:
                raise FieldError(
                    f"{value!r} is not one of {', '.join(allowed)}",
                    file=file.name,
                    field=f"{table}.{key}",
                )
        return {str(k): str(v) for k, v in values.items()}

    classes = cast(dict[str, RoadClass], checked("class", ROAD_CLASSES))
    levels = cast(dict[RoadClass, Level], checked("level", LEVELS))
    names = cast(dict[str, Level], checked("level_by_name", LEVELS))
    unknown = set(levels) - set(ROAD_CLASSES)
    if unknown:
        raise FieldError(
            f"{sorted(unknown)[0]!r} is not a road class ({', '.join(ROAD_CLASSES)})",
            file=file.name,
            field="level",
        )
    fields = data.get("fields", {})
    return replace(
        base,
        class_by_value={**base.class_by_value, **classes},
        level_by_class={**base.level_by_class, **levels},
        level_by_name={**base.level_by_name, **names},
        class_fields=tuple(fields.get("class", base.class_fields)),
        level_fields=tuple(fields.get("level", base.level_fields)),
    )


def _first_column(frame: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    return next((lowered[c.lower()] for c in candidates if c.lower() in lowered), None)


def _clean_text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    return str(value).strip() or None


def _text_column(frame: pd.DataFrame, candidates: tuple[str, ...]) -> pd.Series:
    column = _first_column(frame, candidates)
    if column is None:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    values = [_clean_text(v) for v in frame[column].to_numpy(dtype=object)]
    return pd.Series(values, index=frame.index, dtype=object)


def names_of(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Return the Chinese and English names of features, found by the usual column names."""
    zh_fields = ("name_zh", "name:zh", "name:zh-hans", "名称", "路名", "道路名称")
    en_fields = ("name_en", "name:en", "ename", "英文名")
    plain_fields = ("name", "road_name")
    if not any(_first_column(frame, f) for f in (zh_fields, en_fields, plain_fields)):
        nothing = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        return nothing, nothing.copy()
    zh = _text_column(frame, zh_fields)
    en = _text_column(frame, en_fields)
    plain = _text_column(frame, plain_fields)
    name_zh, name_en = [], []
    for z, e, p in zip(zh, en, plain, strict=True):
        cjk = bool(p and _CJK.search(p))
        name_zh.append(z if z is not None else (p if cjk else None))
        name_en.append(e if e is not None else (p if p is not None and not cjk else None))
    return (
        pd.Series(name_zh, index=frame.index, dtype=object),
        pd.Series(name_en, index=frame.index, dtype=object),
    )


def _class_value(value: object) -> str | None:
    """Return a plain class value; OSMnx writes merged edges' classes as lists or list strings."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return str(value[0]) if len(value) else None
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        items = [t.strip(" '\"") for t in text[1:-1].split(",") if t.strip(" '\"")]
        return items[0] if items else None
    return text or None


def _classes(frame: pd.DataFrame, mapping: RoadMapping, file: str) -> pd.Series:
    column = _first_column(frame, mapping.class_fields)
    if column is None:
        warnings.warn(
            GeodataWarning(
                f"{file}: no road class column (looked for {', '.join(mapping.class_fields)}); "
                f"every road is class {mapping.default_class!r}"
            ),
            stacklevel=3,
        )
        return pd.Series(mapping.default_class, index=frame.index, dtype=object)
    raw = frame[column].to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    except TypeError:  # unhashable values (lists): classify row by row
        codes, uniques = np.arange(len(raw)), raw
    lookup = {str(k).lower(): v for k, v in mapping.class_by_value.items()}
    plain = [_class_value(u) for u in uniques]
    mapped = np.array(
        [lookup.get(v.lower()) if v is not None else None for v in plain] + [None], dtype=object
    )
    known = np.array([*plain, None], dtype=object)
    values = pd.Series(known[codes], index=frame.index, dtype=object)
    classes = pd.Series(mapped[codes], index=frame.index, dtype=object)
    unknown = values[classes.isna() & values.notna()]
    if len(unknown):
        counts = unknown.value_counts().head(5)
        shown = ", ".join(f"{k} ({n})" for k, n in counts.items())
        warnings.warn(
            GeodataWarning(
                f"{file}: field '{column}': values not in the road mapping, taken as class "
                f"{mapping.default_class!r}: {shown}; add them to a mapping file (--mapping)"
            ),
            stacklevel=3,
        )
    return classes.fillna(mapping.default_class)


def _levels(
    frame: pd.DataFrame,
    *,
    classes: pd.Series,
    name_zh: pd.Series,
    name_en: pd.Series,
    mapping: RoadMapping,
    file: str,
) -> pd.Series:
    levels = classes.map(mapping.level_by_class)
    if mapping.level_by_name:
        for names in (name_en, name_zh):
            by_name = names.map(lambda n: mapping.level_by_name.get(n) if n else None)
            levels = by_name.where(by_name.notna(), levels)
    column = _first_column(frame, mapping.level_fields)
    if column is not None:
        given = frame[column].astype(object).where(frame[column].notna(), None)
        parsed = given.map(lambda v: _LEVEL_VALUES.get(str(v).strip().lower()) if v else None)
        bad = given.notna() & parsed.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise FieldError(
                f"{given.iloc[row]!r} is not a management level "
                "(严管/严控/规范 or strict/controlled/regulated)",
                file=file,
                row=row + 1,
                field=column,
            )
        levels = parsed.where(parsed.notna(), levels)
    return levels


def _ids(frame: pd.DataFrame, id_field: str | None, file: str) -> pd.Series:
    if id_field is not None:
        if id_field not in frame.columns:
            raise FieldError(
                f"no id column {id_field!r}; the columns are: {', '.join(map(str, frame.columns))}",
                file=file,
                field=id_field,
            )
        ids = frame[id_field].astype(object).map(lambda v: None if pd.isna(v) else str(v))
        check_unique_ids(ids, file=file, field=id_field)
        return ids
    column = _first_column(frame, ("id", "osm_id", "fid", "objectid", "road_id", "编号"))
    if column is not None:
        ids = frame[column].astype(object).map(lambda v: None if pd.isna(v) else str(v))
        check_unique_ids(ids, file=file, field=column)
        return ids
    if {"u", "v", "key"} <= set(frame.columns):
        columns = (frame["u"].tolist(), frame["v"].tolist(), frame["key"].tolist())
        joined = [f"{u}-{v}-{k}" for u, v, k in zip(*columns, strict=True)]
        ids = pd.Series(joined, index=frame.index, dtype=object)
        check_unique_ids(ids, file=file, field="u, v, key")
        return ids
    return _content_ids(frame, file)


def _content_ids(frame: gpd.GeoDataFrame, file: str) -> pd.Series:
    """Ids from content, so that the same road imported again keeps its id."""
    geoms = shapely.set_precision(np.asarray(frame.geometry.array, dtype=object), 1e-7)
    wkb = shapely.to_wkb(geoms, output_dimension=2)
    names = names_of(frame)[0].fillna("")
    ids = pd.Series(
        [
            "r" + hashlib.blake2b(w + n.encode(), digest_size=8).hexdigest()
            for w, n in zip(wkb, names, strict=True)
        ],
        index=frame.index,
        dtype=object,
    )
    check_unique_ids(ids, file=file, field="geometry")
    return ids


def _single_lines(frame: gpd.GeoDataFrame, ids: pd.Series) -> tuple[gpd.GeoDataFrame, pd.Series]:
    geoms = np.asarray(frame.geometry.array, dtype=object)
    multi = shapely.get_type_id(geoms) == 5
    if not multi.any():
        return frame, ids
    merged = geoms.copy()
    merged[multi] = shapely.line_merge(geoms[multi])
    frame = frame.set_geometry(gpd.GeoSeries(merged, index=frame.index, crs=frame.crs))
    frame = frame.assign(_id=ids)
    parts = frame.explode(index_parts=True)
    part_no = parts.index.get_level_values(1).to_numpy()
    counts = parts.groupby(level=0)["_id"].transform("size").to_numpy()
    part_ids = parts["_id"].astype(str).to_numpy(dtype=object)
    suffixed = np.where(counts > 1, part_ids + "#" + (part_no + 1).astype(str), part_ids)
    parts = parts.drop(columns="_id").reset_index(drop=True)
    return parts, pd.Series(suffixed, index=parts.index, dtype=object)


def _without_z(geoms: np.ndarray) -> np.ndarray:
    return shapely.force_2d(geoms) if shapely.has_z(geoms).any() else geoms


def roads_from_frame(
    frame: gpd.GeoDataFrame,
    *,
    file: str,
    mapping: RoadMapping | None = None,
    id_field: str | None = None,
    metric_crs: pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Normalise source road features to the road model.

    Parameters
    ----------
    frame
        Line features in EPSG:4326 whose geometries have been checked
        (:func:`geodata.validate.check_geometries`).
    file
        The source file name, for messages.
    mapping
        How classes and levels are assigned; :class:`RoadMapping` defaults when None.
    id_field
        The column holding the road id; by default ``id``, ``osm_id`` or the like, then OSMnx's
        ``u``/``v``/``key``, and failing those an id made from the geometry and name (stable when
        the same road is imported again). Multi-part roads that do not merge into one line become
        one road per part, ``<id>#1``, ``<id>#2``, ….
    metric_crs
        The projected CRS to measure lengths in; chosen for the data when None.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`ROAD_COLUMNS`, EPSG:4326.

    Raises
    ------
    FieldError
        If the id field is missing, or a level field holds an unknown level.
    DuplicateIdError
        If two roads share an id.
    """
    mapping = mapping or RoadMapping()
    ids = _ids(frame, id_field, file)
    attrs = json_safe_records(frame.drop(columns=frame.geometry.name))
    source = frame.assign(_attrs=attrs)
    source, ids = _single_lines(source, ids)
    if len(set(ids)) != len(ids):
        check_unique_ids(ids, file=file, field="id")
    name_zh, name_en = names_of(source)
    classes = _classes(source, mapping, file)
    levels = _levels(
        source, classes=classes, name_zh=name_zh, name_en=name_en, mapping=mapping, file=file
    )
    metric = metric_crs or projected_crs_for(tuple(source.total_bounds))
    lengths = metric_lengths(np.asarray(source.geometry.array, dtype=object), metric)
    roads = gpd.GeoDataFrame(
        {
            "id": ids.to_numpy(dtype=object),
            "name_zh": name_zh.to_numpy(dtype=object),
            "name_en": name_en.to_numpy(dtype=object),
            "road_class": classes.to_numpy(dtype=object),
            "level": levels.to_numpy(dtype=object),
            "length_m": lengths.astype(float),
            "attrs": source["_attrs"].to_numpy(dtype=object),
        },
        geometry=_without_z(np.asarray(source.geometry.array, dtype=object)),
        crs="EPSG:4326",
    )
    return roads
