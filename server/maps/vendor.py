"""The browser assets of the maps: Leaflet from an installed package, and the map's own script.

Nothing is fetched from the internet and nothing third-party is copied into the repository:
Leaflet comes from the ``xstatic-leaflet`` package, served under :data:`VENDOR_PREFIX` by the
service, or written into the page itself for a map that must work when opened from disk.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final, Literal

import xstatic.pkg.leaflet as xstatic_leaflet  # type: ignore[import-untyped]

VENDOR_PREFIX: Final = "/static/vendor"
"""Where third-party assets are served: ``/static/vendor/leaflet/leaflet.js``."""

APP_PREFIX: Final = "/static/maps"
"""Where the map's own script and style are served."""

ASSETS_DIR: Final = Path(__file__).parent / "assets"
APP_SCRIPTS: Final = ("coverage.js",)
APP_STYLES: Final = ("coverage.css",)

AssetMode = Literal["served", "inline"]

_CSS_URL = re.compile(r"url\(\s*['\"]?(?!data:|https?:|/)([^'\")]+)['\"]?\s*\)")


@dataclass(frozen=True)
class VendorPackage:
    """A third-party asset package: where its files are and which the pages load.

    Attributes
    ----------
    name
        Its URL segment under :data:`VENDOR_PREFIX`.
    directory
        Its files, inside the installed Python package.
    scripts, styles
        The files a page loads, in order.
    version
        The version of the library.
    licence
        Its licence.
    """

    name: str
    directory: Path
    scripts: tuple[str, ...]
    styles: tuple[str, ...]
    version: str
    licence: str


@cache
def vendor_packages() -> tuple[VendorPackage, ...]:
    """Return the third-party packages the maps load, in the order they load."""
    return (
        VendorPackage(
            name="leaflet",
            directory=Path(xstatic_leaflet.BASE_DIR),
            scripts=("leaflet.js",),
            styles=("leaflet.css",),
            version=str(xstatic_leaflet.VERSION),
            licence="BSD-2-Clause",
        ),
    )


def script_urls() -> list[str]:
    """Return the URLs of every script a served map page loads, in order."""
    urls = [f"{VENDOR_PREFIX}/{p.name}/{s}" for p in vendor_packages() for s in p.scripts]
    return urls + [f"{APP_PREFIX}/{s}" for s in APP_SCRIPTS]


def style_urls() -> list[str]:
    """Return the URLs of every style sheet a served map page loads, in order."""
    urls = [f"{VENDOR_PREFIX}/{p.name}/{s}" for p in vendor_packages() for s in p.styles]
    return urls + [f"{APP_PREFIX}/{s}" for s in APP_STYLES]


def _data_uri(path: Path) -> str:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{media_type};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_urls(css: str, folder: Path) -> str:
    """Replace the relative ``url(...)`` of a style sheet by data URIs of the files."""

    def replace(match: re.Match[str]) -> str:
        target = (folder / match.group(1)).resolve()
        if not target.is_file() or folder.resolve() not in target.parents:
            return "none"
        return f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(replace, css)


@cache
def inline_scripts() -> tuple[str, ...]:
    """Return the text of every script a page loads, in order, for a page of its own."""
    texts = [(p.directory / s).read_text("utf-8") for p in vendor_packages() for s in p.scripts]
    return (*texts, *((ASSETS_DIR / s).read_text("utf-8") for s in APP_SCRIPTS))


@cache
def inline_styles() -> tuple[str, ...]:
    """Return the text of every style sheet a page loads, images as data URIs."""
    texts = [
        _inline_urls((p.directory / s).read_text("utf-8"), (p.directory / s).parent)
        for p in vendor_packages()
        for s in p.styles
    ]
    return (*texts, *((ASSETS_DIR / s).read_text("utf-8") for s in APP_STYLES))
