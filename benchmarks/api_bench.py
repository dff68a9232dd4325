"""Load on dutygrid's OGC API – Features, and on pygeoapi serving the same layers, on loopback.

N concurrent clients (default 50) read pages of 100 features: ``roads`` at random offsets and
``unit_grids`` within random boxes of the district; where the service has them (its OpenAPI
document says), coverage reads follow. Each kind runs twice: flat out (every client asks again as
soon as it has its answer) for a fixed number of requests, sending none after ``--max-seconds``,
then paced (each client once a second, as people paging a map) for a fixed time. The service
runs under uvicorn with 1 and then 2 workers; pygeoapi serves the same layers, exported to
GeoPackage (``dutygrid export``), with its SQLite/GeoPackage provider, under the same uvicorn and
workers, beside it, and takes the same load: the two are loaded in turn, ``--rounds`` times flat
out (the best round of each is kept), so that a busy moment of the machine hits both alike.
Every request goes to 127.0.0.1 and every phase stops by itself.

The two kinds stand for a cold and a warm service. dutygrid keeps the pages it has encoded (per
worker, until the layer is written again): a ``unit_grids box`` is never the same page twice, so
every one is read and encoded afresh (first touch, cold); a ``roads page`` is one of the layer's
few hundred pages, so after their first touches (in the warm-up and the first round) they are
served from memory (warm).

Goals: a 100-feature page at p99 ≤ 50 ms under 50 clients, and more throughput than pygeoapi.
Flat out, 50 clients that each wait for their answer see p99 ≈ 50 / throughput at best (Little's
law): p99 ≤ 50 ms then needs 1,000 pages a second; the paced phase shows the latency a page takes
when the server is not saturated.

Run from the repository root::

    python benchmarks/api_bench.py [--clients 50] [--requests 1500] [--workers 1,2] [--db FILE]

pygeoapi is not a dependency of the service, only of this bench (the ``bench`` extra); without
it the bench says so and loads dutygrid alone::

    pip install -e ".[bench]"                   # pygeoapi, and pysqlite3 where Python's sqlite3
    apt-get install libsqlite3-mod-spatialite   # cannot load extensions, as pyenv's builds cannot
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PAGE = 100
SPATIALITE = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite.so")


# --- the apps uvicorn runs (its --factory imports this module in every worker) ---------------


def http_client() -> Any:
    """Return the httpx module: httpx2, the one dutygrid's tests use, else httpx."""
    try:
        import httpx2
    except ImportError:
        import httpx

        return httpx
    return httpx2


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
    print("building a Huiji database (init, unit grids of 200,000 m², posts) …", flush=True)
    cli("init", "--db", str(db))
    cli("grids", "build", "--db", str(db), "--target-area", "200000")
    cli("posts", "build", "--db", str(db))
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
) -> Iterator[str]:
    """Run ``factory`` under uvicorn (with ``options``) on a free loopback port; yield its URL."""
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
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://{HOST}:{port}"
        try:
            wait_until_up(base + ready_path, server, log)
            yield base
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


@dataclass
class Result:
    """The answers to one phase of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bytes_read: int = 0
    seconds: float = 0.0

    def failures(self) -> str:
        """Return the statuses other than 200 and how often each came (0: no answer)."""
        return ", ".join(f"{s}×{n}" for s, n in sorted(self.statuses.items()) if s != 200)

    def row(self) -> tuple[int, float, float, float, int]:
        """Return (requests, pages answered per second, p50 ms, p99 ms, errors).

        Only the 200 answers count as pages; the latencies are of every request.
        """
        n = len(self.latencies)
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000 if n else float("nan")
        p99 = ordered[min(n - 1, int(0.99 * n))] * 1000 if n else float("nan")
        pages = self.statuses.get(200, 0)
        return n, pages / self.seconds if self.seconds else 0.0, p50, p99, n - pages


UrlMaker = Callable[[random.Random], str]


async def _ask(client: Any, url: str, result: Result) -> None:
    start = time.perf_counter()
    try:
        answer = await client.get(url)
        status = answer.status_code
        result.bytes_read += len(answer.content)
    except Exception:  # a failed request counts as an error, the load goes on
        status = 0
    result.latencies.append(time.perf_counter() - start)
    result.statuses[status] = result.statuses.get(status, 0) + 1


async def flat_out(
    base: str,
    make_url: UrlMaker,
    *,
    clients: int,
    requests: int,
    headers: dict[str, str],
    max_seconds: float = 60.0,
) -> Result:
    """``clients`` clients ask, each again as soon as it has its answer, ``requests`` in all.

    No request is sent after ``max_seconds``: a slow kind ends with fewer.
    """
    httpx = http_client()

    result = Result()
    rng = random.Random(20241)
    issued = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:

        async def one_client() -> None:
            nonlocal issued
            while issued < requests and time.perf_counter() < start + max_seconds:
                issued += 1
                await _ask(client, make_url(rng), result)

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        result.seconds = time.perf_counter() - start
    return result


async def paced(
    base: str, make_url: UrlMaker, *, clients: int, seconds: float, headers: dict[str, str]
) -> Result:
    """``clients`` clients each ask once a second (spread over the second) for ``seconds``."""
    httpx = http_client()

    result = Result()
    rng = random.Random(20242)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:
        start = time.perf_counter()

        async def one_client(index: int) -> None:
            due = start + index / clients
            while due < start + seconds and time.perf_counter() < start + seconds:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await _ask(client, make_url(rng), result)
                due += 1.0

        await asyncio.gather(*(one_client(i) for i in range(clients)))
        result.seconds = time.perf_counter() - start
    return result


def url_makers(facts: dict[str, Any], *, pygeoapi: bool) -> dict[str, UrlMaker]:
    """Return how each kind of request is made: the same pages of both servers."""
    prefix, suffix = ("", "&f=json") if pygeoapi else ("/ogc", "")
    roads = facts["counts"]["roads"]
    minx, miny, maxx, maxy = facts["extent"]
    width, height = (maxx - minx) / 6, (maxy - miny) / 6

    def roads_page(rng: random.Random) -> str:
        offset = rng.randrange(max(1, roads - PAGE))
        return f"{prefix}/collections/roads/items?limit={PAGE}&offset={offset}{suffix}"

    def unit_grids_box(rng: random.Random) -> str:
        x, y = rng.uniform(minx, maxx - width), rng.uniform(miny, maxy - height)
        box = f"{x:.6f},{y:.6f},{x + width:.6f},{y + height:.6f}"
        return f"{prefix}/collections/unit_grids/items?limit={PAGE}&bbox={box}{suffix}"

    return {"roads page": roads_page, "unit_grids box": unit_grids_box}


def service_extras(base: str, headers: dict[str, str]) -> dict[str, UrlMaker]:
    """Return the coverage reads where the service has them; say what is left out and why."""
    request = urllib.request.Request(base + "/openapi.json", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        paths: dict[str, Any] = json.load(answer)["paths"]
    extras: dict[str, UrlMaker] = {}
    if "get" in paths.get("/coverage", {}):
        probe = urllib.request.Request(base + "/coverage", headers=headers)
        try:
            with urllib.request.urlopen(probe, timeout=60) as answer:
                day = json.load(answer).get("date")
            extras["coverage day"] = lambda _rng: f"/coverage?date={day}"
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:200]
            print(f"note: GET /coverage answers {error.code} on this database; left out: {detail}")
    else:
        print("note: the service has no GET /coverage yet; coverage reads left out")
    writes = [
        f"{method.upper()} {path}"
        for path, item in paths.items()
        if "assignment" in path
        for method in item
        if method in ("post", "put", "patch")
    ]
    if writes:
        print(f"note: assignment writes ({', '.join(writes)}) are not part of this load yet")
    else:
        print("note: the service has no assignment writes yet; left out")
    return extras


@dataclass
class Target:
    """A server under load: its name, base URL, headers and how it is asked each kind."""

    name: str
    base: str
    headers: dict[str, str]
    makers: dict[str, UrlMaker]


def run_phases(
    targets: list[Target], workers: int, args: argparse.Namespace, table: list[tuple[Any, ...]]
) -> None:
    """Load each kind on every target, alternating the targets, ``--rounds`` times flat out.

    Alternating lets a busy moment of the machine hit both servers alike; the best round of each
    server is kept.
    """
    kinds = dict.fromkeys(kind for target in targets for kind in target.makers)
    if args.kinds:
        kinds = dict.fromkeys(k for k in kinds if k in args.kinds.split(","))
    for kind in kinds:
        asked = []
        for target in targets:
            if kind not in target.makers:
                continue
            warm = asyncio.run(
                flat_out(
                    target.base,
                    target.makers[kind],
                    clients=args.clients,
                    requests=100,
                    headers=target.headers,
                    max_seconds=10,
                )
            )
            if warm.statuses.get(200, 0) == 0:
                print(f"  {target.name}: {kind} answers {warm.statuses}; left out")
                continue
            asked.append(target)
        best: dict[str, Result] = {}
        for _ in range(args.rounds):
            for target in asked:
                full = asyncio.run(
                    flat_out(
                        target.base,
                        target.makers[kind],
                        clients=args.clients,
                        requests=args.requests,
                        headers=target.headers,
                        max_seconds=args.max_seconds,
                    )
                )
                if target.name not in best or full.row()[1] > best[target.name].row()[1]:
                    best[target.name] = full
        for target in asked:
            calm = asyncio.run(
                paced(
                    target.base,
                    target.makers[kind],
                    clients=args.clients,
                    seconds=args.paced,
                    headers=target.headers,
                )
            )
            for mode, result in (("flat out", best[target.name]), ("paced 1/s", calm)):
                table.append((target.name, workers, kind, mode, *result.row(), result.bytes_read))
                if result.failures():
                    print(
                        f"  {target.name} ×{workers}: {kind} {mode}: not 200: {result.failures()}"
                    )
        print(f"  ×{workers}: {kind} done", flush=True)


def in_process_page_ms(db: Path) -> dict[str, float]:
    """Return what one 100-feature page costs the service without HTTP, in ms (median of 50).

    Each layer is read twice over the same 60 pages: first touch (``roads cold``), then again,
    when the pages are kept (``roads warm``; an older dutygrid that keeps none pays the same twice).
    """
    from server.ogc.geojson import feature_collection_response
    from server.ogc.sources import layer_sources
    from server.storage import Store

    sources = layer_sources()
    times: dict[str, float] = {}
    with Store.open(str(db)) as store:
        for layer in ("roads", "unit_grids"):
            for touch in ("cold", "warm"):
                spent = []
                for i in range(60):
                    start = time.perf_counter()
                    page = sources[layer].items(
                        store, bbox=None, limit=PAGE, offset=(i * 37) % 200, datetime=None
                    )
                    members = {"numberReturned": len(page.features)}
                    feature_collection_response(members, page.features)
                    spent.append(time.perf_counter() - start)
                times[f"{layer} {touch}"] = statistics.median(spent[10:]) * 1000
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=1500, help="requests per kind, flat out")
    parser.add_argument("--paced", type=float, default=10.0, help="seconds of the paced phase")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="no new request after this, flat out"
    )
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to try")
    parser.add_argument("--rounds", type=int, default=2, help="flat-out rounds; the best is kept")
    parser.add_argument("--db", help="a dutygrid SQLite database (copied); else Huiji is built")
    parser.add_argument("--no-pygeoapi", action="store_true", help="leave pygeoapi out")
    parser.add_argument(
        "--kinds", help="only these kinds, comma-separated (e.g. 'roads page,unit_grids box')"
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="also load dutygrid under uvicorn's uvloop and httptools (installed beside), in turn",
    )
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="dutygrid-api-bench-") as tmp:
        folder = Path(tmp)
        db = huiji_database(folder, args.db)
        facts = layer_facts(db)
        headers = {"Authorization": f"Bearer {admin_token(db)}"}
        print(
            f"{facts['counts']['roads']} roads, {facts['counts']['unit_grids']} unit grids; "
            f"{args.clients} clients, {args.requests} requests per kind flat out, "
            f"{args.paced:g} s paced; {os.cpu_count()} cores shared by servers and clients; "
            "load average {:.1f}, {:.1f}, {:.1f}".format(*os.getloadavg())
        )
        page_ms = in_process_page_ms(db)
        print(
            "one page in process (read + GeoJSON; the server is another process, cold at start): "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in page_ms.items())
        )
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
        table: list[tuple[Any, ...]] = []
        for workers in worker_counts:
            with ExitStack() as servers:
                base = servers.enter_context(
                    uvicorn(
                        "api_bench:service_app",
                        workers=workers,
                        env={"DUTYGRID_DATABASE_URL": str(db)},
                        log=folder / f"dutygrid-{workers}.log",
                        ready_path="/ogc",
                    )
                )
                makers = {**url_makers(facts, pygeoapi=False), **service_extras(base, headers)}
                targets = [Target("dutygrid", base, headers, makers)]
                if args.uvloop:
                    fast = servers.enter_context(
                        uvicorn(
                            "api_bench:service_app",
                            workers=workers,
                            env={"DUTYGRID_DATABASE_URL": str(db)},
                            log=folder / f"dutygrid-uvloop-{workers}.log",
                            ready_path="/ogc",
                            options=("--loop", "uvloop", "--http", "httptools"),
                        )
                    )
                    targets.append(Target("dg+uvloop", fast, headers, makers))
                if pygeoapi_env:
                    theirs = servers.enter_context(
                        uvicorn(
                            "api_bench:pygeoapi_app",
                            workers=workers,
                            env=pygeoapi_env,
                            log=folder / f"pygeoapi-{workers}.log",
                            ready_path="/collections?f=json",
                        )
                    )
                    check_same_pages(theirs, facts)
                    targets.append(Target("pygeoapi", theirs, {}, url_makers(facts, pygeoapi=True)))
                run_phases(targets, workers, args, table)
        report(table)
        print(
            "\nload average (1, 5, 15 min) at the end: {:.1f}, {:.1f}, {:.1f}".format(
                *os.getloadavg()
            )
        )


def check_same_pages(pygeoapi_base: str, facts: dict[str, Any]) -> None:
    """Say how many features a first page of each kind has on pygeoapi (ours have 100 or fewer)."""
    for kind, make_url in url_makers(facts, pygeoapi=True).items():
        url = make_url(random.Random(7))
        with urllib.request.urlopen(pygeoapi_base + url, timeout=60) as answer:
            returned = len(json.load(answer)["features"])
        print(f"  pygeoapi: a {kind} has {returned} features")


def report(table: list[tuple[Any, ...]]) -> None:
    print()
    header = (
        f"{'server':<9} {'w':>1} {'kind':<15} {'mode':<9} {'n':>5} {'pages/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>8} {'err':>4} {'KB/page':>7}"
    )
    print(header)
    print("-" * len(header))
    for server, workers, kind, mode, n, rate, p50, p99, errors, read in table:
        size = read / n / 1024 if n else 0
        print(
            f"{server:<9} {workers:>1} {kind:<15} {mode:<9} {n:>5} {rate:>7.1f} {p50:>7.1f} "
            f"{p99:>8.1f} {errors:>4} {size:>7.1f}"
        )
    for one, other in (("dutygrid", "pygeoapi"), ("dg+uvloop", "dutygrid")):
        ours = {(w, k, m): (rate, p99) for s, w, k, m, _, rate, _, p99, *_ in table if s == one}
        theirs = {(w, k, m): (rate, p99) for s, w, k, m, _, rate, _, p99, *_ in table if s == other}
        shared = sorted(ours.keys() & theirs.keys())
        if shared:
            print(f"\n{one} / {other}")
        for key in shared:
            (our_rate, our_p99), (their_rate, their_p99) = ours[key], theirs[key]
            workers, kind, mode = key
            print(
                f"  ×{workers} {kind:<15} {mode:<9} throughput {our_rate / their_rate:5.2f}×, "
                f"p99 {our_p99 / their_p99:5.2f}×"
            )


if __name__ == "__main__":
    main()
