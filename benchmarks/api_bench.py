"""Load on dutygrid's OGC API – Features, and on pygeoapi serving the same layers, on loopback.

N concurrent clients (default 50) read pages of 100 features: ``roads`` at random offsets and
``unit_grids`` within random boxes of the district; where the service has them (its OpenAPI
document says) and the database has a roster, the coverage of a day is read and the roster's
assignments are written (``PATCH`` with ``If-Match``). Each kind runs alone: flat out (every
client asks again as soon as it has its answer) for ``--seconds``, then paced (each client about
once a second, as people paging a map). Then dutygrid takes the kinds all at once, the clients
shared out by ``--mix``: page reads, coverage reads and writes together. The service runs under
uvicorn with 1 and then 2 workers; pygeoapi serves the same layers, exported to GeoPackage
(``dutygrid export``), with its SQLite/GeoPackage provider, under the same uvicorn and workers,
beside it, and takes the same reads: the two are loaded in turn, ``--rounds`` times flat out (the
best round of each is kept), so that a busy moment of the machine hits both alike. Every request
goes to 127.0.0.1 and every phase stops by itself.

The load comes from wrk (:mod:`http_load`), the same requests in the same order for both
servers: a C client that keeps the cores for the servers, where a Python client would take as
much CPU as the server it loads. Without wrk the bench says how to install it and loads the reads
from an asyncio client instead.

The two read kinds stand for a page never asked before and a page asked again. dutygrid holds
each layer whole per worker, encoded once per version, and keeps the pages it has given (until
the layer is written again): a ``unit_grids box`` is never the same page twice, so every one is
cut afresh from the layer (a new box); a ``roads page`` is one of the layer's few hundred pages,
so after their first touches (in the warm-up) they are given as kept (warm). Before the layers
were held whole, a new box was read from the database and encoded, page by page: the bench
prints that path's cost in process beside the service's own, as the baseline of the same run.
A write answered 412 lost a race with another client's write, as it should: the table counts
those apart (``412/s``) from the errors.

Goals: a 100-feature page at p99 ≤ 50 ms under 50 clients, and more throughput than pygeoapi.
Flat out, 50 clients that each wait for their answer see p99 ≈ 50 / throughput at best (Little's
law): p99 ≤ 50 ms then needs 1,000 pages a second; the paced phase shows the latency a page takes
when the server is not saturated.

Run from the repository root::

    python benchmarks/api_bench.py [--clients 50] [--seconds 10] [--workers 1,2] [--db FILE]

pygeoapi is not a dependency of the service, only of this bench (the ``bench`` extra); without
it the bench says so and loads dutygrid alone::

    pip install -e ".[bench]"                   # pygeoapi, and pysqlite3 where Python's sqlite3
    apt-get install libsqlite3-mod-spatialite   # cannot load extensions, as pyenv's builds cannot
    apt-get install wrk                         # the load generator
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from http_load import WRK_MISSING, Kind, Result, on_cpus, run_asyncio, run_wrk, wrk_path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PAGE = 100
PATHS = 2000
"""Distinct requests of each read kind, taken in turn by the clients."""
ROSTER_WEEK = "2026-W49"
SPATIALITE = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite.so")


# --- the apps uvicorn runs (its --factory imports this module in every worker) ---------------


def service_app() -> Any:
    """Return the dutygrid service, on the database of ``DUTYGRID_DATABASE_URL``."""
    from server.app import create_app
    from server.settings import Settings

    return create_app(Settings())


def _sqlite_that_loads_extensions() -> None:
    """Give pygeoapi a sqlite3 that can load SpatiaLite, where Python's own cannot."""
    import sqlite3

    if hasattr(sqlite3.connect(":memory:"), "enable_load_extension"):
        return
    import pysqlite3.dbapi2

    sys.modules["sqlite3"] = pysqlite3.dbapi2


def pygeoapi_app() -> Any:
    """Return pygeoapi's Starlette app (``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` set)."""
    _sqlite_that_loads_extensions()
    from pygeoapi.starlette_app import APP

    return APP


def write_pygeoapi_openapi(config: str, output: str) -> None:
    """Write pygeoapi's OpenAPI document of ``config`` (it reads the layers to do so)."""
    _sqlite_that_loads_extensions()
    from pygeoapi.openapi import generate_openapi_document

    Path(output).write_text(generate_openapi_document(Path(config), "yaml"), encoding="utf-8")


# --- setting up ---------------------------------------------------------------------------


def cli(*args: str) -> str:
    command = [sys.executable, "-c", "from server.cli import main; main()", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dutygrid {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def huiji_database(folder: Path, given: str | None) -> Path:
    db = folder / "huiji.sqlite"
    if given:
        shutil.copyfile(given, db)
        return db
    print(
        "building a Huiji database (init, unit grids of 200,000 m², posts, demo staff, a roster "
        f"of {ROSTER_WEEK} solved for 5 s) …",
        flush=True,
    )
    cli("init", "--db", str(db))
    cli("grids", "build", "--db", str(db), "--target-area", "200000")
    cli("posts", "build", "--db", str(db))
    cli("staff", "demo", "--db", str(db))
    cli("roster", "solve", "--db", str(db), "--week", ROSTER_WEEK, "--time-limit", "5")
    return db


def admin_token(db: Path) -> str:
    from server.auth import Role, create_token
    from server.storage import Store

    with Store.open(str(db)) as store, store.transaction() as connection:
        _, secret = create_token(connection, role=Role.ADMIN, name="api bench", created_by="bench")
    return secret


def layer_facts(db: Path) -> dict[str, Any]:
    from server.storage import Store

    with Store.open(str(db)) as store:
        counts = store.layer_counts()
        extent = store.layer_extent("boundary")
    return {"counts": counts, "extent": extent}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def uvicorn(
    factory: str,
    *,
    workers: int,
    env: dict[str, str],
    log: Path,
    ready_path: str,
    options: tuple[str, ...] = (),
    cpus: frozenset[int] | None = None,
) -> Iterator[tuple[str, int]]:
    """Run ``factory`` under uvicorn (with ``options``) on a free loopback port.

    Yield its URL and the process id of uvicorn (whose workers are its children). ``cpus``: the
    cores uvicorn and its workers may run on (all when None).
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--app-dir",
        str(ROOT / "benchmarks"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        *options,
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*on_cpus(cpus), *command],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://{HOST}:{port}"
        try:
            wait_until_up(base + ready_path, server, log)
            yield base, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def pygeoapi_ready(python_ok: bool) -> str | None:
    """Return why pygeoapi cannot be run, None if it can."""
    try:
        import pygeoapi  # noqa: F401
    except ImportError:
        return "pygeoapi is not installed: pip install 'pygeoapi>=0.21' pysqlite3-binary"
    if not python_ok:
        try:
            import pysqlite3  # noqa: F401
        except ImportError:
            return "this Python's sqlite3 cannot load SpatiaLite: pip install pysqlite3-binary"
    probe = [
        sys.executable,
        "-c",
        "import api_bench, sqlite3; api_bench._sqlite_that_loads_extensions(); import sys; "
        "c = sys.modules['sqlite3'].connect(':memory:'); c.enable_load_extension(True); "
        f"c.execute(\"SELECT load_extension('{SPATIALITE}')\")",
    ]
    done = subprocess.run(
        probe, cwd=ROOT / "benchmarks", capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return "SpatiaLite is missing: apt-get install libsqlite3-mod-spatialite"
    return None


def pygeoapi_config(folder: Path, db: Path, port_hint: str, extent: list[float]) -> Path:
    """Export roads and unit grids to GeoPackage and write pygeoapi's configuration for them."""
    resources: dict[str, Any] = {}
    for layer in ("roads", "unit_grids"):
        gpkg = folder / f"{layer}.gpkg"
        cli("export", layer, "--db", str(db), "--format", "gpkg", "-o", str(gpkg))
        resources[layer] = {
            "type": "collection",
            "title": layer,
            "description": f"the {layer} of Huiji District (dutygrid export)",
            "keywords": [layer],
            "extents": {
                "spatial": {
                    "bbox": extent,
                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                }
            },
            "providers": [
                {
                    "type": "feature",
                    "name": "SQLiteGPKG",
                    "data": str(gpkg),
                    "id_field": "id",
                    "table": layer,
                }
            ],
        }
    config = {
        "server": {
            "bind": {"host": HOST, "port": 0},
            "url": port_hint,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "pretty_print": False,
            "limits": {"default_items": PAGE, "max_items": 10000},
            "map": {"url": "http://127.0.0.1/tiles/{z}/{x}/{y}.png", "attribution": "none"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "Huiji layers",
                "description": "the layers of the dutygrid benchmark",
                "keywords": ["dutygrid"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": port_hint,
            },
            "license": {"name": "CC-BY 4.0", "url": port_hint},
            "provider": {"name": "dutygrid benchmark", "url": port_hint},
            "contact": {
                "name": "dutygrid benchmark",
                "position": "bench",
                "address": "-",
                "city": "Zhengzhou",
                "stateorprovince": "Henan",
                "postalcode": "450000",
                "country": "China",
                "phone": "-",
                "fax": "-",
                "email": "bench@example.invalid",
                "url": port_hint,
                "hours": "-",
                "instructions": "-",
                "role": "pointOfContact",
            },
        },
        "resources": resources,
    }
    path = folder / "pygeoapi-config.yml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    return path


# --- the load -----------------------------------------------------------------------------


def read_kinds(facts: dict[str, Any], *, pygeoapi: bool, headers: dict[str, str]) -> list[Kind]:
    """Return the reads of the layers: the same pages of both servers, in the same order.

    A roads page is one of the layer's few hundred pages at random offsets, so kept pages are
    read again (warm); a unit_grids box is a random sixth of the district, never the same twice
    (cold).
    """
    prefix, suffix = ("", "&f=json") if pygeoapi else ("/ogc", "")
    roads = facts["counts"]["roads"]
    minx, miny, maxx, maxy = facts["extent"]
    rng = random.Random(20241)
    offsets = [rng.randrange(max(1, roads - PAGE)) for _ in range(PATHS)]
    pages = [
        f"{prefix}/collections/roads/items?limit={PAGE}&offset={offset}{suffix}"
        for offset in offsets
    ]
    box = f"{prefix}/collections/unit_grids/items?limit={PAGE}&bbox=%.6f,%.6f,%.6f,%.6f{suffix}"
    extent = (minx, miny, maxx, maxy, (maxx - minx) / 6, (maxy - miny) / 6)
    return [
        Kind("roads page", pages, headers),
        Kind("unit_grids box", [box], headers, boxes=extent),
    ]


def _get_json(base: str, path: str, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    request = urllib.request.Request(base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer), dict(answer.headers)


def service_kinds(base: str, headers: dict[str, str]) -> list[Kind]:
    """Return the coverage reads and assignment writes where the service has them.

    The writes change a roster's assignments (``PATCH``, admin token, ``If-Match``): each flips
    the ``pinned`` mark of one of 40 assignments, every assignment in turn set and cleared, so
    every write changes the roster. Clients that write at once race: the first wins, the others
    get 412 (the roster changed since they read it) with its new ETag, and send that next.
    """
    paths: dict[str, Any] = _get_json(base, "/openapi.json", headers)[0]["paths"]
    rosters = []
    if "get" in paths.get("/rosters", {}):
        rosters = _get_json(base, "/rosters", headers)[0].get("rosters", [])
    kinds: list[Kind] = []
    if not rosters:
        print("note: the database has no roster: coverage reads and assignment writes left out")
        return kinds
    roster = rosters[0]
    year, week = (int(part) for part in roster["week"].split("-W"))
    monday = date.fromisocalendar(year, week, 1).isoformat()
    if "get" in paths.get("/coverage", {}):
        kinds.append(Kind("coverage day", [f"/coverage?date={monday}"], headers))
    else:
        print("note: the service has no GET /coverage; coverage reads left out")
    route = "/rosters/{roster_id}/assignments"
    if "patch" not in paths.get(route, {}):
        print(f"note: the service has no PATCH {route}; assignment writes left out")
        return kinds
    path = f"/rosters/{quote(roster['id'], safe='')}/assignments"
    rows, answer_headers = _get_json(base, path, headers)
    chosen = random.Random(7).sample(rows, min(40, len(rows)))
    bodies = []
    for flip in (True, False):
        for row in chosen:
            pinned = row["pinned"] != flip
            key = {"officer_id": row["officer_id"], "date": row["date"], "slot_id": row["slot_id"]}
            bodies.append(json.dumps({"change": [{**key, "pinned": pinned}]}))
    kinds.append(
        Kind(
            "assignment write",
            [path] * len(bodies),
            {**headers, "Content-Type": "application/json"},
            method="PATCH",
            bodies=bodies,
            track_etag=True,
            etag=answer_headers.get("etag", answer_headers.get("ETag", "")),
            expected=(200, 412),
        )
    )
    return kinds


@dataclass
class Target:
    """A server under load: its name, base URL, and the kinds of request it is asked."""

    name: str
    base: str
    kinds: list[Kind]
    ready_path: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """Return the CPU time the server has used so far (uvicorn and its workers).

        None where the system does not tell (it is read from Linux's /proc).
        """
        pids = [self.pid]
        try:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        fields = (entry / "stat").read_text().rpartition(")")[2].split()
                    except OSError:
                        continue
                    if int(fields[1]) == self.pid:
                        pids.append(int(entry.name))
            total = 0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            return None
        return total / os.sysconf("SC_CLK_TCK")

    def settle(self, limit_s: float = 120.0) -> None:
        """Wait until the server answers its ready path at once: the last load is worked off.

        A load stops sending when its time is up, but a server may still be working on what it
        was sent (slow writes, most): the next load would find it busy.
        """
        deadline = time.monotonic() + limit_s
        quick = 0
        while quick < 2 and time.monotonic() < deadline:
            start = time.monotonic()
            with urllib.request.urlopen(self.base + self.ready_path, timeout=limit_s) as answer:
                answer.read()
            quick = quick + 1 if time.monotonic() - start < 0.25 else 0
            time.sleep(0.2)


def load(
    target: Target,
    kinds: list[tuple[Kind, int]],
    args: argparse.Namespace,
    *,
    seed: int,
    seconds: float | None = None,
    pace_ms: int = 0,
) -> dict[str, Result]:
    """Load ``target`` with ``kinds`` at once (``(kind, clients)``) for ``--seconds``.

    The requests are those of ``seed``: give each server the same.
    """
    wrk = wrk_path()
    seconds = seconds or (args.paced if pace_ms else args.seconds)
    for server in args.targets:  # none is still at work on an earlier load
        server.settle()
    cpu_before = target.cpu_seconds()
    if wrk is not None:
        results = run_wrk(
            wrk,
            target.base,
            kinds,
            seconds=seconds,
            folder=args.folder,
            pace_ms=pace_ms,
            seed=seed,
            cpus=args.load_cpus,
        )
    else:
        reads = [(kind, n) for kind, n in kinds if kind.method == "GET"]
        results = run_asyncio(target.base, reads, seconds=seconds, pace_ms=pace_ms, seed=seed)
    cpu_after = target.cpu_seconds()
    answered = sum(r.requests for r in results.values())
    if cpu_before is not None and cpu_after is not None and answered:
        for result in results.values():  # all at once: the CPU of an answer of any kind
            result.cpu_ms = (cpu_after - cpu_before) * 1000 / answered
    return results


Row = tuple[str, int, str, str, int, Result]
"""server, workers, kind, phase, clients, result"""


def run_phases(
    targets: list[Target], workers: int, args: argparse.Namespace, table: list[Row]
) -> None:
    """Load each kind alone on every target, then dutygrid's kinds all at once.

    Alone, each kind is loaded flat out ``--rounds`` times, the targets in turn (so that a busy
    moment of the machine hits both alike; the best round of each is kept), then paced. All at
    once, ``--clients`` clients are shared out over the kinds (``--mix``) and load together.
    """
    args.targets = targets
    kinds = dict.fromkeys(k.name for t in targets for k in t.kinds)
    if args.kinds:
        kinds = dict.fromkeys(k for k in kinds if k in args.kinds.split(","))
    for name in kinds:
        asked = [(t, k) for t in targets for k in t.kinds if k.name == name]
        if asked[0][1].method != "GET" and wrk_path() is None:
            print(f"  {name}: left out (the asyncio client only reads; install wrk)")
            continue
        clients = args.writers if asked[0][1].method != "GET" else args.clients
        best: dict[str, Result] = {}
        for target, kind in asked:  # warm-up: first touches, imports, connections
            load(target, [(kind, clients)], args, seed=100, seconds=2)
        for round_ in range(args.rounds):
            for target, kind in asked:
                result = load(target, [(kind, clients)], args, seed=1 + round_)[name]
                if target.name not in best or result.rate() > best[target.name].rate():
                    best[target.name] = result
        for target, kind in asked:
            calm = load(target, [(kind, clients)], args, seed=200, pace_ms=1000)[name]
            for phase, result in (("flat out", best[target.name]), ("paced 1/s", calm)):
                table.append((target.name, workers, name, phase, clients, result))
        print(f"  ×{workers}: {name} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    ours = targets[0]
    parts = [part.partition("=") for part in args.mix.split(",") if part.strip()]
    shares = {name.strip(): int(n) for name, _, n in parts}
    mixed = [(k, shares[k.name]) for k in ours.kinds if shares.get(k.name, 0) > 0]
    if len(mixed) > 1 and wrk_path() is not None:
        for name, result in load(ours, mixed, args, seed=300).items():
            table.append((ours.name, workers, name, "mixed", shares[name], result))
        print(f"  ×{workers}: mixed load done", flush=True)


def in_process_page_ms(db: Path, extent: Sequence[float]) -> dict[str, float]:
    """Return what one 100-feature page costs without HTTP, in ms (medians over 60 pages).

    For each layer: the first page of a worker, which reads and encodes the whole layer
    (``first``); pages of new random boxes cut from it (``new box``); the same boxes again, kept
    (``again``); and, as the baseline, the same boxes read from the database and encoded page by
    page (``database``), the path of a layer not held whole. The database is watched for
    commits, as the service watches it.
    """
    from geodata.layers import LAYERS
    from server.ogc.geojson import encode_features, feature_collection_response
    from server.ogc.layer_snapshot import SNAPSHOTS
    from server.ogc.page_cache import watch_commits
    from server.ogc.pages import read_rows
    from server.ogc.sources import PAGES, layer_sources
    from server.storage import Store, database_url

    sources = layer_sources()
    times: dict[str, float] = {}
    rng = random.Random(7)
    minx, miny, maxx, maxy = extent
    boxes = []
    for _ in range(60):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        w, h = (maxx - minx) / 2.5, (maxy - miny) / 2.5
        boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))

    def timed(make: Callable[[tuple[float, ...]], Any]) -> float:
        spent = []
        for box in boxes:
            start = time.perf_counter()
            make(box)
            spent.append(time.perf_counter() - start)
        return statistics.median(spent) * 1000

    with Store.open(str(db)) as store:
        watch_commits(store, database_url(str(db)))
        for layer in ("roads", "unit_grids"):
            source, spec = sources[layer], LAYERS[layer]
            SNAPSHOTS.clear()
            PAGES.clear()

            def page(box: tuple[float, ...], source: Any = source) -> None:
                got = source.items(store, bbox=box, limit=PAGE, offset=0, datetime=None)
                members = {"numberReturned": len(got.features)}
                feature_collection_response(members, got.features, encoded=got.encoded)

            def from_database(box: tuple[float, ...], spec: Any = spec) -> None:
                with store.connection() as connection:
                    rows = read_rows(connection, spec, bbox=box, limit=PAGE + 1)
                features = encode_features(rows[:PAGE], spec)
                feature_collection_response({"numberReturned": len(features)}, features)

            start = time.perf_counter()
            page(boxes[0])
            times[f"{layer} first"] = (time.perf_counter() - start) * 1000
            times[f"{layer} new box"] = timed(page)
            times[f"{layer} again"] = timed(page)
            times[f"{layer} database"] = timed(from_database)
    return times


def cores_text(args: argparse.Namespace) -> str:
    """Say which cores the servers and the load run on."""
    if args.load_cpus is None:
        return f"{len(os.sched_getaffinity(0))} cores shared by servers and load"
    servers = ",".join(map(str, sorted(args.server_cpus)))
    load = ",".join(map(str, sorted(args.load_cpus)))
    return f"servers on core(s) {servers}, wrk on core(s) {load} (--pin)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--writers", type=int, default=5, help="concurrent clients of the writes alone"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per kind, flat out")
    parser.add_argument("--paced", type=float, default=10.0, help="seconds of the paced phase")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to try")
    parser.add_argument("--rounds", type=int, default=2, help="flat-out rounds; the best is kept")
    parser.add_argument("--db", help="a dutygrid SQLite database (copied); else Huiji is built")
    parser.add_argument("--no-pygeoapi", action="store_true", help="leave pygeoapi out")
    parser.add_argument(
        "--kinds", help="only these kinds alone, comma-separated (e.g. 'roads page,coverage day')"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="keep wrk on the last core and the servers on the others (as a load generator on "
        "its own machine would be), instead of letting all share every core",
    )
    parser.add_argument(
        "--mix",
        default="roads page=40,coverage day=5,assignment write=5",
        help="clients of each kind in the mixed load ('' for none)",
    )
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    cores = sorted(os.sched_getaffinity(0))
    args.load_cpus = args.server_cpus = None
    if args.pin and len(cores) >= 2 and wrk_path() is not None and on_cpus(frozenset(cores)):
        args.load_cpus, args.server_cpus = frozenset(cores[-1:]), frozenset(cores[:-1])
    if wrk_path() is None:
        print(f"note: {WRK_MISSING}")

    with tempfile.TemporaryDirectory(prefix="dutygrid-api-bench-") as tmp:
        folder = args.folder = Path(tmp)
        db = huiji_database(folder, args.db)
        facts = layer_facts(db)
        headers = {"Authorization": f"Bearer {admin_token(db)}"}
        print(
            f"{facts['counts']['roads']} roads, {facts['counts']['unit_grids']} unit grids; "
            f"{args.clients} clients, {args.seconds:g} s per kind flat out, {args.paced:g} s "
            f"paced; load by {'wrk' if wrk_path() else 'asyncio (httpx)'}; uvicorn with "
            f"{uvicorn_stack()}; {cores_text(args)}; "
            "load average {:.1f}, {:.1f}, {:.1f}".format(*os.getloadavg())
        )
        page_ms = in_process_page_ms(db, facts["extent"])
        print(
            "one page in process, ms (first: the layer read whole; new box: cut from it; again: "
            "kept; database: read and encoded page by page, the baseline): "
            + ", ".join(f"{k} {v:.2f}" for k, v in page_ms.items())
        )
        for layer in ("roads", "unit_grids"):
            ratio = page_ms[f"{layer} database"] / max(page_ms[f"{layer} new box"], 1e-6)
            print(f"  {layer}: a new box costs 1/{ratio:.0f} of the database path")
        import sqlite3

        reason = (
            "left out (--no-pygeoapi)"
            if args.no_pygeoapi
            else pygeoapi_ready(hasattr(sqlite3.connect(":memory:"), "enable_load_extension"))
        )
        pygeoapi_env: dict[str, str] = {}
        if reason is None:
            config = pygeoapi_config(folder, db, f"http://{HOST}", list(facts["extent"]))
            openapi = folder / "pygeoapi-openapi.yml"
            code = f"import api_bench; api_bench.write_pygeoapi_openapi({str(config)!r}, "
            code += f"{str(openapi)!r})"
            subprocess.run([sys.executable, "-c", code], cwd=ROOT / "benchmarks", check=True)
            pygeoapi_env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
        else:
            print(f"pygeoapi: {reason}")
        table: list[Row] = []
        for workers in worker_counts:
            with ExitStack() as servers:
                base, pid = servers.enter_context(
                    uvicorn(
                        "api_bench:service_app",
                        workers=workers,
                        env={"DUTYGRID_DATABASE_URL": str(db)},
                        log=folder / f"dutygrid-{workers}.log",
                        ready_path="/ogc",
                        cpus=args.server_cpus,
                    )
                )
                kinds = read_kinds(facts, pygeoapi=False, headers=headers)
                service = kinds + service_kinds(base, headers)
                targets = [Target("dutygrid", base, service, "/ogc", pid)]
                if pygeoapi_env:
                    theirs, their_pid = servers.enter_context(
                        uvicorn(
                            "api_bench:pygeoapi_app",
                            workers=workers,
                            env=pygeoapi_env,
                            log=folder / f"pygeoapi-{workers}.log",
                            ready_path="/collections?f=json",
                            cpus=args.server_cpus,
                        )
                    )
                    check_same_pages(theirs, facts)
                    their_kinds = read_kinds(facts, pygeoapi=True, headers={})
                    targets.append(
                        Target("pygeoapi", theirs, their_kinds, "/collections?f=json", their_pid)
                    )
                run_phases(targets, workers, args, table)
        report(table)
        print(
            "\nload average (1, 5, 15 min) at the end: {:.1f}, {:.1f}, {:.1f}".format(
                *os.getloadavg()
            )
        )


def uvicorn_stack() -> str:
    """Return the event loop and HTTP parser uvicorn picks here (uvloop and httptools if there)."""
    names = []
    for module, fast, plain in (("uvloop", "uvloop", "asyncio"), ("httptools", "httptools", "h11")):
        try:
            __import__(module)
        except ImportError:
            names.append(plain)
        else:
            names.append(fast)
    return " and ".join(names)


def check_same_pages(pygeoapi_base: str, facts: dict[str, Any]) -> None:
    """Say how many features a first page of each kind has on pygeoapi (ours have 100 or fewer)."""
    for kind in read_kinds(facts, pygeoapi=True, headers={}):
        with urllib.request.urlopen(
            pygeoapi_base + kind.path(random.Random(7)), timeout=60
        ) as answer:
            returned = len(json.load(answer)["features"])
        print(f"  pygeoapi: a {kind.name} has {returned} features")


def report(table: list[Row]) -> None:
    """Print every phase, then dutygrid against pygeoapi where both took the same load."""
    print(
        "\nok/s: 2xx answers a second; 412/s: writes that lost a race (not errors); cpu ms: the "
        "server's CPU time per answer (all its workers; in the mixed load, per answer of any "
        "kind): 1000 / cpu ms is what one free core could answer a second"
    )
    header = (
        f"{'server':<8} {'w':>1} {'kind':<16} {'phase':<9} {'cl':>3} {'n':>6} {'ok/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'412/s':>6} {'err':>4} {'KB/ans':>6} {'cpu ms':>6}"
    )
    print(header)
    print("-" * len(header))
    for server, workers, kind, phase, clients, r in table:
        size = r.bytes_read / r.requests / 1024 if r.requests else 0
        conflicts = f"{r.rate(412):6.1f}" if 412 in r.expected else f"{'':>6}"
        print(
            f"{server:<8} {workers:>1} {kind:<16} {phase:<9} {clients:>3} {r.requests:>6} "
            f"{r.rate():>7.1f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {conflicts} {r.errors:>4} "
            f"{size:>6.1f} {r.cpu_ms:>6.2f}"
        )
    for server, workers, kind, phase, _, r in table:
        unexpected = {s: n for s, n in r.statuses.items() if s not in r.expected}
        if unexpected or r.socket_errors:
            print(f"  {server} ×{workers} {kind} {phase}: errors: {r.failures()}")
    ours = {(w, k, p): r for s, w, k, p, _, r in table if s == "dutygrid"}
    theirs = {(w, k, p): r for s, w, k, p, _, r in table if s == "pygeoapi"}
    shared = sorted(ours.keys() & theirs.keys())
    if shared:
        print("\ndutygrid / pygeoapi (same load, same run)")
    for key in shared:
        workers, kind, phase = key
        mine, other = ours[key], theirs[key]
        print(
            f"  ×{workers} {kind:<15} {phase:<9} throughput {mine.rate() / other.rate():5.2f}×, "
            f"p99 {mine.p99_ms / other.p99_ms:5.2f}×"
        )


if __name__ == "__main__":
    main()
