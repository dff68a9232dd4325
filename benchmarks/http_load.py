"""The load of the API bench: closed-loop HTTP/1.1 clients on keep-alive connections.

The load is made by wrk (a C load generator: one thread drives every connection of a kind, at a
small fraction of a core, so the servers keep the cores). Each kind of request is a list of paths
(and bodies) that the clients take in turn, the same list for every server, in a Lua script that
also counts the answers by status and, for writes, sends back the ETag of the latest answer as
``If-Match``. Without wrk the bench says how to install it and falls back on an asyncio client
(httpx) for the reads, which shares the cores with the servers and so shows less than they can.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WRK_MISSING = (
    "wrk is not installed, so the load comes from an asyncio client in Python, which shares the "
    "cores with the servers and shows less than they can (and leaves the writes out). Install "
    "wrk for the real figures: apt-get install wrk (Debian, Ubuntu), dnf install wrk (Fedora), "
    "brew install wrk (macOS)"
)


def wrk_path() -> str | None:
    """Return the wrk program, None if it is not installed."""
    return shutil.which("wrk")


@dataclass
class Kind:
    """A kind of request: its paths (taken in turn), method, headers and bodies.

    ``track_etag`` sends each request with ``If-Match`` set to the ETag of the latest answer
    (a 412 problem's ``etag`` member too), starting from ``etag``.
    """

    name: str
    paths: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    bodies: list[str] | None = None
    track_etag: bool = False
    etag: str = ""
    expected: tuple[int, ...] = (200,)
    """Statuses that are answers, not errors (412: a write that lost a race, as it should)."""
    boxes: tuple[float, float, float, float, float, float] | None = None
    """Where set, each path is ``paths[0]`` with ``%.6f`` four times filled with a random box:
    (min x, min y, max x, max y) of the extent, then the box's width and height."""

    def path(self, rng: random.Random) -> str:
        """Return a path of this kind, chosen with ``rng`` (for the asyncio client)."""
        if self.boxes is None:
            return rng.choice(self.paths)
        minx, miny, maxx, maxy, width, height = self.boxes
        x, y = rng.uniform(minx, maxx - width), rng.uniform(miny, maxy - height)
        return self.paths[0] % (x, y, x + width, y + height)


@dataclass
class Result:
    """The answers to one phase of one kind."""

    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0
    bytes_read: int = 0
    expected: tuple[int, ...] = (200,)
    cpu_ms: float = float("nan")
    """The server's CPU time per answer, where it was measured."""

    @property
    def ok(self) -> int:
        """Return how many answers were 2xx."""
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def errors(self) -> int:
        """Return the requests answered with an unexpected status, or not answered."""
        unexpected = sum(n for s, n in self.statuses.items() if s not in self.expected)
        return unexpected + self.socket_errors

    def rate(self, status: int | None = None) -> float:
        """Return 2xx answers a second (or answers of ``status``)."""
        n = self.ok if status is None else self.statuses.get(status, 0)
        return n / self.seconds if self.seconds else 0.0

    def failures(self) -> str:
        """Return the statuses other than 2xx and how often each came (0: no answer)."""
        parts = [f"{s}×{n}" for s, n in sorted(self.statuses.items()) if not 200 <= s < 300]
        if self.socket_errors:
            parts.append(f"no answer×{self.socket_errors}")
        return ", ".join(parts)


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string (ASCII, escaped) is a Lua string too


def lua_script(kind: Kind, *, pace_ms: int = 0, seed: int = 1) -> str:
    """Return the wrk script of a kind: flat out, or each client once every ``pace_ms`` on average.

    Every answer is counted by status (wrk itself counts only status ≥ 400 as a whole); the
    counts, the percentiles and the totals are written as one JSON line, ``WRKJSON {…}``.
    """
    paths = ",\n".join(_lua_string(p) for p in kind.paths)
    bodies = ",\n".join(_lua_string(b) for b in kind.bodies or [])
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in kind.headers.items())
    boxes = "nil"
    if kind.boxes is not None:
        boxes = "{" + ", ".join(repr(v) for v in kind.boxes) + "}"
    pace = (
        f"function delay() return math.random({pace_ms // 2}, {pace_ms * 3 // 2}) end"
        if pace_ms
        else ""
    )
    return f"""-- wrk script: {kind.name}
local paths = {{{paths}}}
local bodies = {{{bodies}}}
local headers = {{{headers}}}
local method = {_lua_string(kind.method)}
local track = {"true" if kind.track_etag else "false"}
local boxes = {boxes}
local i = 0
local threads = {{}}
etag = {_lua_string(kind.etag)}
statuses = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed({seed})
  i = math.random(#paths) - 1
end

function request()
  i = i % #paths + 1
  if track then headers["If-Match"] = etag end
  local body = nil
  if #bodies > 0 then body = bodies[i] end
  local path = paths[i]
  if boxes then
    local x = boxes[1] + math.random() * (boxes[3] - boxes[1] - boxes[5])
    local y = boxes[2] + math.random() * (boxes[4] - boxes[2] - boxes[6])
    path = string.format(path, x, y, x + boxes[5], y + boxes[6])
  end
  return wrk.format(method, path, headers, body)
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  if track then
    local tag = hdrs["etag"] or hdrs["ETag"]
    if tag == nil and status == 412 and body then
      local hex = body:match('"etag":"W/\\\\"(%x+)\\\\""')
      if hex then tag = 'W/"' .. hex .. '"' end
    end
    if tag then etag = tag end
  end
end

{pace}

function done(summary, latency, requests)
  local counts = {{}}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[#counts + 1] = string.format('"%d": %d', status, n)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "statuses": {{%s}}}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(counts, ", ")))
end
"""


def start_wrk(
    wrk: str,
    base: str,
    kind: Kind,
    *,
    clients: int,
    seconds: float,
    folder: Path,
    pace_ms: int = 0,
    seed: int = 1,
    cpus: frozenset[int] | None = None,
) -> subprocess.Popen[str]:
    """Start wrk on ``kind`` against ``base`` (one thread, ``clients`` connections).

    ``cpus``: the cores wrk may run on (all when None).
    """
    script = folder / f"{kind.name.replace(' ', '_')}-{time.monotonic_ns()}.lua"
    script.write_text(lua_script(kind, pace_ms=pace_ms, seed=seed), encoding="utf-8")
    command = [
        wrk,
        "--threads",
        "1",
        "--connections",
        str(clients),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--script",
        str(script),
        base,
    ]
    return subprocess.Popen(
        [*on_cpus(cpus), *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def on_cpus(cpus: frozenset[int] | None) -> list[str]:
    """Return the command prefix that keeps a process and its children on ``cpus`` (taskset).

    Empty for all cores, or where taskset is missing.
    """
    taskset = shutil.which("taskset")
    if not cpus or taskset is None:
        return []
    return [taskset, "--cpu-list", ",".join(map(str, sorted(cpus)))]


def wrk_result(process: subprocess.Popen[str], kind: Kind) -> Result:
    """Wait for a wrk started by :func:`start_wrk` and return what it measured."""
    output, _ = process.communicate()
    line = next((x for x in output.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result for {kind.name}:\n{output[-2000:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return Result(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses={int(s): n for s, n in data["statuses"].items()},
        socket_errors=data["socket_errors"],
        bytes_read=data["bytes"],
        expected=kind.expected,
    )


def run_wrk(
    wrk: str,
    base: str,
    kinds: list[tuple[Kind, int]],
    *,
    seconds: float,
    folder: Path,
    pace_ms: int = 0,
    seed: int = 1,
    cpus: frozenset[int] | None = None,
) -> dict[str, Result]:
    """Load ``base`` with every kind at once (``(kind, clients)``) for ``seconds``.

    The same ``seed`` gives the same requests in the same order: give both servers the same.
    ``cpus``: the cores wrk may run on (all when None).
    """
    started = [
        (
            kind,
            start_wrk(
                wrk,
                base,
                kind,
                clients=n,
                seconds=seconds,
                folder=folder,
                pace_ms=pace_ms,
                seed=seed,
                cpus=cpus,
            ),
        )
        for kind, n in kinds
    ]
    return {kind.name: wrk_result(process, kind) for kind, process in started}


# --- without wrk: an asyncio client ---------------------------------------------------------


def _httpx() -> Any:
    try:
        import httpx2
    except ImportError:
        import httpx

        return httpx
    return httpx2


async def _clients(
    base: str, kind: Kind, *, clients: int, seconds: float, pace_s: float, seed: int
) -> Result:
    httpx = _httpx()
    latencies: list[float] = []
    result = Result(expected=kind.expected)
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=kind.headers, limits=limits, timeout=60
    ) as client:
        start = time.perf_counter()

        async def one_client() -> None:
            while time.perf_counter() < start + seconds:
                if pace_s:
                    await asyncio.sleep(rng.uniform(pace_s / 2, pace_s * 3 / 2))
                sent = time.perf_counter()
                try:
                    answer = await client.get(kind.path(rng))
                    result.bytes_read += len(answer.content)
                    status = answer.status_code
                except Exception:  # a failed request counts as an error, the load goes on
                    result.socket_errors += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                result.statuses[status] = result.statuses.get(status, 0) + 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
        result.seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    result.requests = len(ordered) + result.socket_errors
    if ordered:
        result.p50_ms = statistics.median(ordered) * 1000
        result.p99_ms = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000
    return result


def run_asyncio(
    base: str, kinds: list[tuple[Kind, int]], *, seconds: float, pace_ms: int = 0, seed: int = 1
) -> dict[str, Result]:
    """Load ``base`` with every read kind at once from an asyncio client (no wrk)."""

    async def all_kinds() -> list[Result]:
        return await asyncio.gather(
            *(
                _clients(base, kind, clients=n, seconds=seconds, pace_s=pace_ms / 1000, seed=seed)
                for kind, n in kinds
            )
        )

    return {kind.name: r for (kind, _), r in zip(kinds, asyncio.run(all_kinds()), strict=True)}
