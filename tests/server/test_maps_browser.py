"""The coverage map in a real browser: headless Chromium, driven by Playwright, on a running server.

``dutygrid serve`` runs on a loopback port with the small district of :mod:`test_maps` and its
hand-built roster (given as an assignment table file, the roster hook of the maps). The browser
signs in, waits until the map is drawn, counts what it drew against the data, steps through the
slots and sees the colours change, and records every request: none may leave the machine. The
standalone file of ``dutygrid map`` is opened from disk the same way. Screenshots go to
``tmp_path``.

These tests need Debian's ``chromium`` package at ``/usr/bin/chromium`` (no browser download);
without it they are skipped.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright
from test_maps import DAY, STAFF, district, provenance, roster, token
from typer.testing import CliRunner

from grids.roster_io import write_assignments_csv
from grids.staff import write_staff_csv
from server.auth import Role
from server.cli import app as cli
from server.maps import page as page_module
from server.storage import Store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COLOURS = {"c": "#1a9850", "p": "#f39c12", "g": "#d73027", "n": "#a8a8a8"}
DRAWN = "document.documentElement.dataset.dutygridDrawn === '1'"
# how many canvas pixels have a status colour (the canvas is the map's renderer)
PIXELS = """(colour) => {
  const rgb = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  let n = 0;
  for (const canvas of document.querySelectorAll('.leaflet-overlay-pane canvas')) {
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const context = copy.getContext('2d', { willReadFrequently: true });
    context.drawImage(canvas, 0, 0);
    const data = context.getImageData(0, 0, copy.width, copy.height).data;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - rgb[0]) < 8 && Math.abs(data[i + 1] - rgb[1]) < 8 &&
          Math.abs(data[i + 2] - rgb[2]) < 8 && data[i + 3] > 200) n += 1;
    }
  }
  return n;
}"""


STILL = "!document.querySelector('.leaflet-zoom-anim')"
NEXT_FRAMES = (
    "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
)
# where a post's line is on the screen
CENTRE = """(id) => {
  const layer = dutygrid.groups.roads.getLayers().find((l) => l.feature.properties.i === id);
  const point = dutygrid.map.latLngToContainerPoint(layer.getCenter());
  const box = dutygrid.map.getContainer().getBoundingClientRect();
  return [point.x + box.left, point.y + box.top];
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Visit:
    """What the browser saw: every request, console message and page error."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_request(request: Request) -> None:
            self.requests.append(request.url)

        def on_console(message: ConsoleMessage) -> None:
            # the sign-in page is not the map's, and its browser asks for an icon it lacks
            if not message.location.get("url", "").endswith("/favicon.ico"):
                self.console.append((message.type, message.text))

        page.on("request", on_request)
        page.on(
            "response",
            lambda answer: (
                self.failed.append(f"{answer.status} {answer.url}")
                if answer.status >= 400
                else None
            ),
        )
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def outside(self, *, allowed: tuple[str, ...]) -> list[str]:
        """Return the requests to anywhere but the allowed hosts (and in-page data)."""
        return [
            url
            for url in self.requests
            if not url.startswith(("data:", "blob:", "file:"))
            and urlparse(url).hostname not in allowed
        ]

    def problems(self) -> list[Any]:
        console = [text for kind, text in self.console if kind in ("error", "warning")]
        return self.errors + self.failed + console


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Run ``dutygrid serve`` on the district with its roster file; yield its URL and a token."""
    layers = district()
    with Store.open(store_url) as store:
        store.write_layers(layers, provenance={n: provenance(n, f) for n, f in layers.items()})
        secret = token(store, Role.DUTY_LEADER)
    write_assignments_csv(roster(), tmp_path / "roster.csv")
    write_staff_csv(STAFF, tmp_path / "staff.csv")
    port = _free_port()
    environment = {
        **os.environ,
        "DUTYGRID_MAP_ROSTER_FILE": str(tmp_path / "roster.csv"),
        "DUTYGRID_MAP_STAFF_FILE": str(tmp_path / "staff.csv"),
    }
    command = [sys.executable, "-c", "from server.cli import main; main()", "serve"]
    command += ["--db", store_url, "--port", str(port)]
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/ogc", timeout=1) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield base, secret
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _slot_button(page: Page, slot_id: str) -> None:
    page.click(f'.dg-slots button[data-slot-id="{slot_id}"]')
    page.wait_for_function(f"document.documentElement.dataset.dutygridSlot === '{slot_id}'")
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def test_map_in_chromium(server: tuple[str, str], browser: Browser, tmp_path: Path) -> None:
    base, secret = server
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    visit = Visit()
    visit.watch(page)
    page.goto(f"{base}/maps/coverage?date={DAY}")
    # a browser without a session is sent to sign in, and back to the map afterwards
    assert "/login" in page.url
    page.fill("#token", secret)
    with page.expect_navigation(url=re.compile(r"/maps/coverage")):
        page.click('input[type="submit"]')
    page.wait_for_function(DRAWN, timeout=30_000)
    assert urlparse(page.url).path == "/maps/coverage"

    layers = district()
    posts = layers["posts"]
    segments = int((posts["kind"] == "segment").sum())
    counts = page.evaluate("dutygrid.counts()")
    assert counts["roads"] == segments
    assert counts["points"] == len(posts) - segments
    assert counts["grids"] == len(layers["unit_grids"])
    assert counts["guidance"] == len(layers["guidance_points"])
    assert counts["territories"] == len(layers["responsibility_grids"])
    assert counts["boundary"] == len(layers["boundary"])
    assert page.locator(".dg-schematic").inner_text() == "示意数据 schematic data"

    # step through the slots with the control: P-R1-1 is open early, held at midday
    _slot_button(page, "early")
    assert page.evaluate("dutygrid.postColour('P-R1-1')") == COLOURS["g"]
    assert page.evaluate("dutygrid.postColour('P-R1-0')") == COLOURS["c"]
    red_early = page.evaluate(PIXELS, COLOURS["g"])
    page.screenshot(path=str(tmp_path / "early.png"))
    _slot_button(page, "midday")
    assert page.evaluate("dutygrid.postColour('P-R1-1')") == COLOURS["c"]
    assert page.evaluate("dutygrid.postColour('P-R2-0')") == COLOURS["g"]  # no patrol at midday
    assert page.evaluate("dutygrid.postColour('P-G1')") == COLOURS["g"]
    red_midday = page.evaluate(PIXELS, COLOURS["g"])
    assert red_early > 0
    assert red_midday > 0
    assert red_early != red_midday  # the canvas was redrawn in the slot's colours
    page.keyboard.press("ArrowRight")  # the arrow keys step too
    assert page.evaluate("dutygrid.meta.slots[dutygrid.slot()].id") == "afternoon"
    page.screenshot(path=str(tmp_path / "coverage-map.png"))

    # a post's popup names who is on it, and the language switch turns the page to English
    page.evaluate("dutygrid.showPlace('P-R1-0')")
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "队员2" in popup.inner_text()
    page.click(".dg-lang")
    assert "Coverage map" in page.locator(".dg-headline").inner_text()
    assert "officer" in page.locator(".leaflet-popup-content").inner_text()
    # a click on the road opens its post
    page.wait_for_function(STILL)  # the zoom to the post has ended
    page.evaluate(
        "dutygrid.map.closePopup(); "
        "dutygrid.map.fitBounds(dutygrid.groups.roads.getBounds(), {animate: false})"
    )
    page.locator(".leaflet-popup-content").wait_for(state="detached")
    page.evaluate(NEXT_FRAMES)
    x, y = page.evaluate(CENTRE, "P-R2-0")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.locator(".leaflet-popup-content", has_text="P-R2-0").wait_for(timeout=5000)

    # the gap list links each gap to its place on the map
    page.goto(f"{base}/maps/gaps?date={DAY}")
    link = page.locator('tr[data-post="P-R1-1"] a.map-link').first
    with page.expect_navigation(url=re.compile(r"/maps/coverage")):
        link.click()
    page.wait_for_function(DRAWN, timeout=30_000)
    page.locator(".leaflet-popup-content").wait_for()
    assert "P-R1-1" in page.locator(".leaflet-popup-content").inner_text()
    page.screenshot(path=str(tmp_path / "gap-on-map.png"))

    assert visit.outside(allowed=("127.0.0.1",)) == []
    assert any("/static/vendor/leaflet/leaflet.js" in url for url in visit.requests)
    assert visit.problems() == []
    assert (tmp_path / "coverage-map.png").stat().st_size > 10_000


def test_standalone_file_from_disk(
    store_url: str, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as for a city's network: the data go in gzip-compressed, the browser unpacks them
    monkeypatch.setattr(page_module, "COMPRESS_ABOVE", 0)
    layers = district()
    with Store.open(store_url) as store:
        store.write_layers(layers, provenance={n: provenance(n, f) for n, f in layers.items()})
    write_assignments_csv(roster(), tmp_path / "roster.csv")
    output = tmp_path / "map.html"
    result = CliRunner().invoke(
        cli,
        ["map", "--db", store_url, "--date", DAY.isoformat(), "-o", str(output),
         "--assignments", str(tmp_path / "roster.csv"), "--slot", "morning"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    visit = Visit()
    visit.watch(page)
    assert 'data-encoding="gzip-base64"' in output.read_text("utf-8")
    page.goto(output.as_uri())
    page.wait_for_function(DRAWN, timeout=30_000)
    assert page.evaluate("dutygrid.meta.slots[dutygrid.slot()].id") == "morning"
    assert page.evaluate("dutygrid.counts()")["roads"] == int(
        (layers["posts"]["kind"] == "segment").sum()
    )
    assert page.evaluate("dutygrid.postColour('P-R1-1')") == COLOURS["g"]  # only an assistant
    assert visit.outside(allowed=()) == []  # opened from disk: not one request
    assert visit.problems() == []
    page.screenshot(path=str(tmp_path / "standalone.png"))
