"""Coverage answers: their shape (summary, or each post's record too), kept until an input changes.

On the small district of :mod:`test_maps`, with its hand-built roster stored as the published
roster of the week of :data:`test_maps.DAY`. Writes are judged settled by the time they carry (in
seconds); the tests move the cache's clock an hour on where they need every write settled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_maps import DAY, STAFF, district, filled, provenance, roster, token

from grids.calendar import iso_week
from grids.policy import huiji_default_policy
from server import coverage_cache
from server.app import create_app
from server.auth import Role
from server.maps.service import CoverageService, DayCoverage, RosterInput
from server.roster_store import RosterStore
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
    assert reader.days == [DAY, DAY, DAY]


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
