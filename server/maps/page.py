"""The coverage page (Folium) and the gap list page.

:func:`coverage_page` draws a day's coverage with Folium: a Leaflet map on a canvas, no base
tiles unless configured, and the page's own script (``assets/coverage.js``), which adds the layers
from the page data, the slot control, legend, layer control, headline figures and the language
switch. Folium's default page pulls jQuery, Bootstrap and icon fonts from CDNs; this one loads only
Leaflet, from the service (``/static/vendor/leaflet``) or written into the page
(``assets="inline"``, for a file that works opened from disk).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlencode

import folium
import jinja2
import pandas as pd
from branca.element import Element, Figure, MacroElement
from folium.template import Template

from grids.coverage import gaps
from server.maps.i18n import SCHEMATIC_MARK, STRINGS, Language, text
from server.maps.layers import PageData, credits_of, places_of
from server.maps.service import DayCoverage
from server.maps.settings import MapSettings
from server.maps.vendor import AssetMode, inline_scripts, inline_styles, script_urls, style_urls

TIANDITU_URL: Final = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}"
    "&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
TIANDITU_CREDIT: Final = "© 天地图 Tianditu (国家地理信息公共服务平台)"
COMPRESS_ABOVE: Final = 4_000_000
"""Page data longer than this many characters is sent gzip-compressed (read with the browser's
``DecompressionStream``), a fifth of the size or less for a city's network."""


def _script_text(code: str) -> str:
    """Return script text that cannot end the ``<script>`` element it is written into."""
    return code.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def _style_text(css: str) -> str:
    """Return style text that cannot end the ``<style>`` element it is written into."""
    return css.replace("</style", "<\\/style")


class _Assets(Element):
    """The page's style sheets and scripts, linked from the service or written in."""

    def __init__(self, mode: AssetMode) -> None:
        super().__init__()
        self.mode = mode

    def render(self, **kwargs: Any) -> str:
        """Return the HTML of the assets, for the page's head."""
        if self.mode == "served":
            links = [f'<link rel="stylesheet" href="{html.escape(u)}"/>' for u in style_urls()]
            scripts = [f'<script src="{html.escape(u)}"></script>' for u in script_urls()]
            return "\n".join(links + scripts)
        styles = [f"<style>{_style_text(css)}</style>" for css in inline_styles()]
        scripts = [f"<script>{_script_text(js)}</script>" for js in inline_scripts()]
        return "\n".join(styles + scripts)


class _CoverageLayers(MacroElement):
    """The page data, and the call that draws it on the map."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        {% if this.encoding %}
        <script type="application/octet-stream" id="dutygrid-data"
            data-encoding="{{ this.encoding }}">{{ this.data }}</script>
        {% else %}
        <script type="application/json" id="dutygrid-data">{{ this.data }}</script>
        {% endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
        dutygridLoad(
            {{ this._parent.get_name() }},
            document.getElementById("dutygrid-data"),
            {{ this.options }}
        );
        {% endmacro %}
        """
    )

    def __init__(self, data: str, options: Mapping[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CoverageLayers"
        self.encoding = ""
        self.data = data
        if len(data) > COMPRESS_ABOVE:
            self.encoding = "gzip-base64"
            packed = gzip.compress(data.encode("utf-8"), compresslevel=6, mtime=0)
            self.data = base64.b64encode(packed).decode("ascii")
        options_json = json.dumps(options, ensure_ascii=False, separators=(",", ":"))
        self.options = options_json.replace("<", "\\u003c").replace(">", "\\u003e")


def _tile_layers(settings: MapSettings) -> list[folium.TileLayer]:
    if settings.tiles == "tianditu" and settings.tianditu_key is not None:
        key = settings.tianditu_key.get_secret_value()
        return [
            folium.TileLayer(
                tiles=TIANDITU_URL.format(s="{s}", layer=layer, key=key),
                attr=TIANDITU_CREDIT if layer == "vec" else " ",
                name=name,
                subdomains="01234567",
                max_zoom=settings.tile_max_zoom,
                overlay=layer != "vec",
                control=False,
            )
            for layer, name in (("vec", "天地图"), ("cva", "天地图注记"))
        ]
    if settings.tiles == "url" and settings.tile_url:
        return [
            folium.TileLayer(
                tiles=settings.tile_url,
                attr=settings.tile_attribution or " ",
                name="base",
                max_zoom=settings.tile_max_zoom,
                control=False,
            )
        ]
    return []


def coverage_page(
    data: PageData,
    *,
    lang: Language = "zh",
    assets: AssetMode = "served",
    settings: MapSettings | None = None,
    initial_slot: str | None = None,
    links: Mapping[str, str] | None = None,
) -> str:
    """Return the HTML of a day's coverage map.

    Parameters
    ----------
    data
        The page data (:func:`server.maps.layers.page_data`).
    lang
        The language the page opens in; it has a switch to the other.
    assets
        ``served``: Leaflet and the page's script are loaded from the service's ``/static``
        paths; ``inline``: they are written into the page, which then needs nothing else.
    settings
        The map settings, for base tiles; none by default. The data must be drawn in the base
        map's coordinates (``settings.drawn_coords``).

    Raises
    ------
    ValueError
        If the data are not in the coordinates of the base map.
    initial_slot
        The slot shown first; the whole day when None.
    links
        ``gaps``: the URL of the day's gap list; ``map``: the URL of this page without a slot.
    """
    settings = settings or MapSettings()
    drawn_in = data.meta.get("coords", "wgs84")
    if drawn_in != settings.drawn_coords:
        raise ValueError(
            f"the page data are in {drawn_in} but the base map needs {settings.drawn_coords}: "
            "make them with page_data(coords=settings.drawn_coords)"
        )
    title = f"{text('title', lang)} {data.meta['date']}"
    figure = Figure(title=html.escape(title))
    center = _center(data.meta.get("bounds"))
    tiles = _tile_layers(settings)
    fmap = folium.Map(
        location=center,
        zoom_start=12,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        max_zoom=settings.tile_max_zoom if tiles else 20,
    )
    fmap.default_js = []
    fmap.default_css = []
    figure.header.add_child(_Assets(assets), name="dutygrid_assets")
    # no icon to fetch: a browser would otherwise ask for /favicon.ico
    figure.header.add_child(
        Element('<meta name="color-scheme" content="light"/><link rel="icon" href="data:,"/>'),
        name="dutygrid_meta",
    )
    fmap.add_to(figure)
    for layer in tiles:
        layer.add_to(fmap)
    slots = [s["id"] for s in data.meta["slots"]]
    initial = slots.index(initial_slot) if initial_slot in slots else len(slots) - 1
    options = {
        "lang": lang,
        "initial": initial,
        "strings": {k: dict(v) for k, v in STRINGS.items()},
        "schematicMark": SCHEMATIC_MARK,
        "links": dict(links or {}),
        "tiles": bool(tiles),
    }
    _CoverageLayers(data.to_json(), options).add_to(fmap)
    return str(figure.render())


def _center(bounds: Any) -> list[float]:
    if not bounds:
        return [34.88, 113.64]
    (south, west), (north, east) = bounds
    return [(south + north) / 2, (west + east) / 2]


_GAPS_TEMPLATE: Final = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="{{ html_lang }}">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<link rel="icon" href="data:,"/>
<title>{{ title }}</title>
<style>
body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5rem;
  color: #222; }
h1 { font-size: 1.4rem; margin: 0 0 .4rem; }
nav a, nav button { margin-right: 1rem; }
.mark { display: inline-block; background: #fff3cd; border: 1px solid #d4a017;
  padding: .1rem .5rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left;
  vertical-align: top; }
th { background: #f4f4f4; }
tr.strict td:first-child { border-left: 4px solid #d73027; }
.reason { color: #b2182b; }
.credits { margin-top: 1.5rem; font-size: .8rem; color: #555; }
@media print { nav { display: none; } body { margin: 0; } a { color: inherit; } }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% if schematic %}<p class="mark">{{ schematic }}</p>{% endif %}
<nav><a href="{{ map_link }}">{{ t.map }}</a><a href="{{ language_link }}">{{ t.language }}</a>
<button type="button" onclick="window.print()">{{ t.print }}</button></nav>
{% if notes %}<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>{% endif %}
<p>{{ t.gaps }}: <span id="gap-count">{{ rows | length }}</span> ·
{{ t.strict_gaps }}: <span id="strict-gap-count">{{ strict }}</span></p>
<table><thead><tr>{% for h in headers %}<th>{{ t[h] }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rows %}<tr class="gap{{ ' strict' if r.strict }}" data-post="{{ r.place }}">
<td>{{ r.slot }}</td><td>{{ r.time }}</td><td>{{ r.kind }}</td><td>{{ r.place }}</td>
<td>{{ r.level }}</td><td>{{ r.squad }}</td><td>{{ r.needed }}</td><td>{{ r.counted }}</td>
<td class="reason">{{ r.reason }}</td>
<td>{{ r.requirement }}{% if r.solver %}<br/>{{ t.solver_reason }}: {{ r.solver }}{% endif %}</td>
<td>{% if r.link %}<a class="map-link" href="{{ r.link }}">{{ t.show_on_map }}</a>{% endif %}</td>
</tr>{% else %}<tr><td colspan="{{ headers | length }}">{{ t.no_gaps }}</td></tr>{% endfor %}
</tbody></table>
<div class="credits">{% for c in credits %}<div>{{ c }}</div>{% endfor %}</div>
</body>
</html>
"""
)
_GAP_HEADERS: Final = (
    "slot",
    "time",
    "kind",
    "place",
    "level",
    "squad",
    "required",
    "counted",
    "reason",
    "requirement",
    "map",
)


def _gap_rows(
    view: DayCoverage, lang: Language, map_url: str, query: Mapping[str, str]
) -> list[dict[str, Any]]:
    names = {slot.id: slot.slot for slot in view.slots}
    places = places_of(view)
    rows = []
    for record in gaps(view.coverage, view.day).to_dict("records"):
        slot_id = record["slot_id"]
        slot = names.get(slot_id) if isinstance(slot_id, str) else None
        place = record["post_id"] if isinstance(record["post_id"], str) else None
        link = None
        if place and (record["post_ids"] or place in places):
            params = dict(query)
            if slot is not None:
                params["slot"] = str(slot_id)
            link = f"{map_url}?{urlencode(params)}#post={quote(place, safe='/@')}"
        level = record["level"]
        solver = record["solver_reason"]
        rows.append(
            {
                "slot": (slot.name_zh if lang == "zh" else slot.name_en)
                if slot
                else text("whole_day", lang),
                "time": f"{pd.Timestamp(record['start']):%H:%M}–"
                f"{pd.Timestamp(record['end']):%H:%M}",
                "kind": text(f"kind_{record['kind']}", lang),
                "place": place or "",
                "level": text(f"level_{level}", lang) if isinstance(level, str) else "",
                "squad": record["squad_id"] or "",
                "needed": int(record["needed"]),
                "counted": int(record["counted"]),
                "reason": record["reason_zh"] if lang == "zh" else record["reason_en"],
                "requirement": record["requirement_zh"] or "",
                "solver": solver if isinstance(solver, str) else "",
                "strict": bool(record["strict"]),
                "link": link,
            }
        )
    return rows


def gaps_page(
    view: DayCoverage,
    *,
    lang: Language = "zh",
    map_url: str = "/maps/coverage",
    query: Mapping[str, str] | None = None,
) -> str:
    """Return the HTML of a day's gap list, each gap linked to its place on the map.

    Parameters
    ----------
    view
        The day's coverage.
    lang
        ``zh`` or ``en``.
    map_url
        The coverage map's path.
    query
        Query parameters every link keeps (``date``, ``roster``, ``lang``).
    """
    params = dict(query or {})
    rows = _gap_rows(view, lang, map_url, params)
    schematic, credits = credits_of(view)
    other = "en" if lang == "zh" else "zh"
    return _GAPS_TEMPLATE.render(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=f"{text('gaps_title', lang)} {view.day.isoformat()}",
        schematic=SCHEMATIC_MARK if schematic else "",
        t=STRINGS[lang],
        map_link=f"{map_url}?{urlencode(params)}",
        language_link=f"?{urlencode({**params, 'lang': other})}",
        notes=view.notes,
        rows=rows,
        strict=sum(1 for r in rows if r["strict"]),
        headers=_GAP_HEADERS,
        credits=credits,
    )
