"""Unit grid codes: forming, reading, legacy codes, and the numbering order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import grids.codes
from grids.codes import (
    NO_SUBDISTRICT,
    check_county_code,
    normalise_unit_grid_code,
    parse_unit_grid_code,
    reading_order,
    sequence_codes,
    unit_grid_code,
)
from grids.errors import GridBuildError, GridCodeError, GridsError


def digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


@given(
    county=digits(6),
    subdistrict=digits(3),
    community=digits(3),
    sequence=st.integers(1, 999),
)
def test_community_codes_parse_back_into_their_parts(
    county: str, subdistrict: str, community: str, sequence: int
) -> None:
    code = unit_grid_code(county, county + subdistrict, county + subdistrict + community, sequence)
    assert len(code) == 15
    assert code.isdigit()
    parsed = parse_unit_grid_code(code)
    assert (parsed.county, parsed.subdistrict, parsed.community) == (county, subdistrict, community)
    assert int(parsed.sequence) == sequence
    assert parsed.code == str(parsed) == code
    assert normalise_unit_grid_code(f" {code} ") == code
    assert parsed.subdistrict_code == (
        None if subdistrict == NO_SUBDISTRICT else county + subdistrict
    )
    # the 3-digit parts are accepted as well as the full division codes
    assert unit_grid_code(county, subdistrict, community, sequence) == code


@given(county=digits(6), subdistrict=digits(3), sequence=st.integers(1, 999_999))
def test_grids_without_a_community_are_numbered_within_the_subdistrict(
    county: str, subdistrict: str, sequence: int
) -> None:
    code = unit_grid_code(county, county + subdistrict, None, sequence)
    parsed = parse_unit_grid_code(code)
    assert parsed.subdistrict == subdistrict
    assert parsed.subdistrict_sequence == sequence


def test_a_grid_outside_every_subdistrict_has_part_000() -> None:
    code = unit_grid_code("410108", None, None, 7)
    assert code == "410108" + NO_SUBDISTRICT + "000007"
    assert parse_unit_grid_code(code).subdistrict_code is None


@pytest.mark.parametrize(
    ("county", "subdistrict", "community", "sequence", "message"),
    [
        ("41010", "410108001", None, 1, "6 digits"),
        ("41010x", "410108001", None, 1, "6 digits"),
        ("410108", "41010800", None, 1, "9 digits"),
        ("410108", "410109001", None, 1, "not in the county 410108"),
        ("410108", "410108001", "41010800100", 1, "12 digits"),
        ("410108", "410108001", "410108001001", 0, "1 to 999"),
        ("410108", "410108001", "410108001001", 1000, "1 to 999"),
        ("410108", "410108001", None, 1_000_000, "1 to 999,999"),
    ],
)
def test_bad_parts_are_refused(
    county: str, subdistrict: str, community: str | None, sequence: int, message: str
) -> None:
    with pytest.raises(GridCodeError, match=message) as caught:
        unit_grid_code(county, subdistrict, community, sequence)
    assert isinstance(caught.value, ValueError)
    assert caught.value.to_dict()["error"] == "GridCodeError"


@pytest.mark.parametrize(
    "code", ["41010800100100", "4101080010010011", "41010800100100a", "", None]
)
def test_parse_refuses_anything_but_15_digits(code: str) -> None:
    with pytest.raises(GridCodeError, match="15 digits"):
        parse_unit_grid_code(code)


def test_parse_refuses_sequence_zero() -> None:
    with pytest.raises(GridCodeError, match="sequence 0"):
        parse_unit_grid_code("410108001000000")


@given(county=digits(6), street=digits(2), community=digits(2), sequence=st.integers(1, 999))
def test_legacy_codes_are_padded_to_15_digits(
    county: str, street: str, community: str, sequence: int
) -> None:
    legacy = f"{county}{street}{community}{sequence:04d}"
    code = normalise_unit_grid_code(legacy)
    parsed = parse_unit_grid_code(code)
    assert (parsed.county, parsed.subdistrict, parsed.community) == (
        county,
        "0" + street,
        "0" + community,
    )
    assert int(parsed.sequence) == sequence


@pytest.mark.parametrize("legacy", ["41010801020000", "41010801021000", "41010801029999"])
def test_legacy_sequences_that_do_not_fit_are_refused(legacy: str) -> None:
    with pytest.raises(GridCodeError, match="legacy"):
        normalise_unit_grid_code(legacy)


def test_county_code_check() -> None:
    assert check_county_code("420102") == "420102"
    with pytest.raises(GridCodeError) as caught:
        check_county_code("4201")
    assert caught.value.field == "county_code"


def test_errors_say_where_and_serialise() -> None:
    error = GridBuildError("no area", layer="boundary", feature="410108", field="geometry")
    assert str(error) == "boundary: feature '410108': field 'geometry': no area"
    assert error.to_dict() == {
        "error": "GridBuildError",
        "message": "no area",
        "layer": "boundary",
        "feature": "410108",
        "field": "geometry",
    }
    assert isinstance(error, GridsError)
    assert isinstance(error, ValueError)
    assert str(GridsError("plain")) == "plain"


@given(
    points=st.lists(
        st.tuples(st.floats(-5_000, 5_000), st.floats(-5_000, 5_000)), min_size=1, max_size=60
    ),
    band=st.floats(1, 500),
)
def test_reading_order_goes_north_to_south_by_rows_then_west_to_east(
    points: list[tuple[float, float]], band: float
) -> None:
    x, y = np.array(points).T
    order = reading_order(x, y, band_m=band)
    assert sorted(order.tolist()) == list(range(len(points)))
    rows = np.floor(y[order] / band)
    assert (np.diff(rows) <= 0).all()
    same_row = np.diff(rows) == 0
    assert (np.diff(x[order])[same_row] >= 0).all()


def test_reading_order_needs_a_positive_band() -> None:
    with pytest.raises(ValueError, match="positive"):
        reading_order([0.0], [0.0], band_m=0.0)


def test_codes_are_numbered_per_community_in_reading_order() -> None:
    # two rows of three grids, 100 m apart, in one community; and one grid in another
    x = [0.0, 100.0, 200.0, 0.0, 100.0, 200.0, 50.0]
    y = [0.0, 0.0, 0.0, 100.0, 100.0, 100.0, 50.0]
    community = ["410108001002"] * 6 + ["410108001003"]
    codes = sequence_codes("410108", ["410108001"] * 7, community, x, y, band_m=100.0)
    # the northern row first, west to east
    assert codes[3:6] == ["410108001002001", "410108001002002", "410108001002003"]
    assert codes[0:3] == ["410108001002004", "410108001002005", "410108001002006"]
    assert codes[6] == "410108001003001"


def test_a_subdistrict_with_a_grid_without_community_is_numbered_as_a_whole() -> None:
    codes = sequence_codes(
        "410108",
        ["410108001", "410108001", "410108002", None],
        ["410108001001", None, "410108002001", None],
        [0.0, 10.0, 20.0, 30.0],
        [0.0, 0.0, 0.0, 0.0],
        band_m=100.0,
    )
    assert codes == ["410108001000001", "410108001000002", "410108002001001", "410108000000001"]


def test_a_community_with_too_many_grids_numbers_its_subdistrict_as_a_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grids.codes, "MAX_COMMUNITY_SEQUENCE", 3)
    x = np.arange(5.0)
    codes = sequence_codes(
        "410108",
        ["410108001"] * 4 + ["410108002"],
        ["410108001001"] * 4 + ["410108002001"],
        x,
        np.zeros(5),
        band_m=10.0,
    )
    assert codes[:4] == [f"410108001{n:06d}" for n in range(1, 5)]
    assert codes[4] == "410108002001001"
    assert len(set(codes)) == len(codes)


def test_a_subdistrict_with_too_many_grids_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grids.codes, "MAX_SUBDISTRICT_SEQUENCE", 3)
    with pytest.raises(GridCodeError, match="more than 3"):
        sequence_codes(
            "410108", ["410108001"] * 4, [None] * 4, np.arange(4.0), np.zeros(4), band_m=1
        )


def test_sequence_codes_checks_lengths_and_handles_nothing() -> None:
    assert sequence_codes("410108", [], [], [], [], band_m=1.0) == []
    with pytest.raises(ValueError, match="same length"):
        sequence_codes("410108", [None], [None, None], [0.0], [0.0], band_m=1.0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "410108001", "410108002"]),
            st.sampled_from([None, "410108001001", "410108001002", "410108002001"]),
            st.floats(0, 1_000),
            st.floats(0, 1_000),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_sequence_codes_are_distinct_and_well_formed(
    grids_: list[tuple[str | None, str | None, float, float]],
) -> None:
    subdistricts, communities, x, y = zip(*grids_, strict=True)
    codes = sequence_codes("410108", list(subdistricts), list(communities), x, y, band_m=100.0)
    assert len(set(codes)) == len(codes)
    for code, subdistrict in zip(codes, subdistricts, strict=True):
        parsed = parse_unit_grid_code(code)
        assert parsed.subdistrict_code == subdistrict
