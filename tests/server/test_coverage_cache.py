"""Coverage answers: their shape (summary, or each post's record too), kept until an input changes.

On the small district of :mod:`test_maps`, with its hand-built roster stored as the published
roster of the week of :data:`test_maps.DAY`. Writes are judged settled by the time they carry (in
seconds); the tests move the cache's clock an hour on where they need every write settled.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient
from test_maps import DAY, STAFF, district, filled, provenance, roster, token

from grids.calendar import iso_week
from grids.policy import huiji_default_policy
from server import coverage_cache
from server.app import create_app
from server.auth import Role
from server.maps.collection import records
from server.maps.service import CoverageService, DayCoverage, RosterInput
from server.roster_store import RosterStore
from server.routes import coverage as coverage_routes
from server.routes.coverage import coverage_document
from server.settings import Settings
from server.storage import Store

__all__ = ["filled"]  # the fixture of the small district, used here too


@dataclass
class Reader:
    client: TestClient
    headers: dict[str, str]
    service: CoverageService
    store: Store  # the test's own connection to the service's database
    days: list[date]  # the days the service matched, in order

    def get(self, url: str, **headers: str) -> Any:
        return self.client.get(url, headers={**self.headers, **headers})


@pytest.fixture
def stored(filled: Store) -> str:
    """Store the hand-built roster as the published roster of DAY's week; return its id."""
    rosters = RosterStore(filled)
    rosters.replace_staff(STAFF, source="tests")
    saved = rosters.save_roster(
        iso_week(DAY), roster(), {}, policy=huiji_default_policy(), status="published"
    )
    return saved.info.roster_id


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge writes from an hour on, when every write so far is settled."""
    hour_on = datetime.now(UTC) + timedelta(hours=1)
    monkeypatch.setattr(coverage_cache, "utc_now", lambda: hour_on)


@pytest.fixture
def reader(
    store_url: str, filled: Store, stored: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Reader]:
    app = create_app(Settings(database_url=store_url))
    with TestClient(app) as client:
        service: CoverageService = app.state.coverage_service
        days: list[date] = []
        matched = service.day

        def day(store: Store, on: date, roster_id: str | None = None) -> DayCoverage:
            days.append(on)
            return matched(store, on, roster_id)

        monkeypatch.setattr(service, "day", day)
        headers = {"Authorization": f"Bearer {token(filled, Role.DUTY_LEADER)}"}
        yield Reader(client, headers, service, filled, days)


@pytest.mark.parametrize("slot", ["", "&slot=morning"])
def test_the_default_answer_leaves_out_the_posts_and_detail_adds_them(
    reader: Reader, slot: str
) -> None:
    summary = reader.get(f"/coverage?date={DAY}{slot}")
    full = reader.get(f"/coverage?date={DAY}{slot}&detail=posts")
    assert summary.status_code == full.status_code == 200
    assert summary.headers["content-type"] == "application/json"
    assert "posts" not in summary.json()
    posts = full.json().pop("posts")
    assert {p["post_id"] for p in posts} == set(district()["posts"]["id"])
    assert full.json() | {"posts": None} == summary.json() | {"posts": None}
    assert len(summary.content) < len(full.content)
    assert summary.headers["etag"] != full.headers["etag"]
    also_summary = reader.get(f"/coverage?date={DAY}{slot}&detail=summary")
    assert also_summary.content == summary.content


def test_an_unknown_detail_is_a_problem(reader: Reader) -> None:
    answer = reader.get(f"/coverage?date={DAY}&detail=everything")
    assert answer.status_code in {400, 422}
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.usefixtures("later")
def test_a_day_read_again_is_not_matched_again_and_its_etag_gets_304(reader: Reader) -> None:
    first = reader.get(f"/coverage?date={DAY}")
    again = reader.get(f"/coverage?date={DAY}")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert first.headers["etag"].startswith('W/"')
    # another slot or shape of the same day: answered from the day matched once
    assert reader.get(f"/coverage?date={DAY}&slot=morning&detail=posts").status_code == 200
    assert reader.days == [DAY]
    unchanged = reader.get(f"/coverage?date={DAY}", **{"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == first.headers["etag"]
    other = reader.get(f"/coverage?date={DAY}", **{"If-None-Match": 'W/"something-else"'})
    assert other.status_code == 200
    assert other.content == first.content


@pytest.mark.usefixtures("later")
def test_a_change_of_the_roster_changes_the_answer_at_once(reader: Reader, stored: str) -> None:
    before = reader.get(f"/coverage?date={DAY}")
    rosters = RosterStore(reader.store)
    table = roster()
    fewer = table[table["task"].ne("leader_duty").to_numpy()]
    rosters.replace_assignments(stored, fewer, expected_version=1)
    after = reader.get(f"/coverage?date={DAY}", **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["roster"]["assignments"] == len(fewer) < len(table)
    assert before.json()["summary"]["leaders"]
    assert after.json()["summary"]["leaders"] == []
    # a newer published roster of the week is the day's roster from now on
    newer = rosters.save_roster(
        iso_week(DAY), table, {}, policy=huiji_default_policy(), status="published"
    )
    latest = reader.get(f"/coverage?date={DAY}").json()["roster"]
    assert latest == {
        "id": newer.info.roster_id,
        "status": "published",
        "source": newer.info.roster_id,
        "assignments": len(table),
    }
    # the changed rows were brought up to date from the day matched before; the newer roster is
    # matched afresh
    assert reader.days == [DAY, DAY]


@pytest.mark.usefixtures("later")
def test_a_new_staff_list_changes_the_answer(reader: Reader) -> None:
    def leaders() -> list[str]:
        answer = reader.get(f"/coverage?date={DAY}").json()
        return [p["name"] for p in answer["summary"]["leaders"]]

    assert leaders() == ["王带班"]
    renamed = [replace(o, name="李带班") if o.role == "leader" else o for o in STAFF]
    RosterStore(reader.store).replace_staff(renamed, source="tests, renamed")
    assert leaders() == ["李带班"]


@pytest.mark.usefixtures("later")
def test_a_layer_written_again_changes_the_answer(reader: Reader) -> None:
    before = reader.get(f"/coverage?date={DAY}&detail=posts").json()
    layers = district()
    posts = layers["posts"]
    fewer = posts[posts["id"].ne("P-R3-0").to_numpy()]
    reader.store.write_layers({"posts": fewer}, provenance={"posts": provenance("posts", fewer)})
    after = reader.get(f"/coverage?date={DAY}&detail=posts").json()
    assert {p["post_id"] for p in before["posts"]} - {p["post_id"] for p in after["posts"]} == {
        "P-R3-0"
    }


def test_writes_of_the_last_seconds_are_not_kept(
    reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # judged from before they were written, no write is settled: no version can be told
    monkeypatch.setattr(coverage_cache, "utc_now", lambda: datetime(2000, 1, 1, tzinfo=UTC))
    assert coverage_cache.coverage_inputs(reader.service, reader.store, DAY, None) is None
    first = reader.get(f"/coverage?date={DAY}")
    again = reader.get(f"/coverage?date={DAY}", **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304  # the ETag of the content itself
    assert reader.get(f"/coverage?date={DAY}").content == first.content
    assert reader.days == [DAY, DAY, DAY]
    monkeypatch.setattr(coverage_cache, "utc_now", lambda: datetime.now(UTC) + timedelta(hours=1))
    inputs = coverage_cache.coverage_inputs(reader.service, reader.store, DAY, None)
    assert inputs is not None
    assert inputs == coverage_cache.coverage_inputs(reader.service, reader.store, DAY, None)
    assert inputs != coverage_cache.coverage_inputs(
        reader.service, reader.store, DAY + timedelta(days=1), None
    )


@pytest.mark.usefixtures("later")
def test_rosters_from_another_loader_are_read_every_time(reader: Reader) -> None:
    table = roster()
    loads: list[str | None] = []

    def load(_store: Store, roster_id: str | None, _day: date) -> RosterInput:
        loads.append(roster_id)
        return RosterInput("elsewhere", table, tuple(STAFF), status="published", source="x")

    loader: Callable[[Store, str | None, date], RosterInput | None] = load
    reader.service.roster_loader = loader
    assert coverage_cache.coverage_inputs(reader.service, reader.store, DAY, None) is None
    first = reader.get(f"/coverage?date={DAY}")
    second = reader.get(f"/coverage?date={DAY}")
    assert first.json()["roster"]["id"] == "elsewhere"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert len(loads) == 2


@pytest.mark.usefixtures("later")
def test_now_answers_its_slot_with_the_moment_first(reader: Reader) -> None:
    reader.service.clock = lambda: datetime(2026, 12, 1, 9, 30)
    now = reader.get("/coverage/now")
    assert now.status_code == 200
    assert now.content.startswith(b'{"now":"2026-12-01T09:30:00",')
    document = now.json()
    assert document.pop("now") == "2026-12-01T09:30:00"
    slot = reader.get(f"/coverage?date={DAY}&slot={document['slot']['id']}").json()
    assert document == slot
    assert "posts" not in document
    assert "posts" in reader.get("/coverage/now?detail=posts").json()


@pytest.mark.usefixtures("later")
def test_readers_arriving_together_match_the_day_once(
    reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    matched = reader.service.day
    started = threading.Event()

    def slow_day(store: Store, on: date, roster_id: str | None = None) -> DayCoverage:
        started.set()
        time.sleep(0.3)  # long enough for the other readers to arrive
        return matched(store, on, roster_id)

    monkeypatch.setattr(reader.service, "day", slow_day)

    def read(slot: str | None) -> bytes:
        return coverage_cache.coverage_answer(
            reader.service,
            reader.store,
            DAY,
            None,
            variant=slot,
            build=lambda view: {"slot": slot, "assignments": len(view.coverage.assignments)},
        ).body

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(read, [None, None, None, "morning", "morning", "night"]))
    assert started.is_set()
    assert reader.days == [DAY]  # one match for every slot and reader
    assert answers[0] == answers[1] == answers[2] != answers[3] == answers[4]
    assert {answer.count(b'"assignments"') for answer in answers} == {1}


def _records(table: Any) -> dict[tuple[str, date, str], dict[str, Any]]:
    return {
        (str(r["officer_id"]), r["date"], str(r["slot_id"])): {
            **r,
            "start": r["start"].to_pydatetime(),
            "end": r["end"].to_pydatetime(),
        }
        for r in table.to_dict("records")
    }


EDITS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("o5", "morning", {"post_id": "P-R1-1", "task": "strict_post"}),  # route → strict post
    ("a1", "morning", {"pinned": True}),  # a pin: no duty changes
    ("L1", "day", None),  # the duty leader removed
    ("o4", "midday", {"role": "assistant"}),  # an officer counted as an assistant
    ("o6", "morning", {"post_id": "P-R2-0", "task": "patrol", "slot_id": "midday"}),
]


@pytest.mark.usefixtures("later")
def test_edited_rows_are_brought_up_to_date_as_a_full_match_would(
    reader: Reader, stored: str
) -> None:
    slots = ["", "&slot=early", "&slot=morning", "&slot=midday", "&slot=evening"]
    urls = [f"/coverage?date={DAY}{s}{d}" for s in slots for d in ("", "&detail=posts")]
    before = {url: reader.get(url) for url in urls}
    rosters = RosterStore(reader.store)
    fresh = CoverageService(reader.service.settings)
    for number, (officer, slot, change) in enumerate(EDITS, 1):
        rows = _records(rosters.roster(stored).assignments)
        key = (officer, DAY, slot)
        added = [] if change is None else [{**rows[key], **change}]
        rosters.edit_assignments(stored, remove=[key], add=added, expected_version=number)
        for url in urls:
            answer = reader.get(url)
            assert answer.status_code == 200
            assert answer.headers["etag"] != before[url].headers["etag"]
            slot_id = url.partition("slot=")[2].partition("&")[0] or None
            detail = "posts" if "detail=posts" in url else "summary"
            full = coverage_document(fresh.day(reader.store, DAY), slot_id, detail)
            assert answer.content == coverage_cache.encode(full), (number, url)
            before[url] = answer
    assert reader.days == [DAY]  # matched once, then brought up to date edit by edit
    statuses = {p["post_id"]: p["status"] for p in before[urls[5]].json()["posts"]}
    assert statuses["P-R1-1"] == "covered"  # o5 holds it in the morning now
    assert before[urls[0]].json()["summary"]["leaders"] == []


@pytest.mark.usefixtures("later")
def test_a_pin_or_another_day_changes_the_etag_not_the_answer(reader: Reader, stored: str) -> None:
    built: list[str | None] = []

    def read() -> coverage_cache.CoverageAnswer:
        def build(view: DayCoverage) -> dict[str, Any]:
            built.append(view.roster.status)
            return coverage_document(view, None, "summary")

        return coverage_cache.coverage_answer(
            reader.service, reader.store, DAY, None, variant="test", build=build
        )

    first = read()
    rosters = RosterStore(reader.store)
    rows = _records(rosters.roster(stored).assignments)
    key = ("o1", DAY, "early")
    rosters.edit_assignments(
        stored, remove=[key], add=[{**rows[key], "pinned": True}], expected_version=1
    )
    pinned = read()
    next_day = {**rows[key], "date": DAY + timedelta(days=1)}
    next_day["start"] += timedelta(days=1)
    next_day["end"] += timedelta(days=1)
    rosters.edit_assignments(stored, remove=[], add=[next_day], expected_version=2)
    other_day = read()
    assert first.body == pinned.body == other_day.body
    assert len({first.etag, pinned.etag, other_day.etag}) == 3
    assert built == ["published"]  # made once, given again under each new version
    rosters.set_status(stored, "draft", expected_version=3)
    drafted = read()
    assert json.loads(drafted.body)["roster"]["status"] == "draft"
    assert built == ["published", "draft"]
    assert reader.days == [DAY]


@pytest.mark.usefixtures("later")
def test_the_maps_read_the_kept_day(reader: Reader, stored: str) -> None:
    assert reader.get(f"/coverage?date={DAY}").status_code == 200
    page = reader.get(f"/maps/coverage?date={DAY}")
    gap_list = reader.get(f"/maps/gaps?date={DAY}")
    assert page.status_code == gap_list.status_code == 200
    assert reader.days == [DAY]
    rosters = RosterStore(reader.store)
    rosters.edit_assignments(stored, remove=[("a1", DAY, "morning")], add=[], expected_version=1)
    after = reader.get(f"/maps/gaps?date={DAY}")
    assert after.status_code == 200
    assert after.text != gap_list.text  # a1 no longer stands on P-R1-1 in the morning
    assert reader.get(f"/maps/coverage?date={DAY}").status_code == 200
    assert reader.days == [DAY]


def _records_row_by_row(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a table as JSON-ready mappings, made row by row (as they once were)."""

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

    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_records_are_written_as_row_by_row_and_encoded_as_fastapi_would() -> None:
    frame = pd.DataFrame(
        {
            "n": np.array([1, -2, 3], dtype=np.int64),
            "share": [0.5, np.nan, 1 / 3],
            "flag": [True, False, True],
            "name": pd.array(["文化路", None, "x"], dtype="str"),
            "mixed": pd.Series([np.int64(4), np.float64(np.nan), (1, "a")], dtype=object),
            "when": pd.to_datetime(["2026-12-01 06:00", "2026-12-01 08:00", None]),
            "day": [DAY, None, DAY],
            "count": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    assert records(frame) == _records_row_by_row(frame)
    assert records(frame.iloc[:0]) == [] == _records_row_by_row(frame.iloc[:0])
    document = {"rows": records(frame), "day": DAY, "pair": (1, 2.5), "none": None}
    assert coverage_cache.encode(document) == json.dumps(
        jsonable_encoder(document), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


@pytest.mark.usefixtures("later")
def test_a_day_s_answers_are_those_of_the_row_by_row_records(
    reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {
        url: reader.get(url).content
        for url in (f"/coverage?date={DAY}&detail=posts", f"/coverage?date={DAY}&slot=midday")
    }
    monkeypatch.setattr(coverage_routes, "records", _records_row_by_row)
    view = reader.service.day(reader.store, DAY)
    for url, body in answers.items():
        slot = "midday" if "slot=" in url else None
        detail = "posts" if "detail=posts" in url else "summary"
        document = jsonable_encoder(coverage_routes.coverage_document(view, slot, detail))
        expected = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        assert body == expected.encode("utf-8")


@pytest.mark.usefixtures("later")
def test_a_change_written_while_the_day_is_brought_up_is_in_it(
    reader: Reader, stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reader.get(f"/coverage?date={DAY}").status_code == 200
    rosters = RosterStore(reader.store)
    rosters.edit_assignments(stored, remove=[("L1", DAY, "day")], add=[], expected_version=1)
    read_rows = coverage_cache.roster_day

    def written_meanwhile(store: Store, roster_id: str, on: date) -> Any:
        monkeypatch.setattr(coverage_cache, "roster_day", read_rows)
        rosters.edit_assignments(
            roster_id, remove=[("o1", DAY, "early")], add=[], expected_version=2
        )
        return read_rows(store, roster_id, on)

    monkeypatch.setattr(coverage_cache, "roster_day", written_meanwhile)
    answer = reader.get(f"/coverage?date={DAY}&detail=posts")
    fresh = CoverageService(reader.service.settings).day(reader.store, DAY)
    expected = coverage_cache.encode(coverage_document(fresh, None, "posts"))
    assert answer.content == expected  # the second change too, though read before it
    again = reader.get(f"/coverage?date={DAY}&detail=posts")
    assert again.content == expected
    assert again.headers["etag"] != answer.headers["etag"]  # now named by the version read
    assert reader.days == [DAY]
